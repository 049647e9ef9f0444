"""The lemmatizer's answers for the words the corpus holds, worked out ahead and read at start.

A question's words, the first time the bot sees them, cost most of a route's CPU in the
dictionaries (bot.domain.lemmas): the language detector asks each word in Finnish, Swedish and
English, and its basic form is looked up in the question's language, each a block of the pages
read and unpacked. But nearly all of the words staff write (97 % of those in questions nobody
here wrote) are words the training examples and the knowledge hold already. So the need model's
training (bot.domain.needs) is followed by a child process that routes every training example
and every text of the knowledge once, with the bot's router, and keeps what the lemmatizer was
asked and what it answered: each token's languages (`Lemmas._membership`) and each (word,
language)'s basic form (`Lemmas._lemma`). The same calls, so the same answers: a word in the
table costs one lookup, a word outside it goes to the dictionaries as before.

The table is a MARISA trie of its words, whose key ids index a byte of languages and, for each
language, the number of the basic form in a second trie (or: the word itself, or not asked); a
few hundred kB, read whole (not mapped), beside the need model and named by the same
fingerprint. A table missing or damaged (its checksum) is left unused: the bot routes as before.

`ensure` records it, when missing, in a child process (bot.domain.wordrecording, which builds a
router: this module is read by the router, so it may not import it).
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from array import array
from collections.abc import Iterator, Mapping
from pathlib import Path

from marisa_trie import Trie

from bot import LANGUAGES
from bot.domain.knowledge import Knowledge
from bot.domain.needs import model_path, training_lock

log = logging.getLogger(__name__)

_MAGIC = b"PDWORDS1"  # the table's format: bump it when the file or what it answers changes
_HEAD = struct.Struct("<8sIIIII")  # magic, checksum of the rest, words, and three lengths
_LANGS = ",".join(LANGUAGES).encode()  # the order of the languages' bits and forms
NOT_ASKED = -1  # a word's basic form in a language the router never asked of it
SAME = -2  # a basic form that is the word itself (most are)
UNKNOWN_LANGUAGES = 0xFF  # a word whose languages were never asked
RECORDING_TIMEOUT = 300  # seconds the child may record the table (some 15 s of CPU)


class WordTable:
    """What the lemmatizer answered for the corpus's words: their languages and basic forms."""

    def __init__(self, words: Trie, forms: Trie, known: bytes, lemmas: tuple[array, ...]) -> None:
        self._words = words
        self._forms = forms
        self._known = known
        self._lemmas = dict(zip(LANGUAGES, lemmas, strict=True))

    def __len__(self) -> int:
        return len(self._words)

    def membership(self, token: str) -> int | None:
        """The languages' bits `Lemmas._membership` gives the token, or None: not in the table."""
        at = self._words.get(token)
        if at is None or self._known[at] == UNKNOWN_LANGUAGES:
            return None
        return self._known[at]

    def lemma(self, word: str, lang: str) -> str | None:
        """The basic form `Lemmas._lemma` gives the word in the language, or None."""
        at = self._words.get(word)
        forms = self._lemmas.get(lang)
        if at is None or forms is None:
            return None
        form = forms[at]
        if form >= 0:
            return str(self._forms.restore_key(form))
        return word if form == SAME else None

    def items(self) -> Iterator[tuple[str, int | None, dict[str, str]]]:
        """Each word, its languages' bits (None: not asked) and its basic forms (for tests)."""
        for word, at in self._words.items():
            bits = self._known[at]
            forms = {lang: form for lang in LANGUAGES
                     if (form := self.lemma(word, lang)) is not None}
            yield word, None if bits == UNKNOWN_LANGUAGES else bits, forms

    def tobytes(self) -> bytes:
        words, forms = self._words.tobytes(), self._forms.tobytes()
        body = b"".join([_LANGS, words, forms, self._known,
                         *(self._lemmas[lang].tobytes() for lang in LANGUAGES)])
        return _HEAD.pack(_MAGIC, zlib.crc32(body), len(self._words), len(_LANGS), len(words),
                          len(forms)) + body

    @classmethod
    def frombytes(cls, data: bytes) -> WordTable:
        """The table written by `tobytes`; ValueError when it is not one, or damaged."""
        if len(data) < _HEAD.size:
            raise ValueError("too short")
        magic, checksum, count, langs, words_size, forms_size = _HEAD.unpack_from(data)
        body = memoryview(data)[_HEAD.size:]
        if magic != _MAGIC or zlib.crc32(body) != checksum:
            raise ValueError("not a word table, or damaged")
        if len(body) != langs + words_size + forms_size + count * (1 + 4 * len(LANGUAGES)):
            raise ValueError("its parts' lengths do not add up")
        if bytes(body[:langs]) != _LANGS:
            raise ValueError("for other languages")
        at = langs
        words = Trie().frombytes(bytes(body[at:at + words_size]))
        at += words_size
        forms = Trie().frombytes(bytes(body[at:at + forms_size]))
        at += forms_size
        known = bytes(body[at:at + count])
        at += count
        lemmas = []
        for _ in LANGUAGES:
            column = array("i")
            column.frombytes(body[at:at + 4 * count])
            lemmas.append(column)
            at += 4 * count
        if len(words) != count:
            raise ValueError("its words' trie does not match")
        return cls(words, forms, known, tuple(lemmas))

    @classmethod
    def of(cls, known: Mapping[str, int], lemmas: Mapping[tuple[str, str], str]) -> WordTable:
        """A table of these answers: tokens' languages' bits, (word, language)s' basic forms."""
        words = Trie([*known, *(word for word, _ in lemmas)])
        forms = Trie({form for (word, _), form in lemmas.items() if form != word})
        bits = bytearray([UNKNOWN_LANGUAGES]) * len(words)
        for token, membership in known.items():
            bits[words[token]] = membership
        columns = {lang: array("i", [NOT_ASKED]) * len(words) for lang in LANGUAGES}
        for (word, lang), form in lemmas.items():
            if lang in columns:
                columns[lang][words[word]] = SAME if form == word else forms[form]
        return cls(words, forms, bytes(bits), tuple(columns[lang] for lang in LANGUAGES))


def read_table(path: Path) -> WordTable:
    """The table kept at `path`; OSError or ValueError when it is missing or unusable."""
    return WordTable.frombytes(path.read_bytes())


def keep(table: WordTable, path: Path) -> None:
    """Write the table atomically (readable by all, as the need model); those a day old go."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as scratch:
        scratch.write(table.tobytes())
    os.chmod(scratch.name, 0o644)
    os.replace(scratch.name, path)
    for old in path.parent.glob("words-*.table"):
        if old != path and time.time() - old.stat().st_mtime > 86_400:
            old.unlink(missing_ok=True)


def table_path(folder: Path, key: str) -> Path:
    """The word table of a need model's corpus, beside the model (bot.domain.needs)."""
    return folder / "router" / f"words-{key}.table"


def ensure(knowledge: Knowledge, folder: Path, key: str) -> bool:
    """Record the word table of the need model `key` when it is missing, in a child process
    (it maps the dictionaries' tries, which would stay resident here), under the model's
    training lock: replicas starting together record it once. Whether the table is there; a
    table that could not be recorded leaves the router as it was (a warning says so)."""
    path = table_path(folder, key)
    model = model_path(folder, key)
    if path.exists():
        return True
    if not model.exists() or not os.access(path.parent, os.W_OK):
        return False
    with training_lock(model):
        if path.exists():  # recorded by another process while this one waited
            return True
        try:
            recorded = subprocess.run(
                [sys.executable, "-m", "bot.domain.wordrecording", str(folder), key],
                input=pickle.dumps(knowledge, protocol=pickle.HIGHEST_PROTOCOL),
                capture_output=True, check=False, timeout=RECORDING_TIMEOUT,
                env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except subprocess.TimeoutExpired:
            log.warning("the word table was not recorded: over %d s", RECORDING_TIMEOUT)
            return False
    if recorded.returncode != 0 or not path.exists():
        # Its error output may quote the knowledge's texts: only the exit status here.
        log.warning("the word table was not recorded (exit status %d)", recorded.returncode)
        return False
    return True
