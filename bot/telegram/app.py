"""The python-telegram-bot Application: built and wired in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram.ext import Application, ContextTypes

from bot.services import Services
from bot.telegram import events, helpers, hours, intake, privacy, reports
from bot.telegram.context import PeerdeskContext
from bot.telegram.durable import DurableApplication, DurableBot, Inbox, replay, replay_job
from bot.telegram.ordering import PerChatUpdateProcessor
from bot.telegram.ratelimit import RetryingRateLimiter
from bot.telegram.request import AiohttpRequest

CHECKPOINT_SECONDS = 2.0


async def checkpoint_job(context: PeerdeskContext) -> None:
    """SQLite's log into the database, off the path of the bot's own writes."""
    await context.services.db.checkpoint()


def build_application(services: Services, *, token: str, api_url: str,
                      webhook: bool = False) -> Application:
    """An Application talking to the Bot API at `api_url` (Telegram, or the local sandbox):
    long polling, or (`webhook`) fed by the web server. Updates are stored before they are
    confirmed and handled once (bot.telegram.durable)."""
    inbox = Inbox(services)
    bot = DurableBot(
        token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot",
        request=AiohttpRequest(connection_pool_size=64),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
        rate_limiter=RetryingRateLimiter() if services.settings.rate_limit else None,
        inbox=inbox,
    )
    builder = (
        Application.builder()
        .application_class(DurableApplication)
        .bot(bot)
        .concurrent_updates(PerChatUpdateProcessor())
        .context_types(ContextTypes(context=PeerdeskContext))
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["services"] = services
    application.bot_data["inbox"] = inbox
    helpers.register(application)  # its private relay runs before intake (handler group -1)
    reports.register(application)
    events.register(application)  # its conversations take organisers' answers before intake
    privacy.register(application)
    hours.register(application)  # /hours, and the school's calendar kept loaded
    intake.register(application)
    application.add_error_handler(intake.on_error)
    if application.job_queue is not None:
        lease = services.settings.update_lease_seconds
        application.job_queue.run_repeating(replay_job, interval=max(1.0, lease / 2),
                                            first=lease, name="peerdesk-replay")
        if services.db.engine.dialect.name == "sqlite":  # PostgreSQL checkpoints by itself
            application.job_queue.run_repeating(checkpoint_job, interval=CHECKPOINT_SECONDS,
                                                first=CHECKPOINT_SECONDS,
                                                name="peerdesk-checkpoint")
    return application


async def initialize(application: Application) -> None:
    """Initialize (checks the token) and set the command menus."""
    try:
        await application.initialize()
    except Exception:
        # PTB leaves the HTTP clients of a failed initialize (say, a refused token) open.
        await application.bot.shutdown()
        raise
    await intake.set_commands(application)
    await helpers.set_commands(application)
    await hours.initialize(application)


@asynccontextmanager
async def polling(application: Application, **options: Any) -> AsyncIterator[Application]:
    """Initialize, then long-poll until the block ends."""
    await initialize(application)
    async with application:
        await application.start()
        # Telegram lets one process poll: what an earlier run left unfinished is ours at once.
        await replay(application, immediately=True)
        await application.updater.start_polling(**options)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
