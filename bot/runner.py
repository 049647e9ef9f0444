"""Running the bot: long polling against Telegram, or against the local sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from telegram import Update
from telegram.error import InvalidToken

from bot.config import PROJECT_ROOT, ConfigError, Settings
from bot.domain import inbound
from bot.domain.roster import HelperView, import_helpers, read_roster, roster
from bot.domain.tickets import messages
from bot.services import Services
from bot.storage import Database
from bot.storage.db import migrate_in_child, sqlite_file
from bot.telegram.app import build_application, initialize, polling, running
from bot.web import init_app

if TYPE_CHECKING:  # the sandbox itself only when it runs (no token): 2 MB a real bot never needs
    from bot.sandbox.server import Sandbox

logger = logging.getLogger(__name__)


async def _serve_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_webhook(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """`peerdesk serve`: one aiohttp server for the Telegram webhook, health, metrics, reports
    and the calendar. Registers the webhook (with its secret) at start."""
    if settings.telegram_token is None:
        raise ConfigError("PEERDESK_TELEGRAM_TOKEN is needed for serve (make run uses the sandbox)")
    if settings.webhook_url is None or settings.webhook_secret is None:
        missing = "PEERDESK_WEBHOOK_URL" if settings.webhook_url is None \
            else "PEERDESK_WEBHOOK_SECRET"
        raise ConfigError(f"{missing} is needed for serve")
    if stop is None:
        stop = asyncio.Event()
        install_stop_signals(stop)
    await _migrate(settings)
    services = Services.create(settings)
    application = build_application(services, token=settings.telegram_token.get_secret_value(),
                                    api_url=settings.telegram_api_url, webhook=True)
    web_runner = await _serve_web(init_app(services, application), settings.web_host,
                                  settings.web_port if settings.web_port is not None else 8080)
    try:
        await initialize(application)
        async with application, running(application):
            try:
                await application.bot.set_webhook(
                    f"{settings.webhook_url}/telegram/webhook",
                    secret_token=settings.webhook_secret.get_secret_value(),
                    allowed_updates=Update.ALL_TYPES, max_connections=40)
                logger.info("peerdesk is serving the webhook")
                await stop.wait()
            finally:
                logger.info("peerdesk is stopping")
    except InvalidToken:
        raise ConfigError(
            "PEERDESK_TELEGRAM_TOKEN was refused by the Bot API: check it with BotFather"
        ) from None
    finally:
        await web_runner.cleanup()
        await services.db.dispose()
    return 0


async def _migrate(settings: Settings) -> None:
    """Upgrade the schema in a child process, unless it is current already (most starts)."""
    db = Database(settings.database_url)
    try:
        current = await db.schema_is_current()
    except Exception:  # unreachable: the child says why, in the words people are shown
        current = False
    finally:
        await db.dispose()
    if not current and not await migrate_in_child(settings.database_url):
        raise ConfigError("the database schema could not be upgraded (see the lines above)")


SANDBOX_GROUP = -1000000000001
SANDBOX_CHANNEL = -1000000000002
SANDBOX_ADMIN = 1003  # Anna in the example roster: may publish events and bulletins
EXAMPLE_ROSTER = PROJECT_ROOT / "data" / "helpers.example.yaml"


def sandbox_folder(database_url: str) -> Path:
    """Where the sandbox keeps its world: beside the SQLite database, else in data/."""
    database = sqlite_file(database_url)
    folder = Path(database).parent if database else PROJECT_ROOT / "data"
    return folder / "sandbox"


async def _sandbox_world(settings: Settings) -> tuple[Sandbox, Settings]:
    """A local world to try everything in: a helpers' forum group, an announcement channel,
    the example people (helpers, a lead who receives the digest, an admin who may publish
    events), kept across restarts beside the database."""
    from bot.sandbox.server import Sandbox

    specs = read_roster(EXAMPLE_ROSTER)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            helpers = await roster(session=session)
            if not helpers:
                await import_helpers(session=session, specs=specs)
                helpers = await roster(session=session)
            seen = await inbound.last_update_id(session=session)
            known = await messages.last_message_id(session=session)
    finally:
        await db.dispose()
    # Update ids go on above what the database has seen, even if the kept world was removed.
    sandbox = Sandbox.open(sandbox_folder(settings.database_url), first_update=seen + 1,
                           first_message=known + 1)
    group = settings.helpers_chat_id or SANDBOX_GROUP
    sandbox.group(group, "Vertaistuki (sandbox)", forum=True)
    admins = settings.admin_ids or frozenset({SANDBOX_ADMIN})
    channels = settings.announce_channels or (SANDBOX_CHANNEL,)
    for channel in channels:
        sandbox.channel(channel, "Tiedotteet (sandbox)")
    _label(sandbox, helpers, admins)
    return sandbox, settings.model_copy(update={
        "helpers_chat_id": group, "admin_ids": admins, "announce_channels": channels})


def _label(sandbox: Sandbox, helpers: list[HelperView], admins: frozenset[int]) -> None:
    """The page's list of people to act as: the roster, each with what they are."""
    for helper in helpers:
        if helper.telegram_id not in sandbox.users:
            sandbox.user(helper.telegram_id, helper.name, (helper.languages or ("fi",))[0])
        label = ", ".join(helper.roles)
        if helper.telegram_id in admins and "admin" not in helper.roles:
            label = f"{label}, admin" if label else "admin"
        sandbox.labels[helper.telegram_id] = label


async def _keep_labels(sandbox: Sandbox, services: Services, stop: asyncio.Event) -> None:
    """Someone invited on the page can be chosen on its right side within a couple of
    seconds; someone removed is no longer offered."""
    while not stop.is_set():
        try:
            async with services.db.session() as session:
                helpers = await roster(session=session)
        except Exception as exc:  # a busy database: next time
            logger.warning("the sandbox's roster was not read (%s)", type(exc).__name__)
        else:
            for gone in set(sandbox.labels) - {h.telegram_id for h in helpers}:
                del sandbox.labels[gone]
            _label(sandbox, helpers, services.settings.admin_ids)
        try:
            await asyncio.wait_for(stop.wait(), 2)
        except TimeoutError:
            pass


async def run_polling(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Migrate, then poll until stopped. Without a token the sandbox is started in-process."""
    if stop is None:
        stop = asyncio.Event()
        install_stop_signals(stop)
    await _migrate(settings)
    sandbox = None
    if settings.telegram_token is None:
        sandbox, settings = await _sandbox_world(settings)
    services = Services.create(settings)
    sandbox_runner = None
    if sandbox is not None:
        from bot.sandbox.server import SANDBOX_TOKEN, serve

        try:
            sandbox_runner = await serve(sandbox, settings.sandbox_host, settings.sandbox_port)
        except OSError as exc:  # most often: another peerdesk holds the port
            raise ConfigError(
                f"the sandbox could not listen on {settings.sandbox_host}:"
                f"{settings.sandbox_port} ({exc.strerror or type(exc).__name__}): is another "
                "peerdesk running? Stop it, or choose another port with PEERDESK_SANDBOX_PORT"
            ) from None
        port = sandbox_runner.addresses[0][1]
        api_url, token = f"http://{settings.sandbox_host}:{port}", SANDBOX_TOKEN
        print(f"peerdesk sandbox: open http://{settings.sandbox_host}:{port} in a browser",
              flush=True)
    else:
        assert settings.telegram_token is not None
        api_url, token = settings.telegram_api_url, settings.telegram_token.get_secret_value()
    application = build_application(services, token=token, api_url=api_url)
    web_runner = None
    if settings.web_port is not None:
        web_runner = await _serve_web(init_app(services), settings.web_host, settings.web_port)
    try:
        async with polling(application, drop_pending_updates=False):
            logger.info("peerdesk is running")
            if sandbox is not None:
                await _keep_labels(sandbox, services, stop)
            await stop.wait()
    except InvalidToken:
        raise ConfigError(
            "PEERDESK_TELEGRAM_TOKEN was refused by the Bot API: check it with BotFather"
        ) from None
    finally:
        if web_runner is not None:
            await web_runner.cleanup()
        await services.db.dispose()
        if sandbox_runner is not None:
            await sandbox_runner.cleanup()
        if sandbox is not None:
            sandbox.save()
    return 0


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop`, which the runner waits on to shut down in order."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
