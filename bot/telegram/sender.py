"""The one background sender: everything in the outbox goes out from here, at Telegram's pace,
most urgent first, so that no update handler ever waits behind Telegram's limits.

- A loop claims due rows (bot.domain.outbox) and puts each into its chat's lane; it wakes at once
  when this process queued something (`wake`), and every tick for the rest (rows queued by
  another replica, retries, reminders that come due).
- A lane sends one chat's messages in order of priority; a private chat is paced to about one
  message a second, a group to 20 a minute, by one budget that every replica shares on
  PostgreSQL (bot.telegram.budget).
- At most `IN_FLIGHT` sends wait on Telegram at once, handed out by priority: a 300-chat
  announcement never holds up a relayed answer by more than a moment.
- In the helpers' forum group, when more new tickets wait than the group can take one by one,
  they are listed together in one message with a Claim button each; each ticket's own topic
  opens later, when the group has room, or at once when it is claimed.
- Visibility is a deadline there (`visible_within_seconds`, 120): the forum's lane chooses what
  to send only when the group has a free slot, and once a new ticket has waited half of the
  deadline, the waiting tickets are listed in that slot before anything else for the group
  (relays, claimed tickets' topics, edits). How far behind the group is goes to the log and to
  /metrics (bot.metrics).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.domain import outbox, workers
from bot.domain.models import OutboxKind, Priority, utcnow
from bot.domain.outbox import Claimed
from bot.domain.tickets import messages
from bot.services import Services
from bot.storage.db import BACKGROUND
from bot.telegram.budget import PRIVATE, Budget, Pace
from bot.telegram.undelivered import report_refused, report_uncertain

logger = logging.getLogger(__name__)

CLAIM_BATCH = 100  # rows taken at a time
LANE_CAP = 300  # a chat with this many rows waiting in this process takes no more for now
IN_FLIGHT = 8  # sends waiting on Telegram at once
MAX_ATTEMPTS = 8  # network failures before a row is given up (each already retried)
BATCH_MIN = 2  # new tickets waiting in the forum's lane before they are listed together
LIST_FULL = 20  # new tickets that fill a listing: listed in the group's next slot, whatever
# else waits (a full listing is the best use of one of its 20 messages a minute)
TIDY_EVERY = 5.0  # seconds between looks for rows of stopped senders
PLAN_AHEAD = 1.0  # the forum's lane looks again this often while it waits for the group's slot
REPORT_EVERY = 60.0  # seconds between the log lines that say how far behind the group is


@dataclass(slots=True)
class Sent:
    """What a renderer sent: the message id worth keeping (announcements, to edit later), the
    messages to note as belonging to a ticket, and the tickets the helpers can now see (a
    card): written in the same transaction as `sent`, the one write of a message."""

    message_id: int | None = None
    remember: list[tuple[int, int, int, messages.Kind]] = field(default_factory=list)
    shown: list[int] = field(default_factory=list)


Renderer = Callable[[Application, Claimed], Awaitable[Sent | None]]
Lister = Callable[[Application, list[Claimed]], Awaitable[list[int]]]
Copier = Callable[[Application, list[Claimed]], Awaitable[Sent | None]]
RELAYS_TOGETHER = 20  # a person's quick messages copied into their topic in one call


class PriorityGate:
    """A semaphore that lets the most urgent waiter in first."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot in the same instant: give it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1


class Lane:
    """One chat's waiting rows, sent one at a time, most urgent first."""

    def __init__(self, chat_id: int, paced: bool) -> None:
        self.chat_id = chat_id
        self.heap: list[tuple[int, float, int, Claimed]] = []
        self.task: asyncio.Task[None] | None = None
        # The rows between their call to Telegram and the note that they went (see `stop`).
        self.in_flight: tuple[int, ...] = ()
        # Telegram takes about one message a second in a private chat (short bursts pass).
        self.paced = paced and chat_id > 0

    def push(self, item: Claimed) -> None:
        heapq.heappush(self.heap, (item.priority, item.due_at.timestamp(), item.id, item))

    def pop(self) -> Claimed:
        return heapq.heappop(self.heap)[3]

    def __len__(self) -> int:
        return len(self.heap)


class Sender:
    def __init__(self, application: Application, renderers: dict[OutboxKind, Renderer],
                 lister: Lister | None = None, budget: Budget | None = None,
                 group_pace: Pace | None = None, copier: Copier | None = None) -> None:
        self._application = application
        self._renderers = renderers
        self._lister = lister
        self._copier = copier
        self._budget = budget  # None: Telegram's limits are off (benchmarks)
        self._group_pace = group_pace
        self._reported = 0.0
        self._lanes: dict[int, Lane] = {}
        self._wake = asyncio.Event()
        self._gate = PriorityGate(IN_FLIGHT)
        self._task: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._stopping = False
        self._sole = False

    @property
    def services(self) -> Services:
        return self._application.bot_data["services"]

    @property
    def worker(self) -> str:
        return self.services.worker_id

    def wake(self) -> None:
        self._wake.set()

    def start(self, *, sole: bool = False) -> None:
        """Begin sending. `sole`: no other process can be sending (polling), so what any
        earlier process left half-sent is settled at once, not after its heartbeat's lease."""
        if self._task is not None:
            raise RuntimeError("the sender is already running")
        self._stopping = False
        self._sole = sole
        self._task = asyncio.create_task(self._run(), name="peerdesk-sender")
        self._beat = asyncio.create_task(self._heartbeat(), name="peerdesk-heartbeat")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming and starting sends, and give back what waits, within `grace`.

        A lane waiting for its turn is cancelled at once: its row was not sent. One in the
        middle of a send has `grace` to finish it and note it; cut off even then (Telegram
        retrying a 429 or a lost connection), its row is not handed back as unsent but left as
        a stopped process leaves it, for the next one to check what got through (a card) or to
        report (an announcement) rather than to send it twice."""
        self._stopping = True
        self._wake.set()
        cut: set[int] = set()
        try:
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
                self._task = None
            lanes = {lane.task: lane for lane in self._lanes.values() if lane.task is not None}
            sending = {task for task, lane in lanes.items() if lane.in_flight}
            for task in lanes.keys() - sending:
                task.cancel()
            if sending:
                _, stuck = await asyncio.wait(sending, timeout=grace)
                for task in stuck:
                    cut.update(lanes[task].in_flight)
                    task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            self._lanes.clear()
        finally:
            if self._beat is not None:
                self._beat.cancel()
                await asyncio.gather(self._beat, return_exceptions=True)
                self._beat = None
        async with self.services.db.session() as session:
            handed = await outbox.hand_back(session=session, worker=self.worker, keep=cut)
        if handed:
            logger.info("%d unsent messages handed back for the next process", handed)
        if cut:
            logger.warning("%d messages cut off while being sent: the next process checks them",
                           len(cut))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until nothing due is waiting in this process (tests, benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not any(self._lanes.values()) and not any(
                    lane.task for lane in self._lanes.values()):
                return
            await asyncio.sleep(0.01)

    # --- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        BACKGROUND.set(True)  # this task's sessions, and its lanes', wait behind the handlers'
        services = self.services
        interval = services.settings.outbox_check_seconds
        loop = asyncio.get_running_loop()
        next_tidy = 0.0
        while not self._stopping:
            try:
                if loop.time() >= next_tidy:
                    await self._tidy()
                    next_tidy = loop.time() + TIDY_EVERY
                self._wake.clear()
                full = frozenset(chat for chat, lane in self._lanes.items()
                                 if len(lane) >= LANE_CAP)
                async with services.db.unit() as session:
                    claimed = await outbox.claim_due(session=session, now=services.clock(),
                                                     worker=self.worker, limit=CLAIM_BATCH,
                                                     skip_chats=full, but_cards=True)
                for item in claimed:
                    self._lane(item.chat_id).push(item)
                for lane in self._lanes.values():
                    if lane.heap and lane.task is None:
                        lane.task = asyncio.create_task(self._drive(lane))
                if len(claimed) == CLAIM_BATCH:
                    continue  # more is due: go on at once
            except Exception:
                logger.exception("the sender's loop failed; trying again")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def _heartbeat(self) -> None:
        """This process is alive: its updates and messages are not taken over. A task of its
        own, not behind the sender's queue for the database, which a burst can make long. The
        first beat is `running`'s, before any update is handled."""
        services = self.services
        every = max(0.2, services.settings.update_lease_seconds / 4)
        while True:
            await asyncio.sleep(every)
            try:
                async with services.db.session() as session:
                    await workers.beat(session=session, worker=self.worker, now=utcnow())
            except Exception:
                logger.exception("the heartbeat failed; trying again")

    async def _tidy(self) -> None:
        services = self.services
        async with services.db.session() as session:
            done = await outbox.tidy(session=session, now=services.clock(), wall=utcnow(),
                                     timeout=timedelta(seconds=services.settings
                                                       .update_lease_seconds),
                                     only=self.worker if self._sole else None)
        if done.dropped:
            logger.info("dropped %d announcements or reminders for events already begun",
                        len(done.dropped))
        if done.requeued:
            logger.info("%d messages of a stopped process queued again", done.requeued)
        if done.uncertain:
            await report_uncertain(self._application, done.uncertain)

    def _lane(self, chat_id: int) -> Lane:
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = Lane(chat_id, self.services.settings.rate_limit)
        return lane

    async def _drive(self, lane: Lane) -> None:
        try:
            while lane.heap and not self._stopping:
                if lane.chat_id == self.services.forum and self._budget is not None \
                        and self._group_pace is not None:
                    # Choose what goes into the group's next slot only when it comes: what
                    # came meanwhile (a ticket near its deadline) may go first.
                    wait = await self._budget.free_in(f"g:{lane.chat_id}", self._group_pace)
                    if wait > 0:
                        await asyncio.sleep(min(wait, PLAN_AHEAD))
                        continue
                    self._report(lane)
                    waiting = self._due_listing(lane)
                    if waiting and await self._list(lane, waiting):
                        continue
                item = lane.pop()
                if self._batchable(lane, item):
                    waiting = [entry[3] for entry in lane.heap if self._batchable(lane, entry[3])]
                    if len(waiting) + 1 >= BATCH_MIN and \
                            item.id in await self._list(lane, [item, *waiting]):
                        continue
                together = self._relays_with(lane, item)
                if lane.paced and self._budget is not None:
                    await self._budget.take(f"p:{lane.chat_id}", PRIVATE)
                await self._gate.acquire(item.priority)
                try:
                    if self._stopping:
                        break  # claimed, not sent: handed back for the next process
                    lane.in_flight = tuple(relay.id for relay in together) or (item.id,)
                    if together:
                        await self._send_together(together)
                    else:
                        await self._send(item)
                finally:
                    lane.in_flight = ()
                    self._gate.release()
        finally:
            lane.task = None
            if lane.heap and not self._stopping:
                lane.task = asyncio.create_task(self._drive(lane))
            elif not lane.heap:
                self._lanes.pop(lane.chat_id, None)

    def _relays_with(self, lane: Lane, item: Claimed) -> list[Claimed]:
        """In the forum, the person's other messages waiting to be relayed into the same topic
        go with this one, in one call (a slot of the group's 20 a minute); taken off the lane.
        Empty when there are none."""
        if self._copier is None or lane.chat_id != self.services.forum \
                or item.kind is not OutboxKind.COPY:
            return []

        def source(row: Claimed) -> tuple[int | None, object]:
            return row.ticket_id, (row.params or {}).get("from_chat")

        more = [entry[3] for entry in lane.heap if entry[3].kind is OutboxKind.COPY
                and source(entry[3]) == source(item)]
        if not more:
            return []
        together = sorted([item, *more], key=lambda row: int((row.params or {})
                                                             .get("message_id", 0)))
        together = together[:RELAYS_TOGETHER]
        ids = {row.id for row in together}
        if item.id not in ids:  # the one popped goes, whatever the order
            together = [item, *together[:-1]]
            together.sort(key=lambda row: int((row.params or {}).get("message_id", 0)))
            ids = {row.id for row in together}
        lane.heap = [entry for entry in lane.heap if entry[3].id not in ids]
        heapq.heapify(lane.heap)
        return together

    def _waiting_tickets(self, lane: Lane) -> list[Claimed]:
        """New tickets in the forum's lane not yet shown, oldest first."""
        return sorted((entry[3] for entry in lane.heap if self._batchable(lane, entry[3])),
                      key=lambda item: (item.due_at, item.id))

    def _due_listing(self, lane: Lane) -> list[Claimed]:
        """The new tickets to list in the group's next slot, before anything else: all that
        wait (oldest first), once they fill a listing or the oldest has waited half of the
        deadline; else none."""
        waiting = self._waiting_tickets(lane)
        if not waiting:
            return []
        half = self.services.settings.visible_within_seconds / 2
        waited = (self.services.clock() - waiting[0].due_at).total_seconds()
        return waiting if waited >= half or len(waiting) >= LIST_FULL else []

    def _report(self, lane: Lane) -> None:
        """Now and then, how far behind the helpers' group is; a warning, with the way out,
        when a new ticket has waited past its deadline."""
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._reported < REPORT_EVERY:
            return
        waiting = self._waiting_tickets(lane)
        if not waiting:
            return
        waited = (self.services.clock() - waiting[0].due_at).total_seconds()
        deadline = self.services.settings.visible_within_seconds
        if waited < deadline / 4:
            return
        self._reported = loop_time
        if waited > deadline:
            logger.warning(
                "the helpers' group is %.0f s behind: %d new tickets wait to be shown (deadline "
                "%.0f s), %d messages queued for it. One group takes 20 messages a minute; "
                "a listing shows up to 20 tickets, so it shows about 300 new tickets a minute "
                "when nothing else is sent. Beyond that, send cards privately (leave "
                "PEERDESK_HELPERS_CHAT_ID empty): each helper's chat has a budget of its own",
                waited, len(waiting), deadline, len(lane))
        else:
            logger.info("the helpers' group is %.0f s behind: %d new tickets wait to be shown, "
                        "%d messages queued for it", waited, len(waiting), len(lane))

    def _batchable(self, lane: Lane, item: Claimed) -> bool:
        return (self._lister is not None and item.kind is OutboxKind.CARD
                and item.priority == Priority.CARD and lane.chat_id == self.services.forum)

    async def _list(self, lane: Lane, items: list[Claimed]) -> set[int]:
        """Several new tickets in one message; their own topics open later (priority TOPIC).
        Returns the outbox ids of the rows listed."""
        assert self._lister is not None
        await self._gate.acquire(Priority.CARD)
        try:
            if self._stopping:
                return set()
            lane.in_flight = tuple(item.id for item in items)  # the listing and its note
            try:
                tickets = set(await self._lister(self._application, items))
            except TelegramError as exc:
                logger.warning("new tickets not listed (%s); sending them one by one",
                               type(exc).__name__)
                return set()
            listed = [item for item in items if item.ticket_id in tickets]
            ids = {item.id for item in listed}
            if listed:
                async with self.services.db.session() as session:
                    await outbox.set_priority(session=session, outbox_ids=list(ids),
                                              priority=Priority.TOPIC)
        finally:
            lane.in_flight = ()
            self._gate.release()
        lane.heap = [entry for entry in lane.heap if entry[3].id not in ids]
        heapq.heapify(lane.heap)
        for item in listed:
            lane.push(_with_priority(item, Priority.TOPIC))
        return ids

    async def _send(self, item: Claimed) -> None:
        services = self.services
        renderer = self._renderers.get(item.kind)
        try:
            if renderer is None:
                raise BadRequest(f"no renderer for {item.kind}")
            sent = await renderer(self._application, item) or Sent()
        except Exception as exc:
            await self._not_sent(item, exc)
            return
        async with services.db.unit() as session:  # Core statements: no ORM session
            for chat_id, message_id, ticket_id, kind in sent.remember:
                await messages.remember(session=session, chat_id=chat_id, message_id=message_id,
                                        ticket_id=ticket_id, kind=kind, commit=False)
            if sent.shown:
                await messages.shown(session=session, ticket_ids=sent.shown,
                                     now=services.clock(), commit=False)
            await outbox.mark_sent(session=session, outbox_id=item.id, worker=self.worker,
                                   now=services.clock(), message_id=sent.message_id)

    async def _send_together(self, items: list[Claimed]) -> None:
        """Several relays of one person's messages into one topic, in one call."""
        assert self._copier is not None
        services = self.services
        try:
            sent = await self._copier(self._application, items) or Sent()
        except Exception as exc:
            for item in items:
                await self._not_sent(item, exc)
            return
        async with services.db.unit() as session:  # Core statements: no ORM session
            for chat_id, message_id, ticket_id, kind in sent.remember:
                await messages.remember(session=session, chat_id=chat_id, message_id=message_id,
                                        ticket_id=ticket_id, kind=kind, commit=False)
            for item in items:
                await outbox.mark_sent(session=session, outbox_id=item.id, worker=self.worker,
                                       now=services.clock(), commit=False)
            await session.commit()
        logger.info("%d relays to one topic sent together", len(items))

    async def _not_sent(self, item: Claimed, exc: Exception) -> None:
        if isinstance(exc, RetryAfter):  # still refused after the rate limiter's own retries
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            await self._retry(item, timedelta(seconds=seconds + 1), "429")
        elif isinstance(exc, Forbidden | BadRequest):
            await self._failed(item, f"{type(exc).__name__}: {exc}")
        elif isinstance(exc, TelegramError):  # NetworkError, TimedOut (after a long wait)
            if item.attempts >= MAX_ATTEMPTS:
                await self._failed(item, type(exc).__name__)
            else:
                await self._retry(item, timedelta(seconds=min(600, 2 * 2 ** item.attempts)),
                                  type(exc).__name__)
        else:
            logger.error("outbox %s (%s) could not be sent", item.id, item.kind,
                         exc_info=exc)
            await self._failed(item, "error")

    async def _retry(self, item: Claimed, delay: timedelta, error: str) -> None:
        logger.warning("outbox %s (%s): %s; trying again in %s", item.id, item.kind, error, delay)
        async with self.services.db.session() as session:
            await outbox.mark_retry(session=session, outbox_id=item.id, worker=self.worker,
                                    due_at=self.services.clock() + delay, error=error)

    async def _failed(self, item: Claimed, error: str) -> None:
        services = self.services
        logger.warning("outbox %s (%s): given up (%s)", item.id, item.kind, error.split(":")[0])
        services.metrics.send_failures.labels(str(item.kind)).inc()
        async with services.db.session() as session:
            await outbox.mark_failed(session=session, outbox_id=item.id, worker=self.worker,
                                     error=error)
        if item.event_id is not None or item.bulletin_id is not None:
            await report_refused(self._application, item, error)


def _with_priority(item: Claimed, priority: int) -> Claimed:
    return Claimed(item.id, item.kind, item.chat_id, priority, item.due_at, item.attempts,
                   item.event_id, item.bulletin_id, item.ticket_id, item.params)
