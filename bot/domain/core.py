"""Core statements for the hot path: a new question and the sender's rows are written and read
without ORM objects or the ORM's unit of work, through the session's own connection (so in
its transaction). Building a Ticket object alone cost more than inserting it.

A unit of work that loads no ORM object can do without the session too: `Database.unit`
hands out a connection (a `Unit` either way; `commit` on both). An ORM session's opening,
its transaction's bookkeeping and its close cost some 55 µs more than a connection's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import CursorResult, Executable, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import dialect_of


def table(model: type[SQLModel]) -> Table:
    """A model's table, for Core statements."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


# A session, or a connection for a unit of work that loads no ORM object (`Database.unit`).
Unit = AsyncSession | AsyncConnection


async def run(session: Unit, statement: Executable,
              params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
              ) -> CursorResult[Any]:
    """Execute a Core statement in the unit's transaction (a list of parameter sets: one
    executemany). Build the statement once, at import, with bind parameters: SQLAlchemy then
    finds it compiled in its cache without building and keying it again."""
    if isinstance(session, AsyncConnection):
        return await session.execute(statement, params)
    return await (await _connection(session)).execute(statement, params)


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, kept while its transaction lasts: asking the session again is
    a trip into SQLAlchemy's greenlet (some 14 µs), and a question runs a dozen statements. A
    commit or rollback gives the connection back to the pool (closed); then it is asked anew."""
    kept = session.info.get(_KEPT)
    if kept is not None:
        sync = kept.sync_connection
        if sync is not None and not sync.closed and sync.in_transaction():
            return kept
    connection = await session.connection()
    session.info[_KEPT] = connection
    return connection


_KEPT = "peerdesk.connection"


def insert_new(session: Unit, model: type[SQLModel]) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` on the model's table in the unit's dialect, built
    once per process: a row that another process, or the same update delivered twice, wrote
    first is kept as it is. The one way to write a row only if it is new."""
    return _insert_new(str(model.__tablename__), dialect(session))


def dialect(unit: Unit) -> str:
    """"sqlite" or "postgresql": the database the unit talks to."""
    return unit.dialect.name if isinstance(unit, AsyncConnection) else dialect_of(unit)


@cache
def _insert_new(name: str, dialect: str) -> Insert:
    table = SQLModel.metadata.tables[name]
    if dialect == "postgresql":
        # Imported here: the dialect and its drivers are 2 MB a bot on SQLite never needs.
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()
