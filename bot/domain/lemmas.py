"""Basic forms of words, and the language of a text, from simplemma's dictionaries.

simplemma's Finnish, Swedish and English dictionaries take ~460 MB as Python dicts and ~60 MB in
its low-memory form. As MARISA tries (simplemma's `marisa-trie` extra) they take 24 MB, mapped
from disk rather than read; opening them takes milliseconds instead of seconds. But a lookup in a
trie touches pages all over its file (and the kernel maps the pages around each): 300 words made
21 MB of the tries resident in the process, and a bot's soak some 24 MB. So the bot reads the same
dictionaries as pages (`PagedDictionary`): the entries sorted, in zlib blocks of 2 kB, the blocks'
first keys in memory (1 MB for the three languages) and one block read (`pread`, not mapped)
per lookup: the same entries, so the same basic forms and languages, and nothing of the files
resident. Training, which looks up some 100,000 words at once, maps the tries (`mapped=True`).
The words the training examples and the knowledge hold, nearly all a question's, are answered
ahead from the word table the router sets (`Lemmas.table`, bot.domain.wordtable): one lookup.

Both are built once per machine, in a child process so that the ~200 MB the build needs is never
part of the bot, and written atomically, so that processes starting together never read half a
file.

Usage: `python -m bot.domain.lemmas [FOLDER]` builds them ahead (the Dockerfile does).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from bot.domain.wordtable import WordTable

DEFAULT_FOLDER = Path(user_cache_dir("peerdesk")) / "lemmas"
LEMMA_CACHE = 10_000  # (word, language) pairs whose basic form is kept (some 1.5 MB when full):
# the word table (bot.domain.wordtable) answers most of the rest with one lookup (it was 30,000)
KNOWN_CACHE = 8192  # words whose languages are kept (about 1 MB when full; it was 16,384)
LOOKUP_CACHE = 1024  # simplemma's latest lookups (word, language), shared (some 250 kB when full)


class LemmaError(Exception):
    """The dictionaries could not be built (or read)."""


PAGE = 2048  # bytes of entries per block (some 400 bytes compressed): one is read per lookup
PAGE_CACHE = 64  # blocks kept unpacked (a word's lookups in its three languages come together)
_MAGIC = b"PDPAGES3"  # the pages' format: bump it (and the file name's) when it changes
STRIDE = 8  # every STRIDE-th block's first key is kept as an object of its own, to bisect
_HEAD = struct.Struct("<8sIII")  # magic, entries, blocks, length of the packed first keys


def _path(folder: Path, lang: str) -> Path:
    """Each simplemma version gets its own tries: an upgrade rebuilds them."""
    return folder / f"simplemma-{simplemma.__version__}" / f"{lang}.dic"


def _pages_path(folder: Path, lang: str) -> Path:
    return folder / f"simplemma-{simplemma.__version__}" / f"{lang}.pages3"


def _built(folder: Path, lang: str) -> bool:
    return _path(folder, lang).exists() and _pages_path(folder, lang).exists()


def build(folder: Path, languages: tuple[str, ...] = LANGUAGES) -> None:
    """Build the tries and pages that are missing (in this process: it needs ~200 MB while it
    runs, and some 5 s for the Finnish pages)."""
    for lang in languages:
        target = _path(folder, lang)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                TrieDictionaryFactory(disk_cache_dir=scratch).get_dictionary(lang)
                os.replace(Path(scratch) / f"{lang}.dic", target)
        pages = _pages_path(folder, lang)
        if not pages.exists():
            trie = BytesTrie()
            trie.mmap(str(target))
            with tempfile.TemporaryDirectory(dir=pages.parent) as scratch:
                _write_pages(((k.encode(), v) for k, v in trie.iteritems()),
                             Path(scratch) / pages.name)
                os.chmod(Path(scratch) / pages.name, 0o644)
                os.replace(Path(scratch) / pages.name, pages)


def _entry(key: bytes, value: bytes) -> bytes:
    """`key<TAB>Nrest<LF>`: the value is the key's first N bytes (N < 10) and the rest."""
    if b"\t" in key or b"\n" in key or b"\n" in value:
        raise ValueError(f"a dictionary entry the pages cannot hold: {key!r}")
    n = 0
    while n < 9 and n < len(key) and n < len(value) and key[n] == value[n]:
        n += 1
    return b"%s\t%d%s\n" % (key, n, value[n:])


def _write_pages(entries: Iterator[tuple[bytes, bytes]], target: Path) -> None:
    """The entries sorted by key (as UTF-8 bytes: the order of their letters' code points), in
    blocks of about PAGE bytes, each compressed; before them the blocks' offsets and first keys."""
    blocks: list[bytes] = []
    firsts: list[bytes] = []
    block: list[bytes] = []
    size = 0
    count = 0
    for key, value in sorted(entries):
        count += 1
        if not block:
            firsts.append(key)
        block.append(_entry(key, value))
        size += len(block[-1])
        if size >= PAGE:
            blocks.append(zlib.compress(b"".join(block), 6))
            block, size = [], 0
    if block:
        blocks.append(zlib.compress(b"".join(block), 6))
    keys = zlib.compress(b"\n".join(firsts), 9)
    offsets = array("Q", [0] * (len(blocks) + 1))
    offsets[0] = _HEAD.size + offsets.itemsize * len(offsets) + len(keys)
    for n, packed in enumerate(blocks):
        offsets[n + 1] = offsets[n] + len(packed)
    with target.open("wb") as out:
        out.write(_HEAD.pack(_MAGIC, count, len(blocks), len(keys)))
        out.write(offsets.tobytes())
        out.write(keys)
        for packed in blocks:
            out.write(packed)


class PagedDictionary(Mapping[str, str]):
    """One language's dictionary read a block at a time from its pages (bot.domain.lemmas's
    docstring): a lookup reads one compressed block with `pread`, so the file's pages stay in
    the system's cache and out of the process's resident memory."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        magic, self._count, count, keys = _HEAD.unpack(os.pread(self._fd, _HEAD.size, 0))
        if magic != _MAGIC:
            os.close(self._fd)
            raise LemmaError(f"{path} is not a dictionary's pages")
        self._offsets = array("Q")
        self._offsets.frombytes(os.pread(self._fd, 8 * (count + 1), _HEAD.size))
        start = _HEAD.size + 8 * (count + 1)
        # The blocks' first keys as one string where each begins (1.0 MB for the three
        # languages; as 40,000 objects 2.4 MB), and every STRIDE-th as a list to bisect: the
        # rest is bisected in the string, three steps (some 12 µs a new word).
        self._keys = zlib.decompress(os.pread(self._fd, keys, start)) + b"\n"
        self._starts = array("I", [0])
        find, at = self._keys.find, 0
        for _ in range(count):
            at = find(b"\n", at) + 1
            self._starts.append(at)
        self._coarse = [self._first(n) for n in range(0, count, STRIDE)]
        self._block = lru_cache(maxsize=PAGE_CACHE)(self._read)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def _first(self, number: int) -> bytes:
        """The first key of the block numbered `number`."""
        return self._keys[self._starts[number]:self._starts[number + 1] - 1]

    def _number(self, wanted: bytes) -> int:
        """The block whose keys `wanted` would be among (-1: before the first)."""
        low = (bisect_right(self._coarse, wanted) - 1) * STRIDE
        if low < 0:
            return -1
        high = min(low + STRIDE, len(self._starts) - 1)  # the first key past `wanted`, or the end
        while high - low > 1:
            middle = (low + high) // 2
            if wanted < self._first(middle):
                high = middle
            else:
                low = middle
        return low

    def _read(self, number: int) -> bytes:
        start, end = self._offsets[number], self._offsets[number + 1]
        return zlib.decompress(os.pread(self._fd, end - start, start))

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        wanted = key.encode()
        number = self._number(wanted)
        if number < 0:
            return default
        block = self._block(number)
        if block.startswith(wanted + b"\t"):
            at = len(wanted) + 1
        else:
            at = block.find(b"\n" + wanted + b"\t")
            if at < 0:
                return default
            at += len(wanted) + 2
        end = block.index(b"\n", at)
        shared = block[at] - 48  # the digit N
        return (wanted[:shared] + block[at + 1:end]).decode()

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        for number in range(len(self._starts) - 1):
            for line in self._read(number).splitlines():
                yield line.partition(b"\t")[0].decode()

    def __len__(self) -> int:
        return int(self._count)


def ensure_built(folder: Path, languages: tuple[str, ...] = LANGUAGES) -> None:
    """Build missing tries in a child process (once per machine; a few seconds)."""
    if all(_built(folder, lang) for lang in languages):
        return
    built = subprocess.run([sys.executable, "-m", __name__, str(folder), *languages],
                           check=False)
    if built.returncode != 0:
        raise LemmaError(f"the lemmatizer's dictionaries could not be built in {folder}: "
                         "set PEERDESK_LEMMA_DIR to a folder peerdesk may write to")


class Dictionaries:
    """simplemma's DictionaryFactory over memory-mapped tries, or (`paged`) over the pages."""

    def __init__(self, folder: Path, *, paged: bool = False) -> None:
        self._folder = folder
        self._paged = paged
        self._open: dict[str, Mapping[str, str]] = {}

    def get_dictionary(self, lang: str) -> Mapping[str, str]:
        found = self._open.get(lang)
        if found is None:
            if self._paged:
                found = self._open[lang] = PagedDictionary(_pages_path(self._folder, lang))
            else:
                trie = BytesTrie()
                trie.mmap(str(_path(self._folder, lang)))
                found = self._open[lang] = TrieWrapDict(trie)
        return found


class _Lookups:
    """simplemma's lemmatization strategy through the lookups `Lemmas` keeps."""

    def __init__(self, lookup: Callable[[str, str], str | None]) -> None:
        self._lookup = lookup

    def get_lemma(self, token: str, lang: str) -> str | None:
        return self._lookup(token, lang)


class Lemmas:
    """Lemmatizer and language detector for fi, sv and en: over the dictionaries' pages, or
    (`mapped`, for training's many lookups at once) over the mapped tries."""

    def __init__(self, folder: Path = DEFAULT_FOLDER, cache_size: int = LEMMA_CACHE, *,
                 mapped: bool = False) -> None:
        ensure_built(folder)
        self.folder = folder
        self.dictionaries = Dictionaries(folder, paged=not mapped)
        self._strategy = DefaultStrategy(dictionary_factory=self.dictionaries)
        # A new word's lookups, the dictionaries' costliest work, come twice: the language
        # detector asks each word in every language, then the word's basic form is looked up in
        # the question's language (and in the others when it matches nothing there). The latest
        # are kept for both.
        self._lookup = lru_cache(maxsize=LOOKUP_CACHE)(self._strategy.get_lemma)
        # Our caches are the ones: simplemma's own (64k entries more) would only double them.
        self._lemmatizer = simplemma.Lemmatizer(cache_max_size=0,
                                                lemmatization_strategy=_Lookups(self._lookup))
        self._samplers = (MostCommonTokenSampler(), RelaxedMostCommonTokenSampler())
        self.lemma = lru_cache(maxsize=cache_size)(self._lemma)
        self._known = lru_cache(maxsize=KNOWN_CACHE)(self._membership)
        # The answers for the corpus's words, worked out ahead (bot.domain.wordtable): the
        # router sets it; the dictionaries answer the words it lacks.
        self.table: WordTable | None = None

    def _lemma(self, word: str, lang: str) -> str:
        """The basic form of one lower-case word in one language."""
        if self.table is not None and (found := self.table.lemma(word, lang)) is not None:
            return found
        return self._lemmatizer.lemmatize(word, lang).lower()

    def _membership(self, token: str) -> int:
        """Which languages' dictionaries know the token, bit n for LANGUAGES[n] (simplemma's
        language detector asks it of every word it samples: the same words again, kept)."""
        if self.table is not None and (found := self.table.membership(token)) is not None:
            return found
        token = normalize_token(token)
        return sum(1 << n for n, lang in enumerate(LANGUAGES)
                   if self._lookup(token, lang) is not None)

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
