"""Day one without a single number: a school sets its desk up from Telegram.

A bot with only its token → `peerdesk invite admin` → the admin opens the link → links the
helpers' forum with /helpersgroup (and hears what is missing in groups that will not do) →
invites a helper with /invite tvt → the helper opens the link and chooses languages → a staff
question's card reaches the linked forum and the new helper claims it → the same link grants
nothing twice → removing the helper returns the ticket to the queue. In staff-only mode a person
without the staff code is turned away and nothing reaches the helpers; a rotated code lets
nobody new in.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select
from telegram.ext import Application

from bot.cli import main
from bot.cli.people import invite_link
from bot.config import load_settings
from bot.domain import invites, setup
from bot.domain.invites import Refusal
from bot.domain.knowledge import Knowledge
from bot.domain.models import Digest, Helper, Ticket, TicketStatus
from bot.domain.officehours import OfficeHours
from bot.domain.people import everyone, remove
from bot.domain.roster import HelperSpec, HelperView, import_helpers
from bot.domain.routing import Router
from bot.domain.sla import Policy
from bot.domain.tickets.views import Desk
from bot.sandbox.server import BOT_USER, SANDBOX_TOKEN, Sandbox
from bot.services import Services
from bot.storage import Database
from bot.telegram.callbacks import SetupAction, decode, encode
from tests.conftest import bot_running
from tests.test_bot_helpers import GROUP, Clock, buttons, open_desk

FORUM = -1002001  # the helpers' forum, set up right
NO_TOPICS = -1002002
NOT_ADMIN = -1002003
NO_TOPIC_RIGHT = -1002004
CHANNEL = -1002009
RIIKKA, VILLE, OUTSIDER, SANNA, TEPPO = 7001, 7002, 7003, 5001, 5002
LINK = re.compile(r"https://t\.me/peerdesk_bot\?start=([A-Za-z0-9_-]+)")
TVT_QUESTION = "Projektori ei näytä kuvaa läppäriltä"


@dataclass
class School:
    sandbox: Sandbox
    services: Services
    application: Application
    clock: Clock

    async def say(self, user_id: int, text: str, chat_id: int | None = None,
                  count: int = 1) -> dict:
        """Someone writes; returns the first of the bot's next `count` messages in that chat."""
        chat = chat_id or user_id
        before = len(self.sandbox.bot_messages(chat))
        await self.sandbox.send(user_id, text, chat_id=chat_id)
        return (await self.sandbox.wait_for(chat, before + count))[before]

    async def press(self, user_id: int, message: dict, data: str, replies: int = 0) -> None:
        """Someone presses a button; waits for the press to be answered (and `replies` new
        messages in that chat)."""
        chat = message["chat"]["id"]

        def shown() -> bool:  # an edit that puts the button there may still be on its way
            return any(m["message_id"] == message["message_id"] and data in buttons(m)
                       for m in self.sandbox.bot_messages(chat))

        await self.sandbox.wait_until(shown)
        before = len(self.sandbox.bot_messages(chat))
        answered = self.answered()
        await self.sandbox.press(user_id, chat, message["message_id"], data)
        await self.sandbox.wait_until(lambda: self.answered() > answered)
        if replies:
            await self.sandbox.wait_for(chat, before + replies)

    def answered(self) -> int:
        return sum(1 for method, _ in self.sandbox.calls if method == "answerCallbackQuery")

    def alerts(self) -> list[str]:
        return [p.get("text") or "" for m, p in self.sandbox.calls
                if m == "answerCallbackQuery"]

    async def roster(self) -> dict[int, HelperView]:
        async with self.services.db.session() as session:
            return {h.telegram_id: h for h in await everyone(session=session)}

    async def tickets(self) -> int:
        async with self.services.db.session() as session:
            return (await session.exec(select(func.count()).select_from(Ticket))).one()

    async def ticket(self, number: int, condition) -> Ticket:  # type: ignore[no-untyped-def]
        for _ in range(750):
            async with self.services.db.session() as session:
                ticket = await session.get(Ticket, number)
            if ticket is not None and condition(ticket):
                return ticket
            await asyncio.sleep(0.02)
        raise AssertionError(f"ticket {number} never reached the expected state")


@asynccontextmanager
async def school(database_url: str, knowledge: Knowledge, router: Router,
                 **overrides: object) -> AsyncIterator[School]:
    """A bot with only its token: no helpers' group, no admins, no roster."""
    settings = load_settings(database_url=database_url, telegram_token=None,
                             sla_check_seconds=2, digest_day=None, **overrides)
    clock = Clock()
    services = Services(settings=settings, db=Database(database_url), knowledge=knowledge,
                        router=router, clock=clock)
    sandbox = Sandbox()
    sandbox.group(FORUM, "Vertaistuki", forum=True)
    sandbox.group(NO_TOPICS, "Opettajainhuone")
    sandbox.group(NOT_ADMIN, "Tukiryhmä", forum=True)
    sandbox.bot_rights[NOT_ADMIN] = {"status": "member", "user": BOT_USER}
    sandbox.group(NO_TOPIC_RIGHT, "Tukiryhmä 2", forum=True)
    sandbox.channel(CHANNEL, "Koulutukset")
    for user_id, name in ((RIIKKA, "Riikka"), (VILLE, "Ville"), (OUTSIDER, "Olli"),
                          (SANNA, "Sanna"), (TEPPO, "Teppo")):
        sandbox.user(user_id, name)
    try:
        async with bot_running(services, sandbox) as application:
            yield School(sandbox, services, application, clock)
    finally:
        await services.db.dispose()


def code_in(text: str) -> str:
    found = LINK.search(text)
    assert found, text
    return found[1]


async def test_a_school_sets_up_its_desk_from_telegram(
        database_url: str, knowledge: Knowledge, router: Router) -> None:
    async with school(database_url, knowledge, router) as s:
        # `peerdesk invite admin` on the server, with the bot's username from getMe.
        api = s.application.bot.base_url.split("/bot")[0]
        first = await invite_link(load_settings(
            database_url=database_url, telegram_token=SANDBOX_TOKEN, telegram_api_url=api),
            ["admin"])
        code = code_in(first)
        # The admin opens it: in the roster as an admin, named by Telegram, asked languages.
        welcome = await s.say(RIIKKA, f"/start {code}")
        assert "Tervetuloa, Riikka!" in welcome["text"] and "Ylläpitäjä" in welcome["text"]
        assert (await s.roster())[RIIKKA].roles == ("admin",)
        done = encode(SetupAction.LANGUAGES_DONE, 1)
        await s.press(RIIKKA, welcome, done, replies=1)
        team = s.sandbox.bot_messages(RIIKKA)[-1]
        assert "tiimissä" in team["text"]
        await s.press(RIIKKA, team, encode(SetupAction.TEAM, 1, "none"))
        assert "invite" in s.sandbox.menu(RIIKKA)  # the admin's commands, at once

        # /helpersgroup where it will not do: each says what is missing, and where to fix it.
        s.sandbox.bot_rights[NO_TOPICS] = s.sandbox.bot_member(FORUM)  # an admin, no topics
        no_topics = await s.say(RIIKKA, "/helpersgroup", chat_id=NO_TOPICS)
        assert "Aiheet" in no_topics["text"] and "ylläpitäjä" not in no_topics["text"]
        not_admin = await s.say(RIIKKA, "/helpersgroup", chat_id=NOT_ADMIN)
        assert "En ole tämän ryhmän ylläpitäjä" in not_admin["text"]
        s.sandbox.bot_rights[NO_TOPIC_RIGHT] = {
            **s.sandbox.bot_member(FORUM), "can_manage_topics": False}
        no_right = await s.say(RIIKKA, "/helpersgroup", chat_id=NO_TOPIC_RIGHT)
        assert "Hallitse aiheita" in no_right["text"]
        # Someone who is no admin cannot link a group.
        refused = await s.say(VILLE, "/helpersgroup", chat_id=FORUM)
        assert "vain" in refused["text"] and s.services.settings.helpers_chat_id is None
        # The real forum: confirmed in the group, stored, used at once.
        linked = await s.say(RIIKKA, "/helpersgroup", chat_id=FORUM)
        assert "on nyt auttajien ryhmä" in linked["text"]
        assert s.services.settings.helpers_chat_id == FORUM and s.services.forum == FORUM
        async with s.services.db.session() as session:
            assert (await setup.links(session=session)).helpers_chat == FORUM

        # /invite tvt: the link in the text and on a button, and its QR code.
        invitation = await s.say(RIIKKA, "/invite tvt", count=2)
        helper_code = code_in(invitation["text"])
        urls = [b.get("url") for row in invitation["reply_markup"]["inline_keyboard"]
                for b in row]
        assert urls == [f"https://t.me/peerdesk_bot?start={helper_code}"]
        assert "photo" in s.sandbox.bot_messages(RIIKKA)[-1]

        # The admin tapping her own link to check it does not use it up.
        own = await s.say(RIIKKA, f"/start {helper_code}")
        assert "oma kutsusi" in own["text"] and (await s.roster())[RIIKKA].roles == ("admin",)

        # The helper opens it and answers the language question.
        told_before = len(s.sandbox.bot_messages(RIIKKA))
        welcome = await s.say(VILLE, f"/start {helper_code}")
        assert "TVT-tukihenkilö" in welcome["text"]
        await s.press(VILLE, welcome, encode(SetupAction.LANGUAGE, 2, "sv"))
        assert (await s.roster())[VILLE].languages == ("fi", "sv")
        assert (await s.roster())[VILLE].roles == ("tvt",)
        assert "queue" in s.sandbox.menu(VILLE)
        # …then their team; being a helper, they hear where the questions are handled.
        await s.press(VILLE, welcome, encode(SetupAction.LANGUAGES_DONE, 2), replies=1)
        team = s.sandbox.bot_messages(VILLE)[-1]
        await s.press(VILLE, team, encode(SetupAction.TEAM, 2, "none"))
        await s.sandbox.wait_until(lambda: any(
            "auttajien ryhmässä" in (m.get("text") or "") for m in s.sandbox.bot_messages(VILLE)))
        # The admin who sent the link hears who came by it, and to add them to the group.
        came = (await s.sandbox.wait_for(RIIKKA, told_before + 1))[-1]
        assert came["text"].startswith("Ville avasi kutsusi") and "TVT-tukihenkilö" in came["text"]
        assert "auttajien ryhmään" in came["text"]

        # A staff question's card reaches the linked forum, and the new helper claims it.
        await s.say(SANNA, TVT_QUESTION)
        ticket = await s.ticket(1, lambda t: t.thread_id is not None)
        assert ticket.role == "tvt"
        await s.sandbox.wait_until(lambda: s.sandbox.thread_messages(FORUM, ticket.thread_id))
        card = s.sandbox.thread_messages(FORUM, ticket.thread_id)[0]
        assert "Ville" in card["text"]
        await s.sandbox.press(VILLE, FORUM, card["message_id"], "q:claim:1")
        await s.ticket(1, lambda t: t.status == TicketStatus.CLAIMED and t.claimed_by == VILLE)

        # Someone else with the same link gets nothing.
        again = await s.say(OUTSIDER, f"/start {helper_code}")
        assert "on jo käytetty" in again["text"]
        assert OUTSIDER not in await s.roster()

        # The admin removes the helper: the ticket goes back to the queue, the asker is told.
        listing = await s.say(RIIKKA, "/helpers")
        assert "Ville – TVT-tukihenkilö" in listing["text"]
        await s.press(RIIKKA, listing, encode(SetupAction.PERSON, VILLE))
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, VILLE, "ask"))
        asked = len(s.sandbox.bot_messages(SANNA))
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, VILLE, "yes"))
        await s.ticket(1, lambda t: t.status == TicketStatus.OPEN and t.claimed_by is None)
        assert VILLE not in await s.roster()
        told = (await s.sandbox.wait_for(SANNA, asked + 1))[-1]
        assert "#1" in told["text"]
        # Ville hears it from the bot…
        await s.sandbox.wait_until(lambda: any(
            (m.get("text") or "").startswith("Et ole enää vertaistuen auttajien listalla.")
            for m in s.sandbox.bot_messages(VILLE)))
        # …and every right is gone at once: the helpers' commands and the menu.
        refused = await s.say(VILLE, "/queue")
        assert "vain" in refused["text"]
        assert "queue" not in s.sandbox.menu(VILLE)


async def test_invitations_grant_once_expire_and_can_be_revoked(
        database_url: str, knowledge: Knowledge, router: Router) -> None:
    async with school(database_url, knowledge, router, admin_ids="7001") as s:
        # Only admins invite.
        refused = await s.say(VILLE, "/invite tvt")
        assert "vain" in refused["text"]
        unknown = await s.say(RIIKKA, "/invite tvt rehtori")
        assert unknown["text"].startswith("En tunne tätä roolina: rehtori")
        assert "vertaisvalmentaja" in unknown["text"]
        for forged in ("iNotARealCodeAtAll", "forged", "x" * 64):
            answer = await s.say(OUTSIDER, f"/start {forged}")
            assert "En tunnista" in answer["text"]
        assert OUTSIDER not in await s.roster()
        # Revoked with /invites: the link grants nothing.
        code = code_in((await s.say(RIIKKA, "/invite luotsi organiser", count=2))["text"])
        listing = await s.say(RIIKKA, "/invites")
        assert "#1" in listing["text"]
        await s.press(RIIKKA, listing, encode(SetupAction.REVOKE, 1))
        withdrawn = await s.say(VILLE, f"/start {code}")
        assert "peruttu" in withdrawn["text"] and VILLE not in await s.roster()
        # Expired after a week.
        old = code_in((await s.say(RIIKKA, "/invite lead", count=2))["text"])
        s.clock.advance(days=7, minutes=1)
        expired = await s.say(TEPPO, f"/start {old}")
        assert "vanhentunut" in expired["text"] and TEPPO not in await s.roster()
        # Only the hash is stored.
        async with s.services.db.session() as session:
            assert await invites.redeem(session=session, code=invites.code_hash(old),
                                        user_id=TEPPO, name="x", language="fi",
                                        now=s.clock()) == Refusal.UNKNOWN
        # The channel: made its admin, the bot asks the admin whether it is for announcements.
        before = len(s.sandbox.bot_messages(RIIKKA))
        await s.sandbox.bot_added(RIIKKA, CHANNEL)
        question = (await s.sandbox.wait_for(RIIKKA, before + 1))[-1]
        assert "Koulutukset" in question["text"]
        await s.press(RIIKKA, question, buttons(question)[0])
        assert s.services.settings.announce_channels == (CHANNEL,)
        # The roles' own names do, in any of the desk's languages, and with commas.
        named = await s.say(RIIKKA, "/invite Järjestäjä,tvt", count=2)
        assert "TVT-tukihenkilö" in named["text"] and "https://t.me/" in named["text"]


async def test_staff_only_mode_lets_in_only_those_with_the_staff_code(
        database_url: str, knowledge: Knowledge, router: Router) -> None:
    async with school(database_url, knowledge, router, admin_ids="7001",
                      staff_only=True) as s:
        # Without the code: told kindly, in their language; nothing is stored.
        turned = await s.say(OUTSIDER, TVT_QUESTION)
        assert "henkilökunnalle" in turned["text"]
        english = await s.say(TEPPO, "/start")
        assert "staff" in english["text"] or "henkilökunnalle" in english["text"]
        assert await s.tickets() == 0
        # With the staff link: the greeting, and questions reach the helpers.
        staff_link = (await s.say(RIIKKA, "/staffcode", count=2))["text"]
        code = code_in(staff_link)
        before = len(s.sandbox.bot_messages(SANNA))
        await s.sandbox.send(SANNA, f"/start {code}")
        greeting = (await s.sandbox.wait_for(SANNA, before + 1))[-1]
        assert "Hei Sanna" in greeting["text"]
        await s.say(SANNA, TVT_QUESTION)
        assert await s.tickets() == 1
        # A new code: the old one lets nobody new in; Sanna stays in.
        await s.say(RIIKKA, "/staffcode", count=2)
        late = await s.say(OUTSIDER, f"/start {code}")
        assert "henkilökunnalle" in late["text"]
        async with s.services.db.session() as session:
            assert not await setup.admitted(session=session, user_id=OUTSIDER)
            assert await session.get(Helper, OUTSIDER) is None
        await s.say(SANNA, "Ja toinen: miten Teams-kokous tallennetaan?")
        assert await s.tickets() >= 1
        # The poster: a PDF and a PNG with the staff link's QR code.
        before = len(s.sandbox.bot_messages(RIIKKA))
        await s.sandbox.send(RIIKKA, "/poster")
        sent = await s.sandbox.wait_for(RIIKKA, before + 2, timeout=30)
        assert sent[-2]["document"]["file_name"] == "peerdesk-poster.pdf"
        assert "photo" in sent[-1]


def test_the_invite_command_refuses_unknown_roles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "rehtori"]) == 2
    assert "tvt, luotsi" in capsys.readouterr().err


def test_invitation_codes() -> None:
    assert invites.parse_roles(["TVT", "admin,", "tvt"]) == ("tvt", "admin")
    assert invites.parse_roles([]) is None and invites.parse_roles(["boss"]) is None
    assert timedelta(days=7) == invites.VALID_FOR


async def test_a_fresh_desk_posts_no_empty_digest(
        database_url: str, knowledge: Knowledge, router: Router) -> None:
    """Installed on 1 December: November's digest would be empty, so none is posted."""
    clock = Clock(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))  # 08:00 in Helsinki
    async with open_desk(database_url, knowledge, router, clock=clock, digest_day=1,
                         digest_hour=9) as desk:
        clock.advance(hours=1)
        for _ in range(500):
            async with desk.services.db.session() as session:
                if (await session.exec(select(Digest))).first() is not None:
                    break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the digest was never considered")
        await asyncio.sleep(0.2)
        assert desk.sandbox.bot_messages(GROUP) == []
        assert desk.sandbox.bot_messages(1004) == []


async def test_helpers_list_and_remove_on_the_command_line(
        database_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            await import_helpers(session=session, specs=[
                HelperSpec(telegram_id=VILLE, name="Ville", roles=["tvt", "admin"])])
    finally:
        await db.dispose()
    monkeypatch.setenv("PEERDESK_DATABASE_URL", database_url)
    monkeypatch.delenv("PEERDESK_TELEGRAM_TOKEN", raising=False)
    assert await asyncio.to_thread(main, ["helpers", "list"]) == 0
    assert '"roles": ["admin", "tvt"]' in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["helpers", "remove", str(VILLE)]) == 0
    assert await asyncio.to_thread(main, ["helpers", "remove", str(VILLE)]) == 1
    assert await asyncio.to_thread(main, ["helpers", "list"]) == 0
    assert "Ville" not in capsys.readouterr().out


@pytest.mark.races
async def test_two_people_opening_one_link_at_once_one_is_enrolled(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session:
            code = await invites.create(session=session, roles=["tvt"], created_by=None,
                                        now=datetime.now(UTC))

        async def open_as(user_id: int) -> object:
            async with db.session() as session:
                return await invites.redeem(session=session, code=code, user_id=user_id,
                                            name="X", language="fi", now=datetime.now(UTC))

        results = await asyncio.gather(*(open_as(uid) for uid in (VILLE, OUTSIDER, TEPPO)))
        assert sum(1 for r in results if isinstance(r, invites.Enrolled)) == 1
        assert sorted(r for r in results if isinstance(r, Refusal)) == [Refusal.USED] * 2
        async with db.session() as session:
            assert len(await everyone(session=session)) == 1
    finally:
        await db.dispose()


async def test_a_removed_admin_loses_every_right_at_once(
        database_url: str, knowledge: Knowledge, router: Router) -> None:
    async with school(database_url, knowledge, router, admin_ids="7001") as s:
        async with s.services.db.session() as session:
            await import_helpers(session=session, specs=[
                HelperSpec(telegram_id=VILLE, name="Ville", roles=["admin", "organiser"])])
        assert "Avoimia kutsuja ei ole" in (await s.say(VILLE, "/invites"))["text"]
        listing = await s.say(RIIKKA, "/helpers")
        await s.press(RIIKKA, listing, encode(SetupAction.PERSON, VILLE))
        await s.press(RIIKKA, listing, encode(SetupAction.ROLE, VILLE, "admin"))
        assert (await s.roster())[VILLE].roles == ("organiser",)
        assert "vain" in (await s.say(VILLE, "/invites"))["text"]
        assert VILLE not in s.services.settings.admin_ids
        assert VILLE in s.services.settings.organiser_ids
        assert "invite" not in s.sandbox.menu(VILLE) and "newevent" in s.sandbox.menu(VILLE)
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, VILLE, "ask"))
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, VILLE, "yes"))
        assert VILLE not in await s.roster()
        assert VILLE not in s.services.settings.organiser_ids
        assert "newevent" not in s.sandbox.menu(VILLE)


async def test_a_removed_admins_open_invitations_grant_nothing(database_url: str) -> None:
    """An admin who made a link before being removed cannot come back by it (nor can anyone
    they sent it to): removing a person revokes the invitations they made."""
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            admin_code = await invites.create(session=session, roles=["admin"], created_by=None,
                                              now=now)
        async with db.session() as session:
            assert isinstance(await invites.redeem(session=session, code=admin_code,
                                                   user_id=VILLE, name="Ville", language="fi",
                                                   now=now), invites.Enrolled)
        async with db.session() as session:
            comeback = await invites.create(session=session, roles=["admin"], created_by=VILLE,
                                            now=now)
        async with db.session() as session:
            await remove(session=session, user_id=VILLE, now=now, desk=Desk(policy=Policy(
                hours=OfficeHours.parse("mon-fri 08:00-16:00", UTC))))
        async with db.session() as session:
            assert await invites.redeem(session=session, code=comeback, user_id=VILLE,
                                        name="Ville", language="fi", now=now) == Refusal.REVOKED
            assert VILLE not in {p.telegram_id for p in await everyone(session=session)}
    finally:
        await db.dispose()


def test_a_forged_row_id_beyond_the_database_is_refused_before_it() -> None:
    """Invitation and channel buttons carry row ids, which PostgreSQL keeps in 32 bits; a
    person's buttons carry Telegram ids, which are larger."""
    assert decode(encode(SetupAction.LANGUAGE, 2**31, "fi")) is None
    assert decode(encode(SetupAction.CHANNEL, 2**31 - 1, "yes")) is not None
    assert decode(encode(SetupAction.PERSON, 5_000_000_000)) is not None


async def test_nobody_removes_themselves_nor_the_desks_only_admin(
        database_url: str, knowledge: Knowledge, router: Router) -> None:
    """A second probe: an admin removed themselves, the desk's only one, and nobody could
    manage it from Telegram any more. Refused, kindly; a person keeps their last role."""
    async with school(database_url, knowledge, router) as s:
        async with s.services.db.session() as session:
            await import_helpers(session=session, specs=[
                HelperSpec(telegram_id=RIIKKA, name="Riikka", roles=["admin"]),
                HelperSpec(telegram_id=VILLE, name="Ville", roles=["tvt"], languages=["en"])])
        listing = await s.say(RIIKKA, "/helpers")
        await s.press(RIIKKA, listing, encode(SetupAction.PERSON, RIIKKA))
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, RIIKKA, "ask"))
        assert "Et voi poistaa itseäsi" in s.alerts()[-1]
        await s.press(RIIKKA, listing, encode(SetupAction.ROLE, RIIKKA, "admin"))
        assert "ainoa ylläpitäjä" in s.alerts()[-1]
        await s.press(RIIKKA, listing, encode(SetupAction.ROSTER, 1))
        await s.press(RIIKKA, listing, encode(SetupAction.PERSON, VILLE))
        await s.press(RIIKKA, listing, encode(SetupAction.ROLE, VILLE, "tvt"))
        assert "vähintään yksi rooli" in s.alerts()[-1]
        roster = await s.roster()
        assert roster[RIIKKA].roles == ("admin",) and roster[VILLE].roles == ("tvt",)
        # Marked away by the admin, Ville is told why questions stop calling him.
        await s.press(RIIKKA, listing, encode(SetupAction.AWAY, VILLE, "on"))
        s.services.wake_sender()
        away = (await s.sandbox.wait_for(VILLE, 1))[-1]
        assert away["text"].startswith("An admin marked you away")
        # Ville goes, and hears it from the bot, in his language (he is out of the roster by
        # the time it is sent).
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, VILLE, "ask"))
        await s.press(RIIKKA, listing, encode(SetupAction.REMOVE, VILLE, "yes"))
        assert VILLE not in await s.roster()
        s.services.wake_sender()
        told = (await s.sandbox.wait_for(VILLE, 2))[-1]
        assert told["text"].startswith("You are no longer on the peer-support helpers' list.")


async def test_a_team_one_person_typed_is_no_button_for_everyone(database_url: str) -> None:
    """A second probe: `/team Hacker team lol` from one staff member became a team button on
    every new helper's onboarding. The roster's teams are offered, and a staff team once two
    people have given it."""
    from bot.domain.models import Staff

    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            await import_helpers(session=session, specs=[
                HelperSpec(telegram_id=VILLE, name="Ville", roles=["tvt"], team="Autoala")])
            session.add_all([
                Staff(telegram_id=SANNA, first_name="Sanna", team="Hacker team lol",
                      created_at=now),
                Staff(telegram_id=TEPPO, first_name="Teppo", team="Rakennus", created_at=now),
                Staff(telegram_id=OUTSIDER, first_name="Olli", team="Rakennus", created_at=now)])
            await session.commit()
        async with db.session() as session:
            assert await setup.known_teams(session=session) == ["Rakennus", "Autoala"]
    finally:
        await db.dispose()
