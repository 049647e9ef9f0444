"""`peerdesk helpers import|list|remove` (the roster) and `peerdesk invite ROLE…` (a one-time
link that enrols whoever opens it, e.g. the first admin)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.domain import invites, people, setup
from bot.domain.models import utcnow
from bot.domain.roster import import_helpers, read_roster
from bot.domain.sla import Policy
from bot.domain.tickets.views import Desk
from bot.storage import Database, migrate


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helpers = commands.add_parser("helpers", help="the helpers' roster")
    helpers.set_defaults(verb=helpers_command)
    helpers_commands = helpers.add_subparsers(dest="action", required=True)
    imp = helpers_commands.add_parser("import", help="load helpers from a YAML file")
    imp.add_argument("file", type=Path)
    helpers_commands.add_parser("list", help="everyone in the roster, as JSON lines")
    removed = helpers_commands.add_parser(
        "remove", help="take someone out of the roster (what they hold goes back to the queue)")
    removed.add_argument("telegram_id", type=int)
    invite = commands.add_parser(
        "invite", help="print a one-time link that enrols whoever opens it with these roles")
    invite.add_argument("roles", nargs="+", metavar="ROLE",
                        help="tvt, luotsi, vertaisvalmentaja, lead, organiser, admin")
    invite.set_defaults(verb=invite_command)


def helpers_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "import":
        return asyncio.run(_import_helpers(settings, args.file))
    return asyncio.run(_helpers(args, settings))


def invite_command(args: argparse.Namespace, settings: Settings) -> int:
    print(asyncio.run(invite_link(settings, args.roles)))
    return 0


async def _import_helpers(settings: Settings, path: Path) -> int:
    specs = read_roster(path)
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            count = await import_helpers(session=session, specs=specs)
    finally:
        await db.dispose()
    print(f"imported {count} helpers")
    return 0


async def bot_username(settings: Settings) -> str:
    """The bot's username, from getMe (the sandbox's without a token)."""
    # python-telegram-bot and aiohttp are loaded only by the commands that talk to a bot.
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    from bot.sandbox.server import BOT_USER

    if settings.telegram_token is None:
        return str(BOT_USER["username"])
    api = settings.telegram_api_url
    bot = Bot(settings.telegram_token.get_secret_value(), base_url=f"{api}/bot",
              base_file_url=f"{api}/file/bot")
    try:
        async with bot:
            return bot.username
    except InvalidToken:
        raise ConfigError("PEERDESK_TELEGRAM_TOKEN was refused by the Bot API: check it with "
                          "BotFather") from None
    except TelegramError as exc:
        raise ConfigError(f"the Bot API could not be reached ({type(exc).__name__})") from None


async def invite_link(settings: Settings, roles: list[str]) -> str:
    """`peerdesk invite ROLE…`: a one-time link https://t.me/<bot>?start=<code> (7 days)."""
    if invites.parse_roles(roles) is None:
        raise ConfigError(f"the roles are {', '.join(invites.INVITE_ROLES)}")
    username = await bot_username(settings)
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            code = await invites.create(session=session, roles=roles, created_by=None,
                                        now=utcnow())
    finally:
        await db.dispose()
    return f"https://t.me/{username}?start={code}"


async def _helpers(args: argparse.Namespace, settings: Settings) -> int:
    """`helpers list` and `helpers remove ID`."""
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            if args.action == "list":
                for h in await people.everyone(session=session):
                    print(json.dumps({"telegram_id": h.telegram_id, "name": h.name,
                                      "roles": list(h.roles), "team": h.team,
                                      "languages": list(h.languages), "away": not h.available},
                                     ensure_ascii=False))
                return 0
            links = await setup.links(session=session)
            desk = Desk(policy=Policy(hours=settings.hours, sla_minutes=settings.sla_minutes,
                                      default_minutes=settings.sla_default_minutes,
                                      reopen_days=settings.reopen_days),
                        forum=settings.helpers_chat_id or links.helpers_chat,
                        admins=settings.admin_ids | links.admins)
            released = await people.remove(session=session, user_id=args.telegram_id,
                                           now=utcnow(), desk=desk)
    finally:
        await db.dispose()
    if released is None:
        print(f"peerdesk: {args.telegram_id} is not in the roster", file=sys.stderr)
        return 1
    print(f"removed; {len(released)} questions back in the queue")
    return 0
