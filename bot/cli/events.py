"""`peerdesk events add|list|cancel|import|materials`: webinars, cafés and meetings, published
and announced from the command line or a YAML or .ics file."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot import LANGUAGES
from bot.calendar import read_events
from bot.config import Settings
from bot.domain.events import after, schedule, views
from bot.domain.events.spec import validate_spec
from bot.domain.events.views import EventError
from bot.domain.models import EventKind
from bot.storage import Database, migrate


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("events", help="webinars, cafés and meetings")
    parser.set_defaults(verb=events_command)
    events_commands = parser.add_subparsers(dest="action", required=True)
    add = events_commands.add_parser("add", help="publish an event (announced at once)")
    add.add_argument("--kind", required=True, choices=[k.value for k in EventKind])
    add.add_argument("--title", required=True)
    add.add_argument("--start", required=True, help='local time, "2026-12-08 14:00"')
    add.add_argument("--minutes", type=int, default=60, help="length (default 60)")
    add.add_argument("--description", default="")
    add.add_argument("--place")
    add.add_argument("--link")
    add.add_argument("--channel", type=int, action="append",
                     help="chat id; repeat for more (default PEERDESK_ANNOUNCE_CHANNELS)")
    add.add_argument("--language", choices=LANGUAGES, default="fi")
    add.add_argument("--capacity", type=int)
    add.add_argument("--rrule", help='a series, e.g. "FREQ=MONTHLY;BYDAY=1TU;COUNT=6"')
    add.add_argument("--pre-reading", dest="pre_reading")
    add.add_argument("--reminders", help="before the start, e.g. 7d,1d,1h (the default)")
    add.add_argument("--host-name", dest="host_name")
    add.add_argument("--registration-closes", dest="registration_closes",
                     help='local time after which RSVPs are refused, "2026-12-07 12:00"')
    events_commands.add_parser("list", help="upcoming events")
    cancel = events_commands.add_parser("cancel", help="cancel an event (announced)")
    cancel.add_argument("event_id", type=int)
    imp_events = events_commands.add_parser("import", help="events from a YAML or .ics file")
    imp_events.add_argument("file", type=Path)
    imp_events.add_argument("--kind", choices=[k.value for k in EventKind], default="webinar",
                            help="for .ics entries (default webinar)")
    imp_events.add_argument("--channel", type=int, action="append")
    imp_events.add_argument("--language", choices=LANGUAGES, default="fi")
    materials = events_commands.add_parser(
        "materials", help="after an event: send a link to everyone who said they would come")
    materials.add_argument("event_id", type=int)
    materials.add_argument("--link", required=True, help="the recording, slides…")


def events_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_events(args, settings))


def _local(text: str, settings: Settings) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise EventError(f"{text!r} is not a time like 2026-12-08 14:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.tz)


def _spec_data(item: dict, settings: Settings, defaults: dict) -> dict:
    """Fields of one event from a file or the command line, times read in local time."""
    data = {**defaults, **{k: v for k, v in item.items() if v is not None}}
    for name in ("start", "end", "registration_closes"):
        if isinstance(data.get(name), str):
            data[name] = _local(data[name], settings)
        elif isinstance(data.get(name), datetime) and data[name].tzinfo is None:
            data[name] = data[name].replace(tzinfo=settings.tz)
    minutes = data.pop("minutes", None)
    if isinstance(data.get("start"), datetime) and (minutes is not None or "end" not in data):
        data["end"] = data["start"] + timedelta(minutes=int(minutes or 60))
    return data


async def _events(args: argparse.Namespace, settings: Settings) -> int:
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    now = datetime.now(UTC)
    channels = args.channel if getattr(args, "channel", None) else list(
        settings.announce_channels)
    try:
        async with db.session() as session:
            if args.action == "list":
                for event in await views.upcoming(session=session, now=now, limit=100):
                    start = event.starts_at.astimezone(settings.tz)
                    print(f"{event.id}\t{start:%Y-%m-%d %H:%M}\t{event.kind}\t{event.title}")
                return 0
            if args.action == "cancel":
                if await schedule.cancel_event(session=session, event_id=args.event_id,
                                             now=now) is None:
                    raise EventError(f"no upcoming event {args.event_id}")
                print(f"cancelled event {args.event_id}; the cancellation is announced")
                return 0
            if args.action == "materials":
                await after.add_material(session=session, event_id=args.event_id, now=now,
                                          link=args.link)
                count = len(await after.recipients(session=session, event_id=args.event_id))
                print(f"materials of event {args.event_id} go to {count} people")
                return 0
            if args.action == "add":
                fields = {k: getattr(args, k) for k in (
                    "kind", "title", "description", "place", "link", "language", "capacity",
                    "rrule", "pre_reading", "reminders", "host_name", "start", "minutes",
                    "registration_closes")}
                items = [fields]
                defaults: dict = {"channels": channels}
            else:
                items = _event_file(args.file)
                defaults = {"channels": channels, "language": args.language, "kind": args.kind}
            specs = []  # all checked before any is published: a file goes in whole or not at all
            for number, item in enumerate(items, start=1):
                try:
                    specs.append(validate_spec(_spec_data(item, settings, defaults)))
                except EventError as exc:
                    where = f"{args.file}, event {number}: " if args.action == "import" else ""
                    raise EventError(f"{where}{exc}") from None
            published = []
            for spec in specs:
                published += await schedule.publish_event(
                    session=session, spec=spec, now=now,
                    announce_days_before=settings.announce_days_before)
            print(f"published {len(published)} event(s): "
                  + ", ".join(str(e.id) for e in published))
            return 0
    finally:
        await db.dispose()


def _event_file(path: Path) -> list[dict]:
    """Events from YAML (a list under `events:`) or from an .ics calendar."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EventError(f"{path}: {exc}") from None
    if path.suffix.lower() == ".ics":
        try:
            return read_events(raw)
        except ValueError as exc:
            raise EventError(f"{path}: not a calendar file ({exc})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise EventError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise EventError(f"{path}: expected a list under 'events:'")
    return [dict(item) for item in data["events"]]
