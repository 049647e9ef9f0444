"""Nothing lost, nothing twice: every update is in the database before Telegram is told it
arrived, and each update id is handled once, by one process.

- Polling: `DurableBot` stores each getUpdates batch before PTB sees it, and PTB confirms a
  batch only when it asks for the next one.
- Webhook: the web view stores the update before answering 200 (bot.web, `Inbox.receive`).
- Storing takes the new updates in hand for this process, in the same write (the `Inbox`);
  `DurableApplication.process_update` handles only updates in hand, so one that comes again
  (or that another replica stored) is skipped.
- An update that cannot be read is set aside (no payload kept), counted, reported once to the
  admins, and the bot goes on: it never stops polling on it.
- `replay` takes over what a process that has stopped (no heartbeat) stored but did not finish.
- What a handler notes after its reply went out (which message acknowledged a question) is
  written in the transaction that marks the update done (`with_done`): one write, not two.
- Storing a batch and marking an update done are Core statements on a connection of their own
  (`Database.unit`), without an ORM session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import JSONDict, ODVInput, TimePeriod
from telegram.ext import Application, ExtBot

from bot.domain import inbound, outbox
from bot.domain.core import Unit
from bot.domain.models import Priority, utcnow
from bot.services import Services

logger = logging.getLogger(__name__)

# Core statements only (bot.domain.core.run): they run on a connection, not an ORM session.
Write = Callable[[Unit], Awaitable[None]]
# The writes left for the transaction that marks the update being handled done (in the update's
# own task: PTB awaits its handlers there); None outside an update.
_WITH_DONE: ContextVar[list[Write] | None] = ContextVar("with_done", default=None)


def with_done(write: Write) -> bool:
    """Leave `write` (no commit) to the transaction that marks this update done; False when no
    update is being handled here (the caller writes it itself). Only for what may wait those
    few moments: a crash before then leaves the update unfinished, and it is handled again."""
    pending = _WITH_DONE.get()
    if pending is None:
        return False
    pending.append(write)
    return True


class Inbox:
    """The updates this process has stored and so taken in hand, until they are handled."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._in_hand: set[int] = set()

    @property
    def timeout(self) -> timedelta:
        return timedelta(seconds=self._services.settings.update_lease_seconds)

    async def store(self, updates: Iterable[tuple[int, dict | None]]) -> set[int]:
        """Store updates before they are confirmed; returns the ids that are new, now in hand.
        A payload of None is an update that could not be read: set aside, reported."""
        batch = list(updates)
        services = self._services
        async with services.db.unit() as session:
            new = await inbound.store(session=session, updates=batch, now=services.clock(),
                                      worker=services.worker_id)
        unreadable = {update_id for update_id, payload in batch if payload is None}
        self._in_hand |= new - unreadable
        for update_id in sorted(new & unreadable):  # reported the first time only
            await self.poisoned(update_id, stored=True)
        return new - unreadable

    async def receive(self, payload: dict[str, Any], bot: ExtBot) -> Update | None:
        """One update from the webhook: stored first; the Update to handle, if it is new."""
        update_id = int(payload["update_id"])
        update = parse(payload, bot)
        new = await self.store([(update_id, None if update is None else payload)])
        return update if update is not None and update_id in new else None

    async def poisoned(self, update_id: int, *, stored: bool = False) -> None:
        """An update that cannot be read or handled: set aside, counted, admins told once."""
        services = self._services
        self._in_hand.discard(update_id)
        async with services.db.session() as session:
            first = await inbound.set_aside(session=session, update_id=update_id,
                                            now=services.clock()) or stored
            if first:
                await outbox.notify(session=session, chat_ids=services.settings.admin_ids,
                                    now=services.clock(), priority=Priority.ALERT,
                                    params={"template": "poison", "update_id": update_id})
        if first:
            services.metrics.poison_updates.inc()
            services.wake_sender()
            logger.warning("update %s could not be read or handled: set aside", update_id)

    async def take_over(self, *, everything: bool = False) -> list[tuple[int, dict]]:
        """Take in hand what a stopped process left unfinished (or, `everything`, when no other
        process can be handling updates, whatever is unfinished)."""
        services = self._services
        async with services.db.session() as session:
            taken = await inbound.take_over(session=session, now=services.clock(), wall=utcnow(),
                                            worker=services.worker_id, timeout=self.timeout,
                                            everything=everything)
        self._in_hand.update(update_id for update_id, _ in taken)
        return taken

    def release(self, update_id: int) -> bool:
        """Whether this process holds the update (it is handed out once)."""
        if update_id in self._in_hand:
            self._in_hand.discard(update_id)
            return True
        return False

    async def done(self, update_id: int, writes: Iterable[Write] = ()) -> None:
        """Handled; `writes` (`with_done`) go in the same transaction. Should they fail, the
        update is done all the same, as it would be had its handler failed."""
        writes = list(writes)
        if writes:
            try:
                async with self._services.db.unit() as session:
                    for write in writes:
                        await write(session)
                    await inbound.done(session=session, update_id=update_id,
                                       now=self._services.clock())
                return
            except Exception:
                logger.exception("update %s: what its handler noted could not be written",
                                 update_id)
        async with self._services.db.unit() as session:
            await inbound.done(session=session, update_id=update_id, now=self._services.clock())

    async def hand_back(self) -> None:
        """Stopping: what was taken but not begun goes back for the next process."""
        async with self._services.db.session() as session:
            await inbound.hand_back(session=session, worker=self._services.worker_id,
                                    update_ids=set(self._in_hand))
        self._in_hand.clear()


def parse(payload: dict[str, Any], bot: ExtBot) -> Update | None:
    """The Update, or None when python-telegram-bot cannot read it (an older or odd server)."""
    try:
        update = Update.de_json(payload, bot)
    except Exception as exc:  # any field PTB requires may be missing: nothing of it is usable
        logger.warning("update %s is unreadable (%s)", payload.get("update_id"),
                       type(exc).__name__)
        return None
    message = update.effective_message
    if message is not None and getattr(message, "chat", None) is None:
        # PTB reads a message without its chat; every handler would fail on it.
        logger.warning("update %s is unreadable (a message without a chat)",
                       payload.get("update_id"))
        return None
    return update


class DurableBot(ExtBot):
    """An ExtBot whose getUpdates stores what it got before handing it on. An update PTB cannot
    read is replaced by a bare one with the same id, so that polling confirms it and goes on."""

    __slots__ = ("_inbox",)

    def __init__(self, *args: Any, inbox: Inbox, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbox = inbox

    async def get_updates(
        self, offset: int | None = None, limit: int | None = None,
        timeout: TimePeriod | None = None, allowed_updates: Sequence[str] | None = None, *,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE, api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        """PTB's getUpdates (the same call, the long poll's seconds added to the read timeout),
        each update read once: read to be stored, and the Update handed on is that reading
        (PTB's own would read them all again)."""
        data: JSONDict = {"timeout": timeout, "offset": offset, "limit": limit,
                          "allowed_updates": allowed_updates}
        read = (self._request[0].read_timeout if isinstance(read_timeout, DefaultValue)
                else read_timeout) or 0
        read += timeout.total_seconds() if isinstance(timeout, timedelta) else timeout or 0
        result = await self._post("getUpdates", data, read_timeout=read,
                                  write_timeout=write_timeout, connect_timeout=connect_timeout,
                                  pool_timeout=pool_timeout, api_kwargs=api_kwargs)
        batch: list[tuple[int, dict | None]] = []
        updates: list[Update] = []
        for payload in result or ():
            update_id = int(payload["update_id"])
            update = parse(payload, self)
            batch.append((update_id, payload if update is not None else None))
            # All of them go on: PTB confirms the batch by its last id. Those not in hand are
            # skipped by DurableApplication.
            updates.append(update if update is not None
                           else Update.de_json({"update_id": update_id}, self))
        if batch:
            await self._inbox.store(batch)
        for update in updates:
            self.insert_callback_data(update)
        return tuple(updates)

    async def send_text(self, chat_id: int, text: str, **fields: Any) -> int:
        """sendMessage when only the new message's id is kept (bot.telegram.posting): the call
        `send_message` makes, through PTB's own lower layer (`_post`: its defaults, the rate
        limiter and its retries, PTB's errors, the HTTP layer), with Telegram's answer left as
        it came. `fields`: sendMessage's other parameters, PTB objects as PTB takes them (None
        is left out). Reading the answer into a `Message` took a quarter of the call's CPU."""
        result = await self._post("sendMessage", {"chat_id": chat_id, "text": text, **fields})
        return int(result["message_id"])


class DurableApplication(Application):
    """Handles an update only while this process holds it, and marks it done afterwards."""

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        inbox: Inbox = self.bot_data["inbox"]
        if not inbox.release(update.update_id):
            logger.debug("update %s already handled or in hand elsewhere", update.update_id)
            return
        writes: list[Write] = []
        token = _WITH_DONE.set(writes)
        try:
            await super().process_update(update)
        finally:
            _WITH_DONE.reset(token)
            await inbox.done(update.update_id, writes)


async def replay_job(context: Any) -> None:
    """Now and then: take over updates whose process has stopped."""
    await replay(context.application)


async def replay(application: Application, *, everything: bool = False) -> int:
    """Queue again the updates a previous run (or a replica that stopped) stored but did not
    finish; see `Inbox.take_over`. One that cannot be read any more is set aside."""
    inbox: Inbox = application.bot_data["inbox"]
    taken = await inbox.take_over(everything=everything)
    for update_id, payload in taken:
        update = parse(payload, application.bot)
        if update is None:
            await inbox.poisoned(update_id)
        else:
            await application.update_queue.put(update)
    if taken:
        logger.info("replaying %d stored updates", len(taken))
    return len(taken)
