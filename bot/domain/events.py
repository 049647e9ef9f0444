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
    Attendance,
    Bulletin,
    Event,
    EventFeedback,
    EventKind,
    EventMaterial,
    EventMode,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Rsvp,
    RsvpAnswer,
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
    registration_closes: datetime | None = None  # RSVPs are refused after this

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
        if self.registration_closes is not None:
            if self.registration_closes.tzinfo is None:
                raise ValueError("the registration deadline needs a time zone")
            if self.registration_closes > self.start:
                raise ValueError("registration must close before the start")
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
    found: list[tuple[datetime, datetime]] = []
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


@dataclass(frozen=True, slots=True)
class EventView:
    """An event as the adapters need it: to announce, remind, list and put in a calendar."""

    id: int
    kind: EventKind
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    mode: EventMode
    place: str | None
    link: str | None
    host_id: int | None
    host_name: str | None
    language: str
    channels: tuple[int, ...]
    pre_reading: str | None  # a link or a Telegram file id
    capacity: int | None
    reminders: tuple[int, ...]  # minutes before the start
    rrule: str | None
    series_id: int | None
    cancelled: bool
    version: int  # grows with every change (calendars take the newest)
    registration_closes_at: datetime | None


@dataclass(frozen=True, slots=True)
class BulletinView:
    id: int
    text: str
    link: str | None
    channels: tuple[int, ...]
    send_at: datetime


@dataclass(frozen=True, slots=True)
class MaterialView:
    """A link or a Telegram file added after an event."""

    id: int
    event_id: int
    link: str | None
    file_id: str | None
    file_name: str | None
    added_at: datetime


def _event_view(event: Event) -> EventView:
    assert event.id is not None
    return EventView(
        id=event.id, kind=EventKind(event.kind), title=event.title,
        description=event.description, starts_at=event.starts_at, ends_at=event.ends_at,
        mode=EventMode(event.mode), place=event.place, link=event.link, host_id=event.host_id,
        host_name=event.host_name, language=event.language, channels=tuple(event.channels),
        pre_reading=event.pre_reading, capacity=event.capacity,
        reminders=tuple(event.reminders), rrule=event.rrule, series_id=event.series_id,
        cancelled=event.cancelled, version=event.version,
        registration_closes_at=event.registration_closes_at)


def _bulletin_view(bulletin: Bulletin) -> BulletinView:
    assert bulletin.id is not None
    return BulletinView(id=bulletin.id, text=bulletin.text, link=bulletin.link,
                        channels=tuple(bulletin.channels), send_at=bulletin.send_at)


def _material_view(material: EventMaterial) -> MaterialView:
    assert material.id is not None
    return MaterialView(id=material.id, event_id=material.event_id, link=material.link,
                        file_id=material.file_id, file_name=material.file_name,
                        added_at=material.added_at)


def preview(spec: EventSpec) -> EventView:
    """The event a spec would publish, to show the organiser before it is stored (id 0)."""
    return EventView(
        id=0, kind=spec.kind, title=spec.title, description=spec.description,
        starts_at=spec.start, ends_at=spec.end, mode=spec.mode, place=spec.place,
        link=spec.link, host_id=spec.host_id, host_name=spec.host_name, language=spec.language,
        channels=tuple(spec.channels), pre_reading=spec.pre_reading, capacity=spec.capacity,
        reminders=tuple(spec.reminders), rrule=spec.rrule, series_id=None, cancelled=False,
        version=1, registration_closes_at=spec.registration_closes)


async def event_of(*, session: AsyncSession, event_id: int) -> EventView | None:
    event = await session.get(Event, event_id)
    return None if event is None else _event_view(event)


async def bulletin_of(*, session: AsyncSession, bulletin_id: int) -> BulletinView | None:
    bulletin = await session.get(Bulletin, bulletin_id)
    return None if bulletin is None else _bulletin_view(bulletin)


# --- scheduling ----------------------------------------------------------------------------------

async def _queue(session: AsyncSession, *, key: str, kind: str | OutboxKind, chat_id: int,
                 due_at: datetime,
                 event_id: int | None = None, bulletin_id: int | None = None) -> None:
    """Add one outbox row unless its key is already there (scheduling is idempotent)."""
    exists = (await session.exec(select(Outbox.id).where(Outbox.key == key))).first()
    if exists is None:
        session.add(Outbox(key=key, kind=OutboxKind(kind), chat_id=chat_id, due_at=due_at,
                           event_id=event_id, bulletin_id=bulletin_id))


async def _schedule(session: AsyncSession, event: Event, announce_at: datetime) -> None:
    assert event.id is not None
    for chat in event.channels:
        await _queue(session, key=f"announce:{event.id}:{chat}", kind="announce", chat_id=chat,
                     due_at=announce_at, event_id=event.id)
        if event.registration_closes_at is not None and event.registration_closes_at > announce_at:
            # At the deadline the announcement's buttons are edited to say so.
            await _queue(session, key=f"closes:{event.id}:v{event.version}:{chat}", kind="closes",
                         chat_id=chat, due_at=event.registration_closes_at, event_id=event.id)
        for minutes in event.reminders:
            due = event.starts_at - timedelta(minutes=minutes)
            if due <= announce_at and minutes == min(event.reminders) \
                    and event.starts_at > announce_at:
                # Announced closer to its start than its last reminder: that reminder (with
                # its "I'm here" button) still goes, when presence can be marked, or at once.
                due = max(announce_at + timedelta(seconds=1), event.starts_at - PRESENCE_EARLY)
            if due > announce_at:
                await _queue(session, key=f"reminder:{event.id}:v{event.version}:{chat}:{minutes}",
                             kind="reminder", chat_id=chat, due_at=due, event_id=event.id)


async def publish_event(*, session: AsyncSession, spec: EventSpec, now: datetime,
                        publish_at: datetime | None = None, announce_days_before: int = 14
                        ) -> list[EventView]:
    """Store the event (each occurrence of a series) and queue its announcement and reminders.
    Later occurrences of a series are announced `announce_days_before` their start."""
    if not spec.channels:
        raise EventError("no channel to announce in")
    publish_at = max(publish_at or now, now)
    events: list[Event] = []
    series_id = None
    closes_before = spec.start - spec.registration_closes if spec.registration_closes else None
    for index, (start, end) in enumerate(occurrences(spec, now)):
        if end <= now:
            continue
        event = Event(
            registration_closes_at=start - closes_before if closes_before is not None else None,
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
    return [_event_view(event) for event in events]


async def change_event(*, session: AsyncSession, event_id: int, now: datetime,
                       **changes: object) -> EventView | None:
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
    return _event_view(event)


async def cancel_event(*, session: AsyncSession, event_id: int, now: datetime
                       ) -> EventView | None:
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
    return _event_view(event)


async def publish_bulletin(*, session: AsyncSession, text: str, link: str | None,
                           channels: list[int], send_at: datetime, now: datetime,
                           created_by: int | None = None) -> BulletinView:
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
    return _bulletin_view(bulletin)


# --- sending -------------------------------------------------------------------------------------

async def announcements(*, session: AsyncSession, event_id: int) -> list[tuple[int, int]]:
    """(chat, message) of each sent announcement of the event, to edit them."""
    rows = await session.exec(select(Outbox.chat_id, Outbox.message_id).where(
        col(Outbox.event_id) == event_id, col(Outbox.kind) == "announce",
        col(Outbox.status) == OutboxStatus.SENT, col(Outbox.message_id).is_not(None)))
    return [(chat, message) for chat, message in rows if message is not None]


async def refresh_counts(*, session: AsyncSession, event_id: int, now: datetime,
                         delay: timedelta = timedelta(seconds=2)) -> None:
    """Queue one edit of the counts on each announcement, unless one is already waiting: a
    burst of presses becomes one edit per chat, within Telegram's group limits."""
    for chat, _ in await announcements(session=session, event_id=event_id):
        waiting = (await session.exec(select(Outbox.id).where(
            col(Outbox.event_id) == event_id, col(Outbox.chat_id) == chat,
            col(Outbox.kind) == "counts", col(Outbox.status) == OutboxStatus.PENDING))).first()
        if waiting is None:
            session.add(Outbox(key=f"counts:{event_id}:{chat}:{uuid.uuid4().hex}",
                               kind=OutboxKind.COUNTS,
                               chat_id=chat, due_at=now + delay, event_id=event_id))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()


# --- RSVP ----------------------------------------------------------------------------------------

async def counts(*, session: AsyncSession, event_id: int) -> Counts:
    event = await session.get(Event, event_id)
    rows = await session.exec(select(Rsvp.answer, Rsvp.waiting, func.count()).where(
        col(Rsvp.event_id) == event_id).group_by(col(Rsvp.answer), col(Rsvp.waiting)))
    tally = {"yes": 0, "plus": 0, "no": 0, "waiting": 0}
    for answer, waiting, n in rows:
        tally["waiting" if waiting else answer] += n
    return Counts(tally["yes"], tally["plus"], tally["no"], tally["waiting"],
                  event.capacity if event else None)


def registration_open(event: Event | EventView, now: datetime) -> bool:
    return event.registration_closes_at is None or now < event.registration_closes_at


@dataclass(frozen=True, slots=True)
class RsvpResult:
    counts: Counts
    waiting: bool  # this person is on the waiting list
    promoted: list[int]  # people offered a place from the waiting list (told via the outbox)
    closed: bool = False  # registration had closed: nothing was recorded


async def rsvp(*, session: AsyncSession, event_id: int, user_id: int, answer: str,
               now: datetime, confirm_within: timedelta = timedelta(hours=24)
               ) -> RsvpResult | None:
    """Record one person's answer (a later press changes it), respecting the capacity with a
    waiting list; None for an unknown, cancelled or past event. After the registration
    deadline only "cannot come" is taken (it frees a place)."""
    event = await session.get(Event, event_id)
    if event is None or event.cancelled or event.starts_at <= now or answer not in ANSWERS:
        return None
    row = await session.get(Rsvp, (event_id, user_id))
    if not registration_open(event, now) and (answer != "no" or row is None):
        return RsvpResult(await counts(session=session, event_id=event_id),
                          bool(row and row.waiting), [], closed=True)
    row = row or Rsvp(event_id=event_id, user_id=user_id, answer=RsvpAnswer(answer))
    row.answer, row.updated_at, row.waiting, row.offered_until = (
        RsvpAnswer(answer), now, False, None)
    session.add(row)
    await session.flush()
    if event.capacity is not None and answer != "no":
        taken = (await counts(session=session, event_id=event_id)).seats
        row.waiting = taken > event.capacity
        session.add(row)
        await session.flush()
    promoted = await _promote(session, event, now, confirm_within) \
        if event.capacity is not None else []
    await session.commit()
    return RsvpResult(await counts(session=session, event_id=event_id), row.waiting, promoted)


async def _promote(session: AsyncSession, event: Event, now: datetime,
                   confirm_within: timedelta) -> list[int]:
    """Give freed places to the waiting list in the order people answered. Each is asked to
    confirm by a deadline (never later than the start), after which the place passes on."""
    promoted = []
    waiting = list(await session.exec(select(Rsvp).where(
        Rsvp.event_id == event.id, col(Rsvp.waiting).is_(True)).order_by(
            col(Rsvp.updated_at), col(Rsvp.user_id))))
    for row in waiting:
        need = 2 if row.answer == "plus" else 1
        assert event.id is not None and event.capacity is not None
        if (await counts(session=session, event_id=event.id)).seats + need > event.capacity:
            break
        row.waiting = False
        deadline = now + confirm_within
        row.offered_until = deadline if deadline < event.starts_at else None
        session.add(row)
        await session.flush()
        await _queue(session, key=f"offer:{event.id}:{row.user_id}:{uuid.uuid4().hex[:12]}",
                     kind="offer", chat_id=row.user_id, due_at=now, event_id=event.id)
        promoted.append(row.user_id)
    return promoted


@dataclass(frozen=True, slots=True)
class Offer:
    """A place offered to someone from the waiting list, as it stands now."""

    event: EventView
    until: datetime | None  # None: no confirmation asked (the start was too near)


async def offer(*, session: AsyncSession, event_id: int, user_id: int) -> Offer | None:
    """The place this person was offered, if they still hold it."""
    event = await session.get(Event, event_id)
    row = await session.get(Rsvp, (event_id, user_id))
    if event is None or event.cancelled or row is None or row.answer == "no" or row.waiting:
        return None
    return Offer(_event_view(event), row.offered_until)


async def answer_offer(*, session: AsyncSession, event_id: int, user_id: int, accept: bool,
                       now: datetime, confirm_within: timedelta = timedelta(hours=24)
                       ) -> bool | None:
    """Confirm (keep the place) or decline it (it passes on). None: the offer is gone."""
    found = await offer(session=session, event_id=event_id, user_id=user_id)
    if found is None or found.event.starts_at <= now:
        return None
    if accept:
        row = await session.get(Rsvp, (event_id, user_id))
        assert row is not None
        row.offered_until = None
        session.add(row)
        await session.commit()
        return True
    await rsvp(session=session, event_id=event_id, user_id=user_id, answer="no", now=now,
               confirm_within=confirm_within)
    return False


async def upcoming(*, session: AsyncSession, now: datetime, limit: int = 20,
                   host_id: int | None = None) -> list[EventView]:
    query = select(Event).where(col(Event.ends_at) > now, col(Event.cancelled).is_(False))
    if host_id is not None:
        query = query.where(Event.host_id == host_id)
    return [_event_view(e) for e in await session.exec(
        query.order_by(col(Event.starts_at)).limit(limit))]


# --- after the event: materials, attendance, feedback --------------------------------------------

PRESENCE_EARLY = timedelta(minutes=30)  # "I'm here" is taken from this long before the start
PRESENCE_LATE = timedelta(minutes=30)  # … until this long after the end
FOLLOW_UP_WITHIN = timedelta(days=2)  # feedback is not asked about events older than this


async def outbox_key(*, session: AsyncSession, outbox_id: int) -> str:
    """The key of one outbox row: it names what a row of some kinds is about."""
    return (await session.exec(select(Outbox.key).where(Outbox.id == outbox_id))).one()


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
        await _queue(session, key=f"materials:{material.id}:{person}", kind="materials",
                     chat_id=person, due_at=now, event_id=event_id)
    await session.commit()
    return _material_view(material)


async def materials(*, session: AsyncSession, event_id: int) -> list[MaterialView]:
    return [_material_view(m) for m in await session.exec(select(EventMaterial).where(
        EventMaterial.event_id == event_id).order_by(col(EventMaterial.id)))]


async def material_of(*, session: AsyncSession, outbox_id: int) -> MaterialView | None:
    """The material a `materials` outbox row carries (its key names it)."""
    key = await outbox_key(session=session, outbox_id=outbox_id)
    material = await session.get(EventMaterial, int(key.split(":")[1]))
    return None if material is None else _material_view(material)


async def past_with_materials(*, session: AsyncSession, now: datetime,
                              days: int = 60, limit: int = 10) -> list[EventView]:
    """Recent past events that have materials, newest first (for /events)."""
    with_materials = select(EventMaterial.event_id)
    return [_event_view(e) for e in await session.exec(select(Event).where(
        col(Event.id).in_(with_materials), col(Event.starts_at) <= now,
        col(Event.starts_at) > now - timedelta(days=days), col(Event.cancelled).is_(False),
    ).order_by(col(Event.starts_at).desc()).limit(limit))]


async def recent(*, session: AsyncSession, now: datetime, host_id: int | None = None,
                 days: int = 30, limit: int = 8) -> list[EventView]:
    """Events that have begun within `days`, newest first: the host's, or all (host_id None)."""
    query = select(Event).where(col(Event.starts_at) <= now + PRESENCE_EARLY,
                                col(Event.starts_at) > now - timedelta(days=days),
                                col(Event.cancelled).is_(False))
    if host_id is not None:
        query = query.where(Event.host_id == host_id)
    return [_event_view(e) for e in await session.exec(
        query.order_by(col(Event.starts_at).desc()).limit(limit))]


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
    event = _event_view(row)  # taken now: a rollback below would expire the row
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
            await _queue(session, key=f"feedback:{event.id}:{person}", kind="feedback",
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
        await _queue(session, key=f"offer_lapsed:{row.event_id}:{row.user_id}:"
                     f"{uuid.uuid4().hex[:8]}", kind="offer_lapsed", chat_id=row.user_id,
                     due_at=now, event_id=row.event_id)
    await session.flush()
    for event_id in {row.event_id for row in lapsed}:
        freed = await session.get(Event, event_id)
        assert freed is not None
        await _promote(session, freed, now, confirm_within)
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


async def feedback_question(*, session: AsyncSession, chat_id: int, message_id: int
                            ) -> int | None:
    """The event whose feedback question this message was (a reply to it is a comment)."""
    return (await session.exec(select(Outbox.event_id).where(
        Outbox.chat_id == chat_id, Outbox.message_id == message_id,
        col(Outbox.kind) == "feedback"))).first()


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


async def answer_of(*, session: AsyncSession, event_id: int, user_id: int) -> str | None:
    """One person's answer to an event ("yes", "plus", "no"; "waiting" on the waiting list), for
    the buttons in their own chat."""
    row = await session.get(Rsvp, (event_id, user_id))
    if row is None:
        return None
    return "waiting" if row.waiting else str(row.answer)
