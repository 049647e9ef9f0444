"""Who may do what, checked once where handlers are registered (bot.telegram.app), not inside
each handler: `helpers_only`, `coaches_only`, `organisers_only`, `admins_only`, each with one
kind refusal for everyone else. And the one way to answer a button press that is not the
presser's, or whose question has moved on (`stale`).

Rights are read on every use, so a person removed or demoted is refused at once; whoever is
refused is answered in their own language and nothing changes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from telegram import Update, User

from bot import LEAD
from bot.domain import roster, setup
from bot.domain.events.views import EventView
from bot.domain.intake import language_of, preferred_language, remember_staff
from bot.domain.roster import HelperView
from bot.i18n import _, gettext
from bot.services import Services
from bot.telegram.callbacks import AnyAction, Button, decode
from bot.telegram.context import PeerdeskContext

Handler = Callable[[Update, PeerdeskContext], Coroutine[Any, Any, None]]
HelperHandler = Callable[[Update, PeerdeskContext, HelperView], Coroutine[Any, Any, None]]
PersonHandler = Callable[[Update, PeerdeskContext, HelperView | None],
                         Coroutine[Any, Any, None]]

COACH_ROLES = frozenset({"vertaisvalmentaja", LEAD})  # review the drafted answers
# The one refusal each kind of person hears, and the one for a button that is not one's own.
HELPERS_ONLY = _("Sorry, only the peer-support helpers can do this.")
COACHES_ONLY = _("Sorry, the answers' drafts are for the peer coaches.")
ORGANISERS_ONLY = _("Sorry, only the desk's organisers can publish. An admin can make you one "
                    "(/helpers, or an /invite organiser link).")
ADMINS_ONLY = _("Sorry, only the desk's admins can do this.")
STALE = _("This button is not yours to press, or the question has moved on.")


async def is_admin(services: Services, user_id: int) -> bool:
    """An admin of the environment or of the roster, read now (a removed one is no longer)."""
    if user_id in services.settings.configured_admin_ids:
        return True
    async with services.db.session() as session:
        return await setup.is_admin(session=session, user_id=user_id)


def is_organiser(services: Services, user_id: int) -> bool:
    """An organiser or an admin (of the environment, or added in Telegram: the settings are
    refreshed on every update)."""
    settings = services.settings
    return user_id in settings.admin_ids or user_id in settings.organiser_ids


def is_coach(services: Services, user_id: int, person: HelperView | None) -> bool:
    """A peer coach or a lead of the roster, or an admin."""
    return user_id in services.settings.admin_ids or (
        person is not None and bool(COACH_ROLES & set(person.roles)))


def may_manage(services: Services, user_id: int, event: EventView) -> bool:
    """An event's host, an organiser or an admin."""
    return event.host_id == user_id or is_organiser(services, user_id)


async def _helper(context: PeerdeskContext, user: User) -> HelperView | None:
    """The helper who sent this update, their Telegram language as it is now: kept for the
    notices sent them later (one read; a write only when it changed), and in the view their
    command answers in (HelperView.language)."""
    async with context.services.db.session() as session:
        found = await roster.helper(session=session, user_id=user.id)
        if found is None:
            return None
        if user.language_code and found.telegram_language != user.language_code:
            await remember_staff(session=session, telegram_id=user.id,
                                 first_name=user.first_name,
                                 telegram_language=user.language_code)
            found = replace(found, telegram_language=user.language_code)
    return found


def helpers_only(handler: HelperHandler) -> Handler:
    """Only helpers of the roster may work tickets. The handler gets the helper."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: PeerdeskContext) -> None:
        user = update.effective_user
        helper = await _helper(context, user) if user is not None else None
        if helper is not None and helper.is_helper:
            await handler(update, context, helper)
            return
        chat = update.effective_chat
        services = context.services
        if update.callback_query is None and chat is not None and chat.type != chat.PRIVATE \
                and chat.id not in (services.forum, services.settings.helpers_chat_id):
            return  # a command in another group the bot is in: silence, not a refusal
        await refuse(update, context, HELPERS_ONLY)

    return guarded


def coaches_only(handler: PersonHandler) -> Handler:
    """Drafts are reviewed by the peer coaches, the leads and the admins. The handler gets the
    person (None: an admin outside the roster)."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: PeerdeskContext) -> None:
        user = update.effective_user
        person = await _helper(context, user) if user is not None else None
        if user is not None and is_coach(context.services, user.id, person):
            await handler(update, context, person)
            return
        await refuse(update, context, COACHES_ONLY)

    return guarded


def organisers_only(handler: Handler) -> Handler:
    """Only organisers and admins publish events and bulletins."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: PeerdeskContext) -> None:
        user = update.effective_user
        if user is not None and is_organiser(context.services, user.id):
            await handler(update, context)
            return
        await refuse(update, context, ORGANISERS_ONLY)

    return guarded


def admins_only(handler: Handler) -> Handler:
    """Only the desk's admins set it up (invite, manage the roster, the staff code, the
    poster)."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: PeerdeskContext) -> None:
        user = update.effective_user
        if user is not None and await is_admin(context.services, user.id):
            await handler(update, context)
            return
        await refuse(update, context, ADMINS_ONLY)

    return guarded


async def language(update: Update, context: PeerdeskContext) -> str:
    """The person's language: their /lang choice, else their Telegram app's, else English for
    a Telegram language not ours, else Finnish (bot.domain.intake.preferred_language)."""
    user = update.effective_user
    if user is None:
        return preferred_language(None)
    async with context.services.db.session() as session:
        return await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)


async def refuse(update: Update, context: PeerdeskContext, message: str,
                 lang: str | None = None) -> None:
    """A kind refusal in the person's language: an alert on a button, a reply to a command."""
    text = gettext(lang or await language(update, context), message)
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(text)


async def stale(update: Update, context: PeerdeskContext, lang: str | None = None) -> None:
    """A button that is not (or no longer) the presser's to press — forged, someone else's, or
    its question moved on: said kindly in an alert, and nothing is done."""
    await refuse(update, context, STALE, lang)


async def pressed(update: Update, context: PeerdeskContext, *actions: AnyAction
                  ) -> Button | None:
    """The press's button, if its data is one of `actions` in their shape and range; otherwise
    it is refused as stale (None)."""
    button = decode(update.callback_query.data if update.callback_query else None, *actions)
    if button is None:
        await stale(update, context)
    return button
