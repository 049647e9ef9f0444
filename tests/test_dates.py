"""Dates as organisers write them, read against a fixed moment: Monday 23 November 2026, 10:00
in Helsinki. Whatever is read is shown back for confirmation, so unclear text is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.dates import length, moment, place_and_link, say_length, understand

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


@pytest.mark.parametrize(("text", "meant"), [
    # Monday 23.11.: "ensi tiistaina" is tomorrow, as organisers mean it; "ensi viikon" the week
    # after this one.
    ("ensi tiistaina klo 14", "2026-11-24 14:00"),
    ("ensi maanantaina klo 9", "2026-11-30 09:00"),  # never today
    ("ensi viikon tiistaina klo 9", "2026-12-01 09:00"),
    ("tiistaina 8.12. klo 14", "2026-12-08 14:00"),
    ("nästa tisdag kl 14", "2026-11-24 14:00"),
    ("på tisdag kl. 14", "2026-11-24 14:00"),
    ("nästa veckas tisdag kl 10", "2026-12-01 10:00"),
    ("tisdagen den 8.12 kl 14", "2026-12-08 14:00"),
    ("next Tuesday at 2 pm", "2026-11-24 14:00"),
    ("next tuesday 2:30pm", "2026-11-24 14:30"),
    ("next week Tuesday at 10", "2026-12-01 10:00"),
])
def test_days_in_words_as_organisers_say_them(text: str, meant: str) -> None:
    found = understand(text, now=NOW, tz=TZ)
    assert found is not None and not found.weekday_mismatch
    at = moment(found, now=NOW, tz=TZ)
    assert at is not None and at.strftime("%Y-%m-%d %H:%M") == meant


def test_a_day_in_words_without_a_time_is_a_day_only() -> None:
    found = understand("tiistaina 8.12.", now=NOW, tz=TZ)
    assert found is not None and str(found.day) == "2026-12-08" and found.at is None
    assert understand("ensi viikolla", now=NOW, tz=TZ) is None  # no day in it
    assert understand("13pm", now=NOW, tz=TZ) is None


@pytest.mark.parametrize(("text", "minutes"), [
    ("90", 90), ("90 min", 90), ("90 minuuttia", 90), ("90 minuter", 90), ("90 minutes", 90),
    ("1,5 h", 90), ("1.5h", 90), ("1h30", 90), ("1:30", 90), ("1 t 15 min", 75), ("2", 120),
    ("tunti", 60), ("tunnin", 60), ("puolitoista tuntia", 90), ("kaksi ja puoli tuntia", 150),
    ("puoli tuntia", 30), ("tunti ja vartti", 75), ("kolme varttia", 45), ("n. 2 h", 120),
    ("en timme", 60), ("en och en halv timme", 90), ("halvannan timme", 90),
    ("1,5 timmar", 90), ("en halvtimme", 30), ("tre kvart", 45),
    ("an hour", 60), ("an hour and a half", 90), ("one and a half hours", 90),
    ("half an hour", 30), ("two hours", 120), ("1½ h", 90),
])
def test_lengths_in_words_and_numbers(text: str, minutes: int) -> None:
    found = length(text)
    assert found is not None and found.total_seconds() == minutes * 60


@pytest.mark.parametrize("text", ["joskus", "t", "pitkään", "0 min", "1000 h", ""])
def test_a_length_not_understood_is_refused(text: str) -> None:
    assert length(text) is None


def test_a_length_is_shown_back_in_each_language() -> None:
    assert say_length(length("puolitoista tuntia"), "fi") == "1 t 30 min"  # type: ignore[arg-type]
    assert say_length(length("en timme"), "sv") == "1 h"  # type: ignore[arg-type]
    assert say_length(length("half an hour"), "en") == "30 min"  # type: ignore[arg-type]


def test_today_is_this_day_even_once_its_hour_has_passed() -> None:
    """A third probe: "tänään klo 8" written at 23.51 became 7.12. of next year. It is today,
    past, and the organiser is asked for a time to come."""

    tz = TZ
    now = datetime(2026, 12, 7, 23, 51, tzinfo=tz)
    for text in ("tänään klo 8", "today at 10", "idag kl 9"):
        found = understand(text, now=now, tz=tz)
        assert found is not None and found.day == now.date(), text
        at = moment(found, now=now, tz=tz)
        assert at is not None and at < now
