"""Publishing: an event (each occurrence of a series) or a bulletin stored, and each of its
messages queued as an outbox row with a unique key; changes and cancellations re-queue them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.events import views
from bot.domain.events.spec import EventSpec, occurrences
from bot.domain.events.views import PRESENCE_EARLY, BulletinView, EventError, EventView
from bot.domain.models import Bulletin, Event, EventMode, Outbox, OutboxKind, OutboxStatus


async def queue(session: AsyncSession, *, key: str, kind: str | OutboxKind, chat_id: int,
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
        await queue(session, key=f"announce:{event.id}:{chat}", kind="announce", chat_id=chat,
                    due_at=announce_at, event_id=event.id)
        if event.registration_closes_at is not None and event.registration_closes_at > announce_at:
            # At the deadline the announcement's buttons are edited to say so.
            await queue(session, key=f"closes:{event.id}:v{event.version}:{chat}", kind="closes",
                        chat_id=chat, due_at=event.registration_closes_at, event_id=event.id)
        for minutes in event.reminders:
            due = event.starts_at - timedelta(minutes=minutes)
            if due <= announce_at and minutes == min(event.reminders) \
                    and event.starts_at > announce_at:
                # Announced closer to its start than its last reminder: that reminder (with
                # its "I'm here" button) still goes, when presence can be marked, or at once.
                due = max(announce_at + timedelta(seconds=1), event.starts_at - PRESENCE_EARLY)
            if due > announce_at:
                await queue(session, key=f"reminder:{event.id}:v{event.version}:{chat}:{minutes}",
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
    return [views.event_view(event) for event in events]


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
        await queue(session, key=f"change:{event.id}:v{event.version}:{chat}", kind="change",
                    chat_id=chat, due_at=now, event_id=event.id)
    session.add(event)
    await session.flush()
    await _schedule(session, event, now)
    await session.commit()
    return views.event_view(event)


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
            await queue(session, key=f"cancel:{event.id}:{chat}", kind="cancel", chat_id=chat,
                        due_at=now, event_id=event.id)
    session.add(event)
    await session.commit()
    return views.event_view(event)


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
        await queue(session, key=f"bulletin:{bulletin.id}:{chat}", kind="bulletin",
                    chat_id=chat, due_at=bulletin.send_at, bulletin_id=bulletin.id)
    await session.commit()
    return views.bulletin_view(bulletin)

