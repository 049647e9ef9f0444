"""What an organiser gives: an event's spec, validated the same way from Telegram, the command
line, YAML and .ics files; its reminders; the occurrences of a series; and its preview."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot import LANGUAGES
from bot.domain.events.views import EventError, EventView
from bot.domain.models import EventKind, EventMode

DEFAULT_REMINDERS = (7 * 24 * 60, 24 * 60, 60)  # minutes before: a week, a day, an hour
MAX_OCCURRENCES = 60
_DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")


def parse_reminders(text: str) -> list[int]:
    """'7d,1d,1h' → minutes before the start."""
    minutes = []
    for part in text.split(","):
        match = _DURATION.match(part.lower())
        if not match:
            raise EventError(f"reminder {part.strip()!r} is not like 7d, 1d, 1h or 30m")
        amount, unit = int(match.group(1)), match.group(2)
        minutes.append(amount * {"d": 1440, "h": 60, "m": 1}[unit])
    return sorted(set(minutes), reverse=True)


class EventSpec(BaseModel):
    """What an organiser gives: validated the same way from Telegram, the command line, YAML
    and .ics files."""

    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    start: datetime
    end: datetime
    place: str | None = Field(default=None, max_length=200)
    link: str | None = Field(default=None, max_length=500)
    host_id: int | None = None
    host_name: str | None = Field(default=None, max_length=128)
    language: str = "fi"
    channels: list[int] = Field(default_factory=list)
    pre_reading: str | None = Field(default=None, max_length=500)
    capacity: int | None = Field(default=None, ge=1, le=10000)
    reminders: list[int] = Field(default_factory=lambda: list(DEFAULT_REMINDERS))
    rrule: str | None = Field(default=None, max_length=200)
    registration_closes: datetime | None = None  # RSVPs are refused after this

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value or None

    @field_validator("reminders", mode="before")
    @classmethod
    def _reminders(cls, value: object) -> object:
        return parse_reminders(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> EventSpec:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone")
        if self.end <= self.start:
            raise ValueError("the end must come after the start")
        if not self.place and not self.link:
            raise ValueError("give a place, a link, or both")
        if self.registration_closes is not None:
            if self.registration_closes.tzinfo is None:
                raise ValueError("the registration deadline needs a time zone")
            if self.registration_closes > self.start:
                raise ValueError("registration must close before the start")
        if self.rrule:
            try:
                rrulestr(self.rrule, dtstart=self.start)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"rrule is not a valid RRULE: {exc}") from None
        return self

    @property
    def mode(self) -> EventMode:
        if self.place and self.link:
            return EventMode.HYBRID
        return EventMode.ONLINE if self.link else EventMode.ONSITE


def validate_spec(data: dict) -> EventSpec:
    """An EventSpec, or an EventError naming the first problem."""
    try:
        return EventSpec.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "event"
        raise EventError(f"{where}: {problem['msg'].removeprefix('Value error, ')}") from None


def occurrences(spec: EventSpec, now: datetime, horizon: timedelta = timedelta(days=366)
                ) -> list[tuple[datetime, datetime]]:
    """Start and end of each occurrence: one, or a series by its RRULE within the horizon
    (wall-clock times are kept across daylight saving)."""
    length = spec.end - spec.start
    if not spec.rrule:
        return [(spec.start, spec.end)]
    rule = rrulestr(spec.rrule, dtstart=spec.start)
    found: list[tuple[datetime, datetime]] = []
    for start in rule:
        if start > now + horizon or len(found) >= MAX_OCCURRENCES:
            break
        found.append((start, start + length))
    if not found:
        raise EventError("the rule gives no occurrence within a year")
    return found


def preview(spec: EventSpec) -> EventView:
    """The event a spec would publish, to show the organiser before it is stored (id 0)."""
    return EventView(
        id=0, kind=spec.kind, title=spec.title, description=spec.description,
        starts_at=spec.start, ends_at=spec.end, mode=spec.mode, place=spec.place,
        link=spec.link, host_id=spec.host_id, host_name=spec.host_name, language=spec.language,
        channels=tuple(spec.channels), pre_reading=spec.pre_reading, capacity=spec.capacity,
        reminders=tuple(spec.reminders), rrule=spec.rrule, series_id=None, cancelled=False,
        version=1, registration_closes_at=spec.registration_closes)

