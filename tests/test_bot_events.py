"""Announcements on a schedule, told as the organiser's and the staff's story, with a clock the
tests move: announcement → reminders → RSVPs → changes → cancellation, and nothing sent twice."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.domain.events import rsvp, schedule, views
from bot.domain.events.spec import EventSpec, preview, validate_spec
from bot.domain.knowledge import Knowledge
from bot.domain.models import Outbox, OutboxStatus, TopicLog
from bot.domain.routing import Router
from bot.sandbox.server import Sandbox
from bot.services import Services
from bot.storage import Database
from bot.telegram.events.render import announcement_text
from tests.test_bot_helpers import ADMIN, GROUP, MARI, ROSTER, Clock, Desk, open_desk

CHANNELS = (-2001, -2002)
START = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # Tuesday 8 December, 14:00 in Helsinki


def spec(**changes: object) -> EventSpec:
    data: dict = dict(kind="cafe", title="Pedagoginen kahvila: arviointi", start=START,
                      end=START + timedelta(minutes=90), place="Auditorio B",
                      link="https://teams.example/cafe", host_id=MARI, host_name="Mari",
                      channels=list(CHANNELS), pre_reading="https://intra.example/arviointi")
    data.update(changes)
    return validate_spec(data)


@asynccontextmanager
async def events_desk(database_url: str, knowledge: Knowledge, router: Router, *,
                      clock: Clock | None = None, sandbox: Sandbox | None = None,
                      **overrides: object) -> AsyncIterator[Desk]:
    if sandbox is None:
        sandbox = Sandbox()
        sandbox.group(GROUP, "Vertaistuki", forum=True)
        for chat in CHANNELS:
            sandbox.group(chat, f"Kanava {chat}")
        for helper in ROSTER:
            sandbox.user(helper.telegram_id, helper.name)
        sandbox.user(ADMIN, "Rehtori")
        fresh = True
    else:
        fresh = False
    # The sender looks for due rows once a second and the SLA sweep too, not twenty times: the
    # tests wake the sender when they move the clock or queue rows themselves (`channel`,
    # `publish`), as the bot does for what its handlers queue. Idle ticks cost CPU.
    settings: dict = {"outbox_check_seconds": 1, "sla_check_seconds": 1, **overrides}
    async with open_desk(database_url, knowledge, router, sandbox=sandbox, clock=clock,
                         announce_channels=",".join(str(c) for c in CHANNELS),
                         organiser_ids=str(MARI), **settings) as desk:
        if fresh:
            from bot.domain.roster import import_helpers

            async with desk.services.db.session() as session:
                await import_helpers(session=session, specs=ROSTER)
        yield desk


async def publish(desk: Desk, **changes: object) -> int:
    async with desk.services.db.session() as session:
        (event, *_) = await schedule.publish_event(session=session, spec=spec(**changes),
                                                   now=desk.clock())
    desk.services.wake_sender()
    assert event.id is not None
    return event.id


async def channel(desk: Desk, chat: int, count: int) -> list[dict]:
    """The chat's messages once `count` have come; the sender is woken first, as the clock may
    have moved past what is due."""
    desk.services.wake_sender()
    await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(chat)) >= count)
    await asyncio.sleep(0.2)  # and nothing more arrives
    return desk.sandbox.bot_messages(chat)


async def test_announcement_then_reminders_at_their_times_in_every_channel(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()  # Monday 23 November, 10:00
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        await publish(desk)
        for chat in CHANNELS:
            (announcement,) = await channel(desk, chat, 1)
            # The title begins with the kind: it is not said twice.
            assert announcement["text"].startswith("📣 Pedagoginen kahvila: arviointi\n")
            assert "tiistaina 8.12. klo 14.00–15.30" in announcement["text"]
            assert "📍 Auditorio B" in announcement["text"]
            buttons = [[b["text"] for b in row]
                       for row in announcement["reply_markup"]["inline_keyboard"]]
            assert buttons == [["Tulen (0)", "En pääse (0)"], ["Tulen + avec (työkaveri) (0)"]]
        clock.now = START - timedelta(days=7, minutes=-1)
        week = (await channel(desk, CHANNELS[0], 2))[-1]
        assert week["text"].startswith("⏰ Muistutus: Pedagoginen kahvila: arviointi")
        assert "Ennakkomateriaali: https://intra.example/arviointi" in week["text"]
        clock.now = START - timedelta(hours=1)
        messages = await channel(desk, CHANNELS[1], 4)
        assert len(messages) == 4  # announcement, a week, a day, an hour: each once
        assert messages[-1]["reply_to_message"]["message_id"] == messages[0]["message_id"]


async def test_rsvp_counts_changes_and_the_waiting_list(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        event_id = await publish(desk, capacity=3)
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        for user, name in ((7001, "Aino"), (7002, "Bertta"), (7003, "Cecilia")):
            desk.sandbox.user(user, name)
        await desk.sandbox.press(7001, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:plus")
        await desk.sandbox.press(7002, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: len(desk.answers()) == 2)
        await desk.sandbox.press(7003, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: len(desk.answers()) == 3)
        assert "jonotuslistalla" in desk.answers()[-1]
        clock.advance(seconds=3)  # the counts are edited once per burst of presses
        desk.services.wake_sender()
        await desk.sandbox.wait_until(lambda: "Paikkoja varattu: 3/3" in announcement["text"])
        assert "jonotuslista: 1" in announcement["text"]
        # Aino cannot come after all: Cecilia gets the place and is told.
        await desk.sandbox.press(7001, CHANNELS[0], announcement["message_id"],
                                 f"rsvp:{event_id}:no")
        (promoted,) = await desk.to_user(7003, 1)
        assert "vapautui" in promoted["text"]
        clock.advance(seconds=3)
        desk.services.wake_sender()
        await desk.sandbox.wait_until(lambda: "Tulen (2)" in str(announcement["reply_markup"]))
        assert "En pääse (1)" in str(announcement["reply_markup"])
        other = desk.sandbox.bot_messages(CHANNELS[1])[0]  # the other channel shows them too
        await desk.sandbox.wait_until(lambda: "Tulen (2)" in str(other["reply_markup"]))
        # The host sees who is coming.
        await desk.sandbox.send(MARI, "/attendees")
        (listing,) = await desk.to_user(MARI, 1)
        assert "Bertta" in listing["text"] and "Cecilia" in listing["text"]
        assert "Aino" not in listing["text"]


async def test_a_change_and_a_cancellation_are_announced_and_edit_the_announcement(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        event_id = await publish(desk)
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        async with desk.services.db.session() as session:
            await schedule.change_event(session=session, event_id=event_id, now=clock(),
                                        starts_at=START + timedelta(hours=1),
                                        ends_at=START + timedelta(hours=2), place="Luokka 204")
        change = (await channel(desk, CHANNELS[0], 2))[-1]
        assert change["text"].startswith("✏️ Muutos: Pedagoginen kahvila: arviointi")
        assert "klo 15.00–16.00" in change["text"] and "Luokka 204" in change["text"]
        await desk.sandbox.wait_until(lambda: "Luokka 204" in announcement["text"])
        async with desk.services.db.session() as session:
            await schedule.cancel_event(session=session, event_id=event_id, now=clock())
        cancelled = (await channel(desk, CHANNELS[0], 3))[-1]
        assert cancelled["text"].startswith("❌ Peruttu: Pedagoginen kahvila: arviointi")
        await desk.sandbox.wait_until(lambda: announcement["text"].startswith("PERUTTU"))
        assert "reply_markup" not in announcement
        clock.now = START  # no reminder of a cancelled event
        desk.services.wake_sender()
        await asyncio.sleep(0.3)
        assert len(desk.sandbox.bot_messages(CHANNELS[0])) == 3


async def test_a_restart_mid_schedule_sends_nothing_twice_and_misses_nothing(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        await publish(desk)
        await channel(desk, CHANNELS[0], 1)
        sandbox = desk.sandbox
    clock.now = START - timedelta(days=2)  # the week's reminder was missed while down
    async with events_desk(database_url, knowledge, router, clock=clock, sandbox=sandbox) as desk:
        messages = await channel(desk, CHANNELS[0], 2)
        assert messages[-1]["text"].startswith("⏰ Muistutus")
    clock.now = START + timedelta(minutes=10)  # down again past the start: the rest is dropped
    async with events_desk(database_url, knowledge, router, clock=clock, sandbox=sandbox) as desk:
        await asyncio.sleep(0.4)
        async with desk.services.db.session() as session:
            rows = list(await session.exec(select(Outbox).where(Outbox.chat_id == CHANNELS[0])))
    assert len(sandbox.bot_messages(CHANNELS[0])) == 2
    assert Counter(r.status for r in rows) == {OutboxStatus.SENT: 2, OutboxStatus.DROPPED: 2}


async def test_a_429_is_waited_out_and_the_message_then_sent(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with events_desk(database_url, knowledge, router) as desk:
        desk.sandbox.faults.append(("sendMessage", 429, 1))
        await publish(desk)
        for chat in CHANNELS:
            assert len(await channel(desk, chat, 1)) == 1
        refused = [m for m, _ in desk.sandbox.calls if m == "sendMessage"]
        assert len(refused) == 3  # one refused, then both channels


async def test_a_channel_that_refuses_is_reported_to_the_admins(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with events_desk(database_url, knowledge, router) as desk:
        desk.sandbox.blocked.add(CHANNELS[1])  # the bot was removed
        await publish(desk)
        (notice,) = await desk.to_user(ADMIN, 1)
        assert str(CHANNELS[1]) in notice["text"]
        assert len(await channel(desk, CHANNELS[0], 1)) == 1


async def test_the_coaches_meeting_reminder_carries_the_months_topics_as_agenda(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        async with desk.services.db.session() as session:
            session.add_all([TopicLog(at=clock(), role="vertaisvalmentaja", topic="hoks",
                                      language="fi") for _ in range(4)])
            await session.commit()
        start = clock() + timedelta(days=2)
        await publish(desk, kind="coaches_meeting", title="Valmentajien kuukausitapaaminen",
                      start=start, end=start + timedelta(hours=1), reminders="1d")
        clock.now = start - timedelta(days=1)
        reminder = (await channel(desk, CHANNELS[0], 2))[-1]
        assert "Asialista: kuukauden kysytyimmät aiheet\n1. HOKS (4)" in reminder["text"]


async def test_organiser_publishes_an_event_step_by_step(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with events_desk(database_url, knowledge, router) as desk:
        await desk.sandbox.send(7001, "/newevent")
        (refusal,) = await desk.to_user(7001, 1)
        assert "vain" in refusal["text"]
        await desk.sandbox.send(MARI, "/newevent")
        (kinds,) = await desk.to_user(MARI, 1)
        await desk.sandbox.press(MARI, MARI, kinds["message_id"], "kind:webinar")
        await desk.to_user(MARI, 2)
        # The choice stays where its buttons were: the conversation reads back.
        await desk.sandbox.wait_until(lambda: desk.sandbox.bot_messages(MARI)[0]["text"].endswith(
            "\n\n✓ Webinaari") and not desk.sandbox.bot_messages(MARI)[0].get("reply_markup"))
        for number, text in enumerate(["HOKS-webinaari", "not a date", "ti 8.12. klo 14"],
                                      start=3):
            await desk.sandbox.send(MARI, text)
            await desk.to_user(MARI, number)
        understood = desk.sandbox.bot_messages(MARI)[-1]
        assert understood["text"] == "Alkaa tiistaina 8.12.2026 klo 14.00. Onko tämä oikein?"
        # "Joo" typed under "Is that right?" is a yes, as the button is (not a date misread).
        await desk.sandbox.send(MARI, "Joo!")
        assert (await desk.to_user(MARI, 6))[-1]["text"].startswith("Kuinka kauan")
        # The length as organisers say it: "kauan" is asked again, "puolitoista tuntia" is
        # shown back.
        for number, text in enumerate(["kauan", "puolitoista tuntia",
                                       "Auditorio B ja https://teams.example/hoks",
                                       "Uusi ohjeistus."], start=7):
            await desk.sandbox.send(MARI, text)
            await desk.to_user(MARI, number)
        again, where = desk.sandbox.bot_messages(MARI)[6:8]
        assert again["text"].startswith("Kerro kesto")
        assert where["text"].startswith("Kesto: 1 t 30 min.\nMissä?")
        closes = desk.sandbox.bot_messages(MARI)[-1]
        await desk.sandbox.press(MARI, MARI, closes["message_id"], "closes:none")
        preview = (await desk.to_user(MARI, 11))[-1]
        assert preview["text"].startswith("Esikatselu:\n\n📣 Webinaari: HOKS-webinaari")
        assert "📍 Auditorio B\n💻 https://teams.example/hoks" in preview["text"]
        assert desk.sandbox.bot_messages(CHANNELS[0]) == []
        await asyncio.gather(*(desk.sandbox.press(MARI, MARI, preview["message_id"],
                                                  "publish:yes") for _ in range(2)))
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        assert "Webinaari: HOKS-webinaari" in announcement["text"]
        assert "💻 https://teams.example/hoks" in announcement["text"]
        # No ticket was made from the organiser's answers.
        async with desk.services.db.session() as session:
            from bot.domain.models import Ticket

            assert list(await session.exec(select(Ticket))) == []
        # /cancel stops a conversation at any step.
        published = (await desk.to_user(MARI, 12))[-1]
        assert published["text"].startswith("Julkaistu!")
        # Publish was pressed twice: the second press is said quietly to be done already.
        await desk.sandbox.wait_until(lambda: "Tämä on jo tehty: luonnos on julkaistu tai "
                                              "jätetty sivuun." in desk.answers())
        assert len(desk.sandbox.bot_messages(CHANNELS[0])) == 1
        await desk.sandbox.send(MARI, "/bulletin")
        await desk.to_user(MARI, 13)
        await desk.sandbox.send(MARI, "/cancel")
        cancelled = (await desk.to_user(MARI, 14))[-1]
        assert "mitään ei julkaistu" in cancelled["text"]


@pytest.mark.parametrize(("language", "said", "shown"), [
    ("fi", "ensi tiistaina klo 14", "tiistaina 24.11.2026 klo 14.00"),
    ("sv", "nästa tisdag kl 14", "tisdag 24/11 2026 kl. 14.00"),
    ("en", "next Tuesday at 2 pm", "Tuesday 24 November 2026 at 14:00"),
])
async def test_an_organiser_says_the_day_in_words_and_sees_it_back(
    database_url: str, knowledge: Knowledge, router: Router, language: str, said: str,
    shown: str,
) -> None:
    """On Monday 23 November "next Tuesday" is tomorrow; what was understood is shown back
    with weekday, date and year before anything is published."""
    async with events_desk(database_url, knowledge, router, clock=Clock()) as desk:
        await desk.sandbox.send(MARI, "/lang", language_code=language)
        chooser = (await desk.to_user(MARI, 1))[-1]
        await desk.sandbox.press(MARI, MARI, chooser["message_id"], f"lang:{language}")
        await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(MARI)) >= 2
                                      or "reply_markup" not in chooser)
        await asyncio.sleep(0.2)
        before = len(desk.sandbox.bot_messages(MARI))
        await desk.sandbox.send(MARI, "/newevent", language_code=language)
        kinds = (await desk.to_user(MARI, before + 1))[-1]
        await desk.sandbox.press(MARI, MARI, kinds["message_id"], "kind:cafe")
        await desk.to_user(MARI, before + 2)
        await desk.sandbox.send(MARI, "Arviointi", language_code=language)
        await desk.to_user(MARI, before + 3)
        await desk.sandbox.send(MARI, said, language_code=language)
        understood = (await desk.to_user(MARI, before + 4))[-1]
        assert shown in understood["text"]
        assert [b["callback_data"] for row in understood["reply_markup"]["inline_keyboard"]
                for b in row] == ["start:yes", "start:no"]


async def test_without_channels_the_organiser_is_told_in_plain_words(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, organiser_ids=str(MARI)) as desk:
        await desk.sandbox.send(MARI, "/newevent")
        (told,) = await desk.to_user(MARI, 1)
    assert told["text"] == ("Julkaisupaikkaa ei vielä ole: tiedotuskanavia ei ole otettu "
                            "käyttöön. Ylläpitäjä voi lisätä ne.")


async def test_an_event_reaches_the_adapters_as_a_frozen_view(services: Services) -> None:
    """What the announcement shows comes whole from the view: the stored event renders as its
    preview did, and nobody downstream can change it."""
    planned = spec(capacity=20, registration_closes=START - timedelta(days=1))
    async with services.db.session() as session:
        (published,) = await schedule.publish_event(session=session, spec=planned,
                                                    now=START - timedelta(days=14))
        stored = await views.event_of(session=session, event_id=published.id)
        assert await views.event_of(session=session, event_id=published.id + 1) is None
    assert stored == published and isinstance(stored, views.EventView)
    assert stored.channels == CHANNELS and stored.kind == "cafe"
    with pytest.raises(dataclasses.FrozenInstanceError):
        stored.title = "Something else"  # type: ignore[misc]
    tally = views.Counts(yes=3, plus=1, no=0, waiting=0, capacity=20)
    text = announcement_text(services, stored, tally)
    assert text == announcement_text(services, preview(planned), tally)
    assert text == ("📣 Pedagoginen kahvila: arviointi\n🗓 tiistaina 8.12. klo 14.00–15.30\n"
                    "📍 Auditorio B\n💻 https://teams.example/cafe\nJärjestäjä: Mari\n"
                    "Ilmoittautuminen päättyy maanantaina 7.12. klo 14.00\n\n"
                    "Paikkoja varattu: 5/20")


async def test_a_bulletin_goes_out_now(database_url: str, knowledge: Knowledge,
                                       router: Router) -> None:
    async with events_desk(database_url, knowledge, router) as desk:
        await desk.sandbox.send(MARI, "/bulletin")
        await desk.to_user(MARI, 1)
        # Too long for one announcement: said, with by how much, and nothing is cut.
        await desk.sandbox.send(MARI, "Hyvä henkilöstö. " * 210)
        too_long = (await desk.to_user(MARI, 2))[-1]
        assert too_long["text"].startswith("Tekstissä on 3569 merkkiä, ja tähän mahtuu "
                                           "enintään 3500.")
        await desk.sandbox.send(MARI, "Opetushallitus julkaisi uuden arviointiohjeen: "
                                      "https://intra.example/ohje")
        when = (await desk.to_user(MARI, 3))[-1]
        await desk.sandbox.press(MARI, MARI, when["message_id"], "when:now")
        preview = (await desk.to_user(MARI, 4))[-1]
        assert preview["text"].endswith("Se lähtee heti.")
        await desk.sandbox.press(MARI, MARI, preview["message_id"], "publish:yes")
        for chat in CHANNELS:
            (bulletin,) = await channel(desk, chat, 1)
            assert bulletin["text"].startswith("📢 Opetushallitus julkaisi")
        published = (await desk.to_user(MARI, 5))[-1]
        assert published["text"] == "Julkaistu! Se lähtee heti."


async def test_staff_see_upcoming_events_with_a_calendar_file(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with events_desk(database_url, knowledge, router) as desk:
        event_id = await publish(desk, title="Pedagoginen kahvila: arviointi työpaikalla ja "
                                               "näytöissä")
        await desk.sandbox.send(7001, "/events")
        (heading, listing) = await desk.to_user(7001, 2)
        assert heading["text"] == "Tulossa:"
        assert listing["text"].startswith("• Pedagoginen kahvila: arviointi työpaikalla ja "
                                          "näytöissä — tiistaina")
        assert "📍 Auditorio B" in listing["text"]
        labels = [b["text"] for row in listing["reply_markup"]["inline_keyboard"] for b in row]
        # The calendar button's label ends at a word, not inside one.
        assert labels[-1] == "📅 Pedagoginen kahvila: arviointi…"
        await desk.sandbox.press(7001, 7001, listing["message_id"], f"ics:{event_id}")
        (*_, document) = await desk.to_user(7001, 3)
        ics = desk.sandbox.files[document["document"]["file_id"]].decode()
        assert "BEGIN:VEVENT" in ics and "SUMMARY:Pedagoginen kahvila: arviointi" in ics
        assert "DTSTART:20261208T120000Z" in ics and "LOCATION:Auditorio B" in ics


@pytest.mark.parametrize(("language", "coming", "cannot", "avec", "welcome", "full"), [
    ("fi", "Tulen", "En pääse", "Tulen + avec (työkaveri)", "Tervetuloa", "jonotuslistalla"),
    ("sv", "Jag kommer", "Jag kan inte", "Jag kommer + avec (kollega)", "Välkommen",
     "väntelistan"),
    ("en", "Coming", "Cannot come", "Coming + avec (a colleague)", "Welcome", "waiting list"),
])
async def test_staff_answer_an_invitation_from_events_in_their_own_chat(
    database_url: str, knowledge: Knowledge, router: Router, language: str, coming: str,
    cannot: str, avec: str, welcome: str, full: str,
) -> None:
    """/events in a private chat answers as the announcement does: the counts follow on the
    announcement, the avec takes two places, a full event puts the next one on the waiting
    list, and after the deadline only "cannot come" is left."""
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        event_id = await publish(desk, capacity=3,
                                 registration_closes=START - timedelta(days=1))
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        desk.sandbox.user(7001, "Aino", language)
        desk.sandbox.user(7002, "Bertta", language)
        await desk.sandbox.send(7001, "/events", language_code=language)
        (_, listing) = await desk.to_user(7001, 2)
        rows = [[b["text"] for b in row] for row in listing["reply_markup"]["inline_keyboard"]]
        assert rows[:2] == [[f"{coming} (0)", f"{cannot} (0)"], [f"{avec} (0)"]]
        await desk.sandbox.press(7001, 7001, listing["message_id"], f"rsvp:{event_id}:plus")
        await desk.sandbox.wait_until(lambda: f"✅ {avec} (1)" in str(listing["reply_markup"]))
        assert any(a.startswith(welcome) for a in desk.answers())
        assert "📅" in str(listing["reply_markup"])  # the calendar file stays
        clock.advance(seconds=3)
        desk.services.wake_sender()  # the announcement in the channel shows the answer too
        await desk.sandbox.wait_until(lambda: "Paikkoja varattu: 2/3" in announcement["text"])
        # Bertta answers from her own /events: the last place, then the waiting list.
        await desk.sandbox.send(7002, "/events", language_code=language)
        (_, hers) = await desk.to_user(7002, 2)
        await desk.sandbox.press(7002, 7002, hers["message_id"], f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: "✅" in str(hers["reply_markup"]))
        async with desk.services.db.session() as session:
            tally = await rsvp.counts(session=session, event_id=event_id)
        assert (tally.seats, tally.waiting) == (3, 0)
        await desk.sandbox.press(7002, 7002, hers["message_id"], f"rsvp:{event_id}:no")
        await desk.sandbox.wait_until(lambda: f"✅ {cannot} (1)" in str(hers["reply_markup"]))
        await desk.sandbox.press(7001, 7001, listing["message_id"], f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: f"✅ {coming} (1)" in str(listing["reply_markup"]))
        desk.sandbox.user(7003, "Cecilia", language)
        desk.sandbox.user(7004, "Daniel", language)
        for person in (7003, 7004):
            await desk.sandbox.send(person, "/events", language_code=language)
        (_, third), (_, fourth) = await desk.to_user(7003, 2), await desk.to_user(7004, 2)
        await desk.sandbox.press(7003, 7003, third["message_id"], f"rsvp:{event_id}:plus")
        await desk.sandbox.wait_until(lambda: "✅" in str(third["reply_markup"]))
        await desk.sandbox.press(7004, 7004, fourth["message_id"], f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: any(full in a for a in desk.answers()))
        # After the deadline /events says registration is closed; "cannot come" still frees
        # a place, which passes to the one waiting.
        clock.now = START - timedelta(hours=20)
        await desk.sandbox.send(7004, "/events", language_code=language)
        (*_, closed) = await desk.to_user(7004, 4)
        rows = [[b["text"] for b in row] for row in closed["reply_markup"]["inline_keyboard"]]
        assert rows[0][0].startswith("🔒") and rows[1] == [f"{cannot} (1)"]  # Bertta
        await desk.sandbox.press(7003, 7003, third["message_id"], f"rsvp:{event_id}:no")
        promoted = (await desk.to_user(7004, 5))[-1]
        assert promoted["text"]  # the place offered, in their language


async def test_a_reminder_in_a_private_chat_carries_the_answer_buttons(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        desk.sandbox.user(7001, "Aino")
        event_id = await publish(desk, channels=[CHANNELS[0], 7001])
        (_announcement, ) = await channel(desk, CHANNELS[0], 1)
        clock.now = START - timedelta(hours=1)
        reminder = (await channel(desk, 7001, 4))[-1]
        assert reminder["text"].startswith("⏰ Muistutus")
        rows = [[b["callback_data"] for b in row]
                for row in reminder["reply_markup"]["inline_keyboard"]]
        assert rows == [[f"rsvp:{event_id}:yes", f"rsvp:{event_id}:no"],
                        [f"rsvp:{event_id}:plus"], [f"here:{event_id}"]]
        await desk.sandbox.press(7001, 7001, reminder["message_id"], f"rsvp:{event_id}:yes")
        await desk.sandbox.wait_until(lambda: "✅ Tulen (1)" in str(reminder["reply_markup"]))
        assert "here:" in str(reminder["reply_markup"])  # "I'm here" stays
        # In the channel the reminder is as before: "I'm here" only.
        in_channel = desk.sandbox.bot_messages(CHANNELS[0])[-1]
        assert "rsvp:" not in str(in_channel["reply_markup"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_one_announcement_to_60_chats_within_flood_limits(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """Twice what Telegram takes in a second (30): sent unpaced, the sender's eight sends in
    flight would put far more than 30 into the first second (bench/broadcast.py sends 300)."""
    chats = [-5000 - n for n in range(60)]
    async with events_desk(database_url, knowledge, router) as desk:
        desk.sandbox.flood_limits = True
        for chat in chats:
            desk.sandbox.group(chat, "Tiimi")
        async with desk.services.db.session() as session:
            await schedule.publish_bulletin(session=session, text="Uusi ohje", link=None,
                                            channels=chats, send_at=desk.clock(),
                                            now=desk.clock())
        began = time.monotonic()
        desk.services.wake_sender()
        await desk.sandbox.wait_until(
            lambda: all(desk.sandbox.bot_messages(c) for c in chats), timeout=20)
        took = time.monotonic() - began
        await asyncio.sleep(0.3)
        assert [len(desk.sandbox.bot_messages(c)) for c in chats] == [1] * 60
        assert desk.sandbox.refused_for_flood == 0  # PTB's rate limiter kept Telegram's pace
        assert took > 1.5, took  # paced: 60 messages at under 30 a second take two seconds


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_broadcast_larger_than_one_batch_goes_out_in_one_tick(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    chats = [-6000 - n for n in range(105)]  # the sender claims 100 rows at a time
    sandbox = Sandbox()
    for chat in chats:
        sandbox.group(chat, "Tiimi")
    db = Database(database_url)
    async with db.session() as session:  # published before the bot starts: its first tick
        await schedule.publish_bulletin(session=session, text="Uusi ohje", link=None,
                                        channels=chats, send_at=Clock()(), now=Clock()())
    await db.dispose()
    # The next tick is ten minutes away: everything must go in the first one.
    async with open_desk(database_url, knowledge, router, sandbox=sandbox,
                         outbox_check_seconds=600, sla_check_seconds=600):
        await sandbox.wait_until(lambda: all(sandbox.bot_messages(c) for c in chats),
                                 timeout=30)
    assert [len(sandbox.bot_messages(c)) for c in chats] == [1] * 105


async def test_one_waiting_with_a_colleague_does_not_hold_up_the_queue(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    """A third probe: a freed place stayed empty while someone waited behind a person coming
    with a colleague (who needs two). The place goes to the first in the queue who fits."""
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        event_id = await publish(desk, capacity=1)
        now = clock()
        async with desk.services.db.session() as session:
            for user, answer in ((7001, "yes"), (7002, "plus"), (7003, "yes")):
                await rsvp.rsvp(session=session, event_id=event_id, user_id=user,
                                answer=answer, now=now)
                clock.advance(seconds=1)
                now = clock()
            freed = await rsvp.rsvp(session=session, event_id=event_id, user_id=7001,
                                    answer="no", now=now)
        assert freed is not None and freed.promoted == [7003]
        async with desk.services.db.session() as session:
            assert await rsvp.answer_of(session=session, event_id=event_id,
                                        user_id=7002) == "waiting"
