"""The knowledge loop's figures for the reports: each answer's use and outcome, the topics
asked without an answer, hallway questions, and topics rising fast enough to suggest an event.
"""


from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import outbox
from bot.domain.models import (
    AnswerStatus,
    AnswerUse,
    AnswerUseKind,
    KnowledgeAnswer,
    OutboxKind,
    Priority,
    Routing,
    TopicLog,
)

GAP_QUESTIONS = 3  # a topic asked this often without an answer is a gap
RISING_MIN = 5  # questions in the month before a rise is worth an event
RISING_FACTOR = 2.0  # …and at least this many times the months before, on average
# ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AnswerFigure:
    answer_id: str
    topic: str
    offered: int = 0
    helped: int = 0
    wanted: int = 0  # "I still want to ask a helper"
    sent: int = 0  # sent by a helper from the card


@dataclass(frozen=True, slots=True)
class Rising:
    topic: str
    role: str
    count: int
    before: float  # a month on average in the months before


async def figures(*, session: AsyncSession, start: datetime, end: datetime
                  ) -> list[AnswerFigure]:
    def kind(k: AnswerUseKind):
        return func.sum(case((col(AnswerUse.kind) == k, 1), else_=0))

    rows = await session.exec(select(  # type: ignore[call-overload]
        AnswerUse.answer_id, func.max(AnswerUse.topic), kind(AnswerUseKind.OFFERED),
        kind(AnswerUseKind.HELPED), kind(AnswerUseKind.WANTED), kind(AnswerUseKind.SENT),
    ).where(col(AnswerUse.at) >= start, col(AnswerUse.at) < end).group_by(AnswerUse.answer_id))
    found = [AnswerFigure(a, t, int(o or 0), int(h or 0), int(w or 0), int(s or 0))
             for a, t, o, h, w, s in rows]
    return sorted(found, key=lambda f: (-(f.offered + f.sent), f.answer_id))


async def answered_topics(*, session: AsyncSession) -> set[str]:
    return set(await session.exec(select(KnowledgeAnswer.topic).where(
        col(KnowledgeAnswer.status) == AnswerStatus.PUBLISHED).distinct()))


def most_wanted(found: Sequence[AnswerFigure], top: int = 5) -> list[AnswerFigure]:
    """Answers most often followed by "I still want to ask a helper"."""
    return sorted((f for f in found if f.wanted),
                  key=lambda f: (-f.wanted, -f.wanted / max(f.offered, 1), f.answer_id))[:top]


async def hallway(*, session: AsyncSession, start: datetime, end: datetime) -> int:
    return int((await session.exec(select(func.count()).where(
        col(TopicLog.routing) == Routing.HALLWAY, col(TopicLog.at) >= start,
        col(TopicLog.at) < end))).one())


async def rising(*, session: AsyncSession, months: Sequence[tuple[datetime, datetime]]
                 ) -> list[Rising]:
    """Topics whose questions in the last of `months` rose clearly over the months before:
    at least RISING_MIN, and RISING_FACTOR times their monthly average before."""
    if len(months) < 2:
        return []
    bucket = case(*((col(TopicLog.at) < end, index) for index, (_, end) in enumerate(months)))
    rows = await session.exec(select(
        TopicLog.role, TopicLog.topic, bucket, func.count(),
    ).where(col(TopicLog.at) >= months[0][0], col(TopicLog.at) < months[-1][1])
        .group_by(TopicLog.role, TopicLog.topic, bucket))
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(months))
    for role, topic, index, count in rows:
        counts[(role, topic)][int(index)] += int(count)
    found = []
    for (role, topic), per_month in counts.items():
        now, before = per_month[-1], sum(per_month[:-1]) / (len(months) - 1)
        if now >= RISING_MIN and now >= RISING_FACTOR * max(before, 1.0):
            found.append(Rising(topic, role, now, round(before, 1)))
    return sorted(found, key=lambda r: (-(r.count - r.before), r.topic))


async def suggest_events(*, session: AsyncSession, found: Sequence[Rising],
                         organisers: Iterable[int], month: str, now: datetime) -> int:
    """Each rising topic suggested to each organiser (a webinar or café on it, one press away),
    queued once per month, topic and person."""
    count = 0
    for rise in found:
        for chat in sorted(set(organisers)):
            outbox.add(session, kind=OutboxKind.NOTE, chat_id=chat, now=now,
                       priority=Priority.ANNOUNCE, key=f"rising:{month}:{rise.topic}:{chat}",
                       params={"template": "rising", "topic": rise.topic, "count": rise.count,
                               "before": rise.before, "month": month})
            count += 1
    await session.commit()
    return count
