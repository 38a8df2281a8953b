"""A look inside a bench worker's memory, opt-in (``BENCH_MEMORY_PROBE=<seconds>``; the
bench only, never the product): every that many seconds, after a request, the worker
appends one JSON line (the first after ``BENCH_MEMORY_PROBE_FIRST`` seconds) to
``$BENCH_MEMORY_PROBE_DIR/<pid>.jsonl`` (a folder that outlives the bench's own).

Each line holds the resident memory; glibc's heap (``mallinfo2``: in use and free); the
Python heap as tracemalloc sees it, and the allocation sites that grew most since the
first line; the live objects by type that grew most; the largest containers; and the sizes
of the caches that could grow with the data or the input (SQLAlchemy's statement caches,
Jinja's templates, ``re``'s patterns, the ``functools`` caches of ``lti_tool`` and Babel,
Babel's locales). It is slow (tracemalloc costs every allocation, a line some seconds):
for finding what grows, not for timing.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import os
import re
import sys
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo() -> dict[str, float]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {
        "heap_mb": round(info.arena / MB, 1),
        "mmap_mb": round(info.hblkhd / MB, 1),
        "in_use_mb": round(info.uordblks / MB, 1),
        "free_mb": round(info.fordblks / MB, 1),
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * _PAGE / MB, 1)


def _caches(app: Any) -> dict[str, Any]:
    """The sizes of the caches that could follow the data or the input."""
    from sqlalchemy.util import LRUCache

    found: dict[str, Any] = {}
    engine = app.extensions["db_engine"]
    found["sqlalchemy_compiled_cache"] = len(engine._compiled_cache or ())
    lrus = [o for o in gc.get_objects() if isinstance(o, LRUCache)]
    found["sqlalchemy_lru_caches"] = sorted((len(c) for c in lrus), reverse=True)[:8]
    found["jinja_templates"] = len(app.jinja_env.cache or ())
    found["re_cache"] = len(getattr(re, "_cache", ()))
    functools_caches = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(("lti_tool", "flask_babel", "babel")) or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                size = value.cache_info().currsize
                if size:
                    functools_caches[f"{value.__module__}.{value.__qualname__}"] = size
    found["functools"] = functools_caches
    try:
        import babel.localedata

        found["babel_localedata"] = len(babel.localedata._cache)
    except (ImportError, AttributeError):
        pass
    return found


def _biggest_containers(objects: list[Any], n: int = 6) -> list[str]:
    """The largest dicts, lists and sets alive (an unbounded cache shows here)."""
    sized = [
        (len(o), type(o).__name__, o)
        for o in objects
        if type(o) in (dict, list, set) and len(o) > 500
    ]
    sized.sort(key=lambda t: t[0], reverse=True)
    out = []
    for length, kind, o in sized[:n]:
        sample = next(iter(o), None) if kind != "list" else (o[0] if o else None)
        out.append(f"{kind}[{length}] e.g. {repr(sample)[:80]}")
    return out


class Probe:
    def __init__(self, app: Any, every: float, folder: str) -> None:
        self.app = app
        self.every = every
        self.path = os.path.join(folder, f"{os.getpid()}.jsonl")
        self.lock = threading.Lock()
        #: The first line (the baseline of the growth) after a warm-up of its own.
        first = float(os.environ.get("BENCH_MEMORY_PROBE_FIRST", every))
        self.next_at = time.monotonic() + first
        self.requests = 0
        self.first_snapshot: tracemalloc.Snapshot | None = None
        self.first_types: Counter[str] | None = None
        tracemalloc.start(int(os.environ.get("BENCH_MEMORY_PROBE_FRAMES", "1")))

    def after_request(self) -> None:
        with self.lock:
            self.requests += 1
            if time.monotonic() < self.next_at:
                return
            self.next_at = time.monotonic() + self.every
            try:
                self.sample()
            except Exception as exc:  # the probe must never fail a request
                with open(self.path, "a") as out:
                    out.write(json.dumps({"probe_error": repr(exc)}) + "\n")

    def sample(self) -> None:
        started = time.perf_counter()
        line: dict[str, Any] = {"t": round(time.time()), "requests": self.requests}
        line["rss_mb"] = _rss_mb()
        line["malloc"] = _mallinfo()
        current, peak = tracemalloc.get_traced_memory()
        line["traced_mb"] = round(current / MB, 1)
        line["traced_peak_mb"] = round(peak / MB, 1)
        line["gc_counts"] = gc.get_count()
        objects = gc.get_objects()
        line["gc_objects"] = len(objects)
        types = Counter(type(o).__qualname__ for o in objects)
        line["biggest_containers"] = _biggest_containers(objects)
        del objects
        line["caches"] = _caches(self.app)
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if self.first_snapshot is None:
            self.first_snapshot, self.first_types = snapshot, types
        else:
            assert self.first_types is not None
            grown = types - self.first_types
            line["types_grown"] = grown.most_common(15)
            stats = snapshot.compare_to(self.first_snapshot, "lineno")
            line["lines_grown"] = [
                f"{s.size_diff / 1024:+.0f} KiB {s.count_diff:+d} "
                f"{s.traceback[0].filename.rsplit('site-packages/', 1)[-1]}:{s.traceback[0].lineno}"
                for s in stats[:15]
            ]
            deep = snapshot.compare_to(self.first_snapshot, "traceback")
            line["tracebacks_grown"] = [
                [f"{s.size_diff / 1024:+.0f} KiB {s.count_diff:+d}"]
                + [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in s.traceback]
                for s in deep[:6]
            ]
        line["probe_seconds"] = round(time.perf_counter() - started, 2)
        with open(self.path, "a") as out:
            out.write(json.dumps(line) + "\n")


def install(app: Any) -> Probe | None:
    """A probe for this worker when ``BENCH_MEMORY_PROBE`` is set, else None."""
    every = os.environ.get("BENCH_MEMORY_PROBE")
    if not every:
        return None
    folder = os.environ.get("BENCH_MEMORY_PROBE_DIR") or os.environ["BENCH_STATS_DIR"]
    os.makedirs(folder, exist_ok=True)
    return Probe(app, float(every), folder)
