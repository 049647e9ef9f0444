"""Reports in Telegram: /report for helpers, leads and admins, and the monthly digest posted to
the helpers' group and to the leads. In the helpers' group every figure is shown; elsewhere small
figures are folded (bot.domain.reports.fold)."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application

from bot import LEAD
from bot.domain import answer_figures, roster
from bot.domain.reports import (
    Period,
    PeriodError,
    Report,
    claim_digest,
    digest_due,
    fold,
    monthly_report,
    release_digest,
)
from bot.domain.roster import helpers_with_role
from bot.i18n import gettext
from bot.report_formats import as_png, as_text
from bot.services import Services
from bot.telegram.access import language
from bot.telegram.context import PeerdeskContext, message_of, user_of

logger = logging.getLogger(__name__)


async def _build(services: Services, period: Period, full: bool) -> Report:
    async with services.db.reading() as session:
        report = await monthly_report(session=session, period=period, now=services.clock())
    return report if full else fold(report, services.settings.report_min_count)


async def _send(application: Application, chat_id: int, report: Report, lang: str,
                thread_id: int | None = None) -> None:
    services: Services = application.bot_data["services"]
    await application.bot.send_message(chat_id, as_text(report, services, lang)[:4096],
                                       message_thread_id=thread_id)
    chart = await asyncio.to_thread(as_png, report, services, lang)
    await application.bot.send_photo(chat_id, chart,
                                     message_thread_id=thread_id,
                                     filename=f"peerdesk-{report.period.label}.png")


async def report_command(update: Update, context: PeerdeskContext) -> None:
    """/report [YYYY-MM]: the month's figures as text and a chart, in the helpers' group or in
    a private chat; in any other group it stays silent (the figures are not theirs to see)."""
    services, user = context.services, user_of(update)
    message = message_of(update)
    if message.chat.type != ChatType.PRIVATE and \
            message.chat_id != services.settings.helpers_chat_id:
        logger.info("/report ignored outside the helpers' group and private chats")
        return
    async with services.db.session() as session:
        person = await roster.helper(session=session, user_id=user.id)
    allowed = user.id in services.settings.admin_ids or (
        person is not None and (person.is_helper or LEAD in person.roles))
    lang = person.language(services.settings.helpers_language) if person \
        else services.settings.helpers_language
    if not allowed:  # in the person's own language: they are no helper
        await message.reply_text(gettext(await language(update, context), "Sorry, the reports "
                                         "are for the helpers, the heads of education and the "
                                         "admins."))
        return
    try:
        period = Period.spoken(" ".join(context.args), services.clock().astimezone(
            services.settings.tz).date(), services.settings.tz) if context.args \
            else Period.containing(services.clock(), services.settings.tz)
    except PeriodError:
        await message.reply_text(gettext(lang, "Write the month as YYYY-MM, for example "
                                               "/report 2026-11"))
        return
    in_helpers_group = message.chat_id == services.settings.helpers_chat_id
    report = await _build(services, period, full=in_helpers_group)
    await _send(context.application, message.chat_id, report, lang,
                message.message_thread_id if message.is_topic_message else None)


async def digest(context: PeerdeskContext) -> None:
    """Once a month: last month's figures to the helpers' group (in full) and to the leads
    (folded). A row in the database makes it once, across restarts and replicas."""
    services, settings = context.services, context.services.settings
    if settings.digest_day is None:
        return
    period = digest_due(services.clock(), settings.tz, settings.digest_day, settings.digest_hour)
    if period is None:
        return
    async with services.db.session() as session:
        if not await claim_digest(session=session, period=period, now=services.clock()):
            return
        leads = await helpers_with_role(session=session, role=LEAD)
    full = await _build(services, period, full=True)
    if full.total == 0 and full.previous_total == 0:
        # A desk that has not had a month yet (a fresh install): no empty digest and chart.
        logger.info("monthly digest %s skipped: no questions yet", period.label)
        return
    try:
        if settings.helpers_chat_id is not None:
            await _send(context.application, settings.helpers_chat_id, full,
                        settings.helpers_language)
    except TelegramError as exc:
        logger.warning("the monthly digest did not reach the helpers (%s); retrying later",
                       type(exc).__name__)
        async with services.db.session() as session:
            await release_digest(session=session, period=period)
        return
    folded = await _build(services, period, full=False)
    for lead in leads:
        try:
            await _send(context.application, lead.telegram_id, folded,
                        lead.language(settings.helpers_language))
        except TelegramError:
            logger.warning("a lead could not be sent the monthly digest")
    if full.rising:  # the organisers are offered an event on each rising topic
        async with services.db.session() as session:
            await answer_figures.suggest_events(session=session, found=full.rising, organisers=(
                settings.admin_ids | settings.organiser_ids), month=period.label,
                now=services.clock())
        services.wake_sender()
    logger.info("monthly digest %s posted", period.label)


