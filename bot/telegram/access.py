"""Who may do what, checked once where handlers are registered (bot.telegram.app), not inside
each handler: `helpers_only` for the helpers' buttons and commands."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update

from bot import LANGUAGES
from bot.domain import roster, setup
from bot.domain.events.views import EventView
from bot.domain.roster import HelperView
from bot.i18n import _, gettext
from bot.services import Services
from bot.telegram.context import PeerdeskContext

HelperHandler = Callable[[Update, PeerdeskContext, HelperView], Coroutine[Any, Any, None]]
Handler = Callable[[Update, PeerdeskContext], Coroutine[Any, Any, None]]


def helpers_only(handler: HelperHandler) -> Handler:
    """Only helpers of the roster may work tickets: checked on every press and command; anyone
    else gets a polite refusal and nothing changes. The handler gets the helper."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: PeerdeskContext) -> None:
        user = update.effective_user
        helper = None
        if user is not None:
            async with context.services.db.session() as session:
                helper = await roster.helper(session=session, user_id=user.id)
        if helper is not None and helper.is_helper:
            await handler(update, context, helper)
            return
        chat = update.effective_chat
        services = context.services
        if update.callback_query is None and chat is not None and chat.type != chat.PRIVATE \
                and chat.id not in (services.forum, services.settings.helpers_chat_id):
            return  # a command in another group the bot is in: silence, not a refusal
        await _refuse(update, context, _("Sorry, only the peer-support helpers can do this."))

    return guarded


async def is_admin(services: Services, user_id: int) -> bool:
    """An admin of the environment or of the roster, read now (a removed one is no longer)."""
    if user_id in services.settings.configured_admin_ids:
        return True
    async with services.db.session() as session:
        return await setup.is_admin(session=session, user_id=user_id)


def admins_only(handler: Handler) -> Handler:
    """Only the desk's admins set it up (invite, manage the roster, the staff code, the poster):
    read on every use, so a removed admin is refused at once; anyone else is refused politely
    and nothing changes."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: PeerdeskContext) -> None:
        user = update.effective_user
        if user is not None and await is_admin(context.services, user.id):
            await handler(update, context)
            return
        await _refuse(update, context, _("Sorry, only the desk's admins can do this."))

    return guarded


async def _refuse(update: Update, context: PeerdeskContext, message: str) -> None:
    """A kind refusal in the person's language: an alert on a button, a reply to a command."""
    user = update.effective_user
    lang = ((user.language_code if user else None) or "")[:2]
    lang = lang if lang in LANGUAGES else context.services.settings.helpers_language
    text = gettext(lang, message)
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(text)


def is_organiser(services: Services, user_id: int) -> bool:
    settings = services.settings
    return user_id in settings.admin_ids or user_id in settings.organiser_ids


def may_manage(services: Services, user_id: int, event: EventView) -> bool:
    """The host, an organiser or an admin."""
    return event.host_id == user_id or is_organiser(services, user_id)
