"""The helpers' queue: delivering tickets, claiming, relaying both ways, closing, rating,
rerouting, and the reminders that keep any question from being forgotten.

Every state change that two helpers (or two bot processes) could race for is one conditional
UPDATE whose row count says who won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import outbox
from bot.domain.models import (
    Helper,
    HelperRole,
    Outbox,
    OutboxKind,
    Priority,
    ReplyPart,
    Routing,
    Staff,
    Ticket,
    TicketMessage,
    TicketStatus,
    TopicLog,
    insert_new,
    saved_id,
)
from bot.domain.roster import HelperView, helper_views
from bot.domain.sla import Alert, Policy, SlaLevel, next_step

MAX_MENTIONS = 8


class Kind(StrEnum):
    """What a remembered message is, in whose chat."""

    ACK = "ack"  # the acknowledgement the asker got
    CARD = "card"  # the ticket's card for helpers
    TO_HELPERS = "to_helpers"  # an asker's message copied to a helper's private chat
    TO_ASKER = "to_asker"  # a helper's message copied to the asker
    CLOSING = "closing"  # "your question was answered": rating buttons
    COMMENT = "comment"  # "reply with a comment": the reply becomes feedback
    PHONE = "phone"  # the asker's phone number, in the holder's private chat
    FEEDBACK = "feedback"  # the asker's comment quoted to the helpers (edited on /forget)


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


@dataclass(frozen=True, slots=True)
class Due:
    alert: Alert
    ticket: TicketView


# --- reading -------------------------------------------------------------------------------------

async def helper(*, session: AsyncSession, user_id: int) -> HelperView | None:
    found = await helper_views(session, col(Helper.telegram_id) == user_id)
    return found[0] if found else None


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
        offer_unsettled=ticket.offer_unsettled,
    )


async def recipients(*, session: AsyncSession, ticket: TicketView, everyone: bool = False
                     ) -> list[HelperView]:
    """Whom to call for a ticket: the role's available helpers who speak the asker's language
    first, colleagues from the asker's own team before others. Everyone when nobody of the role
    is available, and with `everyone` all helpers of all roles."""
    where = [] if everyone else [col(Helper.telegram_id).in_(
        select(HelperRole.helper_id).where(HelperRole.role == ticket.role))]
    helpers = [h for h in await helper_views(session, *where) if h.is_helper]
    available = [h for h in helpers if h.available] or helpers

    def order(h: HelperView) -> tuple[bool, bool, str]:
        own_team = ticket.asker_team is not None and h.team == ticket.asker_team
        return (ticket.language not in h.languages, not own_team, h.name)

    return sorted(available, key=order)


@dataclass(frozen=True, slots=True)
class Found:
    """The ticket a message in some chat belongs to, and what the message was to it."""

    ticket_id: int
    kind: Kind


async def find_message(*, session: AsyncSession, chat_id: int, message_id: int
                       ) -> Found | None:
    row = await session.get(TicketMessage, (chat_id, message_id))
    return Found(row.ticket_id, Kind(row.kind)) if row is not None else None


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
    return [QueueItem(saved_id(t), t.role, t.topic, t.language, TicketStatus(t.status),
                      t.created_at, name) for t, name in await session.exec(query)]


# --- remembering messages ------------------------------------------------------------------------

async def remember(*, session: AsyncSession, chat_id: int, message_id: int, ticket_id: int,
                   kind: Kind, commit: bool = True) -> None:
    """Note which ticket a message belongs to (a message noted twice keeps its first note)."""
    await session.exec(insert_new(session, TicketMessage).values(
        chat_id=chat_id, message_id=message_id, ticket_id=ticket_id, kind=kind))
    if commit:
        await session.commit()


async def withdraw_phone(session: AsyncSession, ticket_id: int, now: datetime) -> None:
    """The number was for the holder only: every message that carried it is edited to say it
    was removed (queued in the caller's transaction, through the sender), and forgotten here so
    that it is edited once. Called when the ticket is closed, released, handed over, rerouted
    or its asker forgotten."""
    rows = await session.exec(select(TicketMessage).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.kind == Kind.PHONE))
    for row in rows:
        outbox.add(session, kind=OutboxKind.NOTE, chat_id=row.chat_id, now=now,
                   priority=Priority.ALERT, ticket_id=ticket_id,
                   params={"template": "phone_removed", "message_id": row.message_id})
        await session.delete(row)


# --- telling the helpers -------------------------------------------------------------------------

def note(session: AsyncSession, ticket: Ticket, chat_id: int, template: str, now: datetime,
          priority: Priority = Priority.RELAY, **params: Any) -> None:
    outbox.add(session, kind=OutboxKind.NOTE, chat_id=chat_id, now=now, priority=priority,
               ticket_id=ticket.id, params={"template": template, **params})


async def _helper_chats(session: AsyncSession, ticket: Ticket) -> list[int]:
    """Without a forum: whoever holds the ticket, else everyone who got its card."""
    cards = [chat for chat, _ in await card_messages(session=session, ticket_id=_id(ticket))]
    if ticket.claimed_by is not None and ticket.claimed_by in cards:
        return [ticket.claimed_by]
    return cards or ([ticket.claimed_by] if ticket.claimed_by else [])


async def _to_helpers(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime, *,
                      kind: OutboxKind = OutboxKind.NOTE, priority: Priority = Priority.RELAY,
                      params: dict[str, Any]) -> None:
    """A message about the ticket to its helpers: into its forum topic, or privately."""
    chats = [desk.forum] if desk.forum is not None else await _helper_chats(session, ticket)
    for chat in chats:
        outbox.add(session, kind=kind, chat_id=chat, now=now, priority=priority,
                   ticket_id=ticket.id, params=params)


def _to_asker(session: AsyncSession, ticket: Ticket, template: str, now: datetime,
              **params: Any) -> None:
    if ticket.asker_chat_id is not None:
        note(session, ticket, ticket.asker_chat_id, template, now, **params)


async def edit_cards(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime) -> None:
    """Show the ticket's new state on its cards (a burst of changes becomes one edit)."""
    await outbox.add_once(session, kind=OutboxKind.EDIT_CARDS, chat_id=desk.forum or 0,
                          ticket_id=_id(ticket), now=now, priority=Priority.ALERT)


def _id(ticket: Ticket) -> int:
    assert ticket.id is not None
    return ticket.id


def start_clock(desk: Desk, ticket: Ticket, now: datetime) -> None:
    """The ticket waits for a helper from `now`: the first reminder's deadline. Set before a new
    ticket is first written, it is stored with it (no second write)."""
    ticket.sla_level = SlaLevel.WAITING
    ticket.sla_due_at = desk.policy.unclaimed_due(ticket.role, now)


async def queue_delivery(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime
                         ) -> None:
    """The ticket waits for a helper: its card is queued in the caller's transaction (the
    forum group, or each of the role's helpers privately), and the reminder clock starts."""
    start_clock(desk, ticket, now)
    session.add(ticket)
    if desk.forum is not None:
        outbox.add(session, kind=OutboxKind.CARD, chat_id=desk.forum, now=now,
                   priority=Priority.CARD, ticket_id=_id(ticket), key=f"card:{ticket.id}")
    else:
        view = await _view(session, ticket)
        for helper in await recipients(session=session, ticket=view):
            outbox.add(session, kind=OutboxKind.CARD, chat_id=helper.telegram_id, now=now,
                       priority=Priority.CARD, ticket_id=_id(ticket))
    await queue_media(session, desk, ticket, now)


async def shown(*, session: AsyncSession, ticket_ids: list[int], now: datetime) -> None:
    """The helpers can see these tickets (a card, or a listing with a Claim button)."""
    await session.exec(update(Ticket).where(col(Ticket.id).in_(ticket_ids),
                                            col(Ticket.delivered_at).is_(None))
                       .values(delivered_at=now))
    await session.commit()


async def set_thread(*, session: AsyncSession, ticket_id: int, thread_id: int | None) -> None:
    await session.exec(update(Ticket).where(col(Ticket.id) == ticket_id)
                       .values(thread_id=thread_id))
    await session.commit()


async def card_in(*, session: AsyncSession, ticket_id: int, chat_id: int) -> int | None:
    """The message id of the ticket's card in that chat, if it has one."""
    return (await session.exec(select(TicketMessage.message_id).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.chat_id == chat_id,
        TicketMessage.kind == Kind.CARD))).first()


async def unchosen(*, session: AsyncSession, now: datetime, desk: Desk) -> list[int]:
    """Questions whose asker never chose a role go to the router's best guess after the role's
    limit; their cards are queued here."""
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.status) == TicketStatus.OPEN, col(Ticket.routing) == Routing.ASKED,
    ).order_by(col(Ticket.id))))
    ready = []
    for ticket in rows:
        if desk.policy.unclaimed_due(ticket.role, ticket.created_at) > now:
            continue
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket.id, col(Ticket.routing) == Routing.ASKED,
        ).values(routing=Routing.AUTO))
        if result.rowcount != 1:
            continue
        ticket.routing = Routing.AUTO
        staff = await session.get(Staff, ticket.asker_id) if ticket.asker_id else None
        session.add(TopicLog(ticket_id=ticket.id, topic=ticket.topic, role=ticket.role,
                             language=ticket.language, team=staff.team if staff else None,
                             routing=Routing.ASKED))
        await queue_delivery(session, desk, ticket, now)
        ready.append(_id(ticket))
    await session.commit()
    return ready


# --- working a ticket ----------------------------------------------------------------------------

async def _claimed(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime) -> None:
    """After a claim: the cards show it, the asker hears who is on it, a shared phone number
    goes to the claimer privately, and a ticket only listed so far gets its topic at once."""
    await edit_cards(session, desk, ticket, now)
    _to_asker(session, ticket, "claimed", now)
    if ticket.phone and ticket.claimed_by is not None:
        note(session, ticket, ticket.claimed_by, "phone", now)
        await _to_helpers(session, desk, ticket, now, params={"template": "phone_sent"})
    if desk.forum is not None and ticket.thread_id is None:
        outbox.add(session, kind=OutboxKind.CARD, chat_id=desk.forum, now=now,
                   priority=Priority.RELAY, ticket_id=_id(ticket))


async def claim(*, session: AsyncSession, ticket_id: int, helper_id: int, now: datetime,
                desk: Desk) -> ClaimResult | None:
    """The first helper to claim an open ticket gets it; None for an unknown ticket. What the
    claim causes is queued in the same transaction."""
    result = await session.exec(
        update(Ticket).where(col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OPEN)
        .values(status=TicketStatus.CLAIMED, claimed_by=helper_id, claimed_at=now,
                sla_due_at=desk.policy.answer_due(now), updated_at=now)
        .returning(Ticket)
    )
    ticket = result.scalar_one_or_none()
    won = ticket is not None
    if ticket is None:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            await session.commit()
            return None
    else:
        await _claimed(session, desk, ticket, now)
    view = await _view(session, ticket)
    await session.commit()
    return ClaimResult(won=won, ticket=view)


async def helper_message(*, session: AsyncSession, ticket_id: int, helper_id: int,
                         chat_id: int, message_id: int, now: datetime, desk: Desk,
                         text: str | None = None) -> HelperMessage | None:
    """A helper wrote to the asker of a ticket: relayed (queued in the same transaction) unless
    another helper holds it or it is closed. Writing to an open ticket claims it."""
    claimed_now = False
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    if ticket.status == TicketStatus.OPEN:
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OPEN,
        ).values(status=TicketStatus.CLAIMED, claimed_by=helper_id, claimed_at=now,
                 updated_at=now))
        claimed_now = result.rowcount == 1
        await session.refresh(ticket)
    if ticket.status == TicketStatus.CLOSED:
        return HelperMessage(Relay.CLOSED, await _view(session, ticket))
    if ticket.claimed_by != helper_id:
        await session.commit()
        return HelperMessage(Relay.HELD, await _view(session, ticket))
    if claimed_now:
        await _claimed(session, desk, ticket, now)
    first = ticket.first_answer_at is None
    if first:
        ticket.first_answer_at = now
        ticket.first_answer_minutes = _minutes(ticket.created_at, now)
        ticket.first_answer_office_minutes = desk.policy.hours.working_minutes_between(
            ticket.created_at, now)
    ticket.sla_due_at = None
    ticket.updated_at = now
    if text:  # the copy goes as it is; the text is kept for "Save as an answer"
        ticket.reply_text = text[:4000]
        session.add(ReplyPart(ticket_id=ticket_id, at=now, text=text[:4000]))
    session.add(ticket)
    if ticket.asker_chat_id is not None:
        # Shown as a reply to what it answers: the asker's newest follow-up, else the question.
        outbox.add(session, kind=OutboxKind.COPY, chat_id=ticket.asker_chat_id, now=now,
                   priority=Priority.RELAY, ticket_id=ticket_id,
                   params={"from_chat": chat_id, "message_id": message_id, "to": "asker",
                           "reply_to": ticket.last_asker_message_id
                           or ticket.source_message_id})
    view = await _view(session, ticket)
    await session.commit()
    return HelperMessage(Relay.SEND, view, claimed_now,
                         ticket.first_answer_minutes if first else None)


async def asker_message(*, session: AsyncSession, asker_id: int, chat_id: int, message_id: int,
                        reply_to: int | None, now: datetime, desk: Desk,
                        ticket_id: int | None = None) -> Followup | None:
    """Does the asker's message continue a ticket? `ticket_id` says which (the asker's open
    conversation, bot.domain.intake.converse); else a reply to one of its messages does (and
    reopens it within `reopen_days` of closing), and so does any message while a helper holds
    one of their tickets. None: it is a new question."""
    policy = desk.policy
    ticket: Ticket | None = None
    if ticket_id is not None:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.asker_id != asker_id:
            return None
    elif reply_to is not None:
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
        ticket.sla_level = SlaLevel.WAITING
        ticket.sla_due_at = policy.answer_due(now) if ticket.claimed_by \
            else policy.unclaimed_due(ticket.role, now)
    elif ticket.status == TicketStatus.CLAIMED and ticket.sla_due_at is None:
        ticket.sla_due_at = policy.answer_due(now)
    ticket.updated_at = now
    if chat_id == ticket.asker_chat_id:
        ticket.last_asker_message_id = message_id
    session.add(ticket)
    if reopened:
        await edit_cards(session, desk, ticket, now)
        await _to_helpers(session, desk, ticket, now, params={"template": "reopened"})
    await relay_from_asker(session, desk, ticket, now, chat_id=chat_id, message_id=message_id)
    view = await _view(session, ticket)
    await session.commit()
    return Followup(view, reopened=reopened)


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


async def close(*, session: AsyncSession, ticket_id: int, now: datetime, desk: Desk,
                helper_id: int) -> TicketView | None:
    """Close an open or claimed ticket; None if it was closed already. The asker is asked for
    a rating."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    result = await session.exec(
        update(Ticket).where(col(Ticket.id) == ticket_id,
                             col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]))
        .values(status=TicketStatus.CLOSED, closed_at=now, sla_due_at=None, updated_at=now,
                close_minutes=_minutes(ticket.created_at, now),
                close_office_minutes=desk.policy.hours.working_minutes_between(
                    ticket.created_at, now))
    )
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await edit_cards(session, desk, ticket, now)
    await withdraw_phone(session, ticket_id, now)
    _to_asker(session, ticket, "closed", now, helper=helper_id)
    view = await _view(session, ticket)
    await session.commit()
    return view


async def rate(*, session: AsyncSession, ticket_id: int, asker_id: int, stars: int,
               now: datetime | None = None, desk: Desk | None = None) -> TicketView | None:
    """The asker rates a closed ticket 1–5 (a later press changes the rating); with `desk`, the
    helper who answered hears it (in its topic, or privately)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id or ticket.status != TicketStatus.CLOSED \
            or not 1 <= stars <= 5:
        return None
    changed = ticket.rating != stars
    ticket.rating = stars
    session.add(ticket)
    if stars >= 4:  # a well-rated reply may be saved as an answer: its cards offer that now
        cards = await card_messages(session=session, ticket_id=ticket_id)
        if cards:
            await outbox.add_once(session, kind=OutboxKind.EDIT_CARDS, chat_id=cards[0][0],
                                  ticket_id=ticket_id, priority=Priority.ALERT,
                                  now=ticket.closed_at or ticket.updated_at)
    if changed and desk is not None and now is not None:
        called = {"mention": "holder"} if desk.forum is not None else {}
        await _to_helpers(session, desk, ticket, now, params={
            "template": "rated", "stars": stars, **called})
    await session.commit()
    return await _view(session, ticket)


async def comment(*, session: AsyncSession, ticket_id: int, asker_id: int, text: str,
                  now: datetime, desk: Desk) -> TicketView | None:
    """The asker's comment after the rating: kept, and passed on to the helpers."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id:
        return None
    from bot.domain.intake import clean_text

    ticket.feedback = clean_text(text)[:2000]
    session.add(ticket)
    await _to_helpers(session, desk, ticket, now, priority=Priority.ALERT,
                      params={"template": "feedback"})
    view = await _view(session, ticket)
    await session.commit()
    return view


async def reroute(*, session: AsyncSession, ticket_id: int, role: str, topic: str,
                  now: datetime, desk: Desk) -> TicketView | None:
    """A helper sends the ticket to another role or topic. The topic log keeps where the router
    had sent it, which reports count as a misroute; the ticket waits for a new claim, the new
    role's helpers are called and the asker is told."""
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
    ticket.sla_level = SlaLevel.WAITING
    ticket.sla_due_at = desk.policy.unclaimed_due(role, now)
    ticket.updated_at = now
    session.add(ticket)
    await edit_cards(session, desk, ticket, now)
    await withdraw_phone(session, ticket_id, now)
    if desk.forum is not None:
        if ticket.thread_id:
            outbox.add(session, kind=OutboxKind.EDIT_TOPIC, chat_id=desk.forum, now=now,
                       priority=Priority.ALERT, ticket_id=ticket_id)
        note(session, ticket, desk.forum, "rerouted", now, mention="role")
    else:
        view = await _view(session, ticket)
        for helper in await recipients(session=session, ticket=view):
            outbox.add(session, kind=OutboxKind.CARD, chat_id=helper.telegram_id, now=now,
                       priority=Priority.CARD, ticket_id=ticket_id)
    _to_asker(session, ticket, "rerouted", now)
    view = await _view(session, ticket)
    await session.commit()
    return view


async def share_phone(*, session: AsyncSession, ticket_id: int, asker_id: int, phone: str,
                      now: datetime, desk: Desk) -> TicketView | None:
    """The asker would prefer a call: the number goes to the holder only (now, or on claim)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id or ticket.status == TicketStatus.CLOSED:
        return None
    ticket.phone = phone[:32]
    session.add(ticket)
    if ticket.claimed_by is not None:
        note(session, ticket, ticket.claimed_by, "phone", now)
        await _to_helpers(session, desk, ticket, now, params={"template": "phone_sent"})
    elif desk.forum is not None:
        note(session, ticket, desk.forum, "phone_waiting", now)
    view = await _view(session, ticket)
    await session.commit()
    return view


async def private_details(*, session: AsyncSession, ticket_id: int
                          ) -> tuple[str | None, str | None] | None:
    """The asker's phone number and comment, read only when a message for the helper who holds
    the ticket is sent (never kept in the outbox)."""
    ticket = await session.get(Ticket, ticket_id)
    return None if ticket is None else (ticket.phone, ticket.feedback)


async def asker_unreachable(*, session: AsyncSession, ticket_id: int, now: datetime, desk: Desk
                            ) -> None:
    """The asker has blocked the bot: the helpers are told."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is not None:
        await _to_helpers(session, desk, ticket, now, params={"template": "asker_unreachable"})
        await session.commit()


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

async def due(*, session: AsyncSession, now: datetime, desk: Desk) -> list[Due]:
    """Reminders that have come due, each taken atomically and queued in the same transaction,
    so that it is sent once."""
    policy = desk.policy
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.sla_due_at) <= now,
        or_(and_(col(Ticket.status) == TicketStatus.OPEN,
                 col(Ticket.sla_level) < SlaLevel.ESCALATED),
            col(Ticket.status) == TicketStatus.CLAIMED),
    ).order_by(col(Ticket.sla_due_at))))
    found = []
    for ticket in rows:
        assert ticket.sla_due_at is not None
        step = next_step(policy, role=ticket.role, claimed=ticket.status == TicketStatus.CLAIMED,
                         level=SlaLevel(ticket.sla_level), due=ticket.sla_due_at, now=now)
        alert, level, next_due = step.alert, step.level, step.next_due
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket.id, col(Ticket.sla_level) == ticket.sla_level,
            col(Ticket.sla_due_at) == ticket.sla_due_at, col(Ticket.status) == ticket.status,
        ).values(sla_level=level, sla_due_at=next_due, overdue=True))
        if result.rowcount != 1:
            await session.commit()
            continue
        await session.refresh(ticket)
        mention = {Alert.NUDGE: "holder", Alert.REMINDER: "role",
                   Alert.ESCALATION: "everyone"}[alert]
        params = {"template": str(alert), "mention": mention, "minutes": step.minutes}
        if desk.forum is not None:
            note(session, ticket, desk.forum, str(alert), now, Priority.ALERT,
                  **{k: v for k, v in params.items() if k != "template"})
        else:
            view = await _view(session, ticket)
            everyone = alert is Alert.ESCALATION
            targets = [ticket.claimed_by] if alert is Alert.NUDGE and ticket.claimed_by else [
                h.telegram_id for h in await recipients(session=session, ticket=view,
                                                        everyone=everyone)]
            for chat in targets:
                note(session, ticket, chat, str(alert), now, Priority.ALERT,
                      minutes=params["minutes"])
        if alert is Alert.ESCALATION:
            for admin in desk.admins:
                note(session, ticket, admin, "escalation_admin", now, Priority.ALERT,
                      minutes=params["minutes"])
        await session.commit()
        found.append(Due(alert, await _view(session, ticket)))
    return found


# --- the holder's controls: release, hand over, and what waits for them ---------------------------

def _may_pass_on(ticket: Ticket | None, helper_id: int, desk: Desk) -> bool:
    """A claimed ticket may be released or handed over by its holder, or by an admin."""
    return ticket is not None and ticket.status == TicketStatus.CLAIMED \
        and ticket.claimed_by is not None \
        and (ticket.claimed_by == helper_id or helper_id in desk.admins)


async def _call_role(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime,
                     template: str, skip: int) -> None:
    """Call the ticket's role again, `skip` left out: a notice with their names in its topic,
    or privately (beside the card they have, or with a new card)."""
    if desk.forum is not None:
        note(session, ticket, desk.forum, template, now, Priority.CARD, mention="role",
              skip=skip, helper=skip)
        return
    view = await _view(session, ticket)
    called = [h for h in await recipients(session=session, ticket=view)
              if h.telegram_id != skip] or \
        [h for h in await recipients(session=session, ticket=view, everyone=True)
         if h.telegram_id != skip]
    cards = {chat for chat, _ in await card_messages(session=session, ticket_id=_id(ticket))}
    for colleague in called:
        if colleague.telegram_id in cards:
            note(session, ticket, colleague.telegram_id, template, now, Priority.CARD,
                  helper=skip)
        else:
            outbox.add(session, kind=OutboxKind.CARD, chat_id=colleague.telegram_id, now=now,
                       priority=Priority.CARD, ticket_id=_id(ticket))


async def release(*, session: AsyncSession, ticket_id: int, helper_id: int, now: datetime,
                  desk: Desk) -> TicketView | None:
    """The holder (or an admin) gives a claimed ticket back to the queue: it waits again with
    the reminder clock restarted, its role is called again, and the asker hears that a colleague
    will continue. None: it was not claimed, or not theirs to release."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not _may_pass_on(ticket, helper_id, desk):
        await session.commit()
        return None
    holder = ticket.claimed_by
    assert holder is not None
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.CLAIMED,
        col(Ticket.claimed_by) == holder,
    ).values(status=TicketStatus.OPEN, claimed_by=None, claimed_at=None,
             sla_level=SlaLevel.WAITING, sla_due_at=desk.policy.unclaimed_due(ticket.role, now),
             updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await edit_cards(session, desk, ticket, now)
    await withdraw_phone(session, ticket_id, now)
    await _call_role(session, desk, ticket, now, "released", skip=holder)
    _to_asker(session, ticket, "released_asker", now)
    view = await _view(session, ticket)
    await session.commit()
    return view


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


async def hand_over(*, session: AsyncSession, ticket_id: int, helper_id: int, to_id: int,
                    now: datetime, desk: Desk) -> TicketView | None:
    """The holder (or an admin) hands a claimed ticket to a named colleague: the colleague is
    called (by name in its topic, or privately with the card), gets the asker's phone number
    if one was shared, and the asker hears the new name. None: not theirs to hand over, or no
    such colleague."""
    ticket = await session.get(Ticket, ticket_id)
    colleague = await helper(session=session, user_id=to_id)
    if ticket is None or not _may_pass_on(ticket, helper_id, desk) or colleague is None \
            or not colleague.is_helper or to_id == ticket.claimed_by:
        await session.commit()
        return None
    holder = ticket.claimed_by
    awaited = ticket.sla_due_at is not None  # the asker is waiting for an answer
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.CLAIMED,
        col(Ticket.claimed_by) == holder,
    ).values(claimed_by=to_id, claimed_at=now, sla_level=SlaLevel.WAITING,
             sla_due_at=desk.policy.answer_due(now) if awaited else None, updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await edit_cards(session, desk, ticket, now)
    if desk.forum is not None:
        note(session, ticket, desk.forum, "handed_over", now, Priority.CARD, mention="holder",
              helper=helper_id)
    else:
        if await card_in(session=session, ticket_id=ticket_id, chat_id=to_id) is None:
            outbox.add(session, kind=OutboxKind.CARD, chat_id=to_id, now=now,
                       priority=Priority.CARD, ticket_id=ticket_id)
        note(session, ticket, to_id, "handed_over", now, Priority.CARD, helper=helper_id)
    await withdraw_phone(session, ticket_id, now)  # the new holder gets it anew
    if ticket.phone:
        note(session, ticket, to_id, "phone", now, Priority.CARD)
    _to_asker(session, ticket, "handed_over_asker", now)
    view = await _view(session, ticket)
    await session.commit()
    return view


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


# --- the asker's conversation (bot.domain.intake.converse) ---------------------------------------

async def _card_chats(session: AsyncSession, desk: Desk, ticket: Ticket) -> list[int]:
    """Where the ticket's card is, or is on its way: its topic, or the private chats of the
    helpers it was queued for (a card not sent yet counts, so nothing the asker adds is lost)."""
    if desk.forum is not None:
        return [desk.forum]
    if ticket.claimed_by is not None:
        return [ticket.claimed_by]
    queued = await session.exec(select(Outbox.chat_id).where(
        col(Outbox.ticket_id) == _id(ticket), col(Outbox.kind) == OutboxKind.CARD).distinct())
    return sorted(set(queued))


async def relay_from_asker(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime, *,
                           chat_id: int, message_id: int) -> None:
    """Copy the asker's message to the ticket's helpers. Before the card is out it waits in the
    same lane behind it (the card's priority), so that the helpers read the question first."""
    priority = Priority.RELAY if ticket.delivered_at is not None else Priority.CARD
    for chat in await _card_chats(session, desk, ticket):
        outbox.add(session, kind=OutboxKind.COPY, chat_id=chat, now=now, priority=priority,
                   ticket_id=_id(ticket), params={"from_chat": chat_id, "message_id": message_id,
                                                  "to": "helpers"})


async def queue_media(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime) -> None:
    """The question's pictures, files and voice follow its card, in the card's lane, once (on
    its first delivery)."""
    if not ticket.media or ticket.delivered_at is not None or ticket.asker_chat_id is None:
        return
    for message_id in ticket.media:
        await relay_from_asker(session, desk, ticket, now, chat_id=ticket.asker_chat_id,
                               message_id=message_id)


async def solved_by_asker(*, session: AsyncSession, ticket_id: int, asker_id: int,
                          now: datetime, desk: Desk) -> TicketView | None:
    """The asker solved a waiting question themselves: closed as self-served (by the asker); its
    cards show it and the helpers are told. None when it is not waiting (or not theirs)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id:
        return None
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id,
        col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.OFFERED]),
    ).values(status=TicketStatus.CLOSED, self_served=True, solved_by_asker=True, closed_at=now,
             sla_due_at=None, updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    if ticket.delivered_at is not None or await card_messages(session=session,
                                                               ticket_id=ticket_id):
        await edit_cards(session, desk, ticket, now)
        await _to_helpers(session, desk, ticket, now, params={"template": "solved_by_asker"})
    view = await _view(session, ticket)
    await session.commit()
    return view


async def open_questions(*, session: AsyncSession, asker_id: int) -> list[TicketView]:
    """The asker's questions not closed yet, oldest first (/my)."""
    rows = await session.exec(select(Ticket).where(
        Ticket.asker_id == asker_id,
        col(Ticket.status).in_([TicketStatus.OFFERED, TicketStatus.OPEN, TicketStatus.CLAIMED]),
    ).order_by(col(Ticket.id)))
    return [await _view(session, ticket) for ticket in rows]


async def status_counts(*, session: AsyncSession) -> dict[TicketStatus, int]:
    """How many tickets are in each state (every state, 0 when none): the metrics' gauge."""
    found = dict((await session.exec(
        select(Ticket.status, func.count()).group_by(col(Ticket.status)))).all())
    return {state: found.get(state.value, 0) for state in TicketStatus}


async def last_message_id(*, session: AsyncSession) -> int:
    """The highest message id the tickets know of (0 when none): the sandbox's new messages
    go on above it, so that none is taken for a ticket's."""
    known = 0
    for column in (col(Ticket.source_message_id), col(Ticket.thread_id),
                   col(TicketMessage.message_id)):
        known = max(known, (await session.exec(select(func.max(column)))).one() or 0)
    return known
