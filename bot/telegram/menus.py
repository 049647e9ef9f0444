"""The command menus and /help's list, from one source: which commands each kind of person may
use, shown where they use them (Telegram's menu scopes), in fi, sv and en.

- Everyone's private chat (the default menu, per language): the staff's commands.
- The helpers' group: the helpers' commands.
- A helper's, lead's, organiser's or admin's own private chat: the staff's commands and theirs.
  A chat's own menu replaces the default one there, so it carries both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError
from telegram.ext import Application

from bot import LANGUAGES, LEAD, ROLES
from bot.domain import roster
from bot.i18n import _, gettext
from bot.services import Services
from bot.telegram.access import COACH_ROLES

logger = logging.getLogger(__name__)

Command = tuple[str, str]  # the command, and its description (translated when shown)

STAFF: tuple[Command, ...] = (
    ("start", _("Start and see who helps with what")),
    ("help", _("How to ask")),
    ("lang", _("Choose the language")),
    ("anon", _("Ask anonymously (on/off)")),
    ("my", _("My open questions")),
    ("team", _("Tell which team you work in")),
    ("events", _("Upcoming webinars, cafés and meetings")),
    ("hours", _("When helpers are around, and the next break")),
    ("mydata", _("What is stored about me")),
    ("forget", _("Erase my data")),
)
HELPERS: tuple[Command, ...] = (  # in the helpers' group and in a helper's private chat
    ("queue", _("Open questions of my roles")),
    ("mine", _("Questions I hold")),
    ("close", _("Close the question of this topic")),
    ("release", _("Give this question back to the queue")),
    ("answers", _("Find a self-service answer by a word")),
    ("log", _("Count a question asked face to face or by phone")),
    ("away", _("Pause my notifications")),
    ("back", _("I am available again")),
    ("report", _("What staff asked about this month")),
)
REPORTS: tuple[Command, ...] = (("report", _("What staff asked about this month")),)
COACHES: tuple[Command, ...] = (  # peer coaches, leads and admins review the drafted answers
    ("drafts", _("Drafted answers waiting for review")),
)
ORGANISERS: tuple[Command, ...] = (  # organisers and admins publish; hosts are among them
    ("newevent", _("Announce a webinar, café or meeting")),
    ("bulletin", _("Send a bulletin")),
    ("attendees", _("Who is coming to my events")),
    ("feedback", _("Who came to my events, and what they thought")),
    ("materials", _("Send materials or a recording after an event")),
)
ADMINS: tuple[Command, ...] = (  # setting the desk up (bot.telegram.admin)
    ("invite", _("Invite a colleague by a link")),
    ("invites", _("Open invitations, to revoke")),
    ("helpers", _("Everyone in the roster: roles, away, remove")),
    ("staffcode", _("A new staff link (staff-only mode)")),
    ("poster", _("A poster for the staff room")),
)


@dataclass(frozen=True, slots=True)
class Person:
    """What a person may do, as far as the menus care."""

    roles: frozenset[str] = frozenset()
    admin: bool = False
    organiser: bool = False

    @property
    def helper(self) -> bool:
        return any(role in ROLES for role in self.roles)


def sections(person: Person) -> list[tuple[str, tuple[Command, ...]]]:
    """The person's commands beyond the staff's, under a heading each (for /help)."""
    found: list[tuple[str, tuple[Command, ...]]] = []
    if person.helper:
        found.append((_("For helpers:"), HELPERS))
    elif LEAD in person.roles or person.admin:
        found.append((_("Reports:"), REPORTS))
    if COACH_ROLES & person.roles or person.admin:  # a lead reviews them too, not as a coach
        found.append((_("For peer coaches:") if "vertaisvalmentaja" in person.roles
                      else _("Reviewing the drafted answers:"), COACHES))
    if person.organiser or person.admin:
        found.append((_("For organisers:"), ORGANISERS))
    if person.admin:
        found.append((_("For admins:"), ADMINS))
    return found


def private_menu(person: Person) -> list[Command]:
    """Everything the person may use in their private chat, each command once."""
    return _once([STAFF, *(commands for _, commands in sections(person))])


def help_lines(person: Person, lang: str) -> list[str]:
    """/help's list: the staff's commands, then each of the person's sections."""
    lines = [f"/{c} – {gettext(lang, d)}" for c, d in STAFF]
    for heading, commands in sections(person):
        lines += ["", gettext(lang, heading)]
        lines += [f"/{c} – {gettext(lang, d)}" for c, d in commands]
    return lines


def _once(lists: Iterable[Iterable[Command]]) -> list[Command]:
    seen: set[str] = set()
    found = []
    for commands in lists:
        for command, description in commands:
            if command not in seen:
                seen.add(command)
                found.append((command, description))
    return found


def _menu(commands: Iterable[Command], lang: str) -> list[BotCommand]:
    return [BotCommand(c, gettext(lang, d)) for c, d in commands]


async def people(services: Services) -> dict[int, tuple[Person, str]]:
    """Everyone whose private menu is more than the staff's, with the language it is in: the
    roster's language for them (HelperView.language), else the helpers' language."""
    settings = services.settings
    roles: dict[int, set[str]] = {}
    languages: dict[int, str] = {}
    async with services.db.session() as session:
        for row in await roster.roster(session=session):
            if known := set(row.roles) & {*ROLES, LEAD}:
                roles[row.telegram_id] = known
                languages[row.telegram_id] = row.language(settings.helpers_language)
    everyone = set(roles) | set(settings.admin_ids) | set(settings.organiser_ids)
    return {
        user_id: (Person(frozenset(roles.get(user_id, ())), user_id in settings.admin_ids,
                         user_id in settings.organiser_ids),
                  languages.get(user_id, settings.helpers_language))
        for user_id in sorted(everyone)
    }


async def person(services: Services, user_id: int) -> Person:
    """One person's rights, for their /help."""
    settings = services.settings
    async with services.db.session() as session:
        found = await roster.helper(session=session, user_id=user_id)
    return Person(frozenset(found.roles if found else ()), user_id in settings.admin_ids,
                  user_id in settings.organiser_ids)


async def person_and_language(services: Services, user_id: int) -> tuple[Person, str]:
    """One person's rights and the language of their menu (after a change made in Telegram)."""
    async with services.db.session() as session:
        found = await roster.helper(session=session, user_id=user_id)
    lang = found.language(services.settings.helpers_language) if found \
        else services.settings.helpers_language
    return await person(services, user_id), lang


def menu_of(who: Person, lang: str) -> list[BotCommand]:
    return _menu(private_menu(who), lang)


async def set_group_menu(application: Application, chat_id: int) -> None:
    """The helpers' commands in the helpers' group, per language."""
    services: Services = application.bot_data["services"]
    try:
        for code in (None, *LANGUAGES):
            await application.bot.set_my_commands(
                _menu(HELPERS, code or services.settings.helpers_language),
                scope=BotCommandScopeChat(chat_id), language_code=code)
    except TelegramError as exc:
        logger.warning("the helpers' command menu was not set (%s)", type(exc).__name__)


async def set_commands(application: Application) -> None:
    """Every menu: the default one per language, the helpers' group's per language, and each
    privileged person's private chat in their language. A menu Telegram refuses (a person who
    never opened a chat with the bot) is logged and skipped."""
    services: Services = application.bot_data["services"]
    bot = application.bot
    for code in (None, *LANGUAGES):
        await bot.set_my_commands(_menu(STAFF, code or "fi"), language_code=code)
    forum = services.settings.helpers_chat_id
    if forum is not None:
        await set_group_menu(application, forum)
    refused = 0
    for user_id, (who, lang) in (await people(services)).items():
        try:
            await bot.set_my_commands(_menu(private_menu(who), lang),
                                      scope=BotCommandScopeChat(user_id))
        except TelegramError:
            refused += 1
    if refused:
        logger.warning("%d private command menus were not set (no chat with the bot yet?)",
                       refused)

