"""Prometheus metrics: counters kept as things happen, gauges read from the database at
scrape time (so every replica reports the same backlog). Its own registry, one per process."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import Outbox, OutboxStatus, Ticket, TicketStatus


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter("peerdesk_questions", "Questions stored as tickets",
                                 registry=self.registry)
        self.first_answer = Histogram(
            "peerdesk_time_to_first_answer_minutes", "Minutes from a question to its first "
            "helper answer", buckets=(5, 15, 30, 60, 120, 240, 480, 1440, 2880, 10080),
            registry=self.registry)
        self.send_failures = Counter("peerdesk_send_failures", "Messages Telegram refused for "
                                     "good or that failed after retries", ["kind"],
                                     registry=self.registry)
        self.poison_updates = Counter("peerdesk_unreadable_updates", "Updates that could not be "
                                      "read or handled, set aside", registry=self.registry)
        self.tickets = Gauge("peerdesk_tickets", "Tickets by state", ["state"],
                             registry=self.registry)
        self.outbox_backlog = Gauge("peerdesk_outbox_backlog", "Outbox rows due and not sent",
                                    registry=self.registry)
        self.outbox_age = Gauge("peerdesk_outbox_oldest_due_seconds", "How long the oldest "
                                "due outbox row has waited", registry=self.registry)

    async def render(self, session: AsyncSession, now: datetime) -> bytes:
        """Refresh the gauges from the database and render the exposition text."""
        counts = dict((await session.exec(
            select(Ticket.status, func.count()).group_by(Ticket.status))).all())
        for state in TicketStatus:
            self.tickets.labels(state.value).set(counts.get(state.value, 0))
        backlog, oldest = (await session.exec(
            select(func.count(), func.min(Outbox.due_at)).where(
                col(Outbox.status) == OutboxStatus.PENDING, col(Outbox.due_at) <= now))).one()
        self.outbox_backlog.set(backlog or 0)
        if oldest is not None and oldest.tzinfo is None:
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        self.outbox_age.set((now - oldest).total_seconds() if oldest else 0)
        return generate_latest(self.registry)
