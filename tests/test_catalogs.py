"""The gettext catalogs: well formed, and every text of the template translated in fi and sv (a
merge that drops a `msgstr` line, or a text appended in one language only, fails here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot import LANGUAGES

LOCALE = Path(__file__).resolve().parent.parent / "bot" / "locale"


def _read(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, abort_invalid=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalog_is_well_formed_and_holds_every_text(language: str) -> None:
    template = {message.id for message in _read(LOCALE / "peerdesk.pot") if message.id}
    catalog = _read(LOCALE / language / "LC_MESSAGES" / "peerdesk.po")
    assert template <= {message.id for message in catalog if message.id}
    untranslated = [message.id for message in catalog
                    if message.id and language != "en" and not message.string]
    assert not untranslated
    assert not [message.id for message in catalog if message.id and message.fuzzy]
