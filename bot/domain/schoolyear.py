"""The school's year: days the office is closed although the weekly pattern says open.

Two kinds: Finnish public holidays, built in (the `holidays` library), and the school's own
closures (autumn, Christmas, winter and summer breaks, staff training days) read from an
iCalendar file or feed, or a short YAML list, and stored in the database under the name of
their source, so that every process (and replica) reads the same calendar. Importing a
source again replaces its days.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

import yaml
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import ClosedDays
from bot.domain.officehours import OfficeHours

log = logging.getLogger(__name__)
_DAY = timedelta(days=1)
MAX_CLOSURE_DAYS = 120  # longer than a summer break: surely a mistake in the file
FETCH_TIMEOUT_SECONDS = 30
MAX_FEED_BYTES = 2_000_000


class CalendarError(ValueError):
    """A calendar that cannot be read; the message is one line for a person."""


@dataclass(frozen=True, slots=True)
class Closure:
    """Closed from `first` to `last`, both days included."""

    name: str
    first: date
    last: date

    def days(self) -> Iterable[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += _DAY


@dataclass(frozen=True, slots=True)
class Break:
    """A run of closed working days, as /hours tells it: its name, its span, and the day
    answers come again."""

    name: str
    first: date
    last: date
    reopens: date


# Public holidays.

HOLIDAYS_TIMEOUT_SECONDS = 60


@cache
def _decade(decade: int) -> dict[str, dict[date, str]]:
    """Each language's holidays of ten years, from the `holidays` library in a child process
    (bot.domain.holidays_fi: the library would hold 11 MB of every bot process). Should the
    child fail, the office hours go on without the public holidays, and the log says so."""
    try:
        child = subprocess.run(
            [sys.executable, "-m", "bot.domain.holidays_fi", str(decade * 10),
             str(decade * 10 + 9)],
            capture_output=True, text=True, timeout=HOLIDAYS_TIMEOUT_SECONDS, check=True)
        answer = json.loads(child.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("Finland's public holidays of %d-%d could not be read (%s): the office "
                    "hours go on without them", decade * 10, decade * 10 + 9,
                    type(exc).__name__)
        return {"fi": {}}
    return {lang: {date.fromisoformat(day): name for day, name in days.items()}
            for lang, days in answer.items()}


@cache
def public_holidays(year: int, language: str = "fi") -> dict[date, str]:
    """Finland's public holidays of one year with their names (Christmas and Midsummer Eve
    included: nobody is at work), as the `holidays` library gives them."""
    days = _decade(year // 10)
    return {day: name for day, name in days.get(language, days["fi"]).items() if day.year == year}


def holiday_years(today: date) -> range:
    """The years whose holidays the office hours carry: reports look back, promises forward."""
    return range(today.year - 2, today.year + 3)


def holiday_dates(today: date) -> frozenset[date]:
    return frozenset(d for year in holiday_years(today) for d in public_holidays(year))


# Reading the school's own closures.

def _closure(name: object, first: object, last: object, where: str) -> Closure:
    if not isinstance(first, date) or not isinstance(last, date):
        raise CalendarError(f"{where}: dates must look like 2026-12-21")
    if isinstance(first, datetime) or isinstance(last, datetime):
        first, last = (d.date() if isinstance(d, datetime) else d for d in (first, last))
    if last < first:
        raise CalendarError(f"{where}: the last day {last} is before the first {first}")
    if (last - first).days >= MAX_CLOSURE_DAYS:
        raise CalendarError(f"{where}: {(last - first).days + 1} days is longer than any break")
    text = str(name or "").strip()
    return Closure(name=text[:200], first=first, last=last)


def _yaml_date(value: object, where: str) -> object:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise CalendarError(f"{where}: {value!r} is not a date like 2026-12-21") from None
    return value


def read_yaml(data: bytes | str) -> list[Closure]:
    """Closures from YAML: a list under `closed_days:` of `name` with `date`, or `from` and
    `to` (both included)."""
    try:
        loaded = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" on line {mark.line + 1}" if mark is not None else ""
        raise CalendarError(f"not valid YAML{line}") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("closed_days"), list):
        raise CalendarError("expected a list under 'closed_days:'")
    found = []
    for number, item in enumerate(loaded["closed_days"], start=1):
        where = f"closed day {number}"
        if not isinstance(item, dict):
            raise CalendarError(f"{where}: expected name and date, or name, from and to")
        if "date" in item:
            first = last = _yaml_date(item["date"], where)
        elif "from" in item and "to" in item:
            first, last = _yaml_date(item["from"], where), _yaml_date(item["to"], where)
        else:
            raise CalendarError(f"{where}: give 'date', or 'from' and 'to'")
        found.append(_closure(item.get("name"), first, last, where))
    return found


def read_ics(data: bytes) -> tuple[list[Closure], int]:
    """Closures from an iCalendar file: every all-day entry (DTEND is the day after, as the
    standard says). Returns them and the number of timed entries skipped (a meeting is not a
    closed day)."""
    from icalendar import Calendar  # 3 MB: only when a school's calendar is read

    try:
        calendar = Calendar.from_ical(data)
    except ValueError as exc:
        raise CalendarError(f"not an iCalendar file ({str(exc).splitlines()[0][:80]})") from None
    found, skipped = [], 0
    for number, entry in enumerate(calendar.walk("VEVENT"), start=1):
        where = f"entry {number}"
        try:
            start = entry.decoded("dtstart")
            end = entry.decoded("dtend", None)
        except (KeyError, ValueError):
            raise CalendarError(f"{where}: no readable DTSTART") from None
        if isinstance(start, datetime) or not isinstance(start, date):
            skipped += 1
            continue
        if str(entry.get("status", "")).upper() == "CANCELLED":
            continue
        last = end - _DAY if isinstance(end, date) and not isinstance(end, datetime) else start
        found.append(_closure(entry.get("summary"), start, max(start, last), where))
    return found, skipped


def read_calendar(data: bytes, name: str) -> tuple[list[Closure], int]:
    """An .ics calendar or a YAML list, told apart by its content."""
    if data.lstrip()[:15].upper().startswith(b"BEGIN:VCALENDAR"):
        return read_ics(data)
    if name.lower().endswith((".ics", ".ical", ".ifb")):
        raise CalendarError("not an iCalendar file (no BEGIN:VCALENDAR)")
    return read_yaml(data), 0


async def fetch(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """A calendar feed's bytes (webcal:// is read as https://)."""
    import aiohttp  # the command line needs it only for an address

    if url.startswith("webcal://"):
        url = "https://" + url.removeprefix("webcal://")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as client:
            async with client.get(url) as response:
                if response.status != 200:
                    raise CalendarError(f"the calendar address answered {response.status}")
                data = await response.content.read(MAX_FEED_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise CalendarError(f"the calendar address could not be read ({type(exc).__name__})"
                            ) from None
    if len(data) > MAX_FEED_BYTES:
        raise CalendarError("the calendar is larger than 2 MB: is it the right address?")
    return data


# The closures in the database.

async def replace_source(*, session: AsyncSession, source: str,
                         closures: Iterable[Closure]) -> bool:
    """The days of `source` become `closures`; returns whether anything changed (importing
    the same calendar again writes nothing)."""
    wanted = sorted({(c.first, c.last, c.name) for c in closures})
    stored = list(await session.exec(
        select(ClosedDays).where(col(ClosedDays.source) == source)
        .order_by(col(ClosedDays.first_day), col(ClosedDays.last_day), col(ClosedDays.name))))
    if [(row.first_day, row.last_day, row.name) for row in stored] == wanted:
        return False
    await session.exec(delete(ClosedDays).where(col(ClosedDays.source) == source))
    session.add_all(ClosedDays(source=source, name=name, first_day=first, last_day=last)
                    for first, last, name in wanted)
    await session.commit()
    return True


@dataclass(frozen=True, slots=True)
class Imported:
    count: int  # closures now stored for the source
    skipped: int  # timed entries of an .ics, which close nothing
    changed: bool


async def import_calendar(*, session: AsyncSession, source: str, data: bytes) -> Imported:
    """Read a calendar (.ics or YAML) and store it as the days of `source`."""
    closures, skipped = read_calendar(data, source)
    changed = await replace_source(session=session, source=source[:500], closures=closures)
    return Imported(len(closures), skipped, changed)


@dataclass(frozen=True, slots=True)
class StoredClosure(Closure):
    """A closure as stored, with the calendar it came from."""

    source: str = ""


async def stored_closures(*, session: AsyncSession, since: date | None = None
                          ) -> list[StoredClosure]:
    """The school's own closed days (ending `since` or later), in order."""
    query = select(ClosedDays).order_by(col(ClosedDays.first_day), col(ClosedDays.source))
    if since is not None:
        query = query.where(ClosedDays.last_day >= since)
    return [StoredClosure(row.name, row.first_day, row.last_day, row.source)
            for row in await session.exec(query)]


async def closed_dates(*, session: AsyncSession, today: date) -> frozenset[date]:
    """Every closed date the office hours should know: public holidays and the school's own."""
    days = set(holiday_dates(today))
    for closure in await stored_closures(session=session):
        days.update(closure.days())
    return frozenset(days)


# What /hours tells.

def week_days(hours: OfficeHours, today: date) -> list[date]:
    """The pattern's days from `today` to the end of this week, or of next week when none are
    left this week."""
    monday = today - timedelta(days=today.weekday())
    days = [d for d in (monday + timedelta(days=i) for i in range(7))
            if d >= today and d.weekday() in hours.days]
    if days:
        return days
    return [monday + timedelta(days=7 + i) for i in sorted(hours.days)]


def next_break(hours: OfficeHours, today: date, names: dict[date, str]) -> Break | None:
    """The run of closed working days that is going on or comes next, named by what closes it
    (`names`: the school's own first, then public holidays)."""
    candidates = sorted(d for d in hours.closed if d >= today and d.weekday() in hours.days)
    if not candidates:
        return None
    first = candidates[0]
    # Weekends and further closed days belong to the same break; one going on began earlier.
    while not hours.is_open_on(first - _DAY) and first - _DAY >= today - timedelta(days=366):
        first -= _DAY
    while first.weekday() not in hours.days:
        first += _DAY
    reopens = hours.next_open_day(first)
    last = reopens - _DAY
    while last.weekday() not in hours.days:
        last -= _DAY
    # Named by what closes most of it: a break with a training day inside is the break;
    # Christmas Eve and Christmas Day without a break are both named.
    covered: dict[str, int] = {}
    day = first
    while day <= last:
        if names.get(day):
            covered[names[day]] = covered.get(names[day], 0) + 1
        day += _DAY
    most = max(covered.values(), default=0)
    called = [name for name, count in covered.items() if count == most]
    return Break(name=", ".join(called), first=first, last=last, reopens=reopens)


def day_names(closures: Iterable[Closure], today: date, language: str) -> dict[date, str]:
    """What each closed day is called: the school's name, else the public holiday's."""
    names: dict[date, str] = {}
    for year in (today.year, today.year + 1):
        names.update(public_holidays(year, language))
    for closure in closures:
        if closure.name:
            names.update(dict.fromkeys(closure.days(), closure.name))
    return names
