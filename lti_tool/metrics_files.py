"""The metrics folder (PROMETHEUS_MULTIPROC_DIR) over time: the files of processes that
are gone are merged into one file per kind.

prometheus-client's multiprocess mode gives every process its own files, and /metrics
reads every file in the folder on every scrape. Nothing removes the counts of a process
that is gone (a worker replaced at a reload or a restart, a container recreated at an
upgrade), and they must stay in the sums, or the counters would fall. So the folder
only grew: a scrape took 64 ms of CPU with one process's files and 2.6 s with 200 gone
processes' (bench/RESULTS.md). Here a gone process's counters and histograms are added
into ``counter_gone.db`` and ``histogram_gone.db`` and its files removed: the sums stay
(never lower: ``_rounding_margins``) and a scrape reads a file per live process and one
more. A file that cannot be read, which broke every scrape, is set aside
(``*.unreadable``) when its process is merged.

Whether a process is alive: each holds a POSIX lock on its own ``life_<id>.lock`` for as
long as it runs (the kernel lets go when it ends, however it ends; a forked child does
not inherit it), and a lock can be tested from any container that shares the folder.
Merging holds the folder's lock, which a scrape takes shared, so a scrape never sees a
count twice or not at all. Here, not in ``metrics``: gunicorn's master merges the files
of a worker that ended without making the tool's metrics.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Iterator

from prometheus_client.mmap_dict import MmapedDict

log = logging.getLogger(__name__)

#: The kinds of file whose values are sums (the tool has no multiprocess gauges).
SUMMED_KINDS = ("counter", "histogram")
#: The process id the merged counts of gone processes are filed under.
GONE = "gone"
_FOLDER_LOCK = ".merge.lock"
#: At most this many processes are merged at a time (about 8 ms each: reading a file of
#: a long-running worker's counts), so that neither gunicorn's master nor a starting
#: worker is held for long by a folder that grew for years; the next merge goes on.
MERGED_AT_ONCE = 100


def _opened(path: str) -> int:
    """A lock file's descriptor (made if missing), not inherited by programs run."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)


def _life_path(folder: str, process_id: str) -> str:
    return os.path.join(folder, f"life_{process_id}.lock")


def hold_life(folder: str, process_id: str) -> int:
    """Hold this process's life lock from now until it ends: before it writes a metrics
    file. Returns the descriptor, which must stay open (closing any descriptor of the file
    in this process would let the lock go)."""
    path = _life_path(folder, process_id)
    while True:
        descriptor = _opened(path)
        fcntl.lockf(descriptor, fcntl.LOCK_SH)  # waits while a merge looks at it
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # a merge removed the file of an earlier process of this id


@contextlib.contextmanager
def folder_lock(folder: str, *, shared: bool) -> Iterator[None]:
    """The folder's lock, shared: a scrape (waits while a merge holds it)."""
    descriptor = _opened(os.path.join(folder, _FOLDER_LOCK))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _merge_lock(folder: str, wait_seconds: float) -> Iterator[bool]:
    """The folder's lock, exclusive, if it comes within ``wait_seconds``: a merge can
    wait for the next chance, and gunicorn's master must not wait on scrapes."""
    descriptor = _opened(os.path.join(folder, _FOLDER_LOCK))
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(descriptor)


def merge_gone(folder: str, *, own: str = "", wait_seconds: float = 0.0) -> int:
    """Merge the counts of every process in ``folder`` that is gone (``own``, this
    process's id, is never looked at); returns how many processes were merged. Nothing
    when a scrape holds the folder past ``wait_seconds`` (the next start or worker's end
    merges). Never raises: it runs in gunicorn's master and at a worker's start, which
    must go on; what cannot be merged is logged."""
    merged = 0
    try:
        with _merge_lock(folder, wait_seconds) as locked:
            if locked:
                merged = _merge_all(folder, own)
    except Exception as exc:  # logged, and gunicorn goes on
        log.warning("metrics: the counts of ended processes in %s not merged: %s", folder, exc)
    if merged:
        log.info("metrics: the counts of %d ended processes merged", merged)
    return merged


def _merge_all(folder: str, own: str) -> int:
    for kind in SUMMED_KINDS:  # a damaged merged file breaks every scrape: set it aside
        path = os.path.join(folder, f"{kind}_{GONE}.db")
        try:
            list(MmapedDict.read_all_values_from_file(path))
        except FileNotFoundError:
            pass
        except _UNREADABLE as exc:
            _set_aside(path, exc)  # its counts are lost (a counter reset, once), not /metrics
    merged = 0
    gone = _GoneFiles(folder)
    try:
        for process_id in sorted(_process_ids(folder) - {GONE, own}):
            if merged == MERGED_AT_ONCE:
                break
            try:
                if _merge_if_gone(gone, process_id):
                    merged += 1
            except Exception as exc:  # one process's files: the others go on
                log.warning(
                    "metrics: the counts of %s in %s not merged: %s", process_id, folder, exc
                )
    finally:
        gone.close()
    return merged


def _process_ids(folder: str) -> set[str]:
    """Every process with files or a life lock (one that never counted has only that)."""
    ids = set()
    for name in os.listdir(folder):
        kind, _, rest = name.partition("_")
        if kind in SUMMED_KINDS and rest.endswith(".db"):
            ids.add(rest[: -len(".db")])
        elif kind == "life" and rest.endswith(".lock"):
            ids.add(rest[: -len(".lock")])
    return ids


def _merge_if_gone(gone: _GoneFiles, process_id: str) -> bool:
    path = _life_path(gone.folder, process_id)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # written before processes held a life lock
        if _may_run_without_life_lock(gone.folder, process_id):
            return False
        gone.merge(process_id)
        return True
    try:
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its process holds it: alive
            return False
        gone.merge(process_id)
        os.unlink(path)  # while locked: a new process of this id makes a new one
        return True
    finally:
        os.close(descriptor)


#: How long the files of another host's process without a life lock must have been left
#: unwritten before it is taken to be gone (seconds). The kernel marks a file written
#: through its mapping at least as often as it writes it back (half a minute).
UNWRITTEN_SECONDS = 600


def _may_run_without_life_lock(folder: str, process_id: str) -> bool:
    """A process of a version before life locks (an upgrade): of this host, while its pid
    runs; of another (a container not yet stopped), while its files are being written."""
    from lti_tool.observability import metrics_process_id

    pid = process_id.rpartition("-")[2]
    if pid.isdigit() and metrics_process_id(int(pid)) == process_id:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process
            return True
        return True
    written = 0.0
    for kind in SUMMED_KINDS:
        with contextlib.suppress(FileNotFoundError):
            path = os.path.join(folder, f"{kind}_{process_id}.db")
            written = max(written, os.stat(path).st_mtime)
    return time.time() - written < UNWRITTEN_SECONDS


#: What a file that cannot be read raises (prometheus-client's ``MmapedDict``): an empty
#: file (a process ended as it made it), one cut short, a key that is not UTF-8.
_UNREADABLE = (struct.error, RuntimeError, ValueError)


class _GoneFiles:
    """The merged files of one merge, each opened once (opening reads every key), and the
    rounding margins of their keys."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._files: dict[str, MmapedDict] = {}
        self._margins: dict[str, dict[str, float]] = {}

    def merge(self, process_id: str) -> None:
        """Add one gone process's values into the merged files, then remove its files."""
        for kind in SUMMED_KINDS:
            source = os.path.join(self.folder, f"{kind}_{process_id}.db")
            try:
                values = list(MmapedDict.read_all_values_from_file(source))
            except FileNotFoundError:
                continue
            except _UNREADABLE as exc:
                _set_aside(source, exc)  # /metrics could not read it either
                continue
            self._add(kind, values)
            with _signals_held():  # both, or neither: never counted twice
                self._add_now(kind, values)
                os.unlink(source)

    def _add(self, kind: str, values: list[tuple[str, float, float, int]]) -> None:
        """Make every key's place first, so that adding (``_add_now``) cannot fail."""
        if kind not in self._files:
            self._margins[kind] = _rounding_margins(self.folder, kind)
            self._files[kind] = MmapedDict(os.path.join(self.folder, f"{kind}_{GONE}.db"))
        for key, _value, _timestamp, _position in values:
            self._files[kind].read_value(key)

    def _add_now(self, kind: str, values: list[tuple[str, float, float, int]]) -> None:
        gone, margins = self._files[kind], self._margins[kind]
        for key, value, timestamp, _position in values:
            total, _ = gone.read_value(key)
            gone.write_value(key, total + value + margins.get(key, 0.0), timestamp)

    def close(self) -> None:
        for gone in self._files.values():
            gone.close()


def _set_aside(path: str, exc: Exception) -> None:
    os.replace(path, path + ".unreadable")
    log.error("metrics: %s cannot be read (%s): set aside as %s.unreadable", path, exc, path)


#: A double's relative precision (2**-52).
_EPSILON = sys.float_info.epsilon


def _rounding_margins(folder: str, kind: str) -> dict[str, float]:
    """For each key whose values are not all whole numbers, how much to add to a merged
    value so that no scrape afterwards sums it lower than one before. A scrape adds the
    files up in the folder's order; merging changes the order and the terms, and a sum of
    seconds (a histogram's ``_sum``) may come out a last digit lower, which Prometheus
    reads as a counter reset (a spike in every rate of it). Two orders of n terms differ
    by at most 2(n-1)·ε/2·Σ|x|; the margin is twice that. Whole numbers (the counts) add
    up exactly in any order and get none."""
    sums: dict[str, float] = {}
    whole: dict[str, bool] = {}
    files = [name for name in os.listdir(folder) if name.startswith(f"{kind}_")]
    for name in files:
        if not name.endswith(".db"):
            continue
        try:
            found = MmapedDict.read_all_values_from_file(os.path.join(folder, name))
            for key, value, _timestamp, _position in found:
                sums[key] = sums.get(key, 0.0) + abs(value)
                whole[key] = whole.get(key, True) and float(value).is_integer()
        except (FileNotFoundError, *_UNREADABLE):
            continue  # set aside when its process is merged, or ended meanwhile
    count = len(files) + 1
    return {key: 2 * count * _EPSILON * total for key, total in sums.items() if not whole[key]}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Signals wait until the block ends: a Ctrl-C or a worker's stop (gunicorn's
    handlers raise SystemExit) between adding a process's values and removing its file
    would count it twice at the next merge. A kill -9 still can."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs its handlers in the main thread: this one is not interrupted
        return
    if _threads() == 1:  # gunicorn's master, a worker starting
        held = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # the held ones come now
        return
    with _handlers_noting():
        yield


def _threads() -> int:
    """This process's threads, those not started by ``threading`` too (execnet's, C
    libraries'); ``threading``'s count where /proc cannot tell."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


@contextlib.contextmanager
def _handlers_noting() -> Iterator[None]:
    """With other threads, a signal blocked here may reach one of them, and Python would
    still run its handler in this thread: the handlers are swapped for ones that only note
    the signal, and it is sent again once they are back (put back while blocked here)."""
    noted: list[int] = []
    swapped = {}
    held = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        for number in signal.valid_signals():
            if callable(signal.getsignal(number)):
                swapped[number] = signal.signal(number, lambda caught, _: noted.append(caught))
        yield
    finally:
        for number, handler in swapped.items():
            signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        for caught in noted:
            signal.raise_signal(caught)
