"""The asker's inline keyboards (their data: bot.telegram.callbacks), and the one way a pressed
message's buttons are taken away."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import MessageLimit
from telegram.error import BadRequest

from bot import LANGUAGES, LEAD
from bot.domain.intake import UNSURE
from bot.domain.invites import ADMIN, ORGANISER
from bot.i18n import _, gettext
from bot.services import Services
from bot.telegram import posting
from bot.telegram.callbacks import Action, encode

LANGUAGE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}


def a_role(services: Services, role: str, lang: str) -> str:
    """The role's name to begin a sentence with: in English with its article ("An ICT support
    person", "A peer coach"), which the English catalog asks for as {a_role}."""
    name = services.role_name(role, lang)
    if lang != "en" or not name:
        return name
    if not name.split()[0].isupper():  # "ICT" stays as it is
        name = name[0].lower() + name[1:]
    return ("An " if name[0].lower() in "aeiou" else "A ") + name


def role_lines(services: Services, roles: tuple[str, ...], lang: str) -> str:
    """Each role with its one line on what it helps with, in the order of the buttons."""
    return "\n".join(f"• {services.role_name(r, lang)}: "
                     f"{services.knowledge.roles[r].helps_with[lang]}" for r in roles)


def choose_role(services: Services, ticket_id: int, roles: tuple[str, ...], lang: str
                ) -> InlineKeyboardMarkup:
    """A button per role (described in the message above them, `role_lines`), and "I don't
    know" last: the router's best guess."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(services.role_name(r, lang),
                               callback_data=encode(Action.ROLE, ticket_id, r))] for r in roles]
        + [[InlineKeyboardButton(gettext(lang, "I don't know"),
                                 callback_data=encode(Action.ROLE, ticket_id, UNSURE))]]
    )


def self_service(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(gettext(lang, "This helped"),
                              callback_data=encode(Action.SELF_SERVICE, ticket_id, "y"))],
        [InlineKeyboardButton(gettext(lang, "I still want to ask a helper"),
                              callback_data=encode(Action.SELF_SERVICE, ticket_id, "n"))],
    ])


def acknowledgement(ticket_id: int, lang: str, anonymous: bool) -> InlineKeyboardMarkup:
    """Under a waiting question: solved it myself, and (unless it is already) anonymity."""
    rows = [[InlineKeyboardButton(gettext(lang, "Solved it myself"),
                                  callback_data=encode(Action.SOLVE, ticket_id))]]
    if not anonymous:
        rows.append([InlineKeyboardButton(gettext(lang, "Make this question anonymous"),
                                          callback_data=encode(Action.ANONYMOUS, ticket_id))])
    return InlineKeyboardMarkup(rows)


def anonymous(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        gettext(lang, "Make this question anonymous"),
        callback_data=encode(Action.ANONYMOUS, ticket_id))]])


def join_or_new(ticket_id: int, message_id: int, lang: str) -> InlineKeyboardMarkup:
    """A message that may be another matter: add it to the question, or ask it anew."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(gettext(lang, "Add to #{number}", number=ticket_id),
                             callback_data=encode(Action.JOIN, ticket_id, message_id)),
        InlineKeyboardButton(gettext(lang, "New question"),
                             callback_data=encode(Action.NEW, message_id, ticket_id)),
    ]])


def languages() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(LANGUAGE_NAMES[code],
                               callback_data=encode(Action.LANGUAGE, arg=code))
          for code in LANGUAGES]]
    )


async def take_away_buttons(query: CallbackQuery, *, chosen: str | None = None) -> None:
    """The pressed message's buttons go; with `chosen`, the message keeps what was chosen
    ("✓ Webinar") where the buttons were, so that the conversation reads back. A second press
    (a double tap, or the same update on two replicas) finds them gone already, which Telegram
    answers with "message is not modified": that is no error."""
    message = query.message
    if not isinstance(message, Message):  # too old for Telegram to show or edit: nothing to do
        return
    text = message.text
    try:
        recorded = f"{text}\n\n✓ {chosen}" if chosen and text else None
        if recorded and len(recorded.encode("utf-16-le")) // 2 <= MessageLimit.MAX_TEXT_LENGTH:
            await query.edit_message_text(recorded, reply_markup=None, entities=message.entities)
        else:
            await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        if not posting.not_modified(exc):
            raise


def pressed_label(query: CallbackQuery) -> str | None:
    """The text of the button pressed, as the person saw it."""
    markup = getattr(query.message, "reply_markup", None)
    for row in markup.inline_keyboard if markup is not None else ():
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None


# The roles beyond the three helpers', named as people read them (the helpers' come from
# knowledge/roles.yaml through the services).
ROLE_NAMES = {LEAD: _("Head of education (reports)"), ORGANISER: _("Organiser"),
              ADMIN: _("Admin")}


def role_name(services: Services, role: str, lang: str) -> str:
    return gettext(lang, ROLE_NAMES[role]) if role in ROLE_NAMES \
        else services.role_name(role, lang)
