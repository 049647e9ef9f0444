"""What staff ask about, month by month: figures aggregated in SQL from the topic log and the
tickets. No names, no question texts; small figures can be folded away for wider audiences."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ROLES
from bot.domain import answer_figures
from bot.domain.answer_figures import AnswerFigure, Rising
from bot.domain.dates import month_number
from bot.domain.models import (
    Attendance,
    Digest,
    Event,
    EventFeedback,
    Rsvp,
    Ticket,
    TicketStatus,
    TopicLog,
)

OTHER = "other"  # where folded figures go
OTHER_TOPIC = "other"  # the router's topic for questions that fit none (never a gap)
GAPS_SHOWN = 5
RISING_MONTHS = 3  # a topic's month is compared with this many months before it
_MONTH = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_NUMERIC_MONTH = re.compile(r"^(\d{1,2})[/.](\d{4})$", re.ASCII)  # 11/2026, 11.2026
# Reports cover these years: every date a report derives (the period before, the eleven months
# of its trend, the next month's start, in any time zone) stays representable. `0001-01` or
# `9999-12` would otherwise raise deep inside.
FIRST_YEAR, LAST_YEAR = 1970, 9998
MAX_SPAN = timedelta(days=366 * 10)


class PeriodError(ValueError):
    """A period that cannot be read; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC, named as people say it (a month, or from–to local dates)."""

    start: datetime
    end: datetime
    label: str
    monthly: bool = False

    @classmethod
    def month(cls, text: str, tz: ZoneInfo) -> Period:
        match = _MONTH.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise PeriodError("a month is written as YYYY-MM, for example 2026-11")
        year, month = int(match.group(1)), int(match.group(2))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise PeriodError(f"reports cover the years {FIRST_YEAR} to {LAST_YEAR}")
        return cls._month(year, month, tz)

    @classmethod
    def spoken(cls, text: str, today: date, tz: ZoneInfo) -> Period:
        """A month as people write it: 2026-11, 11/2026, 11.2026, or its name in Finnish,
        Swedish or English ("marraskuu", "november 2025", "marraskuuta 2026"). A name without
        a year is the latest such month, this one included."""
        words = text.strip().casefold().replace(",", " ").split()
        if len(words) == 1 and _MONTH.match(words[0]):
            return cls.month(words[0], tz)
        numeric = _NUMERIC_MONTH.match(text.strip())
        if numeric:
            return cls.month(f"{int(numeric.group(2)):04d}-{int(numeric.group(1)):02d}", tz)
        month = month_number(words[0]) if words else None
        if month is None or len(words) > 2 or (len(words) == 2 and not words[1].isdigit()):
            raise PeriodError("a month is written as YYYY-MM, for example 2026-11")
        year = int(words[1]) if len(words) == 2 else \
            today.year if month <= today.month else today.year - 1
        return cls.month(f"{year:04d}-{month:02d}", tz)

    @classmethod
    def _month(cls, year: int, month: int, tz: ZoneInfo) -> Period:
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(_start_of(first, tz), _start_of(following, tz), f"{year:04d}-{month:02d}", True)

    @classmethod
    def containing(cls, moment: datetime, tz: ZoneInfo) -> Period:
        local = moment.astimezone(tz)
        return cls._month(local.year, local.month, tz)

    @classmethod
    def span(cls, first: date, last: date, tz: ZoneInfo) -> Period:
        """From the start of `first` to the end of `last`, both local dates, inclusive."""
        if last < first:
            raise PeriodError("the end date comes before the start date")
        if first.year < FIRST_YEAR or last.year > LAST_YEAR:
            raise PeriodError(f"reports cover the years {FIRST_YEAR} to {LAST_YEAR}")
        if last - first >= MAX_SPAN:
            raise PeriodError("a period is at most ten years long")
        return cls(_start_of(first, tz), _start_of(last + timedelta(days=1), tz),
                   f"{first.isoformat()}–{last.isoformat()}")

    def previous(self) -> Period:
        """The month before, or an equally long span just before."""
        if self.monthly:
            year, month = (int(p) for p in self.label.split("-"))
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            return Period._month(year, month, _zone(self))
        length = self.end - self.start
        return Period(self.start - length, self.start, f"before {self.label}")

    def months_back(self, count: int) -> list[Period]:
        """This month and the `count - 1` before it, oldest first."""
        periods = [self if self.monthly else Period.containing(self.start, _zone(self))]
        while len(periods) < count:
            periods.insert(0, periods[0].previous())
        return periods


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _zone(period: Period) -> ZoneInfo:
    tz = period.start.tzinfo
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Filters:
    team: str | None = None
    role: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Count:
    key: str  # a topic id, a role, or OTHER
    role: str | None
    count: int
    previous: int = 0

    @property
    def change(self) -> int:
        return self.count - self.previous


@dataclass(frozen=True, slots=True)
class Durations:
    """Minutes to the first helper answer or to closing, for one role: median and 90th
    percentile (nearest rank), in wall time and in office time."""

    role: str
    count: int
    median: float
    p90: float
    office_median: float
    office_p90: float


@dataclass(frozen=True, slots=True)
class EventFigure:
    """An event held in the period: who said they would come, who came, what they thought."""

    event_id: int
    kind: str
    title: str
    starts_at: datetime
    coming: int  # said they would come (yes + plus, with a place), people
    with_colleague: int  # of whom bring a colleague
    not_coming: int
    waiting: int = 0  # still on the waiting list
    came: int = 0  # marked present (by themselves or the host)
    feedback_count: int = 0  # 1–5 ratings given
    rating_average: float | None = None


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How the period's questions ended, each counted once. A question still waiting for its
    first answer is `Report.unanswered`; one still showing its self-service answer is in none."""

    helper: int = 0  # answered by a helper (or closed by one, say after a phone call)
    self_service: int = 0  # solved by a self-service answer ("This helped")
    asker: int = 0  # solved by the asker themselves ("Solved it myself")
    withdrawn: int = 0  # withdrawn: the asker erased their data (/forget)


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    previous: Period
    filters: Filters
    total: int
    previous_total: int
    by_topic: list[Count]
    by_role: list[Count]
    first_answer: list[Durations]
    to_close: list[Durations]
    unanswered: int
    overdue: int
    reroutes: list[Count]
    outcomes: Outcomes
    previous_outcomes: Outcomes
    rating_average: float | None
    rating_count: int
    events: list[EventFigure] = field(default_factory=list)
    trend: dict[str, list[int]] = field(default_factory=dict)  # role -> per month, oldest first
    trend_months: list[str] = field(default_factory=list)
    folded_below: int = 0  # figures from fewer questions went to OTHER (0: nothing folded)
    # Offered a self-service answer that the asker never settled, so passed to a helper
    # (bot.domain.offers); these are in the outcomes too, as they ended.
    offer_unsettled: int = 0
    # The knowledge loop (bot.domain.answers): each answer's fate, the gaps, hallway questions
    # logged by helpers (in the counts above too), topics rising over the months before.
    answers: list[AnswerFigure] = field(default_factory=list)
    gap_topics: list[Count] = field(default_factory=list)  # asked often, no answer published
    gap_answers: list[AnswerFigure] = field(default_factory=list)  # most "still want a helper"
    hallway: int = 0
    rising: list[Rising] = field(default_factory=list)

    @property
    def reroute_total(self) -> int:
        return sum(c.count for c in self.reroutes)


def other_last(counts: list[Count]) -> list[Count]:
    """"Other" (folded figures, or the router's own "other" topic) is one row, always last."""
    others = [c for c in counts if c.key == OTHER]
    if not others:
        return counts
    roles = {c.role for c in others}
    merged = Count(OTHER, roles.pop() if len(roles) == 1 else None,
                   sum(c.count for c in others), sum(c.previous for c in others))
    return [c for c in counts if c.key != OTHER] + [merged]


def _log_filters(filters: Filters) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.team:
        conditions.append(col(TopicLog.team) == filters.team)
    if filters.role:
        conditions.append(col(TopicLog.role) == filters.role)
    if filters.language:
        conditions.append(col(TopicLog.language) == filters.language)
    return conditions


def _ticket_filters(filters: Filters, period: Period) -> list[ColumnElement[bool]]:
    conditions = [col(Ticket.created_at) >= period.start, col(Ticket.created_at) < period.end]
    if filters.role:
        conditions.append(col(Ticket.role) == filters.role)
    if filters.language:
        conditions.append(col(Ticket.language) == filters.language)
    if filters.team:
        conditions.append(col(Ticket.id).in_(
            select(col(TopicLog.ticket_id)).where(col(TopicLog.team) == filters.team)))
    return conditions


def _in(period: Period) -> ColumnElement[bool]:
    return and_(col(TopicLog.at) >= period.start, col(TopicLog.at) < period.end)


def _sum_in(period: Period) -> ColumnElement[int]:
    return func.sum(case((_in(period), 1), else_=0))


async def _topics(session: AsyncSession, period: Period, previous: Period, filters: Filters
                  ) -> list[Count]:
    rows = await session.exec(  # type: ignore[call-overload]
        select(col(TopicLog.role), col(TopicLog.topic), _sum_in(period), _sum_in(previous))
        .where(col(TopicLog.at) >= previous.start, col(TopicLog.at) < period.end,
               *_log_filters(filters))
        .group_by(TopicLog.role, TopicLog.topic)
    )
    counts = [Count(topic, role, int(now or 0), int(before or 0)) for role, topic, now, before
              in rows]
    return sorted((c for c in counts if c.count or c.previous),
                  key=lambda c: (-c.count, -c.previous, c.key))


async def _reroutes(session: AsyncSession, period: Period, filters: Filters) -> list[Count]:
    rows = await session.exec(  # type: ignore[call-overload]
        select(col(TopicLog.rerouted_from_role), col(TopicLog.rerouted_from_topic),
               func.count())
        .where(_in(period), col(TopicLog.rerouted_from_topic).is_not(None),
               *_log_filters(filters))
        .group_by(col(TopicLog.rerouted_from_role), col(TopicLog.rerouted_from_topic))
    )
    return sorted((Count(topic, role, int(n)) for role, topic, n in rows),
                  key=lambda c: (-c.count, c.key))


async def _durations(session: AsyncSession, wall: Any, office: Any,
                     conditions: list[ColumnElement[bool]]) -> list[Durations]:
    """Median and p90 per role by nearest rank, computed with window functions in SQL; the ranks
    are ceil(n/2) and ceil(9n/10) in integer arithmetic, which both backends share."""
    found: dict[str, dict[str, float]] = {}
    for name, column in (("wall", wall), ("office", office)):
        ranked = select(
            Ticket.role.label("role"), column.label("v"),  # type: ignore[attr-defined]
            func.row_number().over(partition_by=Ticket.role, order_by=column).label("rn"),
            func.count().over(partition_by=Ticket.role).label("n"),
        ).where(*conditions, column.is_not(None)).subquery()
        median_rank, p90_rank = (ranked.c.n + 1) // 2, (ranked.c.n * 9 + 9) // 10
        rows = await session.exec(select(  # type: ignore[call-overload]
            ranked.c.role, ranked.c.n, ranked.c.rn, ranked.c.v, median_rank, p90_rank,
        ).where(or_(ranked.c.rn == median_rank, ranked.c.rn == p90_rank)))
        for role, n, rank, value, median_rank, p90_rank in rows:
            entry = found.setdefault(role, {"n": n})
            if rank == median_rank:
                entry[f"{name}_median"] = float(value)
            if rank == p90_rank:
                entry[f"{name}_p90"] = float(value)
    return [
        Durations(role, int(v["n"]), v["wall_median"], v["wall_p90"], v["office_median"],
                  v["office_p90"])
        for role, v in sorted(found.items(), key=lambda item: ROLES.index(item[0])
                              if item[0] in ROLES else len(ROLES))
    ]


async def _trend(session: AsyncSession, months: list[Period], filters: Filters
                 ) -> dict[str, list[int]]:
    # One pass: each row falls into its month's bucket (the first boundary it is below).
    bucket = case(*((col(TopicLog.at) < month.end, index) for index, month in enumerate(months)))
    rows = await session.exec(  # type: ignore[call-overload]
        select(col(TopicLog.role), bucket, func.count())
        .where(col(TopicLog.at) >= months[0].start, col(TopicLog.at) < months[-1].end,
               *_log_filters(filters))
        .group_by(TopicLog.role, bucket)
    )
    trend = {role: [0] * len(months) for role in ROLES}
    for role, index, count in rows:
        trend.setdefault(role, [0] * len(months))[int(index)] = int(count)
    return trend


async def _events(session: AsyncSession, period: Period, now: datetime) -> list[EventFigure]:
    # Held: begun in the period and over by now. Tomorrow's café is not "held, 0 came".
    held = (col(Event.starts_at) >= period.start, col(Event.starts_at) < period.end,
            col(Event.ends_at) <= now, col(Event.cancelled).is_(False))
    placed = and_(col(Rsvp.waiting).is_(False), col(Rsvp.answer).in_(["yes", "plus"]))
    answered = lambda condition: func.sum(case((condition, 1), else_=0))  # noqa: E731
    rows = await session.exec(  # type: ignore[call-overload]
        select(col(Event.id), col(Event.kind), col(Event.title), col(Event.starts_at),
               answered(and_(placed, col(Rsvp.answer) == "yes")),
               answered(and_(placed, col(Rsvp.answer) == "plus")),
               answered(col(Rsvp.answer) == "no"), answered(col(Rsvp.waiting)))
        .join(Rsvp, col(Rsvp.event_id) == col(Event.id), isouter=True)
        .where(*held)
        .group_by(col(Event.id), col(Event.kind), col(Event.title), col(Event.starts_at))
        .order_by(col(Event.starts_at), col(Event.id)))
    figures = list(rows)
    ids = select(col(Event.id)).where(*held)
    came = dict((await session.exec(  # type: ignore[call-overload]
        select(col(Attendance.event_id), func.count()).where(col(Attendance.event_id).in_(ids))
        .group_by(col(Attendance.event_id)))).all())
    rated = {event_id: (int(n), avg) for event_id, n, avg in await session.exec(
        select(col(EventFeedback.event_id), func.count(),  # type: ignore[call-overload]
               func.avg(col(EventFeedback.rating)))
        .where(col(EventFeedback.event_id).in_(ids), col(EventFeedback.rating) >= 1)
        .group_by(col(EventFeedback.event_id)))}
    return [EventFigure(i, str(k), t, s, int(y or 0) + int(p or 0), int(p or 0), int(n or 0),
                        int(w or 0), int(came.get(i, 0)), rated.get(i, (0, None))[0],
                        round(float(rated[i][1]), 2) if i in rated else None)
            for i, k, t, s, y, p, n, w in figures]


async def _outcomes(session: AsyncSession, conditions: list[ColumnElement[bool]]) -> Outcomes:
    """Each ticket falls under one outcome: withdrawn first (it may have been answered before
    its asker erased their data), then solved by the asker, by an answer, or by a helper."""
    withdrawn, by_asker = col(Ticket.withdrawn), col(Ticket.solved_by_asker)
    self_served = col(Ticket.self_served)
    by_helper = and_(~self_served, ~withdrawn, or_(col(Ticket.first_answer_at).is_not(None),
                                                   col(Ticket.status) == TicketStatus.CLOSED))

    def count(condition: Any) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    (helper, answer, asker, gone), = await session.exec(select(  # type: ignore[call-overload]
        count(by_helper), count(and_(self_served, ~by_asker, ~withdrawn)),
        count(and_(by_asker, ~withdrawn)), count(withdrawn),
    ).where(*conditions))
    return Outcomes(int(helper or 0), int(answer or 0), int(asker or 0), int(gone or 0))


async def monthly_report(*, session: AsyncSession, period: Period, filters: Filters = Filters(),
                         trend_months: int = 12, now: datetime | None = None) -> Report:
    """Every figure of one period, beside the period before it; events count as held once
    they are over by `now` (the present moment when not given)."""
    now = now or datetime.now(UTC)
    previous = period.previous()
    topics = await _topics(session, period, previous, filters)
    by_role: dict[str, list[int]] = {role: [0, 0] for role in ROLES}
    for c in topics:
        by_role.setdefault(c.role or OTHER, [0, 0])
        by_role[c.role or OTHER][0] += c.count
        by_role[c.role or OTHER][1] += c.previous
    conditions = _ticket_filters(filters, period)
    (unanswered, overdue, unsettled, rating_average, rating_count), = await session.exec(
        select(  # type: ignore[call-overload]
            func.sum(case((and_(col(Ticket.status).in_([TicketStatus.OPEN, TicketStatus.CLAIMED]),
                                col(Ticket.first_answer_at).is_(None)), 1), else_=0)),
            func.sum(case((col(Ticket.overdue), 1), else_=0)),
            func.sum(case((col(Ticket.offer_unsettled), 1), else_=0)),
            func.avg(col(Ticket.rating)), func.count(col(Ticket.rating)),
        ).where(*conditions))
    months = period.months_back(trend_months) if trend_months else []
    used = await answer_figures.figures(session=session, start=period.start, end=period.end)
    answered = await answer_figures.answered_topics(session=session)
    return Report(
        period=period, previous=previous, filters=filters,
        total=sum(c.count for c in topics), previous_total=sum(c.previous for c in topics),
        by_topic=other_last([c for c in topics if c.count or c.previous]),
        by_role=other_last([Count(role, role, now, before)
                            for role, (now, before) in by_role.items()]),
        first_answer=await _durations(session, col(Ticket.first_answer_minutes),
                                      col(Ticket.first_answer_office_minutes), conditions),
        to_close=await _durations(session, col(Ticket.close_minutes),
                                  col(Ticket.close_office_minutes),
                                  [*conditions, col(Ticket.self_served).is_(False)]),
        unanswered=int(unanswered or 0), overdue=int(overdue or 0),
        offer_unsettled=int(unsettled or 0),
        reroutes=other_last(await _reroutes(session, period, filters)),
        outcomes=await _outcomes(session, conditions),
        previous_outcomes=await _outcomes(session, _ticket_filters(filters, previous)),
        rating_average=round(float(rating_average), 2) if rating_count else None,
        rating_count=int(rating_count or 0),
        events=await _events(session, period, now),
        trend=await _trend(session, months, filters) if months else {},
        trend_months=[m.label for m in months],
        answers=used, gap_answers=answer_figures.most_wanted(used),
        gap_topics=[c for c in topics if c.count >= answer_figures.GAP_QUESTIONS
                    and c.key not in answered and c.key != OTHER_TOPIC][:GAPS_SHOWN],
        hallway=await answer_figures.hallway(session=session, start=period.start, end=period.end),
        rising=await answer_figures.rising(session=session, months=[
            (m.start, m.end) for m in period.months_back(RISING_MONTHS + 1)])
        if period.monthly else [],
    )


def fold(report: Report, minimum: int) -> Report:
    """For audiences outside the helpers' group: every figure built from fewer than `minimum`
    questions goes into OTHER (counts) or is left out (durations, rating)."""
    if minimum <= 1:
        return report

    def fold_counts(counts: list[Count]) -> list[Count]:
        # A row stays when both its figures are large enough (or the earlier one is zero).
        kept = [c for c in counts if (c.count >= minimum or c.count == 0)
                and (c.previous >= minimum or c.previous == 0)]
        small = [c for c in counts if c not in kept]
        if small:
            kept.append(Count(OTHER, None, sum(c.count for c in small),
                              sum(c.previous for c in small)))
        return other_last(kept)

    return replace(
        report,
        trend=fold_trend(report.trend, minimum),
        by_topic=fold_counts(report.by_topic),
        by_role=fold_counts(report.by_role),
        reroutes=fold_counts(report.reroutes),
        first_answer=[d for d in report.first_answer if d.count >= minimum],
        to_close=[d for d in report.to_close if d.count >= minimum],
        rating_average=report.rating_average if report.rating_count >= minimum else None,
        # An event's average from fewer ratings could tell one person's answer.
        events=[e if e.feedback_count >= minimum else replace(e, rating_average=None)
                for e in report.events],
        answers=[a for a in report.answers if a.offered + a.sent >= minimum],
        gap_answers=[a for a in report.gap_answers if a.offered + a.sent >= minimum],
        # A rise stays when the months before are not a small figure either (or none at all).
        rising=[r for r in report.rising if r.before >= minimum or r.before == 0],
        folded_below=minimum,
    )


def fold_trend(trend: dict[str, list[int]], minimum: int) -> dict[str, list[int]]:
    """The months per role as the text folds its figures: a role's month from fewer than
    `minimum` questions goes into OTHER, so that a chart tells no more than the words."""
    if minimum <= 1 or not trend:
        return trend
    months = len(next(iter(trend.values())))
    folded = {role: [n if n >= minimum or n == 0 else 0 for n in counts]
              for role, counts in trend.items() if role != OTHER}
    other = [sum(counts[i] for counts in trend.values()) - sum(c[i] for c in folded.values())
             for i in range(months)]
    if any(other):
        folded[OTHER] = other
    return folded


def digest_due(now: datetime, tz: ZoneInfo, day: int, hour: int) -> Period | None:
    """The month whose digest should be out by now: the previous one, from `day` at `hour`."""
    local = now.astimezone(tz)
    if (local.day, local.hour) < (day, hour):
        return None
    return Period.containing(now, tz).previous()


async def claim_digest(*, session: AsyncSession, period: Period, now: datetime) -> bool:
    """Take the one right to post this period's digest (False: it is or was being posted)."""
    session.add(Digest(period=period.label, sent_at=now))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def release_digest(*, session: AsyncSession, period: Period) -> None:
    """Posting failed: let a later tick try again."""
    await session.exec(delete(Digest).where(col(Digest.period) == period.label))
    await session.commit()
