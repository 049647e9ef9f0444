"""Data protection: what is stored about a person, erasing it on request, and erasing old
question and answer texts while keeping the figures (the topic log holds no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import corrections, dialogs, drafts, outbox
from bot.domain.models import (
    Attendance,
    Event,
    EventFeedback,
    Helper,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Priority,
    ReplyPart,
    Rsvp,
    Staff,
    Ticket,
    TicketMessage,
    TicketStatus,
    saved_id,
)
from bot.domain.tickets import notices
from bot.domain.tickets.messages import Kind
from bot.domain.tickets.views import Desk


@dataclass(frozen=True, slots=True)
class StoredTicket:
    id: int
    created_at: datetime
    topic: str
    role: str
    status: str
    anonymous: bool
    text: str | None
    has_phone: bool
    rating: int | None


@dataclass(frozen=True, slots=True)
class MyData:
    first_name: str | None
    language: str | None
    team: str | None
    anonymous_by_default: bool
    tickets: list[StoredTicket]
    rsvps: list[tuple[str, str]]  # event title, answer
    in_roster: bool
    telegram_language: str | None = None  # what their Telegram app says (used without /lang)


async def my_data(*, session: AsyncSession, telegram_id: int) -> MyData | None:
    """Everything stored about one person; None when nothing is."""
    staff = await session.get(Staff, telegram_id)
    tickets = [
        StoredTicket(t.id, t.created_at, t.topic, t.role, str(t.status), t.anonymous, t.text,
                     bool(t.phone), t.rating)
        for t in await session.exec(select(Ticket).where(Ticket.asker_id == telegram_id)
                                    .order_by(col(Ticket.id)))
        if t.id is not None
    ]
    rsvps = [(title, answer) for title, answer in await session.exec(
        select(Event.title, Rsvp.answer).join(Event, col(Event.id) == col(Rsvp.event_id))
        .where(Rsvp.user_id == telegram_id))]
    in_roster = await session.get(Helper, telegram_id) is not None
    if staff is None and not tickets and not rsvps and not in_roster:
        return None
    return MyData(staff.first_name if staff else None, staff.language if staff else None,
                  staff.team if staff else None, bool(staff and staff.anonymous), tickets,
                  rsvps, in_roster, staff.telegram_language if staff else None)


@dataclass(frozen=True, slots=True)
class Forgotten:
    tickets: int  # the person's tickets, now anonymous figures
    withdrawn: int  # of them, still open: closed as withdrawn
    in_roster: bool = False  # a helper's roster entry (name, roles) stays: an admin removes it


async def in_roster(*, session: AsyncSession, telegram_id: int) -> bool:
    """Whether the person has a roster entry, which /forget leaves (roles are the management's
    to give and take: an admin removes it)."""
    return await session.get(Helper, telegram_id) is not None


async def forget(*, session: AsyncSession, telegram_id: int, now: datetime, desk: Desk
                 ) -> Forgotten:
    """Erase a person's personal data, in one transaction with what it causes.

    - Their tickets stay as anonymous figures without text, phone or comment; the cards in the
      helpers' group and chats are edited to show them so (EDIT_CARDS), and so are the
      messages that carried their phone number to a helper.
    - Their tickets still open are closed as withdrawn; whoever holds one is told.
    - Nothing more goes to them: their chat is forgotten on every ticket and what still waits
      in the outbox for them, or to relay a message of theirs, is dropped. Their messages
      already relayed to the helpers, and their comments quoted, are edited away (or deleted).
    - Their row, RSVPs, attendance, event feedback, message links and dialogs go. A helper's
      roster entry stays (`Forgotten.in_roster`): roles are given and taken by an admin."""
    await drafts.forget_asker(session=session, telegram_id=telegram_id)
    await corrections.forget_asker(session=session, telegram_id=telegram_id)
    tickets = list(await session.exec(select(Ticket).where(col(Ticket.asker_id) == telegram_id)
                                      .order_by(col(Ticket.id))))
    withdrawn = 0
    for ticket in tickets:
        was_open = ticket.status in _OPEN
        holder = ticket.claimed_by if ticket.status == TicketStatus.CLAIMED else None
        ticket.asker_id = ticket.asker_chat_id = ticket.source_message_id = None
        ticket.last_asker_message_id = None
        ticket.text = ticket.phone = ticket.feedback = ticket.reply_text = None
        ticket.anonymous = True
        ticket.updated_at = now
        if was_open:
            withdrawn += 1
            ticket.status, ticket.withdrawn = TicketStatus.CLOSED, True
            ticket.closed_at, ticket.sla_due_at = now, None
        session.add(ticket)
        await notices.withdraw_phone(session, saved_id(ticket), now)  # the helpers' copies
        if ticket.delivered_at is not None or ticket.thread_id is not None:
            await notices.edit_cards(session, desk, ticket, now)
        if holder is not None:
            if desk.forum is not None and ticket.thread_id:  # in its topic, calling the holder
                notices.note(session, ticket, desk.forum, "withdrawn", now, Priority.ALERT,
                             mention="holder")
            else:
                notices.note(session, ticket, holder, "withdrawn", now, Priority.ALERT)
    ticket_ids = [t.id for t in tickets if t.id is not None]
    await _drop_waiting(session, telegram_id, ticket_ids)
    await _unquote_comments(session, ticket_ids, now)
    # No row of the outbox names them any more (sent, dropped or failed: kept for the figures).
    await session.exec(update(Outbox).where(
        col(Outbox.chat_id) == telegram_id, col(Outbox.status) != OutboxStatus.SENDING,
    ).values(chat_id=0, params=None))
    await session.exec(delete(TicketMessage).where(col(TicketMessage.chat_id) == telegram_id))
    await session.exec(delete(ReplyPart).where(  # the helpers' texts to them, with their name
        col(ReplyPart.ticket_id).in_([t.id for t in tickets if t.id is not None])))
    await session.exec(delete(Rsvp).where(col(Rsvp.user_id) == telegram_id))
    await session.exec(delete(Attendance).where(col(Attendance.user_id) == telegram_id))
    await session.exec(delete(EventFeedback).where(col(EventFeedback.user_id) == telegram_id))
    await dialogs.forget(session=session, user_id=telegram_id)
    await session.exec(delete(Staff).where(col(Staff.telegram_id) == telegram_id))
    kept = await in_roster(session=session, telegram_id=telegram_id)
    await session.commit()
    return Forgotten(len(tickets), withdrawn, kept)


_OPEN = (TicketStatus.OFFERED, TicketStatus.OPEN, TicketStatus.CLAIMED)


async def _drop_waiting(session: AsyncSession, telegram_id: int, ticket_ids: list[int]) -> None:
    """Unsent outbox rows to the person, or relaying a message of theirs, are dropped."""
    rows = await session.exec(select(Outbox).where(
        col(Outbox.status) == OutboxStatus.PENDING,
        (col(Outbox.chat_id) == telegram_id) | col(Outbox.ticket_id).in_(ticket_ids)))
    for row in rows:
        theirs = row.chat_id == telegram_id or (
            row.kind == OutboxKind.COPY and (row.params or {}).get("from_chat") == telegram_id)
        if theirs:
            row.status, row.params, row.error = OutboxStatus.DROPPED, None, "forgotten"
            session.add(row)


_TAKEN_BACK = {Kind.FEEDBACK: "comment_removed", Kind.TO_HELPERS: "relay_removed"}


async def _unquote_comments(session: AsyncSession, ticket_ids: list[int], now: datetime
                            ) -> None:
    """The bot's messages that carried the person's words to the helpers — their comment
    quoted, and every message of theirs relayed (into the ticket's topic, or to a helper's
    private chat) — are edited to say it was removed, or deleted where there is no text to
    edit (a picture, a file): through the sender, retried until done; each row forgotten here,
    so that each message is taken back once."""
    if not ticket_ids:
        return
    rows = await session.exec(select(TicketMessage).where(
        col(TicketMessage.ticket_id).in_(ticket_ids),
        col(TicketMessage.kind).in_(list(_TAKEN_BACK))))
    for row in rows:
        outbox.add(session, kind=OutboxKind.NOTE, chat_id=row.chat_id, now=now,
                   priority=Priority.ALERT, ticket_id=row.ticket_id,
                   params={"template": _TAKEN_BACK[Kind(row.kind)],
                           "message_id": row.message_id})
        await session.delete(row)


async def purge_texts(*, session: AsyncSession, now: datetime, days: int) -> int:
    """Erase question texts, comments and phone numbers of tickets older than `days`."""
    cutoff = now - timedelta(days=days)
    result = await session.exec(update(Ticket).where(
        col(Ticket.created_at) < cutoff,
        (col(Ticket.text).is_not(None)) | (col(Ticket.feedback).is_not(None))
        | (col(Ticket.phone).is_not(None)) | (col(Ticket.reply_text).is_not(None)),
    ).values(text=None, feedback=None, phone=None, reply_text=None))
    await session.exec(delete(ReplyPart).where(col(ReplyPart.at) < cutoff))
    await session.exec(update(EventFeedback).where(  # comments after events, likewise
        col(EventFeedback.at) < cutoff, col(EventFeedback.comment).is_not(None),
    ).values(comment=None))
    await session.commit()
    return result.rowcount
