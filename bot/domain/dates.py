"""Dates as people write them in Finnish, Swedish and English: "1.12. klo 14", "ti 1.12. 14.00",
"huomenna klo 9", "ylihuomenna", "ma klo 10", "ensi tiistaina klo 14", "tisdag 1.12 kl. 14",
"nästa tisdag kl 14", "imorgon kl 9", "next Tuesday at 2 pm", ISO; and lengths as they say them:
"tunti", "puolitoista tuntia", "1,5 h", "90 min", "en timme", "an hour and a half".

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
FILLER = {"ja", "och", "and", "on", "den", "the", "alkaen", "från", "from", "-", "–", "på"}
# "ensi tiistaina", "nästa tisdag", "next Tuesday": the weekday's next day after today (a
# weekday alone may be today, if its time is still ahead). "ensi viikon tiistaina", "nästa
# veckas tisdag", "next week's Tuesday": that weekday in the coming week.
NEXT = {"ensi", "nästa", "next", "seuraavana", "kommande", "tulevana"}
NEXT_WEEK = {"viikon", "veckas", "vecka", "week", "week's"}
_MERIDIEM = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(am|pm)$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ](\d{1,2}):(\d{2}))?$")
_DOTTED = re.compile(r"^(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2})?)?\.?$")
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")
_DAY_NUMBER = re.compile(r"^(\d{1,2})(?:\.|st|nd|rd|th)?$")  # "18", "18.", "18th"
_YEAR = re.compile(r"^\d{4}$")


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
                    if language == "sv" and width == "wide":
                        names[name.lower() + "en"] = number  # "på tisdagen"
    return names


@cache
def _months() -> dict[str, int]:
    """Every month name and abbreviation Babel knows in fi, sv and en, lower case: "18
    December 10:00", "18 december kl 10", "December 18", "18. joulukuuta"."""
    names: dict[str, int] = {}
    for language in ("fi", "sv", "en"):
        months = Locale(language).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in months[context][width].items():
                    names[name.lower().rstrip(".")] = number
    return names


def month_number(word: str) -> int | None:
    """The month a name or abbreviation of it in fi, sv or en stands for ("marraskuu",
    "marraskuuta", "nov.", "December"), or None."""
    return _months().get(word.lower().rstrip("."))


def _day_of_month(words: list[str], index: int, year: int) -> tuple[date | None, int, bool]:
    """A date spelt with a month name at words[index] ("18 december", "december 18", with a
    year after it or not): the date, how many words it took (0: none here), whether it had a
    year."""
    word, months = words[index], _months()
    following = words[index + 1] if index + 1 < len(words) else ""
    if (number := _DAY_NUMBER.match(word)) and following.rstrip(".") in months:
        day, month, taken = int(number.group(1)), months[following.rstrip(".")], 2
    elif word.rstrip(".") in months and (number := _DAY_NUMBER.match(following)):
        day, month, taken = int(number.group(1)), months[word.rstrip(".")], 2
    else:
        return None, 0, False
    after = words[index + taken] if index + taken < len(words) else ""
    explicit = bool(_YEAR.match(after))
    if explicit:
        year, taken = int(after), taken + 1
    return _date(year, month, day), taken, explicit


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
    after: int | None = None  # "ensi": 1, the next one after today; "ensi viikon": the week's
    index = 0
    words = _meridiem_joined(words)
    while index < len(words):
        word = words[index]
        index += 1
        if word == "i" and index < len(words):  # Swedish "i morgon", "i dag"
            word = "i" + words[index]
            index += 1
        if word in NEXT:
            after = 1
            continue
        if word in NEXT_WEEK and after is not None:
            after = 7
            continue
        if match := _MERIDIEM.match(word):
            hour = int(match.group(1)) % 12 + (12 if match.group(3) == "pm" else 0)
            at = _time(hour, int(match.group(2) or 0)) if int(match.group(1)) <= 12 else None
            if at is None:
                return None
            continue
        if word in TIME_MARKERS:
            marked = True
            continue
        if word in FILLER:
            continue
        if word in RELATIVE:
            day = today + timedelta(days=RELATIVE[word])
            explicit_year = True  # "tänään" is this day, never a year on, even once it is past
            continue
        if word.rstrip(".") in _weekdays():
            weekday = _weekdays()[word.rstrip(".")]
            continue
        if day is None:
            spelt, taken, explicit = _day_of_month(words, index - 1, today.year)
            if taken:
                if spelt is None:
                    return None
                day, explicit_year, index = spelt, explicit, index - 1 + taken
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
    if after is not None and weekday is None:
        return None  # "ensi" needs its weekday: "ensi viikolla" is not a day
    if weekday is not None:
        if day is not None:
            mismatch = day.weekday() != weekday
        elif after == 7:
            day = today + timedelta(days=7 - today.weekday() + weekday)
        else:
            ahead = (weekday - today.weekday()) % 7
            if ahead == 0 and (after is not None or at is None
                               or datetime.combine(today, at, tz) <= now):
                ahead = 7
            day = today + timedelta(days=ahead)
    if day is not None and not explicit_year:
        # A date without a year is the next one to come.
        end_of_it = datetime.combine(day, at or time(23, 59), tz)
        if end_of_it < now:
            day = _date(day.year + 1, day.month, day.day) or day
    return Understood(day, at, mismatch)


def _meridiem_joined(words: list[str]) -> list[str]:
    """"2 pm" and "2 p.m." as one word, "2pm"."""
    joined: list[str] = []
    for word in words:
        if word in ("am", "pm", "a.m.", "p.m.") and joined and _TIME.match(joined[-1]):
            joined[-1] += word.replace(".", "")
        else:
            joined.append(word.replace("a.m.", "am").replace("p.m.", "pm"))
    return joined


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


# --- lengths ------------------------------------------------------------------------------------

HOURS = {"h", "t", "tunti", "tuntia", "tunnin", "tunnit", "tuntii", "timme", "timmar", "timmen",
         "tim", "hour", "hours", "hr", "hrs"}
MINUTES = {"min", "mins", "minuutti", "minuuttia", "minuutin", "minuutit", "minuter", "minut",
           "minuten", "minute", "minutes", "m"}
QUARTERS = {"vartti", "vartin", "varttia", "kvart", "kvarts", "quarter"}  # 15 minutes each
HALF_HOURS = {"halvtimme", "halvtimmen", "halvtimmes"}
NUMBER_WORDS = {
    "yksi": 1, "yhden": 1, "kaksi": 2, "kahden": 2, "kolme": 3, "kolmen": 3, "neljä": 4,
    "neljän": 4, "viisi": 5, "viiden": 5, "kuusi": 6, "kuuden": 6,
    "puolitoista": 1.5, "puolentoista": 1.5, "puoli": 0.5, "puolen": 0.5,
    "ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "halvannan": 1.5,
    "halv": 0.5, "halvt": 0.5,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "half": 0.5,
}
ARTICLES = {"a", "an", "en"}  # "an hour", "en timme": one; "a half", "en halv": a half
LENGTH_FILLER = {"ja", "och", "and", "noin", "ungefär", "about", "n.", "ca", "ca.", "kesto",
                 "kestää", "of", "the"}
MAX_LENGTH = timedelta(days=7)
_PIECES = re.compile(r"\d+(?:[.,]\d+)?|[^\d\s]+")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def length(text: str) -> timedelta | None:
    """How long something lasts, as organisers write it: "90", "90 min", "1,5 h", "1h30",
    "1:30", "tunti", "puolitoista tuntia", "kaksi ja puoli tuntia", "tunti ja vartti",
    "en timme", "en och en halv timme", "tre kvart", "an hour and a half", "half an hour".
    A bare number up to 12 is hours, a larger one minutes. None when something is not
    understood (the person is asked again, and what is understood is shown back)."""
    words: list[str] = []
    for word in text.lower().replace("½", " half").split():
        word = word.strip(",;")
        words += [word] if _CLOCK.match(word) else _PIECES.findall(word)  # "1h30": 1 h 30
    total = 0.0  # minutes
    pending: float | None = None  # a number waiting for its unit
    last_unit: float | None = None
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if clock := _CLOCK.match(word):
            total += int(clock.group(1)) * 60 + int(clock.group(2))
            last_unit = 1
            continue
        number = _number(word)
        if word in ARTICLES:
            if following in ("half", "halv", "halvt") or pending == 0.5:  # "half an hour"
                continue
            number = 1
        if number is not None:
            pending = (pending or 0) + number
            continue
        if word in HOURS or word in MINUTES:
            unit = 60.0 if word in HOURS else 1.0
            if word in ("m", "t") and pending is None:
                return None  # a lone letter is not a length
            total += (1 if pending is None else pending) * unit
            pending, last_unit = None, unit
            continue
        if word in QUARTERS:
            total += (1 if pending is None else pending) * 15
            pending, last_unit = None, 15
            continue
        if word in HALF_HOURS:
            total += (1 if pending is None else pending) * 30
            pending, last_unit = None, 30
            continue
        if word in LENGTH_FILLER:
            continue
        return None
    if pending is not None:
        if last_unit == 60 and pending == 0.5:
            total += 30  # "an hour and a half", "tunti ja puoli"
        elif last_unit == 60:
            total += pending  # "1 h 30": the minutes after the hours
        elif last_unit is not None:
            return None
        else:
            total += pending * (60 if pending <= 12 else 1)
    result = timedelta(minutes=round(total))
    return result if timedelta(0) < result <= MAX_LENGTH else None


def _number(word: str) -> float | None:
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    try:
        value = float(word.replace(",", "."))
    except ValueError:
        return None
    return value if value >= 0 and value == value and value < 10_000 else None


def say_length(value: timedelta, lang: str) -> str:
    """A length shown back for confirmation: "1 t 30 min", "1 h 30 min", "90 min" → "1 h 30
    min"."""
    minutes = round(value.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    hour = "t" if lang == "fi" else "h"
    parts = ([f"{hours} {hour}"] if hours else []) + ([f"{rest} min"] if rest else [])
    return " ".join(parts) or "0 min"
