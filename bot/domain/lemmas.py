"""Basic forms of words, and the language of a text, from simplemma's dictionaries.

simplemma's Finnish, Swedish and English dictionaries take ~460 MB as Python dicts and ~60 MB in
its low-memory form. As MARISA tries (simplemma's `marisa-trie` extra) they take 24 MB, mapped
from disk rather than read (the kernel may drop those pages under pressure); opening them takes
milliseconds instead of seconds. The tries are built once per machine, in a child process
so that the ~200 MB the build needs is never part of the bot, and written atomically, so that
processes starting together never read half a file.

Usage: `python -m bot.domain.lemmas [FOLDER]` builds them ahead (the Dockerfile does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import simplemma
from marisa_trie import BytesTrie
from platformdirs import user_cache_dir
from simplemma import MostCommonTokenSampler, RelaxedMostCommonTokenSampler
from simplemma.strategies import DefaultStrategy
from simplemma.strategies.dictionaries.trie_dictionary_factory import (
    TrieDictionaryFactory,
    TrieWrapDict,
)
from simplemma.utils import normalize_token

from bot import DEFAULT_LANGUAGE, LANGUAGES

DEFAULT_FOLDER = Path(user_cache_dir("peerdesk")) / "lemmas"
LEMMA_CACHE = 30_000  # (word, language) pairs whose basic form is kept (some 8 MB when full)
KNOWN_CACHE = 16_384  # words whose languages are kept (about 3 MB when full)


def _path(folder: Path, lang: str) -> Path:
    """Each simplemma version gets its own tries: an upgrade rebuilds them."""
    return folder / f"simplemma-{simplemma.__version__}" / f"{lang}.dic"


def build(folder: Path, languages: tuple[str, ...] = LANGUAGES) -> None:
    """Build the tries that are missing (in this process: it needs ~200 MB while it runs)."""
    for lang in languages:
        target = _path(folder, lang)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            TrieDictionaryFactory(disk_cache_dir=scratch).get_dictionary(lang)
            os.replace(Path(scratch) / f"{lang}.dic", target)


class LemmaError(Exception):
    """The dictionaries could not be built."""


def ensure_built(folder: Path, languages: tuple[str, ...] = LANGUAGES) -> None:
    """Build missing tries in a child process (once per machine; a few seconds)."""
    if all(_path(folder, lang).exists() for lang in languages):
        return
    built = subprocess.run([sys.executable, "-m", __name__, str(folder), *languages],
                           check=False)
    if built.returncode != 0:
        raise LemmaError(f"the lemmatizer's dictionaries could not be built in {folder}: "
                         "set PEERDESK_LEMMA_DIR to a folder peerdesk may write to")


class MappedDictionaries:
    """simplemma's DictionaryFactory over memory-mapped tries."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._open: dict[str, Mapping[str, str]] = {}

    def get_dictionary(self, lang: str) -> Mapping[str, str]:
        found = self._open.get(lang)
        if found is None:
            trie = BytesTrie()
            trie.mmap(str(_path(self._folder, lang)))
            found = self._open[lang] = TrieWrapDict(trie)
        return found


class Lemmas:
    """Lemmatizer and language detector for fi, sv and en."""

    def __init__(self, folder: Path = DEFAULT_FOLDER, cache_size: int = LEMMA_CACHE) -> None:
        ensure_built(folder)
        self.folder = folder
        self._strategy = DefaultStrategy(dictionary_factory=MappedDictionaries(folder))
        # Our cache below is the one: simplemma's own (64k entries more) would only double it.
        self._lemmatizer = simplemma.Lemmatizer(cache_max_size=0,
                                                lemmatization_strategy=self._strategy)
        self._samplers = (MostCommonTokenSampler(), RelaxedMostCommonTokenSampler())
        self.lemma = lru_cache(maxsize=cache_size)(self._lemma)
        self._known = lru_cache(maxsize=KNOWN_CACHE)(self._membership)

    def _lemma(self, word: str, lang: str) -> str:
        """The basic form of one lower-case word in one language."""
        return self._lemmatizer.lemmatize(word, lang).lower()

    def _membership(self, token: str) -> int:
        """Which languages' dictionaries know the token, bit n for LANGUAGES[n] (simplemma's
        language detector asks it of every word it samples: the same words again, kept)."""
        token = normalize_token(token)
        return sum(1 << n for n, lang in enumerate(LANGUAGES)
                   if self._strategy.get_lemma(token, lang) is not None)

    def language(self, text: str, hint: str | None = None) -> str:
        """fi, sv or en: simplemma's detector, then letters, then the hint."""
        best, score = self.languages(text)[0]
        if best in LANGUAGES and score > 0:
            return best
        lowered = text.lower()
        if "å" in lowered:
            return "sv"
        if "ä" in lowered or "ö" in lowered:
            return "fi"
        return hint if hint in LANGUAGES else DEFAULT_LANGUAGE

    def languages(self, text: str) -> list[tuple[str, float]]:
        """Each language's share of the text's words, best first: simplemma's langdetect (a
        relaxed sample breaks a tie), its proportions worked out from the kept memberships."""
        ranked: list[tuple[str, float]] = []
        for sampler in self._samplers:
            scores = self._proportions(sampler.sample_text(text))
            ranked = sorted(scores.items(), key=lambda item: (item[0] == "unk", -item[1]))
            if len(ranked) == 1 or ranked[0][1] != ranked[1][1]:
                break
        return ranked

    def _proportions(self, tokens: list[str]) -> dict[str, float]:
        """simplemma's LanguageDetector.proportion_in_each_language for the sampled tokens."""
        if not tokens:
            return {"unk": 1}
        known = [self._known(token) for token in tokens]
        scores = {lang: sum(1 for k in known if k >> n & 1) / len(tokens)
                  for n, lang in enumerate(LANGUAGES)}
        scores["unk"] = known.count(0) / len(tokens)
        return scores


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER,
          tuple(sys.argv[2:]) or LANGUAGES)
