"""The admins' commands in their private chat: /invite ROLE… (a one-time link, on a button and
as a QR code), /invites (open ones, to revoke), /helpers (the roster: roles, away, remove),
/staffcode (a new staff link), /poster. Guarded once, at registration (`admins_only`)."""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import TelegramError

from bot import LANGUAGES
from bot.domain import invites, people, setup
from bot.domain.invites import ADMIN, INVITE_ROLES
from bot.domain.roster import HelperView
from bot.i18n import format_when, gettext
from bot.poster import make_poster, qr_png
from bot.telegram.callbacks import Button, SetupAction, decode, encode
from bot.telegram.context import PeerdeskContext, message_of, query_of, user_of
from bot.telegram.keyboards import LANGUAGE_NAMES, role_name
from bot.telegram.setup import bot_link, language, refresh, set_menu

logger = logging.getLogger(__name__)
ROSTER_PAGE = 40  # people listed with a button each; Telegram allows 100 buttons a message


async def _lang(update: Update, context: PeerdeskContext) -> str:
    return await language(context, user_of(update))


def _roles_help(context: PeerdeskContext, lang: str) -> str:
    return "\n".join(f"• {role} – {role_name(context.services, role, lang)}"
                     for role in INVITE_ROLES)


def _roles_named(context: PeerdeskContext, words: list[str]) -> tuple[list[str], list[str]]:
    """The roles the words name — by their ids or by their names in any of our languages
    ("järjestäjä", "Ylläpitäjä", "tvt,luotsi") — and the words that name none."""
    aliases = {role: role for role in INVITE_ROLES}
    for role in INVITE_ROLES:
        for code in LANGUAGES:
            aliases[role_name(context.services, role, code).casefold()] = role
    text = " " + " ".join(" ".join(words).replace(",", " ").split()).casefold() + " "
    found = []
    for alias in sorted(aliases, key=len, reverse=True):  # "peer coach" before "coach"
        if f" {alias} " in text:
            found.append(aliases[alias])
            text = text.replace(f" {alias} ", " ")
    return found, text.split()


async def invite_command(update: Update, context: PeerdeskContext) -> None:
    """/invite ROLE…: a link that puts whoever opens it first in the roster with those roles."""
    services, lang = context.services, await _lang(update, context)
    named, unknown = _roles_named(context, context.args or [])
    roles = invites.parse_roles(named)
    if roles is None or unknown:
        known_not = (gettext(lang, "I do not know this as a role: {words}",
                             words=", ".join(unknown)) + "\n") if unknown else ""
        await message_of(update).reply_text(
            known_not + gettext(lang, "Write the roles after the command, for example /invite "
                                      "tvt or /invite luotsi organiser. The roles:") + "\n"
            + _roles_help(context, lang))
        return
    async with services.db.session() as session:
        code = await invites.create(session=session, roles=roles, created_by=user_of(update).id,
                                    now=services.clock())
    link = bot_link(context, code)
    names = ", ".join(role_name(services, r, lang) for r in roles)
    await message_of(update).reply_text(
        gettext(lang, "An invitation as {roles}. Send this link to the colleague; it works "
                      "once, for 7 days:", roles=names) + f"\n{link}",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
            gettext(lang, "Open the invitation"), url=link)]]))
    await _qr(update, link, "invitation.png", gettext(lang, "The same invitation as a QR code."))


async def _qr(update: Update, link: str, name: str, caption: str) -> None:
    """The link's QR code as a picture; the link itself has gone already, so a picture that
    cannot be sent is logged and the rest stands."""
    try:
        await message_of(update).reply_photo(InputFile(qr_png(link), filename=name),
                                             caption=caption)
    except TelegramError as exc:
        logger.warning("a QR code was not sent (%s)", type(exc).__name__)


def _open_list(invitations: list[invites.OpenInvite], context: PeerdeskContext, lang: str
               ) -> tuple[str, InlineKeyboardMarkup | None]:
    if not invitations:
        return gettext(lang, "No invitations are open."), None
    tz = context.services.settings.tz
    lines = [gettext(lang, "Open invitations:")]
    for item in invitations:
        lines.append(gettext(lang, "#{number}: {roles} – valid until {when}", number=item.id,
                             roles=", ".join(role_name(context.services, r, lang)
                                             for r in item.roles),
                             when=format_when(item.expires_at, lang, tz)))
    buttons = [[InlineKeyboardButton(gettext(lang, "Revoke #{number}", number=item.id),
                                     callback_data=encode(SetupAction.REVOKE, item.id))]
               for item in invitations[:50]]
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def invites_command(update: Update, context: PeerdeskContext) -> None:
    """/invites: the open invitations, each with a Revoke button."""
    services, lang = context.services, await _lang(update, context)
    async with services.db.session() as session:
        found = await invites.open_invites(session=session, now=services.clock())
    text, markup = _open_list(found, context, lang)
    await message_of(update).reply_text(text, reply_markup=markup)


async def revoke_button(update: Update, context: PeerdeskContext) -> None:
    services, query, lang = context.services, query_of(update), await _lang(update, context)
    button = decode(query.data, SetupAction.REVOKE)
    if button is None:
        await query.answer()
        return
    async with services.db.session() as session:
        done = await invites.revoke(session=session, invite_id=button.id, now=services.clock())
        found = await invites.open_invites(session=session, now=services.clock())
    await query.answer(gettext(lang, "Revoked: the link no longer works.") if done
                       else gettext(lang, "That invitation was no longer open."))
    text, markup = _open_list(found, context, lang)
    await query.edit_message_text(text, reply_markup=markup)


# --- /helpers ----------------------------------------------------------------------------------

def _line(context: PeerdeskContext, helper: HelperView, lang: str) -> str:
    parts = [", ".join(role_name(context.services, r, lang) for r in helper.roles) or "–"]
    if helper.team:
        parts.append(helper.team)
    if helper.languages:
        parts.append("/".join(helper.languages))
    if not helper.available:
        parts.append(gettext(lang, "away"))
    return f"{helper.name} – " + " · ".join(parts)


async def _roster_view(context: PeerdeskContext, lang: str
                       ) -> tuple[str, InlineKeyboardMarkup | None]:
    async with context.services.db.session() as session:
        everyone = await people.everyone(session=session)
    if not everyone:
        return gettext(lang, "Nobody is in the roster yet. /invite adds a colleague."), None
    text = gettext(lang, "Everyone in the roster (press a name to change it):") + "\n\n" \
        + "\n".join(_line(context, h, lang) for h in everyone)
    buttons = [[InlineKeyboardButton(h.name[:60], callback_data=encode(
        SetupAction.PERSON, h.telegram_id))] for h in everyone[:ROSTER_PAGE]]
    return text[:4096], InlineKeyboardMarkup(buttons)


def _person_view(context: PeerdeskContext, helper: HelperView, lang: str
                 ) -> tuple[str, InlineKeyboardMarkup]:
    who = helper.telegram_id
    roles = [InlineKeyboardButton(("✓ " if r in helper.roles else "")
                                  + role_name(context.services, r, lang),
                                  callback_data=encode(SetupAction.ROLE, who, r))
             for r in INVITE_ROLES]  # the roles' names in the viewer's language, two a row
    rows = [*(roles[i:i + 2] for i in range(0, len(roles), 2)),
            [InlineKeyboardButton(gettext(lang, "Mark available") if not helper.available
                                  else gettext(lang, "Mark away"),
                                  callback_data=encode(SetupAction.AWAY, who,
                                                             "off" if not helper.available
                                                             else "on")),
             InlineKeyboardButton(gettext(lang, "Remove…"),
                                  callback_data=encode(SetupAction.REMOVE, who, "ask"))],
            [InlineKeyboardButton(gettext(lang, "Back to everyone"),
                                  callback_data=encode(SetupAction.ROSTER, 1))]]
    return _line(context, helper, lang), InlineKeyboardMarkup(rows)


async def helpers_command(update: Update, context: PeerdeskContext) -> None:
    """/helpers: everyone in the roster with roles, team, languages and away-status."""
    text, markup = await _roster_view(context, await _lang(update, context))
    await message_of(update).reply_text(text, reply_markup=markup)


async def _refusal(context: PeerdeskContext, button: Button, by: int, lang: str) -> str | None:
    """Why this roster press may not go ahead, or None: nobody removes themselves, the desk
    keeps an admin, and a person keeps one role (removing them is the way to take the last)."""
    services, who = context.services, button.id
    if button.action == SetupAction.REMOVE and who == by:
        return gettext(lang, "You cannot remove yourself. Another admin can do it.")
    taking_admin = button.action == SetupAction.ROLE and button.arg == ADMIN
    guards_admin = (button.action == SetupAction.REMOVE or taking_admin) \
        and not services.settings.configured_admin_ids
    if not guards_admin and button.action != SetupAction.ROLE:
        return None
    async with services.db.session() as session:
        only = guards_admin and await people.only_admin(session=session, user_id=who)
        person = await people.person(session=session, user_id=who) \
            if button.action == SetupAction.ROLE and not only else None
    if only:
        return gettext(lang, "They are the desk's only admin: make someone else an admin "
                             "first, so that someone can still manage the desk.")
    if person is not None and tuple(person.roles) == (button.arg,):
        return gettext(lang, "Everyone on the roster keeps at least one role. To take the "
                             "last one, remove the person instead.")
    return None


async def roster_button(update: Update, context: PeerdeskContext) -> None:
    """The roster's buttons: a person, a role given or taken, away, remove (confirmed)."""
    services, query, lang = context.services, query_of(update), await _lang(update, context)
    button = decode(query.data, SetupAction.PERSON, SetupAction.ROSTER, SetupAction.ROLE,
                          SetupAction.AWAY, SetupAction.REMOVE)
    if button is None:
        await query.answer()
        return
    if button.action == SetupAction.ROSTER:
        await query.answer()
        text, markup = await _roster_view(context, lang)
        await query.edit_message_text(text, reply_markup=markup)
        return
    who = button.id
    helper: HelperView | None
    refusal = await _refusal(context, button, query.from_user.id, lang)
    if refusal is not None:
        await query.answer(refusal, show_alert=True)
        return
    async with services.db.session() as session:
        if button.action == SetupAction.ROLE:
            helper = await people.toggle_role(session=session, user_id=who,
                                              role=button.arg or "")
        elif button.action == SetupAction.AWAY and button.arg in ("on", "off"):
            await people.set_away(session=session, user_id=who, away=button.arg == "on",
                                  by=query.from_user.id, now=services.clock())
            helper = await people.person(session=session, user_id=who)
        elif button.action == SetupAction.REMOVE and button.arg == "yes":
            released = await people.remove(session=session, user_id=who, now=services.clock(),
                                           desk=services.desk)
            helper = None
            if released is not None:
                services.wake_sender()
                await refresh(services)
                await set_menu(context.application, who)
                told = gettext(lang, "Removed. Questions they held went back to the queue: "
                                     "{count}.", count=len(released))
                if services.forum is not None:  # the bot does not take anyone out of a group
                    told += " " + gettext(lang, "They are still in the helpers' group in "
                                                "Telegram: remove them there too.")
                await query.answer(told, show_alert=True)
                text, markup = await _roster_view(context, lang)
                await query.edit_message_text(text, reply_markup=markup)
                return
        else:
            helper = await people.person(session=session, user_id=who)
    if helper is None:
        await query.answer(gettext(lang, "That person is no longer in the roster."))
        text, markup = await _roster_view(context, lang)
        await query.edit_message_text(text, reply_markup=markup)
        return
    if button.action == SetupAction.REMOVE:
        await query.answer()
        await query.edit_message_text(
            _line(context, helper, lang) + "\n\n" + gettext(
                lang, "Remove {name} from the roster? The questions they hold go back to the "
                      "queue, and their askers are told.", name=helper.name),
            reply_markup=InlineKeyboardMarkup([[
                InlineKeyboardButton(gettext(lang, "Yes, remove"), callback_data=encode(
                    SetupAction.REMOVE, who, "yes")),
                InlineKeyboardButton(gettext(lang, "Cancel"), callback_data=encode(
                    SetupAction.PERSON, who))]]))
        return
    if button.action in (SetupAction.ROLE, SetupAction.AWAY):
        services.wake_sender()
        await refresh(services)
        await set_menu(context.application, who)
    await query.answer()
    text, markup = _person_view(context, helper, lang)
    await query.edit_message_text(text, reply_markup=markup)


# --- the staff code and the poster --------------------------------------------------------------

async def staffcode_command(update: Update, context: PeerdeskContext) -> None:
    """/staffcode: a new staff code; the old link lets nobody new in, those in stay in."""
    services, lang = context.services, await _lang(update, context)
    async with services.db.session() as session:
        code = await setup.rotate_staff_code(session=session, now=services.clock())
    link = bot_link(context, code)
    text = gettext(lang, "The new staff link (the old one lets nobody new in; everyone already "
                         "in keeps their access):") + f"\n{link}"
    if not services.settings.staff_only:
        text += "\n\n" + gettext(lang, "Staff-only mode is off on the server, so anyone can "
                                       "still ask without the link.")
    await message_of(update).reply_text(text, reply_markup=InlineKeyboardMarkup([[
        InlineKeyboardButton(gettext(lang, "Open the staff link"), url=link)]]))
    await _qr(update, link, "staff-link.png", gettext(lang, "/poster makes a printable poster "
                                                            "of it."))


async def poster_command(update: Update, context: PeerdeskContext) -> None:
    """/poster: the A4 poster as a PDF to print and a PNG to share."""
    services, lang = context.services, await _lang(update, context)
    payload = None
    if services.settings.staff_only:
        async with services.db.session() as session:
            payload = await setup.staff_code(session=session, now=services.clock())
    link = bot_link(context, payload)
    poster = await asyncio.to_thread(make_poster, services, link)
    message = message_of(update)
    await message.reply_document(InputFile(poster.pdf, filename="peerdesk-poster.pdf"),
                                 caption=gettext(lang, "A poster for the staff room (A4, in "
                                                       "{languages}).",
                                                 languages=", ".join(
                                                     LANGUAGE_NAMES[c] for c in LANGUAGES)))
    await message.reply_photo(InputFile(poster.png, filename="peerdesk-poster.png"))
