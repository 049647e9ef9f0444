"""Intake: a staff member's question becomes a routed, stored ticket and a topic-log row."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import DEFAULT_LANGUAGE, LANGUAGES, ROLES
from bot.domain import answers, queue
from bot.domain.models import AnswerUseKind, Routing, Staff, Ticket, TicketStatus, TopicLog, utcnow
from bot.domain.routing import Router

# Characters that show nothing: a message of only these (and spaces) has no text. Format
# characters (zero-width space and joiners, the byte-order mark, direction marks, the soft
# hyphen) are found by their Unicode category, as are controls and spaces; these fillers are
# letters that print blank. Unassigned code points count as visible: they may be emoji newer
# than Python's Unicode tables.
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def _blank(char: str) -> bool:
    return unicodedata.category(char) in _BLANK_CATEGORIES or char in _BLANK_LETTERS


def storable(text: str) -> str:
    """`text` as every database can store it: PostgreSQL refuses NUL (it becomes a space) and
    no database driver can encode a lone surrogate (it becomes U+FFFD, the replacement mark)."""
    if text.isascii():
        return text.replace("\x00", " ")
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else " " if char == "\x00"
                   else char for char in text)


def clean_text(text: str | None) -> str:
    """A staff member's text as it is stored: storable, without blank characters at either end;
    empty when nothing visible is left but slashes (a lone "/", a zero-width space, a BOM),
    which the adapter answers with its "I found no text" message. Use it wherever staff text is
    stored."""
    text = storable(text or "")
    start, end = 0, len(text)
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    text = text[start:end]
    return text if any(not _blank(char) and char != "/" for char in text) else ""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the asker is told about their ticket."""

    ticket_id: int
    topic: str
    role: str
    language: str
    status: TicketStatus
    routing: Routing
    anonymous: bool
    roles: tuple[str, ...]  # choice order when routing is ASKED
    answer: str | None  # self-service answer offered while status is OFFERED
    duplicate: bool = False

    @property
    def needs_choice(self) -> bool:
        return self.routing is Routing.ASKED


def _receipt(ticket: Ticket, roles: tuple[str, ...] = ROLES, answer: str | None = None,
             duplicate: bool = False) -> Receipt:
    assert ticket.id is not None
    return Receipt(
        ticket_id=ticket.id, topic=ticket.topic, role=ticket.role, language=ticket.language,
        status=TicketStatus(ticket.status), routing=Routing(ticket.routing),
        anonymous=ticket.anonymous, roles=roles, answer=answer, duplicate=duplicate,
    )


async def _staff(session: AsyncSession, telegram_id: int) -> Staff:
    """The staff member's row, created if missing; safe when two updates of a new person (or two
    bot processes) arrive at once."""
    staff = await session.get(Staff, telegram_id)
    if staff is None:
        insert = postgres_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        await session.exec(insert(Staff).values(  # type: ignore[call-overload]
            telegram_id=telegram_id, anonymous=False, created_at=utcnow(),
        ).on_conflict_do_nothing())
        staff = await session.get(Staff, telegram_id)
        assert staff is not None
    return staff


def preferred_language(staff: Staff | None, telegram_language: str | None = None) -> str:
    """The user's /lang choice, else Telegram's language, else Finnish."""
    if staff and staff.language in LANGUAGES:
        return staff.language
    code = (telegram_language or (staff.telegram_language if staff else None) or "")[:2].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


async def language_of(
    *, session: AsyncSession, telegram_id: int, telegram_language: str | None
) -> str:
    return preferred_language(await session.get(Staff, telegram_id), telegram_language)


async def remember_staff(
    *, session: AsyncSession, telegram_id: int, first_name: str | None,
    telegram_language: str | None,
) -> Staff:
    """Create or refresh the staff member's row (name and Telegram language may change)."""
    staff = await _staff(session, telegram_id)
    name = clean_text(first_name)[:128] or None
    language = storable(telegram_language or "")[:16] or None
    if (staff.first_name, staff.telegram_language) != (name, language):
        staff.first_name, staff.telegram_language = name, language
        session.add(staff)
        await session.commit()  # only when something changed: this runs for every message
    return staff


async def set_language(*, session: AsyncSession, telegram_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    staff = await _staff(session, telegram_id)
    staff.language = language
    session.add(staff)
    await session.commit()


async def set_team(*, session: AsyncSession, telegram_id: int, team: str) -> str:
    """Store the staff member's team (trimmed, at most 64 characters); returns what was stored."""
    staff = await _staff(session, telegram_id)
    staff.team = " ".join(clean_text(team).split())[:64]
    session.add(staff)
    await session.commit()
    return staff.team


async def toggle_anonymous(*, session: AsyncSession, telegram_id: int) -> bool:
    """Flip the asker's default anonymity; returns the new setting."""
    staff = await _staff(session, telegram_id)
    staff.anonymous = not staff.anonymous
    session.add(staff)
    await session.commit()
    return staff.anonymous


def _log(ticket: Ticket, team: str | None, at: datetime) -> TopicLog:
    return TopicLog(
        at=at, ticket_id=ticket.id, topic=ticket.topic, role=ticket.role,
        language=ticket.language, team=team, routing=ticket.routing,
    )


async def submit_question(
    *, session: AsyncSession, router: Router, asker_id: int, chat_id: int, message_id: int,
    text: str, desk: queue.Desk, language_hint: str | None = None, now: datetime | None = None,
) -> Receipt:
    """Store the question as a routed ticket, its card queued for the helpers in the same
    transaction when it can go to them at once; the same Telegram message twice gives one
    ticket. The text is stored as `clean_text` leaves it (the adapter first checks that it is
    not empty)."""
    existing = (
        await session.exec(
            select(Ticket).where(Ticket.asker_chat_id == chat_id,
                                 Ticket.source_message_id == message_id)
        )
    ).first()
    if existing is not None:
        return _receipt(existing, duplicate=True)
    now = now or utcnow()
    text = clean_text(text)
    staff = await session.get(Staff, asker_id)
    decision = router.route(text, language_hint=language_hint)
    ticket = Ticket(
        created_at=now, updated_at=now,
        asker_id=asker_id, asker_chat_id=chat_id, source_message_id=message_id, text=text,
        language=decision.language, topic=decision.topic, role=decision.role,
        confidence=decision.confidence,
        routing=Routing.ASKED if decision.ask else Routing.AUTO,
        status=TicketStatus.OFFERED if decision.answer else TicketStatus.OPEN,
        anonymous=bool(staff and staff.anonymous),
    )
    session.add(ticket)
    await session.flush()
    if decision.answer:
        answers.record(session, answer_id=decision.answer, topic=decision.topic,
                       kind=AnswerUseKind.OFFERED, ticket_id=ticket.id, now=now)
    if not decision.ask:
        session.add(_log(ticket, staff.team if staff else None, now))
        if ticket.status == TicketStatus.OPEN:
            await queue.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket, decision.roles, decision.answer)


async def _own_ticket(session: AsyncSession, ticket_id: int, asker_id: int) -> Ticket | None:
    ticket = await session.get(Ticket, ticket_id)
    return ticket if ticket is not None and ticket.asker_id == asker_id else None


async def choose_role(
    *, session: AsyncSession, router: Router, ticket_id: int, asker_id: int, role: str,
    desk: queue.Desk, now: datetime,
) -> Receipt | None:
    """The asker picks the kind of helper for an unclear question; None if not theirs to pick."""
    ticket = await _own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.routing != Routing.ASKED or role not in ROLES:
        return None
    ticket.role = role
    ticket.topic = router.best_topic(ticket.text or "", role)
    ticket.routing = Routing.CHOSEN
    ticket.updated_at = now
    session.add(ticket)
    staff = await session.get(Staff, asker_id)
    session.add(_log(ticket, staff.team if staff else None, ticket.updated_at))
    if ticket.status == TicketStatus.OPEN:
        await queue.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket)


async def resolve_self_service(
    *, session: AsyncSession, ticket_id: int, asker_id: int, helped: bool, desk: queue.Desk,
    now: datetime,
) -> Receipt | None:
    """The asker says whether the self-service answer was enough; None if already decided."""
    ticket = await _own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status != TicketStatus.OFFERED:
        return None
    ticket.status = TicketStatus.CLOSED if helped else TicketStatus.OPEN
    ticket.self_served = helped
    ticket.updated_at = now
    session.add(ticket)
    await answers.record_outcome(session, ticket_id=ticket_id, helped=helped, now=now)
    if not helped and ticket.routing != Routing.ASKED:
        await queue.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket)


async def make_anonymous(*, session: AsyncSession, ticket_id: int, asker_id: int,
                         desk: queue.Desk, now: datetime) -> Receipt | None:
    """Hide the asker's identity on a ticket no helper has taken yet; its cards are edited."""
    ticket = await _own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status not in (TicketStatus.OFFERED, TicketStatus.OPEN):
        return None
    ticket.anonymous = True
    ticket.updated_at = now
    session.add(ticket)
    await queue.edit_cards(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket)
