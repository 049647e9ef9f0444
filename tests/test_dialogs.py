"""Nothing hangs between two messages (issue 26), told as the people's stories: an organiser's
dialog goes on across restarts (a new Application on the same database, and real processes
stopped with SIGTERM and SIGKILL) and across two replicas taking turns; the "Add to #N?" prompt
survives a restart; a question offered a self-service answer reaches a helper after the wait;
a long message Telegram split in two is one question; stale buttons answer once and go."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select
from telegram.ext import Application

from bot.config import load_settings
from bot.domain import dialogs
from bot.domain.knowledge import Knowledge
from bot.domain.models import (
    Bulletin,
    Event,
    EventMaterial,
    InboundUpdate,
    Ticket,
    TicketStatus,
    UpdateStatus,
    utcnow,
)
from bot.domain.reports import Period, monthly_report
from bot.domain.routing import Router
from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, serve
from bot.services import Services
from bot.storage import Database
from bot.telegram.app import build_application, initialize, running
from tests.test_bot_events import CHANNELS, START, channel, events_desk, publish
from tests.test_bot_helpers import (
    GROUP,
    JUKKA,
    MARI,
    PEKKA,
    Clock,
    Desk,
    buttons,
    open_desk,
)
from tests.test_processes import eventually, restarted, sandbox_server, start_bot, stop

ASKER = 7001
PROJECTOR = "Luokan 204 projektori ei näytä kuvaa läppäriltä"
HOKS = "Miten päivitän HOKSin kun opiskelijan suunnitelma muuttuu?"
PASSWORD = "Unohdin salasanani, miten saan uuden?"


async def count(db: Database, table: type) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def handled(db: Database) -> None:
    """Until every stored update is handled: a stop now leaves nothing in hand."""
    for _ in range(500):
        async with db.session() as session:
            if not (await session.exec(select(func.count()).select_from(InboundUpdate).where(
                    col(InboundUpdate.status).in_([UpdateStatus.STORED,
                                                   UpdateStatus.PROCESSING])))).one():
                return
        await asyncio.sleep(0.02)
    raise AssertionError("an update was left unhandled")


async def step(sandbox: Sandbox, how: str, what: str, user: int = MARI) -> dict:
    """The person writes `what`, or presses `what` under the bot's last message; returns the
    bot's answer."""
    before = len(sandbox.bot_messages(user))
    if how == "send":
        await sandbox.send(user, what)
    else:
        await sandbox.press(user, user, sandbox.bot_messages(user)[-1]["message_id"], what)
    return (await sandbox.wait_for(user, before + 1, timeout=30))[-1]


NEWEVENT = [("send", "/newevent"), ("press", "kind:webinar"), ("send", "HOKS-webinaari"),
            ("send", "ti 8.12. klo 14"), ("press", "start:yes"), ("send", "90"),
            ("send", "Auditorio B ja https://teams.example/hoks"), ("send", "Uusi ohjeistus."),
            ("press", "closes:none"), ("press", "publish:yes")]


# --- the organisers' dialogs, across restarts -----------------------------------------------------

@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_newevent_goes_on_after_a_restart_between_every_step(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Anna's /newevent: the bot is started anew (a new Application on the same database)
    before each of her ten answers, and each answer goes on where she was."""
    clock, sandbox = Clock(), None
    said = []
    for how, what in NEWEVENT:
        async with events_desk(database_url, knowledge, router, clock=clock,
                               sandbox=sandbox) as desk:
            sandbox = desk.sandbox
            said.append((await step(desk.sandbox, how, what))["text"])
            await handled(desk.services.db)
    assert said[3] == "Alkaa tiistaina 8.12.2026 klo 14.00. Onko tämä oikein?"
    assert said[8].startswith("Esikatselu:\n\n📣 Webinaari: HOKS-webinaari")
    assert said[9].startswith("Julkaistu!")
    async with events_desk(database_url, knowledge, router, clock=clock,
                           sandbox=sandbox) as desk:
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        assert "💻 https://teams.example/hoks" in announcement["text"]
        assert await count(desk.services.db, Event) == 1
        assert await count(desk.services.db, Ticket) == 0  # no answer became a question


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bulletin_and_materials_go_on_after_a_restart_between_every_step(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock, sandbox = Clock(), None
    bulletin = [("send", "/bulletin"), ("send", "Uusi arviointiohje: https://intra.example/o"),
                ("press", "when:now"), ("press", "publish:yes")]
    for how, what in bulletin:
        async with events_desk(database_url, knowledge, router, clock=clock,
                               sandbox=sandbox) as desk:
            sandbox = desk.sandbox
            said = await step(desk.sandbox, how, what)
            await handled(desk.services.db)
    assert said["text"].startswith("Julkaistu!")
    async with events_desk(database_url, knowledge, router, clock=clock,
                           sandbox=sandbox) as desk:
        event_id = await publish(desk)
        await channel(desk, CHANNELS[0], 2)  # the bulletin and the announcement
        await handled(desk.services.db)
    clock.now = START + timedelta(hours=2)  # held: its materials now
    for how, what in [("send", "/materials"), ("press", f"matfor:{event_id}"),
                      ("send", "Tallenne: https://video.example/tallenne")]:
        async with events_desk(database_url, knowledge, router, clock=clock,
                               sandbox=sandbox) as desk:
            said = await step(desk.sandbox, how, what)
            await handled(desk.services.db)
    assert said["text"].startswith("Kiitos! Materiaalit")
    db = Database(database_url)
    try:
        assert await count(db, Bulletin) == 1 and await count(db, EventMaterial) == 1
        assert await count(db, Ticket) == 0
    finally:
        await db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_newevent_goes_on_across_a_sigterm_and_a_sigkill(
    database_url: str, tmp_path: Path, knowledge: Knowledge, router: Router,
) -> None:
    """Real `python -m bot run` processes: the first is stopped with SIGTERM (a deploy) after
    Anna's title, the second killed with SIGKILL after she confirms the start; the next start
    takes the rest of her answers, and the event is published once."""
    sandbox = Sandbox()
    sandbox.user(MARI, "Anna")
    for chat in CHANNELS:
        sandbox.group(chat, f"Kanava {chat}")
    answers = [("send", "/newevent"), ("press", "kind:cafe"), ("send", "Arviointi"),
               ("send", "huomenna klo 14"), ("press", "start:yes"), ("send", "60"),
               ("send", "Auditorio B"), ("send", "-"), ("press", "closes:none"),
               ("press", "publish:yes")]
    settings = {"organiser_ids": str(MARI), "announce_channels": ",".join(map(str, CHANNELS)),
                "digest_day": None}

    async with sandbox_server(sandbox) as (sandbox, api):
        env = {"PEERDESK_TELEGRAM_TOKEN": SANDBOX_TOKEN, "PEERDESK_TELEGRAM_API_URL": api,
               "PEERDESK_DATABASE_URL": database_url, "PEERDESK_LOG_LEVEL": "WARNING",
               "PEERDESK_ORGANISER_IDS": str(MARI), "PEERDESK_DIGEST_DAY": "",
               "PEERDESK_ANNOUNCE_CHANNELS": settings["announce_channels"]}
        for how_it_ends, part in ((signal.SIGTERM, answers[:3]), (signal.SIGKILL, answers[3:5])):
            polls = sum(1 for m, _ in sandbox.calls if m == "getUpdates")
            bot = await start_bot("run", env, tmp_path / "bot.log")
            try:
                await eventually(lambda p=polls: sum(  # type: ignore[misc]
                    1 for m, _ in sandbox.calls if m == "getUpdates") > p, 60)
                for how, what in part:
                    await step(sandbox, how, what)
                # Between two of her steps (a kill within one is a replay's business: the
                # step is taken again, its question asked twice, and it goes on).
                db = Database(database_url)
                try:
                    await handled(db)
                finally:
                    await db.dispose()
                bot.send_signal(how_it_ends)
                await asyncio.wait_for(bot.wait(), 30)
            finally:
                await stop(bot)
        async with restarted(database_url, sandbox, knowledge, router, **settings):
            for how, what in answers[5:]:
                said = await step(sandbox, how, what)
            assert said["text"].startswith("Julkaistu!")
            await sandbox.wait_until(lambda: bool(sandbox.bot_messages(CHANNELS[0])), 30)
    assert "Traceback" not in (tmp_path / "bot.log").read_text()
    db = Database(database_url)
    try:
        assert await count(db, Event) == 1 and await count(db, Ticket) == 0
    finally:
        await db.dispose()


# --- two replicas taking turns --------------------------------------------------------------------

@asynccontextmanager
async def replicas(url: str, sandbox: Sandbox, knowledge: Knowledge, router: Router,
                   clock: Clock) -> AsyncIterator[list[Application]]:
    """Two bots on one database, each fed only the updates the test hands it (as a load
    balancer in front of two `peerdesk serve` would)."""
    runner = await serve(sandbox, "127.0.0.1", 0)
    api = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with AsyncExitStack() as stack:
            apps = []
            for _ in range(2):
                settings = load_settings(
                    database_url=url, telegram_token=None, organiser_ids=str(MARI),
                    announce_channels=",".join(map(str, CHANNELS)), digest_day=None,
                    outbox_check_seconds=0.2, group_messages_per_minute=240)
                services = Services(settings=settings, db=Database(url), knowledge=knowledge,
                                    router=router, clock=clock)
                stack.push_async_callback(services.db.dispose)
                app = build_application(services, token=sandbox.token, api_url=api,
                                        webhook=True)
                await initialize(app)
                await stack.enter_async_context(app)
                await stack.enter_async_context(running(app))
                apps.append(app)
            yield apps
    finally:
        await runner.cleanup()


async def hand(app: Application, sandbox: Sandbox) -> None:
    """The sandbox's next update to this replica, as its webhook would take it."""
    payload = sandbox._updates.pop(0)
    update = await app.bot_data["inbox"].receive(payload, app.bot)
    if update is not None:
        await app.update_queue.put(update)


@pytest.mark.races
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_newevent_alternating_between_two_replicas_publishes_once(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Each of Anna's answers reaches the other replica than the one before; her Publish is
    pressed twice at once, one press to each; and a load balancer's retry hands one update to
    both. The event is published once, and nothing she wrote became a question."""
    sandbox = Sandbox()
    sandbox.user(MARI, "Anna")
    for chat in CHANNELS:
        sandbox.group(chat, f"Kanava {chat}")
    async with replicas(database_url, sandbox, knowledge, router, Clock()) as apps:
        for n, (how, what) in enumerate(NEWEVENT[:-1], start=1):
            if how == "send":
                await sandbox.send(MARI, what)
            else:
                await sandbox.press(MARI, MARI, sandbox.bot_messages(MARI)[-1]["message_id"],
                                    what)
            retry = dict(sandbox._updates[0])
            await hand(apps[n % 2], sandbox)
            if n == 3:  # the title again, at the other replica: handled once
                sandbox._updates.append(retry)
                await hand(apps[(n + 1) % 2], sandbox)
            await sandbox.wait_for(MARI, n, timeout=20)
            await handled(apps[0].bot_data["services"].db)
        preview = sandbox.bot_messages(MARI)[-1]
        assert preview["text"].startswith("Esikatselu:")
        for _ in range(2):  # a double press: two updates, one to each replica
            await sandbox.press(MARI, MARI, preview["message_id"], "publish:yes")
        await asyncio.gather(hand(apps[0], sandbox), hand(apps[1], sandbox))
        await sandbox.wait_for(MARI, 10, timeout=20)
        await sandbox.wait_until(lambda: bool(sandbox.bot_messages(CHANNELS[0])), 20)
        await asyncio.sleep(0.5)  # and nothing more comes
        db = apps[0].bot_data["services"].db
        await handled(db)
        assert await count(db, Event) == 1 and await count(db, Ticket) == 0
    published = [m for m in sandbox.bot_messages(MARI) if m["text"].startswith("Julkaistu!")]
    assert len(published) == 1 and len(sandbox.bot_messages(MARI)) == 10  # nothing else
    assert [len(sandbox.bot_messages(c)) for c in CHANNELS] == [1, 1]
    assert len([m for m in sandbox.bot_messages(MARI) if m["text"] == "Otsikko?"]) == 1


# --- the asker's "Add to #N?" ---------------------------------------------------------------------

@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_add_or_new_prompt_goes_on_after_a_restart(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock, sandbox = Clock(), None
    async with open_desk(database_url, knowledge, router, clock=clock) as desk:
        sandbox = desk.sandbox
        await step(desk.sandbox, "send", PROJECTOR, ASKER)
        prompt = await step(desk.sandbox, "send", HOKS, ASKER)
        assert prompt["text"] == "Liittyykö tämä kysymykseesi #1, vai onko se uusi kysymys?"
        await handled(desk.services.db)
    async with open_desk(database_url, knowledge, router, clock=clock,
                         sandbox=sandbox) as desk:
        # Her next words, at a new process, go with the message asked about.
        await sandbox.send(ASKER, "Opiskelija vaihtaa alaa kesken vuoden.")
        await sandbox.wait_until(lambda: prompt["text"].startswith("Liittyvätkö nämä 2 viestiä"))
        await handled(desk.services.db)
    async with open_desk(database_url, knowledge, router, clock=clock,
                         sandbox=sandbox) as desk:
        new = next(b for b in buttons(prompt) if b.startswith("cn:"))
        ack = await step(desk.sandbox, "press", new, ASKER)
        assert "#2" in ack["text"]
        second = await desk.wait_ticket(2, lambda t: True)
        assert second.text.startswith(HOKS) and "vaihtaa alaa" in second.text
        assert await count(desk.services.db, Ticket) == 2
        assert "reply_markup" not in prompt


async def test_a_continuation_joins_the_question_without_a_prompt(desk: Desk) -> None:
    """"Ai niin, ja…" goes on with the matter, whatever its words: no "Add to #1?"."""
    await step(desk.sandbox, "send", PROJECTOR, ASKER)
    added = await step(desk.sandbox, "send", "Ai niin, ja meillä on myös HOKS-päivitys "
                       "kesken: miten päivitän opiskelijan suunnitelman?", ASKER)
    assert "Liittyykö" not in added["text"]
    assert await count(desk.services.db, Ticket) == 1


async def test_a_forged_forget_yes_without_a_pending_forget_does_nothing(desk: Desk) -> None:
    await step(desk.sandbox, "send", PROJECTOR, ASKER)
    ack = desk.sandbox.bot_messages(ASKER)[-1]
    ack.setdefault("reply_markup", {"inline_keyboard": []})["inline_keyboard"].append(
        [{"text": "x", "callback_data": "forget:yes"}])  # a client that sends what it likes
    await desk.sandbox.press(ASKER, ASKER, ack["message_id"], "forget:yes")
    await desk.sandbox.wait_until(lambda: len(desk.answers()) == 1)
    assert "ei ole sinun painettavasi" in desk.answers()[0]
    assert (await desk.ticket(1)).text == PROJECTOR  # nothing erased
    # A real /forget is confirmed from its own question, once.
    confirm = await step(desk.sandbox, "send", "/forget", ASKER)
    await desk.sandbox.press(ASKER, ASKER, confirm["message_id"], "forget:yes")
    await desk.sandbox.wait_until(lambda: confirm["text"].startswith("Valmis"))


# --- no question stranded -------------------------------------------------------------------------

async def test_an_offered_question_never_settled_reaches_a_helper_after_the_wait(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()  # Monday 10:00, office hours
    async with open_desk(database_url, knowledge, router, clock=clock,
                         offer_wait_minutes=20) as desk:
        offered = await step(desk.sandbox, "send", PASSWORD, ASKER)
        assert buttons(offered) == ["ss:1:y", "ss:1:n"]
        clock.advance(minutes=19)
        await asyncio.sleep(0.3)
        assert (await desk.ticket(1)).status == TicketStatus.OFFERED
        assert GROUP not in desk.sandbox.topics or not desk.sandbox.topics[GROUP]
        clock.advance(minutes=2)  # 21 working minutes, and nobody pressed anything
        card = await desk.card(1)
        assert "Itsepalveluvastausta tarjottiin" in card["text"]
        told = (await desk.to_user(ASKER, 2))[-1]
        assert told["text"].startswith("Et kertonut, auttoiko vastaus")
        assert buttons(told)[0] == "solve:1"
        ticket = await desk.ticket(1)
        assert (ticket.status, ticket.offer_unsettled) == (TicketStatus.OPEN, True)
        # The helpers' /queue lists it.
        await desk.sandbox.send(JUKKA, "/queue")
        (listing,) = await desk.to_user(JUKKA, 1)
        assert "#1" in listing["text"]
        # "This helped", pressed late, still solves it (as "Solved it myself" would): no
        # helper works on a question the answer settled. Its buttons go.
        await desk.sandbox.press(ASKER, ASKER, offered["message_id"], "ss:1:y")
        await desk.sandbox.wait_until(lambda: "reply_markup" not in offered)
        solved = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
        assert solved.self_served and solved.solved_by_asker
        async with desk.services.db.session() as session:
            report = await monthly_report(session=session, period=Period.containing(
                clock(), desk.services.settings.tz), trend_months=0)
        assert report.offer_unsettled == 1 and report.unanswered == 0


# --- long messages --------------------------------------------------------------------------------

async def test_a_5000_character_message_sent_as_telegram_sends_it_is_one_question(
    desk: Desk,
) -> None:
    long = ("Tiimimme työnjako ensi lukukaudelle mietityttää, koska opetusta on paljon. "
            * 70)[:5000]
    first, second = long[:4096], long[4096:]  # as Telegram splits it
    ack = await step(desk.sandbox, "send", first, ASKER)
    assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #1")
    before = len(desk.sandbox.bot_messages(ASKER))
    await desk.sandbox.send(ASKER, second)
    thread = await desk.in_thread(1, 3)  # the card, and both parts as they were written
    assert [m["text"] for m in thread[1:3]] == [first, second]
    assert await count(desk.services.db, Ticket) == 1
    # One message sent, one acknowledged: its rest goes on quietly.
    assert len(desk.sandbox.bot_messages(ASKER)) == before


# --- stale buttons --------------------------------------------------------------------------------

async def test_stale_buttons_of_a_closed_question_answer_once_and_go(desk: Desk) -> None:
    await step(desk.sandbox, "send", PROJECTOR, ASKER)  # for tvt
    card = await desk.card(1)
    # Pekka (not tvt) presses Claim: he is asked privately whether to take it anyway.
    await desk.sandbox.press(PEKKA, GROUP, card["message_id"], "q:claim:1")
    (sure,) = await desk.to_user(PEKKA, 1)
    # Jukka claims, answers and closes it meanwhile.
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")
    claimed = (await desk.to_user(ASKER, 2))[-1]
    assert buttons(claimed) == ["phone:1"]
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:close:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    # Pekka's "Yes, I take #1" says what really happened, and goes.
    await desk.sandbox.press(PEKKA, PEKKA, sure["message_id"], buttons(sure)[0])
    await desk.sandbox.wait_until(lambda: "reply_markup" not in sure)
    assert desk.answers()[-1] == "#1 on jo suljettu."
    # The asker's phone button too: once, and gone.
    await desk.sandbox.press(ASKER, ASKER, claimed["message_id"], "phone:1")
    await desk.sandbox.wait_until(lambda: "reply_markup" not in claimed)
    assert desk.answers()[-1].startswith("Kysymys #1 on jo suljettu")
    assert not any("puhelinnumerosi" in (m.get("text") or "")
                   for m in desk.sandbox.bot_messages(ASKER))


# --- the domain's API, for other dialogs ----------------------------------------------------------

async def test_a_step_is_taken_once_from_the_version_it_was_read_at(services: Services) -> None:
    now = utcnow()
    async with services.db.session() as session:
        started = await dialogs.start(session=session, chat_id=1, user_id=1, kind="invite",
                                      step="name", now=now, ttl=timedelta(minutes=5),
                                      answers={"when": now})
        read = await dialogs.get(session=session, chat_id=1, user_id=1, now=now)
        assert read is not None and read.answers == {"when": now} and read == started
        moved = await dialogs.advance(session=session, dialog=read, step="team", now=now,
                                      ttl=timedelta(minutes=5))
        assert moved is not None and moved.step == "team"
        # The same step from the same read, at the other replica: not taken again.
        assert await dialogs.advance(session=session, dialog=read, step="team", now=now,
                                     ttl=timedelta(minutes=5)) is None
        assert not await dialogs.finish(session=session, dialog=read)
        # Begun anew: a step read from the dialog it replaced is not taken in it.
        again = await dialogs.start(session=session, chat_id=1, user_id=1, kind="invite",
                                    step="name", now=now, ttl=timedelta(minutes=5))
        assert again.version > moved.version
        assert await dialogs.advance(session=session, dialog=moved, step="done", now=now,
                                     ttl=timedelta(minutes=5)) is None
        lapsed = await dialogs.expire(session=session, now=now + timedelta(minutes=6))
        assert [d.kind for d in lapsed] == ["invite"]
        assert await dialogs.get(session=session, chat_id=1, user_id=1, now=now) is None

