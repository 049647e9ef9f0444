"""One unit of work per update: a new question, from the update to its acknowledgement, costs
three writes (store the update; the question with its ticket, card and topic-log rows; the
acknowledgement noted as the update is marked done) and one read (the person's dialog, read
before any handler); its card, in the background sender, one read and one write besides the
claim it shares with whatever else was due.

Counted from SQLAlchemy's own events on the bot's engine, each transaction put down to the task
that ran it: the poller (storing a batch of updates), the update's handler, or the sender and
its lanes. Before this was counted (2026-12-07) a new question took six transactions (four
writes), and each private card five (two writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event

from bot.domain import answers
from bot.domain.knowledge import Knowledge
from bot.domain.models import Routing, Ticket
from bot.domain.routing import Router
from bot.storage import Database
from tests.test_bot_helpers import ANNA, RPL_FI, open_desk, until_settled


def _who() -> str:
    """Whose transaction: the task running it, by the coroutine it was started with."""
    task = asyncio.current_task()
    name = task.get_coro().__qualname__ if task is not None else ""  # type: ignore[union-attr]
    if name.startswith("Sender.") and not name.endswith("_heartbeat"):
        return "sender"
    if "process_update" in name or "create_task_callback" in name:
        return "handler"
    if "polling" in name.lower() or "network_retry" in name:
        return "poller"
    return name or "other"


@dataclass
class Transaction:
    who: str
    statements: list[str] = field(default_factory=list)
    committed: bool = False

    def touches(self, *words: str) -> bool:
        return any(word in statement for statement in self.statements for word in words)


@dataclass
class Transactions:
    done: list[Transaction] = field(default_factory=list)
    going: dict[int, Transaction] = field(default_factory=dict)  # by connection

    def of(self, who: str) -> list[Transaction]:
        return [t for t in self.done if t.who == who]


@contextmanager
def counted(db: Database) -> Iterator[Transactions]:
    """Every transaction on the bot's engine while the block runs, with its statements."""
    counts = Transactions()

    def begun(connection: object) -> None:
        counts.going[id(connection)] = Transaction(_who())

    def statement(connection, _cursor, text, *_args) -> None:  # type: ignore[no-untyped-def]
        if id(connection) in counts.going:
            counts.going[id(connection)].statements.append(" ".join(text.split()))

    def ended(committed: bool):  # type: ignore[no-untyped-def]
        def end(connection: object) -> None:
            transaction = counts.going.pop(id(connection), None)
            if transaction is not None:
                transaction.committed = committed
                counts.done.append(transaction)
        return end

    engine = db.engine.sync_engine
    listeners = [("begin", begun), ("before_cursor_execute", statement),
                 ("commit", ended(True)), ("rollback", ended(False))]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


async def test_a_new_question_is_one_transaction_and_its_card_two(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    # Cards go to the helpers privately, as in bench/throughput.py.
    async with open_desk(database_url, knowledge, router, helpers_chat_id=None) as desk:
        await desk.ask(7000, "Miten tiimin työnjako kannattaa sopia?", first_name="Eva")
        await until_settled(desk.services.db)  # its cards sent, its update done
        cards = len(desk.sandbox.bot_messages(ANNA))
        with counted(desk.services.db) as counts:
            ack = await desk.ask(7001, RPL_FI, first_name="Ville")
            assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #2.")
            await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(ANNA)) > cards)
            await _until(lambda: any(t.touches("UPDATE inboundupdate") for t in counts.done)
                         and sum(t.touches("INSERT INTO ticketmessage")
                                 for t in counts.of("sender")) >= 3)
        stored = [t for t in counts.of("poller") if t.touches("INSERT INTO inboundupdate")]
        # On PostgreSQL the acknowledgement also takes its place in Telegram's pace, shared by
        # every replica (bot.telegram.budget; in memory on SQLite): not the question's work.
        handled = [t for t in counts.of("handler") if not t.touches("INTO sendbudget")]
        assert len(stored) == 1 and stored[0].committed
        # The person's dialog (read before every other handler), the question with everything
        # it writes, and the acknowledgement noted with the update done.
        assert [t.committed for t in handled] == [False, True, True], [
            (t.committed, t.statements[:1]) for t in handled]
        question, done = handled[1], handled[2]
        assert question.touches("INSERT INTO ticket ") and question.touches("INSERT INTO outbox")
        assert question.touches("INSERT INTO topiclog")
        assert done.touches("INSERT INTO ticketmessage") and done.touches("UPDATE inboundupdate")
        # Its cards, one to each of the role's three helpers: a claim for all of them, then one
        # read and one write a card (its row marked sent, noted as the ticket's card).
        sender = [t for t in counts.of("sender")
                  if t.touches("ticketmessage", "attempts=(outbox.attempts")]
        claims = [t for t in sender if t.touches("attempts=(outbox.attempts")]
        reads = [t for t in sender if not t.committed]
        writes = [t for t in sender if t.committed and t not in claims]
        assert len(claims) == 1 and len(reads) == 3 and len(writes) == 3, sender
        assert all(t.touches("INSERT INTO ticketmessage") and t.touches("UPDATE outbox")
                   and t.touches("UPDATE ticket ") for t in writes)


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot did not finish in time")


async def test_the_role_helpers_cards_show_the_words_that_routed_the_question(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    # Worked out once for all of the role's helpers (bot.domain.answers), and as routing says.
    async with open_desk(database_url, knowledge, router, helpers_chat_id=None) as desk:
        await desk.ask(7001, RPL_FI, first_name="Ville")
        await until_settled(desk.services.db)
        async with desk.services.db.session() as session:
            ticket = await session.get(Ticket, 1)
        assert ticket is not None and ticket.routing == Routing.AUTO
        cues = router.explain(RPL_FI, ticket.role, language_hint=ticket.language)
        assert cues
        cards = [m for m in desk.sandbox.bot_messages(ANNA) if m["text"].startswith("#1 ·")]
        assert cards and all(f"Reititetty sanoista: {', '.join(cues)}\n" in m["text"]
                             for m in cards)


def test_a_burst_keeps_each_cards_routing_until_its_card_is_made(router: Router) -> None:
    """Under a burst the sender makes the cards seconds to minutes after the questions were
    routed: what each card shows of its routing is still kept then (a burst of 256 questions
    once cleared everything kept, and every card worked it out again)."""
    texts = {n: f"Teamsin kokouslinkki ei aukea, kysymys {n}" for n in range(1, 401)}
    for n, text in texts.items():
        answers.keep_routing(router, ticket_id=n, text=text, topic="teams", role="tvt",
                             routing=Routing.AUTO, language="fi")
    assert all(answers._routing_key(router, n, text, "teams", "tvt", Routing.AUTO, "fi")
               in answers._kept_routing for n, text in texts.items())
