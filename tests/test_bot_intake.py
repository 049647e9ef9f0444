"""Staff ask in chat: the story told through the sandbox and PTB's real HTTP client."""

from __future__ import annotations

from sqlmodel import select

from bot.domain.models import Ticket, TicketStatus, TopicLog
from tests.conftest import Running


async def tickets(running: Running) -> list[Ticket]:
    async with running.services.db.session() as session:
        return list(await session.exec(select(Ticket).order_by(Ticket.id)))


async def test_start_greets_in_the_users_language_and_sets_the_menu(running: Running) -> None:
    reply = await running.ask(7001, "/start", first_name="Eva", language_code="sv")
    assert reply["text"].startswith("Hej Eva!")
    assert "Kamratcoach" in reply["text"]
    assert {None, "fi", "sv", "en"} <= set(running.sandbox.commands)
    assert running.sandbox.commands["sv"][0]["command"] == "start"


async def test_questions_in_three_languages_become_tickets_with_acknowledgements(
    running: Running,
) -> None:
    fi = await running.ask(7001, "Miten tiimin työnjako kannattaa sopia?", language_code="fi")
    sv = await running.ask(7002, "Vem bedömer yrkesprovet på arbetsplatsen?", language_code="sv")
    en = await running.ask(7003, "The projector in my classroom shows no picture",
                           language_code="en")
    assert fi["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #1.")
    assert "Luotsi vastaa" in fi["text"]
    assert sv["text"].startswith("Tack! Din fråga har sparats som #2.")
    assert "Kamratcoach svarar" in sv["text"]
    assert en["text"].startswith("Thank you! Your question is saved as #3.")
    assert "ICT support person will answer" in en["text"]
    stored = await tickets(running)
    assert [(t.role, t.language, t.status) for t in stored] == [
        ("luotsi", "fi", TicketStatus.OPEN),
        ("vertaisvalmentaja", "sv", TicketStatus.OPEN),
        ("tvt", "en", TicketStatus.OPEN),
    ]
    async with running.services.db.session() as session:
        logged = list(await session.exec(select(TopicLog).order_by(TopicLog.id)))
    assert [(row.role, row.topic) for row in logged] == [
        ("luotsi", "division_of_work"), ("vertaisvalmentaja", "assessment"), ("tvt", "devices")]


async def test_an_unclear_question_asks_the_user_to_choose(running: Running) -> None:
    reply = await running.ask(7001, "Hei, onko sinulla hetki aikaa?", language_code="fi")
    assert "valitsethan" in reply["text"]
    buttons = [row[0]["callback_data"] for row in reply["reply_markup"]["inline_keyboard"]]
    assert sorted(b.split(":")[2] for b in buttons[:3]) == ["luotsi", "tvt", "vertaisvalmentaja"]
    assert buttons[3] == "role:1:unsure"  # "En tiedä", last
    assert "Luotsi: tiimipalaverit, työnjako" in reply["text"]  # each role's one line
    async with running.services.db.session() as session:
        assert list(await session.exec(select(TopicLog))) == []  # logged once the role is known
    await running.sandbox.press(7001, 7001, reply["message_id"], "role:1:luotsi")
    await running.sandbox.wait_for(7001)
    async with running.sandbox.changed:
        await running.sandbox.changed.wait_for(lambda: "Luotsi vastaa" in reply["text"])
    (ticket,) = await tickets(running)
    assert (ticket.role, ticket.routing) == ("luotsi", "chosen")


async def test_a_self_service_answer_is_offered_and_can_close_the_ticket(
    running: Running,
) -> None:
    reply = await running.ask(7001, "Unohdin salasanani, miten saan uuden?", language_code="fi")
    assert "intra.example.fi/salasana" in reply["text"]
    (ticket,) = await tickets(running)
    assert ticket.status == TicketStatus.OFFERED  # stored before the answer was shown
    await running.sandbox.press(7001, 7001, reply["message_id"], "ss:1:y")
    solved = await running.sandbox.wait_for(7001, 2)
    assert "ratkaistuksi" in solved[-1]["text"]
    (ticket,) = await tickets(running)
    assert (ticket.status, ticket.self_served) == (TicketStatus.CLOSED, True)


async def test_still_asking_after_the_self_service_answer_queues_the_ticket(
    running: Running,
) -> None:
    reply = await running.ask(7003, "I forgot my password", language_code="en")
    await running.sandbox.press(7003, 7003, reply["message_id"], "ss:1:n")
    queued = await running.sandbox.wait_for(7003, 2)
    assert "ICT support person will answer" in queued[-1]["text"]
    (ticket,) = await tickets(running)
    assert (ticket.status, ticket.self_served) == (TicketStatus.OPEN, False)


async def test_anonymous_asking_hides_the_name(running: Running) -> None:
    toggled = await running.ask(7001, "/anon", language_code="en", first_name="Eva")
    assert "Anonymous asking is on" in toggled["text"]
    reply = await running.ask(7001, "How do I update a student's HOKS?")
    assert "Your name is not shown to the helpers." in reply["text"]
    # No anonymity button, only "Solved it myself".
    assert [b["callback_data"] for row in reply["reply_markup"]["inline_keyboard"]
            for b in row] == ["solve:1"]
    (ticket,) = await tickets(running)
    assert ticket.anonymous


async def test_one_question_made_anonymous_with_its_button(running: Running) -> None:
    reply = await running.ask(7001, "Miten tiimipalaveri kannattaa fasilitoida?")
    await running.sandbox.press(7001, 7001, reply["message_id"], "anon:1")
    async with running.sandbox.changed:
        await running.sandbox.changed.wait_for(lambda: "Nimeäsi ei näytetä" in reply["text"])
    (ticket,) = await tickets(running)
    assert ticket.anonymous


async def test_someone_elses_button_is_refused_and_changes_nothing(running: Running) -> None:
    reply = await running.ask(7001, "Miten tiimipalaveri kannattaa fasilitoida?")
    running.sandbox.user(7099, "Intruder")
    await running.sandbox.press(7099, 7001, reply["message_id"], "anon:1")
    for _ in range(100):
        if any(m == "answerCallbackQuery" for m, _ in running.sandbox.calls):
            break
        await __import__("asyncio").sleep(0.05)
    answer = next(p for m, p in running.sandbox.calls if m == "answerCallbackQuery")
    assert answer["show_alert"] is True
    (ticket,) = await tickets(running)
    assert not ticket.anonymous


async def test_lang_changes_the_language_of_later_answers(running: Running) -> None:
    prompt = await running.ask(7001, "/lang", language_code="fi")
    await running.sandbox.press(7001, 7001, prompt["message_id"], "lang:sv")
    async with running.sandbox.changed:
        await running.sandbox.changed.wait_for(
            lambda: prompt["text"] == "Jag talar svenska med dig.")
    help_text = await running.ask(7001, "/help")
    assert help_text["text"].startswith("Skriv din fråga")


async def test_bad_input_gets_a_kind_answer_and_stores_nothing(running: Running) -> None:
    sandbox = running.sandbox
    # (A message over the length limit is a question kept whole: tests/test_dialogs.py.)
    blank = await running.ask(7001, "   ")
    assert "ei ollut tekstiä" in blank["text"]
    await sandbox.send(7001, kind="sticker")
    sticker = (await sandbox.wait_for(7001, 2))[-1]
    assert "Kiitos tarrasta" in sticker["text"]
    unknown = await running.ask(7001, "/teleport")
    assert "En tunne tätä komentoa" in unknown["text"]
    assert await tickets(running) == []


async def test_an_edited_question_is_noticed(running: Running) -> None:
    await running.ask(7001, "Miten päivitän HOKSin?")
    original = running.sandbox.messages[7001][0]
    await running.sandbox.edit(7001, original["message_id"], "Miten päivitän eHOKSin?")
    notice = (await running.sandbox.wait_for(7001, 2))[-1]
    assert "muokkasit viestiä" in notice["text"]
    assert len(await tickets(running)) == 1


async def test_group_messages_are_ignored(running: Running) -> None:
    running.sandbox.group(-100500, "Staff room")
    running.sandbox.user(7001)
    await running.sandbox.send(7001, "Miten päivitän HOKSin?", chat_id=-100500)
    await running.ask(7001, "/help")  # a private message after it: the group one was handled
    assert running.sandbox.bot_messages(-100500) == []
    assert await tickets(running) == []


async def test_a_failing_bot_api_is_retried_and_the_acknowledgement_arrives(
    running: Running,
) -> None:
    running.sandbox.faults += [("sendMessage", 500, None), ("sendMessage", 429, 1)]
    reply = await running.ask(7001, "Miten päivitän HOKSin?")
    assert reply["text"].startswith("Kiitos!") or "HOKS" in reply["text"]
    sends = [m for m, _ in running.sandbox.calls if m == "sendMessage"]
    assert len(sends) == 3  # failed twice, delivered once
    assert len(running.sandbox.bot_messages(7001)) == 1
