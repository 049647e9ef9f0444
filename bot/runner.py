"""Running the bot: long polling against Telegram, or against the local sandbox."""

from __future__ import annotations

import asyncio
import logging

from telegram.error import InvalidToken

from bot.config import ConfigError, Settings
from bot.services import Services
from bot.storage import migrate
from bot.telegram.app import build_application, polling

logger = logging.getLogger(__name__)


async def run_polling(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Migrate, then poll until stopped. Without a token the sandbox is started in-process."""
    from bot.cli import install_stop_signals

    stop = stop or asyncio.Event()
    install_stop_signals(stop)
    await migrate(settings.database_url)
    services = Services.create(settings)
    sandbox_runner = None
    if settings.telegram_token is None:
        from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, serve

        sandbox_runner = await serve(Sandbox(), settings.sandbox_host, settings.sandbox_port)
        port = sandbox_runner.addresses[0][1]
        api_url, token = f"http://{settings.sandbox_host}:{port}", SANDBOX_TOKEN
        print(f"peerdesk sandbox: open http://{settings.sandbox_host}:{port} in a browser",
              flush=True)
    else:
        api_url, token = settings.telegram_api_url, settings.telegram_token.get_secret_value()
    application = build_application(services, token=token, api_url=api_url)
    try:
        async with polling(application, drop_pending_updates=False):
            logger.info("peerdesk is running")
            await stop.wait()
    except InvalidToken:
        raise ConfigError(
            "PEERDESK_TELEGRAM_TOKEN was refused by the Bot API: check it with BotFather"
        ) from None
    finally:
        await services.db.dispose()
        if sandbox_runner is not None:
            await sandbox_runner.cleanup()
    return 0
