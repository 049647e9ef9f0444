"""The organisers' guided dialogs: /newevent (also from a rising topic's button in the digest),
/bulletin and /materials. Their state is a row in the database (bot.telegram.dialogs): each step
takes the organiser's answer, keeps it in `turn.draft` and returns the next step; a restart
between two steps, or the next answer reaching the other replica, goes on from the row. /cancel
at every step; a quiet draft is put aside kindly."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, time, timedelta

from babel.dates import format_datetime
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import TelegramError

from bot.domain import dialogs as dialogs_domain
from bot.domain.dates import length, moment, place_and_link, say_length, understand
from bot.domain.events import after, schedule, views
from bot.domain.events.spec import EventSpec, preview, validate_spec
from bot.domain.events.views import EventError
from bot.domain.models import EventKind
from bot.domain.text import yes_or_no
from bot.i18n import _, gettext, ngettext
from bot.telegram import dialogs
from bot.telegram.access import is_organiser, language, may_manage, pressed
from bot.telegram.callbacks import Action, decode, encode
from bot.telegram.context import (
    PeerdeskContext,
    message_of,
    query_message,
    query_of,
    text_of,
    user_of,
)
from bot.telegram.dialogs import Turn
from bot.telegram.events.render import KIND_NAMES, announcement_text, understood
from bot.telegram.keyboards import pressed_label, take_away_buttons

logger = logging.getLogger(__name__)

NEWEVENT, BULLETIN, MATERIALS = dialogs.NEWEVENT, dialogs.BULLETIN, dialogs.MATERIALS
KIND, TITLE, START, START_CONFIRM, END, WHERE, DESCRIPTION, CLOSES, CONFIRM = (
    "kind", "title", "start", "start_confirm", "end", "where", "description", "closes",
    "confirm")
BULLETIN_TEXT, BULLETIN_WHEN, BULLETIN_CONFIRM = "text", "when", "confirm"
MATERIAL_EVENT, MATERIAL_ITEM = "event", "item"
NOTHING_PUBLISHED = _("Cancelled; nothing was published.")


async def _somewhere_to_publish(update: Update, context: PeerdeskContext, lang: str) -> bool:
    """An announcement channel to publish in; otherwise the organiser is told so. (Who may
    publish is checked where the commands are registered: access.organisers_only.)"""
    services = context.services
    if not services.settings.announce_channels:
        await message_of(update).reply_text(gettext(
            lang, "There is nowhere to publish yet: no announcement channels have been set "
                  "up. An admin can add them."))
        return False
    return True


def _answer(update: Update, action: Action) -> str | None:
    """The answer a step's button carries (its step takes only data of its shape)."""
    button = decode(query_of(update).data, action)
    return button.arg if button is not None else None


def _moment(text: str, context: PeerdeskContext, turn: Turn
            ) -> tuple[datetime | None, str | None]:
    """A moment from what the organiser wrote, or why not (a text to show them)."""
    services, lang = context.services, turn.lang
    now, tz = services.clock(), services.settings.tz
    found = understand(text, now=now, tz=tz)
    if found is None:
        return None, None
    if found.weekday_mismatch and found.day is not None:
        return None, gettext(lang, "Please check the day: {date} falls on a {weekday}.",
                             date=found.day.strftime("%-d.%-m.%Y"),
                             weekday=format_datetime(datetime.combine(found.day, time(12)),
                                                     "cccc", locale=lang))
    at = moment(found, now=now, tz=tz)
    if at is None and found.day is not None:
        turn.draft["day"] = found.day
        return None, gettext(lang, "At what time on {day}? For example 14 or 14.30",
                             day=format_datetime(datetime.combine(found.day, time(12)),
                                                 "EEEE d.M." if lang != "en" else "EEEE d MMMM",
                                                 locale=lang))
    return at, None


def _example_day(context: PeerdeskContext, lang: str) -> dict[str, str]:
    """A day a week from today, as the organiser's language writes it (hints show a date to
    come, never one past): {date} and its {weekday}."""
    services = context.services
    day = datetime.combine(services.clock().astimezone(services.settings.tz).date()
                           + timedelta(days=7), time(12))
    return _written_day(day, lang)


def _written_day(day: datetime, lang: str) -> dict[str, str]:
    """{date} and its {weekday} as the organiser's language writes them (and the dates'
    reader reads them back): "ti 8.12.", "tisdag 8/12", "Tuesday 8 December"."""
    written = {"fi": "d.M.", "sv": "d/M"}.get(lang, "d MMMM")
    return {"date": format_datetime(day, written, locale=lang),
            "weekday": format_datetime(day, "EEE" if lang == "fi" else "EEEE", locale=lang)}


def _deadline_example(context: PeerdeskContext, start: datetime, lang: str) -> dict[str, str]:
    """A moment for registration to close that the organiser could write as it is: between now
    and the start (noon the day before, or the hour before the start when that is too late)."""
    services = context.services
    tz, now = services.settings.tz, services.clock()
    local = start.astimezone(tz)
    moment = datetime.combine(local.date() - timedelta(days=1), time(12), tzinfo=tz)
    if moment <= now:
        moment = (local - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    if moment <= now:  # an event starting within the hour: registration open until it starts
        moment = local.replace(second=0, microsecond=0)
    hour = str(moment.hour) if not moment.minute else \
        f"{moment.hour}{':' if lang == 'en' else '.'}{moment.minute:02d}"
    return {**_written_day(moment, lang), "hour": hour}


def _start_hint(context: PeerdeskContext, lang: str) -> str:
    return gettext(lang, "When does it start? For example {date} at 2 pm, {weekday} {date} "
                         "14:00 or tomorrow at 9", **_example_day(context, lang))


def _time_on_the_day(text: str, context: PeerdeskContext, turn: Turn) -> datetime | None:
    """After "At what time?": a time alone, on the day given before."""
    day = turn.draft.get("day")
    services = context.services
    found = understand(text, now=services.clock(), tz=services.settings.tz)
    if day is None or found is None or found.day is not None or found.at is None:
        return None
    return datetime.combine(day, found.at, services.settings.tz)


async def new_event(update: Update, context: PeerdeskContext) -> None:
    """/newevent: step 1, the kind."""
    lang = await language(update, context)
    if not await _somewhere_to_publish(update, context, lang):
        return
    await dialogs.begin(update, context, NEWEVENT, KIND, lang=lang)
    await message_of(update).reply_text(
        gettext(lang, "A new event. What kind? (/cancel stops at any step)"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
            gettext(lang, name), callback_data=encode(Action.EVENT_KIND, arg=kind))]
            for kind, name in KIND_NAMES.items()]))


async def suggested_event(update: Update, context: PeerdeskContext) -> None:
    """A rising topic's button (the monthly digest): /newevent with the kind and the title
    filled in, going on from the start time."""
    query = query_of(update)
    button = await pressed(update, context, Action.SUGGEST_WEBINAR, Action.SUGGEST_CAFE)
    if button is None:
        return
    await query.answer()
    lang, services = await language(update, context), context.services
    if not await _somewhere_to_publish(update, context, lang):
        return
    kind = EventKind.WEBINAR if button.action is Action.SUGGEST_WEBINAR else EventKind.CAFE
    topic = str(button.arg)
    title = f"{gettext(lang, KIND_NAMES[EventKind(kind)])}: {services.topic_name(topic, lang)}"
    await dialogs.begin(update, context, NEWEVENT, START, lang=lang,
                        answers={"kind": kind, "title": title[:TITLE_MAX]})
    await query_message(query).reply_text(
        gettext(lang, "A new event: {title}", title=title) + "\n" + _start_hint(context, lang))


async def got_kind(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    query = query_of(update)
    await query.answer()
    turn.draft["kind"] = _answer(update, Action.EVENT_KIND)
    await take_away_buttons(query, chosen=pressed_label(query))
    await query_message(query).reply_text(gettext(turn.lang, "The title?"))
    return TITLE


# What fits: a title on a button's line, a place, a description and a bulletin in one message
# with the rest of the announcement (in UTF-16 units, as Telegram counts). Longer is said, never
# cut without a word (the end of a bulletin is where its link and deadline usually are).
TITLE_MAX, WHERE_MAX, DESCRIPTION_MAX, BULLETIN_MAX = 200, 500, 2000, 3500


async def _fits(update: Update, lang: str, text: str, limit: int) -> bool:
    """The organiser's text fits; if not, they are told by how much, and the step waits."""
    count = len(text.encode("utf-16-le")) // 2  # as Telegram counts: an emoji may be two
    if count <= limit:
        return True
    await message_of(update).reply_text(ngettext(
        lang, "That is {count} character, and at most {limit} fit here. Please shorten it and "
              "send it again.",
        "That is {count} characters, and at most {limit} fit here. Please shorten it and send "
        "it again.", count, count=count, limit=limit))
    return False


async def got_title(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    title = text_of(update).strip()
    if not await _fits(update, turn.lang, title, TITLE_MAX):
        return TITLE
    turn.draft["title"] = title
    await message_of(update).reply_text(_start_hint(context, turn.lang))
    return START


async def got_start(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """The start, as people write it; shown back for confirmation."""
    lang, services = turn.lang, context.services
    text = text_of(update)
    said = yes_or_no(text) if "start" in turn.draft else None  # typed under "Is that right?"
    if said is not None:
        await _retire_prompt(context, turn, message_of(update).chat_id)
        return await _start_answered(message_of(update), turn, said)
    start = _time_on_the_day(text, context, turn)
    why = None
    if start is None:
        start, why = _moment(text, context, turn)
    if why is not None:
        await message_of(update).reply_text(why)
        return START
    if start is None or start <= services.clock():
        await message_of(update).reply_text(gettext(
            lang, "I could not read a future date and time. Please write it like {date} at 2 pm "
                  "or tomorrow at 9", **_example_day(context, lang)))
        # Under "Is that right?" the start understood before still waits for its buttons.
        return START_CONFIRM if "start" in turn.draft else START
    turn.draft.pop("day", None)
    turn.draft["start"] = start
    await _retire_prompt(context, turn, message_of(update).chat_id)  # a corrected start
    prompt = await message_of(update).reply_text(
        gettext(lang, "Starts {when}. Is that right?", when=understood(services, start, lang)),
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Yes"),
                                 callback_data=encode(Action.START, arg="yes")),
            InlineKeyboardButton(gettext(lang, "No, I will write it again"),
                                 callback_data=encode(Action.START, arg="no"))]]))
    turn.draft["prompt"] = prompt.message_id
    return START_CONFIRM


async def _retire_prompt(context: PeerdeskContext, turn: Turn, chat_id: int) -> None:
    """The "Is that right?" answered by typing, or asked again of a corrected start: its
    buttons go, so that none is left to confirm a start that is not the one kept."""
    prompt = turn.draft.pop("prompt", None)
    if prompt:
        with contextlib.suppress(TelegramError):  # gone already, or too old to edit
            await context.bot.edit_message_reply_markup(chat_id, prompt, reply_markup=None)


async def got_start_confirmed(update: Update, context: PeerdeskContext, turn: Turn
                              ) -> str | None:
    query = query_of(update)
    latest = turn.draft.get("prompt")
    if latest is not None and query_message(query).message_id != latest:
        # An earlier start's buttons, left by an edit that did not go through.
        await query.answer(gettext(turn.lang, "That was an earlier time: please answer under "
                                              "the latest one."), show_alert=True)
        await take_away_buttons(query)
        return START_CONFIRM
    turn.draft.pop("prompt", None)
    await query.answer()
    await take_away_buttons(query, chosen=pressed_label(query))
    return await _start_answered(query_message(query), turn, _answer(update, Action.START) != "no")


async def _start_answered(message: Message, turn: Turn, right: bool) -> str:
    """The start understood is right (the length next), or not (asked again)."""
    if not right:
        turn.draft.pop("start", None)
        await message.reply_text(gettext(turn.lang, "When does it start?"))
        return START
    await message.reply_text(gettext(turn.lang, "How long does it last? For example 90 min or "
                                                "1,5 h"))
    return END


async def got_end(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    lang = turn.lang
    lasts = length(text_of(update))  # "90", "1,5 h", "puolitoista tuntia", "en timme"
    if lasts is None or not timedelta(minutes=5) <= lasts <= timedelta(hours=24):
        await message_of(update).reply_text(gettext(
            lang, "Please give the length, for example 90 min, 1,5 h or an hour and a half"))
        return END
    draft = turn.draft
    draft["end"] = draft["start"] + lasts
    await message_of(update).reply_text(
        gettext(lang, "Length: {length}.", length=say_length(lasts, lang)) + "\n"
        + gettext(lang, "Where? Write the place, a Teams link, or both (a link makes it online)."))
    return WHERE


async def got_where(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """"Auditorio B ja https://teams…": the place and the link apart."""
    where = text_of(update).strip()
    if not await _fits(update, turn.lang, where, WHERE_MAX):
        return WHERE
    turn.draft["place"], turn.draft["link"] = place_and_link(where)
    await message_of(update).reply_text(gettext(
        turn.lang, "A short description? (write - to leave it empty)"))
    return DESCRIPTION


async def got_description(update: Update, context: PeerdeskContext, turn: Turn
                          ) -> str | None:
    lang = turn.lang
    text = text_of(update).strip()
    if not await _fits(update, lang, text, DESCRIPTION_MAX):
        return DESCRIPTION
    turn.draft["description"] = "" if text == "-" else text
    await message_of(update).reply_text(
        gettext(lang, "Does registration close at some point? Write when, like {weekday} "
                      "{date} at {hour}, or press No deadline.",
                **_deadline_example(context, turn.draft["start"], lang)),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
            gettext(lang, "No deadline"), callback_data=encode(Action.CLOSES, arg="none"))]]))
    return CLOSES


def _spec(context: PeerdeskContext, turn: Turn) -> EventSpec:
    """The event the answers so far describe (EventError: why not)."""
    services, user = context.services, turn.dialog.user_id
    draft = {k: v for k, v in turn.draft.items() if k not in ("day", "prompt")}
    return validate_spec({
        **draft, "host_id": user, "host_name": turn.draft.get("host_name"),
        "language": turn.lang, "channels": list(services.settings.announce_channels)})


async def got_closes(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """The optional registration deadline; then the preview."""
    services, lang, draft = context.services, turn.lang, turn.draft
    if update.callback_query:
        await update.callback_query.answer()
        await take_away_buttons(update.callback_query,
                                chosen=pressed_label(update.callback_query))
        message = query_message(update.callback_query)
        draft["registration_closes"] = None
    else:
        message = message_of(update)
        closes, why = _time_on_the_day(message.text or "", context, turn), None
        if closes is None:
            closes, why = _moment(message.text or "", context, turn)
        if why is not None:
            await message.reply_text(why)
            return CLOSES
        draft.pop("day", None)
        if closes is None or closes <= services.clock() or closes > draft["start"]:
            await message.reply_text(gettext(
                lang, "Please give a moment between now and the start, or press No deadline."))
            return CLOSES
        draft["registration_closes"] = closes
    draft["host_name"] = user_of(update).first_name
    try:
        spec = _spec(context, turn)
    except EventError as exc:
        await message.reply_text(gettext(lang, "That does not work yet: {why}. Start again with "
                                               "/newevent.", why=str(exc)))
        return None
    await _preview(message, lang, announcement_text(services, preview(spec), None))
    return CONFIRM


async def _preview(message: Message, lang: str, text: str) -> None:
    """The last step of both dialogs: what will go out, with Publish and Cancel."""
    await message.reply_text(
        gettext(lang, "Preview:") + "\n\n" + text,
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(gettext(lang, "Publish"),
                                 callback_data=encode(Action.PUBLISH, arg="yes")),
            InlineKeyboardButton(gettext(lang, "Cancel"),
                                 callback_data=encode(Action.PUBLISH, arg="no"))]]))


async def _publish_pressed(update: Update, turn: Turn) -> bool:
    """Publish or Cancel under a preview: True to go ahead; otherwise the dialog ends."""
    query = query_of(update)
    await query.answer()
    await take_away_buttons(query, chosen=pressed_label(query))
    if _answer(update, Action.PUBLISH) == "yes":
        return True
    await query_message(query).reply_text(gettext(turn.lang, NOTHING_PUBLISHED))
    return False


async def confirm_event(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """Publish: the event is stored and the dialog ended in one transaction, so that the
    same dialog published from two replicas (or a press taken twice) publishes once."""
    query, services, lang = query_of(update), context.services, turn.lang
    if not await _publish_pressed(update, turn):
        return None
    try:
        spec = _spec(context, turn)
    except EventError as exc:
        await query_message(query).reply_text(gettext(
            lang, "That does not work yet: {why}. Start again with /newevent.", why=str(exc)))
        return None
    async with services.db.session() as session:
        if not await dialogs_domain.finish(session=session, dialog=turn.dialog, commit=False):
            return None  # published already, from the other press
        published = await schedule.publish_event(
            session=session, spec=spec, now=services.clock(),
            announce_days_before=services.settings.announce_days_before)
    services.wake_sender()  # the announcement goes out now, not at the sender's next look
    logger.info("event %s published", published[0].id)
    await query_message(query).reply_text(gettext(
        lang, "Published! The announcement goes out now and the reminders on time."))
    return None


async def new_bulletin(update: Update, context: PeerdeskContext) -> None:
    """/bulletin: the text, then when, then a preview."""
    lang = await language(update, context)
    if not await _somewhere_to_publish(update, context, lang):
        return
    await dialogs.begin(update, context, BULLETIN, BULLETIN_TEXT, lang=lang)
    await message_of(update).reply_text(gettext(
        lang, "Write the bulletin (a link can be part of the text). /cancel stops."))


async def got_bulletin_text(update: Update, context: PeerdeskContext, turn: Turn
                            ) -> str | None:
    lang = turn.lang
    text = text_of(update).strip()
    if not await _fits(update, lang, text, BULLETIN_MAX):
        return BULLETIN_TEXT
    turn.draft["text"] = text
    await message_of(update).reply_text(
        gettext(lang, "When should it go out? Press Now, or write a time like huomenna klo 8"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(gettext(lang, "Now"),
                                                                 callback_data=encode(Action.SEND_NOW,
                                                                                    arg="now"))]]))
    return BULLETIN_WHEN


async def got_bulletin_when(update: Update, context: PeerdeskContext, turn: Turn
                            ) -> str | None:
    services, lang, draft = context.services, turn.lang, turn.draft
    at: datetime | None
    if update.callback_query:
        query = update.callback_query
        await query.answer()
        await take_away_buttons(query, chosen=pressed_label(query))
        at, message, now = services.clock(), query_message(query), True
    else:
        message, now = message_of(update), False
        at = _time_on_the_day(message.text or "", context, turn)
        why = None
        if at is None:
            at, why = _moment(message.text or "", context, turn)
        if at is None:
            await message.reply_text(why or gettext(
                lang, "I could not read the time. Please write it like huomenna klo 8, or "
                      "press Now."))
            return BULLETIN_WHEN
        if at <= services.clock():  # "tänään klo 8" at noon: not a moment to come
            await message.reply_text(gettext(
                lang, "That time has passed already. Write a time to come, or press Now."))
            return BULLETIN_WHEN
        draft.pop("day", None)
    draft["send_at"] = at
    draft["now"] = now
    goes = gettext(lang, "It goes out now.") if now else gettext(
        lang, "It goes out {when}.", when=understood(services, at, lang))
    await _preview(message, lang, "📢 " + draft["text"] + "\n\n" + goes)
    return BULLETIN_CONFIRM


async def confirm_bulletin(update: Update, context: PeerdeskContext, turn: Turn
                           ) -> str | None:
    query, services, lang, draft = query_of(update), context.services, turn.lang, turn.draft
    if not await _publish_pressed(update, turn) or "text" not in draft:
        return None
    async with services.db.session() as session:
        if not await dialogs_domain.finish(session=session, dialog=turn.dialog, commit=False):
            return None  # published already, from the other press
        await schedule.publish_bulletin(
            session=session, text=draft["text"], link=None,
            channels=list(services.settings.announce_channels), send_at=draft["send_at"],
            now=services.clock(), created_by=query.from_user.id)
    services.wake_sender()
    await query_message(query).reply_text(
        gettext(lang, "Published! It goes out now.") if draft.get("now") else
        gettext(lang, "Published! It goes out {when}.",
                when=understood(services, draft["send_at"], lang)))
    return None


async def new_materials(update: Update, context: PeerdeskContext) -> None:
    """/materials: choose one of my recent events, then send a link or a file."""
    services, user = context.services, user_of(update)
    lang = await language(update, context)
    async with services.db.session() as session:
        events = await views.recent(session=session, now=services.clock(),
                                    host_id=None if is_organiser(services, user.id) else user.id)
    if not events:
        await message_of(update).reply_text(gettext(
            lang, "You have no event from the last 30 days to add materials to."))
        return
    await dialogs.begin(update, context, MATERIALS, MATERIAL_EVENT, lang=lang)
    await message_of(update).reply_text(
        gettext(lang, "Which event are the materials for? (/cancel stops)"),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
            f"{event.title[:40]} · {event.starts_at.astimezone(services.settings.tz):%d.%m.}",
            callback_data=encode(Action.MATERIALS_FOR, event.id))] for event in events]))


async def got_material_event(update: Update, context: PeerdeskContext, turn: Turn
                             ) -> str | None:
    query = query_of(update)
    button = await pressed(update, context, Action.MATERIALS_FOR)
    if button is None:
        return MATERIAL_EVENT
    await query.answer()
    await take_away_buttons(query, chosen=pressed_label(query))
    turn.draft["event_id"] = button.id
    await query_message(query).reply_text(gettext(
        turn.lang, "Send a link (the recording, slides…) or a file."))
    return MATERIAL_ITEM


async def got_material(update: Update, context: PeerdeskContext, turn: Turn) -> str | None:
    """The link or file: it goes to everyone who said they would come, and stays in /events."""
    services, message, lang = context.services, message_of(update), turn.lang
    link = file_id = file_name = None
    if message.document is not None:
        file_id, file_name = message.document.file_id, message.document.file_name
    else:
        link = place_and_link(message.text or "")[1]
        if link is None:
            await message.reply_text(gettext(lang, "I did not find a link there. Send a link "
                                                   "starting with https://, or a file."))
            return MATERIAL_ITEM
    event_id = int(turn.draft["event_id"])
    async with services.db.session() as session:
        event = await views.event_of(session=session, event_id=event_id)
        if event is None or not may_manage(services, user_of(update).id, event):
            return None
        if not await dialogs_domain.finish(session=session, dialog=turn.dialog, commit=False):
            return None  # added already, from the same answer taken elsewhere
        try:
            await after.add_material(session=session, event_id=event_id, now=services.clock(),
                                     link=link, file_id=file_id, file_name=file_name,
                                     added_by=user_of(update).id)
        except EventError:
            await message.reply_text(gettext(lang, "That event cannot take materials."))
            return None
        count = len(await after.recipients(session=session, event_id=event_id))
    services.wake_sender()
    await message.reply_text(ngettext(
        lang, "Thank you! The materials go to the {count} person who said they would come, "
              "and stay available under /events.",
        "Thank you! The materials go to the {count} people who said they would come, and stay "
        "available under /events.", count, count=count))
    return None
