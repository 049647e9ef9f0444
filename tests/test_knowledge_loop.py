"""The knowledge loop: helpers answer with what the school already knows, and every good answer
teaches the bot.

A Swedish asker still wants a helper → the card holds the answer at hand → one press sends it in
Swedish. A card lists similar closed questions. A well-rated reply is saved as a draft → a peer
coach translates and publishes it → the next similar question is answered by it, no restart. The
reports count each answer's fate, the gaps, hallway questions; a rising topic suggests an event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlmodel import select

from bot.config import PROJECT_ROOT, load_settings
from bot.domain import answers, drafts
from bot.domain.answer_figures import AnswerFigure, Rising
from bot.domain.knowledge import Knowledge, load_knowledge
from bot.domain.models import (
    AnswerStatus,
    AnswerUse,
    AnswerUseKind,
    Event,
    KnowledgeAnswer,
    Routing,
    Staff,
    Ticket,
    TicketStatus,
    TopicLog,
)
from bot.domain.privacy import forget
from bot.domain.reports import Count, Period, fold, monthly_report
from bot.domain.routing import Router
from bot.report_formats import as_csv, as_text
from bot.services import Services
from bot.storage import Database
from bot.telegram.events import sending
from tests.test_bot_helpers import ADMIN, GROUP, JUKKA, PEKKA, Clock, Desk, open_desk
from tests.test_bot_reports import charts_drawn_small

HELSINKI_NOV = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
RESTORE_FI = "Miten palautan poistetun Moodle-kurssin roskakorista?"


@pytest.fixture(scope="module")
def own_router() -> Router:
    """A router of its own: publishing here must not change the session's shared one."""
    return Router(load_knowledge(PROJECT_ROOT / "knowledge"))


@pytest_asyncio.fixture
async def desk(database_url: str, knowledge: Knowledge, own_router: Router
               ) -> AsyncIterator[Desk]:
    # No reminder comes due under the desk's clock: the SLA sweep need not look ten times a
    # second.
    async with open_desk(database_url, knowledge, own_router, sla_check_seconds=60) as opened:
        yield opened


async def _uses(desk: Desk) -> list[tuple[str, str]]:
    async with desk.services.db.session() as session:
        rows = await session.exec(select(AnswerUse).order_by(AnswerUse.id))
        return [(u.answer_id, u.kind) for u in rows]


async def test_an_answer_at_hand_reaches_a_swedish_asker_in_swedish_with_one_press(
    desk: Desk,
) -> None:
    offer = await desk.ask(7001, "Jag har glömt mitt lösenord och kommer inte in",
                           first_name="Eva", language_code="sv")
    assert "Du kan byta lösenordet själv" in offer["text"]
    await desk.sandbox.press(7001, 7001, offer["message_id"], "ss:1:n")  # still wants a helper
    card = await desk.card(1)
    assert "Valmiita vastauksia (painike lähettää" in card["text"]
    assert "• Salasanan voi vaihtaa itse" in card["text"]
    rows = [[b["callback_data"] for b in row] for row in card["reply_markup"]["inline_keyboard"]]
    assert rows[0] == ["q:claim:1", "q:rr:1", "q:close:1"]
    assert rows[1:] == [["k:send:1:password_reset"]]  # a forgotten password is no new phone
    # Only helpers may press it; Jukka's one press claims the ticket and sends the answer.
    await desk.sandbox.press(7001, GROUP, card["message_id"], "k:send:1:password_reset")
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "k:send:1:password_reset")
    await desk.sandbox.wait_until(lambda: "Lähetetty kysyjälle hänen kielellään." in
                                  desk.answers())
    sent = await desk.to_user(7001, 4)  # the offer, the acknowledgement, claimed, the answer
    answer = sent[-1]
    assert answer["text"].startswith("Jukka skickade dig det här svaret på din fråga #1:\n\n"
                                     "Du kan byta lösenordet själv")
    assert answer["text"].endswith("Om du fortfarande behöver hjälp, skriv bara här.")
    ticket = await desk.wait_ticket(1, lambda t: t.first_answer_at is not None)
    assert answer["reply_to_message"]["message_id"] == ticket.source_message_id
    assert (ticket.status, ticket.claimed_by) == (TicketStatus.CLAIMED, JUKKA)
    notice = (await desk.in_thread(1, 2))[-1]
    assert notice["text"].startswith("#1: Jukka lähetti kysyjälle tämän vastauksen: Salasanan")
    assert await _uses(desk) == [("password_reset", AnswerUseKind.OFFERED),
                                 ("password_reset", AnswerUseKind.WANTED),
                                 ("password_reset", AnswerUseKind.SENT)]
    # /answers finds answers by a word in any language, in its basic form.
    await desk.sandbox.send(JUKKA, "/answers lösenordet")
    (found,) = await desk.to_user(JUKKA, 1)
    assert found["text"].startswith("Valmiit vastaukset sanalle ”lösenordet”:\n\n"
                                    "• password_reset · Tunnukset ja salasanat")


async def test_the_card_lists_similar_closed_questions_by_number_only(desk: Desk) -> None:
    async with desk.services.db.session() as session:
        for text, topic in (("Miten palautan poistetun Moodle-kurssin?", "moodle"),
                            ("Moodle-kurssin palautus roskakorista ei onnistu", "moodle"),
                            ("Moodle kirjautuminen ei toimi", "moodle"),
                            ("Miten palautan poistetun Teams-kanavan?", "teams")):
            session.add(Ticket(text=text, language="fi", topic=topic, role="tvt",
                               confidence=0.9, status=TicketStatus.CLOSED, anonymous=True,
                               asker_id=7005, asker_chat_id=7005))
        session.add(Staff(telegram_id=7005, first_name="Salainen"))
        await session.commit()
    await desk.ask(7001, "Voiko poistetun Moodle-kurssin palauttaa roskakorista?")
    card = await desk.card(5)
    assert "Samankaltaisia aiempia kysymyksiä: #1, #2" in card["text"]
    assert "Salainen" not in card["text"] and "kirjautuminen" not in card["text"]


async def test_a_good_reply_becomes_an_answer_that_answers_the_next_question(
    desk: Desk,
) -> None:
    await desk.ask(7001, RESTORE_FI, first_name="Eva")
    card = await desk.card(1)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")
    thread = await desk.thread(1)
    await desk.sandbox.send(JUKKA, "Hei Eva! Kurssin voi palauttaa: Ylläpito → Roskakori → "
                                   "Palauta. Kysy lisää numerosta 040 123 4567.",
                            chat_id=GROUP, thread_id=thread)
    await desk.to_user(7001, 3)
    await desk.sandbox.send(JUKKA, "/close", chat_id=GROUP, thread_id=thread)
    closing = await desk.remembered(7001, (await desk.to_user(7001, 4))[-1])
    assert "k:save:1" not in str(card.get("reply_markup"))  # not before a good rating
    await desk.sandbox.press(7001, 7001, closing["message_id"], "rate:1:5")
    await desk.sandbox.wait_until(lambda: "k:save:1" in str(card.get("reply_markup")))
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "k:save:1")
    await desk.sandbox.wait_until(lambda: any("Tallennettu luonnokseksi" in a
                                              for a in desk.answers()))
    async with desk.services.db.session() as session:
        draft = await session.get(KnowledgeAnswer, "t1")
    assert draft is not None and draft.status == AnswerStatus.DRAFT
    # Neither the greeting with the asker's name nor the closing line with a phone number
    # enters it.
    assert draft.text == {"fi": "Kurssin voi palauttaa: Ylläpito → Roskakori → Palauta."}
    assert (draft.topic, draft.triggers) == ("moodle", {"fi": ["palauttaa moodle kurssi"]})

    # Jukka is shown, in his own chat, which of his messages form the draft.
    (choices,) = await desk.to_user(JUKKA, 1)
    assert choices["text"].startswith("Vastausluonnos t1 (kysymyksestä #1).")
    assert "1. ✅ Hei Eva! Kurssin voi palauttaa" in choices["text"]
    # A helper who is not a coach may not review; a peer coach may.
    await desk.sandbox.send(JUKKA, "/drafts")
    assert "vertaisvalmentajien" in (await desk.to_user(JUKKA, 2))[-1]["text"]
    await desk.sandbox.send(PEKKA, "/drafts")
    (shown,) = await desk.to_user(PEKKA, 1)
    assert shown["text"].startswith("Vastausluonnos t1 · Moodle ja oppimisalustat "
                                    "(kysymyksestä #1)\nTunnistesanat: fi: palauttaa moodle "
                                    "kurssi")
    assert "sv: (puuttuu vielä)" in shown["text"]
    await desk.sandbox.press(PEKKA, PEKKA, shown["message_id"], "k:pub:1")
    await desk.sandbox.wait_until(lambda: "Ei vielä: lisää ensin sv, en." in desk.answers())
    await desk.sandbox.send(PEKKA, "sv: Kursen kan återställas: Administration → Papperskorg → "
                                   "Återställ.", reply_to=shown["message_id"])
    edited = (await desk.to_user(PEKKA, 2))[-1]
    assert "sv: Kursen kan återställas" in edited["text"]
    await desk.sandbox.send(PEKKA, "The course can be restored: Administration → Recycle bin "
                                   "→ Restore.", reply_to=edited["message_id"])
    edited = (await desk.to_user(PEKKA, 3))[-1]
    assert "en: The course can be restored" in edited["text"]
    assert len(desk.sandbox.bot_messages(PEKKA)) == 3  # the replies made no question
    await desk.sandbox.press(PEKKA, PEKKA, edited["message_id"], "k:pub:1")
    await desk.sandbox.wait_until(lambda: any(a.startswith("Julkaistu") for a in desk.answers()))

    # The next similar question is answered by it at once: no restart.
    offer = await desk.ask(7002, "Voiko poistetun Moodle-kurssin palauttaa?")
    assert "Kurssin voi palauttaa: Ylläpito → Roskakori → Palauta." in offer["text"]
    assert (await desk.ticket(2)).status == TicketStatus.OFFERED


async def test_answers_are_imported_exported_and_published_from_the_command_line(
    desk: Desk, tmp_path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    monkeypatch.setenv("PEERDESK_DATABASE_URL", desk.services.settings.database_url)
    yaml_file = tmp_path / "uusi.yaml"
    yaml_file.write_text(
        "answers:\n  - id: assessment_criteria\n    topic: assessment\n"
        "    triggers: {fi: [arviointikriteeri]}\n"
        "    text: {fi: Kriteerit löytyvät ePerusteista., sv: Kriterierna finns i ePerusteet.,"
        " en: The criteria are in ePerusteet.}\n", encoding="utf-8")
    assert await asyncio.to_thread(main, ["knowledge", "import", str(yaml_file)]) == 0
    assert await asyncio.to_thread(main, ["knowledge", "export"]) == 0
    out = capsys.readouterr().out
    assert "published 1 answers from uusi.yaml" in out
    assert "- id: assessment_criteria" in out and "- id: password_reset" in out
    # A draft is reviewed from the command line too: it needs every language first.
    async with desk.services.db.session() as session:
        session.add(KnowledgeAnswer(id="t9", topic="hoks", text={"fi": "Teksti."},
                                    triggers={"fi": ["hoks aikataulu"]}))
        await session.commit()
    assert await asyncio.to_thread(main, ["knowledge", "publish", "t9"]) == 2
    assert "peerdesk: t9: add sv, en first" in capsys.readouterr().err
    for lang in ("sv", "en"):
        assert await asyncio.to_thread(main, ["knowledge", "edit", "t9", "--lang", lang,
                                              "--text", f"Text {lang}."]) == 0
    assert await asyncio.to_thread(main, ["knowledge", "publish", "t9"]) == 0
    # The running bot picks them up within a minute (its reload job), here at once.
    async with desk.services.db.session() as session:
        await answers.refresh(session=session, router=desk.services.router)
    assert desk.services.router.answer("assessment_criteria") is not None
    assert desk.services.router.answer("t9") is not None


async def test_log_counts_a_hallway_question_without_text_or_name(desk: Desk) -> None:
    await desk.sandbox.send(JUKKA, "/log hoks Tekniikka")
    (told,) = await desk.to_user(JUKKA, 1)
    assert told["text"] == ("Kiitos! Kasvokkain tai puhelimessa kysytty kysymys aiheesta HOKS on "
                            "kirjattu.")
    await desk.sandbox.send(JUKKA, "/log")
    assert "/log hoks Tekniikka" in (await desk.to_user(JUKKA, 2))[-1]["text"]
    async with desk.services.db.session() as session:
        (log,) = await session.exec(select(TopicLog))
        report = await monthly_report(session=session, period=Period.containing(
            desk.clock(), desk.services.settings.tz))
    assert (log.topic, log.role, log.team, log.routing, log.ticket_id) == (
        "hoks", "vertaisvalmentaja", "Tekniikka", Routing.HALLWAY, None)
    assert report.hallway == 1 and report.by_topic[0] == Count("hoks", "vertaisvalmentaja", 1)
    assert "Kysytty kasvokkain tai puhelimessa (auttajien kirjaamat): 1" in as_text(
        report, desk.services, "fi")


async def _seed_figures(services: Services) -> None:
    november, october = HELSINKI_NOV, HELSINKI_NOV - timedelta(days=30)
    async with services.db.session() as session:
        await answers.seed(session=session, knowledge=services.knowledge, now=november)
        for answer_id, topic, kinds in (
            ("password_reset", "accounts", ["offered"] * 4 + ["helped"] * 3 + ["wanted"]
             + ["sent"] * 2),
            ("hoks_update", "hoks", ["offered"] * 3 + ["wanted"] * 3),
            ("teams_recording", "teams", ["sent"]),
        ):
            for kind in kinds:
                answers.record(session, answer_id=answer_id, topic=topic,
                               kind=AnswerUseKind(kind), ticket_id=None, now=november)
        answers.record(session, answer_id="password_reset", topic="accounts",
                       kind=AnswerUseKind.OFFERED, ticket_id=None, now=october)
        logs = ([("assessment", "vertaisvalmentaja", Routing.AUTO)] * 4
                + [("assessment", "vertaisvalmentaja", Routing.HALLWAY)]
                + [("hoks", "vertaisvalmentaja", Routing.AUTO)] * 3
                + [("hoks", "vertaisvalmentaja", Routing.HALLWAY)]
                + [("recognition", "vertaisvalmentaja", Routing.AUTO)] * 2
                + [("accounts", "tvt", Routing.AUTO)] * 3)
        for topic, role, routing in logs:
            session.add(TopicLog(at=november, topic=topic, role=role, language="fi",
                                 routing=routing))
        session.add(TopicLog(at=october, topic="hoks", role="vertaisvalmentaja", language="fi"))
        await session.commit()


async def test_per_answer_figures_gaps_and_rising_topics_exactly(services: Services) -> None:
    await _seed_figures(services)
    november = Period.month("2026-11", services.settings.tz)
    async with services.db.reading() as session:
        report = await monthly_report(session=session, period=november)
    assert report.answers == [AnswerFigure("password_reset", "accounts", 4, 3, 1, 2),
                              AnswerFigure("hoks_update", "hoks", 3, 0, 3, 0),
                              AnswerFigure("teams_recording", "teams", 0, 0, 0, 1)]
    assert report.gap_topics == [Count("assessment", "vertaisvalmentaja", 5, 0)]
    assert [a.answer_id for a in report.gap_answers] == ["hoks_update", "password_reset"]
    assert report.hallway == 2
    assert report.rising == [Rising("assessment", "vertaisvalmentaja", 5, 0.0)]
    text = as_text(report, services, "fi")
    assert ("Valmiit vastaukset (tarjottu / auttoi / halusi silti auttajan / auttaja lähetti):\n"
            "  password_reset (Tunnukset ja salasanat): 4 / 3 / 1 / 2\n"
            "  hoks_update (HOKS): 3 / 0 / 3 / 0\n"
            "  teams_recording (Teams ja etäkokoukset): 0 / 0 / 0 / 1") in text
    assert ("Aukkoja:\n  Kysytään usein, valmista vastausta ei vielä ole: Arviointi ja näytöt (5)"
            "\n  Vastaukset, joiden jälkeen halutaan useimmin silti auttaja: hoks_update (3/3), "
            "password_reset (1/4)") in text
    assert "Nousevat aiheet (niistä voisi järjestää tilaisuuden):\n  Arviointi ja näytöt: 5 " \
           "(aiemmin noin 0 kuukaudessa)" in text
    csv_text = as_csv(report, services, "fi").decode("utf-8-sig")
    assert "answer_offered;password_reset;Tunnukset ja salasanat;4;" in csv_text
    assert "gap_topic;Vertaisvalmentaja;Arviointi ja näytöt;5;" in csv_text
    assert "hallway;;;2;" in csv_text
    # Outside the helpers' group an answer used fewer than three times is left out.
    assert [a.answer_id for a in fold(report, 3).answers] == ["password_reset", "hoks_update"]
    # The coaches' meeting puts the gaps beside the most asked topics.
    services.clock = lambda: HELSINKI_NOV
    agenda = await sending.agenda(services, Event(kind="coaches_meeting", title="Valmentajat",
                                                 starts_at=HELSINKI_NOV, ends_at=HELSINKI_NOV,
                                                 language="fi"))
    assert ("Asialista: kuukauden kysytyimmät aiheet\n1. Arviointi ja näytöt (5)\n2. HOKS (4)"
            in agenda)
    assert agenda.endswith("Aukot valmiissa vastauksissa:\n• Arviointi ja näytöt (5)\n"
                           "• hoks_update: 3 halusi silti auttajan\n"
                           "• password_reset: 1 halusi silti auttajan")


async def test_forget_removes_the_askers_text_from_drafts(services: Services,
                                                          own_router: Router) -> None:
    now = HELSINKI_NOV
    question = "Miten palautan Annin poistetun Moodle-kurssin roskakorista?"
    async with services.db.session() as session:
        session.add(Staff(telegram_id=7001, first_name="Eva"))
        ticket = Ticket(asker_id=7001, asker_chat_id=7001, text=question, language="fi",
                        topic="moodle", role="tvt", confidence=0.9, status=TicketStatus.CLOSED,
                        rating=5, reply_text=f"Eva kysyi: {question} Vastaus: Ylläpito → "
                                             "Roskakori. eva@koulu.fi")
        session.add(ticket)
        await session.commit()
        outcome, draft = await drafts.draft_from_ticket(session=session, router=own_router,
                                                         ticket_id=ticket.id, now=now)
        assert outcome is drafts.Drafting.CREATED and draft is not None
        assert draft.text == {"fi": "… kysyi: … Vastaus: Ylläpito → Roskakori. …"}
        # A coach's edit quotes the question again; /forget takes it out, and the trigger.
        await answers.set_text(session=session, answer_id="t1", language="sv",
                               text=f"Frågan var: {question}", now=now)
        await forget(session=session, telegram_id=7001, now=now,
                     desk=services.desk)
        stored = await session.get(KnowledgeAnswer, "t1")
        await session.refresh(stored)
        assert stored.text["sv"] == "Frågan var: …" and stored.triggers == {}
        assert (await session.get(Ticket, ticket.id)).reply_text is None


async def test_an_answer_reaches_the_adapters_as_a_frozen_view(services: Services) -> None:
    """What the adapters are given cannot be changed behind the domain's back: neither the
    view's fields nor its texts and triggers, and nothing of it is a table row."""
    async with services.db.session() as session:
        await answers.seed(session=session, knowledge=services.knowledge, now=HELSINKI_NOV)
        view = await answers.get(session=session, answer_id="password_reset")
        listed = await answers.listing(session=session, status=AnswerStatus.PUBLISHED)
    assert isinstance(view, answers.AnswerView) and view in listed
    assert not any(isinstance(a, KnowledgeAnswer) for a in listed)
    assert view.status is AnswerStatus.PUBLISHED and view.text["fi"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.status = AnswerStatus.DISCARDED  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.text["fi"] = "Muuta"  # type: ignore[index]
    with pytest.raises(TypeError):
        view.triggers["fi"] = ("muuta",)  # type: ignore[index]
    assert all(isinstance(phrases, tuple) for phrases in view.triggers.values())


async def test_a_rising_topic_suggests_an_event_in_the_digest(
    database_url: str, knowledge: Knowledge, own_router: Router, monkeypatch: pytest.MonkeyPatch,
) -> None:
    charts_drawn_small(monkeypatch)  # the digest's words are what this test reads
    settings = load_settings(database_url=database_url, telegram_token=None)
    db = Database(database_url)
    october = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
    async with db.session() as session:
        for _ in range(6):
            session.add(TopicLog(at=october, topic="assessment", role="vertaisvalmentaja",
                                 language="fi"))
        for month in (7, 8, 9):
            session.add(TopicLog(at=datetime(2026, month, 12, tzinfo=UTC), topic="assessment",
                                 role="vertaisvalmentaja", language="fi"))
        await session.commit()
    await db.dispose()
    assert settings.digest_day == 1
    async with open_desk(database_url, knowledge, own_router, clock=Clock(), digest_day=1,
                         digest_hour=0, announce_channels=(-100777,)) as desk:
        await desk.sandbox.wait_until(lambda: any(
            "Nousevat aiheet" in (m.get("text") or "") for m in desk.sandbox.bot_messages(GROUP)))
        digest = next(m for m in desk.sandbox.bot_messages(GROUP)
                      if "Nousevat aiheet" in (m.get("text") or ""))
        assert "Arviointi ja näytöt: 6 (aiemmin noin 1 kuukaudessa)" in digest["text"]
        (suggestion,) = await desk.to_user(ADMIN, 1)
        assert suggestion["text"].startswith("Aiheesta Arviointi ja näytöt kysyttiin 6 kertaa "
                                             "kuussa 2026-10")
        buttons = [b["callback_data"] for b in suggestion["reply_markup"]["inline_keyboard"][0]]
        assert buttons == ["evsug:webinar:assessment", "evsug:cafe:assessment"]
        await desk.sandbox.press(ADMIN, ADMIN, suggestion["message_id"], buttons[0])
        started = (await desk.to_user(ADMIN, 2))[-1]
        assert started["text"].startswith("Uusi tilaisuus: Webinaari: Arviointi ja näytöt\n"
                                          "Milloin")


# --- a draft worth publishing ---------------------------------------------------------------------

SAVED = {
    "fi": ("Miten palautan poistetun Moodle-kurssin roskakorista?",
           ["Hei Eva! Poistetun kurssin voi palauttaa itse: Ylläpito → Roskakori → Palauta.",
            "Jos kurssia ei näy roskakorissa, Kaisa Virtanen (kaisa.virtanen@koulu.fi) tai Mari "
            "auttaa huoneessa B204, puh. 040 123 4567.",
            "Suljen kysymyksen nyt, kysy ihmeessä uudestaan jos jäi epäselvää!"],
           "Poistetun kurssin voi palauttaa itse: Ylläpito → Roskakori → Palauta.\n\n"
           "Jos kurssia ei näy roskakorissa, … (…) tai … auttaa huoneessa …, puh. …."),
    "sv": ("Hur återställer jag en raderad Moodle-kurs från papperskorgen?",
           ["Hej Eva! En raderad kurs kan du återställa själv: Administration → Papperskorg → "
            "Återställ.",
            "Om kursen inte syns i papperskorgen hjälper Kaisa Virtanen "
            "(kaisa.virtanen@skola.fi) eller Mari i rum B204, tfn 040 123 4567.",
            "Jag stänger frågan nu, skriv gärna igen om något är oklart!"],
           "En raderad kurs kan du återställa själv: Administration → Papperskorg → Återställ."
           "\n\nOm kursen inte syns i papperskorgen hjälper … (…) eller … i rum …, tfn …."),
    "en": ("How do I restore a deleted Moodle course from the recycle bin?",
           ["Hi Eva! You can restore a deleted course yourself: Administration → Recycle bin → "
            "Restore.",
            "If the course is not in the recycle bin, Kaisa Virtanen (kaisa.virtanen@school.fi) "
            "or Mari can help in room B204, tel. 040 123 4567.",
            "I'll close this now, feel free to write again if anything is unclear!"],
           "You can restore a deleted course yourself: Administration → Recycle bin → Restore."
           "\n\nIf the course is not in the recycle bin, … (…) or … can help in room …, tel. …."),
}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_save_as_an_answer_drafts_the_answer_not_the_goodbye(desk: Desk,
                                                                   language: str) -> None:
    """The helper greets, answers, names colleagues and closes; the draft holds the answer
    only, without any name, address, number or the room the helper marks; the helper may take a
    message out and in again; the coach sees the trigger and the question's number."""
    question, replies, drafted = SAVED[language]
    await desk.ask(7001, question, first_name="Eva", language_code=language)
    card = await desk.card(1)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")
    thread = await desk.thread(1)
    for reply in replies:
        await desk.sandbox.send(JUKKA, reply, chat_id=GROUP, thread_id=thread)
    await desk.to_user(7001, 5)
    await desk.sandbox.send(JUKKA, "/close", chat_id=GROUP, thread_id=thread)
    closing = await desk.remembered(7001, (await desk.to_user(7001, 6))[-1])
    await desk.sandbox.press(7001, 7001, closing["message_id"], "rate:1:5")
    await desk.sandbox.wait_until(lambda: "k:save:1" in str(card.get("reply_markup")))
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "k:save:1")

    # The greeting and the closing line stay out; names, e-mail and phone are taken out.
    (choices,) = await desk.to_user(JUKKA, 1)
    lines = choices["text"].splitlines()
    assert [line[:5] for line in lines[2:5]] == ["1. ✅ ", "2. ✅ ", "3. ▫️"]
    async with desk.services.db.session() as session:
        draft = await session.get(KnowledgeAnswer, "t1")
    assert draft is not None and draft.language == language
    assert draft.text[language].replace("B204", "…") == drafted
    for personal in ("Kaisa", "Virtanen", "Mari", "Eva", "@", "4567"):
        assert personal not in draft.text[language]
    # Taking the second message out, and in again, and marking the room.
    await desk.sandbox.press(JUKKA, JUKKA, choices["message_id"], "k:part:1:2")
    await desk.sandbox.wait_until(lambda: "2. ▫️" in choices["text"])
    async with desk.services.db.session() as session:
        draft = await session.get(KnowledgeAnswer, "t1")
    assert draft is not None and draft.text[language] == drafted.split("\n\n")[0]
    await desk.sandbox.press(JUKKA, JUKKA, choices["message_id"], "k:part:1:2")
    await desk.sandbox.wait_until(lambda: "2. ✅" in choices["text"])
    await desk.sandbox.send(JUKKA, "B204", reply_to=choices["message_id"])
    shown = (await desk.to_user(JUKKA, 2))[-1]
    seen_by_coaches = shown["text"].split("Vastaus sellaisena kuin valmentajat sen näkevät:")[1]
    assert drafted in seen_by_coaches and "B204" not in seen_by_coaches
    async with desk.services.db.session() as session:
        draft = await session.get(KnowledgeAnswer, "t1")
    assert draft is not None and draft.text[language] == drafted and draft.hidden == ["B204"]
    # The trigger is made of the question's and the answer's basic forms; "moodle" is in it.
    (trigger,) = draft.triggers[language]
    assert "moodle" in trigger.split() and "eva" not in trigger.split()
    assert len(desk.sandbox.bot_messages(7001)) == 7  # the asker heard nothing of the draft

    # The coach sees the draft, its trigger and the question's number.
    await desk.sandbox.send(PEKKA, "/drafts")
    (review,) = await desk.to_user(PEKKA, 1)
    assert review["text"].startswith("Vastausluonnos t1 · Moodle ja oppimisalustat "
                                     "(kysymyksestä #1)\n"
                                     f"Tunnistesanat: {language}: {trigger}")
    assert f"{language}: {drafted}" in review["text"]


@pytest.mark.parametrize(("language", "question", "answer", "triggers"), [
    ("fi", "Miten päivitän HOKSin Wilmassa?", "HOKS päivitetään Wilmassa: avaa HOKS-välilehti.",
     {"fi": ["päivittää hoks wilma"], "sv": ["hoks wilma"], "en": ["hoks wilma"]}),
    ("sv", "Hur uppdaterar jag HOKS på arbetsplatsen?", "Öppna HOKS i Wilma och spara.",
     {"sv": ["uppdatera hoks arbetsplats"]}),
    ("en", "How do I restore a deleted Moodle course?",
     "Restore it in Moodle: Administration → Recycle bin.", {"en": ["restore moodle course"]}),
])
def test_a_trigger_is_made_of_basic_forms_and_shared_words_cross_languages(
    own_router: Router, language: str, question: str, answer: str,
    triggers: dict[str, list[str]],
) -> None:
    """The question's and the answer's basic forms; two words every language writes alike
    (HOKS, Wilma) also make the trigger in the other languages, one alone does not."""
    topic = own_router.route(question).topic
    assert drafts._trigger(own_router, question, answer, language, topic,
                            frozenset()) == triggers


@pytest.mark.parametrize(("text", "kept"), [
    ("Hei Eva! Kurssin voi palauttaa itse. Kysy ihmeessä lisää!", "Kurssin voi palauttaa itse."),
    ("Tack för frågan! Kursen återställs från papperskorgen. Ha en bra dag!",
     "Kursen återställs från papperskorgen."),
    ("Thanks for asking. The course is in the recycle bin. Hope this helps!",
     "The course is in the recycle bin."),
    ("Siirrän tämän kollegalle, joka tuntee Wilman paremmin.", ""),
    ("Jag lämnar över till en kollega.", ""),
    ("I'll pass this to a colleague who knows Wilma.", ""),
])
def test_greetings_closings_and_hand_overs_are_no_answer(text: str, kept: str) -> None:
    assert drafts.substance(text) == kept


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("Kysy Kaisalta tai soita Wilmaan.", "Kysy … tai soita Wilmaan."),
    ("Kaisa Virtanen tietää, avaa Microsoft Teams.", "… tietää, avaa Microsoft Teams."),
    ("Kysy Jukalta tai Marilta, huone B204.", "Kysy … tai …, huone …."),
    ("Kontakta Kaisa på kansliet, kaisa@skola.fi.", "Kontakta … på kansliet, …."),
    ("Fråga Mari i Wilma-frågor.", "Fråga … i Wilma-frågor."),
    ("Ask Tom Smith, or email Moodle support on +358 40 123 4567.",
     "Ask …, or email Moodle support on …."),
    ("Avaa Wilma ja kysy Moodlesta lisää.", "Avaa Wilma ja kysy Moodlesta lisää."),
])
def test_names_addresses_numbers_and_marked_details_are_taken_out(
    own_router: Router, text: str, scrubbed: str,
) -> None:
    """The roster's names in their Finnish forms, any first-and-last name, a name after the
    words that introduce a colleague, in fi, sv and en; not the products the knowledge names."""
    known = drafts._known_terms(own_router) | {"microsoft"}
    assert drafts.scrub(text, names=["Jukka", "Mari Mentor"], hidden=["B204"],
                         known=known) == scrubbed
