"""The asker's inline keyboards (their data: bot.telegram.callbacks)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import LANGUAGES
from bot.i18n import gettext
from bot.services import Services
from bot.telegram.callbacks import Action, encode

LANGUAGE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}


def choose_role(services: Services, ticket_id: int, roles: tuple[str, ...], lang: str
                ) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(services.role_name(r, lang),
                               callback_data=encode(Action.ROLE, ticket_id, r))] for r in roles]
    )


def self_service(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(gettext(lang, "This helped"),
                              callback_data=encode(Action.SELF_SERVICE, ticket_id, "y"))],
        [InlineKeyboardButton(gettext(lang, "I still want to ask a helper"),
                              callback_data=encode(Action.SELF_SERVICE, ticket_id, "n"))],
    ])


def anonymous(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        gettext(lang, "Make this question anonymous"),
        callback_data=encode(Action.ANONYMOUS, ticket_id))]])


def languages() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"lang:{code}")
          for code in LANGUAGES]]
    )
