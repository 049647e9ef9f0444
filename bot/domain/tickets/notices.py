"""Who hears what about a ticket: the helpers (in its forum topic, or privately), the asker,
the admins. Every notice is an outbox row written in the caller's transaction; the sender
delivers it, rendered from its template (bot.telegram.helpers.notes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import outbox
from bot.domain.models import (
    Outbox,
    OutboxKind,
    Priority,
    Ticket,
    TicketMessage,
    saved_id,
)
from bot.domain.roster import HelperView, with_role
from bot.domain.tickets.messages import Kind, card_messages
from bot.domain.tickets.views import Desk, TicketView, view_of

MAX_MENTIONS = 8


async def recipients(*, session: AsyncSession, ticket: TicketView, everyone: bool = False,
                     skip: int | None = None) -> list[HelperView]:
    """Whom to call for a ticket: the role's available helpers who speak the asker's language
    first, colleagues from the asker's own team before others. Everyone of the role when
    nobody of it is available, and with `everyone` all helpers of all roles; `skip` (who gave
    it back) is never called for it."""
    return await called(session, role=None if everyone else ticket.role,
                        language=ticket.language, team=ticket.asker_team, skip=skip,
                        asker=ticket.asker_chat_id)


async def called(session: AsyncSession, *, role: str | None, language: str, team: str | None,
                 skip: int | None = None, asker: int | None = None) -> list[HelperView]:
    """`recipients` from what it orders by: the role (None: every role), the asker's language
    and team. A helper who asks (`asker`: their private chat is themselves) is never called
    for their own question."""
    helpers = [h for h in await with_role(session, role)
               if h.is_helper and h.telegram_id not in (skip, asker)]
    available = [h for h in helpers if h.available] or helpers

    def order(h: HelperView) -> tuple[bool, bool, str]:
        own_team = team is not None and h.team == team
        return (language not in h.languages, not own_team, h.name)

    return sorted(available, key=order)


def note(session: AsyncSession, ticket: Ticket, chat_id: int, template: str, now: datetime,
         priority: Priority = Priority.RELAY, **params: Any) -> None:
    outbox.add(session, kind=OutboxKind.NOTE, chat_id=chat_id, now=now, priority=priority,
               ticket_id=ticket.id, params={"template": template, **params})


async def _helper_chats(session: AsyncSession, ticket: Ticket) -> list[int]:
    """Without a forum: whoever holds the ticket, else everyone who got its card."""
    cards = [chat for chat, _ in await card_messages(session=session, ticket_id=saved_id(ticket))]
    if ticket.claimed_by is not None and ticket.claimed_by in cards:
        return [ticket.claimed_by]
    return cards or ([ticket.claimed_by] if ticket.claimed_by else [])


async def to_helpers(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime, *,
                     kind: OutboxKind = OutboxKind.NOTE, priority: Priority = Priority.RELAY,
                     params: dict[str, Any]) -> None:
    """A message about the ticket to its helpers: into its forum topic, or privately."""
    chats = [desk.forum] if desk.forum is not None else await _helper_chats(session, ticket)
    for chat in chats:
        outbox.add(session, kind=kind, chat_id=chat, now=now, priority=priority,
                   ticket_id=ticket.id, params=params)


def to_asker(session: AsyncSession, ticket: Ticket, template: str, now: datetime,
             **params: Any) -> None:
    if ticket.asker_chat_id is not None:
        note(session, ticket, ticket.asker_chat_id, template, now, **params)


async def edit_cards(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime) -> None:
    """Show the ticket's new state on its cards (a burst of changes becomes one edit)."""
    await outbox.add_once(session, kind=OutboxKind.EDIT_CARDS, chat_id=desk.forum or 0,
                          ticket_id=saved_id(ticket), now=now, priority=Priority.ALERT)


async def withdraw_phone(session: AsyncSession, ticket_id: int, now: datetime) -> None:
    """The number was for the holder only: every message that carried it is edited to say it
    was removed (queued in the caller's transaction, through the sender), and forgotten here so
    that it is edited once. Called when the ticket is closed, released, handed over, rerouted
    or its asker forgotten."""
    rows = await session.exec(select(TicketMessage).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.kind == Kind.PHONE))
    for row in rows:
        outbox.add(session, kind=OutboxKind.NOTE, chat_id=row.chat_id, now=now,
                   priority=Priority.ALERT, ticket_id=ticket_id,
                   params={"template": "phone_removed", "message_id": row.message_id})
        await session.delete(row)


async def call_role(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime,
                    template: str, skip: int, **params: Any) -> None:
    """Call the ticket's role again, `skip` left out: a notice with the names of the role's
    other helpers in its topic (only the role's: the topic is there for everyone to see), or
    privately (beside the card they have, or with a new card; to everyone when the role has
    nobody else, so that the card reaches someone)."""
    if desk.forum is not None:
        note(session, ticket, desk.forum, template, now, Priority.CARD, mention="role",
              skip=skip, helper=skip, **params)
        return
    view = await view_of(session, ticket)
    called = await recipients(session=session, ticket=view, skip=skip) or \
        await recipients(session=session, ticket=view, everyone=True, skip=skip)
    cards = {chat for chat, _ in await card_messages(session=session, ticket_id=saved_id(ticket))}
    for colleague in called:
        if colleague.telegram_id in cards:
            note(session, ticket, colleague.telegram_id, template, now, Priority.CARD,
                  helper=skip, **params)
        else:
            outbox.add(session, kind=OutboxKind.CARD, chat_id=colleague.telegram_id, now=now,
                       priority=Priority.CARD, ticket_id=saved_id(ticket))


async def _card_chats(session: AsyncSession, desk: Desk, ticket: Ticket) -> list[int]:
    """Where the ticket's card is, or is on its way: its topic, or the private chats of the
    helpers it was queued for (a card not sent yet counts, so nothing the asker adds is lost)."""
    if desk.forum is not None:
        return [desk.forum]
    if ticket.claimed_by is not None:
        return [ticket.claimed_by]
    queued = await session.exec(select(Outbox.chat_id).where(
        col(Outbox.ticket_id) == saved_id(ticket), col(Outbox.kind) == OutboxKind.CARD).distinct())
    return sorted(set(queued))


async def relay_from_asker(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime, *,
                           chat_id: int, message_id: int) -> None:
    """Copy the asker's message to the ticket's helpers. Before the card is out it waits in the
    same lane behind it (the card's priority), so that the helpers read the question first."""
    priority = Priority.RELAY if ticket.delivered_at is not None else Priority.CARD
    for chat in await _card_chats(session, desk, ticket):
        outbox.add(session, kind=OutboxKind.COPY, chat_id=chat, now=now, priority=priority,
                   ticket_id=saved_id(ticket),
                   params={"from_chat": chat_id, "message_id": message_id, "to": "helpers"})


async def queue_media(session: AsyncSession, desk: Desk, ticket: Ticket, now: datetime) -> None:
    """The question's pictures, files and voice follow its card, in the card's lane, once (on
    its first delivery)."""
    if not ticket.media or ticket.delivered_at is not None or ticket.asker_chat_id is None:
        return
    for message_id in ticket.media:
        await relay_from_asker(session, desk, ticket, now, chat_id=ticket.asker_chat_id,
                               message_id=message_id)


async def asker_unreachable(*, session: AsyncSession, ticket_id: int, now: datetime, desk: Desk
                            ) -> None:
    """The asker has blocked the bot: the helpers are told."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is not None:
        await to_helpers(session, desk, ticket, now, params={"template": "asker_unreachable"})
        await session.commit()
