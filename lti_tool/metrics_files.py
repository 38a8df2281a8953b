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
count twice or not at all. A merge stopped halfway (a kill -9, a worker told to stop as it
starts) is undone from its journal before anything reads the folder again: its process is
then merged once, as if the first merge had not begun. Here, not in ``metrics``:
gunicorn's master merges the files of a worker that ended without making the tool's
metrics.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import struct
import sys
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


def undo_interrupted(folder: str, *, wait_seconds: float) -> None:
    """Undo a merge that was stopped halfway, before a scrape reads the folder: a
    scrape would otherwise see that process's counts partly twice, and then lower once
    the next merge undid it (Prometheus reads a counter that falls as a reset). Costs a
    listing of the folder when nothing was stopped."""
    if not _journals(folder):
        return
    try:
        with _merge_lock(folder, wait_seconds) as locked:
            if locked:
                gone = _GoneFiles(folder)
                try:
                    gone.undo_interrupted()
                finally:
                    gone.close()
    except Exception as exc:  # the scrape goes on
        log.warning("metrics: a merge stopped halfway in %s not undone: %s", folder, exc)


def _journals(folder: str) -> list[str]:
    """The journals of merges stopped halfway (or running, without the folder's lock)."""
    return sorted(
        name for name in os.listdir(folder) if name.startswith(_JOURNAL) and name.endswith(_BEFORE)
    )


def _merge_all(folder: str, own: str) -> int:
    merged = 0
    gone = _GoneFiles(folder)
    try:
        gone.undo_interrupted()
        for kind in SUMMED_KINDS:  # a damaged merged file breaks every scrape: set it aside
            path = os.path.join(folder, f"{kind}_{GONE}.db")
            try:
                list(MmapedDict.read_all_values_from_file(path))
            except FileNotFoundError:
                pass
            except _UNREADABLE as exc:
                _set_aside(path, exc)  # its counts are lost (a counter reset, once)
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


#: The journal of one kind of one process's merge: a copy of the merged file as it was
#: before (``merging_<kind>_<process id>.before``), there from before the first value is
#: added until the process's file is removed. Not ``*.db``: a scrape reads those.
_JOURNAL = "merging_"
_BEFORE = ".before"


class _GoneFiles:
    """The merged files of one merge, each opened once (opening reads every key), and the
    rounding margins of their keys."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._files: dict[str, MmapedDict] = {}
        self._margins: dict[str, dict[str, float]] = {}

    def merge(self, process_id: str) -> None:
        """Add one gone process's values into the merged files, then remove its files.
        Stopped anywhere, by anything, it is undone by the next merge or scrape
        (``undo_interrupted``): never counted twice, nor partly."""
        for kind in SUMMED_KINDS:
            source = os.path.join(self.folder, f"{kind}_{process_id}.db")
            try:
                values = list(MmapedDict.read_all_values_from_file(source))
            except FileNotFoundError:
                continue
            except _UNREADABLE as exc:
                _set_aside(source, exc)  # /metrics could not read it either
                continue
            journal = self._begin(kind, process_id, values)
            self._add_now(kind, values)
            os.unlink(source)  # done: from here the journal is only left to remove
            os.unlink(journal)

    def undo_interrupted(self) -> None:
        """Put back the merged file a merge stopped halfway had begun to change (its
        process's file is still there, and is merged again); a journal whose process's
        file was removed belongs to a merge that was done. Before any merged file is
        opened: it is replaced."""
        for name in _journals(self.folder):
            path = os.path.join(self.folder, name)
            kind, _, process_id = name[len(_JOURNAL) : -len(_BEFORE)].partition("_")
            source = os.path.join(self.folder, f"{kind}_{process_id}.db")
            if kind in SUMMED_KINDS and os.path.exists(source):
                os.replace(path, os.path.join(self.folder, f"{kind}_{GONE}.db"))
                log.warning("metrics: a merge of %s stopped halfway: undone", source)
            else:
                os.unlink(path)
        for name in os.listdir(self.folder):
            if name.startswith(_JOURNAL) and name.endswith(".part"):
                os.unlink(os.path.join(self.folder, name))  # nothing was added yet

    def _file(self, kind: str) -> MmapedDict:
        if kind not in self._files:
            self._margins[kind] = _rounding_margins(self.folder, kind)
            self._files[kind] = MmapedDict(os.path.join(self.folder, f"{kind}_{GONE}.db"))
        return self._files[kind]

    def _begin(
        self, kind: str, process_id: str, values: list[tuple[str, float, float, int]]
    ) -> str:
        """Make every key's place in the merged file, then copy it as it is before the
        merge (whole, or not at all: copied aside, then renamed): the journal."""
        gone = self._file(kind)
        for key, _value, _timestamp, _position in values:
            gone.read_value(key)
        path = os.path.join(self.folder, f"{_JOURNAL}{kind}_{process_id}{_BEFORE}")
        shutil.copyfile(os.path.join(self.folder, f"{kind}_{GONE}.db"), path + ".part")
        os.replace(path + ".part", path)
        return path

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
