"""A ticket's forum topic is created once, even when Telegram answers late.

Telegram has no way to ask which topics a group has, and a bot gets no update about a topic it
made itself: the only word of a topic is the answer to the call that made it. So that answer is
never given up on while Telegram may still send it. The call waits `ANSWER_SECONDS` for it; the
forum's lane waits `LANE_WAIT_SECONDS` (as long as for any send), then goes on to other messages
while the call goes on waiting, and the sender tries the ticket's row again later. When the
answer comes, the topic is noted on the ticket at once; a later try finds it there, or, while
the call still waits, waits for that call instead of making another (before: a topic whose
answer took longer than the lane's wait was made twice).

What stays: a process killed while the call waits never hears the answer, and the next process
makes the topic again (the exception README's Failure modes describes).
"""

from __future__ import annotations

import asyncio
import logging

from telegram.error import TimedOut
from telegram.ext import Application

from bot.domain.tickets import messages
from bot.services import Services
from bot.telegram.request import SEND_READ_TIMEOUT

logger = logging.getLogger(__name__)
ANSWER_SECONDS = 120.0  # how long a createForumTopic call waits for Telegram's answer
LANE_WAIT_SECONDS = SEND_READ_TIMEOUT  # how long the forum's lane waits for it
KEEP_ANSWER_SECONDS = 60.0  # an answered call is remembered this long
_PENDING = "topics_pending"  # bot_data: ticket id -> the call still waiting for its answer


async def create(application: Application, ticket_id: int, name: str,
                 deleted: int | None = None) -> int:
    """A new topic for the ticket, noted on it; its thread id (`deleted`: the ticket's topic
    that someone deleted, never the answer). Raises TimedOut when Telegram has not answered
    within the lane's wait (the call goes on waiting)."""
    pending: dict[int, asyncio.Task[int]] = application.bot_data.setdefault(_PENDING, {})
    call = pending.get(ticket_id)
    if call is not None and call.done() and (
            call.cancelled() or call.exception() is not None or call.result() == deleted):
        call = None
    if call is None:
        call = pending[ticket_id] = asyncio.create_task(_create(application, ticket_id, name))
        call.add_done_callback(lambda done: _answered(pending, ticket_id, done))
    elif not call.done():
        logger.info("ticket %s: waiting again for the topic asked for before", ticket_id)
    try:
        return await asyncio.wait_for(asyncio.shield(call), LANE_WAIT_SECONDS)
    except TimeoutError:
        raise TimedOut(f"no answer yet to the topic of ticket {ticket_id}: still waiting for "
                       "it, not asked again") from None


async def _create(application: Application, ticket_id: int, name: str) -> int:
    services: Services = application.bot_data["services"]
    assert services.forum is not None
    topic = await application.bot.create_forum_topic(services.forum, name,
                                                     read_timeout=ANSWER_SECONDS)
    async with services.db.session() as session:
        await messages.set_thread(session=session, ticket_id=ticket_id,
                                  thread_id=topic.message_thread_id)
    return topic.message_thread_id


def _answered(pending: dict[int, asyncio.Task[int]], ticket_id: int,
              done: asyncio.Task[int]) -> None:
    """A failed call is forgotten at once (the next try makes the topic); an answered one is
    kept a minute, for a try that read the ticket just before the answer was noted."""
    def forget() -> None:
        if pending.get(ticket_id) is done:
            del pending[ticket_id]

    if done.cancelled() or done.exception() is not None:
        forget()
        if not done.cancelled():
            logger.info("ticket %s: its topic could not be made (%s)", ticket_id,
                        type(done.exception()).__name__)
    else:
        asyncio.get_running_loop().call_later(KEEP_ANSWER_SECONDS, forget)
