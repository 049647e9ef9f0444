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
        TfidfVectorizer | None, TfidfVectorizer | None, TfidfVectorizer | None,
        LogisticRegression, Callable[[str, str], sparse.csr_matrix]]:
    """The three vectorizers and the classifier fitted on the examples, and the function that
    turns a question into the classifier's features (for comparing with the router's sums).
    A view none of whose features is seen often enough (in a test's few examples: none asks in
    words) is left out: None."""
    # A feature seen in one or two questions only is noise, and pairs of basic forms are many:
    # with them the model held 200,000 features and 50 MB in every bot process; seen three
    # times, 133,000 in the three views (7 MB).
    analyzers: list[Callable[..., list[str]]] = [
        char_grams, partial(_lemma_analyzer, lemma), partial(_asking_analyzer, lemma)]
    texts = [example.text for example in examples]
    documents = [(example.text, example.language or guess_language(example.text))
                 for example in examples]
    inputs: list[Sequence[object]] = [texts, documents, documents]
    vectorizers: list[TfidfVectorizer | None] = []
    views = []
    for analyzer, data in zip(analyzers, inputs, strict=True):
        vectorizer = _vectorizer(analyzer, MIN_DF)
        try:
            views.append(vectorizer.fit_transform(data))
        except ValueError:  # no feature seen MIN_DF times
            vectorizer = None
        vectorizers.append(vectorizer)
    classifier = LogisticRegression(C=c, max_iter=3000, class_weight="balanced",
                                    random_state=0)
    classifier.fit(sparse.hstack(views).tocsr(), [example.role for example in examples])

    def featurize(text: str, lang: str) -> sparse.csr_matrix:
        question = [text, (text, lang), (text, lang)]
        return sparse.hstack([vectorizer.transform([one]) for vectorizer, one
                              in zip(vectorizers, question, strict=True)
                              if vectorizer is not None]).tocsr()

    chars, lemmas, asks = vectorizers
    return chars, lemmas, asks, classifier, featurize


def train(examples: Sequence[Example], lemma: Lemma, *, fingerprint: str = "",
          c: float = C) -> NeedModel:
    """Fit the model on the examples and keep its numbers, each view's columns in the order of
    its features' trie."""
    *vectorizers, classifier, _ = fit(examples, lemma, c=c)
    views: list[_View] = []
    coefs: list[tuple[array, ...]] = []
    offset = 0
    for vectorizer in vectorizers:
        view, order = _view(vectorizer)
        views.append(view)
        coefs.append(tuple(array("d", row[offset + order]) for row in classifier.coef_))
        offset += len(order)
    return NeedModel(
        fingerprint=fingerprint,
        roles=tuple(str(role) for role in classifier.classes_),
        chars=views[0], lemmas=views[1], asks=views[2],
        chars_coef=coefs[0], lemmas_coef=coefs[1], asks_coef=coefs[2],
        intercept=tuple(float(x) for x in classifier.intercept_),
    )


def _view(vectorizer: TfidfVectorizer | None) -> tuple[_View, np.ndarray]:
    """The vectorizer's features as a trie, its IDF weights in the trie's order, and for each of
    the trie's columns the vectorizer's own (to reorder the coefficients the same way); a view
    left out has none."""
    if vectorizer is None:
        return _View(Trie(), array("d")), np.empty(0, dtype=np.intp)
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
    # Every word of the training questions, in each of their languages: all of them kept, looked
    # up in the mapped tries (faster than the pages for so many words; this process is brief).
    model = train(examples, Lemmas(folder, cache_size=250_000, mapped=True).lemma,
                  fingerprint=key)
    try:
        keep(model, model_path(folder, key))
    except OSError:
        sys.stdout.buffer.write(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
