"""Trust under faults: no personal data in the logs, text a database cannot store cleaned rather
than lost, absurd report periods answered kindly, and report tokens only in a header."""

from __future__ import annotations

import io
import logging
import traceback
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from bot.cli.logs import JsonFormatter, PrivateLog
from bot.domain import intake
from bot.domain.models import Staff, Ticket, TicketStatus, utcnow
from bot.domain.text import clean_text, yes_or_no
from bot.sandbox.server import SANDBOX_TOKEN
from bot.services import Services
from bot.storage import Database
from tests.conftest import Running
from tests.test_processes import eventually, free_port, sandbox_server, start_bot, stop

ASKER = 987_654_321  # a Telegram id that must not reach the log
SECRET_TEXT = "Wilma\x00salasana ei toimi"


def _logged_failure(caplog: pytest.LogCaptureFixture, error: BaseException) -> str:
    """What the log holds once the bot's error handler has logged `error` with its traceback."""
    logging.getLogger("bot.test").error("update failed", exc_info=error)
    return caplog.text + "".join(traceback.format_exception(error))


async def test_a_failed_statement_leaves_no_values_in_the_log(
    database_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLAlchemy's statement log and a failed statement's exception (PostgreSQL's DETAIL line
    included) carry no question text and no Telegram id."""
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    db = Database(database_url)
    try:
        async with db.session() as session:
            session.add(Staff(telegram_id=ASKER, first_name="Mari"))
            await session.commit()
        # The same person stored twice: PostgreSQL names the key's value in its DETAIL line.
        with pytest.raises(DBAPIError) as duplicate:
            async with db.session() as session:
                session.add(Staff(telegram_id=ASKER, first_name="Mari"))
                await session.commit()
        text = _logged_failure(caplog, duplicate.value)
        assert "hide_parameters" in text  # SQLAlchemy says it hid them
        assert str(ASKER) not in text and "Mari" not in text
        if database_url.startswith("postgresql"):
            assert "DETAIL" not in text
            # A NUL is refused by PostgreSQL; the failed insert must not show the text either.
            with pytest.raises(DBAPIError) as refused:
                async with db.session() as session:
                    session.add(Ticket(asker_id=ASKER, text=SECRET_TEXT, language="fi",
                                       topic="wilma", role="tvt", confidence=0.9,
                                       status=TicketStatus.OPEN, created_at=utcnow(),
                                       updated_at=utcnow()))
                    await session.commit()
            text = _logged_failure(caplog, refused.value)
            assert "salasana" not in text and str(ASKER) not in text
    finally:
        await db.dispose()


async def test_a_bot_at_debug_logs_neither_its_token_nor_a_question(tmp_path: Path) -> None:
    """A real bot process at DEBUG, a question asked (python-telegram-bot logs each update it
    fetches and each call's parameters), a report token tried in the query string: the log
    holds none of the secrets, texts, names or Telegram ids."""
    question, name = "Miten vaihdan Wilman salasanan kotikoneella?", "Ainomaija"
    report_token, web_port = "dashboard-token-4711", free_port()
    async with sandbox_server() as (sandbox, api):
        sandbox.user(ASKER, name)
        env = {"PEERDESK_TELEGRAM_TOKEN": SANDBOX_TOKEN, "PEERDESK_TELEGRAM_API_URL": api,
               "PEERDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'peerdesk.db'}",
               "PEERDESK_LOG_LEVEL": "DEBUG", "PEERDESK_DIGEST_DAY": "",
               "PEERDESK_REPORT_TOKEN": report_token, "PEERDESK_WEB_PORT": str(web_port)}
        bot = await start_bot("run", env, tmp_path / "bot.log")
        try:
            await eventually(lambda: any(m == "getUpdates" for m, _ in sandbox.calls), 60)
            await sandbox.send(ASKER, question)
            await sandbox.wait_for(ASKER, 1, timeout=30)
            async with aiohttp.ClientSession() as client:
                url = f"http://127.0.0.1:{web_port}/reports/2026-11.json?token={report_token}"
                async with client.get(url) as response:
                    assert response.status == 401
        finally:
            await stop(bot)
    log = (tmp_path / "bot.log").read_text(encoding="utf-8")
    assert "Call to Bot API endpoint `getUpdates` finished" in log  # it did log at DEBUG
    assert "Processing update 1" in log
    for private in (SANDBOX_TOKEN, SANDBOX_TOKEN.split(":")[1], report_token, question,
                    "Wilma", name, str(ASKER)):
        assert private not in log, private


@pytest.mark.parametrize(("text", "cleaned"), [
    ("Wilma\x00salasana ei toimi", "Wilma salasana ei toimi"),  # PostgreSQL refuses NUL
    ("Hei \ud83d, miten HOKS päivitetään?", "Hei \ufffd, miten HOKS päivitetään?"),
    ("\ufeffMiten HOKS päivitetään?\u200b\n", "Miten HOKS päivitetään?"),
    # Joiners inside the text stay: they make one emoji of three.
    ("Tiimi 👩\u200d👩\u200d👧 kokoontuu", "Tiimi 👩\u200d👩\u200d👧 kokoontuu"),
    ("/ok?", "/ok?"),
    # Nothing visible: the adapter answers "I found no text" and stores nothing.
    ("\u200b\u200c\u200d", ""), ("\ufeff", ""), ("/", ""), (" // ", ""), ("\x00", ""),
    ("\u3164", ""), ("\u00ad\u2060\n\t", ""), ("", ""), (None, ""),
])
def test_clean_text(text: str | None, cleaned: str) -> None:
    assert clean_text(text) == cleaned


async def test_a_question_with_a_nul_is_stored_cleaned(running: Running) -> None:
    """Through the sandbox on both databases: the question is kept, its NUL a space."""
    await running.ask(7001, SECRET_TEXT, first_name="Ma\x00ri")
    async with running.services.db.session() as session:
        (ticket,) = (await session.exec(select(Ticket))).all()
        staff = await session.get(Staff, 7001)
    assert ticket.text == "Wilma salasana ei toimi" and ticket.role == "tvt"
    assert staff is not None and staff.first_name == "Ma ri"


async def test_a_lone_surrogate_and_a_nul_team_are_stored(services: Services) -> None:
    async with services.db.session() as session:
        receipt = await intake.submit_question(
            session=session, router=services.router, asker_id=ASKER, chat_id=ASKER,
            message_id=1, text="Moodle \udc00 ei aukea", desk=services.desk)
        team = await intake.set_team(session=session, telegram_id=ASKER, team="Tek\x00niikka ")
        ticket = await session.get(Ticket, receipt.ticket_id)
    assert ticket is not None and ticket.text == "Moodle \ufffd ei aukea"
    assert team == "Tek niikka"


def test_the_token_is_masked_in_messages_and_tracebacks_in_either_format() -> None:
    token = "987654:AAH-secret_part"
    for formatter in (logging.Formatter("%(message)s"), JsonFormatter()):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(PrivateLog([token]))
        log = logging.getLogger(f"bot.test.mask.{type(formatter).__name__}")
        log.propagate = False
        log.addHandler(handler)
        try:
            try:
                raise ConnectionError(f"cannot reach https://api/bot{quote(token, safe='')}/x")
            except ConnectionError:
                log.exception("calling %s failed", f"https://api/bot{token}/getMe")
        finally:
            log.removeHandler(handler)
        written = stream.getvalue()
        assert "getMe" in written and "ConnectionError" in written
        assert "secret_part" not in written and "[secret]" in written


@pytest.mark.parametrize(("typed", "meant"), [
    ("kyllä", True), ("Joo!", True), ("no joo", True), ("No niin", True), ("no on", True),
    ("pitää paikkansa", True), ("ja, det stämmer", True), ("that's right", True), ("ok", True),
    ("ei", False), ("no ei", False), ("ei pidä paikkaansa", False), ("nej, fel", False),
    ("no", False), ("nope", False),
    ("huomenna klo 10", None), ("ei vaan torstaina klo 10", None), ("en timme", None),
    ("10", None), ("", None),
])
def test_a_typed_yes_or_no_under_buttons_that_ask_it(typed: str, meant: bool | None) -> None:
    """Finnish "no" before a yes is "well" ("no joo"); a new answer is neither."""
    assert yes_or_no(typed) is meant
