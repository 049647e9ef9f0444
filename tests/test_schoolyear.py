"""The school's year: closed days read from .ics and YAML, stored per source on both databases,
imported from the command line or a feed, and the next break as /hours tells it."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.domain import schoolyear
from bot.domain.officehours import OfficeHours
from bot.domain.schoolyear import CalendarError, Closure, read_calendar
from bot.services import Services
from bot.telegram import hours
from tests.test_officehours import HELSINKI

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Koulu//Lukuvuosi//FI
BEGIN:VEVENT
UID:syysloma-2026@koulu
DTSTART;VALUE=DATE:20261019
DTEND;VALUE=DATE:20261024
SUMMARY:Syysloma
END:VEVENT
BEGIN:VEVENT
UID:joululoma-2026@koulu
DTSTART;VALUE=DATE:20261221
DTEND;VALUE=DATE:20270107
SUMMARY:Joululoma
END:VEVENT
BEGIN:VEVENT
UID:koulutus-2027@koulu
DTSTART;VALUE=DATE:20270104
SUMMARY:Henkilöstön koulutuspäivä
END:VEVENT
BEGIN:VEVENT
UID:vanhempainilta@koulu
DTSTART:20261110T170000Z
DTEND:20261110T190000Z
SUMMARY:Vanhempainilta
END:VEVENT
BEGIN:VEVENT
UID:peruttu@koulu
DTSTART;VALUE=DATE:20261116
STATUS:CANCELLED
SUMMARY:Peruttu koulutuspäivä
END:VEVENT
END:VCALENDAR
""".encode()

EXAMPLE = PROJECT_ROOT / "data" / "closed_days.example.yaml"


def test_an_ics_gives_its_all_day_entries_with_the_end_day_excluded() -> None:
    closures, skipped = read_calendar(ICS, "lukuvuosi.ics")
    assert closures == [
        Closure("Syysloma", date(2026, 10, 19), date(2026, 10, 23)),
        Closure("Joululoma", date(2026, 12, 21), date(2027, 1, 6)),
        Closure("Henkilöstön koulutuspäivä", date(2027, 1, 4), date(2027, 1, 4)),
    ]
    assert skipped == 1  # the parents' evening is not a closed day


def test_the_example_yaml_lists_the_breaks_and_a_training_day() -> None:
    closures, _ = read_calendar(EXAMPLE.read_bytes(), EXAMPLE.name)
    assert Closure("Joululoma", date(2026, 12, 21), date(2027, 1, 6)) in closures
    assert Closure("Henkilöstön koulutuspäivä", date(2026, 8, 10), date(2026, 8, 10)) in closures


@pytest.mark.parametrize(("name", "content", "message"), [
    ("x.ics", b"BEGIN:VCALENDAR\nthis is not\n", "not an iCalendar file"),
    ("x.ics", b"closed_days: []\n", "not an iCalendar file (no BEGIN:VCALENDAR)"),
    ("x.yaml", b"closed_days:\n  - name: [unclosed\n", "not valid YAML on line"),
    ("x.yaml", b"breaks:\n  - date: 2026-12-24\n", "expected a list under 'closed_days:'"),
    ("x.yaml", b"closed_days:\n  - name: Joululoma\n    from: 2026-12-21\n",
     "closed day 1: give 'date', or 'from' and 'to'"),
    ("x.yaml", b"closed_days:\n  - name: Joululoma\n    from: 2027-01-06\n    to: 2026-12-21\n",
     "closed day 1: the last day 2026-12-21 is before the first 2027-01-06"),
    ("x.yaml", b"closed_days:\n  - date: 24.12.2026\n", "closed day 1: '24.12.2026' is not a date"),
    ("x.yaml", b"closed_days:\n  - from: 2026-01-01\n    to: 2026-12-31\n",
     "closed day 1: 365 days is longer than any break"),
])
def test_a_bad_file_is_one_clear_line(name: str, content: bytes, message: str) -> None:
    with pytest.raises(CalendarError) as caught:
        read_calendar(content, name)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_next_break_runs_over_weekends_and_holidays_to_the_day_answers_come() -> None:
    closures = read_calendar(ICS, "x.ics")[0]
    closed = schoolyear.holiday_dates(date(2026, 12, 1)) | {
        d for c in closures for d in c.days()}
    office = OfficeHours.parse("mon-fri 08:00-16:00", HELSINKI).closing(closed)
    names = {d: c.name for c in closures for d in c.days()}
    found = schoolyear.next_break(office, date(2026, 12, 14), names)
    assert found == schoolyear.Break("Joululoma", date(2026, 12, 21), date(2027, 1, 6),
                                     reopens=date(2027, 1, 7))
    assert schoolyear.next_break(office, date(2026, 12, 30), names) == found  # going on
    autumn = schoolyear.next_break(office, date(2026, 10, 17), names)  # a Saturday before
    assert (autumn.first, autumn.last, autumn.reopens) == (
        date(2026, 10, 19), date(2026, 10, 23), date(2026, 10, 26))


# Stored, on SQLite and PostgreSQL, through the command line.

@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("PEERDESK_DATABASE_URL", services.settings.database_url)
    return services


async def run(*argv: str) -> int:
    return await asyncio.get_running_loop().run_in_executor(None, main, list(argv))


async def stored(services: Services) -> list[tuple[str, date, date, str]]:
    async with services.db.session() as session:
        return [(r.name, r.first, r.last, r.source)
                for r in await schoolyear.stored_closures(session=session)]


async def test_importing_again_replaces_that_sources_days_and_nothing_else(
    cli_env: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    ics = tmp_path / "lukuvuosi.ics"
    ics.write_bytes(ICS)
    assert await run("calendar", "import", str(ics)) == 0
    assert await run("calendar", "import", str(EXAMPLE)) == 0
    out = capsys.readouterr().out
    assert "3 closed periods from lukuvuosi.ics; 1 timed entries skipped" in out
    assert "5 closed periods from closed_days.example.yaml" in out
    assert await run("calendar", "import", str(ics)) == 0
    assert "unchanged" in capsys.readouterr().out
    first = await stored(cli_env)
    assert len(first) == 8
    ics.write_bytes(ICS.replace(b"DTEND;VALUE=DATE:20261024", b"DTEND;VALUE=DATE:20261023"))
    assert await run("calendar", "import", str(ics)) == 0
    after = await stored(cli_env)
    assert ("Syysloma", date(2026, 10, 19), date(2026, 10, 22), "lukuvuosi.ics") in after
    assert ("Syysloma", date(2026, 10, 19), date(2026, 10, 23), "lukuvuosi.ics") not in after
    assert [r for r in after if r[3] != "lukuvuosi.ics"] == [
        r for r in first if r[3] != "lukuvuosi.ics"]
    async with cli_env.db.session() as session:
        closed = await schoolyear.closed_dates(session=session, today=date(2026, 12, 1))
    assert {date(2026, 12, 24), date(2026, 12, 28), date(2027, 1, 4), date(2026, 8, 10)} <= closed


async def test_a_bad_calendar_on_the_command_line_is_one_line_and_stores_nothing(
    cli_env: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "lomat.yaml"
    bad.write_text("closed_days:\n  - name: Joululoma\n    from: 2026-12-21\n", encoding="utf-8")
    assert await run("calendar", "import", str(bad)) == 2
    assert await run("calendar", "import", str(tmp_path / "missing.ics")) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"peerdesk: {bad}: closed day 1: give 'date', or 'from' and 'to'",
        f"peerdesk: {tmp_path / 'missing.ics'}: No such file or directory",
    ]
    assert await stored(cli_env) == []


async def test_the_list_shows_the_schools_days_and_the_public_holidays(
    cli_env: Services, capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run("calendar", "import", str(EXAMPLE)) == 0
    capsys.readouterr()
    assert await run("calendar", "list") == 0
    out = capsys.readouterr().out
    assert "(public holiday)" in out
    assert "closed_days.example.yaml" in out or date.today() > date(2027, 8, 6)


# The feed: read from an address (a local server here), stored and used at once.

async def test_the_feed_is_read_stored_and_used_and_a_failure_keeps_the_last_days(
    services: Services, caplog: pytest.LogCaptureFixture,
) -> None:
    status = {"code": 200}

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=ICS, status=status["code"], content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/lukuvuosi.ics", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/lukuvuosi.ics"
    services.settings = services.settings.model_copy(update={"calendar_url": url})
    context = SimpleNamespace(services=services)
    try:
        assert services.settings.hours.is_open_on(date(2026, 12, 21))
        await hours.fetch_job(context)  # type: ignore[arg-type]
        assert not services.settings.hours.is_open_on(date(2026, 12, 21))
        assert not services.settings.hours.is_open_on(date(2026, 12, 24))  # holidays stay
        assert len(await stored(services)) == 3
        status["code"] = 404
        await hours.fetch_job(context)  # type: ignore[arg-type]
        assert "the calendar address answered 404" in caplog.text
        assert str(port) not in caplog.text  # the address may hold a secret
        assert len(await stored(services)) == 3
        assert not services.settings.hours.is_open_on(date(2026, 12, 21))
    finally:
        await runner.cleanup()


def test_the_public_holidays_are_the_holidays_librarys_in_three_languages() -> None:
    """Read from the library in a child process (it imports every country it knows to find
    Finland's: 11 MB the bot does not hold), and the same as the library's, names included."""
    import holidays

    for year in (2025, 2026, 2030, 2031):
        for language, code in (("fi", "fi"), ("sv", "sv_FI"), ("en", "en_US")):
            expected = dict(holidays.country_holidays("FI", years=year, language=code))
            assert schoolyear.public_holidays(year, language) == expected, (year, language)


def test_without_the_holidays_child_the_office_hours_go_on(monkeypatch, caplog) -> None:
    monkeypatch.setattr(schoolyear.sys, "executable", "/nonexistent/python")
    schoolyear._decade.cache_clear()
    try:
        assert schoolyear._decade(299) == {"fi": {}}
        assert "could not be read" in caplog.text
    finally:
        schoolyear._decade.cache_clear()
