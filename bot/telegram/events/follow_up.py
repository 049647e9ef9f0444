"""The job after events: the feedback question queued, and offered places nobody confirmed in
time passed on."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain.events import after
from bot.telegram.context import PeerdeskContext

logger = logging.getLogger(__name__)


async def follow_up_job(context: PeerdeskContext) -> None:
    """After events: the feedback question, and places whose offer lapsed passed on."""
    services = context.services
    settings = services.settings
    async with services.db.session() as session:
        asked, lapsed = await after.follow_up(
            session=session, now=services.clock(),
            feedback_after=timedelta(minutes=settings.feedback_after_minutes),
            confirm_within=timedelta(hours=settings.place_confirm_hours))
    if asked or lapsed:
        services.wake_sender()
        logger.info("after events: %d feedback questions queued, %d offers lapsed", asked,
                    lapsed)
