"""Inbound updates on both databases: stored and taken in hand in one write, an update seen
before is not taken again, what a living process holds is never taken from it, and what a
stopped process left is taken over by one process only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.domain import inbound, workers
from bot.domain.models import utcnow
from bot.storage import Database


@pytest.mark.races
async def test_an_update_is_taken_once_however_often_it_is_stored(database_url: str) -> None:
    db, now = Database(database_url), utcnow()
    try:
        async with db.session() as session:
            await workers.beat(session=session, worker="one", now=now)
            first = await inbound.store(session=session, now=now, worker="one", updates=[
                (1, {"update_id": 1}), (2, {"update_id": 2})])
        async with db.session() as session:
            again = await inbound.store(session=session, now=now, worker="two", updates=[
                (2, {"update_id": 2}), (3, {"update_id": 3})])
        assert (first, again) == ({1, 2}, {3})
        async with db.session() as session:  # their owner is alive: nobody takes them
            assert await inbound.take_over(session=session, now=now, wall=now, worker="three",
                                           timeout=timedelta(seconds=30)) == [(3, {"update_id": 3})]
        later = now + timedelta(hours=1)  # however long the owner takes, while it beats
        async with db.session() as session:
            await workers.beat(session=session, worker="one", now=later)
            assert await inbound.take_over(session=session, now=later, wall=later,
                                           worker="three", timeout=timedelta(seconds=30)) == []
    finally:
        await db.dispose()


@pytest.mark.races
async def test_two_processes_taking_over_at_once_share_nothing(database_url: str) -> None:
    db, then = Database(database_url), utcnow() - timedelta(minutes=10)
    try:
        async with db.session() as session:
            await workers.beat(session=session, worker="gone", now=then)
            await inbound.store(session=session, now=then, worker="gone",
                                updates=[(n, {"update_id": n}) for n in range(1, 41)])
        async with db.session() as session:
            await inbound.done(session=session, update_id=7, now=then)

        async def take(process: Database, name: str) -> list[int]:
            async with process.session() as session:
                await workers.beat(session=session, worker=name, now=utcnow())
                taken = await inbound.take_over(session=session, now=utcnow(), wall=utcnow(),
                                                worker=name, timeout=timedelta(minutes=2))
            return [update_id for update_id, _ in taken]

        other = Database(database_url)  # another process: its own connections
        try:
            one, two = await asyncio.gather(take(db, "one"), take(other, "two"))
        finally:
            await other.dispose()
        assert not set(one) & set(two)
        assert sorted(one + two) == [n for n in range(1, 41) if n != 7]  # done stays done
        assert one == sorted(one) and two == sorted(two)  # oldest first
    finally:
        await db.dispose()
