"""A CallbackContext that gives handlers typed access to the shared services, and small typed
accessors for the parts of an update a handler was registered for (PTB types them all as
optional; a handler for messages always has one, so the check is made once, here)."""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, Message, Update, User
from telegram.ext import Application, CallbackContext, ExtBot

from bot.services import Services


class PeerdeskContext(CallbackContext[ExtBot, dict, dict, dict]):
    def __init__(self, application: Application, chat_id: int | None = None,
                 user_id: int | None = None) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        # The person's dialog as read for this update (bot.telegram.dialogs), in a 1-tuple once
        # read (its one item None when there is none): PTB makes one context per update.
        self.dialog_read: tuple[Any] | None = None

    @property
    def services(self) -> Services:
        return self.bot_data["services"]

    @property
    def state(self) -> dict[str, Any]:
        """The person's own state between updates (PTB's user_data)."""
        data = self.user_data
        if data is None:
            raise LookupError("no user in this update")
        return data


def message_of(update: Update) -> Message:
    """The message of a message update (or of an edited one)."""
    message = update.effective_message
    if message is None:
        raise LookupError("no message in this update")
    return message


def text_of(update: Update) -> str:
    """The text of a text message update ("" for any other)."""
    return message_of(update).text or ""


def user_of(update: Update) -> User:
    user = update.effective_user
    if user is None:
        raise LookupError("no user in this update")
    return user


def query_of(update: Update) -> CallbackQuery:
    query = update.callback_query
    if query is None:
        raise LookupError("no button press in this update")
    return query


def query_message(query: CallbackQuery) -> Message:
    """The message whose button was pressed (one too old for Telegram to give is refused)."""
    message = query.message
    if not isinstance(message, Message):
        raise LookupError("the message of this button is no longer accessible")
    return message
