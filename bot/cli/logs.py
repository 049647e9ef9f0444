"""The command line's logging: plain text or one JSON object a line, and nothing private in
either — secrets masked, python-telegram-bot's payloads and the chattiest libraries left out."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from urllib.parse import quote

from bot.config import Settings


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors. Messages carry ids and counts only."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_text:
            entry["error"] = record.exc_text
        elif record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# python-telegram-bot's debug lines that carry whole updates, messages and API parameters (names,
# question texts, Telegram ids): kept, with the payload left out.
_PTB_PAYLOADS: dict[str, tuple[str, Callable[[tuple], tuple]]] = {
    "Calling Bot API endpoint `%s` with parameters `%s`":
        ("Calling Bot API endpoint `%s`", lambda args: args[:1]),
    "Call to Bot API endpoint `%s` finished with return value `%s`":
        ("Call to Bot API endpoint `%s` finished", lambda args: args[:1]),
    "Processing update %s": ("Processing update %s", lambda args: (_update_id(args[0]),)),
    "Dropping pending update: %s":
        ("Dropping pending update: %s", lambda args: (_update_id(args[0]),)),
    "Webhook received data: %s": ("Webhook received data", lambda args: ()),
    "Selecting conversation %s with state %s":
        ("Selecting a conversation with state %s", lambda args: args[1:]),
    "Conversation timeout was triggered for conversation %s!":
        ("Conversation timeout was triggered", lambda args: ()),
}
# Loggers whose debug output is the data itself: aiosqlite logs every call with its parameters,
# SQLAlchemy's engine the rows it reads, httpx every request URL (which holds the bot token).
_QUIET = {"httpx": logging.WARNING, "httpcore": logging.INFO, "aiosqlite": logging.INFO,
          "sqlalchemy": logging.WARNING, "apscheduler": logging.WARNING,
          "alembic": logging.WARNING}


def _update_id(update: object) -> object:
    return getattr(update, "update_id", "?")


class PrivateLog(logging.Filter):
    """On every handler: the bot token and other secrets are masked in each record, exceptions
    included, and python-telegram-bot's debug lines lose their payloads — at any level."""

    MASK = "[secret]"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        forms = {form for secret in secrets if secret
                 for form in (secret, quote(secret, safe=""))}
        self.secrets = sorted(forms, key=len, reverse=True)  # a longer form first

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, self.MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and isinstance(record.msg, str):
            redacted = _PTB_PAYLOADS.get(record.msg)
            if redacted is not None and isinstance(record.args, tuple):
                record.msg, record.args = redacted[0], redacted[1](record.args)
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it, without our help
            return True
        masked = self._mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


def configure_logging(level: str, form: str = "text", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if form == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ours = logging.getLevelName(level.upper())
    if not isinstance(ours, int):  # not a level's name
        ours = logging.INFO
    # Other libraries speak from WARNING up (matplotlib's "Using categorical units", PTB's and
    # APScheduler's chatter); at DEBUG everything is shown, for developers, less what no log
    # may hold (PrivateLog, _QUIET).
    logging.basicConfig(level=ours if ours == logging.DEBUG else max(ours, logging.WARNING),
                        handlers=[handler])
    logging.getLogger("bot").setLevel(ours)
    for root_handler in logging.getLogger().handlers:
        root_handler.addFilter(PrivateLog(secrets))
    for name, quiet in _QUIET.items():
        logger_ = logging.getLogger(name)
        logger_.setLevel(max(quiet, logger_.getEffectiveLevel()))


def secrets_of(settings: Settings) -> list[str]:
    """The values no log may show: the bot token, the report token, the webhook secret."""
    return [secret.get_secret_value() for secret in (
        settings.telegram_token, settings.report_token, settings.webhook_secret)
        if secret is not None]
