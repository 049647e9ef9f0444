"""Dates as people write them in Finnish, Swedish and English: "1.12. klo 14", "ti 1.12. 14.00",
"huomenna klo 9", "ylihuomenna", "ma klo 10", "tisdag 1.12 kl. 14", "imorgon kl 9", ISO.

Weekday names come from Babel's locale data; the few words for today, tomorrow and the day
after are listed here. Whatever is understood is shown back to the person for confirmation, so
the parser prefers refusing to guessing: a word it does not know makes it give up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache

from babel import Locale

RELATIVE = {
    "tänään": 0, "huomenna": 1, "ylihuomenna": 2,
    "idag": 0, "imorgon": 1, "iövermorgon": 2, "övermorgon": 2,
    "today": 0, "tomorrow": 1,
}
TIME_MARKERS = {"klo", "kl", "kello", "at", "kl.", "klo."}
FILLER = {"ja", "och", "and", "on", "den", "the", "alkaen", "från", "from", "-", "–"}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ](\d{1,2}):(\d{2}))?$")
_DOTTED = re.compile(r"^(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2})?)?\.?$")
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")


@cache
def _weekdays() -> dict[str, int]:
    """Every weekday name and abbreviation Babel knows in fi, sv and en, lower case."""
    names: dict[str, int] = {}
    for language in ("fi", "sv", "en"):
        days = Locale(language).days
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in days[context][width].items():
                    names[name.lower().rstrip(".")] = number
    return names


@dataclass(frozen=True, slots=True)
class Understood:
    """What a text said: a day and/or a time of day."""

    day: date | None
    at: time | None
    weekday_mismatch: bool = False  # "ma 1.12." when 1.12. is not a Monday


def understand(text: str, *, now: datetime, tz: tzinfo) -> Understood | None:
    """The day and time in `text`, relative to `now` (in `tz`); None when something in it is
    not understood."""
    today = now.astimezone(tz).date()
    words = text.lower().replace(",", " ").split()
    day: date | None = None
    at: time | None = None
    weekday: int | None = None
    explicit_year = False
    marked = False
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "i" and index < len(words):  # Swedish "i morgon", "i dag"
            word = "i" + words[index]
            index += 1
        if word in TIME_MARKERS:
            marked = True
            continue
        if word in FILLER:
            continue
        if word in RELATIVE:
            day = today + timedelta(days=RELATIVE[word])
            continue
        if word.rstrip(".") in _weekdays():
            weekday = _weekdays()[word.rstrip(".")]
            continue
        if match := _ISO.match(word):
            year, month, number = (int(g) for g in match.groups()[:3])
            day, explicit_year = _date(year, month, number), True
            if day is None:
                return None
            if match.group(4):
                at = _time(int(match.group(4)), int(match.group(5)))
            continue
        dotted = _DOTTED.match(word)
        plain = _TIME.match(word)
        if dotted and not marked and ":" not in word and day is None and (
                dotted.group(3) or word.endswith(".") or 1 <= int(dotted.group(2)) <= 12):
            found = _date(int(dotted.group(3) or today.year) + (
                2000 if dotted.group(3) and len(dotted.group(3)) == 2 else 0),
                int(dotted.group(2)), int(dotted.group(1)))
            if found is not None:
                day, explicit_year = found, bool(dotted.group(3))
                continue
        if plain and at is None:
            at = _time(int(plain.group(1)), int(plain.group(2) or 0))
            if at is None:
                return None
            marked = False
            continue
        return None
    if day is None and weekday is None and at is None:
        return None
    mismatch = False
    if weekday is not None:
        if day is not None:
            mismatch = day.weekday() != weekday
        else:
            ahead = (weekday - today.weekday()) % 7
            if ahead == 0 and (at is None or datetime.combine(today, at, tz) <= now):
                ahead = 7
            day = today + timedelta(days=ahead)
    if day is not None and not explicit_year:
        # A date without a year is the next one to come.
        end_of_it = datetime.combine(day, at or time(23, 59), tz)
        if end_of_it < now:
            day = _date(day.year + 1, day.month, day.day) or day
    return Understood(day, at, mismatch)


def moment(understood: Understood, *, now: datetime, tz: tzinfo) -> datetime | None:
    """The moment meant: a day and a time; a time alone is today (tomorrow once it is past)."""
    if understood.at is None:
        return None
    day = understood.day
    if day is None:
        day = now.astimezone(tz).date()
        if datetime.combine(day, understood.at, tz) <= now:
            day += timedelta(days=1)
    return datetime.combine(day, understood.at, tz)


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _time(hour: int, minute: int) -> time | None:
    return time(hour, minute) if 0 <= hour <= 23 and 0 <= minute <= 59 else None


_LINK = re.compile(r"(?:<)?(https?://[^\s<>]+?)(?:>)?[.,;)]*(?=\s|$)")
_JOINERS = r"(?:(?:ja|sekä|och|samt|and)\b|[+&/,;:–-])"


def place_and_link(text: str) -> tuple[str | None, str | None]:
    """"Auditorio B ja https://teams…" → ("Auditorio B", "https://teams…"): the first link,
    and what is left without the words that only joined the two."""
    match = _LINK.search(text)
    if match is None:
        return (" ".join(text.split()) or None), None
    rest = (text[:match.start()] + " " + text[match.end():]).strip()
    rest = re.sub(rf"^(?:{_JOINERS}\s*)+|(?:\s*{_JOINERS})+$", "", rest, flags=re.IGNORECASE)
    return (" ".join(rest.split()) or None), match.group(1)
