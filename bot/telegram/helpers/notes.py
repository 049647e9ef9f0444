"""The messages about a ticket besides its card, as the sender sends them: relayed copies (the
helper's answer to the asker, the asker's follow-up to the helpers) and notices rendered from a
template when sent, in the reader's language, from what the database holds then (so nothing
personal ever waits in the outbox).

Where a row goes follows from its chat: the asker's chat (a reply to their question), the forum
(into the ticket's topic), or a helper's or admin's private chat (a reply to the card there).
What each notice says is bot/telegram/helpers/templates.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Message
from telegram import ReplyParameters as Reply
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application

from bot.domain import roster
from bot.domain.outbox import Claimed
from bot.domain.roster import HelperView
from bot.domain.tickets import messages, notices, views
from bot.domain.tickets.messages import Kind
from bot.domain.tickets.views import TicketView
from bot.services import Services
from bot.telegram.helpers.cards import helper_language, in_topic, services_of
from bot.telegram.helpers.templates import TEMPLATES, Facts, Note
from bot.telegram.sender import Sent

logger = logging.getLogger(__name__)


async def _facts(application: Application, item: Claimed, reader: int) -> Facts:
    services = services_of(application)
    params = item.params or {}
    async with services.db.session() as session:
        ticket = None if item.ticket_id is None else await views.view(
            session=session, ticket_id=item.ticket_id)
        private = None if ticket is None else await views.private_details(
            session=session, ticket_id=ticket.id)
        helper = await roster.helper(session=session, user_id=reader) if reader > 0 else None
        named = await roster.helper(session=session, user_id=int(params["helper"])) \
            if params.get("helper") else None
        mention: list[HelperView] = []
        if ticket is not None and params.get("mention") == "holder" and ticket.claimed_by:
            holder = await roster.helper(session=session, user_id=ticket.claimed_by)
            mention = [holder] if holder else []
        elif ticket is not None and params.get("mention") in ("role", "everyone"):
            # Who gave it back is not called for it again; nor, then, are other roles.
            mention = await notices.recipients(session=session, ticket=ticket,
                                               everyone=params["mention"] == "everyone",
                                               skip=params.get("skip"))
    if ticket is not None and reader == ticket.asker_chat_id:
        lang = ticket.language
    else:
        lang = helper_language(services, helper)
    return Facts(services, ticket, lang, params, mention,
                 phone=private[0] if private else None,
                 feedback=private[1] if private else None,
                 helper_name=named.name if named else "", reader=reader)


async def send_note(application: Application, item: Claimed) -> Sent | None:
    """NOTE: a notice from its template, to the asker, into the topic, or privately."""
    template = TEMPLATES.get(str((item.params or {}).get("template")))
    if template is None:
        logger.warning("outbox %s: unknown template", item.id)
        return None
    facts = await _facts(application, item, item.chat_id)
    note = template(facts)
    if note is None:
        return None
    ticket = facts.ticket
    bot = application.bot
    if note.edit is not None:
        await _edit(application, item.chat_id, note)
        return None

    async def send(thread_id: int | None, reply_to: int | None = None) -> Message:
        return await bot.send_message(item.chat_id, note.text, entities=note.entities,
                                      reply_markup=note.markup, message_thread_id=thread_id,
                                      reply_parameters=_reply(reply_to))

    if ticket is None:
        await send(None)
        return None
    if note.remember is Kind.FEEDBACK and item.chat_id == services_of(application).forum:
        # Kept, unlike other notices in the topic: /forget edits the comment away.
        message = await in_topic(application, ticket.id, lambda thread: send(thread))
        return Sent(remember=[(item.chat_id, message.message_id, ticket.id, Kind.FEEDBACK)])
    message, _ = await _about_ticket(application, item.chat_id, ticket, send)
    if message is None or note.remember is None:
        return None
    return Sent(remember=[(item.chat_id, message.message_id, ticket.id, note.remember)])


async def send_copy(application: Application, item: Claimed) -> Sent | None:
    """COPY: relay a message (text, photo, file, voice) as it is, with its caption."""
    services = services_of(application)
    params = item.params or {}
    async with services.db.session() as session:
        ticket = None if item.ticket_id is None else await views.view(
            session=session, ticket_id=item.ticket_id)
    if ticket is None:
        return None
    bot = application.bot
    from_chat, message_id = int(params["from_chat"]), int(params["message_id"])

    async def copy(thread_id: int | None, reply_to: int | None = None) -> Any:
        return await bot.copy_message(item.chat_id, from_chat, message_id,
                                      message_thread_id=thread_id,
                                      reply_parameters=_reply(reply_to))

    if item.chat_id == services.forum:  # kept, so that /forget can take it back
        copied = await in_topic(application, ticket.id, lambda thread: copy(thread))
        return Sent(remember=[(item.chat_id, copied.message_id, ticket.id, Kind.TO_HELPERS)])
    reply_to = params.get("reply_to")
    sent, to_asker = await _about_ticket(application, item.chat_id, ticket, copy,
                                         int(reply_to) if reply_to else None)
    if sent is None:
        return None
    return Sent(remember=[(item.chat_id, sent.message_id, ticket.id,
                           Kind.TO_ASKER if to_asker else Kind.TO_HELPERS)])


async def send_copies(application: Application, items: list[Claimed]) -> Sent:
    """Several of one person's messages relayed into their ticket's topic in one call
    (copyMessages: one message toward the group's 20 a minute), in the order they were
    written; each copy kept, so that /forget can take it back."""
    first = items[0]
    ticket_id = first.ticket_id
    assert ticket_id is not None and first.params is not None
    from_chat = int(first.params["from_chat"])
    ids = [int((item.params or {})["message_id"]) for item in items]
    copied = await in_topic(application, ticket_id, lambda thread: application.bot.copy_messages(
        first.chat_id, from_chat, ids, message_thread_id=thread))
    return Sent(remember=[(first.chat_id, c.message_id, ticket_id, Kind.TO_HELPERS)
                          for c in copied])


async def _about_ticket(application: Application, chat_id: int, ticket: TicketView,
                        send: Callable[[int | None, int | None], Awaitable[Any]],
                        asker_reply_to: int | None = None) -> tuple[Any, bool]:
    """Send something about a ticket where its chat says: into the ticket's topic (opened if
    needed), to the asker as a reply to their question (or to `asker_reply_to`, the follow-up
    it answers), or to a helper or admin as a reply to the card in their chat. Returns what
    was sent outside the forum (None: in the forum, or refused), and whether it went to the
    asker."""
    services = services_of(application)
    if chat_id == services.forum:
        await in_topic(application, ticket.id, lambda thread: send(thread, None))
        return None, False
    to_asker = chat_id == ticket.asker_chat_id
    try:
        return await send(None, (asker_reply_to or ticket.source_message_id) if to_asker
                          else await _card_in(services, ticket.id, chat_id)), to_asker
    except Forbidden:
        if to_asker:
            await _asker_unreachable(services, ticket)
        else:
            logger.warning("a helper or admin could not be reached about ticket %s", ticket.id)
        return None, to_asker


async def _edit(application: Application, chat_id: int, note: Note) -> None:
    """Edit one of the bot's own messages; one already gone (deleted in the chat, or the chat
    left) needs no editing, and one with no text to edit (a picture, a file) is deleted."""
    assert note.edit is not None
    try:
        await application.bot.edit_message_text(note.text, chat_id=chat_id,
                                                 message_id=note.edit, entities=note.entities,
                                                 reply_markup=note.markup)
    except BadRequest as error:
        if "no text in the message" not in str(error).lower():
            logger.info("a message the bot sent could not be edited: %s", type(error).__name__)
            return
        try:
            await application.bot.delete_message(chat_id, note.edit)
        except (BadRequest, Forbidden) as gone:
            logger.info("a message the bot sent could not be deleted: %s", type(gone).__name__)
    except Forbidden as error:
        logger.info("a message the bot sent could not be edited: %s",
                    type(error).__name__)


def _reply(message_id: int | None) -> Reply | None:
    return Reply(message_id, allow_sending_without_reply=True) if message_id else None


async def _card_in(services: Services, ticket_id: int, chat_id: int) -> int | None:
    async with services.db.session() as session:
        return await messages.card_in(session=session, ticket_id=ticket_id, chat_id=chat_id)


async def _asker_unreachable(services: Services, ticket: TicketView) -> None:
    async with services.db.session() as session:
        await notices.asker_unreachable(session=session, ticket_id=ticket.id,
                                        now=services.clock(), desk=services.desk)
    services.wake_sender()
