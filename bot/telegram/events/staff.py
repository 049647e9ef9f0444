"""The staff's side of events: answering an announcement (RSVP), a place offered from the
waiting list, "I'm here", the feedback question's rating and a reply to it, /events with its
calendar files and the materials of recent events."""

from __future__ import annotations

from datetime import timedelta

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.calendar import calendar
from bot.domain.events import after, messages, rsvp, views
from bot.domain.events.views import EventView
from bot.domain.intake import language_of, remember_staff
from bot.i18n import format_when, gettext
from bot.services import Services
from bot.telegram import posting
from bot.telegram.access import pressed
from bot.telegram.callbacks import Action, decode, encode
from bot.telegram.context import (
    PeerdeskContext,
    message_of,
    query_message,
    query_of,
    user_of,
)
from bot.telegram.events.render import (
    RSVP_LABELS,
    headline,
    listed,
    personal_keyboard,
    rating_buttons,
    rsvp_rows,
    short_label,
    when,
)
from bot.telegram.keyboards import take_away_buttons

UPCOMING_SHOWN = 8  # coming events in /events, one message each
FEEDBACK_GROUP = -2  # before the helpers' relay (-1): a reply to the feedback question is not a
# follow-up to some ticket


async def rsvp_button(update: Update, context: PeerdeskContext) -> None:
    """Coming / coming with a colleague / cannot come: counts follow on the announcement."""
    query, services = query_of(update), context.services
    button = await pressed(update, context, Action.RSVP)
    if button is None:
        return
    event_id, answer = button.id, str(button.arg)
    user = query.from_user
    confirm = timedelta(hours=services.settings.place_confirm_hours)
    async with services.db.session() as session:
        await remember_staff(session=session, telegram_id=user.id, first_name=user.first_name,
                             telegram_language=user.language_code)
        event = await views.event_of(session=session, event_id=event_id)
        result = None if answer == "closed" else await rsvp.rsvp(
            session=session, event_id=event_id, user_id=user.id, answer=answer,
            now=services.clock(), confirm_within=confirm)
        if result is not None and not result.closed:
            await messages.refresh_counts(session=session, event_id=event_id,
                                          now=services.clock())
        private = query.message is not None and query.message.chat.type == ChatType.PRIVATE
        # The toast is the presser's own, in their language; the post keeps the event's.
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
    services.wake_sender()  # the counts on the announcements, and a place offered
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
                             result: rsvp.RsvpResult, user_id: int) -> None:
    """In a person's own chat (/events, a reminder) the buttons show the new counts and their
    answer, as the announcement does."""
    message = query_message(query)
    async with services.db.session() as session:
        chosen = await rsvp.answer_of(session=session, event_id=event.id, user_id=user_id)
    now = services.clock()
    from_events = any(b.callback_data == encode(Action.ICS, event.id)
                      for row in (message.reply_markup.inline_keyboard
                                  if message.reply_markup else ()) for b in row)
    lang = _button_language(message, event)
    if from_events:
        markup = personal_keyboard(event, result.counts, now, lang, chosen)
    else:
        kept = [row for row in (message.reply_markup.inline_keyboard if message.reply_markup
                                else ()) if not any(decode(str(b.callback_data), Action.RSVP)
                                                    for b in row)]
        markup = InlineKeyboardMarkup(rsvp_rows(event, result.counts, now, lang, chosen)
                                      + list(kept))
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as exc:
        if not posting.not_modified(exc):
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
    button = await pressed(update, context, Action.OFFER)
    if button is None:
        return
    event_id, answer = button.id, button.arg
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        taken = await rsvp.answer_offer(
            session=session, event_id=event_id, user_id=query.from_user.id,
            accept=answer == "yes", now=services.clock(),
            confirm_within=timedelta(hours=services.settings.place_confirm_hours))
        if taken is False:
            await messages.refresh_counts(session=session, event_id=event_id,
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
    button = await pressed(update, context, Action.HERE)
    if button is None:
        return
    user = query.from_user
    async with services.db.session() as session:
        await remember_staff(session=session, telegram_id=user.id, first_name=user.first_name,
                             telegram_language=user.language_code)
        presence = await after.mark_present(session=session, event_id=button.id,
                                            user_id=user.id, now=services.clock())
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
    event = presence.event
    if event is None or presence.too_late:
        text = gettext(lang, "This event is over. Thank you for your interest!")
    elif presence.too_early:
        text = gettext(lang, "Not quite yet: you can mark yourself present from {time}.",
                       time=format_when(event.starts_at - views.PRESENCE_EARLY, lang,
                                        services.settings.tz))
    else:
        text = gettext(lang, "Welcome, {name}! You are marked present.",
                       name=user.first_name or "")
    await query.answer(text, show_alert=not presence.marked)


async def rating_button(update: Update, context: PeerdeskContext) -> None:
    """1–5 under the feedback question; a later press changes the answer."""
    query, services = query_of(update), context.services
    button = await pressed(update, context, Action.EVENT_RATING)
    if button is None:
        return
    event_id, rating = button.id, int(str(button.arg))
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        recorded = await after.rate(session=session, event_id=event_id,
                                    user_id=query.from_user.id, rating=rating,
                                    now=services.clock())
    if not recorded:  # an unknown event is not recorded either
        await query.answer()
        return
    await query.answer(gettext(lang, "Thank you! If you like, reply to the question with a "
                                     "comment."))
    try:
        await query.edit_message_reply_markup(rating_buttons(event_id, rating))
    except BadRequest as exc:  # the same rating pressed again
        if not posting.not_modified(exc):
            raise


async def feedback_reply(update: Update, context: PeerdeskContext) -> None:
    """A reply to the feedback question is a comment for the host. Runs before the helpers'
    relay and intake (handler group FEEDBACK_GROUP); any other reply goes on to them."""
    message, services = message_of(update), context.services
    if message.reply_to_message is None:
        return
    async with services.db.session() as session:
        event_id = await messages.feedback_question(
            session=session, chat_id=message.chat_id,
            message_id=message.reply_to_message.message_id)
        if event_id is None:
            return
        await after.comment(session=session, event_id=event_id,
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
        upcoming = await views.upcoming(session=session, now=now, limit=UPCOMING_SHOWN)
        past = await views.past_with_materials(session=session, now=now)
        shown = [(event, await rsvp.counts(session=session, event_id=event.id),
                  await rsvp.answer_of(session=session, event_id=event.id, user_id=user.id))
                 for event in upcoming]
    past = [e for e in past if e.id not in {u.id for u in upcoming}]
    message = message_of(update)
    if not upcoming and not past:
        await message.reply_text(gettext(lang, "No events are coming up just now."))
        return
    if upcoming:
        await message.reply_text(gettext(lang, "Coming up:"))
    for event, tally, chosen in shown:
        await message.reply_text(listed(services, event, tally, lang),
                                 reply_markup=personal_keyboard(event, tally, now, lang, chosen))
    if past:
        lines = [gettext(lang, "Held recently, with materials:")]
        buttons = []
        for event in past:
            lines.append(f"• {headline(event, lang)} — {when(services, event, lang)}")
            buttons.append([InlineKeyboardButton(f"📎 {short_label(event.title)}",
                                                 callback_data=encode(Action.MATERIALS,
                                                                      event.id))])
        await message.reply_text("\n".join(lines), reply_markup=InlineKeyboardMarkup(buttons))


async def materials_button(update: Update, context: PeerdeskContext) -> None:
    """Send an event's materials to whoever asks from /events."""
    query, services = query_of(update), context.services
    button = await pressed(update, context, Action.MATERIALS)
    if button is None:
        return
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        event = await views.event_of(session=session, event_id=button.id)
        found = await views.materials(session=session, event_id=event.id) if event else []
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
    button = await pressed(update, context, Action.ICS)
    if button is None:
        return
    async with services.db.session() as session:
        event = await views.event_of(session=session, event_id=button.id)
    if event is None or event.cancelled:
        await query.answer(gettext(services.settings.helpers_language,
                                   "This event is over or cancelled."), show_alert=True)
        return
    await query.answer()
    await context.bot.send_document(query.from_user.id, calendar([event], event.title),
                                    filename=f"peerdesk-{event.id}.ics")
