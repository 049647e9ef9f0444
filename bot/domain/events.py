"""Events and bulletins, their schedule in the outbox, and RSVPs.

The database is the source of truth: publishing an event writes one outbox row per message
(announcement, each reminder, per channel) with a unique key, so scheduling twice queues nothing
twice. A sender claims due rows atomically, sends, and marks them sent; a row whose sender died
mid-send is not sent again (never twice) but reported.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES
from bot.domain.models import (
    Bulletin,
    Event,
    EventKind,
    EventMode,
    Outbox,
    OutboxStatus,
    Rsvp,
    Staff,
)

DEFAULT_REMINDERS = (7 * 24 * 60, 24 * 60, 60)  # minutes before: a week, a day, an hour
MAX_OCCURRENCES = 60
ANSWERS = ("yes", "plus", "no")
_DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")


class EventError(ValueError):
    """An event or bulletin that cannot be scheduled; the message says why."""


def parse_reminders(text: str) -> list[int]:
    """'7d,1d,1h' → minutes before the start."""
    minutes = []
    for part in text.split(","):
        match = _DURATION.match(part.lower())
        if not match:
            raise EventError(f"reminder {part.strip()!r} is not like 7d, 1d, 1h or 30m")
        amount, unit = int(match.group(1)), match.group(2)
        minutes.append(amount * {"d": 1440, "h": 60, "m": 1}[unit])
    return sorted(set(minutes), reverse=True)


class EventSpec(BaseModel):
    """What an organiser gives: validated the same way from Telegram, the command line, YAML
    and .ics files."""

    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    start: datetime
    end: datetime
    place: str | None = Field(default=None, max_length=200)
    link: str | None = Field(default=None, max_length=500)
    host_id: int | None = None
    host_name: str | None = Field(default=None, max_length=128)
    language: str = "fi"
    channels: list[int] = Field(default_factory=list)
    pre_reading: str | None = Field(default=None, max_length=500)
    capacity: int | None = Field(default=None, ge=1, le=10000)
    reminders: list[int] = Field(default_factory=lambda: list(DEFAULT_REMINDERS))
    rrule: str | None = Field(default=None, max_length=200)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value or None

    @field_validator("reminders", mode="before")
    @classmethod
    def _reminders(cls, value: object) -> object:
        return parse_reminders(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> EventSpec:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone")
        if self.end <= self.start:
            raise ValueError("the end must come after the start")
        if not self.place and not self.link:
            raise ValueError("give a place, a link, or both")
        if self.rrule:
            try:
                rrulestr(self.rrule, dtstart=self.start)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"rrule is not a valid RRULE: {exc}") from None
        return self

    @property
    def mode(self) -> EventMode:
        if self.place and self.link:
            return EventMode.HYBRID
        return EventMode.ONLINE if self.link else EventMode.ONSITE


def validate_spec(data: dict) -> EventSpec:
    """An EventSpec, or an EventError naming the first problem."""
    try:
        return EventSpec.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "event"
        raise EventError(f"{where}: {problem['msg'].removeprefix('Value error, ')}") from None


def occurrences(spec: EventSpec, now: datetime, horizon: timedelta = timedelta(days=366)
                ) -> list[tuple[datetime, datetime]]:
    """Start and end of each occurrence: one, or a series by its RRULE within the horizon
    (wall-clock times are kept across daylight saving)."""
    length = spec.end - spec.start
    if not spec.rrule:
        return [(spec.start, spec.end)]
    rule = rrulestr(spec.rrule, dtstart=spec.start)
    found = []
    for start in rule:
        if start > now + horizon or len(found) >= MAX_OCCURRENCES:
            break
        found.append((start, start + length))
    if not found:
        raise EventError("the rule gives no occurrence within a year")
    return found


@dataclass(frozen=True, slots=True)
class Counts:
    yes: int
    plus: int
    no: int
    waiting: int
    capacity: int | None

    @property
    def seats(self) -> int:
        return self.yes + 2 * self.plus


# --- scheduling ----------------------------------------------------------------------------------

async def _queue(session: AsyncSession, *, key: str, kind: str, chat_id: int, due_at: datetime,
                 event_id: int | None = None, bulletin_id: int | None = None) -> None:
    """Add one outbox row unless its key is already there (scheduling is idempotent)."""
    exists = (await session.exec(select(Outbox.id).where(Outbox.key == key))).first()
    if exists is None:
        session.add(Outbox(key=key, kind=kind, chat_id=chat_id, due_at=due_at,
                           event_id=event_id, bulletin_id=bulletin_id))


async def _schedule(session: AsyncSession, event: Event, announce_at: datetime) -> None:
    assert event.id is not None
    for chat in event.channels:
        await _queue(session, key=f"announce:{event.id}:{chat}", kind="announce", chat_id=chat,
                     due_at=announce_at, event_id=event.id)
        for minutes in event.reminders:
            due = event.starts_at - timedelta(minutes=minutes)
            if due > announce_at:
                await _queue(session, key=f"reminder:{event.id}:v{event.version}:{chat}:{minutes}",
                             kind="reminder", chat_id=chat, due_at=due, event_id=event.id)


async def publish_event(*, session: AsyncSession, spec: EventSpec, now: datetime,
                        publish_at: datetime | None = None, announce_days_before: int = 14
                        ) -> list[Event]:
    """Store the event (each occurrence of a series) and queue its announcement and reminders.
    Later occurrences of a series are announced `announce_days_before` their start."""
    if not spec.channels:
        raise EventError("no channel to announce in")
    publish_at = max(publish_at or now, now)
    events: list[Event] = []
    series_id = None
    for index, (start, end) in enumerate(occurrences(spec, now)):
        if end <= now:
            continue
        event = Event(
            kind=spec.kind, title=spec.title, description=spec.description, starts_at=start,
            ends_at=end, mode=spec.mode, place=spec.place, link=spec.link, host_id=spec.host_id,
            host_name=spec.host_name, language=spec.language, channels=spec.channels,
            pre_reading=spec.pre_reading, capacity=spec.capacity, reminders=spec.reminders,
            rrule=spec.rrule, series_id=series_id, created_at=now,
        )
        session.add(event)
        await session.flush()
        if spec.rrule and series_id is None:
            series_id = event.series_id = event.id
        announce = publish_at if index == 0 or not events else max(
            publish_at, start - timedelta(days=announce_days_before))
        await _schedule(session, event, announce)
        events.append(event)
    if not events:
        raise EventError("the event is already over")
    await session.commit()
    return events


async def change_event(*, session: AsyncSession, event_id: int, now: datetime,
                       **changes: object) -> Event | None:
    """Change time, place, link, title or description: the change is announced, announcements
    are edited, and the reminders follow the new time."""
    event = await session.get(Event, event_id)
    if event is None or event.cancelled:
        return None
    allowed = {"title", "description", "starts_at", "ends_at", "place", "link"}
    for name, value in changes.items():
        if name not in allowed:
            raise EventError(f"{name} cannot be changed")
        setattr(event, name, value)
    if event.ends_at <= event.starts_at:
        raise EventError("the end must come after the start")
    event.mode = EventMode.HYBRID if event.place and event.link else (
        EventMode.ONLINE if event.link else EventMode.ONSITE)
    event.version += 1
    await session.exec(update(Outbox).where(
        col(Outbox.event_id) == event_id, col(Outbox.kind) == "reminder",
        col(Outbox.status) == OutboxStatus.PENDING,
    ).values(status=OutboxStatus.DROPPED, error="event changed"))
    for chat in event.channels:
        await _queue(session, key=f"change:{event.id}:v{event.version}:{chat}", kind="change",
                     chat_id=chat, due_at=now, event_id=event.id)
    session.add(event)
    await session.flush()
    await _schedule(session, event, now)
    await session.commit()
    return event


async def cancel_event(*, session: AsyncSession, event_id: int, now: datetime) -> Event | None:
    """Cancel: pending messages are dropped and a cancellation goes to every channel."""
    event = await session.get(Event, event_id)
    if event is None or event.cancelled:
        return None
    event.cancelled = True
    event.version += 1
    await session.exec(update(Outbox).where(
        col(Outbox.event_id) == event_id, col(Outbox.status) == OutboxStatus.PENDING,
        col(Outbox.kind).in_(["announce", "reminder", "change"]),
    ).values(status=OutboxStatus.DROPPED, error="event cancelled"))
    announced = set(await session.exec(select(Outbox.chat_id).where(
        col(Outbox.event_id) == event_id, col(Outbox.kind) == "announce",
        col(Outbox.status) == OutboxStatus.SENT)))
    for chat in event.channels:
        if chat in announced:
            await _queue(session, key=f"cancel:{event.id}:{chat}", kind="cancel", chat_id=chat,
                         due_at=now, event_id=event.id)
    session.add(event)
    await session.commit()
    return event


async def publish_bulletin(*, session: AsyncSession, text: str, link: str | None,
                           channels: list[int], send_at: datetime, now: datetime,
                           created_by: int | None = None) -> Bulletin:
    if not text.strip():
        raise EventError("the bulletin has no text")
    if not channels:
        raise EventError("no channel to announce in")
    bulletin = Bulletin(text=text.strip()[:3500], link=link, channels=channels,
                        send_at=max(send_at, now), created_by=created_by, created_at=now)
    session.add(bulletin)
    await session.flush()
    for chat in channels:
        await _queue(session, key=f"bulletin:{bulletin.id}:{chat}", kind="bulletin",
                     chat_id=chat, due_at=bulletin.send_at, bulletin_id=bulletin.id)
    await session.commit()
    return bulletin


# --- sending -------------------------------------------------------------------------------------

async def announcements(*, session: AsyncSession, event_id: int) -> list[tuple[int, int]]:
    """(chat, message) of each sent announcement of the event, to edit them."""
    rows = await session.exec(select(Outbox.chat_id, Outbox.message_id).where(
        col(Outbox.event_id) == event_id, col(Outbox.kind) == "announce",
        col(Outbox.status) == OutboxStatus.SENT, col(Outbox.message_id).is_not(None)))
    return [(chat, message) for chat, message in rows]


async def refresh_counts(*, session: AsyncSession, event_id: int, now: datetime,
                         delay: timedelta = timedelta(seconds=2)) -> None:
    """Queue one edit of the counts on each announcement, unless one is already waiting: a
    burst of presses becomes one edit per chat, within Telegram's group limits."""
    for chat, _ in await announcements(session=session, event_id=event_id):
        waiting = (await session.exec(select(Outbox.id).where(
            col(Outbox.event_id) == event_id, col(Outbox.chat_id) == chat,
            col(Outbox.kind) == "counts", col(Outbox.status) == OutboxStatus.PENDING))).first()
        if waiting is None:
            session.add(Outbox(key=f"counts:{event_id}:{chat}:{uuid.uuid4().hex}", kind="counts",
                               chat_id=chat, due_at=now + delay, event_id=event_id))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()


# --- RSVP ----------------------------------------------------------------------------------------

async def counts(*, session: AsyncSession, event_id: int) -> Counts:
    event = await session.get(Event, event_id)
    rows = await session.exec(select(Rsvp.answer, Rsvp.waiting, func.count()).where(
        Rsvp.event_id == event_id).group_by(Rsvp.answer, Rsvp.waiting))
    tally = {"yes": 0, "plus": 0, "no": 0, "waiting": 0}
    for answer, waiting, n in rows:
        tally["waiting" if waiting else answer] += n
    return Counts(tally["yes"], tally["plus"], tally["no"], tally["waiting"],
                  event.capacity if event else None)


@dataclass(frozen=True, slots=True)
class RsvpResult:
    counts: Counts
    waiting: bool  # this person is on the waiting list
    promoted: list[int]  # people who got a place from the waiting list


async def rsvp(*, session: AsyncSession, event_id: int, user_id: int, answer: str,
               now: datetime) -> RsvpResult | None:
    """Record one person's answer (a later press changes it), respecting the capacity with a
    waiting list; None for an unknown, cancelled or past event."""
    event = await session.get(Event, event_id)
    if event is None or event.cancelled or event.starts_at <= now or answer not in ANSWERS:
        return None
    row = await session.get(Rsvp, (event_id, user_id)) or Rsvp(event_id=event_id,
                                                               user_id=user_id, answer=answer)
    row.answer, row.updated_at, row.waiting = answer, now, False
    session.add(row)
    await session.flush()
    if event.capacity is not None and answer != "no":
        taken = (await counts(session=session, event_id=event_id)).seats
        row.waiting = taken > event.capacity
        session.add(row)
        await session.flush()
    promoted = await _promote(session, event) if event.capacity is not None else []
    await session.commit()
    return RsvpResult(await counts(session=session, event_id=event_id), row.waiting, promoted)


async def _promote(session: AsyncSession, event: Event) -> list[int]:
    """Give freed places to the waiting list in the order people answered."""
    promoted = []
    waiting = list(await session.exec(select(Rsvp).where(
        Rsvp.event_id == event.id, col(Rsvp.waiting).is_(True)).order_by(col(Rsvp.updated_at))))
    for row in waiting:
        need = 2 if row.answer == "plus" else 1
        assert event.id is not None and event.capacity is not None
        if (await counts(session=session, event_id=event.id)).seats + need > event.capacity:
            break
        row.waiting = False
        session.add(row)
        await session.flush()
        promoted.append(row.user_id)
    return promoted


async def attendees(*, session: AsyncSession, event_id: int) -> list[tuple[str, str, bool]]:
    """(first name, answer, waiting) for the host; people who said no are left out."""
    rows = await session.exec(select(Staff.first_name, Rsvp.answer, Rsvp.waiting).join(
        Staff, col(Staff.telegram_id) == col(Rsvp.user_id), isouter=True,
    ).where(Rsvp.event_id == event_id, Rsvp.answer != "no").order_by(col(Rsvp.updated_at)))
    return [(name or "?", answer, waiting) for name, answer, waiting in rows]


async def upcoming(*, session: AsyncSession, now: datetime, limit: int = 20,
                   host_id: int | None = None) -> list[Event]:
    query = select(Event).where(col(Event.ends_at) > now, col(Event.cancelled).is_(False))
    if host_id is not None:
        query = query.where(Event.host_id == host_id)
    return list(await session.exec(query.order_by(col(Event.starts_at)).limit(limit)))
