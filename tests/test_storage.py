"""Storage: SQLite's write-ahead log is copied into the database apart from the bot's writes."""

from __future__ import annotations

import sqlite3

from bot.domain import inbound
from bot.domain.models import utcnow
from bot.storage import Database
from bot.storage.db import WAL_AUTOCHECKPOINT_PAGES


async def test_the_log_is_checkpointed_from_another_connection(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            await inbound.store(session=session, now=utcnow(),
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
