"""Helpers answer from the queue: the story through the sandbox and PTB's real HTTP client.

A staff member asks → the ticket gets its own forum topic and card → a helper claims it → the
conversation is relayed both ways → the ticket is closed and rated → and nothing is forgotten.
"""

from __future__ import annotations

import asyncio
import functools
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func
from sqlmodel import col, select
from telegram.ext import Application

from bot.config import load_settings
from bot.domain.knowledge import Knowledge
from bot.domain.models import (
    InboundUpdate,
    Outbox,
    OutboxStatus,
    Ticket,
    TicketMessage,
    TicketStatus,
    TopicLog,
    UpdateStatus,
)
from bot.domain.roster import HelperSpec, import_helpers
from bot.domain.routing import Router
from bot.sandbox.server import Sandbox
from bot.services import Services
from bot.storage import Database
from tests.conftest import bot_running


def free_port() -> int:
    """A port nothing listens on, outside the range the kernel hands out to outgoing
    connections: a port from that range can be taken by any connection (a database's, a bot's
    HTTP client's) in the seconds between this choice and the bind, while a bot starts."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(min(20000, low - 1000), low - 1)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # every one tried was taken: any the kernel gives
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

GROUP = -1001500
ADMIN = 9001
ROSTER = [
    HelperSpec(telegram_id=1001, name="Mari Mentor", roles=["vertaisvalmentaja"],
               team="Hyvinvointiala", languages=["fi", "sv"]),
    HelperSpec(telegram_id=1002, name="Jukka", roles=["tvt"], team="Tekniikka",
               languages=["fi", "en"]),
    HelperSpec(telegram_id=1003, name="Anna", roles=["luotsi", "vertaisvalmentaja"],
               team="Liiketalous", languages=["fi", "sv", "en"]),
    HelperSpec(telegram_id=1004, name="Pekka", roles=["vertaisvalmentaja"], team="Tekniikka",
               languages=["fi"]),
]
MARI, JUKKA, ANNA, PEKKA = (h.telegram_id for h in ROSTER)
HOKS_SV = "Hur uppdaterar jag studerandens HOKS när studieplanen ändras?"
RPL_FI = "Miten kirjaan aiemmin hankitun osaamisen tunnustamisen HOKSiin?"
RPL_CARD = "#1 · Osaamisen tunnistaminen ja tunnustaminen · fi"


@dataclass
class Clock:
    """Time that tests move: Monday 23 November 2026, 10:00 in Helsinki (office hours). A bot
    started on it (`open_desk`) hears each move and runs its periodic jobs at once, so that no
    test waits for, or spends CPU on, a job ticking every fraction of a second. A bot started on
    a clock of the test's own runs them at its start too; one on the default clock lets them keep
    their first ticks (running all of them cost a third of a desk's CPU)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
        for listener in self.listeners:
            listener()


def time_moved(application: Application) -> None:
    """The bot's periodic jobs (reminders, escalations, the digest, event follow-ups) run now
    rather than at their next tick, and the sender looks for what has come due."""
    assert application.job_queue is not None
    now = datetime.now(UTC)
    for job in application.job_queue.jobs():
        if isinstance(job.job.trigger, IntervalTrigger):
            job.job.modify(next_run_time=now)
    application.bot_data["services"].wake_sender()


@dataclass
class Desk:
    sandbox: Sandbox
    services: Services
    clock: Clock
    forum: bool
    application: Application

    async def ask(self, user_id: int, text: str, **user: object) -> dict:
        before = len(self.sandbox.bot_messages(user_id))
        await self.sandbox.send(user_id, text, **user)
        return (await self.sandbox.wait_for(user_id, before + 1))[-1]

    async def ticket(self, number: int) -> Ticket:
        async with self.services.db.session() as session:
            ticket = await session.get(Ticket, number)
            assert ticket is not None
            await session.refresh(ticket)
            return ticket

    async def wait_ticket(self, number: int, condition) -> Ticket:  # type: ignore[no-untyped-def]
        """The ticket once it exists and `condition` holds (within 15 s: a busy machine)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while loop.time() < deadline:
            async with self.services.db.session() as session:
                ticket = await session.get(Ticket, number)
                if ticket is not None:
                    await session.refresh(ticket)
            if ticket is not None and condition(ticket):
                return ticket
            await asyncio.sleep(0.02)
        raise AssertionError(f"ticket {number} never reached the expected state")

    async def remembered(self, chat_id: int, message: dict) -> dict:
        """Wait until the bot has noted which ticket its message belongs to (it does so right
        after sending, and a person is rarely faster)."""
        for _ in range(750):
            async with self.services.db.session() as session:
                if await session.get(TicketMessage, (chat_id, message["message_id"])):
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError("the message was never remembered")

    async def thread(self, number: int) -> int:
        ticket = await self.wait_ticket(number, lambda t: t.thread_id is not None)
        assert ticket.thread_id is not None
        return ticket.thread_id

    async def card(self, number: int) -> dict:
        thread = await self.thread(number)
        await self.sandbox.wait_until(lambda: self.sandbox.thread_messages(GROUP, thread))
        return self.sandbox.thread_messages(GROUP, thread)[0]

    async def in_thread(self, number: int, count: int) -> list[dict]:
        thread = await self.thread(number)
        await self.sandbox.wait_until(
            lambda: len(self.sandbox.thread_messages(GROUP, thread)) >= count)
        return self.sandbox.thread_messages(GROUP, thread)

    async def to_user(self, user_id: int, count: int) -> list[dict]:
        return await self.sandbox.wait_for(user_id, count)

    def answers(self) -> list[str]:
        """What the bot answered to button presses (shown as alerts or toasts)."""
        return [p.get("text") or "" for m, p in self.sandbox.calls if m == "answerCallbackQuery"]


@asynccontextmanager
async def open_desk(database_url: str, knowledge: Knowledge, router: Router, *,
                    forum: bool = True, sandbox: Sandbox | None = None,
                    clock: Clock | None = None, **overrides: object) -> AsyncIterator[Desk]:
    settings = load_settings(**{
        "database_url": database_url, "telegram_token": None, "helpers_chat_id": GROUP,
        "admin_ids": frozenset({ADMIN}), "sla_check_seconds": 2, "digest_day": None,
        **overrides,
    })
    timed, clock = clock is not None, clock or Clock()
    services = Services(settings=settings, db=Database(database_url), knowledge=knowledge,
                        router=router, clock=clock)
    if sandbox is None:
        sandbox = Sandbox()
        sandbox.group(GROUP, "Vertaistuki", forum=forum)
        for spec in ROSTER:
            sandbox.user(spec.telegram_id, spec.name, spec.languages[0])
        sandbox.user(ADMIN, "Rehtori")
        async with services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
    try:
        async with bot_running(services, sandbox) as application:
            moved = functools.partial(time_moved, application)
            if timed:  # a bot started on a test's own clock sees at once what came due meanwhile
                moved()
            clock.listeners.append(moved)
            try:
                yield Desk(sandbox, services, clock, forum, application)
            finally:
                clock.listeners.remove(moved)
    finally:
        await services.db.dispose()



async def until_settled(db: Database, timeout: float = 60) -> None:
    """Until every stored update is handled and nothing is left to send (or being sent): from
    then on no process has anything it could send twice."""
    unfinished = select(func.count()).select_from(InboundUpdate).where(
        col(InboundUpdate.status).in_([UpdateStatus.STORED, UpdateStatus.PROCESSING]))
    unsent = select(func.count()).select_from(Outbox).where(
        col(Outbox.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with db.session() as session:
            if (await session.exec(unfinished)).one() == 0 \
                    and (await session.exec(unsent)).one() == 0:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("updates or messages were left unfinished")


def mentioned(message: dict) -> list[int]:
    return [e["user"]["id"] for e in message.get("entities", []) if e["type"] == "text_mention"]


async def test_a_question_opens_its_own_topic_with_a_card_calling_the_right_helpers(
    desk: Desk,
) -> None:
    await desk.sandbox.send(7001, "/team  Liiketalous ", first_name="Eva", language_code="sv")
    (team,) = await desk.to_user(7001, 1)
    assert team["text"] == "Tack! Ditt team: Liiketalous"
    await desk.ask(7001, HOKS_SV)
    card = await desk.card(1)
    topic = desk.sandbox.topics[GROUP][await desk.thread(1)]
    assert topic["name"] == "#1 · HOKS · sv"
    assert card["text"].startswith("#1 · HOKS · sv\nKysyjä: Eva, Liiketalous\n")
    assert HOKS_SV in card["text"]
    # Swedish speakers of the role first, the asker's own team first; Jukka (tvt) not at all.
    assert mentioned(card) == [ANNA, MARI, PEKKA]
    buttons = [b["callback_data"] for b in card["reply_markup"]["inline_keyboard"][0]]
    assert buttons == ["q:claim:1", "q:rr:1", "q:close:1"]


async def test_a_double_tap_on_claim_tells_the_holder_it_is_theirs(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI, first_name="Eva")
    card = await desk.card(1)
    await asyncio.gather(*(desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
                           for _ in range(2)))
    await desk.sandbox.wait_until(lambda: len(desk.answers()) == 2)
    assert "#1 on jo sinulla." in desk.answers(), desk.answers()
    assert not any("on jo ottanut" in a for a in desk.answers())


async def test_ask_claim_race_relay_note_close_rate_and_reopen(desk: Desk) -> None:
    ack = await desk.ask(7001, RPL_FI, first_name="Eva")
    card = await desk.card(1)
    # Two helpers press Claim at the same moment: one wins, the other is told who has it.
    await asyncio.gather(desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1"),
                         desk.sandbox.press(PEKKA, GROUP, card["message_id"], "q:claim:1"))
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    await desk.sandbox.wait_until(lambda: len(desk.answers()) == 2)
    winner = ticket.claimed_by
    loser_name = "Mari Mentor" if winner == PEKKA else "Pekka"
    assert winner in (MARI, PEKKA)
    assert any("on jo ottanut" in a and ("Mari Mentor" if winner == MARI else "Pekka") in a
               for a in desk.answers()), desk.answers()
    assert not any(loser_name in a and "on jo ottanut" in a for a in desk.answers())
    await desk.sandbox.wait_until(lambda: "Otettu" in card["text"])
    # The asker hears who is on it (first name only).
    claimed = (await desk.to_user(7001, 2))[-1]
    name = "Mari" if winner == MARI else "Pekka"
    assert claimed["text"].startswith(f"{name} katsoo nyt kysymystäsi #1")
    assert "Mentor" not in claimed["text"]

    thread = await desk.thread(1)
    # The holder's reply is copied to the asker, as a reply to the question.
    await desk.sandbox.send(winner, "Päivitä HOKS Koskeen ja sovi muutos opiskelijan kanssa.",
                            chat_id=GROUP, thread_id=thread)
    relayed = (await desk.to_user(7001, 3))[-1]
    assert relayed["text"] == "Päivitä HOKS Koskeen ja sovi muutos opiskelijan kanssa."
    assert relayed["reply_to_message"]["text"] == RPL_FI
    # A note stays with the helpers; the other helper's message does not reach the asker.
    await desk.sandbox.send(winner, "! muistiinpano: soita huomenna", chat_id=GROUP,
                            thread_id=thread)
    other = PEKKA if winner == MARI else MARI
    await desk.sandbox.send(other, "Minäkin voin auttaa", chat_id=GROUP, thread_id=thread)
    held = await desk.in_thread(1, 2)
    assert "ei lähetetty kysyjälle" in held[-1]["text"]
    # Nor does that of someone in the group who is no helper (a lead, someone taken off the
    # roster), and they hear so too.
    await desk.sandbox.send(7009, "Vielä yksi vinkki", chat_id=GROUP, thread_id=thread)
    outside = await desk.in_thread(1, 3)
    assert outside[-1]["text"].startswith("Kysyjälle kirjoittavat vain vertaistuen auttajat")
    # The asker's follow-up goes to the topic.
    await desk.sandbox.send(7001, "Kiitos! Entä jos opiskelija on työpaikalla?")
    follow = await desk.in_thread(1, 4)
    assert follow[-1]["text"] == "Kiitos! Entä jos opiskelija on työpaikalla?"
    assert len(desk.sandbox.bot_messages(7001)) == 3  # no new ticket, nothing for the note
    # /close: the asker is asked for a rating; the rating and a comment are stored.
    await desk.sandbox.send(winner, "/close", chat_id=GROUP, thread_id=thread)
    closing = await desk.remembered(7001, (await desk.to_user(7001, 4))[-1])
    assert "merkitsi kysymyksesi #1 vastatuksi" in closing["text"]
    await desk.sandbox.press(7001, 7001, closing["message_id"], "rate:1:4")
    prompt = await desk.remembered(7001, (await desk.to_user(7001, 5))[-1])
    assert "★★★★" in prompt["text"]
    rated = (await desk.in_thread(1, 5))[-1]  # the helper who answered hears the rating
    assert rated["text"].startswith("#1 sai arvion ★★★★ (4/5).")
    assert mentioned(rated) == [winner]
    await desk.sandbox.send(7001, "Selkeä vastaus, kiitos!", reply_to=prompt["message_id"])
    ticket = await desk.wait_ticket(1, lambda t: t.feedback is not None)
    assert (ticket.status, ticket.rating, ticket.feedback) == (
        TicketStatus.CLOSED, 4, "Selkeä vastaus, kiitos!")
    assert ticket.first_answer_at is not None and ticket.closed_at is not None
    # The feedback reaches the topic before the story goes on: the sender puts a relayed
    # message, which a person waits for, before a notice, so a later reopen could overtake it.
    assert (await desk.in_thread(1, 6))[-1]["text"] == "#1 palaute: Selkeä vastaus, kiitos!"
    # Within 7 days a reply reopens the same ticket, back to its helper.
    desk.clock.advance(days=3)
    await desk.sandbox.send(7001, "Vielä yksi asia HOKSista", reply_to=closing["message_id"])
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    assert ticket.claimed_by == winner
    # card, "held", "not a helper", follow-up, rating, feedback, reopened, message
    reopened = await desk.in_thread(1, 8)
    assert any("on taas auki" in m["text"] for m in reopened[-3:])
    assert reopened[-1]["text"] == "Vielä yksi asia HOKSista"
    # Closed again and answered after more than 7 days: a new ticket.
    await desk.sandbox.send(winner, "/close", chat_id=GROUP, thread_id=thread)
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    await desk.to_user(7001, 8)  # told it was reopened; asked for a rating again
    desk.clock.advance(days=8)
    before = len(desk.sandbox.bot_messages(7001))
    await desk.sandbox.send(7001, "Miten arvioin näytön?", reply_to=closing["message_id"])
    await desk.to_user(7001, before + 1)
    assert (await desk.ticket(2)).text == "Miten arvioin näytön?"
    assert ack["text"].startswith("Kiitos!")


async def test_a_deleted_topic_is_recreated_and_the_conversation_goes_on(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    old = await desk.thread(1)
    desk.sandbox.delete_topic(GROUP, old)
    await desk.sandbox.send(7001, "Oletko vielä siellä?")
    ticket = await desk.wait_ticket(1, lambda t: t.thread_id != old)
    messages = await desk.in_thread(1, 2)
    assert messages[0]["text"].startswith(RPL_CARD)  # a fresh card
    assert messages[-1]["text"] == "Oletko vielä siellä?"
    assert len(desk.sandbox.topics[GROUP]) == 1 and ticket.thread_id in desk.sandbox.topics[GROUP]


@pytest.mark.races
async def test_rapid_messages_open_one_topic(desk: Desk) -> None:
    ack = await desk.remembered(7001, await desk.ask(7001, RPL_FI))
    await asyncio.gather(*(desk.sandbox.send(7001, f"Lisätieto {n}", reply_to=ack["message_id"])
                           for n in range(5)))
    messages = await desk.in_thread(1, 6)
    assert len(desk.sandbox.topics[GROUP]) == 1
    assert sorted(m["text"] for m in messages[1:]) == [f"Lisätieto {n}" for n in range(5)]


async def test_without_a_forum_cards_go_privately_and_replies_are_relayed(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, forum=False) as desk:
        await desk.ask(7001, "Projektori ei näytä kuvaa luokassa", first_name="Eva")
        (card,) = await desk.to_user(JUKKA, 1)
        await desk.remembered(JUKKA, card)
        assert card["text"].startswith("#1 · ")
        assert "Projektori ei näytä kuvaa" in card["text"]
        assert desk.sandbox.bot_messages(GROUP) == [] and desk.sandbox.bot_messages(MARI) == []
        # The helper answers by replying to the card: that claims and relays.
        await desk.sandbox.send(JUKKA, "Kokeile HDMI-kaapelia ja lähteen valintaa.",
                                reply_to=card["message_id"])
        messages = await desk.to_user(7001, 3)
        assert messages[1]["text"].startswith("Jukka katsoo nyt kysymystäsi #1")
        assert messages[2]["text"] == "Kokeile HDMI-kaapelia ja lähteen valintaa."
        # The asker's follow-up reaches the holder, as a reply to the card.
        await desk.sandbox.send(7001, "Toimi, kiitos!")
        follow = (await desk.to_user(JUKKA, 2))[-1]
        assert follow["text"] == "Toimi, kiitos!"
        assert follow["reply_to_message"]["message_id"] == card["message_id"]
        ticket = await desk.ticket(1)
        assert (ticket.status, ticket.claimed_by) == (TicketStatus.CLAIMED, JUKKA)


async def test_reroute_moves_the_ticket_and_counts_as_a_misroute(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rr:1")
    await desk.sandbox.wait_until(lambda: "q:rrr:1:tvt" in str(card["reply_markup"]))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rrr:1:tvt")
    await desk.sandbox.wait_until(lambda: "q:rrt:1:devices" in str(card["reply_markup"]))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rrt:1:devices")
    ticket = await desk.wait_ticket(1, lambda t: t.role == "tvt")
    assert (ticket.topic, ticket.status) == ("devices", TicketStatus.OPEN)
    notice = (await desk.in_thread(1, 2))[-1]
    assert mentioned(notice) == [JUKKA]
    async with desk.services.db.session() as session:
        (log,) = await session.exec(select(TopicLog))
    assert (log.role, log.topic, log.rerouted_from_role, log.rerouted_from_topic) == (
        "tvt", "devices", "vertaisvalmentaja", "recognition")
    told = (await desk.to_user(7001, 2))[-1]
    assert "TVT-tukihenkilö" in told["text"]


async def test_another_topic_of_the_same_role_keeps_the_holder_and_tells_nobody(
        desk: Desk) -> None:
    """Only the topic changes: whoever holds it keeps it, the role is not called again, and
    the asker is not told their question 'went to' the role it was with already."""
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    told = len(await desk.to_user(7001, 2))  # the acknowledgement, then who looks at it
    in_topic = len(desk.sandbox.thread_messages(GROUP, await desk.thread(1)))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rr:1")
    await desk.sandbox.wait_until(
        lambda: "q:rrr:1:vertaisvalmentaja" in str(card["reply_markup"]))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rrr:1:vertaisvalmentaja")
    await desk.sandbox.wait_until(lambda: "q:rrt:1:assessment" in str(card["reply_markup"]))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rrt:1:assessment")
    ticket = await desk.wait_ticket(1, lambda t: t.topic == "assessment")
    assert (ticket.role, ticket.status, ticket.claimed_by) == (
        "vertaisvalmentaja", TicketStatus.CLAIMED, MARI)
    await until_settled(desk.services.db)
    assert "Aihe vaihdettu." in desk.answers()
    assert len(desk.sandbox.bot_messages(7001)) == told
    assert len(desk.sandbox.thread_messages(GROUP, await desk.thread(1))) == in_topic


async def test_an_unclaimed_ticket_is_reminded_then_escalated_across_a_restart(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with open_desk(database_url, knowledge, router, clock=clock) as desk:
        await desk.ask(7001, RPL_FI)
        await desk.card(1)
        clock.advance(minutes=59)
        await asyncio.sleep(0.4)
        assert len(await desk.in_thread(1, 1)) == 1  # not yet
        clock.advance(minutes=2)
        reminder = (await desk.in_thread(1, 2))[-1]
        assert "odottanut 60 työminuuttia" in reminder["text"]
        assert set(mentioned(reminder)) == {MARI, ANNA, PEKKA}
        sandbox = desk.sandbox
    # The bot restarts; the timers live in the database.
    clock.advance(minutes=60)
    async with open_desk(database_url, knowledge, router, sandbox=sandbox, clock=clock) as desk:
        escalation = (await desk.in_thread(1, 3))[-1]
        assert "Kaikki, auttakaa" in escalation["text"]
        assert set(mentioned(escalation)) == {MARI, JUKKA, ANNA, PEKKA}
        (admin,) = await desk.to_user(ADMIN, 1)
        assert admin["text"].startswith("#1 (")
        assert RPL_FI not in admin["text"]  # no question text outside the helpers
        clock.advance(days=2)
        await asyncio.sleep(0.5)
        assert len(sandbox.thread_messages(GROUP, await desk.thread(1))) == 3  # once each


async def test_a_claimed_ticket_without_a_reply_reminds_its_holder(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(ANNA, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    desk.clock.advance(days=1, minutes=1)  # one working day later (Tuesday 10:01)
    nudge = (await desk.in_thread(1, 2))[-1]
    assert "odottaa yhä vastausta" in nudge["text"]
    assert mentioned(nudge) == [ANNA]


async def test_only_helpers_may_press_the_buttons(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    desk.sandbox.user(7777, "Vieras")
    await desk.sandbox.press(7777, GROUP, card["message_id"], "q:claim:1")
    await desk.sandbox.press(7777, GROUP, card["message_id"], "q:close:1")
    await desk.sandbox.wait_until(lambda: len(desk.answers()) == 2)
    assert all("vain vertaistuen" in a for a in desk.answers())
    ticket = await desk.ticket(1)
    assert (ticket.status, ticket.claimed_by) == (TicketStatus.OPEN, None)
    # The asker cannot rate someone else's ticket either.
    await desk.sandbox.send(7777, "/queue")
    (refusal,) = await desk.to_user(7777, 1)
    assert "vain vertaistuen" in refusal["text"]


async def test_an_anonymous_ticket_reveals_no_identity(desk: Desk) -> None:
    await desk.sandbox.send(7001, "/anon", first_name="Salainen")
    await desk.sandbox.send(7001, "/team Liiketalous")
    await desk.to_user(7001, 2)
    await desk.sandbox.send(7001, "/team")  # what it is now, and how to change it
    told = (await desk.to_user(7001, 3))[-1]
    assert told["text"].startswith("Tiimisi: Liiketalous\n")
    await desk.ask(7001, RPL_FI, first_name="Salainen")
    card = await desk.card(1)
    assert "Kysyjä: nimetön" in card["text"]
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
    await desk.sandbox.wait_until(lambda: "Otettu" in card["text"])
    group_text = " ".join(m.get("text", "") for m in desk.sandbox.messages[GROUP])
    assert "Salainen" not in group_text and "Liiketalous" not in group_text
    assert "7001" not in str(desk.sandbox.messages[GROUP])


async def test_the_asker_blocked_the_bot_and_the_helper_is_told(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    await desk.to_user(7001, 2)
    desk.sandbox.blocked.add(7001)
    await desk.sandbox.send(MARI, "Tässä vastaus", chat_id=GROUP, thread_id=await desk.thread(1))
    notice = (await desk.in_thread(1, 2))[-1]
    assert "estänyt botin" in notice["text"]


async def test_a_phone_number_reaches_only_the_claiming_helper(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
    claimed = (await desk.to_user(7001, 2))[-1]
    await desk.sandbox.press(7001, 7001, claimed["message_id"], "phone:1")
    offer = (await desk.to_user(7001, 3))[-1]
    assert offer["client_markup"]["keyboard"][0][0]["request_contact"] is True
    await desk.sandbox.send(7001, contact="+358401234567")
    (private,) = await desk.to_user(MARI, 1)
    assert "+358401234567" in private["text"]
    notice = (await desk.in_thread(1, 2))[-1]
    assert "lähetettiin yksityisesti" in notice["text"]
    assert "+358401234567" not in str(desk.sandbox.messages[GROUP])
    assert desk.sandbox.bot_messages(PEKKA) == []


async def test_queue_mine_away_and_back(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    await desk.ask(7002, "Miten sovimme tiimin työnjaosta?")
    card = await desk.card(1)
    await desk.card(2)
    await desk.sandbox.press(ANNA, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    desk.clock.advance(minutes=30)
    await desk.sandbox.send(ANNA, "/queue")
    (listing,) = await desk.to_user(ANNA, 1)
    lines = listing["text"].splitlines()
    assert lines[1].startswith(RPL_CARD + " · 30 min · Anna")
    assert lines[2].startswith("#2 · ") and lines[2].endswith("odottaa")
    await desk.sandbox.send(ANNA, "/mine")
    mine = (await desk.to_user(ANNA, 2))[-1]
    assert [line[:3] for line in mine["text"].splitlines()[1:]] == ["#1 "]
    await desk.sandbox.send(MARI, "/away")
    await desk.to_user(MARI, 1)
    await desk.ask(7003, RPL_FI)
    card3 = await desk.card(3)
    assert MARI not in mentioned(card3) and ANNA in mentioned(card3)
    await desk.sandbox.send(MARI, "/back")
    await desk.to_user(MARI, 2)
    async with desk.services.db.session() as session:
        from bot.domain.models import Helper

        assert (await session.get(Helper, MARI)).available is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_outside_office_hours_the_acknowledgement_says_when(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    friday_evening = Clock(datetime(2026, 11, 27, 16, 30, tzinfo=UTC))  # 18:30 in Helsinki
    async with open_desk(database_url, knowledge, router, clock=friday_evening) as desk:
        ack = await desk.ask(7001, RPL_FI)
        assert "maanantaina 30.11. klo 8.00" in ack["text"]
        sv = await desk.ask(7002, HOKS_SV, language_code="sv")
        assert "måndag 30/11 kl. 08.00" in sv["text"]


def buttons(message: dict) -> list[str]:
    return [b["callback_data"] for row in message.get("reply_markup", {}).get(
        "inline_keyboard", []) for b in row]
