"""What the sandbox shares with Telegram: its bot, its limits, and its errors as the Bot API
answers them (`{"ok": false, "error_code": …, "description": …}`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

SANDBOX_TOKEN = "123456:sandbox-token-for-local-use-only"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "peerdesk", "username": "peerdesk_bot",
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}
MAX_TEXT = 4096
MAX_CAPTION = 1024


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


def administrator(manage_topics: bool) -> dict:
    """The bot as an administrator (every right Telegram lists, topics as given)."""
    rights = dict.fromkeys((
        "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
        "can_restrict_members", "can_change_info", "can_invite_users", "can_post_stories",
        "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_post_messages",
        "can_edit_messages"), True)
    return {"status": "administrator", "user": BOT_USER, "can_be_edited": False,
            "is_anonymous": False, "can_promote_members": False,
            "can_manage_topics": manage_topics, **rights}
