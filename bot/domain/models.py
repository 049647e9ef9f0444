"""Database tables. Alembic owns the schema (bot/migrations); keep both in step."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, DateTime, String, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kwargs: object) -> object:
    return Field(sa_column=Column(DateTime(timezone=True), **kwargs))  # type: ignore[arg-type]


class TicketStatus(StrEnum):
    OFFERED = "offered"  # a self-service answer is shown; the asker has not decided yet
    OPEN = "open"  # waiting for a helper
    CLAIMED = "claimed"
    CLOSED = "closed"


class Routing(StrEnum):
    AUTO = "auto"  # the router was confident
    ASKED = "asked"  # the router was unsure and the asker is choosing
    CHOSEN = "chosen"  # the asker chose the kind of helper


class Staff(SQLModel, table=True):
    """A colleague who talks to the bot, with their own choices."""

    telegram_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    first_name: str | None = Field(default=None, max_length=128)
    language: str | None = Field(default=None, max_length=2)  # chosen with /lang
    telegram_language: str | None = Field(default=None, max_length=16)
    anonymous: bool = False  # ask anonymously by default (/anon)
    team: str | None = Field(default=None, max_length=128)
    created_at: datetime = _ts(nullable=False, default=utcnow)


class Helper(SQLModel, table=True):
    """A colleague in the helpers' roster; roles in HelperRole."""

    telegram_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=128)
    team: str | None = Field(default=None, max_length=128)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    available: bool = True


class HelperRole(SQLModel, table=True):
    helper_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )
    role: str = Field(primary_key=True, max_length=32)


class Ticket(SQLModel, table=True):
    """One question and its life. `text` and `asker_*` are personal data; the rest is not."""

    __table_args__ = (UniqueConstraint("asker_chat_id", "source_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    asker_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    asker_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    source_message_id: int | None = None
    text: str | None = None
    language: str = Field(max_length=2)
    topic: str = Field(max_length=64)
    role: str = Field(max_length=32, index=True)
    confidence: float
    routing: Routing = Field(default=Routing.AUTO, sa_type=String(16))
    status: TicketStatus = Field(default=TicketStatus.OPEN, sa_type=String(16), index=True)
    anonymous: bool = False
    self_served: bool = False
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class TopicLog(SQLModel, table=True):
    """What was asked about, when, in which language: no text, no name, no Telegram id."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False, default=utcnow, index=True)
    ticket_id: int | None = Field(default=None, index=True)
    topic: str = Field(max_length=64)
    role: str = Field(max_length=32)
    language: str = Field(max_length=2)
    team: str | None = Field(default=None, max_length=128)
    routing: Routing = Field(default=Routing.AUTO, sa_type=String(16))
