"""The school's year in chat: on a public holiday or a break day the acknowledgement names the
first morning helpers are back, reminders wait for it, and /hours tells when helpers are around.
Told through the sandbox and PTB's real HTTP client, with a clock the tests move."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from aiohttp import web

from bot.domain import schoolyear
from bot.domain.knowledge import Knowledge
from bot.domain.routing import Router
from bot.storage import Database
from tests.test_bot_helpers import HOKS_SV, RPL_FI, Clock, Desk, open_desk
from tests.test_officehours import HELSINKI
from tests.test_schoolyear import ICS

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BREAKS = """
closed_days:
  - name: Joululoma
    from: 2026-12-21
    to: 2027-01-06
"""


def helsinki(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


async def import_breaks(database_url: str) -> None:
    """What `peerdesk calendar import` does, before the bot starts."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            await schoolyear.import_calendar(session=session, source="lomat.yaml",
                                             data=BREAKS.encode())
    finally:
        await db.dispose()


async def calendar_loaded(desk: Desk, closed: date) -> None:
    """The bot loads the calendar as it starts (a job), before anyone could ask."""
    for _ in range(200):
        if not desk.services.settings.hours.is_open_on(closed):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the calendar was never loaded")


async def test_on_christmas_eve_the_answer_is_promised_for_monday_after_christmas(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    christmas_eve = Clock(helsinki(2026, 12, 24, 10))  # a Thursday, a public holiday
    async with open_desk(database_url, knowledge, router, clock=christmas_eve) as desk:
        ack = await desk.ask(7001, RPL_FI)
        assert "vastausta voi odottaa maanantaina 28.12. klo 8.00 alkaen" in ack["text"]
        sv = await desk.ask(7002, HOKS_SV, language_code="sv")
        assert "måndag 28/12 kl. 08.00" in sv["text"]
        ticket = await desk.wait_ticket(1, lambda t: t.sla_due_at is not None)
        assert ticket.sla_due_at == helsinki(2026, 12, 28, 9)  # 60 working minutes


async def test_on_a_break_day_the_answer_is_promised_after_the_break_and_reminders_wait(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    await import_breaks(database_url)
    clock = Clock(helsinki(2026, 12, 21, 10))  # Monday, the first day of the Christmas break
    async with open_desk(database_url, knowledge, router, clock=clock) as desk:
        await calendar_loaded(desk, date(2026, 12, 21))
        ack = await desk.ask(7001, RPL_FI)
        assert "vastausta voi odottaa torstaina 7.1. klo 8.00 alkaen" in ack["text"]
        await desk.card(1)
        ticket = await desk.wait_ticket(1, lambda t: t.sla_due_at is not None)
        assert ticket.sla_due_at == helsinki(2027, 1, 7, 9)
        clock.now = helsinki(2027, 1, 5, 12)  # well into the break: nobody is reminded
        await asyncio.sleep(0.4)
        assert len(await desk.in_thread(1, 1)) == 1
        clock.now = helsinki(2027, 1, 7, 9, 1)  # the first working hour after it
        reminder = (await desk.in_thread(1, 2))[-1]
        assert "odottanut 60 työminuuttia" in reminder["text"]


async def test_hours_tells_the_week_and_the_next_break_in_the_askers_language(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    await import_breaks(database_url)
    clock = Clock(helsinki(2026, 12, 14, 10))  # Monday of the last week before the break
    async with open_desk(database_url, knowledge, router, clock=clock) as desk:
        await calendar_loaded(desk, date(2026, 12, 21))
        fi = await desk.ask(7001, "/hours")
        assert fi["text"].startswith("Auttajat ovat paikalla ma–pe klo 8.00–16.00.")
        assert "Tällä viikolla:\n• ma 14.12. klo 8.00–16.00\n" in fi["text"]
        assert ("Seuraava tauko: Joululoma 21.12.–6.1. – kysymykset tallentuvat silloinkin, "
                "ja vastauksia saa 7.1. alkaen.") in fi["text"]
        sv = await desk.ask(7002, "/hours", language_code="sv")
        assert "Nästa uppehåll: Joululoma 21/12–6/1." in sv["text"]
        clock.now = helsinki(2026, 12, 28, 10)  # during the break, in English
        en = await desk.ask(7003, "/hours", language_code="en")
        assert "• Thu 31 Dec: day off (Joululoma)" in en["text"]
        assert ("A break is on now: Joululoma 21 Dec – 6 Jan. Questions are saved, and "
                "answers come from 7 Jan on.") in en["text"]
        menu = desk.sandbox.commands["fi"]
        assert "hours" in [c["command"] for c in menu]


async def test_the_calendar_feed_is_read_when_the_bot_starts(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=ICS, content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/lukuvuosi.ics", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/lukuvuosi.ics"
    try:
        async with open_desk(database_url, knowledge, router, calendar_url=url) as desk:
            await calendar_loaded(desk, date(2026, 10, 19))  # Syysloma, from the feed
    finally:
        await runner.cleanup()

