"""The ticket's card and forum topic, as the sender sends them: a card in the ticket's own topic
(created when missing, again when someone deleted it) or privately to a helper; the listing of
several new tickets in one message when the group has no room for a topic each; and the edits
that show a ticket's new state."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, User
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application

from bot.domain import answers, roster
from bot.domain.answers import AtHand
from bot.domain.models import Routing, TicketStatus
from bot.domain.outbox import Claimed
from bot.domain.roster import HelperView
from bot.domain.tickets import messages, notices, views
from bot.domain.tickets.messages import Kind
from bot.domain.tickets.views import TicketView
from bot.i18n import gettext
from bot.services import Services
from bot.telegram import posting
from bot.telegram.callbacks import Action, encode
from bot.telegram.helpers import topics
from bot.telegram.posting import send_text
from bot.telegram.sender import Sent

logger = logging.getLogger(__name__)
T = TypeVar("T")
CONFIRM = "sure"  # the arg of a button that confirms an action on a colleague's ticket
MAX_TEXT = 4096
LISTING_MAX = 20  # tickets in one listing message
ANSWER_SNIPPET = 160  # characters of each answer at hand shown on the card
BUTTON_SNIPPET = 40  # …and on its button


def services_of(application: Application) -> Services:
    return application.bot_data["services"]


def helper_language(services: Services, helper: HelperView | None = None) -> str:
    """A helper's one language (bot.domain.roster.HelperView.language); the helpers' language
    for the group and for anyone outside the roster."""
    default = services.settings.helpers_language
    return helper.language(default) if helper is not None else default


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def with_mentions(text: str, mention: Sequence[HelperView], separator: str = "\n\n"
                  ) -> tuple[str, list[MessageEntity]]:
    """Call helpers by name (Telegram mentions, so they are notified)."""
    entities: list[MessageEntity] = []
    if not mention:
        return text, entities
    text += separator
    for index, helper in enumerate(mention[: notices.MAX_MENTIONS]):
        if index:
            text += ", "
        entities.append(MessageEntity(
            MessageEntity.TEXT_MENTION, _utf16(text), _utf16(helper.name),
            user=User(helper.telegram_id, helper.name, is_bot=False)))
        text += helper.name
    return text, entities


def topic_name(services: Services, ticket: TicketView) -> str:
    lang = services.settings.helpers_language
    return f"#{ticket.id} · {services.topic_name(ticket.topic, lang)} · {ticket.language}"[:128]


def _asker(ticket: TicketView, lang: str) -> str:
    if ticket.anonymous:
        return gettext(lang, "anonymous")
    return ", ".join(part for part in (ticket.asker_name or gettext(lang, "no name"),
                                       ticket.asker_team) if part)


def _snippet(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _at_hand_text(services: Services, at_hand: AtHand, lang: str) -> str:
    """Answers at hand and similar earlier questions (numbers only: askers stay anonymous)."""
    text = ""
    if at_hand.answers:
        text += "\n\n" + gettext(lang, "Answers at hand (a button sends one to the asker in "
                                        "their language):") + "".join(
            f"\n• {_snippet(services.answer_text(a, lang), ANSWER_SNIPPET)}"
            for a in at_hand.answers)
    if at_hand.similar:
        text += "\n\n" + gettext(lang, "Similar earlier questions: {numbers}", numbers=", ".join(
            f"#{number}" for number in at_hand.similar))
    return text


async def at_hand(services: Services, ticket_id: int) -> AtHand:
    async with services.db.session() as session:
        return await answers.at_hand(session=session, router=services.router,
                                     ticket_id=ticket_id)


def card_text(services: Services, ticket: TicketView, lang: str, extras: AtHand,
              mention: Sequence[HelperView] = ()) -> tuple[str, list[MessageEntity]]:
    """The ticket card: who asks (or anonymous), what about, its state, the question, the
    answers at hand and similar questions, and the helpers called by name."""
    if ticket.status is TicketStatus.CLOSED:
        state = gettext(lang, "Closed")
    elif ticket.claimer_name:
        state = gettext(lang, "Claimed by {name}", name=ticket.claimer_name)
    else:
        state = gettext(lang, "Waiting for a helper")
    text = (
        f"#{ticket.id} · {services.topic_name(ticket.topic, lang)} · {ticket.language}\n"
        + gettext(lang, "Asker: {asker}", asker=_asker(ticket, lang)) + "\n"
        + gettext(lang, "Role: {role}", role=services.role_name(ticket.role, lang)) + "\n"
        + _why(ticket, lang, extras)
        + gettext(lang, "State: {state}", state=state) + "\n"
        + (gettext(lang, "A self-service answer was offered; the asker did not confirm it "
                         "helped.") + "\n" if ticket.offer_unsettled else "") + "\n"
        # A picture or voice without words (it follows the card); not a text erased by /forget.
        + (ticket.text or ("" if ticket.asker_chat_id is None else gettext(
            lang, "(no text: a picture, voice message or file follows)")))
    )
    more = _at_hand_text(services, extras, lang)
    room = MAX_TEXT - 400 - len(more)
    if len(text) > room:  # a long question: the card says so (the whole of it follows the card)
        text = text[: room - 1] + "…"
    return with_mentions(text + more, mention)


def _why(ticket: TicketView, lang: str, extras: AtHand) -> str:
    """One line on why the bot chose the role (the words that pulled most), when it chose, as
    worked out with what is at hand (bot.domain.answers)."""
    cues = extras.cues if ticket.routing is Routing.AUTO and ticket.text else ()
    if not cues:
        return ""
    return gettext(lang, "Routed by: {cues}", cues=", ".join(cues)) + "\n"


def card_buttons(ticket: TicketView, lang: str, extras: AtHand | None = None,
                 services: Services | None = None) -> InlineKeyboardMarkup | None:
    if ticket.status is TicketStatus.CLOSED:
        if extras is not None and extras.savable:
            return InlineKeyboardMarkup([[InlineKeyboardButton(
                gettext(lang, "Save as an answer"),
                callback_data=encode(Action.ANSWER_SAVE, ticket.id))]])
        return None
    sends = [[InlineKeyboardButton(
        "↪ " + _snippet(services.answer_text(a, lang), BUTTON_SNIPPET),
        callback_data=encode(Action.ANSWER_SEND, ticket.id, a))]
        for a in (extras.answers if extras is not None else ())] if services is not None else []
    row = []
    if ticket.status is TicketStatus.OPEN:
        row.append(InlineKeyboardButton(gettext(lang, "Claim"),
                                        callback_data=encode(Action.CLAIM, ticket.id)))
    row += [InlineKeyboardButton(gettext(lang, "Reroute"),
                                 callback_data=encode(Action.REROUTE, ticket.id)),
            InlineKeyboardButton(gettext(lang, "Close"),
                                 callback_data=encode(Action.CLOSE, ticket.id))]
    rows = [row]
    if ticket.status is TicketStatus.CLAIMED:  # the holder's: give it back, or to a colleague
        rows.append([
            InlineKeyboardButton(gettext(lang, "Release"),
                                 callback_data=encode(Action.RELEASE, ticket.id)),
            InlineKeyboardButton(gettext(lang, "Hand over"),
                                 callback_data=encode(Action.HAND_OVER, ticket.id))])
    return InlineKeyboardMarkup([*rows, *sends])


def close_question(services: Services, ticket: TicketView, helper: HelperView, lang: str
                   ) -> str | None:
    """What to ask before closing: a colleague's claimed ticket, or an unclaimed one of a role
    the helper does not have (as a claim across roles asks). None: close at once."""
    if ticket.status is TicketStatus.CLOSED:
        return None
    if ticket.claimed_by not in (None, helper.telegram_id):
        return gettext(lang, "{name} holds #{number}: close it anyway?",
                       name=ticket.claimer_name or "?", number=ticket.id)
    if ticket.claimed_by is None and ticket.role not in helper.roles:
        return gettext(lang, "#{number} is for {role}: close it anyway?", number=ticket.id,
                       role=services.role_name(ticket.role, lang))
    return None


def close_anyway(ticket_id: int, question: str, lang: str, *, back: bool = True
                 ) -> InlineKeyboardMarkup:
    """The confirmation's button (on the card, with Back to its own buttons)."""
    rows = [[InlineKeyboardButton(question,
                                  callback_data=encode(Action.CLOSE, ticket_id, CONFIRM))]]
    if back:
        rows.append([InlineKeyboardButton(gettext(lang, "Back"),
                                          callback_data=encode(Action.CARD, ticket_id))])
    return InlineKeyboardMarkup(rows)


async def _view(services: Services, ticket_id: int | None) -> TicketView | None:
    if ticket_id is None:
        return None
    async with services.db.session() as session:
        return await views.view(session=session, ticket_id=ticket_id)


# --- the forum topic -----------------------------------------------------------------------------

async def ensure_topic(application: Application, ticket_id: int,
                       deleted: int | None = None) -> int:
    """The ticket's forum topic, created with its card when missing (or when `deleted` is its
    thread). All forum messages go through one lane of the sender, so one at a time."""
    services = services_of(application)
    forum = services.forum
    assert forum is not None
    async with services.db.session() as session:
        ticket = await views.view(session=session, ticket_id=ticket_id)
        assert ticket is not None
        has_card = await messages.card_in(session=session, ticket_id=ticket_id, chat_id=forum)
        mention = await notices.recipients(session=session, ticket=ticket) \
            if ticket.status is TicketStatus.OPEN else []
    if ticket.thread_id and ticket.thread_id != deleted:
        if has_card is None:  # the process stopped between the topic and its card
            await _topic_card(application, ticket, ticket.thread_id, mention)
        return ticket.thread_id
    thread_id = await topics.create(application, ticket_id, topic_name(services, ticket),
                                    deleted)
    ticket = await _view(services, ticket_id)
    assert ticket is not None
    await _topic_card(application, ticket, thread_id, mention)
    if deleted:
        logger.info("ticket %s: its deleted topic was created again", ticket_id)
    return thread_id


async def _topic_card(application: Application, ticket: TicketView, thread_id: int,
                      mention: Sequence[HelperView]) -> None:
    services = services_of(application)
    assert services.forum is not None
    lang = services.settings.helpers_language
    extras = await at_hand(services, ticket.id)
    text, entities = card_text(services, ticket, lang, extras, mention)
    message = await application.bot.send_message(
        services.forum, text, entities=entities or None, message_thread_id=thread_id,
        reply_markup=card_buttons(ticket, lang, extras, services))
    async with services.db.session() as session:
        await messages.remember(session=session, chat_id=services.forum, ticket_id=ticket.id,
                                message_id=message.message_id, kind=Kind.CARD, commit=False)
        await messages.shown(session=session, ticket_ids=[ticket.id], now=services.clock())


async def in_topic(application: Application, ticket_id: int,
                   send: Callable[[int], Awaitable[T]]) -> T:
    """Send into the ticket's topic (`send(thread_id)`), opening it first if needed, and again
    if someone deleted it."""
    thread_id = await ensure_topic(application, ticket_id)
    try:
        return await send(thread_id)
    except BadRequest as exc:
        if "thread not found" not in str(exc).lower():
            raise
    return await send(await ensure_topic(application, ticket_id, deleted=thread_id))


# --- renderers for the sender --------------------------------------------------------------------

async def send_card(application: Application, item: Claimed) -> Sent | None:
    """CARD: the ticket becomes visible to helpers: its topic and card in the forum, or a card in
    one helper's private chat. Nothing is sent twice: what is there already is not sent again."""
    services = services_of(application)
    if item.ticket_id is None:
        return None
    if item.chat_id == services.forum:
        ticket = await _view(services, item.ticket_id)
        if ticket is not None and (ticket.status is not TicketStatus.CLOSED or ticket.thread_id):
            await ensure_topic(application, ticket.id)
        return None
    # What the card needs (and whether it is there already), read in one statement.
    async with services.db.unit() as session:  # Core statements: no ORM session
        found = await answers.private_card(session=session, router=services.router,
                                           ticket_id=item.ticket_id, chat_id=item.chat_id)
    if found is None:
        return None
    ticket, extras = found.ticket, found.at_hand
    lang = found.language(services.settings.helpers_language)
    text, entities = card_text(services, ticket, lang, extras)
    try:
        message_id = await send_text(application.bot, item.chat_id, text,
                                     entities=entities or None,
                                     reply_markup=card_buttons(ticket, lang, extras, services))
    except (Forbidden, BadRequest) as exc:
        logger.warning("a helper could not be reached privately for ticket %s (%s)", ticket.id,
                       type(exc).__name__)
        return None
    # Noted as the ticket's card, with the ticket shown, in the write that marks the row sent
    # (bot.telegram.sender): once that is done, the card is never sent again.
    return Sent(remember=[(item.chat_id, message_id, ticket.id, Kind.CARD)],
                shown=[ticket.id])


async def list_new(application: Application, items: list[Claimed]) -> list[int]:
    """Several new tickets in one message in the forum's General topic, a Claim button each,
    when more wait than the group can take one by one; returns the tickets listed."""
    services = services_of(application)
    assert services.forum is not None
    lang = services.settings.helpers_language
    tickets: list[TicketView] = []
    visible: list[int] = []
    for item in items:
        ticket = await _view(services, item.ticket_id)
        if ticket is None or ticket.status is TicketStatus.CLOSED or ticket.thread_id:
            if ticket is not None:
                visible.append(ticket.id)  # seen already, or nothing to show
            continue
        if len(tickets) < LISTING_MAX:
            tickets.append(ticket)
    if not tickets:
        return visible
    lines = []
    buttons = []
    for ticket in tickets:
        # No name and no words of the question: this message is never edited, and an asker may
        # go anonymous or withdraw the question (/forget) after it is sent. The card, in the
        # topic that opens when it is claimed, shows the rest (and is edited when they do).
        lines.append(f"#{ticket.id} · {services.topic_name(ticket.topic, lang)} · "
                     f"{ticket.language}")
        buttons.append([InlineKeyboardButton(
            gettext(lang, "Claim #{number}", number=ticket.id),
            callback_data=encode(Action.CLAIM, ticket.id))])
    text = gettext(lang, "New questions are coming in faster than topics can be opened. Claim "
                         "one here; its own topic opens when claimed.") + "\n\n" + \
        "\n".join(lines)
    await application.bot.send_message(services.forum, text[:MAX_TEXT],
                                       reply_markup=InlineKeyboardMarkup(buttons))
    ids = [ticket.id for ticket in tickets]
    async with services.db.session() as session:
        await messages.shown(session=session, ticket_ids=ids, now=services.clock())
    logger.info("%d new tickets listed together", len(ids))
    return ids + visible


async def edit_cards(application: Application, item: Claimed) -> Sent | None:
    """EDIT_CARDS: every card of the ticket shows its new state."""
    services = services_of(application)
    if item.ticket_id is None:
        return None
    async with services.db.session() as session:  # what the edits need, read once
        found = await answers.card(session=session, router=services.router,
                                   ticket_id=item.ticket_id)
        if found is None:
            return None
        ticket, extras = found
        rows = await messages.card_messages(session=session, ticket_id=ticket.id)
        helpers = {chat: await roster.helper(session=session, user_id=chat) for chat, _ in rows}
    for chat_id, message_id in rows:
        lang = helper_language(services, helpers.get(chat_id)) if chat_id > 0 \
            else services.settings.helpers_language
        text, entities = card_text(services, ticket, lang, extras)
        try:
            await application.bot.edit_message_text(
                text, chat_id, message_id, entities=entities or None,
                reply_markup=card_buttons(ticket, lang, extras, services))
        except BadRequest as exc:
            if not posting.not_modified(exc):
                logger.warning("card of ticket %s not updated: %s", ticket.id, exc)
        except Forbidden:
            pass
    return None


async def edit_topic(application: Application, item: Claimed) -> Sent | None:
    """EDIT_TOPIC: the topic's name follows a reroute."""
    services = services_of(application)
    ticket = await _view(services, item.ticket_id)
    if ticket is None or not ticket.thread_id or services.forum is None:
        return None
    try:
        await application.bot.edit_forum_topic(services.forum, ticket.thread_id,
                                               name=topic_name(services, ticket))
    except BadRequest:
        pass  # a deleted topic is recreated with the next message
    return None
