"""The small things staff, helpers and leads meet on the way, each told as it happens: a
follow-up answered in its place, /mydata naming the language the bot uses, and the report
printed where command-line tools print."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.services import Services
from tests.test_bot_helpers import GROUP, JUKKA, Desk
from tests.test_conversation import ASKER, PROJECTOR
from tests.test_reports import seed


async def test_an_answer_to_a_follow_up_replies_to_the_follow_up(desk: Desk) -> None:
    question = await desk.sandbox.send(ASKER, PROJECTOR, first_name="Eva")
    card = await desk.card(1)
    await desk.sandbox.press(JUKKA, GROUP, card["message_id"], "q:claim:1")
    thread = await desk.thread(1)
    await desk.sandbox.send(JUKKA, "Kokeile toista HDMI-kaapelia.", chat_id=GROUP,
                            thread_id=thread)
    first = (await desk.to_user(ASKER, 3))[-1]
    assert first["reply_to_message"]["message_id"] == question["message_id"]
    follow_up = await desk.sandbox.send(ASKER, "Ei auttanut, kuva välkkyy edelleen.")
    await desk.sandbox.wait_until(lambda: any(
        "välkkyy" in (m.get("text") or "") for m in desk.sandbox.thread_messages(GROUP, thread)))
    await desk.sandbox.send(JUKKA, "Vaihda sitten virkistystaajuudeksi 60 Hz.", chat_id=GROUP,
                            thread_id=thread)
    second = (await desk.to_user(ASKER, 4))[-1]
    assert second["text"] == "Vaihda sitten virkistystaajuudeksi 60 Hz."
    assert second["reply_to_message"]["message_id"] == follow_up["message_id"]


@pytest.mark.parametrize(("language", "said"), [
    ("fi", "kieli: fi (Telegramin kieli)"), ("sv", "språk: sv (från Telegram)"),
    ("en", "language: en (from Telegram)")])
async def test_mydata_names_the_telegram_language_until_one_is_chosen(
    desk: Desk, language: str, said: str,
) -> None:
    await desk.ask(7002, "/team Tekniikka", first_name="Eva", language_code=language)
    mine = await desk.ask(7002, "/mydata", language_code=language)
    assert said in mine["text"]
    await desk.ask(7002, "/lang", language_code=language)
    chooser = desk.sandbox.bot_messages(7002)[-1]
    await desk.sandbox.press(7002, 7002, chooser["message_id"], "lang:fi")
    await desk.sandbox.wait_until(lambda: len(desk.sandbox.bot_messages(7002)) >= 4
                                  or "reply_markup" not in chooser)
    await asyncio.sleep(0.2)
    chosen = await desk.ask(7002, "/mydata", language_code=language)
    assert "kieli: fi ·" in chosen["text"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_report_csv_and_json_print_unless_a_file_is_named(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    await seed(services)
    monkeypatch.setenv("PEERDESK_DATABASE_URL", services.settings.database_url)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    month = ["report", "--month", "2026-11"]
    assert await asyncio.to_thread(main, [*month, "--format", "csv"]) == 0
    printed = capsysbinary.readouterr().out
    assert printed.startswith("\ufeffosio;rooli;aihe;2026-11;2026-10\r\n".encode())
    assert await asyncio.to_thread(main, [*month, "--format", "json"]) == 0
    assert capsysbinary.readouterr().out.startswith(b"{")
    assert list(here.iterdir()) == []  # nothing written into the current folder
    assert await asyncio.to_thread(main, [*month, "--format", "csv", "-o", "syksy.csv"]) == 0
    assert capsysbinary.readouterr().out == b"wrote syksy.csv\n"
    assert (here / "syksy.csv").read_bytes() == printed


async def test_the_texts_kept_for_save_as_an_answer_go_with_forget_and_retention(
    services: Services,
) -> None:
    from datetime import timedelta

    from sqlmodel import select

    from bot.domain import privacy
    from bot.domain.models import ReplyPart, Staff, Ticket

    now = services.clock()
    async with services.db.session() as session:
        session.add(Staff(telegram_id=7001, first_name="Eva"))
        mine = Ticket(asker_id=7001, asker_chat_id=7001, text="x", language="fi", topic="hoks",
                      role="vertaisvalmentaja", confidence=1, last_asker_message_id=5)
        other = Ticket(asker_id=7002, text="y", language="fi", topic="hoks",
                       role="vertaisvalmentaja", confidence=1)
        session.add_all([mine, other])
        await session.flush()
        session.add_all([ReplyPart(ticket_id=mine.id, at=now, text="Hei Eva!"),
                         ReplyPart(ticket_id=other.id, at=now - timedelta(days=400),
                                   text="vanha"),
                         ReplyPart(ticket_id=other.id, at=now, text="uusi")])
        await session.commit()
        await privacy.forget(session=session, telegram_id=7001, now=now, desk=services.desk)
        await session.commit()
        await privacy.purge_texts(session=session, now=now, days=365)
        await session.commit()
        kept = [p.text for p in await session.exec(select(ReplyPart))]
        await session.refresh(mine)
    assert kept == ["uusi"] and mine.last_asker_message_id is None
