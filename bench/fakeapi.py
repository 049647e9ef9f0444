"""A lean fake Bot API for the throughput benchmark, in a process of its own, so that the bot
and not the fake is what is measured (the sandbox, with its history, topics and flood limits,
costs more CPU per call than a bare echo bot).

Usage (started by bench/throughput.py): python bench/fakeapi.py PORT

Control endpoints, for the benchmark:
    POST /control/load  {"users": [ids], "texts": [...], "count": N}  queue N messages
    GET  /control/stats  {"sent": {chat: count}, "requests": n, "cpu": seconds}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT = {"id": 1, "is_bot": True, "first_name": "peerdesk", "username": "peerdesk_bot",
       "can_join_groups": True, "can_read_all_group_messages": False,
       "supports_inline_queries": False}


class Fake:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.next_update = 1
        self.next_message = 1
        self.sent: Counter[int] = Counter()
        self.requests = 0
        self.arrived = asyncio.Event()

    def load(self, users: list[int], texts: list[str], count: int) -> None:
        now = int(time.time())
        for n in range(count):
            user = users[n % len(users)]
            sender = {"id": user, "is_bot": False, "first_name": "Opettaja", "language_code": "fi"}
            self.updates.append({"update_id": self.next_update, "message": {
                "message_id": self.next_message, "date": now, "text": texts[n % len(texts)],
                "from": sender, "chat": {"id": user, "type": "private", "first_name": "Opettaja"}}})
            self.next_update += 1
            self.next_message += 1
        self.arrived.set()

    async def get_updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), float(params.get("timeout") or 0))
            except TimeoutError:
                pass
        return self.updates[: int(params.get("limit") or 100)]

    def message(self, params: dict[str, str]) -> dict[str, Any]:
        chat = int(params.get("chat_id") or 0)
        self.sent[chat] += 1
        self.next_message += 1
        kind = "private" if chat > 0 else "supergroup"
        return {"message_id": self.next_message, "date": int(time.time()),
                "chat": {"id": chat, "type": kind}, "text": params.get("text", "")}


async def bot_api(request: web.Request) -> web.Response:
    fake: Fake = request.app["fake"]
    fake.requests += 1
    method = request.match_info["method"]
    params = dict(parse_qsl((await request.read()).decode()))
    result: Any
    if method == "getUpdates":
        result = await fake.get_updates(params)
    elif method == "getMe":
        result = BOT
    elif method in ("deleteWebhook", "setMyCommands", "answerCallbackQuery"):
        result = True
    elif method == "getChat":
        chat = int(params.get("chat_id") or 0)
        result = {"id": chat, "type": "private" if chat > 0 else "supergroup"}
    elif method == "createForumTopic":
        fake.next_message += 1
        result = {"message_thread_id": fake.next_message, "name": params.get("name", ""),
                  "icon_color": 0}
    else:  # sendMessage, copyMessage, editMessageText…
        result = fake.message(params)
    return web.Response(text=json.dumps({"ok": True, "result": result}),
                        content_type="application/json")


async def load(request: web.Request) -> web.Response:
    body = await request.json()
    request.app["fake"].load(body["users"], body["texts"], body["count"])
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    fake: Fake = request.app["fake"]
    return web.json_response({"sent": {str(k): v for k, v in fake.sent.items()},
                              "requests": fake.requests, "cpu": time.process_time()})


def main() -> None:
    app = web.Application()
    app["fake"] = Fake()
    app.router.add_post("/control/load", load)
    app.router.add_get("/control/stats", stats)
    app.router.add_post(r"/bot{token}/{method}", bot_api)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
                print=lambda *_: None)


if __name__ == "__main__":
    main()
