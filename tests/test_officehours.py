"""Office hours: when an answer can be expected, and waiting counted in working minutes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.officehours import OfficeHours

HELSINKI = ZoneInfo("Europe/Helsinki")
HOURS = OfficeHours.parse("mon-fri 08:00-16:00", HELSINKI)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=HELSINKI)  # 23 Nov 2026 is a Monday


def test_open_on_weekdays_in_office_time_only() -> None:
    assert HOURS.is_open(local(23, 8))
    assert not HOURS.is_open(local(23, 16))
    assert not HOURS.is_open(local(28, 10))  # Saturday


def test_next_opening_skips_the_evening_and_the_weekend() -> None:
    assert HOURS.next_open(local(23, 10)) == local(23, 10)
    assert HOURS.next_open(local(23, 17)) == local(24, 8)
    assert HOURS.next_open(local(27, 18, 30)) == local(30, 8)
    assert HOURS.next_open(local(29, 7)) == local(30, 8)


def test_working_minutes_carry_over_the_night_and_the_weekend() -> None:
    assert HOURS.add_working_minutes(local(23, 15, 30), 60) == local(24, 8, 30)
    assert HOURS.add_working_minutes(local(27, 15), 120) == local(30, 9)
    assert HOURS.add_working_minutes(local(28, 12), 1) == local(30, 8, 1)
    assert HOURS.working_minutes_between(local(23, 15, 30), local(24, 9)) == 90
    assert HOURS.working_minutes_between(local(27, 15), local(30, 9)) == 120
    assert HOURS.working_minutes_between(local(24, 9), local(23, 9)) == 0


def test_results_are_in_utc() -> None:
    assert HOURS.add_working_minutes(local(23, 10), 30).tzinfo == UTC


@pytest.mark.parametrize("spec", ["mon-fri", "fri-mon 08:00-16:00", "mon-fri 16:00-08:00",
                                  "xyz 08:00-16:00", "mon-fri 25:00-26:00"])
def test_malformed_office_hours_are_refused_with_the_setting_named(spec: str) -> None:
    with pytest.raises(ConfigError, match="PEERDESK_OFFICE_HOURS"):
        load_settings(office_hours=spec, telegram_token=None)


def test_sla_minutes_name_known_roles() -> None:
    with pytest.raises(ConfigError, match=r"PEERDESK_SLA_MINUTES .*unknown roles"):
        load_settings(sla_minutes={"janitor": 5}, telegram_token=None)
    assert load_settings(sla_minutes={"tvt": 30}, telegram_token=None).sla_for("tvt") == 30
