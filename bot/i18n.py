"""Text shown to people, from the gettext catalogs in bot/locale (fi, sv, en), read with Babel."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from bot import DEFAULT_LANGUAGE, LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "peerdesk"


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of one language; .po files are compiled in memory, once."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(language: str, message: str, /, **values: object) -> str:
    """`message` in `language`, with `{placeholders}` filled in."""
    text = translations(language).gettext(message)
    return text.format(**values) if values else text


def ngettext(language: str, singular: str, plural: str, n: int, /, **values: object) -> str:
    """The form of `singular`/`plural` that `n` takes in `language` ("1 kysymys", "2 kysymystä"),
    with `{placeholders}` filled in."""
    text = translations(language).ngettext(singular, plural, n)
    return text.format(**values) if values else text


def _(message: str) -> str:
    """Marks a message for extraction where it is defined but translated later."""
    return message


_WHEN = {"fi": "EEEE d.M. 'klo' H.mm", "sv": "EEEE d/M 'kl.' HH.mm", "en": "EEEE d MMMM 'at' HH:mm"}


@lru_cache(maxsize=512)
def format_when(at: datetime, language: str, tz: tzinfo) -> str:
    """A moment as people say it: 'tiistai 24.11. klo 8.00'. Kept: every question asked out of
    office hours is told the same next opening, and Babel takes a while to say it."""
    return format_datetime(at, _WHEN.get(language, _WHEN[DEFAULT_LANGUAGE]),
                           tzinfo=tz, locale=language)


def format_age(minutes: float, language: str) -> str:
    """How long something has waited: '2 h 5 min', '3 d'."""
    minutes = int(minutes)
    if minutes >= 48 * 60:
        return gettext(language, "{days} d", days=minutes // (24 * 60))
    if minutes >= 60:
        return gettext(language, "{hours} h {minutes} min", hours=minutes // 60,
                       minutes=minutes % 60)
    return gettext(language, "{minutes} min", minutes=minutes)
