"""Service levels: how long a ticket may wait, counted in office hours, and what is due when.
Pure functions over a ticket's state; bot.domain.tickets applies them, the sweep (bot.telegram.
helpers.sla) runs them, and nothing here touches a database or Telegram.

An unclaimed ticket is reminded to its role after the role's limit, and escalated to every
helper (and the admins) after the limit once more; a claimed ticket whose asker has waited a
working day nudges its holder, once a working day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from bot.domain.officehours import OfficeHours


class SlaLevel(IntEnum):
    """Where an unclaimed ticket stands (kept in `Ticket.sla_level`)."""

    WAITING = 0
    REMINDED = 1  # the role was reminded
    ESCALATED = 2  # everyone was called; nothing more is due


class Alert(StrEnum):
    REMINDER = "reminder"  # unclaimed for the role's limit
    ESCALATION = "escalation"  # unclaimed for twice the limit: everyone is told
    NUDGE = "nudge"  # claimed, but the asker has waited a working day


@dataclass(frozen=True, slots=True)
class Policy:
    """How long tickets may wait, counted in office hours."""

    hours: OfficeHours
    sla_minutes: Mapping[str, int] = field(default_factory=dict)
    default_minutes: int = 60
    reopen_days: int = 7
    offer_minutes: int = 20  # an answer offered and not settled waits this long for the asker

    def offer_due(self, since: datetime) -> datetime:
        """When a question offered a self-service answer at `since` goes to the helpers, if
        the asker has not settled it."""
        return self.hours.add_working_minutes(since, self.offer_minutes)

    def limit(self, role: str) -> int:
        """Working minutes a ticket of this role may wait unclaimed."""
        return self.sla_minutes.get(role, self.default_minutes)

    def unclaimed_due(self, role: str, since: datetime) -> datetime:
        """The first reminder of a ticket that starts waiting at `since`."""
        return self.hours.add_working_minutes(since, self.limit(role))

    def answer_due(self, since: datetime) -> datetime:
        """A claimed ticket's asker should hear back within one working day."""
        return self.hours.add_working_minutes(since, self.hours.minutes_per_day)


@dataclass(frozen=True, slots=True)
class Step:
    """What a due deadline sends, and where the ticket stands afterwards."""

    alert: Alert
    level: SlaLevel
    next_due: datetime | None  # None: nothing more is due
    minutes: int  # how long it has waited, in working minutes, as the message says


def next_step(policy: Policy, *, role: str, claimed: bool, level: SlaLevel, due: datetime,
              now: datetime) -> Step:
    """The alert for a deadline `due` that has come (`now`), and the next deadline."""
    limit = policy.limit(role)
    if claimed:
        return Step(Alert.NUDGE, level, policy.answer_due(now), policy.hours.minutes_per_day)
    if level is SlaLevel.WAITING:
        # The escalation comes one limit after the reminder was due, whenever it was sent.
        return Step(Alert.REMINDER, SlaLevel.REMINDED,
                    policy.hours.add_working_minutes(due, limit), limit)
    return Step(Alert.ESCALATION, SlaLevel.ESCALATED, None, 2 * limit)
