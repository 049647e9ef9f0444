"""Office hours: when helpers are expected to answer, and time counted in working minutes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^\s*(\w{3})(?:\s*-\s*(\w{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Open on `days` (0 = Monday) from `opens` to `closes`, local time in `tz`."""

    days: frozenset[int]
    opens: time
    closes: time
    tz: ZoneInfo

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

    def _local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def _bounds(self, day: datetime) -> tuple[datetime, datetime]:
        date = day.date()
        return (datetime.combine(date, self.opens, self.tz),
                datetime.combine(date, self.closes, self.tz))

    def is_open(self, at: datetime) -> bool:
        local = self._local(at)
        start, end = self._bounds(local)
        return local.weekday() in self.days and start <= local < end

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the next opening time (in UTC)."""
        local = self._local(at)
        for offset in range(8):
            day = local + timedelta(days=offset)
            start, end = self._bounds(day)
            if day.weekday() in self.days:
                if offset == 0 and start <= local < end:
                    return at.astimezone(UTC)
                if offset > 0 or local < start:
                    return start.astimezone(UTC)
        raise AssertionError("office hours have at least one day")  # pragma: no cover

    @property
    def minutes_per_day(self) -> int:
        return (datetime.combine(datetime.min, self.closes)
                - datetime.combine(datetime.min, self.opens)).seconds // 60

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment when `minutes` of office time have passed since `start`."""
        current, left = self.next_open(start), timedelta(minutes=minutes)
        while True:
            _, end = self._bounds(self._local(current))
            room = end - self._local(current)
            if left <= room:
                return (current + left).astimezone(UTC)
            left -= room
            current = self.next_open(end + timedelta(microseconds=1))

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        """Office minutes between two moments (0 when `end` is not after `start`)."""
        total, current = 0.0, self.next_open(start)
        while current < end:
            _, closes = self._bounds(self._local(current))
            stop = min(end, closes.astimezone(UTC))
            total += (stop - current).total_seconds() / 60
            current = self.next_open(closes + timedelta(microseconds=1))
        return total
