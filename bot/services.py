"""What the adapters (Telegram, web, command line) share: settings, database, knowledge, router,
clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import DEFAULT_LANGUAGE
from bot.config import Settings
from bot.domain import workers
from bot.domain.knowledge import Knowledge, load_knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.models import utcnow
from bot.domain.routing import Router
from bot.domain.sla import Policy
from bot.domain.tickets.views import Desk
from bot.i18n import gettext
from bot.metrics import Metrics
from bot.storage import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    knowledge: Knowledge
    router: Router
    clock: Callable[[], datetime] = field(default=utcnow)  # tests move time forward
    metrics: Metrics = field(default_factory=Metrics)
    worker_id: str = field(default_factory=workers.new_id)  # this process, in the database
    # Where cards go: the helpers' forum group, or None (cards go privately). Asked from
    # Telegram once at start (bot.telegram.app); until then the configured group is assumed.
    forum: int | None = None
    # Called after a commit that queued outbox rows, so that the sender need not wait a tick.
    wake_sender: Callable[[], None] = field(default=lambda: None)
    _policy: tuple[Settings, Policy] | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(cls, settings: Settings, knowledge: Knowledge | None = None,
               router: Router | None = None) -> Services:
        knowledge = knowledge or load_knowledge(settings.knowledge_dir)
        return cls(settings=settings, db=Database(settings.database_url), knowledge=knowledge,
                   router=router or Router(knowledge, Lemmas(settings.lemma_dir)))

    def __post_init__(self) -> None:
        self.forum = self.forum if self.forum is not None else self.settings.helpers_chat_id

    @property
    def policy(self) -> Policy:
        """How long tickets may wait: built here once for each version of the settings (the
        school's calendar, reloaded, gives new settings with its closed days)."""
        if self._policy is None or self._policy[0] is not self.settings:
            settings = self.settings
            self._policy = (settings, Policy(
                hours=settings.hours, sla_minutes=settings.sla_minutes,
                default_minutes=settings.sla_default_minutes, reopen_days=settings.reopen_days,
                offer_minutes=settings.offer_wait_minutes))
        return self._policy[1]

    @property
    def desk(self) -> Desk:
        """Where a ticket's messages go: the rules, the forum (as found at start), the admins."""
        return Desk(policy=self.policy, forum=self.forum, admins=self.settings.admin_ids)

    def role_name(self, role: str, language: str) -> str:
        return self.knowledge.roles[role].name[language]

    def topic_name(self, topic: str, language: str) -> str:
        found = self.knowledge.topics.get(topic)
        if found is None:
            return gettext(language, "Other question")
        return found.name[language]

    def answer_text(self, answer_id: str, language: str) -> str:
        """A self-service answer in use (the router's, read live from the database)."""
        answer = self.router.answer(answer_id) or next(
            a for a in self.knowledge.answers if a.id == answer_id)
        return answer.text.get(language) or answer.text[DEFAULT_LANGUAGE]
