"""Never forgotten: a job that queues what has come due (reminders, escalations, the holder's
nudge, and questions whose asker never chose a role); the sender sends them."""

from __future__ import annotations

import logging

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
        due = await sweep.due(session=session, now=now, desk=services.desk)
    for item in due:
        logger.info("ticket %s: %s", item.ticket.id, item.alert)
    if chosen or due:
        services.wake_sender()
