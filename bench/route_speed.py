"""The router's CPU per question and the need model's memory; every decision kept, to compare.

Usage:
    .venv/bin/python bench/route_speed.py [SET.tsv ...] [--passes 5] [--decisions FILE]
                                          [--compare FILE]

Loads the knowledge, the lemmatizer and the router as the bot does (bot.services), then routes
every question of the labelled sets (all of tests/data/routing_*.tsv by default) twice over: as
`peerdesk route` does, with no language hint, and as the bot does, with the asker's language as
the hint; then once more with helpers' corrections in use (one made from every fifth question,
sent to the role the router ranked second), so that the corrections' path is timed and compared
too. Printed:

- the resident memory the need model adds when loaded (from its cached file), and the router's;
- CPU per question (this thread's CPU time): the first pass, where each word is seen for the
  first time, and the warm passes after it (mean and p99 over every question of every pass);
- the same for `Router.explain` (the card's "why" line), for information, and `explain` right
  after the question's route, as the bot makes a card (it reuses what the route kept).

`--decisions FILE` writes every decision (topic, role, confidence, language, ask, the buttons'
order, the answer, each probability rounded to 1e-9, the card's cues) as JSON lines; `--compare
FILE` compares this run's with a file written before a change and fails on any difference
(probabilities may differ by 1e-9). Keep the files outside the repository.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

from bench.route_eval import read_cases
from bot import ROLES
from bot.config import PROJECT_ROOT
from bot.domain.corrections import question_forms
from bot.domain.knowledge import load_knowledge
from bot.domain.lemmas import DEFAULT_FOLDER, Lemmas
from bot.domain.needs import load_or_train
from bot.domain.routing import Correction, Decision, Router, training_examples

SETS = sorted((PROJECT_ROOT / "tests" / "data").glob("routing_*.tsv"))
TOLERANCE = 1.5e-9  # two roundings to 1e-9 of numbers that agree within 1e-9


def rss_mb(kind: str = "VmRSS") -> float:
    """Resident memory in MB: all of it (VmRSS), or the process's own (RssAnon) without the
    pages of mapped files (RssFile: the lemmatizer's tries, which the kernel may drop)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def record(name: str, number: int, hint: str | None, decision: Decision,
           cues: list[str]) -> dict[str, object]:
    return {"case": f"{name}:{number}", "hint": hint, **decision.as_dict(),
            "probabilities": {r: round(p, 9) for r, p in sorted(decision.probabilities.items())},
            "cues": cues}


def timed(calls: list, passes: int) -> tuple[list[int], list[int], list]:
    """CPU nanoseconds of each call in the first pass and in the warm passes, and the results
    of the first pass."""
    first, warm, results = [], [], []
    for number in range(passes):
        for call in calls:
            started = time.thread_time_ns()
            result = call()
            spent = time.thread_time_ns() - started
            if number == 0:
                first.append(spent)
                results.append(result)
            else:
                warm.append(spent)
    return first, warm, results


def summary(name: str, samples: list[int]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name:<34} mean {statistics.fmean(samples) / 1000:8.1f} µs   "
            f"p99 {p99 / 1000:8.1f} µs   ({len(samples)} calls)")


def compare(before: Path, after: list[dict[str, object]]) -> int:
    """The number of decisions that differ from those written before."""
    old = [json.loads(line) for line in before.read_text(encoding="utf-8").splitlines()]
    if len(old) != len(after):
        print(f"{len(old)} decisions before, {len(after)} now")
        return abs(len(old) - len(after)) or 1
    differ = 0
    for was, now in zip(old, after, strict=True):
        was_p, now_p = was.pop("probabilities"), dict(now)["probabilities"]
        rest = {k: v for k, v in now.items() if k != "probabilities"}
        same = was == rest and was_p.keys() == now_p.keys() and all(  # type: ignore[union-attr]
            abs(was_p[r] - now_p[r]) <= TOLERANCE for r in was_p)  # type: ignore[index]
        if not same:
            differ += 1
            if differ <= 10:
                print(f"differs: {was['case']} {was.get('hint')}\n  before {was} {was_p}\n"
                      f"  now    {rest} {now_p}")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, default=SETS)
    parser.add_argument("--passes", type=int, default=5, help="the first and the warm ones")
    parser.add_argument("--decisions", type=Path, help="write every decision here (JSON lines)")
    parser.add_argument("--compare", type=Path, help="compare with decisions written before")
    args = parser.parse_args()

    gc.collect()
    at_start = rss_mb()
    knowledge = load_knowledge(PROJECT_ROOT / "knowledge")
    lemmas = Lemmas(DEFAULT_FOLDER)
    examples = training_examples(knowledge)
    gc.collect()
    before_model, anon_before_model = rss_mb(), rss_mb("RssAnon")
    model = load_or_train(examples, lemmas.folder)  # the cached file, as at a bot's start
    gc.collect()
    with_model, anon_with_model = rss_mb(), rss_mb("RssAnon")
    router = Router(knowledge, lemmas, needs=model)
    gc.collect()
    with_router, anon_with_router = rss_mb(), rss_mb("RssAnon")
    print(f"resident: {at_start:.1f} MB at start, {before_model:.1f} MB with knowledge and "
          f"lemmatizer; the need model +{with_model - before_model:.1f} MB "
          f"(+{anon_with_model - anon_before_model:.1f} MB of its own), the router's vocabulary "
          f"+{with_router - with_model:.1f} MB (+{anon_with_router - anon_with_model:.1f} MB of "
          f"its own, the rest the lemmatizer's mapped tries); {with_router:.1f} MB in all")

    cases = [(path.stem, number, language, question) for path in args.sets
             for number, (language, question) in enumerate(
                 ((c.language or "", c.question) for c in read_cases(path)), start=1)]
    routes = [(name, number, hint, question) for name, number, language, question in cases
              for hint in (None, language)]

    def route_call(question: str, hint: str | None):  # type: ignore[no-untyped-def]
        return lambda: router.route(question, language_hint=hint)

    first, warm, decisions = timed([route_call(q, h) for _, _, h, q in routes], args.passes)
    print(summary("route, first sight of the words", first))
    print(summary("route, warm", warm))

    explain_calls = [(lambda q=q, h=h, d=d: router.explain(q, d.role, language_hint=h))
                     for (_, _, h, q), d in zip(routes, decisions, strict=True)]
    _, explain_warm, cues = timed(explain_calls, max(args.passes, 2))
    print(summary("explain (the card's why), warm", explain_warm))
    after_route = []  # as the bot makes a card: right after the question's route
    for _, _, hint, question in routes:
        decision = router.route(question, language_hint=hint)
        started = time.thread_time_ns()
        router.explain(question, decision.role, language=decision.language)
        after_route.append(time.thread_time_ns() - started)
    print(summary("explain right after its route", after_route))

    # Helpers' corrections: every fifth question sent to the role ranked second.
    corrections = []
    for (_, _, _, question), decision in list(zip(routes, decisions, strict=True))[::10]:
        role = decision.roles[1] if len(decision.roles) > 1 else ROLES[0]
        topic = next(t.id for t in knowledge.topics.values() if t.role == role)
        forms = question_forms(router, question, decision.language)
        if forms:
            corrections.append(Correction(role, topic, frozenset(forms)))
    router.set_corrections(corrections)
    _, corrected_warm, corrected = timed([route_call(q, h) for _, _, h, q in routes],
                                         max(args.passes, 2))
    print(summary(f"route with {len(corrections)} corrections, warm", corrected_warm))

    records = [record(name, number, hint, decision, case_cues)
               for (name, number, hint, _), decision, case_cues
               in zip(routes, decisions, cues, strict=True)]
    records += [record(name, number, f"{hint}+corrections", decision, [])
                for (name, number, hint, _), decision in zip(routes, corrected, strict=True)]
    print(f"{len(records)} decisions ({len(cases)} questions, with and without a hint, "
          "and with corrections)")
    if args.decisions:
        args.decisions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                          for r in records), encoding="utf-8")
    if args.compare:
        differ = compare(args.compare, records)
        print(f"decisions identical to {args.compare}: {'yes' if not differ else 'NO'}"
              + (f" ({differ} differ)" if differ else ""))
        if differ:
            sys.exit(1)


if __name__ == "__main__":
    main()
