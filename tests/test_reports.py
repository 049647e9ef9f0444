"""Monthly figures from seeded data, checked exactly on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import Ticket, TicketStatus, TopicLog
from bot.domain.reports import (
    OTHER,
    Count,
    Filters,
    Outcomes,
    Period,
    PeriodError,
    fold,
    monthly_report,
)
from bot.report_formats import CSV_DELIMITER, CSV_ENCODING, as_csv, as_json, as_png, as_text
from bot.services import Services

HELSINKI = ZoneInfo("Europe/Helsinki")
NOV = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
OCT = datetime(2026, 10, 10, 10, 0, tzinfo=UTC)


def log(at: datetime, role: str, topic: str, team: str | None = "Tekniikka",
        language: str = "fi", rerouted: tuple[str, str] | None = None) -> TopicLog:
    return TopicLog(at=at, role=role, topic=topic, team=team, language=language,
                    rerouted_from_role=rerouted[0] if rerouted else None,
                    rerouted_from_topic=rerouted[1] if rerouted else None)


def ticket(role: str, **fields: object) -> Ticket:
    values: dict = dict(asker_id=1, text="x", language="fi", topic="hoks", role=role,
                        confidence=0.9, status=TicketStatus.CLOSED, created_at=NOV,
                        updated_at=NOV)
    values.update(fields)
    values["delivered_at"] = values["created_at"]  # the helpers knew of them
    return Ticket(**values)


async def seed(services: Services) -> None:
    rows = (
        [log(NOV, "vertaisvalmentaja", "hoks") for _ in range(3)]
        + [log(NOV, "vertaisvalmentaja", "hoks", rerouted=("tvt", "devices")) for _ in range(2)]
        + [log(NOV, "tvt", "devices", team="Liiketalous") for _ in range(3)]
        + [log(NOV, "luotsi", "team_meetings", language="sv")]
        # 00:30 on 1 November in Helsinki is still 31 October in UTC: it belongs to November.
        + [log(datetime(2026, 10, 31, 22, 30, tzinfo=UTC), "tvt", "accounts")]
        # 00:30 on 1 December in Helsinki: not November.
        + [log(datetime(2026, 11, 30, 22, 30, tzinfo=UTC), "tvt", "accounts")]
        + [log(OCT, "vertaisvalmentaja", "hoks") for _ in range(2)]
        + [log(OCT, "tvt", "devices") for _ in range(4)]
        + [log(OCT - timedelta(days=60), "luotsi", "team_meetings") for _ in range(7)]
    )
    tickets = (
        [ticket("vertaisvalmentaja", first_answer_minutes=m, first_answer_office_minutes=m / 2,
                close_minutes=m * 10, close_office_minutes=m * 5, rating=r)
         for m, r in ((30, 5), (10, 4), (50, 3), (20, None), (40, None))]
        + [ticket("tvt", first_answer_minutes=m, first_answer_office_minutes=m,
                  overdue=True) for m in (300, 100, 200)]
        + [ticket("tvt", status=TicketStatus.OPEN),  # unanswered
           ticket("tvt", status=TicketStatus.CLAIMED, first_answer_minutes=5.0,
                  first_answer_office_minutes=5.0, first_answer_at=NOV),
           ticket("vertaisvalmentaja", self_served=True, close_minutes=1.0,
                  close_office_minutes=1.0),
           ticket("tvt", status=TicketStatus.OPEN, created_at=OCT, overdue=True)]
    )
    async with services.db.session() as session:
        session.add_all(rows + tickets)
        await session.commit()


@pytest.fixture
def november() -> Period:
    return Period.month("2026-11", HELSINKI)


async def test_every_figure_of_a_month(services: Services, november: Period) -> None:
    await seed(services)
    async with services.db.session() as session:
        report = await monthly_report(session=session, period=november)
    assert (report.period.label, report.previous.label) == ("2026-11", "2026-10")
    assert (report.total, report.previous_total) == (10, 6)
    assert report.by_topic == [
        Count("hoks", "vertaisvalmentaja", 5, 2), Count("devices", "tvt", 3, 4),
        Count("accounts", "tvt", 1, 0), Count("team_meetings", "luotsi", 1, 0),
    ]
    assert report.by_role == [Count("tvt", "tvt", 4, 4), Count("luotsi", "luotsi", 1, 0),
                              Count("vertaisvalmentaja", "vertaisvalmentaja", 5, 2)]
    (tvt, coach) = report.first_answer
    # Nearest rank: the median of 5 values is the 3rd, the 90th percentile the 5th.
    assert (coach.role, coach.count, coach.median, coach.p90) == ("vertaisvalmentaja", 5, 30, 50)
    assert (coach.office_median, coach.office_p90) == (15, 25)
    assert (tvt.count, tvt.median, tvt.p90) == (4, 100, 300)  # 5, 100, 200, 300
    (close,) = report.to_close  # the self-served ticket does not count as a helper's close
    assert (close.count, close.median, close.p90, close.office_median) == (5, 300, 500, 150)
    assert (report.unanswered, report.overdue) == (1, 3)
    assert report.reroutes == [Count("devices", "tvt", 2)] and report.reroute_total == 2
    # Nine answered by helpers (one still in hand), one solved by a self-service answer.
    assert report.outcomes == Outcomes(helper=9, self_service=1)
    assert report.previous_outcomes == Outcomes()  # October's one question still waits
    assert (report.rating_average, report.rating_count) == (4.0, 3)
    assert report.trend_months[-1] == "2026-11" and len(report.trend_months) == 12
    assert report.trend["luotsi"][-1] == 1 and report.trend["luotsi"][-4] == 7
    assert report.trend["tvt"][-2:] == [4, 4]


async def test_filters_by_team_role_and_language(services: Services, november: Period) -> None:
    await seed(services)
    async with services.db.session() as session:
        team = await monthly_report(session=session, period=november,
                                    filters=Filters(team="Liiketalous"))
        swedish = await monthly_report(session=session, period=november,
                                       filters=Filters(language="sv"))
        coaches = await monthly_report(session=session, period=november,
                                       filters=Filters(role="vertaisvalmentaja"))
    assert team.by_topic == [Count("devices", "tvt", 3, 0)]
    assert [c.key for c in swedish.by_topic] == ["team_meetings"]
    assert coaches.total == 5 and [d.role for d in coaches.first_answer] == ["vertaisvalmentaja"]


async def test_small_figures_are_folded_into_other(services: Services, november: Period) -> None:
    await seed(services)
    async with services.db.session() as session:
        report = fold(await monthly_report(session=session, period=november), 3)
    # hoks had 2 the month before: too few to show beside it, so the whole row folds.
    assert report.by_topic == [Count("devices", "tvt", 3, 4), Count(OTHER, None, 7, 2)]
    assert report.reroutes == [Count(OTHER, None, 2, 0)]
    assert [d.role for d in report.first_answer] == ["tvt", "vertaisvalmentaja"]
    assert [d.role for d in report.to_close] == ["vertaisvalmentaja"]
    assert report.rating_average == 4.0  # three ratings: enough
    assert fold(report, 4).rating_average is None


async def test_csv_opens_in_a_finnish_spreadsheet_and_round_trips(
    services: Services, november: Period,
) -> None:
    await seed(services)
    async with services.db.session() as session:
        report = await monthly_report(session=session, period=november)
    data = as_csv(report, services, "fi")
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
    rows = list(csv.reader(io.StringIO(data.decode(CSV_ENCODING)), delimiter=CSV_DELIMITER))
    assert rows[0] == ["osio", "rooli", "aihe", "2026-11", "2026-10"]
    assert ["topic", "Vertaisvalmentaja", "HOKS", "5", "2"] in rows
    assert ["rating_average", "", "", "4", ""] in rows
    median = next(r for r in rows if r[0] == "first_answer_office_median_min"
                  and r[1] == "Vertaisvalmentaja")
    assert median[3] == "15"
    assert json.loads(as_json(report))["by_topic"][0] == {
        "key": "hoks", "role": "vertaisvalmentaja", "count": 5, "previous": 2}


async def test_text_and_chart(services: Services, november: Period) -> None:
    await seed(services)
    async with services.db.session() as session:
        report = await monthly_report(session=session, period=november)
    text = as_text(report, services, "fi")
    assert text.splitlines()[0] == "Raportti 2026-11 (verrattuna: 2026-10)"
    assert "1. HOKS: 5 (+3)" in text
    png = as_png(report, services, "fi")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


async def seed_outcomes(services: Services) -> None:
    """November: each way a question can end, and one still waiting; October: fewer."""
    tickets = (
        [ticket("tvt", first_answer_at=NOV) for _ in range(3)]
        + [ticket("tvt", status=TicketStatus.CLAIMED, first_answer_at=NOV)]  # answered, in hand
        + [ticket("luotsi")]  # closed by a helper without a written answer (a phone call)
        + [ticket("tvt", self_served=True) for _ in range(2)]  # "This helped"
        + [ticket("tvt", self_served=True, solved_by_asker=True, closed_at=NOV)
           for _ in range(3)]  # "Solved it myself"
        + [ticket("luotsi", withdrawn=True, asker_id=None, text=None, closed_at=NOV),
           # answered, then its asker erased their data before it closed: withdrawn
           ticket("tvt", withdrawn=True, asker_id=None, text=None, first_answer_at=NOV)]
        + [ticket("tvt", status=TicketStatus.OPEN)]  # waiting: unanswered, in no outcome
        + [ticket("tvt", status=TicketStatus.OFFERED)]  # still reading its answer: in none
        + [ticket("tvt", created_at=OCT, first_answer_at=OCT),
           ticket("tvt", created_at=OCT, self_served=True, solved_by_asker=True, closed_at=OCT)]
    )
    logs = [log(t.created_at, t.role, t.topic) for t in tickets]  # each question is logged
    async with services.db.session() as session:
        session.add_all([*tickets, *logs])
        await session.commit()


async def test_how_the_questions_ended_is_counted_apart(services: Services, november: Period
                                                       ) -> None:
    """Answered by a helper, solved by an answer, solved by the asker, withdrawn: each question
    once, beside the month before, in every form."""
    await seed_outcomes(services)
    async with services.db.session() as session:
        report = await monthly_report(session=session, period=november)
        luotsi = await monthly_report(session=session, period=november,
                                      filters=Filters(role="luotsi"))
    assert report.outcomes == Outcomes(helper=5, self_service=2, asker=3, withdrawn=2)
    assert report.previous_outcomes == Outcomes(helper=1, asker=1)
    assert report.unanswered == 1
    assert luotsi.outcomes == Outcomes(helper=1, withdrawn=1)
    assert fold(report, 3).outcomes == report.outcomes  # counts of questions, no person's
    text = as_text(report, services, "fi")
    assert "5 kysymykseen vastasi auttaja (+4)" in text
    assert "2 kysymystä ratkesi itsepalveluvastauksella (+2)" in text
    assert "3 kysyjää ratkaisi kysymyksensä itse (+2)" in text
    assert "2 kysymystä peruttiin (kysyjät poistivat tietonsa) (+2)" in text
    one = as_text(luotsi, services, "en")
    assert "1 question answered by a helper (+1)" in one
    assert "1 question withdrawn (the asker erased their data) (+1)" in one
    assert "0 questions solved by the askers themselves (±0)" in one
    assert "2 frågor löstes av ett självbetjäningssvar (+2)" in as_text(report, services, "sv")
    rows = list(csv.reader(io.StringIO(as_csv(report, services, "fi").decode(CSV_ENCODING)),
                           delimiter=CSV_DELIMITER))
    assert [r for r in rows if r[0] in ("answered_by_helper", "solved_by_self_service",
                                        "solved_by_asker", "withdrawn")] == [
        ["answered_by_helper", "", "", "5", "1"], ["solved_by_self_service", "", "", "2", "0"],
        ["solved_by_asker", "", "", "3", "1"], ["withdrawn", "", "", "2", "0"]]
    assert not any(r[0] == "self_served" for r in rows)  # the old mixed figure is gone
    data = json.loads(as_json(report))
    assert data["outcomes"] == {"helper": 5, "self_service": 2, "asker": 3, "withdrawn": 2}
    assert data["previous_outcomes"]["asker"] == 1
    assert as_png(report, services, "sv").startswith(b"\x89PNG")


async def test_the_migration_tells_existing_self_served_tickets_apart(database_url: str
                                                                      ) -> None:
    """The outcomes migration fills the new column from what the rows tell: "This helped" left
    a "helped" use of the answer and no closing time; "Solved it myself" a closing time and no
    such use."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from bot.storage import Database, migrate
    from bot.storage.db import alembic_config

    config = alembic_config(database_url)
    outcomes = next(script for script in ScriptDirectory.from_config(config).walk_revisions()
                    if (script.path or "").endswith("_outcomes.py"))
    await asyncio.to_thread(command.downgrade, config, outcomes.down_revision)
    db = Database(database_url)
    rows = [  # id, self_served, closed, a "helped" use
        (1, True, False, True), (2, True, True, False), (3, True, False, False),
        (4, False, True, False), (5, True, True, True)]
    try:
        async with db.session() as session:
            for number, served, closed, helped in rows:
                await session.exec(text(  # type: ignore[call-overload]
                    "INSERT INTO ticket (id, language, topic, role, confidence, routing, status,"
                    " anonymous, self_served, created_at, updated_at, sla_level, overdue,"
                    " withdrawn, closed_at) VALUES (:id, 'fi', 'hoks', 'tvt', 0.9, 'auto',"
                    " 'closed', false, :served, :at, :at, 0, false, false, :closed)"),
                    params={"id": number, "served": served, "at": NOV,
                            "closed": NOV if closed else None})
                if helped:
                    await session.exec(text(  # type: ignore[call-overload]
                        "INSERT INTO answeruse (at, answer_id, topic, kind, ticket_id)"
                        " VALUES (:at, 'a1', 'hoks', 'helped', :id)"),
                        params={"at": NOV, "id": number})
            await session.commit()
        await migrate(database_url)
        async with db.session() as session:
            found = dict((await session.exec(text(  # type: ignore[call-overload]
                "SELECT id, solved_by_asker FROM ticket ORDER BY id"))).all())
    finally:
        await db.dispose()
    assert {k: bool(v) for k, v in found.items()} == {1: False, 2: True, 3: False, 4: False,
                                                      5: False}


def test_periods() -> None:
    assert Period.month("2026-01", HELSINKI).previous().label == "2025-12"
    span = Period.span(date(2026, 11, 1), date(2026, 11, 7), HELSINKI)
    assert span.end - span.start == timedelta(days=7)
    assert span.previous().end == span.start
    with pytest.raises(PeriodError):
        Period.month("11/2026", HELSINKI)
    # Absurd periods are refused with a message, never a ValueError from deep inside.
    for text in ("0001-01", "9999-12", "0000-00", "٢٠٢٦-١١"):
        with pytest.raises(PeriodError):
            Period.month(text, HELSINKI)
    assert Period.month("1970-01", HELSINKI).months_back(12)[0].label == "1969-02"
    with pytest.raises(PeriodError):
        Period.span(date(1, 1, 1), date(1, 1, 2), HELSINKI)
    with pytest.raises(PeriodError):
        Period.span(date(2000, 1, 1), date(2030, 1, 1), HELSINKI)  # its "period before" too


async def test_report_endpoints_need_the_token(services: Services) -> None:
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer
    from pydantic import SecretStr

    from bot.web import init_app

    await seed(services)
    services.settings = services.settings.model_copy(
        update={"report_token": SecretStr("s3cret-dashboard-token")})
    async with TestServer(init_app(services)) as server, ClientSession() as client:
        url = server.make_url("/reports/2026-11.json")
        bearer = {"Authorization": "Bearer s3cret-dashboard-token"}
        assert (await client.get(url)).status == 401
        assert (await client.get(url, headers={"Authorization": "Bearer wrong"})).status == 401
        # Never in the address, where proxies log it.
        refused = await client.get(url, params={"token": "s3cret-dashboard-token"})
        assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        response = await client.get(url, headers=bearer)
        data = await response.json()
        assert data["period"]["label"] == "2026-11" and data["total"] == 10
        assert data["folded_below"] == 3
        csv_response = await client.get(server.make_url("/reports/2026-11.csv"), headers=bearer)
        assert csv_response.headers["Content-Type"].startswith("text/csv")
        assert (await csv_response.read()).startswith(b"\xef\xbb\xbfosio;")
        assert (await client.get(server.make_url("/reports/2026-13.json"),
                                 headers=bearer)).status == 400


async def test_events_held_with_their_rsvp_counts(services: Services, november: Period) -> None:
    from bot.domain.models import Event, Rsvp

    async with services.db.session() as session:
        held = Event(kind="cafe", title="Kahvila", starts_at=NOV, ends_at=NOV + timedelta(hours=1),
                     place="Kahvio", channels=[-1], reminders=[])
        cancelled = Event(kind="webinar", title="Peruttu", starts_at=NOV, cancelled=True,
                          ends_at=NOV + timedelta(hours=1), link="https://x.example",
                          channels=[-1], reminders=[])
        session.add_all([held, cancelled])
        await session.flush()
        session.add_all([Rsvp(event_id=held.id, user_id=u, answer=a)
                         for u, a in ((1, "yes"), (2, "plus"), (3, "no"), (4, "yes"))])
        await session.commit()
        report = await monthly_report(session=session, period=november)
    (figure,) = report.events
    assert (figure.title, figure.coming, figure.with_colleague, figure.not_coming) == (
        "Kahvila", 3, 1, 1)
    assert "Kahvila: 3 tulossa (1 kollegan kanssa), 1 ei" in as_text(report, services, "fi")


# --- the chart a lead reads ---------------------------------------------------------------------

BUSY_TOPICS = {"tvt": ["accounts", "teams", "moodle", "devices"],
               "vertaisvalmentaja": ["hoks", "assessment", "workplace_learning"],
               "luotsi": ["team_meetings", "division_of_work"]}


async def seed_busy_year(services: Services) -> None:
    """A year of questions: the three roles rise and fall, and in three months (November among
    them) each role is asked exactly as often as the others."""
    rows = []
    for back in range(12):
        month = NOV - timedelta(days=30 * back)
        equal = back in (0, 4, 7)
        for index, (role, topics) in enumerate(BUSY_TOPICS.items()):
            count = 9 if equal else 3 + (back * (index + 2)) % 9
            rows += [log(month, role, topics[n % len(topics)]) for n in range(count)]
    rows += [log(NOV, "luotsi", "team_projects"), log(NOV, "luotsi", "cross_team")]  # small
    tickets = ([ticket("tvt", first_answer_at=NOV) for _ in range(6)]
               + [ticket("tvt", self_served=True) for _ in range(4)]
               + [ticket("vertaisvalmentaja", self_served=True, solved_by_asker=True,
                         closed_at=NOV) for _ in range(2)])
    async with services.db.session() as session:
        session.add_all(rows + tickets)
        await session.commit()


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _keep(name: str, data: bytes, tmp_path: Path) -> None:
    """`make screenshots` keeps the charts for the README (PEERDESK_SCREENSHOTS=docs)."""
    folder = Path(os.environ.get("PEERDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


async def test_a_lead_reads_the_chart_at_a_glance(services: Services, november: Period,
                                                  tmp_path: Path) -> None:
    """The lead's chart tells no more than the lead's text (small figures folded into
    "other", month by month too); equal figures each have their own bar and value; a busy month
    is a tall picture and a quiet one a short one."""
    await seed_busy_year(services)
    async with services.db.reading() as session:
        full = await monthly_report(session=session, period=november)
    lead = fold(full, 3)
    assert full.trend["luotsi"][-1] == 11 and full.trend["tvt"][-1] == 9
    # Topics of one or two questions fold into "other", in the text as in the chart.
    assert lead.by_topic[-1].key == OTHER
    assert all(c.count >= 3 for c in lead.by_topic[:-1])
    assert "team_projects" not in {c.key for c in lead.by_topic}
    assert all(n == 0 or n >= 3 for role, counts in lead.trend.items() if role != OTHER
               for n in counts)
    assert sum(sum(c) for c in lead.trend.values()) == sum(sum(c) for c in full.trend.values())
    busy = as_png(lead, services, "fi")
    _keep("report-busy-month.png", busy, tmp_path)

    async with services.db.session() as session:
        session.add_all([log(datetime(2027, 1, 12, 10, tzinfo=UTC), "tvt", "accounts"),
                         log(datetime(2027, 1, 13, 10, tzinfo=UTC), "luotsi", "team_meetings")])
        await session.commit()
    async with services.db.reading() as session:
        january = fold(await monthly_report(session=session, period=Period.month(
            "2027-01", HELSINKI)), 3)
    assert [(c.key, c.count) for c in january.by_topic] == [(OTHER, 2)]
    assert set(january.trend) >= {OTHER} and january.trend[OTHER][-1] == 2
    quiet = as_png(january, services, "fi")
    _keep("report-quiet-month.png", quiet, tmp_path)
    (busy_width, busy_height), (quiet_width, quiet_height) = _png_size(busy), _png_size(quiet)
    assert busy_width == quiet_width == 900
    assert quiet_height < busy_height and quiet_height <= 600


async def test_an_event_is_held_only_once_it_is_over(services: Services, november: Period
                                                     ) -> None:
    from bot.domain.models import Event

    today = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    async with services.db.session() as session:
        session.add_all([
            Event(kind="cafe", title="Eilinen", starts_at=today - timedelta(days=1),
                  ends_at=today - timedelta(days=1, hours=-1), channels=[-1], reminders=[]),
            Event(kind="cafe", title="Huominen", starts_at=today + timedelta(days=1),
                  ends_at=today + timedelta(days=1, hours=1), channels=[-1], reminders=[])])
        await session.commit()
        report = await monthly_report(session=session, period=november, now=today)
        later = await monthly_report(session=session, period=november,
                                     now=today + timedelta(days=2))
    assert [e.title for e in report.events] == ["Eilinen"]
    assert "Huominen" not in as_text(report, services, "fi")
    assert [e.title for e in later.events] == ["Eilinen", "Huominen"]


def test_a_month_as_people_write_it() -> None:
    """/report takes what a head of education writes, not only YYYY-MM (a second probe: it
    refused "11/2026" and "marraskuu")."""
    today = date(2026, 12, 7)
    for text, label in (("2026-11", "2026-11"), ("11/2026", "2026-11"), ("11.2026", "2026-11"),
                        ("marraskuu", "2026-11"), ("marraskuuta 2025", "2025-11"),
                        ("November", "2026-11"), ("december", "2026-12"),
                        ("januari 2026", "2026-01"), ("tammikuu", "2026-01")):
        assert Period.spoken(text, today, HELSINKI).label == label, text
    # A month still to come this year, named alone, is last year's.
    assert Period.spoken("joulukuu", date(2026, 11, 30), HELSINKI).label == "2025-12"
    for text in ("", "sometime", "13/2026", "marraskuu kuu", "0001-01"):
        with pytest.raises(PeriodError):
            Period.spoken(text, today, HELSINKI)
