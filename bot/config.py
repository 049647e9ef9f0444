"""Settings from environment variables (prefix PEERDESK_) or a `.env` file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import LANGUAGES, ROLES
from bot.domain.lemmas import DEFAULT_FOLDER as DEFAULT_LEMMA_FOLDER
from bot.domain.officehours import OfficeHours

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TELEGRAM_API_URL = "https://api.telegram.org"
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")


class ConfigError(Exception):
    """Configuration that cannot work; the message names the setting and the problem."""


class Settings(BaseSettings):
    """Everything peerdesk can be configured with; see `.env.example`."""

    model_config = SettingsConfigDict(
        env_prefix="PEERDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    telegram_token: SecretStr | None = None
    telegram_api_url: str = TELEGRAM_API_URL
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'peerdesk.db'}"
    helpers_chat_id: int | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: str = "Europe/Helsinki"
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    lemma_dir: Path = DEFAULT_LEMMA_FOLDER  # the lemmatizer's tries, built once per machine
    max_question_chars: int = Field(default=3000, ge=100, le=3500)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    # The helpers' side.
    helpers_language: str = "fi"  # cards and notices in the helpers' group
    office_hours: str = "mon-fri 08:00-16:00"  # in `timezone`
    # The school's closed days as an iCalendar feed (https:// or webcal://), read daily;
    # Finnish public holidays are built in (bot.domain.schoolyear).
    calendar_url: str | None = None
    sla_minutes: dict[str, int] = Field(default_factory=dict)  # per role, e.g. {"tvt": 30}
    sla_default_minutes: int = Field(default=60, ge=1, le=10080)
    sla_check_seconds: float = Field(default=30, gt=0, le=3600)
    reopen_days: int = Field(default=7, ge=0, le=90)
    # A question offered a self-service answer that the asker neither confirms nor turns down
    # goes to the helpers after this many working minutes (bot.domain.offers).
    offer_wait_minutes: int = Field(default=20, ge=1, le=10080)
    # The asker's conversation: a plain message joins their open question, or one closed this
    # many minutes ago (as a comment); after this many hours of quiet it is asked whether it is
    # a new question.
    conversation_window_minutes: int = Field(default=10, ge=0, le=24 * 60)
    conversation_gap_hours: float = Field(default=2, gt=0, le=24 * 30)
    # Reports: figures from fewer questions are folded outside the helpers' group; the monthly
    # digest of the previous month goes out on this day of the month at this hour (local time;
    # empty day: no digest); the web endpoints /reports/… need this token.
    report_min_count: int = Field(default=3, ge=1, le=100)
    digest_day: int | None = Field(default=1, ge=1, le=28)
    digest_hour: int = Field(default=9, ge=0, le=23)
    report_token: SecretStr | None = None
    # Announcements: the default channels (chat ids), who besides admins may publish, how often
    # the outbox is checked, and how early each occurrence of a series is announced.
    announce_channels: Annotated[tuple[int, ...], NoDecode] = ()
    organiser_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    outbox_check_seconds: float = Field(default=5, gt=0, le=600)
    announce_days_before: int = Field(default=14, ge=0, le=365)
    # After an event: the feedback question this many minutes after the end; a place freed from
    # the waiting list is held this many hours for its taker to confirm; a /newevent, /bulletin
    # or /materials conversation left this long is put aside.
    feedback_after_minutes: int = Field(default=30, ge=0, le=7 * 24 * 60)
    place_confirm_hours: float = Field(default=24, gt=0, le=14 * 24)
    conversation_timeout_seconds: float = Field(default=1800, gt=0, le=24 * 3600)
    # The webhook (`peerdesk serve`): the public https address Telegram posts to (…/telegram/
    # webhook is added) and the secret it must send back (1–256 of A-Z a-z 0-9 _ -).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Data protection: question and answer texts older than this many days are erased.
    retention_days: int = Field(default=365, ge=1, le=3650)
    # A bot process whose heartbeat is older than this is taken to be gone: its unfinished
    # updates and unsent messages are taken over. A living process is never overtaken.
    update_lease_seconds: float = Field(default=30, ge=1, le=3600)
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # Telegram's flood limits on outgoing messages. Off only for benchmarks, or for a local Bot
    # API server that has no limits.
    rate_limit: bool = True
    # Messages a minute into one group. Telegram refuses the 21st within any minute, and its 429
    # makes PTB hold back every request, so the bot never tries: a quarter of these may go at
    # once (a card, a notice), the rest at an even pace, never more than this in any minute.
    group_messages_per_minute: int = Field(default=20, ge=4, le=600)
    # Every new ticket is visible and claimable in the helpers' group within this many seconds,
    # however busy the group: once one has waited half of it, the waiting ones are listed
    # together before any other message to the group (bot.telegram.sender).
    visible_within_seconds: float = Field(default=120, ge=4, le=3600)
    # The web server (health, metrics, reports, calendar, webhook); no port: not started by
    # `peerdesk run` (`peerdesk serve` uses 8080 then).
    web_host: str = "127.0.0.1"
    web_port: int | None = Field(default=None, ge=0, le=65535)
    # Staff-only mode: people come by the staff code's link (`?start=<code>`); anyone else is
    # told kindly that the desk is for the school's staff, and nothing of theirs is stored.
    staff_only: bool = False
    _hours: OfficeHours | None = PrivateAttr(default=None)  # with the closed days: `hours`
    # The admins, organisers, channels and helpers' group as configured, before the database's
    # were added (`with_desk`).
    _configured: tuple[frozenset[int], frozenset[int], tuple[int, ...], int | None] | None = \
        PrivateAttr(default=None)

    @field_validator("telegram_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not _TOKEN_RE.match(value.strip()):
            # Never echo the value: it may be a real token with a typo.
            raise ValueError("is not a bot token of the form 123456:ABC… from BotFather")
        return value.strip()

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise ValueError("must be the bot's public https:// address")
        return value.rstrip("/")

    @field_validator("calendar_url", mode="before")
    @classmethod
    def _calendar_url(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not value.startswith(("https://", "http://",
                                                               "webcal://")):
            raise ValueError("must be the calendar's https:// or webcal:// address")
        return value.strip()

    @field_validator("helpers_chat_id", "digest_day", "report_token", "web_port", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("telegram_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be sqlite+aiosqlite:///path or postgresql+asyncpg://…")
        return value

    @field_validator("admin_ids", "organiser_ids", "announce_channels", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,\s]+", value) if p]
            if not all(re.fullmatch(r"-?\d+", p) for p in parts):
                raise ValueError("must be Telegram ids separated by commas, e.g. 1001,1002")
            return [int(p) for p in parts]
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known time zone such as Europe/Helsinki") from None
        return value

    @field_validator("helpers_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str) -> str:
        OfficeHours.parse(value, ZoneInfo("UTC"))
        return value

    @field_validator("sla_minutes")
    @classmethod
    def _sla(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            known = ", ".join(ROLES)
            raise ValueError(f"names unknown roles {', '.join(unknown)} (known: {known})")
        if any(not 1 <= minutes <= 10080 for minutes in value.values()):
            raise ValueError("minutes must be between 1 and 10080")
        return value

    @field_validator("knowledge_dir")
    @classmethod
    def _knowledge(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"folder {value} does not exist")
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def weekly_hours(self) -> OfficeHours:
        """`office_hours` alone, without any closed days."""
        return OfficeHours.parse(self.office_hours, self.tz)

    @property
    def hours(self) -> OfficeHours:
        """The office hours less the closed days: public holidays, and the school's own as last
        loaded from the database (`with_closed_days`; bot.telegram.hours reloads them)."""
        if self._hours is None:
            # The calendar and the database models (0.6 s): only once office hours are asked.
            from bot.domain.schoolyear import holiday_dates

            self._hours = self.weekly_hours.closing(holiday_dates(date.today()))
        return self._hours

    def with_closed_days(self, closed: Iterable[date]) -> Settings:
        """These settings with office hours closed on `closed` (every closed day: holidays
        too). A copy, so that whoever holds the old settings keeps a consistent value."""
        copy = self.model_copy()
        copy._hours = self.weekly_hours.closing(closed)
        return copy

    @property
    def configured_admin_ids(self) -> frozenset[int]:
        """The admins of the environment alone."""
        return self._configured[0] if self._configured else self.admin_ids

    @property
    def configured_helpers_chat_id(self) -> int | None:
        return self._configured[3] if self._configured else self.helpers_chat_id

    def with_desk(self, *, admins: frozenset[int], organisers: frozenset[int],
                  channels: tuple[int, ...], helpers_chat: int | None) -> Settings:
        """These settings with what was set up in Telegram (bot.domain.setup) added: admins
        and organisers of either source; the environment's channels and helpers' group win
        where they are set. A copy, like `with_closed_days`."""
        base = self._configured or (self.admin_ids, self.organiser_ids, self.announce_channels,
                                    self.helpers_chat_id)
        copy = self.model_copy(update={
            "admin_ids": base[0] | admins, "organiser_ids": base[1] | organisers,
            "announce_channels": base[2] or channels,
            "helpers_chat_id": base[3] if base[3] is not None else helpers_chat})
        copy._configured = base
        return copy

    def sla_for(self, role: str) -> int:
        """Working minutes a ticket of `role` may wait unclaimed before helpers are reminded."""
        return self.sla_minutes.get(role, self.sla_default_minutes)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning any validation error into one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"PEERDESK_{field.upper()} {message}") from None
