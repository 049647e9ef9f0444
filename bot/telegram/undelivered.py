"""What the admins hear when the sender could not deliver an announcement: a channel that
refuses it for good, or one whose sender stopped mid-send (not resent, so never twice)."""

from __future__ import annotations

import logging

from telegram.error import TelegramError
from telegram.ext import Application

from bot.domain.outbox import Claimed
from bot.i18n import gettext
from bot.services import Services

logger = logging.getLogger(__name__)


def _services(application: Application) -> Services:
    return application.bot_data["services"]


async def report_uncertain(application: Application, items: list[Claimed]) -> None:
    """Announcements whose sender stopped mid-send: not resent (that could be twice); told."""
    services = _services(application)
    for item in items:
        logger.warning("outbox %s: the sender stopped mid-send; not resent", item.id)
        await _tell_admins(application, gettext(
            services.settings.helpers_language, "An announcement (outbox #{number}) may not have "
            "been sent: the bot stopped while sending it. It is not sent again, so as not to "
            "send it twice; please check the channel.", number=item.id))


async def report_refused(application: Application, item: Claimed, error: str) -> None:
    """A channel refused an announcement for good: the admins should know. A person who has
    blocked the bot (materials, feedback, an offered place) is not news for them."""
    if item.chat_id > 0:
        return
    await _tell_admins(application, gettext(
        _services(application).settings.helpers_language, "The chat {chat} refused an "
        "announcement ({error}). Is the bot still a member there?", chat=item.chat_id,
        error=error[:120]))


async def _tell_admins(application: Application, text: str) -> None:
    for admin in _services(application).settings.admin_ids:
        try:
            await application.bot.send_message(admin, text)
        except TelegramError:
            logger.warning("an admin could not be told about the outbox")
