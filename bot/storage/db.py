"""The async engine and its sessions; Alembic migrations applied at start.

Alembic (with Mako and Pygments, ~10 MB) is imported only where migrations run: a long-running
bot migrates in a child process, so that none of it stays in its memory, and only when the
database is behind `SCHEMA_HEAD` (a start with nothing to migrate spawns nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import re
import sqlite3
import sys
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

# The newest migration. The bot compares the database with it at start and in /readyz without
# importing Alembic's script machinery; tests/test_storage.py checks that it is Alembic's head.
SCHEMA_HEAD = "0019"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# SQLite copies its write-ahead log into the database (a checkpoint, with an fsync) inside the
# commit that fills it past 1000 pages, and every session queued behind that commit waits:
# the tail of the benchmark's latency. The bot checkpoints from another connection instead
# (`Database.checkpoint`, a job every few seconds); this larger limit only catches a bot whose
# job stopped.
WAL_AUTOCHECKPOINT_PAGES = 20_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.close()


def _sqlite_reader_pragmas(dbapi_connection, record) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


# PostgreSQL adds the offending values to some errors ("DETAIL:  Key (asker_chat_id,
# source_message_id)=(5121, 17) already exists."); asyncpg puts that line in the message.
_DETAIL = re.compile(r"\nDETAIL:[^\n]*")


def _without_values(context: ExceptionContext) -> None:
    """Strip PostgreSQL's DETAIL line, which can hold Telegram ids or question texts, from a
    failed statement's exception and from the driver's exceptions behind it, so that no log or
    traceback carries it. The statement's parameters are hidden by `hide_parameters`."""
    error: BaseException | None = context.original_exception
    chain: list[BaseException] = [context.sqlalchemy_exception] \
        if context.sqlalchemy_exception is not None else []
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for error in chain:
        if getattr(error, "detail", None):  # asyncpg's exception adds it to its message
            error.detail = None  # type: ignore[attr-defined]
        if error.args and isinstance(error.args[0], str) and "\nDETAIL:" in error.args[0]:
            error.args = (_DETAIL.sub("", error.args[0]), *error.args[1:])


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


class _InlineCursor(sqlite3.Cursor):
    """sqlite3's cursor, reading a statement's rows as it runs, as SQLAlchemy's asyncio
    adapters do: a result stays whole whatever the connection runs next, an `UPDATE …
    RETURNING` counts its rows (sqlite3 counts them only as they are read), and no statement
    is left open holding a snapshot of the log. With the one awaitable SQLAlchemy's asyncio
    API calls on a result's cursor (there is nothing to wait for)."""

    __slots__ = ("_count", "_rows")

    def execute(self, sql: str, parameters: Any = (), /) -> _InlineCursor:
        super().execute(sql, parameters)
        self._rows: deque[Any] = deque(super().fetchall()) \
            if self.description is not None else deque()
        self._count = super().rowcount
        return self

    def executemany(self, sql: str, seq: Any, /) -> _InlineCursor:
        super().executemany(sql, seq)
        self._rows, self._count = deque(), super().rowcount
        return self

    @property
    def rowcount(self) -> int:
        return self._count

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def _async_soft_close(self) -> None:
        return None


class _InlineSQLite(sqlite3.Connection):
    """sqlite3's connection, whose cursors are `_InlineCursor`s."""

    def cursor(self, factory: Any = _InlineCursor) -> Any:
        return super().cursor(factory)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """Python's own sqlite3 driver under SQLAlchemy's asyncio API, each call made at once in
    the event loop's thread (`_InlineConnection`). SQLite is a library in this process, not a
    server: the bot's statements on its one writing connection take microseconds, and there is
    nothing to wait for. Through aiosqlite (already called in this thread, without its own)
    each call (cursor, execute, fetch, close) still went through aiosqlite's coroutines and
    SQLAlchemy's adapter, a greenlet switch each: a select cost 47 µs of CPU, now 20, and
    opening and closing a unit of work 36 µs, now 12. Long reads go through the reading connections
    (`Database.reading`), which keep aiosqlite's threads. The pool (one connection) still
    queues units of work without blocking the loop (`AsyncAdaptedQueuePool`).

    One thing this gives up: code that touches the database outside SQLAlchemy's greenlet (an
    expired attribute read after a commit, a lazy load) failed at once through aiosqlite; now
    it fails only when another unit holds the connection. The bot never does it (sessions
    keep their objects after a commit, and relationships are not loaded lazily)."""

    driver = "peerdesk_inline"
    is_async = True  # used through the asyncio API (so that its pool queues asynchronously)
    supports_statement_cache = True
    has_terminate = True  # a connection the pool drops unreturned is closed

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.close()

    @classmethod
    def get_pool_class(cls, url: Any) -> type[AsyncAdaptedQueuePool]:
        return AsyncAdaptedQueuePool


registry.register("sqlite.peerdesk_inline", __name__, "InlineSQLiteDialect")


class _InlineConnection(AsyncConnection):
    """A connection of the inline engine: its calls run at once, in this thread, with no
    greenlet in between (SQLAlchemy's asyncio API would insist on one that awaits). Only
    taking the connection from the pool may wait (another unit of work holds it): that goes
    through SQLAlchemy's own asynchronous queue. (A free connection is taken from that queue
    without awaiting since SQLAlchemy 2.1.5: pyproject.toml.)"""

    __slots__ = ()

    async def start(self, is_ctxmanager: bool = False) -> AsyncConnection:
        pool = self.sync_engine.pool
        if self.sync_connection or pool.checkedin() == 0:  # type: ignore[attr-defined]
            return await super().start(is_ctxmanager)
        self.sync_connection = self._assign_proxied(self.sync_engine.connect())
        return self

    async def execute(self, statement: Any, parameters: Any = None, *,
                      execution_options: Any = None) -> Any:
        return self._proxied.execute(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(self, statement: str, parameters: Any = None,
                              execution_options: Any = None) -> Any:
        return self._proxied.exec_driver_sql(statement, parameters, execution_options)

    async def commit(self) -> None:
        self._proxied.commit()

    async def rollback(self) -> None:
        self._proxied.rollback()

    async def close(self) -> None:
        self._proxied.close()


class _InlineSession(AsyncSession):
    """A session on the inline engine. Its connection, asked for (bot.domain.core.run), is an
    `_InlineConnection` too, so that a statement run on it need not await; and what cannot
    wait is called at once rather than in a greenlet of its own: taking the connection, or
    committing (its flush may take it), when it holds it already or the pool has it free;
    rolling back and closing always."""

    def _at_once(self) -> bool:
        transaction = self.sync_session.get_transaction()
        if transaction is not None and transaction._connections:  # holds its connection
            return True
        return bool(self.bind.sync_engine.pool.checkedin())  # type: ignore[union-attr]

    async def connection(self, *args: Any, **kwargs: Any) -> AsyncConnection:
        sync = self.sync_session.connection(*args, **kwargs) if self._at_once() \
            else await greenlet_spawn(self.sync_session.connection, *args, **kwargs)
        known = AsyncConnection._retrieve_proxy_for_target(sync, regenerate=False)
        if isinstance(known, _InlineConnection):
            return known
        assert isinstance(self.bind, AsyncEngine)
        return _InlineConnection(self.bind, sync)

    async def commit(self) -> None:
        if self._at_once():
            self.sync_session.commit()
        else:
            await super().commit()

    async def rollback(self) -> None:
        self.sync_session.rollback()

    async def close(self) -> None:
        self.sync_session.close()


class _InlineEngine(AsyncEngine):
    __slots__ = ()
    _connection_cls = _InlineConnection

    def execution_options(self, **options: Any) -> AsyncEngine:
        return _InlineEngine(self.sync_engine.execution_options(**options))


def create_engine(url: str, *, readers: bool = False) -> AsyncEngine:
    """An engine for either backend; SQLite gets WAL and a busy timeout on every connection.

    SQLite lets one connection write at a time, and one waiting for the lock sleeps in steps of
    up to 100 ms (its busy handler): under a burst, most of a question's time went to those
    sleeps. One connection, handed out in turn by the pool, queues the work without sleeping.
    Its calls are made at once, in the event loop's thread (`InlineSQLiteDialect`). Sessions
    always end their transaction, so the pool's reset on return is left out. `readers`: two
    read-only connections for long reads, in aiosqlite's threads, which SQLite's write-ahead
    log lets run beside the writer.

    `hide_parameters`: a failed statement's exception (and SQLAlchemy's own statement log)
    would otherwise carry its parameters — question texts, names, Telegram ids — into the log."""
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        inline = not readers and path is not None  # the writing connection
        if inline:
            url = make_url(url).set(drivername="sqlite+peerdesk_inline").render_as_string(
                hide_password=False)
        connect = {"check_same_thread": False, "factory": _InlineSQLite} if inline else {}
        engine = create_async_engine(url, pool_size=2 if readers else 1, max_overflow=0,
                                     pool_reset_on_return=None, hide_parameters=True,
                                     connect_args=connect)
        if inline:
            engine = _InlineEngine(engine.sync_engine)
        event.listen(engine.sync_engine, "connect",
                     _sqlite_reader_pragmas if readers else _sqlite_pragmas)
    else:
        engine = create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    event.listen(engine.sync_engine, "handle_error", _without_values)
    return engine


# Set in the background sender's task (and so in every task it starts): its sessions queue for
# the database one at a time, so that an update handler waits behind at most one of them for
# SQLite's one writing connection (a burst of cards would otherwise hold up acknowledgements).
BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar("background", default=False)


class Database:
    """Owns the engine; hands out one short-lived session per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._path = sqlite_file(url)
        self._sessions = async_sessionmaker(
            self.engine, class_=_InlineSession if isinstance(self.engine, _InlineEngine)
            else AsyncSession, expire_on_commit=False)
        self._reader = create_engine(url, readers=True) if self._path else None
        self._readings = self._sessions if self._reader is None else async_sessionmaker(
            self._reader, class_=AsyncSession, expire_on_commit=False)
        self._background = asyncio.Semaphore(1)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: a session, closed (its transaction ended) on the way out."""
        background = BACKGROUND.get()
        if background:
            await self._background.acquire()
        try:
            if self._path is None:
                async with self._sessions() as session:
                    yield session
                return
            # SQLite's one connection, called inline (InlineSQLiteDialect), never waits: closing
            # the session (its rollback, the connection back to the pool) is over before
            # anything else runs, so no cancellation can cut it short. SQLAlchemy's `async
            # with` closes in a task of its own, shielded, for drivers that do wait
            # (PostgreSQL's): a quarter of an empty session's CPU.
            session = self._sessions()
            try:
                yield session
            finally:
                await session.close()
        finally:
            if background:
                self._background.release()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work that loads no ORM object (Core statements: `bot.domain.core.run`):
        a connection rather than a session, which it spares the session's own bookkeeping
        (some 55 µs a unit). As with a session, `commit` writes; what is not committed is
        rolled back when the connection is closed on the way out."""
        background = BACKGROUND.get()
        if background:
            await self._background.acquire()
        try:
            if self._path is None:
                async with self.engine.connect() as connection:  # its close shielded
                    yield connection
                return
            connection = await self.engine.connect()  # SQLite's inline connection: see session
            try:
                yield connection
            finally:
                await connection.close()
        finally:
            if background:
                self._background.release()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for long reads (reports, metrics). On SQLite it reads through connections
        of its own, so that a report never holds up the bot's one writing connection."""
        async with self._readings() as session:
            yield session

    async def schema_is_current(self) -> bool:
        """The database answers and its schema is at the newest migration (`SCHEMA_HEAD`)."""
        async with self.engine.connect() as conn:
            try:
                versions = {row[0] for row in await conn.execute(
                    text("SELECT version_num FROM alembic_version"))}
            except DBAPIError:  # not migrated at all: no table yet
                return False
        return versions == {SCHEMA_HEAD}

    async def checkpoint(self) -> int | None:
        """SQLite: copy the write-ahead log into the database from a connection of its own, in a
        thread, without waiting for (or holding up) the bot's writes; the pages left in the log,
        or None on PostgreSQL."""
        path = self._path
        if path is None:
            return None

        def passive() -> int:
            with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
                _busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return max(0, log - copied)

        return await asyncio.to_thread(passive)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reader is not None:
            await self._reader.dispose()


def alembic_config(url: str):
    from alembic.config import Config  # alembic only where the schema is migrated

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def migrate_sync(url: str, revision: str = "head") -> None:
    """Upgrade the schema; runs its own event loop, so call it outside one (or in a thread)."""
    from alembic import command  # alembic only where the schema is migrated

    command.upgrade(alembic_config(url), revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the schema from async code."""
    await asyncio.to_thread(migrate_sync, url, revision)


async def migrate_in_child(url: str) -> bool:
    """Upgrade the schema with `peerdesk migrate` in a child process (its errors go to stderr);
    whether it succeeded."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate", env={**os.environ, "PEERDESK_DATABASE_URL": url})
    return await process.wait() == 0
