"""Core statements for the hot path: a new question and the sender's rows are written and read
without ORM objects or the ORM's unit of work, through the session's own connection (so in
its transaction). Building a Ticket object alone cost more than inserting it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CursorResult, Executable, Table
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def table(model: type[SQLModel]) -> Table:
    """A model's table, for Core statements."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


async def run(session: AsyncSession, statement: Executable,
              params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
              ) -> CursorResult[Any]:
    """Execute a Core statement in the session's transaction (a list of parameter sets: one
    executemany). Build the statement once, at import, with bind parameters: SQLAlchemy then
    finds it compiled in its cache without building and keying it again."""
    connection = await session.connection()
    return await connection.execute(statement, params)
