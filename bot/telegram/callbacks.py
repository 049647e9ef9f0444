"""Button data, typed: each kind of button has one action name, one pattern for its handler's
registration, one way to encode and one to decode. Decoding checks shape and ranges, so a forged
or stale button never reaches the database with an id it cannot hold."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_ID = 2**31 - 1  # ids the database holds on both backends
_DATA = re.compile(r"^(?P<action>[a-z]+(?::[a-z]+)?):(?P<id>\d{1,10})(?::(?P<arg>\w{1,40}))?$")


class Action(StrEnum):
    # the helpers' card
    CLAIM = "q:claim"
    CLOSE = "q:close"
    REROUTE = "q:rr"  # choose a role…
    REROUTE_ROLE = "q:rrr"  # …then one of its topics
    REROUTE_TOPIC = "q:rrt"
    CARD = "q:card"  # back to the card's own buttons
    ANSWER_SEND = "k:send"  # send an answer at hand to the asker (arg: the answer)
    ANSWER_SAVE = "k:save"  # a closed, well-rated ticket's reply becomes a draft answer
    ANSWER_PART = "k:part"  # one of the helper's texts into the draft or out (arg: its number)
    DRAFT_PUBLISH = "k:pub"  # a coach publishes the draft of this ticket
    DRAFT_DISCARD = "k:drop"
    # the asker's
    RATE = "rate"
    PHONE = "phone"
    ROLE = "role"
    SELF_SERVICE = "ss"
    ANONYMOUS = "anon"
    # the holder's controls on the card
    RELEASE = "q:rel"  # back to the queue
    HAND_OVER = "q:ho"  # choose a colleague of the role…
    HAND_OVER_ALL = "q:hoa"  # …or of any role…
    HAND_TO = "q:hot"  # …and hand it to them (arg: their Telegram id)


    SOLVE = "solve"  # "Solved it myself" under the acknowledgement
    JOIN = "cj"  # a message that may be another matter: add it to this ticket (arg: message)…
    NEW = "cn"  # …or make it a new question (id: the message, arg: the ticket)


@dataclass(frozen=True, slots=True)
class Button:
    action: Action
    id: int  # a ticket, mostly
    arg: str | None = None


def encode(action: Action, id: int, arg: str | int | None = None) -> str:
    data = f"{action}:{id}" if arg is None else f"{action}:{id}:{arg}"
    assert len(data.encode()) <= 64, data  # Telegram's limit
    return data


def decode(data: str | None, *actions: Action) -> Button | None:
    """The button, if `data` is well formed, one of `actions`, with an id in range."""
    found = _DATA.match(data or "")
    if found is None:
        return None
    try:
        action = Action(found["action"])
    except ValueError:
        return None
    number = int(found["id"])
    if (actions and action not in actions) or not 0 < number <= MAX_ID:
        return None
    return Button(action, number, found["arg"])


def pattern(*actions: Action) -> re.Pattern[str]:
    """For a CallbackQueryHandler: data of these actions (ranges are checked by `decode`)."""
    names = "|".join(re.escape(action) for action in actions)
    return re.compile(rf"^(?:{names}):\d{{1,10}}(?::\w{{1,40}})?$")


# --- setting the desk up (bot.telegram.setup, bot.telegram.admin) ---------------------------------
# Their ids can be people's Telegram ids (beyond MAX_ID) or channel rows: a codec of their own,
# in the same shape. Each button carries its whole choice, so nothing waits in memory.

MAX_PERSON = 2**53 - 1  # Telegram's user ids fit in 52 bits
_SETUP = re.compile(r"^(?P<action>su:[a-z]+):(?P<id>\d{1,16})(?::(?P<arg>\w{1,40}))?$")


class SetupAction(StrEnum):
    LANGUAGE = "su:lang"  # a new helper toggles a language (id: the invitation, arg: fi|sv|en)
    LANGUAGES_DONE = "su:langok"  # …and goes on to the team (id: the invitation)
    TEAM = "su:team"  # …chooses a team (id: the invitation, arg: the team's key, or "none")
    REVOKE = "su:revoke"  # /invites: revoke one (id: the invitation)
    CHANNEL = "su:chan"  # is this an announcement channel? (id: the row, arg: yes|no)
    PERSON = "su:who"  # /helpers: one person's buttons (id: their Telegram id)
    ROSTER = "su:all"  # /helpers: back to everyone (id: 1)
    ROLE = "su:role"  # give or take a role (id: the person, arg: the role)
    AWAY = "su:away"  # (id: the person, arg: on|off)
    REMOVE = "su:rm"  # (id: the person, arg: ask|yes)


_PERSON_IDS = frozenset({SetupAction.PERSON, SetupAction.ROLE, SetupAction.AWAY,
                         SetupAction.REMOVE})


@dataclass(frozen=True, slots=True)
class SetupButton:
    action: SetupAction
    id: int
    arg: str | None = None


def encode_setup(action: SetupAction, id: int, arg: str | None = None) -> str:
    data = f"{action}:{id}" if arg is None else f"{action}:{id}:{arg}"
    assert len(data.encode()) <= 64, data
    return data


def decode_setup(data: str | None, *actions: SetupAction) -> SetupButton | None:
    """The button, if `data` is well formed, one of `actions`, with an id in range."""
    found = _SETUP.match(data or "")
    if found is None:
        return None
    try:
        action = SetupAction(found["action"])
    except ValueError:
        return None
    number = int(found["id"])
    # A person's id is a Telegram id; every other id is a row's, which PostgreSQL keeps in 32
    # bits (a forged larger one must be refused here, not by the database).
    limit = MAX_PERSON if action in _PERSON_IDS else MAX_ID
    if (actions and action not in actions) or not 0 < number <= limit:
        return None
    return SetupButton(action, number, found["arg"])


def setup_pattern(*actions: SetupAction) -> re.Pattern[str]:
    names = "|".join(re.escape(action) for action in actions)
    return re.compile(rf"^(?:{names}):\d{{1,16}}(?::\w{{1,40}})?$")
