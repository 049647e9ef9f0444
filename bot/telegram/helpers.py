"""The helpers' side in Telegram: a forum topic and card per ticket (or private cards without a
forum), claim / reroute / close buttons, relaying both ways, ratings, phone calls, /queue,
/mine, /away, /back, and the reminders that run on the job queue.

Decisions live in bot.domain.queue; this module only talks to Telegram.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
    User,
)
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import ROLES
from bot.domain import queue
from bot.domain.models import TicketStatus
from bot.domain.queue import Alert, HelperInfo, Kind, Policy, Relay, TicketView
from bot.i18n import _, format_age, gettext
from bot.services import Services
from bot.telegram.context import PeerdeskContext

logger = logging.getLogger(__name__)
MAX_TEXT = 4096
STARS = "★"

HELPER_COMMANDS = (
    ("queue", _("Open questions of my roles")),
    ("mine", _("Questions I hold")),
    ("close", _("Close the question of this topic")),
    ("away", _("Pause my notifications")),
    ("back", _("I am available again")),
    ("report", _("What staff asked about this month")),
)


def policy(services: Services) -> Policy:
    settings = services.settings
    return Policy(hours=settings.hours, sla_minutes=settings.sla_minutes,
                  default_minutes=settings.sla_default_minutes, reopen_days=settings.reopen_days)


def _services(application: Application) -> Services:
    return application.bot_data["services"]


# --- where the helpers are -----------------------------------------------------------------------

async def forum_chat(application: Application) -> int | None:
    """The helpers' forum group, or None when cards go to helpers privately (no group set, or the
    group is not a forum). Asked from Telegram once."""
    if "forum" not in application.bot_data:
        chat_id = _services(application).settings.helpers_chat_id
        forum = None
        if chat_id is not None:
            try:
                chat = await application.bot.get_chat(chat_id)
                forum = chat_id if chat.is_forum else None
                if forum is None:
                    logger.warning("the helpers' group is not a forum: cards go privately")
            except TelegramError as exc:
                logger.warning("the helpers' group cannot be reached (%s): cards go privately",
                               type(exc).__name__)
        application.bot_data["forum"] = forum
    return application.bot_data["forum"]


def _lock(application: Application, ticket_id: int) -> asyncio.Lock:
    locks: defaultdict[int, asyncio.Lock] = application.bot_data.setdefault(
        "ticket_locks", defaultdict(asyncio.Lock))
    return locks[ticket_id]


def _lang(services: Services, helper: HelperInfo | None = None) -> str:
    if helper and helper.languages:
        return helper.languages[0]
    return services.settings.helpers_language


# --- the card ------------------------------------------------------------------------------------

def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def card_text(services: Services, ticket: TicketView, lang: str,
              mention: list[HelperInfo] = ()) -> tuple[str, list[MessageEntity]]:
    """The ticket card: who asks (or anonymous), what about, its state, the question, and the
    helpers called by name (Telegram mentions, so they are notified)."""
    asker = gettext(lang, "anonymous") if ticket.anonymous else ", ".join(
        part for part in (ticket.asker_name or gettext(lang, "no name"), ticket.asker_team) if part)
    if ticket.status is TicketStatus.CLOSED:
        state = gettext(lang, "Closed")
    elif ticket.claimer_name:
        state = gettext(lang, "Claimed by {name}", name=ticket.claimer_name)
    else:
        state = gettext(lang, "Waiting for a helper")
    text = (
        f"#{ticket.id} · {services.topic_name(ticket.topic, lang)} · {ticket.language}\n"
        + gettext(lang, "Asker: {asker}", asker=asker) + "\n"
        + gettext(lang, "Role: {role}", role=services.role_name(ticket.role, lang)) + "\n"
        + gettext(lang, "State: {state}", state=state) + "\n\n"
        + ticket.text
    )
    text, entities = text[: MAX_TEXT - 400], []
    if mention:
        text += "\n\n"
        for index, helper in enumerate(mention[: queue.MAX_MENTIONS]):
            if index:
                text += ", "
            entities.append(MessageEntity(
                MessageEntity.TEXT_MENTION, _utf16(text), _utf16(helper.name),
                user=User(helper.telegram_id, helper.name, is_bot=False)))
            text += helper.name
    return text, entities


def card_buttons(ticket: TicketView, lang: str) -> InlineKeyboardMarkup | None:
    if ticket.status is TicketStatus.CLOSED:
        return None
    row = []
    if ticket.status is TicketStatus.OPEN:
        row.append(InlineKeyboardButton(gettext(lang, "Claim"),
                                        callback_data=f"q:claim:{ticket.id}"))
    row += [InlineKeyboardButton(gettext(lang, "Reroute"), callback_data=f"q:rr:{ticket.id}"),
            InlineKeyboardButton(gettext(lang, "Close"), callback_data=f"q:close:{ticket.id}")]
    return InlineKeyboardMarkup([row])


async def _send_card(bot: Bot, services: Services, ticket: TicketView, chat_id: int,
                     thread_id: int | None, lang: str, mention: list[HelperInfo]) -> Message:
    text, entities = card_text(services, ticket, lang, mention)
    message = await bot.send_message(chat_id, text, entities=entities or None,
                                     message_thread_id=thread_id,
                                     reply_markup=card_buttons(ticket, lang))
    async with services.db.session() as session:
        await queue.remember(session=session, chat_id=chat_id, message_id=message.message_id,
                             ticket_id=ticket.id, kind=Kind.CARD)
    return message


async def refresh_cards(application: Application, ticket: TicketView) -> None:
    """Show the ticket's new state on every card of it."""
    services = _services(application)
    async with services.db.session() as session:
        rows = await queue.card_messages(session=session, ticket_id=ticket.id)
        helpers = {chat: await queue.helper(session=session, user_id=chat) for chat, _ in rows}
    for chat_id, message_id in rows:
        lang = _lang(services, helpers.get(chat_id))
        text, entities = card_text(services, ticket, lang)
        try:
            await application.bot.edit_message_text(
                text, chat_id, message_id, entities=entities or None,
                reply_markup=card_buttons(ticket, lang))
        except BadRequest as exc:
            if "not modified" not in str(exc):
                logger.warning("card of ticket %s not updated: %s", ticket.id, exc)
        except Forbidden:
            pass


# --- delivering a ticket -------------------------------------------------------------------------

async def deliver(application: Application, ticket_id: int,
                  acknowledgement: Message | None = None) -> None:
    """Tell the helpers about a new ticket: its own forum topic with a card, or private cards.
    The asker's `acknowledgement` is noted in the same transaction."""
    services = _services(application)
    async with services.db.session() as session:
        delivery = await queue.begin_delivery(
            session=session, ticket_id=ticket_id, now=services.clock(), policy=policy(services),
            acknowledgement=None if acknowledgement is None
            else (acknowledgement.chat_id, acknowledgement.message_id))
    if delivery is None:
        return
    try:
        if await forum_chat(application) is not None:
            await _ensure_topic(application, delivery.ticket)
        elif not await _private_cards(application, delivery):
            logger.warning("ticket %s: no helper of role %s could be reached", ticket_id,
                           delivery.ticket.role)
    except Exception:
        async with services.db.session() as session:
            await queue.undo_delivery(session=session, ticket_id=ticket_id)
        raise
    logger.info("ticket %s delivered to the helpers", ticket_id)


async def _private_cards(application: Application, delivery: queue.Delivery) -> int:
    services, ticket = _services(application), delivery.ticket
    sent = 0
    for helper in delivery.helpers:
        try:
            await _send_card(application.bot, services, ticket, helper.telegram_id, None,
                             _lang(services, helper), [])
            sent += 1
        except (Forbidden, BadRequest):
            logger.warning("helper could not be reached privately for ticket %s", ticket.id)
    return sent


async def _ensure_topic(application: Application, ticket: TicketView,
                        recreate: bool = False) -> int:
    """The ticket's forum topic, created with its card when missing (or deleted). One at a time per
    ticket, so rapid messages never open two topics."""
    services, chat_id = _services(application), await forum_chat(application)
    assert chat_id is not None
    async with _lock(application, ticket.id):
        async with services.db.session() as session:
            current = await queue.view(session=session, ticket_id=ticket.id)
            assert current is not None
            if current.thread_id and not recreate:
                return current.thread_id
            if recreate and current.thread_id != ticket.thread_id:
                return current.thread_id  # another task recreated it meanwhile
            mention = await queue.recipients(session=session, ticket=current)
        lang = services.settings.helpers_language
        name = f"#{current.id} · {services.topic_name(current.topic, lang)} · {current.language}"
        topic = await application.bot.create_forum_topic(chat_id, name[:128])
        thread_id = topic.message_thread_id
        async with services.db.session() as session:
            await queue.set_thread(session=session, ticket_id=current.id, thread_id=thread_id)
            current = await queue.view(session=session, ticket_id=current.id)
        assert current is not None
        await _send_card(application.bot, services, current, chat_id, thread_id, lang, mention)
        if recreate:
            logger.info("ticket %s: its deleted topic was created again", ticket.id)
        return thread_id


async def to_helpers(application: Application, ticket: TicketView,
                     send: Callable[[int, int | None, int | None], Awaitable[Message]]) -> None:
    """Send something about a ticket to its helpers: into its topic (recreated if someone deleted
    it), or privately to whoever holds it, else to everyone who got its card.
    `send(chat_id, thread_id, reply_to)` does the sending."""
    services, forum = _services(application), await forum_chat(application)
    if forum is not None:
        thread_id = await _ensure_topic(application, ticket)
        try:
            await send(forum, thread_id, None)
        except BadRequest as exc:
            if "thread not found" not in str(exc).lower():
                raise
            fresh = TicketView(**{**_fields(ticket), "thread_id": thread_id})
            await send(forum, await _ensure_topic(application, fresh, recreate=True), None)
        return
    async with services.db.session() as session:
        cards = dict(await queue.card_messages(session=session, ticket_id=ticket.id))
    chats = [ticket.claimed_by] if ticket.claimed_by in cards else list(cards)
    for chat_id in chats:
        try:
            await send(chat_id, None, cards.get(chat_id))
        except (Forbidden, BadRequest):
            logger.warning("a helper could not be reached about ticket %s", ticket.id)


def _fields(ticket: TicketView) -> dict[str, Any]:
    return {name: getattr(ticket, name) for name in TicketView.__slots__}


async def notify_helpers(application: Application, ticket: TicketView, text: str,
                         mention: list[HelperInfo] = ()) -> None:
    """A notice about a ticket, calling some helpers by name."""
    entities = []
    if mention:
        text += "\n"
        for index, helper in enumerate(mention[: queue.MAX_MENTIONS]):
            if index:
                text += ", "
            entities.append(MessageEntity(MessageEntity.TEXT_MENTION, _utf16(text),
                                          _utf16(helper.name), user=User(helper.telegram_id,
                                                                         helper.name, False)))
            text += helper.name

    async def send(chat_id: int, thread_id: int | None, reply_to: int | None) -> Message:
        return await application.bot.send_message(
            chat_id, text, entities=entities or None, message_thread_id=thread_id,
            reply_parameters=_reply(reply_to))

    await to_helpers(application, ticket, send)


def _reply(message_id: int | None) -> ReplyParameters | None:
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


# --- the asker's side ----------------------------------------------------------------------------

async def to_asker(application: Application, ticket: TicketView, text: str,
                   markup: Any = None, kind: Kind = Kind.TO_ASKER) -> bool:
    """Tell the asker something about their ticket; False when they cannot be reached."""
    services = _services(application)
    if ticket.asker_chat_id is None:
        return False
    try:
        message = await application.bot.send_message(
            ticket.asker_chat_id, text, reply_markup=markup,
            reply_parameters=_reply(ticket.source_message_id))
    except Forbidden:
        await _asker_unreachable(application, ticket)
        return False
    async with services.db.session() as session:
        await queue.remember(session=session, chat_id=ticket.asker_chat_id,
                             message_id=message.message_id, ticket_id=ticket.id, kind=kind)
    return True


async def _asker_unreachable(application: Application, ticket: TicketView) -> None:
    lang = _services(application).settings.helpers_language
    await notify_helpers(application, ticket, gettext(
        lang, "#{number}: the asker has blocked the bot or left, so this did not reach them.",
        number=ticket.id))


def rating_buttons(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(str(stars), callback_data=f"rate:{ticket_id}:{stars}")
        for stars in range(1, 6)]])


def phone_button(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        gettext(lang, "I would prefer a phone call"), callback_data=f"phone:{ticket_id}")]])


async def _claimed(application: Application, ticket: TicketView) -> None:
    """After a claim: the cards show it, the asker hears who is on it, and a shared phone number
    goes to the claimer privately."""
    await refresh_cards(application, ticket)
    await to_asker(application, ticket, gettext(
        ticket.language, "{name} is now looking at your question #{number}. You can go on "
                         "writing here.", name=(ticket.claimer_name or "").split()[0] or "?",
        number=ticket.id), markup=phone_button(ticket.id, ticket.language))
    await _send_phone(application, ticket)


async def _send_phone(application: Application, ticket: TicketView) -> None:
    services = _services(application)
    if ticket.claimed_by is None:
        return
    async with services.db.session() as session:
        phone = await queue.phone_of(session=session, ticket_id=ticket.id,
                                     helper_id=ticket.claimed_by)
        holder = await queue.helper(session=session, user_id=ticket.claimed_by)
    if not phone:
        return
    lang = _lang(services, holder)
    try:
        await application.bot.send_message(ticket.claimed_by, gettext(
            lang, "#{number}: the asker would prefer a phone call: {phone}",
            number=ticket.id, phone=phone))
        notice = gettext(lang, "#{number}: the asker would prefer a call; the number was sent "
                               "privately to {name}.", number=ticket.id, name=ticket.claimer_name)
    except (Forbidden, BadRequest):
        notice = gettext(lang, "#{number}: the asker would prefer a call, but I cannot write to "
                               "{name} privately. {name}, please start a chat with me.",
                         number=ticket.id, name=ticket.claimer_name)
    if await forum_chat(application) is not None:
        await notify_helpers(application, ticket, notice)


# --- buttons on the card -------------------------------------------------------------------------

async def _helper_or_refuse(update: Update, context: PeerdeskContext) -> HelperInfo | None:
    """Only helpers may work tickets: checked on every press and command."""
    user = update.effective_user
    assert user is not None
    async with context.services.db.session() as session:
        helper = await queue.helper(session=session, user_id=user.id)
    if helper is None or not helper.is_helper:
        helper = None
        lang = (user.language_code or "")[:2]
        lang = lang if lang in ("fi", "sv", "en") else context.services.settings.helpers_language
        text = gettext(lang, "Sorry, only the peer-support helpers can do this.")
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_message:
            await update.effective_message.reply_text(text)
    return helper


async def claim_button(update: Update, context: PeerdeskContext) -> None:
    """The first helper to press Claim gets the ticket; the others are told who has it."""
    helper = await _helper_or_refuse(update, context)
    if helper is None:
        return
    query, services = update.callback_query, context.services
    ticket_id = int(query.data.split(":")[2])
    async with services.db.session() as session:
        result = await queue.claim(session=session, ticket_id=ticket_id,
                                   helper_id=helper.telegram_id, now=services.clock(),
                                   policy=policy(services))
    lang = _lang(services, helper)
    if result is None:
        await query.answer()
        return
    if not result.won:
        holder = result.ticket.claimer_name
        await query.answer(
            gettext(lang, "{name} has already claimed this question.", name=holder) if holder
            else gettext(lang, "This question is no longer waiting."), show_alert=True)
        return
    await query.answer(gettext(lang, "It is yours. Write in this topic to answer."))
    logger.info("ticket %s claimed", ticket_id)
    await _claimed(context.application, result.ticket)


async def close_button(update: Update, context: PeerdeskContext) -> None:
    helper = await _helper_or_refuse(update, context)
    if helper is None:
        return
    await update.callback_query.answer()
    await close_ticket(context.application, int(update.callback_query.data.split(":")[2]), helper)


async def close_ticket(application: Application, ticket_id: int, helper: HelperInfo) -> bool:
    """Close: the cards show it, and the asker is asked for a rating."""
    services = _services(application)
    async with services.db.session() as session:
        ticket = await queue.close(session=session, ticket_id=ticket_id, now=services.clock(),
                                   policy=policy(services))
    if ticket is None:
        return False
    logger.info("ticket %s closed", ticket_id)
    await refresh_cards(application, ticket)
    await to_asker(application, ticket, gettext(
        ticket.language, "{name} marked your question #{number} as answered. How did it go? "
                         "(1 = poorly, 5 = very well)\nIf you still need help, reply to this "
                         "message within {days} days.",
        name=helper.name.split()[0], number=ticket.id, days=services.settings.reopen_days),
        markup=rating_buttons(ticket.id), kind=Kind.CLOSING)
    return True


async def reroute_button(update: Update, context: PeerdeskContext) -> None:
    """Reroute, step by step on the card: the role, then the topic (or back)."""
    helper = await _helper_or_refuse(update, context)
    if helper is None:
        return
    query, services = update.callback_query, context.services
    parts = query.data.split(":")
    action, ticket_id = parts[1], int(parts[2])
    lang = _lang(services, helper)
    async with services.db.session() as session:
        ticket = await queue.view(session=session, ticket_id=ticket_id)
    if ticket is None or ticket.status is TicketStatus.CLOSED:
        await query.answer(gettext(lang, "This question is no longer waiting."), show_alert=True)
        return
    if action == "rr":
        await query.answer()
        rows = [[InlineKeyboardButton(services.role_name(role, lang),
                                      callback_data=f"q:rrr:{ticket_id}:{role}")]
                for role in ROLES]
        rows.append([InlineKeyboardButton(gettext(lang, "Back"),
                                          callback_data=f"q:card:{ticket_id}")])
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
    elif action == "rrr":
        role = parts[3]
        if role not in ROLES:
            await query.answer()
            return
        await query.answer()
        topics = [t for t in services.knowledge.topics.values() if t.role == role]
        rows = [[InlineKeyboardButton(t.name[lang], callback_data=f"q:rrt:{ticket_id}:{t.id}")]
                for t in topics]
        rows.append([InlineKeyboardButton(gettext(lang, "Back"),
                                          callback_data=f"q:card:{ticket_id}")])
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
    elif action == "rrt":
        topic = services.knowledge.topics.get(parts[3])
        if topic is None:
            await query.answer()
            return
        async with services.db.session() as session:
            moved = await queue.reroute(session=session, ticket_id=ticket_id, role=topic.role,
                                        topic=topic.id, now=services.clock(),
                                        policy=policy(services))
        await query.answer(gettext(lang, "Passed on.") if moved else None)
        if moved is None:
            await refresh_cards(context.application, ticket)
            return
        logger.info("ticket %s rerouted to role %s", ticket_id, moved.role)
        await _rerouted(context.application, moved)
    else:  # "card": back to the card's own buttons
        await query.answer()
        await refresh_cards(context.application, ticket)


async def _rerouted(application: Application, ticket: TicketView) -> None:
    services = _services(application)
    lang = services.settings.helpers_language
    await refresh_cards(application, ticket)
    forum = await forum_chat(application)
    async with services.db.session() as session:
        mention = await queue.recipients(session=session, ticket=ticket)
    if forum is not None:
        if ticket.thread_id:
            name = f"#{ticket.id} · {services.topic_name(ticket.topic, lang)} · {ticket.language}"
            try:
                await application.bot.edit_forum_topic(forum, ticket.thread_id, name=name[:128])
            except BadRequest:
                pass  # a deleted topic is recreated with the next message
        await notify_helpers(application, ticket, gettext(
            lang, "#{number} now belongs to {role} ({topic}). Could one of you take it?",
            number=ticket.id, role=services.role_name(ticket.role, lang),
            topic=services.topic_name(ticket.topic, lang)), mention)
    else:
        await _private_cards(application, ticket)
    await to_asker(application, ticket, gettext(
        ticket.language, "Your question #{number} was passed on to {role}, who can help you "
                         "best with it.", number=ticket.id,
        role=services.role_name(ticket.role, ticket.language)))


# --- the asker's buttons -------------------------------------------------------------------------

async def rate_button(update: Update, context: PeerdeskContext) -> None:
    """The asker's 1–5 rating; then an optional comment as a reply."""
    query, services = update.callback_query, context.services
    _, ticket_id, stars = query.data.split(":")
    async with services.db.session() as session:
        ticket = await queue.rate(session=session, ticket_id=int(ticket_id),
                                  asker_id=query.from_user.id, stars=int(stars))
    if ticket is None:
        await query.answer(gettext(services.settings.helpers_language if not query.from_user
                                   else (query.from_user.language_code or "fi")[:2],
                                   "This button is not yours to press, or the question has "
                                   "moved on."), show_alert=True)
        return
    await query.answer()
    lang = ticket.language
    await query.edit_message_reply_markup(None)
    await to_asker(context.application, ticket, gettext(
        lang, "Thank you for the rating {stars}! If you like, reply to this message with a "
              "comment for the helper.", stars=STARS * int(stars)), kind=Kind.COMMENT)


async def phone_request(update: Update, context: PeerdeskContext) -> None:
    """Offer Telegram's own button for sharing the phone number."""
    query, services = update.callback_query, context.services
    ticket_id = int(query.data.split(":")[1])
    async with services.db.session() as session:
        ticket = await queue.view(session=session, ticket_id=ticket_id)
    if ticket is None or ticket.asker_chat_id != query.from_user.id:
        await query.answer(gettext((query.from_user.language_code or "fi")[:2],
                                   "This button is not yours to press, or the question has "
                                   "moved on."), show_alert=True)
        return
    await query.answer()
    context.user_data["phone_ticket"] = ticket_id
    await query.message.reply_text(
        gettext(ticket.language, "Press the button below to share your phone number. Only the "
                                 "helper who handles question #{number} sees it.",
                number=ticket_id),
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton(gettext(ticket.language, "Share my phone number"),
                             request_contact=True)]],
            one_time_keyboard=True, resize_keyboard=True))


async def contact_shared(update: Update, context: PeerdeskContext) -> None:
    """The asker shared their own number: it goes to the claiming helper only."""
    message, services = update.effective_message, context.services
    user = update.effective_user
    contact = message.contact
    async with services.db.session() as session:
        ticket_id = context.user_data.get("phone_ticket") or await queue.latest_waiting(
            session=session, asker_id=user.id)
        ticket = None
        if contact.user_id == user.id and ticket_id:
            ticket = await queue.share_phone(session=session, ticket_id=ticket_id,
                                             asker_id=user.id, phone=contact.phone_number)
    from bot.domain.intake import preferred_language

    lang = ticket.language if ticket else preferred_language(None, user.language_code)
    if ticket is None:
        await message.reply_text(gettext(lang, "I can only pass on your own number, for a "
                                               "question that is still open."),
                                 reply_markup=ReplyKeyboardRemove())
        return
    context.user_data.pop("phone_ticket", None)
    await message.reply_text(gettext(lang, "Thank you! Only the helper who handles question "
                                           "#{number} sees your number.", number=ticket.id),
                             reply_markup=ReplyKeyboardRemove())
    if ticket.claimed_by:
        await _send_phone(context.application, ticket)
    elif await forum_chat(context.application) is not None:
        await notify_helpers(context.application, ticket, gettext(
            services.settings.helpers_language, "#{number}: the asker would prefer a call; the "
            "number goes privately to whoever claims the question.", number=ticket.id))


# --- relaying ------------------------------------------------------------------------------------

def _is_note(message: Message) -> bool:
    text = message.text or message.caption or ""
    return text.startswith("!") or text.startswith("/note")


async def helper_wrote(application: Application, message: Message, ticket_id: int) -> None:
    """A helper's message about a ticket: copied to the asker unless it is an internal note."""
    services = _services(application)
    user = message.from_user
    if _is_note(message):
        return
    async with services.db.session() as session:
        helper = await queue.helper(session=session, user_id=user.id)
        if helper is None or not helper.is_helper:
            return  # someone else in the group: not for the asker
        outcome = await queue.helper_message(session=session, ticket_id=ticket_id,
                                             helper_id=helper.telegram_id,
                                             now=services.clock(), policy=policy(services))
    if outcome is None:
        return
    lang = _lang(services, helper)
    ticket = outcome.ticket
    if outcome.outcome is Relay.HELD:
        await message.reply_text(gettext(
            lang, "{name} holds #{number}, so this was not sent to the asker. Start with ! for "
                  "a note.", name=ticket.claimer_name, number=ticket.id))
        return
    if outcome.outcome is Relay.CLOSED:
        await message.reply_text(gettext(
            lang, "#{number} is closed, so this was not sent. The asker can reopen it by "
                  "replying.", number=ticket.id))
        return
    if outcome.first_answer_minutes is not None:
        services.metrics.first_answer.observe(outcome.first_answer_minutes)
    if outcome.claimed_now:
        await _claimed(application, ticket)
    try:
        copy = await application.bot.copy_message(
            ticket.asker_chat_id, message.chat_id, message.message_id,
            reply_parameters=_reply(ticket.source_message_id))
    except Forbidden:
        await _asker_unreachable(application, ticket)
        return
    async with services.db.session() as session:
        await queue.remember(session=session, chat_id=ticket.asker_chat_id,
                             message_id=copy.message_id, ticket_id=ticket.id, kind=Kind.TO_ASKER)


async def asker_wrote(application: Application, message: Message, followup: queue.Followup
                      ) -> None:
    """The asker's follow-up goes to the ticket's helpers."""
    services, ticket = _services(application), followup.ticket
    lang = services.settings.helpers_language
    if followup.reopened:
        await refresh_cards(application, ticket)
        await notify_helpers(application, ticket, gettext(
            lang, "#{number} is open again: the asker wrote after it was closed.",
            number=ticket.id))

    async def send(chat_id: int, thread_id: int | None, reply_to: int | None) -> Message:
        copy = await application.bot.copy_message(
            chat_id, message.chat_id, message.message_id, message_thread_id=thread_id,
            reply_parameters=_reply(reply_to))
        if thread_id is None:
            async with services.db.session() as session:
                await queue.remember(session=session, chat_id=chat_id,
                                     message_id=copy.message_id, ticket_id=ticket.id,
                                     kind=Kind.TO_HELPERS)
        return copy

    await to_helpers(application, ticket, send)


async def group_message(update: Update, context: PeerdeskContext) -> None:
    """A message in a ticket's topic of the helpers' forum."""
    message = update.effective_message
    if not message.is_topic_message or not message.message_thread_id:
        return
    async with context.services.db.session() as session:
        ticket_id = await queue.ticket_in_thread(session=session,
                                                 thread_id=message.message_thread_id)
    if ticket_id is not None:
        await helper_wrote(context.application, message, ticket_id)


async def private_message(update: Update, context: PeerdeskContext) -> None:
    """Before intake: a helper answering a private card, an asker's follow-up, or a shared phone
    number. Anything else falls through to intake as a new question."""
    message, services = update.effective_message, context.services
    user = update.effective_user
    if context.user_data.get("in_conversation"):
        return  # an organiser answering /newevent or /bulletin
    if message.contact:
        await contact_shared(update, context)
        raise ApplicationHandlerStop
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    async with services.db.session() as session:
        found = None if reply_to is None else await queue.find_message(
            session=session, chat_id=message.chat_id, message_id=reply_to)
        if found is not None and found.kind in (Kind.CARD, Kind.TO_HELPERS):
            ticket_id = found.ticket_id
        else:
            ticket_id = None
            followup = await queue.asker_message(
                session=session, asker_id=user.id, chat_id=message.chat_id, reply_to=reply_to,
                now=services.clock(), policy=policy(services))
    if ticket_id is not None:
        await helper_wrote(context.application, message, ticket_id)
        raise ApplicationHandlerStop
    if followup is None:
        return
    if followup.comment:
        text = (message.text or message.caption or "").strip()
        if text:
            async with services.db.session() as session:
                await queue.comment(session=session, ticket_id=followup.ticket.id,
                                    asker_id=user.id, text=text)
            await message.reply_text(gettext(followup.ticket.language,
                                             "Thank you, I passed your comment on."))
            await notify_helpers(context.application, followup.ticket, gettext(
                services.settings.helpers_language, "#{number} feedback: {text}",
                number=followup.ticket.id, text=text[:3000]))
        raise ApplicationHandlerStop
    await asker_wrote(context.application, message, followup)
    raise ApplicationHandlerStop


# --- commands ------------------------------------------------------------------------------------

async def queue_command(update: Update, context: PeerdeskContext) -> None:
    """/queue: open tickets of my roles, oldest first; /mine: the ones I hold."""
    helper = await _helper_or_refuse(update, context)
    if helper is None:
        return
    services, lang = context.services, _lang(context.services, helper)
    mine = update.effective_message.text.lstrip("/").startswith("mine")
    async with services.db.session() as session:
        items = await queue.queue(session=session, roles=None if mine else helper.roles,
                                  holder=helper.telegram_id if mine else None)
    if not items:
        await update.effective_message.reply_text(
            gettext(lang, "You hold no open questions.") if mine
            else gettext(lang, "No questions are waiting. Thank you!"))
        return
    now = services.clock()
    lines = [
        f"#{item.ticket_id} · {services.topic_name(item.topic, lang)} · {item.language} · "
        + format_age((now - item.created_at).total_seconds() / 60, lang) + " · "
        + (item.holder or gettext(lang, "waiting"))
        for item in items[:50]
    ]
    title = gettext(lang, "Questions you hold:") if mine else gettext(
        lang, "Open questions, oldest first:")
    await update.effective_message.reply_text(title + "\n" + "\n".join(lines))


async def availability_command(update: Update, context: PeerdeskContext) -> None:
    """/away and /back."""
    helper = await _helper_or_refuse(update, context)
    if helper is None:
        return
    away = update.effective_message.text.lstrip("/").startswith("away")
    async with context.services.db.session() as session:
        await queue.set_available(session=session, helper_id=helper.telegram_id,
                                  available=not away)
    lang = _lang(context.services, helper)
    await update.effective_message.reply_text(
        gettext(lang, "You are marked away: new questions will not call you. /back when you "
                      "return.") if away
        else gettext(lang, "Welcome back! New questions will call you again."))


async def close_command(update: Update, context: PeerdeskContext) -> None:
    """/close in a ticket's topic, or as a reply to its card in a private chat."""
    helper = await _helper_or_refuse(update, context)
    if helper is None:
        return
    message, services = update.effective_message, context.services
    async with services.db.session() as session:
        if message.chat.type == "private":
            found = await queue.find_message(
                session=session, chat_id=message.chat_id,
                message_id=message.reply_to_message.message_id) \
                if message.reply_to_message else None
            ticket_id = found.ticket_id if found else None
        else:
            ticket_id = await queue.ticket_in_thread(
                session=session, thread_id=message.message_thread_id) \
                if message.is_topic_message else None
    lang = _lang(services, helper)
    if ticket_id is None:
        await message.reply_text(gettext(lang, "Use /close in a question's topic, or as a reply "
                                               "to its card."))
        return
    if not await close_ticket(context.application, ticket_id, helper):
        await message.reply_text(gettext(lang, "#{number} is already closed.", number=ticket_id))


async def note_command(update: Update, context: PeerdeskContext) -> None:
    """/note: an internal note; it stays with the helpers."""


# --- never forgotten -----------------------------------------------------------------------------

async def sweep(context: PeerdeskContext) -> None:
    """Deliver what has not reached the helpers, and send the reminders that have come due."""
    application, services = context.application, context.services
    now = services.clock()
    async with services.db.session() as session:
        pending = await queue.undelivered(session=session, now=now, policy=policy(services))
    for ticket_id in pending:
        try:
            await deliver(application, ticket_id)
        except TelegramError as exc:
            logger.warning("ticket %s not delivered yet (%s)", ticket_id, type(exc).__name__)
    async with services.db.session() as session:
        due = await queue.due(session=session, now=now, policy=policy(services))
    for item in due:
        try:
            await _alert(application, item)
        except TelegramError as exc:
            logger.warning("reminder for ticket %s failed (%s)", item.ticket.id,
                           type(exc).__name__)


async def _alert(application: Application, item: queue.Due) -> None:
    services, ticket = _services(application), item.ticket
    lang = services.settings.helpers_language
    limit = policy(services).limit(ticket.role)
    async with services.db.session() as session:
        if item.alert is Alert.NUDGE:
            holder = await queue.helper(session=session, user_id=ticket.claimed_by or 0)
            mention = [holder] if holder else []
        else:
            mention = await queue.recipients(session=session, ticket=ticket,
                                             everyone=item.alert is Alert.ESCALATION)
    logger.info("ticket %s: %s", ticket.id, item.alert)
    if item.alert is Alert.REMINDER:
        text = gettext(lang, "#{number} has waited {minutes} working minutes for a helper. "
                             "Could one of you take it?", number=ticket.id, minutes=limit)
    elif item.alert is Alert.ESCALATION:
        text = gettext(lang, "#{number} has waited {minutes} working minutes and nobody has "
                             "taken it. Everyone, please help!", number=ticket.id,
                       minutes=2 * limit)
    else:
        text = gettext(lang, "#{number}: the asker is still waiting for a reply.",
                       number=ticket.id)
    if await forum_chat(application) is not None:
        await notify_helpers(application, ticket, text, mention)
    else:
        for helper in mention:
            try:
                await application.bot.send_message(helper.telegram_id, text)
            except (Forbidden, BadRequest):
                logger.warning("a helper could not be reminded of ticket %s", ticket.id)
    if item.alert is Alert.ESCALATION:
        for admin in services.settings.admin_ids:
            try:
                await application.bot.send_message(admin, gettext(
                    lang, "#{number} ({role}, {topic}) has waited {minutes} working minutes "
                          "without a helper.", number=ticket.id,
                    role=services.role_name(ticket.role, lang),
                    topic=services.topic_name(ticket.topic, lang), minutes=2 * limit))
            except (Forbidden, BadRequest):
                logger.warning("an admin could not be told about ticket %s", ticket.id)


# --- wiring --------------------------------------------------------------------------------------

async def set_commands(application: Application) -> None:
    """The helpers' menu in their group (the private menu stays the staff one)."""
    forum = _services(application).settings.helpers_chat_id
    if forum is None:
        return
    lang = _services(application).settings.helpers_language
    try:
        await application.bot.set_my_commands(
            [BotCommand(c, gettext(lang, d)) for c, d in HELPER_COMMANDS],
            scope=BotCommandScopeChat(forum))
    except TelegramError as exc:
        logger.warning("the helpers' command menu was not set (%s)", type(exc).__name__)


def register(application: Application) -> None:
    """Helper handlers. The private relay runs in group -1, before intake, and stops the update
    when it was a follow-up; everything else falls through to intake."""
    services = _services(application)
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(private & ~filters.COMMAND, private_message), group=-1)
    handlers: list[Any] = [
        CommandHandler(["queue", "mine"], queue_command),
        CommandHandler(["away", "back"], availability_command),
        CommandHandler("close", close_command),
        CommandHandler("note", note_command),
        CallbackQueryHandler(claim_button, pattern=r"^q:claim:\d+$"),
        CallbackQueryHandler(close_button, pattern=r"^q:close:\d+$"),
        CallbackQueryHandler(reroute_button, pattern=r"^q:(rr|rrr|rrt|card):\d+(:\w+)?$"),
        CallbackQueryHandler(rate_button, pattern=r"^rate:\d+:[1-5]$"),
        CallbackQueryHandler(phone_request, pattern=r"^phone:\d+$"),
    ]
    if services.settings.helpers_chat_id is not None:
        handlers.append(MessageHandler(
            filters.Chat(services.settings.helpers_chat_id) & filters.UpdateType.MESSAGE
            & ~filters.COMMAND & ~filters.StatusUpdate.ALL, group_message))
    application.add_handlers(handlers)
    if application.job_queue is not None:
        application.job_queue.run_repeating(sweep, interval=services.settings.sla_check_seconds,
                                            first=services.settings.sla_check_seconds,
                                            name="peerdesk-sweep")
