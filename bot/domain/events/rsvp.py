"""Answers to an event: coming, with a colleague, or not; the capacity and its waiting list, a
place freed offered to the next in line, and the registration deadline."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.events import schedule, views
from bot.domain.events.views import Counts, EventView
from bot.domain.models import Event, Rsvp, RsvpAnswer

ANSWERS = ("yes", "plus", "no")
# A wish to sign up for an event, written as a question ("Haluan ilmoittautua torstain
# pedagogiseen kahvilaan"): the answer is under /events, whatever the router makes of it. Both a
# word of signing up and a word of an event, so "how do I register a student" is not one.
_SIGN_UP = re.compile(r"\b(ilmoittau|ilmottau|ilmoittaud|ilmottaud|anmäl|sign(ing)?\s+(me\s+)?up"
                      r"|register|enrol|rsvp)", re.IGNORECASE)
_EVENT = re.compile(r"(kahvila|webinaari|webinar|webbinar|tilaisuu|tapahtum|koulutuk|koulutus"
                    r"|kafé|café|cafe|evenemang|tillfälle|seminaari|seminar|event|workshop|työpaja)",
                    re.IGNORECASE)
_FORM = re.compile(r"(lomak|form)", re.IGNORECASE)  # a host's question about a sign-up form


def signs_up(text: str) -> bool:
    """Whether `text` asks to sign up for an event (one of the events in /events)."""
    return bool(_SIGN_UP.search(text) and _EVENT.search(text) and not _FORM.search(text))


async def counts(*, session: AsyncSession, event_id: int) -> Counts:
    event = await session.get(Event, event_id)
    rows = await session.exec(select(Rsvp.answer, Rsvp.waiting, func.count()).where(
        col(Rsvp.event_id) == event_id).group_by(col(Rsvp.answer), col(Rsvp.waiting)))
    tally = {"yes": 0, "plus": 0, "no": 0, "waiting": 0}
    for answer, waiting, n in rows:
        tally["waiting" if waiting else answer] += n
    return Counts(tally["yes"], tally["plus"], tally["no"], tally["waiting"],
                  event.capacity if event else None)


def registration_open(event: Event | EventView, now: datetime) -> bool:
    return event.registration_closes_at is None or now < event.registration_closes_at


@dataclass(frozen=True, slots=True)
class RsvpResult:
    counts: Counts
    waiting: bool  # this person is on the waiting list
    promoted: list[int]  # people offered a place from the waiting list (told via the outbox)
    closed: bool = False  # registration had closed: nothing was recorded


async def rsvp(*, session: AsyncSession, event_id: int, user_id: int, answer: str,
               now: datetime, confirm_within: timedelta = timedelta(hours=24)
               ) -> RsvpResult | None:
    """Record one person's answer (a later press changes it), respecting the capacity with a
    waiting list; None for an unknown, cancelled or past event. After the registration
    deadline only "cannot come" is taken (it frees a place)."""
    event = await session.get(Event, event_id)
    if event is None or event.cancelled or event.starts_at <= now or answer not in ANSWERS:
        return None
    row = await session.get(Rsvp, (event_id, user_id))
    if not registration_open(event, now) and (answer != "no" or row is None):
        return RsvpResult(await counts(session=session, event_id=event_id),
                          bool(row and row.waiting), [], closed=True)
    row = row or Rsvp(event_id=event_id, user_id=user_id, answer=RsvpAnswer(answer))
    row.answer, row.updated_at, row.waiting, row.offered_until = (
        RsvpAnswer(answer), now, False, None)
    session.add(row)
    await session.flush()
    if event.capacity is not None and answer != "no":
        taken = (await counts(session=session, event_id=event_id)).seats
        row.waiting = taken > event.capacity
        session.add(row)
        await session.flush()
    promoted = await promote(session, event, now, confirm_within) \
        if event.capacity is not None else []
    await session.commit()
    return RsvpResult(await counts(session=session, event_id=event_id), row.waiting, promoted)


async def promote(session: AsyncSession, event: Event, now: datetime,
                  confirm_within: timedelta) -> list[int]:
    """Give freed places to the waiting list in the order people answered: to each in turn who
    fits (one coming with a colleague waits at the front for two places, and one who needs one
    is not kept waiting behind them). Each is asked to confirm by a deadline (never later than
    the start), after which the place passes on."""
    promoted = []
    waiting = list(await session.exec(select(Rsvp).where(
        Rsvp.event_id == event.id, col(Rsvp.waiting).is_(True)).order_by(
            col(Rsvp.updated_at), col(Rsvp.user_id))))
    for row in waiting:
        need = 2 if row.answer == "plus" else 1
        assert event.id is not None and event.capacity is not None
        if (await counts(session=session, event_id=event.id)).seats + need > event.capacity:
            continue
        row.waiting = False
        deadline = now + confirm_within
        row.offered_until = deadline if deadline < event.starts_at else None
        session.add(row)
        await session.flush()
        await schedule.queue(session, key=f"offer:{event.id}:{row.user_id}:{uuid.uuid4().hex[:12]}",
                             kind="offer", chat_id=row.user_id, due_at=now, event_id=event.id)
        promoted.append(row.user_id)
    return promoted


@dataclass(frozen=True, slots=True)
class Offer:
    """A place offered to someone from the waiting list, as it stands now."""

    event: EventView
    until: datetime | None  # None: no confirmation asked (the start was too near)


async def offer(*, session: AsyncSession, event_id: int, user_id: int) -> Offer | None:
    """The place this person was offered, if they still hold it."""
    event = await session.get(Event, event_id)
    row = await session.get(Rsvp, (event_id, user_id))
    if event is None or event.cancelled or row is None or row.answer == "no" or row.waiting:
        return None
    return Offer(views.event_view(event), row.offered_until)


async def answer_offer(*, session: AsyncSession, event_id: int, user_id: int, accept: bool,
                       now: datetime, confirm_within: timedelta = timedelta(hours=24)
                       ) -> bool | None:
    """Confirm (keep the place) or decline it (it passes on). None: the offer is gone."""
    found = await offer(session=session, event_id=event_id, user_id=user_id)
    if found is None or found.event.starts_at <= now:
        return None
    if accept:
        row = await session.get(Rsvp, (event_id, user_id))
        assert row is not None
        row.offered_until = None
        session.add(row)
        await session.commit()
        return True
    await rsvp(session=session, event_id=event_id, user_id=user_id, answer="no", now=now,
               confirm_within=confirm_within)
    return False



async def answer_of(*, session: AsyncSession, event_id: int, user_id: int) -> str | None:
    """One person's answer to an event ("yes", "plus", "no"; "waiting" on the waiting list), for
    the buttons in their own chat."""
    row = await session.get(Rsvp, (event_id, user_id))
    if row is None:
        return None
    return "waiting" if row.waiting else str(row.answer)
