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
starts, an error) is finished before anything reads the folder or adds to it again
(``_GoneFiles.finish_stopped``): its process is counted once. Here, not in ``metrics``:
gunicorn's master merges the files of a worker that ended without making the tool's
metrics.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import mmap
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
def folder_lock(folder: str, *, shared: bool, wait_seconds: float) -> Iterator[bool]:
    """The folder's lock, shared (a scrape) or exclusive (a merge), if it comes within
    ``wait_seconds``; yields whether it came. A merge can wait for the next chance, and
    gunicorn's master must not wait on scrapes; a scrape answers 503 rather than hold a
    thread of every process while a merging process is paused."""
    descriptor = _opened(os.path.join(folder, _FOLDER_LOCK))
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(
                    descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
                )
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.01 if shared else 0.05)
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
        with folder_lock(folder, shared=False, wait_seconds=wait_seconds) as locked:
            if locked:
                merged = _merge_all(folder, own)
    except Exception as exc:  # logged, and gunicorn goes on
        log.warning("metrics: the counts of ended processes in %s not merged: %s", folder, exc)
    if merged:
        log.info("metrics: the counts of %d ended processes merged", merged)
    return merged


class FolderBusy(Exception):
    """The folder cannot be read as a whole now: a scrape is answered 503 (Prometheus
    notes a scrape missed), not with counts lower than the last (a reset to it)."""


#: How long a scrape waits for a merge (seconds): a merge of 100 processes takes about one.
SCRAPE_WAIT_SECONDS = 5.0


@contextlib.contextmanager
def readable(folder: str) -> Iterator[None]:
    """The folder as a scrape may read it: its lock held shared (not mid-merge), and no
    merge left stopped halfway in it (finished first, ``_GoneFiles.finish_stopped``): a
    stopped merge's process is out of the sums until it is finished. ``FolderBusy`` when
    neither comes within ``SCRAPE_WAIT_SECONDS``. Costs a listing of the folder when
    nothing was stopped."""
    deadline = time.monotonic() + SCRAPE_WAIT_SECONDS
    for _ in range(3):  # another stop between finishing and reading: rarer still
        left = max(0.0, deadline - time.monotonic())
        with folder_lock(folder, shared=True, wait_seconds=left) as locked:
            if not locked:
                raise FolderBusy(f"a merge held {folder} for {SCRAPE_WAIT_SECONDS:g} s")
            if not _stopped(folder):
                yield
                return
        _finish_stopped(folder, max(0.0, deadline - time.monotonic()))
    raise FolderBusy(f"what a merge stopped halfway left in {folder} is not finished yet")


def _finish_stopped(folder: str, wait_seconds: float) -> None:
    try:
        with folder_lock(folder, shared=False, wait_seconds=wait_seconds) as locked:
            if locked:
                gone = _GoneFiles(folder)
                try:
                    gone.finish_stopped()
                finally:
                    gone.close()
    except Exception as exc:  # the scrape goes on
        log.warning("metrics: a merge stopped halfway in %s not finished: %s", folder, exc)


def _stopped(folder: str) -> list[str]:
    """What merges stopped halfway left: processes' files taken, copies of merged files."""
    return sorted(
        name
        for name in os.listdir(folder)
        if name.startswith(_MERGING) and name.endswith((_TAKEN, _BEFORE, _BEFORE + ".part"))
    )


def _merge_all(folder: str, own: str) -> int:
    merged = 0
    gone = _GoneFiles(folder)
    try:
        gone.finish_stopped()
        for process_id in sorted(_process_ids(folder) - {GONE, own}):
            if merged == MERGED_AT_ONCE:
                break
            try:
                if _merge_if_gone(gone, process_id):
                    merged += 1
            except _Stopped:
                raise  # finished by the next merge or scrape, before anything is added
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
_UNREADABLE = (struct.error, RuntimeError, ValueError)  # json's errors are ValueErrors


#: What a merge writes besides the merged files, named ``merging_<kind>_<process id>``:
#: ``.taken``, the process's file taken out of the sums (renamed: a new process of the
#: same id, a container restarted, makes a file of its own); ``.before``, a copy of the
#: merged file before the process's values are added. Not ``*.db``: a scrape reads those.
_MERGING = "merging_"
_TAKEN = ".taken"
_BEFORE = ".before"


class _Stopped(Exception):
    """A merge could not finish a process's file it had taken: stop, so that nothing is
    added on top before it is finished (``_GoneFiles.finish_stopped``)."""


class _GoneFiles:
    """The merged files of one merge, each opened once (opening reads every key), and the
    rounding margins of their keys."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._files: dict[str, MmapedDict] = {}
        self._margins: dict[str, dict[str, float]] = {}
        self._keys: set[str] = set()

    def merge(self, process_id: str) -> None:
        """Add one gone process's values into the merged files, then remove its files.
        Stopped anywhere, by anything (a kill -9 too), it is finished by the next merge
        or scrape (``finish_stopped``): counted once, never twice nor partly."""
        for kind in SUMMED_KINDS:
            source = os.path.join(self.folder, f"{kind}_{process_id}.db")
            taken = os.path.join(self.folder, f"{_MERGING}{kind}_{process_id}{_TAKEN}")
            try:
                os.rename(source, taken)
            except FileNotFoundError:
                continue
            self._add_taken(kind, taken)

    def finish_stopped(self) -> None:
        """Finish what merges stopped halfway left, before any merged file is opened (a
        copy may replace one): a copy beside a taken file is put back (its values were
        being added), then each taken file is merged; a copy alone belongs to a merge
        that was done, a half-made copy (``.part``) to one that had added nothing. A
        merged file that cannot be read (it broke every scrape) is set aside first: its
        counts are lost (a counter reset, once), not the merges."""
        names = _stopped(self.folder)
        for name in names:
            path = os.path.join(self.folder, name)
            if name.endswith(_BEFORE) and name[: -len(_BEFORE)] + _TAKEN in names:
                kind = name[len(_MERGING) :].partition("_")[0]
                os.replace(path, os.path.join(self.folder, f"{kind}_{GONE}.db"))
            elif not name.endswith(_TAKEN):
                os.unlink(path)
        for kind in SUMMED_KINDS:
            path = os.path.join(self.folder, f"{kind}_{GONE}.db")
            try:
                self._values(path)
            except FileNotFoundError:
                pass
            except _UNREADABLE as exc:
                _set_aside(path, exc)
        for name in names:
            if name.endswith(_TAKEN):
                kind = name[len(_MERGING) :].partition("_")[0]
                self._add_taken(kind, os.path.join(self.folder, name))
                log.warning("metrics: a merge of %s stopped halfway: finished", name)

    def _add_taken(self, kind: str, taken: str) -> None:
        """Add a taken file's values, with a copy of the merged file kept until it is
        removed (whole, or not at all: copied aside, then renamed). Until the copy is
        made nothing is added: what fails there puts the file back in the sums (the other
        processes are merged); what fails after stops the merge (``_Stopped``)."""
        process_file = os.path.join(
            self.folder, os.path.basename(taken)[len(_MERGING) : -len(_TAKEN)] + ".db"
        )
        if _same_file(taken, process_file):  # put back, stopped before its taken name went
            os.unlink(taken)
            return
        before = taken[: -len(_TAKEN)] + _BEFORE
        try:
            try:
                values = self._values(taken)
            except _UNREADABLE as exc:  # /metrics could not read it either: set aside
                _set_aside(taken, exc, process_file)
                return
            gone = self._file(kind)
            _reserve(gone, [key for key, _value, _timestamp, _position in values])
            for key, _value, _timestamp, _position in values:
                gone.read_value(key)  # every key's place made: adding writes in place
            shutil.copyfile(os.path.join(self.folder, f"{kind}_{GONE}.db"), before + ".part")
            os.replace(before + ".part", before)
        except Exception:
            _put_back(taken, process_file)
            raise
        try:
            self._add_now(kind, values)
            os.unlink(taken)  # done: from here the copy is only left to remove
        except Exception as exc:
            raise _Stopped(f"{taken}: {exc!r}") from exc
        os.unlink(before)

    def _file(self, kind: str) -> MmapedDict:
        if kind not in self._files:
            self._margins[kind] = _rounding_margins(self.folder, kind)
            path = os.path.join(self.folder, f"{kind}_{GONE}.db")
            descriptor = _opened(path)
            try:  # on the disk before it is written through its mapping (``_reserve``)
                size = os.fstat(descriptor).st_size
                try:
                    os.posix_fallocate(descriptor, 0, size or _FIRST_SIZE)
                except OSError:
                    if not size:  # made here: not left empty, which a scrape cannot read
                        os.unlink(path)
                    raise
            finally:
                os.close(descriptor)
            self._files[kind] = MmapedDict(path)
        return self._files[kind]

    def _values(self, path: str) -> list[tuple[str, float, float, int]]:
        """A file's values, if /metrics can read them: each key JSON of the four parts
        prometheus-client writes (a zeroed entry, a host that crashed, is not); else one of
        ``_UNREADABLE``. Each key is parsed once a merge."""
        values = list(MmapedDict.read_all_values_from_file(path))
        for key, _value, _timestamp, _position in values:
            if key in self._keys:
                continue
            parts = json.loads(key)
            if not isinstance(parts, list) or len(parts) != 4:
                raise ValueError(f"a key /metrics cannot read: {key[:60]!r}")
            self._keys.add(key)
        return values

    def _add_now(self, kind: str, values: list[tuple[str, float, float, int]]) -> None:
        gone, margins = self._files[kind], self._margins[kind]
        for key, value, timestamp, _position in values:
            total, _ = gone.read_value(key)
            gone.write_value(key, total + value + margins.get(key, 0.0), timestamp)

    def close(self) -> None:
        for gone in self._files.values():
            gone.close()


#: The size prometheus-client gives a new file (its ``_INITIAL_MMAP_SIZE``; it takes the
#: size a file has).
_FIRST_SIZE = 1 << 16


def _reserve(gone: MmapedDict, keys: list[str]) -> None:
    """Put on the disk the room the merged file needs for the keys it lacks, before it
    is written through its mapping: on a full folder (a tmpfs) a write to a page the file
    has no room for kills the process (SIGBUS), here gunicorn's master; this raises
    ENOSPC instead. Grows the file as ``MmapedDict`` would (doubling), its internals."""
    needed = 0
    for key in set(keys):
        if key not in gone._positions:
            encoded = len(key.encode("utf-8"))
            needed += 4 + encoded + (8 - (encoded + 4) % 8) + 16
    capacity = gone._capacity
    while gone._used + needed > capacity:
        capacity *= 2
    os.posix_fallocate(gone._f.fileno(), 0, capacity)  # the holes of the file as it is too
    if capacity != gone._capacity:
        gone._capacity = capacity
        gone._m = mmap.mmap(gone._f.fileno(), capacity)


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samefile(path, other)
    except FileNotFoundError:
        return False


def _put_back(taken: str, process_file: str) -> None:
    """A taken file back in the sums, under its process's name, unless a new process of
    that id made one meanwhile (then it stays taken, and the next merge tries again)."""
    try:
        os.link(taken, process_file)
    except OSError as exc:
        log.warning("metrics: %s not put back as %s: %s", taken, process_file, exc)
        return
    os.unlink(taken)


def _set_aside(path: str, exc: Exception, named: str = "") -> None:
    """Rename a file that cannot be read ``<named or path>.unreadable``."""
    aside = (named or path) + ".unreadable"
    os.replace(path, aside)
    log.error("metrics: %s cannot be read (%s): set aside as %s", named or path, exc, aside)


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
    files = [
        name
        for name in os.listdir(folder)
        if (name.startswith(f"{kind}_") and name.endswith(".db"))
        or (name.startswith(f"{_MERGING}{kind}_") and name.endswith(_TAKEN))
    ]
    for name in files:
        try:
            found = MmapedDict.read_all_values_from_file(os.path.join(folder, name))
            for key, value, _timestamp, _position in found:
                sums[key] = sums.get(key, 0.0) + abs(value)
                whole[key] = whole.get(key, True) and float(value).is_integer()
        except (FileNotFoundError, *_UNREADABLE):
            continue  # set aside when its process is merged, or ended meanwhile
    count = len(files) + 1
    return {key: 2 * count * _EPSILON * total for key, total in sums.items() if not whole[key]}
