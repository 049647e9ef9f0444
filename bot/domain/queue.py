"""The helpers' queue: delivering tickets, claiming, relaying both ways, closing, rating,
rerouting, and the reminders that keep any question from being forgotten.

Every state change that two helpers (or two bot processes) could race for is one conditional
UPDATE whose row count says who won.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, literal, or_, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ROLES
from bot.domain.models import (
    Helper,
    HelperRole,
    Routing,
    Staff,
    Ticket,
    TicketMessage,
    TicketStatus,
    TopicLog,
    UtcDateTime,
)
from bot.domain.officehours import OfficeHours

MAX_MENTIONS = 8


class Kind(StrEnum):
    """What a remembered message is, in whose chat."""

    ACK = "ack"  # the acknowledgement the asker got
    CARD = "card"  # the ticket's card for helpers
    TO_HELPERS = "to_helpers"  # an asker's message copied to a helper's private chat
    TO_ASKER = "to_asker"  # a helper's message copied to the asker
    CLOSING = "closing"  # "your question was answered": rating buttons
    COMMENT = "comment"  # "reply with a comment": the reply becomes feedback


class Alert(StrEnum):
    REMINDER = "reminder"  # unclaimed for the role's limit
    ESCALATION = "escalation"  # unclaimed for twice the limit: everyone is told
    NUDGE = "nudge"  # claimed, but the asker has waited a working day


@dataclass(frozen=True, slots=True)
class Policy:
    """How long tickets may wait, counted in office hours."""

    hours: OfficeHours
    sla_minutes: Mapping[str, int] = field(default_factory=dict)
    default_minutes: int = 60
    reopen_days: int = 7

    def limit(self, role: str) -> int:
        return self.sla_minutes.get(role, self.default_minutes)

    def unclaimed_due(self, role: str, since: datetime, level: int = 0) -> datetime:
        return self.hours.add_working_minutes(since, self.limit(role) * (level + 1))

    def answer_due(self, since: datetime) -> datetime:
        """A claimed ticket's asker should hear back within one working day."""
        return self.hours.add_working_minutes(since, self.hours.minutes_per_day)


@dataclass(frozen=True, slots=True)
class HelperInfo:
    telegram_id: int
    name: str
    team: str | None
    languages: tuple[str, ...]
    roles: tuple[str, ...]
    available: bool

    @property
    def is_helper(self) -> bool:
        """Answers tickets (a lead only reads the reports)."""
        return any(role in ROLES for role in self.roles)


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


@dataclass(frozen=True, slots=True)
class Due:
    alert: Alert
    ticket: TicketView


# --- reading -------------------------------------------------------------------------------------

async def helper(*, session: AsyncSession, user_id: int) -> HelperInfo | None:
    found = await _helpers(session, col(Helper.telegram_id) == user_id)
    return found[0] if found else None


async def _helpers(session: AsyncSession, *where: Any) -> list[HelperInfo]:
    """Helpers with their roles, in one query."""
    rows = await session.exec(select(Helper, HelperRole.role).outerjoin(
        HelperRole, col(HelperRole.helper_id) == col(Helper.telegram_id)).where(*where))
    roles: dict[int, list[str]] = {}
    found: dict[int, Helper] = {}
    for row, role in rows:
        found[row.telegram_id] = row
        roles.setdefault(row.telegram_id, [])
        if role is not None:
            roles[row.telegram_id].append(role)
    return [HelperInfo(row.telegram_id, row.name, row.team, tuple(row.languages),
                       tuple(sorted(roles[row.telegram_id])), row.available)
            for row in found.values()]


async def view(*, session: AsyncSession, ticket_id: int) -> TicketView | None:
    ticket = await session.get(Ticket, ticket_id)
    return None if ticket is None else await _view(session, ticket)


async def _view(session: AsyncSession, ticket: Ticket) -> TicketView:
    assert ticket.id is not None
    staff = None if ticket.anonymous or ticket.asker_id is None \
        else await session.get(Staff, ticket.asker_id)
    claimer = await session.get(Helper, ticket.claimed_by) if ticket.claimed_by else None
    return TicketView(
        id=ticket.id, role=ticket.role, topic=ticket.topic, language=ticket.language,
        status=TicketStatus(ticket.status), routing=Routing(ticket.routing),
        text=ticket.text or "", anonymous=ticket.anonymous, asker_chat_id=ticket.asker_chat_id,
        source_message_id=ticket.source_message_id,
        asker_name=staff.first_name if staff else None, asker_team=staff.team if staff else None,
        created_at=ticket.created_at, thread_id=ticket.thread_id, claimed_by=ticket.claimed_by,
        claimer_name=claimer.name if claimer else None, sla_level=ticket.sla_level,
    )


async def recipients(*, session: AsyncSession, ticket: TicketView, everyone: bool = False
                     ) -> list[HelperInfo]:
    """Whom to call for a ticket: the role's available helpers who speak the asker's language
    first, colleagues from the asker's own team before others. Everyone when nobody of the role
    is available, and with `everyone` all helpers of all roles."""
    where = [] if everyone else [col(Helper.telegram_id).in_(
        select(HelperRole.helper_id).where(HelperRole.role == ticket.role))]
    helpers = [h for h in await _helpers(session, *where) if h.is_helper]
    available = [h for h in helpers if h.available] or helpers

    def order(h: HelperInfo) -> tuple[bool, bool, str]:
        own_team = ticket.asker_team is not None and h.team == ticket.asker_team
        return (ticket.language not in h.languages, not own_team, h.name)

    return sorted(available, key=order)


async def find_message(*, session: AsyncSession, chat_id: int, message_id: int
                       ) -> TicketMessage | None:
    return await session.get(TicketMessage, (chat_id, message_id))


async def acknowledged(*, session: AsyncSession, ticket_id: int) -> bool:
    """Whether the asker was told their question was saved."""
    return (await session.exec(select(TicketMessage.chat_id).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.kind == Kind.ACK))).first() is not None


async def ticket_in_thread(*, session: AsyncSession, thread_id: int) -> int | None:
    return (await session.exec(select(Ticket.id).where(Ticket.thread_id == thread_id))).first()


async def card_messages(*, session: AsyncSession, ticket_id: int) -> list[tuple[int, int]]:
    """(chat, message) of every card of the ticket: in its topic, or in helpers' private chats."""
    rows = await session.exec(select(TicketMessage.chat_id, TicketMessage.message_id).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.kind == Kind.CARD))
    return [(chat, message) for chat, message in rows]


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
    return [QueueItem(t.id, t.role, t.topic, t.language, TicketStatus(t.status), t.created_at,
                      name) for t, name in await session.exec(query)]  # type: ignore[misc]


# --- remembering messages ------------------------------------------------------------------------

async def remember(*, session: AsyncSession, chat_id: int, message_id: int, ticket_id: int,
                   kind: Kind, commit: bool = True) -> None:
    """Note which ticket a message belongs to (a message noted twice keeps its first note)."""
    insert = postgres_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.exec(insert(TicketMessage).values(  # type: ignore[call-overload]
        chat_id=chat_id, message_id=message_id, ticket_id=ticket_id, kind=kind,
    ).on_conflict_do_nothing())
    if commit:
        await session.commit()


# --- delivery and the forum topic ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Delivery:
    """A ticket to tell the helpers about, and whom to call, best first."""

    ticket: TicketView
    helpers: list[HelperInfo]


async def begin_delivery(*, session: AsyncSession, ticket_id: int, now: datetime,
                         policy: Policy, acknowledgement: tuple[int, int] | None = None,
                         ) -> Delivery | None:
    """Take the right to tell the helpers about a ticket; None if it is not (or no longer) to be
    delivered, or another task got there first. The asker's acknowledgement (chat, message), if
    given, is noted in the same transaction: one write per question instead of two."""
    if acknowledgement is not None:
        await remember(session=session, chat_id=acknowledgement[0],
                       message_id=acknowledgement[1], ticket_id=ticket_id, kind=Kind.ACK,
                       commit=False)
    # Each role's first reminder time, chosen in SQL: the row is taken and read in one statement.
    due = case({role: literal(policy.unclaimed_due(role, now), UtcDateTime()) for role in ROLES},
               value=col(Ticket.role), else_=literal(policy.unclaimed_due("", now), UtcDateTime()))
    ticket = (await session.exec(
        update(Ticket).where(
            col(Ticket.id) == ticket_id, col(Ticket.delivered_at).is_(None),
            col(Ticket.status) == TicketStatus.OPEN, col(Ticket.routing) != Routing.ASKED,
        ).values(delivered_at=now, sla_level=0, sla_due_at=due).returning(Ticket)
    )).scalar_one_or_none()
    if ticket is None:
        await session.commit()
        return None
    view = await _view(session, ticket)
    helpers = await recipients(session=session, ticket=view)
    await session.commit()
    return Delivery(view, helpers)


async def undo_delivery(*, session: AsyncSession, ticket_id: int) -> None:
    """Nothing reached the helpers: let the next sweep try again."""
    await session.exec(update(Ticket).where(col(Ticket.id) == ticket_id)
                       .values(delivered_at=None, sla_due_at=None))
    await session.commit()


async def set_thread(*, session: AsyncSession, ticket_id: int, thread_id: int | None) -> None:
    await session.exec(update(Ticket).where(col(Ticket.id) == ticket_id)
                       .values(thread_id=thread_id))
    await session.commit()


async def undelivered(*, session: AsyncSession, now: datetime, policy: Policy) -> list[int]:
    """Tickets that should have reached the helpers and have not: a delivery interrupted by a
    crash, or a question whose asker never chose a role (it goes to the router's best guess)."""
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.status) == TicketStatus.OPEN, col(Ticket.delivered_at).is_(None),
        col(Ticket.created_at) < now - timedelta(seconds=30),
    ).order_by(col(Ticket.id))))
    ready = []
    for ticket in rows:
        if ticket.routing == Routing.ASKED:
            if policy.unclaimed_due(ticket.role, ticket.created_at) > now:
                continue
            ticket.routing = Routing.AUTO
            session.add(ticket)
            staff = await session.get(Staff, ticket.asker_id) if ticket.asker_id else None
            session.add(TopicLog(ticket_id=ticket.id, topic=ticket.topic, role=ticket.role,
                                 language=ticket.language, team=staff.team if staff else None,
                                 routing=Routing.ASKED))
        assert ticket.id is not None
        ready.append(ticket.id)
    await session.commit()
    return ready


# --- working a ticket ----------------------------------------------------------------------------

async def claim(*, session: AsyncSession, ticket_id: int, helper_id: int, now: datetime,
                policy: Policy) -> ClaimResult | None:
    """The first helper to claim an open ticket gets it; None for an unknown ticket."""
    result = await session.exec(
        update(Ticket).where(col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OPEN)
        .values(status=TicketStatus.CLAIMED, claimed_by=helper_id, claimed_at=now,
                sla_due_at=policy.answer_due(now), updated_at=now)
    )
    await session.commit()
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    await session.refresh(ticket)
    return ClaimResult(won=result.rowcount == 1, ticket=await _view(session, ticket))


async def helper_message(*, session: AsyncSession, ticket_id: int, helper_id: int,
                         now: datetime, policy: Policy) -> HelperMessage | None:
    """A helper wrote to the asker of a ticket: may it be relayed? Writing to an open ticket
    claims it."""
    claimed_now = False
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    if ticket.status == TicketStatus.OPEN:
        result = await claim(session=session, ticket_id=ticket_id, helper_id=helper_id, now=now,
                             policy=policy)
        claimed_now = bool(result and result.won)
        await session.refresh(ticket)
    if ticket.status == TicketStatus.CLOSED:
        return HelperMessage(Relay.CLOSED, await _view(session, ticket))
    if ticket.claimed_by != helper_id:
        return HelperMessage(Relay.HELD, await _view(session, ticket))
    first = ticket.first_answer_at is None
    if first:
        ticket.first_answer_at = now
        ticket.first_answer_minutes = _minutes(ticket.created_at, now)
        ticket.first_answer_office_minutes = policy.hours.working_minutes_between(
            ticket.created_at, now)
    ticket.sla_due_at = None
    ticket.updated_at = now
    session.add(ticket)
    await session.commit()
    return HelperMessage(Relay.SEND, await _view(session, ticket), claimed_now,
                         ticket.first_answer_minutes if first else None)


async def asker_message(*, session: AsyncSession, asker_id: int, chat_id: int,
                        reply_to: int | None, now: datetime, policy: Policy) -> Followup | None:
    """Does the asker's message continue a ticket? A reply to one of its messages does (and
    reopens it within `reopen_days` of closing); so does any message while a helper holds one of
    their tickets. None: it is a new question."""
    ticket: Ticket | None = None
    if reply_to is not None:
        found = await find_message(session=session, chat_id=chat_id, message_id=reply_to)
        if found is not None:
            ticket = await session.get(Ticket, found.ticket_id)
            if ticket is not None and ticket.asker_id == asker_id and found.kind == Kind.COMMENT:
                return Followup(await _view(session, ticket), comment=True)
    if ticket is None or ticket.asker_id != asker_id:
        ticket = (await session.exec(select(Ticket).where(
            Ticket.asker_id == asker_id, col(Ticket.status) == TicketStatus.CLAIMED,
        ).order_by(col(Ticket.claimed_at).desc()))).first()
        if ticket is None:
            return None
    if ticket.status in (TicketStatus.OFFERED,) or ticket.routing == Routing.ASKED:
        return None
    reopened = False
    if ticket.status == TicketStatus.CLOSED:
        closed_at = ticket.closed_at or ticket.updated_at
        if ticket.self_served or now - closed_at > timedelta(days=policy.reopen_days):
            return None
        reopened = True
        ticket.closed_at = None
        ticket.status = TicketStatus.CLAIMED if ticket.claimed_by else TicketStatus.OPEN
        ticket.sla_level = 0
        ticket.sla_due_at = policy.answer_due(now) if ticket.claimed_by \
            else policy.unclaimed_due(ticket.role, now)
    elif ticket.status == TicketStatus.CLAIMED and ticket.sla_due_at is None:
        ticket.sla_due_at = policy.answer_due(now)
    ticket.updated_at = now
    session.add(ticket)
    await session.commit()
    return Followup(await _view(session, ticket), reopened=reopened)


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


async def close(*, session: AsyncSession, ticket_id: int, now: datetime, policy: Policy
                ) -> TicketView | None:
    """Close an open or claimed ticket; None if it was closed already."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    result = await session.exec(
        update(Ticket).where(col(Ticket.id) == ticket_id,
                             col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]))
        .values(status=TicketStatus.CLOSED, closed_at=now, sla_due_at=None, updated_at=now,
                close_minutes=_minutes(ticket.created_at, now),
                close_office_minutes=policy.hours.working_minutes_between(ticket.created_at, now))
    )
    await session.commit()
    return await view(session=session, ticket_id=ticket_id) if result.rowcount == 1 else None


async def rate(*, session: AsyncSession, ticket_id: int, asker_id: int, stars: int
               ) -> TicketView | None:
    """The asker rates a closed ticket 1–5 (a later press changes the rating)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id or ticket.status != TicketStatus.CLOSED \
            or not 1 <= stars <= 5:
        return None
    ticket.rating = stars
    session.add(ticket)
    await session.commit()
    return await _view(session, ticket)


async def comment(*, session: AsyncSession, ticket_id: int, asker_id: int, text: str
                  ) -> TicketView | None:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id:
        return None
    ticket.feedback = text[:2000]
    session.add(ticket)
    await session.commit()
    return await _view(session, ticket)


async def reroute(*, session: AsyncSession, ticket_id: int, role: str, topic: str,
                  now: datetime, policy: Policy) -> TicketView | None:
    """A helper sends the ticket to another role or topic. The topic log keeps where the router
    had sent it, which reports count as a misroute; the ticket waits for a new claim."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.status == TicketStatus.CLOSED or \
            (ticket.role, ticket.topic) == (role, topic):
        return None
    for log in await session.exec(select(TopicLog).where(TopicLog.ticket_id == ticket_id)):
        if log.rerouted_from_role is None:
            log.rerouted_from_role, log.rerouted_from_topic = log.role, log.topic
        log.role, log.topic = role, topic
        session.add(log)
    ticket.role, ticket.topic = role, topic
    ticket.status, ticket.claimed_by, ticket.claimed_at = TicketStatus.OPEN, None, None
    ticket.sla_level, ticket.sla_due_at = 0, policy.unclaimed_due(role, now)
    ticket.updated_at = now
    session.add(ticket)
    await session.commit()
    return await _view(session, ticket)


async def share_phone(*, session: AsyncSession, ticket_id: int, asker_id: int, phone: str
                      ) -> TicketView | None:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id or ticket.status == TicketStatus.CLOSED:
        return None
    ticket.phone = phone[:32]
    session.add(ticket)
    await session.commit()
    return await _view(session, ticket)


async def phone_of(*, session: AsyncSession, ticket_id: int, helper_id: int) -> str | None:
    """The asker's phone number, for the helper who holds the ticket and nobody else."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.claimed_by != helper_id:
        return None
    return ticket.phone


async def latest_waiting(*, session: AsyncSession, asker_id: int) -> int | None:
    """The asker's newest ticket still waiting for or in a helper's hands."""
    return (await session.exec(select(Ticket.id).where(
        Ticket.asker_id == asker_id,
        col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]),
    ).order_by(col(Ticket.id).desc()))).first()


async def set_available(*, session: AsyncSession, helper_id: int, available: bool) -> bool:
    row = await session.get(Helper, helper_id)
    if row is None:
        return False
    row.available = available
    session.add(row)
    await session.commit()
    return True


# --- never forgotten -----------------------------------------------------------------------------

async def due(*, session: AsyncSession, now: datetime, policy: Policy) -> list[Due]:
    """Reminders that have come due, each taken atomically so that it is sent once."""
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.sla_due_at) <= now,
        or_(and_(col(Ticket.status) == TicketStatus.OPEN, col(Ticket.sla_level) < 2),
            col(Ticket.status) == TicketStatus.CLAIMED),
    ).order_by(col(Ticket.sla_due_at))))
    found = []
    for ticket in rows:
        if ticket.status == TicketStatus.CLAIMED:
            alert, level, next_due = Alert.NUDGE, ticket.sla_level, policy.answer_due(now)
        elif ticket.sla_level == 0:
            alert, level = Alert.REMINDER, 1
            next_due = policy.unclaimed_due(ticket.role, ticket.delivered_at or now, level=1)
        else:
            alert, level, next_due = Alert.ESCALATION, 2, None
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket.id, col(Ticket.sla_level) == ticket.sla_level,
            col(Ticket.sla_due_at) == ticket.sla_due_at, col(Ticket.status) == ticket.status,
        ).values(sla_level=level, sla_due_at=next_due, overdue=True))
        await session.commit()
        if result.rowcount == 1:
            await session.refresh(ticket)
            found.append(Due(alert, await _view(session, ticket)))
    return found
