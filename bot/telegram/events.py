"""Announcements in Telegram: rendering the outbox's announcements, RSVP buttons, /events
with .ics files, /attendees, and the guided /newevent and /bulletin conversations (with
/cancel at every step).

What is sent when lives in bot.domain.events (the outbox); this module renders and sends.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.calendar import calendar
from bot.domain import events as domain
from bot.domain.events import Counts, EventError, EventSpec
from bot.domain.models import Bulletin, Event, EventKind
from bot.domain.outbox import Claimed
from bot.domain.reports import Period, monthly_report
from bot.i18n import _, format_when, gettext
from bot.services import Services
from bot.telegram.context import PeerdeskContext
from bot.telegram.sender import Sent

logger = logging.getLogger(__name__)

KIND_NAMES = {
    EventKind.WEBINAR: _("Webinar"),
    EventKind.CAFE: _("Pedagogical café"),
    EventKind.MENTORING: _("Peer-mentoring group"),
    EventKind.THEME_DAY: _("Theme day"),
    EventKind.COACHES_MEETING: _("Coaches' meeting"),
}
RSVP_LABELS = {"yes": _("Coming"), "plus": _("Coming + a colleague"), "no": _("Cannot come")}
REMINDER, CHANGED, CANCELLED = _("Reminder"), _("Changed"), _("Cancelled")


def _services(application: Application) -> Services:
    return application.bot_data["services"]


# --- rendering -----------------------------------------------------------------------------------

def when(services: Services, event: Event, lang: str) -> str:
    tz = services.settings.tz
    end = event.ends_at.astimezone(tz)
    return f"{format_when(event.starts_at, lang, tz)}–{end:%H.%M}" if lang != "en" else \
        f"{format_when(event.starts_at, lang, tz)}–{end:%H:%M}"


def details(services: Services, event: Event) -> str:
    lang = event.language
    lines = [f"🗓 {when(services, event, lang)}"]
    if event.place:
        lines.append(f"📍 {event.place}")
    if event.link:
        lines.append(f"💻 {event.link}")
    if event.host_name:
        lines.append(gettext(lang, "Host: {name}", name=event.host_name))
    return "\n".join(lines)


def announcement_text(services: Services, event: Event, tally: Counts | None) -> str:
    lang = event.language
    title = f"📣 {gettext(lang, KIND_NAMES[EventKind(event.kind)])}: {event.title}"
    if event.cancelled:
        title = gettext(lang, "CANCELLED") + " – " + title
    text = title + "\n" + details(services, event)
    if event.description:
        text += "\n\n" + event.description
    if tally is not None and event.capacity:
        text += "\n\n" + gettext(lang, "Places taken: {seats}/{capacity}", seats=tally.seats,
                                 capacity=event.capacity)
        if tally.waiting:
            text += " · " + gettext(lang, "waiting list: {count}", count=tally.waiting)
    return text[:4096]


def rsvp_buttons(event: Event, tally: Counts) -> InlineKeyboardMarkup | None:
    if event.cancelled:
        return None
    lang = event.language
    shown = {"yes": tally.yes, "plus": tally.plus, "no": tally.no}
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(f"{gettext(lang, label)} ({shown[answer]})",
                             callback_data=f"rsvp:{event.id}:{answer}")
        for answer, label in RSVP_LABELS.items()]])


async def _agenda(services: Services, event: Event) -> str:
    """The month's most asked topics, as the agenda of the coaches' monthly meeting."""
    lang = event.language
    async with services.db.reading() as session:
        report = await monthly_report(session=session, period=Period.containing(
            services.clock(), services.settings.tz), trend_months=0)
    if not report.by_topic:
        return ""
    top = "\n".join(f"{n}. {services.topic_name(c.key, lang)} ({c.count})"
                    for n, c in enumerate(report.by_topic[:5], start=1))
    return "\n\n" + gettext(lang, "Agenda: this month's most asked topics") + "\n" + top


async def _reminder_text(services: Services, event: Event) -> str:
    lang = event.language
    text = f"⏰ {gettext(lang, REMINDER)}: {event.title}\n" + details(services, event)
    if event.pre_reading and event.pre_reading.startswith("http"):
        text += "\n\n" + gettext(lang, "Reading ahead: {link}", link=event.pre_reading)
    if event.kind == EventKind.COACHES_MEETING:
        text += await _agenda(services, event)
    return text[:4096]


# --- the sender ----------------------------------------------------------------------------------

async def send_announcement(application: Application, item: Claimed) -> Sent:
    """The sender's renderer for announcements, reminders, changes, cancellations, counts and
    bulletins; keeps the announcement's message id (to edit it later)."""
    return Sent(message_id=await _deliver(application, item))


async def report_uncertain(application: Application, items: list[Claimed]) -> None:
    """Announcements whose sender stopped mid-send: not resent (that could be twice); told."""
    services = _services(application)
    for item in items:
        logger.warning("outbox %s: the sender stopped mid-send; not resent", item.id)
        await _tell_admins(application, gettext(
            services.settings.helpers_language, "An announcement (outbox #{number}) may not have "
            "been sent: the bot stopped while sending it. It is not sent again, so as not to "
            "send it twice; please check the channel.", number=item.id))


async def report_refused(application: Application, item: Claimed, error: str) -> None:
    await _tell_admins(application, gettext(
        _services(application).settings.helpers_language, "The chat {chat} refused an "
        "announcement ({error}). Is the bot still a member there?", chat=item.chat_id,
        error=error[:120]))


async def _tell_admins(application: Application, text: str) -> None:
    for admin in _services(application).settings.admin_ids:
        try:
            await application.bot.send_message(admin, text)
        except TelegramError:
            logger.warning("an admin could not be told about the outbox")


async def _deliver(application: Application, item: Claimed) -> int | None:
    """Send one outbox row; returns the message id worth keeping (announcements)."""
    services, bot = _services(application), application.bot
    async with services.db.session() as session:
        event = await session.get(Event, item.event_id) if item.event_id else None
        bulletin = await session.get(Bulletin, item.bulletin_id) if item.bulletin_id else None
        tally = await domain.counts(session=session, event_id=event.id) if event else None
        announced = dict(await domain.announcements(session=session, event_id=event.id)) \
            if event else {}
    if item.kind == "bulletin" and bulletin is not None:
        text = "📢 " + bulletin.text + (f"\n\n{bulletin.link}" if bulletin.link else "")
        return (await bot.send_message(item.chat_id, text[:4096])).message_id
    if event is None:
        return None
    assert tally is not None
    if item.kind == "announce":
        message = await bot.send_message(item.chat_id, announcement_text(services, event, tally),
                                         reply_markup=rsvp_buttons(event, tally))
        return message.message_id
    if item.kind == "reminder":
        await bot.send_message(item.chat_id, await _reminder_text(services, event),
                               reply_to_message_id=announced.get(item.chat_id),
                               allow_sending_without_reply=True)
        if event.pre_reading and not event.pre_reading.startswith("http"):
            await bot.send_document(item.chat_id, event.pre_reading)  # a Telegram file id
        return None
    if item.kind in ("change", "cancel", "counts"):
        if item.chat_id in announced:
            try:
                await bot.edit_message_text(announcement_text(services, event, tally),
                                            item.chat_id, announced[item.chat_id],
                                            reply_markup=rsvp_buttons(event, tally))
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


# --- staff: RSVP, /events, .ics ------------------------------------------------------------------

async def rsvp_button(update: Update, context: PeerdeskContext) -> None:
    """Coming / coming with a colleague / cannot come: counts follow on the announcement."""
    query, services = update.callback_query, context.services
    _, event_id, answer = query.data.split(":")
    user = query.from_user
    async with services.db.session() as session:
        from bot.domain.intake import remember_staff

        await remember_staff(session=session, telegram_id=user.id, first_name=user.first_name,
                             telegram_language=user.language_code)
        result = await domain.rsvp(session=session, event_id=int(event_id), user_id=user.id,
                                   answer=answer, now=services.clock())
        event = await session.get(Event, int(event_id))
        if result is not None:
            await domain.refresh_counts(session=session, event_id=int(event_id),
                                        now=services.clock())
    lang = event.language if event else services.settings.helpers_language
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
    for person in result.promoted:
        try:
            await context.bot.send_message(person, gettext(
                lang, "A place opened up: you are now coming to {title}.", title=event.title))
        except TelegramError:
            logger.info("a promoted attendee could not be told")


async def events_command(update: Update, context: PeerdeskContext) -> None:
    """/events: what is coming up, each with a calendar file on a button."""
    services = context.services
    user = update.effective_user
    from bot.domain.intake import language_of

    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
        upcoming = await domain.upcoming(session=session, now=services.clock(), limit=10)
    if not upcoming:
        await update.effective_message.reply_text(gettext(lang, "No events are coming up just "
                                                                "now."))
        return
    lines = [gettext(lang, "Coming up:")]
    buttons = []
    for event in upcoming:
        lines.append(f"• {gettext(lang, KIND_NAMES[EventKind(event.kind)])}: {event.title} — "
                     f"{when(services, event, lang)}")
        buttons.append([InlineKeyboardButton(f"📅 {event.title[:40]}",
                                             callback_data=f"ics:{event.id}")])
    await update.effective_message.reply_text("\n".join(lines),
                                              reply_markup=InlineKeyboardMarkup(buttons))


async def ics_button(update: Update, context: PeerdeskContext) -> None:
    """Send one event as an .ics file."""
    query, services = update.callback_query, context.services
    async with services.db.session() as session:
        event = await session.get(Event, int(query.data.split(":")[1]))
    if event is None or event.cancelled:
        await query.answer(gettext(services.settings.helpers_language,
                                   "This event is over or cancelled."), show_alert=True)
        return
    await query.answer()
    await context.bot.send_document(query.from_user.id, calendar([event], event.title),
                                    filename=f"peerdesk-{event.id}.ics")


async def attendees_command(update: Update, context: PeerdeskContext) -> None:
    """/attendees: who is coming to the events I host (admins: all events)."""
    services, user = context.services, update.effective_user
    admin = user.id in services.settings.admin_ids
    lang = services.settings.helpers_language
    async with services.db.session() as session:
        hosted = await domain.upcoming(session=session, now=services.clock(),
                                       host_id=None if admin else user.id)
        listing = [(event, await domain.attendees(session=session, event_id=event.id))
                   for event in hosted]
    if not listing:
        await update.effective_message.reply_text(gettext(lang, "You host no upcoming events."))
        return
    parts = []
    for event, people in listing:
        marks = {"yes": "", "plus": " +1"}
        names = ", ".join(name + marks.get(answer, "") + (" (" + gettext(lang, "waiting") + ")"
                                                          if waiting else "")
                          for name, answer, waiting in people) or "–"
        parts.append(f"{event.title} ({when(services, event, lang)}): {names}")
    await update.effective_message.reply_text("\n\n".join(parts)[:4096])


# --- organisers: /newevent and /bulletin ---------------------------------------------------------

KIND, TITLE, START, END, WHERE, DESCRIPTION, CONFIRM = range(7)
BULLETIN_TEXT, BULLETIN_WHEN, BULLETIN_CONFIRM = range(7, 10)


def _organiser(services: Services, user_id: int) -> bool:
    settings = services.settings
    return user_id in settings.admin_ids or user_id in settings.organiser_ids


_FINNISH_MOMENT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(?:klo\s+)?(\d{1,2})[:.](\d{2})$")
_ISO_MOMENT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})$")


def _parse_moment(text: str, services: Services) -> datetime | None:
    """'1.12.2026 14:00', '1.12.2026 klo 14.00' or '2026-12-01 14:00', in local time."""
    text = " ".join(text.split())
    if match := _FINNISH_MOMENT.match(text):
        day, month, year, hour, minute = (int(g) for g in match.groups())
    elif match := _ISO_MOMENT.match(text):
        year, month, day, hour, minute = (int(g) for g in match.groups())
    else:
        return None
    try:
        return datetime(year, month, day, hour, minute, tzinfo=services.settings.tz)
    except ValueError:
        return None


async def _start_conversation(update: Update, context: PeerdeskContext) -> bool:
    services = context.services
    lang = services.settings.helpers_language
    if not _organiser(services, update.effective_user.id):
        await update.effective_message.reply_text(gettext(
            lang, "Sorry, only the organisers named in the configuration can publish."))
        return False
    if not services.settings.announce_channels:
        await update.effective_message.reply_text(gettext(
            lang, "No channels are configured (PEERDESK_ANNOUNCE_CHANNELS)."))
        return False
    context.user_data["draft"] = {}
    context.user_data["in_conversation"] = True
    return True


async def new_event(update: Update, context: PeerdeskContext) -> int:
    """/newevent: step 1, the kind."""
    if not await _start_conversation(update, context):
        return ConversationHandler.END
    lang = context.services.settings.helpers_language
    await update.effective_message.reply_text(
        gettext(lang, "A new event. What kind? (/cancel stops at any step)"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(gettext(lang, name),
                                                                 callback_data=f"kind:{kind}")]
                                           for kind, name in KIND_NAMES.items()]))
    return KIND


async def got_kind(update: Update, context: PeerdeskContext) -> int:
    query = update.callback_query
    await query.answer()
    context.user_data["draft"]["kind"] = query.data.split(":")[1]
    await query.edit_message_reply_markup(None)
    await query.message.reply_text(gettext(context.services.settings.helpers_language,
                                           "The title?"))
    return TITLE


async def got_title(update: Update, context: PeerdeskContext) -> int:
    context.user_data["draft"]["title"] = update.effective_message.text.strip()[:200]
    await update.effective_message.reply_text(gettext(
        context.services.settings.helpers_language,
        "When does it start? For example 1.12.2026 14:00"))
    return START


async def got_start(update: Update, context: PeerdeskContext) -> int:
    lang = context.services.settings.helpers_language
    start = _parse_moment(update.effective_message.text, context.services)
    if start is None or start <= context.services.clock():
        await update.effective_message.reply_text(gettext(
            lang, "I could not read a future date and time. Please write it like 1.12.2026 "
                  "14:00"))
        return START
    context.user_data["draft"]["start"] = start
    await update.effective_message.reply_text(gettext(
        lang, "How long does it last, in minutes? For example 90"))
    return END


async def got_end(update: Update, context: PeerdeskContext) -> int:
    lang = context.services.settings.helpers_language
    text = update.effective_message.text.strip()
    if not text.isdigit() or not 5 <= int(text) <= 24 * 60:
        await update.effective_message.reply_text(gettext(lang, "Please give the length in "
                                                                "minutes, for example 90"))
        return END
    draft = context.user_data["draft"]
    draft["end"] = draft["start"] + timedelta(minutes=int(text))
    await update.effective_message.reply_text(gettext(
        lang, "Where? Write the place, a Teams link, or both (a link makes it online)."))
    return WHERE


async def got_where(update: Update, context: PeerdeskContext) -> int:
    words = update.effective_message.text.split()
    links = [w for w in words if w.startswith(("https://", "http://"))]
    place = " ".join(w for w in words if w not in links).strip()
    draft = context.user_data["draft"]
    draft["link"], draft["place"] = (links[0] if links else None), (place or None)
    await update.effective_message.reply_text(gettext(
        context.services.settings.helpers_language,
        "A short description? (write - to leave it empty)"))
    return DESCRIPTION


async def got_description(update: Update, context: PeerdeskContext) -> int:
    services, user = context.services, update.effective_user
    lang = services.settings.helpers_language
    text = update.effective_message.text.strip()
    draft = context.user_data["draft"]
    draft["description"] = "" if text == "-" else text[:2000]
    try:
        spec = domain.validate_spec({
            **draft, "host_id": user.id, "host_name": user.first_name, "language": lang,
            "channels": list(services.settings.announce_channels),
        })
    except EventError as exc:
        await update.effective_message.reply_text(gettext(lang, "That does not work yet: {why}. "
                                                                "Start again with /newevent.",
                                                          why=str(exc)))
        return _end(context)
    context.user_data["spec"] = spec
    preview = Event(id=0, kind=spec.kind, title=spec.title, description=spec.description,
                    starts_at=spec.start, ends_at=spec.end, place=spec.place, link=spec.link,
                    host_name=spec.host_name, language=spec.language, channels=spec.channels,
                    capacity=spec.capacity)
    await _preview(update.effective_message, lang, announcement_text(services, preview, None))
    return CONFIRM


async def _preview(message: Message, lang: str, text: str) -> None:
    """The last step of both conversations: what will go out, with Publish and Cancel."""
    await message.reply_text(
        gettext(lang, "Preview:") + "\n\n" + text,
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Publish"), callback_data="publish:yes"),
            InlineKeyboardButton(gettext(lang, "Cancel"), callback_data="publish:no")]]))


async def _publish_pressed(update: Update, context: PeerdeskContext, ready: bool) -> bool:
    """Publish or Cancel under a preview: True to go ahead; otherwise the conversation ends."""
    query = update.callback_query
    await query.answer()
    await query.edit_message_reply_markup(None)
    if query.data == "publish:yes" and ready:
        return True
    await query.message.reply_text(gettext(context.services.settings.helpers_language,
                                           "Cancelled; nothing was published."))
    _end(context)
    return False


async def confirm_event(update: Update, context: PeerdeskContext) -> int:
    query, services = update.callback_query, context.services
    lang = services.settings.helpers_language
    spec: EventSpec | None = context.user_data.get("spec")
    if not await _publish_pressed(update, context, spec is not None):
        return ConversationHandler.END
    async with services.db.session() as session:
        published = await domain.publish_event(
            session=session, spec=spec, now=services.clock(),
            announce_days_before=services.settings.announce_days_before)
    logger.info("event %s published", published[0].id)
    await query.message.reply_text(gettext(lang, "Published! The announcement goes out now and "
                                                 "the reminders on time."))
    return _end(context)


async def new_bulletin(update: Update, context: PeerdeskContext) -> int:
    """/bulletin: the text, then when, then a preview."""
    if not await _start_conversation(update, context):
        return ConversationHandler.END
    await update.effective_message.reply_text(gettext(
        context.services.settings.helpers_language,
        "Write the bulletin (a link can be part of the text). /cancel stops."))
    return BULLETIN_TEXT


async def got_bulletin_text(update: Update, context: PeerdeskContext) -> int:
    lang = context.services.settings.helpers_language
    context.user_data["draft"]["text"] = update.effective_message.text.strip()[:3500]
    await update.effective_message.reply_text(
        gettext(lang, "When should it go out? Press Now, or write a time like 1.12.2026 8:00"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(gettext(lang, "Now"),
                                                                 callback_data="when:now")]]))
    return BULLETIN_WHEN


async def got_bulletin_when(update: Update, context: PeerdeskContext) -> int:
    services = context.services
    lang = services.settings.helpers_language
    if update.callback_query:
        await update.callback_query.answer()
        at, message = services.clock(), update.callback_query.message
    else:
        message = update.effective_message
        at = _parse_moment(message.text, services)
        if at is None:
            await message.reply_text(gettext(lang, "I could not read the time. Please write it "
                                                   "like 1.12.2026 08:00, or press Now."))
            return BULLETIN_WHEN
    context.user_data["draft"]["send_at"] = at
    await _preview(message, lang, "📢 " + context.user_data["draft"]["text"])
    return BULLETIN_CONFIRM


async def confirm_bulletin(update: Update, context: PeerdeskContext) -> int:
    query, services = update.callback_query, context.services
    lang = services.settings.helpers_language
    draft = context.user_data.get("draft") or {}
    if not await _publish_pressed(update, context, "text" in draft):
        return ConversationHandler.END
    async with services.db.session() as session:
        await domain.publish_bulletin(
            session=session, text=draft["text"], link=None,
            channels=list(services.settings.announce_channels), send_at=draft["send_at"],
            now=services.clock(), created_by=query.from_user.id)
    await query.message.reply_text(gettext(lang, "Published! It goes out at the chosen time."))
    return _end(context)


async def cancel(update: Update, context: PeerdeskContext) -> int:
    """/cancel at any step."""
    await update.effective_message.reply_text(gettext(
        context.services.settings.helpers_language, "Cancelled; nothing was published."))
    return _end(context)


def _end(context: PeerdeskContext) -> int:
    context.user_data.pop("draft", None)
    context.user_data.pop("spec", None)
    context.user_data.pop("in_conversation", None)
    return ConversationHandler.END


def conversations() -> list[ConversationHandler]:
    """The organisers' /newevent and /bulletin conversations, with /cancel at every step."""
    private = filters.ChatType.PRIVATE
    text = private & filters.TEXT & ~filters.COMMAND
    cancel_handler = CommandHandler("cancel", cancel, filters=private)
    return [
        ConversationHandler(
            entry_points=[CommandHandler("newevent", new_event, filters=private)],
            states={
                KIND: [CallbackQueryHandler(got_kind, pattern=r"^kind:\w+$")],
                TITLE: [MessageHandler(text, got_title)],
                START: [MessageHandler(text, got_start)],
                END: [MessageHandler(text, got_end)],
                WHERE: [MessageHandler(text, got_where)],
                DESCRIPTION: [MessageHandler(text, got_description)],
                CONFIRM: [CallbackQueryHandler(confirm_event, pattern=r"^publish:(yes|no)$")],
            },
            fallbacks=[cancel_handler], name="newevent", conversation_timeout=1800,
        ),
        ConversationHandler(
            entry_points=[CommandHandler("bulletin", new_bulletin, filters=private)],
            states={
                BULLETIN_TEXT: [MessageHandler(text, got_bulletin_text)],
                BULLETIN_WHEN: [CallbackQueryHandler(got_bulletin_when, pattern=r"^when:now$"),
                                MessageHandler(text, got_bulletin_when)],
                BULLETIN_CONFIRM: [CallbackQueryHandler(confirm_bulletin,
                                                        pattern=r"^publish:(yes|no)$")],
            },
            fallbacks=[cancel_handler], name="bulletin", conversation_timeout=1800,
        ),
    ]
