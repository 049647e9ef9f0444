"""`peerdesk route`: how a question would be routed (one, a JSON line each from standard input, or
explained), and `peerdesk route train`, which trains the need model once a machine."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from bot.config import Settings
from bot.domain.knowledge import Knowledge, load_knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.needs import TrainingError, load_or_train, model_path
from bot.domain.routing import Router, training_examples
from bot.domain.wordtable import ensure, table_path


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    route = commands.add_parser("route", help="show how a question would be routed; "
                                "`route train` trains the need model on knowledge/training")
    route.add_argument("question", nargs="?")
    route.add_argument("--jsonl", action="store_true", help="questions from standard input")
    route.add_argument("--explain", action="store_true",
                       help="say why: each role's probability and the words that decided")
    route.set_defaults(verb=route_command)


def route_command(args: argparse.Namespace, settings: Settings) -> int:
    knowledge = load_knowledge(settings.knowledge_dir)
    lemmas = Lemmas(settings.lemma_dir)
    if args.question == "train" and not args.jsonl:
        return _train(knowledge, lemmas)
    router = Router(knowledge, lemmas)
    if args.jsonl:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(router.route(line.strip()).as_dict(), ensure_ascii=False),
                      flush=True)
        return 0
    if not args.question:
        print("peerdesk route: give a question, or --jsonl to read them from standard input",
              file=sys.stderr)
        return 2
    decision = router.route(args.question)
    if not args.explain:
        print(json.dumps(decision.as_dict(), ensure_ascii=False))
        return 0
    verdict = "ask the asker" if decision.ask else "route"
    print(f"{verdict}: {decision.role} · {decision.topic} · {decision.language} "
          f"(confidence {decision.confidence:.2f})")
    for role in decision.roles:
        probability = decision.probabilities.get(role)
        print(f"  {role:<18} {'' if probability is None else f'{probability:.2f}'}")
    cues = router.explain(args.question, decision.role)
    print("why: " + (", ".join(cues) if cues else "no single word decided"))
    if decision.answer:
        print(f"self-service answer: {decision.answer}")
    return 0


def _train(knowledge: Knowledge, lemmas: Lemmas) -> int:
    """`peerdesk route train`: the need model, trained on the knowledge's examples and kept
    where the router looks for it, and the word table beside it (bot.domain.wordtable; nothing
    to do when they are there already)."""
    if not knowledge.training:
        print("peerdesk route train: knowledge/training holds no examples", file=sys.stderr)
        return 2
    started = time.perf_counter()
    examples = training_examples(knowledge)
    try:
        model = load_or_train(examples, lemmas.folder)
    except TrainingError as exc:
        print(f"peerdesk route train: {exc}", file=sys.stderr)
        return 1
    if not model_path(lemmas.folder, model.fingerprint).exists():
        print(f"peerdesk route train: trained, but it could not be kept in {lemmas.folder}: the "
              "bot would train it again at each start", file=sys.stderr)
        return 1
    table = table_path(lemmas.folder, model.fingerprint)
    if not ensure(knowledge, lemmas.folder, model.fingerprint):
        # The router works without it, only slower on words it has not seen yet.
        print(f"peerdesk route train: the word table could not be recorded in {lemmas.folder}; "
              "the router reads every new word from the dictionaries (the bot tries again at "
              "its next start)", file=sys.stderr)
    counts = Counter(example.language or "?" for example in examples)
    print(f"need model {model.fingerprint}: {len(examples)} questions "
          f"({', '.join(f'{lang} {n}' for lang, n in sorted(counts.items()))}), "
          f"ready in {time.perf_counter() - started:.1f} s, kept in {lemmas.folder / 'router'} "
          + (f"with its word table ({table.stat().st_size // 1024} kB)" if table.exists()
             else "without a word table"))
    return 0
