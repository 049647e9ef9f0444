"""What a black-box tester found in the sandbox, told as the people who met it: thanks in many
words that became tickets, announcement toasts in the event's language rather than the
presser's, and a German colleague answered in three languages. Through the sandbox and PTB's
real HTTP client, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.intake import chat
from bot.domain.knowledge import Knowledge
from bot.domain.routing import Router
from tests.test_bot_events import CHANNELS, channel, events_desk, publish
from tests.test_bot_helpers import Clock, Desk
from tests.test_conversation import say, tickets

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
