"""Announcements in Telegram: rendering the outbox's announcements, RSVP buttons, /events
with .ics files and materials, /attendees (who came, what they thought), /materials after an
event, "I'm here" and the feedback question, and the guided /newevent, /bulletin and
/materials dialogs (their state in the database, bot.telegram.dialogs; /cancel at every step,
and put aside kindly after a quiet while).

What is sent when lives in bot.domain.events (the outbox); this module renders and sends.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from babel.dates import format_datetime
from babel.numbers import format_decimal
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationHandlerStop

from bot.calendar import calendar
from bot.domain import dialogs as dialogs_domain
from bot.domain import events as domain
from bot.domain.dates import length, moment, place_and_link, say_length, understand
from bot.domain.events import Counts, EventError, EventSpec, EventView
from bot.domain.intake import language_of, remember_staff
from bot.domain.models import EventKind, OutboxKind
from bot.domain.outbox import Claimed
from bot.domain.reports import Period, monthly_report
from bot.i18n import _, format_when, gettext, ngettext
from bot.services import Services
from bot.telegram import dialogs
from bot.telegram.context import (
    PeerdeskContext,
    message_of,
    query_message,
    query_of,
    text_of,
    user_of,
)
from bot.telegram.dialogs import Turn
from bot.telegram.keyboards import take_away_buttons
from bot.telegram.sender import Sent

logger = logging.getLogger(__name__)

KIND_NAMES = {
    EventKind.WEBINAR: _("Webinar"),
    EventKind.CAFE: _("Pedagogical café"),
    EventKind.MENTORING: _("Peer-mentoring group"),
    EventKind.THEME_DAY: _("Theme day"),
    EventKind.COACHES_MEETING: _("Coaches' meeting"),
}
RSVP_LABELS = {"yes": _("Coming"), "plus": _("Coming + avec (a colleague)"),
               "no": _("Cannot come")}
KINDS = (OutboxKind.ANNOUNCE, OutboxKind.REMINDER, OutboxKind.CHANGE, OutboxKind.CANCEL,
         OutboxKind.BULLETIN, OutboxKind.COUNTS, OutboxKind.CLOSES, OutboxKind.OFFER,
         OutboxKind.OFFER_LAPSED, OutboxKind.MATERIALS, OutboxKind.FEEDBACK)  # sent from here
PERSONAL = ("offer", "offer_lapsed", "materials", "feedback")  # outbox rows to one person
_DAY_AND_TIME = {"fi": "EEEE d.M.yyyy 'klo' H.mm", "sv": "EEEE d/M yyyy 'kl.' HH.mm",
                 "en": "EEEE d MMMM yyyy 'at' HH:mm"}
REMINDER, CHANGED, CANCELLED = _("Reminder"), _("Changed"), _("Cancelled")
UPCOMING_SHOWN = 8  # coming events in /events, one message each


def _services(application: Application) -> Services:
    return application.bot_data["services"]


# --- rendering -----------------------------------------------------------------------------------

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
    rows = _rsvp_rows(event, tally, now, lang or event.language, chosen)
    return InlineKeyboardMarkup(rows) if rows else None


def _rsvp_rows(event: EventView, tally: Counts, now: datetime | None, lang: str,
               chosen: str | None = None) -> list[list[InlineKeyboardButton]]:
    if event.cancelled:
        return []
    shown = {"yes": tally.yes, "plus": tally.plus, "no": tally.no}

    def button(answer: str) -> InlineKeyboardButton:
        tick = "✅ " if answer == chosen or (answer == "yes" and chosen == "waiting") else ""
        return InlineKeyboardButton(f"{tick}{gettext(lang, RSVP_LABELS[answer])} "
                                    f"({shown[answer]})",
                                    callback_data=f"rsvp:{event.id}:{answer}")

    if now is not None and not domain.registration_open(event, now):
        return [[InlineKeyboardButton(
            "🔒 " + gettext(lang, "Registration closed ({count} coming)", count=tally.seats),
            callback_data=f"rsvp:{event.id}:closed")], [button("no")]]
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


def _personal_keyboard(event: EventView, tally: Counts, now: datetime, lang: str,
                       chosen: str | None) -> InlineKeyboardMarkup:
    """An event in a person's own chat (/events): the announcement's answers, and its
    calendar file."""
    return InlineKeyboardMarkup([
        *_rsvp_rows(event, tally, now, lang, chosen),
        [InlineKeyboardButton(f"📅 {short_label(event.title)}", callback_data=f"ics:{event.id}")]])


async def _agenda(services: Services, event: EventView) -> str:
    """The month's most asked topics, as the agenda of the coaches' monthly meeting."""
    lang = event.language
    async with services.db.reading() as session:
        report = await monthly_report(session=session, period=Period.containing(
            services.clock(), services.settings.tz), trend_months=0, now=services.clock())
    if not report.by_topic:
        return ""
    top = "\n".join(f"{n}. {services.topic_name(c.key, lang)} ({c.count})"
                    for n, c in enumerate(report.by_topic[:5], start=1))
    text = "\n\n" + gettext(lang, "Agenda: this month's most asked topics") + "\n" + top
    if report.gap_topics or report.gap_answers:  # beside them, what self-service lacks
        text += "\n\n" + gettext(lang, "Gaps in the self-service answers:") + "".join(
            [f"\n• {services.topic_name(c.key, lang)} ({c.count})" for c in report.gap_topics]
            + ["\n• " + gettext(lang, "{answer}: {count} still wanted a helper",
                                 answer=a.answer_id, count=a.wanted)
               for a in report.gap_answers])
    return text


async def _reminder_text(services: Services, event: EventView) -> str:
    lang = event.language
    text = f"⏰ {gettext(lang, REMINDER)}: {event.title}\n" + details(services, event)
    if event.pre_reading and event.pre_reading.startswith("http"):
        text += "\n\n" + gettext(lang, "Reading ahead: {link}", link=event.pre_reading)
    if event.kind == EventKind.COACHES_MEETING:
        text += await _agenda(services, event)
    return text[:4096]


# --- the sender ----------------------------------------------------------------------------------

async def send_announcement(application: Application, item: Claimed) -> Sent:
    """The sender's renderer for announcements, reminders, changes, cancellations, counts,
    bulletins, and what follows an event; keeps the announcement's message id (to edit it)."""
    return Sent(message_id=await _deliver(application, item))


async def _deliver(application: Application, item: Claimed) -> int | None:
    """Send one outbox row; returns the message id worth keeping (announcements)."""
    services, bot = _services(application), application.bot
    async with services.db.session() as session:
        event = await domain.event_of(session=session, event_id=item.event_id) \
            if item.event_id else None
        bulletin = await domain.bulletin_of(session=session, bulletin_id=item.bulletin_id) \
            if item.bulletin_id else None
        tally = await domain.counts(session=session, event_id=event.id) if event else None
        announced = dict(await domain.announcements(session=session, event_id=event.id)) \
            if event else {}
    if item.kind == "bulletin" and bulletin is not None:
        text = "📢 " + bulletin.text + (f"\n\n{bulletin.link}" if bulletin.link else "")
        return (await bot.send_message(item.chat_id, text[:4096])).message_id
    if event is None:
        return None
    assert tally is not None
    now = services.clock()
    if item.kind in PERSONAL:
        return await _to_person(application, item, event)
    if item.kind == "announce":
        message = await bot.send_message(item.chat_id, announcement_text(services, event, tally),
                                         reply_markup=rsvp_buttons(event, tally, now))
        return message.message_id
    if item.kind == "reminder":
        markup = await _presence_button(services, item, event)
        if item.chat_id > 0:  # a person's own chat: they can answer here, as under the post
            rows = _rsvp_rows(event, tally, now, event.language)
            markup = InlineKeyboardMarkup(rows + (list(markup.inline_keyboard) if markup
                                                  else [])) if rows else markup
        await bot.send_message(item.chat_id, await _reminder_text(services, event),
                               reply_to_message_id=announced.get(item.chat_id),
                               allow_sending_without_reply=True, reply_markup=markup)
        if event.pre_reading and not event.pre_reading.startswith("http"):
            await bot.send_document(item.chat_id, event.pre_reading)  # a Telegram file id
        return None
    if item.kind in ("change", "cancel", "counts", "closes"):
        if item.chat_id in announced:
            try:
                await bot.edit_message_text(announcement_text(services, event, tally),
                                            item.chat_id, announced[item.chat_id],
                                            reply_markup=rsvp_buttons(event, tally, now))
            except BadRequest as exc:
                if "not modified" not in str(exc):
                    logger.warning("announcement of event %s not edited: %s", event.id, exc)
        if item.kind == "change":
            await bot.send_message(item.chat_id, f"✏️ {gettext(event.language, CHANGED)}: "
                                   f"{event.title}\n" + details(services, event),
                                   reply_to_message_id=announced.get(item.chat_id),
                                   allow_sending_without_reply=True)
        elif item.kind == "cancel":
            await bot.send_message(item.chat_id, f"❌ {gettext(event.language, CANCELLED)}: "
                                   f"{event.title} ({when(services, event, event.language)})",
                                   reply_to_message_id=announced.get(item.chat_id),
                                   allow_sending_without_reply=True)
    return None


async def _presence_button(services: Services, item: Claimed, event: EventView
                           ) -> InlineKeyboardMarkup | None:
    """The last reminder before the event carries "I'm here", pressed on arrival."""
    async with services.db.session() as session:
        key = await domain.outbox_key(session=session, outbox_id=item.id)
    if not event.reminders or int(key.rsplit(":", 1)[1]) != min(event.reminders):
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        "🙋 " + gettext(event.language, "I'm here"), callback_data=f"here:{event.id}")]])


async def _to_person(application: Application, item: Claimed, event: EventView) -> int | None:
    """A message to one attendee, in their own language: a place offered from the waiting
    list (or passed on), the materials, the feedback question."""
    services, bot = _services(application), application.bot
    tz = services.settings.tz
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=item.chat_id,
                                 telegram_language=None)
        material = await domain.material_of(session=session, outbox_id=item.id) \
            if item.kind == "materials" else None
        offer = await domain.offer(session=session, event_id=event.id,
                                   user_id=item.chat_id) if item.kind == "offer" else None
    title = f"{event.title} ({when(services, event, lang)})"
    if item.kind == "offer":
        if offer is None or event.starts_at <= services.clock():
            return None  # they said no meanwhile, or it is too late to matter
        if offer.until is None:
            text = gettext(lang, "A place opened up: you are now coming to {title}.", title=title)
            return (await bot.send_message(item.chat_id, text)).message_id
        text = gettext(lang, "A place opened up for you at {title}! Can you still come? Please "
                             "answer by {deadline}; after that the place passes to the next "
                             "person in line.", title=title,
                       deadline=format_when(offer.until, lang, tz))
        buttons = InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Yes, I'm coming"),
                                 callback_data=f"offer:{event.id}:yes"),
            InlineKeyboardButton(gettext(lang, "I can't come after all"),
                                 callback_data=f"offer:{event.id}:no")]])
        return (await bot.send_message(item.chat_id, text, reply_markup=buttons)).message_id
    if item.kind == "offer_lapsed":
        text = gettext(lang, "We did not hear from you in time, so your place at {title} passed "
                             "to the next person in line. If you can still come, press “Coming” "
                             "under the announcement again.", title=title)
        return (await bot.send_message(item.chat_id, text)).message_id
    if item.kind == "materials":
        if material is None:
            return None
        text = "📎 " + gettext(lang, "Materials from {title}. You can find them later under "
                                    "/events too.", title=title)
        if material.link:
            return (await bot.send_message(item.chat_id, text + "\n" + material.link)
                    ).message_id
        return (await bot.send_document(item.chat_id, material.file_id, caption=text[:1024])
                ).message_id
    # The feedback question: a reply to it is taken as a comment (feedback_reply).
    text = gettext(lang, "How was {title}? Tap 1–5 (5 = very good). If you like, reply to "
                         "this message with a few words; the host sees them without your name.",
                   title=title)
    return (await bot.send_message(item.chat_id, text,
                                   reply_markup=_rating_buttons(event.id))).message_id


def _rating_buttons(event_id: int, chosen: int | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(("✅ " if n == chosen else "") + str(n),
                             callback_data=f"fb:{event_id}:{n}") for n in range(1, 6)]])


# --- staff: RSVP, /events, .ics ------------------------------------------------------------------

async def rsvp_button(update: Update, context: PeerdeskContext) -> None:
    """Coming / coming with a colleague / cannot come: counts follow on the announcement."""
    query, services = query_of(update), context.services
    _, event_id, answer = (query.data or "").split(":")
    user = query.from_user
    confirm = timedelta(hours=services.settings.place_confirm_hours)
    async with services.db.session() as session:
        await remember_staff(session=session, telegram_id=user.id, first_name=user.first_name,
                             telegram_language=user.language_code)
        event = await domain.event_of(session=session, event_id=int(event_id))
        result = None if answer == "closed" else await domain.rsvp(
            session=session, event_id=int(event_id), user_id=user.id, answer=answer,
            now=services.clock(), confirm_within=confirm)
        if result is not None and not result.closed:
            await domain.refresh_counts(session=session, event_id=int(event_id),
                                        now=services.clock())
        private = query.message is not None and query.message.chat.type == ChatType.PRIVATE
        own = await language_of(session=session, telegram_id=user.id,
                                telegram_language=user.language_code) if private else None
    services.wake_sender()  # the counts on the announcements, and a place offered
    lang = own or (event.language if event else services.settings.helpers_language)
    if event is not None and not event.cancelled and event.starts_at > services.clock() and (
            answer == "closed" or (result is not None and result.closed)):
        await query.answer(gettext(lang, "Registration for this event has closed. If you would "
                                         "still like to come, please ask the host."),
                           show_alert=True)
        return
    if result is None:
        await query.answer(gettext(lang, "This event is over or cancelled."), show_alert=True)
        return
    if answer == "no":
        text = gettext(lang, "Thank you for letting us know.")
    elif result.waiting:
        text = gettext(lang, "The event is full: you are on the waiting list and will hear if a "
                             "place opens up.")
    else:
        text = gettext(lang, "Welcome! See you there.")
    await query.answer(text, show_alert=result.waiting)
    if event is not None and private:
        await _follow_in_private(query, services, event, result, user.id)


async def _follow_in_private(query: CallbackQuery, services: Services, event: EventView,
                             result: domain.RsvpResult, user_id: int) -> None:
    """In a person's own chat (/events, a reminder) the buttons show the new counts and their
    answer, as the announcement does."""
    message = query_message(query)
    async with services.db.session() as session:
        chosen = await domain.answer_of(session=session, event_id=event.id, user_id=user_id)
    now = services.clock()
    from_events = any(b.callback_data == f"ics:{event.id}"
                      for row in (message.reply_markup.inline_keyboard
                                  if message.reply_markup else ()) for b in row)
    lang = _button_language(message, event)
    if from_events:
        markup = _personal_keyboard(event, result.counts, now, lang, chosen)
    else:
        kept = [row for row in (message.reply_markup.inline_keyboard if message.reply_markup
                                else ()) if not any(str(b.callback_data).startswith("rsvp:")
                                                    for b in row)]
        markup = InlineKeyboardMarkup(_rsvp_rows(event, result.counts, now, lang, chosen)
                                      + list(kept))
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise


def _button_language(message: Message, event: EventView) -> str:
    """The language the buttons were drawn in: the one whose "Cannot come" they show."""
    labels = " ".join(str(b.text) for row in (message.reply_markup.inline_keyboard
                                              if message.reply_markup else ()) for b in row)
    for lang in ("fi", "sv", "en"):
        if gettext(lang, RSVP_LABELS["no"]) in labels:
            return lang
    return event.language


async def offer_button(update: Update, context: PeerdeskContext) -> None:
    """Yes / no to a place offered from the waiting list."""
    query, services = query_of(update), context.services
    _, event_id, answer = (query.data or "").split(":")
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        taken = await domain.answer_offer(
            session=session, event_id=int(event_id), user_id=query.from_user.id,
            accept=answer == "yes", now=services.clock(),
            confirm_within=timedelta(hours=services.settings.place_confirm_hours))
        if taken is False:
            await domain.refresh_counts(session=session, event_id=int(event_id),
                                        now=services.clock())
    services.wake_sender()  # the place passed on, or the counts
    if taken is None:
        await query.answer(gettext(lang, "This place is no longer held for you. You can still "
                                         "answer under the announcement."), show_alert=True)
        return
    await query.answer()
    await take_away_buttons(query)
    await query_message(query).reply_text(
        gettext(lang, "Wonderful, the place is yours. See you there!") if taken
        else gettext(lang, "Thank you for letting us know; the place goes to the next person."))


async def here_button(update: Update, context: PeerdeskContext) -> None:
    """"I'm here" under the last reminder, during the event."""
    query, services = query_of(update), context.services
    user = query.from_user
    async with services.db.session() as session:
        await remember_staff(session=session, telegram_id=user.id, first_name=user.first_name,
                             telegram_language=user.language_code)
        presence = await domain.mark_present(session=session, event_id=int((query.data or "")[5:]),
                                             user_id=user.id, now=services.clock())
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
    event = presence.event
    if event is None or presence.too_late:
        text = gettext(lang, "This event is over. Thank you for your interest!")
    elif presence.too_early:
        text = gettext(lang, "Not quite yet: you can mark yourself present from {time}.",
                       time=format_when(event.starts_at - domain.PRESENCE_EARLY, lang,
                                        services.settings.tz))
    else:
        text = gettext(lang, "Welcome, {name}! You are marked present.",
                       name=user.first_name or "")
    await query.answer(text, show_alert=not presence.marked)


async def rating_button(update: Update, context: PeerdeskContext) -> None:
    """1–5 under the feedback question; a later press changes the answer."""
    query, services = query_of(update), context.services
    _, event_id, rating = (query.data or "").split(":")
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        recorded = await domain.rate(session=session, event_id=int(event_id),
                                     user_id=query.from_user.id, rating=int(rating),
                                     now=services.clock())
    if not recorded:  # an unknown event is not recorded either
        await query.answer()
        return
    await query.answer(gettext(lang, "Thank you! If you like, reply to the question with a "
                                     "comment."))
    try:
        await query.edit_message_reply_markup(_rating_buttons(int(event_id), int(rating)))
    except BadRequest as exc:  # the same rating pressed again
        if "not modified" not in str(exc):
            raise


async def feedback_reply(update: Update, context: PeerdeskContext) -> None:
    """A reply to the feedback question is a comment for the host. Runs before the helpers'
    relay and intake (handler group FEEDBACK_GROUP); any other reply goes on to them."""
    message, services = message_of(update), context.services
    if message.reply_to_message is None:
        return
    async with services.db.session() as session:
        event_id = await domain.feedback_question(
            session=session, chat_id=message.chat_id,
            message_id=message.reply_to_message.message_id)
        if event_id is None:
            return
        await domain.comment(session=session, event_id=event_id,
                             user_id=user_of(update).id, text=message.text or "",
                             now=services.clock())
        lang = await language_of(session=session, telegram_id=user_of(update).id,
                                 telegram_language=user_of(update).language_code)
    await message.reply_text(gettext(lang, "Thank you, I passed your comment on to the host "
                                           "(without your name)."))
    raise ApplicationHandlerStop


async def events_command(update: Update, context: PeerdeskContext) -> None:
    """/events: each coming event with the announcement's answer buttons (waiting list, avec
    and deadline as there) and its calendar file; then recent events whose materials can be
    fetched."""
    services = context.services
    user = user_of(update)
    now = services.clock()
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
        upcoming = await domain.upcoming(session=session, now=now, limit=UPCOMING_SHOWN)
        past = await domain.past_with_materials(session=session, now=now)
        shown = [(event, await domain.counts(session=session, event_id=event.id),
                  await domain.answer_of(session=session, event_id=event.id, user_id=user.id))
                 for event in upcoming]
    past = [e for e in past if e.id not in {u.id for u in upcoming}]
    message = message_of(update)
    if not upcoming and not past:
        await message.reply_text(gettext(lang, "No events are coming up just now."))
        return
    if upcoming:
        await message.reply_text(gettext(lang, "Coming up:"))
    for event, tally, chosen in shown:
        await message.reply_text(_listed(services, event, tally, lang),
                                 reply_markup=_personal_keyboard(event, tally, now, lang, chosen))
    if past:
        lines = [gettext(lang, "Held recently, with materials:")]
        buttons = []
        for event in past:
            lines.append(f"• {headline(event, lang)} — {when(services, event, lang)}")
            buttons.append([InlineKeyboardButton(f"📎 {short_label(event.title)}",
                                                 callback_data=f"mat:{event.id}")])
        await message.reply_text("\n".join(lines), reply_markup=InlineKeyboardMarkup(buttons))


def _listed(services: Services, event: EventView, tally: Counts, lang: str) -> str:
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


async def materials_button(update: Update, context: PeerdeskContext) -> None:
    """Send an event's materials to whoever asks from /events."""
    query, services = query_of(update), context.services
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        event = await domain.event_of(session=session,
                                      event_id=int((query.data or "").split(":")[1]))
        found = await domain.materials(session=session, event_id=event.id) if event else []
    await query.answer()
    if event is None or not found:
        return
    links = [m.link for m in found if m.link]
    title = f"📎 {headline(event, lang)} ({when(services, event, lang)})"
    await context.bot.send_message(query.from_user.id, "\n".join([title, *links]))
    for material in found:
        if material.file_id:
            await context.bot.send_document(query.from_user.id, material.file_id)


async def ics_button(update: Update, context: PeerdeskContext) -> None:
    """Send one event as an .ics file."""
    query, services = query_of(update), context.services
    async with services.db.session() as session:
        event = await domain.event_of(session=session,
                                      event_id=int((query.data or "").split(":")[1]))
    if event is None or event.cancelled:
        await query.answer(gettext(services.settings.helpers_language,
                                   "This event is over or cancelled."), show_alert=True)
        return
    await query.answer()
    await context.bot.send_document(query.from_user.id, calendar([event], event.title),
                                    filename=f"peerdesk-{event.id}.ics")


def _may_manage(services: Services, user_id: int, event: EventView) -> bool:
    """The host, an organiser or an admin."""
    return event.host_id == user_id or _organiser(services, user_id)


def _presence_keyboard(event_id: int, people: list[domain.Person]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(("✅ " if p.present else "▫️ ") + p.name[:24],
                                    callback_data=f"came:{event_id}:{p.user_id}")
               for p in people[:60]]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


async def attendees_command(update: Update, context: PeerdeskContext) -> None:
    """/attendees (also /feedback): who is coming to the events I host; for those under way or
    held, who came (a button per person marks them) and the feedback (admins: all events)."""
    services, user = context.services, user_of(update)
    everyone = _organiser(services, user.id)
    now = services.clock()
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
        held = await domain.recent(session=session, now=now, days=7,
                                   host_id=None if everyone else user.id)
        coming = [e for e in await domain.upcoming(session=session, now=now,
                                                   host_id=None if everyone else user.id)
                  if e.id not in {h.id for h in held}]
        listing = [(event, await domain.people(session=session, event_id=event.id),
                    await domain.feedback(session=session, event_id=event.id))
                   for event in [*held[::-1], *coming]]
    if not listing:
        await message_of(update).reply_text(gettext(lang, "You host no upcoming events."))
        return
    marks = {"yes": "", "plus": " +1"}
    for event, people, summary in listing:
        names = ", ".join(p.name + marks.get(p.answer or "", "") + (
            " (" + gettext(lang, "waiting") + ")" if p.waiting else "") for p in people
            if p.answer is not None) or "–"
        text = f"{headline(event, lang)} ({when(services, event, lang)}): {names}"
        started = event.id in {h.id for h in held}
        if started:
            said_yes = {p.user_id for p in people
                         if p.answer in ("yes", "plus") and not p.waiting}
            text += "\n" + gettext(
                lang, "Came: {came} of the {said} who said they would come; without saying: "
                      "{walk_ins}", said=len(said_yes),
                came=sum(p.present for p in people if p.user_id in said_yes),
                walk_ins=sum(p.present for p in people if p.user_id not in said_yes))
            if summary.count:
                text += "\n" + ngettext(lang, "Feedback: {average} / 5 from {count} answer",
                                        "Feedback: {average} / 5 from {count} answers",
                                        summary.count,
                                        average=format_decimal(summary.average or 0,
                                                               format="#,##0.#", locale=lang),
                                        count=summary.count)
            text += "".join(f"\n💬 {c}" for c in summary.comments[:10])
            if people:
                text += "\n" + gettext(lang, "Tap a name to mark who came.")
        await message_of(update).reply_text(
            text[:4096], reply_markup=_presence_keyboard(event.id, people)
            if started and people else None)


async def came_button(update: Update, context: PeerdeskContext) -> None:
    """The host marks who came (a second tap takes the mark away)."""
    query, services = query_of(update), context.services
    _, event_id, person = (query.data or "").split(":")
    async with services.db.session() as session:
        event = await domain.event_of(session=session, event_id=int(event_id))
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        if event is None or not _may_manage(services, query.from_user.id, event):
            await query.answer(gettext(lang, "Only the host can mark who came."),
                               show_alert=True)
            return
        await domain.toggle_present(session=session, event_id=event.id, user_id=int(person),
                                    now=services.clock())
        people = await domain.people(session=session, event_id=event.id)
    await query.answer()
    await query.edit_message_reply_markup(_presence_keyboard(event.id, people))


async def follow_up_job(context: PeerdeskContext) -> None:
    """After events: the feedback question, and places whose offer lapsed passed on."""
    services = context.services
    settings = services.settings
    async with services.db.session() as session:
        asked, lapsed = await domain.follow_up(
            session=session, now=services.clock(),
            feedback_after=timedelta(minutes=settings.feedback_after_minutes),
            confirm_within=timedelta(hours=settings.place_confirm_hours))
    if asked or lapsed:
        services.wake_sender()
        logger.info("after events: %d feedback questions queued, %d offers lapsed", asked,
                    lapsed)


# --- organisers: /newevent, /bulletin and /materials ---------------------------------------------
# Guided dialogs whose state is a row in the database (bot.telegram.dialogs): each step below
# takes the organiser's answer, keeps it in `turn.draft` and returns the next step. A restart
# between two steps, or the next answer reaching the other replica, goes on from the row.

NEWEVENT, BULLETIN, MATERIALS = dialogs.NEWEVENT, dialogs.BULLETIN, dialogs.MATERIALS
KIND, TITLE, START, START_CONFIRM, END, WHERE, DESCRIPTION, CLOSES, CONFIRM = (
    "kind", "title", "start", "start_confirm", "end", "where", "description", "closes",
    "confirm")
BULLETIN_TEXT, BULLETIN_WHEN, BULLETIN_CONFIRM = "text", "when", "confirm"
MATERIAL_EVENT, MATERIAL_ITEM = "event", "item"
NOTHING_PUBLISHED = _("Cancelled; nothing was published.")


def _organiser(services: Services, user_id: int) -> bool:
    settings = services.settings
    return user_id in settings.admin_ids or user_id in settings.organiser_ids


async def _person_language(update: Update, context: PeerdeskContext) -> str:
    user = user_of(update)
    async with context.services.db.session() as session:
        return await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)


async def _may_publish(update: Update, context: PeerdeskContext, lang: str) -> bool:
    """An organiser, with somewhere to publish; otherwise told why not."""
    services = context.services
    if not _organiser(services, user_of(update).id):
        await message_of(update).reply_text(gettext(
            lang, "Sorry, only the organisers named in the configuration can publish."))
        return False
    if not services.settings.announce_channels:
        await message_of(update).reply_text(gettext(
            lang, "There is nowhere to publish yet: no announcement channels have been set "
                  "up. An admin can add them."))
        return False
    return True


def _moment(text: str, context: PeerdeskContext, turn: Turn
            ) -> tuple[datetime | None, str | None]:
    """A moment from what the organiser wrote, or why not (a text to show them)."""
    services, lang = context.services, turn.lang
    now, tz = services.clock(), services.settings.tz
    found = understand(text, now=now, tz=tz)
    if found is None:
        return None, None
    if found.weekday_mismatch and found.day is not None:
        return None, gettext(lang, "Please check the day: {date} falls on a {weekday}.",
                             date=found.day.strftime("%-d.%-m.%Y"),
                             weekday=format_datetime(datetime.combine(found.day, time(12)),
                                                     "cccc", locale=lang))
    at = moment(found, now=now, tz=tz)
    if at is None and found.day is not None:
        turn.draft["day"] = found.day
        return None, gettext(lang, "At what time on {day}? For example 14 or 14.30",
                             day=format_datetime(datetime.combine(found.day, time(12)),
                                                 "EEEE d.M." if lang != "en" else "EEEE d MMMM",
                                                 locale=lang))
    return at, None


def _time_on_the_day(text: str, context: PeerdeskContext, turn: Turn) -> datetime | None:
    """After "At what time?": a time alone, on the day given before."""
    day = turn.draft.get("day")
    services = context.services
    found = understand(text, now=services.clock(), tz=services.settings.tz)
    if day is None or found is None or found.day is not None or found.at is None:
        return None
    return datetime.combine(day, found.at, services.settings.tz)


async def new_event(update: Update, context: PeerdeskContext) -> None:
    """/newevent: step 1, the kind."""
    lang = await _person_language(update, context)
    if not await _may_publish(update, context, lang):
        return
    await dialogs.begin(update, context, NEWEVENT, KIND, lang=lang)
    await message_of(update).reply_text(
        gettext(lang, "A new event. What kind? (/cancel stops at any step)"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(gettext(lang, name),
                                                                 callback_data=f"kind:{kind}")]
                                           for kind, name in KIND_NAMES.items()]))


async def suggested_event(update: Update, context: PeerdeskContext) -> None:
    """A rising topic's button (the monthly digest): /newevent with the kind and the title
    filled in, going on from the start time."""
    query = query_of(update)
    await query.answer()
    lang, services = await _person_language(update, context), context.services
    if not await _may_publish(update, context, lang):
        return
    _, kind, topic = (query.data or "::").split(":")
    title = f"{gettext(lang, KIND_NAMES[EventKind(kind)])}: {services.topic_name(topic, lang)}"
    await dialogs.begin(update, context, NEWEVENT, START, lang=lang,
                        answers={"kind": kind, "title": title[:200]})
    await query_message(query).reply_text(
        gettext(lang, "A new event: {title}", title=title) + "\n" + gettext(
            lang, "When does it start? For example 1.12. klo 14, ti 1.12. 14.00 or "
                  "huomenna klo 9"))


async def got_kind(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    query = query_of(update)
    await query.answer()
    turn.draft["kind"] = (query.data or "").split(":")[1]
    await take_away_buttons(query)
    await query_message(query).reply_text(gettext(turn.lang, "The title?"))
    return TITLE


async def got_title(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    turn.draft["title"] = text_of(update).strip()[:200]
    await message_of(update).reply_text(gettext(
        turn.lang, "When does it start? For example 1.12. klo 14, ti 1.12. 14.00 or "
                   "huomenna klo 9"))
    return START


async def got_start(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """The start, as people write it; shown back for confirmation."""
    lang, services = turn.lang, context.services
    text = text_of(update)
    start = _time_on_the_day(text, context, turn)
    why = None
    if start is None:
        start, why = _moment(text, context, turn)
    if why is not None:
        await message_of(update).reply_text(why)
        return START
    if start is None or start <= services.clock():
        await message_of(update).reply_text(gettext(
            lang, "I could not read a future date and time. Please write it like 1.12. klo 14 "
                  "or huomenna klo 9"))
        return START
    turn.draft.pop("day", None)
    turn.draft["start"] = start
    await message_of(update).reply_text(
        gettext(lang, "Starts {when}. Is that right?", when=understood(services, start, lang)),
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Yes"), callback_data="start:yes"),
            InlineKeyboardButton(gettext(lang, "No, I will write it again"),
                                 callback_data="start:no")]]))
    return START_CONFIRM


async def got_start_confirmed(update: Update, context: PeerdeskContext, turn: Turn
                              ) -> str | None:
    query, lang = query_of(update), turn.lang
    await query.answer()
    await take_away_buttons(query)
    if (query.data or "") == "start:no":
        turn.draft.pop("start", None)
        await query_message(query).reply_text(gettext(lang, "When does it start?"))
        return START
    await query_message(query).reply_text(gettext(lang, "How long does it last? For example "
                                                 "90 min or 1,5 h"))
    return END


async def got_end(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    lang = turn.lang
    lasts = length(text_of(update))  # "90", "1,5 h", "puolitoista tuntia", "en timme"
    if lasts is None or not timedelta(minutes=5) <= lasts <= timedelta(hours=24):
        await message_of(update).reply_text(gettext(
            lang, "Please give the length, for example 90 min, 1,5 h or an hour and a half"))
        return END
    draft = turn.draft
    draft["end"] = draft["start"] + lasts
    await message_of(update).reply_text(
        gettext(lang, "Length: {length}.", length=say_length(lasts, lang)) + "\n"
        + gettext(lang, "Where? Write the place, a Teams link, or both (a link makes it online)."))
    return WHERE


async def got_where(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """"Auditorio B ja https://teams…": the place and the link apart."""
    turn.draft["place"], turn.draft["link"] = place_and_link(text_of(update))
    await message_of(update).reply_text(gettext(
        turn.lang, "A short description? (write - to leave it empty)"))
    return DESCRIPTION


async def got_description(update: Update, context: PeerdeskContext, turn: Turn
                          ) -> str | None:
    lang = turn.lang
    text = text_of(update).strip()
    turn.draft["description"] = "" if text == "-" else text[:2000]
    await message_of(update).reply_text(
        gettext(lang, "Does registration close at some point? Write when, like ma 7.12. klo "
                      "12, or press No deadline."),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
            gettext(lang, "No deadline"), callback_data="closes:none")]]))
    return CLOSES


def _spec(context: PeerdeskContext, turn: Turn) -> EventSpec:
    """The event the answers so far describe (EventError: why not)."""
    services, user = context.services, turn.dialog.user_id
    draft = {k: v for k, v in turn.draft.items() if k != "day"}
    return domain.validate_spec({
        **draft, "host_id": user, "host_name": turn.draft.get("host_name"),
        "language": turn.lang, "channels": list(services.settings.announce_channels)})


async def got_closes(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """The optional registration deadline; then the preview."""
    services, lang, draft = context.services, turn.lang, turn.draft
    if update.callback_query:
        await update.callback_query.answer()
        await take_away_buttons(update.callback_query)
        message = query_message(update.callback_query)
        draft["registration_closes"] = None
    else:
        message = message_of(update)
        closes, why = _time_on_the_day(message.text or "", context, turn), None
        if closes is None:
            closes, why = _moment(message.text or "", context, turn)
        if why is not None:
            await message.reply_text(why)
            return CLOSES
        draft.pop("day", None)
        if closes is None or closes <= services.clock() or closes > draft["start"]:
            await message.reply_text(gettext(
                lang, "Please give a moment between now and the start, or press No deadline."))
            return CLOSES
        draft["registration_closes"] = closes
    draft["host_name"] = user_of(update).first_name
    try:
        spec = _spec(context, turn)
    except EventError as exc:
        await message.reply_text(gettext(lang, "That does not work yet: {why}. Start again with "
                                               "/newevent.", why=str(exc)))
        return None
    await _preview(message, lang, announcement_text(services, domain.preview(spec), None))
    return CONFIRM


async def _preview(message: Message, lang: str, text: str) -> None:
    """The last step of both dialogs: what will go out, with Publish and Cancel."""
    await message.reply_text(
        gettext(lang, "Preview:") + "\n\n" + text,
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Publish"), callback_data="publish:yes"),
            InlineKeyboardButton(gettext(lang, "Cancel"), callback_data="publish:no")]]))


async def _publish_pressed(update: Update, turn: Turn) -> bool:
    """Publish or Cancel under a preview: True to go ahead; otherwise the dialog ends."""
    query = query_of(update)
    await query.answer()
    await take_away_buttons(query)
    if (query.data or "") == "publish:yes":
        return True
    await query_message(query).reply_text(gettext(turn.lang, NOTHING_PUBLISHED))
    return False


async def confirm_event(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """Publish: the event is stored and the dialog ended in one transaction, so that the
    same dialog published from two replicas (or a press taken twice) publishes once."""
    query, services, lang = query_of(update), context.services, turn.lang
    if not await _publish_pressed(update, turn):
        return None
    try:
        spec = _spec(context, turn)
    except EventError as exc:
        await query_message(query).reply_text(gettext(
            lang, "That does not work yet: {why}. Start again with /newevent.", why=str(exc)))
        return None
    async with services.db.session() as session:
        if not await dialogs_domain.finish(session=session, dialog=turn.dialog, commit=False):
            return None  # published already, from the other press
        published = await domain.publish_event(
            session=session, spec=spec, now=services.clock(),
            announce_days_before=services.settings.announce_days_before)
    services.wake_sender()  # the announcement goes out now, not at the sender's next look
    logger.info("event %s published", published[0].id)
    await query_message(query).reply_text(gettext(
        lang, "Published! The announcement goes out now and the reminders on time."))
    return None


async def new_bulletin(update: Update, context: PeerdeskContext) -> None:
    """/bulletin: the text, then when, then a preview."""
    lang = await _person_language(update, context)
    if not await _may_publish(update, context, lang):
        return
    await dialogs.begin(update, context, BULLETIN, BULLETIN_TEXT, lang=lang)
    await message_of(update).reply_text(gettext(
        lang, "Write the bulletin (a link can be part of the text). /cancel stops."))


async def got_bulletin_text(update: Update, context: PeerdeskContext, turn: Turn
                            ) -> str | None:
    lang = turn.lang
    turn.draft["text"] = text_of(update).strip()[:3500]
    await message_of(update).reply_text(
        gettext(lang, "When should it go out? Press Now, or write a time like huomenna klo 8"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(gettext(lang, "Now"),
                                                                 callback_data="when:now")]]))
    return BULLETIN_WHEN


async def got_bulletin_when(update: Update, context: PeerdeskContext, turn: Turn
                            ) -> str | None:
    services, lang, draft = context.services, turn.lang, turn.draft
    at: datetime | None
    if update.callback_query:
        query = update.callback_query
        await query.answer()
        await take_away_buttons(query)
        at, message, now = services.clock(), query_message(query), True
    else:
        message, now = message_of(update), False
        at = _time_on_the_day(message.text or "", context, turn)
        why = None
        if at is None:
            at, why = _moment(message.text or "", context, turn)
        if at is None:
            await message.reply_text(why or gettext(
                lang, "I could not read the time. Please write it like huomenna klo 8, or "
                      "press Now."))
            return BULLETIN_WHEN
        draft.pop("day", None)
    draft["send_at"] = at
    draft["now"] = now
    goes = gettext(lang, "It goes out now.") if now else gettext(
        lang, "It goes out {when}.", when=understood(services, at, lang))
    await _preview(message, lang, "📢 " + draft["text"] + "\n\n" + goes)
    return BULLETIN_CONFIRM


async def confirm_bulletin(update: Update, context: PeerdeskContext, turn: Turn
                           ) -> str | None:
    query, services, lang, draft = query_of(update), context.services, turn.lang, turn.draft
    if not await _publish_pressed(update, turn) or "text" not in draft:
        return None
    async with services.db.session() as session:
        if not await dialogs_domain.finish(session=session, dialog=turn.dialog, commit=False):
            return None  # published already, from the other press
        await domain.publish_bulletin(
            session=session, text=draft["text"], link=None,
            channels=list(services.settings.announce_channels), send_at=draft["send_at"],
            now=services.clock(), created_by=query.from_user.id)
    services.wake_sender()
    await query_message(query).reply_text(
        gettext(lang, "Published! It goes out now.") if draft.get("now") else
        gettext(lang, "Published! It goes out {when}.",
                when=understood(services, draft["send_at"], lang)))
    return None


async def new_materials(update: Update, context: PeerdeskContext) -> None:
    """/materials: choose one of my recent events, then send a link or a file."""
    services, user = context.services, user_of(update)
    lang = await _person_language(update, context)
    async with services.db.session() as session:
        events = await domain.recent(session=session, now=services.clock(),
                                     host_id=None if _organiser(services, user.id) else user.id)
    if not events:
        await message_of(update).reply_text(gettext(
            lang, "You have no event from the last 30 days to add materials to."))
        return
    await dialogs.begin(update, context, MATERIALS, MATERIAL_EVENT, lang=lang)
    await message_of(update).reply_text(
        gettext(lang, "Which event are the materials for? (/cancel stops)"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
            f"{event.title[:40]} · {event.starts_at.astimezone(services.settings.tz):%d.%m.}",
            callback_data=f"matfor:{event.id}")] for event in events]))


async def got_material_event(update: Update, context: PeerdeskContext, turn: Turn
                             ) -> str | None:
    query = query_of(update)
    await query.answer()
    await take_away_buttons(query)
    turn.draft["event_id"] = int((query.data or "").split(":")[1])
    await query_message(query).reply_text(gettext(
        turn.lang, "Send a link (the recording, slides…) or a file."))
    return MATERIAL_ITEM


async def got_material(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """The link or file: it goes to everyone who said they would come, and stays in /events."""
    services, message, lang = context.services, message_of(update), turn.lang
    link = file_id = file_name = None
    if message.document is not None:
        file_id, file_name = message.document.file_id, message.document.file_name
    else:
        link = place_and_link(message.text or "")[1]
        if link is None:
            await message.reply_text(gettext(lang, "I did not find a link there. Send a link "
                                                   "starting with https://, or a file."))
            return MATERIAL_ITEM
    event_id = int(turn.draft["event_id"])
    async with services.db.session() as session:
        event = await domain.event_of(session=session, event_id=event_id)
        if event is None or not _may_manage(services, user_of(update).id, event):
            return None
        if not await dialogs_domain.finish(session=session, dialog=turn.dialog, commit=False):
            return None  # added already, from the same answer taken elsewhere
        try:
            await domain.add_material(session=session, event_id=event_id, now=services.clock(),
                                      link=link, file_id=file_id, file_name=file_name,
                                      added_by=user_of(update).id)
        except EventError:
            await message.reply_text(gettext(lang, "That event cannot take materials."))
            return None
        count = len(await domain.recipients(session=session, event_id=event_id))
    services.wake_sender()
    await message.reply_text(ngettext(
        lang, "Thank you! The materials go to the {count} person who said they would come, "
              "and stay available under /events.",
        "Thank you! The materials go to the {count} people who said they would come, and stay "
        "available under /events.", count, count=count))
    return None


FEEDBACK_GROUP = -2  # before the helpers' relay (-1): a reply to the feedback question is not a
# follow-up to some ticket
