"""What a black-box probe of the sandbox found, each a story told again as it should go: a phone
number that stays with the helpers no longer than it is theirs, the sandbox's listing and
notice ids, the answers a card offers, the confirmation of a cross-role claim, and a question
written in two languages.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.domain import people, roster
from bot.domain.knowledge import Knowledge
from bot.domain.models import TicketStatus
from bot.domain.routing import Router
from bot.sandbox.server import Sandbox, Upload
from tests.test_bot_helpers import (
    ANNA,
    GROUP,
    JUKKA,
    MARI,
    PEKKA,
    RPL_FI,
    Desk,
    buttons,
    mentioned,
    open_desk,
)
from tests.test_conversation import PROJECTOR, PNG_1x1

NUMBER = "+358401234567"




def with_number(desk: Desk, helper: int) -> list[dict]:
    return [m for m in desk.sandbox.bot_messages(helper) if NUMBER in m.get("text", "")]


async def numbers(desk: Desk, helper: int) -> list[dict]:
    """The helper's private messages that carry the number, once there is one."""
    await desk.sandbox.wait_until(lambda: with_number(desk, helper))
    return with_number(desk, helper)


async def claim(desk: Desk, helper: int, card: dict) -> None:
    await desk.sandbox.wait_until(lambda: "q:claim:1" in buttons(card))
    await desk.sandbox.press(helper, GROUP, card["message_id"], "q:claim:1")
    await desk.wait_ticket(1, lambda t: t.claimed_by == helper)
    await desk.sandbox.wait_until(lambda: "q:rel:1" in buttons(card))


async def share_number(desk: Desk, asker: int) -> None:
    """The asker presses "I would prefer a phone call" and shares their number."""
    offer = next(m for m in reversed(desk.sandbox.bot_messages(asker))
                 if "phone:1" in buttons(m))
    await desk.sandbox.press(asker, asker, offer["message_id"], "phone:1")
    await desk.sandbox.wait_until(lambda: any(
        "request_contact" in str(m.get("client_markup")) for m in desk.sandbox.bot_messages(asker)))
    before = len(desk.sandbox.bot_messages(asker))
    await desk.sandbox.send(asker, contact=NUMBER)
    # The thanks may come after the helper has the number: wait for it, so that the asker's
    # next message is not taken to be answered by it.
    await desk.sandbox.wait_for(asker, before + 1)


# --- 1. the phone number stays with the helpers only while it is theirs --------------------------

async def test_the_number_is_taken_back_when_the_ticket_is_handed_over_released_or_closed(
    desk: Desk,
) -> None:
    await desk.ask(7001, RPL_FI, first_name="Heikki")
    card = await desk.card(1)
    await claim(desk, MARI, card)
    await desk.to_user(7001, 2)
    await share_number(desk, 7001)
    (to_mari,) = await numbers(desk, MARI)
    # Mari hands it to Anna: Anna gets the number, Mari's message no longer holds it.
    await desk.sandbox.press(MARI, GROUP, card["message_id"], "q:ho:1")
    await desk.sandbox.wait_until(lambda: f"q:hot:1:{ANNA}" in buttons(card))
    await desk.sandbox.press(MARI, GROUP, card["message_id"], f"q:hot:1:{ANNA}")
    (to_anna,) = await numbers(desk, ANNA)
    await desk.sandbox.wait_until(lambda: NUMBER not in to_mari["text"])
    assert to_mari["text"] == "#1: kysyjä toivoi puhelua (numero on poistettu)."
    # Anna gives it back to the queue: hers is taken back too.
    await desk.sandbox.wait_until(lambda: "q:rel:1" in buttons(card))
    await desk.sandbox.press(ANNA, GROUP, card["message_id"], "q:rel:1")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    await desk.sandbox.wait_until(lambda: NUMBER not in to_anna["text"])
    # Mari takes it again and gets the number again; closing takes it back once more.
    await claim(desk, MARI, card)
    await desk.sandbox.wait_until(lambda: len(with_number(desk, MARI)) == 1)
    (again,) = with_number(desk, MARI)
    await desk.sandbox.send(MARI, "/close", chat_id=GROUP, thread_id=await desk.thread(1))
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    await desk.sandbox.wait_until(lambda: NUMBER not in again["text"])
    for helper in (MARI, ANNA):
        assert not with_number(desk, helper)
    assert NUMBER not in str(desk.sandbox.messages[GROUP])


async def test_forget_takes_the_number_back_from_the_holder(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI, first_name="Heikki")
    card = await desk.card(1)
    await claim(desk, MARI, card)
    await desk.to_user(7001, 2)
    await share_number(desk, 7001)
    (to_mari,) = await numbers(desk, MARI)
    confirm = await desk.ask(7001, "/forget")
    await desk.sandbox.press(7001, 7001, confirm["message_id"], "forget:yes")
    await desk.sandbox.wait_until(lambda: NUMBER not in to_mari["text"])
    assert "numero on poistettu" in to_mari["text"]
    ticket = await desk.ticket(1)
    assert (ticket.phone, ticket.status) == (None, TicketStatus.CLOSED)


# --- 2. and 3. the sandbox: a closed topic shows closed; notice ids go on across a restart -------

@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_closed_well_rated_ticket_is_listed_closed_though_it_can_be_saved(
    desk: Desk,
) -> None:
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    await claim(desk, MARI, card)
    thread = await desk.thread(1)
    assert desk.sandbox.topic_state(GROUP, thread) == "held"
    await desk.sandbox.send(MARI, "Kirjaa tunnustaminen HOKSin osaamisen osioon.",
                            chat_id=GROUP, thread_id=thread)
    await desk.sandbox.send(MARI, "/close", chat_id=GROUP, thread_id=thread)
    closing = await desk.remembered(
        7001, next(m for m in await desk.to_user(7001, 4) if "rate:1:5" in buttons(m)))
    await desk.sandbox.press(7001, 7001, closing["message_id"], "rate:1:5")
    await desk.sandbox.wait_until(lambda: "k:save:1" in buttons(card))
    assert desk.sandbox.topic_state(GROUP, thread) == "closed"


async def test_notice_ids_go_on_after_a_restart(tmp_path: Path) -> None:
    """A page that has seen notices up to N asks for those after N: a restarted sandbox must
    not number its new ones from 1 again."""

    async def pressed(sandbox: Sandbox, text: str) -> dict:
        sandbox._queries["q"] = 5001
        await sandbox._api_answercallbackquery({"callback_query_id": "q", "text": text})
        return sandbox.notices[-1]

    sandbox = Sandbox.open(tmp_path)
    sandbox.user(5001, "Sanna")
    seen = [await pressed(sandbox, f"Toast {n}") for n in range(3)]
    assert [n["id"] for n in seen] == [1, 2, 3]
    sandbox.save()
    again = Sandbox.open(tmp_path)
    new = await pressed(again, "After the restart")
    assert new["id"] == 4


# --- 4. answers at hand are offered only when they fit ------------------------------------------

@pytest.mark.parametrize(("question", "topic"), [
    ("The wifi does not work in room 204", "devices"),  # was offered the printer jam
    ("Langaton verkko ei toimi luokassa", "devices"),
    ("I can't log in to Wilma", "wilma"),  # was offered marking absences
    ("En pääse kirjautumaan Wilmaan", "wilma"),
    ("Hi, is anyone there?", "teams"),  # was offered the Teams recording
])
def test_an_answer_that_does_not_fit_is_not_offered(
    router: Router, question: str, topic: str,
) -> None:
    assert router.suggest(question, topic) == []


@pytest.mark.parametrize(("question", "answer"), [
    ("Tulostin on jumissa", "printer_jam"),
    ("How do I mark an absence in Wilma?", "wilma_absences"),
    ("How do I record in Teams?", "teams_recording"),
    ("Hur spelar jag in ett Teams-möte?", "teams_recording"),
    ("Hur ändrar jag mitt lösenord?", "password_reset"),
    ("Sain uuden puhelimen, miten authenticator siirretään?", "mfa_new_phone"),
])
def test_an_answer_that_fits_is_still_offered(router: Router, question: str, answer: str) -> None:
    decision = router.route(question)
    assert router.suggest(question, decision.topic) == [answer]


# --- 5. a cross-role claim is confirmed by the one who pressed, the shared card left alone ------

async def test_a_cross_role_claim_asks_only_the_one_who_pressed(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await desk.ask(7001, RPL_FI)
    card = await desk.card(1)
    before = buttons(card)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")  # Jukka is tvt
    (confirm,) = await desk.to_user(JUKKA, 1)
    assert confirm["text"] == "#1 on tarkoitettu roolille Vertaisvalmentaja. Otatko sen silti?"
    assert buttons(confirm) == ["q:claim:1:sure"]
    await desk.sandbox.wait_until(lambda: len(desk.answers()) == 1)
    assert "vahvista se yksityisessä keskustelussamme" in desk.answers()[-1]
    assert buttons(card) == before  # every other helper still sees Claim
    assert (await desk.ticket(1)).status == TicketStatus.OPEN
    await desk.sandbox.press(JUKKA, JUKKA, confirm["message_id"], "q:claim:1:sure")
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    assert ticket.claimed_by == JUKKA
    await desk.sandbox.wait_until(lambda: not buttons(confirm))  # pressed once, gone
    assert desk.answers()[-1] == "#1 on nyt sinun. Vastaa kirjoittamalla sen aiheeseen."
    assert "ticket 1 claimed across roles (vertaisvalmentaja)" in caplog.messages
    await desk.sandbox.wait_until(lambda: "q:rel:1" in buttons(card))
    # Someone the bot cannot write to privately is asked on the card, as before.
    await desk.ask(7002, RPL_FI)
    card2 = await desk.card(2)
    desk.sandbox.blocked.add(JUKKA)
    await desk.sandbox.press(JUKKA, GROUP, card2["message_id"], "q:claim:2")
    await desk.sandbox.wait_until(lambda: "q:claim:2:sure" in buttons(card2))
    assert len(desk.sandbox.bot_messages(JUKKA)) == 1


# --- 6. a question in two languages is read with the words of both ------------------------------

MIXED_TEAMS = ("Hej, jag har problem med Teams: mötet startar inte and the recording fails "
               "every time")


@pytest.mark.parametrize("question", [
    MIXED_TEAMS,
    "Hej, jag har problem med Teams: mötet startar inte och inspelningen misslyckas varje gång",
    "Hi, I have a problem with Teams: the meeting does not start and the recording fails",
    "Hur delar jag min skärm in the Teams meeting? the participants cannot see anything",
])
def test_a_teams_meeting_that_fails_is_for_tvt_in_any_language_mix(
    router: Router, question: str,
) -> None:
    decision = router.route(question)
    assert (decision.role, decision.topic, decision.ask) == ("tvt", "teams", False)


def test_teams_the_program_is_no_team_in_a_phrase(router: Router) -> None:
    """`Teams` and `meeting` in one question are not the phrase `team meeting`, and the
    knowledge's `teams-möte` is Teams + möte."""
    assert router.route("The Teams meeting will not start").role == "tvt"
    assert router.route("Our team meeting always runs late").role == "luotsi"


def test_an_inflected_word_of_the_second_language_counts(router: Router) -> None:
    assert "recording" in router.seen_forms("mötet startar inte, the recordings are gone", "sv")


# --- a second probe: closing across roles, /forget, a helper removed ------------------------------

async def test_closing_another_roles_question_is_confirmed_and_the_asker_told_kindly(
    desk: Desk, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    await desk.ask(7001, RPL_FI, first_name="Eva")  # for a peer coach; Jukka is tvt
    card = await desk.card(1)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:close:1")
    # Asked of Jukka privately: the card is everyone's, and stays as it is.
    (asked_privately,) = await desk.to_user(JUKKA, 1)
    assert asked_privately["text"].endswith("suljetaanko silti?")
    assert buttons(asked_privately) == ["q:close:1:sure"]
    assert "q:claim:1" in buttons(card)
    assert (await desk.ticket(1)).status == TicketStatus.OPEN  # not yet
    # /close in the topic asks too, with a button of its own.
    thread = await desk.thread(1)
    await desk.sandbox.send(JUKKA, "/close", chat_id=GROUP, thread_id=thread)
    await desk.sandbox.wait_until(lambda: any(
        "q:close:1:sure" in buttons(m) for m in desk.sandbox.thread_messages(GROUP, thread)))
    asked = next(m for m in desk.sandbox.thread_messages(GROUP, thread)
                 if "q:close:1:sure" in buttons(m))
    assert asked["text"].startswith("#1 on tarkoitettu roolille")
    assert (await desk.ticket(1)).status == TicketStatus.OPEN
    await desk.sandbox.press(JUKKA, GROUP, asked["message_id"], "q:close:1:sure")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    await desk.sandbox.wait_until(lambda: "reply_markup" not in asked)
    assert "closed across roles" in caplog.text
    # Nobody answered: no rating asked for an answer never given.
    told = (await desk.to_user(7001, 2))[-1]
    assert told["text"].startswith("Kysymyksesi #1 suljettiin, eikä sinulle lähetetty vastausta")
    assert not any(b.startswith("rate:") for b in buttons(told))
    # The helper of the role closes an unanswered question at once, as before.
    await desk.ask(7002, RPL_FI, first_name="Ola")
    second = await desk.card(2)
    await desk.sandbox.press(MARI, GROUP, second["message_id"], "q:close:2")
    await desk.wait_ticket(2, lambda t: t.status == TicketStatus.CLOSED)
    # A colleague closing a question someone holds: the holder hears who, in the topic.
    await desk.ask(7003, RPL_FI, first_name="Pia")
    third = await desk.card(3)
    await desk.sandbox.press(MARI, GROUP, third["message_id"], "q:claim:3")
    await desk.wait_ticket(3, lambda t: t.status == TicketStatus.CLAIMED)
    await desk.sandbox.press(JUKKA, GROUP, third["message_id"], "q:close:3")
    sure = (await desk.to_user(JUKKA, 2))[-1]
    await desk.sandbox.press(JUKKA, JUKKA, sure["message_id"], "q:close:3:sure")
    await desk.wait_ticket(3, lambda t: t.status == TicketStatus.CLOSED)
    told_holder = (await desk.in_thread(3, 2))[-1]
    assert told_holder["text"].startswith("Jukka sulki kysymyksen #3, jota sinä hoidit.")
    assert mentioned(told_holder) == [MARI]


async def test_forget_takes_back_every_message_relayed_to_the_helpers(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI, first_name="Heikki")
    card = await desk.card(1)
    await claim(desk, MARI, card)
    await desk.to_user(7001, 2)
    thread = await desk.thread(1)
    follow = "Opiskelija on nyt työpaikalla, pitääkö HOKS päivittää heti?"
    await desk.sandbox.send(7001, follow)
    await desk.sandbox.send(7001, None, upload=Upload("photo", PNG_1x1, "hoks.png", "image/png"))
    await desk.sandbox.wait_until(lambda: len([
        m for m in desk.sandbox.thread_messages(GROUP, thread)
        if m.get("text") == follow or "photo" in m]) == 2)
    confirm = await desk.ask(7001, "/forget")
    await desk.sandbox.press(7001, 7001, confirm["message_id"], "forget:yes")
    removed = "Kysyjän viesti on poistettu hänen pyynnöstään."
    await desk.sandbox.wait_until(lambda: any(
        m.get("text") == removed for m in desk.sandbox.thread_messages(GROUP, thread)))
    await desk.sandbox.wait_until(lambda: not any(
        "photo" in m for m in desk.sandbox.thread_messages(GROUP, thread)))  # deleted
    assert not any(follow in (m.get("text") or "")
                   for m in desk.sandbox.thread_messages(GROUP, thread))
    await desk.sandbox.wait_until(lambda: "nimetön" in card["text"])


async def test_without_a_forum_forget_takes_back_the_follow_up_from_the_holder(
    database_url: str, knowledge: Knowledge, router: Router,
) -> None:
    async with open_desk(database_url, knowledge, router, forum=False) as desk:
        await desk.ask(7001, PROJECTOR, first_name="Eva")
        (card,) = await desk.to_user(JUKKA, 1)
        await desk.remembered(JUKKA, card)
        await desk.sandbox.send(JUKKA, "Kokeile toista kaapelia.", reply_to=card["message_id"])
        await desk.to_user(7001, 3)
        await desk.sandbox.send(7001, "Kaapeli vaihdettu, ei auttanut.")
        follow = (await desk.to_user(JUKKA, 2))[-1]
        assert follow["text"] == "Kaapeli vaihdettu, ei auttanut."
        await desk.remembered(JUKKA, follow)
        confirm = await desk.ask(7001, "/forget")
        await desk.sandbox.press(7001, 7001, confirm["message_id"], "forget:yes")
        await desk.sandbox.wait_until(
            lambda: follow["text"] == "Kysyjän viesti on poistettu hänen pyynnöstään.")


async def test_forget_by_a_helper_says_the_roster_entry_stays(desk: Desk) -> None:
    confirm = await desk.ask(MARI, "/forget")
    assert "auttajien listalla (nimesi ja roolisi) jäävät" in confirm["text"]
    await desk.sandbox.press(MARI, MARI, confirm["message_id"], "forget:yes")
    await desk.sandbox.wait_until(lambda: confirm["text"].startswith("Valmis"))
    assert "paitsi tietosi auttajien listalla" in confirm["text"]
    async with desk.services.db.session() as session:
        assert (await roster.helper(session=session, user_id=MARI)) is not None


async def test_a_removed_holder_is_named_and_a_release_calls_only_the_role(desk: Desk) -> None:
    await desk.ask(7001, RPL_FI, first_name="Eva")
    card = await desk.card(1)
    await claim(desk, PEKKA, card)
    services = desk.services
    async with services.db.session() as session:
        assert await people.remove(session=session, user_id=PEKKA, now=services.clock(),
                                   desk=services.desk) == [1]
    services.wake_sender()
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    thread = await desk.thread(1)
    await desk.sandbox.wait_until(lambda: any(
        "jonossa" in (m.get("text") or "") for m in desk.sandbox.thread_messages(GROUP, thread)))
    notice = next(m for m in desk.sandbox.thread_messages(GROUP, thread)
                  if "jonossa" in (m.get("text") or ""))
    assert notice["text"].startswith("Pekka poistettiin auttajista; kysymys #1 on taas jonossa.")
    assert set(mentioned(notice)) == {MARI, ANNA}
    # Jukka, the only tvt helper, releases a tvt question: no other role is called for it.
    await desk.ask(7002, PROJECTOR, first_name="Ola", language_code="fi")
    second = await desk.card(2)
    await desk.sandbox.press(JUKKA, GROUP, second["message_id"], "q:claim:2")
    await desk.wait_ticket(2, lambda t: t.claimed_by == JUKKA)
    topic = await desk.thread(2)
    await desk.sandbox.send(JUKKA, "/release", chat_id=GROUP, thread_id=topic)
    await desk.wait_ticket(2, lambda t: t.status == TicketStatus.OPEN)
    await desk.sandbox.wait_until(lambda: any(
        "palautti" in (m.get("text") or "") for m in desk.sandbox.thread_messages(GROUP, topic)))
    call = next(m for m in desk.sandbox.thread_messages(GROUP, topic)
                if "palautti" in (m.get("text") or ""))
    assert call["text"].startswith("Jukka palautti kysymyksen #2 jonoon.")
    assert mentioned(call) == []
