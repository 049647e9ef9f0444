"""Command line: `peerdesk run | route | helpers import | report | migrate`.

Usage:
    peerdesk run                      # long polling; with no token, the local sandbox
    peerdesk serve                    # webhook server with /healthz /readyz /metrics
    peerdesk route "question"         # the routing decision as JSON
    peerdesk route --jsonl < file     # one question per line in, one JSON line out
    peerdesk route --explain "question"   # the decision, each role's probability, the words
    peerdesk route train              # train the need model (knowledge/training), once a machine
    peerdesk helpers import FILE      # load the helpers' roster
    peerdesk helpers list | remove ID # the roster as it is now; take someone out of it
    peerdesk invite ROLE…             # a one-time invitation link (e.g. the first admin)
    peerdesk events add|list|cancel|import   # webinars, cafés, meetings (see --help)
    peerdesk calendar import FILE_OR_URL | list   # the school's breaks and training days
    peerdesk events add|list|cancel|import|materials   # webinars, cafés, meetings (see --help)
    peerdesk report [--month 2026-11 | --from D --to D] [--team T] [--format text|csv|json|png]
    peerdesk knowledge list|export|import|edit|publish|discard   # the self-service answers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from sqlalchemy.exc import SQLAlchemyError

from bot import LANGUAGES, ROLES
from bot.calendar import read_events
from bot.config import ConfigError, Settings, load_settings
from bot.domain import answers, invites, people, schoolyear, setup
from bot.domain.events import after, schedule, views
from bot.domain.events.spec import validate_spec
from bot.domain.events.views import EventError
from bot.domain.knowledge import Knowledge, KnowledgeError, load_knowledge
from bot.domain.lemmas import LemmaError, Lemmas
from bot.domain.models import AnswerStatus, EventKind, utcnow
from bot.domain.needs import TrainingError, load_or_train, model_path
from bot.domain.reports import Filters, Period, PeriodError, fold, monthly_report
from bot.domain.roster import RosterError, import_helpers, read_roster
from bot.domain.routing import Router, training_examples
from bot.domain.schoolyear import CalendarError
from bot.domain.sla import Policy
from bot.domain.tickets.views import Desk
from bot.storage import Database, migrate
from bot.storage.db import migrate_sync

logger = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerdesk", description="Peer-support helpdesk bot")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot with long polling (sandbox without a token)")
    commands.add_parser("serve", help="run the webhook server (health, metrics, reports too)")
    commands.add_parser("migrate", help="upgrade the database schema")
    route = commands.add_parser("route", help="show how a question would be routed; "
                                "`route train` trains the need model on knowledge/training")
    route.add_argument("question", nargs="?")
    route.add_argument("--jsonl", action="store_true", help="questions from standard input")
    route.add_argument("--explain", action="store_true",
                       help="say why: each role's probability and the words that decided")
    helpers = commands.add_parser("helpers", help="the helpers' roster")
    helpers_commands = helpers.add_subparsers(dest="action", required=True)
    imp = helpers_commands.add_parser("import", help="load helpers from a YAML file")
    imp.add_argument("file", type=Path)
    helpers_commands.add_parser("list", help="everyone in the roster, as JSON lines")
    removed = helpers_commands.add_parser(
        "remove", help="take someone out of the roster (what they hold goes back to the queue)")
    removed.add_argument("telegram_id", type=int)
    invite = commands.add_parser(
        "invite", help="print a one-time link that enrols whoever opens it with these roles")
    invite.add_argument("roles", nargs="+", metavar="ROLE",
                        help="tvt, luotsi, vertaisvalmentaja, lead, organiser, admin")
    events = commands.add_parser("events", help="webinars, cafés and meetings")
    events_commands = events.add_subparsers(dest="action", required=True)
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
    cal = commands.add_parser("calendar", help="the school's closed days (breaks, training days)")
    cal_commands = cal.add_subparsers(dest="action", required=True)
    imp_cal = cal_commands.add_parser(
        "import", help="closed days from an .ics file or address, or a YAML list; importing "
                       "the same source again replaces its days")
    imp_cal.add_argument("source", help="a file, or an https:// or webcal:// address")
    cal_commands.add_parser("list", help="closed days from today on, public holidays included")
    materials = events_commands.add_parser(
        "materials", help="after an event: send a link to everyone who said they would come")
    materials.add_argument("event_id", type=int)
    materials.add_argument("--link", required=True, help="the recording, slides…")
    knowledge = commands.add_parser("knowledge", help="the self-service answers in the database")
    knowledge_commands = knowledge.add_subparsers(dest="action", required=True)
    listed = knowledge_commands.add_parser("list", help="answers and drafts with their state")
    listed.add_argument("--drafts", action="store_true", help="only the drafts")
    exported = knowledge_commands.add_parser("export", help="published answers as YAML")
    exported.add_argument("--output", "-o", type=Path, help="file (default: standard output)")
    imported = knowledge_commands.add_parser("import", help="publish the answers of a YAML file")
    imported.add_argument("file", type=Path)
    edit = knowledge_commands.add_parser("edit", help="a draft's text or trigger in a language")
    edit.add_argument("answer_id")
    edit.add_argument("--lang", required=True, choices=LANGUAGES)
    edit.add_argument("--text")
    edit.add_argument("--trigger", action="append", help="trigger words; repeat for more")
    for action in ("publish", "discard"):
        knowledge_commands.add_parser(action, help=f"{action} a draft").add_argument("answer_id")
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
                        help="file to write (without it text, csv and json are printed; "
                             "png goes to report-PERIOD.png)")
    return parser


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors. Messages carry ids and counts only."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_text:
            entry["error"] = record.exc_text
        elif record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# python-telegram-bot's debug lines that carry whole updates, messages and API parameters (names,
# question texts, Telegram ids): kept, with the payload left out.
_PTB_PAYLOADS: dict[str, tuple[str, Callable[[tuple], tuple]]] = {
    "Calling Bot API endpoint `%s` with parameters `%s`":
        ("Calling Bot API endpoint `%s`", lambda args: args[:1]),
    "Call to Bot API endpoint `%s` finished with return value `%s`":
        ("Call to Bot API endpoint `%s` finished", lambda args: args[:1]),
    "Processing update %s": ("Processing update %s", lambda args: (_update_id(args[0]),)),
    "Dropping pending update: %s":
        ("Dropping pending update: %s", lambda args: (_update_id(args[0]),)),
    "Webhook received data: %s": ("Webhook received data", lambda args: ()),
    "Selecting conversation %s with state %s":
        ("Selecting a conversation with state %s", lambda args: args[1:]),
    "Conversation timeout was triggered for conversation %s!":
        ("Conversation timeout was triggered", lambda args: ()),
}
# Loggers whose debug output is the data itself: aiosqlite logs every call with its parameters,
# SQLAlchemy's engine the rows it reads, httpx every request URL (which holds the bot token).
_QUIET = {"httpx": logging.WARNING, "httpcore": logging.INFO, "aiosqlite": logging.INFO,
          "sqlalchemy": logging.WARNING, "apscheduler": logging.WARNING,
          "alembic": logging.WARNING}


def _update_id(update: object) -> object:
    return getattr(update, "update_id", "?")


class PrivateLog(logging.Filter):
    """On every handler: the bot token and other secrets are masked in each record, exceptions
    included, and python-telegram-bot's debug lines lose their payloads — at any level."""

    MASK = "[secret]"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        forms = {form for secret in secrets if secret
                 for form in (secret, quote(secret, safe=""))}
        self.secrets = sorted(forms, key=len, reverse=True)  # a longer form first

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, self.MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and isinstance(record.msg, str):
            redacted = _PTB_PAYLOADS.get(record.msg)
            if redacted is not None and isinstance(record.args, tuple):
                record.msg, record.args = redacted[0], redacted[1](record.args)
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it, without our help
            return True
        masked = self._mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


def _configure_logging(level: str, form: str = "text", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if form == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ours = logging.getLevelName(level.upper())
    if not isinstance(ours, int):  # not a level's name
        ours = logging.INFO
    # Other libraries speak from WARNING up (matplotlib's "Using categorical units", PTB's and
    # APScheduler's chatter); at DEBUG everything is shown, for developers, less what no log
    # may hold (PrivateLog, _QUIET).
    logging.basicConfig(level=ours if ours == logging.DEBUG else max(ours, logging.WARNING),
                        handlers=[handler])
    logging.getLogger("bot").setLevel(ours)
    for root_handler in logging.getLogger().handlers:
        root_handler.addFilter(PrivateLog(secrets))
    for name, quiet in _QUIET.items():
        logger_ = logging.getLogger(name)
        logger_.setLevel(max(quiet, logger_.getEffectiveLevel()))


def _secrets(settings: Settings) -> list[str]:
    """The values no log may show: the bot token, the report token, the webhook secret."""
    return [secret.get_secret_value() for secret in (
        settings.telegram_token, settings.report_token, settings.webhook_secret)
        if secret is not None]


def route_command(args: argparse.Namespace, settings: Settings) -> int:
    knowledge = load_knowledge(settings.knowledge_dir)
    lemmas = Lemmas(settings.lemma_dir)
    if args.question == "train" and not args.jsonl:
        return _train(knowledge, lemmas)
    router = Router(knowledge, lemmas)
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
    decision = router.route(args.question)
    if not args.explain:
        print(json.dumps(decision.as_dict(), ensure_ascii=False))
        return 0
    verdict = "ask the asker" if decision.ask else "route"
    print(f"{verdict}: {decision.role} · {decision.topic} · {decision.language} "
          f"(confidence {decision.confidence:.2f})")
    for role in decision.roles:
        probability = decision.probabilities.get(role)
        print(f"  {role:<18} {'' if probability is None else f'{probability:.2f}'}")
    cues = router.explain(args.question, decision.role)
    print("why: " + (", ".join(cues) if cues else "no single word decided"))
    if decision.answer:
        print(f"self-service answer: {decision.answer}")
    return 0


def _train(knowledge: Knowledge, lemmas: Lemmas) -> int:
    """`peerdesk route train`: the need model, trained on the knowledge's examples and kept
    where the router looks for it (nothing to do when it is there already)."""
    if not knowledge.training:
        print("peerdesk route train: knowledge/training holds no examples", file=sys.stderr)
        return 2
    started = time.perf_counter()
    examples = training_examples(knowledge)
    try:
        model = load_or_train(examples, lemmas.folder)
    except TrainingError as exc:
        print(f"peerdesk route train: {exc}", file=sys.stderr)
        return 1
    if not model_path(lemmas.folder, model.fingerprint).exists():
        print(f"peerdesk route train: trained, but it could not be kept in {lemmas.folder}: the "
              "bot would train it again at each start", file=sys.stderr)
        return 1
    counts = Counter(example.language or "?" for example in examples)
    print(f"need model {model.fingerprint}: {len(examples)} questions "
          f"({', '.join(f'{lang} {n}' for lang, n in sorted(counts.items()))}), "
          f"ready in {time.perf_counter() - started:.1f} s, kept in {lemmas.folder / 'router'}")
    return 0


async def _import_helpers(settings: Settings, path: Path) -> int:
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


async def bot_username(settings: Settings) -> str:
    """The bot's username, from getMe (the sandbox's without a token)."""
    # python-telegram-bot and aiohttp are loaded only by the commands that talk to a bot.
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    from bot.sandbox.server import BOT_USER

    if settings.telegram_token is None:
        return str(BOT_USER["username"])
    api = settings.telegram_api_url
    bot = Bot(settings.telegram_token.get_secret_value(), base_url=f"{api}/bot",
              base_file_url=f"{api}/file/bot")
    try:
        async with bot:
            return bot.username
    except InvalidToken:
        raise ConfigError("PEERDESK_TELEGRAM_TOKEN was refused by the Bot API: check it with "
                          "BotFather") from None
    except TelegramError as exc:
        raise ConfigError(f"the Bot API could not be reached ({type(exc).__name__})") from None


async def invite_link(settings: Settings, roles: list[str]) -> str:
    """`peerdesk invite ROLE…`: a one-time link https://t.me/<bot>?start=<code> (7 days)."""
    if invites.parse_roles(roles) is None:
        raise ConfigError(f"the roles are {', '.join(invites.INVITE_ROLES)}")
    username = await bot_username(settings)
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            code = await invites.create(session=session, roles=roles, created_by=None,
                                        now=utcnow())
    finally:
        await db.dispose()
    return f"https://t.me/{username}?start={code}"


async def _helpers(args: argparse.Namespace, settings: Settings) -> int:
    """`helpers list` and `helpers remove ID`."""
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            if args.action == "list":
                for h in await people.everyone(session=session):
                    print(json.dumps({"telegram_id": h.telegram_id, "name": h.name,
                                      "roles": list(h.roles), "team": h.team,
                                      "languages": list(h.languages), "away": not h.available},
                                     ensure_ascii=False))
                return 0
            links = await setup.links(session=session)
            desk = Desk(policy=Policy(hours=settings.hours, sla_minutes=settings.sla_minutes,
                                      default_minutes=settings.sla_default_minutes,
                                      reopen_days=settings.reopen_days),
                        forum=settings.helpers_chat_id or links.helpers_chat,
                        admins=settings.admin_ids | links.admins)
            released = await people.remove(session=session, user_id=args.telegram_id,
                                           now=utcnow(), desk=desk)
    finally:
        await db.dispose()
    if released is None:
        print(f"peerdesk: {args.telegram_id} is not in the roster", file=sys.stderr)
        return 1
    print(f"removed; {len(released)} questions back in the queue")
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


async def _knowledge(args: argparse.Namespace, settings: Settings) -> int:
    """The answers in the database: seeded from the knowledge folder on first use; running bots
    see a publication within a minute."""
    knowledge = load_knowledge(settings.knowledge_dir)
    text = None
    if args.action == "import":
        try:
            text = args.file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KnowledgeError(f"{args.file}: {exc.strerror}") from None
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            await answers.seed(session=session, knowledge=knowledge, now=now)
            if args.action == "list":
                status = AnswerStatus.DRAFT if args.drafts else None
                for row in await answers.listing(session=session, status=status):
                    missing = ",".join(answers.missing_languages(row)) or "-"
                    print(f"{row.id}\t{row.status}\t{row.topic}\tmissing:{missing}")
            elif args.action == "export":
                data = answers.export_yaml(await answers.listing(session=session))
                if args.output:
                    args.output.write_text(data, encoding="utf-8")
                    print(f"wrote {args.output}")
                else:
                    print(data, end="")
            elif args.action == "import":
                assert text is not None
                count = await answers.import_yaml(session=session, knowledge=knowledge,
                                                  text=text, now=now)
                print(f"published {count} answers from {args.file.name}")
            elif args.action == "edit":
                row = None
                if args.text:
                    row = await answers.set_text(session=session, answer_id=args.answer_id,
                                                 language=args.lang, text=args.text, now=now)
                if args.trigger:
                    row = await answers.set_triggers(session=session, answer_id=args.answer_id,
                                                     language=args.lang, triggers=args.trigger,
                                                     now=now)
                if row is None:
                    raise KnowledgeError(f"{args.answer_id}: no such answer, or nothing to set")
                print(f"{row.id}: missing {','.join(answers.missing_languages(row)) or 'nothing'}")
            elif args.action == "publish":
                row, lacking = await answers.publish(session=session, router=None,
                                                     answer_id=args.answer_id, now=now)
                if row is None:
                    raise KnowledgeError(f"{args.answer_id}: no such answer")
                if lacking:
                    raise KnowledgeError(f"{args.answer_id}: add {', '.join(lacking)} first")
                print(f"{row.id} published; running bots use it within a minute")
            elif not await answers.discard(session=session, router=None,
                                           answer_id=args.answer_id, now=now):
                raise KnowledgeError(f"{args.answer_id}: no such answer")
            else:
                print(f"{args.answer_id} discarded")
    finally:
        await db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings.log_level, settings.log_format, _secrets(settings))
        if args.command == "route":
            return route_command(args, settings)
        if args.command == "helpers":
            if args.action == "import":
                return asyncio.run(_import_helpers(settings, args.file))
            return asyncio.run(_helpers(args, settings))
        if args.command == "invite":
            print(asyncio.run(invite_link(settings, args.roles)))
            return 0
        if args.command == "events":
            return asyncio.run(_events(args, settings))
        if args.command == "report":
            return asyncio.run(_report(args, settings))
        if args.command == "calendar":
            return asyncio.run(_calendar(args, settings))
        if args.command == "knowledge":
            return asyncio.run(_knowledge(args, settings))
        if args.command == "migrate":
            try:
                migrate_sync(settings.database_url)
            except (OSError, SQLAlchemyError) as exc:  # no password or address in the message
                raise ConfigError("the database at PEERDESK_DATABASE_URL could not be migrated "
                                  f"({type(exc).__name__})") from None
            return 0
        # Only the bot needs python-telegram-bot and aiohttp: the other commands start without.
        from bot.runner import run_polling, run_webhook

        if args.command == "serve":
            return _run_long(run_webhook(settings))
        return _run_long(run_polling(settings))
    except (ConfigError, KnowledgeError, LemmaError, RosterError, PeriodError,
            EventError, CalendarError) as exc:
        print(f"peerdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run_long(main: Coroutine[Any, Any, int]) -> int:
    """The bot itself runs on uvloop where it is installed: its event loop costs a fraction of
    asyncio's per callback, and every database call and HTTP request is a few callbacks
    (bench/throughput.py: 5–10 % more questions a second, half the p99 latency)."""
    try:
        import uvloop  # optional: the bot runs on asyncio's own loop without it
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
