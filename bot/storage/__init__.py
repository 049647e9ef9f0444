"""Database engine, sessions and migrations."""

from bot.storage.db import Database, migrate

__all__ = ["Database", "migrate"]
