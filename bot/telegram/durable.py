"""Nothing lost, nothing twice: every update is in the database before Telegram is told it
arrived, and each update id is handled once, by one process.

- Polling: `DurableBot.get_updates` stores the batch before returning it, and PTB confirms a
  batch only when it asks for the next one.
- Webhook: the web view stores the update before answering 200 (bot.web).
- Storing takes the new updates in hand for this process, in the same write (the `Inbox`);
  `DurableApplication.process_update` handles only updates in hand, so one that comes again
  (or that another replica stored) is skipped.
- After a crash, `replay` takes over what a dead process stored but did not finish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, ExtBot

from bot.domain import inbound
from bot.services import Services

logger = logging.getLogger(__name__)


class Inbox:
    """The updates this process has stored and so taken in hand, until they are handled."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._in_hand: set[int] = set()

    async def store(self, updates: Iterable[tuple[int, dict]]) -> set[int]:
        """Store updates before they are confirmed; returns the ids that are new, now in hand."""
        async with self._services.db.session() as session:
            new = await inbound.store(session=session, updates=list(updates),
                                      now=self._services.clock())
        self._in_hand |= new
        return new

    async def take_over(self, *, immediately: bool = False) -> list[dict]:
        """Take in hand what a dead process left unfinished: in hand for longer than a lease, or
        (`immediately`, when no other process can be handling updates) everything."""
        services = self._services
        lease = timedelta(0) if immediately \
            else timedelta(seconds=services.settings.update_lease_seconds)
        async with services.db.session() as session:
            taken = await inbound.take_over(session=session, now=services.clock(), lease=lease)
        self._in_hand.update(update_id for update_id, _ in taken)
        return [payload for _, payload in taken]

    def release(self, update_id: int) -> bool:
        """Whether this process holds the update (it is handed out once)."""
        if update_id in self._in_hand:
            self._in_hand.discard(update_id)
            return True
        return False

    async def done(self, update_id: int) -> None:
        async with self._services.db.session() as session:
            await inbound.done(session=session, update_id=update_id, now=self._services.clock())


class DurableBot(ExtBot):
    """An ExtBot whose getUpdates stores what it got before handing it on."""

    __slots__ = ("_inbox",)

    def __init__(self, *args: Any, inbox: Inbox, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbox = inbox

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:  # type: ignore[override]
        updates = await super().get_updates(*args, **kwargs)
        if updates:
            await self._inbox.store((u.update_id, u.to_dict()) for u in updates)
        # All of them go on: PTB confirms the batch by its last id. Those not in hand are
        # skipped by DurableApplication.
        return updates


class DurableApplication(Application):
    """Handles an update only while this process holds it, and marks it done afterwards."""

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        inbox: Inbox = self.bot_data["inbox"]
        if not inbox.release(update.update_id):
            logger.info("update %s already handled or in hand elsewhere", update.update_id)
            return
        try:
            await super().process_update(update)
        finally:
            await inbox.done(update.update_id)


async def replay_job(context: Any) -> None:
    """Now and then: take over updates whose process died (a lease ago)."""
    await replay(context.application)


async def replay(application: Application, *, immediately: bool = False) -> int:
    """Queue again the updates a previous run (or a replica that died) stored but did not
    finish; see `Inbox.take_over`."""
    inbox: Inbox = application.bot_data["inbox"]
    payloads = await inbox.take_over(immediately=immediately)
    for payload in payloads:
        await application.update_queue.put(Update.de_json(payload, application.bot))
    if payloads:
        logger.info("replaying %d stored updates", len(payloads))
    return len(payloads)
