"""After an event, told as the staff's and the host's story with a clock the tests move:
"I'm here" on the last reminder → the host marks who else came → materials to everyone who said
they would come → the feedback question after the end, a comment by reply → the host's view and
the monthly report with exact figures. Then a registration deadline and a waiting list whose
offered place passes on, and a conversation left quiet that ends kindly."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from bot.domain.events import rsvp
from bot.domain.knowledge import Knowledge
from bot.domain.models import Ticket
from bot.domain.reports import Period, fold, monthly_report
from bot.domain.routing import Router
from bot.report_formats import as_csv, as_text
from tests.test_bot_events import CHANNELS, channel, events_desk, publish
from tests.test_bot_helpers import GROUP, JUKKA, MARI, PEKKA, RPL_FI, Clock, Desk


async def said(desk: Desk, user: int, needle: str) -> dict:
    """The bot's message to `user` containing `needle` (waiting for it)."""
    def found() -> list[dict]:
        return [m for m in desk.sandbox.bot_messages(user)
                if needle in (m.get("text") or m.get("caption") or "")]

    await desk.sandbox.wait_until(lambda: bool(found()))
    return found()[-1]


async def alert(desk: Desk, needle: str) -> str:
    await desk.sandbox.wait_until(lambda: any(needle in a for a in desk.answers()))
    return next(a for a in desk.answers() if needle in a)


async def test_im_here_materials_feedback_and_the_report(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()  # Monday 23 November, 10:00
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        start = clock() + timedelta(days=2)
        event_id = await publish(desk, start=start, end=start + timedelta(minutes=90),
                                 reminders="1d,1h")
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        staff = {7001: ("Aino", "fi"), 7002: ("Bertta", "sv"), 7003: ("Cecilia", "en"),
                 7004: ("Daniel", "fi"), 7005: ("Eero", "fi")}
        for user, (name, lang) in staff.items():
            desk.sandbox.user(user, name, lang)
            await desk.sandbox.press(user, CHANNELS[0], announcement["message_id"],
                                     f"rsvp:{event_id}:{'no' if user == 7004 else 'yes'}")
        await desk.sandbox.wait_until(lambda: len(desk.answers()) == 5)

        # The last reminder (an hour before) carries "I'm here"; the one a day before does not.
        clock.now = start - timedelta(hours=1)
        (_, day_before, hour_before) = await channel(desk, CHANNELS[0], 3)
        assert "reply_markup" not in day_before
        (here,) = hour_before["reply_markup"]["inline_keyboard"][0]
        assert (here["text"], here["callback_data"]) == ("🙋 Olen paikalla", f"here:{event_id}")
        await desk.sandbox.press(7001, CHANNELS[0], hour_before["message_id"],
                                 here["callback_data"])
        assert "klo 9.30" in await alert(desk, "Ei ihan vielä")
        clock.now = start + timedelta(minutes=5)
        for user in (7001, 7002):
            await desk.sandbox.press(user, CHANNELS[0], hour_before["message_id"],
                                     here["callback_data"])
        await alert(desk, "Tervetuloa, Aino! Olet merkitty paikalle.")
        await alert(desk, "Välkommen, Bertta!")

        # The host marks Cecilia, who forgot to press.
        await desk.sandbox.send(MARI, "/attendees")
        listing = await said(desk, MARI, "Paikalla: 2 niistä 4, jotka ilmoittautuivat; "
                                         "ilmoittautumatta: 0")
        names = [b["text"] for row in listing["reply_markup"]["inline_keyboard"] for b in row]
        assert names == ["✅ Aino", "✅ Bertta", "▫️ Cecilia", "▫️ Eero"]
        await desk.sandbox.press(JUKKA, MARI, listing["message_id"], f"came:{event_id}:7003")
        await alert(desk, "Vain järjestäjä")  # someone else cannot mark
        await desk.sandbox.press(MARI, MARI, listing["message_id"], f"came:{event_id}:7003")
        await desk.sandbox.wait_until(lambda: "✅ Cecilia" in str(listing["reply_markup"]))

        # Materials: a file, then the recording's link, to each in their own language.
        clock.now = start + timedelta(minutes=95)
        await desk.sandbox.send(MARI, "/materials")
        pick = await said(desk, MARI, "Mihin tilaisuuteen")
        await desk.sandbox.press(MARI, MARI, pick["message_id"], f"matfor:{event_id}")
        await said(desk, MARI, "Lähetä linkki")
        await desk.sandbox.send(MARI, kind="document")
        await said(desk, MARI, "Materiaalit lähtevät kaikille 4")
        await desk.sandbox.send(MARI, "/materials")
        await desk.sandbox.wait_until(
            lambda: len([m for m in desk.sandbox.bot_messages(MARI)
                         if "Mihin tilaisuuteen" in m.get("text", "")]) == 2)
        pick = desk.sandbox.bot_messages(MARI)[-1]
        await desk.sandbox.press(MARI, MARI, pick["message_id"], f"matfor:{event_id}")
        await desk.sandbox.wait_until(
            lambda: len([m for m in desk.sandbox.bot_messages(MARI)
                         if "Lähetä linkki" in m.get("text", "")]) == 2)
        await desk.sandbox.send(MARI, "Tallenne: https://video.example/tallenne")
        await said(desk, 7002, "https://video.example/tallenne")
        (file,) = [m for m in desk.sandbox.bot_messages(7002) if m.get("document")]
        (caption,) = [p["caption"] for m, p in desk.sandbox.calls
                      if m == "sendDocument" and str(p["chat_id"]) == "7002"]
        assert caption.startswith("📎 Material: Pedagoginen kahvila: arviointi (onsdag")
        assert file["document"]["file_id"] == "document-file"
        assert (await said(desk, 7003, "https://video.example/tallenne"))["text"].startswith(
            "📎 Materials from Pedagoginen kahvila: arviointi (Wednesday")
        recording = await said(desk, 7005, "https://video.example/tallenne")
        assert recording["text"].startswith("📎 Materiaalit: Pedagoginen kahvila: arviointi")
        assert all("📎" not in (m.get("text") or m.get("caption") or "")
                   for m in desk.sandbox.bot_messages(7004))  # could not come

        # Half an hour after the end, the feedback question; ratings and a comment by reply.
        clock.now = start + timedelta(minutes=90 + 31)
        questions = {user: await said(desk, user, "1–5") for user in (7001, 7002, 7003, 7005)}
        assert questions[7002]["text"].startswith("Hur var Pedagoginen kahvila")
        for user, rating in ((7001, 5), (7002, 4), (7003, 2), (7003, 4)):
            await desk.sandbox.press(user, user, questions[user]["message_id"],
                                     f"fb:{event_id}:{rating}")
            await desk.sandbox.wait_until(
                lambda u=user, r=rating: f"✅ {r}" in str(questions[u]["reply_markup"]))
        await desk.sandbox.send(7001, "Hyvä keskustelu, lisää tällaisia!",
                                reply_to=questions[7001]["message_id"])
        await said(desk, 7001, "välitin kommenttisi järjestäjälle")
        async with desk.services.db.session() as session:
            assert list(await session.exec(select(Ticket))) == []  # a comment, not a question

        await desk.sandbox.send(MARI, "/feedback")
        view = await said(desk, MARI, "Palaute: 4,3 / 5, 3 vastausta")
        assert "Paikalla: 3 niistä 4, jotka ilmoittautuivat; ilmoittautumatta: 0" in view["text"]
        assert "💬 Hyvä keskustelu, lisää tällaisia!" in view["text"]
        assert "Aino" not in view["text"].split("💬")[1]  # comments without names

        # Staff find the materials again under /events.
        await desk.sandbox.send(7005, "/events")
        listing = await said(desk, 7005, "Äskettäin pidetyt, materiaalit saatavilla:")
        await desk.sandbox.press(7005, 7005, listing["message_id"], f"mat:{event_id}")
        await desk.sandbox.wait_until(
            lambda: any(m.get("document") for m in desk.sandbox.bot_messages(7005)))

        async with desk.services.db.reading() as session:
            report = await monthly_report(session=session, period=Period.month(
                "2026-11", desk.services.settings.tz), trend_months=0)
    (figure,) = report.events
    assert (figure.coming, figure.with_colleague, figure.not_coming, figure.waiting,
            figure.came, figure.feedback_count, figure.rating_average) == (4, 0, 1, 0, 3, 3, 4.33)
    text = as_text(report, desk.services, "fi")
    assert ("Pedagoginen kahvila: arviointi: 4 tulossa (0 kollegan kanssa), 1 ei · 3 tuli "
            "paikalle · palaute 4,3 / 5 (3)") in text
    rows = as_csv(report, desk.services, "fi").decode("utf-8-sig")
    assert "event_came;cafe;Pedagoginen kahvila: arviointi;3;" in rows
    assert "event_rating_average;cafe;Pedagoginen kahvila: arviointi;4,3;" in rows
    assert fold(report, 3).events[0].rating_average == 4.33
    assert fold(report, 4).events[0].rating_average is None  # too few to show outside


async def test_registration_closes_and_a_freed_place_must_be_confirmed_in_time(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock,
                           place_confirm_hours=12) as desk:
        start = clock() + timedelta(days=4)
        event_id = await publish(desk, start=start, end=start + timedelta(hours=1), capacity=2,
                                 registration_closes=start - timedelta(days=2), reminders="1h")
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        assert "Ilmoittautuminen päättyy keskiviikkona 25.11. klo 10.00" in announcement["text"]
        for user, name in ((7001, "Aino"), (7002, "Bertta"), (7003, "Cecilia"), (7005, "Eero")):
            desk.sandbox.user(user, name)
            await desk.sandbox.press(user, CHANNELS[0], announcement["message_id"],
                                     f"rsvp:{event_id}:yes")
            answered = len(desk.answers())
            await desk.sandbox.wait_until(lambda n=answered: len(desk.answers()) > n)
            clock.advance(seconds=1)  # in the order they answered
        assert sum("jonotuslistalla" in a for a in desk.answers()) == 2  # Cecilia, Eero

        # At the deadline the buttons say so, and a new answer is refused kindly.
        clock.now = start - timedelta(days=2) + timedelta(minutes=1)
        desk.services.wake_sender()  # the announcement's edit at the deadline is due
        await desk.sandbox.wait_until(
            lambda: "Ilmoittautuminen on päättynyt (2 tulossa)" in str(
                announcement["reply_markup"]))
        desk.sandbox.user(7006, "Fanni")
        await desk.sandbox.press(7006, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:closed")
        await alert(desk, "ilmoittautuminen on päättynyt")

        # Aino cannot come: Cecilia is offered the place, to confirm within 12 hours.
        await desk.sandbox.press(7001, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:no")
        offered = await said(desk, 7003, "vapautui")
        assert "Vastaathan keskiviikkona 25.11. klo 22.01 mennessä" in offered["text"]
        # She does not answer in time: the place passes on to Eero, who takes it.
        clock.advance(hours=12, minutes=1)
        await said(desk, 7003, "Emme kuulleet sinusta ajoissa")
        offered = await said(desk, 7005, "vapautui")
        await desk.sandbox.press(7003, 7003, desk.sandbox.bot_messages(7003)[0]["message_id"],
                                 f"offer:{event_id}:yes")
        await alert(desk, "ei enää pidetä sinulle")
        await desk.sandbox.press(7005, 7005, offered["message_id"], f"offer:{event_id}:yes")
        await said(desk, 7005, "paikka on sinun")
        async with desk.services.db.session() as session:
            tally = await rsvp.counts(session=session, event_id=event_id)
            assert (tally.yes, tally.no, tally.waiting) == (2, 2, 0)
            assert (await rsvp.offer(session=session, event_id=event_id,
                                     user_id=7005)).until is None  # confirmed


async def test_a_quiet_conversation_ends_kindly_and_later_messages_are_heard(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock,
                           conversation_timeout_seconds=60) as desk:
        # Mari, an organiser, has a question of her own, and Pekka is on it.
        await desk.ask(MARI, RPL_FI)
        card = await desk.card(1)
        await desk.sandbox.press(PEKKA, GROUP, card["message_id"], "q:claim:1")
        await said(desk, MARI, "katsoo nyt kysymystäsi #1")
        # She starts an event and is called away.
        await desk.sandbox.send(MARI, "/newevent")
        await said(desk, MARI, "Uusi tilaisuus")
        clock.advance(seconds=61)  # the draft's time runs out on the test's clock
        notice = await said(desk, MARI, "Laitoin luonnoksen sivuun")
        assert "mitään ei julkaistu" in notice["text"]
        # Her follow-up goes to Pekka's topic, not into a draft or a new question.
        await desk.sandbox.send(MARI, "Entä jos osaaminen on hankittu työssä ennen opintoja?")
        thread = await desk.thread(1)
        await desk.sandbox.wait_until(lambda: any(
            "osaaminen on hankittu työssä" in (m.get("text") or "")
            for m in desk.sandbox.thread_messages(GROUP, thread)))
        await asyncio.sleep(0.2)
        async with desk.services.db.session() as session:
            assert len(list(await session.exec(select(Ticket)))) == 1
