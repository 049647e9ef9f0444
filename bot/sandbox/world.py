"""The sandbox's world: the users, chats, messages, forum topics and files of a fake Telegram,
the updates waiting for the bot, and what tests and the page wait on.

Given a folder (`Sandbox.open(folder)`), the world is kept there — chats, messages, topics,
counters and the bytes of every file — so that after a restart the page shows the earlier
conversation and update ids go on from where they were (`state.json`, written atomically).
What people do in it is bot/sandbox/people.py; what the bot does, bot/sandbox/bot_api.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import mimetypes
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp

from bot.sandbox.flood import FloodLimits
from bot.sandbox.protocol import BOT_USER, SANDBOX_TOKEN, ApiError, administrator

logger = logging.getLogger(__name__)

STATE_VERSION = 1
SAVE_DELAY = 0.2  # seconds: changes within this are written together
# The buttons a closed ticket's card may still carry: "Save as an answer", and a coach's
# "Publish" / "Discard" of the draft made from it.
AFTER_CLOSE = ("k:save:", "k:pub:", "k:drop:")
_DEFAULT_MIME = {"photo": "image/jpeg", "voice": "audio/ogg", "video": "video/mp4",
                 "audio": "audio/mpeg", "document": "application/octet-stream"}


@dataclass
class World:
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
    _flood: FloodLimits = field(default_factory=FloodLimits)
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
             **kwargs: Any) -> Self:
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

    # --- the people and chats -----------------------------------------------------------------

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
            return administrator(manage_topics=True)
        return {"status": "member", "user": BOT_USER}

    # --- messages and updates ---------------------------------------------------------------

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

    # --- what tests and the page read and wait on ---------------------------------------------

    def thread_messages(self, chat_id: int, thread_id: int) -> list[dict]:
        return [m for m in self.bot_messages(chat_id) if m.get("message_thread_id") == thread_id]

    def bot_messages(self, chat_id: int) -> list[dict]:
        """What the bot sent to a chat (service messages such as a new topic left out)."""
        return [m for m in self.messages.get(chat_id, [])
                if m.get("from", {}).get("is_bot") and "forum_topic_created" not in m
                and not m.get("deleted")]

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
        found = history[index] if 0 <= index < len(history) else None
        return None if found is None or found.get("deleted") else found

    def _message(self, chat_id: int, message_id: int) -> dict:
        message = self._find(chat_id, message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _thread(self, chat_id: int, thread_id: Any) -> int | None:
        if not thread_id:
            return None
        thread = int(thread_id)
        if self.chats[chat_id].get("is_forum") and thread not in self.topics.get(chat_id, {}):
            raise ApiError(400, "Bad Request: message thread not found")
        return thread


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


def _image_size(data: bytes) -> tuple[int, int]:
    """A picture's width and height (Pillow comes with matplotlib); 0 x 0 when not readable."""
    try:
        from PIL import Image  # Pillow comes with matplotlib: not a dependency of its own

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # anything that is not a picture Pillow reads
        return 0, 0


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
