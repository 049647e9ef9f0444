"""The lemmatizer's dictionaries as tries: built once, apart from the bot, with the same answers
as simplemma's own dictionaries."""

from __future__ import annotations

from pathlib import Path

import pytest
import simplemma

from bot.config import PROJECT_ROOT
from bot.domain.lemmas import LemmaError, Lemmas, ensure_built
from bot.domain.vocabulary import words


def test_missing_dictionaries_are_built_whole_in_a_child_process(tmp_path: Path) -> None:
    ensure_built(tmp_path, ("en",))
    built = [p.relative_to(tmp_path) for p in tmp_path.rglob("*")]
    assert built == [Path(f"simplemma-{simplemma.__version__}"),
                     Path(f"simplemma-{simplemma.__version__}") / "en.dic"]  # no scratch left
    ensure_built(tmp_path, ("en",))  # present: nothing to do


def test_a_folder_that_cannot_be_written_says_what_to_do(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(LemmaError, match="PEERDESK_LEMMA_DIR"):
        ensure_built(blocked / "lemmas", ("en",))


def test_the_tries_answer_as_simplemma_itself() -> None:
    lemmas = Lemmas()
    lines = (PROJECT_ROOT / "tests" / "data" / "routing_dev.tsv").read_text().splitlines()
    questions = [line.split("\t")[1] for line in lines if line and not line.startswith("#")]
    checked = 0
    for lang in ("fi", "sv", "en"):
        for word in sorted({w for q in questions for w in words(q)})[:300]:
            expected = simplemma.lemmatize(word, lang=lang, low_memory=True).lower()
            assert lemmas.lemma(word, lang) == expected, (word, lang)
            checked += 1
    assert checked > 600


def test_the_language_of_a_question() -> None:
    lemmas = Lemmas()
    assert lemmas.languages("Miten päivitän opiskelijan HOKSin?")[0][0] == "fi"
    assert lemmas.languages("Hur gör jag en bedömning av yrkesprovet?")[0][0] == "sv"
    assert lemmas.languages("How do I reset my Wilma password?")[0][0] == "en"


def test_the_languages_are_simplemmas_own_langdetect() -> None:
    """The router keeps which languages know each word; the shares stay simplemma's."""
    lemmas = Lemmas()
    lines = (PROJECT_ROOT / "tests" / "data" / "routing_dev2.tsv").read_text().splitlines()
    texts = [line.split("\t")[1] for line in lines if line and not line.startswith("#")]
    texts += ["", "ok", "Wilma Wilma HOKS", "Teams: mötet startar inte and the recordings fail"]
    for text in texts:
        expected = simplemma.langdetect(text, ("fi", "sv", "en"), low_memory=True)
        assert lemmas.languages(text) == expected, text
