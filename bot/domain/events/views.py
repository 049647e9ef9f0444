"""Events as the adapters see them: the value types, the presence window, and the reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import Bulletin, Event, EventKind, EventMaterial, EventMode

PRESENCE_EARLY = timedelta(minutes=30)  # "I'm here" is taken from this long before the start
PRESENCE_LATE = timedelta(minutes=30)  # … until this long after the end


class EventError(ValueError):
    """An event or bulletin that cannot be scheduled; the message says why."""



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


def event_view(event: Event) -> EventView:
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


def bulletin_view(bulletin: Bulletin) -> BulletinView:
    assert bulletin.id is not None
    return BulletinView(id=bulletin.id, text=bulletin.text, link=bulletin.link,
                        channels=tuple(bulletin.channels), send_at=bulletin.send_at)


def material_view(material: EventMaterial) -> MaterialView:
    assert material.id is not None
    return MaterialView(id=material.id, event_id=material.event_id, link=material.link,
                        file_id=material.file_id, file_name=material.file_name,
                        added_at=material.added_at)



async def event_of(*, session: AsyncSession, event_id: int) -> EventView | None:
    event = await session.get(Event, event_id)
    return None if event is None else event_view(event)


async def bulletin_of(*, session: AsyncSession, bulletin_id: int) -> BulletinView | None:
    bulletin = await session.get(Bulletin, bulletin_id)
    return None if bulletin is None else bulletin_view(bulletin)

async def upcoming(*, session: AsyncSession, now: datetime, limit: int = 20,
                   host_id: int | None = None) -> list[EventView]:
    query = select(Event).where(col(Event.ends_at) > now, col(Event.cancelled).is_(False))
    if host_id is not None:
        query = query.where(Event.host_id == host_id)
    return [event_view(e) for e in await session.exec(
        query.order_by(col(Event.starts_at)).limit(limit))]


async def materials(*, session: AsyncSession, event_id: int) -> list[MaterialView]:
    return [material_view(m) for m in await session.exec(select(EventMaterial).where(
        EventMaterial.event_id == event_id).order_by(col(EventMaterial.id)))]


async def past_with_materials(*, session: AsyncSession, now: datetime,
                              days: int = 60, limit: int = 10) -> list[EventView]:
    """Recent past events that have materials, newest first (for /events)."""
    with_materials = select(EventMaterial.event_id)
    return [event_view(e) for e in await session.exec(select(Event).where(
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
    return [event_view(e) for e in await session.exec(
        query.order_by(col(Event.starts_at).desc()).limit(limit))]


