"""The asker's conversation: which question a message from someone with a question going on
joins (one conversation per asker), and what becomes of it there: kept with a question that
waits for a role, relayed to its helpers, a comment on one just closed, a self-service answer
that did not help after all, or "a new question?" when it is clearly another matter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, bindparam, delete, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ROLES
from bot.domain import answers
from bot.domain.core import run, table
from bot.domain.intake import (
    Part,
    Receipt,
    chat,
    log_of,
    own_ticket,
    receipt_of,
    resolve_self_service,
)
from bot.domain.models import (
    AnswerUse,
    AnswerUseKind,
    Outbox,
    OutboxKind,
    Routing,
    Staff,
    Ticket,
    TicketStatus,
    saved_id,
)
from bot.domain.routing import Router
from bot.domain.text import clean_text
from bot.domain.tickets import changes, messages, views

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
# Words that turn a thank-you into more: "kiitos, mutta…", "tack, men…", "thanks, but…".
_BUT = frozenset({"mutta", "mut", "paitsi", "men", "but", "however"})
_CONTINUING_WITHIN = 3  # words: "Ja vielä…", "Oh, and also…"
MAX_FEEDBACK = 2000  # characters of the asker's comments kept (bot.domain.tickets.changes.comment)


def is_thanks(text: str) -> bool:
    """A short thank-you ("Kiitos paljon!", "Tack så mycket", "Thanks, it works now"); not one
    that goes on to ask or to say it still does not work ("Kiitos, mutta kamera ei vieläkään
    toimi", "thanks, but how do I…?")."""
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    if "?" in text or any(word in _BUT for word in words) or _mentions(text, _AFTER_ALL):
        return False
    return 0 < len(words) <= _THANKS_MAX_WORDS and any(
        word.startswith(_THANKS) or word in _THANKS_WORDS for word in words)


def typed_stars(text: str) -> int:
    """A rating typed rather than pressed: "5", "4/5", "★★★", "3 tähteä"; 0 when the message
    is not one."""
    words = text.replace("/5", " ").split()
    if text.strip() and set(text.strip()) == {"★"} and len(text.strip()) <= 5:
        return len(text.strip())
    if 1 <= len(words) <= 2 and words[0] in ("1", "2", "3", "4", "5") and (
            len(words) == 1 or words[1].strip(".!").lower() in (
                "tähteä", "tähti", "stjärnor", "stjärna", "stars", "star")):
        return int(words[0])
    return 0


def continues(text: str) -> bool:
    """Does the message open with a word that goes on with the matter at hand ("ai niin",
    "ja", "lisäksi", "och", "också", "also", "and"…)?"""
    return _opens_with(text, _CONTINUING, within=_CONTINUING_WITHIN)


def _mentions(text: str, phrases: tuple[str, ...]) -> bool:
    """Is one of the phrases anywhere in the message?"""
    return _opens_with(text, phrases, within=len(text))


def _opens_with(text: str, phrases: tuple[str, ...], *, within: int) -> bool:
    """Is one of the phrases among the message's first `within` words?"""
    words = "".join(c if c.isalnum() else " " for c in text.casefold()).split()
    head = words[:within]
    return any(" ".join(head[i:i + len(p.split())]) == p
               for p in phrases for i in range(len(head)))


def clearly_other(router: Router, ticket: Ticket, text: str, *, quiet: bool,
                  answering: bool = False) -> bool:
    """The one follow-up rule. A message joins the asker's question without asking when it goes
    on with it: a reply to it (decided before this rule is asked), a continuation word
    (`continues`), an answer to what its helper just wrote (`answering`: the helper spoke
    last, and the message asks nothing), or words about the same matter. Only a clearly
    different matter is asked about: words that go confidently to another role (after a close,
    to another topic too), or any words after `quiet` (the conversation's gap) that do not
    continue it. Another topic of the same role joins while the question is open: a follow-up
    often asks the next thing of the same matter ("the student is at the workplace now: update
    the HOKS?")."""
    if continues(text):
        return False
    if ticket.status == TicketStatus.CLOSED:
        return not is_thanks(text) and _elsewhere(router, ticket, text, ticket.language,
                                                  other_topic=True)
    if quiet:
        return True
    if answering and "?" not in text:  # an answer tells; a new matter would ask
        return False
    return _elsewhere(router, ticket, text, ticket.language)


class Turn(StrEnum):
    """What became of a message from someone with a question going on."""

    NEW = "new"  # no conversation to join: a new question
    MERGED = "merged"  # kept with a question that waits for a role or a decision
    ROUTED = "routed"  # merged, and the words together now say whom to ask
    RELAYED = "relayed"  # copied to the question's helpers
    REOPENED = "reopened"  # relayed, and a closed question is open again
    UNSOLVED = "unsolved"  # a self-service answer did not help after all: to the helpers now
    PASSED = "passed"  # more words while a self-service answer is offered: to the helpers now
    RATED = "rated"  # stars typed as a number after the close ("5"): the rating, once
    FEEDBACK = "feedback"  # a comment on a question just closed, passed to its helper
    THANKS = "thanks"  # a thank-you after a self-service answer: nothing to store
    ASK = "ask"  # clearly a different matter: add to the question, or a new one?


@dataclass(frozen=True, slots=True)
class Conversation:
    turn: Turn
    receipt: Receipt | None = None  # the question it joined, or might join
    claimed: bool = False  # a helper holds the question
    stored: bool = False  # NEW: the message is a question stored already (delivered again)
    apart: int | None = None  # NEW: the asker's named question this anonymous one is kept from
    rated: views.TicketView | None = None  # RATED: the question as rated
    stars: int = 0  # RATED: how many


_GOING_ON = (TicketStatus.OFFERED, TicketStatus.OPEN, TicketStatus.CLAIMED)


# Every message from an asker runs it: built once, with bind parameters (the statuses compared
# one by one: an IN list is a parameter SQLAlchemy renders into the SQL again at every run).
_TICKET = table(Ticket).c
_ASKERS_GOING_ON_OR_LATELY = (_TICKET.asker_id == bindparam("asker")) & (
    or_(*(_TICKET.status == status for status in _GOING_ON))
    | ((_TICKET.status == TicketStatus.CLOSED) & (_TICKET.closed_at >= bindparam("since")))
    | ((_TICKET.asker_chat_id == bindparam("chat"))
       & (_TICKET.source_message_id == bindparam("message"))))
_CONVERSATION = select(Ticket).where(_ASKERS_GOING_ON_OR_LATELY)
# Most messages are new questions, whose askers have nothing going on: a Core read of one
# column finds that without the ORM's loading (a third of the cost of such a message's read).
_ANY = sa_select(_TICKET.id).where(_ASKERS_GOING_ON_OR_LATELY).limit(1)


async def _conversation(session: AsyncSession, asker_id: int, chat_id: int, message_id: int,
                        now: datetime, window: timedelta) -> tuple[bool, Ticket | None]:
    """In one read (two when there is anything): whether the message is itself a stored
    question (delivered again), and the asker's open question (the latest), else the one closed
    most recently within `window`."""
    params = {"asker": asker_id, "since": now - window, "chat": chat_id, "message": message_id}
    if (await run(session, _ANY, params)).first() is None:
        return False, None
    rows = list(await session.exec(_CONVERSATION, params=params))
    if any(t.asker_chat_id == chat_id and t.source_message_id == message_id for t in rows):
        return True, None
    open_ = [t for t in rows if t.status in _GOING_ON]
    if len(open_) > 1:  # the one where the conversation last moved: a helper's question there
        moved = await _last_words(session, open_)  # is answered there, not in the newest
        return False, max(open_, key=lambda t: (moved[saved_id(t)], saved_id(t)))
    if open_:
        return False, open_[0]
    closed = [t for t in rows if t.closed_at is not None]  # within the window, as read
    return False, max(closed, key=lambda t: (t.closed_at, saved_id(t)), default=None)


def _between(ticket: Ticket) -> ColumnElement[bool]:
    """The messages queued between the asker and the helpers: a relay either way, a notice to
    the asker (reminders among the helpers do not count)."""
    return (col(Outbox.kind) == OutboxKind.COPY) | (col(Outbox.chat_id) == ticket.asker_chat_id)


async def _last_word(session: AsyncSession, ticket: Ticket) -> tuple[datetime, bool]:
    """When the conversation last moved (the question itself, or the latest message queued
    between the asker and the helpers; `updated_at` will not do: bulk updates by the sender
    set it to the wall clock), and whether that was its helper writing to the asker: the
    asker's next words then answer them."""
    latest = (await session.exec(
        select(Outbox.due_at, Outbox.kind, Outbox.chat_id)
        .where(col(Outbox.ticket_id) == ticket.id, _between(ticket))
        .order_by(col(Outbox.due_at).desc(), col(Outbox.id).desc()).limit(1))).first()
    if latest is None or latest[0] < ticket.created_at:
        return ticket.created_at, False
    return latest[0], latest[1] == OutboxKind.COPY and latest[2] == ticket.asker_chat_id


async def _last_words(session: AsyncSession, tickets: list[Ticket]) -> dict[int, datetime]:
    """`_last_word`'s moment for several questions of one asker (one chat), in one read."""
    rows = await session.exec(
        select(Outbox.ticket_id, func.max(Outbox.due_at))
        .where(col(Outbox.ticket_id).in_([saved_id(t) for t in tickets]), _between(tickets[0]))
        .group_by(col(Outbox.ticket_id)))
    moved = {ticket_id: at for ticket_id, at in rows if ticket_id is not None}
    return {saved_id(t): max(t.created_at, moved.get(saved_id(t), t.created_at))
            for t in tickets}


async def _named_while_anonymous(session: AsyncSession, ticket: Ticket, asker_id: int) -> bool:
    """The asker now asks anonymously (/anon) and the question going on shows their name: a
    message does not join it unasked, or the helpers would read it under that name. It becomes
    a new, anonymous question (the asker may still join it on purpose: a reply to it). The
    other way round nothing is revealed: a named message joins an anonymous question."""
    if ticket.anonymous:
        return False
    anonymous = (await session.exec(select(Staff.anonymous).where(
        col(Staff.telegram_id) == asker_id))).first()
    return bool(anonymous)


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
            session.add(log_of(ticket, staff.team if staff else None, now))
            if ticket.status == TicketStatus.OPEN:
                await changes.queue_delivery(session, desk, ticket, now)
            await session.commit()
            return Conversation(Turn.ROUTED, receipt_of(ticket))
    await session.commit()
    return Conversation(Turn.MERGED, receipt_of(ticket, roles))


async def converse(
    *, session: AsyncSession, router: Router, desk: views.Desk, asker_id: int, chat_id: int,
    message_id: int, text: str, media: bool, reply_to: int | None, now: datetime,
    window: timedelta, gap: timedelta, join: int | None = None,
) -> Conversation:
    """One conversation per asker: does this message belong to a question going on?

    A reply to one of the question's messages, or `join` (the asker pressed "Add to #12"),
    joins that question. Otherwise a plain message joins the asker's open question (unless it
    shows their name and they now ask anonymously: `_named_while_anonymous`), or is a
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
        ticket = await own_ticket(session, join, asker_id)
    elif reply_to is not None:
        found = await messages.find_message(session=session, chat_id=chat_id, message_id=reply_to)
        if found is not None:
            ticket = await own_ticket(session, found.ticket_id, asker_id)
            explicit = ticket is not None
            if ticket is not None and found.kind == messages.Kind.COMMENT:
                return await _comment(session, desk, ticket, text, now)
    if ticket is None and not explicit:
        ticket = latest
        if ticket is not None and await _named_while_anonymous(session, ticket, asker_id):
            if ticket.status != TicketStatus.CLOSED and (await _last_word(session, ticket))[1]:
                # Its helper has just asked them something: whether this answers it (under
                # their name) or is a new, anonymous matter is theirs to say, not a guess.
                return Conversation(Turn.ASK, receipt_of(ticket))
            return Conversation(Turn.NEW, apart=ticket.id)
    if ticket is None:
        return Conversation(Turn.NEW)
    receipt = receipt_of(ticket)
    stars = typed_stars(text)
    if stars and ticket.status == TicketStatus.CLOSED and not ticket.self_served \
            and ticket.rating is None and ticket.id is not None:
        rated = await changes.rate(session=session, ticket_id=ticket.id, asker_id=asker_id,
                                   stars=stars, now=now, desk=desk)
        if rated is not None and rated.counted:
            return Conversation(Turn.RATED, receipt, rated=rated.ticket, stars=stars)
    if ticket.status == TicketStatus.CLOSED and ticket.self_served:
        if is_thanks(text):
            return Conversation(Turn.THANKS, receipt)
        if _unsolved_again(router, ticket, text, explicit):
            return await _unsolve(session, desk, ticket, text, message_id, media, now)
        if ticket.solved_by_asker and text and (explicit or _mentions(text, _AFTER_ALL)):
            # "Solved it myself", then "it did not work after all": the helpers' question is
            # theirs again, reopened as any closed question replied to.
            ticket.self_served = ticket.solved_by_asker = False
            session.add(ticket)
            explicit = True
        elif not explicit:
            return Conversation(Turn.NEW, receipt)
    if ticket.status == TicketStatus.CLOSED and not explicit:
        if not text:
            return Conversation(Turn.NEW)
        # After a close a comment is short and about that matter; a question about another
        # topic, even the same helpers' (Wilma, then Teams), is asked about, never swallowed.
        if clearly_other(router, ticket, text, quiet=False):
            return Conversation(Turn.ASK, receipt)
        return await _comment(session, desk, ticket, text, now)
    if not explicit and ticket.status != TicketStatus.CLOSED:
        moved, answering = await _last_word(session, ticket)
        if clearly_other(router, ticket, text, quiet=now - moved > gap, answering=answering):
            # "Hei!" after hours of quiet is no other matter to ask about: intake greets back.
            return Conversation(Turn.NEW if chat(text) else Turn.ASK, receipt)
    if ticket.status == TicketStatus.CLOSED and is_thanks(text) and not ticket.self_served:
        return await _comment(session, desk, ticket, text, now)  # thanks: nothing to reopen
    if ticket.status == TicketStatus.OFFERED and ticket.routing != Routing.ASKED and text \
            and not is_thanks(text) and ticket.id is not None:
        # More words while a self-service answer is offered ("ei auttanut, se sivu ei aukea"):
        # it was not enough, so the question goes to its helpers now, with them, rather than
        # wait for the offer to lapse. None: "I still want to ask" or the offers' sweep was
        # first (the message then joins the question as any other).
        passed = await resolve_self_service(
            session=session, ticket_id=ticket.id, asker_id=asker_id, helped=False, desk=desk,
            now=now, more=Part(message_id, text, media))
        if passed is not None:
            return Conversation(Turn.PASSED, passed)
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
    return Conversation(Turn.REOPENED if followup.reopened else Turn.RELAYED, receipt_of(ticket),
                        claimed=followup.ticket.claimed_by is not None)


async def _comment(session: AsyncSession, desk: views.Desk, ticket: Ticket, text: str,
                   now: datetime) -> Conversation:
    """The asker's words after their question was closed: a comment for its helper. A later
    comment is added to the earlier one; a bare "kiitos" or emoji after a comment adds nothing
    to keep (the helper has the words that matter) and is thanked back."""
    assert ticket.id is not None and ticket.asker_id is not None
    earlier = ticket.feedback
    if text and earlier and chat(text):
        return Conversation(Turn.THANKS, receipt_of(ticket))
    if text:
        both = f"{earlier}\n\n{text}" if earlier else text
        await changes.comment(session=session, ticket_id=ticket.id, asker_id=ticket.asker_id,
                              text=both if len(both) <= MAX_FEEDBACK else text, now=now,
                              desk=desk)
    return Conversation(Turn.FEEDBACK, receipt_of(ticket))


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
        return Conversation(Turn.MERGED, receipt_of(ticket))
    await changes.queue_delivery(session, desk, ticket, now)
    await session.commit()
    return Conversation(Turn.UNSOLVED, receipt_of(ticket))
