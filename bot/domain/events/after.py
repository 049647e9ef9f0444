"""After the event: its materials, who came ("I'm here", or marked by the host), the feedback
question and its answers, and the periodic follow-up (feedback asked, offers lapsed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.events import schedule, views
from bot.domain.events.rsvp import promote
from bot.domain.events.views import (
    PRESENCE_EARLY,
    PRESENCE_LATE,
    EventError,
    EventView,
    MaterialView,
)
from bot.domain.models import (
    Attendance,
    Event,
    EventFeedback,
    EventMaterial,
    Rsvp,
    RsvpAnswer,
    Staff,
)

FOLLOW_UP_WITHIN = timedelta(days=2)  # feedback is not asked about events older than this


async def recipients(*, session: AsyncSession, event_id: int) -> list[int]:
    """Who hears after the event: everyone who said they would come (and had a place), and
    anyone marked present."""
    said = set(await session.exec(select(Rsvp.user_id).where(
        Rsvp.event_id == event_id, col(Rsvp.answer).in_(["yes", "plus"]),
        col(Rsvp.waiting).is_(False))))
    came = set(await session.exec(select(Attendance.user_id).where(
        Attendance.event_id == event_id)))
    return sorted(said | came)


async def add_material(*, session: AsyncSession, event_id: int, now: datetime,
                       link: str | None = None, file_id: str | None = None,
                       file_name: str | None = None, added_by: int | None = None
                       ) -> MaterialView:
    """Store a link or a file for an event that has begun, and queue it to each attendee."""
    event = await session.get(Event, event_id)
    if event is None or event.cancelled:
        raise EventError(f"no event {event_id}")
    if event.starts_at > now:
        raise EventError("the event has not begun yet")
    if not link and not file_id:
        raise EventError("give a link or a file")
    if link and not link.startswith(("https://", "http://")):
        raise EventError("the link must start with https://")
    material = EventMaterial(event_id=event_id, link=link, file_id=file_id,
                             file_name=(file_name or "")[:200] or None, added_by=added_by,
                             added_at=now)
    session.add(material)
    await session.flush()
    for person in await recipients(session=session, event_id=event_id):
        await schedule.queue(session, key=f"materials:{material.id}:{person}",
                             kind="materials", chat_id=person, due_at=now, event_id=event_id)
    await session.commit()
    return views.material_view(material)


@dataclass(frozen=True, slots=True)
class Presence:
    event: EventView | None
    marked: bool  # recorded now (or already)
    too_early: bool = False
    too_late: bool = False


async def mark_present(*, session: AsyncSession, event_id: int, user_id: int,
                       now: datetime) -> Presence:
    """"I'm here", taken during the event (from a little before the start to a little after
    the end)."""
    row = await session.get(Event, event_id)
    if row is None or row.cancelled:
        return Presence(None, False)
    event = views.event_view(row)  # taken now: a rollback below would expire the row
    if now < event.starts_at - PRESENCE_EARLY:
        return Presence(event, False, too_early=True)
    if now > event.ends_at + PRESENCE_LATE:
        return Presence(event, False, too_late=True)
    if await session.get(Attendance, (event_id, user_id)) is None:
        session.add(Attendance(event_id=event_id, user_id=user_id, at=now))
        try:
            await session.commit()
        except IntegrityError:  # pressed twice at once
            await session.rollback()
    return Presence(event, True)


async def toggle_present(*, session: AsyncSession, event_id: int, user_id: int,
                         now: datetime) -> bool:
    """The host marks someone as present, or takes the mark away; True if now present."""
    row = await session.get(Attendance, (event_id, user_id))
    if row is not None:
        await session.delete(row)
        await session.commit()
        return False
    session.add(Attendance(event_id=event_id, user_id=user_id, by_host=True, at=now))
    await session.commit()
    return True


@dataclass(frozen=True, slots=True)
class Person:
    user_id: int
    name: str
    answer: str | None  # their RSVP (None: came without answering)
    waiting: bool
    present: bool


async def people(*, session: AsyncSession, event_id: int) -> list[Person]:
    """Everyone who said they would come or came, in the order they answered."""
    rows = list(await session.exec(select(Rsvp).where(
        Rsvp.event_id == event_id, Rsvp.answer != "no").order_by(col(Rsvp.updated_at),
                                                                 col(Rsvp.user_id))))
    came = set(await session.exec(select(Attendance.user_id).where(
        Attendance.event_id == event_id)))
    ids = [r.user_id for r in rows] + sorted(came - {r.user_id for r in rows})
    names = dict((await session.exec(select(Staff.telegram_id, Staff.first_name).where(
        col(Staff.telegram_id).in_(ids)))).all()) if ids else {}
    answers = {r.user_id: r for r in rows}
    return [Person(i, names.get(i) or "?", answers[i].answer if i in answers else None,
                   answers[i].waiting if i in answers else False, i in came) for i in ids]


async def follow_up(*, session: AsyncSession, now: datetime, feedback_after: timedelta,
                    confirm_within: timedelta) -> tuple[int, int]:
    """The periodic step after events: queue the feedback question to each attendee of every
    event that ended `feedback_after` ago, and pass on places whose offer was not confirmed in
    time. Returns (feedback questions queued, offers lapsed)."""
    ended = list(await session.exec(select(Event).where(
        col(Event.followed_up).is_(False), col(Event.cancelled).is_(False),
        col(Event.ends_at) <= now - feedback_after,
        col(Event.ends_at) > now - FOLLOW_UP_WITHIN)))
    asked = 0
    for event in ended:
        assert event.id is not None
        for person in await recipients(session=session, event_id=event.id):
            await schedule.queue(session, key=f"feedback:{event.id}:{person}", kind="feedback",
                                 chat_id=person, due_at=now, event_id=event.id)
            asked += 1
        event.followed_up = True
        session.add(event)
    lapsed = list(await session.exec(select(Rsvp).join(
        Event, col(Event.id) == col(Rsvp.event_id)).where(
        col(Rsvp.offered_until).is_not(None), col(Rsvp.offered_until) <= now,
        col(Event.starts_at) > now, col(Event.cancelled).is_(False))))
    for row in lapsed:
        row.answer, row.offered_until, row.updated_at = RsvpAnswer.NO, None, now
        session.add(row)
        await schedule.queue(session, key=f"offer_lapsed:{row.event_id}:{row.user_id}:"
                             f"{uuid.uuid4().hex[:8]}", kind="offer_lapsed", chat_id=row.user_id,
                             due_at=now, event_id=row.event_id)
    await session.flush()
    for event_id in {row.event_id for row in lapsed}:
        freed = await session.get(Event, event_id)
        assert freed is not None
        await promote(session, freed, now, confirm_within)
    await session.commit()
    return asked, len(lapsed)


async def rate(*, session: AsyncSession, event_id: int, user_id: int, rating: int,
               now: datetime) -> bool:
    """One attendee's 1–5 answer (a later press changes it); False for an unknown event."""
    if not 1 <= rating <= 5 or await session.get(Event, event_id) is None:
        return False
    row = await session.get(EventFeedback, (event_id, user_id)) or EventFeedback(
        event_id=event_id, user_id=user_id, rating=rating)
    row.rating, row.at = rating, now
    session.add(row)
    await session.commit()
    return True



async def comment(*, session: AsyncSession, event_id: int, user_id: int, text: str,
                  now: datetime) -> None:
    """A comment to go with the rating (kept with a rating of its own if none was given)."""
    row = await session.get(EventFeedback, (event_id, user_id))
    if row is None:
        row = EventFeedback(event_id=event_id, user_id=user_id, rating=0)
    row.comment, row.at = text.strip()[:2000], now
    session.add(row)
    await session.commit()


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    count: int  # ratings given
    average: float | None
    distribution: dict[int, int]  # rating → how many
    comments: list[str]  # without names


async def feedback(*, session: AsyncSession, event_id: int) -> FeedbackSummary:
    rows = list(await session.exec(select(EventFeedback).where(
        EventFeedback.event_id == event_id).order_by(col(EventFeedback.at))))
    ratings = [r.rating for r in rows if 1 <= r.rating <= 5]
    return FeedbackSummary(
        len(ratings), round(sum(ratings) / len(ratings), 2) if ratings else None,
        {n: ratings.count(n) for n in range(1, 6)}, [r.comment for r in rows if r.comment])

