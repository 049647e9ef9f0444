"""Trust under faults (issue 19): a process stopped at any step of making a ticket visible, an
update nobody can read, a handler slower than the lease, a /close or a button where it does not
belong, and /forget. Each through the sandbox and python-telegram-bot's real HTTP stack."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlmodel import col, select

from bot.config import load_settings
from bot.domain.knowledge import Knowledge
from bot.domain.models import (
    InboundUpdate,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Priority,
    Staff,
    Ticket,
    TicketMessage,
    TicketStatus,
    UpdateStatus,
    Worker,
    utcnow,
)
from bot.domain.roster import import_helpers
from bot.domain.routing import Router
from bot.runner import run_webhook
from bot.sandbox.server import BOT_USER, SANDBOX_TOKEN, Sandbox, serve
from bot.storage import Database
from tests.test_bot_helpers import (
    ADMIN,
    ANNA,
    GROUP,
    MARI,
    PEKKA,
    ROSTER,
    RPL_FI,
    Clock,
    Desk,
    open_desk,
    until_settled,
)
from tests.test_production import free_port
from tests.test_production import update as webhook_update

GONE = "stopped-host:4242:deadbeef"  # a process that stopped without a goodbye
# No reminder comes due under these clocks: the SLA sweep need not look ten times a second.
QUIET: dict = {"sla_check_seconds": 60}
OTHER_FORUM = -1002600


def _sandbox(forum: bool = True) -> Sandbox:
    sandbox = Sandbox()
    sandbox.group(GROUP, "Vertaistuki", forum=forum)
    sandbox.group(OTHER_FORUM, "Toinen foorumi", forum=True)
    for spec in ROSTER:
        sandbox.user(spec.telegram_id, spec.name, spec.languages[0])
    sandbox.user(ADMIN, "Rehtori")
    return sandbox


@pytest_asyncio.fixture
async def desk(database_url: str, knowledge: Knowledge, router: Router) -> AsyncIterator[Desk]:
    """The helpers' desk, with an unrelated forum group beside it."""
    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=_sandbox()) as opened:
        async with opened.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        yield opened


def _claims(message: dict) -> list[int]:
    return [int(n) for n in re.findall(r"q:claim:(\d+)", str(message.get("reply_markup")))]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def _handled(desk: Desk, timeout: float = 15) -> None:
    """Until every update the sandbox has sent is handled (or set aside)."""
    last = desk.sandbox._next_update - 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with desk.services.db.session() as session:
            finished = list(await session.exec(select(InboundUpdate.update_id).where(
                col(InboundUpdate.status).in_([UpdateStatus.DONE, UpdateStatus.POISON]))))
        if last in finished:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"update {last} was never handled")


# --- a process stopped at every step of making a ticket visible ---------------------------------

async def _stopped_process(db: Database, now: Any) -> None:
    async with db.session() as session:
        session.add(Worker(id=GONE, started_at=now - timedelta(hours=2),
                           heartbeat_at=utcnow() - timedelta(hours=1)))
        await session.commit()


async def _ticket(db: Database, number: int, clock: Clock) -> None:
    async with db.session() as session:
        if await session.get(Staff, 7000 + number) is None:
            session.add(Staff(telegram_id=7000 + number, first_name=f"Opettaja{number}"))
        session.add(Ticket(id=number, asker_id=7000 + number, asker_chat_id=7000 + number,
                           source_message_id=1, text=f"{RPL_FI} ({number})", language="fi",
                           topic="hoks", role="vertaisvalmentaja", confidence=0.9,
                           status=TicketStatus.OPEN, created_at=clock.now,
                           updated_at=clock.now))
        await session.commit()


async def _row(db: Database, number: int, chat_id: int, clock: Clock, *, status: OutboxStatus
               ) -> None:
    async with db.session() as session:
        session.add(Outbox(key=f"card:{number}:{chat_id}", kind=OutboxKind.CARD,
                           priority=Priority.CARD, ticket_id=number, chat_id=chat_id,
                           due_at=clock.now, status=status, attempts=1,
                           worker=GONE if status == OutboxStatus.SENDING else None))
        await session.commit()


async def _noted(db: Database, number: int, chat_id: int, message_id: int, clock: Clock,
                 thread_id: int | None = None) -> None:
    async with db.session() as session:
        ticket = await session.get(Ticket, number)
        assert ticket is not None
        ticket.delivered_at = clock.now
        if thread_id is not None:
            ticket.thread_id = thread_id
        session.add(ticket)
        session.add(TicketMessage(chat_id=chat_id, message_id=message_id, ticket_id=number,
                                  kind="card"))
        await session.commit()


def _card(sandbox: Sandbox, chat_id: int, number: int, thread_id: int | None = None) -> dict:
    """The card as the stopped process had sent it."""
    message: dict[str, Any] = {"from": BOT_USER, "text": f"#{number} · HOKS · fi\n…",
                               "reply_markup": {"inline_keyboard": [[{
                                   "text": "Ota", "callback_data": f"q:claim:{number}"}]]}}
    if thread_id is not None:
        message.update(message_thread_id=thread_id, is_topic_message=True)
    return sandbox._store(chat_id, message)


async def test_a_forum_ticket_stopped_at_any_step_ends_visible_once(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Each ticket as a process left it when it stopped: 1 queued, never taken; 2 taken, nothing
    sent; 3 its topic created, the card not sent; 4 the card sent and noted, the row not marked
    sent. After a start every ticket has one topic with one card; none has two topics."""
    sandbox, clock, db = _sandbox(), Clock(), Database(database_url)
    try:
        async with db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        await _stopped_process(db, clock.now)
        for number in (1, 2, 3, 4):
            await _ticket(db, number, clock)
        await _row(db, 1, GROUP, clock, status=OutboxStatus.PENDING)
        await _row(db, 2, GROUP, clock, status=OutboxStatus.SENDING)
        await _row(db, 3, GROUP, clock, status=OutboxStatus.SENDING)
        topic3 = (await sandbox.call("createForumTopic", {"chat_id": GROUP,
                                                          "name": "#3 · HOKS · fi"}))
        async with db.session() as session:
            ticket = await session.get(Ticket, 3)
            assert ticket is not None
            ticket.thread_id = topic3["message_thread_id"]
            session.add(ticket)
            await session.commit()
        await _row(db, 4, GROUP, clock, status=OutboxStatus.SENDING)
        topic4 = (await sandbox.call("createForumTopic", {"chat_id": GROUP,
                                                          "name": "#4 · HOKS · fi"}))
        card4 = _card(sandbox, GROUP, 4, topic4["message_thread_id"])
        await _noted(db, 4, GROUP, card4["message_id"], clock, topic4["message_thread_id"])
    finally:
        await db.dispose()

    def topics() -> Counter:
        return Counter(int(t["name"][1:].split(" ", 1)[0]) for t in sandbox.topics[GROUP].values())

    def cards() -> Counter:
        return Counter(n for m in sandbox.bot_messages(GROUP) if m.get("message_thread_id")
                       for n in _claims(m))

    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=sandbox,
                         clock=clock) as desk:
        await sandbox.wait_until(lambda: set(cards()) == {1, 2, 3, 4}, timeout=20)
        await until_settled(desk.services.db, timeout=15)  # what would go twice has gone
        await asyncio.sleep(0.2)
        async with desk.services.db.session() as session:
            tickets = list(await session.exec(select(Ticket).order_by(col(Ticket.id))))
            rows = list(await session.exec(select(Outbox.status).where(
                col(Outbox.kind) == OutboxKind.CARD)))
    assert topics() == Counter({1: 1, 2: 1, 3: 1, 4: 1})
    assert cards() == Counter({1: 1, 2: 1, 3: 1, 4: 1})
    listed = Counter(n for m in sandbox.bot_messages(GROUP) if not m.get("message_thread_id")
                     for n in _claims(m))
    assert all(count == 1 for count in listed.values()), listed
    assert all(t.delivered_at is not None for t in tickets)
    assert [t.thread_id for t in tickets][2:] == [topic3["message_thread_id"],
                                                  topic4["message_thread_id"]]
    assert set(rows) == {OutboxStatus.SENT}


async def test_a_private_card_stopped_at_any_step_ends_visible_once(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Without a forum each helper gets the card privately: one taken and not sent, one sent and
    noted but not marked, one queued. Each helper ends with one card of each ticket."""
    sandbox, clock, db = _sandbox(forum=False), Clock(), Database(database_url)
    helpers = (MARI, ANNA, PEKKA)  # the peer coaches, who get a HOKS question
    try:
        async with db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        await _stopped_process(db, clock.now)
        for number in (1, 2):
            await _ticket(db, number, clock)
        await _row(db, 1, MARI, clock, status=OutboxStatus.SENDING)  # taken, not sent
        await _row(db, 1, ANNA, clock, status=OutboxStatus.SENDING)  # sent and noted
        card = _card(sandbox, ANNA, 1)
        await _noted(db, 1, ANNA, card["message_id"], clock)
        await _row(db, 1, PEKKA, clock, status=OutboxStatus.PENDING)  # never taken
        for helper in helpers:
            await _row(db, 2, helper, clock, status=OutboxStatus.SENDING)
    finally:
        await db.dispose()

    def cards(chat: int) -> Counter:
        return Counter(n for m in sandbox.bot_messages(chat) for n in _claims(m))

    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=sandbox, clock=clock,
                         forum=False) as desk:
        await sandbox.wait_until(lambda: all(set(cards(h)) == {1, 2} for h in helpers), 20)
        await until_settled(desk.services.db, timeout=15)  # what would go twice has gone
        await asyncio.sleep(0.2)
        async with desk.services.db.session() as session:
            tickets = list(await session.exec(select(Ticket)))
    assert [cards(h) for h in helpers] == [Counter({1: 1, 2: 1})] * 3
    assert all(t.delivered_at is not None for t in tickets)
    assert not sandbox.topics.get(GROUP)


# --- an update nobody can read -------------------------------------------------------------------

def _poll_update(chat: int = 7001) -> dict:
    """A message whose poll lacks the fields python-telegram-bot requires (question, options…),
    as an older self-hosted Bot API server may send it."""
    return {"message": {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"},
                        "from": {"id": chat, "is_bot": False, "first_name": "Eva"},
                        "poll": {"id": "x"}}}


async def _stored(database_url: str, update_id: int) -> InboundUpdate | None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            return await session.get(InboundUpdate, update_id)
    finally:
        await db.dispose()


async def test_an_unreadable_update_is_set_aside_while_polling(
    database_url: str, knowledge: Knowledge, router: Router, caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_desk(database_url, knowledge, router, **QUIET) as desk:
        sandbox = desk.sandbox
        pushed = await sandbox._push(_poll_update())
        await sandbox.wait_until(lambda: sandbox.confirmed_up_to >= pushed["update_id"], 10)
        await desk.to_user(ADMIN, 1)  # the admins are told
        # The bot goes on answering, and nothing spins.
        polls_before = sum(1 for m, _ in sandbox.calls if m == "getUpdates")
        ack = await desk.ask(7002, RPL_FI, first_name="Ville")
        assert "#1" in ack["text"]
        await asyncio.sleep(1)
        polls = sum(1 for m, _ in sandbox.calls if m == "getUpdates") - polls_before
        assert polls <= 5, polls  # long polling (1 s): a handful of calls, not thousands
        assert len(sandbox.bot_messages(ADMIN)) == 1  # once
        assert desk.services.metrics.poison_updates._value.get() == 1
    row = await _stored(database_url, pushed["update_id"])
    assert row is not None and (row.status, row.payload) == (UpdateStatus.POISON, None)
    assert "Eva" not in caplog.text and not _errors(caplog)


async def test_an_unreadable_stored_update_is_set_aside_at_start(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """A payload stored by an earlier run (or a stopped replica) that this version cannot read:
    start-up sets it aside and goes on."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            session.add(Worker(id=GONE, started_at=utcnow() - timedelta(hours=1),
                               heartbeat_at=utcnow() - timedelta(hours=1)))
            session.add(InboundUpdate(update_id=900, payload={"update_id": 900, **_poll_update()},
                                      status=UpdateStatus.PROCESSING, worker=GONE,
                                      received_at=utcnow(), claimed_at=utcnow()))
            # A truncated payload, as a crash halfway through a write might leave it.
            session.add(InboundUpdate(update_id=901, payload={"update_id": 901, "message": {}},
                                      status=UpdateStatus.STORED, received_at=utcnow()))
            await session.commit()
    finally:
        await db.dispose()
    sandbox = _sandbox()
    sandbox._next_update = 1000
    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=sandbox) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        ack = await desk.ask(7002, RPL_FI, first_name="Ville")
        assert "#1" in ack["text"]
        await desk.to_user(ADMIN, 2)
        await asyncio.sleep(0.5)
        assert len(sandbox.bot_messages(ADMIN)) == 2  # one notice for each, once
        assert desk.services.metrics.poison_updates._value.get() == 2
    for update_id in (900, 901):
        row = await _stored(database_url, update_id)
        assert row is not None and (row.status, row.payload) == (UpdateStatus.POISON, None)


SECRET = "faults-secret"


async def test_an_unreadable_update_is_set_aside_through_the_webhook(
    database_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = _sandbox()
    sandbox.user(7001, "Eva")
    runner = await serve(sandbox, "127.0.0.1", 0)
    api = f"http://127.0.0.1:{runner.addresses[0][1]}"
    port = free_port()
    settings = load_settings(
        database_url=database_url, telegram_token=SANDBOX_TOKEN, telegram_api_url=api,
        webhook_url=f"http://127.0.0.1:{port}", webhook_secret=SECRET, web_port=port,
        admin_ids=frozenset({ADMIN}))
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhook(settings, stop))
    url = f"http://127.0.0.1:{port}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        await sandbox.wait_until(lambda: sandbox.webhook is not None, timeout=30)
        async with aiohttp.ClientSession() as client:
            for _ in range(2):  # Telegram sends it again if it thinks we did not take it
                async with client.post(f"{url}/telegram/webhook", headers=headers,
                                       json={"update_id": 50, **_poll_update()}) as response:
                    assert response.status == 200
            await sandbox.wait_for(ADMIN, 1)
            async with client.post(f"{url}/telegram/webhook", headers=headers,
                                   json=webhook_update(51, RPL_FI)) as response:
                assert response.status == 200
            await sandbox.wait_for(7001, 1)  # it goes on answering
            async with client.get(f"{url}/metrics") as response:
                metrics = await response.text()
        assert re.search(r"^peerdesk_unreadable_updates_total 1\.0$", metrics, re.M), metrics
        await asyncio.sleep(0.5)
        assert len(sandbox.bot_messages(ADMIN)) == 1
    finally:
        stop.set()
        await task
        await runner.cleanup()
    row = await _stored(database_url, 50)
    assert row is not None and (row.status, row.payload) == (UpdateStatus.POISON, None)
    assert not _errors(caplog)


# --- a handler slower than the lease -------------------------------------------------------------

SLOW = 2.5  # seconds: the lease (1 s) and more than one look for stopped processes (each 1 s)

@dataclass
class SlowSandbox(Sandbox):
    """Telegram answering some methods slowly. `begun` holds every call as it begins, so that a
    second handling shows at once, not only when its slow call returns. With `chat`, only calls
    to that chat are slow; with `done_first`, a slow call takes effect at once and only its
    answer comes late."""

    slow: dict[str, float] = field(default_factory=dict)
    begun: list[tuple[str, dict]] = field(default_factory=list)
    chat: int | None = None
    done_first: bool = False
    slow_begun: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, method: str, params: dict) -> Any:
        self.begun.append((method, params))
        delay = self.slow.get(method)
        if not delay or (self.chat is not None and str(params.get("chat_id")) != str(self.chat)):
            return await super().call(method, params)
        self.slow_begun.set()
        if not self.done_first:
            await asyncio.sleep(delay)
            return await super().call(method, params)
        result = await super().call(method, params)
        await asyncio.sleep(delay)
        return result


async def test_a_slow_handler_is_never_taken_from_its_living_process(
    database_url: str, knowledge: Knowledge, router: Router, caplog: pytest.LogCaptureFixture,
) -> None:
    """The lease is one second; answering a button press or a question takes two and a half, so
    that the once-a-second look for the updates of stopped processes comes at least once while
    a handler is past its lease. Nothing is handled twice: one claim answer, one
    acknowledgement, one "claimed" notice to the asker."""
    sandbox = SlowSandbox()
    sandbox.group(GROUP, "Vertaistuki", forum=True)
    for spec in ROSTER:
        sandbox.user(spec.telegram_id, spec.name, spec.languages[0])
    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=sandbox,
                         update_lease_seconds=1) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        sandbox.slow = {"answerCallbackQuery": SLOW}
        await desk.ask(7001, RPL_FI, first_name="Eva")
        card = await desk.card(1)
        await sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
        await sandbox.wait_until(lambda: any(m == "answerCallbackQuery"
                                             for m, _ in sandbox.calls), timeout=10)
        await desk.to_user(7001, 2)
        sandbox.slow = {"sendMessage": SLOW}
        await sandbox.send(7002, "Projektori ei näytä kuvaa luokassa 204", first_name="Ville")
        await desk.to_user(7002, 1)
        # A second handling, begun by a look during the slow call, would have begun its own
        # calls by now; one more second gives that look's latest run time to show.
        await asyncio.sleep(1)
        async with desk.services.db.session() as session:
            tickets = list(await session.exec(select(Ticket)))
    answers = [p for m, p in sandbox.begun if m == "answerCallbackQuery"]
    assert len(answers) == 1, answers
    acknowledgements = [p for m, p in sandbox.begun
                        if m == "sendMessage" and str(p.get("chat_id")) == "7002"]
    assert len(acknowledgements) == 1, acknowledgements
    assert len(sandbox.bot_messages(7001)) == 2  # the acknowledgement and "Mari is on it"
    assert len(sandbox.bot_messages(7002)) == 1
    assert len(tickets) == 2
    assert not _errors(caplog)


async def _card_rows(desk: Desk) -> list[OutboxStatus]:
    async with desk.services.db.session() as session:
        return [row.status for row in await session.exec(
            select(Outbox).where(Outbox.kind == OutboxKind.CARD).order_by(col(Outbox.id)))]


async def test_a_stop_finishes_the_send_in_progress_and_begins_no_other(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Two cards wait in the forum's lane, each topic taking Telegram a second; the stop comes
    during the first. It finishes and is noted; the second is not begun but handed back, and the
    next process opens its topic: two topics. (The stop used to let the lane go on and cancel it
    after the grace, in the middle of the second topic, which was handed back as unsent and
    opened again: three topics for two questions.)"""
    sandbox = SlowSandbox(chat=GROUP, done_first=True)  # the topic opens, the answer is late
    sandbox.group(GROUP, "Vertaistuki", forum=True)
    for spec in ROSTER:
        sandbox.user(spec.telegram_id, spec.name, spec.languages[0])
    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=sandbox) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        sandbox.slow = {"createForumTopic": 1.0}
        await desk.ask(7001, RPL_FI, first_name="Eva")
        await asyncio.wait_for(sandbox.slow_begun.wait(), 10)
        await desk.ask(7002, "Projektori ei näytä kuvaa luokassa 204", first_name="Ville")
        for _ in range(500):  # the sender takes the second card into the lane
            if await _card_rows(desk) == [OutboxStatus.SENDING] * 2:
                break
            await asyncio.sleep(0.01)
        assert await _card_rows(desk) == [OutboxStatus.SENDING] * 2
        await desk.application.bot_data["sender"].stop(grace=1.5)
        assert await _card_rows(desk) == [OutboxStatus.SENT, OutboxStatus.PENDING]
    assert len(sandbox.topics[GROUP]) == 1
    sandbox.slow = {}
    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=sandbox) as desk:
        await desk.card(2)
        await until_settled(desk.services.db, timeout=15)
    assert len(sandbox.topics[GROUP]) == 2


# --- /close and buttons where they do not belong -------------------------------------------------

async def _forge(sandbox: Sandbox, user_id: int, chat_id: int, message_id: int, data: str
                 ) -> None:
    """A button press with any data at all, as a modified client can send it."""
    query = {"id": str(sandbox._next_callback), "from": sandbox.users[user_id],
             "message": sandbox._message(chat_id, message_id), "chat_instance": str(chat_id),
             "data": data}
    sandbox._queries[query["id"]] = user_id
    sandbox._next_callback += 1
    await sandbox._push({"callback_query": query})


async def _state(desk: Desk) -> list[tuple[int, str, int | None, str]]:
    async with desk.services.db.session() as session:
        return [(t.id or 0, str(t.status), t.claimed_by, t.role)
                for t in await session.exec(select(Ticket).order_by(col(Ticket.id)))]


async def test_close_in_another_forum_closes_nothing(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, **QUIET, sandbox=_sandbox()) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        await desk.ask(7001, RPL_FI, first_name="Eva")
        thread = await desk.thread(1)
        await desk.card(1)
        # A topic with the same number in an unrelated forum group.
        sandbox = desk.sandbox
        while not sandbox.topics.get(OTHER_FORUM, {}).get(thread):
            await sandbox.call("createForumTopic", {"chat_id": OTHER_FORUM, "name": "Muuta"})
        await sandbox.send(MARI, "/close", chat_id=OTHER_FORUM, thread_id=thread)
        await sandbox.send(MARI, "Tämä ei kuulu kenellekään", chat_id=OTHER_FORUM,
                           thread_id=thread)
        await _handled(desk)
        await asyncio.sleep(0.3)  # what the handlers might have queued would go now
        assert await _state(desk) == [(1, "open", None, "vertaisvalmentaja")]
        assert len(sandbox.bot_messages(7001)) == 1  # nothing more reached the asker
        assert sandbox.bot_messages(OTHER_FORUM) == []


async def test_a_colleagues_close_is_confirmed_first(desk: Desk,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await desk.ask(7001, RPL_FI, first_name="Eva")
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    await desk.sandbox.wait_until(lambda: "Otettu" in card["text"])  # the card shows the claim
    await desk.sandbox.press(PEKKA, GROUP, card["message_id"], "q:close:1")
    # Asked of Pekka alone, privately: the card, everyone's, keeps the holder's buttons.
    (asked,) = await desk.to_user(PEKKA, 1)
    assert "Mari Mentor" in asked["text"] and "q:close:1:sure" in str(asked["reply_markup"])
    assert "q:close:1:sure" not in str(card["reply_markup"])
    assert (await desk.ticket(1)).status == TicketStatus.CLAIMED  # not yet
    await desk.sandbox.press(PEKKA, PEKKA, asked["message_id"], "q:close:1:sure")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    assert "closed by a colleague of its holder" in caplog.text  # recorded


async def test_forged_and_out_of_range_buttons_are_answered_kindly(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    await desk.ask(7001, RPL_FI, first_name="Eva")
    await desk.ask(7002, "Miten arvioin näytön, kun opiskelija on työpaikalla?",
                   first_name="Ville")
    await desk.ask(7003, "Miten kirjaan tunnustamisen?", first_name="Kaisa")
    for number in (1, 2, 3):
        await desk.card(number)
    card2 = await desk.card(2)
    await desk.sandbox.press(MARI, GROUP, card2["message_id"], "q:claim:2")
    await desk.wait_ticket(2, lambda t: t.status == TicketStatus.CLAIMED)
    await asyncio.sleep(0.3)
    before = await _state(desk)
    card3 = await desk.card(3)
    forged = ["q:close:1", "q:rrt:1:wilma", f"q:claim:{2**31}", f"q:close:{2**63}",
              f"q:close:{2**64 + 3}", "q:close:-1", "q:close:0", "q:close:3x", "q:close:",
              "rate:3:9", f"rate:{2**63}:5", "phone:99999999999", "q:close:3:" + "x" * 60,
              "\x00", "", "forget:no", "rsvp:99999999999999999999:yes", "rsvp:0:yes",
              f"here:{2**31}", "fb:1:9", "came:1:x", "lang:de", "kind:party"]
    pressed_before = len(desk.answers())
    for data in forged:
        await _forge(desk.sandbox, PEKKA, GROUP, card3["message_id"], data)
    await desk.sandbox.wait_until(lambda: len(desk.answers()) >= pressed_before + len(forged),
                                  timeout=15)
    await asyncio.sleep(0.5)
    assert await _state(desk) == before
    answers = [p for m, p in desk.sandbox.calls if m == "answerCallbackQuery"]
    assert len(answers) == pressed_before + len(forged)  # each answered, once
    assert all(p.get("text") for p in answers[pressed_before:]), answers[pressed_before:]
    assert not _errors(caplog), _errors(caplog)


# --- /forget -------------------------------------------------------------------------------------

def _forget_prompt(message: dict) -> bool:
    buttons = message.get("reply_markup", {}).get("inline_keyboard", [])
    return any(button.get("callback_data") == "forget:yes" for row in buttons for button in row)


async def test_forget_edits_the_cards_withdraws_open_questions_and_tells_the_holder(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = desk.sandbox
    await sandbox.send(7001, "/team Tekniikka", first_name="Eva")
    await desk.to_user(7001, 1)
    await desk.ask(7001, RPL_FI)
    # Another matter while the first waits: the asker says it is a new question.
    offer = await desk.ask(7001, "Projektori ei näytä kuvaa luokassa 204, HDMI vaihdettu")
    new = offer["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
    await sandbox.press(7001, 7001, offer["message_id"], new)
    card1, card2 = await desk.card(1), await desk.card(2)
    assert "Eva, Tekniikka" in card1["text"]
    await sandbox.press(MARI, GROUP, card1["message_id"], "q:claim:1")
    await sandbox.wait_until(lambda: any("katsoo nyt" in m.get("text", "")
                                         for m in sandbox.bot_messages(7001)))
    thread = await desk.thread(1)
    # A follow-up waiting to be relayed when /forget comes is not relayed any more.
    await sandbox.send(7001, "/forget")
    # The prompt, however late the acknowledgement of #2 comes beside it.
    await sandbox.wait_until(lambda: any(_forget_prompt(m) for m in sandbox.bot_messages(7001)))
    confirm = next(m for m in sandbox.bot_messages(7001) if _forget_prompt(m))
    async with desk.services.db.session() as session:
        session.add(Outbox(key="waiting-copy", kind=OutboxKind.COPY, priority=Priority.RELAY,
                           ticket_id=1, chat_id=GROUP, due_at=desk.clock.now + timedelta(days=1),
                           params={"from_chat": 7001, "message_id": 3, "to": "helpers"}))
        await session.commit()
    await sandbox.press(7001, 7001, confirm["message_id"], "forget:yes")
    await sandbox.wait_until(lambda: confirm["text"].startswith("Valmis"))
    told_them = len(sandbox.bot_messages(7001))
    # Both cards now say anonymous, without the name, the team or the question.
    for card in (card1, card2):
        await sandbox.wait_until(lambda c=card: "nimetön" in c["text"])
        assert "Eva" not in card["text"] and "Tekniikka" not in card["text"]
        assert "HOKS" not in card["text"].split("\n", 1)[1] and "näytön" not in card["text"]
        assert not card.get("reply_markup", {}).get("inline_keyboard")  # closed: no buttons
    # The holder is told in the topic, by name.
    told = await desk.in_thread(1, 2)
    assert "kysyjä perui kysymyksensä" in told[-1]["text"]
    assert [e["user"]["id"] for e in told[-1].get("entities", [])] == [MARI]
    async with desk.services.db.session() as session:
        tickets = list(await session.exec(select(Ticket).order_by(col(Ticket.id))))
        copy = (await session.exec(select(Outbox).where(Outbox.key == "waiting-copy"))).one()
        to_them = list(await session.exec(select(Outbox).where(
            col(Outbox.chat_id) == 7001, col(Outbox.status) == OutboxStatus.PENDING)))
    assert [(t.status, t.withdrawn, t.anonymous, t.asker_chat_id, t.text) for t in tickets] == [
        (TicketStatus.CLOSED, True, True, None, None)] * 2
    assert (copy.status, copy.params) == (OutboxStatus.DROPPED, None)
    assert to_them == []
    # The holder answers in the topic: a clear word instead of a failure.
    await sandbox.send(MARI, "Tässä vastaus", chat_id=GROUP, thread_id=thread)
    answer = (await desk.in_thread(1, 3))[-1]
    assert "perunut kysymyksen #1" in answer["text"]
    await asyncio.sleep(0.3)
    assert len(sandbox.bot_messages(7001)) == told_them  # nothing more went to the person
    assert not _errors(caplog), _errors(caplog)
