"""Data protection: what is stored about a person, erasing it on request, and erasing old
question and answer texts while keeping the figures (the topic log holds no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import answers
from bot.domain.models import (
    Attendance,
    Event,
    EventFeedback,
    Helper,
    Rsvp,
    Staff,
    Ticket,
    TicketMessage,
)


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
                  rsvps, in_roster)


async def forget(*, session: AsyncSession, telegram_id: int) -> int:
    """Erase a person's personal data: their row, RSVPs and message links go; their tickets
    stay as anonymous figures without text, phone or comment. Returns tickets anonymised."""
    await answers.forget_asker(session=session, telegram_id=telegram_id)
    result = await session.exec(update(Ticket).where(col(Ticket.asker_id) == telegram_id).values(
        asker_id=None, asker_chat_id=None, source_message_id=None, text=None, phone=None,
        feedback=None, anonymous=True, reply_text=None))
    await session.exec(delete(TicketMessage).where(col(TicketMessage.chat_id) == telegram_id))
    await session.exec(delete(Rsvp).where(col(Rsvp.user_id) == telegram_id))
    await session.exec(delete(Attendance).where(col(Attendance.user_id) == telegram_id))
    await session.exec(delete(EventFeedback).where(col(EventFeedback.user_id) == telegram_id))
    await session.exec(delete(Staff).where(col(Staff.telegram_id) == telegram_id))
    await session.commit()
    return result.rowcount


async def purge_texts(*, session: AsyncSession, now: datetime, days: int) -> int:
    """Erase question texts, comments and phone numbers of tickets older than `days`."""
    cutoff = now - timedelta(days=days)
    result = await session.exec(update(Ticket).where(
        col(Ticket.created_at) < cutoff,
        (col(Ticket.text).is_not(None)) | (col(Ticket.feedback).is_not(None))
        | (col(Ticket.phone).is_not(None)) | (col(Ticket.reply_text).is_not(None)),
    ).values(text=None, feedback=None, phone=None, reply_text=None))
    await session.exec(update(EventFeedback).where(  # comments after events, likewise
        col(EventFeedback.at) < cutoff, col(EventFeedback.comment).is_not(None),
    ).values(comment=None))
    await session.commit()
    return result.rowcount
