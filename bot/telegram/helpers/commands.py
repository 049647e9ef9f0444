"""The helpers' commands: /queue, /mine, /away, /back, /close, /release, /note (their menus are
in bot.telegram.menus). Who may use them is checked where they are registered (bot.telegram.app)."""

from __future__ import annotations

import logging

from telegram import Message, Update

from bot.domain import roster
from bot.domain.roster import HelperView
from bot.domain.tickets import messages, views
from bot.i18n import format_age, gettext
from bot.telegram.context import PeerdeskContext
from bot.telegram.helpers.buttons import close_ticket, not_passable, release_ticket
from bot.telegram.helpers.cards import close_anyway, close_question, helper_language

logger = logging.getLogger(__name__)


def _in_place(update: Update, context: PeerdeskContext) -> bool:
    """Helpers' commands work in a private chat and in the helpers' own group, nowhere else."""
    chat = update.effective_chat
    return chat is not None and (chat.type == "private"
                                 or chat.id == context.services.settings.helpers_chat_id)


async def queue_command(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """/queue: open tickets of my roles, oldest first; /mine: the ones I hold."""
    message = update.effective_message
    if message is None or not _in_place(update, context):
        return
    services, lang = context.services, helper_language(context.services, helper)
    if (message.text or "").lstrip("/").startswith("mine"):
        await _mine(update, context, helper)
        return
    async with services.db.session() as session:
        items = await views.queue(session=session, roles=helper.roles)
    if not items:
        await message.reply_text(gettext(lang, "No questions are waiting. Thank you!"))
        return
    lines = [_line(context, item, lang) for item in items[:50]]
    await message.reply_text(gettext(lang, "Open questions, oldest first:") + "\n"
                             + "\n".join(lines))


def _line(context: PeerdeskContext, item: views.QueueItem, lang: str) -> str:
    services = context.services
    return (f"#{item.ticket_id} · {services.topic_name(item.topic, lang)} · {item.language} · "
            + format_age((services.clock() - item.created_at).total_seconds() / 60, lang)
            + " · " + (item.holder or gettext(lang, "waiting")))


async def _mine(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """/mine: what waits for my answer first (not answered yet, or the asker wrote last), then
    the rest I hold."""
    message, services = update.effective_message, context.services
    assert message is not None
    lang = helper_language(services, helper)
    async with services.db.session() as session:
        awaited, rest = await views.held_by(session=session, helper_id=helper.telegram_id)
    if not awaited and not rest:
        await message.reply_text(gettext(lang, "You hold no open questions."))
        return
    parts = []
    if awaited:
        parts.append(gettext(lang, "Waiting for your answer:") + "\n" + "\n".join(
            _line(context, item, lang) for item in awaited[:40]))
    if rest:
        parts.append(gettext(lang, "Answered, in your hands:") + "\n" + "\n".join(
            _line(context, item, lang) for item in rest[:40]))
    await message.reply_text("\n\n".join(parts))


async def availability_command(update: Update, context: PeerdeskContext,
                               helper: HelperView) -> None:
    """/away and /back."""
    message = update.effective_message
    if message is None or not _in_place(update, context):
        return
    away = (message.text or "").lstrip("/").startswith("away")
    async with context.services.db.session() as session:
        await roster.set_available(session=session, helper_id=helper.telegram_id,
                                   available=not away)
    lang = helper_language(context.services, helper)
    await message.reply_text(
        gettext(lang, "You are marked away: new questions will not call you while a colleague "
                      "of your role is available (when nobody is, everyone is called). /back when "
                      "you return.") if away
        else gettext(lang, "Welcome back! New questions will call you again."))


async def _ticket_here(update: Update, context: PeerdeskContext, helper: HelperView
                       ) -> tuple[Message, int, str] | None:
    """The ticket a /close or /release is about: the one of its forum topic, or of the card it
    replies to in a private chat; with the message and the helper's language. Elsewhere None:
    where helpers' commands work, the helper is told where this one does."""
    message, services = update.effective_message, context.services
    if message is None:
        return None
    lang = helper_language(services, helper)
    ticket_id = None
    async with services.db.session() as session:
        if message.chat.type == "private" and message.reply_to_message:
            found = await messages.find_message(
                session=session, chat_id=message.chat_id,
                message_id=message.reply_to_message.message_id)
            ticket_id = found.ticket_id if found and found.kind == messages.Kind.CARD else None
        elif message.chat_id == services.forum and message.is_topic_message \
                and message.message_thread_id:
            ticket_id = await messages.ticket_in_thread(session=session,
                                                        thread_id=message.message_thread_id)
    if ticket_id is None:
        if _in_place(update, context):
            command = (message.text or "/").split()[0].lstrip("/").split("@")[0]
            await message.reply_text(gettext(lang, "Use /{command} in a question's topic, or "
                                                   "as a reply to its card.", command=command))
        return None
    return message, ticket_id, lang


async def close_command(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """/close in a ticket's topic of the helpers' forum, or as a reply to its card in a private
    chat; anywhere else it closes nothing."""
    here = await _ticket_here(update, context, helper)
    if here is None:
        return
    message, ticket_id, lang = here
    async with context.services.db.session() as session:
        ticket = await views.view(session=session, ticket_id=ticket_id)
    assert ticket is not None
    question = close_question(context.services, ticket, helper, lang) \
        if ticket.claimed_by is None else None  # a colleague's: /close closes, as before
    if question is not None:
        await message.reply_text(question, reply_markup=close_anyway(ticket_id, question, lang,
                                                                     back=False))
        return
    if not await close_ticket(context, ticket_id, helper):
        await message.reply_text(gettext(lang, "#{number} is already closed.", number=ticket_id))


async def release_command(update: Update, context: PeerdeskContext, helper: HelperView
                          ) -> None:
    """/release in a ticket's topic, or as a reply to its private card: back to the queue."""
    here = await _ticket_here(update, context, helper)
    if here is None:
        return
    message, ticket_id, lang = here
    async with context.services.db.session() as session:
        ticket = await views.view(session=session, ticket_id=ticket_id)
    assert ticket is not None
    refusal = not_passable(context.services, ticket, helper, lang)
    if refusal is None and await release_ticket(context, ticket_id, helper) is not None:
        await message.reply_text(gettext(lang, "#{number} is back in the queue; your colleagues "
                                               "are called. Thank you!", number=ticket_id))
        return
    await message.reply_text(refusal or gettext(lang, "This question is no longer waiting."))


async def note_command(update: Update, context: PeerdeskContext) -> None:
    """/note: an internal note; it stays with the helpers."""
