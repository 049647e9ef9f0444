"""One way to send, designed around Telegram's limits: nobody waits behind a busy group, what a
person is waiting for goes first, and a burst of new tickets is listed for the helpers at once
instead of one topic at a time at the group's 20 messages a minute.

These run with the sandbox enforcing Telegram's flood limits (30 a second, 20 a minute per
group), at a smaller scale than bench/burst.py."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from sqlmodel import col, select

from bot.domain.events import schedule
from bot.domain.knowledge import Knowledge
from bot.domain.models import Outbox, OutboxKind, OutboxStatus, Ticket, TicketStatus
from bot.domain.roster import import_helpers
from bot.domain.routing import Router
from bot.sandbox.server import Sandbox
from tests.test_bot_helpers import GROUP, MARI, ROSTER, RPL_FI, open_desk

QUESTIONS = [
    "Wilma ei aukea, salasana ei kelpaa",
    "Miten päivitän HOKSin kun opiskelijan suunnitelma muuttuu?",
    "Tiimipalaverin asialista: miten sovitaan työnjaosta?",
    "Projektori ei näytä kuvaa luokassa 204",
    "Miten arvioin näytön, kun opiskelija on työpaikalla?",
]


def _sandbox(users: range) -> Sandbox:
    sandbox = Sandbox(flood_limits=True)
    sandbox.group(GROUP, "Vertaistuki", forum=True)
    for spec in ROSTER:
        sandbox.user(spec.telegram_id, spec.name, spec.languages[0])
    for user in users:
        sandbox.user(user, f"Opettaja {user}")
    return sandbox


def _visible(sandbox: Sandbox, *, in_topics: bool | None = None) -> list[int]:
    """Ticket numbers the helpers can see in their group: cards and listings, in the General
    topic (`in_topics=False`), in the tickets' own topics (True) or both (None)."""
    numbers: list[int] = []
    for message in sandbox.messages.get(GROUP, []):
        if not message.get("from", {}).get("is_bot"):
            continue
        if in_topics is not None and in_topics != bool(message.get("message_thread_id")):
            continue
        text = message.get("text", "")
        if message.get("reply_markup"):  # a card or a listing: each with Claim buttons
            numbers += [int(n) for n in re.findall(r"q:claim:(\d+)", str(message["reply_markup"]))]
        elif text.startswith("#") and "\n" in text:
            numbers.append(int(text[1:].split(" ", 1)[0]))
    return numbers


@pytest.mark.races
async def test_a_burst_is_acknowledged_at_once_and_every_ticket_soon_visible(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    askers = range(7100, 7120)
    sandbox = _sandbox(askers)
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         sla_check_seconds=60) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        began = time.monotonic()
        await asyncio.gather(*(sandbox.send(user, QUESTIONS[n % len(QUESTIONS)] + f" ({n})")
                               for n, user in enumerate(askers)))
        await sandbox.wait_until(lambda: all(sandbox.bot_messages(u) for u in askers), 10)
        acknowledged = time.monotonic() - began
        # 20 acknowledgements, none waiting for the group: were they waiting for its 20 messages
        # a minute (a topic and a card each), the last would come two minutes later.
        assert acknowledged < 15, acknowledged
        # Someone new, and the first asker's follow-up, are answered at once too.
        started = time.monotonic()
        await sandbox.send(7200, "/start", first_name="Uusi")
        await sandbox.wait_for(7200, 1, timeout=10)
        assert time.monotonic() - started < 5
        async with desk.services.db.session() as session:
            tickets = set(await session.exec(select(Ticket.id).where(
                col(Ticket.status) == TicketStatus.OPEN)))
        # Every waiting ticket is visible and claimable in the group soon, none twice.
        await sandbox.wait_until(lambda: tickets <= set(_visible(sandbox)), 30)
        # A listed ticket's own topic opens later, after every new ticket (Priority.TOPIC): in a
        # listing once at most, in a topic of its own once at most.
        for shown in (_visible(sandbox, in_topics=False), _visible(sandbox, in_topics=True)):
            assert len(shown) == len(set(shown)), shown
        assert sandbox.refused_for_flood == 0
        # A listed ticket gets its own topic when claimed, before the others.
        listing = next(m for m in sandbox.messages[GROUP] if "q:claim:" in
                       str(m.get("reply_markup")) and len(m["reply_markup"]["inline_keyboard"]) > 1)
        number = int(re.findall(r"q:claim:(\d+)", str(listing["reply_markup"]))[-1])
        # The listing is never edited: it shows no name and no words of a question (an asker
        # may go anonymous or withdraw it afterwards), only number, topic and language.
        for line in listing["text"].split("\n\n", 1)[1].splitlines():
            assert re.fullmatch(r"#\d+ · [^:]+ · (fi|sv|en)", line), line
        await sandbox.press(MARI, GROUP, listing["message_id"], f"q:claim:{number}")
        ticket = await desk.wait_ticket(number, lambda t: t.thread_id is not None)
        assert ticket.status == TicketStatus.CLAIMED and ticket.claimed_by == MARI


async def test_a_relay_overtakes_a_queued_announcement(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    channels = range(8000, 8090)
    sandbox = _sandbox(channels)
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         sla_check_seconds=60) as desk:
        async with desk.services.db.session() as session:
            await import_helpers(session=session, specs=ROSTER)
        await desk.ask(7001, RPL_FI)
        card = await desk.card(1)
        await sandbox.press(MARI, GROUP, card["message_id"], "q:claim:1")
        await desk.to_user(7001, 2)
        # An announcement to 90 chats takes three seconds at 30 messages a second: once it is
        # under way, the answer below must not wait for the rest of it (it may take 3 s).
        async with desk.services.db.session() as session:
            await schedule.publish_bulletin(session=session, text="Pedagoginen kahvila tänään",
                                            link=None, channels=list(channels),
                                            send_at=desk.clock(), now=desk.clock())
        desk.services.wake_sender()
        await sandbox.wait_until(lambda: sum(bool(sandbox.bot_messages(c))
                                             for c in channels) >= 5)
        started = time.monotonic()
        await sandbox.send(MARI, "Vastaus tulee tässä", chat_id=GROUP,
                           thread_id=await desk.thread(1))
        await desk.to_user(7001, 3)
        announced = sum(bool(sandbox.bot_messages(c)) for c in channels)
        assert announced < len(channels)  # the answer went out in the middle of it
        assert time.monotonic() - started < 3
        await sandbox.wait_until(lambda: all(sandbox.bot_messages(c) for c in channels), 20)

        async def statuses() -> set[str]:
            async with desk.services.db.session() as session:
                return set(await session.exec(select(Outbox.status).where(
                    col(Outbox.kind) == OutboxKind.BULLETIN)))

        for _ in range(100):  # each is marked sent just after it went out
            if await statuses() == {OutboxStatus.SENT}:
                break
            await asyncio.sleep(0.05)
        assert await statuses() == {OutboxStatus.SENT}
        assert sandbox.refused_for_flood == 0
