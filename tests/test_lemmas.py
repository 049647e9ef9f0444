"""The lemmatizer's dictionaries as tries and as pages: built once, apart from the bot, with the
same answers as simplemma's own dictionaries; the bot reads the pages, which map nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import simplemma

from bench.route_eval import read_cases
from bot import LANGUAGES
from bot.config import PROJECT_ROOT
from bot.domain.knowledge import load_knowledge
from bot.domain.lemmas import (
    LemmaError,
    Lemmas,
    PagedDictionary,
    _write_pages,
    ensure_built,
)
from bot.domain.needs import fingerprint
from bot.domain.routing import training_examples
from bot.domain.vocabulary import words
from bot.domain.wordtable import WordTable, read_table, table_path


def test_missing_dictionaries_are_built_whole_in_a_child_process(tmp_path: Path) -> None:
    ensure_built(tmp_path, ("en",))
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert built == [Path(f"simplemma-{simplemma.__version__}"),  # no scratch left
                     Path(f"simplemma-{simplemma.__version__}") / "en.dic",
                     Path(f"simplemma-{simplemma.__version__}") / "en.pages3"]
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


def test_the_pages_hold_every_entry_and_no_other(tmp_path: Path) -> None:
    entries = {"a": "a", "ab": "a", "ab c": "abc", "abc": "", "äiti": "äiti", "äitini": "äiti",
               "Ω": "omega", "kissoillemmekin": "kissoillemmekin", "\x01x": "y",
               **{f"word{n:05}": f"word{n:05}x" for n in range(3000)}}
    _write_pages(((k.encode(), v.encode()) for k, v in entries.items()), tmp_path / "t.pages")
    pages = PagedDictionary(tmp_path / "t.pages")
    assert len(pages) == len(entries) and sorted(pages) == sorted(entries)
    assert all(pages.get(key) == value for key, value in entries.items())
    assert all(pages.get(miss) is None
               for miss in ("", "b", "ab ", "äit", "word3000", "word00000x", "\U0010ffff", "0"))
    with pytest.raises(KeyError):
        pages["b"]


def test_the_bot_reads_the_pages_and_answers_as_the_mapped_tries() -> None:
    """Every word of the labelled questions has the same basic form in each language, and
    every question the same languages, from the pages (the bot's) as from the tries (the
    training's): the same entries, so no routing decision changes. The pages are read, never
    mapped: none of their file is resident in the process."""
    served, mapped = Lemmas(), Lemmas(mapped=True)
    cases = [case for path in sorted((PROJECT_ROOT / "tests" / "data").glob("routing_*.tsv"))
             for case in read_cases(path)]
    vocabulary = sorted({w for case in cases for w in words(case.question)})
    assert len(cases) > 1500 and len(vocabulary) > 5000
    for lang in ("fi", "sv", "en"):
        for word in vocabulary:
            assert served.lemma(word, lang) == mapped.lemma(word, lang), (word, lang)
    for case in cases:
        assert served.languages(case.question) == mapped.languages(case.question), case
    maps = Path("/proc/self/maps").read_text()
    assert ".pages" not in maps
    assert all(isinstance(served.dictionaries.get_dictionary(lang), PagedDictionary)
               for lang in ("fi", "sv", "en"))


def test_the_word_table_answers_as_the_dictionaries() -> None:
    """The table kept beside the need model (`peerdesk route train` records it) gives each word
    the languages and basic forms the dictionaries give; a word outside it is looked up there."""
    examples = training_examples(load_knowledge(PROJECT_ROOT / "knowledge"))
    table = read_table(table_path(Lemmas().folder, fingerprint(examples)))
    assert len(table) > 15_000
    plain, served = Lemmas(), Lemmas()  # the dictionaries' pages alone, and with the table
    served.table = table
    memberships = forms = 0
    for word, bits, basic in sorted(table.items())[::20]:
        if bits is not None:
            assert plain._membership(word) == bits == served._membership(word), word
            memberships += 1
        for lang, form in basic.items():
            assert plain._lemma(word, lang) == form == served._lemma(word, lang), (word, lang)
            forms += 1
    assert memberships > 500 and forms > 500
    text = "Kvanttilaskentatuutorointi bröllopsfotografering snorkelling"
    for word in words(text):
        assert table.membership(word) is None
        assert all(table.lemma(word, lang) is None for lang in LANGUAGES)
        assert all(served.lemma(word, lang) == plain.lemma(word, lang) for lang in LANGUAGES)
    assert served.languages(text) == plain.languages(text)


def test_a_word_table_reads_back_and_a_damaged_one_is_refused() -> None:
    table = WordTable.of({"Wilma": 0b001, "ja": 0b011, "xyzzy": 0},
                         {("wilma", "fi"): "wilma", ("opiskelijat", "fi"): "opiskelija",
                          ("ja", "sv"): "ja", ("ja", "fi"): "ja"})
    data = table.tobytes()
    again = WordTable.frombytes(data)
    assert sorted(again.items()) == sorted(table.items())
    assert again.membership("Wilma") == 1 and again.membership("xyzzy") == 0
    assert again.membership("wilma") is None and again.membership("opiskelijat") is None
    assert again.lemma("opiskelijat", "fi") == "opiskelija"
    assert again.lemma("opiskelijat", "sv") is None and again.lemma("Wilma", "fi") is None
    assert again.lemma("ja", "sv") == "ja" and again.lemma("ja", "de") is None
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    for damaged in (b"", data[:20], data[:-1], bytes(flipped), b"PDWORDS1" + bytes(100)):
        with pytest.raises(ValueError):
            WordTable.frombytes(damaged)
