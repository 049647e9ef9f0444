"""The queue's delivery step on both databases: a ticket is taken for delivery once, its
acknowledgement noted in the same transaction, and its first reminder set by its role."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.domain import intake, queue
from bot.domain.models import Ticket, TicketMessage
from bot.domain.officehours import OfficeHours
from bot.domain.routing import Router
from bot.storage import Database

MONDAY_TEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 10:00 in Helsinki


async def test_delivery_is_taken_once_with_the_roles_first_reminder(
    database_url: str, router: Router,
) -> None:
    hours = OfficeHours.parse("mon-fri 08:00-16:00", ZoneInfo("Europe/Helsinki"))
    policy = queue.Policy(hours=hours, sla_minutes={"luotsi": 120}, default_minutes=30)
    db = Database(database_url)
    try:
        async with db.session() as session:
            receipt = await intake.submit_question(
                session=session, router=router, asker_id=7, chat_id=7, message_id=1,
                text="Miten tiimin työnjako kannattaa sopia?", now=MONDAY_TEN)
        assert receipt.role == "luotsi"
        async with db.session() as session:
            first = await queue.begin_delivery(session=session, ticket_id=receipt.ticket_id,
                                               now=MONDAY_TEN, policy=policy,
                                               acknowledgement=(7, 2))
        async with db.session() as session:
            again = await queue.begin_delivery(session=session, ticket_id=receipt.ticket_id,
                                               now=MONDAY_TEN, policy=policy)
            ticket = await session.get(Ticket, receipt.ticket_id)
            notes = list(await session.exec(select(TicketMessage)))
        assert first is not None and again is None
        assert first.ticket.id == receipt.ticket_id and first.ticket.sla_level == 0
        assert ticket is not None
        assert ticket.sla_due_at == policy.unclaimed_due("luotsi", MONDAY_TEN)  # 12:00 local
        assert ticket.sla_due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        assert ticket.delivered_at == MONDAY_TEN
        assert [(n.chat_id, n.message_id, n.kind) for n in notes] == [(7, 2, queue.Kind.ACK)]
    finally:
        await db.dispose()
