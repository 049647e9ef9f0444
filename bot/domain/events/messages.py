"""An event's messages in Telegram chats: the announcements sent (to edit them), what an outbox
row's key names, which message was the feedback question; and the counts' edits, queued once a
burst."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.events import views
from bot.domain.events.views import EventView, MaterialView
from bot.domain.models import EventMaterial, Outbox, OutboxKind, OutboxStatus


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



async def outbox_key(*, session: AsyncSession, outbox_id: int) -> str:
    """The key of one outbox row: it names what a row of some kinds is about."""
    return (await session.exec(select(Outbox.key).where(Outbox.id == outbox_id))).one()



async def is_last_reminder(*, session: AsyncSession, outbox_id: int, event: EventView) -> bool:
    """Whether this reminder row is the event's last before the start (it carries "I'm
    here"): its key ends with the minutes before the start."""
    key = await outbox_key(session=session, outbox_id=outbox_id)
    return bool(event.reminders) and int(key.rsplit(":", 1)[1]) == min(event.reminders)


async def material_of(*, session: AsyncSession, outbox_id: int) -> MaterialView | None:
    """The material a `materials` outbox row carries (its key names it)."""
    key = await outbox_key(session=session, outbox_id=outbox_id)
    material = await session.get(EventMaterial, int(key.split(":")[1]))
    return None if material is None else views.material_view(material)



async def feedback_question(*, session: AsyncSession, chat_id: int, message_id: int
                            ) -> int | None:
    """The event whose feedback question this message was (a reply to it is a comment)."""
    return (await session.exec(select(Outbox.event_id).where(
        Outbox.chat_id == chat_id, Outbox.message_id == message_id,
        col(Outbox.kind) == "feedback"))).first()

