"""Running bot processes and their heartbeats: what a process holds (updates in hand, outbox
rows it is sending) is taken over only when its heartbeat has stopped, never from a living
owner, however slow its work. Heartbeats are kept in real time (`utcnow`), not in the clock
that tests move."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.sql import Select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import Worker


def new_id() -> str:
    """A name for this process: readable in the database, unique across restarts."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def alive(*, now: datetime, timeout: timedelta) -> Select:
    """The ids of processes whose heartbeat is recent (a subquery)."""
    return select(Worker.id).where(col(Worker.heartbeat_at) >= now - timeout)


async def beat(*, session: AsyncSession, worker: str, now: datetime) -> None:
    """I am alive (the first beat registers the process)."""
    result = await session.exec(update(Worker).where(col(Worker.id) == worker)
                                .values(heartbeat_at=now))
    if result.rowcount == 0:
        session.add(Worker(id=worker, started_at=now, heartbeat_at=now))
    await session.commit()


async def retire(*, session: AsyncSession, worker: str, now: datetime,
                 keep: timedelta = timedelta(days=1)) -> None:
    """The process stops in good order; long-silent ones are forgotten too."""
    await session.exec(delete(Worker).where(
        (col(Worker.id) == worker) | (col(Worker.heartbeat_at) < now - keep)))
    await session.commit()
