"""Intake handlers: greeting, language, anonymity, the asker's commands and buttons, and the
kind answers to what cannot be a question (the messages themselves: bot.telegram.questions)."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.ext import (
    ApplicationHandlerStop,
    filters,
)

from bot import ROLES
from bot.domain import intake
from bot.domain.intake import Part
from bot.domain.models import Routing, TicketStatus
from bot.domain.tickets import changes, views
from bot.domain.tickets.conversation import Turn
from bot.i18n import _, gettext
from bot.telegram import dialogs, keyboards, menus, posting, questions
from bot.telegram.access import language, stale
from bot.telegram.callbacks import Action, decode
from bot.telegram.context import (
    PeerdeskContext,
    message_of,
    query_message,
    query_of,
    user_of,
)
from bot.telegram.helpers.buttons import asker_state, moved_on, phone_request
from bot.telegram.questions import (
    acknowledged,
    acknowledgement,
    acknowledgement_markup,
    answer_turn,
    converse_part,
    new_question,
    part_of,
)

logger = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE
# What can be a question: words, or a picture, file, video or voice (with or without a caption).
MEDIA = (filters.PHOTO | filters.Document.ALL | filters.VIDEO | filters.VOICE | filters.AUDIO
         | filters.VIDEO_NOTE | filters.ANIMATION)
ASKABLE = filters.TEXT | MEDIA

async def _remember(update: Update, context: PeerdeskContext) -> str:
    """Store the sender's name and Telegram language; returns the language to answer in."""
    user = user_of(update)
    assert user is not None
    async with context.services.db.session() as session:
        person = await intake.remember_staff(
            session=session, telegram_id=user.id, first_name=user.first_name,
            telegram_language=user.language_code,
        )
    return person.language


async def start(update: Update, context: PeerdeskContext) -> None:
    """Greet, say who helps with what, and invite the question."""
    lang = await _remember(update, context)
    services = context.services
    roles = "\n".join(
        f"• {services.role_name(r, lang)}: {services.knowledge.roles[r].helps_with[lang]}"
        for r in ROLES
    )
    name = user_of(update).first_name
    await message_of(update).reply_text(
        gettext(lang, "Hi {name}! I pass your questions to colleagues who help:", name=name)
        + f"\n\n{roles}\n\n"
        + gettext(lang, "Write your question here, in Finnish, Swedish or English. No question "
                        "is too small, and you can stay anonymous: /anon")
    )


async def help_command(update: Update, context: PeerdeskContext) -> None:
    """Explain how to ask and list the commands: the staff's, and the person's own beyond them
    (helpers, coaches, organisers), as their menu shows them."""
    lang = await language(update, context)
    person = await menus.person(context.services, user_of(update).id)
    await message_of(update).reply_text(
        gettext(lang, "Write your question as an ordinary message. I save it at once and a "
                      "colleague answers you here.") + "\n\n"
        + "\n".join(menus.help_lines(person, lang))
    )


async def lang_command(update: Update, context: PeerdeskContext) -> None:
    """Offer the three languages as buttons."""
    lang = await language(update, context)
    await message_of(update).reply_text(
        gettext(lang, "Choose your language:"), reply_markup=keyboards.languages()
    )


async def team_command(update: Update, context: PeerdeskContext) -> None:
    """/team NAME: the asker's team, so that a helper from the same team is called first and the
    monthly figures can be read per team."""
    lang = await _remember(update, context)
    name = " ".join(context.args or []).strip()
    if not name:
        async with context.services.db.session() as session:
            team = await intake.team_of(session=session, telegram_id=user_of(update).id)
        await message_of(update).reply_text(
            (gettext(lang, "Your team: {team}", team=team) + "\n" if team else "")
            + gettext(lang, "Write your team after the command, for example: /team Liiketalous"))
        return
    async with context.services.db.session() as session:
        team = await intake.set_team(session=session, telegram_id=user_of(update).id,
                                     team=name)
    await message_of(update).reply_text(gettext(lang, "Thank you! Your team: {team}",
                                                      team=team))


async def anon_command(update: Update, context: PeerdeskContext) -> None:
    """Turn asking anonymously on or off for the next questions."""
    lang = await _remember(update, context)
    async with context.services.db.session() as session:
        on = await intake.toggle_anonymous(session=session, telegram_id=user_of(update).id)
    text = (
        _("Anonymous asking is on: helpers will not see your name. /anon turns it off.")
        if on else _("Anonymous asking is off: helpers see your first name. /anon turns it on.")
    )
    await message_of(update).reply_text(gettext(lang, text))


async def question(update: Update, context: PeerdeskContext) -> None:
    """Words, a picture, a file or voice with no conversation to join: store it as a ticket
    first, then acknowledge at once."""
    message, user = message_of(update), user_of(update)
    assert message is not None and user is not None
    await questions.new_question(context, message, user)


async def other_matter(update: Update, context: PeerdeskContext) -> None:
    """"Add to #12" or "New question" under a message that may be another matter."""
    query = query_of(update)
    lang = await language(update, context)
    button = decode(query.data, Action.JOIN, Action.NEW)
    asked = query.message if isinstance(query.message, Message) else None
    original = asked.reply_to_message if asked is not None else None
    message_id = (int(button.arg) if button.arg and button.arg.isdigit() else 0) \
        if button is not None and button.action is Action.JOIN else (button.id if button else 0)
    if button is None or original is None or asked is None \
            or original.message_id != message_id or asked.chat.id != query.from_user.id:
        await stale(update, context, lang)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    more: list[Part] = []
    pending = await dialogs.current(update, context, dialogs.JOIN)
    if pending is not None and pending.answers.get("prompt_id") == asked.message_id:
        if await dialogs.end(context, pending):
            # What the asker wrote while this question waited goes along.
            more = [Part(int(p["id"]), str(p["text"]), bool(p["media"]))
                    for p in pending.answers["more"]]
    if button.action is Action.NEW:
        await new_question(context, original, query.from_user, more)
        return
    conversation = await converse_part(context, asked.chat.id, part_of(original), query.from_user,
                                   join=button.id)
    if conversation.turn is Turn.NEW:  # the question was closed for good meanwhile
        await new_question(context, original, query.from_user, more)
        return
    latest = conversation
    for part in more:
        latest = await converse_part(context, asked.chat.id, part, query.from_user, join=button.id)
    if more:
        context.services.wake_sender()
    # Told once: of the question that still waits for a role, the roles as they are now.
    await answer_turn(context, original, latest if conversation.turn is Turn.MERGED
                       else conversation)


async def chose_role(update: Update, context: PeerdeskContext) -> None:
    """The asker picked the kind of helper for an unclear question (or "I don't know")."""
    query = query_of(update)
    lang = await language(update, context)
    button = decode(query.data, Action.ROLE)
    if button is None:
        await stale(update, context, lang)
        return
    async with context.services.db.session() as session:
        receipt = await intake.choose_role(
            session=session, router=context.services.router, ticket_id=button.id,
            asker_id=query.from_user.id, role=button.arg or "", desk=context.services.desk,
            now=context.services.clock(),
        )
    if receipt is None:
        async with context.services.db.session() as session:
            again = await intake.chosen_already(session=session, ticket_id=button.id,
                                                asker_id=query.from_user.id,
                                                role=button.arg or "",
                                                now=context.services.clock())
        if again is None:
            await moved_on(update, context, button.id, lang)
        else:  # a double tap: the first press made this message the acknowledgement
            await query.answer(gettext(again.language, "Question #{number} is on its way "
                                                       "already.", number=again.ticket_id))
        return
    context.services.wake_sender()
    await query.answer()
    await query.edit_message_text(acknowledgement(context, receipt),
                                  reply_markup=acknowledgement_markup(receipt))


async def self_service_answer(update: Update, context: PeerdeskContext) -> None:
    """"This helped" closes the ticket as self-served; the other button queues it for a helper."""
    query = query_of(update)
    lang = await language(update, context)
    button = decode(query.data, Action.SELF_SERVICE)
    if button is None or button.arg not in ("y", "n"):
        await stale(update, context, lang)
        return
    async with context.services.db.session() as session:
        receipt = await intake.resolve_self_service(
            session=session, ticket_id=button.id, asker_id=query.from_user.id,
            helped=button.arg == "y", desk=context.services.desk, now=context.services.clock(),
        )
    solved: tuple[str, int] | None = None  # "This helped": the question's language, number
    if receipt is not None and receipt.status is TicketStatus.CLOSED:
        solved = receipt.language, receipt.ticket_id
    elif receipt is None and button.arg == "y":
        # Passed on to the helpers meanwhile (the offer lapsed, or more words came): "this
        # helped" is the asker solving it, as "Solved it myself" under a waiting question.
        async with context.services.db.session() as session:
            view = await changes.solved_by_asker(
                session=session, ticket_id=button.id, asker_id=query.from_user.id,
                now=context.services.clock(), desk=context.services.desk)
        if view is not None:
            context.services.wake_sender()
            solved = view.language, view.id
    if receipt is None and solved is None:
        await moved_on(update, context, button.id, lang)
        return
    await query.answer()
    await keyboards.take_away_buttons(query)
    if solved is not None:
        await query_message(query).reply_text(gettext(
            solved[0], "Glad it helped! Question #{number} is marked as solved. You are "
                       "welcome to ask again any time.", number=solved[1]))
        return
    assert receipt is not None
    context.services.wake_sender()
    ack = await posting.reply(query_message(query), acknowledgement(context, receipt),
                              reply_markup=acknowledgement_markup(receipt))
    await acknowledged(context, receipt, ack)


async def anonymous_ticket(update: Update, context: PeerdeskContext) -> None:
    """Hide the asker's name on one waiting question."""
    query = query_of(update)
    lang = await language(update, context)
    button = decode(query.data, Action.ANONYMOUS)
    if button is None:
        await stale(update, context, lang)
        return
    async with context.services.db.session() as session:
        receipt = await intake.make_anonymous(
            session=session, ticket_id=button.id, asker_id=query.from_user.id,
            desk=context.services.desk, now=context.services.clock(),
        )
    if receipt is None:
        await moved_on(update, context, button.id, lang)
        return
    context.services.wake_sender()  # the name leaves the cards
    await query.answer(gettext(receipt.language, "Done: the helpers will not see your name."))
    await query.edit_message_text(acknowledgement(context, receipt),
                                  reply_markup=acknowledgement_markup(receipt))


async def solve_button(update: Update, context: PeerdeskContext) -> None:
    """"Solved it myself": the waiting question is closed, counted as self-solved."""
    query, services = query_of(update), context.services
    lang = await language(update, context)
    button = decode(query.data, Action.SOLVE)
    if button is None:
        await stale(update, context, lang)
        return
    async with services.db.session() as session:
        ticket = await changes.solved_by_asker(session=session, ticket_id=button.id,
                                               asker_id=query.from_user.id, now=services.clock(),
                                               desk=services.desk)
    if ticket is None:
        await moved_on(update, context, button.id, lang)
        return
    services.wake_sender()
    logger.info("ticket %s solved by its asker", ticket.id)
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await query_message(query).reply_text(gettext(
        ticket.language, "Great that you solved it! I closed question #{number}. You are "
                         "welcome to ask again any time.", number=ticket.id))


async def phone_button(update: Update, context: PeerdeskContext) -> None:
    """"I would prefer a phone call": on a closed question the button has had its day."""
    query = query_of(update)
    button = decode(query.data, Action.PHONE)
    if button is not None:
        async with context.services.db.session() as session:
            ticket = await views.view(session=session, ticket_id=button.id)
        if ticket is not None and ticket.status is TicketStatus.CLOSED:
            await moved_on(update, context, button.id, await language(update, context))
            return
    await phone_request(update, context)


async def my_command(update: Update, context: PeerdeskContext) -> None:
    """/my: the asker's questions not closed yet, and where each is."""
    lang = await _remember(update, context)
    services = context.services
    async with services.db.session() as session:
        tickets = await views.open_questions(session=session,
                                             asker_id=user_of(update).id)
    if not tickets:
        await message_of(update).reply_text(gettext(
            lang, "You have no open questions right now. Write here whenever you need help."))
        return
    lines = [f"#{t.id} · " + ("" if t.routing is Routing.ASKED
                              else services.topic_name(t.topic, lang) + " · ")
             + asker_state(t, lang) for t in tickets]
    await message_of(update).reply_text(
        gettext(lang, "Your open questions:") + "\n" + "\n".join(lines))


async def chose_language(update: Update, context: PeerdeskContext) -> None:
    """Store the language picked with /lang."""
    query = query_of(update)
    button = decode(query.data, Action.LANGUAGE)
    code = button.arg if button is not None else None
    if code is None:
        await stale(update, context)
        return
    async with context.services.db.session() as session:
        await intake.set_language(session=session, telegram_id=query.from_user.id, language=code)
    await query.answer()
    await query.edit_message_text(gettext(code, "I will speak English with you."))


async def edited(update: Update, context: PeerdeskContext) -> None:
    """Edits do not reach helpers: say so rather than silently ignore them."""
    lang = await language(update, context)
    await message_of(update).reply_text(gettext(
        lang, "I noticed you edited a message. Edits do not reach the helpers, so please send "
              "the correction as a new message."))


async def not_text(update: Update, context: PeerdeskContext) -> None:
    """Stickers, locations, polls…: what cannot be passed on, said specifically and kindly."""
    lang = await language(update, context)
    message = message_of(update)
    if message.sticker or message.dice:
        text = gettext(lang, "Thank you for the sticker! I cannot pass stickers on to the "
                             "helpers, though. Write your question, or send a picture, a file "
                             "or a voice message.")
    elif message.location or message.venue:
        text = gettext(lang, "I cannot pass a location on. Please write the place in words, "
                             "for example \"classroom 204\".")
    elif message.poll:
        text = gettext(lang, "I cannot pass a poll on. Please write your question as a "
                             "message.")
    else:
        text = gettext(lang, "I cannot pass this kind of message on. Please write your "
                             "question, or send a picture, a file or a voice message.")
    await message.reply_text(text)


async def unknown_button(update: Update, context: PeerdeskContext) -> None:
    """A button with data this bot does not know (an old or forged one)."""
    await stale(update, context)


async def empty_button(update: Update, context: PeerdeskContext) -> None:
    """A press without data (only a modified client sends one): refused before any other
    handler sees it, for PTB lets such a press match every button pattern."""
    await unknown_button(update, context)
    raise ApplicationHandlerStop


async def unknown_command(update: Update, context: PeerdeskContext) -> None:
    lang = await language(update, context)
    await message_of(update).reply_text(
        gettext(lang, "I do not know that command. /help shows what I can do."))


async def private_only_command(update: Update, context: PeerdeskContext) -> None:
    """A command of the private chat (/helpers, /help, /invite…) written in the helpers'
    group: where it works, said in the group's language, in the topic it was written in."""
    await message_of(update).reply_text(gettext(
        context.services.settings.helpers_language,
        "That command works in a private chat with me: open @{bot} and write it there.",
        bot=context.bot.username))


async def on_error(update: object, context: PeerdeskContext) -> None:
    """Log what failed without personal data, and tell the person rather than stay silent."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if posting.not_modified(error):
        # A message edited to what it shows already: a double tap whose first press did the
        # work. Nothing failed that the person should hear of (or send again).
        logger.info("update %s: the message showed it already", update_id)
        return
    logger.error("update %s failed: %s", update_id, type(error).__name__,
                 exc_info=(type(error), error, error.__traceback__) if error else None)
    if isinstance(update, Update) and update.effective_chat and \
            update.effective_chat.type == "private":
        lang = intake.preferred_language(None, update.effective_user.language_code
                                         if update.effective_user else None)
        try:
            await context.bot.send_message(update.effective_chat.id, gettext(
                lang, "Sorry, something went wrong on my side. Please send your message again "
                      "in a moment."))
        except Exception:
            logger.warning("could not tell chat about the failed update %s", update_id)
