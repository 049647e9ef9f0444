"""Every change to a ticket: into the queue, claim, a helper's answer, the asker's follow-up
(and reopening), close, rate, comment, reroute, share a phone number, solved by the asker,
release and hand over. Each queues its notices (bot.domain.tickets.notices) in its own
transaction.

Every state change that two helpers (or two bot processes) could race for is one conditional
UPDATE whose row count says who won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import outbox
from bot.domain.models import (
    OutboxKind,
    Priority,
    ReplyPart,
    Routing,
    Ticket,
    TicketStatus,
    TopicLog,
    saved_id,
)
from bot.domain.roster import helper
from bot.domain.sla import SlaLevel
from bot.domain.text import clean_text
from bot.domain.tickets.messages import Kind, card_in, card_messages, find_message
from bot.domain.tickets.notices import (
    call_role,
    called,
    edit_cards,
    note,
    queue_media,
    recipients,
    relay_from_asker,
    to_asker,
    to_helpers,
    withdraw_phone,
)
from bot.domain.tickets.views import (
    ClaimResult,
    Desk,
    Followup,
    HelperMessage,
    Relay,
    TicketView,
    view_of,
)


def clock_values(desk: Desk, role: str, now: datetime) -> dict[str, object]:
    """The ticket waits for a helper from `now`: the first reminder's deadline, as the columns
    to write. Set before a new ticket is first written, it is stored with it (no second
    write)."""
    return {"sla_level": SlaLevel.WAITING, "sla_due_at": desk.policy.unclaimed_due(role, now)}


def start_clock(desk: Desk, ticket: Ticket, now: datetime) -> None:
    for name, value in clock_values(desk, ticket.role, now).items():
        setattr(ticket, name, value)


async def _card_chats(session: AsyncSession, desk: Desk, *, role: str, language: str,
                      team: str | None, asker: int | None) -> list[int]:
    """Where a ticket's card goes: the forum group, or each of the role's helpers privately
    (never to its asker, should they help too)."""
    if desk.forum is not None:
        return [desk.forum]
    return [h.telegram_id for h in await called(session, role=role, language=language,
                                                 team=team, asker=asker)]


def _card_key(desk: Desk, ticket_id: int, chat_id: int) -> str | None:
    """One card in the forum, whatever queues it twice."""
    return f"card:{ticket_id}" if chat_id == desk.forum else None


async def queue_delivery(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime
                         ) -> None:
    """The ticket waits for a helper: its card is queued in the caller's transaction (the
    forum group, or each of the role's helpers privately), and the reminder clock starts."""
    start_clock(desk, ticket, now)
    session.add(ticket)
    team = None if desk.forum is not None else (await view_of(session, ticket)).asker_team
    for chat in await _card_chats(session, desk, role=ticket.role, language=ticket.language,
                                  team=team, asker=ticket.asker_chat_id):
        outbox.add(session, kind=OutboxKind.CARD, chat_id=chat, now=now, priority=Priority.CARD,
                   ticket_id=saved_id(ticket), key=_card_key(desk, saved_id(ticket), chat))
    await queue_media(session, desk, ticket, now)


async def queue_new(session: AsyncSession, desk: Desk, *, ticket_id: int, role: str,
                    language: str, team: str | None, now: datetime, chat_id: int,
                    media: list[int]) -> None:
    """`queue_delivery` for a ticket just written (bot.domain.intake.submit_question): the same
    rows, from its values rather than its ORM object."""
    chats = await _card_chats(session, desk, role=role, language=language, team=team,
                              asker=chat_id)
    await outbox.insert(session, [outbox.row(
        kind=OutboxKind.CARD, chat_id=chat, now=now, priority=Priority.CARD,
        ticket_id=ticket_id, key=_card_key(desk, ticket_id, chat)) for chat in chats])
    if media:  # a picture or file follows the card (as `queue_media` would queue it)
        await queue_media(session, desk, Ticket(id=ticket_id, asker_chat_id=chat_id,
                                                media=media, language=language, role=role,
                                                topic="", confidence=0.0), now)


async def _claimed(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime) -> None:
    """After a claim: the cards show it, the asker hears who is on it, a shared phone number
    goes to the claimer privately, and a ticket only listed so far gets its topic at once."""
    await edit_cards(session, desk, ticket, now)
    to_asker(session, ticket, "claimed", now)
    if ticket.phone and ticket.claimed_by is not None:
        note(session, ticket, ticket.claimed_by, "phone", now)
        await to_helpers(session, desk, ticket, now, params={"template": "phone_sent"})
    if desk.forum is not None and ticket.thread_id is None:
        outbox.add(session, kind=OutboxKind.CARD, chat_id=desk.forum, now=now,
                   priority=Priority.RELAY, ticket_id=saved_id(ticket))


async def claim(*, session: AsyncSession, ticket_id: int, helper_id: int, now: datetime,
                desk: Desk, commit: bool = True) -> ClaimResult | None:
    """The first helper to claim an open ticket gets it; None for an unknown ticket. What the
    claim causes is queued in the same transaction. `commit=False`: the caller's change goes
    on in it (an answer sent from the card claims the ticket and sends in one transaction)."""
    result = await session.exec(
        update(Ticket).where(col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OPEN)
        .values(status=TicketStatus.CLAIMED, claimed_by=helper_id, claimed_at=now,
                sla_due_at=desk.policy.answer_due(now), updated_at=now)
        .returning(Ticket)
    )
    ticket = result.scalar_one_or_none()
    won = ticket is not None
    if ticket is None:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            if commit:
                await session.commit()
            return None
    else:
        await _claimed(session, desk, ticket, now)
    view = await view_of(session, ticket)
    if commit:
        await session.commit()
    return ClaimResult(won=won, ticket=view)


async def helper_message(*, session: AsyncSession, ticket_id: int, helper_id: int,
                         chat_id: int, message_id: int, now: datetime, desk: Desk,
                         text: str | None = None) -> HelperMessage | None:
    """A helper wrote to the asker of a ticket: relayed (queued in the same transaction) unless
    another helper holds it or it is closed. Writing to an open ticket claims it."""
    claimed_now = False
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    if ticket.status == TicketStatus.OPEN:
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.OPEN,
        ).values(status=TicketStatus.CLAIMED, claimed_by=helper_id, claimed_at=now,
                 updated_at=now))
        claimed_now = result.rowcount == 1
        await session.refresh(ticket)
    if ticket.status == TicketStatus.CLOSED:
        return HelperMessage(Relay.CLOSED, await view_of(session, ticket))
    if ticket.claimed_by != helper_id:
        await session.commit()
        return HelperMessage(Relay.HELD, await view_of(session, ticket))
    if claimed_now:
        await _claimed(session, desk, ticket, now)
    first = ticket.first_answer_at is None
    if first:
        ticket.first_answer_at = now
        ticket.first_answer_minutes = _minutes(ticket.created_at, now)
        ticket.first_answer_office_minutes = desk.policy.hours.working_minutes_between(
            ticket.created_at, now)
    ticket.sla_due_at = None
    ticket.updated_at = now
    if text:  # the copy goes as it is; the text is kept for "Save as an answer"
        ticket.reply_text = text[:4000]
        session.add(ReplyPart(ticket_id=ticket_id, at=now, text=text[:4000]))
    session.add(ticket)
    if ticket.asker_chat_id is not None:
        # Shown as a reply to what it answers: the asker's newest follow-up, else the question.
        outbox.add(session, kind=OutboxKind.COPY, chat_id=ticket.asker_chat_id, now=now,
                   priority=Priority.RELAY, ticket_id=ticket_id,
                   params={"from_chat": chat_id, "message_id": message_id, "to": "asker",
                           "reply_to": ticket.last_asker_message_id
                           or ticket.source_message_id})
    view = await view_of(session, ticket)
    await session.commit()
    return HelperMessage(Relay.SEND, view, claimed_now,
                         ticket.first_answer_minutes if first else None)


async def asker_message(*, session: AsyncSession, asker_id: int, chat_id: int, message_id: int,
                        reply_to: int | None, now: datetime, desk: Desk,
                        ticket_id: int | None = None) -> Followup | None:
    """Does the asker's message continue a ticket? `ticket_id` says which (the asker's open
    conversation, bot.domain.tickets.conversation); else a reply to one of its messages does (and
    reopens it within `reopen_days` of closing), and so does any message while a helper holds
    one of their tickets. None: it is a new question."""
    policy = desk.policy
    ticket: Ticket | None = None
    if ticket_id is not None:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.asker_id != asker_id:
            return None
    elif reply_to is not None:
        found = await find_message(session=session, chat_id=chat_id, message_id=reply_to)
        if found is not None:
            ticket = await session.get(Ticket, found.ticket_id)
            if ticket is not None and ticket.asker_id == asker_id and found.kind == Kind.COMMENT:
                return Followup(await view_of(session, ticket), comment=True)
    if ticket is None or ticket.asker_id != asker_id:
        ticket = (await session.exec(select(Ticket).where(
            Ticket.asker_id == asker_id, col(Ticket.status) == TicketStatus.CLAIMED,
        ).order_by(col(Ticket.claimed_at).desc()))).first()
        if ticket is None:
            return None
    if ticket.status in (TicketStatus.OFFERED,) or ticket.routing == Routing.ASKED:
        return None
    reopened = False
    if ticket.status == TicketStatus.CLOSED:
        closed_at = ticket.closed_at or ticket.updated_at
        if ticket.self_served or now - closed_at > timedelta(days=policy.reopen_days):
            return None
        reopened = True
        ticket.closed_at = None
        ticket.rating = None  # asked again when it closes again: that rating will count
        ticket.status = TicketStatus.CLAIMED if ticket.claimed_by else TicketStatus.OPEN
        ticket.sla_level = SlaLevel.WAITING
        ticket.sla_due_at = policy.answer_due(now) if ticket.claimed_by \
            else policy.unclaimed_due(ticket.role, now)
    elif ticket.status == TicketStatus.CLAIMED and ticket.sla_due_at is None:
        ticket.sla_due_at = policy.answer_due(now)
    ticket.updated_at = now
    if chat_id == ticket.asker_chat_id:
        ticket.last_asker_message_id = message_id
    session.add(ticket)
    if reopened:
        await edit_cards(session, desk, ticket, now)
        await to_helpers(session, desk, ticket, now, params={"template": "reopened"})
    await relay_from_asker(session, desk, ticket, now, chat_id=chat_id, message_id=message_id)
    view = await view_of(session, ticket)
    await session.commit()
    return Followup(view, reopened=reopened)


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


async def close(*, session: AsyncSession, ticket_id: int, now: datetime, desk: Desk,
                helper_id: int) -> TicketView | None:
    """Close an open or claimed ticket; None if it was closed already. The asker is asked for
    a rating, or told that it was closed without an answer when none reached them."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    result = await session.exec(
        update(Ticket).where(col(Ticket.id) == ticket_id,
                             col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]))
        .values(status=TicketStatus.CLOSED, closed_at=now, sla_due_at=None, updated_at=now,
                close_minutes=_minutes(ticket.created_at, now),
                close_office_minutes=desk.policy.hours.working_minutes_between(
                    ticket.created_at, now))
    )
    if result.rowcount != 1:
        await session.commit()
        return None
    holder = ticket.claimed_by
    await session.refresh(ticket)
    await edit_cards(session, desk, ticket, now)
    await withdraw_phone(session, ticket_id, now)
    if holder is not None and holder != helper_id:  # a colleague closed it: the holder hears
        await to_helpers(session, desk, ticket, now, params={
            "template": "closed_by_colleague", "helper": helper_id, "mention": "holder"})
    # Nothing reached the asker (no reply, no answer from the card, no call asked for): no
    # rating of an answer never given; they hear kindly that they may write again.
    answered = ticket.first_answer_at is not None or ticket.phone is not None
    to_asker(session, ticket, "closed" if answered else "closed_unanswered", now,
             helper=helper_id)
    view = await view_of(session, ticket)
    await session.commit()
    return view


@dataclass(frozen=True, slots=True)
class Rated:
    """A rating press: the ticket, and whether this press gave it its rating (False: it had
    one already, given by an earlier press — a double tap, or a replayed update)."""

    ticket: TicketView
    counted: bool


async def rate(*, session: AsyncSession, ticket_id: int, asker_id: int, stars: int,
               now: datetime | None = None, desk: Desk | None = None) -> Rated | None:
    """The asker rates a closed ticket 1–5, once: the first press counts (one conditional
    UPDATE, its row count decides); with `desk`, the helper who answered hears it (in its
    topic, or privately). None: not theirs, not closed, or no rating."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id or ticket.status != TicketStatus.CLOSED \
            or not 1 <= stars <= 5:
        return None
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.CLOSED,
        col(Ticket.rating).is_(None)).values(rating=stars))
    if result.rowcount != 1:
        await session.commit()
        return Rated(await view_of(session, ticket), counted=False)
    await session.refresh(ticket)
    if stars >= 4:  # a well-rated reply may be saved as an answer: its cards offer that now
        cards = await card_messages(session=session, ticket_id=ticket_id)
        if cards:
            await outbox.add_once(session, kind=OutboxKind.EDIT_CARDS, chat_id=cards[0][0],
                                  ticket_id=ticket_id, priority=Priority.ALERT,
                                  now=ticket.closed_at or ticket.updated_at)
    if desk is not None and now is not None:
        called = {"mention": "holder"} if desk.forum is not None else {}
        await to_helpers(session, desk, ticket, now, params={
            "template": "rated", "stars": stars, **called})
    await session.commit()
    return Rated(await view_of(session, ticket), counted=True)


async def comment(*, session: AsyncSession, ticket_id: int, asker_id: int, text: str,
                  now: datetime, desk: Desk) -> TicketView | None:
    """The asker's comment after the rating: kept, and passed on to the helpers."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id:
        return None
    ticket.feedback = clean_text(text)[:2000]
    session.add(ticket)
    await to_helpers(session, desk, ticket, now, priority=Priority.ALERT,
                     params={"template": "feedback"})
    view = await view_of(session, ticket)
    await session.commit()
    return view


async def reroute(*, session: AsyncSession, ticket_id: int, role: str, topic: str,
                  now: datetime, desk: Desk) -> tuple[TicketView, bool] | None:
    """A helper sends the ticket to another role or topic. The topic log keeps where the router
    had sent it, which reports count as a misroute; the ticket waits for a new claim, the new
    role's helpers are called and the asker is told. Another topic of the same role is only
    that: whoever holds it keeps it, and nobody is called or told. Returns the ticket and
    whether its role changed; None when nothing did."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.status == TicketStatus.CLOSED or \
            (ticket.role, ticket.topic) == (role, topic):
        return None
    for log in await session.exec(select(TopicLog).where(TopicLog.ticket_id == ticket_id)):
        if log.rerouted_from_role is None:
            log.rerouted_from_role, log.rerouted_from_topic = log.role, log.topic
        log.role, log.topic = role, topic
        session.add(log)
    moved = ticket.role != role
    ticket.role, ticket.topic = role, topic
    ticket.updated_at = now
    if moved:
        ticket.status, ticket.claimed_by, ticket.claimed_at = TicketStatus.OPEN, None, None
        start_clock(desk, ticket, now)
    session.add(ticket)
    await edit_cards(session, desk, ticket, now)
    if desk.forum is not None and ticket.thread_id:  # the topic's name shows the topic
        outbox.add(session, kind=OutboxKind.EDIT_TOPIC, chat_id=desk.forum, now=now,
                   priority=Priority.ALERT, ticket_id=ticket_id)
    if moved:  # another role: the new role called, the asker told
        await withdraw_phone(session, ticket_id, now)
        if desk.forum is not None:
            note(session, ticket, desk.forum, "rerouted", now, mention="role")
        else:
            for helper in await recipients(session=session, ticket=await view_of(session,
                                                                                 ticket)):
                outbox.add(session, kind=OutboxKind.CARD, chat_id=helper.telegram_id, now=now,
                           priority=Priority.CARD, ticket_id=ticket_id)
        to_asker(session, ticket, "rerouted", now)
    view = await view_of(session, ticket)
    await session.commit()
    return view, moved


async def share_phone(*, session: AsyncSession, ticket_id: int, asker_id: int, phone: str,
                      now: datetime, desk: Desk) -> TicketView | None:
    """The asker would prefer a call: the number goes to the holder only (now, or on claim)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id or ticket.status == TicketStatus.CLOSED:
        return None
    ticket.phone = phone[:32]
    session.add(ticket)
    if ticket.claimed_by is not None:
        note(session, ticket, ticket.claimed_by, "phone", now)
        await to_helpers(session, desk, ticket, now, params={"template": "phone_sent"})
    elif desk.forum is not None:
        note(session, ticket, desk.forum, "phone_waiting", now)
    view = await view_of(session, ticket)
    await session.commit()
    return view


async def solved_by_asker(*, session: AsyncSession, ticket_id: int, asker_id: int,
                          now: datetime, desk: Desk) -> TicketView | None:
    """The asker solved a waiting question themselves: closed as self-served (by the asker); its
    cards show it and the helpers are told. None when it is not waiting (or not theirs)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.asker_id != asker_id:
        return None
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id,
        col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.OFFERED]),
    ).values(status=TicketStatus.CLOSED, self_served=True, solved_by_asker=True, closed_at=now,
             sla_due_at=None, updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    if ticket.delivered_at is not None or await card_messages(session=session,
                                                               ticket_id=ticket_id):
        await edit_cards(session, desk, ticket, now)
        await to_helpers(session, desk, ticket, now, params={"template": "solved_by_asker"})
    view = await view_of(session, ticket)
    await session.commit()
    return view


def _may_pass_on(ticket: Ticket | None, helper_id: int, desk: Desk) -> bool:
    """A claimed ticket may be released or handed over by its holder, or by an admin."""
    return ticket is not None and ticket.status == TicketStatus.CLAIMED \
        and ticket.claimed_by is not None \
        and (ticket.claimed_by == helper_id or helper_id in desk.admins)


async def release(*, session: AsyncSession, ticket_id: int, helper_id: int, now: datetime,
                  desk: Desk, removed: str | None = None) -> TicketView | None:
    """The holder (or an admin) gives a claimed ticket back to the queue: it waits again with
    the reminder clock restarted, its role is called again, and the asker hears that a colleague
    will continue. `removed`: the holder's name, taken out of the roster (so the notice cannot
    read it there when it is sent). None: it was not claimed, or not theirs to release."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not _may_pass_on(ticket, helper_id, desk):
        await session.commit()
        return None
    holder = ticket.claimed_by
    assert holder is not None
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.CLAIMED,
        col(Ticket.claimed_by) == holder,
    ).values(status=TicketStatus.OPEN, claimed_by=None, claimed_at=None,
             **clock_values(desk, ticket.role, now), updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await edit_cards(session, desk, ticket, now)
    await withdraw_phone(session, ticket_id, now)
    if removed is None:
        await call_role(session, desk, ticket, now, "released", skip=holder)
    else:
        await call_role(session, desk, ticket, now, "removed_released", skip=holder,
                        name=removed)
    to_asker(session, ticket, "released_asker", now)
    view = await view_of(session, ticket)
    await session.commit()
    return view


async def hand_over(*, session: AsyncSession, ticket_id: int, helper_id: int, to_id: int,
                    now: datetime, desk: Desk) -> TicketView | None:
    """The holder (or an admin) hands a claimed ticket to a named colleague: the colleague is
    called (by name in its topic, or privately with the card), gets the asker's phone number
    if one was shared, and the asker hears the new name. None: not theirs to hand over, or no
    such colleague."""
    ticket = await session.get(Ticket, ticket_id)
    colleague = await helper(session=session, user_id=to_id)
    if ticket is None or not _may_pass_on(ticket, helper_id, desk) or colleague is None \
            or not colleague.is_helper or to_id == ticket.claimed_by:
        await session.commit()
        return None
    holder = ticket.claimed_by
    awaited = ticket.sla_due_at is not None  # the asker is waiting for an answer
    result = await session.exec(update(Ticket).where(
        col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.CLAIMED,
        col(Ticket.claimed_by) == holder,
    ).values(claimed_by=to_id, claimed_at=now, sla_level=SlaLevel.WAITING,
             sla_due_at=desk.policy.answer_due(now) if awaited else None, updated_at=now))
    if result.rowcount != 1:
        await session.commit()
        return None
    await session.refresh(ticket)
    await edit_cards(session, desk, ticket, now)
    if desk.forum is not None:
        note(session, ticket, desk.forum, "handed_over", now, Priority.CARD, mention="holder",
              helper=helper_id)
    else:
        if await card_in(session=session, ticket_id=ticket_id, chat_id=to_id) is None:
            outbox.add(session, kind=OutboxKind.CARD, chat_id=to_id, now=now,
                       priority=Priority.CARD, ticket_id=ticket_id)
        note(session, ticket, to_id, "handed_over", now, Priority.CARD, helper=helper_id)
    await withdraw_phone(session, ticket_id, now)  # the new holder gets it anew
    if ticket.phone:
        note(session, ticket, to_id, "phone", now, Priority.CARD)
    to_asker(session, ticket, "handed_over_asker", now)
    view = await view_of(session, ticket)
    await session.commit()
    return view
