"""Outgoing calls: Telegram's flood limits kept by the whole bot (bot.telegram.budget), retries
of what Telegram refused for a while, and no second try of a message that may have gone."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import AIORateLimiter

from bot.telegram.budget import OVERALL, Budget, per_minute
from bot.telegram.request import NotSent, makes_something

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
    """An aiolimiter bucket for at most `per_minute` messages in any minute: a bucket lets its
    size through at once *and* its rate after, so a bucket of a quarter refilled at three
    quarters a minute never exceeds the limit (5, then one every 4 s, for Telegram's 20).
    Kept for reference: the bot's own pace is `bot.telegram.budget.per_minute`."""
    burst = max(1, per_minute // 4)
    return burst, burst * 60 / (per_minute - burst)


class RetryingRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter with the pacing taken from a `Budget` (one per process, or shared by
    every replica on PostgreSQL): no second holds more than 29 messages, no minute more than
    `group_per_minute` in a group. It holds back only that group when Telegram still answers
    429 there (PTB would pause every request, and an asker's acknowledgement would wait behind
    the helpers' group), retries server errors and network failures with backoff (PTB alone
    never retries them) — but never a message that timed out after it was sent, which Telegram
    may still deliver — does not count look-ups such as getChat against a group, and stops
    retrying at once when the bot is stopping."""

    def __init__(self, *, group_per_minute: int = 20, network_retries: int = 4,
                 backoff: float = 0.5, budget: Budget | None = None, **kwargs: Any) -> None:
        # PTB's own buckets are off: the budget paces (PTB's would be per process).
        kwargs.setdefault("overall_max_rate", 0)
        kwargs.setdefault("group_max_rate", 0)
        kwargs.setdefault("max_retries", 5)
        super().__init__(**kwargs)
        self.budget = budget or Budget()
        self.group_pace = per_minute(group_per_minute)
        self._max_group_retries = kwargs["max_retries"]
        self._network_retries = network_retries
        self._backoff = backoff
        self._group_resumes: dict[int | str, float] = {}  # group → when its 429 is waited out
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """The bot is stopping: no call waits for another try (docker gives 10 s in all)."""
        self._stopping.set()

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        chat_id = data.get("chat_id")
        if endpoint in LOOKUPS:
            data = {key: value for key, value in data.items() if key != "chat_id"}
            chat_id = None
        group = chat_id is not None and (isinstance(chat_id, str) or int(chat_id) < 0)
        if chat_id is not None:
            callback = self._paced(callback, chat_id if group else None)
        if group:
            callback = self._held_per_group(callback, chat_id)
        makes = makes_something(endpoint)
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
                if attempt == self._network_retries or self._stopping.is_set():
                    raise
                if makes and isinstance(exc, TimedOut) and not isinstance(exc, NotSent):
                    # Sent, and no answer in time: Telegram may still deliver it. The sender
                    # decides later, when Telegram has long finished (or the handler lets go).
                    logger.warning("%s timed out after it was sent: not sent again now",
                                   endpoint)
                    raise
                delay = self._backoff * 2**attempt
                logger.warning("%s failed (%s); retry %d in %.1fs", endpoint,
                               type(exc).__name__, attempt + 1, delay)
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except TimeoutError:
                    continue
                raise
        raise AssertionError("unreachable")

    def _paced(self, callback: Call, group: int | str | None) -> Call:
        """`callback` in its slot of the budget: the group's first (the scarce lane), then the
        bot's overall one. Each try takes slots of its own."""

        async def call(*args: Any, **kwargs: Any) -> Any:
            if group is not None:
                await self.budget.take(f"g:{group}", self.group_pace)
            await self.budget.take("all", OVERALL)
            return await callback(*args, **kwargs)

        return call

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
                    if attempt == self._max_group_retries or self._stopping.is_set():
                        raise _GroupStillRefuses(exc) from None
                    seconds = exc.retry_after
                    wait = seconds if isinstance(seconds, int | float) else seconds.total_seconds()
                    logger.info("a group's limit hit; its messages wait %.0f s", wait)
                    self._group_resumes[group] = max(self._group_resumes.get(group, 0.0),
                                                     time.monotonic() + wait + 0.1)
            raise AssertionError("unreachable")

        return call
