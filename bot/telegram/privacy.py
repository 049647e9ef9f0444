"""Data protection in Telegram: /mydata shows what is stored about the person, /forget erases
it (after a confirmation), and a job erases old question texts."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain import privacy
from bot.domain.intake import language_of
from bot.domain.models import TicketStatus
from bot.i18n import format_when, gettext
from bot.services import Services
from bot.telegram import dialogs
from bot.telegram.access import stale
from bot.telegram.callbacks import Action, decode, encode
from bot.telegram.context import PeerdeskContext, message_of, query_of, user_of
from bot.telegram.keyboards import take_away_buttons

logger = logging.getLogger(__name__)
PURGE_INTERVAL = 3600  # seconds; the purge itself is one UPDATE


async def _lang(update: Update, context: PeerdeskContext) -> str:
    user = user_of(update)
    async with context.services.db.session() as session:
        return await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)


def _status(status: str, lang: str) -> str:
    """A stored question's state in the person's own words."""
    words: dict[str, str] = {
        TicketStatus.OFFERED: gettext(lang, "an answer offered"),
        TicketStatus.OPEN: gettext(lang, "waiting for a helper"),
        TicketStatus.CLAIMED: gettext(lang, "a helper is on it"),
        TicketStatus.CLOSED: gettext(lang, "closed")}
    return words.get(status, status)


def _language(chosen: str | None, telegram: str | None, lang: str) -> str:
    """The language chosen with /lang, else the Telegram app's (which the bot then uses)."""
    if chosen:
        return chosen
    if telegram:
        return gettext(lang, "{language} (from Telegram)", language=telegram[:2].lower())
    return "–"


async def mydata_command(update: Update, context: PeerdeskContext) -> None:
    """/mydata: everything stored about me."""
    services, lang = context.services, await _lang(update, context)
    async with services.db.session() as session:
        data = await privacy.my_data(session=session, telegram_id=user_of(update).id)
    if data is None:
        await message_of(update).reply_text(gettext(lang, "Nothing is stored about you."))
        return
    lines = [gettext(lang, "What is stored about you:"),
             gettext(lang, "Name: {name} · language: {language} · team: {team} · anonymous by "
                           "default: {anonymous}", name=data.first_name or "–",
                     language=_language(data.language, data.telegram_language, lang),
                     team=data.team or "–",
                     anonymous=gettext(lang, "yes") if data.anonymous_by_default
                     else gettext(lang, "no"))]
    for t in data.tickets:
        lines.append(f"#{t.id} · {format_when(t.created_at, lang, services.settings.tz)} · "
                     f"{services.topic_name(t.topic, lang)} · {_status(t.status, lang)}"
                     + (f"\n  “{t.text[:300]}”" if t.text else "")
                     + ("\n  " + gettext(lang, "a phone number") if t.has_phone else ""))
    for title, answer in data.rsvps:
        lines.append(gettext(lang, "Event {title}: {answer}", title=title, answer=answer))
    if data.in_roster:
        lines.append(gettext(lang, "You are in the helpers' roster (ask an admin to change it)."))
    lines.append(gettext(lang, "/forget erases all of this."))
    await message_of(update).reply_text("\n".join(lines)[:4096])


async def forget_command(update: Update, context: PeerdeskContext) -> None:
    """/forget: ask before erasing; the question waits in the database (a dialog), so that only
    a press of this very question erases, whichever replica takes it."""
    lang = await _lang(update, context)
    text = gettext(lang, "Erase everything stored about you? Your questions stay only as "
                         "anonymous figures, without their text.")
    async with context.services.db.session() as session:
        if await privacy.in_roster(session=session, telegram_id=user_of(update).id):
            text += "\n\n" + gettext(lang, "Your entry in the helpers' roster (your name and "
                                            "roles) stays: roles are given by the management, "
                                            "so an admin removes it.")
    asked = await message_of(update).reply_text(
        text,
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Yes, erase"),
                                 callback_data=encode(Action.FORGET, arg="yes")),
            InlineKeyboardButton(gettext(lang, "Cancel"),
                                 callback_data=encode(Action.FORGET, arg="no"))]]))
    await dialogs.begin(update, context, dialogs.FORGET, "confirm", lang=lang,
                        answers={"prompt_id": asked.message_id})


async def forget_confirmed(update: Update, context: PeerdeskContext) -> None:
    """"Yes, erase" erases; "Cancel" changes nothing, and says so. A press without the
    question waiting for it (forged, or the question lapsed or answered) does nothing."""
    query, services = query_of(update), context.services
    lang = await _lang(update, context)
    asked, button = query.message, decode(query.data, Action.FORGET)
    pending = await dialogs.current(update, context, dialogs.FORGET)
    if asked is None or button is None or asked.chat.id != query.from_user.id \
            or pending is None or pending.answers.get("prompt_id") != asked.message_id:
        await stale(update, context, lang)
        if asked is not None and asked.chat.id == query.from_user.id:
            await take_away_buttons(query)
        return
    if not await dialogs.end(context, pending):
        await query.answer()  # the other press (or replica) has it
        return
    if button.arg == "no":
        await query.answer()
        await query.edit_message_text(gettext(lang, "Cancelled: nothing was erased, and "
                                                     "everything stays as it was."))
        return
    async with services.db.session() as session:
        done = await privacy.forget(session=session, telegram_id=query.from_user.id,
                                    now=services.clock(), desk=services.desk)
    services.wake_sender()  # the cards edited, the holders told
    logger.info("a person's data was erased on request (%d tickets anonymised, %d withdrawn)",
                done.tickets, done.withdrawn)
    await query.answer()
    await query.edit_message_text(
        gettext(lang, "Done: your data is erased, except your entry in the helpers' roster (your "
                      "name and roles), which stays until an admin removes it.")
        if done.in_roster else gettext(lang, "Done: your data is erased."))


async def purge(context: PeerdeskContext) -> None:
    """Erase question texts older than the retention period; the figures stay."""
    services: Services = context.services
    async with services.db.session() as session:
        count = await privacy.purge_texts(session=session, now=services.clock(),
                                          days=services.settings.retention_days)
    if count:
        logger.info("erased the texts of %d old tickets", count)


