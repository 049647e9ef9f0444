"""From a well-rated helper reply to a draft answer: its parts, its trigger, and what is taken
out — the asker's name, contact details, quotes of their question — before a coach reviews and
publishes it (bot.domain.answers keeps the answers themselves). /forget scrubs the drafts made
from a person's tickets.
"""


from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES
from bot.domain import answers
from bot.domain.models import (
    AnswerStatus,
    Helper,
    KnowledgeAnswer,
    ReplyPart,
    Staff,
    Ticket,
    TicketStatus,
    saved_id,
)
from bot.domain.routing import Router

# -----------------------------------------------------------------

TRIGGER_WORDS = 3  # words of the question in a drafted answer's trigger
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d \-]{6,}\d")
HIDDEN = "…"


class Drafting(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    NOT_CLOSED = "not_closed"
    NOT_RATED = "not_rated"  # not rated, or rated below answers.GOOD_RATING
    NO_REPLY = "no_reply"  # no relayed text to draft from


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
                            now: datetime) -> tuple[Drafting, answers.AnswerView | None]:
    """"Save as an answer": the helper's substantive texts become a draft for the coaches
    (the helper may then choose others, and mark details to take out), its trigger the
    question's and the answer's most telling words, its topic and language the ticket's."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.status != TicketStatus.CLOSED:
        return Drafting.NOT_CLOSED, None
    existing = await answers.draft_of(session, ticket_id)
    if existing is not None:
        return Drafting.EXISTS, answers.answer_view(existing)
    if (ticket.rating or 0) < answers.GOOD_RATING:
        return Drafting.NOT_RATED, None
    if not ticket.reply_text:
        return Drafting.NO_REPLY, None
    row = KnowledgeAnswer(
        id=answers.draft_id(ticket_id), topic=ticket.topic, status=AnswerStatus.DRAFT, text={},
        triggers={}, hidden=[], language=ticket.language, source_ticket_id=ticket_id,
        created_at=now, updated_at=now)
    await _compose(session, router, ticket, row)
    session.add(row)
    await session.commit()
    return Drafting.CREATED, answers.answer_view(row)


async def choose_part(*, session: AsyncSession, router: Router, ticket_id: int, number: int,
                      now: datetime) -> answers.AnswerView | None:
    """The helper takes one of their texts into the draft, or out of it."""
    row, ticket = await answers.draft_of(session, ticket_id), await session.get(Ticket, ticket_id)
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
    return await answers.saved(session, row, now)


async def hide_details(*, session: AsyncSession, router: Router, ticket_id: int,
                       details: Sequence[str], now: datetime) -> answers.AnswerView | None:
    """The helper marks details to take out of the draft (a room, a name the bot missed)."""
    row, ticket = await answers.draft_of(session, ticket_id), await session.get(Ticket, ticket_id)
    wanted = [d.strip()[:100] for d in details if len(d.strip()) >= 2]
    if row is None or ticket is None or row.status != AnswerStatus.DRAFT or not wanted:
        return None
    row.hidden = list(dict.fromkeys([*row.hidden, *wanted]))[:30]
    await _compose(session, router, ticket, row)
    return await answers.saved(session, row, now)


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
