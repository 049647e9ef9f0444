"""Telegram's flood limits as the bot keeps them: never more than a group takes in a minute,
and a group's 429 holds back only that group."""

from __future__ import annotations

import asyncio
import time

from telegram.error import RetryAfter

from bot.telegram.ratelimit import RetryingRateLimiter, group_pace


def test_a_group_never_gets_more_than_its_limit_in_any_minute() -> None:
    for per_minute in (4, 20, 21, 240):
        burst, period = group_pace(per_minute)
        # An aiolimiter bucket passes its size at once and then its rate: the worst minute.
        assert burst + burst * 60 / period <= per_minute + 1e-9
        assert burst >= 1
    assert group_pace(20) == (5, 20.0)  # 5 at once, then one every 4 s


async def test_a_groups_429_holds_back_only_that_group() -> None:
    limiter = RetryingRateLimiter(group_per_minute=600)
    await limiter.initialize()
    refusals = [RetryAfter(1)]
    calls: list[str] = []

    async def to_group() -> str:
        calls.append("group")
        if refusals:
            raise refusals.pop()
        return "group"

    async def to_person() -> str:
        return "person"

    group = asyncio.create_task(limiter.process_request(
        to_group, (), {}, "sendMessage", {"chat_id": -1001}, None))
    await asyncio.sleep(0.05)  # the group has been refused and waits its second
    started = time.monotonic()
    person = await limiter.process_request(to_person, (), {}, "sendMessage", {"chat_id": 7}, None)
    assert person == "person" and time.monotonic() - started < 0.5  # PTB would pause it 1 s
    assert await group == "group" and calls == ["group", "group"]
    await limiter.shutdown()


async def test_a_group_refusing_for_good_is_left_to_the_sender() -> None:
    limiter = RetryingRateLimiter(group_per_minute=600, max_retries=1)
    await limiter.initialize()

    async def to_group() -> str:
        raise RetryAfter(0)

    try:
        await limiter.process_request(to_group, (), {}, "sendMessage", {"chat_id": -1001}, None)
    except RetryAfter:
        pass  # the sender catches it and tries the row again later
    else:
        raise AssertionError("a refusal must reach the sender")
    await limiter.shutdown()
