"""Organisers on the command line: add, list, cancel and import events (YAML and .ics), and the
calendar the web server serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.calendar import calendar
from bot.cli import main
from bot.domain.models import Event, Outbox
from bot.services import Services

YAML = """
events:
  - kind: cafe
    title: Pedagoginen kahvila
    start: "2027-01-12 14:00"
    place: Kahvio
    rrule: "FREQ=MONTHLY;BYDAY=2TU;COUNT=3"
  - kind: theme_day
    title: Arviointipäivä
    start: "2027-02-03 09:00"
    minutes: 360
    place: Auditorio
    link: https://teams.example/day
    capacity: 120
"""


@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("PEERDESK_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("PEERDESK_ANNOUNCE_CHANNELS", "-100,-200")
    return services


async def events(services: Services) -> list[Event]:
    async with services.db.session() as session:
        return list(await session.exec(select(Event).order_by(Event.starts_at)))


def run(*argv: str) -> int:
    import asyncio

    return asyncio.get_running_loop().run_in_executor(None, main, list(argv))  # type: ignore[return-value]


async def test_import_yaml_then_list_and_cancel(cli_env: Services, tmp_path: Path, capsys) -> None:
    path = tmp_path / "syksy.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert await run("events", "import", str(path)) == 0
    stored = await events(cli_env)
    cafes = [e for e in stored if e.kind == "cafe"]
    (day,) = [e for e in stored if e.kind == "theme_day"]
    assert [e.title for e in cafes] == ["Pedagoginen kahvila"] * 3
    assert [e.starts_at.astimezone(cli_env.settings.tz).day for e in cafes] == [12, 9, 9]
    assert cafes[0].series_id == cafes[2].series_id == cafes[0].id
    assert day.mode == "hybrid" and day.capacity == 120
    async with cli_env.db.session() as session:
        keys = set(await session.exec(select(Outbox.key)))
    assert {f"announce:{cafes[0].id}:-100", f"announce:{cafes[0].id}:-200"} <= keys
    assert await run("events", "cancel", str(day.id)) == 0
    assert [e.cancelled for e in await events(cli_env) if e.id == day.id] == [True]
    assert await run("events", "list") == 0
    assert "Arviointipäivä" not in capsys.readouterr().out.split("cancelled")[-1]


async def test_a_bad_file_publishes_nothing_and_says_where(cli_env: Services, tmp_path: Path,
                                                           capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(YAML + "  - kind: webinar\n    title: Ilman paikkaa\n"
                    '    start: "2027-03-01 10:00"\n', encoding="utf-8")
    assert await run("events", "import", str(path)) == 2
    assert "event 3: event: give a place, a link, or both" in capsys.readouterr().err
    assert await events(cli_env) == []


async def test_import_ics_round_trip(cli_env: Services, tmp_path: Path) -> None:
    path = tmp_path / "kalenteri.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert await run("events", "import", str(path)) == 0
    exported = calendar(await events(cli_env))
    async with cli_env.db.session() as session:
        for event in await session.exec(select(Event)):
            await session.delete(event)
        await session.commit()
    ics = tmp_path / "kalenteri.ics"
    ics.write_bytes(exported)
    assert await run("events", "import", str(ics), "--kind", "cafe") == 0
    again = await events(cli_env)
    assert {(e.title, e.starts_at.isoformat(), e.place, e.link) for e in again} == {
        ("Pedagoginen kahvila", "2027-01-12T12:00:00+00:00", "Kahvio", None),
        ("Pedagoginen kahvila", "2027-02-09T12:00:00+00:00", "Kahvio", None),
        ("Pedagoginen kahvila", "2027-03-09T12:00:00+00:00", "Kahvio", None),
        ("Arviointipäivä", "2027-02-03T07:00:00+00:00", "Auditorio", "https://teams.example/day"),
    }


async def test_the_web_calendar_lists_upcoming_events(cli_env: Services, tmp_path: Path) -> None:
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer

    from bot.web import init_app

    path = tmp_path / "syksy.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert await run("events", "import", str(path)) == 0
    async with TestServer(init_app(cli_env)) as server, ClientSession() as client:
        response = await client.get(server.make_url("/calendar.ics"))
        body = await response.text()
    assert response.headers["Content-Type"].startswith("text/calendar")
    assert body.count("BEGIN:VEVENT") == 4 and "SUMMARY:Arviointipäivä" in body


async def test_materials_after_an_event_and_a_registration_deadline(
    cli_env: Services, capsys
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.domain.models import Attendance, Rsvp

    held = datetime.now(UTC) - timedelta(days=1)
    async with cli_env.db.session() as session:
        event = Event(kind="cafe", title="Kahvila", starts_at=held,
                      ends_at=held + timedelta(hours=1), place="Kahvio", channels=[-100],
                      reminders=[])
        session.add(event)
        await session.flush()
        session.add_all([Rsvp(event_id=event.id, user_id=u, answer=a, waiting=w)
                         for u, a, w in ((1, "yes", False), (2, "plus", False), (3, "no", False),
                                         (4, "yes", True))])
        session.add(Attendance(event_id=event.id, user_id=5))  # came without answering
        await session.commit()
        event_id = event.id
    assert await run("events", "materials", str(event_id), "--link",
                     "https://video.example/tallenne") == 0
    assert "go to 3 people" in capsys.readouterr().out
    async with cli_env.db.session() as session:
        rows = list(await session.exec(select(Outbox).where(Outbox.kind == "materials")))
    assert sorted(r.chat_id for r in rows) == [1, 2, 5]  # not who could not come or waited
    assert await run("events", "materials", "999", "--link", "https://x.example") == 2
    assert await run("events", "add", "--kind", "webinar", "--title", "HOKS", "--start",
                     "2027-01-12 14:00", "--link", "https://teams.example/hoks",
                     "--registration-closes", "2027-01-10 12:00") == 0
    (added,) = [e for e in await events(cli_env) if e.title == "HOKS"]
    assert added.registration_closes_at == datetime(2027, 1, 10, 10, 0, tzinfo=UTC)
    async with cli_env.db.session() as session:
        keys = set(await session.exec(select(Outbox.key).where(Outbox.event_id == added.id)))
    assert f"closes:{added.id}:v1:-100" in keys
