"""One unit of work per update: a new question, from the update to its acknowledgement, costs at
most three database transactions (store the update; the question with its ticket, card and
topic-log rows; mark the update done), and its card a few more in the background sender.

Counted from SQLAlchemy's own events on the bot's engine, each transaction attributed to the
task that ran it: the poller (storing a batch of updates), the update's handler, or the sender
and its lanes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event

from bot.domain.knowledge import Knowledge
from bot.domain.models import InboundUpdate, UpdateStatus
from bot.domain.routing import Router
from bot.storage import Database
from tests.test_bot_helpers import RPL_FI, open_desk


def _who() -> str:
    """Whose transaction: the task running it, by the coroutine it was started with."""
    task = asyncio.current_task()
    if task is None:
        return "other"
    name = task.get_coro().__qualname__  # type: ignore[union-attr]
    if name.startswith("Sender.") and not name.endswith("_heartbeat"):
        return "sender"
    if "process_update" in name or "do_process_update" in name:
        return "handler"
    if "polling" in name.lower() or "network_retry" in name or "get_updates" in name.lower():
        return "poller"
    return name


@dataclass
class Transactions:
    """Transactions begun (`begin`, reads included) and committed, by who ran them."""

    begun: Counter[str] = field(default_factory=Counter)
    committed: Counter[str] = field(default_factory=Counter)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def clear(self) -> None:
        self.begun.clear()
        self.committed.clear()
        self.seen.clear()


@contextmanager
def counted(db: Database) -> Iterator[Transactions]:
    counts = Transactions()

    def begun(_connection: object) -> None:
        who = _who()
        counts.begun[who] += 1
        counts.seen.append((who, "begin"))

    def committed(_connection: object) -> None:
        who = _who()
        counts.committed[who] += 1
        counts.seen.append((who, "commit"))

    def statement(_conn, _cursor, text, *_args):  # type: ignore[no-untyped-def]
        counts.seen.append((_who(), " ".join(text.split())[:110]))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", begun)
    event.listen(engine, "commit", committed)
    try:
        yield counts
    finally:
        event.remove(engine, "begin", begun)
        event.remove(engine, "commit", committed)


async def test_a_new_question_is_three_transactions_from_update_to_acknowledgement(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    # Cards go to the helpers privately, as in bench/throughput.py.
    async with open_desk(database_url, knowledge, router, helpers_chat_id=None) as desk:
        await desk.ask(7000, "Miten tiimin työnjako kannattaa sopia?", first_name="Eva")
        await desk.sandbox.wait_until(lambda: desk.sandbox.bot_messages(1003))  # its card
        await asyncio.sleep(0.3)
        with counted(desk.services.db) as counts:
            ack = await desk.ask(7001, RPL_FI, first_name="Ville")
            assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #2.")
            await _until_done(desk.services.db)
            handler_side = (Counter(counts.begun), Counter(counts.committed))
            await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(1003)) >= 2)
            await asyncio.sleep(0.3)
        print(handler_side, counts.begun, counts.committed)
        for who, what in counts.seen:
            print("SEEN", who[:20], what)
        assert False


async def _until_done(db: Database) -> None:
    for _ in range(500):
        async with db.session() as session:
            rows = await session.exec(
                InboundUpdate.__table__.select().where(  # type: ignore[attr-defined]
                    InboundUpdate.status != UpdateStatus.DONE))
            if not rows.all():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the update was never marked done")
