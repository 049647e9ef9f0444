"""Benchmark 4: a monthly report over 1,000,000 topic-log rows and 100,000 tickets.

Usage:
    .venv/bin/python bench/reports.py [--rows 1000000] [--tickets 100000] [--database URL]

Seeds a fresh database (SQLite file under /tmp by default; PostgreSQL with --database), then
times `monthly_report` for one month several times and prints the figures. Target: under 1 s on
SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from bot import LANGUAGES, ROLES
from bot.config import PROJECT_ROOT
from bot.domain.knowledge import load_knowledge
from bot.domain.models import Ticket, TicketStatus, TopicLog
from bot.domain.reports import Period, monthly_report
from bot.storage import Database, migrate

TEAMS = ["Tekniikka", "Liiketalous", "Hyvinvointiala", "Rakentaminen", "Matkailu", None]
SPAN = timedelta(days=3 * 365)  # the rows spread over three school years
END = datetime(2026, 12, 1, tzinfo=UTC)


async def seed(db: Database, rows: int, tickets: int) -> None:
    rng = random.Random(7)
    topics = [(t.role, t.id) for t in load_knowledge(PROJECT_ROOT / "knowledge").topics.values()]
    start = END - SPAN
    batch = 20_000
    async with db.engine.begin() as conn:
        for offset in range(0, rows, batch):
            values = []
            for _ in range(min(batch, rows - offset)):
                role, topic = rng.choice(topics)
                rerouted = rng.random() < 0.05
                values.append(dict(
                    at=start + SPAN * rng.random(), ticket_id=None, topic=topic, role=role,
                    language=rng.choice(LANGUAGES), team=rng.choice(TEAMS), routing="auto",
                    rerouted_from_role=rng.choice(ROLES) if rerouted else None,
                    rerouted_from_topic=rng.choice(topics)[1] if rerouted else None))
            await conn.execute(insert(TopicLog), values)
        for offset in range(0, tickets, batch):
            values = []
            for _ in range(min(batch, tickets - offset)):
                role, topic = rng.choice(topics)
                created = start + SPAN * rng.random()
                answered = rng.random() < 0.95
                first = rng.expovariate(1 / 90) if answered else None
                values.append(dict(
                    asker_id=rng.randrange(1, 3000), asker_chat_id=None, text=None,
                    language=rng.choice(LANGUAGES), topic=topic, role=role, confidence=0.8,
                    routing="auto", status=TicketStatus.CLOSED if answered else TicketStatus.OPEN,
                    anonymous=False, self_served=rng.random() < 0.1, created_at=created,
                    updated_at=created, sla_level=0, overdue=rng.random() < 0.1,
                    first_answer_at=created + timedelta(minutes=first) if first else None,
                    first_answer_minutes=first, first_answer_office_minutes=first and first / 2,
                    close_minutes=first and first * 3, close_office_minutes=first and first,
                    rating=rng.randint(1, 5) if rng.random() < 0.4 else None))
            await conn.execute(insert(Ticket), values)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = args.database or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    await migrate(url)
    db = Database(url)
    began = time.perf_counter()
    await seed(db, args.rows, args.tickets)
    await db.checkpoint()  # as the running bot's job does every few seconds
    print(f"seeded {args.rows:,} topic-log rows and {args.tickets:,} tickets "
          f"in {time.perf_counter() - began:.1f} s ({url.split(':')[0]})")
    period = Period.month("2026-11", ZoneInfo("Europe/Helsinki"))
    timings = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        async with db.reading() as session:
            report = await monthly_report(session=session, period=period)
        timings.append(time.perf_counter() - began)
    await db.dispose()
    print(f"monthly report {period.label}: {report.total:,} questions in the month; "
          f"median {statistics.median(timings) * 1000:.0f} ms, "
          f"first {timings[0] * 1000:.0f} ms, best {min(timings) * 1000:.0f} ms "
          f"(target: under 1000 ms on SQLite)")


if __name__ == "__main__":
    asyncio.run(main())
