"""The knowledge loop in Telegram: the card's answer buttons and "Save as an answer", /answers
for helpers, /drafts for coaches (edit by replying, publish, discard), /log for questions asked
face to face or by phone, and the published answers kept fresh in the router.

Each handler decides through bot.domain.answers, whose changes queue what they cause; the handler
itself answers only the person who pressed or wrote."""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop

from bot import LANGUAGES
from bot.domain import answers, corrections, drafts, roster
from bot.domain.answers import AnswerView, Sending
from bot.domain.drafts import Drafting
from bot.domain.models import AnswerStatus
from bot.domain.roster import HelperView
from bot.domain.tickets import messages
from bot.domain.tickets.messages import Kind
from bot.i18n import gettext
from bot.services import Services
from bot.telegram.access import is_coach, stale
from bot.telegram.callbacks import Action, decode, encode
from bot.telegram.context import PeerdeskContext
from bot.telegram.helpers.cards import helper_language
from bot.telegram.keyboards import take_away_buttons

logger = logging.getLogger(__name__)
RELOAD_SECONDS = 60.0  # answers published by another process or the command line
SHOWN = 10  # answers or drafts in one reply
SHOWN_PARTS = 12  # a helper's texts offered as a draft's parts
_LANGUAGE_PREFIX = re.compile(r"^\s*(fi|sv|en)\s*:\s*", re.IGNORECASE)


def _language(services: Services, person: HelperView | None) -> str:
    return helper_language(services, person)


# --- the card -------------------------------------------------------------------------------------

async def _on_its_card(update: Update, context: PeerdeskContext, action: Action) -> int | None:
    """The ticket of a pressed card button, if the button sits on that ticket's own card."""
    query = update.callback_query
    assert query is not None
    button = decode(query.data, action)
    if button is None or query.message is None:
        return None
    async with context.services.db.session() as session:
        found = await messages.find_message(session=session, chat_id=query.message.chat.id,
                                            message_id=query.message.message_id)
    if found is None or found.kind != Kind.CARD or found.ticket_id != button.id:
        return None
    return button.id


async def send_answer_button(update: Update, context: PeerdeskContext,
                             helper: HelperView) -> None:
    """One press sends the answer at hand to the asker, in their language."""
    query, services = update.callback_query, context.services
    assert query is not None
    lang = _language(services, helper)
    ticket_id = await _on_its_card(update, context, Action.ANSWER_SEND)
    button = decode(query.data, Action.ANSWER_SEND)
    outcome, ticket = Sending.UNKNOWN, None
    if ticket_id is not None and button is not None and button.arg:
        async with services.db.session() as session:
            outcome, ticket = await answers.send(
                session=session, router=services.router, ticket_id=ticket_id,
                answer_id=button.arg, helper_id=helper.telegram_id, now=services.clock(),
                desk=services.desk)
    if outcome is Sending.SENT:
        services.wake_sender()
        logger.info("ticket %s: an answer at hand was sent", ticket_id)
        await query.answer(gettext(lang, "Sent to the asker in their language."))
    elif outcome is Sending.HELD and ticket is not None:
        await query.answer(gettext(lang, "{name} holds #{number}, so this was not sent to the "
                                         "asker.", name=ticket.claimer_name or "?",
                                   number=ticket.id), show_alert=True)
    elif outcome is Sending.CLOSED:
        await query.answer(gettext(lang, "This question is no longer waiting."), show_alert=True)
    else:
        await stale(update, context, lang)


async def save_answer_button(update: Update, context: PeerdeskContext,
                             helper: HelperView) -> None:
    """"Save as an answer" on a closed, well-rated ticket: a draft for the coaches, made of the
    helper's substantive texts; the helper gets its choices in their own chat."""
    query, services = update.callback_query, context.services
    assert query is not None
    lang = _language(services, helper)
    ticket_id = await _on_its_card(update, context, Action.ANSWER_SAVE)
    if ticket_id is None:
        await stale(update, context, lang)
        return
    async with services.db.session() as session:
        outcome, draft = await drafts.draft_from_ticket(
            session=session, router=services.router, ticket_id=ticket_id, now=services.clock())
        found = await drafts.parts(session=session, ticket_id=ticket_id)
    if outcome in (Drafting.CREATED, Drafting.EXISTS) and draft is not None:
        logger.info("ticket %s: its reply was saved as a draft answer", ticket_id)
        await query.answer(gettext(lang, "Thank you! Saved as a draft: a peer coach reviews and "
                                         "translates it with /drafts before anyone sees it."),
                           show_alert=True)
        await take_away_buttons(query)
        if draft.status == AnswerStatus.DRAFT:
            try:
                await context.bot.send_message(
                    helper.telegram_id, _choices_text(services, draft, found, lang),
                    reply_markup=_choices_buttons(ticket_id, found))
            except TelegramError:  # they have not opened a private chat with the bot
                logger.info("ticket %s: the draft's choices could not be sent privately",
                            ticket_id)
        return
    await query.answer(gettext(lang, "Only a closed question whose answer the asker rated 4 or "
                                     "5 can be saved, and only its written reply."),
                       show_alert=True)


def _choices_text(services: Services, draft: AnswerView, found: list[drafts.Part],
                  lang: str) -> str:
    """The helper's texts, which of them form the draft, and the draft as it now reads."""
    lines = [gettext(lang, "Draft answer {id} (from question #{number}). Your messages to the "
                           "asker; ✅ ones form the answer (greetings, closings and hand-overs "
                           "are left out). Press a number to take a message in or out.",
                     id=draft.id, number=draft.source_ticket_id or "–"), ""]
    for part in found[:SHOWN_PARTS]:
        shown = " ".join(part.text.split())
        lines.append(f"{part.number}. {'✅' if part.chosen else '▫️'} "
                     f"{shown[:200] + ('…' if len(shown) > 200 else '')}")
    triggers = "; ".join(f"{code}: {', '.join(words)}" for code, words in draft.triggers.items()
                         if words) or "–"
    lines += ["", gettext(lang, "The answer as the coaches will see it:"),
              draft.text.get(draft.language) or "–",
              gettext(lang, "Trigger words: {words}", words=triggers), "",
              gettext(lang, "Names, e-mail addresses and phone numbers are taken out. Reply to "
                            "this message with any other detail to take out (a room, a name), "
                            "separated by commas.")]
    return "\n".join(lines)[:4096]


def _choices_buttons(ticket_id: int, found: list[drafts.Part]
                     ) -> InlineKeyboardMarkup | None:
    if not found:  # a draft from before the texts were kept apart: nothing to choose
        return None
    buttons = [InlineKeyboardButton(f"{'✅' if p.chosen else '▫️'} {p.number}",
                                    callback_data=encode(Action.ANSWER_PART, ticket_id,
                                                         p.number))
               for p in found[:SHOWN_PARTS]]
    return InlineKeyboardMarkup([buttons[i:i + 4] for i in range(0, len(buttons), 4)])


async def part_button(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """One of the helper's texts into the draft, or out of it; the message shows the new draft."""
    query, services = update.callback_query, context.services
    assert query is not None
    lang = _language(services, helper)
    button = decode(query.data, Action.ANSWER_PART)
    draft = None
    if button is not None and button.arg and button.arg.isdigit():
        async with services.db.session() as session:
            draft = await drafts.choose_part(session=session, router=services.router,
                                              ticket_id=button.id, number=int(button.arg),
                                              now=services.clock())
            found = await drafts.parts(session=session, ticket_id=button.id)
    if button is None or draft is None:
        await query.answer(gettext(lang, "This draft is no longer waiting for your choice."),
                           show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(_choices_text(services, draft, found, lang),
                                  reply_markup=_choices_buttons(button.id, found))


def _ticket_of_buttons(message: Message | None, bot_id: int, action: Action) -> int | None:
    """The ticket a bot message is about, read from its first button of `action` (the draft's
    choices: ANSWER_PART; the draft shown to a coach: DRAFT_PUBLISH)."""
    if message is None or message.from_user is None or message.from_user.id != bot_id \
            or message.reply_markup is None:
        return None
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            found = decode(str(button.callback_data), action)
            if found is not None:
                return found.id
    return None


async def _hide_reply(update: Update, context: PeerdeskContext, ticket_id: int) -> None:
    """A helper's reply to their draft's choices: the details in it are taken out."""
    message, services, user = update.effective_message, context.services, update.effective_user
    assert message is not None and user is not None
    async with services.db.session() as session:
        person = await roster.helper(session=session, user_id=user.id)
        if person is None:
            return
        draft = await drafts.hide_details(
            session=session, router=services.router, ticket_id=ticket_id,
            details=re.split(r"[,;\n]", message.text or ""), now=services.clock())
        found = await drafts.parts(session=session, ticket_id=ticket_id)
    lang = _language(services, person)
    if draft is None:
        await message.reply_text(gettext(lang, "This draft is no longer waiting for your "
                                               "choice."))
    else:
        await message.reply_text(_choices_text(services, draft, found, lang),
                                 reply_markup=_choices_buttons(ticket_id, found))
    raise ApplicationHandlerStop


# --- /answers -------------------------------------------------------------------------------------

async def answers_command(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """/answers WORD: the published answers holding the word, in any language."""
    message, services = update.effective_message, context.services
    if message is None:
        return
    lang = _language(services, helper)
    word = " ".join(context.args or []).strip()
    if not word:
        await message.reply_text(gettext(lang, "Write a word after the command, for example: "
                                               "/answers salasana"))
        return
    found = services.router.find_answers(word)
    if not found:
        await message.reply_text(gettext(lang, "No self-service answer mentions “{word}”.",
                                         word=word[:60]))
        return
    lines = [f"• {a.id} · {services.topic_name(a.topic, lang)}\n{a.text.get(lang, '')}"
             for a in found[:SHOWN]]
    await message.reply_text((gettext(lang, "Self-service answers for “{word}”:", word=word[:60])
                              + "\n\n" + "\n\n".join(lines))[:4096])


# --- /drafts --------------------------------------------------------------------------------------

def _draft_text(services: Services, draft: AnswerView, lang: str) -> str:
    triggers = "; ".join(f"{code}: {', '.join(words)}" for code, words in draft.triggers.items()
                         if words) or "–"
    lines = [gettext(lang, "Draft answer {id} · {topic} (from question #{number})", id=draft.id,
                     topic=services.topic_name(draft.topic, lang),
                     number=draft.source_ticket_id or "–"),
             gettext(lang, "Trigger words: {words}", words=triggers), ""]
    for code in LANGUAGES:
        text = (draft.text.get(code) or "").strip()
        lines.append(f"{code}: " + (text or gettext(lang, "(still missing)")))
    lines += ["", gettext(lang, "Reply to this message to edit: start with fi:, sv: or en:. "
                                "Publish once all three are there.")]
    return "\n".join(lines)[:4096]


def _draft_buttons(draft: AnswerView, lang: str) -> InlineKeyboardMarkup | None:
    if draft.source_ticket_id is None:
        return None
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(gettext(lang, "Publish"),
                             callback_data=encode(Action.DRAFT_PUBLISH, draft.source_ticket_id)),
        InlineKeyboardButton(gettext(lang, "Discard"),
                             callback_data=encode(Action.DRAFT_DISCARD, draft.source_ticket_id))]])


async def drafts_command(update: Update, context: PeerdeskContext,
                         person: HelperView | None) -> None:
    """/drafts: each draft answer with its texts, Publish and Discard; a reply edits it."""
    message, services = update.effective_message, context.services
    if message is None:
        return
    lang = _language(services, person)
    async with services.db.session() as session:
        drafts = await answers.listing(session=session, status=AnswerStatus.DRAFT)
    if not drafts:
        await message.reply_text(gettext(lang, "No drafts are waiting. Thank you!"))
        return
    for draft in drafts[:SHOWN]:
        await message.reply_text(_draft_text(services, draft, lang),
                                 reply_markup=_draft_buttons(draft, lang))


async def draft_reply(update: Update, context: PeerdeskContext) -> None:
    """A coach's reply to a draft sets one language's text ("sv: …"; without a prefix the
    language is recognised). Any other message goes on to the other handlers."""
    message, services, user = update.effective_message, context.services, update.effective_user
    if message is None or user is None:
        return
    choosing = _ticket_of_buttons(message.reply_to_message, context.bot.id, Action.ANSWER_PART)
    if choosing is not None:
        await _hide_reply(update, context, choosing)
        return
    ticket_id = _ticket_of_buttons(message.reply_to_message, context.bot.id, Action.DRAFT_PUBLISH)
    if ticket_id is None:
        return
    async with services.db.session() as session:
        person = await roster.helper(session=session, user_id=user.id)
    if not is_coach(services, user.id, person):
        return
    lang = _language(services, person)
    text = message.text or ""
    prefix = _LANGUAGE_PREFIX.match(text)
    code = prefix.group(1).lower() if prefix else services.router.detect_language(text)
    body = text[prefix.end():] if prefix else text
    draft = None
    if body.strip():
        async with services.db.session() as session:
            draft = await answers.set_text(session=session,
                                           answer_id=answers.draft_id(ticket_id),
                                           language=code, text=body, now=services.clock())
    if draft is None:
        await message.reply_text(gettext(lang, "That draft is gone, or the text was empty."))
    else:
        await message.reply_text(_draft_text(services, draft, lang),
                                 reply_markup=_draft_buttons(draft, lang))
    raise ApplicationHandlerStop


async def draft_button(update: Update, context: PeerdeskContext,
                       person: HelperView | None) -> None:
    """Publish (every language needs its text) or discard a draft."""
    query, services = update.callback_query, context.services
    assert query is not None
    lang = _language(services, person)
    button = decode(query.data, Action.DRAFT_PUBLISH, Action.DRAFT_DISCARD)
    if button is None:
        await stale(update, context, lang)
        return
    answer_id, now = answers.draft_id(button.id), services.clock()
    async with services.db.session() as session:
        if button.action is Action.DRAFT_DISCARD:
            done = await answers.discard(session=session, router=services.router,
                                         answer_id=answer_id, now=now)
            await query.answer(gettext(lang, "Discarded.") if done else None)
            await take_away_buttons(query)
            return
        draft, missing = await answers.publish(session=session, router=services.router,
                                               answer_id=answer_id, now=now)
    if draft is None:
        await query.answer(gettext(lang, "That draft is gone, or the text was empty."),
                           show_alert=True)
    elif missing:
        await query.answer(gettext(lang, "Not yet: add {missing} first.",
                                   missing=", ".join(missing)), show_alert=True)
    else:
        logger.info("answer %s published", answer_id)
        await query.answer(gettext(lang, "Published: the bot offers it from now on."),
                           show_alert=True)
        await take_away_buttons(query)


# --- /log -----------------------------------------------------------------------------------------

def _topic(services: Services, text: str) -> str | None:
    """A topic by its id or its name in any language."""
    wanted = " ".join(text.lower().split())
    for topic in services.knowledge.topics.values():
        if wanted == topic.id.lower() or wanted in (n.lower() for n in topic.name.values()):
            return topic.id
    return None


async def log_command(update: Update, context: PeerdeskContext, helper: HelperView) -> None:
    """/log TOPIC [team]: a question that came face to face or by phone, counted in the reports
    as such (no text, no name). A topic of several words is written with underscores or as its
    id."""
    message, services = update.effective_message, context.services
    if message is None:
        return
    lang = _language(services, helper)
    args = context.args or []
    topic = _topic(services, args[0]) if args else None
    team = " ".join(args[1:]).strip()[:64] or None
    if topic is None and len(args) > 1:  # a topic name of several words, no team
        topic, team = _topic(services, " ".join(args)), None
    if topic is None:
        ids = ", ".join(sorted(services.knowledge.topics))
        await message.reply_text(gettext(lang, "Write a topic after the command, for example "
                                               "/log hoks Tekniikka. Topics: {topics}",
                                         topics=ids)[:4096])
        return
    role = services.knowledge.topics[topic].role
    async with services.db.session() as session:
        await answers.log_hallway(session=session, topic=topic, role=role, language=lang,
                                  team=team, now=services.clock())
    await message.reply_text(gettext(lang, "Thank you! A question about {topic} asked face to "
                                           "face or by phone is counted.",
                                     topic=services.topic_name(topic, lang)))


# --- the answers in use ---------------------------------------------------------------------------

async def initialize(application: Application) -> None:
    """On first start the YAML answers are imported; the router uses the published ones."""
    services: Services = application.bot_data["services"]
    async with services.db.session() as session:
        seeded = await answers.seed(session=session, knowledge=services.knowledge,
                                    now=services.clock())
        await answers.refresh(session=session, router=services.router)
        await corrections.refresh(session=session, router=services.router)
    if seeded:
        logger.info("%d self-service answers imported from the knowledge folder", seeded)


async def reload_job(context: PeerdeskContext) -> None:
    """Answers published elsewhere (another process, the command line) reach this router."""
    async with context.services.db.reading() as session:
        await answers.refresh(session=session, router=context.services.router)
        await corrections.refresh(session=session, router=context.services.router)
