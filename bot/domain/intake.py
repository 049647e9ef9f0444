"""Intake: a staff member's question becomes a routed, stored ticket and a topic-log row."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import DEFAULT_LANGUAGE, LANGUAGES, ROLES
from bot.domain import answers
from bot.domain.core import insert_new, run, table
from bot.domain.models import (
    AnswerUseKind,
    Routing,
    Staff,
    Ticket,
    TicketStatus,
    TopicLog,
    utcnow,
)
from bot.domain.routing import Router
from bot.domain.smalltalk import SmallTalk, small_talk
from bot.domain.text import clean_text, storable
from bot.domain.tickets import changes, notices, views

UNSURE = "unsure"  # the asker does not know whom to ask: the router's best guess
# A person whose Telegram speaks none of our languages (and who chose none with /lang) is
# answered in English throughout, unless a question's own words are clearly in one of ours.
FOREIGN_LANGUAGE = "en"
CONFIDENT_SHARE = 0.6  # of a question's words known to one language's dictionary


@dataclass(frozen=True, slots=True)
class Part:
    """One more message of the same question (sent while the asker was asked where it
    belongs): its words, and whether it carries a picture, file or voice."""

    message_id: int
    text: str
    media: bool = False


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


def receipt_of(ticket: Ticket, roles: tuple[str, ...] = ROLES, answer: str | None = None,
             duplicate: bool = False) -> Receipt:
    assert ticket.id is not None
    return Receipt(
        ticket_id=ticket.id, topic=ticket.topic, role=ticket.role, language=ticket.language,
        status=TicketStatus(ticket.status), routing=Routing(ticket.routing),
        anonymous=ticket.anonymous, roles=roles, answer=answer, duplicate=duplicate,
    )


async def _staff(session: AsyncSession, telegram_id: int, **values: str | None
                 ) -> tuple[Staff, bool]:
    """The staff member's row, created with `values` if missing (then True); safe when two
    updates of a new person (or two bot processes) arrive at once."""
    staff = await session.get(Staff, telegram_id)
    if staff is not None:
        return staff, False
    await session.exec(insert_new(session, Staff).values(
        telegram_id=telegram_id, anonymous=False, created_at=utcnow(), **values))
    staff = await session.get(Staff, telegram_id)
    assert staff is not None
    return staff, True


def preferred_language(staff: Staff | None, telegram_language: str | None = None) -> str:
    """The user's /lang choice, else Telegram's language if it is one of ours, else English
    for a Telegram language of another (FOREIGN_LANGUAGE), else Finnish."""
    if staff is None:
        return _preferred(None, telegram_language)
    return _preferred(staff.language, telegram_language or staff.telegram_language)


def _preferred(chosen: str | None, telegram_language: str | None) -> str:
    if chosen in LANGUAGES:
        return chosen
    code = (telegram_language or "")[:2].lower()
    if code in LANGUAGES:
        return code
    return FOREIGN_LANGUAGE if code else DEFAULT_LANGUAGE


def _foreign(chosen: str | None, telegram_language: str | None) -> bool:
    """No /lang choice, and Telegram's language is none of ours."""
    code = (telegram_language or "")[:2].lower()
    return chosen not in LANGUAGES and bool(code) and code not in LANGUAGES


def question_language(router: Router, text: str) -> str:
    """The language to answer a foreign person's question in: the text's own when one of ours
    knows most of its words (bot.domain.lemmas), else FOREIGN_LANGUAGE."""
    ranked = router.lemmas.languages(text) if text.strip() else []
    best, share = ranked[0] if ranked else ("unk", 0.0)
    if best in LANGUAGES and share >= CONFIDENT_SHARE and (
            len(ranked) < 2 or ranked[1][1] < share):
        return best
    return FOREIGN_LANGUAGE


async def language_of(
    *, session: AsyncSession, telegram_id: int, telegram_language: str | None
) -> str:
    return preferred_language(await session.get(Staff, telegram_id), telegram_language)


@dataclass(frozen=True, slots=True)
class Person:
    """What the adapters (and a new question) need to know of the staff member who wrote."""

    language: str  # to answer in (bot.domain.intake.preferred_language)
    chose_language: bool  # with /lang, rather than taken from Telegram
    anonymous: bool = False  # asks anonymously by default (/anon)
    team: str | None = None
    foreign: bool = False  # Telegram's language is none of ours, and no /lang choice


# The hot path's statements, built once (every message runs them; SQLAlchemy would otherwise
# build each again and work out its cache key every time).
_STAFF = table(Staff).c
_PERSON = sa_select(_STAFF.first_name, _STAFF.language, _STAFF.telegram_language,
                    _STAFF.anonymous, _STAFF.team
                    ).where(_STAFF.telegram_id == bindparam("telegram_id"))
_RENAME = update(table(Staff)).where(_STAFF.telegram_id == bindparam("id")).values(
    first_name=bindparam("name"), telegram_language=bindparam("code"))


async def remember_staff(
    *, session: AsyncSession, telegram_id: int, first_name: str | None,
    telegram_language: str | None, commit: bool = True,
) -> Person:
    """Create or refresh the staff member's row (name and Telegram language may change). This
    runs for every message: a known person costs one read, a new one a read and an insert, and
    a change is written only when there is one. `commit=False`: the caller's transaction goes on
    (a new question stores the person with the ticket, and a greeting stores nothing)."""
    name = clean_text(first_name)[:128] or None
    language = storable(telegram_language or "")[:16] or None
    row = (await run(session, _PERSON, {"telegram_id": telegram_id})).first()
    created = changed = False
    if row is None:
        inserted = await run(session, insert_new(session, Staff), {
            "telegram_id": telegram_id, "first_name": name, "telegram_language": language,
            "anonymous": False, "created_at": utcnow()})
        created = inserted.rowcount == 1
        if not created:  # another update of theirs (or another process) was first
            row = (await run(session, _PERSON, {"telegram_id": telegram_id})).one()
    if row is None:
        chosen, anonymous, team = None, False, None
    else:
        chosen, anonymous, team = row.language, row.anonymous, row.team
        if (row.first_name, row.telegram_language) != (name, language):
            changed = True
            await run(session, _RENAME, {"id": telegram_id, "name": name, "code": language})
    if commit and (created or changed):
        await session.commit()
    return Person(_preferred(chosen, language), chosen in LANGUAGES, bool(anonymous), team,
                  _foreign(chosen, language))


async def set_language(*, session: AsyncSession, telegram_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    staff, _ = await _staff(session, telegram_id)
    staff.language = language
    session.add(staff)
    await session.commit()


async def set_team(*, session: AsyncSession, telegram_id: int, team: str) -> str:
    """Store the staff member's team (trimmed, at most 64 characters); returns what was stored."""
    staff, _ = await _staff(session, telegram_id)
    staff.team = " ".join(clean_text(team).split())[:64]
    session.add(staff)
    await session.commit()
    return staff.team


async def team_of(*, session: AsyncSession, telegram_id: int) -> str | None:
    """The team the staff member has given, if any."""
    return (await session.exec(select(Staff.team).where(
        col(Staff.telegram_id) == telegram_id))).first()


async def toggle_anonymous(*, session: AsyncSession, telegram_id: int) -> bool:
    """Flip the asker's default anonymity; returns the new setting."""
    staff, _ = await _staff(session, telegram_id)
    staff.anonymous = not staff.anonymous
    session.add(staff)
    await session.commit()
    return staff.anonymous


def log_of(ticket: Ticket, team: str | None, at: datetime) -> TopicLog:
    return TopicLog(
        at=at, ticket_id=ticket.id, topic=ticket.topic, role=ticket.role,
        language=ticket.language, team=team, routing=ticket.routing,
    )


async def submit_question(
    *, session: AsyncSession, router: Router, asker_id: int, chat_id: int, message_id: int,
    text: str, desk: views.Desk, language_hint: str | None = None, now: datetime | None = None,
    media: bool = False, more: tuple[Part, ...] = (), asker: Person | None = None,
    fresh: bool = False,
) -> Receipt:
    """Store the question as a routed ticket, its card queued for the helpers in the same
    transaction when it can go to them at once; the same Telegram message twice gives one
    ticket. The text is stored as `clean_text` leaves it (the adapter first checks that it is
    not empty, unless the message is a picture, file or voice, which follows the card: then
    the caption routes it, and without one the asker is asked whom it is for). `more`: the
    messages that followed it as one question, routed and stored with it.

    Every new question runs this: its rows are written with Core statements, not ORM objects
    (building a Ticket alone cost more than its insert). `asker`: the person as read in this
    transaction (`remember_staff`); `fresh`: this transaction has found the message not stored
    yet (bot.domain.tickets.conversation), so it is not looked for again."""
    if not fresh:
        existing = (await session.exec(select(Ticket).where(
            Ticket.asker_chat_id == chat_id, Ticket.source_message_id == message_id))).first()
        if existing is not None:
            return receipt_of(existing, duplicate=True)
    now = now or utcnow()
    text = clean_text("\n\n".join(part for part in (text, *(p.text for p in more)) if part))
    media_ids = [message_id] if media else []
    media_ids += [p.message_id for p in more if p.media]
    if asker is None:
        row = (await run(session, _PERSON, {"telegram_id": asker_id})).first()
        asker = Person(DEFAULT_LANGUAGE, False, bool(row and row.anonymous),
                       row.team if row else None)
    decision = router.route(text, language_hint=language_hint)
    if asker.foreign:  # one fallback for the acknowledgement, the card's tag and the log
        decision = replace(decision, language=question_language(router, text))
    if not text:  # a picture or voice without words: the asker says whom it is for
        decision = replace(decision, ask=True, answer=None, roles=ROLES,
                           language=language_hint or decision.language)
    routing = Routing.ASKED if decision.ask else Routing.AUTO
    status = TicketStatus.OFFERED if decision.answer else TicketStatus.OPEN
    values: dict[str, object] = dict(
        created_at=now, updated_at=now, asker_id=asker_id, asker_chat_id=chat_id,
        source_message_id=message_id, text=text, language=decision.language,
        topic=decision.topic, role=decision.role, confidence=decision.confidence,
        routing=routing, status=status, anonymous=asker.anonymous)
    if media_ids:
        values["media"] = media_ids
    delivered = not decision.ask and status is TicketStatus.OPEN
    if delivered:
        values.update(changes.clock_values(desk, decision.role, now))
    ticket_id = (await run(session, _NEW_TICKET, values)).scalar_one()
    offered = router.answer(decision.answer) if decision.answer else None
    if offered is not None:  # counted under the answer's own topic, whatever the ticket's
        answers.record(session, answer_id=offered.id, topic=offered.topic,
                       kind=AnswerUseKind.OFFERED, ticket_id=ticket_id, now=now)
    if not decision.ask:
        await run(session, _NEW_LOG, dict(
            at=now, ticket_id=ticket_id, topic=decision.topic, role=decision.role,
            language=decision.language, team=asker.team, routing=routing))
    if delivered:
        await changes.queue_new(session, desk, ticket_id=ticket_id, role=decision.role,
                                language=decision.language, team=asker.team, now=now,
                                chat_id=chat_id, media=media_ids)
        answers.keep_routing(router, ticket_id=ticket_id, text=text, topic=decision.topic,
                             role=decision.role, routing=routing, language=decision.language)
    await session.commit()
    return Receipt(ticket_id=ticket_id, topic=decision.topic, role=decision.role,
                   language=decision.language, status=status, routing=routing,
                   anonymous=asker.anonymous, roles=decision.roles, answer=decision.answer)


# Core, on the tables: neither ORM objects nor the ORM's bulk machinery.
_NEW_TICKET = insert(table(Ticket)).returning(col(Ticket.id))
_NEW_LOG = insert(table(TopicLog))


async def own_ticket(session: AsyncSession, ticket_id: int, asker_id: int) -> Ticket | None:
    ticket = await session.get(Ticket, ticket_id)
    return ticket if ticket is not None and ticket.asker_id == asker_id else None


async def choose_role(
    *, session: AsyncSession, router: Router, ticket_id: int, asker_id: int, role: str,
    desk: views.Desk, now: datetime,
) -> Receipt | None:
    """The asker picks the kind of helper for an unclear question, or says they do not know
    (`UNSURE`: the router's best guess); None if not theirs to pick."""
    ticket = await own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.routing != Routing.ASKED or role not in (*ROLES, UNSURE) \
            or ticket.status not in (TicketStatus.OPEN, TicketStatus.OFFERED):
        return None
    if role == UNSURE:
        decision = router.route(ticket.text or "", language_hint=ticket.language)
        ticket.role, ticket.topic = decision.role, decision.topic
        ticket.routing = Routing.AUTO  # as when nobody chose (sweep.unchosen)
    else:
        ticket.role = role
        ticket.topic = router.best_topic(ticket.text or "", role)
        ticket.routing = Routing.CHOSEN
    ticket.updated_at = now
    session.add(ticket)
    staff = await session.get(Staff, asker_id)
    log = log_of(ticket, staff.team if staff else None, ticket.updated_at)
    if role == UNSURE:
        log.routing = Routing.ASKED
    session.add(log)
    if ticket.status == TicketStatus.OPEN:
        await changes.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return receipt_of(ticket)


DOUBLE_TAP = timedelta(seconds=10)  # "I don't know" pressed again this soon: one tap


async def chosen_already(*, session: AsyncSession, ticket_id: int, asker_id: int, role: str,
                         now: datetime) -> Receipt | None:
    """The asker's waiting question whose kind of helper was chosen on its chooser already, for
    a role button (`role`) pressed again: a double tap, whose first press made the chooser the
    acknowledgement. None otherwise: a chooser left from before, when the question's later
    words decided (it has moved on)."""
    ticket = await own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status not in (TicketStatus.OPEN, TicketStatus.OFFERED):
        return None
    if ticket.routing == Routing.CHOSEN or (
            role == UNSURE and ticket.routing == Routing.AUTO
            and now - ticket.updated_at <= DOUBLE_TAP):
        return receipt_of(ticket)
    return None


async def resolve_self_service(
    *, session: AsyncSession, ticket_id: int, asker_id: int, helped: bool, desk: views.Desk,
    now: datetime, more: Part | None = None,
) -> Receipt | None:
    """The asker says whether the self-service answer was enough; None if already decided (or
    passed to the helpers meanwhile, bot.domain.offers: taken by a conditional update). `more`:
    what they wrote instead of pressing (it was not enough), kept with the question in the same
    update."""
    ticket = await own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status != TicketStatus.OFFERED:
        return None
    values: dict[str, object] = dict(
        status=TicketStatus.CLOSED if helped else TicketStatus.OPEN, self_served=helped,
        # when, so that a "it did not work after all" soon after finds it (converse)
        closed_at=now if helped else None, updated_at=now)
    if more is not None:
        values["text"] = clean_text(f"{ticket.text or ''}\n\n{more.text}")
        if more.media:
            values["media"] = [*(ticket.media or []), more.message_id]
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OFFERED,
    ).values(**values))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await answers.record_outcome(session, ticket_id=ticket_id, helped=helped, now=now)
    if not helped and ticket.routing != Routing.ASKED:
        await changes.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return receipt_of(ticket)


async def make_anonymous(*, session: AsyncSession, ticket_id: int, asker_id: int,
                         desk: views.Desk, now: datetime) -> Receipt | None:
    """Hide the asker's identity on a ticket no helper has taken yet; its cards are edited."""
    ticket = await own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status not in (TicketStatus.OFFERED, TicketStatus.OPEN):
        return None
    ticket.anonymous = True
    ticket.updated_at = now
    session.add(ticket)
    await notices.edit_cards(session, desk, ticket, now)
    await session.commit()
    return receipt_of(ticket)


def chat(text: str) -> SmallTalk | None:
    """A greeting, a thank-you, "anyone there?", a lone "?" or emoji (bot.domain.smalltalk):
    nothing to store as a question; None when the words may hold one."""
    return small_talk(clean_text(text))
