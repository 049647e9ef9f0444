"""The python-telegram-bot Application: built and wired in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram.ext import Application, ContextTypes

from bot.services import Services
from bot.telegram import events, helpers, intake, reports
from bot.telegram.context import PeerdeskContext
from bot.telegram.ordering import PerChatUpdateProcessor
from bot.telegram.ratelimit import RetryingRateLimiter


def build_application(services: Services, *, token: str, api_url: str) -> Application:
    """An Application talking to the Bot API at `api_url` (Telegram, or the local sandbox)."""
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .rate_limiter(RetryingRateLimiter())
        .concurrent_updates(PerChatUpdateProcessor())
        .context_types(ContextTypes(context=PeerdeskContext))
        .build()
    )
    application.bot_data["services"] = services
    helpers.register(application)  # its private relay runs before intake (handler group -1)
    reports.register(application)
    events.register(application)  # its conversations take organisers' answers before intake
    intake.register(application)
    application.add_error_handler(intake.on_error)
    return application


@asynccontextmanager
async def polling(application: Application, **options: Any) -> AsyncIterator[Application]:
    """Initialize (checks the token), set the command menu, and long-poll until the block ends."""
    try:
        await application.initialize()
    except Exception:
        # PTB leaves the HTTP client of a failed initialize (say, a refused token) open.
        await application.bot.request.shutdown()
        raise
    async with application:
        await intake.set_commands(application)
        await helpers.set_commands(application)
        await application.start()
        await application.updater.start_polling(**options)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
