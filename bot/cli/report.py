"""`peerdesk report`: what staff asked about in a month or a period, as text, CSV, JSON or a
PNG chart."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from bot import LANGUAGES, ROLES
from bot.config import Settings
from bot.domain import answers
from bot.domain.reports import Filters, Period, PeriodError, fold, monthly_report
from bot.storage import migrate


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="what staff asked about in a month or period")
    report.set_defaults(verb=report_command)
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
                        help="file to write (without it text, csv and json are printed; "
                             "png goes to report-PERIOD.png)")


def report_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_report(args, settings))


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
    # The report's formats and the services (babel, prometheus: 50 ms) only for `report`.
    from bot.report_formats import as_csv, as_json, as_png, as_text
    from bot.services import Services

    period = _period(args, settings)
    await migrate(settings.database_url)
    services = Services.create(settings)
    lang = args.lang or settings.helpers_language
    try:
        async with services.db.session() as session:  # the gaps need the answers' topics
            await answers.seed(session=session, knowledge=services.knowledge, now=datetime.now(UTC))
        async with services.db.reading() as session:
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
    if args.output is None and args.format == "csv":  # printed, as text and JSON are
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    # A picture is no text for a terminal: without -o it goes to report-PERIOD.png.
    output = args.output or Path(f"report-{period.label}.{args.format}")
    output.write_bytes(data)
    print(f"wrote {output}")
    return 0
