"""`peerdesk migrate`: upgrade the database schema (the bot also does it as it starts)."""

from __future__ import annotations

import argparse

from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings
from bot.storage.db import migrate_sync


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("migrate", help="upgrade the database schema"
                        ).set_defaults(verb=migrate_command)


def migrate_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        migrate_sync(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:  # no password or address in the message
        raise ConfigError("the database at PEERDESK_DATABASE_URL could not be migrated "
                          f"({type(exc).__name__})") from None
    return 0
