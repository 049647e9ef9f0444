"""The sender's renderer for events: announcements and their edits (counts, changes, the
deadline), reminders with their agenda and "I'm here", cancellations, bulletins, and the messages
to one attendee (a place offered, materials, the feedback question). What is sent when lives in
bot.domain.events (the outbox); this module renders and sends."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest
from telegram.ext import Application

from bot.domain.events import messages, rsvp, views
from bot.domain.events.views import EventView
from bot.domain.intake import language_of
from bot.domain.models import EventKind, OutboxKind
from bot.domain.outbox import Claimed
from bot.domain.reports import Period, monthly_report
from bot.i18n import _, format_when, gettext
from bot.services import Services
from bot.telegram import posting
from bot.telegram.callbacks import Action, encode
from bot.telegram.events.render import (
    announcement_text,
    details,
    rating_buttons,
    rsvp_buttons,
    rsvp_rows,
    when,
)
from bot.telegram.sender import Sent

logger = logging.getLogger(__name__)

KINDS = (OutboxKind.ANNOUNCE, OutboxKind.REMINDER, OutboxKind.CHANGE, OutboxKind.CANCEL,
         OutboxKind.BULLETIN, OutboxKind.COUNTS, OutboxKind.CLOSES, OutboxKind.OFFER,
         OutboxKind.OFFER_LAPSED, OutboxKind.MATERIALS, OutboxKind.FEEDBACK)  # sent from here
PERSONAL = ("offer", "offer_lapsed", "materials", "feedback")  # outbox rows to one person


REMINDER, CHANGED, CANCELLED = _("Reminder"), _("Changed"), _("Cancelled")


def _services(application: Application) -> Services:
    return application.bot_data["services"]


async def agenda(services: Services, event: EventView) -> str:
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
        text += await agenda(services, event)
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
        event = await views.event_of(session=session, event_id=item.event_id) \
            if item.event_id else None
        bulletin = await views.bulletin_of(session=session, bulletin_id=item.bulletin_id) \
            if item.bulletin_id else None
        tally = await rsvp.counts(session=session, event_id=event.id) if event else None
        announced = dict(await messages.announcements(session=session, event_id=event.id)) \
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
            rows = rsvp_rows(event, tally, now, event.language)
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
                if not posting.not_modified(exc):
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
        last = await messages.is_last_reminder(session=session, outbox_id=item.id, event=event)
    if not last:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        "🙋 " + gettext(event.language, "I'm here"), callback_data=encode(Action.HERE, event.id))]])


async def _to_person(application: Application, item: Claimed, event: EventView) -> int | None:
    """A message to one attendee, in their own language: a place offered from the waiting
    list (or passed on), the materials, the feedback question."""
    services, bot = _services(application), application.bot
    tz = services.settings.tz
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=item.chat_id,
                                 telegram_language=None)
        material = await messages.material_of(session=session, outbox_id=item.id) \
            if item.kind == "materials" else None
        offer = await rsvp.offer(session=session, event_id=event.id,
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
                                 callback_data=encode(Action.OFFER, event.id, "yes")),
            InlineKeyboardButton(gettext(lang, "I can't come after all"),
                                 callback_data=encode(Action.OFFER, event.id, "no"))]])
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
                                   reply_markup=rating_buttons(event.id))).message_id
