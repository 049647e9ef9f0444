"""The aiohttp-based HTTP layer under python-telegram-bot: what PTB sends arrives as Telegram
expects it, and failures become PTB's own errors, without the token in them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, serve
from bot.telegram.request import AiohttpRequest

TOKEN_SECRET = SANDBOX_TOKEN.split(":", 1)[1]


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[tuple[Sandbox, str]]:
    world = Sandbox()
    world.user(501, "Eva")
    runner = await serve(world, "127.0.0.1", 0)
    try:
        yield world, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def bot(api: str, **timeouts: float) -> Bot:
    return Bot(SANDBOX_TOKEN, base_url=f"{api}/bot",
               request=AiohttpRequest(4, **timeouts), get_updates_request=AiohttpRequest())


async def test_text_buttons_and_files_arrive_as_telegram_expects(sandbox) -> None:
    world, api = sandbox
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    async with bot(api) as b:
        assert (await b.get_me()).username == "peerdesk_bot"
        sent = await b.send_message(501, "Hei äö 👋", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Ota", callback_data="claim:1")]]))
        document = await b.send_document(501, b"BEGIN:VCALENDAR", filename="kahvila.ics",
                                         caption="Kalenteriin")
    first, second = world.bot_messages(501)
    assert (first["text"], sent.text) == ("Hei äö 👋", "Hei äö 👋")
    assert first["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "claim:1"
    assert second["document"]["file_name"] == "kahvila.ics" == document.document.file_name
    assert world.files[second["document"]["file_id"]] == b"BEGIN:VCALENDAR"


async def test_requests_in_parallel_share_the_pool(sandbox) -> None:
    world, api = sandbox
    async with bot(api) as b:
        await asyncio.gather(*(b.send_message(501, f"viesti {n}") for n in range(40)))
    assert sorted(m["text"] for m in world.bot_messages(501)) == sorted(
        f"viesti {n}" for n in range(40))


async def test_a_server_that_does_not_answer_times_out() -> None:
    gave_up = asyncio.Event()

    async def silent(_: web.Request) -> web.Response:
        await gave_up.wait()  # answers only once the client has given up
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/{path:.*}", silent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        request = AiohttpRequest(read_timeout=0.2)
        async with request:
            with pytest.raises(TimedOut):
                await request.post(f"http://127.0.0.1:{runner.addresses[0][1]}/bot{SANDBOX_TOKEN}"
                                   "/getMe")
    finally:
        gave_up.set()  # the server's shutdown waits for its handler
        await runner.cleanup()


async def test_network_errors_become_network_errors_without_the_token() -> None:
    request = AiohttpRequest()
    async with request:
        for url in (f"http://127.0.0.1:1/bot{SANDBOX_TOKEN}/getMe",  # nobody listens
                    f"http://127.0.0.1:99999/bot{SANDBOX_TOKEN}/getMe"):  # not a URL at all
            with pytest.raises(NetworkError) as raised:
                await request.post(url)
            assert not isinstance(raised.value, TimedOut)
            assert TOKEN_SECRET not in str(raised.value)
            assert raised.value.__cause__ is None and raised.value.__suppress_context__


async def test_a_request_before_initialize_is_refused() -> None:
    with pytest.raises(NetworkError, match="not initialized"):  # PTB wraps it, as for httpx
        await AiohttpRequest().post(f"http://127.0.0.1:1/bot{SANDBOX_TOKEN}/getMe")


async def test_the_sandbox_page_api_answers_bad_input_with_400(sandbox) -> None:
    import aiohttp

    world, api = sandbox
    async with aiohttp.ClientSession() as client:
        for body in ("{not json", "[1, 2]"):
            async with client.post(f"{api}/sandbox/api/users/501/messages", data=body) as r:
                assert r.status == 400
        async with client.post(f"{api}/sandbox/api/users/501/messages",
                               json={"text": "Hei"}) as r:
            assert r.status == 200 and (await r.json())["text"] == "Hei"
    assert [m["text"] for m in world.messages[501]] == ["Hei"]
