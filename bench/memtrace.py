"""`python -m bot ARGS` with a look inside its memory every TRACE_EVERY seconds (default 30),
written to TRACE_DIR: what found where the soak's memory goes (README, Benchmarks).

Usage (the soak starts the bot this way when BENCH_TRACE is set):
    BENCH_TRACE=/tmp/trace .venv/bin/python -m bench.burst --soak 2
    TRACE_DIR=/tmp/trace PYTHONPATH=. .venv/bin/python bench/memtrace.py run

Each look writes `gc-NNN.txt` (VmRSS/RssAnon/RssFile; glibc's heap from mallinfo2; SQLite's own
allocations; resident MB per mapping, from /proc/self/smaps; objects the garbage collector
tracks, by type) and `obmalloc-NNN.txt` (`sys._debugmallocstats`: Python's small-object arenas).
With TRACE_MALLOC=1 also a tracemalloc snapshot (`snap-NNN.pickle`, TRACE_FRAMES deep, default
12) to compare with `Snapshot.compare_to` — the bot runs several times slower then.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import os
import runpy
import sys
import threading
import time
import tracemalloc

OUT = os.environ["TRACE_DIR"]
EVERY = float(os.environ.get("TRACE_EVERY", "30"))


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mb(value: float) -> float:
    return round(value / 2**20, 1)


def status() -> dict[str, int]:
    """VmRSS, RssAnon and RssFile in MB."""
    found = {}
    with open(f"/proc/{os.getpid()}/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) // 1024
    return found


def native() -> str:
    """glibc's heap, SQLite's allocations and Python's allocated blocks."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Mallinfo2
    info = libc.mallinfo2()
    try:
        sqlite = ctypes.CDLL("libsqlite3.so.0")
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
        sqlite_mb: object = _mb(sqlite.sqlite3_memory_used())
    except OSError:
        sqlite_mb = "?"
    return (f"malloc: heap {_mb(info.arena)} MB, in use {_mb(info.uordblks)}, free "
            f"{_mb(info.fordblks)}, mmapped {_mb(info.hblkhd)}; sqlite3 {sqlite_mb} MB; python "
            f"blocks {sys.getallocatedblocks()}")


def mappings() -> collections.Counter[str]:
    """Resident kB per mapped file ([heap], [anon] for the anonymous ones)."""
    per: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    with open(f"/proc/{os.getpid()}/smaps") as lines:
        for line in lines:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                name = fields[5] if len(fields) > 5 else "[anon]"
            elif fields[0] == "Rss:":
                per[name] += int(fields[1])
    return per


def obmalloc(path: str) -> None:
    """sys._debugmallocstats writes to the C stderr: into a file for a moment."""
    saved = os.dup(2)
    with open(path, "w") as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def look(n: int) -> None:
    counts = collections.Counter(f"{type(o).__qualname__}@{type(o).__module__}"
                                 for o in gc.get_objects())
    with open(f"{OUT}/gc-{n:03d}.txt", "w") as out:
        out.write(f"{status()} gc_objects={sum(counts.values())} t={time.time():.0f}\n")
        out.write(native() + "\n")
        for name, kb in mappings().most_common(25):
            out.write(f"map {kb // 1024:6d} MB {name}\n")
        for kind, count in counts.most_common(150):
            out.write(f"{count:8d} {kind}\n")
    obmalloc(f"{OUT}/obmalloc-{n:03d}.txt")
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(f"{OUT}/snap-{n:03d}.pickle")


def every() -> None:
    n = 0
    while True:
        time.sleep(EVERY)
        try:
            look(n)
        except Exception as exc:  # a look that fails must not stop the bot
            print(f"memtrace: {exc!r}", file=sys.stderr)
        n += 1


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    if os.environ.get("TRACE_MALLOC") == "1":
        tracemalloc.start(int(os.environ.get("TRACE_FRAMES", "12")))
    threading.Thread(target=every, daemon=True).start()
    sys.argv = ["bot", *sys.argv[1:]]
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
