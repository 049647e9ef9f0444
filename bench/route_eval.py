"""Score the router on a labelled question set, per language.

Usage:
    .venv/bin/python bench/route_eval.py [SET.tsv ...] [--misses] [--knowledge DIR]

Each line of a set is `role<TAB>question`; a line `# language: sv` gives the language of the lines
after it (without one, the router's guess is taken), a line `# kind: contrastive` the kind (the
words name one role's things, the need is another's; or `plain`), scored apart as well; other
lines starting with `#` are comments.
Printed per language and in all:

- right: the right role, decided without asking (the asker does no work);
- confidently wrong: a wrong role, decided without asking (the worst case);
- asked: the asker chose with buttons;
- best guess: the right role first among the buttons, asked or not.

`--misses` lists every question that was not right, with the router's decision.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot import LANGUAGES
from bot.config import PROJECT_ROOT
from bot.domain.knowledge import load_knowledge
from bot.domain.routing import Decision, Router

DEV_SET = PROJECT_ROOT / "tests" / "data" / "routing_dev.tsv"


@dataclass(frozen=True, slots=True)
class Case:
    role: str
    language: str | None
    question: str
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Score:
    count: int
    right: float
    confidently_wrong: float
    asked: float
    best_guess: float


def read_cases(path: Path) -> list[Case]:
    cases = []
    language = kind = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# language:"):
            language, kind = line.split(":", 1)[1].strip(), None
        elif line.startswith("# kind:"):
            kind = line.split(":", 1)[1].strip()
        elif line.strip() and not line.startswith("#"):
            role, question = line.split("\t", 1)
            cases.append(Case(role, language, question, kind))
    return cases


def score(pairs: list[tuple[Case, Decision]]) -> Score:
    n = len(pairs) or 1
    return Score(
        count=len(pairs),
        right=sum(d.role == c.role and not d.ask for c, d in pairs) / n,
        confidently_wrong=sum(d.role != c.role and not d.ask for c, d in pairs) / n,
        asked=sum(d.ask for _, d in pairs) / n,
        best_guess=sum(d.role == c.role for c, d in pairs) / n,
    )


def evaluate(router: Router, cases: list[Case]) -> dict[str, Score]:
    """Scores per language, per kind where the set names kinds, and in all (key `all`)."""
    pairs = [(case, router.route(case.question)) for case in cases]
    per_group: dict[str, list[tuple[Case, Decision]]] = defaultdict(list)
    for case, decision in pairs:
        per_group[case.language or decision.language].append((case, decision))
        if case.kind:
            per_group[case.kind].append((case, decision))
    kinds = sorted({case.kind for case in cases if case.kind})
    scores = {group: score(per_group[group]) for group in (*LANGUAGES, *kinds)
              if per_group[group]}
    scores["all"] = score(pairs)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, default=[DEV_SET])
    parser.add_argument("--misses", action="store_true", help="list the questions not right")
    parser.add_argument("--knowledge", type=Path, default=PROJECT_ROOT / "knowledge")
    args = parser.parse_args()
    router = Router(load_knowledge(args.knowledge))
    cases = [case for path in args.sets for case in read_cases(path)]
    started = time.perf_counter()
    decisions = [router.route(case.question) for case in cases]
    first_pass = (time.perf_counter() - started) / len(cases) * 1000
    started = time.perf_counter()
    for case in cases:
        router.route(case.question)
    again = (time.perf_counter() - started) / len(cases) * 1000
    if args.misses:
        for case, d in zip(cases, decisions, strict=True):
            if d.role != case.role or d.ask:
                mark = "ASKED" if d.ask else "WRONG"
                print(f"{mark} {case.role:>17} -> {d.role:<17} {d.topic:<18} "
                      f"{d.confidence:.3f} {d.language} | {case.question}")
        print()
    print(f"{'':11} {'n':>4} {'right':>7} {'conf.wrong':>10} {'asked':>7} {'best guess':>10}")
    for lang, s in evaluate(router, cases).items():
        print(f"{lang:11} {s.count:4} {s.right:7.1%} {s.confidently_wrong:10.1%} {s.asked:7.1%} "
              f"{s.best_guess:10.1%}")
    print(f"{first_pass:.2f} ms per question at the first sight of its words, {again:.2f} ms again")


if __name__ == "__main__":
    main()
