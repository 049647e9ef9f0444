"""What each notice about a ticket says: one function per template, from the facts the sender
gathers when it sends (the ticket, the reader's language, the row's parameters) to the text and
buttons (a Note). A notice is queued by name (bot.domain.tickets.notices); its name is a key of
TEMPLATES; bot.telegram.helpers.notes renders and delivers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity

from bot import ROLES
from bot.domain.models import TicketStatus
from bot.domain.roster import HelperView
from bot.domain.tickets.messages import Kind
from bot.domain.tickets.views import TicketView
from bot.i18n import gettext, ngettext
from bot.services import Services
from bot.telegram import keyboards
from bot.telegram.callbacks import Action, encode
from bot.telegram.dialogs import expired_text
from bot.telegram.helpers.cards import with_mentions
from bot.telegram.keyboards import role_name

STARS = "★"


def rating_buttons(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(str(stars), callback_data=encode(Action.RATE, ticket_id, stars))
        for stars in range(1, 6)]])


def phone_button(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        gettext(lang, "I would prefer a phone call"),
        callback_data=encode(Action.PHONE, ticket_id))]])


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    markup: InlineKeyboardMarkup | None = None
    entities: list[MessageEntity] | None = None
    remember: Kind | None = None  # note the sent message as belonging to the ticket
    edit: int | None = None  # edit this message of the reader's chat instead of sending


@dataclass(frozen=True, slots=True)
class Facts:
    """What a template may use: the ticket, the reader's language, the row's parameters."""

    services: Services
    ticket: TicketView | None
    lang: str
    params: dict[str, Any]
    mention: list[HelperView]
    phone: str | None = None
    feedback: str | None = None
    helper_name: str = ""
    reader: int = 0  # whose chat the message goes to


def _first(name: str | None) -> str:
    return (name or "").split()[0] if (name or "").split() else "?"


# --- to the asker --------------------------------------------------------------------------------

def _claimed(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "{name} is now looking at your question #{number}. You can go on "
                                "writing here.", name=_first(f.ticket.claimer_name),
                        number=f.ticket.id),
                phone_button(f.ticket.id, f.lang), remember=Kind.TO_ASKER)


def _closed(f: Facts) -> Note:
    assert f.ticket is not None
    days = f.services.settings.reopen_days
    return Note(ngettext(f.lang, "{name} marked your question #{number} as answered. How did it "
                                 "go? (1 = poorly, 5 = very well)\nIf you still need help, reply "
                                 "to this message within {days} day.",
                         "{name} marked your question #{number} as answered. How did it "
                         "go? (1 = poorly, 5 = very well)\nIf you still need help, reply "
                         "to this message within {days} days.", days,
                         name=_first(f.helper_name), number=f.ticket.id, days=days),
                rating_buttons(f.ticket.id), remember=Kind.CLOSING)


def _closed_unanswered(f: Facts) -> Note:
    """Closed with no answer ever sent to the asker: nothing to rate; they may write again."""
    assert f.ticket is not None
    return Note(gettext(f.lang, "Your question #{number} was closed without an answer being sent "
                                "to you. If you still need help, please write again: reply to "
                                "this message, or send a new question.", number=f.ticket.id),
                remember=Kind.CLOSING)


def _rerouted(f: Facts) -> Note:
    assert f.ticket is not None
    if f.params.get("mention"):  # the notice in the helpers' topic
        text, entities = with_mentions(gettext(
            f.lang, "#{number} now belongs to {role} ({topic}). Could one of you take it?",
            number=f.ticket.id, role=f.services.role_name(f.ticket.role, f.lang),
            topic=f.services.topic_name(f.ticket.topic, f.lang)), f.mention, "\n")
        return Note(text, entities=entities)
    return Note(gettext(f.lang, "Your question #{number} was passed on to {role}, who can help "
                                "you best with it.", number=f.ticket.id,
                        role=f.services.role_name(f.ticket.role, f.lang)),
                remember=Kind.TO_ASKER)


# --- to the helpers ------------------------------------------------------------------------------

def _called(f: Facts, text: str) -> Note:
    """A notice that calls the helpers in `f.mention` by name."""
    message, entities = with_mentions(text, f.mention, "\n")
    return Note(message, entities=entities)


def _reminder(f: Facts) -> Note:
    assert f.ticket is not None
    minutes = int(f.params.get("minutes", 0))
    return _called(f, ngettext(
        f.lang, "#{number} has waited {minutes} working minute for a helper. Could one of you "
                "take it?",
        "#{number} has waited {minutes} working minutes for a helper. Could one of you take it?",
        minutes, number=f.ticket.id, minutes=minutes))


def _escalation(f: Facts) -> Note:
    assert f.ticket is not None
    minutes = int(f.params.get("minutes", 0))
    return _called(f, ngettext(
        f.lang, "#{number} has waited {minutes} working minute and nobody has taken it. "
                "Everyone, please help!",
        "#{number} has waited {minutes} working minutes and nobody has taken it. Everyone, "
        "please help!", minutes, number=f.ticket.id, minutes=minutes))


def _nudge(f: Facts) -> Note:
    assert f.ticket is not None
    return _called(f, gettext(f.lang, "#{number}: the asker is still waiting for a reply.",
                              number=f.ticket.id))


def _escalation_admin(f: Facts) -> Note:
    assert f.ticket is not None
    minutes = int(f.params.get("minutes", 0))
    return Note(ngettext(f.lang, "#{number} ({role}, {topic}) has waited {minutes} working "
                                 "minute without a helper.",
                         "#{number} ({role}, {topic}) has waited {minutes} working minutes "
                         "without a helper.", minutes, number=f.ticket.id,
                         role=f.services.role_name(f.ticket.role, f.lang),
                         topic=f.services.topic_name(f.ticket.topic, f.lang), minutes=minutes))


def _reopened(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "#{number} is open again: the asker wrote after it was closed.",
                        number=f.ticket.id))


def _feedback(f: Facts) -> Note | None:
    assert f.ticket is not None
    if not f.feedback:
        return None
    return Note(gettext(f.lang, "#{number} feedback: {text}", number=f.ticket.id,
                        text=f.feedback[:3000]), remember=Kind.FEEDBACK)


def _comment_removed(f: Facts) -> Note | None:
    """The message that quoted the asker's comment, edited once they asked to be forgotten."""
    message_id = f.params.get("message_id")
    if not isinstance(message_id, int):
        return None
    return Note(gettext(f.lang, "The asker's comment has been removed at their request."),
                edit=message_id)


def _relay_removed(f: Facts) -> Note | None:
    """A message of the asker's relayed to the helpers, taken back once they asked to be
    forgotten (a picture or file, with no text to edit, is deleted: bot.telegram.helpers.notes)."""
    message_id = f.params.get("message_id")
    if not isinstance(message_id, int):
        return None
    return Note(gettext(f.lang, "The asker's message has been removed at their request."),
                edit=message_id)


def _unreachable(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "#{number}: the asker has blocked the bot or left, so this did "
                                "not reach them.", number=f.ticket.id))


def _phone(f: Facts) -> Note | None:
    """The number, to the holder only: not sent when the ticket has moved on meanwhile (closed,
    released, handed over, its asker forgotten), and remembered, so that it can be taken back."""
    assert f.ticket is not None
    if not f.phone or f.ticket.status != TicketStatus.CLAIMED or f.ticket.claimed_by != f.reader:
        return None
    return Note(gettext(f.lang, "#{number}: the asker would prefer a phone call: {phone}",
                        number=f.ticket.id, phone=f.phone), remember=Kind.PHONE)


def _phone_removed(f: Facts) -> Note | None:
    """The message that carried the number, edited once the number is no longer theirs."""
    message_id = f.params.get("message_id")
    if f.ticket is None or not isinstance(message_id, int):
        return None
    return Note(gettext(f.lang, "#{number}: the asker asked for a phone call (the number has "
                                "been removed).", number=f.ticket.id), edit=message_id)


def _phone_sent(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "#{number}: the asker would prefer a call; the number was sent "
                                "privately to {name}.", number=f.ticket.id,
                        name=f.ticket.claimer_name or "?"))


def _phone_waiting(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "#{number}: the asker would prefer a call; the number goes "
                                "privately to whoever claims the question.", number=f.ticket.id))


# --- the knowledge loop (bot.domain.answers) -----------------------------------------------------

def _answer(f: Facts) -> Note | None:
    """A self-service answer a helper sent from the card, in the asker's language."""
    assert f.ticket is not None
    if f.services.router.answer(str(f.params.get("answer"))) is None:
        return None  # withdrawn in the meantime
    return Note(gettext(f.lang, "{name} sent you this answer to question #{number}:",
                        name=_first(f.helper_name), number=f.ticket.id) + "\n\n"
                + f.services.answer_text(str(f.params["answer"]), f.lang) + "\n\n"
                + gettext(f.lang, "If you still need help, just write here."),
                remember=Kind.TO_ASKER)


def _answer_sent(f: Facts) -> Note | None:
    assert f.ticket is not None
    if f.services.router.answer(str(f.params.get("answer"))) is None:
        return None
    text = " ".join(f.services.answer_text(str(f.params["answer"]), f.lang).split())
    return Note(gettext(f.lang, "#{number}: {name} sent the asker this answer: {text}",
                        number=f.ticket.id, name=f.helper_name or "?",
                        text=text[:300] + ("…" if len(text) > 300 else "")))


def _rising(f: Facts) -> Note | None:
    """To an organiser: a topic asked clearly more than before, and an event on it in one
    press (the /newevent conversation, its title filled in)."""
    topic = str(f.params.get("topic"))
    if topic not in f.services.knowledge.topics:
        return None
    name = f.services.topic_name(topic, f.lang)
    return Note(gettext(f.lang, "{topic} was asked about {count} times in {month}, against "
                                "about {before} a month before. Would a webinar or a pedagogical "
                                "café on it help?", topic=name, count=f.params.get("count", 0),
                        month=f.params.get("month", ""), before=f.params.get("before", 0)),
                InlineKeyboardMarkup([[
                    InlineKeyboardButton(gettext(f.lang, "Plan a webinar"),
                                         callback_data=encode(Action.SUGGEST_WEBINAR,
                                                              arg=topic)),
                    InlineKeyboardButton(gettext(f.lang, "Plan a café"),
                                         callback_data=encode(Action.SUGGEST_CAFE, arg=topic))]]))


# --- the holder's controls: released, handed over, rated ------------------------------------------

def _released(f: Facts) -> Note:
    assert f.ticket is not None
    return _called(f, gettext(f.lang, "{name} gave #{number} back to the queue. Could one of you "
                                      "take it?", name=f.helper_name or "?", number=f.ticket.id))


def _removed_released(f: Facts) -> Note:
    """The holder was taken out of the roster: their name comes with the row (the roster no
    longer has it)."""
    assert f.ticket is not None
    return _called(f, gettext(f.lang, "{name} was removed from the helpers; #{number} is back in "
                                      "the queue. Could one of you take it?",
                              name=str(f.params.get("name") or "?"), number=f.ticket.id))


def _released_asker(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "Your question #{number} goes on to a colleague, who will "
                                "continue with it. You will hear who as soon as they take it; "
                                "you can go on writing here.", number=f.ticket.id),
                remember=Kind.TO_ASKER)


def _handed_over(f: Facts) -> Note:
    assert f.ticket is not None
    return _called(f, gettext(f.lang, "#{number}: {name} handed this question over to you. "
                                      "Thank you for taking it on!", number=f.ticket.id,
                              name=f.helper_name or "?"))


def _handed_over_asker(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "{name} now continues with your question #{number}. You can go "
                                "on writing here.", name=_first(f.ticket.claimer_name),
                        number=f.ticket.id),
                remember=Kind.TO_ASKER)


def _rated(f: Facts) -> Note:
    assert f.ticket is not None
    stars = int(f.params.get("stars", 0))
    return _called(f, gettext(f.lang, "#{number} was rated {stars} ({rating}/5).",
                              number=f.ticket.id, stars=STARS * stars, rating=stars))


def _withdrawn(f: Facts) -> Note:
    assert f.ticket is not None
    text, entities = with_mentions(gettext(
        f.lang, "#{number}: the asker withdrew the question and erased their data, so nothing "
                "more can reach them. Thank you for your help with it.", number=f.ticket.id),
        f.mention, "\n")
    return Note(text, entities=entities)


def _solved_by_asker(f: Facts) -> Note:
    assert f.ticket is not None
    return Note(gettext(f.lang, "#{number}: the asker solved it themselves, so it is closed. "
                                "Thank you for being there!", number=f.ticket.id))


def _poison(f: Facts) -> Note:
    return Note(gettext(f.lang, "A message from Telegram (update {number}) could not be read and "
                                "was set aside. The bot goes on; if this repeats, please tell "
                                "whoever runs it.", number=f.params.get("update_id", "?")))


def _dialog_expired(f: Facts) -> Note:
    """A dialog the person left quiet was put aside (bot.telegram.dialogs.sweep)."""
    return Note(expired_text(str(f.params.get("kind")), str(f.params.get("lang") or f.lang)))


def _offer_passed(f: Facts) -> Note:
    """To the asker: the answer offered was not confirmed, so a colleague looks too."""
    assert f.ticket is not None
    return Note(gettext(f.lang, "You did not tell me whether the answer helped, so a colleague "
                                "will look at your question #{number} too. If it is solved "
                                "already, press “Solved it myself”.", number=f.ticket.id),
                keyboards.acknowledgement(f.ticket.id, f.lang, f.ticket.anonymous),
                remember=Kind.ACK)


def _off_roster(f: Facts) -> Note:
    """To a person an admin took off the roster: said, and thanked, in the language they had
    (they are no longer in the roster when it is sent)."""
    lang = str(f.params.get("lang") or f.lang)
    return Note(gettext(lang, "You are no longer on the peer-support helpers' list. Thank you "
                              "for all the help you have given! The helpers' group is for the "
                              "helpers, so please leave it. You can still ask your own "
                              "questions here."))


def _invite_used(f: Facts) -> Note:
    """To the admin who made an invitation: who came by it (named from the roster when sent),
    and with what."""
    roles = ", ".join(role_name(f.services, str(role), f.lang) for role in f.params["roles"])
    text = gettext(f.lang, "{name} opened your invitation and is now in the desk as: {roles}.",
                   name=f.helper_name or "?", roles=roles)
    if f.services.forum is not None and any(role in ROLES for role in f.params["roles"]):
        text += "\n\n" + gettext(f.lang, "Add them to the helpers' group in Telegram too: the "
                                          "questions' topics are there, and only its members "
                                          "see them.")
    return Note(text)


def _marked_away(f: Facts) -> Note:
    """To a helper an admin marked away (or back): so they know why questions stop calling."""
    return Note(gettext(f.lang, "An admin marked you away: new questions will not call you while "
                                "a colleague of your role is available. /back when you return."))


def _marked_back(f: Facts) -> Note:
    return Note(gettext(f.lang, "An admin marked you available again: new questions will call "
                                "you."))


def _closed_by_colleague(f: Facts) -> Note:
    """To the holder (in the topic, or privately): a colleague closed the question they held."""
    assert f.ticket is not None
    text, entities = with_mentions(gettext(
        f.lang, "{name} closed #{number}, which you held.", name=f.helper_name or "?",
        number=f.ticket.id), f.mention)
    return Note(text, entities=entities or None)


TEMPLATES: dict[str, Callable[[Facts], Note | None]] = {
    "closed_by_colleague": _closed_by_colleague,
    "marked_away": _marked_away,
    "marked_back": _marked_back,
    "off_roster": _off_roster,
    "invite_used": _invite_used,
    "dialog_expired": _dialog_expired,
    "offer_passed": _offer_passed,
    "claimed": _claimed,
    "closed": _closed,
    "closed_unanswered": _closed_unanswered,
    "rerouted": _rerouted,
    "reminder": _reminder,
    "escalation": _escalation,
    "nudge": _nudge,
    "escalation_admin": _escalation_admin,
    "reopened": _reopened,
    "feedback": _feedback,
    "asker_unreachable": _unreachable,
    "phone": _phone,
    "phone_sent": _phone_sent,
    "phone_waiting": _phone_waiting,
    "phone_removed": _phone_removed,
    "comment_removed": _comment_removed,
    "relay_removed": _relay_removed,
    "poison": _poison,
    "answer": _answer,
    "answer_sent": _answer_sent,
    "rising": _rising,
    "released": _released,
    "removed_released": _removed_released,
    "released_asker": _released_asker,
    "handed_over": _handed_over,
    "handed_over_asker": _handed_over_asker,
    "rated": _rated,
    "withdrawn": _withdrawn,
    "solved_by_asker": _solved_by_asker,
}
