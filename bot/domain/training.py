"""Training the need model (bot.domain.needs) with scikit-learn.

Usage: `python -m bot.domain.training FOLDER FINGERPRINT < examples.tsv` writes the model to
`FOLDER/router/needs-FINGERPRINT.pickle`; bot.domain.needs runs it in a child process when a model
is missing, and `peerdesk route train` through it, so that no bot process holds scikit-learn.

Three TF-IDF vectorizers (the needs module's own analyzers: character n-grams, basic forms, and
basic forms of the asking clause, so that the router computes exactly the same features) and one
multinomial logistic regression; the classes are balanced, the seed fixed, so the same examples
give the same model.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from marisa_trie import Trie
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.domain.lemmas import Lemmas
from bot.domain.needs import (
    MIN_DF,
    C,
    Example,
    Lemma,
    NeedModel,
    _View,
    asking_grams,
    char_grams,
    guess_language,
    lemma_grams,
    model_path,
    parse_examples,
)


def _vectorizer(analyzer: object, min_df: int) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=analyzer, min_df=min_df, sublinear_tf=True,
                           dtype=np.float64)


def _lemma_analyzer(lemma: Lemma, document: tuple[str, str]) -> list[str]:
    text, lang = document
    return lemma_grams(text, lang, lemma)


def _asking_analyzer(lemma: Lemma, document: tuple[str, str]) -> list[str]:
    text, lang = document
    return asking_grams(text, lang, lemma)


def fit(examples: Sequence[Example], lemma: Lemma, *, c: float = C) -> tuple[
        TfidfVectorizer, TfidfVectorizer, TfidfVectorizer | None, LogisticRegression,
        Callable[[str, str], sparse.csr_matrix]]:
    """The three vectorizers and the classifier fitted on the examples, and the function that
    turns a question into the classifier's features (for comparing with the router's sums).
    Examples none of which asks in words (a few in a test) leave the third view empty: None."""
    # A feature seen in one question only is noise, and pairs of basic forms are many: with
    # them the model held 200,000 features and 50 MB in every bot process; seen twice, 58,000.
    chars = _vectorizer(char_grams, MIN_DF)
    lemmas = _vectorizer(partial(_lemma_analyzer, lemma), MIN_DF)
    asks: TfidfVectorizer | None = _vectorizer(partial(_asking_analyzer, lemma), MIN_DF)
    texts = [example.text for example in examples]
    documents = [(example.text, example.language or guess_language(example.text))
                 for example in examples]
    views = [chars.fit_transform(texts), lemmas.fit_transform(documents)]
    try:
        views.append(asks.fit_transform(documents))  # type: ignore[union-attr]
    except ValueError:  # no asking clause, or none of its features seen twice
        asks = None
    features = sparse.hstack(views)
    classifier = LogisticRegression(C=c, max_iter=3000, class_weight="balanced",
                                    random_state=0)
    classifier.fit(features.tocsr(), [example.role for example in examples])

    def featurize(text: str, lang: str) -> sparse.csr_matrix:
        views = [chars.transform([text]), lemmas.transform([(text, lang)])]
        if asks is not None:
            views.append(asks.transform([(text, lang)]))
        return sparse.hstack(views).tocsr()

    return chars, lemmas, asks, classifier, featurize


def train(examples: Sequence[Example], lemma: Lemma, *, fingerprint: str = "",
          c: float = C) -> NeedModel:
    """Fit the model on the examples and keep its numbers, each view's columns in the order of
    its features' trie."""
    chars, lemmas, asks, classifier, _ = fit(examples, lemma, c=c)
    char_view, char_order = _view(chars)
    lemma_view, lemma_order = _view(lemmas)
    ask_view, ask_order = _view(asks) if asks is not None else (
        _View(Trie(), array("d")), np.empty(0, dtype=np.intp))
    offset = len(chars.vocabulary_)
    ask_offset = offset + len(lemmas.vocabulary_)
    return NeedModel(
        fingerprint=fingerprint,
        roles=tuple(str(role) for role in classifier.classes_),
        chars=char_view,
        lemmas=lemma_view,
        asks=ask_view,
        chars_coef=tuple(array("d", row[char_order]) for row in classifier.coef_),
        lemmas_coef=tuple(array("d", row[offset + lemma_order]) for row in classifier.coef_),
        asks_coef=tuple(array("d", row[ask_offset + ask_order]) for row in classifier.coef_),
        intercept=tuple(float(x) for x in classifier.intercept_),
    )


def _view(vectorizer: TfidfVectorizer) -> tuple[_View, np.ndarray]:
    """The vectorizer's features as a trie, its IDF weights in the trie's order, and for each of
    the trie's columns the vectorizer's own (to reorder the coefficients the same way)."""
    features = Trie([str(feature) for feature in vectorizer.vocabulary_])
    order = np.empty(len(features), dtype=np.intp)
    for feature, column in vectorizer.vocabulary_.items():
        order[features[str(feature)]] = column
    return _View(features, array("d", vectorizer.idf_[order])), order


def keep(model: NeedModel, path: Path) -> None:
    """Write the model where the router looks for it, atomically; older models go."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as scratch:
        pickle.dump(model, scratch, protocol=pickle.HIGHEST_PROTOCOL)
    # Readable by all: the Docker image trains it as root and runs the bot as nobody.
    os.chmod(scratch.name, 0o644)
    os.replace(scratch.name, path)
    # Models a day old go (another replica's, during a deploy, may still be in use before).
    for old in (*path.parent.glob("needs-*.pickle"), *path.parent.glob("*.tmp")):
        if old != path and time.time() - old.stat().st_mtime > 86_400:
            old.unlink(missing_ok=True)


def main(folder: Path, key: str) -> None:
    """Train on the examples read from standard input and keep the model in `folder`; where
    that cannot be written, hand the model back on standard output."""
    examples = parse_examples(sys.stdin.read())
    # Every word of the training questions, in each of their languages: all of them kept.
    model = train(examples, Lemmas(folder, cache_size=250_000).lemma, fingerprint=key)
    try:
        keep(model, model_path(folder, key))
    except OSError:
        sys.stdout.buffer.write(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
