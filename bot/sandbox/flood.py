"""Telegram's flood limits, when the sandbox is asked to keep them: 30 messages a second overall,
20 a minute to each group; beyond them Telegram answers 429 with how long to wait."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

# The methods that count as a message toward the limits (creating a topic posts one).
SENDING = {"sendMessage", "copyMessage", "copyMessages", "sendPhoto", "sendDocument",
           "sendVoice", "sendVideo", "sendAudio", "createForumTopic"}
PER_SECOND = 30
PER_GROUP_A_MINUTE = 20


@dataclass
class FloodLimits:
    """When each recent message went out, overall and to each group (any negative chat id)."""

    _overall: deque = field(default_factory=deque)
    _per_group: dict[int, deque] = field(default_factory=dict)

    def wait(self, chat_id: int, now: float) -> int | None:
        """None, and the message is counted, if it may go now; else the seconds to wait."""
        overall = self._overall
        while overall and now - overall[0] >= 1:
            overall.popleft()
        group = self._per_group.setdefault(chat_id, deque()) if chat_id < 0 else None
        while group and now - group[0] >= 60:
            group.popleft()
        if len(overall) >= PER_SECOND:
            return 1
        if group is not None and len(group) >= PER_GROUP_A_MINUTE:
            return max(1, math.ceil(60 - (now - group[0])))
        overall.append(now)
        if group is not None:
            group.append(now)
        return None
