"""Reports in Telegram: who may see them, folding outside the helpers' group, and the monthly
digest posted once under a controllable clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.domain.knowledge import Knowledge
from bot.domain.roster import HelperSpec, import_helpers
from bot.domain.routing import Router
from tests.test_bot_helpers import GROUP, MARI, ROSTER, Clock, Desk, open_desk
from tests.test_conversation import PNG_1x1
from tests.test_reports import seed

LEAD_ID = 1005
LEAD = HelperSpec(telegram_id=LEAD_ID, name="Riikka", roles=["lead"], languages=["fi"])


async def add_lead(desk: Desk) -> None:
    desk.sandbox.user(LEAD_ID, "Riikka")
    async with desk.services.db.session() as session:
        await import_helpers(session=session, specs=[*ROSTER, LEAD])


def photos(messages: list[dict]) -> list[dict]:
    return [m for m in messages if "photo" in m]


def charts_drawn_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's chart sent as a 1×1 picture: what the chart shows is checked in
    test_reports.py and in the first test below; where only its sending matters, drawing it
    (a quarter of a second of CPU each) is left out."""
    monkeypatch.setattr("bot.telegram.reports.as_png", lambda *_: PNG_1x1)


async def test_report_for_helpers_and_leads_but_not_for_other_staff(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, sla_check_seconds=60) as desk:
        await seed(desk.services)
        await add_lead(desk)
        # A staff member without a role is refused.
        await desk.sandbox.send(7001, "/report 2026-11")
        (refusal,) = await desk.to_user(7001, 1)
        assert "raportit ovat" in refusal["text"]
        # A lead, privately: folded figures, text and chart.
        await desk.sandbox.send(LEAD_ID, "/report 2026-11")
        text, chart = await desk.to_user(LEAD_ID, 2)
        assert text["text"].startswith("Raportti 2026-11")
        assert "1. HOKS" not in text["text"] and "muut: 7" in text["text"]
        assert chart["photo"][0]["file_size"] > 10_000
        # A helper in the helpers' group: every figure.
        await desk.sandbox.send(MARI, "/report 2026-11", chat_id=GROUP)
        await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(GROUP)) == 2)
        text = desk.sandbox.bot_messages(GROUP)[0]
        assert "1. HOKS: 5 (+3)" in text["text"]
        await desk.sandbox.send(MARI, "/report marraskuu")  # a month's name will do
        named, _chart = await desk.to_user(MARI, 2)
        assert named["text"].startswith("Raportti 2026-11")
        await desk.sandbox.send(MARI, "/report sometime")
        hint = (await desk.to_user(MARI, 3))[-1]
        assert "YYYY-MM" in hint["text"]


async def test_the_monthly_digest_is_posted_once_across_a_restart(
    database_url: str, knowledge: Knowledge, router: Router, monkeypatch: pytest.MonkeyPatch,
) -> None:
    charts_drawn_small(monkeypatch)
    clock = Clock(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))  # 1 December, 08:00 in Helsinki
    async with open_desk(database_url, knowledge, router, clock=clock, digest_day=1,
                         digest_hour=9) as desk:
        await seed(desk.services)
        await add_lead(desk)
        await asyncio.sleep(0.4)
        assert desk.sandbox.bot_messages(GROUP) == []  # not before 09:00
        clock.advance(hours=1)
        await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(GROUP)) == 2)
        summary = desk.sandbox.bot_messages(GROUP)[0]["text"]
        assert summary.startswith("Raportti 2026-11") and "HOKS: 5" in summary
        text, _ = await desk.to_user(LEAD_ID, 2)
        assert "HOKS: 5" not in text["text"]  # folded for the lead
        sandbox = desk.sandbox
    clock.advance(days=2)
    async with open_desk(database_url, knowledge, router, clock=clock, digest_day=1,
                         digest_hour=9, sandbox=sandbox):
        await asyncio.sleep(0.5)
    assert len(sandbox.bot_messages(GROUP)) == 2 and len(photos(sandbox.bot_messages(GROUP))) == 1
    assert len(sandbox.bot_messages(LEAD_ID)) == 2


async def test_report_answers_absurd_months_kindly_and_stays_out_of_other_groups(
    database_url: str, knowledge: Knowledge, router: Router, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/report 0001-01 gets the hint rather than an error; in a group that is not the helpers'
    one, /report posts nothing — not the figures, not a refusal."""
    charts_drawn_small(monkeypatch)
    elsewhere = -1007777
    async with open_desk(database_url, knowledge, router, sla_check_seconds=60) as desk:
        await seed(desk.services)
        await add_lead(desk)
        desk.sandbox.group(elsewhere, "Kahvihuone")
        for month in ("0001-01", "9999-12", "0000-00"):
            before = len(desk.sandbox.bot_messages(LEAD_ID))
            await desk.sandbox.send(LEAD_ID, f"/report {month}")
            hint = (await desk.to_user(LEAD_ID, before + 1))[-1]
            assert "YYYY-MM" in hint["text"]
        await desk.sandbox.send(MARI, "/report 2026-11", chat_id=elsewhere)  # a helper
        await desk.sandbox.send(7001, "/report", chat_id=elsewhere)  # anyone else
        await desk.sandbox.send(MARI, "/report 2026-11")  # privately it still works
        await desk.to_user(MARI, 2)
        await asyncio.sleep(0.3)
        assert desk.sandbox.bot_messages(elsewhere) == []
        assert not any(m == "sendMessage" and p.get("chat_id") in (elsewhere, str(elsewhere))
                       for m, p in desk.sandbox.calls)


async def test_a_lead_sees_only_events_that_are_over_as_held(
    database_url: str, knowledge: Knowledge, router: Router, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Monday 23 November: yesterday's café was held, tomorrow's is not yet."""
    from datetime import timedelta

    from bot.domain.models import Event

    charts_drawn_small(monkeypatch)
    clock = Clock()
    async with open_desk(database_url, knowledge, router, clock=clock,
                         sla_check_seconds=60) as desk:
        await seed(desk.services)
        await add_lead(desk)
        async with desk.services.db.session() as session:
            for title, days in (("Eilinen kahvila", -1), ("Huominen kahvila", 1)):
                start = clock() + timedelta(days=days)
                session.add(Event(kind="cafe", title=title, starts_at=start,
                                  ends_at=start + timedelta(hours=1), channels=[-1],
                                  reminders=[]))
            await session.commit()
        await desk.sandbox.send(LEAD_ID, "/report")
        text, _ = await desk.to_user(LEAD_ID, 2)
        assert "Eilinen kahvila: 0 tulossa" in text["text"]
        assert "Huominen" not in text["text"]
