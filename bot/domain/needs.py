"""What the asker needs: which kind of helper a question calls for, learned from examples.

The words of a question name things (Wilma, HOKS, a skills demonstration, Teams); the role it
needs follows from what the asker wants done — fix or use a tool (`tvt`), organise or settle
something among colleagues (`luotsi`), meet, support or assess a student, or apply the reform's
rules (`vertaisvalmentaja`). A linear model learns that from `knowledge/training/*.tsv`: questions
written as staff type them, many in contrastive sets (the same thing under each of the three
needs), so that the thing a question names weighs less than what is asked about it.

Three views of a question are its features: character n-grams of its lower-case words with the
umlauts folded (typos, dropped dots, inflections and unlisted compounds still share most of their
n-grams), its words' basic forms with their pairs (`ei` … `siirtyä`), and the same of the clause
that asks (bot.domain.asking: a situation told first and a question asked last), each marked
`?` (`?laina`, `?saada laina`: a basic form, or a pair, after its one-character mark), normed on
its own so that what is asked counts however long the story before it. scikit-learn fits a
logistic regression over their TF-IDF weights (bot.domain.training, in a child process once per
machine). What the router keeps is the fitted numbers — the vocabularies as MARISA tries, IDF
weights and coefficients as arrays of doubles, 6 MB in all — and a question's probabilities are
the sums scikit-learn's `predict_proba` makes, in plain Python: scikit-learn and SciPy would add
some 100 MB to every bot process for one dot product. Processes starting together train the model
once: a file lock beside the kept models.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import pickle
import re
import subprocess
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path

import simplemma
from marisa_trie import Trie

from bot import LANGUAGES, ROLES
from bot.domain.asking import asking_words

log = logging.getLogger(__name__)

FORMAT = 6  # bump when the features or the training change in a way the fingerprint misses
C = 32.0  # the logistic regression's inverse regularisation strength (bot.domain.training)
MIN_DF = 3  # a feature seen in fewer training questions is left out (bot.domain.training)
UNCLEAR = "unclear"  # training lines that ask for help without saying what about: no role
GRAMS = (4, 6)  # character n-gram lengths
PAIR_SPAN = 3  # basic forms this many words apart or closer make a pair
ASK_MARK = "?"  # before each basic form or pair of the asking clause's view
ASK_GRAM_MARK = "~"  # before each character n-gram of the asking clause's view
CUE_LETTERS = 30  # a longer "word" (a link, a pasted code) is never shown as a cue
LOCK_NAME = "needs.lock"  # beside the models: held while one is trained and kept
TRAINING_TIMEOUT = 600  # seconds the child may train (about 10 s of CPU on an idle core)
_WORD = re.compile(r"[^\W_]+")
_FOLD = str.maketrans({"ä": "a", "ö": "o", "å": "a", "é": "e", "ü": "u"})

Lemma = Callable[[str, str], str]  # (lower-case word, language) -> basic form


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled question."""

    role: str
    language: str | None
    text: str


class TrainingError(Exception):
    """A training file cannot be read, or the model cannot be trained."""


def read_examples(path: Path) -> list[Example]:
    """`role<TAB>question` lines; `# language: xx` gives the language of the lines after it."""
    return parse_examples(path.read_text(encoding="utf-8"), path.name)


def parse_examples(text: str, name: str = "-") -> list[Example]:
    examples: list[Example] = []
    language: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# language:"):
            language = line.split(":", 1)[1].strip() or None
            if language not in (*LANGUAGES, None):
                raise TrainingError(f"{name}:{number}: unknown language {language}")
        elif line.strip() and not line.startswith("#"):
            role, _, text_ = line.partition("\t")
            if role not in (*ROLES, UNCLEAR) or not text_.strip():
                raise TrainingError(f"{name}:{number}: expected role<TAB>question")
            examples.append(Example(role, language, text_.strip()))
    return examples


def format_examples(examples: Iterable[Example]) -> str:
    """The examples as training lines again (what the child process reads)."""
    lines: list[str] = []
    language: str | None = None
    for example in examples:
        if example.language != language:
            language = example.language
            lines.append(f"# language: {language or ''}")
        lines.append(f"{example.role}\t{' '.join(example.text.split())}")
    return "\n".join(lines) + "\n"


def training_files(knowledge_dir: Path) -> list[Path]:
    return sorted((knowledge_dir / "training").glob("*.tsv"))


# --- the two views of a question --------------------------------------------------------------

def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def word_grams(word: str) -> list[str]:
    """Character n-grams of one lower-case word (its edges marked by spaces), umlauts folded; a
    word shorter than an n-gram gives itself whole for that n, as scikit-learn's `char_wb`."""
    padded = f" {word.translate(_FOLD)} "
    low, high = GRAMS
    return [padded[i:i + n] for n in range(low, high + 1)
            for i in range(max(len(padded) - n + 1, 1))]


def char_grams(text: str) -> list[str]:
    """Character n-grams of each word of the text."""
    return [gram for word in words(text) for gram in word_grams(word)]


def lemma_features(words_: Sequence[str], lang: str, lemma: Lemma) -> list[str]:
    """Each word's basic form, and each pair of basic forms at most three words apart: what is
    said of a thing (`taulu` … `kadota`) stays with it across a word or two."""
    forms = [lemma(word, lang) for word in words_ if not word.isdigit()]
    pairs = [f"{a} {b}" for i, a in enumerate(forms) for b in forms[i + 1:i + 1 + PAIR_SPAN]]
    return forms + pairs


def lemma_grams(text: str, lang: str, lemma: Lemma) -> list[str]:
    return lemma_features(words(text), lang, lemma)


def asking_features(asked: Sequence[str], lang: str, lemma: Lemma) -> list[str]:
    """The asking clause's basic forms and pairs, each marked as asked (`?laina`, `?saada
    laina`), and its words' character n-grams, marked apart (`~lain`): the asked words' own
    letters count where a typo or a spoken form hides their basic form."""
    return [*asking_forms(asked, lang, lemma),
            *(gram for word in asked for gram in asking_word_grams(word))]


def asking_forms(asked: Sequence[str], lang: str, lemma: Lemma) -> list[str]:
    return [ASK_MARK + feature for feature in lemma_features(asked, lang, lemma)]


def asking_word_grams(word: str) -> list[str]:
    return [ASK_GRAM_MARK + gram for gram in word_grams(word)]


def asking_grams(text: str, lang: str, lemma: Lemma) -> list[str]:
    return asking_features(asking_words(text, lang, lemma), lang, lemma)


def guess_language(text: str) -> str:
    """For training lines without a language: å is Swedish, anything else Finnish."""
    return "sv" if "å" in text.lower() else "fi"


# --- the model ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Cue:
    """A word of the question and how much it pulled towards the chosen role."""

    word: str
    weight: float


@dataclass(frozen=True)
class _View:
    """One vectorizer's fitted numbers: its features in a trie, whose own key ids are the
    columns (a MARISA trie of 50,000 short strings takes a few hundred kB; as a dict of strings
    it took 8 MB), and each column's IDF weight."""

    features: Trie
    idf: array  # of doubles, by column

    def columns(self, features: Iterable[str]) -> list[int]:
        """The columns of the features the model knows (repeats kept)."""
        return [c for c in map(self.features.get, features) if c is not None]

    def weights(self, columns: Iterable[int]) -> dict[int, float]:
        """TF-IDF as scikit-learn's TfidfVectorizer(sublinear_tf=True) makes it, L2-normed."""
        idf = self.idf
        # (1 + log 1) × w is w exactly: the logarithm only for the columns that repeat.
        raw = {column: idf[column] if n == 1 else (1.0 + math.log(n)) * idf[column]
               for column, n in Counter(columns).items()}
        norm = math.sqrt(sum([x * x for x in raw.values()])) or 1.0
        return {column: x / norm for column, x in raw.items()}


@dataclass(frozen=True, slots=True)
class _Part:
    """One word's character n-gram columns in a view (repeats kept), and its part of each
    role's sum and of the squared norm, counting each of its n-grams once for each time it
    occurs; and, for the card's why, how much its n-grams pull towards each role."""

    columns: array
    sums: tuple[float, ...]
    square: float
    pulls: tuple[float, ...]


class NeedModel:
    """A fitted logistic regression over the three views (bot.domain.training makes one).

    The coefficients are arrays of doubles per role and view, in the tries' column order. A
    question's probabilities are the sums scikit-learn's `predict_proba` makes (within 1e-9: the
    same terms, added in another order). The character n-grams, some 200 a question in the
    character view and as many of its asking clause's words in the asking view, are summed a
    word at a time: each word's part is worked out once and kept (staff write the same words
    again and again), and the parts are mended for the n-grams that occur more than once in the
    question, whose weight is 1 + log(n) rather than n."""

    WORD_CACHE = 4096  # words whose part is kept (some 2 MB when full)

    def __init__(self, *, fingerprint: str, roles: tuple[str, ...], chars: _View,
                 lemmas: _View, asks: _View, chars_coef: tuple[array, ...],
                 lemmas_coef: tuple[array, ...], asks_coef: tuple[array, ...],
                 intercept: tuple[float, ...]) -> None:
        self.fingerprint = fingerprint
        self.roles = roles
        self.chars = chars
        self.lemmas = lemmas
        self.asks = asks
        self.chars_coef = chars_coef
        self.lemmas_coef = lemmas_coef
        self.asks_coef = asks_coef
        self.intercept = intercept
        self.word = lru_cache(maxsize=self.WORD_CACHE)(self._word)
        self.asked_word = lru_cache(maxsize=self.WORD_CACHE)(self._asked_word)

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore, (self.fingerprint, self.roles, self.chars, self.lemmas, self.asks,
                           self.chars_coef, self.lemmas_coef, self.asks_coef, self.intercept))

    def _word(self, word: str) -> _Part:
        """One lower-case word's n-gram columns and its part of the sums."""
        return _part(self.chars, self.chars_coef, self.chars.columns(word_grams(word)))

    def _asked_word(self, word: str) -> _Part:
        """The same of a word of the asking clause, in the asking view."""
        return _part(self.asks, self.asks_coef, self.asks.columns(asking_word_grams(word)))

    @staticmethod
    def _parted_sums(view: _View, coefs: tuple[array, ...], parts: Sequence[_Part]
                     ) -> list[float]:
        """Each role's sum over the parts' columns (TF-IDF, L2-normed)."""
        sums = [math.fsum(role) for role in zip(*[part.sums for part in parts], strict=True)]
        square = math.fsum([part.square for part in parts])
        idf = view.idf
        for column, n in Counter(chain.from_iterable([p.columns for p in parts])).items():
            if n > 1:  # counted n times in the parts; scikit-learn counts it 1 + log(n) times
                tf, w = 1.0 + math.log(n), idf[column]
                square += w * w * (tf * tf - n)
                for role, coef in enumerate(coefs):
                    sums[role] += coef[column] * w * (tf - n)
        norm = math.sqrt(square) if square > 0 else 1.0
        return [s / norm for s in sums]

    @staticmethod
    def _sums(view: _View, coefs: tuple[array, ...], columns: Iterable[int]) -> list[float]:
        """Each role's sum over a view's columns (TF-IDF, L2-normed)."""
        weights = view.weights(columns)
        return [sum([coef[c] * x for c, x in weights.items()]) for coef in coefs]

    def probabilities(self, text: str, lang: str, lemma: Lemma) -> dict[str, float]:
        """Each role's probability for this question (empty when it has no words)."""
        return self.probabilities_of(words(text), lang, lemma, asking_words(text, lang, lemma))

    def probabilities_of(self, words_: Sequence[str], lang: str, lemma: Lemma,
                         asked: Sequence[str] = ()) -> dict[str, float]:
        """The same for a question's lower-case words and those of its asking clause (the
        router has them already)."""
        if not words_:
            return {}
        scores = [intercept + chars + lemmas + asks for intercept, chars, lemmas, asks in zip(
            self.intercept,
            self._parted_sums(self.chars, self.chars_coef, [self.word(w) for w in words_]),
            self._sums(self.lemmas, self.lemmas_coef,
                       self.lemmas.columns(lemma_features(words_, lang, lemma))),
            self._parted_sums(self.asks, self.asks_coef, [
                _part(self.asks, self.asks_coef, self.asks.columns(
                    asking_forms(asked, lang, lemma)), pulls=False),
                *[self.asked_word(word) for word in asked]]),
            strict=True)]
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        return {role: e / total for role, e in zip(self.roles, exp, strict=True)}

    def cues(self, text: str, lang: str, lemma: Lemma, role: str, *, limit: int = 3,
             asked: Sequence[str] | None = None) -> list[Cue]:
        """The question's words that pulled most towards `role` rather than the others: each
        word's own n-grams and basic form, weighted by the model, against the other roles'
        mean. An explanation for people, not the model's exact arithmetic (the question's
        vector is normed as a whole). `asked`: the asking clause's words, when the router has
        them already; each word's n-grams' pulls are kept with its part of the model's sums,
        which the route has just made."""
        if role not in self.roles:
            return []
        mine = self.roles.index(role)
        asking = set(asking_words(text, lang, lemma) if asked is None else asked)
        found: dict[str, float] = {}
        for word in dict.fromkeys(words(text)):
            if not 3 <= len(word) <= CUE_LETTERS or word.isdigit():
                continue
            found[word] = self._cue_weight(word, lemma(word, lang), word in asking, mine)
        ranked = sorted(found.items(), key=lambda item: -item[1])
        return [Cue(word, round(weight, 2)) for word, weight in ranked[:limit] if weight > 0]

    def _cue_weight(self, word: str, form: str, asked: bool, mine: int) -> float:
        """How much one word (`form`, its basic form) pulls towards the role numbered `mine`:
        its n-grams' part is kept with the word's part of the sums (the route made it)."""
        weight = self.word(word).pulls[mine]
        column = self.lemmas.features.get(form)
        if column is not None:
            weight += self.lemmas.idf[column] * _pull(self.lemmas_coef, mine, column)
        if asked:  # its basic form and its n-grams in the asking view
            pull = 0.0
            column = self.asks.features.get(ASK_MARK + form)
            if column is not None:
                pull += self.asks.idf[column] * _pull(self.asks_coef, mine, column)
            weight += pull + self.asked_word(word).pulls[mine]
        return weight


def _part(view: _View, coefs: tuple[array, ...], columns: list[int], *,
          pulls: bool = True) -> _Part:
    """The part of these columns (repeats kept) in the sums, and their pulls (`pulls`)."""
    idf = view.idf
    return _Part(array("i", columns),
                 tuple(sum([coef[c] * idf[c] for c in columns]) for coef in coefs),
                 sum([idf[c] * idf[c] for c in columns]),
                 _pulls(view.weights(columns), coefs) if pulls else ())


def _pulls(weights: dict[int, float], coef: tuple[array, ...]) -> tuple[float, ...]:
    """For each role, how much these weighted columns pull towards it against the other roles'
    mean (each role's sum, less the others' mean of theirs)."""
    sums = [sum([x * row[c] for c, x in weights.items()]) for row in coef]
    return tuple(mine - sum([s for n, s in enumerate(sums) if n != i]) / (len(sums) - 1)
                 for i, mine in enumerate(sums))


def _pull(coef: tuple[array, ...], mine: int, column: int) -> float:
    """A column's coefficient for one role against the other roles' mean."""
    others = [row[column] for n, row in enumerate(coef) if n != mine]
    return coef[mine][column] - sum(others) / len(others)


def _restore(fingerprint: str, roles: tuple[str, ...], chars: _View, lemmas: _View,
             asks: _View, chars_coef: tuple[array, ...], lemmas_coef: tuple[array, ...],
             asks_coef: tuple[array, ...], intercept: tuple[float, ...]) -> NeedModel:
    """A model read back from its file (its word cache starts empty)."""
    return NeedModel(fingerprint=fingerprint, roles=roles, chars=chars, lemmas=lemmas, asks=asks,
                     chars_coef=chars_coef, lemmas_coef=lemmas_coef, asks_coef=asks_coef,
                     intercept=intercept)


def fingerprint(examples: Iterable[Example]) -> str:
    """What a trained model depends on: its examples, the features and the training's settings,
    and the lemmatizer that makes its basic forms (an upgrade trains it again)."""
    digest = hashlib.sha256(
        f"needs {FORMAT} {C} {MIN_DF} {GRAMS} {PAIR_SPAN} {simplemma.__version__}".encode())
    for example in examples:
        digest.update(f"\n{example.role}\t{example.language}\t{example.text}".encode())
    return digest.hexdigest()[:16]


def model_path(folder: Path, key: str) -> Path:
    return folder / "router" / f"needs-{key}.pickle"


def load(path: Path, key: str) -> NeedModel | None:
    try:
        with path.open("rb") as stored:
            model = pickle.load(stored)
    except Exception:  # missing, unreadable or damaged: trained again
        return None
    return model if isinstance(model, NeedModel) and model.fingerprint == key else None


def load_or_train(examples: Sequence[Example], folder: Path) -> NeedModel:
    """The model for these examples: read from `folder` when one was trained on the same, else
    trained in a child process (a few seconds; scikit-learn stays out of this one) and kept
    there for the next start, as the lemmatizer's dictionaries are. Processes starting together
    (two replicas) train it once: the others wait for the first and read what it kept. A folder
    this process may not write to costs the training at each start (the child hands the model
    back instead)."""
    key = fingerprint(examples)
    path = model_path(folder, key)
    model = load(path, key)
    if model is not None:
        return model
    with training_lock(path):
        model = load(path, key)  # kept by another process while this one waited
        if model is not None:
            return model
        return _train(examples, folder, key, path)


@contextmanager
def training_lock(path: Path) -> Iterator[None]:
    """Held while a model is trained and kept (an exclusive lock on a file beside the models,
    which the system lets go when its holder ends, however it ends). Where the folder cannot
    be written to, nothing can be kept over another's either: no lock then."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(path.parent / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:  # another user's lock file (the image's, made as root): it locks all the same
            lock = os.open(path.parent / LOCK_NAME, os.O_RDONLY)
        except OSError:
            yield
            return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # and with it the lock


def _train(examples: Sequence[Example], folder: Path, key: str, path: Path) -> NeedModel:
    try:
        trained = subprocess.run(
            [sys.executable, "-m", "bot.domain.training", str(folder), key],
            input=format_examples(examples).encode(), capture_output=True, check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=TRAINING_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise TrainingError(f"training took over {TRAINING_TIMEOUT} s") from exc
    model = load(path, key)
    if model is None and trained.returncode == 0 and trained.stdout:
        try:  # our own child's answer, never a file from elsewhere
            handed = pickle.loads(trained.stdout)
        except Exception:
            handed = None
        model = handed if isinstance(handed, NeedModel) and handed.fingerprint == key else None
    if model is None:
        reason = trained.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise TrainingError(f"the router's need model could not be trained: {reason[0]}")
    return model
