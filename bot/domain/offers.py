"""No question stranded: one offered a self-service answer that the asker neither confirms
("This helped") nor turns down ("I still need a helper") goes to the helpers after the offer's
wait, counted in office hours (`Policy.offer_due`, PEERDESK_OFFER_WAIT_MINUTES). Its card says
that an answer was offered and not confirmed; the asker hears that a colleague will look too;
the reports count it apart (`Ticket.offer_unsettled`). Run by the SLA sweep, on any replica:
each question is passed on once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import Priority, Routing, Ticket, TicketStatus
from bot.domain.tickets import changes, notices, views


async def pass_on(*, session: AsyncSession, now: datetime, desk: views.Desk) -> list[int]:
    """Offered questions whose wait is over, passed to their role's helpers (the card queued
    and the asker's note, in one transaction each); their ids."""
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.status) == TicketStatus.OFFERED).order_by(col(Ticket.id))))
    passed = []
    for ticket in rows:
        if desk.policy.offer_due(ticket.created_at) > now:
            continue
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket.id, col(Ticket.status) == TicketStatus.OFFERED,
        ).values(status=TicketStatus.OPEN, offer_unsettled=True, routing=Routing.AUTO,
                 updated_at=now))
        if result.rowcount != 1:
            await session.commit()
            continue  # settled meanwhile, or passed on by the other replica
        await session.refresh(ticket)
        await changes.queue_delivery(session, desk, ticket, now)
        if ticket.asker_chat_id is not None:
            notices.note(session, ticket, ticket.asker_chat_id, "offer_passed", now,
                         Priority.RELAY)
        await session.commit()
        assert ticket.id is not None
        passed.append(ticket.id)
    return passed
