"""`peerdesk run` (long polling; with no token, the local sandbox) and `peerdesk serve` (the
webhook server with /healthz /readyz /metrics): the bot itself, started by bot.runner."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any

from bot.config import Settings


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("run", help="run the bot with long polling (sandbox without a token)"
                        ).set_defaults(verb=run_command)
    commands.add_parser("serve", help="run the webhook server (health, metrics, reports too)"
                        ).set_defaults(verb=serve_command)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """`peerdesk run`, and `peerdesk` with no verb."""
    # Only the bot needs python-telegram-bot and aiohttp (bot.runner loads them, 0.6 s): the
    # other verbs start without. No cycle: nothing bot.runner imports imports bot.cli.
    from bot.runner import run_polling

    return _run_long(run_polling(settings))


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner import run_webhook  # loaded by the bot's verbs only, as above

    return _run_long(run_webhook(settings))


def _run_long(main: Coroutine[Any, Any, int]) -> int:
    """The bot itself runs on uvloop where it is installed: its event loop costs a fraction of
    asyncio's per callback, and every database call and HTTP request is a few callbacks
    (bench/throughput.py: 5–10 % more questions a second, half the p99 latency)."""
    try:
        import uvloop  # optional: the bot runs on asyncio's own loop without it
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
