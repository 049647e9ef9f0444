"""What a ticket is, as the adapters see it: the value types (Desk, TicketView, the results of
a change) and the read models (one ticket, the queue, a helper's tickets, an asker's questions).
Nothing here changes a row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import Helper, HelperRole, Routing, Staff, Ticket, TicketStatus, saved_id
from bot.domain.roster import HelperView, helper_views
from bot.domain.sla import Policy


@dataclass(frozen=True, slots=True)
class Desk:
    """The rules and the addresses that decide what a change to a ticket sends, and where."""

    policy: Policy
    forum: int | None = None  # the helpers' forum group; None: cards go to helpers privately
    admins: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as the adapters need it. `asker_name` and `asker_team` are None when anonymous."""

    id: int
    role: str
    topic: str
    language: str
    status: TicketStatus
    routing: Routing
    text: str
    anonymous: bool
    asker_chat_id: int | None
    source_message_id: int | None
    asker_name: str | None
    asker_team: str | None
    created_at: datetime
    thread_id: int | None
    claimed_by: int | None
    claimer_name: str | None
    sla_level: int
    offer_unsettled: bool = False  # an answer was offered and the asker never settled it


@dataclass(frozen=True, slots=True)
class ClaimResult:
    won: bool
    ticket: TicketView


class Relay(StrEnum):
    SEND = "send"  # copy the helper's message to the asker
    HELD = "held"  # another helper holds the ticket
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class HelperMessage:
    outcome: Relay
    ticket: TicketView
    claimed_now: bool = False  # the message itself claimed an open ticket
    first_answer_minutes: float | None = None  # set when this was the ticket's first answer


@dataclass(frozen=True, slots=True)
class Followup:
    """An asker's message that belongs to an existing ticket."""

    ticket: TicketView
    reopened: bool = False
    comment: bool = False  # a reply to the comment prompt: feedback, not a message


@dataclass(frozen=True, slots=True)
class QueueItem:
    ticket_id: int
    role: str
    topic: str
    language: str
    status: TicketStatus
    created_at: datetime
    holder: str | None


async def view(*, session: AsyncSession, ticket_id: int) -> TicketView | None:
    ticket = await session.get(Ticket, ticket_id)
    return None if ticket is None else await view_of(session, ticket)


async def view_of(session: AsyncSession, ticket: Ticket) -> TicketView:
    assert ticket.id is not None
    staff = None if ticket.anonymous or ticket.asker_id is None \
        else await session.get(Staff, ticket.asker_id)
    claimer = await session.get(Helper, ticket.claimed_by) if ticket.claimed_by else None
    return view_from(ticket, staff.first_name if staff else None, staff.team if staff else None,
                     claimer.name if claimer else None)


def view_from(ticket: Any, asker_name: str | None, asker_team: str | None,
              claimer_name: str | None) -> TicketView:
    """A ticket's view from its row (an ORM `Ticket` or a Core row of its columns) and the
    names read with it; the asker's name and team only if the ticket is not anonymous."""
    shown = not ticket.anonymous and ticket.asker_id is not None
    return TicketView(
        id=ticket.id, role=ticket.role, topic=ticket.topic, language=ticket.language,
        status=TicketStatus(ticket.status), routing=Routing(ticket.routing),
        text=ticket.text or "", anonymous=ticket.anonymous, asker_chat_id=ticket.asker_chat_id,
        source_message_id=ticket.source_message_id,
        asker_name=asker_name if shown else None, asker_team=asker_team if shown else None,
        created_at=ticket.created_at, thread_id=ticket.thread_id, claimed_by=ticket.claimed_by,
        claimer_name=claimer_name if ticket.claimed_by else None, sla_level=ticket.sla_level,
        offer_unsettled=ticket.offer_unsettled,
    )


async def queue(*, session: AsyncSession, roles: tuple[str, ...] | None = None,
                holder: int | None = None) -> list[QueueItem]:
    """Tickets waiting or being worked on, oldest first: of `roles`, or held by `holder`."""
    query = select(Ticket, Helper.name).join(
        Helper, col(Helper.telegram_id) == col(Ticket.claimed_by), isouter=True
    ).where(col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]),
            col(Ticket.delivered_at).is_not(None)).order_by(col(Ticket.created_at), col(Ticket.id))
    if roles is not None:
        query = query.where(col(Ticket.role).in_(roles))
    if holder is not None:
        query = query.where(Ticket.claimed_by == holder)
    return [QueueItem(saved_id(t), t.role, t.topic, t.language, TicketStatus(t.status),
                      t.created_at, name) for t, name in await session.exec(query)]


async def held_by(*, session: AsyncSession, helper_id: int
                  ) -> tuple[list[QueueItem], list[QueueItem]]:
    """The tickets a helper holds: first those waiting for their answer (not answered yet, or
    the asker wrote last), then the rest; oldest first in each."""
    rows = await session.exec(select(Ticket).where(
        col(Ticket.status) == TicketStatus.CLAIMED, col(Ticket.claimed_by) == helper_id,
    ).order_by(col(Ticket.created_at), col(Ticket.id)))
    holder = await session.get(Helper, helper_id)
    awaited: list[QueueItem] = []
    rest: list[QueueItem] = []
    for t in rows:
        assert t.id is not None
        item = QueueItem(t.id, t.role, t.topic, t.language, TicketStatus(t.status),
                         t.created_at, holder.name if holder else None)
        (awaited if t.sla_due_at is not None else rest).append(item)
    return awaited, rest


async def colleagues(*, session: AsyncSession, ticket_id: int, everyone: bool = False
                     ) -> list[HelperView]:
    """Whom a ticket can be handed to, by name: its role's helpers (with `everyone`, all
    helpers), its holder left out."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return []
    where = [] if everyone else [col(Helper.telegram_id).in_(
        select(HelperRole.helper_id).where(HelperRole.role == ticket.role))]
    return sorted((h for h in await helper_views(session, *where)
                   if h.is_helper and h.telegram_id != ticket.claimed_by),
                  key=lambda h: h.name.casefold())


async def open_questions(*, session: AsyncSession, asker_id: int) -> list[TicketView]:
    """The asker's questions not closed yet, oldest first (/my)."""
    rows = await session.exec(select(Ticket).where(
        Ticket.asker_id == asker_id,
        col(Ticket.status).in_([TicketStatus.OFFERED, TicketStatus.OPEN, TicketStatus.CLAIMED]),
    ).order_by(col(Ticket.id)))
    return [await view_of(session, ticket) for ticket in rows]


async def latest_waiting(*, session: AsyncSession, asker_id: int) -> int | None:
    """The asker's newest ticket still waiting for or in a helper's hands."""
    return (await session.exec(select(Ticket.id).where(
        Ticket.asker_id == asker_id,
        col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]),
    ).order_by(col(Ticket.id).desc()))).first()


async def private_details(*, session: AsyncSession, ticket_id: int
                          ) -> tuple[str | None, str | None] | None:
    """The asker's phone number and comment, read only when a message for the helper who holds
    the ticket is sent (never kept in the outbox)."""
    ticket = await session.get(Ticket, ticket_id)
    return None if ticket is None else (ticket.phone, ticket.feedback)


async def phone_of(*, session: AsyncSession, ticket_id: int, helper_id: int) -> str | None:
    """The asker's phone number, for the helper who holds the ticket and nobody else."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.claimed_by != helper_id:
        return None
    return ticket.phone


async def status_counts(*, session: AsyncSession) -> dict[TicketStatus, int]:
    """How many tickets are in each state (every state, 0 when none): the metrics' gauge."""
    found = dict((await session.exec(
        select(Ticket.status, func.count()).group_by(col(Ticket.status)))).all())
    return {state: found.get(state.value, 0) for state in TicketStatus}
