"""Dialogs in Telegram: every private update first meets the person's dialog, read from the
database (bot.domain.dialogs), never from the process's memory. A step that fits the update is
taken and nothing else sees the update; a dialog that lapsed is ended and the person told, and
their message goes on as what it is; /cancel ends any dialog.

The steps of each dialog (`Steps`) and the handler are registered in bot.telegram.app, the
handler before every other handler of private messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import ReplyKeyboardRemove, Update
from telegram.ext import ApplicationHandlerStop

from bot.config import Settings
from bot.domain import dialogs
from bot.domain.dialogs import DialogView
from bot.i18n import _, gettext
from bot.telegram.access import language
from bot.telegram.context import PeerdeskContext, message_of, user_of

logger = logging.getLogger(__name__)

# The kinds of dialog, and how long each waits for the person's next step.
NEWEVENT, BULLETIN, MATERIALS = "newevent", "bulletin", "materials"
JOIN = "join"  # "Add to #N, or a new question?" (bot.telegram.intake)
FORGET = "forget"  # /forget's confirmation (bot.telegram.privacy)
PHONE = "phone"  # the asker pressed "I would prefer a phone call" (helpers.buttons)
SPLIT = "split"  # a long message's first part: the rest, within seconds, joins it (intake)
SPLIT_SECONDS = 5
ORGANISERS = (NEWEVENT, BULLETIN, MATERIALS)
TTL: dict[str, Callable[[Settings], timedelta]] = {
    **{kind: (lambda s: timedelta(seconds=s.conversation_timeout_seconds))
       for kind in ORGANISERS},
    JOIN: lambda s: timedelta(minutes=s.conversation_window_minutes),
    FORGET: lambda s: timedelta(seconds=s.conversation_timeout_seconds),
    PHONE: lambda s: timedelta(seconds=s.conversation_timeout_seconds),
    SPLIT: lambda s: timedelta(seconds=SPLIT_SECONDS),
}
CANCELLED = _("Cancelled.")
DEFAULT_TTL = timedelta(minutes=30)  # a kind another module adds without a TTL of its own


def ttl(kind: str, settings: Settings) -> timedelta:
    found = TTL.get(kind)
    return found(settings) if found is not None else DEFAULT_TTL


@dataclass
class Turn:
    """A step being taken: the dialog as read, and its answers to change (saved by `advance`)."""

    dialog: DialogView
    draft: dict[str, Any] = field(default_factory=dict)

    @property
    def lang(self) -> str:
        return self.dialog.language


StepHandler = Callable[[Update, PeerdeskContext, Turn], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Step:
    """What a step takes: text, a file, or a button whose data matches `button` (its actions'
    `callbacks.pattern`). Its handler returns the next step, or None when the dialog is over."""

    handler: StepHandler
    text: bool = False
    file: bool = False
    button: re.Pattern[str] | None = None

    def fits(self, update: Update) -> bool:
        if update.callback_query is not None:
            return self.button is not None and bool(
                re.fullmatch(self.button, update.callback_query.data or ""))
        message = update.message
        if message is None:
            return False
        if self.file and message.document is not None:
            return True
        return self.text and bool(message.text) and not (message.text or "").startswith("/")


@dataclass
class Steps:
    """Every step of every dialog taken here, by kind and step; and what /cancel says."""

    steps: dict[tuple[str, str], list[Step]] = field(default_factory=dict)
    cancelled: dict[str, str] = field(default_factory=dict)  # kind → msgid
    told: set[str] = field(default_factory=set)  # kinds whose lapse the person is told of

    def add(self, kind: str, step: str, *ways: Step) -> None:
        self.steps.setdefault((kind, step), []).extend(ways)

    def takes_button(self, data: object) -> bool:
        """Whether some step takes a button with this data."""
        return isinstance(data, str) and any(
            way.button is not None and re.fullmatch(way.button, data)
            for ways in self.steps.values() for way in ways)


def steps_of(context: PeerdeskContext) -> Steps:
    """The application's steps (bot.telegram.app builds them)."""
    return context.bot_data["dialogs"]


async def begin(update: Update, context: PeerdeskContext, kind: str, step: str, *, lang: str,
                answers: Mapping[str, Any] | None = None) -> DialogView:
    """Start a dialog with the person who sent this update, in its chat."""
    user = user_of(update)
    chat_id = update.effective_chat.id if update.effective_chat else user.id
    return await begin_in(context, chat_id, user.id, kind, step, lang=lang, answers=answers)


async def begin_in(context: PeerdeskContext, chat_id: int, user_id: int, kind: str, step: str,
                   *, lang: str, answers: Mapping[str, Any] | None = None) -> DialogView:
    """Start a dialog with this person in this chat (in place of any they had there)."""
    services = context.services
    async with services.db.session() as session:
        started = await dialogs.start(session=session, chat_id=chat_id, user_id=user_id,
                                      kind=kind, step=step, now=services.clock(),
                                      ttl=ttl(kind, services.settings), language=lang,
                                      answers=answers)
    context.dialog_read = (started,)
    return started


async def current(update: Update, context: PeerdeskContext, kind: str | None = None
                  ) -> DialogView | None:
    """The person's dialog in this chat, if one is going on (of this kind): as `route` read it
    for this update, or read now."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    if context.dialog_read is not None:
        found = context.dialog_read[0]
    else:
        async with context.services.db.unit() as session:
            found = await dialogs.get(session=session, chat_id=chat.id, user_id=user.id,
                                      now=context.services.clock())
        context.dialog_read = (found,)
    if found is None or found.expired or (kind is not None and found.kind != kind):
        return None
    return found


async def step_to(context: PeerdeskContext, dialog: DialogView, step: str,
                  answers: Mapping[str, Any]) -> DialogView | None:
    """On to `step` with these answers; None: the dialog moved on meanwhile."""
    services = context.services
    async with services.db.session() as session:
        moved = await dialogs.advance(session=session, dialog=dialog, step=step,
                                      now=services.clock(), answers=answers,
                                      ttl=ttl(dialog.kind, services.settings))
    context.dialog_read = (moved,)
    return moved


async def end(context: PeerdeskContext, dialog: DialogView) -> bool:
    """End the dialog as read; False: it had moved on already (another update took it)."""
    async with context.services.db.session() as session:
        ended = await dialogs.finish(session=session, dialog=dialog)
    context.dialog_read = (None,)
    return ended


async def save(context: PeerdeskContext, turn: Turn, step: str | None) -> bool:
    """After a step: on to `step` with the answers, or (None) the dialog ends. False: it had
    moved on meanwhile."""
    if step is None:
        return await end(context, turn.dialog)
    return await step_to(context, turn.dialog, step, turn.draft) is not None


def _is_cancel(update: Update) -> bool:
    message = update.message
    text = (message.text or "") if message is not None else ""
    return bool(text) and text.split()[0].split("@")[0] == "/cancel"


async def route(update: Update, context: PeerdeskContext) -> None:
    """Before every other handler of a private update: the person's dialog, if any, takes it."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != "private" or update.edited_message:
        return
    services = context.services
    async with services.db.unit() as session:
        dialog = await dialogs.get(session=session, chat_id=chat.id, user_id=user.id,
                                   now=services.clock())
    context.dialog_read = (dialog,)  # the later handlers of this update need not read it again
    if dialog is None:
        return
    steps = steps_of(context)
    if dialog.expired:
        ended = await end(context, dialog)
        if ended and dialog.kind in steps.told and update.message is not None:
            await message_of(update).reply_text(expired_text(dialog.kind, dialog.language))
        return  # the message is what it is: the handlers below take it
    if _is_cancel(update):
        await cancel(update, context, dialog)
        raise ApplicationHandlerStop
    for step in steps.steps.get((dialog.kind, dialog.step), []):
        if step.fits(update):
            turn = Turn(dialog, dict(dialog.answers))
            following = await step.handler(update, context, turn)
            await save(context, turn, following)
            raise ApplicationHandlerStop
    if dialog.kind in steps.cancelled and update.message is not None \
            and not (update.message.text or "").startswith("/"):
        # An organiser's message mid-dialog is no question: the step is asked again.
        await update.message.reply_text(gettext(
            dialog.language, "Please answer the question above (the buttons, if it has them), "
                             "or write /cancel to stop."))
        raise ApplicationHandlerStop


async def cancel(update: Update, context: PeerdeskContext, dialog: DialogView) -> None:
    """/cancel: the dialog ends, and the person hears what it means for this kind."""
    await end(context, dialog)
    msgid = steps_of(context).cancelled.get(dialog.kind, CANCELLED)
    # A keyboard the dialog showed goes with it (the phone number's "Share my number": a tap
    # after /cancel would share it all the same).
    await message_of(update).reply_text(gettext(dialog.language, msgid),
                                        reply_markup=ReplyKeyboardRemove())


async def step_passed(update: Update, context: PeerdeskContext) -> None:
    """A step's button pressed when no dialog waits for it: pressed twice (the first press
    published), or after the draft was published, put aside or lapsed. Said quietly; nothing
    is done."""
    query = update.callback_query
    assert query is not None
    lang = await language(update, context)
    await query.answer(gettext(lang, "Already done: this draft has been published or put aside."))


async def nothing_to_cancel(update: Update, context: PeerdeskContext) -> None:
    """/cancel with no dialog going on."""
    lang = await language(update, context)
    await message_of(update).reply_text(gettext(lang, "There is nothing to cancel just now."))


def expired_text(kind: str, lang: str) -> str:
    """What a person hears of a dialog that lapsed (the note the sweep queues says the same)."""
    if kind in ORGANISERS:
        return gettext(lang, "I put this draft aside since we have not heard from you for a "
                             "while; nothing was published. You can start again with the same "
                             "command whenever it suits you.")
    return gettext(lang, "That earlier question of mine has lapsed, so I took your message as "
                         "it is.")


async def sweep(context: PeerdeskContext) -> None:
    """Lapsed dialogs ended, once whichever replica sweeps; those the person should hear of are
    told through the outbox."""
    services, told = context.services, steps_of(context).told
    async with services.db.session() as session:
        ended = await dialogs.expire(session=session, now=services.clock(), notice=told)
    if any(d.kind in told for d in ended):
        services.wake_sender()
    if ended:
        logger.info("%d dialogs lapsed", len(ended))
