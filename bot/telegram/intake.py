"""Intake handlers: greeting, language, anonymity, and every private message becoming a ticket."""

from __future__ import annotations

import logging

from telegram import BotCommand, Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    filters,
)

from bot import LANGUAGES, ROLES
from bot.domain import intake, queue
from bot.domain.intake import Receipt
from bot.domain.models import TicketStatus
from bot.i18n import _, format_when, gettext
from bot.telegram import keyboards
from bot.telegram.callbacks import Action, decode
from bot.telegram.context import PeerdeskContext

logger = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE

COMMANDS = (
    ("start", _("Start and see who helps with what")),
    ("help", _("How to ask")),
    ("lang", _("Choose the language")),
    ("anon", _("Ask anonymously (on/off)")),
    ("team", _("Tell which team you work in")),
    ("events", _("Upcoming webinars, cafés and meetings")),
    ("hours", _("When helpers are around, and the next break")),
    ("mydata", _("What is stored about me")),
    ("forget", _("Erase my data")),
)


async def _remember(update: Update, context: PeerdeskContext) -> str:
    """Store the sender's name and Telegram language; returns the language to answer in."""
    user = update.effective_user
    assert user is not None
    async with context.services.db.session() as session:
        staff = await intake.remember_staff(
            session=session, telegram_id=user.id, first_name=user.first_name,
            telegram_language=user.language_code,
        )
    return intake.preferred_language(staff)


async def _language(update: Update, context: PeerdeskContext) -> str:
    user = update.effective_user
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
    name = update.effective_user.first_name if update.effective_user else ""
    await update.effective_message.reply_text(
        gettext(lang, "Hi {name}! I pass your questions to colleagues who help:", name=name)
        + f"\n\n{roles}\n\n"
        + gettext(lang, "Write your question here, in Finnish, Swedish or English. No question "
                        "is too small, and you can stay anonymous: /anon")
    )


async def help_command(update: Update, context: PeerdeskContext) -> None:
    """Explain how to ask and list the commands."""
    lang = await _language(update, context)
    commands = "\n".join(f"/{c} – {gettext(lang, d)}" for c, d in COMMANDS)
    await update.effective_message.reply_text(
        gettext(lang, "Write your question as an ordinary message. I save it at once and a "
                      "colleague answers you here.") + "\n\n" + commands
    )


async def lang_command(update: Update, context: PeerdeskContext) -> None:
    """Offer the three languages as buttons."""
    lang = await _language(update, context)
    await update.effective_message.reply_text(
        gettext(lang, "Choose your language:"), reply_markup=keyboards.languages()
    )


async def team_command(update: Update, context: PeerdeskContext) -> None:
    """/team NAME: the asker's team, so that a helper from the same team is called first and the
    monthly figures can be read per team."""
    lang = await _remember(update, context)
    name = " ".join(context.args or []).strip()
    if not name:
        await update.effective_message.reply_text(gettext(
            lang, "Write your team after the command, for example: /team Liiketalous"))
        return
    async with context.services.db.session() as session:
        team = await intake.set_team(session=session, telegram_id=update.effective_user.id,
                                     team=name)
    await update.effective_message.reply_text(gettext(lang, "Thank you! Your team: {team}",
                                                      team=team))


async def anon_command(update: Update, context: PeerdeskContext) -> None:
    """Turn asking anonymously on or off for the next questions."""
    lang = await _remember(update, context)
    async with context.services.db.session() as session:
        on = await intake.toggle_anonymous(session=session, telegram_id=update.effective_user.id)
    text = (
        _("Anonymous asking is on: helpers will not see your name. /anon turns it off.")
        if on else _("Anonymous asking is off: helpers see your first name. /anon turns it on.")
    )
    await update.effective_message.reply_text(gettext(lang, text))


def _acknowledgement(context: PeerdeskContext, receipt: Receipt) -> str:
    lang, services = receipt.language, context.services
    text = gettext(
        lang, "Thank you! Your question is saved as #{number}.\nTopic: {topic}\n"
              "{role} will answer you here.",
        number=receipt.ticket_id, topic=services.topic_name(receipt.topic, lang),
        role=services.role_name(receipt.role, lang),
    )
    now, hours = services.clock(), services.settings.hours
    if not hours.is_open(now):
        text += "\n" + gettext(
            lang, "It is outside office hours now, so an answer can be expected from {when}.",
            when=format_when(hours.next_open(now), lang, services.settings.tz))
    if receipt.anonymous:
        text += "\n" + gettext(lang, "Your name is not shown to the helpers.")
    return text + "\n" + gettext(lang, "To add to this question, reply to this message.")


async def _acknowledged(context: PeerdeskContext, receipt: Receipt, ack: Message) -> None:
    """Remember the acknowledgement: a reply to it adds to the question, and a question stored
    but never acknowledged (the bot stopped in between) is acknowledged when it comes again."""
    async with context.services.db.session() as session:
        await queue.remember(session=session, chat_id=ack.chat_id, message_id=ack.message_id,
                             ticket_id=receipt.ticket_id, kind=queue.Kind.ACK)


def _acknowledgement_markup(receipt: Receipt):  # type: ignore[no-untyped-def]
    """The anonymity button, unless the question is anonymous already."""
    return None if receipt.anonymous else keyboards.anonymous(receipt.ticket_id, receipt.language)


async def question(update: Update, context: PeerdeskContext) -> None:
    """Any text: store it as a ticket first, then acknowledge at once."""
    message, user = update.effective_message, update.effective_user
    text = intake.clean_text(message.text)
    limit = context.services.settings.max_question_chars
    # One transaction from the sender's row to the stored ticket: this runs for every question.
    async with context.services.db.session() as session:
        staff = await intake.remember_staff(
            session=session, telegram_id=user.id, first_name=user.first_name,
            telegram_language=user.language_code,
        )
        lang = intake.preferred_language(staff)
        receipt = None
        if text and len(text) <= limit:
            receipt = await intake.submit_question(
                session=session, router=context.services.router, asker_id=user.id,
                chat_id=message.chat_id, message_id=message.message_id, text=text,
                desk=context.services.desk, language_hint=lang, now=context.services.clock(),
            )
    if not text:
        await message.reply_text(gettext(lang, "I found no text in that message. Please write "
                                               "your question in words."))
        return
    if receipt is None:
        await message.reply_text(gettext(
            lang, "Your message is {length} characters long and I can take {limit}. Could you "
                  "shorten it, or send it in parts?", length=len(text), limit=limit))
        return
    logger.info("ticket %s stored: role=%s topic=%s routing=%s", receipt.ticket_id, receipt.role,
                receipt.topic, receipt.routing)
    if receipt.duplicate:
        async with context.services.db.session() as session:
            if await queue.acknowledged(session=session, ticket_id=receipt.ticket_id):
                return  # the same message delivered again: it was answered the first time
        # Stored, but the bot stopped before acknowledging it: acknowledge now.
    else:
        context.services.metrics.questions.inc()
        context.services.wake_sender()  # the card was queued with the ticket
    await _reply_to_receipt(update, context, receipt)


async def _reply_to_receipt(update: Update, context: PeerdeskContext, receipt: Receipt) -> None:
    lang, message = receipt.language, update.effective_message
    if receipt.needs_choice:
        sent = await message.reply_text(
            gettext(lang, "Thank you! Your question is saved as #{number}. I am not sure who "
                          "can help best, so please choose:", number=receipt.ticket_id),
            reply_markup=keyboards.choose_role(context.services, receipt.ticket_id,
                                               receipt.roles, lang),
        )
        await _acknowledged(context, receipt, sent)
    elif receipt.status is TicketStatus.OFFERED and receipt.answer:
        sent = await message.reply_text(
            gettext(lang, "Your question is saved as #{number}. This may answer it right away:",
                    number=receipt.ticket_id)
            + "\n\n" + context.services.answer_text(receipt.answer, lang),
            reply_markup=keyboards.self_service(receipt.ticket_id, lang),
        )
        await _acknowledged(context, receipt, sent)
    else:
        ack = await message.reply_text(_acknowledgement(context, receipt),
                                       reply_markup=_acknowledgement_markup(receipt))
        await _acknowledged(context, receipt, ack)


async def _refuse(update: Update, lang: str) -> None:
    await update.callback_query.answer(
        gettext(lang, "This button is not yours to press, or the question has moved on."),
        show_alert=True,
    )


async def chose_role(update: Update, context: PeerdeskContext) -> None:
    """The asker picked the kind of helper for an unclear question."""
    query = update.callback_query
    lang = await _language(update, context)
    button = decode(query.data, Action.ROLE)
    if button is None:
        await _refuse(update, lang)
        return
    async with context.services.db.session() as session:
        receipt = await intake.choose_role(
            session=session, router=context.services.router, ticket_id=button.id,
            asker_id=query.from_user.id, role=button.arg or "", desk=context.services.desk,
            now=context.services.clock(),
        )
    if receipt is None:
        await _refuse(update, lang)
        return
    context.services.wake_sender()
    await query.answer()
    await query.edit_message_text(_acknowledgement(context, receipt),
                                  reply_markup=_acknowledgement_markup(receipt))


async def self_service_answer(update: Update, context: PeerdeskContext) -> None:
    """"This helped" closes the ticket as self-served; the other button queues it for a helper."""
    query = update.callback_query
    lang = await _language(update, context)
    button = decode(query.data, Action.SELF_SERVICE)
    if button is None or button.arg not in ("y", "n"):
        await _refuse(update, lang)
        return
    async with context.services.db.session() as session:
        receipt = await intake.resolve_self_service(
            session=session, ticket_id=button.id, asker_id=query.from_user.id,
            helped=button.arg == "y", desk=context.services.desk, now=context.services.clock(),
        )
    if receipt is None:
        await _refuse(update, lang)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    if receipt.status is TicketStatus.CLOSED:
        await query.message.reply_text(gettext(
            receipt.language, "Glad it helped! Question #{number} is marked as solved. You are "
                              "welcome to ask again any time.", number=receipt.ticket_id))
    else:
        context.services.wake_sender()
        ack = await query.message.reply_text(_acknowledgement(context, receipt),
                                             reply_markup=_acknowledgement_markup(receipt))
        await _acknowledged(context, receipt, ack)


async def anonymous_ticket(update: Update, context: PeerdeskContext) -> None:
    """Hide the asker's name on one waiting question."""
    query = update.callback_query
    lang = await _language(update, context)
    button = decode(query.data, Action.ANONYMOUS)
    receipt = None
    if button is not None:
        async with context.services.db.session() as session:
            receipt = await intake.make_anonymous(
                session=session, ticket_id=button.id, asker_id=query.from_user.id,
                desk=context.services.desk, now=context.services.clock(),
            )
    if receipt is None:
        await _refuse(update, lang)
        return
    context.services.wake_sender()  # the name leaves the cards
    await query.answer(gettext(receipt.language, "Done: the helpers will not see your name."))
    await query.edit_message_text(_acknowledgement(context, receipt))


async def chose_language(update: Update, context: PeerdeskContext) -> None:
    """Store the language picked with /lang."""
    query = update.callback_query
    code = query.data.split(":")[1]
    if code not in LANGUAGES:
        await _refuse(update, await _language(update, context))
        return
    async with context.services.db.session() as session:
        await intake.set_language(session=session, telegram_id=query.from_user.id, language=code)
    await query.answer()
    await query.edit_message_text(gettext(code, "I will speak English with you."))


async def edited(update: Update, context: PeerdeskContext) -> None:
    """Edits do not reach helpers: say so rather than silently ignore them."""
    lang = await _language(update, context)
    await update.effective_message.reply_text(gettext(
        lang, "I noticed you edited a message. Edits do not reach the helpers, so please send "
              "the correction as a new message."))


async def not_text(update: Update, context: PeerdeskContext) -> None:
    """Stickers, photos, voice, files: ask for words instead."""
    lang = await _language(update, context)
    await update.effective_message.reply_text(gettext(
        lang, "I can only read text for now. Please write your question in words; a helper "
              "can ask you for a picture or a file later."))


async def unknown_button(update: Update, context: PeerdeskContext) -> None:
    """A button with data this bot does not know (an old or forged one)."""
    await _refuse(update, await _language(update, context))


async def empty_button(update: Update, context: PeerdeskContext) -> None:
    """A press without data (only a modified client sends one): refused before any other
    handler sees it, for PTB lets such a press match every button pattern."""
    await unknown_button(update, context)
    raise ApplicationHandlerStop


async def unknown_command(update: Update, context: PeerdeskContext) -> None:
    lang = await _language(update, context)
    await update.effective_message.reply_text(
        gettext(lang, "I do not know that command. /help shows what I can do."))


async def set_commands(application: Application) -> None:
    """The command menu in each language (Finnish is also the default)."""
    for code in (None, *LANGUAGES):
        lang = code or "fi"
        await application.bot.set_my_commands(
            [BotCommand(c, gettext(lang, d)) for c, d in COMMANDS], language_code=code
        )


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
