"""The metrics folder (PROMETHEUS_MULTIPROC_DIR) over time: the files of processes that
are gone are merged into one file per kind.

prometheus-client's multiprocess mode gives every process its own files, and /metrics
reads every file in the folder on every scrape. Nothing removes the counts of a process
that is gone (a worker replaced at a reload or a restart, a container recreated at an
upgrade), and they must stay in the sums, or the counters would fall. So the folder
only grew: a scrape took 64 ms of CPU with one process's files and 2.6 s with 200 gone
processes' (bench/RESULTS.md). Here a gone process's counters and histograms are added
into ``counter_gone.db`` and ``histogram_gone.db`` and its files removed: the sums stay
the same and a scrape reads a file per live process and one more.

Whether a process is alive: each holds a POSIX lock on its own ``life_<id>.lock`` for as
long as it runs (the kernel lets go when it ends, however it ends; a forked child does
not inherit it), and a lock can be tested from any container that shares the folder.
Merging holds the folder's lock, which a scrape takes shared, so a scrape never sees a
count twice or not at all. Here, not in ``metrics``: gunicorn's master merges the files
of a worker that ended without loading prometheus-client's values.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: The kinds of file whose values are sums (the tool has no multiprocess gauges).
SUMMED_KINDS = ("counter", "histogram")
#: The process id the merged counts of gone processes are filed under.
GONE = "gone"
_FOLDER_LOCK = ".merge.lock"


def _life_path(folder: str, process_id: str) -> str:
    return os.path.join(folder, f"life_{process_id}.lock")


def hold_life(folder: str, process_id: str) -> int:
    """Hold this process's life lock from now until it ends: before it writes a metrics
    file. Returns the descriptor, which must stay open (closing any descriptor of the file
    in this process would let the lock go)."""
    path = _life_path(folder, process_id)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        fcntl.lockf(descriptor, fcntl.LOCK_SH)  # waits while a merge looks at it
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # a merge removed the file of an earlier process of this id


@contextlib.contextmanager
def folder_lock(folder: str, *, shared: bool) -> Iterator[None]:
    """The folder's lock: shared for a scrape, exclusive for a merge."""
    descriptor = os.open(
        os.path.join(folder, _FOLDER_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640
    )
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def merge_gone(folder: str, *, own: str = "") -> int:
    """Merge the counts of every process in ``folder`` that is gone (``own``, this
    process's id, is never looked at); returns how many processes were merged. A folder
    that cannot be merged (full, not writable) is logged, never raised: it runs in
    gunicorn's master and at a worker's start, which must go on."""
    merged = 0
    try:
        with folder_lock(folder, shared=False):
            for process_id in sorted(_process_ids(folder) - {GONE, own}):
                if _merge_if_gone(folder, process_id):
                    merged += 1
    except OSError as exc:
        log.warning("metrics: the counts of ended processes in %s not merged: %s", folder, exc)
    if merged:
        log.info("metrics: the counts of %d ended processes merged", merged)
    return merged


def _process_ids(folder: str) -> set[str]:
    ids = set()
    for name in os.listdir(folder):
        kind, _, rest = name.partition("_")
        if kind in SUMMED_KINDS and rest.endswith(".db"):
            ids.add(rest[: -len(".db")])
    return ids


def _merge_if_gone(folder: str, process_id: str) -> bool:
    path = _life_path(folder, process_id)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # written before processes held a life lock
        if _pid_alive_here(process_id):
            return False
        _merge(folder, process_id)
        return True
    try:
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its process holds it: alive
            return False
        _merge(folder, process_id)
        os.unlink(path)  # while locked: a new process of this id makes a new one
        return True
    finally:
        os.close(descriptor)


def _pid_alive_here(process_id: str) -> bool:
    """A process id of this host whose pid runs (a process of a version before life
    locks); another host's is taken to be gone."""
    from lti_tool.observability import metrics_process_id

    pid = process_id.rpartition("-")[2]
    if not pid.isdigit() or metrics_process_id(int(pid)) != process_id:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


#: How much a merged sum that is not a whole number is raised (relatively).
ROUNDING_MARGIN = 1e-12


def _not_less(total: float) -> float:
    """A merged value, never below what a scrape added up before the merge. Counts are
    whole numbers, exact in any order; a histogram's sum of seconds is not, and added up
    in another order it may come out a last digit lower, which Prometheus reads as a
    counter reset (a spike in every rate of it). Raised by a millionth of a millionth,
    it stays above for any number of processes a folder holds."""
    if total.is_integer():
        return total
    return total + abs(total) * ROUNDING_MARGIN


def _merge(folder: str, process_id: str) -> None:
    """Add one gone process's values into the gone files, then remove its files."""
    from prometheus_client.mmap_dict import MmapedDict

    for kind in SUMMED_KINDS:
        source = os.path.join(folder, f"{kind}_{process_id}.db")
        try:
            values = list(MmapedDict.read_all_values_from_file(source))
        except FileNotFoundError:
            continue
        gone = MmapedDict(os.path.join(folder, f"{kind}_{GONE}.db"))
        try:
            for key, value, timestamp, _position in values:
                total, _ = gone.read_value(key)
                gone.write_value(key, _not_less(total + value), timestamp)
        finally:
            gone.close()
        os.unlink(source)
