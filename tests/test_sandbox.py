"""The sandbox as a newcomer meets it with `make run`: its world survives a restart (the bot
answers again, the earlier conversation is still there), files keep their bytes, button answers
reach the page, and an empty month's report says so in words."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.config import Settings, load_settings
from bot.domain.reports import Period, monthly_report
from bot.report_formats import as_png, as_text
from bot.runner import SANDBOX_ADMIN, SANDBOX_CHANNEL, SANDBOX_GROUP, run_polling
from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, Upload
from bot.services import Services
from tests.test_bot_helpers import free_port

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d4ad450000000049454e44ae426082")


def sandbox_settings(folder: Path, port: int) -> Settings:
    """What `make run` uses without a token, in a folder of its own, but with the helpers'
    group paced as tests/conftest.py's `bot_running` paces sandboxes without flood limits
    (`make run`'s has none either): Telegram's 20 a minute would hold each group message after
    the fifth for 4 s, and the stories would wait for their topics and cards behind the earlier
    stories' ones."""
    return load_settings(database_url=f"sqlite+aiosqlite:///{folder / 'peerdesk.db'}",
                         telegram_token=None, sandbox_port=port, web_port=None,
                         admin_ids="", announce_channels="", helpers_chat_id=None,
                         digest_day=None, group_messages_per_minute=240)


@asynccontextmanager
async def make_run(folder: Path, port: int, migrated: Path | None = None
                   ) -> AsyncIterator[str]:
    """`make run` without a token (run_polling in this process) until the block ends. With
    `migrated` (tests/conftest.py's `sqlite_template`), a folder without a database starts with
    a copy of that one: where a test is not about the first start, its migration child (over a
    second of CPU) would only repeat what the template did once."""
    if migrated is not None and not (folder / "peerdesk.db").exists():
        shutil.copyfile(migrated, folder / "peerdesk.db")
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(sandbox_settings(folder, port), stop))
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as client:
        for _ in range(300):
            if task.done():
                task.result()
            try:
                async with client.get(f"{url}/sandbox/api/world") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        assert await task == 0


async def ask_and_wait(url: str, user: int, text: str, answers: int) -> list[dict]:
    """A staff member writes from the page; returns the chat once the bot has answered."""
    async with aiohttp.ClientSession() as client:
        await client.post(f"{url}/sandbox/api/users/{user}/messages",
                          json={"text": text, "first_name": "Sanna", "language_code": "fi"})
        for _ in range(200):
            async with client.get(f"{url}/sandbox/api/chats/{user}/messages") as response:
                chat = await response.json()
            if sum(1 for m in chat if m["from"]["is_bot"]) >= answers:
                return chat
            await asyncio.sleep(0.05)
    raise AssertionError(f"the bot did not answer: {chat}")


async def test_make_run_again_answers_and_remembers(tmp_path: Path) -> None:
    """make run on a machine's first start (an empty folder: the schema is migrated), ask,
    stop, make run again, ask again: answered, and the first talk is there."""
    port = free_port()
    async with make_run(tmp_path, port) as url:
        first = await ask_and_wait(url, 5001, "Miten HOKS päivitetään?", 1)
    state = json.loads((tmp_path / "sandbox" / "state.json").read_text())
    assert state["next_update"] > 1
    async with make_run(tmp_path, port) as url:
        second = await ask_and_wait(url, 5001, "Tiimipalaverit venyvät aina", 2)
        async with aiohttp.ClientSession() as client, \
                client.get(f"{url}/sandbox/api/world") as response:
            world = await response.json()
    assert second[: len(first)] == first  # the page shows the earlier conversation
    assert [m["message_id"] for m in second] == list(range(1, len(second) + 1))
    # Another matter from the same asker: the bot remembers #1 and asks whether this is new.
    assert "kysymykseesi #1, vai onko se uusi kysymys" in second[-1]["text"]
    # The sandbox defaults: a forum group, an announcement channel, an admin and a lead.
    assert [g["id"] for g in world["groups"]] == [SANDBOX_GROUP]
    assert [c["id"] for c in world["channels"]] == [SANDBOX_CHANNEL]
    labels = {p["id"]: p["label"] for p in world["people"]}
    assert "admin" in labels[SANDBOX_ADMIN] and labels[1004] == "lead"


async def test_update_ids_go_on_above_what_the_database_saw(tmp_path: Path,
                                                             sqlite_template: Path) -> None:
    """Even with the kept world removed, the bot's database is not asked to skip updates."""
    port = free_port()
    async with make_run(tmp_path, port, migrated=sqlite_template) as url:
        await ask_and_wait(url, 5001, "Miten HOKS päivitetään?", 1)
    (tmp_path / "sandbox" / "state.json").unlink()
    async with make_run(tmp_path, port) as url:
        chat = await ask_and_wait(url, 5001, "Tiimipalaverit venyvät aina", 1)
    assert "kysymykseesi #1, vai onko se uusi kysymys" in chat[-1]["text"]


async def test_the_kept_world_is_written_whole(tmp_path: Path) -> None:
    sandbox = Sandbox.open(tmp_path)
    sandbox.user(5001, "Sanna")
    await sandbox.send(5001, "Hei", upload=Upload("photo", PNG_1x1, "kuva.png", "image/png"))
    await sandbox.send(5001, "Moi")
    sandbox.save()
    leftovers = await asyncio.to_thread(lambda: list(tmp_path.rglob(".*")))
    assert not leftovers  # no half-written temporary files
    again = Sandbox.open(tmp_path)
    photo = again.messages[5001][0]["photo"][-1]
    assert (photo["width"], photo["height"]) == (1, 1)
    assert again.files[photo["file_id"]] == PNG_1x1
    assert again.messages[5001][1]["text"] == "Moi"
    assert again.messages[5001][0]["chat"] is again.chats[5001]
    pending = await again.send(5001, "Kolmas")
    assert pending["message_id"] == 3
    assert again._updates[-1]["update_id"] == 3


async def test_files_from_the_bot_and_the_page_can_be_fetched(tmp_path: Path) -> None:
    """sendPhoto and sendVoice keep their bytes; getFile and the download give them back, as
    Telegram's /file/bot<token>/<path> does."""
    from bot.sandbox.server import serve

    sandbox = Sandbox.open(tmp_path)
    sandbox.user(5001, "Sanna")
    runner = await serve(sandbox, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as client:
            form = aiohttp.FormData()
            form.add_field("chat_id", "5001")
            form.add_field("caption", "Kuvaaja")
            form.add_field("photo", PNG_1x1, filename="chart.png", content_type="image/png")
            async with client.post(f"{url}/bot{SANDBOX_TOKEN}/sendPhoto", data=form) as r:
                sent = (await r.json())["result"]
            file_id = sent["photo"][-1]["file_id"]
            async with client.post(f"{url}/bot{SANDBOX_TOKEN}/getFile",
                                   data={"file_id": file_id}) as r:
                path = (await r.json())["result"]["file_path"]
            async with client.get(f"{url}/file/bot{SANDBOX_TOKEN}/{path}") as r:
                assert await r.read() == PNG_1x1
            form = aiohttp.FormData()
            form.add_field("file", b"OggS voice", filename="aani.ogg", content_type="audio/ogg")
            form.add_field("reply_to", str(sent["message_id"]))
            async with client.post(f"{url}/sandbox/api/users/5001/messages", data=form) as r:
                voice = await r.json()
            assert voice["voice"]["mime_type"] == "audio/ogg"
            assert voice["reply_to_message"]["message_id"] == sent["message_id"]
            async with client.get(f"{url}/sandbox/files/{voice['voice']['file_id']}") as r:
                assert r.content_type == "audio/ogg" and await r.read() == b"OggS voice"
            async with client.post(f"{url}/bot{SANDBOX_TOKEN}/copyMessage", data={
                    "chat_id": "5001", "from_chat_id": "5001",
                    "message_id": str(voice["message_id"])}) as r:
                copied = (await r.json())["result"]["message_id"]
    finally:
        await runner.cleanup()
    assert sandbox.messages[5001][copied - 1]["voice"]["file_id"] == voice["voice"]["file_id"]


async def test_button_answers_reach_the_page(tmp_path: Path) -> None:
    from bot.sandbox.server import BOT_USER

    sandbox = Sandbox()
    sandbox.user(5001, "Sanna")
    message = sandbox._store(5001, {"from": BOT_USER, "text": "?", "reply_markup": {
        "inline_keyboard": [[{"text": "OK", "callback_data": "x"}]]}})
    query = await sandbox.press(5001, 5001, message["message_id"], "x")
    await sandbox.call("answerCallbackQuery", {"callback_query_id": query["id"],
                                               "text": "Valmis", "show_alert": False})
    await sandbox.call("answerCallbackQuery", {"callback_query_id": query["id"]})
    assert sandbox.notices == [{"id": 1, "user_id": 5001, "text": "Valmis", "alert": False}]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_empty_month_says_so(services: Services) -> None:
    period = Period.month("2026-11", services.settings.tz)
    async with services.db.session() as session:
        report = await monthly_report(session=session, period=period)
    assert as_text(report, services, "fi").splitlines()[1] == \
        "Kysymyksiä ei tullut jaksolla 2026-11."
    assert "No questions were asked in 2026-11." in as_text(report, services, "en")
    png = as_png(report, services, "sv")
    assert png.startswith(b"\x89PNG")


async def test_the_page_hears_of_a_change_at_once_and_is_let_go_at_a_stop() -> None:
    """/sandbox/api/changes: the version now, then the next change as it happens (a long poll,
    not a poll every fraction of a second); a stopping sandbox lets a waiting page go."""
    from bot.sandbox.server import serve

    sandbox = Sandbox()
    sandbox.user(5001, "Sanna")
    runner = await serve(sandbox, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/sandbox/api/changes"
    async with aiohttp.ClientSession() as client:
        try:
            async with client.get(url, params={"after": "x"}) as r:
                version = (await r.json())["version"]
            waiting = asyncio.create_task(client.get(url, params={"after": str(version)}))
            await asyncio.sleep(0.1)
            assert not waiting.done()
            await sandbox.send(5001, "Hei")
            async with asyncio.timeout(2):
                async with await waiting as r:
                    assert (await r.json())["version"] > version
                    version = (await r.json())["version"]
            waiting = asyncio.create_task(client.get(url, params={"after": str(version)}))
            await asyncio.sleep(0.1)
        finally:
            async with asyncio.timeout(5):
                await runner.cleanup()
        async with await waiting as r:  # answered, not cut off nor left for its 20 s
            assert r.status == 200
