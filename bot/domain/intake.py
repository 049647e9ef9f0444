"""Intake: a staff member's question becomes a routed, stored ticket and a topic-log row."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, delete, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import DEFAULT_LANGUAGE, LANGUAGES, ROLES
from bot.domain import answers, core
from bot.domain.core import run, table
from bot.domain.models import (
    AnswerUse,
    AnswerUseKind,
    Outbox,
    OutboxKind,
    Routing,
    Staff,
    Ticket,
    TicketStatus,
    TopicLog,
    insert_new,
    saved_id,
    utcnow,
)
from bot.domain.routing import Router
from bot.domain.smalltalk import SmallTalk, small_talk
from bot.domain.text import clean_text, storable
from bot.domain.tickets import changes, messages, notices, views

UNSURE = "unsure"  # the asker does not know whom to ask: the router's best guess
# A short message with a word beginning so (or one of the short words) thanks rather than asks.
_THANKS = ("kiitos", "kiitti", "kiitoks", "tack", "thank", "thanx")
_THANKS_WORDS = frozenset({"thx", "tnx", "ty", "kiitän", "kiittää"})
_THANKS_MAX_WORDS = 15
# Words that open a message going on with the matter at hand ("ai niin, ja meillä on myös…",
# "och också…", "also, …"): in fi, sv and en.
_CONTINUING = ("ai niin", "ainiin", "niin ja", "ja", "lisäksi", "myös", "vielä", "och", "också",
               "dessutom", "förresten", "also", "and", "plus", "btw", "by the way")
# Words that say a self-service answer did not help after all ("ei se sittenkään toiminut",
# "det fungerar ändå inte", "it still does not work"), whatever else the message names.
_AFTER_ALL = ("sittenkään", "vieläkään", "ändå", "fortfarande", "after all", "still")
_CONTINUING_WITHIN = 3  # words: "Ja vielä…", "Oh, and also…"
MAX_FEEDBACK = 2000  # characters of the asker's comments kept (bot.domain.tickets.changes.comment)


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


def _receipt(ticket: Ticket, roles: tuple[str, ...] = ROLES, answer: str | None = None,
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
    """The user's /lang choice, else Telegram's language, else Finnish."""
    if staff is None:
        return _preferred(None, telegram_language)
    return _preferred(staff.language, telegram_language or staff.telegram_language)


def _preferred(chosen: str | None, telegram_language: str | None) -> str:
    if chosen in LANGUAGES:
        return chosen
    code = (telegram_language or "")[:2].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


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
        inserted = await run(session, core.insert_new(session, Staff), {
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
    return Person(_preferred(chosen, language), chosen in LANGUAGES, bool(anonymous), team)


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


async def toggle_anonymous(*, session: AsyncSession, telegram_id: int) -> bool:
    """Flip the asker's default anonymity; returns the new setting."""
    staff, _ = await _staff(session, telegram_id)
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
    yet (`converse`), so it is not looked for again."""
    if not fresh:
        existing = (await session.exec(select(Ticket).where(
            Ticket.asker_chat_id == chat_id, Ticket.source_message_id == message_id))).first()
        if existing is not None:
            return _receipt(existing, duplicate=True)
    now = now or utcnow()
    text = clean_text("\n\n".join(part for part in (text, *(p.text for p in more)) if part))
    media_ids = [message_id] if media else []
    media_ids += [p.message_id for p in more if p.media]
    if asker is None:
        row = (await run(session, _PERSON, {"telegram_id": asker_id})).first()
        asker = Person(DEFAULT_LANGUAGE, False, bool(row and row.anonymous),
                       row.team if row else None)
    decision = router.route(text, language_hint=language_hint)
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
    if decision.answer:
        answers.record(session, answer_id=decision.answer, topic=decision.topic,
                       kind=AnswerUseKind.OFFERED, ticket_id=ticket_id, now=now)
    if not decision.ask:
        await run(session, _NEW_LOG, dict(
            at=now, ticket_id=ticket_id, topic=decision.topic, role=decision.role,
            language=decision.language, team=asker.team, routing=routing))
    if delivered:
        await changes.queue_new(session, desk, ticket_id=ticket_id, role=decision.role,
                                language=decision.language, team=asker.team, now=now,
                                chat_id=chat_id, media=media_ids)
    await session.commit()
    return Receipt(ticket_id=ticket_id, topic=decision.topic, role=decision.role,
                   language=decision.language, status=status, routing=routing,
                   anonymous=asker.anonymous, roles=decision.roles, answer=decision.answer)


# Core, on the tables: neither ORM objects nor the ORM's bulk machinery.
_NEW_TICKET = insert(table(Ticket)).returning(col(Ticket.id))
_NEW_LOG = insert(table(TopicLog))


async def _own_ticket(session: AsyncSession, ticket_id: int, asker_id: int) -> Ticket | None:
    ticket = await session.get(Ticket, ticket_id)
    return ticket if ticket is not None and ticket.asker_id == asker_id else None


async def choose_role(
    *, session: AsyncSession, router: Router, ticket_id: int, asker_id: int, role: str,
    desk: views.Desk, now: datetime,
) -> Receipt | None:
    """The asker picks the kind of helper for an unclear question, or says they do not know
    (`UNSURE`: the router's best guess); None if not theirs to pick."""
    ticket = await _own_ticket(session, ticket_id, asker_id)
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
    log = _log(ticket, staff.team if staff else None, ticket.updated_at)
    if role == UNSURE:
        log.routing = Routing.ASKED
    session.add(log)
    if ticket.status == TicketStatus.OPEN:
        await changes.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket)


async def resolve_self_service(
    *, session: AsyncSession, ticket_id: int, asker_id: int, helped: bool, desk: views.Desk,
    now: datetime,
) -> Receipt | None:
    """The asker says whether the self-service answer was enough; None if already decided (or
    passed to the helpers meanwhile, bot.domain.offers: taken by a conditional update)."""
    ticket = await _own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status != TicketStatus.OFFERED:
        return None
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OFFERED,
    ).values(status=TicketStatus.CLOSED if helped else TicketStatus.OPEN, self_served=helped,
             # when, so that a "it did not work after all" soon after finds it (converse)
             closed_at=now if helped else None, updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await answers.record_outcome(session, ticket_id=ticket_id, helped=helped, now=now)
    if not helped and ticket.routing != Routing.ASKED:
        await changes.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket)


async def make_anonymous(*, session: AsyncSession, ticket_id: int, asker_id: int,
                         desk: views.Desk, now: datetime) -> Receipt | None:
    """Hide the asker's identity on a ticket no helper has taken yet; its cards are edited."""
    ticket = await _own_ticket(session, ticket_id, asker_id)
    if ticket is None or ticket.status not in (TicketStatus.OFFERED, TicketStatus.OPEN):
        return None
    ticket.anonymous = True
    ticket.updated_at = now
    session.add(ticket)
    await notices.edit_cards(session, desk, ticket, now)
    await session.commit()
    return _receipt(ticket)


# --- the asker's conversation --------------------------------------------------------------------

def chat(text: str) -> SmallTalk | None:
    """A greeting, a thank-you, "anyone there?", a lone "?" or emoji (bot.domain.smalltalk):
    nothing to store as a question; None when the words may hold one."""
    return small_talk(clean_text(text))


def is_thanks(text: str) -> bool:
    """A short thank-you ("Kiitos paljon!", "Tack så mycket", "Thanks, it works now")."""
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return 0 < len(words) <= _THANKS_MAX_WORDS and any(
        word.startswith(_THANKS) or word in _THANKS_WORDS for word in words)


def continues(text: str) -> bool:
    """Does the message open with a word that goes on with the matter at hand ("ai niin",
    "ja", "lisäksi", "och", "också", "also", "and"…)?"""
    return _opens_with(text, _CONTINUING, within=_CONTINUING_WITHIN)


def _opens_with(text: str, phrases: tuple[str, ...], *, within: int) -> bool:
    """Is one of the phrases among the message's first `within` words?"""
    words = "".join(c if c.isalnum() else " " for c in text.casefold()).split()
    head = words[:within]
    return any(" ".join(head[i:i + len(p.split())]) == p
               for p in phrases for i in range(len(head)))


def clearly_other(router: Router, ticket: Ticket, text: str, *, quiet: bool) -> bool:
    """The one follow-up rule. A message joins the asker's question without asking when it goes
    on with it: a reply to it (decided before this rule is asked), a continuation word
    (`continues`), or words about the same matter. Only a clearly different matter is asked
    about: words that go confidently to another role (after a close, to another topic too),
    or any words after `quiet` (the conversation's gap) that do not continue it."""
    if continues(text):
        return False
    if ticket.status == TicketStatus.CLOSED:
        return not is_thanks(text) and _elsewhere(router, ticket, text, ticket.language,
                                                  other_topic=True)
    return quiet or _elsewhere(router, ticket, text, ticket.language)


class Turn(StrEnum):
    """What became of a message from someone with a question going on."""

    NEW = "new"  # no conversation to join: a new question
    MERGED = "merged"  # kept with a question that waits for a role or a decision
    ROUTED = "routed"  # merged, and the words together now say whom to ask
    RELAYED = "relayed"  # copied to the question's helpers
    REOPENED = "reopened"  # relayed, and a closed question is open again
    UNSOLVED = "unsolved"  # a self-service answer did not help after all: to the helpers now
    FEEDBACK = "feedback"  # a comment on a question just closed, passed to its helper
    THANKS = "thanks"  # a thank-you after a self-service answer: nothing to store
    ASK = "ask"  # clearly a different matter: add to the question, or a new one?


@dataclass(frozen=True, slots=True)
class Conversation:
    turn: Turn
    receipt: Receipt | None = None  # the question it joined, or might join
    claimed: bool = False  # a helper holds the question
    stored: bool = False  # NEW: the message is a question stored already (delivered again)


_GOING_ON = (TicketStatus.OFFERED, TicketStatus.OPEN, TicketStatus.CLAIMED)


# Every message from an asker runs it: built once, with bind parameters.
_CONVERSATION = select(Ticket).where(
    col(Ticket.asker_id) == bindparam("asker"),
    col(Ticket.status).in_(_GOING_ON)
    | ((col(Ticket.status) == TicketStatus.CLOSED) & (col(Ticket.closed_at) >= bindparam("since")))
    | ((col(Ticket.asker_chat_id) == bindparam("chat"))
       & (col(Ticket.source_message_id) == bindparam("message"))))


async def _conversation(session: AsyncSession, asker_id: int, chat_id: int, message_id: int,
                        now: datetime, window: timedelta) -> tuple[bool, Ticket | None]:
    """In one read: whether the message is itself a stored question (delivered again), and the
    asker's open question (the latest), else the one closed most recently within `window`."""
    rows = list(await session.exec(_CONVERSATION, params={
        "asker": asker_id, "since": now - window, "chat": chat_id, "message": message_id}))
    if any(t.asker_chat_id == chat_id and t.source_message_id == message_id for t in rows):
        return True, None
    open_ = [t for t in rows if t.status in _GOING_ON]
    if open_:
        return False, max(open_, key=saved_id)
    closed = [t for t in rows if t.closed_at is not None]  # within the window, as read
    return False, max(closed, key=lambda t: (t.closed_at, saved_id(t)), default=None)


async def _last_word(session: AsyncSession, ticket: Ticket) -> datetime:
    """When the conversation last moved: the question itself, or the latest message queued
    between the asker and the helpers (a relay either way, a notice to the asker; reminders
    among the helpers do not count). `updated_at` will not do: bulk updates by the
    sender set it to the wall clock."""
    latest = (await session.exec(select(func.max(Outbox.due_at)).where(
        col(Outbox.ticket_id) == ticket.id,
        (col(Outbox.kind) == OutboxKind.COPY) | (col(Outbox.chat_id) == ticket.asker_chat_id),
    ))).first()
    return max(ticket.created_at, latest) if latest is not None else ticket.created_at


def _elsewhere(router: Router, ticket: Ticket, text: str, language: str, *,
               other_topic: bool = False) -> bool:
    """The words go confidently to another role than the question's (`other_topic`: or to
    another of its topics)."""
    if not text or ticket.routing == Routing.ASKED:
        return False
    decision = router.route(text, language_hint=language)
    return not decision.ask and (decision.role != ticket.role
                                 or (other_topic and decision.topic != ticket.topic))


async def _merge(session: AsyncSession, router: Router, desk: views.Desk, ticket: Ticket,
                 text: str, message_id: int, media: bool, now: datetime) -> Conversation:
    """More words (or a picture) for a question the helpers have not seen yet: kept with it;
    while the asker has not chosen a role, the words together are routed again."""
    if text:
        ticket.text = clean_text(f"{ticket.text or ''}\n\n{text}")
    if media:
        ticket.media = [*(ticket.media or []), message_id]
    ticket.updated_at = now
    session.add(ticket)
    roles: tuple[str, ...] = ROLES
    if ticket.routing == Routing.ASKED and text:
        decision = router.route(ticket.text or "", language_hint=ticket.language)
        roles = decision.roles
        if not decision.ask:
            ticket.role, ticket.topic = decision.role, decision.topic
            ticket.confidence, ticket.routing = decision.confidence, Routing.AUTO
            staff = await session.get(Staff, ticket.asker_id)
            session.add(_log(ticket, staff.team if staff else None, now))
            if ticket.status == TicketStatus.OPEN:
                await changes.queue_delivery(session, desk, ticket, now)
            await session.commit()
            return Conversation(Turn.ROUTED, _receipt(ticket))
    await session.commit()
    return Conversation(Turn.MERGED, _receipt(ticket, roles))


async def converse(
    *, session: AsyncSession, router: Router, desk: views.Desk, asker_id: int, chat_id: int,
    message_id: int, text: str, media: bool, reply_to: int | None, now: datetime,
    window: timedelta, gap: timedelta, join: int | None = None,
) -> Conversation:
    """One conversation per asker: does this message belong to a question going on?

    A reply to one of the question's messages, or `join` (the asker pressed "Add to #12"),
    joins that question. Otherwise a plain message joins the asker's open question, or is a
    comment on one closed within `window`, unless it is clearly a different matter
    (`clearly_other`, the one follow-up rule: then ASK). Joining keeps it with
    a question that waits for a role (and routes the words together), relays it to the helpers
    of one that waits or is held, and reopens a closed one replied to."""
    text = clean_text(text)
    itself, latest = await _conversation(session, asker_id, chat_id, message_id, now, window)
    if itself:  # the question itself, delivered again: intake answers
        return Conversation(Turn.NEW, stored=True)
    ticket: Ticket | None = None
    explicit = join is not None
    if join is not None:
        ticket = await _own_ticket(session, join, asker_id)
    elif reply_to is not None:
        found = await messages.find_message(session=session, chat_id=chat_id, message_id=reply_to)
        if found is not None:
            ticket = await _own_ticket(session, found.ticket_id, asker_id)
            explicit = ticket is not None
            if ticket is not None and found.kind == messages.Kind.COMMENT:
                return await _comment(session, desk, ticket, text, now)
    if ticket is None and not explicit:
        ticket = latest
    if ticket is None:
        return Conversation(Turn.NEW)
    receipt = _receipt(ticket)
    if ticket.status == TicketStatus.CLOSED and ticket.self_served:
        if is_thanks(text):
            return Conversation(Turn.THANKS, receipt)
        if _unsolved_again(router, ticket, text, explicit):
            return await _unsolve(session, desk, ticket, text, message_id, media, now)
        if not explicit:
            return Conversation(Turn.NEW, receipt)
    if ticket.status == TicketStatus.CLOSED and not explicit:
        if not text:
            return Conversation(Turn.NEW)
        # After a close a comment is short and about that matter; a question about another
        # topic, even the same helpers' (Wilma, then Teams), is asked about, never swallowed.
        if clearly_other(router, ticket, text, quiet=False):
            return Conversation(Turn.ASK, receipt)
        return await _comment(session, desk, ticket, text, now)
    if not explicit and ticket.status != TicketStatus.CLOSED and clearly_other(
            router, ticket, text, quiet=now - await _last_word(session, ticket) > gap):
        # "Hei!" after hours of quiet is no other matter to ask about: intake greets back.
        return Conversation(Turn.NEW if chat(text) else Turn.ASK, receipt)
    if ticket.status == TicketStatus.CLOSED and is_thanks(text) and not ticket.self_served:
        return await _comment(session, desk, ticket, text, now)  # thanks: nothing to reopen
    if ticket.status == TicketStatus.OFFERED or ticket.routing == Routing.ASKED:
        if ticket.status == TicketStatus.CLOSED:
            return Conversation(Turn.NEW)
        return await _merge(session, router, desk, ticket, text, message_id, media, now)
    followup = await changes.asker_message(
        session=session, asker_id=asker_id, chat_id=chat_id, message_id=message_id,
        reply_to=None, now=now, desk=desk, ticket_id=ticket.id)
    if followup is None:  # closed too long ago, or solved by the asker: a new question
        return Conversation(Turn.NEW)
    await session.refresh(ticket)
    return Conversation(Turn.REOPENED if followup.reopened else Turn.RELAYED, _receipt(ticket),
                        claimed=followup.ticket.claimed_by is not None)


async def _comment(session: AsyncSession, desk: views.Desk, ticket: Ticket, text: str,
                   now: datetime) -> Conversation:
    """The asker's words after their question was closed: a comment for its helper. A later
    comment is added to the earlier one; a bare "kiitos" or emoji after a comment adds nothing
    to keep (the helper has the words that matter) and is thanked back."""
    assert ticket.id is not None and ticket.asker_id is not None
    earlier = ticket.feedback
    if text and earlier and chat(text):
        return Conversation(Turn.THANKS, _receipt(ticket))
    if text:
        both = f"{earlier}\n\n{text}" if earlier else text
        await changes.comment(session=session, ticket_id=ticket.id, asker_id=ticket.asker_id,
                              text=both if len(both) <= MAX_FEEDBACK else text, now=now,
                              desk=desk)
    return Conversation(Turn.FEEDBACK, _receipt(ticket))


def _unsolved_again(router: Router, ticket: Ticket, text: str, explicit: bool) -> bool:
    """After "This helped": do these words say that it did not, after all? A reply to the
    answer does (unless it only thanks or greets); so, within the conversation window, do
    words that are no small talk and either say nothing the router is sure of ("it still does
    not work") or are about the same topic. Not after "Solved it myself": that question was
    the helpers' already."""
    if ticket.solved_by_asker or not text or chat(text):
        return False
    if explicit or _opens_with(text, _AFTER_ALL, within=5):
        return True
    decision = router.route(text, language_hint=ticket.language)
    return decision.ask or decision.topic == ticket.topic


async def _unsolve(session: AsyncSession, desk: views.Desk, ticket: Ticket, text: str,
                   message_id: int, media: bool, now: datetime) -> Conversation:
    """The self-service answer did not help after all: the question is open again, with the
    new words, and goes to its role's helpers (or waits for the asker's choice of role); the
    answer is counted as not having helped."""
    assert ticket.id is not None
    ticket.text = clean_text(f"{ticket.text or ''}\n\n{text}")
    if media:
        ticket.media = [*(ticket.media or []), message_id]
    ticket.status, ticket.self_served, ticket.closed_at = TicketStatus.OPEN, False, None
    ticket.updated_at = now
    session.add(ticket)
    await session.exec(delete(AnswerUse).where(
        col(AnswerUse.ticket_id) == ticket.id, col(AnswerUse.kind) == AnswerUseKind.HELPED))
    await answers.record_outcome(session, ticket_id=ticket.id, helped=False, now=now)
    if ticket.routing == Routing.ASKED:
        await session.commit()
        return Conversation(Turn.MERGED, _receipt(ticket))
    await changes.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return Conversation(Turn.UNSOLVED, _receipt(ticket))
