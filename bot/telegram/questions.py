"""The asker's messages: a message from someone with a question going on joins it (one
conversation per asker, bot.domain.tickets.conversation), and any other becomes a question,
stored first and acknowledged at once; a helper's reply to a private card or a shared phone
number is passed on before either. Registered before intake's commands and catch-alls
(bot.telegram.app, group -1)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update, User
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.domain import intake
from bot.domain.core import Unit
from bot.domain.events import rsvp
from bot.domain.intake import Part, Receipt
from bot.domain.models import TicketStatus
from bot.domain.smalltalk import Kind as TalkKind
from bot.domain.smalltalk import SmallTalk
from bot.domain.text import clean_text
from bot.domain.tickets import messages
from bot.domain.tickets.conversation import Conversation, Turn, converse
from bot.domain.tickets.messages import Kind
from bot.i18n import format_when, gettext
from bot.telegram import dialogs, keyboards, posting
from bot.telegram.context import PeerdeskContext, message_of, user_of
from bot.telegram.durable import with_done
from bot.telegram.helpers.buttons import contact_shared, thank_for_rating
from bot.telegram.helpers.relay import helper_wrote

logger = logging.getLogger(__name__)
MAX_FILE_BYTES = 20 * 1024 * 1024  # what a bot may fetch from Telegram
SPLIT_AT = 4000  # characters: a message this long may be the first part of a longer one (Telegram
# splits at 4096, at a word's end)


async def private_message(update: Update, context: PeerdeskContext) -> None:
    """Before intake: a helper answering a private card, a shared phone number, or the asker's
    message: it continues their question, or it is a new one (`follow_up`). What cannot be a
    question falls through to intake, which says why."""
    message, services, user = update.effective_message, context.services, update.effective_user
    if message is None or user is None:
        return
    if message.contact:
        await contact_shared(update, context)
        raise ApplicationHandlerStop
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    if reply_to is not None:
        async with services.db.session() as session:
            found = await messages.find_message(session=session, chat_id=message.chat_id,
                                                message_id=reply_to)
        if found is not None and found.kind in (Kind.CARD, Kind.TO_HELPERS):
            await helper_wrote(context, message, found.ticket_id)
            raise ApplicationHandlerStop
    if await follow_up(update, context):
        raise ApplicationHandlerStop


def acknowledgement(context: PeerdeskContext, receipt: Receipt) -> str:
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


async def acknowledged(context: PeerdeskContext, receipt: Receipt, ack: tuple[int, int]
                       ) -> None:
    """Remember the acknowledgement: a reply to it adds to the question, and a question stored
    but never acknowledged (the bot stopped in between) is acknowledged when it comes again.
    Written with the update's being done (bot.telegram.durable.with_done). `ack`: its chat and
    message ids (bot.telegram.posting.reply)."""
    chat_id, message_id = ack

    async def note(session: Unit) -> None:
        await messages.remember(session=session, chat_id=chat_id, message_id=message_id,
                                ticket_id=receipt.ticket_id, kind=messages.Kind.ACK,
                                commit=False)

    if not with_done(note):
        async with context.services.db.unit() as session:
            await note(session)
            await session.commit()


def acknowledgement_markup(receipt: Receipt) -> InlineKeyboardMarkup | None:
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


@dataclass(frozen=True, slots=True)
class _Taken:
    """What became of a message taken as a new question: small talk (nothing stored), or its
    receipt; and the language to answer in."""

    language: str
    talk: SmallTalk | None = None
    receipt: Receipt | None = None


async def new_question(context: PeerdeskContext, message: Message, user: User,
                        more: Sequence[Part] = ()) -> None:
    """Store `message` (and `more`, the messages that followed it as one question) as a
    ticket, or greet back when it holds no question. Words over the limit are kept whole: the
    card shows their beginning and the message itself follows it to the helpers."""
    async with context.services.db.session() as session:
        taken = await _store_question(session, context, message, user, more)
    await _answer_question(context, message, user, taken)


async def _store_question(session: AsyncSession, context: PeerdeskContext, message: Message,
                          user: User, more: Sequence[Part] = (), *, fresh: bool = False
                          ) -> _Taken:
    """The sender's row and the stored ticket, in the caller's transaction (committed when a
    ticket is stored; a greeting stores nothing). `fresh`: the transaction found the message
    not stored before (bot.domain.tickets.conversation.converse)."""
    text, media = _words(message), _has_media(message)
    long = len(text) > context.services.settings.max_question_chars
    parts = tuple(more)
    talk = None if media or parts else intake.chat(text)
    person = await intake.remember_staff(
        session=session, telegram_id=user.id, first_name=user.first_name,
        telegram_language=user.language_code, commit=False,
    )
    lang = person.language
    if talk is not None:  # the asker's /lang choice, else the greeting's own language
        return _Taken(lang if person.chose_language else talk.language or lang, talk)
    if not (text or media) or _file_bytes(message) > MAX_FILE_BYTES:
        return _Taken(lang)
    return _Taken(lang, receipt=await intake.submit_question(
        session=session, router=context.services.router, asker_id=user.id,
        chat_id=message.chat_id, message_id=message.message_id, text=text,
        desk=context.services.desk, language_hint=lang, now=context.services.clock(),
        media=media or long, more=parts, asker=person, fresh=fresh,
    ))


async def _answer_question(context: PeerdeskContext, message: Message, user: User,
                           taken: _Taken, apart: int | None = None) -> None:
    """Tell the asker what became of their new question (or greet them back); `apart`: their
    named question it was kept apart from (bot.domain.tickets.conversation)."""
    text, media = _words(message), _has_media(message)
    lang, talk, receipt = taken.language, taken.talk, taken.receipt
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
    await _reply_to_receipt(context, message, receipt, media_only=media and not text,
                            apart=apart)


def _kept_apart(receipt: Receipt, apart: int | None) -> str:
    """Why an anonymous message did not join the asker's named question: said plainly."""
    if apart is None or not receipt.anonymous:
        return ""
    return "\n\n" + gettext(receipt.language, "Your question #{earlier} shows your name, so I "
                                               "did not add this to it: this is a new, anonymous "
                                               "question. To add to #{earlier} under your name, "
                                               "reply to one of its messages.", earlier=apart)


async def _reply_to_receipt(context: PeerdeskContext, message: Message, receipt: Receipt,
                            media_only: bool = False, apart: int | None = None) -> None:
    lang, services = receipt.language, context.services
    why = _kept_apart(receipt, apart)
    # A wish to sign up for an event: its buttons are under /events, said first.
    events = gettext(lang, "To sign up for an event, open /events: every coming event has its "
                           "sign-up buttons there.") + "\n\n" \
        if rsvp.signs_up(message.text or message.caption or "") else ""
    if receipt.needs_choice:
        intro = gettext(lang, "Thank you, I got it and saved it as #{number}. What is it about? "
                              "Choose who could help:", number=receipt.ticket_id) if media_only \
            else gettext(lang, "Thank you! Your question is saved as #{number}. I am not sure "
                               "who can help best, so please choose:", number=receipt.ticket_id)
        sent = await posting.reply(
            message, events + intro + "\n\n" + keyboards.role_lines(services, receipt.roles, lang)
            + why,
            reply_markup=keyboards.choose_role(services, receipt.ticket_id, receipt.roles, lang),
        )
        await acknowledged(context, receipt, sent)
    elif receipt.status is TicketStatus.OFFERED and receipt.answer:
        sent = await posting.reply(
            message,
            events + gettext(lang, "Your question is saved as #{number}. This may answer it "
                                   "right away:",
                    number=receipt.ticket_id)
            + "\n\n" + services.answer_text(receipt.answer, lang) + why,
            reply_markup=keyboards.self_service(receipt.ticket_id, lang),
        )
        await acknowledged(context, receipt, sent)
    else:
        ack = await posting.reply(message, events + acknowledgement(context, receipt) + why,
                                  reply_markup=acknowledgement_markup(receipt))
        await acknowledged(context, receipt, ack)


# --- one conversation per asker ------------------------------------------------------------------

def part_of(message: Message) -> Part:
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
    more.append(part_of(message))
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
    # Copied to the helpers after the card, as its first part is (the card holds only the
    # beginning of a question this long).
    rest = replace(part_of(message), media=True)
    conversation = await converse_part(context, message.chat_id, rest, user_of(update),
                                       join=int(split.answers["ticket_id"]))
    if conversation.turn is Turn.NEW:
        return False
    if conversation.turn in (Turn.RELAYED, Turn.MERGED):
        # The asker sent one message, and had its acknowledgement: its rest goes on quietly.
        context.services.wake_sender()
        return True
    await answer_turn(context, message, conversation)
    return True


async def follow_up(update: Update, context: PeerdeskContext) -> bool:
    """A message that may continue the asker's question (bot.domain.tickets.conversation):
    joined, relayed, passed on as a comment, or the asker is asked whether it is a new
    question; else it is a new question, stored in the same transaction as the look for a
    conversation (the one transaction of a new question). False: it is no question that can be
    stored (too long, too big, a sticker…: intake's own handlers answer why)."""
    message, user = message_of(update), user_of(update)
    assert message is not None and user is not None
    if await _rest_of_split(update, context, message):
        return True
    if not _askable(context, message):
        return False
    if await _join_pending(update, context, message):
        return True
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    async with context.services.db.session() as session:
        conversation = await _converse_in(session, context, message.chat_id, part_of(message),
                                          user, reply_to=reply_to)
        if conversation.turn is Turn.NEW:
            taken = await _store_question(session, context, message, user,
                                          fresh=not conversation.stored)
    if conversation.turn is Turn.NEW:
        await _answer_question(context, message, user, taken, conversation.apart)
    else:
        await answer_turn(context, message, conversation)
    return True


async def converse_part(context: PeerdeskContext, chat_id: int, part: Part, user: User, *,
                    reply_to: int | None = None, join: int | None = None) -> Conversation:
    async with context.services.db.session() as session:
        return await _converse_in(session, context, chat_id, part, user, reply_to=reply_to,
                                  join=join)


async def _converse_in(session: AsyncSession, context: PeerdeskContext, chat_id: int, part: Part,
                       user: User, *, reply_to: int | None = None, join: int | None = None
                       ) -> Conversation:
    services = context.services
    settings = services.settings
    return await converse(
        session=session, router=services.router, desk=services.desk, asker_id=user.id,
        chat_id=chat_id, message_id=part.message_id, text=part.text,
        media=part.media, reply_to=reply_to, now=services.clock(), join=join,
        window=timedelta(minutes=settings.conversation_window_minutes),
        gap=timedelta(hours=settings.conversation_gap_hours))


async def answer_turn(context: PeerdeskContext, message: Message,
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
    if turn in (Turn.ROUTED, Turn.RELAYED, Turn.REOPENED, Turn.FEEDBACK, Turn.UNSOLVED,
                Turn.PASSED, Turn.RATED):
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
            sent = await posting.reply(
                message, text + " " + gettext(lang, "Who could help best?") + "\n\n"
                + keyboards.role_lines(services, receipt.roles, lang),
                reply_markup=keyboards.choose_role(services, number, receipt.roles, lang))
            await acknowledged(context, receipt, sent)
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
    elif turn is Turn.RATED and conversation.rated is not None:
        await thank_for_rating(context, message, conversation.rated, conversation.stars,
                               typed=True)
    elif turn is Turn.PASSED:
        await message.reply_text(gettext(
            lang, "Thank you — I added this to your question #{number} and passed it to our "
                  "helpers ({role}). They will answer you here.", number=number,
            role=services.role_name(receipt.role, lang)))
    elif turn is Turn.REOPENED:
        await message.reply_text(gettext(
            lang, "I reopened your question #{number} and passed your message on.",
            number=number))
    elif turn is Turn.FEEDBACK and _words(message):
        await message.reply_text(gettext(lang, "Thank you, I passed your comment on."))
    elif turn is Turn.THANKS:
        await message.reply_text(gettext(lang, "You are welcome! Ask again whenever you like."))
