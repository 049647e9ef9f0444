"""Updates run concurrently across chats but one at a time within a chat, so that a person's
messages are handled in the order they were written (a question before its follow-up)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any
from weakref import WeakValueDictionary

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatUpdateProcessor(BaseUpdateProcessor):
    # Handlers never wait on Telegram's limits (the sender does), only on the database: more
    # updates in flight than it has connections would only lengthen the queue before it, and
    # with it the instant between an acknowledgement sent and noted (a kill in it repeats the
    # acknowledgement). 500 at once gave 26–53 repeats per SIGKILL; 32 gives a few.
    def __init__(self, max_concurrent_updates: int = 32) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = None
        if isinstance(update, Update):
            chat, user = update.effective_chat, update.effective_user
            # In a group, one person's messages keep their order; different people run freely.
            key = user.id if user and (chat is None or chat.type != "private") else (
                chat.id if chat else None)
        if key is None:
            await coroutine
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
