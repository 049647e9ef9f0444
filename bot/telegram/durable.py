"""Nothing lost, nothing twice: every update is in the database before Telegram is told it
arrived, and each update id is handled once, by one process.

- Polling: `DurableBot.get_updates` stores the batch before returning it, and PTB confirms a
  batch only when it asks for the next one.
- Webhook: the web view stores the update before answering 200 (bot.web).
- Handling: `DurableApplication.process_update` claims the update id first; a duplicate (the
  same update again, or one another process has) is skipped.
- After a crash, `replay` puts stored but unhandled updates back on the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, ExtBot

from bot.domain import inbound
from bot.services import Services

logger = logging.getLogger(__name__)

Store = Callable[[list[tuple[int, dict]]], Awaitable[list[int]]]


class DurableBot(ExtBot):
    """An ExtBot whose getUpdates stores what it got before handing it on."""

    __slots__ = ("_store",)

    def __init__(self, *args: Any, store: Store, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._store = store

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:  # type: ignore[override]
        updates = await super().get_updates(*args, **kwargs)
        if updates:
            await self._store([(u.update_id, u.to_dict()) for u in updates])
        return updates


class DurableApplication(Application):
    """Handles each update id once: claimed in the database before any handler runs."""

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        services: Services = self.bot_data["services"]
        async with services.db.session() as session:
            mine = await inbound.claim(session=session, update_id=update.update_id,
                                       now=services.clock(), lease=_lease(services))
        if not mine:
            logger.info("update %s already handled or in hand elsewhere", update.update_id)
            return
        try:
            await super().process_update(update)
        finally:
            async with services.db.session() as session:
                await inbound.done(session=session, update_id=update.update_id,
                                   now=services.clock())


async def replay_job(context: Any) -> None:
    """Now and then: take over updates that a dead process stored or held."""
    await replay(context.application, settled=True)


def store_with(services: Services) -> Store:
    async def store(updates: list[tuple[int, dict]]) -> list[int]:
        async with services.db.session() as session:
            return await inbound.store(session=session, updates=updates, now=services.clock())
    return store


def _lease(services: Services) -> timedelta:
    return timedelta(seconds=services.settings.update_lease_seconds)


async def replay(application: Application, *, settled: bool = False) -> int:
    """Queue again the updates a previous run (or a replica that died) stored but did not
    finish. `settled`: only those stored a lease ago, not ones a live queue is about to take."""
    services: Services = application.bot_data["services"]
    now = services.clock()
    async with services.db.session() as session:
        payloads = await inbound.unfinished(
            session=session, now=now, lease=_lease(services),
            stored_before=now - _lease(services) if settled else None)
    for payload in payloads:
        await application.update_queue.put(Update.de_json(payload, application.bot))
    if payloads:
        logger.info("replaying %d stored updates", len(payloads))
    return len(payloads)
