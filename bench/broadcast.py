"""Benchmark 3: one announcement to 300 chats with Telegram's flood limits on.

Usage:
    .venv/bin/python bench/broadcast.py [--database URL] [--chats 300]
        [--replicas 2 --group-notes 10]   # replicas need PostgreSQL

The bot runs as its own process (`python -m bot run`) against the local sandbox in this process,
which enforces Telegram's limits (30 messages a second overall, 20 a minute per group) and
answers 429 with retry_after beyond them. A bulletin is published to every chat through the
domain, as `/bulletin` or `peerdesk events` would; the bot's outbox sends it. Targets: at least
27 messages a second (90 % of Telegram's 30), none lost, none twice, no 429 left unhandled.

With `--replicas N` the bot runs as N `peerdesk serve` processes on one PostgreSQL database,
sharing the bulletin's rows and one budget of Telegram's limits (bot.telegram.budget); with
`--group-notes K` K notices go to the helpers' group at the same time (20 a minute at most,
whichever replica sends them). Target with replicas: 0 × 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.domain import outbox
from bot.domain.events import schedule
from bot.domain.models import Outbox, OutboxStatus, Priority, utcnow
from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, serve
from bot.storage import Database, migrate

FIRST_CHAT = -5000
GROUP = -1001500


class TimedSandbox(Sandbox):
    """Notes when each message was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[float] = []
        self.to_group: list[float] = []

    async def _api_sendmessage(self, params: dict) -> dict:
        result = await super()._api_sendmessage(params)
        (self.to_group if int(params["chat_id"]) == GROUP else self.accepted).append(
            time.perf_counter())
        return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database")
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--group-notes", type=int, default=0)
    args = parser.parse_args()
    if args.replicas > 1 and not (args.database or "").startswith("postgresql"):
        parser.error("replicas share their budget on PostgreSQL: give --database")
    url = args.database or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    await migrate(url)
    chats = [FIRST_CHAT - n for n in range(args.chats)]

    sandbox = TimedSandbox()
    sandbox.flood_limits = True
    for chat in chats:
        sandbox.group(chat, "Tiimi")
    sandbox.group(GROUP, "Vertaistuki", forum=True)
    runner = await serve(sandbox, "127.0.0.1", 0)
    api = f"http://127.0.0.1:{runner.addresses[0][1]}"
    env = {**os.environ, "PEERDESK_TELEGRAM_TOKEN": SANDBOX_TOKEN,
           "PEERDESK_TELEGRAM_API_URL": api, "PEERDESK_DATABASE_URL": url,
           "PEERDESK_HELPERS_CHAT_ID": str(GROUP), "PEERDESK_ADMIN_IDS": "",
           "PEERDESK_LOG_LEVEL": "WARNING"}  # the outbox at its default pace (a tick per 5 s)
    bots = []
    for replica in range(args.replicas):
        if args.replicas == 1:
            argv, extra = ["run"], {}
        else:  # webhook replicas, each with its own port (nothing posts to them here)
            port = 18600 + replica
            argv, extra = ["serve"], {"PEERDESK_WEBHOOK_URL": f"http://127.0.0.1:{port}",
                                      "PEERDESK_WEBHOOK_SECRET": "bench-secret",
                                      "PEERDESK_WEB_PORT": str(port)}
        bots.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *argv, env={**env, **extra},
            stderr=asyncio.subprocess.DEVNULL))
    try:
        await sandbox.wait_until(  # the bots have started
            lambda: sum(method == "setMyCommands" for method, _ in sandbox.calls)
            >= args.replicas, 60)
        db = Database(url)
        async with db.session() as session:
            await outbox.notify(session=session, chat_ids=[GROUP] * args.group_notes,
                                now=utcnow(), priority=Priority.ALERT,
                                params={"template": "poison", "update_id": 1})
            await schedule.publish_bulletin(session=session, text="Uusi ohje: arviointi",
                                            link=None, channels=chats, send_at=utcnow(),
                                            now=utcnow())
        with contextlib.suppress(TimeoutError):  # what is missing is counted as lost
            await sandbox.wait_until(lambda: all(sandbox.bot_messages(c) for c in chats)
                                     and len(sandbox.to_group) >= args.group_notes,
                                     120 + 4 * args.group_notes)
        await asyncio.sleep(1)  # anything sent twice would arrive now
        async with db.session() as session:
            from sqlmodel import select

            statuses = Counter(row.status for row in await session.exec(select(Outbox)))
        await db.dispose()
    finally:
        for bot in bots:
            bot.send_signal(signal.SIGTERM)
        for bot in bots:
            await bot.wait()
        await runner.cleanup()

    counts = [len(sandbox.bot_messages(c)) for c in chats]
    times = sorted(sandbox.accepted)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    print(f"database: {url.split(':')[0]}; {len(chats)} chats, {args.replicas} "
          f"{'replicas' if args.replicas > 1 else 'process'}, flood limits on")
    print(f"3. broadcast: {len(times)} messages in {span:.1f} s = {(len(times) - 1) / span:.1f}/s "
          f"(target >= 27/s); busiest second {busiest} (Telegram allows 30)")
    print(f"   lost {counts.count(0)}, twice {sum(1 for c in counts if c > 1)}; "
          f"429 answers {sandbox.refused_for_flood}; outbox rows sent "
          f"{statuses.get(OutboxStatus.SENT, 0)}, not sent "
          f"{sum(v for k, v in statuses.items() if k != OutboxStatus.SENT)}")
    if args.group_notes:
        group = sorted(sandbox.to_group)
        busiest_minute = max(sum(1 for t in group if start <= t < start + 60) for start in group)
        print(f"   helpers' group: {len(group)}/{args.group_notes} notices, busiest minute "
              f"{busiest_minute} (Telegram allows 20)")


if __name__ == "__main__":
    asyncio.run(main())
