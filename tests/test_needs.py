"""The router reads what staff need: the words may name one role's things while the question
needs another's (credits that do not move from Primus to Koski are an ICT problem)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.domain.asking import asking_words
from bot.domain.knowledge import Knowledge, KnowledgeError, load_knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.needs import (
    LOCK_NAME,
    Example,
    fingerprint,
    load,
    load_or_train,
    model_path,
    parse_examples,
)
from bot.domain.routing import Router, training_examples
from bot.domain.training import fit, keep, train
from bot.domain.wordtable import ensure, table_path
from tests.test_bot_helpers import GROUP, open_desk

NEED_SET = Path(__file__).parent / "data" / "routing_dev2.tsv"
# Each written by someone who saw nothing but the roles' one-line tasks, and measured once when
# it was new (after, after2, after3 in the round before; after4 to after9 on 2026-12-07).
UNSEEN_SETS = [Path(__file__).parent / "data" / f"routing_after{n}.tsv"
               for n in ("", 2, 3, 4, 5, 6, 7, 8, 9)]


def _cases(path: Path) -> list[tuple[str, str, str, str]]:
    """(role, language, kind, question) of a labelled set."""
    cases, language, kind = [], "", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# language:"):
            language = line.split(":", 1)[1].strip()
        elif line.startswith("# kind:"):
            kind = line.split(":", 1)[1].strip()
        elif line.strip() and not line.startswith("#"):
            role, question = line.split("\t", 1)
            cases.append((role, language, kind, question))
    return cases


def _figures(router: Router, cases: list[tuple[str, str, str, str]]) -> tuple[float, ...]:
    """Right (the right role, without asking), confidently wrong, asked."""
    decisions = [(role, router.route(question)) for role, _, _, question in cases]
    n = len(decisions)
    return (sum(d.role == role and not d.ask for role, d in decisions) / n,
            sum(d.role != role and not d.ask for role, d in decisions) / n,
            sum(d.ask for _, d in decisions) / n)


def test_the_need_set_is_large_half_contrastive_and_in_three_languages() -> None:
    cases = _cases(NEED_SET)
    assert len(cases) >= 300
    assert Counter(kind for _, _, kind, _ in cases)["contrastive"] >= len(cases) / 2
    assert set(Counter(language for _, language, _, _ in cases)) == {"fi", "sv", "en"}


def test_the_need_set_is_routed_by_need(router: Router) -> None:
    """Written before the need model, when the router was right on 69.7 % of it and
    confidently wrong on 23.6 % (45.6 % of the contrastive half); 97.5 / 0.8 / 1.7 with the
    asking clause's view."""
    right, confidently_wrong, asked = _figures(router, _cases(NEED_SET))
    assert right >= 0.96 and confidently_wrong <= 0.015 and asked <= 0.03


def test_the_sets_written_unseen_are_routed_by_need(router: Router) -> None:
    """1,410 questions, a third contrastive: the held-out set's target (95 / 2 / 5). The first six
    sets (990): 97.2 / 1.3 / 1.5 with the asking clause's view (95.3 / 1.5 / 3.2 before it); all
    eight, after7 and after8 measured once before the asking clause and once after: 97.6 / 1.1 /
    1.3; after9, written when the router was done and measured once: 98.7 / 0.7 / 0.7."""
    cases = [case for path in UNSEEN_SETS for case in _cases(path)]
    right, confidently_wrong, asked = _figures(router, cases)
    assert len(cases) >= 1410
    assert right >= 0.96 and confidently_wrong <= 0.02 and asked <= 0.03


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_each_language_of_the_need_set(router: Router, language: str) -> None:
    right, _, _ = _figures(router, [c for c in _cases(NEED_SET) if c[1] == language])
    assert right >= 0.95


@pytest.mark.parametrize(
    ("question", "role"),
    [
        ("Osaamispisteet eivät siirry Primuksesta Koskeen, mistä vika?", "tvt"),
        ("Haluan antaa opiskelijoille suullista palautetta äänitteinä, millä sovelluksella se "
         "käy kätevimmin?", "tvt"),
        ("Tiimimme on jakautunut kahteen leiriin uuden arviointimallin takia, miten saisimme "
         "keskustelun auki?", "luotsi"),
        ("Opiskelija lähettää WhatsAppissa viestejä keskellä yötä ja vaikuttaa ahdistuneelta, "
         "miten otan asian puheeksi?", "vertaisvalmentaja"),
        ("Saako tutkinnon osan arvioida pelkän etäyhteyden kautta, jos työpaikka on toisella "
         "paikkakunnalla?", "vertaisvalmentaja"),
    ],
)
def test_the_need_outweighs_the_thing_named(router: Router, question: str, role: str) -> None:
    decision = router.route(question)
    assert (decision.role, decision.ask) == (role, False)


def test_why_names_the_words_that_decided(router: Router) -> None:
    question = "Osaamispisteet eivät siirry Primuksesta Koskeen, mistä vika?"
    cues = router.explain(question, "tvt")
    assert 1 <= len(cues) <= 3 and set(cues) & {"siirry", "primuksesta", "koskeen"}
    assert all(cue in question.lower() for cue in cues)


def test_the_router_computes_what_scikit_learn_fitted() -> None:
    """The router keeps the fitted numbers as plain Python (no scikit-learn in the bot); its
    probabilities are scikit-learn's own."""
    lemmas = Lemmas()
    examples = [Example(role, "fi", text) for role, text in (
        ("tvt", "wilma ei toimi"), ("tvt", "tulostin jumissa"), ("tvt", "teams ei aukea"),
        ("luotsi", "tiimin työnjako on epäreilu"), ("luotsi", "palaveri venyy aina"),
        ("luotsi", "kollegat riitelee tiimissä"), ("vertaisvalmentaja", "hoksin päivitys"),
        ("vertaisvalmentaja", "opiskelija ei tule kouluun"),
        ("vertaisvalmentaja", "näytön arviointi työpaikalla"),
        ("tvt", "opiskelija ei tule kouluun. miten wilma toimii?"),
        ("luotsi", "wilma ei toimi, miten tiimi sopii työnjaon?"),
        ("vertaisvalmentaja", "tiimi kysyi, miten näyttö arvioidaan?"))]
    _, _, asks, classifier, features = fit(examples, lemmas.lemma)
    assert asks is not None and "?miten" in asks.vocabulary_
    model = train(examples, lemmas.lemma)
    for text in ("wilma ei aukea tiimissä", "opiskelija ja näyttö", "xyz",
                 "tiimi riitelee. miten wilma toimii näytössä?"):
        expected = classifier.predict_proba(features(text, "fi"))[0]
        got = model.probabilities(text, "fi", lemmas.lemma)
        assert [got[role] for role in classifier.classes_] == pytest.approx(expected, abs=1e-9)
    # Examples that never ask in words leave the asking clause's view empty.
    assert fit(examples[:9], lemmas.lemma)[2] is None
    assert train(examples[:9], lemmas.lemma).probabilities("miten wilma toimii?", "fi",
                                                           lemmas.lemma)


@pytest.mark.parametrize(
    ("text", "lang", "asked"),
    [
        ("Opiskelija on vaarassa keskeyttää ja kotona on vain vanha puhelin. Saako koululta "
         "lainaan läppärin?", "fi", "saako koululta lainaan läppärin"),
        ("autopuolen opiskelijat kuvaa näyttöjä puhelimella, miten ne saa jaettua mulle", "fi",
         "miten ne saa jaettua mulle"),
        ("Studeranden svarar bara på WhatsApp. Får jag använda det?", "sv", "får jag använda det"),
        ("The team can't agree. Who decides the rota? Thanks", "en", "who decides the rota"),
        ("teams ei näytä kanavia. onks muilla sama", "fi", "onks muilla sama"),
        ("verkko ei toimi luokassa", "fi", ""),  # -ko of a basic form asks nothing
        ("projektori ei löydä läppäriä. tunti alkaa kohta!!", "fi", ""),
    ],
)
def test_the_clause_that_asks(text: str, lang: str, asked: str) -> None:
    assert asking_words(text, lang, Lemmas().lemma) == asked.split()


def test_a_model_is_known_by_what_it_learnt_from() -> None:
    one = [Example("tvt", "fi", "wilma ei toimi")]
    assert fingerprint(one) == fingerprint(list(one))
    assert fingerprint(one) != fingerprint([Example("luotsi", "fi", "wilma ei toimi")])


def test_a_bad_training_line_names_its_file_and_line(tmp_path: Path) -> None:
    for part in ("topics", "answers", "training"):
        (tmp_path / part).mkdir()
    for name in ("roles.yaml", "stopwords.yaml"):
        (tmp_path / name).write_text((PROJECT_ROOT / "knowledge" / name).read_text())
    (tmp_path / "training" / "ours.tsv").write_text(
        "# language: fi\ntvt\twilma ei toimi\nkahvi ei riitä\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"ours\.tsv:3"):
        load_knowledge(tmp_path)
    assert [e.role for e in parse_examples("# language: sv\nluotsi\tvi bråkar\n")] == ["luotsi"]


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, text=True,
                          capture_output=True, cwd=PROJECT_ROOT, timeout=120, check=False)


def test_route_explain_and_train_commands() -> None:
    explained = _cli("route", "--explain",
                     "Tiimissä riidellään siitä kuka päivittää HOKSit, miten sovitaan?")
    assert explained.returncode == 0, explained.stderr
    lines = explained.stdout.splitlines()
    assert lines[0].startswith("route: luotsi")
    assert lines[-1].startswith("why: ")
    trained = _cli("route", "train")  # the model is there already: nothing to train
    assert trained.returncode == 0 and "need model" in trained.stdout
    plain = json.loads(_cli("route", "Unohdin salasanani").stdout)
    assert set(plain) == {"topic", "role", "confidence", "language", "ask", "roles", "answer"}


async def test_the_card_says_why_the_role_was_chosen(database_url: str, knowledge,
                                                   router: Router) -> None:
    """Staff asks → the helpers' card names the words that chose the role."""
    async with open_desk(database_url, knowledge, router) as desk:
        await desk.ask(7101, "Osaamispisteet eivät siirry Primuksesta Koskeen, mistä vika?")
        ticket = await desk.wait_ticket(1, lambda t: t.thread_id is not None)
        assert ticket.role == "tvt"
        card = await desk.card(1)
        assert card["chat"]["id"] == GROUP
        line = next(li for li in card["text"].splitlines() if li.startswith("Reititetty"))
        assert any(word in line for word in ("siirry", "primuksesta", "koskeen"))


def test_a_model_that_cannot_be_kept_is_handed_back(tmp_path: Path) -> None:
    """A folder the bot may not write to (a read-only image, a full disk): the child process
    trains the model and hands it back, and the bot routes by the need all the same."""
    for tries in Lemmas().folder.glob("simplemma-*"):
        (tmp_path / tries.name).symlink_to(tries)
    (tmp_path / "router").write_text("a file where the models' folder would be")
    examples = [Example(role, "fi", text) for role, text in (
        ("tvt", "wilma ei toimi"), ("tvt", "wilma jumissa"), ("tvt", "wilma kaatui"),
        ("luotsi", "tiimin työnjako"), ("luotsi", "tiimin palaveri venyy"),
        ("luotsi", "tiimin riita"), ("vertaisvalmentaja", "hoksin päivitys"),
        ("vertaisvalmentaja", "hoksin tavoitteet"), ("vertaisvalmentaja", "hoksin arviointi"))]
    model = load_or_train(examples, tmp_path)
    assert model.roles == ("luotsi", "tvt", "vertaisvalmentaja")
    assert model.fingerprint == fingerprint(examples)


def test_a_kept_model_is_readable_by_all_and_a_damaged_one_is_trained_again(
        tmp_path: Path) -> None:
    """The Docker image trains as root and runs the bot as nobody; a damaged file (a disk
    error, an interrupted copy) is as good as none."""
    lemmas = Lemmas()
    examples = [Example(role, "fi", text) for role, text in (
        ("tvt", "wilma ei toimi"), ("tvt", "wilma ei aukea"), ("luotsi", "tiimi riitelee"),
        ("luotsi", "tiimi venyy"), ("vertaisvalmentaja", "hoksin päivitys"),
        ("vertaisvalmentaja", "hoksin arviointi"))]
    key = fingerprint(examples)
    path = model_path(tmp_path, key)
    keep(train(examples, lemmas.lemma, fingerprint=key), path)
    assert path.stat().st_mode & 0o777 == 0o644
    assert load(path, key) is not None
    path.write_bytes(b"\x80\x05garbage" + bytes(range(256)))
    assert load(path, key) is None


def test_a_cue_is_a_word_a_helper_can_read(router: Router) -> None:
    """A pasted link or code is never shown as a cue, nor a word that says nothing."""
    question = "x" * 60 + " wilma ei aukea ja salasana ei kelpaa"
    cues = router.explain(question, "tvt")
    assert cues and all(len(cue) <= 30 for cue in cues)
    assert "ja" not in cues and "ei" not in cues


def test_processes_starting_together_train_the_model_once(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas start at once with no model kept: one trains it, the other waits for it and
    reads what the first kept (neither trains twice nor writes over the other's file)."""
    for tries in Lemmas().folder.glob("simplemma-*"):
        (tmp_path / tries.name).symlink_to(tries)
    examples = [Example(role, "fi", text) for role, text in (
        ("tvt", "wilma ei toimi"), ("tvt", "wilma ei aukea"), ("luotsi", "tiimi riitelee"),
        ("luotsi", "tiimi venyy"), ("vertaisvalmentaja", "hoksin päivitys"),
        ("vertaisvalmentaja", "hoksin arviointi"))]
    children: list[list[str]] = []
    run = subprocess.run

    def child(command: list[str], **options: object) -> subprocess.CompletedProcess[bytes]:
        children.append(command)
        return run(command, **options)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", child)
    with ThreadPoolExecutor(max_workers=2) as starts:
        models = list(starts.map(lambda _: load_or_train(examples, tmp_path), range(2)))
    assert len(children) == 1
    assert [m.fingerprint for m in models] == [fingerprint(examples)] * 2
    assert (tmp_path / "router" / LOCK_NAME).exists()
    assert len(list((tmp_path / "router").glob("needs-*.pickle"))) == 1


def test_the_word_table_changes_no_decision(knowledge: Knowledge) -> None:
    """The table holds what the dictionaries answer: with it and without, the same decisions,
    the same probabilities and the same cues, question by question."""
    model = load_or_train(training_examples(knowledge), Lemmas().folder)
    fast = Router(knowledge, Lemmas(), needs=model)
    slow = Router(knowledge, Lemmas(), needs=model, word_table=False)
    assert fast.lemmas.table is not None and slow.lemmas.table is None
    for _, language, _, question in _cases(UNSEEN_SETS[-1]):
        for hint in (None, language):
            decision = fast.route(question, language_hint=hint)
            assert decision == slow.route(question, language_hint=hint), question
            assert decision.probabilities == slow.route(question, language_hint=hint) \
                .probabilities
            assert fast.explain(question, decision.role, language_hint=hint) \
                == slow.explain(question, decision.role, language_hint=hint)


def test_a_missing_or_damaged_word_table_leaves_the_router_as_it_was(
        tmp_path: Path, knowledge: Knowledge, caplog: pytest.LogCaptureFixture) -> None:
    """No table, or a damaged one: a warning that names no question, and the dictionaries
    answer every word as before."""
    for tries in Lemmas().folder.glob("simplemma-*"):
        (tmp_path / tries.name).symlink_to(tries)
    model = load_or_train(training_examples(knowledge), Lemmas().folder)
    kept = table_path(Lemmas().folder, model.fingerprint).read_bytes()
    question = "Osaamispisteet eivät siirry Primuksesta Koskeen, mistä vika?"
    expected = Router(knowledge, Lemmas(), needs=model, word_table=False).route(question)
    path = table_path(tmp_path, model.fingerprint)
    path.parent.mkdir()
    for content in (None, b"", b"garbage" * 100, kept[:-100], kept[:1000] + kept[1001:]):
        if content is not None:
            path.write_bytes(content)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.domain.routing"):
            router = Router(knowledge, Lemmas(tmp_path), needs=model)
        assert router.lemmas.table is None
        assert "no word table" in caplog.text and "Primus" not in caplog.text
        assert router.route(question) == expected
    path.write_bytes(kept)
    assert Router(knowledge, Lemmas(tmp_path), needs=model).lemmas.table is not None


def test_the_word_table_is_recorded_beside_the_model(tmp_path: Path) -> None:
    """Trained with the knowledge it comes from, the model gets its word table: the words the
    router asked of its examples; a second start finds both and starts no child process."""
    for tries in Lemmas().folder.glob("simplemma-*"):
        (tmp_path / tries.name).symlink_to(tries)
    source = tmp_path / "knowledge"
    for part in ("topics", "answers", "training"):
        (source / part).mkdir(parents=True)
    for name in ("roles.yaml", "stopwords.yaml", "topics/tvt.yaml", "topics/luotsi.yaml",
                 "topics/vertaisvalmentaja.yaml"):
        shutil.copy(PROJECT_ROOT / "knowledge" / name, source / name)
    (source / "training" / "ours.tsv").write_text(
        "# language: fi\ntvt\twilma ei toimi\ntvt\twilma ei aukea\nluotsi\ttiimi riitelee\n"
        "luotsi\ttiimi venyy\nvertaisvalmentaja\thoksin päivitys\n"
        "vertaisvalmentaja\thoksin arviointi\n", encoding="utf-8")
    small = load_knowledge(source)
    examples = training_examples(small)
    model = load_or_train(examples, tmp_path)
    assert ensure(small, tmp_path, model.fingerprint)
    table = table_path(tmp_path, model.fingerprint)
    assert table.stat().st_mode & 0o777 == 0o644
    router = Router(small, Lemmas(tmp_path))
    assert router.lemmas.table is not None
    assert router.lemmas.table.lemma("riitelee", "fi") == "riidellä"
    assert router.lemmas.table.membership("wilma") is not None
    started = table.stat().st_mtime_ns
    assert ensure(small, tmp_path, model.fingerprint)  # there already: not recorded again
    Router(small, Lemmas(tmp_path))
    assert table.stat().st_mtime_ns == started
