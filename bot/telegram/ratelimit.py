"""Outgoing calls: Telegram's flood limits, and retries of what Telegram refused for a while."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

logger = logging.getLogger(__name__)
# Calls that name a chat but send nothing to it: Telegram's per-group limit is on messages, and
# PTB's limiter would count these against a group's 20 a minute.
LOOKUPS = frozenset({"getChat", "getChatMember", "getChatAdministrators", "getChatMemberCount",
                     "setMyCommands", "deleteMyCommands", "getFile", "leaveChat"})

Call = Callable[..., Coroutine[Any, Any, Any]]


class _GroupStillRefuses(Exception):
    """A group's 429 after its own retries, carried past PTB (which would pause every chat)."""

    def __init__(self, refusal: RetryAfter) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def group_pace(per_minute: int) -> tuple[int, float]:
    """PTB's group limiter (an aiolimiter bucket) for at most `per_minute` messages in any
    minute: a bucket lets its size through at once *and* its rate after, so a bucket of a
    quarter refilled at three quarters a minute never exceeds the limit (5, then one every 4 s,
    for Telegram's 20). PTB's default, 20 refilled at 20 a minute, lets 40 into the first minute."""
    burst = max(1, per_minute // 4)
    return burst, burst * 60 / (per_minute - burst)


class RetryingRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter that keeps every group within its limit in any minute, holds back
    only that group when Telegram still answers 429 there (PTB would pause every request, and an
    asker's acknowledgement would wait behind the helpers' group), retries server errors and
    network failures with backoff (PTB alone never retries them), and does not count look-ups
    such as getChat against a group's message limit."""

    def __init__(self, *, group_per_minute: int = 20, network_retries: int = 4,
                 backoff: float = 0.5, **kwargs: Any) -> None:
        # aiolimiter's bucket allows a full burst *and* the steady rate within one period, so the
        # default 30/s can put 60 messages into one second of a broadcast, which Telegram answers
        # with 429s. A small bucket keeps every second within the limit: a burst of 2, then 28/s.
        kwargs.setdefault("overall_max_rate", 2)
        kwargs.setdefault("overall_time_period", 2 / 28)
        rate, period = group_pace(group_per_minute)
        kwargs.setdefault("group_max_rate", rate)
        kwargs.setdefault("group_time_period", period)
        kwargs.setdefault("max_retries", 5)
        super().__init__(**kwargs)
        self._max_group_retries = kwargs["max_retries"]
        self._network_retries = network_retries
        self._backoff = backoff
        self._group_resumes: dict[int | str, float] = {}  # group → when its 429 is waited out

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint in LOOKUPS:
            data = {key: value for key, value in data.items() if key != "chat_id"}
        chat_id = data.get("chat_id")
        if chat_id is not None and (isinstance(chat_id, str) or int(chat_id) < 0):
            callback = self._held_per_group(callback, chat_id)
        for attempt in range(self._network_retries + 1):
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except (BadRequest, Forbidden, InvalidToken, Conflict):
                raise  # the request itself is wrong: sending it again changes nothing
            except _GroupStillRefuses as exc:
                raise exc.refusal from None  # the sender tries again later
            except NetworkError as exc:
                if attempt == self._network_retries:
                    raise
                delay = self._backoff * 2**attempt
                logger.warning("%s failed (%s); retry %d in %.1fs", endpoint,
                               type(exc).__name__, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _held_per_group(self, callback: Call, group: int | str) -> Call:
        """`callback` waiting out a group's 429 itself, so that PTB never sees it (and never
        pauses the other chats); only this group's messages wait."""

        async def call(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(self._max_group_retries + 1):
                resume = self._group_resumes.get(group, 0.0) - time.monotonic()
                if resume > 0:
                    await asyncio.sleep(resume)
                try:
                    return await callback(*args, **kwargs)
                except RetryAfter as exc:
                    if attempt == self._max_group_retries:
                        raise _GroupStillRefuses(exc) from None
                    seconds = exc.retry_after
                    wait = seconds if isinstance(seconds, int | float) else seconds.total_seconds()
                    logger.info("a group's limit hit; its messages wait %.0f s", wait)
                    self._group_resumes[group] = max(self._group_resumes.get(group, 0.0),
                                                     time.monotonic() + wait + 0.1)
            raise AssertionError("unreachable")

        return call
