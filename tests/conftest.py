"""Shared fixtures: the knowledge (loaded once), a migrated database per test on SQLite and on
PostgreSQL, and a running bot talking to the sandbox through python-telegram-bot's HTTP stack."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
import pytest_asyncio
from telegram.ext import Application

from bot.config import PROJECT_ROOT, load_settings
from bot.domain.knowledge import Knowledge, load_knowledge
from bot.domain.routing import Router
from bot.sandbox.server import Sandbox, serve
from bot.services import Services
from bot.storage import Database, migrate
from bot.telegram.app import build_application, polling
from tests.postgres_cover import left_out

if TYPE_CHECKING:
    from tests.test_bot_helpers import Desk

PG_ROOT = os.environ.get("PEERDESK_TEST_POSTGRES", "postgresql+asyncpg://root@127.0.0.1:5432/test")


# How the tests are handed out. pytest-xdist gives its workers the tests in collection order,
# a group (`xdist_group`) to one worker whole (`--dist loadgroup`). The suite is bound by CPU
# (four workers on two cores); what matters is that the cores never stand idle:
# - The tests that mostly wait on real time (a process's restart, Telegram's group limit, a
#   slow handler) go in two groups, begun first, each on a worker of its own: the others
#   compute meanwhile. Handed out one by one, several began together and left both cores idle
#   for seconds. The browser tests are a third (one Chromium).
# - The tests that take long computing come next, so that none of them ends the run.
# Seconds as measured in a run of the whole suite; a name is a prefix of the test's id (both
# variants of a test on two databases).
WAITING = (
    ("tests/test_load.py::test_every_new_ticket_is_shown_by_its_deadline", 36),
    ("tests/test_load.py::test_a_topic_that_hangs_fifteen_seconds", 16),
    ("tests/test_dialogs.py::test_newevent_goes_on_across_a_sigterm_and_a_sigkill", 12),
    ("tests/test_load.py::test_two_replicas_together_keep_telegrams_limits", 9),
    ("tests/test_processes.py::test_two_replicas", 19),
    ("tests/test_processes.py::test_sigkill", 11),
    ("tests/test_processes.py::test_sigterm", 10),
    ("tests/test_faults.py::test_a_slow_handler", 6),
    ("tests/test_send_path.py::test_a_burst_is_acknowledged", 6),
    ("tests/test_event_circle.py::test_im_here", 5),
    ("tests/test_bot_events.py::test_a_broadcast_larger_than_one_batch", 4),
    ("tests/test_send_path.py::test_a_relay_overtakes", 4),
    ("tests/test_bot_events.py::test_one_announcement_to_60_chats", 2.5),
    ("tests/test_bot_calendar.py::test_on_a_break_day", 2.5),
    ("tests/test_faults.py::test_a_stop_finishes_the_send", 2.5),
    ("tests/test_bot_events.py::test_a_restart_mid_schedule", 2.5),
    ("tests/test_bot_intake.py::test_a_failing_bot_api_is_retried", 1.5),
    ("tests/test_bot_events.py::test_a_429_is_waited_out", 1.5),
    ("tests/test_faults.py::test_an_unreadable_update_is_set_aside", 1.5),
)
COMPUTING = (
    "tests/test_lemmas.py::test_the_tries_answer",
    "tests/test_lemmas.py::test_the_bot_reads_the_pages",
    "tests/test_hardening.py::test_a_bot_at_debug",
    "tests/test_sandbox.py::test_make_run_again",
    "tests/test_config.py::test_a_database_that_cannot_be_reached",
    "tests/test_config.py::test_a_token_the_bot_api_refuses",
    "tests/test_knowledge_loop.py::test_answers_are_imported_exported",
    "tests/test_bot_helpers.py::test_ask_claim_race",
    "tests/test_bot_reports.py::test_report_for_helpers_and_leads",
    "tests/test_routing.py::test_the_similarity_signal",
    "tests/test_routing.py::test_route_command",
)
WAITING_GROUPS = 2


def _waiting_groups() -> dict[str, str]:
    """Each waiting test's group: the longest first into the group with the least so far."""
    load = [0.0] * WAITING_GROUPS
    group = {}
    for prefix, seconds in sorted(WAITING, key=lambda pair: -pair[1]):
        least = load.index(min(load))
        load[least] += seconds
        group[prefix] = f"waiting-{least + 1}"
    return group


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # PostgreSQL variants whose database code the kept ones already run (tests/postgres_cover.py).
    skipped = left_out()
    if skipped:
        deselected = [item for item in items if item.nodeid in skipped]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item.nodeid not in skipped]

    groups = _waiting_groups()
    for item in items:
        group = next((g for prefix, g in groups.items() if item.nodeid.startswith(prefix)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))

    def order(item: pytest.Item) -> tuple[int, str, int]:
        group = item.get_closest_marker("xdist_group")  # the waiting tests', the browser tests'
        if group is not None:
            return 0, group.args[0], 0
        return 1, "", next((n for n, prefix in enumerate(COMPUTING)
                            if item.nodeid.startswith(prefix)), len(COMPUTING))

    items.sort(key=order)  # stable: the others keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the imports and the collection made lives as long as the worker: out of the cyclic
    collector's sight (`gc.freeze`), and its young generation larger. Each test makes hundreds
    of thousands of short-lived objects (rows, updates, HTTP frames), and the default
    thresholds had the collector walk the long-lived ones over and over: a tenth of the
    suite's CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(PROJECT_ROOT / "knowledge")


@pytest.fixture(scope="session")
def router(knowledge: Knowledge) -> Router:
    return Router(knowledge)


@pytest_asyncio.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated once per session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "peerdesk.db"
    await migrate(f"sqlite+aiosqlite:///{path}")
    return path


@dataclass
class PostgresDatabase:
    """One PostgreSQL database per session (per xdist worker), migrated once and emptied before
    each test. Creating a database from a template is quick, but dropping one makes the server
    write a checkpoint: one to five seconds a test on this machine's disk, the suite's largest
    single cost. Emptying the tables and restarting their sequences takes some 30 ms and leaves
    what a fresh migration leaves (the migrations insert no rows)."""

    name: str
    url: str
    version: str = ""  # Alembic's stamp after the migration (a test may stamp another)
    tables: list[str] = field(default_factory=list)  # read once: the schema stays
    sequences: list[str] = field(default_factory=list)

    async def empty(self) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(self.url))
        try:  # a bot process or a connection a failed test left behind lets go first
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()", self.name)
            if not self.tables:
                self.tables = [r[0] for r in await connection.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'")]
                self.sequences = [r[0] for r in await connection.fetch(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
            # Foreign keys are not checked while the rows go (replica role: no triggers). The
            # sequences start again with setval, not ALTER SEQUENCE … RESTART: the same for the
            # next id, without a lock and a catalog write for each (20 ms a test).
            await connection.execute(
                "BEGIN; SET LOCAL session_replication_role = replica;"
                + "".join(f'DELETE FROM "{table}";' for table in self.tables)
                + f"UPDATE alembic_version SET version_num = '{self.version}';"
                + "SELECT " + ", ".join(f"setval('\"{sequence}\"', 1, false)"
                                        for sequence in self.sequences) + ";"
                + "COMMIT;")
        finally:
            await connection.close()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest_asyncio.fixture(scope="session")
async def postgres_database() -> AsyncIterator[PostgresDatabase | None]:
    """The session's PostgreSQL database, migrated; None where PostgreSQL is not listening."""
    if not _postgres_reachable():
        yield None
        return
    name = f"peerdesk_test_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(PG_ROOT))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    await admin(f'CREATE DATABASE "{name}"')
    # A test database need not survive a power cut: commits do not wait for the disk.
    await admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        database = PostgresDatabase(name, PG_ROOT.rsplit("/", 1)[0] + f"/{name}")
        await migrate(database.url)
        connection = await asyncpg.connect(_asyncpg_dsn(database.url))
        try:
            database.version = await connection.fetchval("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()
        yield database
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
                       postgres_database: PostgresDatabase | None) -> AsyncIterator[str]:
    """A freshly migrated database: a temporary SQLite file, or the session's PostgreSQL
    database emptied."""
    if request.param == "sqlite":
        path = tmp_path / "peerdesk.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if postgres_database is None:
        pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432")
    await postgres_database.empty()
    yield postgres_database.url


@pytest_asyncio.fixture
async def services(database_url: str, knowledge: Knowledge, router: Router
                   ) -> AsyncIterator[Services]:
    settings = load_settings(database_url=database_url, telegram_token=None)
    services = Services(settings=settings, db=Database(database_url), knowledge=knowledge,
                        router=router)
    yield services
    await services.db.dispose()


@dataclass
class Running:
    sandbox: Sandbox
    services: Services

    async def ask(self, user_id: int, text: str, count: int = 1, **user: object) -> dict:
        """A staff member writes; returns the bot's newest message once `count` have arrived."""
        before = len(self.sandbox.bot_messages(user_id))
        await self.sandbox.send(user_id, text, **user)
        return (await self.sandbox.wait_for(user_id, before + count))[-1]


@asynccontextmanager
async def bot_running(services: Services, sandbox: Sandbox) -> AsyncIterator[Application]:
    """The real PTB Application polling the sandbox over HTTP, until the block ends."""
    if not sandbox.flood_limits:
        # This sandbox takes any pace (the tests of pacing switch its limits on): the stories
        # need not wait 4 s for each group message after the first five.
        services.settings = services.settings.model_copy(
            update={"group_messages_per_minute": 240})
    runner = await serve(sandbox, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    application = build_application(services, token=sandbox.token,
                                    api_url=f"http://127.0.0.1:{port}")
    try:
        async with polling(application, poll_interval=0, timeout=1):
            yield application
    finally:
        await runner.cleanup()
    await asyncio.sleep(0)


@pytest_asyncio.fixture
async def running(services: Services) -> AsyncIterator[Running]:
    sandbox = Sandbox()
    async with bot_running(services, sandbox):
        yield Running(sandbox, services)


@pytest_asyncio.fixture
async def desk(database_url: str, knowledge: Knowledge, router: Router) -> AsyncIterator[Desk]:
    """The helpers' desk (tests/test_bot_helpers.py): the bot polling a sandbox with the helpers'
    forum group. A test file may define its own `desk` for another setting."""
    from tests.test_bot_helpers import open_desk

    async with open_desk(database_url, knowledge, router) as opened:
        yield opened
