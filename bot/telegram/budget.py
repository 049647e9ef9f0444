"""Telegram's flood limits kept by the whole bot, not by each process: one budget per lane
(the bot overall, one group, one private chat), shared by every replica on PostgreSQL.

Each lane is a GCRA bucket (a token bucket kept as one number): `tat`, the earliest time the
next message may go once the burst is spent. Taking a slot is one atomic statement: the slot is
`max(tat, now - window)`, and `tat` moves on by the lane's interval; whoever took the slot waits
until it. Two replicas asking at once get two different slots, so N processes together send no
faster than one. On SQLite the bot is one process, and the same arithmetic runs in memory.

The scarce lane is taken first (a group's, a person's), then the overall one, so that the slot
taken in the fast lane is used when it comes rather than held while the slow one is waited for.

A lane is kept per chat ever written to; one idle for a minute (`IDLE`) is the same as a new one
(every pace's window is shorter), so it is dropped, at most once a minute, as a slot is taken:
in memory and in the table alike.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class Pace:
    """At most `burst` at once, then one every `interval` seconds."""

    burst: int
    interval: float

    @property
    def window(self) -> float:
        return (self.burst - 1) * self.interval


def per_minute(limit: int) -> Pace:
    """A group's pace: never more than `limit` in any minute, even counting both ends of it
    (a fifth at once, then an even pace: 4 at once and one every 4 s for Telegram's 20)."""
    burst = max(1, limit // 5)
    return Pace(burst, 60 / max(1, limit - burst - 1))


OVERALL = Pace(1, 1 / 28)  # 29 in any second at most (Telegram takes 30): one of margin
PRIVATE = Pace(3, 1.0)  # a person's chat: a short burst, then about one a second
IDLE = 60.0  # seconds past a lane's next slot after which it is dropped: longer than any window
PRUNE_EVERY = 60.0  # seconds between two prunings


class Budget:
    """The lanes of one process (SQLite, a single process): slots kept in memory."""

    shared = False

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._pruned = time.monotonic()

    def _prune_due(self) -> bool:
        if time.monotonic() - self._pruned < PRUNE_EVERY:
            return False
        self._pruned = time.monotonic()
        return True

    def _prune(self, now: float) -> None:
        if self._prune_due():
            for lane in [lane for lane, tat in self._tat.items() if tat < now - IDLE]:
                del self._tat[lane]

    async def reserve(self, lane: str, pace: Pace) -> float:
        """Take the lane's next slot; returns the seconds to wait for it (0: go now)."""
        now = time.time()
        self._prune(now)
        slot = max(self._tat.get(lane, 0.0), now - pace.window)
        self._tat[lane] = slot + pace.interval
        return max(0.0, slot - now)

    async def free_in(self, lane: str, pace: Pace) -> float:
        """Seconds until the lane has a slot, without taking it (for planning)."""
        return max(0.0, self._tat.get(lane, 0.0) - pace.window - time.time())

    async def take(self, lane: str, pace: Pace) -> None:
        """Wait for a slot and take it. In one process a slot is taken only when it has come:
        a task the busy event loop wakes late loses nothing, and late ones never bunch up
        beyond the burst."""
        while True:
            now = time.time()
            slot = max(self._tat.get(lane, 0.0), now - pace.window)
            if slot <= now:
                self._prune(now)
                self._tat[lane] = slot + pace.interval
                return
            await asyncio.sleep(slot - now)


_RESERVE = text("""
INSERT INTO sendbudget (lane, tat)
VALUES (:lane, extract(epoch from clock_timestamp()) - :window + :interval)
ON CONFLICT (lane) DO UPDATE
SET tat = greatest(sendbudget.tat, extract(epoch from clock_timestamp()) - :window) + :interval
RETURNING tat - :interval - extract(epoch from clock_timestamp())
""")
_PRUNE = text("""
DELETE FROM sendbudget WHERE tat < extract(epoch from clock_timestamp()) - :idle
""")
_FREE_IN = text("""
SELECT tat - :window - extract(epoch from clock_timestamp()) FROM sendbudget WHERE lane = :lane
""")


class SharedBudget(Budget):
    """The lanes of every replica, in PostgreSQL (table `sendbudget`), on the database's clock:
    the replicas' own clocks need not agree."""

    shared = True

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine

    async def reserve(self, lane: str, pace: Pace) -> float:
        async with self._engine.connect() as connection:
            wait = (await connection.execute(_RESERVE, {
                "lane": lane, "window": pace.window, "interval": pace.interval})).scalar_one()
            if self._prune_due():
                await connection.execute(_PRUNE, {"idle": IDLE})
            await connection.commit()
        return max(0.0, float(wait))

    async def take(self, lane: str, pace: Pace) -> None:
        """Reserve the next slot (one statement, whatever the contention) and wait for it."""
        wait = await self.reserve(lane, pace)
        if wait > 0:
            await asyncio.sleep(wait)

    async def free_in(self, lane: str, pace: Pace) -> float:
        async with self._engine.connect() as connection:
            wait = (await connection.execute(_FREE_IN, {
                "lane": lane, "window": pace.window})).scalar()
        return max(0.0, float(wait or 0.0))


def budget_for(engine: AsyncEngine) -> Budget:
    return SharedBudget(engine) if engine.dialect.name == "postgresql" else Budget()
