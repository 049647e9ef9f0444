"""Outgoing calls: Telegram's flood limits, and retries of what Telegram refused for a while."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError
from telegram.ext import AIORateLimiter

logger = logging.getLogger(__name__)
# Calls that name a chat but send nothing to it: Telegram's per-group limit is on messages, and
# PTB's limiter would count these against a group's 20 a minute.
LOOKUPS = frozenset({"getChat", "getChatMember", "getChatAdministrators", "getChatMemberCount",
                     "setMyCommands", "deleteMyCommands", "getFile", "leaveChat"})


class RetryingRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter (30/s overall, 20/min per group, waits out 429s) that also retries
    server errors and network failures with backoff (PTB alone never retries them), and does
    not count look-ups such as getChat against a group's message limit."""

    def __init__(self, *, network_retries: int = 4, backoff: float = 0.5, **kwargs: Any) -> None:
        # aiolimiter's bucket allows a full burst *and* the steady rate within one period, so the
        # default 30/s can put 60 messages into one second of a broadcast, which Telegram answers
        # with 429s. A small bucket keeps every second within the limit: a burst of 2, then 28/s.
        # Groups keep PTB's 20 a minute: a burst there is usual (a card, then a notice) and rare
        # enough that the 429 it may cost is waited out (max_retries).
        kwargs.setdefault("overall_max_rate", 2)
        kwargs.setdefault("overall_time_period", 2 / 28)
        kwargs.setdefault("max_retries", 5)
        super().__init__(**kwargs)
        self._network_retries = network_retries
        self._backoff = backoff

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint in LOOKUPS:
            data = {key: value for key, value in data.items() if key != "chat_id"}
        for attempt in range(self._network_retries + 1):
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except (BadRequest, Forbidden, InvalidToken, Conflict):
                raise  # the request itself is wrong: sending it again changes nothing
            except NetworkError as exc:
                if attempt == self._network_retries:
                    raise
                delay = self._backoff * 2**attempt
                logger.warning("%s failed (%s); retry %d in %.1fs", endpoint,
                               type(exc).__name__, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
