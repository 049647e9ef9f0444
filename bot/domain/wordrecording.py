"""Recording the word table (bot.domain.wordtable): the corpus routed once, and what the
lemmatizer was asked and answered kept.

Run as a child process by `wordtable.ensure` after the need model's training: `python -m
bot.domain.wordrecording FOLDER FINGERPRINT < knowledge.pickle`. It maps the dictionaries' tries
(brief, and many words), and builds the bot's own router over an empty table, so the calls it
notes are the very calls the bot's router makes.
"""

from __future__ import annotations

import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from bot.domain.knowledge import Knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.needs import load, model_path
from bot.domain.routing import Router, training_examples
from bot.domain.wordtable import WordTable, keep, table_path

WORKERS = 2  # processes that route the corpus's texts while the table is recorded (at most)


def record(knowledge: Knowledge, folder: Path, key: str, *, workers: int = WORKERS
           ) -> WordTable:
    """Route every training example and every text of the knowledge with the router the bot
    builds, over an empty table, and keep what the lemmatizer was asked and answered. The
    texts are shared among `workers` processes forked from this one once the router is built
    (each keeps what the router's building asked, and adds what its texts ask)."""
    model = load(model_path(folder, key), key)
    if model is None:
        raise ValueError(f"no need model {key} in {folder}")
    # Every word's part of the model's sums kept, not the latest 4096: the same calls to the
    # lemmatizer, in half the time (most of this process's is the model's sums).
    model.word = lru_cache(maxsize=None)(model._word)
    model.asked_word = lru_cache(maxsize=None)(model._asked_word)
    lemmas = _Recording(folder)
    router = Router(knowledge, lemmas, needs=model, word_table=False)
    texts = [(example.text, example.language) for example in training_examples(knowledge)]
    texts += [(text, lang) for answer in knowledge.answers for lang, text in answer.text.items()]
    texts += [(name, lang) for topic in knowledge.topics.values()
              for lang, name in topic.name.items()]
    texts += [(text, lang) for role in knowledge.roles.values()
              for lang, text in role.helps_with.items()]
    _recording[:] = [(router, lemmas, list(dict.fromkeys(texts)))]
    workers = max(1, min(workers, os.cpu_count() or 1))
    if workers == 1:
        parts = [_route_part(0, 1)]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            parts = list(pool.map(_route_part, range(workers), [workers] * workers))
    _recording.clear()
    known: dict[str, int] = {}
    forms: dict[tuple[str, str], str] = {}
    for part_known, part_forms in parts:
        known.update(part_known)
        forms.update(part_forms)
    return WordTable.of(known, forms)


# The router and the texts `record` shares with the processes it forks (they inherit them).
_recording: list[tuple[Router, _Recording, list[tuple[str, str | None]]]] = []


def _route_part(part: int, parts: int) -> tuple[dict[str, int], dict[tuple[str, str], str]]:
    """Route every `parts`-th text from the `part`-th; what the lemmatizer was asked."""
    router, lemmas, texts = _recording[0]
    for text, lang in texts[part::parts]:
        router.route(text, language_hint=lang)
    return lemmas.known, lemmas.forms


class _Recording(Lemmas):
    """The lemmatizer over the mapped tries (this process is brief and asks many words), noting
    every question its caches pass on: each a call the bot's router makes, and its answer."""

    def __init__(self, folder: Path) -> None:
        self.known: dict[str, int] = {}
        self.forms: dict[tuple[str, str], str] = {}
        super().__init__(folder, cache_size=250_000, mapped=True)

    def _membership(self, token: str) -> int:
        self.known[token] = bits = super()._membership(token)
        return bits

    def _lemma(self, word: str, lang: str) -> str:
        self.forms[word, lang] = form = super()._lemma(word, lang)
        return form


def main(folder: Path, key: str) -> None:
    """Record the table for the knowledge read (pickled) from standard input and keep it."""
    knowledge = pickle.loads(sys.stdin.buffer.read())  # our parent's, never a file's
    table = record(knowledge, folder, key)
    keep(table, table_path(folder, key))
    print(f"{len(table)} words", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
