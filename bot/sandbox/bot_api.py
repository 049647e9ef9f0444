"""The Bot API methods peerdesk calls, as Telegram answers them: `call(method, params)` gives the
result, or raises ApiError with Telegram's status and description. Faults can be injected
(`faults`: a 429 with retry_after, or a 5xx, for the next call of a method), Telegram's flood
limits switched on (`flood_limits`), and a method made slow by overriding it in a subclass."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.sandbox.flood import SENDING
from bot.sandbox.protocol import BOT_USER, MAX_CAPTION, MAX_TEXT, ApiError
from bot.sandbox.world import World

# What copyMessage carries over from the original message.
_CONTENT = {"text", "entities", "caption", "caption_entities", "photo", "document", "voice",
            "audio", "video", "video_note", "animation", "sticker", "contact", "location"}


class BotApi(World):
    """The bot's side of the fake Telegram: one `_api_<method>` per Bot API method."""

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
        if self.flood_limits and method in SENDING:
            self._flood_check(int(params.get("chat_id", 0) or 0))
        result = await handler(params)
        if method != "getUpdates":
            self._changed_state()
            async with self.changed:
                self._notify()  # whoever waits on the bot's doings looks again
        return result

    def _flood_check(self, chat_id: int) -> None:
        wait = self._flood.wait(chat_id, time.monotonic())
        if wait is not None:
            self.refused_for_flood += 1
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)

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
        if "text" not in message:  # a picture, a file, a voice: as Telegram answers
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
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

    async def _api_deletemessage(self, params: dict) -> bool:
        """The message goes; its id stays taken (a chat's ids run on), shown to nobody."""
        chat_id = self._chat(params)
        message = self._find(chat_id, int(params.get("message_id", 0)))
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        kept = {k: message[k] for k in ("message_id", "chat", "date", "message_thread_id", "from")
                if k in message}
        message.clear()
        message.update(kept, deleted=True)
        async with self.changed:
            self._notify()
        return True

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
