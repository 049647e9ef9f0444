"""Database tables. Alembic owns the schema (bot/migrations); keep both in step."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def utcnow() -> datetime:
    return datetime.now(UTC)


def saved_id(row: SQLModel) -> int:
    """The id of a row that has been saved (SQLModel types every primary key as optional)."""
    value = getattr(row, "id", None)
    if not isinstance(value, int):
        raise ValueError(f"{type(row).__name__} has not been saved")
    return value


def dialect_of(session: AsyncSession) -> str:
    """"sqlite" or "postgresql": the database the session talks to."""
    if session.bind is None:
        raise RuntimeError("the session is not bound to a database")
    return session.bind.dialect.name


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends: SQLite keeps no offset, so values are stored in
    UTC and read back with it, and comparisons in SQL and in Python agree."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use an aware one (bot.domain.models.utcnow)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(**kwargs: Any) -> Any:
    """A timezone-aware timestamp column (typed as the attribute it declares)."""
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


class TicketStatus(StrEnum):
    OFFERED = "offered"  # a self-service answer is shown; the asker has not decided yet
    OPEN = "open"  # waiting for a helper
    CLAIMED = "claimed"
    CLOSED = "closed"


class Routing(StrEnum):
    AUTO = "auto"  # the router was confident
    ASKED = "asked"  # the router was unsure and the asker is choosing
    CHOSEN = "chosen"  # the asker chose the kind of helper
    HALLWAY = "hallway"  # asked face to face or by phone, logged by a helper (/log)


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

    __table_args__ = (UniqueConstraint("asker_chat_id", "source_message_id"),
                      # similar closed questions of a topic, newest first (bot.domain.answers)
                      Index("ix_ticket_topic_status_id", "topic", "status", "id"))

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
    created_at: datetime = _ts(nullable=False, default=utcnow, index=True)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)
    # The helpers' side (bot.domain.tickets).
    delivered_at: datetime | None = _ts(nullable=True)  # helpers were told
    thread_id: int | None = None  # the ticket's forum topic in the helpers' group
    claimed_by: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    claimed_at: datetime | None = _ts(nullable=True)
    first_answer_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    sla_due_at: datetime | None = _ts(nullable=True, index=True)  # next reminder is due
    sla_level: int = 0  # 0 waiting, 1 reminded, 2 escalated to everyone
    phone: str | None = Field(default=None, max_length=32)  # shared only with the claimer
    rating: int | None = None  # 1–5 from the asker after closing
    feedback: str | None = None
    # Durations kept when they happen, so that reports aggregate them in SQL: minutes from the
    # question to the first helper answer and to closing, in wall time and in office time.
    first_answer_minutes: float | None = None
    first_answer_office_minutes: float | None = None
    close_minutes: float | None = None
    close_office_minutes: float | None = None
    overdue: bool = False  # waited unclaimed past its role's limit at least once
    # The holder's last relayed text: what "Save as an answer" drafts from (bot.domain.answers).
    reply_text: str | None = None
    # Closed because the asker erased their data (/forget), not because it was answered.
    withdrawn: bool = False
    # Self-served because the asker solved it themselves ("Solved it myself"), not because a
    # self-service answer did: the reports count the two apart.
    solved_by_asker: bool = False
    # The asker's messages with a picture, file, video or voice (ids in their chat), copied to
    # the helpers right after the card; None when the question is words only.
    media: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The asker's newest follow-up (its id in their chat): the helper's next message answers it,
    # and is shown to the asker as a reply to it rather than to the first question.
    last_asker_message_id: int | None = None
    # A self-service answer was offered and the asker never said whether it helped: passed to
    # the helpers after the offer's wait (bot.domain.offers); the card and the reports say so.
    offer_unsettled: bool = False


class Digest(SQLModel, table=True):
    """A monthly digest that was posted: the row makes it once only, across restarts."""

    period: str = Field(primary_key=True, max_length=16)  # e.g. 2026-11
    sent_at: datetime = _ts(nullable=False, default=utcnow)


class TicketMessage(SQLModel, table=True):
    """Which ticket a message in some chat belongs to (cards, relayed copies, acknowledgements),
    so that a reply to it finds its ticket. Ids only, no text."""

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    message_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ticket_id: int = Field(index=True)
    kind: str = Field(max_length=16)  # see bot.domain.tickets.messages.Kind


class TopicLog(SQLModel, table=True):
    """What was asked about, when, in which language: no text, no name, no Telegram id."""

    # Reports read a period's rows by role and topic from this index alone.
    __table_args__ = (Index("ix_topiclog_at_role_topic", "at", "role", "topic"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False, default=utcnow, index=True)
    ticket_id: int | None = Field(default=None, index=True)
    topic: str = Field(max_length=64)
    role: str = Field(max_length=32)
    language: str = Field(max_length=2)
    team: str | None = Field(default=None, max_length=128)
    routing: Routing = Field(default=Routing.AUTO, sa_type=String(16))
    # Set when a helper rerouted the ticket: where the router had sent it (a misroute).
    rerouted_from_role: str | None = Field(default=None, max_length=32)
    rerouted_from_topic: str | None = Field(default=None, max_length=64)


class EventKind(StrEnum):
    WEBINAR = "webinar"
    CAFE = "cafe"  # pedagogical café
    MENTORING = "mentoring"  # peer-mentoring group
    THEME_DAY = "theme_day"
    COACHES_MEETING = "coaches_meeting"


class EventMode(StrEnum):
    ONSITE = "onsite"
    ONLINE = "online"
    HYBRID = "hybrid"


class Event(SQLModel, table=True):
    """A webinar, café, meeting… (one occurrence; a series shares `series_id`)."""

    id: int | None = Field(default=None, primary_key=True)
    kind: EventKind = Field(sa_type=String(24))
    title: str = Field(max_length=200)
    description: str = ""
    starts_at: datetime = _ts(nullable=False, index=True)
    ends_at: datetime = _ts(nullable=False)
    mode: EventMode = Field(default=EventMode.ONSITE, sa_type=String(16))
    place: str | None = Field(default=None, max_length=200)
    link: str | None = Field(default=None, max_length=500)
    host_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    host_name: str | None = Field(default=None, max_length=128)
    language: str = Field(default="fi", max_length=2)
    channels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pre_reading: str | None = Field(default=None, max_length=500)  # a link or a Telegram file id
    capacity: int | None = None
    reminders: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rrule: str | None = Field(default=None, max_length=200)
    series_id: int | None = Field(default=None, index=True)
    cancelled: bool = False
    version: int = 1  # grows with every change; reminders belong to one version
    created_at: datetime = _ts(nullable=False, default=utcnow)
    registration_closes_at: datetime | None = _ts(nullable=True)  # RSVPs refused after this
    followed_up: bool = False  # the feedback question was queued after the end


class Bulletin(SQLModel, table=True):
    """An announcement without an event, such as a new national instruction."""

    id: int | None = Field(default=None, primary_key=True)
    text: str
    link: str | None = Field(default=None, max_length=500)
    channels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    send_at: datetime = _ts(nullable=False)
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = _ts(nullable=False, default=utcnow)


class OutboxKind(StrEnum):
    """What one outbox row sends. Announcements (events and bulletins) and everything a ticket
    causes besides the immediate reply to the person who wrote."""

    ANNOUNCE = "announce"
    REMINDER = "reminder"
    CHANGE = "change"
    CANCEL = "cancel"
    BULLETIN = "bulletin"
    COUNTS = "counts"  # the RSVP counts edited on every announcement of an event
    CLOSES = "closes"  # registration closed: the announcement's buttons say so
    OFFER = "offer"  # a freed place offered to the first on the waiting list
    OFFER_LAPSED = "offer_lapsed"  # the offer was not confirmed in time
    MATERIALS = "materials"  # materials or a recording after an event, to those who came
    FEEDBACK = "feedback"  # the 1–5 question after an event
    CARD = "card"  # make a ticket visible to helpers: its topic and card, or a private card
    COPY = "copy"  # relay a message: a helper's answer to the asker, a follow-up to helpers
    NOTE = "note"  # a message about a ticket, rendered from a template when sent
    EDIT_CARDS = "edit_cards"  # show a ticket's new state on its cards
    EDIT_TOPIC = "edit_topic"  # rename a ticket's forum topic (after a reroute)


class Priority(IntEnum):
    """What goes first when more is due than Telegram takes: what a person is waiting for,
    then new tickets, then reminders, then opening the topics of tickets already listed, then
    announcements."""

    RELAY = 0
    CARD = 1
    ALERT = 2
    TOPIC = 3
    ANNOUNCE = 4


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by one sender (`worker`), taken back only if it is gone
    SENT = "sent"
    DROPPED = "dropped"  # no longer meaningful (a reminder for a started or cancelled event)
    FAILED = "failed"  # the chat refuses for good (bot removed); admins were told
    UNCERTAIN = "uncertain"  # an announcement's sender died mid-send: not resent; admins told


class Outbox(SQLModel, table=True):
    """One message to one chat at one time, sent once by a background sender (bot.domain.outbox)
    and written in the same transaction as the change that causes it. `key` makes scheduling
    idempotent: the same announcement or reminder is never queued twice. `params` hold ids and
    template names only, never a name or a question text: those are read when it is sent."""

    __table_args__ = (Index("ix_outbox_due", "status", "priority", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160, sa_column_kwargs={"unique": True})
    kind: OutboxKind = Field(sa_type=String(16))
    priority: int = Field(default=Priority.ANNOUNCE)
    ticket_id: int | None = Field(default=None, index=True)
    params: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    event_id: int | None = Field(default=None, index=True)
    bulletin_id: int | None = None
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    due_at: datetime = _ts(nullable=False)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=String(16))
    attempts: int = 0
    lease_until: datetime | None = _ts(nullable=True)
    worker: str | None = Field(default=None, max_length=64)
    message_id: int | None = None  # what Telegram gave back (announcements are edited later)
    error: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = _ts(nullable=True)


class RsvpAnswer(StrEnum):
    YES = "yes"
    PLUS = "plus"  # coming with a colleague (an avec)
    NO = "no"


class Rsvp(SQLModel, table=True):
    """Who is coming: one answer per person and event; a later press changes it."""

    event_id: int = Field(primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    answer: RsvpAnswer = Field(sa_type=String(8))
    waiting: bool = False  # on the waiting list (capacity reached)
    updated_at: datetime = _ts(nullable=False, default=utcnow)
    # A place freed from the waiting list, held for this person until they confirm by then.
    offered_until: datetime | None = _ts(nullable=True)


class EventMaterial(SQLModel, table=True):
    """Materials or a recording added after an event: a link or a Telegram file id."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(index=True)
    link: str | None = Field(default=None, max_length=500)
    file_id: str | None = Field(default=None, max_length=200)
    file_name: str | None = Field(default=None, max_length=200)
    added_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    added_at: datetime = _ts(nullable=False, default=utcnow)


class Attendance(SQLModel, table=True):
    """Who came: marked by the person (\"I'm here\") or by the host."""

    event_id: int = Field(primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    by_host: bool = False
    at: datetime = _ts(nullable=False, default=utcnow)


class EventFeedback(SQLModel, table=True):
    """One attendee's 1–5 answer after an event, with an optional comment (shown to the host
    without the name; reports hold only counts and averages)."""

    event_id: int = Field(primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    rating: int
    comment: str | None = Field(default=None, max_length=2000)
    at: datetime = _ts(nullable=False, default=utcnow)


class UpdateStatus(StrEnum):
    STORED = "stored"
    PROCESSING = "processing"  # in hand of `worker`
    DONE = "done"
    POISON = "poison"  # could not be read or handled: set aside without its payload


class InboundUpdate(SQLModel, table=True):
    """A Telegram update as it arrived, stored before Telegram is told it was received, and
    handled once (the update id is the key). The payload is personal data: it is emptied once
    the update has been handled and the retention period for raw updates has passed."""

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: UpdateStatus = Field(default=UpdateStatus.STORED, sa_type=String(16), index=True)
    worker: str | None = Field(default=None, max_length=64)  # the process that has it in hand
    received_at: datetime = _ts(nullable=False, default=utcnow)
    claimed_at: datetime | None = _ts(nullable=True)  # when a process began handling it
    processed_at: datetime | None = _ts(nullable=True)


class Worker(SQLModel, table=True):
    """A running bot process. Its heartbeat says it is alive: what it holds (updates in hand,
    outbox rows being sent) is taken over only once the heartbeat has stopped."""

    id: str = Field(primary_key=True, max_length=64)
    started_at: datetime = _ts(nullable=False, default=utcnow)
    heartbeat_at: datetime = _ts(nullable=False, default=utcnow, index=True)


class ClosedDays(SQLModel, table=True):
    """Days the school is closed (a break, a training day), from `first_day` to `last_day`
    both included, as imported from one calendar `source` (bot.domain.schoolyear). Public
    holidays are not stored: they come from the holidays library."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=500, index=True)  # the file's name or the feed's address
    name: str = Field(default="", max_length=200)
    first_day: date
    last_day: date = Field(index=True)


class AnswerStatus(StrEnum):
    DRAFT = "draft"  # drafted from a helper's reply; only coaches see it
    PUBLISHED = "published"  # offered by the router and at hand on the cards
    DISCARDED = "discarded"


class KnowledgeAnswer(SQLModel, table=True):
    """A self-service answer: seeded from knowledge/answers/*.yaml on first start, or drafted
    from a well-rated helper reply and published by a coach (bot.domain.answers). Texts and
    triggers per language; never the asker's name or question."""

    id: str = Field(primary_key=True, max_length=64)
    topic: str = Field(max_length=64)
    status: AnswerStatus = Field(default=AnswerStatus.DRAFT, sa_type=String(16), index=True)
    triggers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    text: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="fi", max_length=2)  # the language it was first written in
    source_ticket_id: int | None = Field(default=None, index=True)  # drafted from this ticket
    # Details the helper marked to be taken out of a draft (a room, a name the bot missed).
    hidden: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False,
                                                                     server_default="[]"))
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class ReplyPart(SQLModel, table=True):
    """One text the holder relayed to the asker: "Save as an answer" lets them choose which of
    these form the answer (`chosen` None: as the bot judged it, substantive or a pleasantry)."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(index=True)
    at: datetime = _ts(nullable=False, default=utcnow)
    text: str
    chosen: bool | None = None


class AnswerUseKind(StrEnum):
    OFFERED = "offered"  # the bot showed it to an asker
    HELPED = "helped"  # "This helped"
    WANTED = "wanted"  # "I still want to ask a helper"
    SENT = "sent"  # a helper sent it from the card


class AnswerUse(SQLModel, table=True):
    """What became of a self-service answer, for the reports: ids only, no text, no name."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False, default=utcnow, index=True)
    answer_id: str = Field(max_length=64, index=True)
    topic: str = Field(max_length=64)
    kind: AnswerUseKind = Field(sa_type=String(16))
    ticket_id: int | None = Field(default=None, index=True)


class RoutingCorrection(SQLModel, table=True):
    """A helper passed a ticket to another role or topic: the question's basic forms count for
    that role and topic in later routing (bot.domain.corrections). Forms only: never the
    question's text, nor a name."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False, default=utcnow, index=True)
    ticket_id: int | None = Field(default=None, index=True)  # one correction per ticket
    language: str = Field(max_length=2)
    from_role: str = Field(max_length=32)  # where the router had sent it
    role: str = Field(max_length=32)
    topic: str = Field(max_length=64)
    forms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Invite(SQLModel, table=True):
    """A one-time invitation link (bot.domain.invites): only the code's SHA-256 is kept, so the
    database never holds a link that works. Used, revoked or expired, it grants nothing."""

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = _ts(nullable=False, default=utcnow)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts(nullable=True)
    used_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    revoked_at: datetime | None = _ts(nullable=True)


class DeskSetting(SQLModel, table=True):
    """The desk's own settings made in Telegram (bot.domain.setup): the helpers' group, the staff
    code, when the desk was first started. The environment's variables win over these."""

    key: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=200)
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class ChannelStatus(StrEnum):
    OFFERED = "offered"  # the bot was made an admin there; the admin who did it is asked
    ANNOUNCE = "announce"  # an announcement channel
    DECLINED = "declined"


class DeskChannel(SQLModel, table=True):
    """A channel the bot was made an administrator of, and whether it is for announcements."""

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    status: ChannelStatus = Field(default=ChannelStatus.OFFERED, sa_type=String(16))
    asked: int | None = Field(default=None, sa_column=Column(BigInteger))  # the admin asked
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class StaffPass(SQLModel, table=True):
    """Someone who came with the staff code (staff-only mode): they keep their access when the
    code is rotated."""

    telegram_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    admitted_at: datetime = _ts(nullable=False, default=utcnow)


class SendBudget(SQLModel, table=True):
    """One lane of Telegram's flood limits (the bot overall, a group, a private chat) shared by
    every replica on PostgreSQL: the earliest time its next message may go, in seconds since
    the epoch on the database's clock (bot.telegram.budget). SQLite keeps it in memory."""

    lane: str = Field(primary_key=True, max_length=64)
    tat: float = 0.0
class Dialog(SQLModel, table=True):
    """What the bot waits for from one person in one chat between two of their updates: a step
    of a guided exchange (/newevent, "Add to #N?", /forget's confirmation…), its answers so far,
    and when it lapses. Read on every update, so a restart or another replica goes on from it
    (bot.domain.dialogs)."""

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=32)
    step: str = Field(max_length=32)
    answers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="fi", max_length=2)
    version: int = 0  # raised by every step: a step taken twice (two replicas) is taken once
    expires_at: datetime = _ts(nullable=False, index=True)
    updated_at: datetime = _ts(nullable=False, default=utcnow)
