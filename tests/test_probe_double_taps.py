"""What a second black-box probe found in the asker's conversation, told as staff live it: a
double tap on a button, a "kiitos, mutta…" that asks for more, and more words while a
self-service answer is offered. Through the sandbox and PTB's real HTTP client, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.domain.models import TicketStatus
from bot.domain.tickets.conversation import is_thanks
from tests.test_bot_helpers import GROUP, JUKKA, Desk
from tests.test_conversation import ASKER, PROJECTOR, buttons, claim_answer_close, say, tickets
from tests.test_probe_conversations import TEAMS

APOLOGY = "jotain meni vikaan"


def _apologies(desk: Desk) -> int:
    return sum(APOLOGY in (m.get("text") or "") for m in desk.sandbox.bot_messages(ASKER))


async def test_a_double_tap_on_a_role_acknowledges_once_and_keeps_its_buttons(
    desk: Desk,
) -> None:
    unclear = await say(desk, "Moi! Tarviisin apua yhen jutun kanssa", language_code="fi")
    assert "role:1:tvt" in buttons(unclear)
    await asyncio.gather(
        desk.sandbox.press(ASKER, ASKER, unclear["message_id"], "role:1:tvt"),
        desk.sandbox.press(ASKER, ASKER, unclear["message_id"], "role:1:tvt"))
    await desk.wait_ticket(1, lambda t: t.role == "tvt" and t.routing == "chosen")
    await desk.card(1)
    await desk.sandbox.wait_until(lambda: any(
        "on jo matkalla" in a for a in desk.answers()))
    # The message is the acknowledgement, with its own buttons; no apology, no second ticket.
    assert "TVT-tukihenkilö" in unclear["text"]
    assert any(b.startswith("solve:1") for b in buttons(unclear))
    assert _apologies(desk) == 0
    assert len(await tickets(desk)) == 1


async def test_a_double_tap_on_the_rating_counts_once(desk: Desk) -> None:
    await say(desk, PROJECTOR)
    closing = await claim_answer_close(desk, 1, "Valitse lähteeksi HDMI 2.")
    before = len(desk.sandbox.bot_messages(ASKER))
    await asyncio.gather(
        desk.sandbox.press(ASKER, ASKER, closing["message_id"], "rate:1:5"),
        desk.sandbox.press(ASKER, ASKER, closing["message_id"], "rate:1:2"))
    await desk.wait_ticket(1, lambda t: t.rating is not None)
    await desk.to_user(ASKER, before + 1)
    await asyncio.sleep(0.5)  # the second press, had it counted, would thank again
    thanks = [m for m in desk.sandbox.bot_messages(ASKER)[before:]
              if "arvio" in (m.get("text") or "")]
    assert len(thanks) == 1
    rating = (await desk.ticket(1)).rating
    assert rating in (5, 2)
    await desk.sandbox.wait_until(lambda: any(
        "sai arvion" in (m.get("text") or "") for m in desk.sandbox.bot_messages(GROUP)))
    notices = [m for m in desk.sandbox.bot_messages(GROUP) if "sai arvion" in (m.get("text") or "")]
    assert len(notices) == 1
    assert _apologies(desk) == 0


async def test_kiitos_but_it_still_does_not_work_reopens(desk: Desk) -> None:
    await say(desk, PROJECTOR)
    closing = await claim_answer_close(desk, 1, "Valitse lähteeksi HDMI 2.")
    again = await say(desk, "Kiitos, mutta kuva ei vieläkään näy",
                      reply_to=closing["message_id"])
    assert again["text"] == "Avasin kysymyksesi #1 uudelleen ja välitin viestisi eteenpäin."
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)


def test_a_thank_you_that_goes_on_to_ask_is_no_thank_you() -> None:
    assert not any(is_thanks(t) for t in (
        "Kiitos, mutta kamera ei vieläkään toimi", "Tack, men det fungerar fortfarande inte",
        "Thanks, but how do I share the screen?", "kiitti, mut en vieläkään ymmärrä"))
    assert all(is_thanks(t) for t in ("Kiitos, nyt toimii!", "Thanks a lot!", "Tack så mycket"))


async def test_more_words_while_an_answer_is_offered_go_to_the_helpers_at_once(
    desk: Desk,
) -> None:
    offered = await say(desk, TEAMS, language_code="fi")
    assert "ss:1:y" in buttons(offered)
    assert (await desk.ticket(1)).status == TicketStatus.OFFERED
    more = await say(desk, "ei auttanut, kokous ei edes aukea selaimessa")
    assert more["text"].startswith("Kiitos — lisäsin tämän kysymykseesi #1 ja välitin sen")
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    assert ticket.text.endswith("kokous ei edes aukea selaimessa")
    card = await desk.card(1)
    assert "kokous ei edes aukea selaimessa" in card["text"]


async def test_a_helper_cannot_claim_their_own_question(desk: Desk) -> None:
    await say(desk, "Projektori ei näytä kuvaa luokassa 204", user=JUKKA, language_code="fi")
    card = await desk.card(1)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")
    await desk.sandbox.wait_until(lambda: any("oma kysymyksesi" in a for a in desk.answers()))
    assert (await desk.ticket(1)).status == TicketStatus.OPEN


async def test_a_long_unclear_question_in_two_parts_reaches_the_helpers_whole(
        desk: Desk) -> None:
    """Telegram splits a long message in two; the bot asks whom it is for; both parts follow
    the card (the second was kept only in the database), and the card says it is cut."""
    first = ("Hei, minulla on pitkä kysymys yhdestä asiasta, joka on mietityttänyt jo pitkään. "
             * 60)[:4096]
    chooser = await say(desk, first, language_code="fi")
    assert "role:1:tvt" in buttons(chooser)
    before = len(desk.sandbox.bot_messages(ASKER))
    await desk.sandbox.send(ASKER, "Tämä on jatkoa edelliseen viestiin: kuinka edetä?")
    await desk.wait_ticket(1, lambda t: (t.text or "").endswith("kuinka edetä?"))
    await desk.sandbox.press(ASKER, ASKER, chooser["message_id"], "role:1:tvt")
    card, copy, rest = await desk.in_thread(1, 3)
    assert card["text"].endswith("…") or "…" in card["text"]
    assert copy["text"] == first
    assert rest["text"] == "Tämä on jatkoa edelliseen viestiin: kuinka edetä?"
    assert len(desk.sandbox.bot_messages(ASKER)) >= before


async def test_stars_typed_as_a_number_are_the_rating(desk: Desk) -> None:
    await say(desk, PROJECTOR)
    closing = await claim_answer_close(desk, 1, "Valitse lähteeksi HDMI 2.")
    thanks = await say(desk, "5")
    assert thanks["text"].startswith("Kiitos arviosta ★★★★★!")
    assert (await desk.wait_ticket(1, lambda t: t.rating is not None)).rating == 5
    # The closing message's stars go, as after a press.
    await desk.sandbox.wait_until(lambda: "reply_markup" not in closing)
    # Given once: a second number is a comment, as any words after the rating.
    again = await say(desk, "4")
    assert again["text"] == "Kiitos, välitin kommenttisi eteenpäin."
    assert (await desk.ticket(1)).rating == 5


def test_a_typed_rating_is_told_from_other_words() -> None:
    from bot.domain.tickets.conversation import typed_stars

    assert [typed_stars(t) for t in ("5", "4/5", "★★★", "3 tähteä", "2 stars")] == [5, 4, 3, 3, 2]
    assert not any(typed_stars(t) for t in ("0", "6", "5 minuuttia", "204", "", "luokka 5"))


async def test_a_private_command_in_the_helpers_group_says_where_it_works(desk: Desk) -> None:
    before = len(desk.sandbox.bot_messages(GROUP))
    await desk.sandbox.send(JUKKA, "/helpers", chat_id=GROUP)
    told = (await desk.sandbox.wait_for(GROUP, before + 1))[-1]
    assert told["text"].startswith("Tämä komento toimii yksityisessä keskustelussa kanssani")


async def test_this_helped_after_the_question_went_on_solves_it(desk: Desk) -> None:
    offered = await say(desk, TEAMS, language_code="fi")
    await say(desk, "ei auttanut, kokous ei edes aukea selaimessa")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    before = len(desk.sandbox.bot_messages(ASKER))
    await desk.sandbox.press(ASKER, ASKER, offered["message_id"], "ss:1:y")
    glad = (await desk.to_user(ASKER, before + 1))[-1]
    assert glad["text"].startswith("Hienoa, että siitä oli apua!") or "#1" in glad["text"]
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    assert ticket.self_served


async def test_solved_it_myself_then_it_did_not_work_after_all_reopens_it(desk: Desk) -> None:
    ack = await say(desk, "The projector in my classroom shows no picture", language_code="en")
    card = await desk.card(1)
    await desk.sandbox.press(ASKER, ASKER, ack["message_id"], "solve:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED and t.solved_by_asker)
    await desk.to_user(ASKER, 2)
    again = await say(desk, "Actually the picture is gone again, it did not work after all")
    assert again["text"] == "I reopened your question #1 and passed your message on."
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    assert not ticket.self_served and not ticket.solved_by_asker
    assert len(await tickets(desk)) == 1
    await desk.sandbox.wait_until(lambda: "Suljettu" not in card["text"])


async def test_a_helpers_edit_in_the_topic_is_said_not_to_reach_the_asker(desk: Desk) -> None:
    await say(desk, PROJECTOR)
    await desk.card(1)
    thread = await desk.thread(1)
    sent = await desk.sandbox.send(JUKKA, "Kokeile HDMI 1.", chat_id=GROUP, thread_id=thread)
    await desk.sandbox.wait_until(lambda: any(
        m.get("text") == "Kokeile HDMI 1." for m in desk.sandbox.bot_messages(ASKER)))
    await desk.sandbox.edit(JUKKA, sent["message_id"], "Kokeile HDMI 2.", chat_id=GROUP)
    await desk.sandbox.wait_until(lambda: any(
        (m.get("text") or "").startswith("Muokkaukset eivät välity kysyjälle")
        for m in desk.sandbox.thread_messages(GROUP, thread)))
