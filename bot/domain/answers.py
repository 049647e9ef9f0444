"""The knowledge loop's answers: self-service answers live in the database, are at hand on the
helpers' cards, and are counted: offered, "this helped", "still want a helper", sent by a helper.
Drafts grow from well-rated helper replies in bot.domain.drafts; the reports' figures are
bot.domain.answer_figures.

knowledge/answers/*.yaml is the seed, imported on first start and exported on request. The
router reads the published answers (`refresh`) and uses a new one at once, without a restart.
Drafts never carry the asker's name or personal details, and never leave the coaches unseen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, cast

import yaml
from pydantic import ValidationError
from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES
from bot.domain import roster
from bot.domain.core import Unit, insert_new, run, table
from bot.domain.knowledge import Answer, Knowledge, KnowledgeError
from bot.domain.models import (
    AnswerStatus,
    AnswerUse,
    AnswerUseKind,
    Helper,
    KnowledgeAnswer,
    Routing,
    Staff,
    Ticket,
    TicketMessage,
    TicketStatus,
    TopicLog,
)
from bot.domain.routing import Router
from bot.domain.text import clean_text
from bot.domain.tickets import changes, messages, notices, views

GOOD_RATING = 4  # a reply rated at least this may become a self-service answer
SIMILAR_WINDOW = 200  # closed tickets of the topic compared for "similar questions"
SIMILAR_SHOWN = 3
SIMILAR_FLOOR = 0.2  # shared words over all words (Jaccard) below which nothing is similar


# --- the store ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AnswerView:
    """A self-service answer as the adapters need it: texts by language, trigger phrases by
    language, both read-only."""

    id: str
    topic: str
    status: AnswerStatus
    triggers: Mapping[str, tuple[str, ...]]
    text: Mapping[str, str]
    language: str  # the language it was first written in
    source_ticket_id: int | None  # drafted from this ticket


def answer_view(row: KnowledgeAnswer) -> AnswerView:
    return AnswerView(
        id=row.id, topic=row.topic, status=AnswerStatus(row.status),
        triggers=MappingProxyType({k: tuple(v) for k, v in row.triggers.items()}),
        text=MappingProxyType(dict(row.text)), language=row.language,
        source_ticket_id=row.source_ticket_id)


def _as_answer(row: KnowledgeAnswer) -> Answer:
    return Answer(id=row.id, topic=row.topic, triggers=row.triggers, text=row.text)


def draft_id(ticket_id: int) -> str:
    """The id of the draft answer made from a ticket's reply (bot.domain.drafts)."""
    return f"t{ticket_id}"


async def draft_of(session: AsyncSession, ticket_id: int) -> KnowledgeAnswer | None:
    return (await session.exec(select(KnowledgeAnswer).where(
        col(KnowledgeAnswer.source_ticket_id) == ticket_id))).first()


# Whether a ticket has its draft (a card's "save as an answer"), without loading it.
_DRAFT = sa_select(table(KnowledgeAnswer).c.id).where(
    table(KnowledgeAnswer).c.source_ticket_id == bindparam("ticket"))


async def seed(*, session: AsyncSession, knowledge: Knowledge, now: datetime) -> int:
    """On first start, the YAML answers become the published ones; later the database holds
    them (a coach's edits are not overwritten by the files)."""
    if not knowledge.answers or (
            await session.exec(select(KnowledgeAnswer.id).limit(1))).first() is not None:
        return 0
    # Two replicas starting on a new database both find it empty: the second one's rows are
    # dropped, not an error that stops it. The rows go as parameters, as in bot.domain.inbound.
    result = await session.exec(
        insert_new(session, KnowledgeAnswer).returning(col(KnowledgeAnswer.id)), params=[
            dict(id=answer.id, topic=answer.topic, status=AnswerStatus.PUBLISHED,
                 triggers={k: list(v) for k, v in answer.triggers.items()},
                 text=dict(answer.text), language="fi", created_at=now, updated_at=now)
            for answer in knowledge.answers])
    inserted = len(result.all())
    await session.commit()
    return inserted


async def published(*, session: AsyncSession) -> list[Answer]:
    rows = await session.exec(select(KnowledgeAnswer).where(
        col(KnowledgeAnswer.status) == AnswerStatus.PUBLISHED).order_by(col(KnowledgeAnswer.id)))
    found = []
    for row in rows:
        try:
            found.append(_as_answer(row))
        except ValidationError:
            continue  # a row edited by hand into something unusable is not offered
    return found


async def refresh(*, session: AsyncSession, router: Router) -> None:
    """The router uses the published answers from now on."""
    router.set_answers(await published(session=session))


async def get(*, session: AsyncSession, answer_id: str) -> AnswerView | None:
    row = await session.get(KnowledgeAnswer, answer_id)
    return None if row is None else answer_view(row)


async def listing(*, session: AsyncSession, status: AnswerStatus | None = None
                  ) -> list[AnswerView]:
    query = select(KnowledgeAnswer).order_by(col(KnowledgeAnswer.id))
    if status is not None:
        query = query.where(col(KnowledgeAnswer.status) == status)
    return [answer_view(row) for row in await session.exec(query)]


def export_yaml(found: Iterable[AnswerView]) -> str:
    """Published answers in the seed's own shape (knowledge/answers/*.yaml)."""
    data = {"answers": [{"id": a.id, "topic": a.topic,
                         "triggers": {k: list(v) for k, v in a.triggers.items()},
                         "text": dict(a.text)}
                        for a in found if a.status == AnswerStatus.PUBLISHED]}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


async def import_yaml(*, session: AsyncSession, knowledge: Knowledge, text: str, now: datetime
                      ) -> int:
    """Answers from a YAML file (the seed's shape) published, replacing those of the same id;
    the file is checked whole before anything is stored."""
    try:
        data = yaml.safe_load(text) or {}
        answers = [Answer(**spec) for spec in data.get("answers", [])]
    except (yaml.YAMLError, ValidationError, TypeError, AttributeError) as exc:
        raise KnowledgeError(str(exc).splitlines()[0]) from None
    for answer in answers:
        if answer.topic not in knowledge.topics:
            raise KnowledgeError(f"answer {answer.id} names an unknown topic {answer.topic}")
    for answer in answers:
        row = await session.get(KnowledgeAnswer, answer.id) or KnowledgeAnswer(
            id=answer.id, topic=answer.topic, created_at=now)
        row.topic, row.status = answer.topic, AnswerStatus.PUBLISHED
        row.triggers = {k: list(v) for k, v in answer.triggers.items()}
        row.text, row.updated_at = dict(answer.text), now
        session.add(row)
    await session.commit()
    return len(answers)


# --- on the card --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AtHand:
    """What the card shows beside the question: answers to send, similar closed questions (their
    numbers only), and whether the reply may be saved as an answer."""

    answers: tuple[str, ...] = ()
    similar: tuple[int, ...] = ()
    savable: bool = False
    cues: tuple[str, ...] = ()  # the words that routed it ("Routed by: …"), when routed so


_TICKETS = table(Ticket).c
# Every card runs it: built once (building it took longer than running it).
_CLOSED_OF_TOPIC = sa_select(_TICKETS.id, _TICKETS.text, _TICKETS.language).where(
    _TICKETS.topic == bindparam("topic"), _TICKETS.status == TicketStatus.CLOSED,
    _TICKETS.id != bindparam("ticket"), _TICKETS.text.is_not(None),
).order_by(_TICKETS.id.desc()).limit(SIMILAR_WINDOW)


@lru_cache(maxsize=4096)
def _forms(router: Router, _answers: int, text: str, language: str) -> frozenset[str]:
    """A closed question's basic forms, kept: every card of its topic compares them (the
    answers in use, `_answers`, add to the router's words)."""
    return frozenset(router.content_forms(text, language))


async def similar(*, session: Unit, router: Router, ticket: Any,
                  limit: int = SIMILAR_SHOWN) -> list[int]:
    """Earlier closed tickets of the same topic whose words (basic forms, as the router reads
    them) are closest; the newest few hundred are compared. Every card runs it, over up to
    SIMILAR_WINDOW rows: the rows are read at once (not one by one through the result), and a
    question sharing no word with this one is passed over before any set is built."""
    if not ticket.text:
        return []
    mine = frozenset(router.content_forms(ticket.text, ticket.language))
    if not mine:
        return []
    rows = cast(Sequence[tuple[int, str | None, str]], (await run(
        session, _CLOSED_OF_TOPIC, {"topic": ticket.topic, "ticket": ticket.id})).all())
    version, size, scored = router.answers_version, len(mine), []
    for other_id, text, language in rows:
        theirs = _forms(router, version, text or "", language)
        if mine.isdisjoint(theirs):
            continue
        shared = len(mine & theirs)
        score = shared / (size + len(theirs) - shared)  # Jaccard: shared over all
        if score >= SIMILAR_FLOOR:
            scored.append((score, other_id))
    return [other_id for _, other_id in sorted(scored, key=lambda s: (-s[0], -s[1]))[:limit]]


async def at_hand(*, session: AsyncSession, router: Router, ticket_id: int) -> AtHand:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return AtHand()
    return await _at_hand(session, router, ticket)


async def card(*, session: AsyncSession, router: Router, ticket_id: int
               ) -> tuple[views.TicketView, AtHand] | None:
    """What a ticket's card shows, read at once: the ticket with its asker's and claimer's
    names (one statement, built once), and what is at hand."""
    row = (await run(session, _CARD, {"ticket": ticket_id})).first()
    if row is None:
        return None
    view = views.view_from(row, row.asker_name, row.asker_team, row.claimer_name)
    return view, await _at_hand(session, router, row)


_CARD_TICKET, _ASKER, _CLAIMER = table(Ticket), table(Staff), table(Helper)
_CARD = sa_select(_CARD_TICKET, _ASKER.c.first_name.label("asker_name"),
                  _ASKER.c.team.label("asker_team"), _CLAIMER.c.name.label("claimer_name")
                  ).select_from(_CARD_TICKET.outerjoin(
                      _ASKER, _ASKER.c.telegram_id == _CARD_TICKET.c.asker_id).outerjoin(
                      _CLAIMER, _CLAIMER.c.telegram_id == _CARD_TICKET.c.claimed_by)
                  ).where(_CARD_TICKET.c.id == bindparam("ticket"))
_MESSAGE, _READER, _READER_STAFF = (table(TicketMessage).c, table(Helper).alias("reader"),
                                     table(Staff).alias("reader_staff"))
# A private card: the same, with the card already in that chat (if any) and what the language
# of the helper it goes to is made of (bot.domain.roster.spoken_language), in the one statement.
_PRIVATE_CARD = _CARD.add_columns(
    sa_select(_MESSAGE.message_id).where(
        _MESSAGE.ticket_id == _CARD_TICKET.c.id, _MESSAGE.chat_id == bindparam("chat"),
        _MESSAGE.kind == messages.Kind.CARD).limit(1).scalar_subquery().label("sent"),
    sa_select(_READER.c.languages).where(_READER.c.telegram_id == bindparam("chat"))
    .scalar_subquery().label("reader_languages"),
    sa_select(_READER_STAFF.c.language).where(_READER_STAFF.c.telegram_id == bindparam("chat"))
    .scalar_subquery().label("reader_chosen"),
    sa_select(_READER_STAFF.c.telegram_language).where(
        _READER_STAFF.c.telegram_id == bindparam("chat")).scalar_subquery().label("reader_code"))


@dataclass(frozen=True, slots=True)
class PrivateCard:
    """What a helper's private card needs: the ticket, what is at hand, and the helper's
    language as bot.domain.roster.HelperView.language works it out (None: not on the roster)."""

    ticket: views.TicketView
    at_hand: AtHand
    reader: tuple[str | None, str | None, tuple[str, ...]] | None

    def language(self, default: str) -> str:
        if self.reader is None:
            return default
        chosen, code, languages = self.reader
        return roster.spoken_language(chosen, code, languages, default)


async def private_card(*, session: Unit, router: Router, ticket_id: int, chat_id: int
                       ) -> PrivateCard | None:
    """A ticket's card for one helper's private chat, read in one statement; None when the
    ticket is gone or closed, or its card is in that chat already. Core statements only: a
    connection will do (`Database.unit`)."""
    row = (await run(session, _PRIVATE_CARD, {"ticket": ticket_id, "chat": chat_id})).first()
    if row is None or row.sent is not None or row.status == TicketStatus.CLOSED:
        return None
    view = views.view_from(row, row.asker_name, row.asker_team, row.claimer_name)
    # languages is never NULL for a helper: NULL is no helper of that id
    reader = None if row.reader_languages is None else (
        row.reader_chosen, row.reader_code, tuple(row.reader_languages))
    return PrivateCard(view, await _at_hand(session, router, row), reader)


async def _at_hand(session: Unit, router: Router, ticket: Any) -> AtHand:
    """`ticket`: its ORM row, or a Core row of its columns."""
    assert ticket.id is not None
    ticket_id = ticket.id
    savable = (ticket.status == TicketStatus.CLOSED and bool(ticket.reply_text)
               and (ticket.rating or 0) >= GOOD_RATING
               and (await run(session, _DRAFT, {"ticket": ticket_id})).first() is None)
    suggested, alike, cues = await _routed(session, router, ticket)
    return AtHand(suggested, alike, savable, cues)


# A new ticket's card goes to each of its role's helpers, one after another within
# milliseconds: what it shows is worked out once for them all and kept a while — what routing
# shows (answers at hand, the cues) from the moment the question is routed (`keep_routing`,
# when the router's sums for its words are at hand) until its cards are made, which under a
# burst is seconds to minutes later (the sender paces them); the similar questions a few
# seconds from the first card. A published answer (a new `router.answers`) or a changed ticket
# is worked out anew. The oldest go first when there are many (a few hundred bytes each).
_ROUTING_KEPT_SECONDS = 600.0
_ALIKE_KEPT_SECONDS = 5.0
_KEPT_MAX = 2048
_Routed = tuple[tuple[str, ...], tuple[str, ...]]  # answers at hand, cues
_kept_routing: dict[tuple[object, ...], tuple[float, _Routed]] = {}
_kept_alike: dict[tuple[object, ...], tuple[float, tuple[int, ...]]] = {}


def _routing_key(router: Router, ticket_id: int, text: str, topic: str, role: str,
                 routing: Routing, language: str) -> tuple[object, ...]:
    # The text's hash, not the text: a question's words are not kept in memory for this.
    return (router, router.answers_version, ticket_id, hash(text), topic, role, routing,
            language)


def _keep(kept: dict[tuple[object, ...], tuple[float, Any]], key: tuple[object, ...],
          value: Any, now: float) -> None:
    if len(kept) >= _KEPT_MAX:
        del kept[next(iter(kept))]  # the oldest
    kept[key] = (now, value)


def _card_routing(router: Router, text: str, topic: str, role: str, routing: Routing,
                  language: str) -> _Routed:
    suggested = tuple(router.suggest(text, topic, language=language)) if text else ()
    cues = tuple(router.explain(text, role, language=language)) \
        if text and routing == Routing.AUTO else ()
    return suggested, cues


def keep_routing(router: Router, *, ticket_id: int, text: str, topic: str, role: str,
                 routing: Routing, language: str) -> None:
    """Work out what a new ticket's cards will show of its routing, right after the question
    was routed (its words' sums are still at hand: a quarter of the cost at the card)."""
    _keep(_kept_routing, _routing_key(router, ticket_id, text, topic, role, routing, language),
          _card_routing(router, text, topic, role, routing, language), time.monotonic())


async def _routed(session: Unit, router: Router, ticket: Any
                  ) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    text = ticket.text or ""
    now = time.monotonic()
    key = _routing_key(router, ticket.id, text, ticket.topic, ticket.role, ticket.routing,
                       ticket.language)
    kept = _kept_routing.get(key)
    if kept is not None and now - kept[0] <= _ROUTING_KEPT_SECONDS:
        suggested, cues = kept[1]
    else:
        suggested, cues = _card_routing(router, text, ticket.topic, ticket.role, ticket.routing,
                                        ticket.language)
        _keep(_kept_routing, key, (suggested, cues), now)
    held = _kept_alike.get(key)
    if held is not None and now - held[0] <= _ALIKE_KEPT_SECONDS:
        alike = held[1]
    else:
        alike = tuple(await similar(session=session, router=router, ticket=ticket))
        _keep(_kept_alike, key, alike, now)
    return suggested, alike, cues


# --- counting -------------------------------------------------------------------------------------

def record(session: AsyncSession, *, answer_id: str, topic: str, kind: AnswerUseKind,
           ticket_id: int | None, now: datetime) -> None:
    """Note what became of an answer, in the caller's transaction."""
    session.add(AnswerUse(at=now, answer_id=answer_id, topic=topic, kind=kind,
                          ticket_id=ticket_id))


async def record_outcome(session: AsyncSession, *, ticket_id: int, helped: bool,
                         now: datetime) -> None:
    """The asker decided about the answer the bot offered on this ticket."""
    offered = (await session.exec(select(AnswerUse).where(
        col(AnswerUse.ticket_id) == ticket_id, col(AnswerUse.kind) == AnswerUseKind.OFFERED,
    ).order_by(col(AnswerUse.id).desc()))).first()
    if offered is not None:
        record(session, answer_id=offered.answer_id, topic=offered.topic, ticket_id=ticket_id,
               kind=AnswerUseKind.HELPED if helped else AnswerUseKind.WANTED, now=now)


# --- sending from the card ------------------------------------------------------------------------

class Sending(StrEnum):
    SENT = "sent"
    HELD = "held"  # another helper holds the ticket
    CLOSED = "closed"
    UNKNOWN = "unknown"  # no such ticket or answer (any more)


async def send(*, session: AsyncSession, router: Router, ticket_id: int, answer_id: str,
               helper_id: int, now: datetime, desk: views.Desk
               ) -> tuple[Sending, views.TicketView | None]:
    """A helper sends a self-service answer to the asker with one press: in the asker's
    language, as a reply to their question (queued), and the helpers see it was sent. An open
    ticket is claimed by the press; it counts as the first answer."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or router.answer(answer_id) is None \
            or ticket.status == TicketStatus.OFFERED:
        return Sending.UNKNOWN, None
    if ticket.status == TicketStatus.CLOSED:
        return Sending.CLOSED, await views.view(session=session, ticket_id=ticket_id)
    if ticket.status == TicketStatus.OPEN:
        await changes.claim(session=session, ticket_id=ticket_id, helper_id=helper_id, now=now,
                            desk=desk, commit=False)  # one transaction for the press
        await session.refresh(ticket)
    if ticket.claimed_by != helper_id:
        return Sending.HELD, await views.view(session=session, ticket_id=ticket_id)
    if ticket.first_answer_at is None:
        ticket.first_answer_at = now
        ticket.first_answer_minutes = max(0.0, (now - ticket.created_at).total_seconds() / 60)
        ticket.first_answer_office_minutes = desk.policy.hours.working_minutes_between(
            ticket.created_at, now)
    ticket.sla_due_at = None
    ticket.updated_at = now
    session.add(ticket)
    notices.to_asker(session, ticket, "answer", now, answer=answer_id, helper=helper_id)
    await notices.to_helpers(session, desk, ticket, now, params={
        "template": "answer_sent", "answer": answer_id, "helper": helper_id})
    record(session, answer_id=answer_id, topic=ticket.topic, kind=AnswerUseKind.SENT,
           ticket_id=ticket_id, now=now)
    view = await views.view(session=session, ticket_id=ticket_id)
    await session.commit()
    return Sending.SENT, view


async def saved(session: AsyncSession, row: KnowledgeAnswer, now: datetime) -> AnswerView:
    """A draft or answer changed by hand: stamped, committed, and shown as it now is."""
    row.updated_at = now
    session.add(row)
    await session.commit()
    return answer_view(row)


async def set_text(*, session: AsyncSession, answer_id: str, language: str, text: str,
                   now: datetime) -> AnswerView | None:
    """A coach's text for one language of a draft (or of a published answer)."""
    row = await session.get(KnowledgeAnswer, answer_id)
    if row is None or language not in LANGUAGES or row.status == AnswerStatus.DISCARDED:
        return None
    row.text = {**row.text, language: clean_text(text)[:3000]}
    return await saved(session, row, now)


async def set_triggers(*, session: AsyncSession, answer_id: str, language: str,
                       triggers: list[str], now: datetime) -> AnswerView | None:
    row = await session.get(KnowledgeAnswer, answer_id)
    if row is None or language not in LANGUAGES:
        return None
    row.triggers = {**row.triggers, language: [t.strip() for t in triggers if t.strip()]}
    return await saved(session, row, now)


def missing_languages(answer: AnswerView) -> list[str]:
    return [lang for lang in LANGUAGES if not (answer.text.get(lang) or "").strip()]


async def publish(*, session: AsyncSession, router: Router | None, answer_id: str,
                  now: datetime) -> tuple[AnswerView | None, list[str]]:
    """Publish a draft: every language needs its text. The router given uses it at once (other
    processes within a minute); returns the answer and the languages still missing."""
    row = await session.get(KnowledgeAnswer, answer_id)
    if row is None or row.status == AnswerStatus.DISCARDED:
        return None, []
    missing = missing_languages(answer_view(row))
    if missing or not any(row.triggers.values()):
        return answer_view(row), missing or ["triggers"]
    row.status, row.updated_at = AnswerStatus.PUBLISHED, now
    session.add(row)
    await session.commit()
    view = answer_view(row)
    if router is not None:
        await refresh(session=session, router=router)
    return view, []


async def discard(*, session: AsyncSession, router: Router | None, answer_id: str,
                  now: datetime) -> bool:
    result = await session.exec(update(KnowledgeAnswer).where(
        col(KnowledgeAnswer.id) == answer_id,
        col(KnowledgeAnswer.status) != AnswerStatus.DISCARDED,
    ).values(status=AnswerStatus.DISCARDED, updated_at=now))
    await session.commit()
    if router is not None:
        await refresh(session=session, router=router)
    return result.rowcount == 1


# --- hallway and phone questions ------------------------------------------------------------------

async def log_hallway(*, session: AsyncSession, topic: str, role: str, language: str,
                      team: str | None, now: datetime) -> None:
    """A question that came face to face or by phone: counted, with no text and no name."""
    session.add(TopicLog(at=now, ticket_id=None, topic=topic, role=role, language=language,
                         team=team, routing=Routing.HALLWAY))
    await session.commit()
