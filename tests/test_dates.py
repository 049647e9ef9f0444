"""Dates as organisers write them, read against a fixed moment: Monday 23 November 2026, 10:00
in Helsinki. Whatever is read is shown back for confirmation, so unclear text is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.dates import moment, place_and_link, understand

TZ = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "meant"), [
    ("1.12. klo 14", "2026-12-01 14:00"),
    ("ti 1.12. 14.00", "2026-12-01 14:00"),
    ("tiistaina 1.12. klo 14.00", "2026-12-01 14:00"),
    ("huomenna klo 9", "2026-11-24 09:00"),
    ("ylihuomenna klo 10", "2026-11-25 10:00"),
    ("ma klo 10", "2026-11-30 10:00"),  # today's 10:00 is not ahead: next Monday
    ("ke kello 8.30", "2026-11-25 08:30"),
    ("tisdag 1.12 kl. 14", "2026-12-01 14:00"),
    ("imorgon kl 9", "2026-11-24 09:00"),
    ("i morgon kl. 9", "2026-11-24 09:00"),
    ("i övermorgon kl 13.15", "2026-11-25 13:15"),
    ("fredag kl 12", "2026-11-27 12:00"),
    ("tomorrow at 9:30", "2026-11-24 09:30"),
    ("2026-12-01 14:00", "2026-12-01 14:00"),
    ("2026-12-01T14:00", "2026-12-01 14:00"),
    ("1.12.2026 14:00", "2026-12-01 14:00"),
    ("1.12.2026 klo 14.00", "2026-12-01 14:00"),
    ("1/12 kl 14", "2026-12-01 14:00"),
    ("1.1. klo 9", "2027-01-01 09:00"),  # the next 1 January
    ("klo 14", "2026-11-23 14:00"),
])
def test_natural_dates_are_understood(text: str, meant: str) -> None:
    found = understand(text, now=NOW, tz=TZ)
    assert found is not None and not found.weekday_mismatch
    at = moment(found, now=NOW, tz=TZ)
    assert at is not None and at.strftime("%Y-%m-%d %H:%M") == meant
    assert at.tzinfo == TZ


@pytest.mark.parametrize("text", ["ylihuomenna", "ke", "1.12.", "torsdag 3.12"])
def test_a_day_without_a_time_is_a_day_only(text: str) -> None:
    found = understand(text, now=NOW, tz=TZ)
    assert found is not None and found.day is not None and found.at is None
    assert moment(found, now=NOW, tz=TZ) is None  # the conversation asks for the time


def test_a_weekday_that_does_not_match_the_date_is_noticed() -> None:
    found = understand("ma 1.12. klo 14", now=NOW, tz=TZ)  # 1.12.2026 is a Tuesday
    assert found is not None and found.weekday_mismatch


@pytest.mark.parametrize("text", ["not a date", "joskus ensi viikolla", "31.2. klo 14",
                                  "1.12. klo 25", "ti 8.12. klo 14-15"])
def test_what_is_not_understood_is_refused(text: str) -> None:
    found = understand(text, now=NOW, tz=TZ)
    assert found is None or (found.day is None and found.at is None)


@pytest.mark.parametrize(("text", "place", "link"), [
    ("Auditorio B ja https://teams.example/x", "Auditorio B", "https://teams.example/x"),
    ("https://teams.example/x och Aulan", "Aulan", "https://teams.example/x"),
    ("Auditorio B, https://teams.example/x.", "Auditorio B", "https://teams.example/x"),
    ("Jakotila 2", "Jakotila 2", None),
    ("https://teams.example/x", None, "https://teams.example/x"),
])
def test_a_place_and_a_link_given_together_are_split(text: str, place: str | None,
                                                     link: str | None) -> None:
    assert place_and_link(text) == (place, link)
