"""Office hours: when an answer can be expected, and waiting counted in working minutes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.officehours import OfficeHours
from bot.domain.schoolyear import Closure, holiday_dates
from bot.domain.sla import Alert, Policy, SlaLevel, next_step

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


# The school's year: public holidays and the school's own breaks close the office.

def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI)


CHRISTMAS_BREAK = Closure("Joululoma", date(2026, 12, 21), date(2027, 1, 6))
SCHOOL = HOURS.closing(holiday_dates(date(2026, 12, 1)) | set(CHRISTMAS_BREAK.days()))


def test_christmas_eve_a_thursday_is_closed_by_the_public_holidays() -> None:
    hours = HOURS.closing(holiday_dates(date(2026, 12, 1)))
    assert date(2026, 12, 24).weekday() == 3
    assert not hours.is_open(at(2026, 12, 24, 10))
    assert hours.is_open(at(2026, 12, 23, 10))
    # Christmas Eve, Christmas Day, and then the weekend: Monday 28.12. is the next working day.
    assert hours.next_open(at(2026, 12, 23, 17)) == at(2026, 12, 28, 8)
    assert hours.is_open(at(2026, 12, 8, 10))  # an ordinary Tuesday stays open


def test_a_break_moves_the_next_opening_past_it() -> None:
    assert SCHOOL.next_open(at(2026, 12, 18, 17)) == at(2027, 1, 7, 8)
    assert SCHOOL.next_open(at(2026, 12, 30, 10)) == at(2027, 1, 7, 8)
    assert SCHOOL.next_open_day(date(2026, 12, 21)) == date(2027, 1, 7)


def test_the_sla_clock_does_not_run_over_a_break() -> None:
    policy = Policy(hours=SCHOOL, sla_minutes={"tvt": 60})
    friday = at(2026, 12, 18, 15, 30)  # half an hour before the break
    # 30 minutes before the break, the other 30 on the first morning after it.
    assert policy.unclaimed_due("tvt", friday) == at(2027, 1, 7, 8, 30)
    reminded = next_step(policy, role="tvt", claimed=False, level=SlaLevel.WAITING,
                         due=policy.unclaimed_due("tvt", friday), now=at(2027, 1, 7, 8, 31))
    assert (reminded.alert, reminded.next_due) == (Alert.REMINDER, at(2027, 1, 7, 9, 30))
    assert policy.answer_due(friday) == at(2027, 1, 7, 15, 30)
    assert SCHOOL.working_minutes_between(friday, at(2027, 1, 7, 9)) == 90
    # A question asked during the break starts its clock when the office opens.
    assert policy.unclaimed_due("tvt", at(2026, 12, 28, 11)) == at(2027, 1, 7, 9)


def test_office_hours_with_closed_days_are_a_value() -> None:
    assert SCHOOL.closing(SCHOOL.closed) == SCHOOL
    assert HOURS.closed == frozenset()  # `closing` made a new one
    assert hash(SCHOOL) == hash(HOURS.closing(SCHOOL.closed))
