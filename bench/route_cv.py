"""The router cross-validated on its own training files: how it does on a writer it has not seen.

Usage:
    .venv/bin/python bench/route_cv.py [--folds 5]

The labelled sets (bench/route_eval.py) are few, and the training questions were written around
the sets seen before; this asks the training files themselves. Whole files are held out (a
writer's style and situations unseen, as the held-out set's are; the `unclear` file is spread
over the folds, or one fold would never learn it, and the topics' examples count as one file).
Each fold's need model is trained by the bot's own training step, put into a real Router, and
each held-out question routed as the bot routes it (the words' evidence, the ask threshold).
Prints right / confidently wrong / asked per language and the log-loss of the three roles'
probabilities: settings were chosen on these figures (README, "Settings chosen without the test
sets"), 1–2 minutes of CPU with five folds. Change a setting in bot/domain/needs.py or
routing.py and run it again to compare. The topics' examples, held out of the model with their
fold, still shape the router's word evidence (the vocabulary is the whole knowledge's): that
fold's figures are a little kind.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict

from sklearn.model_selection import GroupKFold

from bot import LANGUAGES, ROLES
from bot.config import PROJECT_ROOT
from bot.domain import training
from bot.domain.knowledge import load_knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.needs import UNCLEAR, Example, read_examples, training_files
from bot.domain.routing import Router, training_examples

UNCLEAR_FILE = "unclear"


def groups_of(examples: list[Example], files: list[str]) -> list[str]:
    """Each example's file; the topics' examples are one group."""
    return files + ["topics"] * (len(examples) - len(files))


def folds(groups: list[str], count: int) -> list[list[int]]:
    """Held-out rows per fold: whole files, the unclear file's lines spread round-robin."""
    unclear = [i for i, g in enumerate(groups) if g == UNCLEAR_FILE]
    rest = [i for i, g in enumerate(groups) if g != UNCLEAR_FILE]
    held: list[list[int]] = [[] for _ in range(count)]
    splitter = GroupKFold(n_splits=count)
    for k, (_, test) in enumerate(splitter.split(rest, groups=[groups[i] for i in rest])):
        held[k] = [rest[i] for i in test]
    for n, i in enumerate(unclear):
        held[n % count].append(i)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    knowledge = load_knowledge(PROJECT_ROOT / "knowledge")
    examples = training_examples(knowledge)
    files = [path.stem for path in training_files(PROJECT_ROOT / "knowledge")
             for _ in read_examples(path)]
    assert len(files) == len(knowledge.training), "training files read differently"
    groups = groups_of(examples, files)
    lemmas = Lemmas()
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, right, wrong, asked
    loss, scored = 0.0, 0
    for k, held in enumerate(folds(groups, args.folds)):
        began = time.process_time()
        held_set = set(held)
        model = training.train([e for i, e in enumerate(examples) if i not in held_set],
                               lemmas.lemma)
        router = Router(knowledge, lemmas, needs=model, word_table=False)
        for i in held:
            example = examples[i]
            if example.role == UNCLEAR:
                continue
            decision = router.route(example.text, language_hint=example.language)
            for key in (decision.language, "all"):
                row = tally[key]
                row[0] += 1
                row[1] += decision.role == example.role and not decision.ask
                row[2] += decision.role != example.role and not decision.ask
                row[3] += decision.ask
            shares = {role: decision.probabilities.get(role, 0.0) for role in ROLES}
            total = sum(shares.values())
            if total > 0:
                loss -= math.log(max(shares[example.role] / total, 1e-9))
                scored += 1
        names = sorted({groups[i] for i in held if groups[i] != UNCLEAR_FILE})
        print(f"fold {k + 1}: {len(held)} held out ({', '.join(names)}), "
              f"{time.process_time() - began:.0f} s")
    print(f"\n{'':8} {'n':>6} {'right':>7} {'conf.wrong':>11} {'asked':>7}")
    for key in (*LANGUAGES, "all"):
        n, right, wrong, asked = tally[key]
        if n:
            print(f"{key:8} {n:6d} {100 * right / n:6.1f}% {100 * wrong / n:10.1f}% "
                  f"{100 * asked / n:6.1f}%")
    print(f"log-loss of the roles' probabilities: {loss / max(scored, 1):.4f} "
          f"({scored} questions the model read)")


if __name__ == "__main__":
    main()
