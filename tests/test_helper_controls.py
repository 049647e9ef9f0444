"""The holder's controls, through the sandbox and PTB's real HTTP client: a helper gives a
question back to the queue or hands it to a named colleague, a ticket of another role is taken
only after a confirmation, the rating reaches the helper who answered, /mine shows first what
waits for an answer, and counts read as people say them ("1 kysymys", "2 kysymystä").
"""

from __future__ import annotations

import logging

import pytest

from bot.domain.knowledge import Knowledge
from bot.domain.models import TicketStatus
from bot.domain.reports import OTHER, Count, other_last
from bot.domain.routing import Router
from bot.i18n import ngettext
from tests.test_bot_helpers import (
    ANNA,
    GROUP,
    HOKS_SV,
    JUKKA,
    MARI,
    PEKKA,
    RPL_FI,
    Desk,
    buttons,
    mentioned,
    open_desk,
)

PROJECTOR_EN = "The projector in room 204 shows no picture"




def labels(message: dict) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row]


async def claimed_by(desk: Desk, helper: int, card: dict, number: int = 1) -> None:
    await desk.sandbox.press(helper, GROUP, card["message_id"], f"q:claim:{number}")
    await desk.wait_ticket(number, lambda t: t.claimed_by == helper)
    await desk.sandbox.wait_until(lambda: f"q:rel:{number}" in buttons(card))


async def test_the_holder_releases_a_ticket_and_the_role_is_called_again(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await desk.ask(7001, RPL_FI, first_name="Eva")
    card = await desk.card(1)
    await claimed_by(desk, MARI, card)
    assert buttons(card) == ["q:rr:1", "q:close:1", "q:rel:1", "q:ho:1"]
    assert labels(card)[2:] == ["Vapauta", "Siirrä kollegalle"]
    await desk.to_user(7001, 2)  # "Mari katsoo nyt kysymystäsi"
    # A colleague cannot give away what Mari holds.
    await desk.sandbox.press(PEKKA, GROUP, card["message_id"], "q:rel:1")
    await desk.sandbox.wait_until(lambda: any("vain hän voi" in a for a in desk.answers()))
    assert (await desk.ticket(1)).claimed_by == MARI
    # Mari releases it: it waits again, her colleagues of the role are called by name.
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rel:1")
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    assert (ticket.claimed_by, ticket.sla_level) == (None, 0)
    assert ticket.sla_due_at is not None
    call = (await desk.in_thread(1, 2))[-1]
    assert call["text"].startswith("Mari Mentor palautti kysymyksen #1 jonoon.")
    assert set(mentioned(call)) == {ANNA, PEKKA}
    await desk.sandbox.wait_until(lambda: buttons(card)[0] == "q:claim:1")
    assert "Odottaa auttajaa" in card["text"]
    told = (await desk.to_user(7001, 3))[-1]
    assert told["text"].startswith("Kysymyksesi #1 siirtyy kollegalle")
    assert any("#1 on taas jonossa" in a for a in desk.answers())
    # Anna takes it, and gives it back with /release in its topic.
    await claimed_by(desk, ANNA, card)
    assert (await desk.to_user(7001, 4))[-1]["text"].startswith("Anna katsoo nyt")
    thread = await desk.thread(1)
    await desk.sandbox.send(ANNA, "/release", chat_id=GROUP, thread_id=thread)
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    replies = await desk.in_thread(1, 4)
    assert any(m["text"].startswith("#1 on taas jonossa") for m in replies)
    # /release of a question nobody holds says so, and changes nothing.
    await desk.sandbox.send(ANNA, "/release", chat_id=GROUP, thread_id=thread)
    await desk.sandbox.wait_until(lambda: any(
        "ei ole kenenkään hoidossa" in m["text"]
        for m in desk.sandbox.thread_messages(GROUP, thread)))
    # Recorded without names.
    released = [r.getMessage() for r in caplog.records if "released" in r.getMessage()]
    assert released == ["ticket 1 released back to the queue"] * 2


async def test_without_a_forum_release_sends_the_card_to_colleagues_in_english(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, forum=False) as desk:
        await desk.ask(7001, PROJECTOR_EN, first_name="Sam", language_code="en")
        (card,) = await desk.to_user(JUKKA, 1)
        await desk.remembered(JUKKA, card)
        await desk.sandbox.press(JUKKA, JUKKA, card["message_id"], "q:claim:1")
        await desk.wait_ticket(1, lambda t: t.claimed_by == JUKKA)
        await desk.to_user(7001, 2)
        # /release as a reply to the private card.
        await desk.sandbox.send(JUKKA, "/release", reply_to=card["message_id"])
        await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
        # Nobody else helps with tvt: every other helper gets the card.
        for colleague in (MARI, ANNA, PEKKA):
            (other,) = await desk.to_user(colleague, 1)
            assert other["text"].startswith("#1 · ") and PROJECTOR_EN in other["text"]
        told = (await desk.to_user(7001, 3))[-1]
        assert told["text"].startswith("Your question #1 goes on to a colleague")
        assert told["reply_to_message"]["text"] == PROJECTOR_EN


async def test_the_holder_hands_a_ticket_to_a_named_colleague(desk: Desk) -> None:
    await desk.ask(7001, HOKS_SV, first_name="Eva", language_code="sv")
    card = await desk.card(1)
    await claimed_by(desk, MARI, card)
    await desk.to_user(7001, 2)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:ho:1")
    await desk.sandbox.wait_until(lambda: "q:hoa:1" in buttons(card))
    # The role's colleagues by name (Mari herself left out), then everyone, then back.
    assert labels(card) == ["Anna", "Pekka", "Kaikki auttajat…", "Takaisin"]
    # Only the holder may hand it over.
    await desk.sandbox.press(PEKKA, GROUP, card["message_id"], f"q:hot:1:{PEKKA}")
    await desk.sandbox.wait_until(lambda: any("vain hän voi" in a for a in desk.answers()))
    # The holder's open list stays on the card (a colleague's stray press does not close it).
    assert "q:hoa:1" in buttons(card)
    assert (await desk.ticket(1)).claimed_by == MARI
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:hoa:1")
    await desk.sandbox.wait_until(lambda: f"q:hot:1:{JUKKA}" in buttons(card))
    assert "Jukka" in labels(card) and "Mari Mentor" not in labels(card)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], f"q:hot:1:{JUKKA}")
    ticket = await desk.wait_ticket(1, lambda t: t.claimed_by == JUKKA)
    assert ticket.status == TicketStatus.CLAIMED
    await desk.sandbox.wait_until(lambda: "Otettu: Jukka" in card["text"])
    notice = (await desk.in_thread(1, 2))[-1]
    assert notice["text"].startswith("#1: Mari Mentor siirsi tämän kysymyksen sinulle.")
    assert mentioned(notice) == [JUKKA]
    # The asker hears the new name, in Swedish.
    told = (await desk.to_user(7001, 3))[-1]
    assert told["text"] == "Jukka fortsätter nu med din fråga #1. Du kan fortsätta skriva här."
    # Jukka's answer now reaches the asker; Mari's does not.
    thread = await desk.thread(1)
    await desk.sandbox.send(JUKKA, "Hej! Jag hjälper gärna.", chat_id=GROUP, thread_id=thread)
    assert (await desk.to_user(7001, 4))[-1]["text"] == "Hej! Jag hjälper gärna."


async def test_claiming_another_roles_ticket_asks_first_and_is_recorded(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")  # Jukka is tvt
    (confirm,) = await desk.to_user(JUKKA, 1)  # asked privately; the shared card stays as it is
    assert confirm["text"] == "#1 on tarkoitettu roolille Vertaisvalmentaja. Otatko sen silti?"
    assert labels(confirm) == ["Kyllä, otan #1"]
    assert (await desk.ticket(1)).status == TicketStatus.OPEN
    await desk.sandbox.press(JUKKA, JUKKA, confirm["message_id"], "q:claim:1:sure")
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    assert ticket.claimed_by == JUKKA
    assert "ticket 1 claimed across roles (vertaisvalmentaja)" in caplog.messages
    assert not any("Jukka" in m for m in caplog.messages)
    # A helper of the role claims without being asked.
    await desk.ask(7002, RPL_FI)
    card2 = await desk.card(2)
    await claimed_by(desk, MARI, card2, 2)
    assert "ticket 2 claimed across roles" not in " ".join(caplog.messages)


async def test_without_a_forum_the_rating_reaches_the_helper_who_answered(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, forum=False) as desk:
        await desk.ask(7001, "Projektori ei näytä kuvaa luokassa")
        (card,) = await desk.to_user(JUKKA, 1)
        await desk.remembered(JUKKA, card)
        await desk.sandbox.send(JUKKA, "Kokeile toista HDMI-kaapelia.", reply_to=card["message_id"])
        await desk.to_user(7001, 3)
        await desk.sandbox.send(JUKKA, "/close", reply_to=card["message_id"])
        closing = await desk.remembered(7001, (await desk.to_user(7001, 4))[-1])
        await desk.sandbox.press(7001, 7001, closing["message_id"], "rate:1:5")
        rated = (await desk.to_user(JUKKA, 2))[-1]
        assert rated["text"] == "#1 sai arvion ★★★★★ (5/5)."
        assert rated["reply_to_message"]["message_id"] == card["message_id"]
        assert desk.sandbox.bot_messages(MARI) == []


async def test_mine_shows_first_what_waits_for_an_answer(desk: Desk) -> None:
    for asker in (7001, 7002, 7003):
        await desk.ask(asker, RPL_FI)
    for number in (1, 2, 3):
        await claimed_by(desk, ANNA, await desk.card(number), number)
    # #1 and #3 answered; then the asker of #3 wrote again.
    for number in (1, 3):
        await desk.sandbox.send(ANNA, "Tässä vastaus.", chat_id=GROUP,
                                thread_id=await desk.thread(number))
    await desk.wait_ticket(3, lambda t: t.first_answer_at is not None)
    await desk.wait_ticket(1, lambda t: t.first_answer_at is not None)
    await desk.to_user(7003, 3)
    await desk.sandbox.send(7003, "Entä jos opiskelija on työpaikalla?")
    await desk.wait_ticket(3, lambda t: t.sla_due_at is not None)
    await desk.sandbox.send(ANNA, "/mine")
    (mine,) = await desk.to_user(ANNA, 1)
    lines = mine["text"].splitlines()
    assert lines[0] == "Odottaa vastaustasi:"
    assert [line[:3] for line in lines[1:3]] == ["#2 ", "#3 "]
    assert lines[3:5] == ["", "Vastattu, hoidossasi:"]
    assert [line[:3] for line in lines[5:]] == ["#1 "]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("lang", "minutes", "expected"), [
    ("fi", 1, "#1 on odottanut 1 työminuutin auttajaa."),
    ("fi", 2, "#1 on odottanut 2 työminuuttia auttajaa."),
    ("sv", 1, "#1 har väntat 1 arbetsminut på en hjälpare."),
    ("sv", 2, "#1 har väntat 2 arbetsminuter på en hjälpare."),
])
async def test_the_reminder_counts_minutes_as_people_say_them(
    database_url: str, knowledge: Knowledge, router: Router, lang: str, minutes: int,
    expected: str,
) -> None:
    async with open_desk(database_url, knowledge, router, helpers_language=lang,
                         sla_default_minutes=minutes) as desk:
        await desk.ask(7001, RPL_FI)
        await desk.card(1)
        desk.clock.advance(minutes=minutes + 1)
        reminder = (await desk.in_thread(1, 2))[-1]
        assert reminder["text"].startswith(expected)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("days", "expected"), [
    (1, "svara på detta meddelande inom 1 dag."), (2, "inom 2 dagar."),
])
async def test_the_closing_message_counts_days_in_swedish(
    database_url: str, knowledge: Knowledge, router: Router, days: int, expected: str,
) -> None:
    async with open_desk(database_url, knowledge, router, reopen_days=days) as desk:
        await desk.ask(7001, HOKS_SV, language_code="sv")
        card = await desk.card(1)
        await claimed_by(desk, ANNA, card)
        thread = await desk.thread(1)
        # Answered, so that the closing message asks for a rating (an unanswered one does not).
        await desk.sandbox.send(ANNA, "Uppdatera HOKS i Koski.", chat_id=GROUP, thread_id=thread)
        await desk.to_user(7001, 3)
        await desk.sandbox.send(ANNA, "/close", chat_id=GROUP, thread_id=thread)
        closing = (await desk.to_user(7001, 4))[-1]
        assert closing["text"].endswith(expected)


@pytest.mark.parametrize(("lang", "one", "two"), [
    ("fi", "Edellisellä jaksolla (10/2026): 1 kysymys.",
     "Edellisellä jaksolla (10/2026): 2 kysymystä."),
    ("sv", "Perioden innan (10/2026): 1 fråga.", "Perioden innan (10/2026): 2 frågor."),
    ("en", "The period before (10/2026): 1 question.",
     "The period before (10/2026): 2 questions."),
])
def test_report_counts_take_the_plural_form_of_their_language(lang: str, one: str, two: str
                                                                ) -> None:
    def say(n: int) -> str:
        return ngettext(lang, "The period before ({previous}): {count} question.",
                        "The period before ({previous}): {count} questions.", n,
                        previous="10/2026", count=n)

    assert (say(1), say(2)) == (one, two)
    rated = [ngettext(lang, "Rating: {average} / 5 ({count} rating)",
                      "Rating: {average} / 5 ({count} ratings)", n, average=4, count=n)
             for n in (1, 2)]
    assert rated == {"fi": ["Arvio: 4 / 5 (1 arvio)", "Arvio: 4 / 5 (2 arviota)"],
                     "sv": ["Betyg: 4 / 5 (1 betyg)", "Betyg: 4 / 5 (2 betyg)"],
                     "en": ["Rating: 4 / 5 (1 rating)", "Rating: 4 / 5 (2 ratings)"]}[lang]


def test_other_is_one_row_and_always_last() -> None:
    counts = [Count("hoks", "vertaisvalmentaja", 9), Count(OTHER, "tvt", 5, 1),
              Count("teams", "tvt", 3), Count(OTHER, "luotsi", 2)]
    assert other_last(counts) == [Count("hoks", "vertaisvalmentaja", 9),
                                  Count("teams", "tvt", 3), Count(OTHER, None, 7, 1)]
    assert other_last(counts[:1]) == counts[:1]


async def test_reroute_offers_the_roles_other_last(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rr:1")
    await desk.sandbox.wait_until(lambda: "q:rrr:1:luotsi" in buttons(card))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rrr:1:luotsi")
    await desk.sandbox.wait_until(lambda: "q:rrt:1:other_luotsi" in buttons(card))
    assert buttons(card)[-2:] == ["q:rrt:1:other_luotsi", "q:card:1"]
    assert labels(card)[-2:] == ["Muu kysymys", "Takaisin"]
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:rrt:1:other_luotsi")
    ticket = await desk.wait_ticket(1, lambda t: t.role == "luotsi")
    assert (ticket.topic, ticket.status) == ("other", TicketStatus.OPEN)
