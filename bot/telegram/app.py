"""The python-telegram-bot Application: built and wired in one place. Every handler, in the
order it is tried, every periodic job, and the background sender are registered here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.domain import workers
from bot.domain.models import OutboxKind, utcnow
from bot.services import Services
from bot.telegram import (
    admin,
    dialogs,
    hours,
    intake,
    knowledge,
    menus,
    privacy,
    questions,
    reports,
    setup,
)
from bot.telegram.access import admins_only, coaches_only, helpers_only, organisers_only
from bot.telegram.budget import budget_for
from bot.telegram.callbacks import Action, SetupAction, pattern
from bot.telegram.context import PeerdeskContext
from bot.telegram.dialogs import Step, Steps
from bot.telegram.durable import DurableApplication, DurableBot, Inbox, replay, replay_job
from bot.telegram.events import follow_up, hosts, organisers, sending, staff
from bot.telegram.helpers import buttons, cards, commands, notes, relay, sla
from bot.telegram.ordering import PerChatUpdateProcessor
from bot.telegram.ratelimit import RetryingRateLimiter
from bot.telegram.request import AiohttpRequest
from bot.telegram.sender import Sender

logger = logging.getLogger(__name__)
CHECKPOINT_SECONDS = 2.0
PURGE_SECONDS = 3600.0
DIGEST_SECONDS = 60.0
REFRESH_SECONDS = 10.0
STOP_GRACE = 3.0  # seconds a send begun may take to finish when the bot stops: with the rest of
# a stop, within the 10 s `docker compose stop` allows even on a busy machine (what is still
# queued behind the rate limiter is handed back at once, not lost)

PRIVATE = filters.ChatType.PRIVATE
PRIVATE_MESSAGE = PRIVATE & filters.UpdateType.MESSAGE


class HelpersGroup(filters.MessageFilter):
    """Messages in the helpers' group as the settings name it now: it may be linked in Telegram
    (/helpersgroup) after the handlers were registered."""

    def __init__(self, services: Services) -> None:
        super().__init__(name="HelpersGroup")
        self.services = services

    def filter(self, message: Message) -> bool:
        return message.chat_id == self.services.settings.helpers_chat_id


def _setup_handlers(application: Application) -> None:
    """Setting the desk up (bot.telegram.setup, bot.telegram.admin). Groups -10 to -7, before
    everything else: the settings the database adds are read first (-10); in staff-only mode
    nobody without the staff code gets further (-9); a `/start <code>` is an invitation or the
    staff code (-8); a roster member's /team sets their team too, then goes on (-7)."""
    application.add_handler(TypeHandler(Update, setup.refresh_update), group=-10)
    application.add_handler(TypeHandler(Update, setup.staff_gate), group=-9)
    application.add_handler(CommandHandler("start", setup.start_with_code,
                                           filters=PRIVATE & setup.START_WITH_CODE), group=-8)
    application.add_handler(CommandHandler("team", setup.team_command, filters=PRIVATE),
                            group=-7)
    application.add_handlers([
        ChatMemberHandler(setup.membership_changed, ChatMemberHandler.MY_CHAT_MEMBER),
        CommandHandler("helpersgroup", setup.helpers_group_command),
        CallbackQueryHandler(setup.language_button, pattern=pattern(SetupAction.LANGUAGE)),
        CallbackQueryHandler(setup.languages_done,
                             pattern=pattern(SetupAction.LANGUAGES_DONE)),
        CallbackQueryHandler(setup.team_button, pattern=pattern(SetupAction.TEAM)),
        CallbackQueryHandler(setup.channel_button, pattern=pattern(SetupAction.CHANNEL)),
        CommandHandler("invite", admins_only(admin.invite_command), filters=PRIVATE),
        CommandHandler("invites", admins_only(admin.invites_command), filters=PRIVATE),
        CallbackQueryHandler(admins_only(admin.revoke_button),
                             pattern=pattern(SetupAction.REVOKE)),
        CommandHandler("helpers", admins_only(admin.helpers_command), filters=PRIVATE),
        CallbackQueryHandler(admins_only(admin.roster_button), pattern=pattern(
            SetupAction.PERSON, SetupAction.ROSTER, SetupAction.ROLE, SetupAction.AWAY,
            SetupAction.REMOVE)),
        CommandHandler("staffcode", admins_only(admin.staffcode_command), filters=PRIVATE),
        CommandHandler("poster", admins_only(admin.poster_command), filters=PRIVATE),
    ])  # group 0, ahead of the others there (the intake's catch-alls come last)


async def checkpoint_job(context: PeerdeskContext) -> None:
    """SQLite's log into the database, off the path of the bot's own writes."""
    await context.services.db.checkpoint()


def _dialog_steps() -> Steps:
    """The steps of the organisers' dialogs: what each takes, by dialog and step. Taken in
    group -4 (bot.telegram.dialogs.route) from the step stored in the database; their first
    step is a command below."""
    steps, e = Steps(), organisers
    steps.add(e.NEWEVENT, e.KIND, Step(e.got_kind, button=pattern(Action.EVENT_KIND)))
    steps.add(e.NEWEVENT, e.TITLE, Step(e.got_title, text=True))
    steps.add(e.NEWEVENT, e.START, Step(e.got_start, text=True))
    steps.add(e.NEWEVENT, e.START_CONFIRM, Step(e.got_start_confirmed,
                                                button=pattern(Action.START)),
              Step(e.got_start, text=True))  # a corrected start typed under "Is that right?"
    steps.add(e.NEWEVENT, e.END, Step(e.got_end, text=True))
    steps.add(e.NEWEVENT, e.WHERE, Step(e.got_where, text=True))
    steps.add(e.NEWEVENT, e.DESCRIPTION, Step(e.got_description, text=True))
    steps.add(e.NEWEVENT, e.CLOSES, Step(e.got_closes, text=True,
                                         button=pattern(Action.CLOSES)))
    steps.add(e.NEWEVENT, e.CONFIRM, Step(e.confirm_event, button=pattern(Action.PUBLISH)))
    steps.add(e.BULLETIN, e.BULLETIN_TEXT, Step(e.got_bulletin_text, text=True))
    steps.add(e.BULLETIN, e.BULLETIN_WHEN, Step(e.got_bulletin_when, text=True,
                                                button=pattern(Action.SEND_NOW)))
    steps.add(e.BULLETIN, e.BULLETIN_CONFIRM, Step(e.confirm_bulletin,
                                                   button=pattern(Action.PUBLISH)))
    steps.add(e.MATERIALS, e.MATERIAL_EVENT, Step(e.got_material_event,
                                                  button=pattern(Action.MATERIALS_FOR)))
    steps.add(e.MATERIALS, e.MATERIAL_ITEM, Step(e.got_material, text=True, file=True))
    for kind in (e.NEWEVENT, e.BULLETIN, e.MATERIALS):
        steps.cancelled[kind] = e.NOTHING_PUBLISHED
        steps.told.add(kind)  # a draft put aside is said so
    return steps


def _handlers(application: Application) -> None:
    """Every handler, in the order it is tried."""
    services: Services = application.bot_data["services"]
    # The groups, tried from the lowest; a handler that answers an update stops it there.
    # Groups -10 to -7: the desk's own settings, the staff-only gate, invitations (see
    # _setup_handlers).
    _setup_handlers(application)
    # Group -5: a button press without data; PTB would let it match every pattern (a callable
    # pattern is asked only about data that is there).
    application.add_handler(CallbackQueryHandler(intake.empty_button, pattern=lambda _: False),
                            group=-5)
    # Group -4: the person's dialog, read from the database on every private update (an
    # organiser's /newevent, /bulletin or /materials step, /cancel); a step that fits takes the
    # update, and a dialog that lapsed is said so and lets the update through.
    steps = application.bot_data["dialogs"] = _dialog_steps()
    application.add_handler(TypeHandler(Update, dialogs.route), group=-4)
    # Group -3: a coach's reply to a draft answer edits it, a helper's reply to their draft's
    # choices marks details to take out (bot.telegram.knowledge).
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND
                                           & filters.REPLY, knowledge.draft_reply), group=-3)
    # Group -2: a reply to an event's feedback question is a comment on the event.
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND
                                           & filters.REPLY, staff.feedback_reply),
                            group=staff.FEEDBACK_GROUP)
    # Group -1: a private message that continues a ticket (an asker's follow-up or comment, a
    # helper's reply to a private card, a shared phone number) is relayed and goes no further;
    # anything else falls through to group 0.
    application.add_handler(MessageHandler(PRIVATE_MESSAGE & ~filters.COMMAND,
                                           questions.private_message), group=-1)
    application.add_handlers([
        # The organisers' dialogs begin here (organisers and admins only, checked here; a host
        # adds materials to their own events); their later steps are taken in group -4.
        CommandHandler("newevent", organisers_only(organisers.new_event), filters=PRIVATE),
        CommandHandler("bulletin", organisers_only(organisers.new_bulletin), filters=PRIVATE),
        CommandHandler("materials", organisers.new_materials, filters=PRIVATE),
        CallbackQueryHandler(organisers_only(organisers.suggested_event),
                             pattern=pattern(Action.SUGGEST_WEBINAR, Action.SUGGEST_CAFE)),
        CommandHandler("cancel", dialogs.nothing_to_cancel, filters=PRIVATE),
        # A step's button that no dialog waits for (Publish pressed twice, or after the draft
        # was published, put aside or lapsed).
        CallbackQueryHandler(dialogs.step_passed, pattern=steps.takes_button),
        # The helpers' commands and the card's buttons (helpers only, checked here).
        CommandHandler(["queue", "mine"], helpers_only(commands.queue_command)),
        CommandHandler(["away", "back"], helpers_only(commands.availability_command)),
        CommandHandler("close", helpers_only(commands.close_command)),
        CommandHandler("note", commands.note_command),
        CallbackQueryHandler(helpers_only(buttons.claim_button), pattern=pattern(Action.CLAIM)),
        CallbackQueryHandler(helpers_only(buttons.close_button), pattern=pattern(Action.CLOSE)),
        CallbackQueryHandler(helpers_only(buttons.reroute_button), pattern=pattern(
            Action.REROUTE, Action.REROUTE_ROLE, Action.REROUTE_TOPIC, Action.CARD)),
        # The knowledge loop: answers at hand on the card, saving a good reply, /answers, /log
        # (helpers); reviewing and publishing the drafts (peer coaches, leads, admins).
        CallbackQueryHandler(helpers_only(knowledge.send_answer_button),
                             pattern=pattern(Action.ANSWER_SEND)),
        CallbackQueryHandler(helpers_only(knowledge.save_answer_button),
                             pattern=pattern(Action.ANSWER_SAVE)),
        CallbackQueryHandler(helpers_only(knowledge.part_button),
                             pattern=pattern(Action.ANSWER_PART)),
        CommandHandler("answers", helpers_only(knowledge.answers_command)),
        CommandHandler("log", helpers_only(knowledge.log_command)),
        CommandHandler("drafts", coaches_only(knowledge.drafts_command), filters=PRIVATE),
        CallbackQueryHandler(coaches_only(knowledge.draft_button),
                             pattern=pattern(Action.DRAFT_PUBLISH, Action.DRAFT_DISCARD)),
        # The holder's controls: back to the queue, or to a named colleague.
        CommandHandler("release", helpers_only(commands.release_command)),
        CallbackQueryHandler(helpers_only(buttons.release_button),
                             pattern=pattern(Action.RELEASE)),
        CallbackQueryHandler(helpers_only(buttons.hand_over_button), pattern=pattern(
            Action.HAND_OVER, Action.HAND_OVER_ALL, Action.HAND_TO)),
        # The asker's buttons about their ticket (each checks that it is theirs).
        CallbackQueryHandler(buttons.rate_button, pattern=pattern(Action.RATE)),
        # "I would prefer a phone call": a closed question's button is answered kindly.
        CallbackQueryHandler(intake.phone_button, pattern=pattern(Action.PHONE)),
        # Reports, events, data protection.
        CommandHandler("report", reports.report_command),
        CommandHandler("events", staff.events_command, filters=PRIVATE),
        CommandHandler(["attendees", "feedback"], hosts.attendees_command, filters=PRIVATE),
        CallbackQueryHandler(staff.rsvp_button, pattern=pattern(Action.RSVP)),
        CallbackQueryHandler(staff.offer_button, pattern=pattern(Action.OFFER)),
        CallbackQueryHandler(staff.here_button, pattern=pattern(Action.HERE)),
        CallbackQueryHandler(staff.rating_button, pattern=pattern(Action.EVENT_RATING)),
        # A host's (or an organiser's) marks of who came: checked against the event itself.
        CallbackQueryHandler(hosts.came_button, pattern=pattern(Action.CAME)),
        CallbackQueryHandler(staff.materials_button, pattern=pattern(Action.MATERIALS)),
        CallbackQueryHandler(staff.ics_button, pattern=pattern(Action.ICS)),
        CommandHandler("mydata", privacy.mydata_command, filters=PRIVATE),
        CommandHandler("forget", privacy.forget_command, filters=PRIVATE),
        CallbackQueryHandler(privacy.forget_confirmed, pattern=pattern(Action.FORGET)),
        # Staff intake: commands, then any private message becomes a question. Its catch-alls
        # (unknown commands, anything else, unknown buttons) must come last.
        CommandHandler("start", intake.start, filters=PRIVATE),
        CommandHandler("help", intake.help_command, filters=PRIVATE),
        CommandHandler("lang", intake.lang_command, filters=PRIVATE),
        CommandHandler("anon", intake.anon_command, filters=PRIVATE),
        CommandHandler("team", intake.team_command, filters=PRIVATE),
        # /my: the asker's open questions and where each is.
        CommandHandler("my", intake.my_command, filters=PRIVATE),
        CommandHandler("hours", hours.hours_command, filters=PRIVATE),
        CallbackQueryHandler(intake.chose_role, pattern=pattern(Action.ROLE)),
        CallbackQueryHandler(intake.self_service_answer, pattern=pattern(Action.SELF_SERVICE)),
        CallbackQueryHandler(intake.anonymous_ticket, pattern=pattern(Action.ANONYMOUS)),
        # "Solved it myself", and "Add to #12" / "New question" under another matter.
        CallbackQueryHandler(intake.solve_button, pattern=pattern(Action.SOLVE)),
        CallbackQueryHandler(intake.other_matter, pattern=pattern(Action.JOIN, Action.NEW)),
        CallbackQueryHandler(intake.chose_language, pattern=pattern(Action.LANGUAGE)),
        MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, intake.edited),
        MessageHandler(PRIVATE_MESSAGE & filters.COMMAND, intake.unknown_command),
        # Words, pictures, files, video and voice are questions; the rest is answered kindly.
        MessageHandler(PRIVATE_MESSAGE & intake.ASKABLE, intake.question),
        MessageHandler(PRIVATE_MESSAGE, intake.not_text),
        CallbackQueryHandler(intake.unknown_button),
    ])
    # A helper's edit in a ticket's topic: said not to reach the asker.
    application.add_handler(MessageHandler(
        HelpersGroup(services) & filters.UpdateType.EDITED_MESSAGE, relay.group_edit))
    # A private chat's command written in the helpers' group: where it works is said (the
    # group's own commands are handled above).
    application.add_handler(MessageHandler(
        HelpersGroup(services) & filters.UpdateType.MESSAGE & filters.COMMAND,
        intake.private_only_command))
    # Messages in a ticket's topic of the helpers' forum: relayed to the asker. Last, so that
    # the group's commands are handled above.
    application.add_handler(MessageHandler(
        HelpersGroup(services) & filters.UpdateType.MESSAGE & ~filters.COMMAND
        & ~filters.StatusUpdate.ALL, relay.group_message))
    application.add_error_handler(intake.on_error)


def _jobs(application: Application) -> None:
    """Every periodic job. The sender is not one: it runs as its own task (see `running`)."""
    services: Services = application.bot_data["services"]
    settings = services.settings
    jobs = application.job_queue
    if jobs is None:
        return
    # Reminders, escalations and unchosen questions, queued for the sender.
    jobs.run_repeating(sla.run_sweep, interval=settings.sla_check_seconds,
                       first=settings.sla_check_seconds, name="peerdesk-sla")
    # Dialogs left quiet past their time: ended once, and the person told where it matters.
    jobs.run_repeating(dialogs.sweep, interval=settings.sla_check_seconds,
                       first=settings.sla_check_seconds, name="peerdesk-dialogs")
    # Updates that a stopped process left unfinished.
    jobs.run_repeating(replay_job, interval=max(1.0, settings.update_lease_seconds / 2),
                       first=settings.update_lease_seconds, name="peerdesk-replay")
    # After events: the feedback question, and offered places nobody confirmed passed on.
    jobs.run_repeating(follow_up.follow_up_job, interval=settings.outbox_check_seconds,
                       first=settings.outbox_check_seconds, name="peerdesk-event-follow-up")
    # The monthly digest, once, on its day and hour.
    jobs.run_repeating(reports.digest, interval=min(DIGEST_SECONDS, settings.sla_check_seconds),
                       first=settings.sla_check_seconds, name="peerdesk-digest")
    # The school's calendar: closures imported by another process, and its feed (daily).
    jobs.run_repeating(hours.reload_job, interval=hours.RELOAD_SECONDS,
                       first=hours.RELOAD_SECONDS, name="peerdesk-calendar-reload")
    if settings.calendar_url is not None:
        # However late the scheduler starts, the first read is not skipped as a misfire.
        jobs.run_once(hours.fetch_job, when=0, name="peerdesk-calendar-fetch",
                      job_kwargs={"misfire_grace_time": None})
        jobs.run_repeating(hours.fetch_job, interval=hours.FETCH_SECONDS,
                           first=hours.FETCH_SECONDS, name="peerdesk-calendar-fetch-daily")
    # Self-service answers published by another process or the command line.
    jobs.run_repeating(knowledge.reload_job, interval=knowledge.RELOAD_SECONDS,
                       first=knowledge.RELOAD_SECONDS, name="peerdesk-answers-reload")
    # The admins, organisers, channels and helpers' group set up in Telegram by another
    # replica (commands and buttons read them anyway: bot.telegram.setup.refresh_update).
    jobs.run_repeating(setup.refresh_job, interval=REFRESH_SECONDS, first=REFRESH_SECONDS,
                       name="peerdesk-setup-refresh")
    # Question texts past the retention period.
    jobs.run_repeating(privacy.purge, interval=PURGE_SECONDS, first=5, name="peerdesk-retention")
    if services.db.engine.dialect.name == "sqlite":  # PostgreSQL checkpoints by itself
        jobs.run_repeating(checkpoint_job, interval=CHECKPOINT_SECONDS,
                           first=CHECKPOINT_SECONDS, name="peerdesk-checkpoint")


def build_application(services: Services, *, token: str, api_url: str,
                      webhook: bool = False) -> Application:
    """An Application talking to the Bot API at `api_url` (Telegram, or the local sandbox):
    long polling, or (`webhook`) fed by the web server. Updates are stored before they are
    confirmed and handled once (bot.telegram.durable)."""
    inbox = Inbox(services)
    # Telegram's limits, kept by every replica together on PostgreSQL (bot.telegram.budget).
    limiter = RetryingRateLimiter(group_per_minute=services.settings.group_messages_per_minute,
                                  budget=budget_for(services.db.engine)) \
        if services.settings.rate_limit else None
    bot = DurableBot(
        token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot",
        request=AiohttpRequest(connection_pool_size=64),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
        rate_limiter=limiter,
        inbox=inbox,
    )
    builder = (
        Application.builder()
        .application_class(DurableApplication)
        .bot(bot)
        .concurrent_updates(PerChatUpdateProcessor())
        .context_types(ContextTypes(context=PeerdeskContext))
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["services"] = services
    application.bot_data["inbox"] = inbox
    sender = Sender(application, {
        OutboxKind.CARD: cards.send_card,
        OutboxKind.EDIT_CARDS: cards.edit_cards,
        OutboxKind.EDIT_TOPIC: cards.edit_topic,
        OutboxKind.COPY: notes.send_copy,
        OutboxKind.NOTE: notes.send_note,
        **{kind: sending.send_announcement for kind in sending.KINDS},
    }, lister=cards.list_new, copier=notes.send_copies,
        budget=limiter.budget if limiter else None,
        group_pace=limiter.group_pace if limiter else None)
    application.bot_data["sender"] = sender
    services.wake_sender = sender.wake
    _handlers(application)
    _jobs(application)
    return application


async def _find_forum(application: Application) -> int | None:
    """The helpers' forum group, or None when cards go to helpers privately (no group set, or
    the group is not a forum). Asked from Telegram once, at start."""
    chat_id = application.bot_data["services"].settings.helpers_chat_id
    if chat_id is None:
        return None
    try:
        chat = await application.bot.get_chat(chat_id)
    except TelegramError as exc:
        logger.warning("the helpers' group cannot be reached (%s): cards go privately",
                       type(exc).__name__)
        return None
    if not chat.is_forum:
        logger.warning("the helpers' group is not a forum: cards go privately")
        return None
    return chat_id


async def initialize(application: Application) -> None:
    """Initialize (checks the token), find the helpers' forum, and set the command menus."""
    try:
        await application.initialize()
    except Exception:
        # PTB leaves the HTTP clients of a failed initialize (say, a refused token) open.
        await application.bot.shutdown()
        raise
    await setup.refresh(application.bot_data["services"])  # what was set up in Telegram
    application.bot_data["services"].forum = await _find_forum(application)
    await menus.set_commands(application)
    await hours.initialize(application)  # the school's calendar, before any update
    await knowledge.initialize(application)  # the answers: seeded once, then the database's


@asynccontextmanager
async def running(application: Application, *, everything: bool = False
                  ) -> AsyncIterator[Application]:
    """Start the Application and the sender, take up what a stopped process left; on the way
    out, stop in good order within seconds, giving back what was not done."""
    services: Services = application.bot_data["services"]
    sender: Sender = application.bot_data["sender"]
    async with services.db.session() as session:
        await workers.beat(session=session, worker=services.worker_id, now=utcnow())
    await application.start()
    sender.start(sole=everything)
    try:
        await replay(application, everything=everything)
        yield application
    finally:
        limiter = application.bot.rate_limiter
        if isinstance(limiter, RetryingRateLimiter):
            limiter.stop()  # no call waits for another try: Telegram may be unreachable
        await sender.stop(grace=STOP_GRACE)
        await application.stop()
        await application.bot_data["inbox"].hand_back()
        async with services.db.session() as session:
            await workers.retire(session=session, worker=services.worker_id, now=utcnow())


@asynccontextmanager
async def polling(application: Application, **options: Any) -> AsyncIterator[Application]:
    """Initialize, then long-poll until the block ends."""
    await initialize(application)
    async with application:
        # Telegram lets one process poll: what an earlier run left unfinished is ours at once.
        async with running(application, everything=True):
            assert application.updater is not None
            # Every kind of update: my_chat_member (the bot made a channel's admin) included.
            await application.updater.start_polling(**{"allowed_updates": Update.ALL_TYPES,
                                                        **options})
            try:
                yield application
            finally:
                await application.updater.stop()
