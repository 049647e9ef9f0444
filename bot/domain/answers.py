"""The knowledge loop: self-service answers live in the database, are at hand on the helpers'
cards, grow from well-rated helper replies (drafted, reviewed and published by a coach), and are
counted: offered, "this helped", "still want a helper", sent by a helper.

knowledge/answers/*.yaml is the seed, imported on first start and exported on request. The
router reads the published answers (`refresh`) and uses a new one at once, without a restart.
Drafts never carry the asker's name or personal details, and never leave the coaches unseen.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import bindparam, case, func, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES
from bot.domain import outbox
from bot.domain.core import run, table
from bot.domain.knowledge import Answer, Knowledge, KnowledgeError
from bot.domain.models import (
    AnswerStatus,
    AnswerUse,
    AnswerUseKind,
    Helper,
    KnowledgeAnswer,
    OutboxKind,
    Priority,
    ReplyPart,
    Routing,
    Staff,
    Ticket,
    TicketStatus,
    TopicLog,
    insert_new,
    saved_id,
)
from bot.domain.routing import Router
from bot.domain.text import clean_text
from bot.domain.tickets import changes, notices, views

GOOD_RATING = 4  # a reply rated at least this may become a self-service answer
TRIGGER_WORDS = 3  # words of the question in a drafted answer's trigger
SIMILAR_WINDOW = 200  # closed tickets of the topic compared for "similar questions"
SIMILAR_SHOWN = 3
SIMILAR_FLOOR = 0.2  # shared words over all words (Jaccard) below which nothing is similar
GAP_QUESTIONS = 3  # a topic asked this often without an answer is a gap
RISING_MIN = 5  # questions in the month before a rise is worth an event
RISING_FACTOR = 2.0  # …and at least this many times the months before, on average
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d \-]{6,}\d")
HIDDEN = "…"


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


def _answer_view(row: KnowledgeAnswer) -> AnswerView:
    return AnswerView(
        id=row.id, topic=row.topic, status=AnswerStatus(row.status),
        triggers=MappingProxyType({k: tuple(v) for k, v in row.triggers.items()}),
        text=MappingProxyType(dict(row.text)), language=row.language,
        source_ticket_id=row.source_ticket_id)


def _as_answer(row: KnowledgeAnswer) -> Answer:
    return Answer(id=row.id, topic=row.topic, triggers=row.triggers, text=row.text)


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
    return None if row is None else _answer_view(row)


async def listing(*, session: AsyncSession, status: AnswerStatus | None = None
                  ) -> list[AnswerView]:
    query = select(KnowledgeAnswer).order_by(col(KnowledgeAnswer.id))
    if status is not None:
        query = query.where(col(KnowledgeAnswer.status) == status)
    return [_answer_view(row) for row in await session.exec(query)]


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


def _jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


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


async def similar(*, session: AsyncSession, router: Router, ticket: Any,
                  limit: int = SIMILAR_SHOWN) -> list[int]:
    """Earlier closed tickets of the same topic whose words (basic forms, as the router reads
    them) are closest; the newest few hundred are compared."""
    if not ticket.text:
        return []
    mine = set(router.content_forms(ticket.text, ticket.language))
    rows = await run(session, _CLOSED_OF_TOPIC, {"topic": ticket.topic, "ticket": ticket.id})
    scored = []
    for row in rows:
        score = _jaccard(mine, _forms(router, id(router.answers), row.text or "", row.language))
        if score >= SIMILAR_FLOOR:
            scored.append((score, row.id))
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


async def _at_hand(session: AsyncSession, router: Router, ticket: Any) -> AtHand:
    """`ticket`: its ORM row, or a Core row of its columns."""
    assert ticket.id is not None
    ticket_id = ticket.id
    savable = (ticket.status == TicketStatus.CLOSED and bool(ticket.reply_text)
               and (ticket.rating or 0) >= GOOD_RATING
               and await _draft_of(session, ticket_id) is None)
    suggested, alike, cues = await _routed(session, router, ticket)
    return AtHand(suggested, alike, savable, cues)


# A new ticket's card goes to each of its role's helpers, one after another within
# milliseconds: what routing shows on it (answers at hand, similar questions, the cues) is worked
# out once for them all and kept a few seconds; a published answer (a new `router.answers`) or
# a changed ticket is worked out anew.
_KEPT_SECONDS = 5.0
_KEPT_MAX = 256
_kept: dict[tuple[object, ...], tuple[float, tuple[str, ...], tuple[int, ...],
                                      tuple[str, ...]]] = {}


async def _routed(session: AsyncSession, router: Router, ticket: Any
                  ) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    text = ticket.text or ""
    key = (router, id(router.answers), ticket.id, text, ticket.topic, ticket.role,
           ticket.routing, ticket.language)
    now = time.monotonic()
    kept = _kept.get(key)
    if kept is not None and now - kept[0] <= _KEPT_SECONDS:
        return kept[1], kept[2], kept[3]
    suggested = tuple(router.suggest(text, ticket.topic)) if text else ()
    alike = tuple(await similar(session=session, router=router, ticket=ticket))
    cues = tuple(router.explain(text, ticket.role, language=ticket.language)) \
        if text and ticket.routing == Routing.AUTO else ()
    if len(_kept) >= _KEPT_MAX:
        _kept.clear()
    _kept[key] = (now, suggested, alike, cues)
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


# --- from a good reply to a draft -----------------------------------------------------------------

class Drafting(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    NOT_CLOSED = "not_closed"
    NOT_RATED = "not_rated"  # not rated, or rated below GOOD_RATING
    NO_REPLY = "no_reply"  # no relayed text to draft from


def draft_id(ticket_id: int) -> str:
    return f"t{ticket_id}"


async def _draft_of(session: AsyncSession, ticket_id: int) -> KnowledgeAnswer | None:
    return (await session.exec(select(KnowledgeAnswer).where(
        col(KnowledgeAnswer.source_ticket_id) == ticket_id))).first()


# A sentence that only greets, thanks, closes or hands over: not part of an answer. Each
# pattern is anchored at the sentence's start; a sentence of more than PLEASANTRY_WORDS words is
# taken as substance whatever it begins with.
PLEASANTRY_WORDS = 14
_PLEASANTRY = re.compile(r"""^(?:
    (?:hei|heippa|moi|moikka|terve|hyvää\ (?:huomenta|päivää|iltapäivää)|huomenta|päivää
     |hej|hejsan|hallå|god\ (?:morgon|dag|eftermiddag)|tjena
     |hi|hello|hey|dear|good\ (?:morning|afternoon|day))\b
  | (?:kiitos|kiitti|tack|thanks|thank\ you|ole\ hyvä|varsågod|you're\ welcome)\b
  | (?:suljen|sulen|laitan\ kysymyksen\ kiinni|jag\ stänger|stänger\ (?:frågan|ärendet)
     |i'?ll\ close|i\ am\ closing|closing\ (?:this|the)|skriv\ gärna\ igen|kysy\ (?:ihmeessä\ )?
      (?:lisää|uudestaan)|kysy\ vain|ask\ again|feel\ free|let\ me\ know|hör\ av\ dig
     |hyvää\ (?:päivän|viikon)jatkoa|mukavaa\ (?:päivää|viikkoa|viikonloppua)
     |ha\ en\ (?:bra|trevlig)
     |have\ a\ (?:nice|good|great)|trevlig\ (?:dag|helg)|toivottavasti\ (?:tämä|tästä)
     |hoppas\ (?:det|detta)|hope\ (?:this|that)\ helps)\b
  | (?:siirrän|annan\ tämän|välitän\ tämän|palaan\ asiaan|selvitän\ ja\ palaan|katson\ ja\ palaan
     |jag\ (?:lämnar|skickar)\ (?:över|vidare)|jag\ återkommer|jag\ kollar\ och\ återkommer
     |i'?ll\ (?:pass|hand|get\ back|come\ back|check\ and)|passing\ (?:this|you)
     |handing\ (?:this|you))\b
)""", re.IGNORECASE | re.VERBOSE)
_SENTENCE = re.compile(r"[^.!?…\n]+[.!?…]*\s*|\n+")
_CAPITALISED = r"[A-ZÅÄÖ][a-zåäöéü]+(?:-[A-ZÅÄÖ][a-zåäöéü]+)?"
# Two capitalised words together, the second perhaps inflected ("Kaisa Virtaselta"): a person's
# whole name, unless the knowledge writes it so ("Microsoft Teams").
_FULL_NAME = re.compile(rf"\b{_CAPITALISED}(?:\s+{_CAPITALISED}(?::\w+)?)+")
# A capitalised word right after the words people put before a colleague's name, per language:
# "kysy Kaisalta", "kollegani Kaisa", "kontakta Kaisa", "fråga Kaisa", "ask Kaisa".
_NAME_CUES = (r"kysy|kysykää|kysyä|soita|soittakaa|ota\ yhteyttä|kollega(?:ni|mme)?|opettaja"
              r"|esihenkilö|lähiesihenkilö|tiimivastaava|ohjaaja"
              r"|kontakta|fråga|ring|hör\ med|kollegan?|min\ kollega|läraren"
              r"|ask|contact|call|email|e-mail|colleague|my\ colleague|teacher")
_CUE = re.compile(_NAME_CUES, re.IGNORECASE)
_CUED_NAME = re.compile(rf"\b((?:{_NAME_CUES})\s+)({_CAPITALISED}(?::\w+)?)", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    return [piece for piece in _SENTENCE.findall(text) if piece]


def pleasantry(sentence: str) -> bool:
    """A greeting, thanks, closing or hand-over line, in fi, sv or en."""
    stripped = sentence.strip()
    return bool(stripped) and len(stripped.split()) <= PLEASANTRY_WORDS \
        and _PLEASANTRY.match(stripped) is not None


def substance(text: str) -> str:
    """The text without the pleasantries that open and close it ("Hei Eva!", "Suljen
    kysymyksen nyt."); empty when nothing else is in it."""
    pieces = _sentences(text)
    while pieces and (not pieces[0].strip() or pleasantry(pieces[0])):
        pieces.pop(0)
    while pieces and (not pieces[-1].strip() or pleasantry(pieces[-1])):
        pieces.pop()
    return "".join(pieces).strip()


def scrub(text: str, *, names: Sequence[str | None] = (), quotes: Sequence[str | None] = (),
          hidden: Sequence[str] = (), known: frozenset[str] = frozenset()) -> str:
    """The text without personal names (those given, in any inflection, and any capitalised
    first-and-last name not in `known`), the asker's question quoted, e-mail addresses, phone
    numbers and the details the helper marked (`hidden`): what a drafted answer may carry."""
    for quote in quotes:
        if quote and len(quote) >= 12:
            text = text.replace(quote, HIDDEN)
    for detail in sorted(hidden, key=len, reverse=True):
        if detail.strip():
            text = re.sub(re.escape(detail.strip()), HIDDEN, text, flags=re.IGNORECASE)
    text = _PHONE.sub(HIDDEN, _EMAIL.sub(HIDDEN, text))

    def full_name(found: re.Match[str]) -> str:
        words = found.group(0).split()
        kept: list[str] = []
        opening = found.start() == 0 or re.search(r"[.!?:\n]\s*$", text[:found.start()])
        if opening and (len(words) >= 3 or _CUE.fullmatch(words[0])):
            kept.append(words.pop(0))  # "Kysy Kaisa Virtaselta", "Fråga Kaisa": the verb stays
        if any(_known(w, known) for w in words):
            return found.group(0)  # "Avaa Microsoft Teams"
        return " ".join([*kept, HIDDEN])

    text = _FULL_NAME.sub(full_name, text)

    def cued(found: re.Match[str]) -> str:
        name = found.group(2)
        if not name[0].isupper() or _known(name, known):
            return found.group(0)
        return found.group(1) + HIDDEN

    text = _CUED_NAME.sub(cued, text)
    for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
        for part in name.split():
            for stem in _name_stems(part):  # "Eva", "Evalle", "Eva:lle", "Jukalta"
                text = re.sub(rf"\b{re.escape(stem)}(?::?[a-zåäö]{{0,5}})?\b", HIDDEN, text)
    return re.sub(rf"{re.escape(HIDDEN)}(?:\s*{re.escape(HIDDEN)})+", HIDDEN, text)


def _known(word: str, known: frozenset[str]) -> bool:
    """A word the knowledge writes itself, perhaps inflected ("Moodlessa", "Wilmaan")."""
    word = word.lower().split(":")[0]
    return any(word[:size] in known for size in range(len(word), max(len(word) - 5, 2), -1))


def _name_stems(name: str) -> list[str]:
    """A name and the stems its Finnish inflections are built on: Jukka → Juka- (Jukalta),
    Virtanen → Virtase- (Virtaselta). Names under three letters are left alone ("Al" would hit
    words)."""
    if len(name) < 3:
        return []
    stems = [name]
    if re.search(r"(kk|tt|pp)[aeiouyäö]$", name):
        stems.append(name[:-2] + name[-1])  # Jukka → Juka (followed by its ending)
    if name.endswith("nen"):
        stems.append(name[:-3] + "se")
    return stems


@dataclass(frozen=True, slots=True)
class Part:
    """One text the helper relayed, numbered from 1, and whether it is in the answer."""

    number: int
    text: str
    chosen: bool
    judged: bool  # chosen as the bot judged it (the helper has not pressed it)


async def parts(*, session: AsyncSession, ticket_id: int) -> list[Part]:
    """The helper's texts to the asker, in order; by default the substantive ones are in."""
    rows = await session.exec(select(ReplyPart).where(
        col(ReplyPart.ticket_id) == ticket_id).order_by(col(ReplyPart.id)))
    return [Part(n, row.text, bool(substance(row.text)) if row.chosen is None else row.chosen,
                 row.chosen is None) for n, row in enumerate(rows, start=1)]


def _known_terms(router: Router) -> frozenset[str]:
    """Capitalised words the knowledge itself writes (products, places, team names there): not
    taken for a person's name."""
    found: set[str] = set()
    for topic in router.knowledge.topics.values():
        for per_language in (topic.name, topic.keywords, topic.weak, topic.examples):
            for entries in per_language.values():
                for entry in ([entries] if isinstance(entries, str) else entries):
                    found |= {w.lower() for w in re.findall(_CAPITALISED, entry)}
    for answer in router.answers:
        for text in answer.text.values():
            found |= {w.lower() for w in re.findall(_CAPITALISED, text)}
    return frozenset(found)


async def _names(session: AsyncSession, asker_id: int | None) -> list[str]:
    """Every colleague's name the desk knows of: the roster's, the asker's."""
    names = list(await session.exec(select(Helper.name)))
    if asker_id is not None:
        staff = await session.get(Staff, asker_id)
        if staff is not None and staff.first_name:
            names.append(staff.first_name)
    return names


def _trigger(router: Router, question: str, answer: str, lang: str, topic: str,
             leave_out: frozenset[str]) -> dict[str, list[str]]:
    """The trigger: the question's and the answer's basic forms that say most about the topic,
    those in both first. Words the knowledge holds in every language (`moodle`, `hoks`) are
    language-neutral: two or more of them make a trigger for the other languages too."""
    asked = list(dict.fromkeys(router.vocabulary_form(f)
                               for f in router.content_forms(question, lang)
                               if f not in leave_out))
    told = {router.vocabulary_form(f) for f in router.content_forms(answer, lang)
            if f not in leave_out}

    def score(form: str) -> tuple[float, int]:
        return (router.topic_weight(form, topic) + (1.0 if form in told else 0.0)
                + (0.5 if len(router.languages_of(form)) > 1 else 0.0), len(form))

    ranked = sorted(dict.fromkeys(asked), key=score, reverse=True)
    chosen = set(ranked[:TRIGGER_WORDS])
    words = [f for f in asked if f in chosen]
    if not words:
        return {}
    triggers = {lang: [" ".join(words)]}
    neutral = [f for f in words if len(router.languages_of(f)) >= len(LANGUAGES)]
    if len(neutral) >= 2:
        for other in LANGUAGES:
            triggers.setdefault(other, [" ".join(neutral)])
    return triggers


async def _compose(session: AsyncSession, router: Router, ticket: Ticket,
                   row: KnowledgeAnswer) -> None:
    """The draft's text in the ticket's language, and its trigger, from the chosen texts."""
    chosen = [substance(p.text) or p.text for p in await parts(session=session,
                                                                 ticket_id=saved_id(ticket))
              if p.chosen]
    if not chosen and ticket.reply_text:
        chosen = [substance(ticket.reply_text) or ticket.reply_text]  # from before 0018
    names = await _names(session, ticket.asker_id)
    text = scrub("\n\n".join(chosen), names=names, quotes=[ticket.text], hidden=row.hidden,
                 known=_known_terms(router))
    lang = ticket.language
    row.text = {**row.text, lang: text}
    leave_out = frozenset(w.lower() for name in names for w in name.split()) | frozenset(
        w.lower() for detail in row.hidden for w in detail.split())
    row.triggers = _trigger(router, ticket.text or "", text, lang, ticket.topic, leave_out)


async def draft_from_ticket(*, session: AsyncSession, router: Router, ticket_id: int,
                            now: datetime) -> tuple[Drafting, AnswerView | None]:
    """"Save as an answer": the helper's substantive texts become a draft for the coaches
    (the helper may then choose others, and mark details to take out), its trigger the
    question's and the answer's most telling words, its topic and language the ticket's."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.status != TicketStatus.CLOSED:
        return Drafting.NOT_CLOSED, None
    existing = await _draft_of(session, ticket_id)
    if existing is not None:
        return Drafting.EXISTS, _answer_view(existing)
    if (ticket.rating or 0) < GOOD_RATING:
        return Drafting.NOT_RATED, None
    if not ticket.reply_text:
        return Drafting.NO_REPLY, None
    row = KnowledgeAnswer(
        id=draft_id(ticket_id), topic=ticket.topic, status=AnswerStatus.DRAFT, text={},
        triggers={}, hidden=[], language=ticket.language, source_ticket_id=ticket_id,
        created_at=now, updated_at=now)
    await _compose(session, router, ticket, row)
    session.add(row)
    await session.commit()
    return Drafting.CREATED, _answer_view(row)


async def choose_part(*, session: AsyncSession, router: Router, ticket_id: int, number: int,
                      now: datetime) -> AnswerView | None:
    """The helper takes one of their texts into the draft, or out of it."""
    row, ticket = await _draft_of(session, ticket_id), await session.get(Ticket, ticket_id)
    found = list(await session.exec(select(ReplyPart).where(
        col(ReplyPart.ticket_id) == ticket_id).order_by(col(ReplyPart.id))))
    if row is None or ticket is None or row.status != AnswerStatus.DRAFT \
            or not 1 <= number <= len(found):
        return None
    part = found[number - 1]
    current = (await parts(session=session, ticket_id=ticket_id))[number - 1].chosen
    part.chosen = not current
    session.add(part)
    await session.flush()
    await _compose(session, router, ticket, row)
    return await _saved(session, row, now)


async def hide_details(*, session: AsyncSession, router: Router, ticket_id: int,
                       details: Sequence[str], now: datetime) -> AnswerView | None:
    """The helper marks details to take out of the draft (a room, a name the bot missed)."""
    row, ticket = await _draft_of(session, ticket_id), await session.get(Ticket, ticket_id)
    wanted = [d.strip()[:100] for d in details if len(d.strip()) >= 2]
    if row is None or ticket is None or row.status != AnswerStatus.DRAFT or not wanted:
        return None
    row.hidden = list(dict.fromkeys([*row.hidden, *wanted]))[:30]
    await _compose(session, router, ticket, row)
    return await _saved(session, row, now)


async def _saved(session: AsyncSession, row: KnowledgeAnswer, now: datetime) -> AnswerView:
    """A draft or answer changed by hand: stamped, committed, and shown as it now is."""
    row.updated_at = now
    session.add(row)
    await session.commit()
    return _answer_view(row)


async def set_text(*, session: AsyncSession, answer_id: str, language: str, text: str,
                   now: datetime) -> AnswerView | None:
    """A coach's text for one language of a draft (or of a published answer)."""
    row = await session.get(KnowledgeAnswer, answer_id)
    if row is None or language not in LANGUAGES or row.status == AnswerStatus.DISCARDED:
        return None
    row.text = {**row.text, language: clean_text(text)[:3000]}
    return await _saved(session, row, now)


async def set_triggers(*, session: AsyncSession, answer_id: str, language: str,
                       triggers: list[str], now: datetime) -> AnswerView | None:
    row = await session.get(KnowledgeAnswer, answer_id)
    if row is None or language not in LANGUAGES:
        return None
    row.triggers = {**row.triggers, language: [t.strip() for t in triggers if t.strip()]}
    return await _saved(session, row, now)


def missing_languages(answer: AnswerView) -> list[str]:
    return [lang for lang in LANGUAGES if not (answer.text.get(lang) or "").strip()]


async def publish(*, session: AsyncSession, router: Router | None, answer_id: str,
                  now: datetime) -> tuple[AnswerView | None, list[str]]:
    """Publish a draft: every language needs its text. The router given uses it at once (other
    processes within a minute); returns the answer and the languages still missing."""
    row = await session.get(KnowledgeAnswer, answer_id)
    if row is None or row.status == AnswerStatus.DISCARDED:
        return None, []
    missing = missing_languages(_answer_view(row))
    if missing or not any(row.triggers.values()):
        return _answer_view(row), missing or ["triggers"]
    row.status, row.updated_at = AnswerStatus.PUBLISHED, now
    session.add(row)
    await session.commit()
    view = _answer_view(row)
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


async def forget_asker(*, session: AsyncSession, telegram_id: int) -> None:
    """/forget: answers drafted from the person's tickets lose every quote of their questions and
    their name; a draft also loses its trigger (made of the question's words). In the caller's
    transaction, before the tickets' texts go."""
    tickets = list(await session.exec(select(Ticket.id, Ticket.text).where(
        col(Ticket.asker_id) == telegram_id)))
    if not tickets:
        return
    staff = await session.get(Staff, telegram_id)
    quotes = [text for _, text in tickets]
    rows = await session.exec(select(KnowledgeAnswer).where(
        col(KnowledgeAnswer.source_ticket_id).in_([tid for tid, _ in tickets])))
    for row in rows:
        row.text = {lang: scrub(text, names=[staff.first_name if staff else None],
                                quotes=quotes) for lang, text in row.text.items()}
        if row.status == AnswerStatus.DRAFT:
            row.triggers = {}
        session.add(row)


# --- hallway and phone questions ------------------------------------------------------------------

async def log_hallway(*, session: AsyncSession, topic: str, role: str, language: str,
                      team: str | None, now: datetime) -> None:
    """A question that came face to face or by phone: counted, with no text and no name."""
    session.add(TopicLog(at=now, ticket_id=None, topic=topic, role=role, language=language,
                         team=team, routing=Routing.HALLWAY))
    await session.commit()


# --- the figures ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AnswerFigure:
    answer_id: str
    topic: str
    offered: int = 0
    helped: int = 0
    wanted: int = 0  # "I still want to ask a helper"
    sent: int = 0  # sent by a helper from the card


@dataclass(frozen=True, slots=True)
class Rising:
    topic: str
    role: str
    count: int
    before: float  # a month on average in the months before


async def figures(*, session: AsyncSession, start: datetime, end: datetime
                  ) -> list[AnswerFigure]:
    def kind(k: AnswerUseKind):
        return func.sum(case((col(AnswerUse.kind) == k, 1), else_=0))

    rows = await session.exec(select(  # type: ignore[call-overload]
        AnswerUse.answer_id, func.max(AnswerUse.topic), kind(AnswerUseKind.OFFERED),
        kind(AnswerUseKind.HELPED), kind(AnswerUseKind.WANTED), kind(AnswerUseKind.SENT),
    ).where(col(AnswerUse.at) >= start, col(AnswerUse.at) < end).group_by(AnswerUse.answer_id))
    found = [AnswerFigure(a, t, int(o or 0), int(h or 0), int(w or 0), int(s or 0))
             for a, t, o, h, w, s in rows]
    return sorted(found, key=lambda f: (-(f.offered + f.sent), f.answer_id))


async def answered_topics(*, session: AsyncSession) -> set[str]:
    return set(await session.exec(select(KnowledgeAnswer.topic).where(
        col(KnowledgeAnswer.status) == AnswerStatus.PUBLISHED).distinct()))


def most_wanted(found: Sequence[AnswerFigure], top: int = 5) -> list[AnswerFigure]:
    """Answers most often followed by "I still want to ask a helper"."""
    return sorted((f for f in found if f.wanted),
                  key=lambda f: (-f.wanted, -f.wanted / max(f.offered, 1), f.answer_id))[:top]


async def hallway(*, session: AsyncSession, start: datetime, end: datetime) -> int:
    return int((await session.exec(select(func.count()).where(
        col(TopicLog.routing) == Routing.HALLWAY, col(TopicLog.at) >= start,
        col(TopicLog.at) < end))).one())


async def rising(*, session: AsyncSession, months: Sequence[tuple[datetime, datetime]]
                 ) -> list[Rising]:
    """Topics whose questions in the last of `months` rose clearly over the months before:
    at least RISING_MIN, and RISING_FACTOR times their monthly average before."""
    if len(months) < 2:
        return []
    bucket = case(*((col(TopicLog.at) < end, index) for index, (_, end) in enumerate(months)))
    rows = await session.exec(select(
        TopicLog.role, TopicLog.topic, bucket, func.count(),
    ).where(col(TopicLog.at) >= months[0][0], col(TopicLog.at) < months[-1][1])
        .group_by(TopicLog.role, TopicLog.topic, bucket))
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(months))
    for role, topic, index, count in rows:
        counts[(role, topic)][int(index)] += int(count)
    found = []
    for (role, topic), per_month in counts.items():
        now, before = per_month[-1], sum(per_month[:-1]) / (len(months) - 1)
        if now >= RISING_MIN and now >= RISING_FACTOR * max(before, 1.0):
            found.append(Rising(topic, role, now, round(before, 1)))
    return sorted(found, key=lambda r: (-(r.count - r.before), r.topic))


async def suggest_events(*, session: AsyncSession, found: Sequence[Rising],
                         organisers: Iterable[int], month: str, now: datetime) -> int:
    """Each rising topic suggested to each organiser (a webinar or café on it, one press away),
    queued once per month, topic and person."""
    count = 0
    for rise in found:
        for chat in sorted(set(organisers)):
            outbox.add(session, kind=OutboxKind.NOTE, chat_id=chat, now=now,
                       priority=Priority.ANNOUNCE, key=f"rising:{month}:{rise.topic}:{chat}",
                       params={"template": "rising", "topic": rise.topic, "count": rise.count,
                               "before": rise.before, "month": month})
            count += 1
    await session.commit()
    return count
