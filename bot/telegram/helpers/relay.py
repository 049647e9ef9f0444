"""Relaying: what a helper writes about a ticket goes to its asker, and what the asker writes
about it goes to its helpers. Both are queued with the change they cause
(bot.domain.tickets.changes) and sent by the sender; the handler answers only the person who
wrote, when there is something to say to them."""

from __future__ import annotations

import logging

from telegram import Message, Update

from bot.domain import roster
from bot.domain.text import clean_text
from bot.domain.tickets import changes, messages
from bot.domain.tickets.views import Relay
from bot.i18n import gettext
from bot.telegram.context import PeerdeskContext
from bot.telegram.helpers.cards import helper_language

logger = logging.getLogger(__name__)


def _is_note(message: Message) -> bool:
    text = message.text or message.caption or ""
    return text.startswith("!") or text.startswith("/note")


async def helper_wrote(context: PeerdeskContext, message: Message, ticket_id: int) -> None:
    """A helper's message about a ticket: relayed to the asker unless it is an internal note."""
    services, user = context.services, message.from_user
    if _is_note(message) or user is None:
        return
    async with services.db.session() as session:
        helper = await roster.helper(session=session, user_id=user.id)
        if helper is None or not helper.is_helper:
            helper = None  # someone else in the group (a lead, someone taken off the roster)
        else:
            outcome = await changes.helper_message(
                session=session, ticket_id=ticket_id, helper_id=helper.telegram_id,
                chat_id=message.chat_id, message_id=message.message_id, now=services.clock(),
                desk=services.desk, text=clean_text(message.text or message.caption) or None)
    if helper is None:  # not for the asker, and said so: they might think it reached them
        await message.reply_text(gettext(
            services.settings.helpers_language,
            "Only the desk's helpers write to the asker, so this was not sent to them. Start "
            "with ! for a note."))
        return
    if outcome is None:
        return
    lang = helper_language(services, helper)
    ticket = outcome.ticket
    if outcome.outcome is Relay.HELD:
        await message.reply_text(gettext(
            lang, "{name} holds #{number}, so this was not sent to the asker. Start with ! for "
                  "a note.", name=ticket.claimer_name, number=ticket.id))
        return
    if outcome.outcome is Relay.CLOSED and ticket.asker_chat_id is None:  # after /forget
        await message.reply_text(gettext(
            lang, "The asker has withdrawn #{number} and erased their data, so nothing more "
                  "can be sent to them.", number=ticket.id))
        return
    if outcome.outcome is Relay.CLOSED:
        await message.reply_text(gettext(
            lang, "#{number} is closed, so this was not sent. The asker can reopen it by "
                  "replying.", number=ticket.id))
        return
    services.wake_sender()
    if outcome.first_answer_minutes is not None:
        services.metrics.first_answer.observe(outcome.first_answer_minutes)


async def group_edit(update: Update, context: PeerdeskContext) -> None:
    """A helper edited a message in a ticket's topic: the asker has the words as first sent
    (Telegram passes no edit on), so the helper hears it, in the topic, rather than believe the
    correction arrived. A note ("!…") stays among the helpers anyway."""
    message = update.edited_message
    if message is None or not message.is_topic_message or not message.message_thread_id \
            or (message.text or message.caption or "").startswith("!"):
        return
    async with context.services.db.session() as session:
        ticket_id = await messages.ticket_in_thread(session=session,
                                                    thread_id=message.message_thread_id)
    if ticket_id is None:
        return
    await message.reply_text(gettext(
        context.services.settings.helpers_language,
        "Edits do not reach the asker: they have this message as it was first sent. Send the "
        "correction as a new message."))


async def group_message(update: Update, context: PeerdeskContext) -> None:
    """A message in a ticket's topic of the helpers' forum."""
    message = update.effective_message
    if message is None or not message.is_topic_message or not message.message_thread_id:
        return
    async with context.services.db.session() as session:
        ticket_id = await messages.ticket_in_thread(session=session,
                                                    thread_id=message.message_thread_id)
    if ticket_id is not None:
        await helper_wrote(context, message, ticket_id)
