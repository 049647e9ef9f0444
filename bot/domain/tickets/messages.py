"""Which Telegram message belongs to which ticket: the acknowledgement, the cards, the copies
both ways, the rating and phone messages, and the ticket's forum topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, func, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.core import Unit, insert_new, run, table
from bot.domain.models import Ticket, TicketMessage


class Kind(StrEnum):
    """What a remembered message is, in whose chat."""

    ACK = "ack"  # the acknowledgement the asker got
    CARD = "card"  # the ticket's card for helpers
    TO_HELPERS = "to_helpers"  # an asker's message copied to a helper's private chat
    TO_ASKER = "to_asker"  # a helper's message copied to the asker
    CLOSING = "closing"  # "your question was answered": rating buttons
    COMMENT = "comment"  # "reply with a comment": the reply becomes feedback
    PHONE = "phone"  # the asker's phone number, in the holder's private chat
    FEEDBACK = "feedback"  # the asker's comment quoted to the helpers (edited on /forget)


@dataclass(frozen=True, slots=True)
class Found:
    """The ticket a message in some chat belongs to, and what the message was to it."""

    ticket_id: int
    kind: Kind


async def find_message(*, session: AsyncSession, chat_id: int, message_id: int
                       ) -> Found | None:
    row = await session.get(TicketMessage, (chat_id, message_id))
    return Found(row.ticket_id, Kind(row.kind)) if row is not None else None


async def acknowledged(*, session: AsyncSession, ticket_id: int) -> bool:
    """Whether the asker was told their question was saved."""
    return (await session.exec(select(TicketMessage.chat_id).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.kind == Kind.ACK))).first() is not None


async def ticket_in_thread(*, session: AsyncSession, thread_id: int) -> int | None:
    return (await session.exec(select(Ticket.id).where(Ticket.thread_id == thread_id))).first()


async def card_messages(*, session: AsyncSession, ticket_id: int) -> list[tuple[int, int]]:
    """(chat, message) of every card of the ticket: in its topic, or in helpers' private chats."""
    return await of_kind(session=session, ticket_id=ticket_id, kind=Kind.CARD)


async def of_kind(*, session: AsyncSession, ticket_id: int, kind: Kind
                  ) -> list[tuple[int, int]]:
    """(chat, message) of every message of this kind the ticket has."""
    rows = await session.exec(select(TicketMessage.chat_id, TicketMessage.message_id).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.kind == kind))
    return [(chat, message) for chat, message in rows]


_MESSAGES = table(TicketMessage).c
_CARD_IN = sa_select(_MESSAGES.message_id).where(
    _MESSAGES.ticket_id == bindparam("ticket"), _MESSAGES.chat_id == bindparam("chat"),
    _MESSAGES.kind == Kind.CARD)


async def card_in(*, session: AsyncSession, ticket_id: int, chat_id: int) -> int | None:
    """The message id of the ticket's card in that chat, if it has one."""
    return (await run(session, _CARD_IN, {"ticket": ticket_id, "chat": chat_id})).scalar()


async def remember(*, session: Unit, chat_id: int, message_id: int, ticket_id: int,
                   kind: Kind, commit: bool = True) -> None:
    """Note which ticket a message belongs to (a message noted twice keeps its first note)."""
    await run(session, insert_new(session, TicketMessage), {
        "chat_id": chat_id, "message_id": message_id, "ticket_id": ticket_id, "kind": kind})
    if commit:
        await session.commit()


async def set_thread(*, session: AsyncSession, ticket_id: int, thread_id: int | None) -> None:
    await session.exec(update(Ticket).where(col(Ticket.id) == ticket_id)
                       .values(thread_id=thread_id))
    await session.commit()


_TICKETS = table(Ticket)
_SHOWN = update(_TICKETS).where(
    _TICKETS.c.id.in_(bindparam("ids", expanding=True)), _TICKETS.c.delivered_at.is_(None),
).values(delivered_at=bindparam("now"))
# One ticket (every card): an IN list is rendered into the SQL again at every run.
_SHOWN_ONE = update(_TICKETS).where(
    _TICKETS.c.id == bindparam("ticket"), _TICKETS.c.delivered_at.is_(None),
).values(delivered_at=bindparam("now"))


async def shown(*, session: Unit, ticket_ids: list[int], now: datetime,
                commit: bool = True) -> None:
    """The helpers can see these tickets (a card, or a listing with a Claim button)."""
    if len(ticket_ids) == 1:
        await run(session, _SHOWN_ONE, {"ticket": ticket_ids[0], "now": now})
    else:
        await run(session, _SHOWN, {"ids": ticket_ids, "now": now})
    if commit:
        await session.commit()


async def last_message_id(*, session: AsyncSession) -> int:
    """The highest message id the tickets know of (0 when none): the sandbox's new messages
    go on above it, so that none is taken for a ticket's."""
    known = 0
    for column in (col(Ticket.source_message_id), col(Ticket.thread_id),
                   col(TicketMessage.message_id)):
        known = max(known, (await session.exec(select(func.max(column)))).one() or 0)
    return known
