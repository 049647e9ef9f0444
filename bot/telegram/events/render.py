"""Events as people see them: the announcement's text, its answer buttons, an event listed in
a person's own chat, a moment shown back to an organiser. Shared by the sender, the staff's
handlers and the organisers' dialogs; nothing here sends."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.events import rsvp
from bot.domain.events.views import Counts, EventView
from bot.domain.models import EventKind
from bot.i18n import _, format_when, gettext
from bot.services import Services
from bot.telegram.callbacks import Action, encode

KIND_NAMES = {
    EventKind.WEBINAR: _("Webinar"),
    EventKind.CAFE: _("Pedagogical café"),
    EventKind.MENTORING: _("Peer-mentoring group"),
    EventKind.THEME_DAY: _("Theme day"),
    EventKind.COACHES_MEETING: _("Coaches' meeting"),
}
RSVP_LABELS = {"yes": _("Coming"), "plus": _("Coming + avec (a colleague)"),
               "no": _("Cannot come")}


_DAY_AND_TIME = {"fi": "EEEE d.M.yyyy 'klo' H.mm", "sv": "EEEE d/M yyyy 'kl.' HH.mm",
                 "en": "EEEE d MMMM yyyy 'at' HH:mm"}


def when(services: Services, event: EventView, lang: str) -> str:
    tz = services.settings.tz
    end = event.ends_at.astimezone(tz)
    return f"{format_when(event.starts_at, lang, tz)}–{end:%H.%M}" if lang != "en" else \
        f"{format_when(event.starts_at, lang, tz)}–{end:%H:%M}"


def understood(services: Services, at: datetime, lang: str) -> str:
    """A moment shown back for confirmation, with weekday and year: 'tiistaina 1.12.2026 klo
    14.00'."""
    return format_datetime(at, _DAY_AND_TIME.get(lang, _DAY_AND_TIME["fi"]),
                           tzinfo=services.settings.tz, locale=lang)


def headline(event: EventView, lang: str) -> str:
    """'Pedagoginen kahvila: arviointi' – the kind is not repeated when the title begins
    with it."""
    kind = gettext(lang, KIND_NAMES[EventKind(event.kind)])
    if event.title.casefold().startswith(kind.casefold()):
        return event.title
    return f"{kind}: {event.title}"


def details(services: Services, event: EventView) -> str:
    lang = event.language
    lines = [f"🗓 {when(services, event, lang)}"]
    if event.place:
        lines.append(f"📍 {event.place}")
    if event.link:
        lines.append(f"💻 {event.link}")
    if event.host_name:
        lines.append(gettext(lang, "Host: {name}", name=event.host_name))
    return "\n".join(lines)


def announcement_text(services: Services, event: EventView, tally: Counts | None) -> str:
    lang = event.language
    title = f"📣 {headline(event, lang)}"
    if event.cancelled:
        title = gettext(lang, "CANCELLED") + " – " + title
    text = title + "\n" + details(services, event)
    if event.registration_closes_at is not None and not event.cancelled:
        text += "\n" + gettext(lang, "Registration closes {when}", when=format_when(
            event.registration_closes_at, lang, services.settings.tz))
    if event.description:
        text += "\n\n" + event.description
    if tally is not None and event.capacity:
        text += "\n\n" + gettext(lang, "Places taken: {seats}/{capacity}", seats=tally.seats,
                                 capacity=event.capacity)
        if tally.waiting:
            text += " · " + gettext(lang, "waiting list: {count}", count=tally.waiting)
    return text[:4096]


def rsvp_buttons(event: EventView, tally: Counts, now: datetime | None = None,
                 lang: str | None = None, chosen: str | None = None
                 ) -> InlineKeyboardMarkup | None:
    """Coming / cannot come, and on a row of its own (its meaning needs the room) coming with
    a colleague; after the registration deadline one button says so. In a person's own chat the
    labels are in their language and their answer is ticked."""
    rows = rsvp_rows(event, tally, now, lang or event.language, chosen)
    return InlineKeyboardMarkup(rows) if rows else None


def rsvp_rows(event: EventView, tally: Counts, now: datetime | None, lang: str,
              chosen: str | None = None) -> list[list[InlineKeyboardButton]]:
    if event.cancelled:
        return []
    shown = {"yes": tally.yes, "plus": tally.plus, "no": tally.no}

    def button(answer: str) -> InlineKeyboardButton:
        tick = "✅ " if answer == chosen or (answer == "yes" and chosen == "waiting") else ""
        return InlineKeyboardButton(f"{tick}{gettext(lang, RSVP_LABELS[answer])} "
                                    f"({shown[answer]})",
                                    callback_data=encode(Action.RSVP, event.id, answer))

    if now is not None and not rsvp.registration_open(event, now):
        return [[InlineKeyboardButton(
            "🔒 " + gettext(lang, "Registration closed ({count} coming)", count=tally.seats),
            callback_data=encode(Action.RSVP, event.id, "closed"))], [button("no")]]
    return [[button("yes"), button("no")], [button("plus")]]


def short_label(text: str, limit: int = 40) -> str:
    """A button's label cut at a word, never inside one: "Pedagoginen kahvila: arviointi…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,.:;–-") + "…"


def personal_keyboard(event: EventView, tally: Counts, now: datetime, lang: str,
                      chosen: str | None) -> InlineKeyboardMarkup:
    """An event in a person's own chat (/events): the announcement's answers, and its
    calendar file."""
    return InlineKeyboardMarkup([
        *rsvp_rows(event, tally, now, lang, chosen),
        [InlineKeyboardButton(f"📅 {short_label(event.title)}",
                              callback_data=encode(Action.ICS, event.id))]])


def listed(services: Services, event: EventView, tally: Counts, lang: str) -> str:
    """One coming event in a person's own chat, in their language."""
    lines = [f"• {headline(event, lang)} — {when(services, event, lang)}"]
    if event.place:
        lines.append(f"📍 {event.place}")
    if event.link:
        lines.append(f"💻 {event.link}")
    if event.registration_closes_at is not None:
        lines.append(gettext(lang, "Registration closes {when}", when=format_when(
            event.registration_closes_at, lang, services.settings.tz)))
    if event.capacity:
        seats = gettext(lang, "Places taken: {seats}/{capacity}", seats=tally.seats,
                        capacity=event.capacity)
        if tally.waiting:
            seats += " · " + gettext(lang, "waiting list: {count}", count=tally.waiting)
        lines.append(seats)
    return "\n".join(lines)[:4096]


def rating_buttons(event_id: int, chosen: int | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(("✅ " if n == chosen else "") + str(n),
                             callback_data=encode(Action.EVENT_RATING, event_id, n))
        for n in range(1, 6)]])
