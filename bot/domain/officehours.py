"""Office hours: when helpers are expected to answer, and time counted in working minutes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAY = timedelta(days=1)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^\s*(\w{3})(?:\s*-\s*(\w{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Open on `days` (0 = Monday) from `opens` to `closes`, local time in `tz`, except on the
    `closed` dates. A value: a new calendar is a new OfficeHours (`closing`)."""

    days: frozenset[int]
    opens: time
    closes: time
    tz: ZoneInfo
    closed: frozenset[date] = frozenset()  # days closed although the pattern says open

    @classmethod
    def parse(cls, spec: str, tz: ZoneInfo) -> OfficeHours:
        """`mon-fri 08:00-16:00` (or one day: `sat 10:00-12:00`)."""
        match = _SPEC.match(spec.lower())
        if not match:
            raise ValueError("must look like mon-fri 08:00-16:00")
        first, last, oh, om, ch, cm = match.groups()
        if first not in DAYS or (last or first) not in DAYS:
            raise ValueError(f"days must be among {', '.join(DAYS)}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise ValueError("the first day must come before the last, as in mon-fri")
        try:
            opens, closes = time(int(oh), int(om)), time(int(ch), int(cm))
        except ValueError:
            raise ValueError("hours must be between 00:00 and 23:59") from None
        if closes <= opens:
            raise ValueError("closing time must be after opening time")
        return cls(frozenset(range(a, b + 1)), opens, closes, tz)

    def closing(self, closed: Iterable[date]) -> OfficeHours:
        """The same weekly pattern, closed also on `closed` (holidays, breaks, training days)."""
        return replace(self, closed=frozenset(closed))

    def is_open_on(self, day: date) -> bool:
        """A working day: one of the pattern's days and not a closed day."""
        return day.weekday() in self.days and day not in self.closed

    def next_open_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the next one."""
        # Terminates: every run of 7 days holds a pattern day, and `closed` is finite.
        for _ in range(len(self.closed) + 7):
            if day.weekday() in self.days and day not in self.closed:
                return day
            day += _DAY
        raise AssertionError("office hours have at least one day")  # pragma: no cover

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.opens, self.tz).astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return self.is_open_on(local.date()) and self.opens <= local.time() < self.closes

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the next opening time (in UTC)."""
        local = at.astimezone(self.tz)
        today = local.date()
        if self.is_open_on(today):
            now = local.time()
            if now < self.opens:
                return self._opening(today)
            if now < self.closes:
                return at.astimezone(UTC)
        return self._opening(self.next_open_day(today + _DAY))

    @property
    def minutes_per_day(self) -> int:
        return (datetime.combine(datetime.min, self.closes)
                - datetime.combine(datetime.min, self.opens)).seconds // 60

    def _closing(self, at: datetime) -> tuple[datetime, date]:
        """The closing time (UTC) of the working day that `at` (an open moment) is in."""
        day = at.astimezone(self.tz).date()
        return datetime.combine(day, self.closes, self.tz).astimezone(UTC), day

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment when `minutes` of office time have passed since `start`."""
        current, left = self.next_open(start), timedelta(minutes=minutes)
        while True:
            end, day = self._closing(current)
            room = end - current
            if left <= room:
                return current + left
            left -= room
            current = self._opening(self.next_open_day(day + _DAY))

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        """Office minutes between two moments (0 when `end` is not after `start`)."""
        total, current = 0.0, self.next_open(start)
        while current < end:
            closes, day = self._closing(current)
            total += (min(end, closes) - current).total_seconds() / 60
            current = self._opening(self.next_open_day(day + _DAY))
        return total
