"""Which PostgreSQL variants `make test` may leave out, chosen by coverage: `make postgres-cover`.

Every test that takes `database_url` runs on SQLite and on PostgreSQL. On PostgreSQL what can
differ is the database code (bot/storage, and the modules of bot/domain that run statements);
the Telegram adapters, texts, buttons and the pure domain (routing, dates, office hours) run the
same either way and are covered by the SQLite variant. So this runs every
PostgreSQL variant once under coverage.py, each test in a context of its own, and keeps on
PostgreSQL a set of them that still runs every line of the database code that all of them ran
(greedy, most new lines per second of CPU first), and every test marked `races`, whose
outcome rests on the database's own locking rather than on lines; the others are written to
tests/postgres-left-out.txt and `make test` deselects them (tests/conftest.py). A test not in
that file — a new one — runs on both. `PEERDESK_TEST_ALL_POSTGRES=1 make test` runs them all.

Also a pytest plugin (`-p tests.postgres_cover`): it switches coverage's context per test and
notes each test's CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = ROOT / "tests" / "postgres-left-out.txt"
DATABASE_CODE = ("bot/domain", "bot/storage")
_CPU_FILE = "PEERDESK_COVER_CPU_FILE"


def left_out() -> frozenset[str]:
    """The PostgreSQL variants `make test` leaves out (empty when asked to run them all)."""
    if os.environ.get("PEERDESK_TEST_ALL_POSTGRES") or not LEFT_OUT.exists():
        return frozenset()
    return frozenset(line.strip() for line in LEFT_OUT.read_text().splitlines()
                     if line.strip() and not line.startswith("#"))


# --- the plugin, inside the measured run ----------------------------------------------------

_cpu: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    import coverage

    current = coverage.Coverage.current()
    if current is not None:
        current.switch_context(item.nodeid)
    started = time.process_time()
    yield
    _cpu[item.nodeid] = time.process_time() - started


def pytest_sessionfinish(session: pytest.Session) -> None:
    if path := os.environ.get(_CPU_FILE):
        Path(path).write_text(json.dumps(_cpu))


# --- the choice --------------------------------------------------------------------------------

def _talks_to_the_database(path: str) -> bool:
    """bot/storage, and the domain modules that run statements (they take a session): what can
    differ on PostgreSQL. The pure ones (routing, dates, office hours, SLA) run alike on both,
    and their lines are no reason to keep a PostgreSQL variant."""
    file = Path(path).resolve().relative_to(ROOT)
    return file.parts[:2] == ("bot", "storage") or "AsyncSession" in (ROOT / file).read_text()


def _choose(lines_of: dict[str, set[tuple[str, int]]], cpu: dict[str, float],
            always: set[str]) -> set[str]:
    """Tests to keep: `always`, then greedily those adding the most uncovered lines a second."""
    everything = set().union(*lines_of.values()) if lines_of else set()
    kept = set(always)
    covered = set().union(*(lines_of.get(t, set()) for t in kept))
    while covered != everything:
        best = max((t for t in lines_of if t not in kept),
                   key=lambda t: len(lines_of[t] - covered) / max(cpu.get(t, 1.0), 0.05))
        kept.add(best)
        covered |= lines_of[best]
    return kept


def main() -> int:
    import coverage

    everything = {**os.environ, "PEERDESK_TEST_ALL_POSTGRES": "1"}
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0"],
        cwd=ROOT, env=everything, capture_output=True, text=True, check=True).stdout.split()
    ids = {line for line in collected if "::" in line}
    twins = {i for i in ids if "postgresql" in i and i.replace("postgresql", "sqlite") in ids}
    races = set(subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-m", "races"],
        cwd=ROOT, env=everything, capture_output=True, text=True, check=True).stdout.split())
    with tempfile.TemporaryDirectory() as work:
        rc, data_file, cpu_file = (Path(work) / n for n in ("rc", "coverage", "cpu.json"))
        rc.write_text(f"[run]\nsource = {', '.join(DATABASE_CODE)}\n"
                      "concurrency = thread, greenlet\n")
        env = {**everything, _CPU_FILE: str(cpu_file), "COVERAGE_FILE": str(data_file)}
        run = subprocess.run(
            [sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q",
             "-n", "0", "-p", "tests.postgres_cover", *sorted(twins)],
            cwd=ROOT, env=env)
        if run.returncode != 0:
            print("postgres-cover: the tests did not all pass; nothing written", file=sys.stderr)
            return 1
        data = coverage.CoverageData(basename=str(data_file))
        data.read()
        lines_of: dict[str, set[tuple[str, int]]] = {t: set() for t in twins}
        for path in filter(_talks_to_the_database, data.measured_files()):
            for line, contexts in data.contexts_by_lineno(path).items():
                for context in contexts:
                    if context in lines_of:
                        lines_of[context].add((path, line))
        cpu = json.loads(cpu_file.read_text())
    kept = _choose(lines_of, cpu, always=twins & races)
    dropped = sorted(twins - kept)
    LEFT_OUT.write_text(
        "# PostgreSQL variants `make test` leaves out: the kept ones run every line of the\n"
        "# database code these run (tests/postgres_cover.py; regenerate: make postgres-cover).\n"
        + "".join(f"{test}\n" for test in dropped))
    saved = sum(cpu.get(t, 0.0) for t in dropped)
    print(f"postgres-cover: {len(kept)} of {len(twins)} PostgreSQL variants kept; "
          f"{len(dropped)} left out ({saved:.1f} s of CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
