"""Button data: every button of the bot goes through one typed codec (bot.telegram.callbacks),
whose patterns take exactly the data its decoder accepts in shape, and whose decoder refuses what
is forged, out of range or of another form — so that such a press is answered kindly."""

from __future__ import annotations

import re

import pytest

from bot.config import PROJECT_ROOT
from bot.telegram.callbacks import (
    MAX_ID,
    Action,
    Button,
    SetupAction,
    decode,
    encode,
    pattern,
    shape,
)

# Data as buttons already sent in chats carry it: each decodes to the same button as before.
SENT = {
    "q:claim:5": Button(Action.CLAIM, 5),
    "q:claim:5:sure": Button(Action.CLAIM, 5, "sure"),
    "q:rr:5": Button(Action.REROUTE, 5),
    "q:rrr:5:tvt": Button(Action.REROUTE_ROLE, 5, "tvt"),
    "cn:12:7": Button(Action.NEW, 12, "7"),
    "lang:sv": Button(Action.LANGUAGE, 0, "sv"),
    "forget:yes": Button(Action.FORGET, 0, "yes"),
    "rsvp:3:plus": Button(Action.RSVP, 3, "plus"),
    "rsvp:3:closed": Button(Action.RSVP, 3, "closed"),
    "offer:3:no": Button(Action.OFFER, 3, "no"),
    "here:3": Button(Action.HERE, 3),
    "fb:3:5": Button(Action.EVENT_RATING, 3, "5"),
    "came:3:7001": Button(Action.CAME, 3, "7001"),
    "mat:3": Button(Action.MATERIALS, 3),
    "ics:3": Button(Action.ICS, 3),
    "matfor:3": Button(Action.MATERIALS_FOR, 3),
    "kind:theme_day": Button(Action.EVENT_KIND, 0, "theme_day"),
    "start:no": Button(Action.START, 0, "no"),
    "closes:none": Button(Action.CLOSES, 0, "none"),
    "publish:yes": Button(Action.PUBLISH, 0, "yes"),
    "when:now": Button(Action.SEND_NOW, 0, "now"),
    "evsug:webinar:assessment": Button(Action.SUGGEST_WEBINAR, 0, "assessment"),
    "evsug:cafe:hoks": Button(Action.SUGGEST_CAFE, 0, "hoks"),
    "su:who:5000000000": Button(SetupAction.PERSON, 5_000_000_000),
    "su:lang:2:fi": Button(SetupAction.LANGUAGE, 2, "fi"),
}

FORGED = [
    "", "x", "\x00", "rsvp:0:yes", f"rsvp:{MAX_ID + 1}:yes", "rsvp:3:maybe", "rsvp:3",
    "here:3:x", "fb:3:6", "fb:3", "came:3:0", "came:3:x", "lang:de", "lang:5", "forget:1:yes",
    "forget:maybe", "kind:party", "start:3:yes", "publish:", "evsug:lecture:hoks", "mat:",
    f"q:close:{2**63}", f"su:lang:{2**31}:fi", "q:claim:5:a:b",
]


@pytest.mark.parametrize(("data", "button"), SENT.items())
def test_buttons_sent_before_are_read_as_before(data: str, button: Button) -> None:
    assert decode(data) == button
    assert decode(data, button.action) == button
    assert pattern(button.action).fullmatch(data)
    assert encode(button.action, button.id, button.arg) == data


@pytest.mark.parametrize("data", FORGED)
def test_forged_or_out_of_range_data_is_no_button(data: str) -> None:
    assert decode(data) is None


def test_a_button_is_only_the_action_asked_for() -> None:
    assert decode("rsvp:3:yes", Action.OFFER) is None
    assert decode("mat:3", Action.MATERIALS_FOR) is None  # "mat" is no "matfor", nor back
    assert decode("matfor:3", Action.MATERIALS) is None


def test_what_a_pattern_takes_the_decoder_reads() -> None:
    """A handler registered with `pattern` never meets data `decode` cannot read, except an id
    out of range (which the handler refuses kindly)."""
    for action in (*Action, *SetupAction):
        for data in [*SENT, *FORGED]:
            if pattern(action).fullmatch(data) and decode(data, action) is None:
                number = int(data.removeprefix(f"{action.value}:").split(":")[0])
                assert not 0 < number <= shape(action).most, data


def test_every_button_of_the_bot_goes_through_the_codec() -> None:
    """No button's data is written by hand anywhere in bot/."""
    written = []
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for found in re.finditer(r"callback_data=\(?\s*([^\s(]*)", text):
            if found.group(1) != "encode":
                written.append(f"{path.relative_to(PROJECT_ROOT)}: {found.group(0)!r}")
    assert not written
