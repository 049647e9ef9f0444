"""Buttons: the card's (claim, reroute, close) for helpers, and the asker's (rating, phone).
Each handler decides through bot.domain.tickets.changes, whose changes queue what they cause;
the handler itself answers only the person who pressed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import ROLES
from bot.domain import corrections
from bot.domain.intake import preferred_language
from bot.domain.models import Routing, TicketStatus
from bot.domain.roster import HelperView
from bot.domain.routing import OTHER_TOPIC
from bot.domain.tickets import changes, messages, views
from bot.domain.tickets.messages import Kind
from bot.domain.tickets.views import TicketView
from bot.i18n import gettext
from bot.services import Services
from bot.telegram import dialogs, posting
from bot.telegram.access import language, stale
from bot.telegram.callbacks import Action, Button, decode, encode
from bot.telegram.context import PeerdeskContext, query_message
from bot.telegram.helpers.cards import (
    CONFIRM,
    card_buttons,
    close_anyway,
    close_question,
    helper_language,
)
from bot.telegram.helpers.templates import STARS
from bot.telegram.keyboards import take_away_buttons

logger = logging.getLogger(__name__)


def asker_state(ticket: TicketView, lang: str) -> str:
    """Where the asker's question is now, in a few words."""
    if ticket.status is TicketStatus.CLOSED:
        return gettext(lang, "closed")
    if ticket.status is TicketStatus.OFFERED:
        return gettext(lang, "an answer is offered: tell me whether it helped")
    if ticket.routing is Routing.ASKED:
        return gettext(lang, "waiting for you to choose who could help")
    if ticket.status is TicketStatus.CLAIMED:
        return gettext(lang, "{name} is on it", name=(ticket.claimer_name or "?").split()[0])
    return gettext(lang, "waiting for a helper")


async def moved_on(update: Update, context: PeerdeskContext, ticket_id: int,
                   lang: str | None = None, reopened: bool = False) -> None:
    """A button under the asker's own question that has moved on since (closed, reopened,
    withdrawn with /forget): said kindly, once, and the buttons go. A button of someone
    else's question is refused as stale."""
    query = update.callback_query
    assert query is not None
    async with context.services.db.session() as session:
        ticket = await views.view(session=session, ticket_id=ticket_id)
    own_chat = isinstance(query.message, Message) and query.message.chat.id == query.from_user.id
    lang = lang or await language(update, context)
    if ticket is not None and ticket.asker_chat_id is None and own_chat:
        # Erased with /forget: whose it was is no longer known, and nothing is said about it.
        text = gettext(lang, "This question has been withdrawn, so this button no longer does "
                             "anything. Write here whenever you need help.")
    elif ticket is None or ticket.asker_chat_id != query.from_user.id:
        await stale(update, context, lang)
        return
    elif reopened and ticket.status is not TicketStatus.CLOSED:
        lang = ticket.language
        text = gettext(lang, "Question #{number} was reopened ({state}), so it cannot be rated "
                             "now. You can rate it when it is closed again.",
                       number=ticket.id, state=asker_state(ticket, lang))
    elif ticket.status is TicketStatus.CLOSED:
        lang = ticket.language
        text = gettext(lang, "Question #{number} is already closed, so this button is no longer "
                             "needed. Write here whenever you need help.", number=ticket.id)
    else:
        lang = ticket.language
        text = gettext(lang, "Question #{number} has moved on already: {state}.",
                       number=ticket.id, state=asker_state(ticket, lang))
    await query.answer(text, show_alert=True)
    await take_away_buttons(query)  # gone already after a double tap: no error


@dataclass(frozen=True, slots=True)
class Press:
    """A helper's press of a button on a ticket's card, and the language to answer them in."""

    query: CallbackQuery
    button: Button
    ticket: TicketView
    on_card: bool  # on the ticket's own card (a Claim can also sit in a listing)
    lang: str

    async def refuse(self, text: str | None = None, restore: bool = False) -> None:
        """The ticket has moved on from what the button expects (closed, taken, released):
        said in an alert — why, or that it no longer waits — and, if asked, the card's own
        buttons put back. Nothing changes."""
        await self.query.answer(text or gettext(self.lang, "This question is no longer "
                                                           "waiting."), show_alert=True)
        if restore:
            try:
                await self.query.edit_message_reply_markup(card_buttons(self.ticket, self.lang))
            except BadRequest as exc:  # the card shows its own buttons already (a non-holder)
                if not posting.not_modified(exc):
                    raise


async def _card_button(update: Update, context: PeerdeskContext, helper: HelperView,
                       *actions: Action) -> Press | None:
    """The press, if the button is well formed and sits on its ticket's own card (a forged
    button on another ticket's card does nothing)."""
    query = update.callback_query
    assert query is not None
    button = decode(query.data, *actions)
    message = query.message
    if button is None or message is None:
        await stale(update, context)
        return None
    async with context.services.db.session() as session:
        found = await messages.find_message(session=session, chat_id=message.chat.id,
                                            message_id=message.message_id)
        ticket = await views.view(session=session, ticket_id=button.id)
    on_its_card = found is not None and found.kind == Kind.CARD and found.ticket_id == button.id
    # A Claim can sit in a listing or a private confirmation, a confirmed Close under /close.
    elsewhere = button.action is Action.CLAIM or (button.action is Action.CLOSE
                                                  and button.arg == CONFIRM)
    if ticket is None or not (on_its_card or elsewhere):
        await stale(update, context)
        return None
    return Press(query, button, ticket, on_its_card, helper_language(context.services, helper))


async def claim_button(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """The first helper to press Claim gets the ticket; the others are told who has it. A ticket
    of another role is claimed after a confirmation."""
    press = await _card_button(update, context, helper, Action.CLAIM)
    if press is None:
        return
    query, button, ticket, lang = press.query, press.button, press.ticket, press.lang
    services = context.services
    if ticket.asker_chat_id == helper.telegram_id:  # a private chat is its person
        await press.refuse(gettext(lang, "#{number} is your own question: a colleague will "
                                         "take it.", number=ticket.id))
        return
    if ticket.role not in helper.roles and button.arg != CONFIRM \
            and ticket.status is TicketStatus.OPEN and press.on_card:
        await _confirm_across_roles(context, press, helper)
        return
    async with services.db.session() as session:
        result = await changes.claim(session=session, ticket_id=ticket.id,
                                     helper_id=helper.telegram_id, now=services.clock(),
                                     desk=services.desk)
    services.wake_sender()
    if result is None:
        await query.answer()
        return
    if not result.won and result.ticket.status is TicketStatus.CLOSED:
        # What really happened, once; a private "Yes, I take #3" goes with it (the card's
        # own buttons follow the card's edit, a listing's the listing's).
        await query.answer(gettext(lang, "#{number} is already closed.", number=ticket.id),
                           show_alert=True)
        if not press.on_card and button.arg == CONFIRM:
            await take_away_buttons(query)
        return
    if not result.won:
        holder = result.ticket.claimer_name
        if result.ticket.claimed_by == helper.telegram_id:  # pressed again, or from a listing
            await query.answer(gettext(lang, "You hold #{number} already.", number=ticket.id))
            return
        await press.refuse(gettext(lang, "{name} has already claimed this question.",
                                   name=holder) if holder else None)
        return
    if ticket.role not in helper.roles:  # after the confirmation (or from a listing)
        logger.info("ticket %s claimed across roles (%s)", ticket.id, ticket.role)
    logger.info("ticket %s claimed", ticket.id)
    if not press.on_card and button.arg == CONFIRM:  # the private confirmation has had its day
        await query.answer(gettext(lang, "#{number} is yours. Write in its topic to answer.",
                                   number=ticket.id))
        await take_away_buttons(query)
        return
    await query.answer(gettext(lang, "It is yours. Write in this topic to answer.")
                       if result.ticket.thread_id or services.forum is None
                       else gettext(lang, "It is yours. Its own topic opens in a moment: "
                                          "write there to answer."))


async def _confirm_across_roles(context: PeerdeskContext, press: Press, helper: HelperView
                                ) -> None:
    """A ticket of another role: the one who pressed is asked whether to take it anyway."""
    ticket, lang = press.ticket, press.lang
    role = context.services.role_name(ticket.role, lang)
    question = gettext(lang, "#{number} is for {role}. Take it anyway?", number=ticket.id,
                       role=role)
    sure = InlineKeyboardButton(gettext(lang, "Yes, I take #{number}", number=ticket.id),
                                callback_data=encode(Action.CLAIM, ticket.id, CONFIRM))
    back = InlineKeyboardButton(gettext(lang, "Back"), callback_data=encode(Action.CARD,
                                                                            ticket.id))
    await _confirm_privately(
        context, press, helper, question, InlineKeyboardMarkup([[sure]]),
        on_card=InlineKeyboardMarkup([[sure, back]]), card_alert=question,
        told=gettext(lang, "#{number} is for {role}. To take it anyway, confirm in your private "
                           "chat with me.", number=ticket.id, role=role))


async def _confirm_privately(context: PeerdeskContext, press: Press, helper: HelperView,
                             question: str, private: InlineKeyboardMarkup, *,
                             on_card: InlineKeyboardMarkup, card_alert: str | None,
                             told: str) -> None:
    """Ask the one who pressed, in their private chat: the card is shared by every helper, so
    its buttons stay as they are and no third person confirms what they never asked. Unless
    that private chat cannot be reached: then the card asks (`on_card`), as before."""
    query = press.query
    try:
        await context.bot.send_message(helper.telegram_id, question, reply_markup=private)
    except (Forbidden, BadRequest):  # they never opened a private chat with the bot
        await query.answer(card_alert, show_alert=card_alert is not None)
        await query.edit_message_reply_markup(on_card)
        return
    await query.answer(told, show_alert=True)


async def close_button(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """Close from the card; a colleague's claimed ticket, or an unclaimed one of another role,
    asks for a confirmation first (on the card; /close asks in a message of its own)."""
    press = await _card_button(update, context, helper, Action.CLOSE)
    if press is None:
        return
    query, button, ticket, lang = press.query, press.button, press.ticket, press.lang
    question = close_question(context.services, ticket, helper, lang)
    if question is not None and button.arg != CONFIRM:
        await _confirm_privately(
            context, press, helper, question, close_anyway(ticket.id, question, lang, back=False),
            on_card=close_anyway(ticket.id, question, lang), card_alert=None,
            told=gettext(lang, "To close #{number} anyway, confirm in your private chat with "
                               "me.", number=ticket.id))
        return
    if button.arg == CONFIRM:
        logger.info("ticket %s closed by a colleague of its holder" if ticket.claimed_by
                    else "ticket %s closed across roles", ticket.id)
    closed = await close_ticket(context, ticket.id, helper)
    if press.on_card or closed:
        await query.answer()
    else:
        await query.answer(gettext(lang, "#{number} is already closed.", number=ticket.id),
                           show_alert=True)
    if not press.on_card:  # /close's confirmation has had its day
        await take_away_buttons(query)


async def close_ticket(context: PeerdeskContext, ticket_id: int, helper: HelperView) -> bool:
    """Close: the cards show it, and the asker is asked for a rating (both queued)."""
    services = context.services
    async with services.db.session() as session:
        ticket = await changes.close(session=session, ticket_id=ticket_id, now=services.clock(),
                                     desk=services.desk, helper_id=helper.telegram_id)
    if ticket is None:
        return False
    services.wake_sender()
    logger.info("ticket %s closed", ticket_id)
    return True


async def reroute_button(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """Reroute, step by step on the card: the role, then the topic (or back)."""
    press = await _card_button(update, context, helper, Action.REROUTE, Action.REROUTE_ROLE,
                               Action.REROUTE_TOPIC, Action.CARD)
    if press is None:
        return
    query, button, ticket, lang = press.query, press.button, press.ticket, press.lang
    services = context.services
    if button.action is Action.CARD:  # back to the card's own buttons
        await query.answer()
        await query.edit_message_reply_markup(card_buttons(ticket, lang))
        return
    if ticket.status is TicketStatus.CLOSED:
        await press.refuse()
        return
    if ticket.claimed_by not in (None, helper.telegram_id):
        await press.refuse(_held_by(ticket, lang))
        return
    back = [InlineKeyboardButton(gettext(lang, "Back"), callback_data=encode(Action.CARD,
                                                                             ticket.id))]
    if button.action is Action.REROUTE:
        await query.answer()
        await query.edit_message_reply_markup(InlineKeyboardMarkup([
            *([InlineKeyboardButton(services.role_name(role, lang), callback_data=encode(
                Action.REROUTE_ROLE, ticket.id, role))] for role in ROLES), back]))
    elif button.action is Action.REROUTE_ROLE:
        if button.arg not in ROLES:
            await stale(update, context, lang)
            return
        await query.answer()
        topics = [t for t in services.knowledge.topics.values() if t.role == button.arg]
        other = InlineKeyboardButton(gettext(lang, "Other question"), callback_data=encode(
            Action.REROUTE_TOPIC, ticket.id, f"{OTHER_TOPIC}_{button.arg}"))
        await query.edit_message_reply_markup(InlineKeyboardMarkup([
            *([InlineKeyboardButton(t.name[lang], callback_data=encode(
                Action.REROUTE_TOPIC, ticket.id, t.id))] for t in topics), [other], back]))
    else:
        arg = button.arg or ""
        topic = services.knowledge.topics.get(arg)
        # The role's "other" comes last in the list: the role is known, the topic is not.
        role = topic.role if topic else arg.removeprefix(f"{OTHER_TOPIC}_")
        if topic is None and (not arg.startswith(f"{OTHER_TOPIC}_") or role not in ROLES):
            await stale(update, context, lang)
            return
        async with services.db.session() as session:
            moved = await changes.reroute(session=session, ticket_id=ticket.id, role=role,
                                          topic=topic.id if topic else OTHER_TOPIC,
                                          now=services.clock(), desk=services.desk)
            if moved is not None:  # the router learns from the helper's correction
                await corrections.learn(session=session, router=services.router,
                                        ticket_id=ticket.id)
        services.wake_sender()
        if moved is None:
            await query.answer()
            await query.edit_message_reply_markup(card_buttons(ticket, lang))
            return
        view, role_changed = moved
        await query.answer(gettext(lang, "Passed on.") if role_changed
                           else gettext(lang, "Topic changed."))
        logger.info("ticket %s rerouted to role %s", ticket.id, view.role)


# --- the holder's controls: release, hand over ----------------------------------------------------

def not_passable(services: Services, ticket: TicketView, helper: HelperView, lang: str
                 ) -> str | None:
    """Why this helper cannot release or hand over the ticket (None: they can)."""
    if ticket.status is TicketStatus.OPEN:
        return gettext(lang, "#{number} is not in anyone's hands: it waits in the queue.",
                       number=ticket.id)
    if ticket.status is not TicketStatus.CLAIMED:
        return gettext(lang, "This question is no longer waiting.")
    if ticket.claimed_by != helper.telegram_id and helper.telegram_id not in services.desk.admins:
        return _held_by(ticket, lang)
    return None


def _held_by(ticket: TicketView, lang: str) -> str:
    return gettext(lang, "{name} holds #{number}, so only they can pass it on.",
                   name=ticket.claimer_name or "?", number=ticket.id)


async def release_ticket(context: PeerdeskContext, ticket_id: int, helper: HelperView
                         ) -> TicketView | None:
    """Back to the queue: the role is called again and the asker told (both queued)."""
    services = context.services
    async with services.db.session() as session:
        ticket = await changes.release(session=session, ticket_id=ticket_id,
                                       helper_id=helper.telegram_id, now=services.clock(),
                                       desk=services.desk)
    if ticket is not None:
        services.wake_sender()
        logger.info("ticket %s released back to the queue", ticket_id)
    return ticket


async def release_button(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """Release: the holder gives the ticket back to the queue."""
    press = await _card_button(update, context, helper, Action.RELEASE)
    if press is None:
        return
    ticket, lang = press.ticket, press.lang
    refusal = not_passable(context.services, ticket, helper, lang)
    if refusal is None and await release_ticket(context, ticket.id, helper) is not None:
        await press.query.answer(gettext(lang, "#{number} is back in the queue; your colleagues "
                                               "are called. Thank you!", number=ticket.id))
        return
    await press.refuse(refusal)


async def hand_over_button(update: Update, context: PeerdeskContext, helper: HelperView
                           ) -> None:
    """Hand over, step by step on the card: the role's helpers by name (or all helpers), then
    the ticket is theirs."""
    press = await _card_button(update, context, helper, Action.HAND_OVER, Action.HAND_OVER_ALL,
                               Action.HAND_TO)
    if press is None:
        return
    query, button, ticket, lang = press.query, press.button, press.ticket, press.lang
    services = context.services
    refusal = not_passable(services, ticket, helper, lang)
    if refusal is not None:
        # The card's own buttons back when the question moved on; not when a colleague holds
        # it, whose hand-over list may be open on this very card.
        held_by_another = ticket.status is TicketStatus.CLAIMED \
            and ticket.claimed_by != helper.telegram_id
        await press.refuse(refusal, restore=not held_by_another)
        return
    if button.action is Action.HAND_TO:
        to_id = int(button.arg) if button.arg and button.arg.isdigit() else 0
        async with services.db.session() as session:
            moved = await changes.hand_over(session=session, ticket_id=ticket.id,
                                            helper_id=helper.telegram_id, to_id=to_id,
                                            now=services.clock(), desk=services.desk)
        if moved is None:
            await stale(update, context, lang)
            return
        services.wake_sender()
        logger.info("ticket %s handed over to a colleague", ticket.id)
        await query.answer(gettext(lang, "#{number} is now with {name}. Thank you!",
                                   number=ticket.id, name=moved.claimer_name or "?"))
        return
    everyone = button.action is Action.HAND_OVER_ALL
    async with services.db.session() as session:
        names = await views.colleagues(session=session, ticket_id=ticket.id, everyone=everyone)
        if not names and not everyone:
            everyone = True
            names = await views.colleagues(session=session, ticket_id=ticket.id, everyone=True)
    await query.answer(None if names else gettext(lang, "There is no colleague to hand it to."),
                       show_alert=not names)
    people = [InlineKeyboardButton(h.name, callback_data=encode(Action.HAND_TO, ticket.id,
                                                                h.telegram_id))
              for h in names[:40]]
    rows = [people[i:i + 2] for i in range(0, len(people), 2)]
    if not everyone:
        rows.append([InlineKeyboardButton(gettext(lang, "All helpers…"),
                                          callback_data=encode(Action.HAND_OVER_ALL, ticket.id))])
    rows.append([InlineKeyboardButton(gettext(lang, "Back"),
                                      callback_data=encode(Action.CARD, ticket.id))])
    await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))


# --- the asker's buttons -------------------------------------------------------------------------

async def rate_button(update: Update, context: PeerdeskContext) -> None:
    """The asker's 1–5 rating; then an optional comment as a reply."""
    query, services = update.callback_query, context.services
    assert query is not None
    button = decode(query.data, Action.RATE)
    stars = int(button.arg) if button and button.arg and button.arg.isdigit() else 0
    rated = None
    if button is not None:
        async with services.db.session() as session:
            rated = await changes.rate(session=session, ticket_id=button.id,
                                       asker_id=query.from_user.id, stars=stars,
                                       now=services.clock(), desk=services.desk)
    if rated is None:
        if button is None or not 1 <= stars <= 5:
            await stale(update, context)
        else:  # reopened since, or withdrawn: said kindly, and the stars go
            await moved_on(update, context, button.id, reopened=True)
        return
    ticket = rated.ticket
    if not rated.counted:  # a second tap: the first one's rating and thanks stand
        await query.answer(gettext(ticket.language, "Your rating of question #{number} is "
                                                    "noted already. Thank you!",
                                   number=ticket.id))
        await take_away_buttons(query)
        return
    services.wake_sender()  # a good rating offers "Save as an answer" on the cards
    await query.answer()
    await take_away_buttons(query)
    await thank_for_rating(context, query_message(query), ticket, stars)


async def thank_for_rating(context: PeerdeskContext, message: Message, ticket: TicketView,
                           stars: int, *, typed: bool = False) -> None:
    """Thanks for a rating (pressed, or `typed` as a number), in reply to `message`; a reply to
    the thanks is a comment for the helper. A typed rating takes the closing message's stars
    away too, as a press does (after the thanks: they are the answer the asker waits for)."""
    prompt = await message.reply_text(gettext(
        ticket.language, "Thank you for the rating {stars}! If you like, reply to this message "
                         "with a comment for the helper.", stars=STARS * stars) if stars > 2
        else gettext(ticket.language, "Thank you for your honest rating {stars}. I am sorry it "
                                      "did not go better. What could have gone better? If you "
                                      "like, reply to this message: your words reach the "
                                      "helper.", stars=STARS * stars))
    async with context.services.db.session() as session:
        await messages.remember(session=session, chat_id=prompt.chat_id,
                                message_id=prompt.message_id, ticket_id=ticket.id,
                                kind=Kind.COMMENT)
        closing = await messages.of_kind(session=session, ticket_id=ticket.id,
                                         kind=Kind.CLOSING) if typed else []
    for chat_id, message_id in closing:
        try:
            await context.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
        except TelegramError as exc:  # gone, or taken away already: nothing to do
            logger.info("a closing message's stars could not be taken away (%s)",
                        type(exc).__name__)


async def phone_request(update: Update, context: PeerdeskContext) -> None:
    """Offer Telegram's own button for sharing the phone number."""
    query, services = update.callback_query, context.services
    assert query is not None
    button = decode(query.data, Action.PHONE)
    ticket = None
    if button is not None:
        async with services.db.session() as session:
            ticket = await views.view(session=session, ticket_id=button.id)
    if ticket is None or ticket.asker_chat_id != query.from_user.id \
            or ticket.status is TicketStatus.CLOSED:
        await stale(update, context)
        return
    await query.answer()
    # The number shared next goes with this question, whichever replica takes it.
    await dialogs.begin(update, context, dialogs.PHONE, "share", lang=ticket.language,
                        answers={"ticket_id": ticket.id})
    await query_message(query).reply_text(
        gettext(ticket.language, "Press the button below to share your phone number. Only the "
                                 "helper who handles question #{number} sees it.",
                number=ticket.id),
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton(gettext(ticket.language, "Share my phone number"),
                             request_contact=True)]],
            one_time_keyboard=True, resize_keyboard=True))


async def contact_shared(update: Update, context: PeerdeskContext) -> None:
    """The asker shared their own number: it goes to the claiming helper only."""
    message, services, user = update.effective_message, context.services, update.effective_user
    assert message is not None and user is not None and message.contact is not None
    contact = message.contact
    asked = await dialogs.current(update, context, dialogs.PHONE)
    async with services.db.session() as session:
        ticket_id = int(asked.answers["ticket_id"]) if asked is not None else None
        ticket_id = ticket_id or await views.latest_waiting(session=session, asker_id=user.id)
        ticket = None
        if contact.user_id == user.id and ticket_id:
            ticket = await changes.share_phone(session=session, ticket_id=ticket_id,
                                               asker_id=user.id, phone=contact.phone_number,
                                               now=services.clock(), desk=services.desk)
    lang = ticket.language if ticket else preferred_language(None, user.language_code)
    if ticket is None:
        await message.reply_text(gettext(lang, "I can only pass on your own number, for a "
                                               "question that is still open."),
                                 reply_markup=ReplyKeyboardRemove())
        return
    services.wake_sender()
    if asked is not None:
        await dialogs.end(context, asked)
    await message.reply_text(gettext(lang, "Thank you! Only the helper who handles question "
                                           "#{number} sees your number.", number=ticket.id),
                             reply_markup=ReplyKeyboardRemove())
