"""What people do in the sandbox, as Telegram's apps let them: write (text, a file, their phone
number, a reply, in a forum topic), edit, press a button, add the bot to a group, delete a
topic. Each makes the update the bot receives. Tests call these directly; the page calls them
through bot/sandbox/page.py."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bot.sandbox.protocol import BOT_USER, MAX_CAPTION, ApiError, administrator
from bot.sandbox.world import World


@dataclass(frozen=True)
class Upload:
    """A file a person sends from the page."""

    kind: str  # photo, document, voice, video or audio
    data: bytes
    name: str | None = None
    mime_type: str | None = None


class People(World):
    """The person's side of the fake Telegram."""

    async def bot_added(self, by: int, chat_id: int, *, admin: bool = True,
                        manage_topics: bool = True) -> dict:
        """Someone adds the bot to a group or channel (as an admin, by default): Telegram's
        my_chat_member update, `from` who did it."""
        member = administrator(manage_topics) if admin else {"status": "member",
                                                              "user": BOT_USER}
        self.bot_rights[chat_id] = member
        return await self._push({"my_chat_member": {
            "chat": self.chats[chat_id], "from": self.users[by], "date": int(time.time()),
            "old_chat_member": {"status": "left", "user": BOT_USER},
            "new_chat_member": member}})

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

    async def edit(self, user_id: int, message_id: int, text: str,
                   chat_id: int | None = None) -> dict:
        """A person edits one of their own messages (in their private chat, or in `chat_id`)."""
        message = self._message(chat_id or user_id, message_id)
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


def _attachment(kind: str) -> dict[str, Any]:
    """A stand-in file of this kind, with no bytes behind it."""
    file = {"file_id": f"{kind}-file", "file_unique_id": f"{kind}-unique"}
    kinds: dict[str, dict[str, Any]] = {
        "sticker": {"sticker": {**file, "type": "regular", "width": 512, "height": 512,
                                "is_animated": False, "is_video": False}},
        "photo": {"photo": [{**file, "width": 640, "height": 480}]},
        "voice": {"voice": {**file, "duration": 3}},
        "document": {"document": {**file, "file_name": "liite.pdf"}},
    }
    return kinds[kind]
