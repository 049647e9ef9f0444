"""The sandbox: the parts of the Telegram Bot API that peerdesk uses, served by aiohttp.

Bot side, as Telegram: `POST /bot{token}/{method}` with form fields (non-strings JSON-encoded, as
python-telegram-bot sends them), answering `{"ok": true, "result": ...}` or Telegram's errors.
Person side, for the web page and the tests: `/sandbox/api/...` lets a user write, press buttons
and edit, and lists every chat's messages. Faults (429 with retry_after, 5xx) can be injected.

Given a folder (`Sandbox.open(folder)`), the sandbox keeps its world there — chats, messages,
topics, counters and the bytes of every file — so that after a restart the page shows the earlier
conversation and update ids go on from where they were (`state.json`, written atomically).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import math
import mimetypes
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)

SANDBOX_TOKEN = "123456:sandbox-token-for-local-use-only"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "peerdesk", "username": "peerdesk_bot",
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}
STATIC = Path(__file__).resolve().parent / "static"
MAX_TEXT = 4096
MAX_CAPTION = 1024
_SENDING = {"sendMessage", "copyMessage", "copyMessages", "sendPhoto", "sendDocument",
            "sendVoice", "sendVideo", "sendAudio", "createForumTopic"}
# What copyMessage carries over from the original message.
_CONTENT = {"text", "entities", "caption", "caption_entities", "photo", "document", "voice",
            "audio", "video", "video_note", "animation", "sticker", "contact", "location"}
MEDIA = ("photo", "document", "voice", "video", "audio")  # what can be sent with bytes
STATE_VERSION = 1
SAVE_DELAY = 0.2  # seconds: changes within this are written together
PAGE_WAIT = 20.0  # seconds the page's long poll waits for a change before it asks again
# Fields python-telegram-bot sends as plain strings; everything else arrives JSON-encoded.
_STRING_FIELDS = {"text", "caption", "callback_query_id", "parse_mode", "url", "name",
                  "description", "short_description", "language_code", "title", "secret_token",
                  "emoji", "icon_custom_emoji_id", "file_id"}


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": self.status,
                                "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


# The buttons a closed ticket's card may still carry: "Save as an answer", and a coach's
# "Publish" / "Discard" of the draft made from it.
AFTER_CLOSE = ("k:save:", "k:pub:", "k:drop:")


@dataclass
class Sandbox:
    """All state of the fake Telegram: users, chats, messages, pending updates."""

    token: str = SANDBOX_TOKEN
    users: dict[int, dict] = field(default_factory=dict)
    chats: dict[int, dict] = field(default_factory=dict)
    messages: dict[int, list[dict]] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)  # every Bot API call, in order
    commands: dict[str | None, list[dict]] = field(default_factory=dict)  # the default menu
    # Every menu by its scope ("default", "chat:ID", …) and language code, as Telegram keeps them.
    menus: dict[tuple[str, str | None], list[dict]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)  # users who blocked the bot
    faults: list[tuple[str, int, int | None]] = field(default_factory=list)
    topics: dict[int, dict[int, dict]] = field(default_factory=dict)  # chat -> thread -> topic
    # Telegram's flood limits, when switched on: 30 messages a second overall, 20 a minute per
    # group; beyond them a 429 with retry_after, as Telegram answers.
    flood_limits: bool = False
    files: dict[str, bytes] = field(default_factory=dict)  # the bytes of every file, by file id
    file_info: dict[str, dict] = field(default_factory=dict)  # kind, name, mime type, path
    labels: dict[int, str] = field(default_factory=dict)  # who a person is, for the page
    # The pop-up answers to button presses (answerCallbackQuery), newest last.
    notices: list[dict] = field(default_factory=list)
    folder: Path | None = None  # where the world is kept across restarts
    first_message: int = 1  # the first message id in a chat
    webhook: dict | None = None  # {"url", "secret_token"} once the bot set one
    confirmed_up_to: int = 0  # updates up to this id were confirmed by a getUpdates offset
    webhook_answers: list[int] = field(default_factory=list)  # HTTP status of each delivery
    _deliveries: set = field(default_factory=set)
    refused_for_flood: int = 0
    # The bot's membership where it differs from the sandbox's default (getChatMember): an
    # administrator allowed to manage topics in a forum, a plain member elsewhere.
    bot_rights: dict[int, dict] = field(default_factory=dict)
    _sent_overall: deque = field(default_factory=deque)
    _sent_per_group: dict[int, deque] = field(default_factory=dict)
    _updates: list[dict] = field(default_factory=list)
    _next_update: int = 1
    _next_callback: int = 1
    _next_file: int = 1
    _next_notice: int = 1  # kept, so that a page asking for notices after N sees new ones
    _queries: dict[str, int] = field(default_factory=dict)  # callback query id -> who pressed
    _changed: asyncio.Condition | None = None
    _version: int = 0  # counts the changes: the page waits for the next one (`/api/changes`)
    _save_pending: asyncio.TimerHandle | None = None
    _closing: bool = False

    # --- kept across restarts -----------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path, *, first_update: int = 1, first_message: int = 1,
             **kwargs: Any) -> Sandbox:
        """The sandbox kept in `folder` (empty at first). Update ids go on from the larger of
        the kept counter and `first_update` (one past what the bot's database has seen); a chat
        with no kept messages numbers them from `first_message`, so that a bot whose database
        outlived the kept world never meets an id it has seen."""
        sandbox = cls(folder=folder, first_message=first_message, **kwargs)
        state_file = folder / "state.json"
        if state_file.exists():
            try:
                sandbox._restore(json.loads(state_file.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("the sandbox's kept state could not be read (%s); starting afresh",
                               type(exc).__name__)
        sandbox._next_update = max(sandbox._next_update, first_update)
        return sandbox

    def _restore(self, state: dict) -> None:
        self.users = {int(k): v for k, v in state["users"].items()}
        self.chats = {int(k): v for k, v in state["chats"].items()}
        self.messages = {int(k): v for k, v in state["messages"].items()}
        for chat_id, history in self.messages.items():
            for message in history:  # one chat object, as when the messages were stored
                message["chat"] = self.chats[chat_id]
        self.topics = {int(c): {int(t): v for t, v in topics.items()}
                       for c, topics in state["topics"].items()}
        self.file_info = state.get("files", {})
        for file_id in self.file_info:
            path = self.folder / "files" / file_id  # type: ignore[operator]
            if path.exists():
                self.files[file_id] = path.read_bytes()
        self._updates = state.get("pending", [])
        self._next_update = state["next_update"]
        self._next_callback = state.get("next_callback", 1)
        self._next_file = state.get("next_file", 1)
        self._next_notice = state.get("next_notice", 1)

    def save(self) -> None:
        """Write the world to the folder at once, atomically (a new file renamed over the old)."""
        if self._save_pending is not None:
            self._save_pending.cancel()
            self._save_pending = None
        if self.folder is None:
            return
        state = {
            "version": STATE_VERSION, "next_update": self._next_update,
            "next_callback": self._next_callback, "next_file": self._next_file,
            "next_notice": self._next_notice,
            "users": self.users, "chats": self.chats, "topics": self.topics,
            "messages": {chat: [{k: v for k, v in m.items() if k != "chat"} for m in history]
                         for chat, history in self.messages.items()},
            "files": self.file_info, "pending": self._updates,
        }
        _write_atomically(self.folder / "state.json",
                          json.dumps(state, ensure_ascii=False).encode())

    def _changed_state(self) -> None:
        """Something worth keeping changed: write it soon, once for a burst of changes."""
        if self.folder is None or self._save_pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        self._save_pending = loop.call_later(SAVE_DELAY, self.save)

    def _keep_file(self, kind: str, data: bytes, name: str | None, mime: str | None) -> str:
        """Keep an uploaded file's bytes; returns its new file id."""
        file_id = f"{kind}-{self._next_file}"
        self._next_file += 1
        mime = mime or mimetypes.guess_type(name or "")[0] or _DEFAULT_MIME.get(kind)
        extension = Path(name).suffix if name and Path(name).suffix \
            else (mimetypes.guess_extension(mime or "") or "")
        self.files[file_id] = data
        self.file_info[file_id] = {"kind": kind, "name": name, "mime_type": mime,
                                   "size": len(data), "path": f"{kind}s/{file_id}{extension}"}
        if self.folder is not None:
            _write_atomically(self.folder / "files" / file_id, data)
        self._changed_state()
        return file_id

    def _media(self, kind: str, file_id: str, extra: dict | None = None) -> dict:
        """The message field Telegram gives a file of this kind (a photo is a list of sizes)."""
        info = self.file_info.get(file_id, {})
        media: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u-{file_id}"}
        if info.get("size") is not None:
            media["file_size"] = info["size"]
        if kind == "photo":
            width, height = _image_size(self.files.get(file_id, b""))
            return {"photo": [{**media, "width": width, "height": height}]}
        if info.get("mime_type"):
            media["mime_type"] = info["mime_type"]
        if kind in ("document", "audio") and info.get("name"):
            media["file_name"] = info["name"]
        if kind in ("voice", "audio", "video"):
            media["duration"] = 1
        if kind == "video":
            media.update(width=640, height=360)
        media.update(extra or {})
        return {kind: media}

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    # --- the person's side --------------------------------------------------------------------

    def user(self, user_id: int, first_name: str = "Staff", language_code: str | None = "fi"
             ) -> dict:
        user = self.users.setdefault(user_id, {"id": user_id, "is_bot": False})
        user.update(first_name=first_name)
        if language_code:
            user["language_code"] = language_code
        self.chats.setdefault(user_id, {"id": user_id, "type": "private",
                                        "first_name": first_name})
        return user

    def group(self, chat_id: int, title: str = "Group", forum: bool = False) -> dict:
        return self.chats.setdefault(chat_id, {"id": chat_id, "type": "supergroup",
                                               "title": title, "is_forum": forum})

    def channel(self, chat_id: int, title: str = "Channel") -> dict:
        """A channel the bot may post to (announcements); people only read it."""
        return self.chats.setdefault(chat_id, {"id": chat_id, "type": "channel", "title": title})

    def bot_member(self, chat_id: int) -> dict:
        """The bot's ChatMember in a chat, as getChatMember answers."""
        if chat_id in self.bot_rights:
            return self.bot_rights[chat_id]
        chat = self.chats.get(chat_id, {})
        if chat.get("is_forum") or chat.get("type") == "channel":
            return _administrator(manage_topics=True)
        return {"status": "member", "user": BOT_USER}

    async def bot_added(self, by: int, chat_id: int, *, admin: bool = True,
                        manage_topics: bool = True) -> dict:
        """Someone adds the bot to a group or channel (as an admin, by default): Telegram's
        my_chat_member update, `from` who did it."""
        member = _administrator(manage_topics) if admin else {"status": "member",
                                                              "user": BOT_USER}
        self.bot_rights[chat_id] = member
        return await self._push({"my_chat_member": {
            "chat": self.chats[chat_id], "from": self.users[by], "date": int(time.time()),
            "old_chat_member": {"status": "left", "user": BOT_USER},
            "new_chat_member": member}})

    def _store(self, chat_id: int, message: dict) -> dict:
        history = self.messages.setdefault(chat_id, [])
        message["message_id"] = history[-1]["message_id"] + 1 if history else self.first_message
        message.setdefault("date", int(time.time()))
        message["chat"] = self.chats[chat_id]
        history.append(message)
        self._changed_state()
        return message

    async def _push(self, update: dict) -> dict:
        async with self.changed:
            update["update_id"] = self._next_update
            self._next_update += 1
            self._changed_state()
            if self.webhook is None:
                self._updates.append(update)
            self._notify()
        if self.webhook is not None:
            task = asyncio.create_task(self._post(update))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return update

    async def _post(self, update: dict, attempts: int = 20) -> None:
        """Deliver to the webhook as Telegram does: POST with the secret header, again until
        the bot answers 200."""
        assert self.webhook is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token") or ""}
        async with aiohttp.ClientSession() as client:
            for attempt in range(attempts):
                try:
                    async with client.post(self.webhook["url"], json=update,
                                           headers=headers) as response:
                        self.webhook_answers.append(response.status)
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    self.webhook_answers.append(0)
                await asyncio.sleep(0.1 * (attempt + 1))

    async def send(self, user_id: int, text: str | None = None, *, chat_id: int | None = None,
                   kind: str | None = None, thread_id: int | None = None,
                   reply_to: int | None = None, contact: str | None = None,
                   upload: Upload | None = None, **user: Any) -> dict:
        """A person writes to a chat (their private chat with the bot by default), perhaps in a
        forum topic, as a reply, sharing their phone number, or sending a file (`upload`; the
        text is then its caption). `kind` alone sends a stand-in file with no bytes."""
        sender = self.user(user_id, **user) if user or user_id not in self.users \
            else self.users[user_id]
        chat = chat_id or user_id
        message: dict[str, Any] = {"from": sender}
        if thread_id is not None:
            self._thread(chat, thread_id)
            message.update(message_thread_id=thread_id, is_topic_message=True)
        if reply_to is not None:
            message["reply_to_message"] = dict(self._message(chat, reply_to))
        if contact is not None:
            message["contact"] = {"phone_number": contact, "first_name": sender["first_name"],
                                  "user_id": user_id}
        if upload is not None:
            file_id = self._keep_file(upload.kind, upload.data, upload.name, upload.mime_type)
            message.update(self._media(upload.kind, file_id))
            if text:
                message["caption"] = text[:MAX_CAPTION]
        elif text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": len(command)}]
        if kind:
            message.update(_attachment(kind))
        stored = self._store(chat, message)
        await self._push({"message": stored})
        return stored

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """A group admin deletes a forum topic."""
        self.topics.get(chat_id, {}).pop(thread_id, None)

    def thread_messages(self, chat_id: int, thread_id: int) -> list[dict]:
        return [m for m in self.bot_messages(chat_id) if m.get("message_thread_id") == thread_id]

    async def edit(self, user_id: int, message_id: int, text: str) -> dict:
        """A person edits one of their own messages."""
        message = self._message(user_id, message_id)
        if message.get("from", {}).get("id") != user_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        message.update(text=text, edit_date=int(time.time()))
        await self._push({"edited_message": dict(message)})
        return message

    async def press(self, user_id: int, chat_id: int, message_id: int, data: str) -> dict:
        """A person presses an inline button; only data that is on the message can be sent."""
        message = self._message(chat_id, message_id)
        buttons = [b.get("callback_data") for row in
                   message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
        if data not in buttons:
            raise ApiError(400, "Bad Request: no such button on that message")
        query_id = str(self._next_callback)
        query = {"id": query_id, "from": self.users[user_id], "message": message,
                 "chat_instance": str(chat_id), "data": data}
        self._queries[query_id] = user_id
        self._next_callback += 1
        await self._push({"callback_query": query})
        return query

    def bot_messages(self, chat_id: int) -> list[dict]:
        """What the bot sent to a chat (service messages such as a new topic left out)."""
        return [m for m in self.messages.get(chat_id, [])
                if m.get("from", {}).get("is_bot") and "forum_topic_created" not in m]

    def _notify(self) -> None:
        """Wake whoever waits for a change (tests, the page's long poll); `changed` is held."""
        self._version += 1
        self.changed.notify_all()

    async def wait_until(self, condition: Any, timeout: float = 10.0) -> None:
        """Wait until `condition()` holds after some change the bot made."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(condition), timeout)

    async def wait_for(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """Wait until the bot has sent `count` messages to the chat; returns all of them."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.bot_messages(chat_id)) >= count), timeout
            )
        return self.bot_messages(chat_id)

    def topic_state(self, chat_id: int, thread_id: int) -> str:
        """waiting, held or closed, as a helper sees it: closed when the bot closed the topic,
        else from the ticket card's buttons (Claim while it waits, none once closed)."""
        topic = self.topics.get(chat_id, {}).get(thread_id, {})
        if topic.get("closed"):
            return "closed"
        card = next((m for m in self.thread_messages(chat_id, thread_id)), None)
        if card is None:
            return "waiting"
        buttons = [b.get("callback_data") or "" for row in
                   card.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
        if all(b.startswith(AFTER_CLOSE) for b in buttons):
            return "closed"  # no buttons, or only the knowledge loop's for a closed ticket
        return "waiting" if any("claim" in b for b in buttons) else "held"

    def _find(self, chat_id: int, message_id: int) -> dict | None:
        """A chat's message by id (ids in a chat are consecutive)."""
        history = self.messages.get(chat_id, [])
        index = message_id - history[0]["message_id"] if history else -1
        return history[index] if 0 <= index < len(history) else None

    def _message(self, chat_id: int, message_id: int) -> dict:
        message = self._find(chat_id, message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    # --- the bot's side -----------------------------------------------------------------------

    async def call(self, method: str, params: dict) -> Any:
        self.calls.append((method, params))
        for index, (fault_method, status, retry_after) in enumerate(self.faults):
            if fault_method in (method, "*"):
                del self.faults[index]
                description = f"Too Many Requests: retry after {retry_after}" \
                    if status == 429 else "Internal Server Error"
                raise ApiError(status, description, retry_after)
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        if self.flood_limits and method in _SENDING:
            self._flood_check(int(params.get("chat_id", 0) or 0))
        result = await handler(params)
        if method != "getUpdates":
            self._changed_state()
            async with self.changed:
                self._notify()  # whoever waits on the bot's doings looks again
        return result

    def _flood_check(self, chat_id: int) -> None:
        now = time.monotonic()
        overall = self._sent_overall
        while overall and now - overall[0] >= 1:
            overall.popleft()
        group = self._sent_per_group.setdefault(chat_id, deque()) if chat_id < 0 else None
        while group and now - group[0] >= 60:
            group.popleft()
        if len(overall) >= 30:
            self.refused_for_flood += 1
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        if group is not None and len(group) >= 20:
            self.refused_for_flood += 1
            wait = max(1, math.ceil(60 - (now - group[0])))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        overall.append(now)
        if group is not None:
            group.append(now)

    async def _api_getme(self, _: dict) -> dict:
        return BOT_USER

    async def _api_deletewebhook(self, _: dict) -> bool:
        self.webhook = None
        return True

    async def _api_setwebhook(self, params: dict) -> bool:
        url = params.get("url") or ""
        if not url.startswith(("https://", "http://")):
            raise ApiError(400, "Bad Request: bad webhook: an HTTPS URL must be provided")
        self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        return True

    async def _api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        scope = params.get("scope") or {"type": "default"}
        key = f"chat:{scope['chat_id']}" if scope.get("type") == "chat" else scope["type"]
        self.menus[(key, params.get("language_code"))] = commands
        if key == "default":
            self.commands[params.get("language_code")] = commands
        return True

    def menu(self, chat_id: int, language: str | None = None) -> list[str]:
        """The commands a person whose Telegram speaks `language` sees in a chat's menu: the
        chat's own menu, else the menu of its kind of chat, else the default (each in their
        language first), as Telegram chooses."""
        kind = "all_private_chats" if chat_id > 0 else "all_group_chats"
        for key in (f"chat:{chat_id}", kind, "default"):
            for code in (language, None):
                if (key, code) in self.menus:
                    return [c["command"] for c in self.menus[(key, code)]]
        return []

    async def _api_getupdates(self, params: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        async with self.changed:
            if offset:
                # Asking from `offset` confirms every earlier update, as Telegram does.
                kept = [u for u in self._updates if u["update_id"] >= offset]
                if len(kept) != len(self._updates):
                    self._updates = kept
                    self._changed_state()
                self.confirmed_up_to = max(self.confirmed_up_to, offset - 1)
            if not self._updates and timeout and not self._closing:
                try:
                    await asyncio.wait_for(
                        self.changed.wait_for(lambda: bool(self._updates) or self._closing),
                        timeout)
                except TimeoutError:
                    pass
            return self._updates[:limit]

    def _chat(self, params: dict) -> int:
        chat_id = int(params.get("chat_id", 0))
        if chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _thread(self, chat_id: int, thread_id: Any) -> int | None:
        if not thread_id:
            return None
        thread = int(thread_id)
        if self.chats[chat_id].get("is_forum") and thread not in self.topics.get(chat_id, {}):
            raise ApiError(400, "Bad Request: message thread not found")
        return thread

    def _reply(self, chat_id: int, params: dict) -> dict | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        if not message_id:
            return None
        replied = self._find(chat_id, int(message_id))
        if replied is None:
            if reply.get("allow_sending_without_reply"):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return dict(replied)

    async def _deliver(self, chat_id: int, message: dict, params: dict) -> dict:
        """Store a message the bot sends, in a topic and as a reply when asked."""
        thread = self._thread(chat_id, params.get("message_thread_id"))
        if thread:
            message.update(message_thread_id=thread, is_topic_message=True)
        replied = self._reply(chat_id, params)
        if replied:
            message["reply_to_message"] = replied
        markup = self._check_markup(params.get("reply_markup"))
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        elif markup:
            # Reply keyboards, ForceReply and their removal reach the person's app only; Telegram
            # never returns them to the bot.
            message["client_markup"] = markup
        async with self.changed:
            stored = self._store(chat_id, message)
            self._notify()
        return {k: v for k, v in stored.items() if k != "client_markup"}

    @staticmethod
    def _check_text(text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _check_markup(markup: Any) -> dict | None:
        if not markup:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    async def _api_sendmessage(self, params: dict) -> dict:
        chat_id = self._chat(params)
        message = {"from": BOT_USER, "text": self._check_text(params.get("text"))}
        if params.get("entities"):
            message["entities"] = params["entities"]
        return await self._deliver(chat_id, message, params)

    async def _api_copymessage(self, params: dict) -> dict:
        chat_id = self._chat(params)
        source = self._message(int(params.get("from_chat_id", 0)), int(params["message_id"]))
        content = {k: v for k, v in source.items() if k in _CONTENT}
        if "caption" in params:
            content["caption"] = params["caption"]
        if len(content.get("caption") or "") > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        if not content:
            raise ApiError(400, "Bad Request: message can't be copied")
        stored = await self._deliver(chat_id, {"from": BOT_USER, **content}, params)
        return {"message_id": stored["message_id"]}

    async def _api_copymessages(self, params: dict) -> list[dict]:
        """Several messages of one chat copied in one call (one message toward the limits)."""
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100 or ids != sorted(ids):
            raise ApiError(400, "Bad Request: message identifiers must be 1-100, increasing")
        return [await self._api_copymessage({**params, "message_id": message_id})
                for message_id in ids]

    async def _send_media(self, kind: str, params: dict) -> dict:
        """sendPhoto, sendDocument, sendVoice, sendVideo, sendAudio: a new upload (its bytes are
        kept) or a file id the sandbox knows."""
        chat_id = self._chat(params)
        value = params.get(kind)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if hasattr(value, "file"):
            data = value.file.read()
            if not data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            file_id = self._keep_file(kind, data, value.filename,
                                      value.content_type if value.content_type not in
                                      (None, "application/octet-stream") else None)
        else:
            file_id = str(value)  # a file id (e.g. the pre-reading of an event)
        caption = params.get("caption")
        if caption and len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        message: dict[str, Any] = {"from": BOT_USER, **self._media(kind, file_id)}
        if caption:
            message["caption"] = caption
        return await self._deliver(chat_id, message, params)

    async def _api_sendphoto(self, params: dict) -> dict:
        return await self._send_media("photo", params)

    async def _api_senddocument(self, params: dict) -> dict:
        return await self._send_media("document", params)

    async def _api_sendvoice(self, params: dict) -> dict:
        return await self._send_media("voice", params)

    async def _api_sendvideo(self, params: dict) -> dict:
        return await self._send_media("video", params)

    async def _api_sendaudio(self, params: dict) -> dict:
        return await self._send_media("audio", params)

    async def _api_getfile(self, params: dict) -> dict:
        file_id = str(params.get("file_id") or "")
        info = self.file_info.get(file_id)
        if info is None or file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": info["size"],
                "file_path": info["path"]}

    async def _api_sendchataction(self, params: dict) -> bool:
        self._chat(params)
        return True

    async def _api_getchat(self, params: dict) -> dict:
        chat_id = int(params.get("chat_id", 0))
        if chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        chat = dict(self.chats[chat_id])
        chat.setdefault("accent_color_id", 0)
        chat.setdefault("max_reaction_count", 11)
        return chat

    async def _api_getchatmember(self, params: dict) -> dict:
        chat_id, user_id = int(params.get("chat_id", 0)), int(params.get("user_id", 0))
        if chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        if user_id == BOT_USER["id"]:
            return self.bot_member(chat_id)
        if user_id not in self.users:
            raise ApiError(400, "Bad Request: user not found")
        return {"status": "member", "user": self.users[user_id]}

    async def _api_createforumtopic(self, params: dict) -> dict:
        chat_id = self._chat(params)
        if not self.chats[chat_id].get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        name = params.get("name") or ""
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_INVALID")
        async with self.changed:
            service = self._store(chat_id, {"from": BOT_USER, "forum_topic_created": {
                "name": name, "icon_color": 7322096}})
            thread = service["message_id"]
            service.update(message_thread_id=thread, is_topic_message=True)
            self.topics.setdefault(chat_id, {})[thread] = {"name": name}
            self._notify()
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    async def _api_editforumtopic(self, params: dict) -> bool:
        chat_id = self._chat(params)
        topic = self.topics.get(chat_id, {}).get(int(params.get("message_thread_id", 0)))
        if topic is None:
            raise ApiError(400, "Bad Request: message thread not found")
        if params.get("name"):
            topic["name"] = params["name"]
        if "icon_custom_emoji_id" in params:
            topic["icon_custom_emoji_id"] = params["icon_custom_emoji_id"] or None
        return True

    async def _topic_service(self, params: dict, what: str, closed: bool | None) -> bool:
        """closeForumTopic, reopenForumTopic: the state and a service message, as Telegram."""
        chat_id = self._chat(params)
        thread = int(params.get("message_thread_id", 0))
        topic = self.topics.get(chat_id, {}).get(thread)
        if topic is None:
            raise ApiError(400, "Bad Request: message thread not found")
        if closed is not None and bool(topic.get("closed")) == closed:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        async with self.changed:
            self._store(chat_id, {"from": BOT_USER, what: {}, "message_thread_id": thread,
                                  "is_topic_message": True})
        return True

    async def _api_closeforumtopic(self, params: dict) -> bool:
        return await self._topic_service(params, "forum_topic_closed", True)

    async def _api_reopenforumtopic(self, params: dict) -> bool:
        return await self._topic_service(params, "forum_topic_reopened", False)

    async def _api_deleteforumtopic(self, params: dict) -> bool:
        chat_id = self._chat(params)
        if self.topics.get(chat_id, {}).pop(int(params.get("message_thread_id", 0)), None) is None:
            raise ApiError(400, "Bad Request: message thread not found")
        return True

    async def _api_editmessagetext(self, params: dict) -> dict:
        message = self._message(self._chat(params), int(params.get("message_id", 0)))
        if not message.get("from", {}).get("is_bot"):
            raise ApiError(400, "Bad Request: message can't be edited")
        message["text"] = self._check_text(params.get("text"))
        markup = self._check_markup(params.get("reply_markup"))
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        async with self.changed:
            self._notify()
        return message

    async def _api_editmessagereplymarkup(self, params: dict) -> dict:
        message = self._message(self._chat(params), int(params.get("message_id", 0)))
        markup = self._check_markup(params.get("reply_markup"))
        if (markup or None) == message.get("reply_markup"):  # as Telegram answers
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        async with self.changed:
            self._notify()
        return message

    async def _api_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        user_id = self._queries[query_id]
        if params.get("text"):
            # Telegram shows the text as a toast, or as an alert with OK when show_alert is set.
            self.notices.append({"id": self._next_notice, "user_id": user_id,
                                 "text": params["text"], "alert": bool(params.get("show_alert"))})
            self._next_notice += 1
            self._changed_state()
        return True

    # --- HTTP ---------------------------------------------------------------------------------

    async def _open_for_polls(self, _: web.Application) -> None:
        self._closing = False  # the same sandbox may be served again (a restarted bot)

    async def _wake_pollers(self, _: web.Application) -> None:
        """Shutting down: a long poll in progress returns now, not after its timeout."""
        self._closing = True
        async with self.changed:
            self._notify()

    def app(self) -> web.Application:
        app = web.Application()
        app.on_startup.append(self._open_for_polls)
        app.on_shutdown.append(self._wake_pollers)
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._bot_file)
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
        return app

    async def _api_groups(self, _: web.Request) -> web.Response:
        """The groups, their forum topics, and the people the web page can act as."""
        groups = [
            {"id": chat_id, "title": chat.get("title"),
             "topics": {str(t): v["name"] for t, v in self.topics.get(chat_id, {}).items()}}
            for chat_id, chat in self.chats.items() if chat["type"] != "private"
        ]
        return web.json_response({
            "groups": groups,
            "users": [{"id": u["id"], "first_name": u.get("first_name")}
                      for u in self.users.values()],
        })

    async def _api_world(self, _: web.Request) -> web.Response:
        """What the page lists: the people (with what they are), the groups with their topics
        (state and message count), the channels, and which private chats have messages."""
        groups = []
        for chat_id, chat in self.chats.items():
            if chat["type"] != "supergroup":
                continue
            counts: dict[int | None, int] = {}
            for m in self.messages.get(chat_id, []):
                if any(k.startswith("forum_topic_") for k in m):
                    continue
                thread = m.get("message_thread_id")
                counts[thread] = counts.get(thread, 0) + 1
            topics = [{"id": thread, "name": topic["name"],
                       "state": self.topic_state(chat_id, thread), "count": counts.get(thread, 0)}
                      for thread, topic in self.topics.get(chat_id, {}).items()]
            groups.append({"id": chat_id, "title": chat.get("title"),
                           "is_forum": bool(chat.get("is_forum")),
                           "general": counts.get(None, 0), "topics": topics[::-1]})
        return web.json_response({
            "groups": groups,
            "channels": [{"id": c["id"], "title": c.get("title"),
                          "count": len(self.messages.get(c["id"], []))}
                         for c in self.chats.values() if c["type"] == "channel"],
            "people": [{"id": u["id"], "first_name": u.get("first_name"),
                        "label": self.labels.get(u["id"]),
                        "count": len(self.messages.get(u["id"], []))}
                       for u in self.users.values()],
        })

    async def _api_changes(self, request: web.Request) -> web.Response:
        """The page's long poll: answers once something changed after `after` (a version it
        got before), or after PAGE_WAIT seconds; at once when `after` is not this one's."""
        try:
            after = int(request.query.get("after", ""))
        except ValueError:
            after = -1
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(
                    lambda: self._version != after or self._closing), PAGE_WAIT)
            except TimeoutError:
                pass
            return web.json_response({"version": self._version})

    async def _api_notices(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after") or 0)
        return web.json_response([n for n in self.notices if n["id"] > after])

    def _file_response(self, file_id: str) -> web.Response:
        info = self.file_info.get(file_id)
        if info is None or file_id not in self.files:
            raise web.HTTPNotFound(text="no such file")
        headers = {}
        if info.get("name"):
            headers["Content-Disposition"] = f'inline; filename="{_ascii(info["name"])}"'
        return web.Response(body=self.files[file_id], headers=headers,
                            content_type=info.get("mime_type") or "application/octet-stream")

    async def _bot_file(self, request: web.Request) -> web.Response:
        """A download as the bot makes it after getFile: /file/bot{token}/{file_path}."""
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        path = request.match_info["path"]
        file_id = next((f for f, info in self.file_info.items() if info["path"] == path), "")
        return self._file_response(file_id)

    async def _page_file(self, request: web.Request) -> web.Response:
        return self._file_response(request.match_info["file_id"])

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

    async def _index(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _api_messages(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        return web.json_response(self.messages.get(chat_id, []))

    async def _api_user_send(self, request: web.Request) -> web.Response:
        """A person writes: a JSON body, or a form with a file (photo, document or voice)."""
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
        if body.get("first_name") or user_id not in self.users:
            self.user(user_id, body.get("first_name") or "Staff", body.get("language_code"))
        try:
            message = await self.send(
                user_id, body.get("text"), kind=body.get("kind"),
                chat_id=int(body["chat_id"]) if body.get("chat_id") else None,
                thread_id=int(body["thread_id"]) if body.get("thread_id") else None,
                reply_to=int(body["reply_to"]) if body.get("reply_to") else None,
                contact=body.get("contact"), upload=upload)
        except ApiError as exc:
            return exc.response()
        return web.json_response(message)

    async def _api_user_press(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if body.get("first_name"):  # a staff member pressing under an announcement first
            self.user(int(request.match_info["user_id"]), str(body["first_name"])[:64],
                      body.get("language_code"))
        try:
            query = await self.press(int(request.match_info["user_id"]), int(body["chat_id"]),
                                     int(body["message_id"]), str(body["data"]))
        except ApiError as exc:
            return exc.response()
        return web.json_response(query)


def _administrator(manage_topics: bool) -> dict:
    """The bot as an administrator (every right Telegram lists, topics as given)."""
    rights = dict.fromkeys((
        "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
        "can_restrict_members", "can_change_info", "can_invite_users", "can_post_stories",
        "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_post_messages",
        "can_edit_messages"), True)
    return {"status": "administrator", "user": BOT_USER, "can_be_edited": False,
            "is_anonymous": False, "can_promote_members": False,
            "can_manage_topics": manage_topics, **rights}


@dataclass(frozen=True)
class Upload:
    """A file a person sends from the page."""

    kind: str  # photo, document, voice, video or audio
    data: bytes
    name: str | None = None
    mime_type: str | None = None


_DEFAULT_MIME = {"photo": "image/jpeg", "voice": "audio/ogg", "video": "video/mp4",
                 "audio": "audio/mpeg", "document": "application/octet-stream"}


def _kind_of(mime_type: str | None) -> str:
    """How Telegram's app sends a picked file: pictures as photos, sound as a voice note."""
    mime_type = mime_type or ""
    if mime_type.startswith("image/") and mime_type != "image/svg+xml":
        return "photo"
    if mime_type.startswith("audio/"):
        return "voice"
    return "document"


def _image_size(data: bytes) -> tuple[int, int]:
    """A picture's width and height (Pillow comes with matplotlib); 0 x 0 when not readable."""
    try:
        from PIL import Image  # Pillow comes with matplotlib: not a dependency of its own

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # anything that is not a picture Pillow reads
        return 0, 0


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c not in '"\\' else "_" for c in name)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a new file beside `path`, then rename it over: a reader sees old or new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


async def _json(request: web.Request) -> dict:
    """The person side's request body; anything but a JSON object is a 400, not a 500."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _attachment(kind: str) -> dict[str, Any]:
    file = {"file_id": f"{kind}-file", "file_unique_id": f"{kind}-unique"}
    kinds: dict[str, dict[str, Any]] = {
        "sticker": {"sticker": {**file, "type": "regular", "width": 512, "height": 512,
                                "is_animated": False, "is_video": False}},
        "photo": {"photo": [{**file, "width": 640, "height": 480}]},
        "voice": {"voice": {**file, "duration": 3}},
        "document": {"document": {**file, "file_name": "liite.pdf"}},
    }
    return kinds[kind]


async def serve(sandbox: Sandbox, host: str, port: int) -> web.AppRunner:
    """Start the sandbox's HTTP server; the caller cleans up the returned runner."""
    runner = web.AppRunner(sandbox.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
