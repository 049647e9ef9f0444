"""Intake handlers: greeting, language, anonymity, and every private message becoming a ticket."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from telegram import InlineKeyboardMarkup, Message, Update, User
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    filters,
)

from bot import ROLES
from bot.domain import intake
from bot.domain.intake import Conversation, Part, Receipt, Turn
from bot.domain.models import Routing, TicketStatus
from bot.domain.smalltalk import Kind as TalkKind
from bot.domain.text import clean_text
from bot.domain.tickets import changes, messages, views
from bot.i18n import _, format_when, gettext
from bot.telegram import dialogs, keyboards, menus
from bot.telegram.access import stale
from bot.telegram.callbacks import Action, decode
from bot.telegram.context import (
    PeerdeskContext,
    message_of,
    query_message,
    query_of,
    user_of,
)
from bot.telegram.helpers.buttons import asker_state, moved_on, phone_request

logger = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE
# What can be a question: words, or a picture, file, video or voice (with or without a caption).
MEDIA = (filters.PHOTO | filters.Document.ALL | filters.VIDEO | filters.VOICE | filters.AUDIO
         | filters.VIDEO_NOTE | filters.ANIMATION)
ASKABLE = filters.TEXT | MEDIA
MAX_FILE_BYTES = 20 * 1024 * 1024  # what a bot may fetch from Telegram
SPLIT_AT = 4000  # characters: a message this long may be the first part of a longer one (Telegram
# splits at 4096, at a word's end)

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


async def _language(update: Update, context: PeerdeskContext) -> str:
    user = user_of(update)
    assert user is not None
    async with context.services.db.session() as session:
        return await intake.language_of(session=session, telegram_id=user.id,
                                        telegram_language=user.language_code)


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
    lang = await _language(update, context)
    person = await menus.person(context.services, user_of(update).id)
    await message_of(update).reply_text(
        gettext(lang, "Write your question as an ordinary message. I save it at once and a "
                      "colleague answers you here.") + "\n\n"
        + "\n".join(menus.help_lines(person, lang))
    )


async def lang_command(update: Update, context: PeerdeskContext) -> None:
    """Offer the three languages as buttons."""
    lang = await _language(update, context)
    await message_of(update).reply_text(
        gettext(lang, "Choose your language:"), reply_markup=keyboards.languages()
    )


async def team_command(update: Update, context: PeerdeskContext) -> None:
    """/team NAME: the asker's team, so that a helper from the same team is called first and the
    monthly figures can be read per team."""
    lang = await _remember(update, context)
    name = " ".join(context.args or []).strip()
    if not name:
        await message_of(update).reply_text(gettext(
            lang, "Write your team after the command, for example: /team Liiketalous"))
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


def _acknowledgement(context: PeerdeskContext, receipt: Receipt) -> str:
    lang, services = receipt.language, context.services
    text = gettext(
        lang, "Thank you! Your question is saved as #{number}.\nTopic: {topic}\n"
              "{role} will answer you here.",
        number=receipt.ticket_id, topic=services.topic_name(receipt.topic, lang),
        role=services.role_name(receipt.role, lang),
        a_role=keyboards.a_role(services, receipt.role, lang),
    )
    now, hours = services.clock(), services.settings.hours
    if not hours.is_open(now):
        text += "\n" + gettext(
            lang, "It is outside office hours now, so an answer can be expected from {when}.",
            when=format_when(hours.next_open(now), lang, services.settings.tz))
    if receipt.anonymous:
        text += "\n" + gettext(lang, "Your name is not shown to the helpers.")
    return text + "\n" + gettext(lang, "Anything more you write here is added to this question.")


async def _acknowledged(context: PeerdeskContext, receipt: Receipt, ack: Message) -> None:
    """Remember the acknowledgement: a reply to it adds to the question, and a question stored
    but never acknowledged (the bot stopped in between) is acknowledged when it comes again."""
    async with context.services.db.session() as session:
        await messages.remember(session=session, chat_id=ack.chat_id, message_id=ack.message_id,
                                ticket_id=receipt.ticket_id, kind=messages.Kind.ACK)


def _acknowledgement_markup(receipt: Receipt) -> InlineKeyboardMarkup | None:
    """"Solved it myself", and the anonymity button unless the question is anonymous already."""
    return keyboards.acknowledgement(receipt.ticket_id, receipt.language, receipt.anonymous)


def _has_media(message: Message) -> bool:
    return any((message.photo, message.document, message.video, message.voice, message.audio,
                message.video_note, message.animation))


def _file_bytes(message: Message) -> int:
    media = (message.document or message.video or message.voice or message.audio
             or message.video_note or message.animation
             or (message.photo[-1] if message.photo else None))
    return (media.file_size or 0) if media is not None else 0


def _words(message: Message) -> str:
    return clean_text(message.text or message.caption)


def _askable(context: PeerdeskContext, message: Message) -> bool:
    """Words within the limit, or a picture, file or voice that can be passed on."""
    text = _words(message)
    if len(text) > context.services.settings.max_question_chars:
        return False  # a question of its own, kept whole (_new_question)
    if _has_media(message):
        return _file_bytes(message) <= MAX_FILE_BYTES
    return bool(text)


async def question(update: Update, context: PeerdeskContext) -> None:
    """Words, a picture, a file or voice with no conversation to join: store it as a ticket
    first, then acknowledge at once."""
    message, user = message_of(update), user_of(update)
    assert message is not None and user is not None
    await _new_question(context, message, user)


async def _new_question(context: PeerdeskContext, message: Message, user: User,
                        more: Sequence[Part] = ()) -> None:
    """Store `message` (and `more`, the messages that followed it as one question) as a
    ticket, or greet back when it holds no question. Words over the limit are kept whole: the
    card shows their beginning and the message itself follows it to the helpers."""
    text, media = _words(message), _has_media(message)
    long = len(text) > context.services.settings.max_question_chars
    parts = tuple(more)
    talk = None if media or parts else intake.chat(text)
    # One transaction from the sender's row to the stored ticket: this runs for every question.
    async with context.services.db.session() as session:
        person = await intake.remember_staff(
            session=session, telegram_id=user.id, first_name=user.first_name,
            telegram_language=user.language_code, commit=False,
        )
        lang = person.language
        receipt = None
        if talk is not None:  # the asker's /lang choice, else the greeting's own language
            lang = lang if person.chose_language else talk.language or lang
        elif (text or media) and _file_bytes(message) <= MAX_FILE_BYTES:
            receipt = await intake.submit_question(
                session=session, router=context.services.router, asker_id=user.id,
                chat_id=message.chat_id, message_id=message.message_id, text=text,
                desk=context.services.desk, language_hint=lang, now=context.services.clock(),
                media=media or long, more=parts,
            )
    if talk is not None:
        logger.info("small talk (%s): nothing stored", talk.kind)
        await message.reply_text(gettext(
            lang, "You are welcome! I am here whenever you need help — write your question, and "
                  "I will pass it to the right colleague.") if talk.kind is TalkKind.THANKS
            else gettext(lang, "Hi! I am here — write your question, and I will pass it to the "
                               "right colleague."))
        return
    if _file_bytes(message) > MAX_FILE_BYTES:
        await message.reply_text(gettext(
            lang, "That file is {size} MB, and I can pass on files up to 20 MB. Could you share "
                  "it as a link (for example from OneDrive), or send a smaller one?",
            size=_file_bytes(message) // (1024 * 1024)))
        return
    if not text and not media:
        await message.reply_text(gettext(lang, "I found no text in that message. Please write "
                                               "your question in words."))
        return
    assert receipt is not None
    if len(message.text or "") >= SPLIT_AT and not receipt.duplicate:
        # Telegram may have split it: a second part within seconds joins this question.
        await dialogs.begin_in(context, message.chat_id, user.id, dialogs.SPLIT, "rest",
                               lang=receipt.language, answers={"ticket_id": receipt.ticket_id})
    logger.info("ticket %s stored: role=%s topic=%s routing=%s media=%s", receipt.ticket_id,
                receipt.role, receipt.topic, receipt.routing, media)
    if message.media_group_id:
        context.state["album"] = message.media_group_id  # its other parts join it quietly
    if receipt.duplicate:
        async with context.services.db.session() as session:
            if await messages.acknowledged(session=session, ticket_id=receipt.ticket_id):
                return  # the same message delivered again: it was answered the first time
        # Stored, but the bot stopped before acknowledging it: acknowledge now.
    else:
        context.services.metrics.questions.inc()
        context.services.wake_sender()  # the card was queued with the ticket
    await _reply_to_receipt(context, message, receipt, media_only=media and not text)


async def _reply_to_receipt(context: PeerdeskContext, message: Message, receipt: Receipt,
                            media_only: bool = False) -> None:
    lang, services = receipt.language, context.services
    if receipt.needs_choice:
        intro = gettext(lang, "Thank you, I got it and saved it as #{number}. What is it about? "
                              "Choose who could help:", number=receipt.ticket_id) if media_only \
            else gettext(lang, "Thank you! Your question is saved as #{number}. I am not sure "
                               "who can help best, so please choose:", number=receipt.ticket_id)
        sent = await message.reply_text(
            intro + "\n\n" + keyboards.role_lines(services, receipt.roles, lang),
            reply_markup=keyboards.choose_role(services, receipt.ticket_id, receipt.roles, lang),
        )
        await _acknowledged(context, receipt, sent)
    elif receipt.status is TicketStatus.OFFERED and receipt.answer:
        sent = await message.reply_text(
            gettext(lang, "Your question is saved as #{number}. This may answer it right away:",
                    number=receipt.ticket_id)
            + "\n\n" + services.answer_text(receipt.answer, lang),
            reply_markup=keyboards.self_service(receipt.ticket_id, lang),
        )
        await _acknowledged(context, receipt, sent)
    else:
        ack = await message.reply_text(_acknowledgement(context, receipt),
                                       reply_markup=_acknowledgement_markup(receipt))
        await _acknowledged(context, receipt, ack)


# --- one conversation per asker ------------------------------------------------------------------

def _part(message: Message) -> Part:
    return Part(message.message_id, _words(message), _has_media(message))


async def _join_pending(update: Update, context: PeerdeskContext, message: Message) -> bool:
    """While "Add to #N / New question" waits (a dialog in the database, so a restart or the
    other replica keeps it), the asker's next words go with the message it asks about; the one
    question above them says so. False: nothing waits (or it lapsed)."""
    if message.reply_to_message is not None:
        return False
    pending = await dialogs.current(update, context, dialogs.JOIN)
    if pending is None:
        return False
    answers = dict(pending.answers)
    more = [Part(int(p["id"]), str(p["text"]), bool(p["media"])) for p in answers["more"]]
    if message.message_id == answers["origin_id"] or any(
            p.message_id == message.message_id for p in more):
        return True  # the same message again
    more.append(_part(message))
    answers["more"] = [{"id": p.message_id, "text": p.text, "media": p.media} for p in more]
    if await dialogs.step_to(context, pending, pending.step, answers) is None:
        return False  # the asker pressed a button meanwhile: this one is on its own
    try:
        await context.bot.edit_message_text(
            gettext(pending.language, "Are these {count} messages about your question "
                                      "#{number}, or a new question? Your choice applies to all "
                                      "of them.",
                    count=len(more) + 1, number=answers["ticket_id"]),
            chat_id=message.chat_id, message_id=answers["prompt_id"],
            reply_markup=keyboards.join_or_new(answers["ticket_id"], answers["origin_id"],
                                               pending.language))
    except TelegramError as exc:  # the question is gone (deleted by the asker): ask anew
        logger.warning("the question about another matter could not be updated (%s)",
                       type(exc).__name__)
        await dialogs.end(context, pending)
        return False
    return True


async def _rest_of_split(update: Update, context: PeerdeskContext, message: Message) -> bool:
    """The second part of a long message Telegram split in two, arriving within seconds of the
    first: it joins the question the first part became, whatever its words."""
    split = await dialogs.current(update, context, dialogs.SPLIT)
    if split is None or not (message.text or "").strip():
        return False
    if not await dialogs.end(context, split):
        return False
    conversation = await _converse(context, message.chat_id, _part(message), user_of(update),
                                   join=int(split.answers["ticket_id"]))
    if conversation.turn is Turn.NEW:
        return False
    await _answer_turn(context, message, conversation)
    return True


async def follow_up(update: Update, context: PeerdeskContext) -> bool:
    """A message that may continue the asker's question (bot.domain.intake.converse): joined,
    relayed, passed on as a comment, or the asker is asked whether it is a new question. False:
    it is not part of a conversation (intake's own handlers take it)."""
    message, user = message_of(update), user_of(update)
    assert message is not None and user is not None
    if await _rest_of_split(update, context, message):
        return True
    if not _askable(context, message):
        return False  # too long, too big, a sticker…: intake's answers say why
    if await _join_pending(update, context, message):
        return True
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    conversation = await _converse(context, message.chat_id, _part(message), user,
                                   reply_to=reply_to)
    if conversation.turn is Turn.NEW:
        return False
    await _answer_turn(context, message, conversation)
    return True


async def _converse(context: PeerdeskContext, chat_id: int, part: Part, user: User, *,
                    reply_to: int | None = None, join: int | None = None) -> Conversation:
    services = context.services
    settings = services.settings
    async with services.db.session() as session:
        return await intake.converse(
            session=session, router=services.router, desk=services.desk, asker_id=user.id,
            chat_id=chat_id, message_id=part.message_id, text=part.text,
            media=part.media, reply_to=reply_to, now=services.clock(), join=join,
            window=timedelta(minutes=settings.conversation_window_minutes),
            gap=timedelta(hours=settings.conversation_gap_hours))


async def _answer_turn(context: PeerdeskContext, message: Message,
                       conversation: Conversation) -> None:
    """Tell the asker what became of their message (quietly, while they talk with a helper or
    send the rest of an album)."""
    services, receipt, turn = context.services, conversation.receipt, conversation.turn
    assert receipt is not None
    lang, number = receipt.language, receipt.ticket_id
    album = bool(message.media_group_id) and context.state.get("album") == \
        message.media_group_id
    if message.media_group_id:
        context.state["album"] = message.media_group_id
    if turn in (Turn.ROUTED, Turn.RELAYED, Turn.REOPENED, Turn.FEEDBACK, Turn.UNSOLVED):
        services.wake_sender()
    logger.info("ticket %s: a message from the asker, taken as %s", number, turn)
    if turn is Turn.ASK:
        prompt = await message.reply_text(
            gettext(lang, "Is this about your question #{number}, or a new question?",
                    number=number),
            reply_markup=keyboards.join_or_new(number, message.message_id, lang),
            do_quote=True)  # the buttons find the message they are about as the one quoted
        # Private chat: the chat is the person. Waits in the database (bot.telegram.dialogs).
        await dialogs.begin_in(context, message.chat_id, message.chat_id, dialogs.JOIN, "asked",
                               lang=lang, answers={"prompt_id": prompt.message_id,
                                                   "origin_id": message.message_id,
                                                   "ticket_id": number, "more": []})
    elif turn is Turn.ROUTED:
        await _reply_to_receipt(context, message, receipt)
    elif turn is Turn.MERGED and not album:
        text = gettext(lang, "Added to your question #{number}.", number=number)
        if receipt.needs_choice:
            sent = await message.reply_text(
                text + " " + gettext(lang, "Who could help best?") + "\n\n"
                + keyboards.role_lines(services, receipt.roles, lang),
                reply_markup=keyboards.choose_role(services, number, receipt.roles, lang))
            await _acknowledged(context, receipt, sent)
        else:
            await message.reply_text(text)
    elif turn is Turn.RELAYED and not album and not conversation.claimed:
        await message.reply_text(gettext(
            lang, "Added to your question #{number}: the helpers see it with the question.",
            number=number))
    elif turn is Turn.UNSOLVED:
        await message.reply_text(gettext(
            lang, "I am sorry the answer did not help after all. I reopened your question "
                  "#{number} and passed it, with your new message, to our helpers ({role}). They "
                  "will answer you here.", number=number,
            role=services.role_name(receipt.role, lang)))
    elif turn is Turn.REOPENED:
        await message.reply_text(gettext(
            lang, "I reopened your question #{number} and passed your message on.",
            number=number))
    elif turn is Turn.FEEDBACK and _words(message):
        await message.reply_text(gettext(lang, "Thank you, I passed your comment on."))
    elif turn is Turn.THANKS:
        await message.reply_text(gettext(lang, "You are welcome! Ask again whenever you like."))


async def other_matter(update: Update, context: PeerdeskContext) -> None:
    """"Add to #12" or "New question" under a message that may be another matter."""
    query = query_of(update)
    lang = await _language(update, context)
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
        await _new_question(context, original, query.from_user, more)
        return
    conversation = await _converse(context, asked.chat.id, _part(original), query.from_user,
                                   join=button.id)
    if conversation.turn is Turn.NEW:  # the question was closed for good meanwhile
        await _new_question(context, original, query.from_user, more)
        return
    latest = conversation
    for part in more:
        latest = await _converse(context, asked.chat.id, part, query.from_user, join=button.id)
    if more:
        context.services.wake_sender()
    # Told once: of the question that still waits for a role, the roles as they are now.
    await _answer_turn(context, original, latest if conversation.turn is Turn.MERGED
                       else conversation)


async def chose_role(update: Update, context: PeerdeskContext) -> None:
    """The asker picked the kind of helper for an unclear question (or "I don't know")."""
    query = query_of(update)
    lang = await _language(update, context)
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
        await moved_on(update, context, button.id, lang)
        return
    context.services.wake_sender()
    await query.answer()
    await query.edit_message_text(_acknowledgement(context, receipt),
                                  reply_markup=_acknowledgement_markup(receipt))


async def self_service_answer(update: Update, context: PeerdeskContext) -> None:
    """"This helped" closes the ticket as self-served; the other button queues it for a helper."""
    query = query_of(update)
    lang = await _language(update, context)
    button = decode(query.data, Action.SELF_SERVICE)
    if button is None or button.arg not in ("y", "n"):
        await stale(update, context, lang)
        return
    async with context.services.db.session() as session:
        receipt = await intake.resolve_self_service(
            session=session, ticket_id=button.id, asker_id=query.from_user.id,
            helped=button.arg == "y", desk=context.services.desk, now=context.services.clock(),
        )
    if receipt is None:
        await moved_on(update, context, button.id, lang)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    if receipt.status is TicketStatus.CLOSED:
        await query_message(query).reply_text(gettext(
            receipt.language, "Glad it helped! Question #{number} is marked as solved. You are "
                              "welcome to ask again any time.", number=receipt.ticket_id))
    else:
        context.services.wake_sender()
        ack = await query_message(query).reply_text(_acknowledgement(context, receipt),
                                             reply_markup=_acknowledgement_markup(receipt))
        await _acknowledged(context, receipt, ack)


async def anonymous_ticket(update: Update, context: PeerdeskContext) -> None:
    """Hide the asker's name on one waiting question."""
    query = query_of(update)
    lang = await _language(update, context)
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
    await query.edit_message_text(_acknowledgement(context, receipt),
                                  reply_markup=_acknowledgement_markup(receipt))


async def solve_button(update: Update, context: PeerdeskContext) -> None:
    """"Solved it myself": the waiting question is closed, counted as self-solved."""
    query, services = query_of(update), context.services
    lang = await _language(update, context)
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
            await moved_on(update, context, button.id, await _language(update, context))
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
                              else services.topic_name(t.topic, t.language) + " · ")
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
    lang = await _language(update, context)
    await message_of(update).reply_text(gettext(
        lang, "I noticed you edited a message. Edits do not reach the helpers, so please send "
              "the correction as a new message."))


async def not_text(update: Update, context: PeerdeskContext) -> None:
    """Stickers, locations, polls…: what cannot be passed on, said specifically and kindly."""
    lang = await _language(update, context)
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
    lang = await _language(update, context)
    await message_of(update).reply_text(
        gettext(lang, "I do not know that command. /help shows what I can do."))


async def on_error(update: object, context: PeerdeskContext) -> None:
    """Log what failed without personal data, and tell the person rather than stay silent."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
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
