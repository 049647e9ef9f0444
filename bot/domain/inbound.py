"""Inbound updates: stored before Telegram is told they arrived, handled once by update id.

Polling confirms a batch when it asks for the next one, and a webhook call is confirmed by its
200; either way the update is in the database first. The process that stores an update takes it
in hand in the same write (status `processing`); an update seen before is not taken again. When
handled it is `done`; one whose process died is taken over after a lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import InboundUpdate

LEASE = timedelta(minutes=2)  # an update in hand longer than this is taken to be abandoned


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgres_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def store(*, session: AsyncSession, updates: list[tuple[int, dict]], now: datetime
                ) -> set[int]:
    """Store the updates not seen before, taken in hand by the caller (one write for a whole
    batch); returns their ids. The others were stored before: handled, or in hand elsewhere."""
    if not updates:
        return set()
    rows = [dict(update_id=update_id, payload=payload, status="processing", received_at=now,
                 claimed_at=now) for update_id, payload in updates]
    result = await session.exec(_insert(session)(InboundUpdate).values(rows)  # type: ignore[call-overload]
                                .on_conflict_do_nothing()
                                .returning(col(InboundUpdate.update_id)))
    new = set(result.scalars())
    await session.commit()
    return new


async def done(*, session: AsyncSession, update_id: int, now: datetime) -> None:
    """Handled: the id stays (a repeat is recognised), the payload (personal data) goes."""
    await session.exec(update(InboundUpdate).where(col(InboundUpdate.update_id) == update_id)
                       .values(status="done", processed_at=now, payload=None))
    await session.commit()


async def take_over(*, session: AsyncSession, now: datetime, lease: timedelta = LEASE
                    ) -> list[tuple[int, dict]]:
    """Take in hand the updates whose handler stopped before finishing: in hand longer than
    `lease` (a lease of zero: every unfinished one). One conditional write, so that of two
    processes doing this at once each update goes to one. Returns (id, payload), oldest first."""
    since = func.coalesce(col(InboundUpdate.claimed_at), col(InboundUpdate.received_at))
    result = await session.exec(update(InboundUpdate).where(  # type: ignore[call-overload]
        col(InboundUpdate.status) != "done", col(InboundUpdate.payload).is_not(None),
        since <= now - lease,
    ).values(status="processing", claimed_at=now)
        .returning(col(InboundUpdate.update_id), col(InboundUpdate.payload))
        .execution_options(synchronize_session=False))
    taken = sorted((update_id, payload) for update_id, payload in result)
    await session.commit()
    return taken
