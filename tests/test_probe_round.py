"""What a black-box tester found in the sandbox, told as the people who met it: thanks in many
words that became tickets, announcement toasts in the event's language rather than the
presser's, and a German colleague answered in three languages. Through the sandbox and PTB's
real HTTP client, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.domain.knowledge import Knowledge
from bot.domain.routing import Router
from tests.test_bot_events import CHANNELS, channel, events_desk, publish
from tests.test_bot_helpers import Clock, Desk
from tests.test_conversation import say, tickets

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
