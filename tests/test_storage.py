"""Storage: SQLite's write-ahead log is copied into the database apart from the bot's writes."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import asyncpg
import pytest
from sqlalchemy import delete, func, text
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.domain import answers, inbound
from bot.domain.core import run
from bot.domain.knowledge import Knowledge
from bot.domain.models import AnswerStatus, InboundUpdate, KnowledgeAnswer, Staff, utcnow
from bot.storage import Database
from bot.storage.db import WAL_AUTOCHECKPOINT_PAGES, migrate_in_child
from tests.conftest import PG_ROOT, _asyncpg_dsn, _postgres_reachable


async def test_the_log_is_checkpointed_from_another_connection(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            await inbound.store(session=session, now=utcnow(), worker="w",
                                updates=[(n, {"update_id": n, "text": "x" * 500})
                                         for n in range(1, 301)])
        left = await db.checkpoint()
        if database_url.startswith("postgresql"):
            assert left is None  # PostgreSQL looks after its own log
            return
        assert left == 0  # everything copied while the bot's connection stayed open
        async with db.engine.connect() as conn:  # the bot's own connections keep the safety net
            limit = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
        assert limit == WAL_AUTOCHECKPOINT_PAGES
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM inboundupdate").fetchone() == (300,)
    finally:
        await db.dispose()


async def test_a_long_read_does_not_hold_up_writes(database_url: str) -> None:
    """Reports read beside the bot's writing connection (SQLite has only one of those)."""
    db = Database(database_url)
    try:
        async with db.reading() as report:
            await report.exec(select(func.count()).select_from(InboundUpdate))  # reading now
            async with asyncio.timeout(5):  # on SQLite's one writer this would wait for ever
                async with db.session() as session:
                    new = await inbound.store(session=session, now=utcnow(), worker="w",
                                              updates=[(1, {"update_id": 1})])
            assert new == {1}
        if database_url.startswith("sqlite"):
            async with db.reading() as report:
                with pytest.raises(OperationalError, match="readonly"):
                    await report.exec(delete(InboundUpdate))
    finally:
        await db.dispose()


async def test_units_of_work_queue_for_the_one_connection_and_read_their_rows_whole(
    database_url: str,
) -> None:
    """SQLite's writing connection runs its calls at once in the loop's thread
    (bot.storage.db.InlineSQLiteDialect): a second unit of work waits for the first without
    blocking the loop; a result is read as the statement runs (it stays whole whatever runs
    next, and an UPDATE … RETURNING counts its rows); a session's connection runs Core
    statements too. The same holds on PostgreSQL, through its own driver."""
    db = Database(database_url)
    staff = Staff.__table__  # type: ignore[attr-defined]
    try:
        async with db.unit() as unit:
            await run(unit, staff.insert(), [
                {"telegram_id": n, "first_name": "x", "anonymous": False, "created_at": utcnow()}
                for n in (1, 2)])
            await unit.commit()
        order: list[str] = []
        first_in = asyncio.Event()

        async def first() -> None:
            async with db.unit() as unit:
                first_in.set()
                await asyncio.sleep(0.05)  # holds the connection across an await
                await run(unit, staff.select())
                order.append("first")

        async def second() -> None:
            await first_in.wait()
            async with db.unit() as unit:  # SQLite: waits for the first to give it back
                await run(unit, staff.select())
                order.append("second")

        async with asyncio.timeout(5):
            await asyncio.gather(first(), second())
        assert sorted(order) == ["first", "second"]
        if database_url.startswith("sqlite"):
            assert order == ["first", "second"]
        async with db.unit() as unit:
            earlier = await run(unit, staff.select().order_by(staff.c.telegram_id))
            renamed = await run(unit, staff.update().values(first_name="y")
                                .returning(staff.c.telegram_id))
            assert renamed.rowcount == 2
            assert [row.first_name for row in earlier] == ["x", "x"]
            await unit.rollback()
        async with db.session() as session:
            connection = await session.connection()
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
            assert len((await run(session, staff.select())).all()) == 2
    finally:
        await db.dispose()


def test_the_schema_head_the_bot_knows_is_alembics() -> None:
    """The bot checks the schema against SCHEMA_HEAD without importing Alembic's scripts; a new
    migration must move it (or every start would migrate, and /readyz would say not ready)."""
    from alembic.script import ScriptDirectory

    from bot.storage.db import SCHEMA_HEAD, alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [SCHEMA_HEAD]


async def test_a_migrated_database_is_current_and_an_empty_one_is_not(
    database_url: str, tmp_path
) -> None:
    db = Database(database_url)
    try:
        assert await db.schema_is_current()
    finally:
        await db.dispose()
    empty = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        assert not await empty.schema_is_current()
    finally:
        await empty.dispose()


async def test_replicas_started_together_on_a_new_database_both_come_up(
    knowledge: Knowledge,
) -> None:
    """Compose starts both replicas with `peerdesk migrate && peerdesk serve` on one new
    PostgreSQL database: both migrate, both seed the answers, neither stops on the other's rows
    (both used to: the second migration's CREATE TABLE, the second seed's primary key). The
    seeds are made to overlap: the second's insert waits on the first's uncommitted row."""
    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432")
    name = f"peerdesk_race_{uuid.uuid4().hex[:12]}"
    url = PG_ROOT.rsplit("/", 1)[0] + f"/{name}"
    admin = await asyncpg.connect(_asyncpg_dsn(PG_ROOT))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        # Child processes, as in compose (Alembic's context is one per process).
        assert await asyncio.gather(migrate_in_child(url), migrate_in_child(url)) == [True, True]
        replicas = [Database(url), Database(url)]
        try:
            assert all([await db.schema_is_current() for db in replicas])
            now, first = utcnow(), knowledge.answers[0]
            async with replicas[0].session() as holding:
                # The first replica's seed is under way: one row written, not yet committed.
                holding.add(KnowledgeAnswer(
                    id=first.id, topic=first.topic, status=AnswerStatus.PUBLISHED,
                    triggers={k: list(v) for k, v in first.triggers.items()},
                    text=dict(first.text), language="fi", created_at=now, updated_at=now))
                await holding.flush()
                # The second finds the table empty, and its insert waits for that row's fate.
                async with replicas[1].session() as session:
                    second = asyncio.create_task(
                        answers.seed(session=session, knowledge=knowledge, now=now))
                    for _ in range(500):
                        if await admin.fetchval(
                                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                                "AND wait_event_type = 'Lock'", name):
                            break
                        await asyncio.sleep(0.01)
                    else:
                        raise AssertionError("the second seed never waited for the first")
                    await holding.commit()
                    assert await second == len(knowledge.answers) - 1
            async with replicas[0].session() as session:
                stored = (await session.exec(select(func.count()).select_from(KnowledgeAnswer))
                          ).one()
            assert stored == len(knowledge.answers)
        finally:
            for db in replicas:
                await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
