"""What the adapters (Telegram, web, command line) share: settings, database, knowledge, router,
clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import Settings
from bot.domain.knowledge import Knowledge, load_knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.models import utcnow
from bot.domain.routing import Router
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

    @classmethod
    def create(cls, settings: Settings, knowledge: Knowledge | None = None,
               router: Router | None = None) -> Services:
        knowledge = knowledge or load_knowledge(settings.knowledge_dir)
        return cls(settings=settings, db=Database(settings.database_url), knowledge=knowledge,
                   router=router or Router(knowledge, Lemmas(settings.lemma_dir)))

    def role_name(self, role: str, language: str) -> str:
        return self.knowledge.roles[role].name[language]

    def topic_name(self, topic: str, language: str) -> str:
        found = self.knowledge.topics.get(topic)
        if found is None:
            from bot.i18n import gettext

            return gettext(language, "Other question")
        return found.name[language]

    def answer_text(self, answer_id: str, language: str) -> str:
        return next(a.text[language] for a in self.knowledge.answers if a.id == answer_id)
