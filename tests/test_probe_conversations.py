"""Chat habits a black-box probe found, told as staff live them: a "hei" before the question, a
self-service answer that did not help after all, a detail sent while the bot asks where a
message belongs, a "kiitos" after a real comment, and the small words around them. Through the
sandbox and PTB's real HTTP client, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.domain.intake import chat
from bot.domain.models import Staff, TicketStatus
from bot.domain.smalltalk import Kind
from bot.sandbox.server import Upload
from bot.telegram.keyboards import a_role
from tests.test_bot_helpers import GROUP, JUKKA, Desk
from tests.test_conversation import (
    ASKER,
    PROJECTOR,
    PNG_1x1,
    buttons,
    claim_answer_close,
    say,
    tickets,
)

TEAMS = "Teams-kokous ei käynnisty ja tallennus epäonnistuu"



# --- 1. small talk is no question ----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "hei", "Hei hei!", "moi", "moikka", "Terve", "kiitti", "Kiitos!", "?", "👍", "!!", "Hej!",
    "hejsan", "tack", "Hello", "Thanks!", "Hi, is anyone there?", "onko ketään paikalla?",
    "Onko siellä ketään?", "Är det någon där?", "Moi kaikille", "Good morning"])
def test_greetings_thanks_and_lone_marks_are_small_talk(text: str) -> None:
    assert chat(text) is not None


@pytest.mark.parametrize("text", [
    "hei, wilma ei toimi", "Hi, is anyone there who knows Excel?", "Apua, projektori ei toimi",
    "Hei, onko sinulla hetki aikaa?", "Kiitos, mutta miten liitän kuvan?", "HOKS?"])
def test_a_content_word_makes_a_question(text: str) -> None:
    assert chat(text) is None


def test_small_talk_says_its_kind_and_language() -> None:
    assert chat("Hej!") == chat("hejsan")
    assert (chat("Hej!") or pytest.fail()).language == "sv"
    assert (chat("Hi, is anyone there?") or pytest.fail()).language == "en"
    assert (chat("kiitti") or pytest.fail()).kind is Kind.THANKS
    assert (chat("👍") or pytest.fail()).language is None


async def test_new_staff_saying_hello_get_a_warm_answer_and_no_ticket(desk: Desk) -> None:
    hei = await say(desk, "hei", user=7101, language_code="fi")
    assert hei["text"] == ("Hei! Olen täällä — kirjoita kysymyksesi, niin välitän sen oikealle "
                           "kollegalle.")
    assert "reply_markup" not in hei
    mark = await say(desk, "?", user=7102, language_code="fi")
    assert mark["text"].startswith("Hei! Olen täällä")
    thumb = await say(desk, "👍", user=7103, language_code="en")
    assert thumb["text"].startswith("Hi! I am here — write your question")
    thanks = await say(desk, "kiitos", user=7104, language_code="fi")
    assert thanks["text"].startswith("Ole hyvä! Olen täällä aina, kun tarvitset apua")
    # The greeting's own language, when the person has not chosen one with /lang.
    hej = await say(desk, "Hej!", user=7105, language_code="fi")
    assert hej["text"].startswith("Hej! Jag är här — skriv din fråga")
    anyone = await say(desk, "Hi, is anyone there?", user=7106, language_code="fi")
    assert anyone["text"].startswith("Hi! I am here")
    paikalla = await say(desk, "onko ketään paikalla?", user=7107, language_code="sv")
    assert paikalla["text"].startswith("Hei! Olen täällä")
    assert await tickets(desk) == []
    assert desk.sandbox.topics.get(GROUP, {}) == {}  # no helper was called


async def test_hello_then_the_question_makes_one_routed_ticket(desk: Desk) -> None:
    await say(desk, "Moikka!", language_code="fi")
    ack = await say(desk, PROJECTOR)
    assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #1.")
    (ticket,) = await tickets(desk)
    assert ticket.role == "tvt" and ticket.text == PROJECTOR
    # A greeting with a question in it is a question.
    await say(desk, "hei, wilma ei toimi", user=7108)
    assert len(await tickets(desk)) == 2


# --- 2. "This helped", then it did not -----------------------------------------------------------

async def test_it_did_not_help_after_all_reopens_the_question_for_the_helpers(
    desk: Desk,
) -> None:
    offered = await say(desk, TEAMS, language_code="fi")
    assert "ss:1:y" in buttons(offered)
    await desk.sandbox.press(ASKER, ASKER, offered["message_id"], "ss:1:y")
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED and t.self_served)
    await desk.to_user(ASKER, 2)
    desk.clock.advance(seconds=30)
    again = await say(desk, "Ei se sittenkään toiminut, kokous ei edes käynnisty")
    assert again["text"].startswith("Harmi, ettei vastaus sittenkään auttanut. Avasin "
                                    "kysymyksesi #1 uudelleen")
    assert "TVT-tukihenkilö" in again["text"]
    (ticket,) = await tickets(desk)
    assert (ticket.status, ticket.self_served, ticket.closed_at) == (TicketStatus.OPEN, False,
                                                                     None)
    card = await desk.card(1)
    assert TEAMS in card["text"] and "kokous ei edes käynnisty" in card["text"]


async def test_a_reply_to_the_answer_always_reopens_it(desk: Desk) -> None:
    offered = await say(desk, TEAMS, language_code="fi")
    await desk.sandbox.press(ASKER, ASKER, offered["message_id"], "ss:1:y")
    await desk.to_user(ASKER, 2)
    desk.clock.advance(hours=5)  # long after the conversation window: the reply says which
    again = await say(desk, "Tämä ei auttanut", reply_to=offered["message_id"])
    assert "Avasin kysymyksesi #1 uudelleen" in again["text"]
    ticket = await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
    assert ticket.text.endswith("Tämä ei auttanut")
    await desk.card(1)
    # A thank-you after "This helped" stays a thank-you; another matter is a new question.
    thanks = await say(desk, "Tack!", user=7109, language_code="sv")
    assert thanks["text"].startswith("Varsågod!")


# --- 3. details while "Add to #N / New question" waits -------------------------------------------

async def test_a_detail_sent_while_asked_goes_with_the_message_and_the_choice(
    desk: Desk,
) -> None:
    await say(desk, "Miten jaan tiimin työt?", language_code="fi")
    assert (await desk.ticket(1)).role == "luotsi"
    asked = await say(desk, "Wilma ei aukea kun kirjaudun")
    assert asked["text"] == "Liittyykö tämä kysymykseesi #1, vai onko se uusi kysymys?"
    count = len(desk.sandbox.bot_messages(ASKER))
    await desk.sandbox.send(ASKER, "Virheilmoitus sanoo 'väärä käyttäjätunnus tai salasana'")
    await desk.sandbox.wait_until(lambda: asked["text"].startswith("Liittyvätkö nämä 2 viestiä"))
    assert len(desk.sandbox.bot_messages(ASKER)) == count  # one question, updated
    new = next(b for b in buttons(asked) if b.startswith("cn:"))
    await desk.sandbox.press(ASKER, ASKER, asked["message_id"], new)
    ack = (await desk.to_user(ASKER, count + 1))[-1]
    assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #2.")
    _, second = await tickets(desk)
    assert second.role == "tvt"
    assert second.text == ("Wilma ei aukea kun kirjaudun\n\n"
                           "Virheilmoitus sanoo 'väärä käyttäjätunnus tai salasana'")
    assert "reply_markup" not in asked


async def test_adding_to_the_question_takes_the_detail_along(desk: Desk) -> None:
    await say(desk, "Miten jaan tiimin työt?", language_code="fi")
    asked = await say(desk, "Wilma ei aukea kun kirjaudun")
    await desk.sandbox.send(ASKER, "Virheilmoitus sanoo 'väärä käyttäjätunnus tai salasana'")
    await desk.sandbox.wait_until(lambda: asked["text"].startswith("Liittyvätkö nämä"))
    join = next(b for b in buttons(asked) if b.startswith("cj:"))
    await desk.sandbox.press(ASKER, ASKER, asked["message_id"], join)
    topic = await desk.in_thread(1, 3)
    # (Both reach the helpers; in which order two copies queued a moment apart are sent is
    # the sender's to keep, and under load it does not always.)
    assert sorted(m.get("text") or "" for m in topic[1:3]) == [
        "Virheilmoitus sanoo 'väärä käyttäjätunnus tai salasana'", "Wilma ei aukea kun kirjaudun"]
    assert len(await tickets(desk)) == 1


# --- 4. a later "kiitos" keeps the real comment --------------------------------------------------

async def test_a_bare_thank_you_does_not_replace_the_comment(desk: Desk) -> None:
    await say(desk, PROJECTOR, language_code="fi")
    closing = await claim_answer_close(desk, 1, "Valitse lähteeksi HDMI 2.")
    before = len(desk.sandbox.bot_messages(ASKER))
    await desk.sandbox.press(ASKER, ASKER, closing["message_id"], "rate:1:5")
    prompt = await desk.remembered(ASKER, (await desk.to_user(ASKER, before + 1))[-1])
    comment = "Nopea ja selkeä apu, kiitos Jukka!"
    passed = await say(desk, comment, reply_to=prompt["message_id"])
    assert passed["text"] == "Kiitos, välitin kommenttisi eteenpäin."
    welcome = await say(desk, "kiitos")
    assert welcome["text"].startswith("Ole hyvä!")
    assert (await desk.ticket(1)).feedback == comment
    more = await say(desk, "Ja ohje oli tosi selkeä.")
    assert more["text"] == "Kiitos, välitin kommenttisi eteenpäin."
    ticket = await desk.wait_ticket(1, lambda t: t.feedback != comment)
    assert ticket.feedback == f"{comment}\n\nJa ohje oli tosi selkeä."
    assert len(await tickets(desk)) == 1


# --- 5.–10. the small words ----------------------------------------------------------------------

async def test_mydata_and_my_speak_in_words(desk: Desk) -> None:
    await say(desk, PROJECTOR, language_code="fi")
    mydata = await say(desk, "/mydata")
    line = next(x for x in mydata["text"].splitlines() if x.startswith("#1 · "))
    assert line.endswith(" · odottaa auttajaa"), line
    assert " · open" not in mydata["text"]
    mine = await say(desk, "/my")
    assert mine["text"].splitlines()[1].endswith(" · odottaa auttajaa")


async def test_a_rating_button_after_a_reopen_says_so_and_goes(desk: Desk) -> None:
    await say(desk, PROJECTOR, language_code="fi")
    closing = await claim_answer_close(desk, 1, "Kokeile toista kaapelia.")
    await say(desk, "Kuva katosi taas", reply_to=closing["message_id"])
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLAIMED)
    await desk.sandbox.press(ASKER, ASKER, closing["message_id"], "rate:1:5")
    await desk.sandbox.wait_until(lambda: "reply_markup" not in closing)
    assert any(a.startswith("Kysymys #1 avattiin uudelleen (Jukka hoitaa sitä)")
               for a in desk.answers()), desk.answers()
    assert (await desk.ticket(1)).rating is None


async def test_a_role_button_after_forget_says_so_and_goes(desk: Desk) -> None:
    unclear = await say(desk, "Minulla olisi kysymys, ehditkö?", language_code="fi")
    assert "role:1:unsure" in buttons(unclear)
    confirm = await say(desk, "/forget")
    await desk.sandbox.press(ASKER, ASKER, confirm["message_id"], "forget:yes")
    await desk.sandbox.wait_until(lambda: confirm["text"].startswith("Valmis"))
    await desk.sandbox.press(ASKER, ASKER, unclear["message_id"], "role:1:tvt")
    await desk.sandbox.wait_until(lambda: "reply_markup" not in unclear)
    assert any(a.startswith("Tämä kysymys on peruttu") for a in desk.answers()), desk.answers()


async def test_forget_can_be_cancelled(desk: Desk) -> None:
    await say(desk, PROJECTOR, language_code="fi")
    confirm = await say(desk, "/forget")
    assert buttons(confirm) == ["forget:yes", "forget:no"]
    await desk.sandbox.press(ASKER, ASKER, confirm["message_id"], "forget:no")
    await desk.sandbox.wait_until(lambda: confirm["text"].startswith("Peruttu"))
    assert "reply_markup" not in confirm
    async with desk.services.db.session() as session:
        assert await session.get(Staff, ASKER) is not None
    assert (await desk.ticket(1)).text == PROJECTOR


async def test_an_uncaptioned_picture_has_a_placeholder_on_its_card(desk: Desk) -> None:
    asked = await say(desk, None, language_code="fi",
                      upload=Upload("photo", PNG_1x1, "virhe.png", "image/png"))
    await desk.sandbox.press(ASKER, ASKER, asked["message_id"], "role:1:tvt")
    card = await desk.card(1)
    assert ("Odottaa auttajaa\n\n(ei tekstiä: kuva, ääniviesti tai tiedosto tulee perässä)"
            in card["text"]), card["text"]


async def test_english_names_a_role_in_a_sentence(desk: Desk) -> None:
    ack = await say(desk, "The projector in my classroom shows no picture",
                    language_code="en")
    assert "An ICT support person will answer you here." in ack["text"]
    services = desk.services
    assert [a_role(services, r, "en") for r in ("vertaisvalmentaja", "luotsi")] == [
        "A peer coach", "A team pilot (luotsi)"]
    assert a_role(services, "luotsi", "fi") == "Luotsi"


async def test_a_poor_rating_asks_what_could_have_gone_better(desk: Desk) -> None:
    await say(desk, PROJECTOR, language_code="fi")
    closing = await claim_answer_close(desk, 1, "Kokeile toista kaapelia.")
    before = len(desk.sandbox.bot_messages(ASKER))
    await desk.sandbox.press(ASKER, ASKER, closing["message_id"], "rate:1:2")
    prompt = (await desk.to_user(ASKER, before + 1))[-1]
    assert "Mikä olisi voinut mennä paremmin?" in prompt["text"]
    assert "terveisesi" not in prompt["text"]
    await desk.remembered(ASKER, prompt)
    await say(desk, "Vastaus tuli vasta seuraavana päivänä.", reply_to=prompt["message_id"])
    await desk.sandbox.wait_until(lambda: any(
        "Vastaus tuli vasta seuraavana päivänä." in (m.get("text") or "")
        for m in desk.sandbox.bot_messages(GROUP)))


# --- a second probe: anonymity, a close with no answer, /forget ----------------------------------

MEETINGS = "Our team meetings always run over time. How could we keep them shorter?"
COLLEAGUE = ("I feel my colleague in our team is not doing his share of the work. How should I "
             "bring it up?")


async def test_a_message_written_after_anon_does_not_join_a_named_question(desk: Desk) -> None:
    """The kinder, simpler rule: no question to answer first. What is written anonymously
    never lands under the asker's name; it becomes a new, anonymous question, and the
    acknowledgement says plainly why (and how to add to the named one on purpose)."""
    await say(desk, MEETINGS, first_name="John", language_code="en")
    assert (await desk.ticket(1)).anonymous is False
    anon = await say(desk, "/anon")
    assert "helpers will not see your name" in anon["text"]
    ack = await say(desk, COLLEAGUE)
    assert "Added to your question" not in ack["text"]
    assert "#2" in ack["text"]
    assert "Your question #1 shows your name, so I did not add this to it: this is a new, " \
           "anonymous question." in ack["text"], ack["text"]
    first, second = await tickets(desk)
    assert first.text == MEETINGS and not first.anonymous
    assert second.text == COLLEAGUE and second.anonymous
    thread = await desk.thread(1)
    assert not any(COLLEAGUE in (m.get("text") or "")
                   for m in desk.sandbox.thread_messages(GROUP, thread))
    # More anonymous words go with the anonymous question.
    added = await say(desk, "Also, he is often late for the meetings.")
    assert "#2" in added["text"] and "new, anonymous" not in added["text"]
    assert len(await tickets(desk)) == 2
    # Named again, nothing is revealed by joining the anonymous question.
    await say(desk, "/anon")
    again = await say(desk, "And he does not answer emails either.")
    assert "#2" in again["text"] and len(await tickets(desk)) == 2
    assert (await desk.ticket(2)).anonymous


async def test_a_question_closed_unanswered_asks_no_rating(desk: Desk) -> None:
    await say(desk, PROJECTOR, first_name="Eva", language_code="fi")
    await desk.card(1)
    thread = await desk.thread(1)
    await desk.sandbox.send(JUKKA, "/close", chat_id=GROUP, thread_id=thread)  # his own role
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.CLOSED)
    told = (await desk.to_user(ASKER, 2))[-1]
    assert told["text"].startswith("Kysymyksesi #1 suljettiin, eikä sinulle lähetetty "
                                   "vastausta. Jos tarvitset yhä apua, kirjoita uudelleen")
    assert "rate:" not in str(told.get("reply_markup"))
    assert "merkitsi" not in told["text"]
    # A reply to it reopens the question, as a reply to a closing message does.
    await desk.remembered(ASKER, told)
    await say(desk, "Kuva ei vieläkään näy", reply_to=told["message_id"])
    await desk.wait_ticket(1, lambda t: t.status == TicketStatus.OPEN)
