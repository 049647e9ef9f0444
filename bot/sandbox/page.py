"""The sandbox's web page and the people's JSON API behind it (`/sandbox/api/...`): what the page
lists and waits on, and a person writing or pressing a button as someone the page acts as."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.sandbox.people import People, Upload
from bot.sandbox.protocol import ApiError

STATIC = Path(__file__).resolve().parent / "static"
MEDIA = ("photo", "document", "voice", "video", "audio")  # what can be sent with bytes
PAGE_WAIT = 20.0  # seconds the page's long poll waits for a change before it asks again


class Page:
    """The page's routes over one sandbox."""

    def __init__(self, sandbox: People) -> None:
        self.sandbox = sandbox

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/sandbox/files/{file_id}", self._page_file)
        app.router.add_get("/sandbox/api/world", self._api_world)
        app.router.add_get("/sandbox/api/changes", self._api_changes)
        app.router.add_get("/sandbox/api/notices", self._api_notices)
        app.router.add_get("/sandbox/api/chats/{chat_id}/messages", self._api_messages)
        app.router.add_post("/sandbox/api/users/{user_id}/messages", self._api_user_send)
        app.router.add_post("/sandbox/api/users/{user_id}/press", self._api_user_press)
        app.router.add_get("/sandbox/api/groups", self._api_groups)

    async def _index(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _api_groups(self, _: web.Request) -> web.Response:
        """The groups, their forum topics, and the people the web page can act as."""
        sandbox = self.sandbox
        groups = [
            {"id": chat_id, "title": chat.get("title"),
             "topics": {str(t): v["name"] for t, v in sandbox.topics.get(chat_id, {}).items()}}
            for chat_id, chat in sandbox.chats.items() if chat["type"] != "private"
        ]
        return web.json_response({
            "groups": groups,
            "users": [{"id": u["id"], "first_name": u.get("first_name")}
                      for u in sandbox.users.values()],
        })

    async def _api_world(self, _: web.Request) -> web.Response:
        """What the page lists: the people (with what they are), the groups with their topics
        (state and message count), the channels, and which private chats have messages."""
        sandbox = self.sandbox
        groups = []
        for chat_id, chat in sandbox.chats.items():
            if chat["type"] != "supergroup":
                continue
            counts: dict[int | None, int] = {}
            for m in sandbox.messages.get(chat_id, []):
                if any(k.startswith("forum_topic_") for k in m):
                    continue
                thread = m.get("message_thread_id")
                counts[thread] = counts.get(thread, 0) + 1
            topics = [{"id": thread, "name": topic["name"],
                       "state": sandbox.topic_state(chat_id, thread),
                       "count": counts.get(thread, 0)}
                      for thread, topic in sandbox.topics.get(chat_id, {}).items()]
            groups.append({"id": chat_id, "title": chat.get("title"),
                           "is_forum": bool(chat.get("is_forum")),
                           "general": counts.get(None, 0), "topics": topics[::-1]})
        return web.json_response({
            "groups": groups,
            "channels": [{"id": c["id"], "title": c.get("title"),
                          "count": len(sandbox.messages.get(c["id"], []))}
                         for c in sandbox.chats.values() if c["type"] == "channel"],
            "people": [{"id": u["id"], "first_name": u.get("first_name"),
                        "label": sandbox.labels.get(u["id"]),
                        "count": len(sandbox.messages.get(u["id"], []))}
                       for u in sandbox.users.values()],
        })

    async def _api_changes(self, request: web.Request) -> web.Response:
        """The page's long poll: answers once something changed after `after` (a version it
        got before), or after PAGE_WAIT seconds; at once when `after` is not this one's."""
        sandbox = self.sandbox
        try:
            after = int(request.query.get("after", ""))
        except ValueError:
            after = -1
        async with sandbox.changed:
            try:
                await asyncio.wait_for(sandbox.changed.wait_for(
                    lambda: sandbox._version != after or sandbox._closing), PAGE_WAIT)
            except TimeoutError:
                pass
            return web.json_response({"version": sandbox._version})

    async def _api_notices(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after") or 0)
        return web.json_response([n for n in self.sandbox.notices if n["id"] > after])

    async def _page_file(self, request: web.Request) -> web.Response:
        return file_response(self.sandbox, request.match_info["file_id"])

    async def _api_messages(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        return web.json_response([m for m in self.sandbox.messages.get(chat_id, [])
                                  if not m.get("deleted")])

    async def _api_user_send(self, request: web.Request) -> web.Response:
        """A person writes: a JSON body, or a form with a file (photo, document or voice)."""
        sandbox = self.sandbox
        upload = None
        if request.content_type == "multipart/form-data":
            form = await request.post()
            body = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
            file = form.get("file")
            if not isinstance(file, web.FileField):
                raise web.HTTPBadRequest(text="the form must carry a file")
            kind = body.pop("kind", None) or _kind_of(file.content_type)
            if kind not in MEDIA:
                raise web.HTTPBadRequest(text=f"files are sent as one of {', '.join(MEDIA)}")
            data = file.file.read()
            if not data:
                raise web.HTTPBadRequest(text="the file is empty")
            upload = Upload(kind, data, file.filename, file.content_type)
        else:
            body = await _json(request)
        user_id = int(request.match_info["user_id"])
        if body.get("first_name") or user_id not in sandbox.users:
            sandbox.user(user_id, body.get("first_name") or "Staff", body.get("language_code"))
        try:
            message = await sandbox.send(
                user_id, body.get("text"), kind=body.get("kind"),
                chat_id=int(body["chat_id"]) if body.get("chat_id") else None,
                thread_id=int(body["thread_id"]) if body.get("thread_id") else None,
                reply_to=int(body["reply_to"]) if body.get("reply_to") else None,
                contact=body.get("contact"), upload=upload)
        except ApiError as exc:
            return exc.response()
        return web.json_response(message)

    async def _api_user_press(self, request: web.Request) -> web.Response:
        sandbox = self.sandbox
        body = await _json(request)
        if body.get("first_name"):  # a staff member pressing under an announcement first
            sandbox.user(int(request.match_info["user_id"]), str(body["first_name"])[:64],
                         body.get("language_code"))
        try:
            query = await sandbox.press(int(request.match_info["user_id"]), int(body["chat_id"]),
                                        int(body["message_id"]), str(body["data"]))
        except ApiError as exc:
            return exc.response()
        return web.json_response(query)


def file_response(sandbox: People, file_id: str) -> web.Response:
    """A file's bytes, as the page shows it and as the bot downloads it after getFile."""
    info = sandbox.file_info.get(file_id)
    if info is None or file_id not in sandbox.files:
        raise web.HTTPNotFound(text="no such file")
    headers = {}
    if info.get("name"):
        headers["Content-Disposition"] = f'inline; filename="{_ascii(info["name"])}"'
    return web.Response(body=sandbox.files[file_id], headers=headers,
                        content_type=info.get("mime_type") or "application/octet-stream")


def _kind_of(mime_type: str | None) -> str:
    """How Telegram's app sends a picked file: pictures as photos, sound as a voice note."""
    mime_type = mime_type or ""
    if mime_type.startswith("image/") and mime_type != "image/svg+xml":
        return "photo"
    if mime_type.startswith("audio/"):
        return "voice"
    return "document"


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c not in '"\\' else "_" for c in name)


async def _json(request: web.Request) -> dict:
    """The person side's request body; anything but a JSON object is a 400, not a 500."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body
