"""`/hours`: when helpers are around this week and the next break; and the jobs that keep the
school's calendar in the office hours (reloaded from the database, the feed fetched daily)."""

from __future__ import annotations

import logging
from datetime import date

from babel.dates import format_date, format_time
from telegram import Update
from telegram.ext import Application

from bot.domain import intake, schoolyear
from bot.i18n import _, gettext
from bot.services import Services
from bot.telegram.context import PeerdeskContext, message_of, user_of

logger = logging.getLogger(__name__)

RELOAD_SECONDS = 60  # another process (the command line, a replica) may have imported
FETCH_SECONDS = 24 * 60 * 60
_DAY_FORMAT = {"fi": "EEEEEE d.M.", "sv": "EEE d/M", "en": "EEE d MMM"}
_DATE_FORMAT = {"fi": "d.M.", "sv": "d/M", "en": "d MMM"}
_TIME_FORMAT = {"fi": "H.mm", "sv": "HH.mm", "en": "HH:mm"}


async def reload_calendar(services: Services) -> None:
    """Office hours with every closed day as stored now; the settings are swapped only when the
    calendar changed (the handlers read `services.settings` afresh each time)."""
    today = services.clock().astimezone(services.settings.tz).date()
    async with services.db.reading() as session:
        closed = await schoolyear.closed_dates(session=session, today=today)
    if closed != services.settings.hours.closed:
        services.settings = services.settings.with_closed_days(closed)
        logger.info("school calendar loaded: %d closed days", len(closed))


async def import_calendar(services: Services, *, source: str,
                          data: bytes) -> schoolyear.Imported:
    """Store a calendar's closures under `source`, and use them at once."""
    async with services.db.session() as session:
        imported = await schoolyear.import_calendar(session=session, source=source, data=data)
    await reload_calendar(services)
    return imported


async def reload_job(context: PeerdeskContext) -> None:
    """Pick up closures imported by another process."""
    await reload_calendar(context.services)


async def fetch_job(context: PeerdeskContext) -> None:
    """Read the school's calendar feed (PEERDESK_CALENDAR_URL); on failure the days stored
    last time stay."""
    services = context.services
    url = services.settings.calendar_url
    if url is None:
        return
    try:
        imported = await import_calendar(services, source=url,
                                         data=await schoolyear.fetch(url))
    except schoolyear.CalendarError as exc:  # the address may hold a secret: not logged
        logger.warning("the school calendar feed was not read: %s", exc)
        return
    logger.info("school calendar feed read: %d closures%s", imported.count,
                "" if imported.changed else ", unchanged")


def _days(days: frozenset[int], lang: str) -> str:
    """'ma–pe', 'mån–fre', 'Mon–Fri' (a pattern is one run of days)."""
    monday = date(2024, 1, 1)  # any Monday: weekday names from Babel
    names = [format_date(monday.replace(day=1 + d), "EEEEEE" if lang == "fi" else "EEE",
                         locale=lang) for d in sorted(days)]
    return names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"


def _span(first: date, last: date, lang: str) -> str:
    pattern = _DATE_FORMAT.get(lang, _DATE_FORMAT["fi"])
    one = format_date(first, pattern, locale=lang)
    if first == last:
        return one
    other = format_date(last, pattern, locale=lang)
    return f"{one} – {other}" if lang == "en" else f"{one}–{other}"


def hours_text(services: Services, lang: str, rows: list[schoolyear.StoredClosure],
               today: date) -> str:
    """What /hours says, in `lang`."""
    hours = services.settings.hours
    clock = _TIME_FORMAT.get(lang, _TIME_FORMAT["fi"])
    opens, closes = (format_time(t, clock, locale=lang) for t in (hours.opens, hours.closes))
    names = schoolyear.day_names(rows, today, lang)
    span = gettext(lang, "{opens}–{closes}", opens=opens, closes=closes)
    lines = [gettext(lang, "Helpers are around {days}, {hours}.", days=_days(hours.days, lang),
                     hours=span), ""]
    days = schoolyear.week_days(hours, today)
    this_week = days[0].isocalendar()[:2] == today.isocalendar()[:2]
    lines.append(gettext(lang, _("This week:") if this_week else _("Next week:")))
    for day in days:
        label = format_date(day, _DAY_FORMAT.get(lang, _DAY_FORMAT["fi"]), locale=lang)
        if hours.is_open_on(day):
            lines.append(f"• {label} {span}")
        elif names.get(day):
            lines.append("• " + gettext(lang, "{day}: day off ({name})", day=label,
                                        name=names[day]))
        else:
            lines.append("• " + gettext(lang, "{day}: day off", day=label))
    found = schoolyear.next_break(hours, today, names)
    if found is not None:
        what = f"{found.name} {_span(found.first, found.last, lang)}".strip()
        reopens = format_date(found.reopens, _DATE_FORMAT.get(lang, _DATE_FORMAT["fi"]),
                              locale=lang)
        text = (_("A break is on now: {what}. Questions are saved, and answers come from "
                  "{reopens} on.") if found.first <= today else
                _("Next break: {what}. Questions are saved then too, and answers come from "
                  "{reopens} on."))
        lines += ["", gettext(lang, text, what=what, reopens=reopens)]
    lines += ["", gettext(lang, "You can write at any time: every question is saved and "
                                "answered in turn.")]
    return "\n".join(lines)


async def hours_command(update: Update, context: PeerdeskContext) -> None:
    """When helpers are around this week, and the next break."""
    services, user = context.services, user_of(update)
    today = services.clock().astimezone(services.settings.tz).date()
    async with services.db.reading() as session:
        lang = await intake.language_of(session=session, telegram_id=user.id,
                                        telegram_language=user.language_code)
        rows = await schoolyear.stored_closures(session=session, since=today)
    await message_of(update).reply_text(hours_text(services, lang, rows, today))


async def initialize(application: Application) -> None:
    """The school's calendar into the office hours before the first update."""
    await reload_calendar(application.bot_data["services"])
