"""Setting the desk up from Telegram: a person opening an invitation (`/start <code>`) and
choosing languages and team with buttons, the staff code and staff-only mode, `/helpersgroup`
in the helpers' forum, and channels the bot is made an admin of. What the database adds to
the environment's settings is read on every command and button (`refresh_update`), so a change
holds at once on every replica.

Every button carries its whole choice (bot.telegram.callbacks.SetupAction); the state between
steps is the roster itself, so a restart or the other replica loses nothing."""

from __future__ import annotations

import contextlib
import logging
import warnings

from telegram import (
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, filters
from telegram.warnings import PTBUserWarning

from bot import LANGUAGES
from bot.config import Settings
from bot.domain import intake, invites, people, setup
from bot.domain.invites import Enrolled, Refusal
from bot.domain.roster import HelperView
from bot.domain.text import clean_text
from bot.i18n import _, gettext
from bot.services import Services
from bot.telegram import menus
from bot.telegram.access import is_admin, stale
from bot.telegram.callbacks import SetupAction, decode, encode
from bot.telegram.context import PeerdeskContext, message_of, query_message, query_of, user_of
from bot.telegram.keyboards import LANGUAGE_NAMES, role_name, take_away_buttons

logger = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE
START_WITH_CODE = filters.Regex(r"^/start(@\w+)?\s+\S+")


# --- what the database adds to the settings -------------------------------------------------

async def refresh(services: Services) -> None:
    """Read the admins, organisers, channels and helpers' group set up in Telegram into the
    settings (the environment's win), and the forum when it was linked here."""
    async with services.db.session() as session:
        found = await setup.links(session=session)
    settings = services.settings.with_desk(
        admins=found.admins, organisers=found.organisers, channels=found.channels,
        helpers_chat=found.helpers_chat)
    if _desk(settings) != _desk(services.settings):  # else the settings (and policy) stay
        services.settings = settings
    if settings.configured_helpers_chat_id is None and found.helpers_chat != services.forum:
        services.forum = found.helpers_chat  # checked to be a forum when it was linked


def _desk(settings: Settings) -> tuple[object, ...]:
    return (settings.admin_ids, settings.organiser_ids, settings.announce_channels,
            settings.helpers_chat_id)


async def refresh_update(update: Update, context: PeerdeskContext) -> None:
    """Before a command, a button or a change of the bot's membership: the settings as the
    database has them now (a question costs nothing extra)."""
    message = update.message
    if update.callback_query or update.my_chat_member or (
            message is not None and (message.text or "").startswith("/")):
        await refresh(context.services)


async def refresh_job(context: PeerdeskContext) -> None:
    """For what no update asks about (reminders to admins, the digest's recipients)."""
    await refresh(context.services)


async def language(context: PeerdeskContext, user: User) -> str:
    async with context.services.db.session() as session:
        return await intake.language_of(session=session, telegram_id=user.id,
                                        telegram_language=user.language_code)


def bot_link(context: PeerdeskContext, payload: str | None = None) -> str:
    link = f"https://t.me/{context.bot.username}"
    return f"{link}?start={payload}" if payload else link


async def set_menu(application: Application, user_id: int) -> None:
    """The person's private menu as their rights are now (after a change made here)."""
    services: Services = application.bot_data["services"]
    who, lang = await menus.person_and_language(services, user_id)
    try:
        await application.bot.set_my_commands(menus.menu_of(who, lang),
                                              scope=BotCommandScopeChat(user_id))
    except TelegramError as exc:
        logger.warning("a private command menu was not set (%s)", type(exc).__name__)


# --- who may ask: staff-only mode ------------------------------------------------------------

async def staff_gate(update: Update, context: PeerdeskContext) -> None:
    """In staff-only mode, before anything else in a private chat: someone who came neither
    with the staff code nor by an invitation is told kindly how to get the link, and nothing
    of theirs goes further (a `/start <code>` goes on to be checked)."""
    services = context.services
    user = update.effective_user
    chat = update.effective_chat
    if not services.settings.staff_only or user is None or chat is None \
            or chat.type != ChatType.PRIVATE:
        return
    message = update.message
    if message is not None and START_WITH_CODE.check_update(update):
        return
    if user.id in services.settings.admin_ids or user.id in services.settings.organiser_ids:
        return
    async with services.db.session() as session:
        if await setup.admitted(session=session, user_id=user.id):
            return
    await _turn_away(update, context, user)
    raise ApplicationHandlerStop


async def _turn_away(update: Update, context: PeerdeskContext, user: User) -> None:
    lang = (user.language_code or "")[:2]
    lang = lang if lang in LANGUAGES else context.services.settings.helpers_language
    text = gettext(lang, "Hi! This desk is for the staff of our school. Please open it with the "
                         "link on the staff-room poster or on the intranet, or ask a colleague "
                         "for it.")
    logger.info("someone without the staff code was turned away")
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(text)


# --- /start <code> ---------------------------------------------------------------------------

REFUSALS = {
    Refusal.USED: _("This invitation link has already been used. Please ask the admin who "
                    "sent it for a new one."),
    Refusal.EXPIRED: _("This invitation link has expired (links work for 7 days). Please ask "
                       "the admin who sent it for a new one."),
    Refusal.REVOKED: _("This invitation link was withdrawn. Please ask the admin who sent it "
                       "for a new one."),
    Refusal.UNKNOWN: _("I do not recognise this invitation link. Please check it, or ask the "
                       "admin who sent it for a new one."),
    Refusal.OWN: _("This is your own invitation, so it stays open: send the link to the "
                   "colleague it is for. (To change your own roles, use /helpers.)"),
}


async def start_with_code(update: Update, context: PeerdeskContext) -> None:
    """`/start <code>` from a link: an invitation enrols the person (and stops here); the staff
    code lets them in and the usual greeting follows; a code that is neither (forged, mistyped)
    is refused kindly and grants nothing."""
    services, user = context.services, user_of(update)
    code = (context.args or [""])[0]
    lang = await language(context, user)
    now = services.clock()
    if invites.is_invitation(code) or not code.startswith(setup.STAFF_PREFIX):
        async with services.db.session() as session:
            result = await invites.redeem(
                session=session, code=code, user_id=user.id, name=user.full_name,
                language=lang, now=now)
        if isinstance(result, Refusal):
            await message_of(update).reply_text(gettext(lang, REFUSALS[result]))
        else:
            services.wake_sender()  # the admin who made it hears who came
            await _welcome(update, context, result, lang)
        raise ApplicationHandlerStop
    # A staff link: the code in use lets the person in; an old one (a poster printed before
    # /staffcode) greets those already in, and turns away the others in staff-only mode.
    async with services.db.session() as session:
        if await setup.admit(session=session, code=code, user_id=user.id, now=now):
            logger.info("someone came with the staff code")
            return  # the greeting (bot.telegram.intake.start) follows
        if services.settings.staff_only and not await setup.admitted(session=session,
                                                                      user_id=user.id):
            await _turn_away(update, context, user)
            raise ApplicationHandlerStop


async def _welcome(update: Update, context: PeerdeskContext, enrolled: Enrolled,
                   lang: str) -> None:
    services, user = context.services, user_of(update)
    await refresh(services)
    await set_menu(context.application, user.id)
    roles = ", ".join(role_name(services, r, lang) for r in enrolled.roles)
    async with services.db.session() as session:
        helper = await people.person(session=session, user_id=user.id)
    assert helper is not None
    await message_of(update).reply_text(
        gettext(lang, "Welcome, {name}! You are now in the peer-support desk as: {roles}.",
                name=user.first_name, roles=roles) + "\n\n"
        + gettext(lang, "Which languages can you help in? Press to choose, then Done."),
        reply_markup=_languages(enrolled.invite_id, helper, lang))


def _languages(invite_id: int, helper: HelperView, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(("✓ " if code in helper.languages else "") + LANGUAGE_NAMES[code],
                              callback_data=encode(SetupAction.LANGUAGE, invite_id, code))
         for code in LANGUAGES],
        [InlineKeyboardButton(gettext(lang, "Done"),
                              callback_data=encode(SetupAction.LANGUAGES_DONE, invite_id))],
    ])


async def _own_invitation(update: Update, context: PeerdeskContext, invite_id: int) -> bool:
    """The welcome's buttons belong to whoever used that invitation, and to nobody else."""
    async with context.services.db.session() as session:
        owner = await invites.used_by(session=session, invite_id=invite_id)
    if owner == user_of(update).id:
        return True
    await stale(update, context, await language(context, user_of(update)))
    return False


async def language_button(update: Update, context: PeerdeskContext) -> None:
    """A new helper toggles a language; the message shows the choice (stored at once)."""
    query, user = query_of(update), user_of(update)
    button = decode(query.data, SetupAction.LANGUAGE)
    if button is None or button.arg not in LANGUAGES:
        await query.answer()
        return
    if not await _own_invitation(update, context, button.id):  # answered with an alert
        return
    async with context.services.db.session() as session:
        before = await people.person(session=session, user_id=user.id)
        helper = await people.toggle_language(session=session, user_id=user.id,
                                              language=button.arg)
    lang = await language(context, user)
    if helper is not None and before is not None and helper.languages == before.languages:
        # The last one stays: a helper answers in at least one language.
        await query.answer(gettext(lang, "Keep at least one language: choose another first, "
                                         "then this one can go."), show_alert=True)
        return
    await query.answer()
    if helper is not None:
        await query.edit_message_reply_markup(_languages(button.id, helper, lang))


async def languages_done(update: Update, context: PeerdeskContext) -> None:
    """…then the team, from the teams the desk knows (or /team NAME)."""
    query = query_of(update)
    button = decode(query.data, SetupAction.LANGUAGES_DONE)
    if button is None or not await _own_invitation(update, context, button.id):
        return
    lang = await language(context, user_of(update))
    async with context.services.db.session() as session:
        teams = await setup.known_teams(session=session)
        helper = await people.person(session=session, user_id=user_of(update).id)
    rows = [[InlineKeyboardButton(team[:60], callback_data=encode(
        SetupAction.TEAM, button.id, key))] for key, team in setup.keyed(teams)]
    rows.append([InlineKeyboardButton(gettext(lang, "Not in a team / skip"),
                                      callback_data=encode(SetupAction.TEAM, button.id,
                                                                 "none"))])
    await query.answer()
    await query_message(query).reply_text(
        gettext(lang, "Which team do you work in? Colleagues from your own team are called "
                      "first.") + "\n"
        + gettext(lang, "If your team is not listed, send /team and its name, for example "
                        "/team Liiketalous."),
        reply_markup=InlineKeyboardMarkup(rows))
    with contextlib.suppress(TelegramError):  # the languages are stored; what was chosen stays
        await take_away_buttons(query, chosen=", ".join(
            LANGUAGE_NAMES[code] for code in helper.languages) if helper else None)


async def team_button(update: Update, context: PeerdeskContext) -> None:
    query, user = query_of(update), user_of(update)
    button = decode(query.data, SetupAction.TEAM)
    if button is None or not await _own_invitation(update, context, button.id):
        return
    lang = await language(context, user)
    async with context.services.db.session() as session:
        team = None if button.arg == "none" else await setup.team_by_key(
            session=session, key=button.arg or "")
        await people.set_team(session=session, user_id=user.id, team=team)
        helper = await people.person(session=session, user_id=user.id)
    await query.answer()
    text = gettext(lang, "All set! Your commands are in the menu; /help lists them.")
    if context.services.forum is not None and helper is not None and helper.is_helper:
        text += "\n\n" + gettext(lang, "The questions are handled in the helpers' group in "
                                        "Telegram, a topic each: the admin who invited you "
                                        "adds you there.")
    await query.edit_message_text(text)


async def team_command(update: Update, context: PeerdeskContext) -> None:
    """/team NAME from someone in the roster sets their team there too; the staff's own /team
    (bot.telegram.intake) answers as always."""
    name = " ".join(context.args or []).strip()
    if name:
        async with context.services.db.session() as session:
            await people.set_team(session=session, user_id=user_of(update).id,
                                  team=clean_text(name)[:64])


# --- /helpersgroup ---------------------------------------------------------------------------

async def _raw(context: PeerdeskContext, method: str, **params: object) -> object:
    """A Bot API answer as Telegram sends it: only the fields asked about need to be there
    (PTB's own objects insist on every field; PTB's reminder that it has a method is noise)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Please use 'Bot.", category=PTBUserWarning)
        return await context.bot.do_api_request(method, api_kwargs=params)


async def helpers_group_command(update: Update, context: PeerdeskContext) -> None:
    """An admin links the forum group this is sent in as the helpers' group, once the bot has
    checked what it needs there; what is missing is said in words, with where to fix it."""
    services, message, user = context.services, message_of(update), user_of(update)
    lang = services.settings.helpers_language
    if message.chat.type == ChatType.PRIVATE:
        await message.reply_text(gettext(await language(context, user),
                                         "Send /helpersgroup in the helpers' forum group "
                                         "itself, not here."))
        return
    if not await is_admin(services, user.id):
        await message.reply_text(gettext(lang, "Sorry, only the desk's admins can link the "
                                               "helpers' group."))
        return
    chat_id = message.chat_id
    problems = []
    try:
        chat, member = await _raw(context, "getChat", chat_id=chat_id), await _raw(
            context, "getChatMember", chat_id=chat_id, user_id=context.bot.id)
    except TelegramError as exc:
        logger.warning("the group could not be checked (%s)", type(exc).__name__)
        await message.reply_text(gettext(lang, "I could not check this group just now. Please "
                                               "send /helpersgroup again in a moment."))
        return
    if not isinstance(chat, dict) or not isinstance(member, dict):
        raise TypeError("getChat and getChatMember answer with objects")
    if not chat.get("is_forum"):
        problems.append(gettext(lang, "Topics are off in this group, so each question cannot "
                                      "have its own topic. Turn them on: open the group's "
                                      "profile (tap its name) → Edit (✎) → Topics."))
    if member.get("status") not in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER):
        problems.append(gettext(lang, "I am not an administrator of this group. Make me one: "
                                      "the group's profile → Edit (✎) → Administrators → Add "
                                      "Admin → choose me, and allow Manage Topics."))
    elif member.get("status") == ChatMemberStatus.ADMINISTRATOR \
            and not member.get("can_manage_topics"):
        problems.append(gettext(lang, "I am an administrator here but may not manage topics. "
                                      "Allow it: the group's profile → Edit (✎) → "
                                      "Administrators → choose me → Manage Topics."))
    if problems:
        logger.info("/helpersgroup: %d things missing in the group", len(problems))
        await message.reply_text("\n\n".join(
            [*problems, gettext(lang, "Then send /helpersgroup here again.")]))
        return
    async with services.db.session() as session:
        await setup.link_helpers_group(session=session, chat_id=chat_id, now=services.clock())
    await refresh(services)
    text = gettext(lang, "Done: this group is now the helpers' group. Each question opens its "
                         "own topic here, and the helpers' commands are in the menu.")
    configured = services.settings.configured_helpers_chat_id
    if configured is not None and configured != chat_id:
        text += "\n\n" + gettext(lang, "Note: the server's own settings name another group, "
                                       "and they win until they are changed there.")
    else:
        await menus.set_group_menu(context.application, chat_id)
    await message.reply_text(text)


# --- the bot added to a channel or a group ---------------------------------------------------

async def membership_changed(update: Update, context: PeerdeskContext) -> None:
    """The bot was made an admin of a channel: its admin is asked privately whether it is for
    announcements. Added to a group: a hint about /helpersgroup. Removed: forgotten."""
    change = update.my_chat_member
    if change is None:
        return
    services, chat, by = context.services, change.chat, change.from_user
    status = change.new_chat_member.status
    if chat.type == ChatType.CHANNEL:
        if status != ChatMemberStatus.ADMINISTRATOR:
            async with services.db.session() as session:
                await setup.channel_gone(session=session, chat_id=chat.id)
            await refresh(services)
            return
        if not await is_admin(services, by.id):
            logger.info("the bot was made an admin of a channel by someone who is no admin")
            return
        async with services.db.session() as session:
            offer = await setup.offer_channel(session=session, chat_id=chat.id, asked=by.id,
                                              now=services.clock())
        if offer is None:
            return
        lang = await language(context, by)
        try:
            await context.bot.send_message(by.id, gettext(
                lang, "You made me an administrator of the channel “{title}”. Should I post the "
                      "announcements of webinars, cafés and bulletins there?",
                title=chat.title or "?"), reply_markup=InlineKeyboardMarkup([[
                    InlineKeyboardButton(gettext(lang, "Yes, for announcements"),
                                         callback_data=encode(SetupAction.CHANNEL, offer,
                                                                    "yes")),
                    InlineKeyboardButton(gettext(lang, "No"), callback_data=encode(
                        SetupAction.CHANNEL, offer, "no"))]]))
        except TelegramError as exc:
            logger.warning("the admin could not be asked about a channel (%s)",
                           type(exc).__name__)
    elif chat.type in (ChatType.GROUP, ChatType.SUPERGROUP) and status in (
            ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR) \
            and change.old_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED) \
            and chat.id != services.settings.helpers_chat_id and await is_admin(services, by.id):
        try:
            await context.bot.send_message(chat.id, gettext(
                services.settings.helpers_language,
                "Hello! If this is the helpers' group, an admin sends /helpersgroup here and I "
                "check that I have what I need."))
        except TelegramError:
            pass


async def channel_button(update: Update, context: PeerdeskContext) -> None:
    """The admin's answer: an announcement channel, or not."""
    services, query, user = context.services, query_of(update), user_of(update)
    button = decode(query.data, SetupAction.CHANNEL)
    lang = await language(context, user)
    if button is None or button.arg not in ("yes", "no") or not await is_admin(services,
                                                                               user.id):
        await query.answer(gettext(lang, "Sorry, only the desk's admins can do this."),
                           show_alert=True)
        return
    async with services.db.session() as session:
        chat_id = await setup.decide_channel(session=session, offer_id=button.id,
                                             announce=button.arg == "yes", admin_id=user.id,
                                             now=services.clock())
    await refresh(services)
    await query.answer()
    if chat_id is None:
        await take_away_buttons(query)
        return
    await query.edit_message_text(gettext(
        lang, "Done: announcements go to this channel.") if button.arg == "yes" else gettext(
        lang, "All right: I will not post announcements there."))
