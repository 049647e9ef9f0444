"""The sandbox: the parts of the Telegram Bot API that peerdesk uses, served by aiohttp.

Bot side, as Telegram: `POST /bot{token}/{method}` with form fields (non-strings JSON-encoded, as
python-telegram-bot sends them), answering `{"ok": true, "result": ...}` or Telegram's errors.
Person side, for the web page and the tests: `/sandbox/api/...` lets a user write, press buttons
and edit, and lists every chat's messages. Faults (429 with retry_after, 5xx) can be injected.

One idea a module, each importing only those before it:
    protocol.py   the sandbox's bot, Telegram's limits and errors
    flood.py      Telegram's flood limits (30 a second, 20 a minute to a group), when switched on
    world.py      the state: people, chats, messages, topics, files, updates; kept in a folder
    people.py     what people do: write, edit, press, add the bot to a group
    bot_api.py    the Bot API methods the bot calls, with faults and limits
    page.py       the web page and the people's JSON API behind it
    server.py     this: `Sandbox` (all of them as one object), its HTTP app, `serve`
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.sandbox.bot_api import BotApi
from bot.sandbox.page import Page, file_response
from bot.sandbox.people import People, Upload
from bot.sandbox.protocol import BOT_USER, SANDBOX_TOKEN, ApiError

__all__ = ["BOT_USER", "SANDBOX_TOKEN", "ApiError", "Sandbox", "Upload", "serve"]

# Fields python-telegram-bot sends as plain strings; everything else arrives JSON-encoded.
_STRING_FIELDS = {"text", "caption", "callback_query_id", "parse_mode", "url", "name",
                  "description", "short_description", "language_code", "title", "secret_token",
                  "emoji", "icon_custom_emoji_id", "file_id"}


class Sandbox(BotApi, People):
    """The fake Telegram: its world (bot/sandbox/world.py), what people do in it (people.py)
    and the Bot API the bot calls (bot_api.py), served over HTTP with the page (page.py)."""

    def app(self) -> web.Application:
        app = web.Application()
        app.on_startup.append(self._open_for_polls)
        app.on_shutdown.append(self._wake_pollers)
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._bot_file)
        Page(self).add_to(app)
        return app

    async def _open_for_polls(self, _: web.Application) -> None:
        self._closing = False  # the same sandbox may be served again (a restarted bot)

    async def _wake_pollers(self, _: web.Application) -> None:
        """Shutting down: a long poll in progress returns now, not after its timeout."""
        self._closing = True
        async with self.changed:
            self._notify()

    async def _bot_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        params: dict[str, Any] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                params = await request.json()
            else:
                for key, value in (await request.post()).items():
                    if isinstance(value, str) and key not in _STRING_FIELDS:
                        try:
                            value = json.loads(value)
                        except ValueError:
                            pass
                    params[key] = value
        params.update({k: v for k, v in request.query.items() if k not in params})
        try:
            result = await self.call(request.match_info["method"], params)
        except ApiError as exc:
            return exc.response()
        return web.json_response({"ok": True, "result": result})

    async def _bot_file(self, request: web.Request) -> web.Response:
        """A download as the bot makes it after getFile: /file/bot{token}/{file_path}."""
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        path = request.match_info["path"]
        file_id = next((f for f, info in self.file_info.items() if info["path"] == path), "")
        return file_response(self, file_id)


async def serve(sandbox: Sandbox, host: str, port: int) -> web.AppRunner:
    """Start the sandbox's HTTP server; the caller cleans up the returned runner."""
    runner = web.AppRunner(sandbox.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
