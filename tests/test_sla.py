"""Service levels as pure functions: no database, no Telegram."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.domain.officehours import OfficeHours
from bot.domain.sla import Alert, Policy, SlaLevel, next_step

HOURS = OfficeHours.parse("mon-fri 08:00-16:00", ZoneInfo("Europe/Helsinki"))
POLICY = Policy(hours=HOURS, sla_minutes={"luotsi": 120}, default_minutes=60)
MONDAY_TEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 10:00 in Helsinki


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_each_role_has_its_limit_in_working_minutes() -> None:
    assert POLICY.limit("luotsi") == 120 and POLICY.limit("tvt") == 60
    assert POLICY.unclaimed_due("tvt", MONDAY_TEN) == at(9)
    # 15:30 local: half an hour today, the rest on Tuesday morning.
    assert POLICY.unclaimed_due("tvt", at(13, 30)) == at(6, 30, day=24)


def test_a_reminder_then_an_escalation_one_limit_later_then_nothing() -> None:
    first = POLICY.unclaimed_due("tvt", MONDAY_TEN)
    reminder = next_step(POLICY, role="tvt", claimed=False, level=SlaLevel.WAITING, due=first,
                         now=at(9, 20))  # the sweep came late: the escalation does not move
    assert reminder == next_step(POLICY, role="tvt", claimed=False, level=SlaLevel.WAITING,
                                 due=first, now=at(9, 1))
    assert (reminder.alert, reminder.level, reminder.next_due, reminder.minutes) == (
        Alert.REMINDER, SlaLevel.REMINDED, at(10), 60)
    escalation = next_step(POLICY, role="tvt", claimed=False, level=SlaLevel.REMINDED,
                           due=at(10), now=at(10))
    assert (escalation.alert, escalation.level, escalation.next_due, escalation.minutes) == (
        Alert.ESCALATION, SlaLevel.ESCALATED, None, 120)


def test_a_claimed_ticket_nudges_its_holder_once_a_working_day() -> None:
    nudge = next_step(POLICY, role="luotsi", claimed=True, level=SlaLevel.WAITING,
                      due=at(8), now=at(8))
    assert (nudge.alert, nudge.next_due, nudge.minutes) == (Alert.NUDGE, at(8, day=24), 480)
