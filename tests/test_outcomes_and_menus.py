"""What really happened to the month's questions, as /report tells it, and the command menus
each kind of person sees — through the sandbox and python-telegram-bot's real HTTP stack."""

from __future__ import annotations

import pytest

from bot.domain.models import TicketStatus
from tests.test_bot_helpers import ADMIN, GROUP, JUKKA, MARI, Desk
from tests.test_bot_reports import charts_drawn_small
from tests.test_conversation import PROJECTOR, buttons, claim_answer_close, say

STAFF_MENU = ["start", "help", "lang", "anon", "my", "team", "events", "hours", "mydata",
              "forget"]



async def test_a_month_with_each_outcome_is_counted_apart_in_the_report(
    desk: Desk, monkeypatch: pytest.MonkeyPatch,
) -> None:
    charts_drawn_small(monkeypatch)  # the words are what this test reads
    sandbox = desk.sandbox
    # 1. A helper answers and closes.
    await say(desk, PROJECTOR)
    await claim_answer_close(desk, 1, "Kokeile toista HDMI-kaapelia.")
    # 2. A self-service answer solves it.
    offered = await say(desk, "Unohdin salasanani, miten saan uuden?", user=7002)
    (helped,) = [b for b in buttons(offered) if b.startswith("ss:") and b.endswith(":y")]
    await sandbox.press(7002, 7002, offered["message_id"], helped)
    await desk.wait_ticket(2, lambda t: t.status == TicketStatus.CLOSED)
    # 3. The asker solves it themselves while it waits.
    ack = await say(desk, "Luokan 112 dokumenttikamera ei näy Teamsissa", user=7003)
    await sandbox.press(7003, 7003, ack["message_id"], "solve:3")
    await desk.wait_ticket(3, lambda t: t.status == TicketStatus.CLOSED)
    # 4. The asker erases their data while the question waits: withdrawn.
    await say(desk, "Miten kirjaan tunnustetun osaamisen HOKSiin?", user=7004)
    confirm = await say(desk, "/forget", user=7004)
    await sandbox.press(7004, 7004, confirm["message_id"], "forget:yes")
    await desk.wait_ticket(4, lambda t: t.withdrawn)
    # A fifth still waits: unanswered, in no outcome.
    await say(desk, "Miten jaan tiimin työt ensi jaksolle?", user=7005)

    await sandbox.send(MARI, "/report", chat_id=GROUP)
    await sandbox.wait_until(lambda: len(sandbox.bot_messages(GROUP)) >= 1 and any(
        "Raportti" in (m.get("text") or "") for m in sandbox.bot_messages(GROUP)))
    text = next(m["text"] for m in sandbox.bot_messages(GROUP) if "Raportti" in (
        m.get("text") or ""))
    assert "Miten kysymykset päättyivät:" in text
    for line in ("1 kysymykseen vastasi auttaja (+1)",
                 "1 kysymys ratkesi itsepalveluvastauksella (+1)",
                 "1 kysyjä ratkaisi kysymyksensä itse (+1)",
                 "1 kysymys peruttiin (kysyjä poisti tietonsa) (+1)"):
        assert line in text
    assert "Vielä vastaamatta: 1" in text


async def test_each_person_sees_the_commands_they_may_use(desk: Desk) -> None:
    """Staff see theirs; the helpers' group the helpers'; a helper, a coach, an admin (who is
    also an organiser) theirs and the staff's, in their own chat and language; /help agrees."""
    sandbox = desk.sandbox
    assert sandbox.menu(7001, "fi") == STAFF_MENU
    assert sandbox.menu(7001, "sv") == STAFF_MENU
    group = sandbox.menu(GROUP, "fi")
    assert group == ["queue", "mine", "close", "release", "answers", "log", "away", "back",
                     "report"]
    swedish = {c["command"]: c["description"] for c in sandbox.menus[(f"chat:{GROUP}", "sv")]}
    assert swedish["answers"] == "Sök ett självbetjäningssvar med ett ord"
    jukka = sandbox.menu(JUKKA)  # tvt: a helper, not a coach
    assert jukka[:len(STAFF_MENU)] == STAFF_MENU
    assert {"queue", "answers", "log", "release"} <= set(jukka) and "drafts" not in jukka
    mari = sandbox.menu(MARI)  # a peer coach reviews the drafts
    assert {"queue", "answers", "log", "drafts"} <= set(mari) and "newevent" not in mari
    admin = sandbox.menu(ADMIN)
    assert {"newevent", "bulletin", "attendees", "feedback", "materials", "drafts",
            "report"} <= set(admin) and "queue" not in admin
    assert len(admin) == len(set(admin))  # each command once
    descriptions = {c["command"]: c["description"]
                    for c in sandbox.menus[(f"chat:{ADMIN}", None)]}
    assert descriptions["materials"] == "Lähetä materiaalit tai tallenne tilaisuuden jälkeen"

    staff_help = await say(desk, "/help", user=7001)
    assert "/forget" in staff_help["text"] and "/queue" not in staff_help["text"]
    admin_help = await say(desk, "/help", user=ADMIN)
    for command in ("/materials", "/feedback", "/newevent", "/drafts", "/report"):
        assert command in admin_help["text"]
    assert "Järjestäjille:" in admin_help["text"]
    mari_help = await say(desk, "/help", user=MARI)
    for command in ("/answers", "/log", "/drafts", "/release"):
        assert command in mari_help["text"]


async def test_close_and_release_outside_a_topic_say_where_they_work(desk: Desk) -> None:
    for command in ("/close", "/release"):
        hint = await say(desk, command, user=JUKKA)
        assert hint["text"] == (f"Käytä komentoa {command} kysymyksen aiheessa tai "
                                "vastauksena sen korttiin.")
