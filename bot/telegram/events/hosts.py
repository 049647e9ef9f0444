"""The hosts' side of events: /attendees (also /feedback), who is coming and, once an event is
under way or held, who came and what they thought; a button per person marks who came. Hosts
see their own events; organisers and admins see all."""

from __future__ import annotations

from babel.numbers import format_decimal
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.events import after, views
from bot.domain.intake import language_of
from bot.i18n import gettext, ngettext
from bot.telegram.access import is_organiser, may_manage, pressed
from bot.telegram.callbacks import Action, encode
from bot.telegram.context import (
    PeerdeskContext,
    message_of,
    query_of,
    user_of,
)
from bot.telegram.events.render import headline, when


def _presence_keyboard(event_id: int, people: list[after.Person]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(("✅ " if p.present else "▫️ ") + p.name[:24],
                                    callback_data=encode(Action.CAME, event_id, p.user_id))
               for p in people[:60]]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


async def attendees_command(update: Update, context: PeerdeskContext) -> None:
    """/attendees (also /feedback): who is coming to the events I host; for those under way or
    held, who came (a button per person marks them) and the feedback (admins: all events)."""
    services, user = context.services, user_of(update)
    everyone = is_organiser(services, user.id)
    now = services.clock()
    async with services.db.session() as session:
        lang = await language_of(session=session, telegram_id=user.id,
                                 telegram_language=user.language_code)
        held = await views.recent(session=session, now=now, days=7,
                                  host_id=None if everyone else user.id)
        coming = [e for e in await views.upcoming(session=session, now=now,
                                                  host_id=None if everyone else user.id)
                  if e.id not in {h.id for h in held}]
        listing = [(event, await after.people(session=session, event_id=event.id),
                    await after.feedback(session=session, event_id=event.id))
                   for event in [*held[::-1], *coming]]
    if not listing:
        await message_of(update).reply_text(gettext(lang, "You host no upcoming events."))
        return
    marks = {"yes": "", "plus": " +1"}
    for event, people, summary in listing:
        names = ", ".join(p.name + marks.get(p.answer or "", "") + (
            " (" + gettext(lang, "waiting") + ")" if p.waiting else "") for p in people
            if p.answer is not None) or "–"
        text = f"{headline(event, lang)} ({when(services, event, lang)}): {names}"
        started = event.id in {h.id for h in held}
        if started:
            said_yes = {p.user_id for p in people
                         if p.answer in ("yes", "plus") and not p.waiting}
            text += "\n" + gettext(
                lang, "Came: {came} of the {said} who said they would come; without saying: "
                      "{walk_ins}", said=len(said_yes),
                came=sum(p.present for p in people if p.user_id in said_yes),
                walk_ins=sum(p.present for p in people if p.user_id not in said_yes))
            if summary.count:
                text += "\n" + ngettext(lang, "Feedback: {average} / 5 from {count} answer",
                                        "Feedback: {average} / 5 from {count} answers",
                                        summary.count,
                                        average=format_decimal(summary.average or 0,
                                                               format="#,##0.#", locale=lang),
                                        count=summary.count)
            text += "".join(f"\n💬 {c}" for c in summary.comments[:10])
            if people:
                text += "\n" + gettext(lang, "Tap a name to mark who came.")
        await message_of(update).reply_text(
            text[:4096], reply_markup=_presence_keyboard(event.id, people)
            if started and people else None)


async def came_button(update: Update, context: PeerdeskContext) -> None:
    """The host marks who came (a second tap takes the mark away)."""
    query, services = query_of(update), context.services
    button = await pressed(update, context, Action.CAME)
    if button is None:
        return
    async with services.db.session() as session:
        event = await views.event_of(session=session, event_id=button.id)
        lang = await language_of(session=session, telegram_id=query.from_user.id,
                                 telegram_language=query.from_user.language_code)
        if event is None or not may_manage(services, query.from_user.id, event):
            await query.answer(gettext(lang, "Only the host can mark who came."),
                               show_alert=True)
            return
        await after.toggle_present(session=session, event_id=event.id,
                                   user_id=int(str(button.arg)), now=services.clock())
        people = await after.people(session=session, event_id=event.id)
    await query.answer()
    await query.edit_message_reply_markup(_presence_keyboard(event.id, people))
