"""The queue's delivery step on both databases: a question's card is queued in the transaction
that stores it, once, with its role's first reminder; and what a claim causes is queued with
the claim."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.domain import intake, outbox
from bot.domain.models import Outbox, OutboxKind, OutboxStatus, Priority, Ticket
from bot.domain.officehours import OfficeHours
from bot.domain.routing import Router
from bot.domain.sla import Policy
from bot.domain.tickets import changes, views
from bot.storage import Database

MONDAY_TEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 10:00 in Helsinki
FORUM = -100777


async def test_a_question_queues_its_card_once_with_the_roles_first_reminder(
    database_url: str, router: Router,
) -> None:
    hours = OfficeHours.parse("mon-fri 08:00-16:00", ZoneInfo("Europe/Helsinki"))
    policy = Policy(hours=hours, sla_minutes={"luotsi": 120}, default_minutes=30)
    desk = views.Desk(policy=policy, forum=FORUM)
    db = Database(database_url)
    try:
        for _ in range(2):  # the same Telegram message twice: one ticket, one card
            async with db.session() as session:
                receipt = await intake.submit_question(
                    session=session, router=router, asker_id=7, chat_id=7, message_id=1,
                    text="Miten tiimin työnjako kannattaa sopia?", desk=desk, now=MONDAY_TEN)
        assert receipt.role == "luotsi"
        async with db.session() as session:
            ticket = await session.get(Ticket, receipt.ticket_id)
            rows = list(await session.exec(select(Outbox)))
        assert ticket is not None
        assert ticket.sla_due_at == policy.unclaimed_due("luotsi", MONDAY_TEN)  # 12:00 local
        assert ticket.sla_due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        assert ticket.delivered_at is None  # the helpers see it once the card is sent
        assert [(r.kind, r.chat_id, r.priority, r.ticket_id) for r in rows] == [
            (OutboxKind.CARD, FORUM, Priority.CARD, receipt.ticket_id)]

        async with db.session() as session:
            won = await changes.claim(session=session, ticket_id=receipt.ticket_id,
                                      helper_id=1001, now=MONDAY_TEN, desk=desk)
            lost = await changes.claim(session=session, ticket_id=receipt.ticket_id,
                                       helper_id=1002, now=MONDAY_TEN, desk=desk)
        assert won is not None and won.won and lost is not None and not lost.won
        async with db.session() as session:
            queued = list(await session.exec(select(Outbox).where(
                col(Outbox.id) > rows[0].id).order_by(col(Outbox.id))))
        # The cards show the claim, the asker hears who is on it, and a ticket without its own
        # topic yet gets one first of all.
        assert [(r.kind, r.chat_id, r.priority, (r.params or {}).get("template"))
                for r in queued] == [
            (OutboxKind.EDIT_CARDS, FORUM, Priority.ALERT, None),
            (OutboxKind.NOTE, 7, Priority.RELAY, "claimed"),
            (OutboxKind.CARD, FORUM, Priority.RELAY, None)]

        async with db.session() as session:  # the most urgent first
            taken = await outbox.claim_due(session=session, now=MONDAY_TEN, worker="w1")
            again = await outbox.claim_due(session=session, now=MONDAY_TEN, worker="w2")
        assert [item.priority for item in taken] == sorted(item.priority for item in taken)
        assert len(taken) == 4 and again == []
        async with db.session() as session:
            states = set(await session.exec(select(Outbox.status)))
        assert states == {OutboxStatus.SENDING}
    finally:
        await db.dispose()
