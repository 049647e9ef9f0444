"""Command line: `peerdesk run | route | helpers import | migrate`.

Usage:
    peerdesk run                      # long polling; with no token, the local sandbox
    peerdesk route "question"         # the routing decision as JSON
    peerdesk route --jsonl < file     # one question per line in, one JSON line out
    peerdesk helpers import FILE      # load the helpers' roster
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.domain.knowledge import KnowledgeError, load_knowledge
from bot.domain.roster import RosterError, import_helpers, read_roster
from bot.domain.routing import Router

logger = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerdesk", description="Peer-support helpdesk bot")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot with long polling (sandbox without a token)")
    commands.add_parser("migrate", help="upgrade the database schema")
    route = commands.add_parser("route", help="show how a question would be routed")
    route.add_argument("question", nargs="?")
    route.add_argument("--jsonl", action="store_true", help="questions from standard input")
    helpers = commands.add_parser("helpers", help="the helpers' roster")
    helpers_commands = helpers.add_subparsers(dest="action", required=True)
    imp = helpers_commands.add_parser("import", help="load helpers from a YAML file")
    imp.add_argument("file", type=Path)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and the URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def route_command(args: argparse.Namespace, settings: Settings) -> int:
    router = Router(load_knowledge(settings.knowledge_dir))
    if args.jsonl:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(router.route(line.strip()).as_dict(), ensure_ascii=False),
                      flush=True)
        return 0
    if not args.question:
        print("peerdesk route: give a question, or --jsonl to read them from standard input",
              file=sys.stderr)
        return 2
    print(json.dumps(router.route(args.question).as_dict(), ensure_ascii=False))
    return 0


async def _import_helpers(settings: Settings, path: Path) -> int:
    from bot.storage import Database, migrate

    specs = read_roster(path)
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            count = await import_helpers(session=session, specs=specs)
    finally:
        await db.dispose()
    print(f"imported {count} helpers")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings.log_level)
        if args.command == "route":
            return route_command(args, settings)
        if args.command == "helpers":
            return asyncio.run(_import_helpers(settings, args.file))
        if args.command == "migrate":
            from bot.storage.db import migrate_sync

            migrate_sync(settings.database_url)
            return 0
        from bot.runner import run_polling

        return asyncio.run(run_polling(settings))
    except (ConfigError, KnowledgeError, RosterError) as exc:
        print(f"peerdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
