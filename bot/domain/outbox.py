"""The outbox: every message besides the immediate reply to the person who wrote is a row here,
written in the same transaction as the change that causes it, and sent by a background sender
(bot.telegram.sender) at Telegram's pace, most urgent first.

A row is taken by one running process (`worker`) with a conditional UPDATE, so two replicas never
send the same row. A process keeps a heartbeat (bot.domain.workers); only when it has stopped
are its rows taken back: a ticket's messages are queued again (a card checks first whether it
got through), an announcement is reported as uncertain rather than risk sending it twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, update
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import workers
from bot.domain.core import Unit, dialect, run, table
from bot.domain.models import (
    Event,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Priority,
    Ticket,
    TicketStatus,
    Worker,
)

# Kinds that belong to a ticket: resent when their sender died (a person is waiting for them).
TICKET_KINDS = frozenset({OutboxKind.CARD, OutboxKind.COPY, OutboxKind.NOTE,
                          OutboxKind.EDIT_CARDS, OutboxKind.EDIT_TOPIC})


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row taken by this process to send."""

    id: int
    kind: OutboxKind
    chat_id: int
    priority: int
    due_at: datetime
    attempts: int
    event_id: int | None = None
    bulletin_id: int | None = None
    ticket_id: int | None = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Housekeeping:
    dropped: list[int | None]  # ids no longer meaningful (logged)
    uncertain: list[Claimed]  # an announcement's sender died mid-send: admins should know
    requeued: int  # a ticket's messages whose sender died: queued again


def add(session: AsyncSession, *, kind: OutboxKind, chat_id: int, now: datetime,
        priority: Priority, ticket_id: int | None = None, params: dict[str, Any] | None = None,
        key: str | None = None, due_at: datetime | None = None) -> None:
    """Queue one message in the caller's transaction (nothing is committed here)."""
    session.add(Outbox(
        key=key or f"{kind}:{ticket_id}:{chat_id}:{uuid.uuid4().hex}", kind=kind,
        priority=priority, ticket_id=ticket_id, params=params, chat_id=chat_id,
        due_at=due_at or now))


def row(*, kind: OutboxKind, chat_id: int, now: datetime, priority: Priority,
        ticket_id: int | None = None, key: str | None = None) -> dict[str, Any]:
    """One message's row as values, for `insert` (no parameters: those `add` takes)."""
    return {"key": key or f"{kind}:{ticket_id}:{chat_id}:{uuid.uuid4().hex}", "kind": kind,
            "priority": priority, "ticket_id": ticket_id, "chat_id": chat_id, "due_at": now}


async def insert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Queue messages (`row`s) in the caller's transaction, in one statement: what a new
    ticket queues, without building an ORM object a row."""
    if rows:
        await run(session, _INSERT, rows)


_INSERT = sa_insert(table(Outbox))  # Core: no ORM bulk machinery, no autoflush


async def notify(*, session: AsyncSession, chat_ids: Iterable[int], now: datetime,
                 priority: Priority, params: dict[str, Any]) -> None:
    """Queue one note to each chat, in a transaction of its own (for news that changes
    nothing else, such as an update set aside)."""
    for chat_id in chat_ids:
        add(session, kind=OutboxKind.NOTE, chat_id=chat_id, now=now, priority=priority,
            params=dict(params))
    await session.commit()


async def pending(*, session: AsyncSession, kind: OutboxKind, ticket_id: int,
                  chat_id: int | None = None) -> Outbox | None:
    """A row of this kind for the ticket that is still waiting to be sent."""
    query = select(Outbox).where(col(Outbox.ticket_id) == ticket_id, col(Outbox.kind) == kind,
                                 col(Outbox.status) == OutboxStatus.PENDING)
    if chat_id is not None:
        query = query.where(col(Outbox.chat_id) == chat_id)
    return (await session.exec(query)).first()


async def add_once(session: AsyncSession, *, kind: OutboxKind, chat_id: int, ticket_id: int,
                   now: datetime, priority: Priority, params: dict[str, Any] | None = None
                   ) -> None:
    """Queue a row unless one like it is waiting already (edits: a burst becomes one)."""
    waiting = await pending(session=session, kind=kind, ticket_id=ticket_id, chat_id=chat_id)
    if waiting is None:
        add(session, kind=kind, chat_id=chat_id, now=now, priority=priority,
            ticket_id=ticket_id, params=params)
    elif waiting.priority > priority:
        waiting.priority = priority
        session.add(waiting)


def _claimed(row: Any) -> Claimed:
    """An Outbox row, or a Core row of its table."""
    assert row.id is not None
    return Claimed(row.id, OutboxKind(row.kind), row.chat_id, row.priority, row.due_at,
                   row.attempts, row.event_id, row.bulletin_id, row.ticket_id, row.params)


async def tidy(*, session: AsyncSession, now: datetime, wall: datetime, timeout: timedelta,
               only: str | None = None) -> Housekeeping:
    """Before sending: drop what is no longer meaningful (a reminder or announcement for an event
    that has begun), and settle the rows of senders that have stopped (no heartbeat within
    `timeout` of the real time `wall`; with `only`, every sender but that one: polling at start,
    when Telegram lets one process poll and any other has stopped)."""
    started = select(Event.id).where(col(Event.starts_at) <= now)
    stale = list(await session.exec(select(Outbox.id).where(
        col(Outbox.status) == OutboxStatus.PENDING, col(Outbox.due_at) <= now,
        col(Outbox.kind).in_([OutboxKind.ANNOUNCE, OutboxKind.REMINDER]),
        col(Outbox.event_id).in_(started))))
    if stale:
        await session.exec(update(Outbox).where(col(Outbox.id).in_(stale))
                           .values(status=OutboxStatus.DROPPED, error="event already begun"))
    alive = workers.alive(now=wall, timeout=timeout) if only is None \
        else select(Worker.id).where(col(Worker.id) == only)
    orphaned = list(await session.exec(select(Outbox).where(
        col(Outbox.status) == OutboxStatus.SENDING,
        col(Outbox.worker).is_(None) | col(Outbox.worker).not_in(alive))))
    uncertain, requeued = [], 0
    for row in orphaned:
        ticket_row = row.kind in TICKET_KINDS
        result = await session.exec(update(Outbox).where(
            col(Outbox.id) == row.id, col(Outbox.status) == OutboxStatus.SENDING,
            col(Outbox.worker) == row.worker,
        ).values(status=OutboxStatus.PENDING if ticket_row else OutboxStatus.UNCERTAIN,
                 worker=None, lease_until=None,
                 error=None if ticket_row else "sender stopped while sending"))
        if result.rowcount == 1:
            if ticket_row:
                requeued += 1
            else:
                uncertain.append(_claimed(row))
    await session.commit()
    return Housekeeping(stale, uncertain, requeued)


_OUTBOX = table(Outbox)
_DUE = sa_select(_OUTBOX).where(
    _OUTBOX.c.status == OutboxStatus.PENDING, _OUTBOX.c.due_at <= bindparam("now"),
).order_by(_OUTBOX.c.priority, _OUTBOX.c.due_at, _OUTBOX.c.id).limit(bindparam("limit"))
_TAKE = update(_OUTBOX).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
    _OUTBOX.c.status == OutboxStatus.PENDING,
).values(status=OutboxStatus.SENDING, worker=bindparam("by"),
         attempts=_OUTBOX.c.attempts + 1).returning(_OUTBOX.c.id)
_SENT = update(_OUTBOX).where(
    _OUTBOX.c.id == bindparam("row"), _OUTBOX.c.worker == bindparam("by"),
    _OUTBOX.c.status == OutboxStatus.SENDING,
).values(status=OutboxStatus.SENT, sent_at=bindparam("now"),
         message_id=bindparam("telegram_id"), lease_until=None, params=None)


async def claim_due(*, session: Unit, now: datetime, worker: str, limit: int = 100,
                    skip_chats: frozenset[int] = frozenset(), but_cards: bool = False
                    ) -> list[Claimed]:
    """Take due rows for this sender, most urgent first: on PostgreSQL rows locked by another
    sender are skipped (SKIP LOCKED); on both, a conditional UPDATE decides, so no row is taken
    twice. `skip_chats`: chats whose queue in this process is full enough for now — except, with
    `but_cards`, new tickets' cards, which are listed many to a message and have a deadline.
    Core statements, built once: the sender runs this every time something is queued."""
    query = _DUE
    if skip_chats:
        skipped: ColumnElement[bool] = _OUTBOX.c.chat_id.in_(skip_chats)
        if but_cards:
            skipped = skipped & ~((_OUTBOX.c.kind == OutboxKind.CARD)
                                  & (_OUTBOX.c.priority == Priority.CARD))
        query = query.where(~skipped)
    if dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(await run(session, query, {"now": now, "limit": limit}))
    taken: list[Claimed] = []
    if rows:  # one conditional UPDATE takes them all; RETURNING says which were still pending
        ours = set((await run(session, _TAKE, {"ids": [row.id for row in rows],
                                               "by": worker})).scalars())
        taken = [replace(_claimed(row), attempts=row.attempts + 1)
                 for row in rows if row.id in ours]
    await session.commit()
    return taken


async def mark_sent(*, session: Unit, outbox_id: int, worker: str, now: datetime,
                    message_id: int | None = None, commit: bool = True) -> None:
    """Sent. The row keeps no parameters once sent (they may name a message of a person's)."""
    await run(session, _SENT, {"row": outbox_id, "by": worker, "now": now,
                               "telegram_id": message_id})
    if commit:
        await session.commit()


async def mark_retry(*, session: AsyncSession, outbox_id: int, worker: str, due_at: datetime,
                     error: str, priority: int | None = None) -> None:
    values: dict[str, Any] = dict(status=OutboxStatus.PENDING, due_at=due_at, error=error[:200],
                                  lease_until=None, worker=None)
    if priority is not None:
        values["priority"] = priority
    await session.exec(update(Outbox).where(
        col(Outbox.id) == outbox_id, col(Outbox.worker) == worker).values(**values))
    await session.commit()


async def mark_failed(*, session: AsyncSession, outbox_id: int, worker: str, error: str) -> None:
    await session.exec(update(Outbox).where(
        col(Outbox.id) == outbox_id, col(Outbox.worker) == worker,
    ).values(status=OutboxStatus.FAILED, error=error[:200], lease_until=None, params=None))
    await session.commit()


async def hand_back(*, session: AsyncSession, worker: str, keep: Collection[int] = ()) -> int:
    """A process stopping in good order gives back what it took and did not send; `keep` are
    rows cut off mid-send, left as a stopped process leaves them (see `tidy`)."""
    mine = [col(Outbox.worker) == worker, col(Outbox.status) == OutboxStatus.SENDING]
    if keep:
        mine.append(col(Outbox.id).not_in(list(keep)))
    result = await session.exec(update(Outbox).where(*mine).values(
        status=OutboxStatus.PENDING, worker=None, attempts=Outbox.attempts - 1))
    await session.commit()
    return result.rowcount


async def set_priority(*, session: AsyncSession, outbox_ids: list[int], priority: Priority
                       ) -> None:
    await session.exec(update(Outbox).where(col(Outbox.id).in_(outbox_ids))
                       .values(priority=priority))
    await session.commit()


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is due and not sent: the metrics' gauges."""

    due: int
    oldest_due_at: datetime | None


async def backlog(*, session: AsyncSession, now: datetime) -> Backlog:
    due, oldest = (await session.exec(select(func.count(), func.min(Outbox.due_at)).where(
        col(Outbox.status) == OutboxStatus.PENDING, col(Outbox.due_at) <= now))).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite's MIN() loses the time zone
        oldest = oldest.replace(tzinfo=UTC)
    return Backlog(due or 0, oldest)


async def unseen(*, session: AsyncSession) -> Backlog:
    """Tickets waiting for a helper that no helper has been shown yet (no card, no listing):
    how many, and since when — how far behind the helpers' group is."""
    count, oldest = (await session.exec(select(func.count(), func.min(Ticket.created_at)).where(
        col(Ticket.status) == TicketStatus.OPEN, col(Ticket.delivered_at).is_(None)))).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return Backlog(count or 0, oldest)


async def queued_for(*, session: AsyncSession, chat_id: int) -> int:
    """Messages waiting to go to one chat (the helpers' group), due or not."""
    return (await session.exec(select(func.count()).select_from(Outbox).where(
        col(Outbox.chat_id) == chat_id,
        col(Outbox.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING])))).one()
