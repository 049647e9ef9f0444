"""Never forgotten: a job that queues what has come due (reminders, escalations, the holder's
nudge, questions whose asker never chose a role, and questions offered a self-service answer
the asker never settled); the sender sends them."""

from __future__ import annotations

import logging

from bot.domain import offers
from bot.domain.tickets import sweep
from bot.telegram.context import PeerdeskContext

logger = logging.getLogger(__name__)


async def run_sweep(context: PeerdeskContext) -> None:
    """Queue the reminders that have come due, and the cards of unchosen questions."""
    services = context.services
    now = services.clock()
    async with services.db.session() as session:
        chosen = await sweep.unchosen(session=session, now=now, desk=services.desk)
    async with services.db.session() as session:
        passed = await offers.pass_on(session=session, now=now, desk=services.desk)
    for ticket_id in passed:
        logger.info("ticket %s: the answer offered was not settled; passed to the helpers",
                    ticket_id)
    async with services.db.session() as session:
        due = await sweep.due(session=session, now=now, desk=services.desk)
    for item in due:
        logger.info("ticket %s: %s", item.ticket.id, item.alert)
    if chosen or passed or due:
        services.wake_sender()
