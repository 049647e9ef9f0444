"""The sweep that keeps any question from being forgotten: reminders come due (a nudge to the
holder, a reminder to the role, an escalation to everyone and the admins), and questions whose
asker never chose a role go to the router's guess."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import Priority, Routing, Staff, Ticket, TicketStatus, TopicLog, saved_id
from bot.domain.sla import Alert, SlaLevel, next_step
from bot.domain.tickets.changes import queue_delivery
from bot.domain.tickets.notices import note, recipients
from bot.domain.tickets.views import Desk, TicketView, view_of


@dataclass(frozen=True, slots=True)
class Due:
    alert: Alert
    ticket: TicketView


async def due(*, session: AsyncSession, now: datetime, desk: Desk) -> list[Due]:
    """Reminders that have come due, each taken atomically and queued in the same transaction,
    so that it is sent once."""
    policy = desk.policy
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.sla_due_at) <= now,
        or_(and_(col(Ticket.status) == TicketStatus.OPEN,
                 col(Ticket.sla_level) < SlaLevel.ESCALATED),
            col(Ticket.status) == TicketStatus.CLAIMED),
    ).order_by(col(Ticket.sla_due_at))))
    found = []
    for ticket in rows:
        assert ticket.sla_due_at is not None
        step = next_step(policy, role=ticket.role, claimed=ticket.status == TicketStatus.CLAIMED,
                         level=SlaLevel(ticket.sla_level), due=ticket.sla_due_at, now=now)
        alert, level, next_due = step.alert, step.level, step.next_due
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket.id, col(Ticket.sla_level) == ticket.sla_level,
            col(Ticket.sla_due_at) == ticket.sla_due_at, col(Ticket.status) == ticket.status,
        ).values(sla_level=level, sla_due_at=next_due, overdue=True))
        if result.rowcount != 1:
            await session.commit()
            continue
        await session.refresh(ticket)
        mention = {Alert.NUDGE: "holder", Alert.REMINDER: "role",
                   Alert.ESCALATION: "everyone"}[alert]
        params = {"template": str(alert), "mention": mention, "minutes": step.minutes}
        if desk.forum is not None:
            note(session, ticket, desk.forum, str(alert), now, Priority.ALERT,
                  **{k: v for k, v in params.items() if k != "template"})
        else:
            view = await view_of(session, ticket)
            everyone = alert is Alert.ESCALATION
            targets = [ticket.claimed_by] if alert is Alert.NUDGE and ticket.claimed_by else [
                h.telegram_id for h in await recipients(session=session, ticket=view,
                                                        everyone=everyone)]
            for chat in targets:
                note(session, ticket, chat, str(alert), now, Priority.ALERT,
                      minutes=params["minutes"])
        if alert is Alert.ESCALATION:
            for admin in desk.admins:
                note(session, ticket, admin, "escalation_admin", now, Priority.ALERT,
                      minutes=params["minutes"])
        await session.commit()
        found.append(Due(alert, await view_of(session, ticket)))
    return found


async def unchosen(*, session: AsyncSession, now: datetime, desk: Desk) -> list[int]:
    """Questions whose asker never chose a role go to the router's best guess after the role's
    limit; their cards are queued here."""
    rows = list(await session.exec(select(Ticket).where(
        col(Ticket.status) == TicketStatus.OPEN, col(Ticket.routing) == Routing.ASKED,
    ).order_by(col(Ticket.id))))
    ready = []
    for ticket in rows:
        if desk.policy.unclaimed_due(ticket.role, ticket.created_at) > now:
            continue
        result = await session.exec(update(Ticket).where(
            col(Ticket.id) == ticket.id, col(Ticket.routing) == Routing.ASKED,
        ).values(routing=Routing.AUTO))
        if result.rowcount != 1:
            continue
        ticket.routing = Routing.AUTO
        staff = await session.get(Staff, ticket.asker_id) if ticket.asker_id else None
        session.add(TopicLog(ticket_id=ticket.id, topic=ticket.topic, role=ticket.role,
                             language=ticket.language, team=staff.team if staff else None,
                             routing=Routing.ASKED))
        await queue_delivery(session, desk, ticket, now)
        ready.append(saved_id(ticket))
    await session.commit()
    return ready
