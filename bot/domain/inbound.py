"""Inbound updates: stored before Telegram is told they arrived, handled once by update id.

Polling confirms a batch when it asks for the next one, and a webhook call is confirmed by its
200; either way the update is in the database first. Handling claims the row (stored →
processing → done); a row claimed by a process that died is taken again after a lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import InboundUpdate

LEASE = timedelta(minutes=2)  # an update in hand longer than this is taken to be abandoned


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgres_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def store(*, session: AsyncSession, updates: list[tuple[int, dict]], now: datetime
                ) -> list[int]:
    """Store updates not seen before; returns the ids that were new."""
    if not updates:
        return []
    insert = _insert(session)
    new = []
    for update_id, payload in updates:
        result = await session.exec(insert(InboundUpdate).values(  # type: ignore[call-overload]
            update_id=update_id, payload=payload, status="stored", received_at=now,
        ).on_conflict_do_nothing())
        if result.rowcount == 1:
            new.append(update_id)
    await session.commit()
    return new


async def claim(*, session: AsyncSession, update_id: int, now: datetime,
                lease: timedelta = LEASE) -> bool:
    """Take the one right to handle an update (an update never stored is stored here first)."""
    take = update(InboundUpdate).where(
        col(InboundUpdate.update_id) == update_id,
        or_(col(InboundUpdate.status) == "stored",
            (col(InboundUpdate.status) == "processing")
            & (col(InboundUpdate.claimed_at) < now - lease)),
    ).values(status="processing", claimed_at=now)
    result = await session.exec(take)
    if result.rowcount == 0:
        inserted = await session.exec(_insert(session)(InboundUpdate).values(  # type: ignore[call-overload]
            update_id=update_id, payload=None, status="processing", received_at=now,
            claimed_at=now,
        ).on_conflict_do_nothing())
        await session.commit()
        return inserted.rowcount == 1
    await session.commit()
    return True


async def done(*, session: AsyncSession, update_id: int, now: datetime) -> None:
    """Handled: the id stays (a repeat is recognised), the payload (personal data) goes."""
    await session.exec(update(InboundUpdate).where(col(InboundUpdate.update_id) == update_id)
                       .values(status="done", processed_at=now, payload=None))
    await session.commit()


async def unfinished(*, session: AsyncSession, now: datetime, lease: timedelta = LEASE,
                     stored_before: datetime | None = None) -> list[dict]:
    """Payloads to handle again after a crash: stored but never taken (before `stored_before`,
    if given, so as not to race a queue that is about to take them), or taken by a process whose
    lease ran out."""
    stored = col(InboundUpdate.status) == "stored"
    if stored_before is not None:
        stored = stored & (col(InboundUpdate.received_at) < stored_before)
    rows = await session.exec(select(InboundUpdate.payload).where(
        col(InboundUpdate.payload).is_not(None),
        or_(stored, (col(InboundUpdate.status) == "processing")
            & (col(InboundUpdate.claimed_at) < now - lease)),
    ).order_by(col(InboundUpdate.update_id)))
    return [payload for payload in rows if payload]
