"""Prometheus metrics: counters kept as things happen, gauges read from the database at
scrape time (so every replica reports the same backlog). Its own registry, one per process."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import outbox
from bot.domain.tickets import views


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

        self.unseen = Gauge("peerdesk_unseen_tickets", "Tickets waiting for a helper that no "
                            "helper has been shown yet", registry=self.registry)
        self.unseen_age = Gauge("peerdesk_unseen_oldest_seconds", "How long the oldest ticket "
                                "no helper has been shown has waited: how far behind the "
                                "helpers' group is (deadline 120 s)", registry=self.registry)
        self.group_queued = Gauge("peerdesk_helpers_group_queued", "Messages waiting to go to "
                                  "the helpers' group (20 a minute)", registry=self.registry)

    async def render(self, session: AsyncSession, now: datetime, forum: int | None = None
                     ) -> bytes:
        """Refresh the gauges from the database and render the exposition text."""
        unseen = await outbox.unseen(session=session)
        self.unseen.set(unseen.due)
        self.unseen_age.set(max(0.0, (now - unseen.oldest_due_at).total_seconds())
                            if unseen.oldest_due_at else 0)
        self.group_queued.set(0 if forum is None
                              else await outbox.queued_for(session=session, chat_id=forum))
        for state, count in (await views.status_counts(session=session)).items():
            self.tickets.labels(state.value).set(count)
        waiting = await outbox.backlog(session=session, now=now)
        self.outbox_backlog.set(waiting.due)
        self.outbox_age.set((now - waiting.oldest_due_at).total_seconds()
                            if waiting.oldest_due_at else 0)
        return generate_latest(self.registry)
