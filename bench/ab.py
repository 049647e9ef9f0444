"""Two checkouts of peerdesk side by side: CPU per new question (with its cards), as a ratio.

Usage:
    git worktree add /tmp/before <commit>
    .venv/bin/python bench/ab.py /tmp/before . [--rounds 5] [--questions 400] [--text "…"]

On a shared or virtual machine one bot's CPU per question drifts by a quarter from one run to
the next (the echo bot's with it), which hides a change of a few percent. Here both bots run at
the same time, each against a fake Bot API of its own (bench/fakeapi.py) and a database of its
own with the same seeded tickets, so that whatever slows the machine slows both; each round
prints both figures and their ratio, and the end the median ratio. The absolute figures are
higher than bench/throughput.py's (the two share the cores): compare ratios only.

Each bot is started from its checkout's folder, so that `python -m bot` imports that checkout's
code (the virtual environment's editable install points at one of them only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.throughput import (
    FIRST_USER,
    HELPERS,
    SANDBOX_TOKEN,
    FakeApi,
    cpu_seconds,
    measure,
    questions,
    seed_tickets,
    settled,
    stop,
    wait_async,
)
from bot.storage.db import migrate


async def _database(seeded: int) -> str:
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'ab.db'}"
    await migrate(url)  # one at a time: Alembic's context is global to the process
    await seed_tickets(url, seeded)
    return url


async def _run(checkout: Path, url: str, users: range, texts: list[str], total: int
               ) -> float:
    """CPU per question (ms) from the first question until the last card was sent."""
    fake = await FakeApi.start()
    env = {**os.environ, "PEERDESK_TELEGRAM_TOKEN": SANDBOX_TOKEN,
           "PEERDESK_TELEGRAM_API_URL": fake.url, "PEERDESK_DATABASE_URL": url,
           "PEERDESK_LOG_LEVEL": "WARNING", "PEERDESK_RATE_LIMIT": "false",
           "PYTHONPATH": str(checkout)}
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=checkout, start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await fake.load(users[:1], ["Miten tiimin työnjako kannattaa sopia?"], 1)
        await wait_async(lambda: fake.sent_to(users[:1]), 120)
        helpers = range(HELPERS[0].telegram_id, HELPERS[-1].telegram_id + 1)
        before = cpu_seconds(bot.pid)
        await measure(fake, bot, users[1:], texts, total)
        await settled(lambda: fake.sent_to(helpers))
        return (cpu_seconds(bot.pid) - before) * 1000 / total
    finally:
        await stop(bot)
        await fake.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--seed-tickets", type=int, default=2000)
    parser.add_argument("--text", help="one question for every asker")
    args = parser.parse_args()
    before, after = args.before.resolve(), args.after.resolve()
    texts = [args.text] if args.text else questions()
    ratios = []
    for n in range(args.rounds):
        urls = [await _database(args.seed_tickets) for _ in range(2)]
        first = FIRST_USER + 10_000 * (n + 1)
        users = [range(first, first + args.questions + 1),
                 range(first + 5_000, first + 5_000 + args.questions + 1)]
        a, b = await asyncio.gather(
            _run(before, urls[0], users[0], texts, args.questions),
            _run(after, urls[1], users[1], texts, args.questions))
        ratios.append(b / a)
        print(f"round {n + 1}: before {a:.2f} ms, after {b:.2f} ms a question with its cards; "
              f"after/before {b / a:.3f}", flush=True)
    print(f"median after/before: {statistics.median(ratios):.3f} "
          f"(from {min(ratios):.3f} to {max(ratios):.3f})")


if __name__ == "__main__":
    asyncio.run(main())
