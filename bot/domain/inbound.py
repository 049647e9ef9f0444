"""Inbound updates: stored before Telegram is told they arrived, handled once by update id.

Polling confirms a batch when it asks for the next one, and a webhook call is confirmed by its
200; either way the update is in the database first. The process that stores an update takes it
in hand in the same write (status `processing`, `worker` = that process); an update seen before
is not taken again. When handled it is `done`. One whose process has stopped (no heartbeat, see
bot.domain.workers) is taken over; never one whose owner is alive, however slow. An update that
cannot be read is set aside as `poison`, without its payload.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, func, update
from sqlalchemy.sql.dml import Insert, ReturningInsert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import workers
from bot.domain.core import Unit, insert_new, run, table
from bot.domain.models import InboundUpdate, UpdateStatus


async def store(*, session: Unit, updates: list[tuple[int, dict | None]], now: datetime,
                worker: str) -> set[int]:
    """Store the updates not seen before, taken in hand by `worker` (one write for a whole
    batch); returns their ids. The others were stored before: handled, or in hand elsewhere.
    A payload of None is an update that could not be read: set aside at once (its id is among
    those returned only the first time it comes)."""
    if not updates:
        return set()
    rows = [dict(update_id=update_id, payload=payload, worker=worker, received_at=now,
                 claimed_at=now,
                 status=UpdateStatus.PROCESSING if payload is not None else UpdateStatus.POISON)
            for update_id, payload in updates]
    # The rows as parameters, not as values in the statement: one Core statement, compiled
    # once per process (a statement holding its values was compiled again for every batch).
    result = await run(session, _storing(insert_new(session, InboundUpdate)), rows)
    new = {update_id for (update_id,) in result}
    await session.commit()
    return new


@cache
def _storing(insert: Insert) -> ReturningInsert[tuple[int]]:
    """The store's statement, built once per dialect (built anew, each batch of updates paid
    for its cache key)."""
    return insert.returning(insert.table.c.update_id)


_UPDATES = table(InboundUpdate)
_DONE = update(_UPDATES).where(_UPDATES.c.update_id == bindparam("id")).values(
    status=UpdateStatus.DONE, processed_at=bindparam("now"), payload=None)


async def done(*, session: Unit, update_id: int, now: datetime) -> None:
    """Handled: the id stays (a repeat is recognised), the payload (personal data) goes."""
    await run(session, _DONE, {"id": update_id, "now": now})
    await session.commit()


async def set_aside(*, session: AsyncSession, update_id: int, now: datetime) -> bool:
    """An update that cannot be read or handled: kept as an id only, never tried again.
    True when it was not set aside before (report it once)."""
    result = await session.exec(update(InboundUpdate).where(
        col(InboundUpdate.update_id) == update_id,
        col(InboundUpdate.status) != UpdateStatus.POISON,
    ).values(status=UpdateStatus.POISON, processed_at=now, payload=None))
    await session.commit()
    return result.rowcount == 1


async def take_over(*, session: AsyncSession, now: datetime, wall: datetime, worker: str,
                    timeout: timedelta, everything: bool = False) -> list[tuple[int, dict]]:
    """Take in hand the updates of processes that have stopped (no heartbeat within `timeout`);
    `everything`: whatever another process holds (polling at start: Telegram lets only one
    process poll). Heartbeats are in real time (`wall`), whatever clock the rest keeps. One
    conditional write, so that of two (living) processes doing this at once each update goes
    to one. Returns (id, payload), oldest first."""
    owner = col(InboundUpdate.worker)
    not_mine = owner.is_(None) | (owner != worker)
    owner_gone = owner.is_(None) | owner.not_in(workers.alive(now=wall, timeout=timeout))
    result = await session.exec(update(InboundUpdate).where(
        col(InboundUpdate.status).in_([UpdateStatus.STORED, UpdateStatus.PROCESSING]),
        col(InboundUpdate.payload).is_not(None), not_mine,
        *([] if everything else [owner_gone]),
    ).values(status=UpdateStatus.PROCESSING, claimed_at=now, worker=worker)
        .returning(col(InboundUpdate.update_id), col(InboundUpdate.payload))
        .execution_options(synchronize_session=False))
    taken = sorted((update_id, payload) for update_id, payload in result)
    await session.commit()
    return taken


async def hand_back(*, session: AsyncSession, worker: str, update_ids: set[int]) -> None:
    """Stopping in good order: updates taken but not begun go back, for the next process."""
    if update_ids:
        await session.exec(update(InboundUpdate).where(
            col(InboundUpdate.update_id).in_(update_ids),
            col(InboundUpdate.worker) == worker,
            col(InboundUpdate.status) == UpdateStatus.PROCESSING,
        ).values(status=UpdateStatus.STORED, worker=None))
        await session.commit()


async def last_update_id(*, session: AsyncSession) -> int:
    """The highest update id ever stored (0 when none): a new source of updates goes on above
    it, so that none is taken for one seen before."""
    return (await session.exec(select(func.max(col(InboundUpdate.update_id))))).one() or 0
