"""`peerdesk calendar import|list`: the school's closed days (breaks, training days) from an .ics
file or address or a YAML list; public holidays come on their own."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.domain import schoolyear
from bot.storage import Database, migrate


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cal = commands.add_parser("calendar", help="the school's closed days (breaks, training days)")
    cal.set_defaults(verb=calendar_command)
    cal_commands = cal.add_subparsers(dest="action", required=True)
    imp_cal = cal_commands.add_parser(
        "import", help="closed days from an .ics file or address, or a YAML list; importing "
                       "the same source again replaces its days")
    imp_cal.add_argument("source", help="a file, or an https:// or webcal:// address")
    cal_commands.add_parser("list", help="closed days from today on, public holidays included")


def calendar_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_calendar(args, settings))


async def _calendar(args: argparse.Namespace, settings: Settings) -> int:
    today = datetime.now(settings.tz).date()
    if args.action == "import":
        source = args.source
        if source.startswith(("https://", "http://", "webcal://")):
            data = await schoolyear.fetch(source)
        else:
            path = Path(source)
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise schoolyear.CalendarError(f"{path}: {exc.strerror}") from None
            source = path.name
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            if args.action == "list":
                rows = await schoolyear.stored_closures(session=session, since=today)
                lines = [(r.first, f"{r.first}\t{r.last}\t{r.name}\t{r.source}")
                         for r in rows]
                for year in (today.year, today.year + 1):
                    lines += [(day, f"{day}\t{day}\t{name}\t(public holiday)")
                              for day, name in schoolyear.public_holidays(year).items()
                              if today <= day <= today + timedelta(days=365)
                              and settings.weekly_hours.is_open_on(day)]
                for _, line in sorted(lines):
                    print(line)
                return 0
            try:
                imported = await schoolyear.import_calendar(session=session, source=source,
                                                            data=data)
            except schoolyear.CalendarError as exc:
                raise schoolyear.CalendarError(f"{args.source}: {exc}") from None
    finally:
        await db.dispose()
    skipped = (f"; {imported.skipped} timed entries skipped (only all-day entries close "
               "the office)") if imported.skipped else ""
    print(f"{imported.count} closed periods from {source}"
          + ("" if imported.changed else ", unchanged") + skipped
          + "; running bots use them within a minute")
    return 0
