"""Benchmarks 1, 2 and 5: throughput against a bare PTB echo bot, latency at a steady rate, and
the bot's resident memory with 100,000 tickets in the database.

Usage:
    .venv/bin/python bench/throughput.py [--database URL] [--questions 1000] [--users 1000]
                                         [--rate 50] [--seconds 10] [--seed-tickets 100000]
                                         [--text "one question for every asker"]

Both bots run as their own processes, one after the other, with Telegram's flood limits off
(they would cap both at 30 messages a second and measure Telegram, not the bot). Throughput is
measured against a lean fake Bot API in a process of its own (bench/fakeapi.py), whose CPU is
printed beside the bots' so that one can see it is not the bottleneck; latency against the
sandbox (in this process), which notes when each person wrote and was answered. For peerdesk a
question is done when the ticket is stored and the acknowledgement sent; the cards to the
role's helpers follow from the sender and are counted after. Targets: at most 6 ms of CPU per
question (SQLite); p99 under 50 ms at 50 questions a second; under 150 MB resident.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.domain.roster import HelperSpec, import_helpers
from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, serve
from bot.storage import Database, migrate

HELPERS = [HelperSpec(telegram_id=900 + n, name=f"Helper {n}", roles=[role], languages=["fi"])
           for n, role in enumerate(("tvt", "luotsi", "vertaisvalmentaja"))]
FIRST_USER = 100_000


class TimedSandbox(Sandbox):
    """Notes when each person's message was pushed and when the bot first answered them."""

    def __init__(self) -> None:
        super().__init__()
        self.pushed: dict[int, float] = {}
        self.answered: dict[int, float] = {}

    async def _api_sendmessage(self, params: dict) -> dict:
        result = await super()._api_sendmessage(params)
        chat = int(params["chat_id"])
        if chat >= FIRST_USER and chat not in self.answered:
            self.answered[chat] = time.perf_counter()
        return result


def questions() -> list[str]:
    lines = (PROJECT_ROOT / "tests" / "data" / "routing_dev.tsv").read_text().splitlines()
    return [line.split("\t", 1)[1] for line in lines if line and not line.startswith("#")]


async def seed_tickets(url: str, count: int) -> None:
    from sqlalchemy import insert

    from bot.domain.models import Ticket, utcnow

    db = Database(url)
    async with db.engine.begin() as conn:
        for offset in range(0, count, 10_000):
            now = utcnow()
            await conn.execute(insert(Ticket), [dict(
                asker_id=1, asker_chat_id=1, source_message_id=-(offset + i + 1),
                text="vanha kysymys", language="fi", topic="hoks", role="vertaisvalmentaja",
                confidence=0.9, routing="auto", status="closed", anonymous=False,
                self_served=False, created_at=now, updated_at=now, sla_level=0, overdue=False,
            ) for i in range(min(10_000, count - offset))])
        await conn.run_sync(lambda _: None)
    async with db.session() as session:
        await import_helpers(session=session, specs=HELPERS)
    await db.dispose()


async def wait(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not finish in time")
        await asyncio.sleep(0.005)


async def start(argv: list[str], env: dict[str, str], phase: str = ""
                ) -> asyncio.subprocess.Process:
    """A bot process in a process group of its own; with BENCH_PROFILE=FILE the peerdesk bot runs
    under `py-spy record` (raw format; the CPU and memory figures are then py-spy's): FILE for the
    throughput run, FILE.latency for the latency run (`phase`)."""
    profile = os.environ.get("BENCH_PROFILE")
    if profile and argv[:2] == ["-m", "bot"]:
        profile += phase
        spy = str(Path(sys.executable).with_name("py-spy"))
        return await asyncio.create_subprocess_exec(
            spy, "record", "-o", profile, "--format", "raw", "-r", "200", "--",
            sys.executable, *argv, env={**os.environ, **env}, start_new_session=True,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    quiet = None if os.environ.get("BENCH_VERBOSE") else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable, *argv, env={**os.environ, **env}, start_new_session=True,
        stdout=quiet, stderr=quiet)


async def stop(process: asyncio.subprocess.Process) -> None:
    # The whole group: under py-spy the bot is its child. py-spy writes its profile when
    # interrupted; the bot stops on either signal.
    os.killpg(process.pid, signal.SIGINT if os.environ.get("BENCH_PROFILE") else signal.SIGTERM)
    await process.wait()


class FakeApi:
    """bench/fakeapi.py in its own process."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    async def start(cls) -> FakeApi:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(PROJECT_ROOT / "bench" / "fakeapi.py"), str(port),
            start_new_session=True)
        fake = cls(process, port)
        for _ in range(100):
            try:
                await fake.stats()
                return fake
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError("the fake Bot API did not start")

    async def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        import aiohttp

        async with aiohttp.ClientSession() as client, client.request(
                method, self.url + path, json=body) as response:
            return await response.json()

    async def load(self, users: range, texts: list[str], count: int) -> None:
        await self._call("POST", "/control/load", {"users": list(users), "texts": texts,
                                                   "count": count})

    async def stats(self) -> dict:
        return await self._call("GET", "/control/stats")

    async def sent_to(self, users: range) -> int:
        sent = (await self.stats())["sent"]
        return sum(sent.get(str(u), 0) for u in users)

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()


async def measure(fake: FakeApi, bot: asyncio.subprocess.Process, users: range,
                  texts: list[str], total: int, per_question: int = 1
                  ) -> tuple[float, float, float]:
    """Questions a second, and the bot's and the fake's CPU per question (ms)."""
    before = await fake.sent_to(users)
    bot_cpu, fake_cpu = cpu_seconds(bot.pid), (await fake.stats())["cpu"]
    began = time.perf_counter()
    await fake.load(users, texts, total)
    deadline = time.monotonic() + 300
    while await fake.sent_to(users) < before + total * per_question:
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not finish in time")
        await asyncio.sleep(0.02)
    rate = total / (time.perf_counter() - began)
    return (rate, (cpu_seconds(bot.pid) - bot_cpu) * 1000 / total,
            ((await fake.stats())["cpu"] - fake_cpu) * 1000 / total)


async def wait_async(count, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await count():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not answer in time")
        await asyncio.sleep(0.05)


async def settled(count, quiet: float = 1.0, timeout: float = 120) -> int:  # type: ignore[no-untyped-def]
    """`count()` once it has not grown for `quiet` seconds (the sender has sent what it had)."""
    deadline = time.monotonic() + timeout
    last, since = await count(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = await count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database")
    parser.add_argument("--questions", type=int, default=1000)
    # Each question from someone new by default: a second message from the same person within
    # the conversation window joins their question (far cheaper) and would flatter the figure.
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--seed-tickets", type=int, default=100_000)
    parser.add_argument("--text", help="one question for every asker (the router then works "
                        "from its caches); by default routing_dev's questions in turn")
    args = parser.parse_args()
    url = args.database or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    await migrate(url)
    await seed_tickets(url, args.seed_tickets)
    texts = [args.text] if args.text else questions()

    sandbox = TimedSandbox()
    for helper in HELPERS:
        sandbox.user(helper.telegram_id, helper.name)
    runner = await serve(sandbox, "127.0.0.1", 0)
    api = f"http://127.0.0.1:{runner.addresses[0][1]}"
    print(f"database: {url.split(':')[0]}; {args.seed_tickets:,} tickets seeded; "
          f"{args.questions} questions from {args.users} users")

    # The ceiling: a bare echo bot, against the lean fake.
    echo_users = range(FIRST_USER, FIRST_USER + args.users)
    fake = await FakeApi.start()
    echo = await start([str(PROJECT_ROOT / "bench" / "echo_bot.py"), fake.url, SANDBOX_TOKEN], {})
    await fake.load(echo_users[:1], ["lämmittely"], 1)
    await wait_async(lambda: fake.sent_to(echo_users[:1]), 60)
    echo_startup = cpu_seconds(echo.pid)
    echo_rate, echo_cpu, echo_fake_cpu = await measure(fake, echo, echo_users, texts,
                                                       args.questions)
    await stop(echo)
    await fake.stop()

    # peerdesk, against a fresh fake.
    fake = await FakeApi.start()
    env = {"PEERDESK_TELEGRAM_TOKEN": SANDBOX_TOKEN, "PEERDESK_TELEGRAM_API_URL": fake.url,
           "PEERDESK_DATABASE_URL": url, "PEERDESK_LOG_LEVEL": "WARNING",
           "PEERDESK_RATE_LIMIT": "false"}
    bot = await start(["-m", "bot", "run"], env)
    users = range(FIRST_USER + args.users, FIRST_USER + 2 * args.users)
    await fake.load(users[:1], ["Miten tiimin työnjako kannattaa sopia?"], 1)
    await wait_async(lambda: fake.sent_to(users[:1]), 120)
    helpers = range(HELPERS[0].telegram_id, HELPERS[-1].telegram_id + 1)
    memory_at_start = rss_mb(bot.pid)
    startup = cpu_seconds(bot.pid)
    cards_before = await fake.sent_to(helpers)
    cpu_before = cpu_seconds(bot.pid)
    rate, bot_cpu, bot_fake_cpu = await measure(fake, bot, users, texts, args.questions)
    delivered = await settled(lambda: fake.sent_to(helpers)) - cards_before
    with_cards = (cpu_seconds(bot.pid) - cpu_before) * 1000 / args.questions
    memory = rss_mb(bot.pid)
    await stop(bot)
    await fake.stop()

    # Latency (benchmark 2) against the sandbox, which notes when each message was pushed.
    env["PEERDESK_TELEGRAM_API_URL"] = api
    sandbox._next_update = 10_000_000  # above the ids the fake gave (the bot skips seen ids)
    bot = await start(["-m", "bot", "run"], env, ".latency")
    warm = FIRST_USER + 3 * args.users
    sandbox.user(warm, "Opettaja")
    await sandbox.send(warm, "Miten tiimin työnjako kannattaa sopia?")
    await wait(lambda: sandbox.bot_messages(warm), 120)

    # Latency at a steady rate, from fresh users (first answers only).
    steady = range(FIRST_USER + 2 * args.users, FIRST_USER + 2 * args.users
                   + int(args.rate * args.seconds))
    for user in steady:
        sandbox.user(user, "Opettaja")
    began = time.perf_counter()
    for n, user in enumerate(steady):
        await asyncio.sleep(max(0.0, began + n / args.rate - time.perf_counter()))
        sandbox.pushed[user] = time.perf_counter()
        await sandbox.send(user, texts[n % len(texts)])
    await wait(lambda: all(u in sandbox.answered for u in steady), 60)
    latencies = sorted((sandbox.answered[u] - sandbox.pushed[u]) * 1000 for u in steady)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    await stop(bot)
    await runner.cleanup()

    print(f"1. throughput against the fake Bot API: echo bot {echo_rate:.0f}/s; peerdesk "
          f"{rate:.0f} questions/s (ratio {rate / echo_rate:.2f}); {delivered} cards to helpers")
    print(f"   CPU per question: peerdesk {bot_cpu:.1f} ms (target <= 6 ms on SQLite), echo bot "
          f"{echo_cpu:.1f} ms per update; the fake's own {bot_fake_cpu:.2f} / "
          f"{echo_fake_cpu:.2f} ms, i.e. {bot_fake_cpu * rate / 1000:.2f} / "
          f"{echo_fake_cpu * echo_rate / 1000:.2f} of a core")
    print(f"   with the cards they caused ({delivered}), until the last was sent: "
          f"{with_cards:.1f} ms a question")
    print(f"   CPU from the start to the first answer: peerdesk {startup:.2f} s, echo bot "
          f"{echo_startup:.2f} s (counted in neither figure above)")
    print(f"2. latency at {args.rate:.0f}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(target p99 < 50 ms)")
    print(f"5. memory: {memory:.0f} MB resident after the run (target < 150 MB); "
          f"{memory_at_start:.0f} MB after the first question")


if __name__ == "__main__":
    asyncio.run(main())
