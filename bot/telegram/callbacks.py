"""Button data, typed: every button of the bot has one action name, one shape (what it carries:
an id in range, an arg of a known form), one pattern for its handler's registration, one way to
encode and one to decode. Decoding checks shape and ranges, so a forged or stale button never
reaches the database with an id it cannot hold; data that fits no pattern falls through to
`intake.unknown_button`, which answers it kindly.

The data is `action[:id][:arg]`, as buttons already sent in chats carry it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot import LANGUAGES
from bot.domain.models import EventKind

MAX_ID = 2**31 - 1  # ids the database holds on both backends
MAX_PERSON = 2**53 - 1  # Telegram's user ids fit in 52 bits
WORD = r"\w{1,40}"


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
    # the holder's controls on the card
    RELEASE = "q:rel"  # back to the queue
    HAND_OVER = "q:ho"  # choose a colleague of the role…
    HAND_OVER_ALL = "q:hoa"  # …or of any role…
    HAND_TO = "q:hot"  # …and hand it to them (arg: their Telegram id)
    # the asker's
    RATE = "rate"
    PHONE = "phone"
    ROLE = "role"
    SELF_SERVICE = "ss"
    ANONYMOUS = "anon"
    SOLVE = "solve"  # "Solved it myself" under the acknowledgement
    JOIN = "cj"  # a message that may be another matter: add it to this ticket (arg: message)…
    NEW = "cn"  # …or make it a new question (id: the message, arg: the ticket)
    # everyone's own settings (bot.telegram.intake, bot.telegram.privacy)
    LANGUAGE = "lang"  # /lang (no id; arg: fi|sv|en)
    FORGET = "forget"  # /forget's confirmation (no id; arg: yes|no)
    # events, the staff's and the hosts' (bot.telegram.events; id: the event)
    RSVP = "rsvp"  # (arg: yes|plus|no, or closed after the deadline)
    OFFER = "offer"  # a place offered from the waiting list (arg: yes|no)
    HERE = "here"  # "I'm here" under the last reminder
    EVENT_RATING = "fb"  # 1–5 under the feedback question (arg: the rating)
    CAME = "came"  # the host marks who came (arg: their Telegram id)
    MATERIALS = "mat"  # an event's materials, from /events
    ICS = "ics"  # an event's calendar file, from /events
    # the organisers' dialogs (no id: the dialog's row in the database holds the rest)
    EVENT_KIND = "kind"  # (arg: the kind)
    START = "start"  # the start shown back (arg: yes|no)
    CLOSES = "closes"  # no registration deadline (arg: none)
    PUBLISH = "publish"  # under the preview (arg: yes|no)
    SEND_NOW = "when"  # a bulletin now (arg: now)
    MATERIALS_FOR = "matfor"  # /materials: which event (id: the event)
    SUGGEST_WEBINAR = "evsug:webinar"  # a rising topic in the digest (no id; arg: the topic)
    SUGGEST_CAFE = "evsug:cafe"


class SetupAction(StrEnum):
    """Setting the desk up (bot.telegram.setup, bot.telegram.admin). Each button carries its
    whole choice, so nothing waits in memory."""

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


AnyAction = Action | SetupAction


@dataclass(frozen=True, slots=True)
class Shape:
    """What a kind of button carries after its action: an id up to `most` (none when 0), and an
    arg matching `arg` (none when None), which may be left out when `optional`."""

    most: int = MAX_ID
    arg: str | None = WORD
    optional: bool = True

    def regex(self) -> str:
        id_part = rf":\d{{1,{len(str(self.most))}}}" if self.most else ""
        if self.arg is None:
            return id_part
        return id_part + rf"(?::(?:{self.arg}))" + ("?" if self.optional else "")


def _one_of(*words: str) -> str:
    return "|".join(re.escape(word) for word in words)


YES_NO = _one_of("yes", "no")
NO_ID = 0
# A person's id is a Telegram id; every other id is a row's, which PostgreSQL keeps in 32 bits
# (a forged larger one must be refused here, not by the database).
SHAPES: dict[AnyAction, Shape] = {
    Action.LANGUAGE: Shape(NO_ID, _one_of(*LANGUAGES), optional=False),
    Action.FORGET: Shape(NO_ID, YES_NO, optional=False),
    Action.RSVP: Shape(arg=_one_of("yes", "plus", "no", "closed"), optional=False),
    Action.OFFER: Shape(arg=YES_NO, optional=False),
    Action.HERE: Shape(arg=None),
    Action.EVENT_RATING: Shape(arg="[1-5]", optional=False),
    Action.CAME: Shape(arg=r"[1-9]\d{0,14}", optional=False),  # a Telegram id, below MAX_PERSON
    Action.MATERIALS: Shape(arg=None),
    Action.ICS: Shape(arg=None),
    Action.EVENT_KIND: Shape(NO_ID, _one_of(*EventKind), optional=False),
    Action.START: Shape(NO_ID, YES_NO, optional=False),
    Action.CLOSES: Shape(NO_ID, "none", optional=False),
    Action.PUBLISH: Shape(NO_ID, YES_NO, optional=False),
    Action.SEND_NOW: Shape(NO_ID, "now", optional=False),
    Action.MATERIALS_FOR: Shape(arg=None),
    Action.SUGGEST_WEBINAR: Shape(NO_ID, WORD, optional=False),
    Action.SUGGEST_CAFE: Shape(NO_ID, WORD, optional=False),
    **{action: Shape(MAX_PERSON) for action in (SetupAction.PERSON, SetupAction.ROLE,
                                                SetupAction.AWAY, SetupAction.REMOVE)},
}
_BY_NAME: dict[str, AnyAction] = {action.value: action for action in (*Action, *SetupAction)}
# The longest first, so that "q:rrr" is not read as "q:rr" and "matfor" not as "mat".
_NAMES = "|".join(re.escape(name) for name in sorted(_BY_NAME, key=len, reverse=True))
_DATA = re.compile(rf"^(?P<action>{_NAMES})(?::(?P<id>\d{{1,16}}))?(?::(?P<arg>\w{{1,40}}))?$")


def shape(action: AnyAction) -> Shape:
    return SHAPES.get(action, Shape())


@dataclass(frozen=True, slots=True)
class Button:
    action: AnyAction
    id: int  # a ticket, an event, a person…; 0 for a button that carries none
    arg: str | None = None


def encode(action: AnyAction, id: int = NO_ID, arg: str | int | None = None) -> str:
    data = ":".join([action.value, *([str(id)] if shape(action).most else []),
                     *([str(arg)] if arg is not None else [])])
    assert len(data.encode()) <= 64, data  # Telegram's limit
    return data


def decode(data: str | None, *actions: AnyAction) -> Button | None:
    """The button, if `data` is well formed, one of `actions` (any, if none are named), with an
    id in range and an arg of its form."""
    found = _DATA.match(data or "")
    if found is None:
        return None
    action = _BY_NAME[found["action"]]
    if actions and action not in actions:
        return None
    form, arg = shape(action), found["arg"]
    if form.most:
        number = int(found["id"] or 0)
        if not 0 < number <= form.most:
            return None
    elif found["id"] is not None:
        if arg is not None:
            return None  # an id where this button carries none
        arg = found["id"]  # an arg of digits, read as an id by the pattern above
        number = NO_ID
    else:
        number = NO_ID
    if arg is None and form.arg is not None and not form.optional:
        return None
    if arg is not None and (form.arg is None or not re.fullmatch(form.arg, arg)):
        return None
    return Button(action, number, arg)


def pattern(*actions: AnyAction) -> re.Pattern[str]:
    """For a CallbackQueryHandler or a dialog's step: data of these actions, of their shape
    (ranges are checked by `decode`)."""
    return re.compile("^(?:" + "|".join(
        re.escape(action.value) + shape(action).regex() for action in actions) + ")$")
