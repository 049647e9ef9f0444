"""Command line: `peerdesk run | route | helpers import | report | migrate`.

Usage:
    peerdesk run                      # long polling; with no token, the local sandbox
    peerdesk route "question"         # the routing decision as JSON
    peerdesk route --jsonl < file     # one question per line in, one JSON line out
    peerdesk helpers import FILE      # load the helpers' roster
    peerdesk report [--month 2026-11 | --from D --to D] [--team T] [--format text|csv|json|png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from bot import LANGUAGES, ROLES
from bot.config import ConfigError, Settings, load_settings
from bot.domain.knowledge import KnowledgeError, load_knowledge
from bot.domain.reports import Filters, Period, PeriodError, fold, monthly_report
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
    report = commands.add_parser("report", help="what staff asked about in a month or period")
    when = report.add_mutually_exclusive_group()
    when.add_argument("--month", help="YYYY-MM (default: this month)")
    when.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    report.add_argument("--team")
    report.add_argument("--role", choices=ROLES)
    report.add_argument("--language", choices=LANGUAGES)
    report.add_argument("--format", choices=("text", "csv", "json", "png"), default="text")
    report.add_argument("--lang", choices=LANGUAGES, default=None,
                        help="language of names and headings (default: the helpers' language)")
    report.add_argument("--output", "-o", type=Path,
                        help="file to write (csv and png default to report-PERIOD.EXT)")
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


def _period(args: argparse.Namespace, settings: Settings) -> Period:
    if args.start or args.end:
        if not (args.start and args.end):
            raise PeriodError("--from and --to go together")
        return Period.span(args.start, args.end, settings.tz)
    if args.month:
        return Period.month(args.month, settings.tz)
    return Period.containing(datetime.now(UTC), settings.tz)


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    """Print or write a report; figures from too few questions are folded (this is not the
    helpers' group)."""
    from bot.report_formats import as_csv, as_json, as_png, as_text
    from bot.services import Services
    from bot.storage import migrate

    period = _period(args, settings)
    await migrate(settings.database_url)
    services = Services.create(settings)
    lang = args.lang or settings.helpers_language
    try:
        async with services.db.session() as session:
            report = fold(await monthly_report(
                session=session, period=period,
                filters=Filters(team=args.team, role=args.role, language=args.language),
            ), settings.report_min_count)
    finally:
        await services.db.dispose()
    if args.format in ("text", "json"):
        text = as_text(report, services, lang) if args.format == "text" else as_json(report)
        if args.output:
            args.output.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
        return 0
    data = as_csv(report, services, lang) if args.format == "csv" else as_png(report, services,
                                                                                lang)
    output = args.output or Path(f"report-{period.label}.{args.format}")
    output.write_bytes(data)
    print(f"wrote {output}")
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
        if args.command == "report":
            return asyncio.run(_report(args, settings))
        if args.command == "migrate":
            from bot.storage.db import migrate_sync

            migrate_sync(settings.database_url)
            return 0
        from bot.runner import run_polling

        return asyncio.run(run_polling(settings))
    except (ConfigError, KnowledgeError, RosterError, PeriodError) as exc:
        print(f"peerdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
