"""The helpers' roster: imported from YAML, validated kindly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.domain.roster import RosterError, helpers_with_role, import_helpers, read_roster
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
