"""Trust under faults: no personal data in the logs, text a database cannot store cleaned rather
than lost, absurd report periods answered kindly, and report tokens only in a header."""

from __future__ import annotations

import logging
import traceback

import pytest
from sqlalchemy.exc import DBAPIError

from bot.domain.models import Staff, Ticket, TicketStatus, utcnow
from bot.storage import Database

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
