"""Trust under sustained load and across replicas: every new ticket shown to the helpers by its
deadline however busy their group, Telegram's limits kept by the whole bot, no second copy after
a hang, a polling start that takes over at once — and the smaller defects the probes found.

The load here is scaled down to seconds (bench/burst.py --soak runs minutes); the sandbox
enforces Telegram's flood limits wherever pacing is what is tested."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.domain import outbox, privacy, workers
from bot.domain.events import schedule
from bot.domain.events.spec import EventSpec
from bot.domain.knowledge import Knowledge
from bot.domain.models import (
    EventKind,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Priority,
    Ticket,
    TicketStatus,
    utcnow,
)
from bot.domain.roster import import_helpers
from bot.domain.routing import Router
from bot.sandbox.server import Sandbox, serve
from bot.services import Services
from bot.storage import Database
from bot.telegram import budget
from bot.telegram.app import build_application, initialize, running
from bot.telegram.budget import SharedBudget, budget_for, per_minute
from bot.telegram.durable import parse
from bot.telegram.helpers import topics
from tests.test_bot_helpers import (
    ADMIN,
    GROUP,
    MARI,
    PEKKA,
    ROSTER,
    RPL_FI,
    Clock,
    Desk,
    open_desk,
)
from tests.test_helper_controls import buttons, claimed_by
from tests.test_send_path import QUESTIONS, _sandbox, _visible


class WallClock(Clock):
    """The test's clock running with real time: a deadline in seconds is what is measured."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


# --- visibility as a deadline --------------------------------------------------------------------


async def test_every_new_ticket_is_shown_by_its_deadline_while_relays_fill_the_group(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Follow-ups stream into four tickets' topics faster than the group's 20 a minute takes
    them while new questions keep coming: each new ticket is still shown, listed, within the
    deadline (here 16 s, so that the test takes seconds), and Telegram never says 429."""
    if database_url.startswith("postgresql"):
        pytest.skip("half a minute of load: the planning is the same on both databases, and "
                    "the shared budget is the replicas test's")
    askers = range(7300, 7324)
    sandbox = _sandbox(range(7000, 7400))
    async with open_desk(database_url, knowledge, router, sandbox=sandbox, sla_check_seconds=60,
                         visible_within_seconds=16, clock=WallClock()) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        early = range(7001, 7005)
        for n, user in enumerate(early):
            await desk.ask(user, RPL_FI + f" ({n})")
        await sandbox.wait_until(lambda: len(set(_visible(sandbox))) >= 4, 20)
        asked: dict[int, float] = {}
        seen: dict[int, float] = {}
        stop = asyncio.Event()

        async def relays() -> None:  # four askers write on and on: relays at top priority,
            n = 0  # four topics (a person's quick messages go to their topic in one call)
            while not stop.is_set():
                n += 1
                await sandbox.send(early[n % len(early)], f"Lisätietoa {n}")
                await asyncio.sleep(0.25)

        async def watch() -> None:
            while not stop.is_set():
                now = time.monotonic()
                for number in _visible(sandbox):
                    seen.setdefault(number, now)
                await asyncio.sleep(0.1)

        tasks = [asyncio.create_task(relays()), asyncio.create_task(watch())]
        try:
            for n, user in enumerate(askers):  # two new questions a second for 12 s
                await sandbox.send(user, QUESTIONS[n % len(QUESTIONS)] + f" ({n})")
                asked[user] = time.monotonic()
                await asyncio.sleep(0.5)
            # Every question stored (each asker acknowledged) before the tickets are counted: on
            # a loaded machine the last updates may still be in hand here.
            await sandbox.wait_until(
                lambda: all(sandbox.bot_messages(user) for user in askers), 30)
            async with desk.services.db.session() as session:
                tickets = dict((await session.exec(select(Ticket.asker_id, Ticket.id).where(
                    col(Ticket.asker_id).in_(list(askers)),
                    col(Ticket.status) == TicketStatus.OPEN))).all())  # not self-served
            assert len(tickets) >= 15
            await sandbox.wait_until(lambda: set(tickets.values()) <= set(seen), 30)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        async with desk.services.db.session() as session:  # /metrics: the group caught up
            text = (await desk.services.metrics.render(session, desk.clock(), GROUP)).decode()
        assert "peerdesk_unseen_tickets 0.0" in text, text
        # The deadline here is 16 s (the bot's own is 120 s). 8 s of slack are for the first
        # minute of a suite run, when four workers share two cores (tickets were seen 4-6 s late
        # there, never later); without the deadline a ticket was never shown at all.
        late = {user: round(seen[number] - asked[user], 1) for user, number in tickets.items()
                if seen[number] - asked[user] > 16 + 8}
        assert not late, late
        assert sandbox.refused_for_flood == 0
        # A person's quick follow-ups went into their topic several to a call.
        assert any(method == "copyMessages" for method, _ in sandbox.calls)


# --- one budget for every replica ----------------------------------------------------------------

@pytest.mark.races
async def test_two_replicas_together_keep_telegrams_limits(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Two bots on one database send a bulletin to 90 channels and six notices into the
    helpers' group between them: on PostgreSQL they share one budget — no 429, no second
    second over 30, the group's burst once, not once per replica."""
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a budget on PostgreSQL; SQLite is one process")
    channels = list(range(-1009000, -1009090, -1))
    sandbox = Sandbox(flood_limits=True)
    sandbox.group(GROUP, "Vertaistuki", forum=True)
    for channel in channels:
        sandbox.channel(channel, f"Kanava {channel}")
    runner = await serve(sandbox, "127.0.0.1", 0)
    api = f"http://127.0.0.1:{runner.addresses[0][1]}"
    from bot.config import load_settings

    settings = load_settings(database_url=database_url, telegram_token=None,
                             helpers_chat_id=GROUP, admin_ids=frozenset({ADMIN}),
                             digest_day=None, sla_check_seconds=60, outbox_check_seconds=0.2)
    replicas = [Services(settings=settings, db=Database(database_url), knowledge=knowledge,
                         router=router) for _ in range(2)]
    applications = [build_application(s, token=sandbox.token, api_url=api, webhook=True)
                    for s in replicas]
    try:
        for application in applications:
            await initialize(application)
        async with applications[0], running(applications[0]), applications[1], \
                running(applications[1]):
            async with replicas[0].db.session() as session:
                await outbox.notify(session=session, chat_ids=[GROUP] * 6, now=utcnow(),
                                    priority=Priority.ALERT,
                                    params={"template": "poison", "update_id": 1})
                await schedule.publish_bulletin(session=session, text="Pedagoginen kahvila",
                                                link=None, channels=channels, send_at=utcnow(),
                                                now=utcnow())
            for services in replicas:
                services.wake_sender()
            await sandbox.wait_until(
                lambda: all(sandbox.bot_messages(c) for c in channels)
                and len(sandbox.bot_messages(GROUP)) >= 6, 30)
            await asyncio.sleep(0.5)
    finally:
        for services in replicas:
            await services.db.dispose()
        await runner.cleanup()
    assert sandbox.refused_for_flood == 0
    assert all(len(sandbox.bot_messages(c)) == 1 for c in channels)  # none twice
    assert len(sandbox.bot_messages(GROUP)) == 6
    sends = sorted(m["date"] for c in channels for m in sandbox.bot_messages(c))
    assert max(sends.count(second) for second in set(sends)) <= 30
    group = sorted(m["date"] for m in sandbox.bot_messages(GROUP))
    assert group[-1] - group[0] >= 4  # 4 at once, then one every 4 s: two replicas, one pace


# --- a hang does not make a second copy ----------------------------------------------------------

async def test_a_topic_that_hangs_fifteen_seconds_is_created_once(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("fifteen seconds of waiting, the same on both databases")
    sandbox = _sandbox(range(7001, 7002))
    create = sandbox._api_createforumtopic
    hung: list[float] = []

    async def hanging(params: dict) -> dict:
        if not hung:
            hung.append(time.monotonic())
            await asyncio.sleep(15)  # Telegram is slow, and then it does it
        return await create(params)

    sandbox._api_createforumtopic = hanging  # type: ignore[method-assign]
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         sla_check_seconds=60) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        await desk.ask(7001, RPL_FI)
        await sandbox.wait_until(lambda: _visible(sandbox, in_topics=True), 25)
        await asyncio.sleep(1)  # nothing more comes
        assert len(sandbox.topics[GROUP]) == 1
        assert [n for n in _visible(sandbox, in_topics=True)] == [1]
    assert len([c for c in sandbox.calls if c[0] == "createForumTopic"]) == 1


async def test_a_topic_whose_answer_comes_after_the_lanes_wait_is_still_created_once(
    database_url: str, knowledge: Knowledge, router: Router, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Telegram makes the topic but answers only after the forum's lane stopped waiting (here
    2 s instead of 25, the hang 6 s instead of over 25): the lane goes on, the call goes on
    waiting, and the card's later try finds the topic its answer noted — one topic, one card
    (before: a second topic)."""
    if database_url.startswith("postgresql"):
        pytest.skip("seconds of waiting, the same on both databases")
    monkeypatch.setattr(topics, "LANE_WAIT_SECONDS", 2.0)
    sandbox = _sandbox(range(7001, 7002))
    create = sandbox._api_createforumtopic

    async def hanging(params: dict) -> dict:
        await asyncio.sleep(6)  # Telegram is slow, and then it does it
        return await create(params)

    sandbox._api_createforumtopic = hanging  # type: ignore[method-assign]
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         sla_check_seconds=60, clock=WallClock()) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        await desk.ask(7001, RPL_FI)
        await sandbox.wait_until(lambda: _visible(sandbox, in_topics=True), 30)
        await asyncio.sleep(3)  # nothing more comes
        assert len(sandbox.topics[GROUP]) == 1
        assert [n for n in _visible(sandbox, in_topics=True)] == [1]
    assert len([c for c in sandbox.calls if c[0] == "createForumTopic"]) == 1


# --- polling takes over at once ------------------------------------------------------------------

async def test_a_polling_start_takes_over_what_the_killed_process_was_sending(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """A card left `sending` by a process that was killed a moment ago (its heartbeat still
    fresh): in polling mode the new process is the only one, so it goes out at once, not after
    the heartbeat's 30 s lease."""
    sandbox = _sandbox(range(7001, 7002))
    db = Database(database_url)
    try:
        async with db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
            await workers.beat(session=session, worker="killed", now=utcnow())
            ticket = Ticket(asker_id=7001, asker_chat_id=7001, text=RPL_FI, language="fi",
                            role="vertaisvalmentaja", topic="rpl", confidence=1.0)
            session.add(ticket)
            await session.commit()
            number = ticket.id
            assert number is not None
            outbox.add(session, kind=OutboxKind.CARD, chat_id=GROUP, now=utcnow(),
                       priority=Priority.CARD, ticket_id=number, key=f"card:{number}")
            await session.commit()
            row = (await session.exec(select(Outbox))).one()  # as the killed process took it
            row.status, row.worker = OutboxStatus.SENDING, "killed"
            session.add(row)
            await session.commit()
    finally:
        await db.dispose()
    started = time.monotonic()
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         sla_check_seconds=60, clock=WallClock()) as desk:
        await desk.card(number)
        assert time.monotonic() - started < 10


# --- the smaller defects -------------------------------------------------------------------------

async def test_a_non_holders_hand_over_is_refused_without_an_error(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await claimed_by(desk, MARI, card)
    await desk.sandbox.press(PEKKA, GROUP, card["message_id"], "q:ho:1")
    await desk.sandbox.wait_until(lambda: any("vain hän voi" in a for a in desk.answers()))
    await asyncio.sleep(0.3)
    assert "q:ho:1" in buttons(card)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_message_without_a_chat_is_set_aside_without_errors(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    payload = {"update_id": 900, "message": {"message_id": 1, "date": 0, "text": "hei",
                                             "from": {"id": 7001, "is_bot": False,
                                                      "first_name": "Eva"}}}
    assert parse(payload, desk.application.bot) is None
    await desk.sandbox._push({"message": payload["message"]})
    await desk.sandbox.wait_for(ADMIN, 1)  # the admins are told once
    await desk.ask(7002, RPL_FI)  # and the bot goes on
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_command_in_an_unrelated_group_gets_silence(desk: Desk) -> None:
    desk.sandbox.group(-1009999, "Kahvihuone")
    desk.sandbox.user(7050, "Ulkopuolinen")
    await desk.sandbox.send(7050, "/queue", chat_id=-1009999)
    await desk.sandbox.send(7050, "/close", chat_id=-1009999)
    await desk.ask(7050, RPL_FI)  # handled after them (its chat's updates in order)
    await asyncio.sleep(0.3)
    assert desk.sandbox.bot_messages(-1009999) == []


async def test_forget_unquotes_the_comment_and_leaves_no_telegram_id_in_the_outbox(
    desk: Desk,
) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await claimed_by(desk, MARI, card)
    thread = await desk.thread(1)
    await desk.sandbox.send(MARI, "Näin se menee.", chat_id=GROUP, thread_id=thread)
    await desk.sandbox.send(MARI, "/close", chat_id=GROUP, thread_id=thread)
    closing = await desk.remembered(7001, (await desk.to_user(7001, 4))[-1])
    await desk.sandbox.press(7001, 7001, closing["message_id"], "rate:1:2")
    prompt = (await desk.to_user(7001, 5))[-1]
    await desk.sandbox.send(7001, "Liian lyhyt vastaus", reply_to=prompt["message_id"])
    await desk.sandbox.wait_until(lambda: any(
        "Liian lyhyt vastaus" in m.get("text", "") for m in desk.sandbox.messages[GROUP]))
    quoted = next(m for m in desk.sandbox.messages[GROUP]
                  if "Liian lyhyt vastaus" in m.get("text", ""))
    async with desk.services.db.session() as session:
        await privacy.forget(session=session, telegram_id=7001, now=desk.clock(),
                             desk=desk.services.desk)
    desk.services.wake_sender()
    await desk.sandbox.wait_until(lambda: "Liian lyhyt" not in quoted.get("text", ""))
    assert "poistettu" in quoted["text"]
    async with desk.services.db.session() as session:
        assert not list(await session.exec(select(Outbox.id).where(
            col(Outbox.chat_id) == 7001, col(Outbox.status) != OutboxStatus.SENDING)))


async def test_an_event_added_after_its_first_reminder_time_still_gets_the_last_one(
    services: Services,
) -> None:
    now = utcnow()
    spec = EventSpec(title="Pedagoginen kahvila", kind=EventKind.CAFE,
                     start=now + timedelta(minutes=40), end=now + timedelta(minutes=100),
                     place="Aula", channels=[-1002], host_id=ADMIN)
    async with services.db.session() as session:
        (event,) = await schedule.publish_event(session=session, spec=spec, now=now)
        reminders = list(await session.exec(select(Outbox).where(
            col(Outbox.kind) == OutboxKind.REMINDER)))
    # The hour-before reminder, with its "I'm here" button, half an hour before the start.
    assert [r.key.rsplit(":", 1)[1] for r in reminders] == ["60"]
    assert abs((reminders[0].due_at - (event.starts_at - timedelta(minutes=30)))
               .total_seconds()) < 1


async def test_a_stop_while_telegram_fails_takes_seconds_not_half_a_minute(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Telegram answers every message with an error: the acknowledgement being retried does not
    hold the stop up (docker's `stop` allows 10 s in all)."""
    sandbox = _sandbox(range(7001, 7003))
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         sla_check_seconds=60) as desk:
        await desk.ask(7001, RPL_FI)
        sandbox.faults.extend([("sendMessage", 500, None)] * 1000)
        sandbox.faults.extend([("createForumTopic", 500, None)] * 1000)
        await sandbox.send(7002, "Miten arvioin näytön, kun opiskelija on työpaikalla?")
        for _ in range(200):  # the acknowledgement is refused, and being retried
            if len(sandbox.faults) < 2000:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5


async def test_a_late_event_still_offers_im_here_and_walk_ins_are_counted_apart(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Added 40 minutes before its start (its reminders a day and an hour before are past): the
    hour-before reminder still comes, half an hour before, with "I'm here". Aino said she would
    come and came; Eero came without saying: the host sees them apart."""
    from tests.test_bot_events import CHANNELS, channel, events_desk, publish

    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        start = clock() + timedelta(minutes=40)
        event_id = await publish(desk, start=start, end=start + timedelta(minutes=60),
                                 reminders="1d,1h")
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        desk.sandbox.user(7001, "Aino")
        desk.sandbox.user(7005, "Eero")
        await desk.sandbox.press(7001, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: len(desk.answers()) == 1)
        clock.advance(minutes=10)
        (_, reminder) = await channel(desk, CHANNELS[0], 2)
        (here,) = reminder["reply_markup"]["inline_keyboard"][0]
        assert here["callback_data"] == f"here:{event_id}"
        clock.now = start + timedelta(minutes=5)
        for user in (7001, 7005):
            await desk.sandbox.press(user, CHANNELS[0], reminder["message_id"],
                                     here["callback_data"])
        await desk.sandbox.wait_until(lambda: len(desk.answers()) == 3)
        await desk.sandbox.send(MARI, "/attendees")
        await desk.sandbox.wait_until(lambda: any(
            "Paikalla: 1 niistä 1, jotka ilmoittautuivat; ilmoittautumatta: 1"
            in m.get("text", "") for m in desk.sandbox.bot_messages(MARI)))


async def test_two_budgets_on_one_database_hand_out_one_groups_slots_once(
    database_url: str,
) -> None:
    """Two replicas asking for a group's slots at once get different slots: never more than 20
    in any minute between them, and never two at one moment."""
    databases = [Database(database_url) for _ in range(2)]
    budgets = [budget_for(db.engine) for db in databases]
    if not budgets[0].shared:
        budgets = [budgets[0]] * 2  # SQLite: one process, one budget in memory
    pace = per_minute(20)
    waits = sorted(await asyncio.gather(*(budgets[n % 2].reserve("g:-1001", pace)
                                          for n in range(40))))
    assert max(sum(1 for t in waits if start <= t <= start + 60) for start in waits) <= 20
    assert len({round(t, 3) for t in waits if t > 0}) == len([t for t in waits if t > 0])
    assert isinstance(budgets[1], SharedBudget) == database_url.startswith("postgresql")
    for db in databases:
        await db.dispose()


async def test_a_lane_idle_for_a_minute_is_dropped_as_slots_are_taken(
    database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lane per chat ever written to would grow for ever (the table `sendbudget` on
    PostgreSQL, a dict in memory on SQLite): one idle past `IDLE` is dropped as the next slot
    is taken — it was the same as a new one — and a lane in use is kept."""
    monkeypatch.setattr(budget, "PRUNE_EVERY", 0.0)
    db = Database(database_url)
    try:
        lanes = budget_for(db.engine)
        await lanes.reserve("p:1", budget.PRIVATE)  # in use
        if lanes.shared:
            async with db.engine.begin() as connection:
                await connection.execute(text(
                    "INSERT INTO sendbudget (lane, tat) VALUES ('p:2', "
                    "extract(epoch from clock_timestamp()) - :old)"), {"old": budget.IDLE + 5})
        else:
            lanes._tat["p:2"] = time.time() - budget.IDLE - 5
        assert await lanes.reserve("p:3", budget.PRIVATE) == 0
        if lanes.shared:
            async with db.engine.connect() as connection:
                kept = set((await connection.execute(text("SELECT lane FROM sendbudget"))
                            ).scalars())
        else:
            kept = set(lanes._tat)
        assert kept == {"p:1", "p:3"}
    finally:
        await db.dispose()
