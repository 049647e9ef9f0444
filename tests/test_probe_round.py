"""What a black-box tester found in the sandbox, told as the people who met it: thanks in many
words that became tickets, announcement toasts in the event's language rather than the
presser's, and a German colleague answered in three languages. Through the sandbox and PTB's
real HTTP client, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain import roster
from bot.domain.dates import moment, understand
from bot.domain.intake import chat
from bot.domain.knowledge import Knowledge
from bot.domain.roster import HelperSpec, import_helpers
from bot.domain.routing import Router
from tests.test_bot_events import CHANNELS, channel, events_desk, publish
from tests.test_bot_helpers import ADMIN, JUKKA, MARI, ROSTER, Clock, Desk
from tests.test_conversation import say, tickets

HELSINKI = ZoneInfo("Europe/Helsinki")

# --- thanks in natural words are small talk, never a question --------------------------------

THANKS = ["Thanks for the help!", "Kiitos avusta!", "Tack för hjälpen!", "kiitos paljon avusta",
          "kiitti", "thx", "thanks a lot for your help", "tack för hjälpen", "tusen tack",
          "Kiitos tosi paljon nopeasta vastauksesta!", "Stort tack för svaret!",
          "Thank you so much for your quick answer!", "Tack ska du ha!"]


@pytest.mark.parametrize("text", THANKS)
def test_thanks_in_natural_words_are_small_talk(text: str) -> None:
    talk = chat(text)
    assert talk is not None and talk.kind == "thanks"


@pytest.mark.parametrize("text", [
    "kiitos, mutta vielä: miten liitän kuvan?", "Kiitos avusta, mutta Wilma ei vieläkään toimi",
    "Thanks for the help, but how do I share the recording?", "Thanks for the help?",
    "Tack för hjälpen, men hur gör jag en PUK?", "help", "apua", "the answer"])
def test_a_question_after_thanks_stays_a_question(text: str) -> None:
    assert chat(text) is None


def test_no_labelled_question_is_small_talk() -> None:
    lines = [line.split("\t", 1)[1].strip()
             for path in sorted(Path(__file__).parent.glob("data/routing_*.tsv"))
             for line in path.read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#") and "\t" in line]
    assert len(lines) > 1700
    assert [line for line in lines if chat(line) is not None] == []


async def test_thanks_for_the_help_is_thanked_back_in_its_language(desk: Desk) -> None:
    en = await say(desk, "Thanks for the help!", user=7401, language_code="fi")
    assert en["text"].startswith("You are welcome!")
    fi = await say(desk, "Kiitos avusta!", user=7402, language_code="fi")
    assert fi["text"].startswith("Ole hyvä!")
    sv = await say(desk, "Tack för hjälpen!", user=7403, language_code="fi")
    assert sv["text"].startswith("Varsågod!")
    question = await say(desk, "Kiitos, mutta vielä: miten jaan Teams-tallenteen?", user=7404,
                         language_code="fi")
    assert "#1" in question["text"]
    assert len(await tickets(desk)) == 1


# --- announcement toasts speak the presser's language ---------------------------------------


async def test_an_announcement_toast_is_in_the_pressers_language(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        event_id = await publish(desk)  # a Finnish event
        (announcement,) = await channel(desk, CHANNELS[0], 1)
        desk.sandbox.user(7201, "John", language_code="en")
        desk.sandbox.user(7202, "Britt", language_code="sv")
        desk.sandbox.user(7203, "Hans", language_code="de")
        desk.sandbox.user(7204, "Aino", language_code="fi")
        for n, (user, answer) in enumerate(((7201, "yes"), (7202, "no"), (7203, "yes"),
                                            (7204, "yes")), start=1):
            await desk.sandbox.press(user, CHANNELS[0], announcement["message_id"],
                                     f"rsvp:{event_id}:{answer}")
            await desk.sandbox.wait_until(lambda n=n: len(desk.answers()) == n)  # type: ignore[misc]
        assert desk.answers() == ["Welcome! See you there.", "Tack för att du meddelade.",
                                  "Welcome! See you there.", "Tervetuloa! Nähdään siellä."]
        clock.advance(seconds=3)
        desk.services.wake_sender()
        await desk.sandbox.wait_until(lambda: "Tulen (3)" in str(announcement["reply_markup"]))
        assert "En pääse (1)" in str(announcement["reply_markup"])  # the post stays Finnish


# --- a colleague whose Telegram speaks none of our languages ---------------------------------


async def test_a_german_colleague_is_answered_in_english_throughout(desk: Desk) -> None:
    start = await say(desk, "/start", user=7301, language_code="de")
    assert start["text"].startswith("Hi")
    ack = await say(desk, "Wie kann ich mein Passwort zurücksetzen?", user=7301)
    assert ack["text"].startswith("Thank you! Your question is saved as #1")
    (ticket,) = await tickets(desk)
    assert ticket.language == "en"
    card = await desk.card(1)
    assert "· sv" not in card["text"] and "· en" in card["text"]
    # Words clearly in one of ours are answered in that language.
    fi = await say(desk, "Unohdin salasanani enkä pääse Wilmaan", user=7302,
                   language_code="de")
    assert fi["text"].startswith("Kysymyksesi on tallennettu numerolla #2")


# --- the organisers' /newevent: who may, the hints, a corrected start -------------------------


async def test_newevent_says_who_makes_organisers_and_hints_at_dates_to_come(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    clock.now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # Monday 7 December
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        refusal = await say(desk, "/newevent", user=7001)
        assert "/helpers" in refusal["text"] and "asetuksissa" not in refusal["text"]
        kinds = await say(desk, "/newevent", user=MARI)
        await desk.sandbox.press(MARI, MARI, kinds["message_id"], "kind:webinar")
        await desk.to_user(MARI, 2)
        hint = await say(desk, "HOKS-webinaari", user=MARI)
        assert hint["text"] == ("Milloin se alkaa? Esimerkiksi 14.12. klo 14, ma 14.12. 14.00 "
                                "tai huomenna klo 9")
        asked = await say(desk, "ti 8.12. klo 14", user=MARI)
        assert asked["text"] == "Alkaa tiistaina 8.12.2026 klo 14.00. Onko tämä oikein?"
        # A corrected start typed under "Is that right?" is taken, and asked about again.
        again = await say(desk, "ke 9.12. klo 10", user=MARI)
        assert again["text"] == "Alkaa keskiviikkona 9.12.2026 klo 10.00. Onko tämä oikein?"
        # …and the first start's buttons go: none is left to confirm a start not kept.
        await desk.sandbox.wait_until(lambda: not next(
            m for m in desk.sandbox.bot_messages(MARI)
            if m["message_id"] == asked["message_id"]).get("reply_markup"))
        refused = await say(desk, "en tiedä vielä", user=MARI)
        assert refused["text"].startswith("En saanut selvää tulevasta päivästä ja kellonajasta. "
                                          "Kirjoita esimerkiksi 14.12. klo 14")
        # A typed "ei" is the No button: the start is asked again.
        asked_again = await say(desk, "ei", user=MARI)
        assert asked_again["text"] == "Milloin se alkaa?"
        again = await say(desk, "ke 9.12. klo 10", user=MARI)
        await desk.sandbox.press(MARI, MARI, again["message_id"], "start:yes")
        length_asked = (await desk.to_user(MARI, 9))[-1]
        assert length_asked["text"].startswith("Kuinka kauan se kestää?")


async def test_an_english_organiser_gets_english_hints_and_month_names(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    clock = Clock()
    clock.now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    async with events_desk(database_url, knowledge, router, clock=clock) as desk:
        desk.sandbox.user(MARI, "Mari Mentor", language_code="en")
        kinds = await say(desk, "/newevent", user=MARI)
        await desk.sandbox.press(MARI, MARI, kinds["message_id"], "kind:cafe")
        await desk.to_user(MARI, 2)
        hint = await say(desk, "Assessment café", user=MARI)
        assert hint["text"] == ("When does it start? For example 14 December at 2 pm, Monday "
                                "14 December 14:00 or tomorrow at 9")
        asked = await say(desk, "18 December 10:00", user=MARI)
        assert asked["text"].startswith("Starts Friday") and "18" in asked["text"]


@pytest.mark.parametrize(("text", "day"), [
    ("18 December 10:00", "2026-12-18 10:00"), ("18 december 10:00", "2026-12-18 10:00"),
    ("December 18 at 2 pm", "2026-12-18 14:00"), ("18. joulukuuta klo 14", "2026-12-18 14:00"),
    ("5 January 2027 9:00", "2027-01-05 09:00"), ("5 jan 9:00", "2027-01-05 09:00")])
def test_dates_with_month_names(text: str, day: str) -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    found = understand(text, now=now, tz=HELSINKI)
    assert found is not None
    at = moment(found, now=now, tz=HELSINKI)
    assert at is not None and f"{at:%Y-%m-%d %H:%M}" == day


# --- the roster and a helper's own language ---------------------------------------------------


async def test_helpers_role_buttons_show_the_roles_names(desk: Desk) -> None:
    roster = await say(desk, "/helpers", user=ADMIN)
    person = next(b["callback_data"] for row in roster["reply_markup"]["inline_keyboard"]
                  for b in row if b["callback_data"].endswith(f":{JUKKA}"))
    before = len(desk.sandbox.bot_messages(ADMIN))
    await desk.sandbox.press(ADMIN, ADMIN, roster["message_id"], person)
    await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(ADMIN)) > before or any(
        "su:role" in str(m.get("reply_markup")) for m in desk.sandbox.bot_messages(ADMIN)))
    shown = next(m for m in desk.sandbox.bot_messages(ADMIN) if "su:role" in
                 str(m.get("reply_markup")))
    labels = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row
              if b["callback_data"].startswith("su:role")]
    assert len(labels) == 6
    assert not {label.removeprefix("✓ ") for label in labels} & {
        "tvt", "luotsi", "vertaisvalmentaja", "lead", "organiser", "admin"}
    assert "✓ TVT-tukihenkilö" in labels


async def test_a_helper_is_spoken_to_in_one_language(desk: Desk) -> None:
    desk.sandbox.user(JUKKA, "Jukka", language_code="en")  # helps in fi and en, fi first
    helped = await say(desk, "/help", user=JUKKA)
    assert helped["text"].startswith("Write your question as an ordinary message")
    queue = await say(desk, "/queue", user=JUKKA)
    assert queue["text"] == "No questions are waiting. Thank you!"
    async with desk.services.db.session() as session:
        jukka = await roster.helper(session=session, user_id=JUKKA)
    assert jukka is not None and jukka.language("fi") == "en"  # kept for the notices


async def test_help_lists_a_lead_only_what_she_may_do(desk: Desk) -> None:
    async with desk.services.db.session() as session:
        await import_helpers(session=session, specs=[
            *ROSTER, HelperSpec(telegram_id=1005, name="Leena", roles=["lead"],
                                languages=["fi"])])
    desk.sandbox.user(1005, "Leena", "fi")
    helped = await say(desk, "/help", user=1005)
    assert "Vertaisvalmentajille" not in helped["text"]
    assert "/report" in helped["text"] and "/queue" not in helped["text"]
    assert "Vastausluonnosten tarkistus:\n/drafts" in helped["text"]
    drafts = await say(desk, "/drafts", user=1005)  # which she may
    assert not drafts["text"].startswith("Valitettavasti")


async def test_a_wish_to_sign_up_points_to_events(desk: Desk) -> None:
    ack = await say(desk, "Haluan ilmoittautua torstain pedagogiseen kahvilaan", user=7501,
                    language_code="fi")
    assert ack["text"].startswith("Tapahtumaan ilmoittaudut komennolla /events")
    sv = await say(desk, "Jag vill anmäla mig till webbinariet på torsdag", user=7502,
                   language_code="sv")
    assert "/events" in sv["text"]
    plain = await say(desk, "Miten jaan tiimin työt?", user=7503, language_code="fi")
    assert "/events" not in plain["text"]
