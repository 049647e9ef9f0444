"""The helpers' roster: imported from YAML, validated kindly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.domain import roster
from bot.domain.answers import private_card
from bot.domain.models import Routing, Staff, Ticket, TicketStatus, utcnow
from bot.domain.roster import (
    HelperSpec,
    RosterError,
    helpers_with_role,
    import_helpers,
    read_roster,
)
from bot.services import Services


async def test_the_example_roster_imports_and_reimports(services: Services) -> None:
    specs = read_roster(PROJECT_ROOT / "data" / "helpers.example.yaml")
    async with services.db.session() as session:
        assert await import_helpers(session=session, specs=specs) == 4
        assert await import_helpers(session=session, specs=specs) == 4
        coaches = await helpers_with_role(session=session, role="vertaisvalmentaja")
    assert [h.name for h in coaches] == ["Anna", "Mari"]
    assert coaches[1].languages == ("fi", "sv")


def test_an_unknown_role_is_reported_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "helpers.yaml"
    path.write_text("helpers:\n  - telegram_id: 1\n    name: X\n    roles: [wizard]\n")
    with pytest.raises(RosterError, match="helper 1, roles: unknown role wizard"):
        read_roster(path)


async def test_a_private_card_speaks_the_helpers_one_language(services: Services) -> None:
    # The card's one read (bot.domain.answers.private_card) works out the helper's language
    # as the roster's view of them does: their /lang, their Telegram app's, their first.
    now = utcnow()
    async with services.db.session() as session:
        await import_helpers(session=session, specs=[
            HelperSpec(telegram_id=901, name="Anna", roles=["tvt"], languages=["sv", "fi"]),
            HelperSpec(telegram_id=902, name="Ben", roles=["tvt"], languages=["fi"]),
            HelperSpec(telegram_id=903, name="Cai", roles=["tvt"], languages=["fi"])])
        session.add(Staff(telegram_id=902, language="en", anonymous=False, created_at=now))
        session.add(Staff(telegram_id=903, telegram_language="sv-SE", anonymous=False,
                          created_at=now))
        session.add(Ticket(asker_id=7, asker_chat_id=7, source_message_id=1, text="Hei",
                           language="fi", topic="hoks", role="tvt", confidence=0.9,
                           routing=Routing.AUTO, status=TicketStatus.OPEN, anonymous=False,
                           created_at=now, updated_at=now))
        await session.commit()
    for chat, spoken in ((901, "sv"), (902, "en"), (903, "sv"), (904, "fi")):
        async with services.db.session() as session:
            card = await private_card(session=session, router=services.router, ticket_id=1,
                                      chat_id=chat)
            helper = await roster.helper(session=session, user_id=chat)
        assert card is not None
        default = "fi"
        assert card.language(default) == spoken
        assert card.language(default) == (helper.language(default) if helper else default)
