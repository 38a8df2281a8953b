"""The metrics folder: the counts of processes that ended are merged, those of live ones
kept, and /metrics adds up the same (never lower) before and after.

Real processes count into a folder of their own, as gunicorn's workers do (each a fresh
interpreter with PROMETHEUS_MULTIPROC_DIR set before prometheus-client loads).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from lti_tool import metrics_files
from lti_tool.observability import metrics_process_id

#: A process that counts: 3 launches and 2 requests of 0.1 s, then waits for a line on
#: its standard input (alive) or ends at once.
COUNTING = """
import sys
import threading
from types import SimpleNamespace
from typing import Any
from lti_tool import metrics
metrics.LAUNCHES.inc(3)
for _ in range(2):
    metrics.REQUEST_SECONDS.labels(endpoint="learner.home", method="GET").observe(0.1)
print("counted", flush=True)
if sys.argv[1] == "stay":
    sys.stdin.readline()
"""


def _counting(folder: Path, stay: bool) -> subprocess.Popen[str]:
    process = subprocess.Popen(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", COUNTING, "stay" if stay else "end"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "counted\n"
    return process


def _sums(folder: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(MultiProcessCollector(None, path=str(folder))).decode()  # type: ignore[arg-type]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _launches(folder: Path) -> float:
    return _sums(folder)[("laeringslop_lti_launches_total", ())]


def _files(folder: Path) -> set[str]:
    return {name for name in os.listdir(folder) if name.endswith(".db")}


def _ended(folder: Path) -> int:
    """A process that counted and ended; its pid."""
    process = _counting(folder, stay=False)
    process.communicate(timeout=30)
    assert process.returncode == 0
    return process.pid


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "metrics"
    made.mkdir()
    return made


def test_the_counts_of_ended_processes_are_merged_and_live_ones_kept(folder):
    alive = _counting(folder, stay=True)
    try:
        live_id = metrics_process_id(alive.pid)
        first = metrics_process_id(_ended(folder))
        assert _files(folder) == {
            f"{kind}_{process}.db"
            for kind in ("counter", "histogram")
            for process in (live_id, first)
        }
        before = _sums(folder)
        assert _launches(folder) == 6

        assert metrics_files.merge_gone(str(folder)) == 1
        assert metrics_files.merge_gone(str(folder)) == 0  # the live one is not gone

        assert _files(folder) == {
            f"counter_{live_id}.db",
            f"histogram_{live_id}.db",
            "counter_gone.db",
            "histogram_gone.db",
        }
        assert {name for name in os.listdir(folder) if name.startswith("life_")} == {
            f"life_{live_id}.lock"  # the ended one's went with its files
        }
        after = _sums(folder)
        assert after.keys() == before.keys()
        for sample, value in before.items():
            assert after[sample] >= value  # never lower: Prometheus would see a reset
            assert math.isclose(after[sample], value, rel_tol=1e-9)
        count = ("laeringslop_http_request_duration_seconds_count",)
        assert after[(*count, (("endpoint", "learner.home"), ("method", "GET")))] == 4

        # A process that starts merges those that ended before it.
        second = metrics_process_id(_ended(folder))
        assert f"counter_{second}.db" in _files(folder)
        third = metrics_process_id(_ended(folder))
        assert f"counter_{second}.db" not in _files(folder)
        assert f"counter_{third}.db" in _files(folder)
        assert _launches(folder) == 12
    finally:
        alive.communicate("\n", timeout=30)
    assert metrics_files.merge_gone(str(folder)) == 2  # the third and, now, the live one
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}
    assert _launches(folder) == 12


def test_files_from_before_life_locks_are_merged_once_their_process_is_gone(folder):
    """Files of a version without life locks (an upgrade): a pid of this host is gone
    when it no longer runs; another host's process (a container not yet stopped) when its
    files have not been written for ten minutes; this process's are kept."""
    ended_id = metrics_process_id(_ended(folder))
    (life,) = folder.glob("life_*.lock")
    life.unlink()  # as an older version left it
    for kind in ("counter", "histogram"):
        source = folder / f"{kind}_{ended_id}.db"
        (folder / f"{kind}_{metrics_process_id()}.db").write_bytes(source.read_bytes())
        (folder / f"{kind}_otherhost-1.db").write_bytes(source.read_bytes())
        (folder / f"{kind}_otherhost-2.db").write_bytes(source.read_bytes())
        _left_long_ago(folder / f"{kind}_otherhost-2.db")
    (folder / "histogram_otherhost-1.db").unlink()  # only its counter was written lately
    _left_long_ago(folder / "counter_otherhost-1.db")
    os.utime(folder / "counter_otherhost-1.db")  # written just now
    assert _launches(folder) == 12

    assert metrics_files.merge_gone(str(folder)) == 2  # the ended pid and otherhost-2
    assert _files(folder) == {
        f"counter_{metrics_process_id()}.db",
        f"histogram_{metrics_process_id()}.db",
        "counter_otherhost-1.db",
        "counter_gone.db",
        "histogram_gone.db",
    }
    _left_long_ago(folder / "counter_otherhost-1.db")
    assert metrics_files.merge_gone(str(folder)) == 1
    assert _launches(folder) == 12


def test_a_folder_that_cannot_be_merged_is_logged_not_raised(folder, caplog):
    """It runs in gunicorn's master and at a worker's start, which must go on."""
    _ended(folder)
    (folder / ".merge.lock").unlink()
    (folder / ".merge.lock").mkdir()  # its lock cannot be opened (as a full or read-only folder)
    assert metrics_files.merge_gone(str(folder)) == 0
    assert "not merged" in caplog.text
    assert _launches(folder) == 3


def test_a_scrape_never_reads_the_folder_while_it_is_merged(folder, monkeypatch):
    """/metrics takes the folder's lock shared, a merge exclusively: a scrape in the
    middle of a merge could count a process twice, or not at all (a fall)."""
    from lti_tool import metrics

    _ended(folder)
    monkeypatch.setattr(metrics, "MULTIPROCESS_DIR", str(folder))
    answered: list[bytes] = []
    with metrics_files.folder_lock(str(folder), shared=False, wait_seconds=0) as locked:
        assert locked  # as a merge holds it
        scrape = threading.Thread(target=lambda: answered.append(metrics.exposition()))
        scrape.start()
        scrape.join(timeout=0.5)
        assert scrape.is_alive() and not answered
    scrape.join(timeout=30)
    assert b"laeringslop_lti_launches_total 3.0" in answered[0]


def test_a_scrape_held_too_long_by_a_merge_is_refused_not_held(folder, monkeypatch):
    """A merging process paused (SIGSTOP, a container paused) would hold a thread of
    every process that is scraped: the scrape gives up, and /metrics answers 503."""
    from lti_tool import metrics

    monkeypatch.setattr(metrics, "MULTIPROCESS_DIR", str(folder))
    monkeypatch.setattr(metrics_files, "SCRAPE_WAIT_SECONDS", 0.3)
    with metrics_files.folder_lock(str(folder), shared=False, wait_seconds=0) as locked:
        assert locked
        started = time.monotonic()
        busy = answered_within(metrics.exposition, 10)
        assert isinstance(busy, metrics_files.FolderBusy), busy
        assert 0.3 <= time.monotonic() - started < 5
    metrics.exposition()  # the merge over


def answered_within(call: Any, seconds: float) -> Any:
    """What ``call`` returns or raises, in a thread of its own: one that waits for good
    fails the test (after ``seconds``) rather than hang it."""
    answer: list[Any] = []

    def run() -> None:
        try:
            answer.append(call())
        except Exception as exc:
            answer.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    return answer[0]


def test_gunicorn_s_master_merges_a_worker_s_counts_when_it_ends(folder, monkeypatch):
    """A worker replaced at a reload may end after its successor started (it finishes
    its requests first): the master merges it then, not at the next start."""
    from lti_tool import gunicorn_conf

    pid = _ended(folder)
    assert f"counter_{metrics_process_id(pid)}.db" in _files(folder)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=pid))
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}
    assert _launches(folder) == 3


def test_a_file_that_cannot_be_read_is_set_aside_and_processes_still_start(folder, caplog):
    """An empty file (a process ended as it made it) or a damaged one broke every scrape,
    and read by a starting worker's merge it would stop gunicorn ("Worker failed to
    boot"): an ended process's is set aside, and so is a damaged merged file."""
    (folder / "counter_otherhost-1.db").write_bytes(b"")
    _left_long_ago(folder / "counter_otherhost-1.db")
    damaged = struct.pack("i", 4096) + bytes(60)  # says 4 kB are used, holds 64 bytes
    (folder / "histogram_gone.db").write_bytes(damaged)
    _ended(folder)  # its start merged (and set aside) what it could not read

    assert (folder / "counter_otherhost-1.db.unreadable").exists()
    assert (folder / "histogram_gone.db.unreadable").exists()
    assert _launches(folder) == 3  # a scrape reads the folder again
    _ended(folder)
    assert _launches(folder) == 6
    assert _files(folder) == {
        "counter_gone.db",
        "histogram_gone.db",
        *(f"{kind}_{process}.db" for kind in ("counter", "histogram") for process in _ids(folder)),
    }


def _left_long_ago(path: Path) -> None:
    """Written last an hour ago (another host's process without a life lock: gone)."""
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))


def _ids(folder: Path) -> set[str]:
    return {
        name[len("life_") : -len(".lock")]
        for name in os.listdir(folder)
        if name.startswith("life_")
    }


def test_a_merged_sum_of_seconds_never_reads_lower_than_before(folder):
    """Merging changes the order a scrape adds the files up in, and a sum of seconds (not
    a whole number) may come out a last digit lower: a counter reset to Prometheus. With
    live processes' sums far above the merged ones, 38 of 300 merges read lower before
    the margin (a second reader's trial)."""
    key = mmap_key("h", "h_sum", [], [], "h")

    def put(name: str, value: float) -> None:
        written = MmapedDict(str(folder / name))
        written.write_value(key, value, 0.0)
        written.close()

    def total() -> float:
        (family,) = MultiProcessCollector(None, path=str(folder)).collect()  # type: ignore[arg-type]
        (sample,) = [sample for sample in family.samples if sample.name == "h_sum"]
        return float(sample.value)

    chance = random.Random(3)
    lower = 0
    for _ in range(100):
        for name in os.listdir(folder):
            os.unlink(folder / name)
        put("histogram_gone.db", chance.uniform(0, 10))
        put("histogram_otherhost-5.db", chance.uniform(0, 1))
        _left_long_ago(folder / "histogram_otherhost-5.db")
        put(f"histogram_{metrics_process_id()}.db", chance.uniform(0, 1e6))
        put(f"histogram_{metrics_process_id(1)}.db", chance.uniform(0, 1e6))  # pid 1 runs
        before = total()
        assert metrics_files.merge_gone(str(folder)) == 1
        after = total()
        lower += after < before
        assert math.isclose(after, before, rel_tol=1e-9)
    assert lower == 0


def test_a_merge_does_not_wait_on_a_scrape_longer_than_it_was_given(folder):
    """gunicorn's master merges when a worker ends and must not wait on scrapes."""
    _ended(folder)
    merged: list[int] = []

    def merge(wait_seconds: float) -> float:
        """A merge in a thread of its own: one that waited for good fails, not hangs."""
        started = time.monotonic()
        merging = threading.Thread(
            target=lambda: merged.append(
                metrics_files.merge_gone(str(folder), wait_seconds=wait_seconds)
            )
        )
        merging.daemon = True  # never holds the test run open
        merging.start()
        merging.join(timeout=10)
        assert not merging.is_alive(), "the merge waited on the scrape"
        return time.monotonic() - started

    with metrics_files.folder_lock(str(folder), shared=True, wait_seconds=0):  # a scrape
        assert 0.3 <= merge(0.3) < 5
        merge(0)
    assert merged == [0, 0]
    assert metrics_files.merge_gone(str(folder)) == 1


def test_a_life_lock_without_files_is_removed_once_its_process_ended(folder):
    """A process ended between taking its life lock and making its first file."""
    (folder / "life_otherhost-9.lock").touch()
    assert metrics_files.merge_gone(str(folder)) == 1
    assert not _ids(folder)


#: A merge killed (kill -9) halfway through an ended process's counter file: once it
#: took the file out of the sums ("taken"), after adding one of its values into the
#: merged file ("adding"), or after removing the taken file, the copy of the merged file
#: not yet ("removed"). With "slowly", it says "adding" and waits 2.5 s before it dies.
KILLED_MERGE = """
import os
import signal
import sys
import time
from prometheus_client.mmap_dict import MmapedDict
from lti_tool import metrics_files
folder, where = sys.argv[1:3]
def die():
    if "slowly" in sys.argv:
        print("adding", flush=True)
        time.sleep(2.5)
    os.kill(os.getpid(), signal.SIGKILL)
if where == "taken":
    rename = os.rename
    def rename_and_die(source, target):
        rename(source, target)
        die()
    os.rename = rename_and_die
elif where == "adding":
    write = MmapedDict.write_value
    def write_and_die(self, key, value, timestamp):
        write(self, key, value, timestamp)
        die()
    MmapedDict.write_value = write_and_die
else:
    unlink = os.unlink
    def unlink_and_die(path):
        unlink(path)
        if path.endswith(".taken"):
            die()
    os.unlink = unlink_and_die
metrics_files.merge_gone(folder)
"""


def _killed_merge(folder: Path, where: str, *, slowly: bool = False) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return subprocess.Popen(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", KILLED_MERGE, str(folder), where, *(["slowly"] if slowly else [])],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )


def _merge_killed(folder: Path, where: str) -> int:
    """Run KILLED_MERGE to its end; its return code."""
    with _killed_merge(folder, where) as merging:
        return merging.wait(timeout=60)


def _scraped_launches(folder: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    """The launches /metrics answers (``metrics.exposition``), not the folder's files read
    as they are."""
    from lti_tool import metrics

    monkeypatch.setattr(metrics, "MULTIPROCESS_DIR", str(folder))
    text = metrics.exposition().decode()
    [line] = [x for x in text.splitlines() if x.startswith("laeringslop_lti_launches_total ")]
    return float(line.split()[1])


def _merging(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("merging_"))


@pytest.mark.parametrize("where", ["taken", "adding", "removed"])
def test_a_merge_killed_halfway_counts_its_process_once(folder, monkeypatch, where):
    """A kill -9 (the kernel out of memory, a container's stop that timed out) as a
    process merges: the next scrape finishes what it had begun before it reads (rather
    than show that process's counts partly twice, or not at all, then right again: a
    counter that falls is a reset to Prometheus), and counts it once."""
    _ended(folder)
    ended = metrics_process_id(_ended(folder))  # its start merged the first: 3 launches
    assert _launches(folder) == 6
    before = _sums(folder)
    assert _merge_killed(folder, where) == -signal.SIGKILL
    assert _merging(folder)
    if where == "taken":  # out of the sums: the folder read as it is counts too little
        assert _sums(folder) != before
    elif where == "adding":  # some of its values added, the copy of before kept
        assert f"merging_counter_{ended}.before" in _merging(folder)
    else:  # its counts are merged, the copy was left to remove
        assert _sums(folder) == before

    assert _scraped_launches(folder, monkeypatch) == 6
    assert not _merging(folder)
    assert metrics_files.merge_gone(str(folder)) == 1  # what was left of it: its histogram
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}
    assert _launches(folder) == 6
    count = ("laeringslop_http_request_duration_seconds_count",)
    assert _sums(folder)[(*count, (("endpoint", "learner.home"), ("method", "GET")))] == 4

    # A new process of the same id (a container restarted: its pids begin again) counts
    # into a file of its own; the merge of the old one, finished, is not confused by it.
    assert _merge_killed(folder, where) == 0  # nothing left to merge
    (folder / f"counter_{ended}.db").write_bytes((folder / "counter_gone.db").read_bytes())
    assert _scraped_launches(folder, monkeypatch) == 12


def test_a_merge_killed_after_its_process_was_taken_and_a_new_one_of_its_id(folder, monkeypatch):
    """Killed once it took a process's file out of the sums, then a new process of the
    same id makes its file before anything finished the merge: both are counted."""
    _ended(folder)
    ended = metrics_process_id(_ended(folder))
    assert _merge_killed(folder, "adding") == -signal.SIGKILL
    (folder / f"counter_{ended}.db").write_bytes(
        (folder / f"merging_counter_{ended}.taken").read_bytes()
    )
    assert _scraped_launches(folder, monkeypatch) == 9


def test_a_scrape_waiting_on_a_merge_that_is_killed_finishes_it_before_reading(folder, monkeypatch):
    """A scrape that began while the merge held the folder (it waits for it): killed
    meanwhile, the merge is finished before the scrape reads."""
    _ended(folder)
    _ended(folder)
    with _killed_merge(folder, "adding", slowly=True) as merging:
        assert merging.stdout is not None and merging.stdout.readline() == "adding\n"
        assert _scraped_launches(folder, monkeypatch) == 6  # it waited, past the kill
        assert merging.wait(timeout=60) == -signal.SIGKILL
    assert not _merging(folder)


def _ended_twice(folder: Path) -> str:
    """A process that counted and ended, and a copy of its files as another host's
    process gone long ago (``zzz-1``); the first one's id."""
    first = metrics_process_id(_ended(folder))
    for kind in ("counter", "histogram"):
        copy = folder / f"{kind}_zzz-1.db"
        copy.write_bytes((folder / f"{kind}_{first}.db").read_bytes())
        _left_long_ago(copy)
    return first


def test_a_merge_that_fails_halfway_adds_no_other_process_on_top(folder, monkeypatch, caplog):
    """A process's file taken, then an error (here: its copy cannot be removed): the merge
    stops there, and the next one finishes it before it adds anything more."""
    first = _ended_twice(folder)
    unlink = os.unlink

    def refused_once(path: str) -> None:
        if path.endswith(f"merging_counter_{first}.taken") and "refused" not in caplog.text:
            raise PermissionError(13, "refused", path)
        unlink(path)

    monkeypatch.setattr(os, "unlink", refused_once)
    assert metrics_files.merge_gone(str(folder)) == 0
    monkeypatch.undo()
    assert "refused" in caplog.text
    assert (folder / "counter_zzz-1.db").exists()  # not merged on top
    assert _scraped_launches(folder, monkeypatch) == 6
    assert metrics_files.merge_gone(str(folder)) == 2
    assert _launches(folder) == 6
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}


def test_a_merge_that_cannot_copy_puts_the_process_back_and_merges_the_others(
    folder, monkeypatch, caplog
):
    """Nothing added yet (here: the copy of the merged file fails, as on a full disk):
    the process's file goes back into the sums, and the other processes are merged."""
    first = _ended_twice(folder)
    copyfile = shutil.copyfile

    def full_for_the_first(source: str, target: str) -> object:
        if first in target:
            raise OSError(28, "No space left on device", target)
        return copyfile(source, target)

    monkeypatch.setattr(shutil, "copyfile", full_for_the_first)
    assert metrics_files.merge_gone(str(folder)) == 1  # the other one
    monkeypatch.undo()
    assert "No space left on device" in caplog.text
    assert f"counter_{first}.db" in _files(folder)  # back in the sums
    assert not _merging(folder)
    assert _scraped_launches(folder, monkeypatch) == 6
    assert metrics_files.merge_gone(str(folder)) == 1
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}
    assert _launches(folder) == 6


def test_a_damaged_merged_file_does_not_keep_a_stopped_merge_from_finishing(folder):
    """A host that crashed as it merged may leave both: the damaged file is set aside
    (its counts lost, once), and the stopped merge finished, not stuck for good."""
    ended = metrics_process_id(_ended(folder))
    os.rename(folder / f"counter_{ended}.db", folder / f"merging_counter_{ended}.taken")
    damaged = struct.pack("i", 4096) + bytes(60)  # says 4 kB are used, holds 64 bytes
    (folder / "counter_gone.db").write_bytes(damaged)
    assert metrics_files.merge_gone(str(folder)) == 1  # its histogram
    assert (folder / "counter_gone.db.unreadable").exists()
    assert not _merging(folder)
    assert _launches(folder) == 3


def test_a_put_back_stopped_before_its_taken_name_went_counts_the_process_once(folder):
    """Stopped between linking a taken file back and removing its taken name: both names
    are the same file, in the sums once; the taken name goes, nothing is added."""
    ended = metrics_process_id(_ended(folder))
    os.link(folder / f"counter_{ended}.db", folder / f"merging_counter_{ended}.taken")
    assert _launches(folder) == 3
    assert metrics_files.merge_gone(str(folder)) == 1
    assert not _merging(folder)
    assert _launches(folder) == 3


@pytest.mark.parametrize("key", ["", "7", '["a", "b"]'])
def test_a_file_whose_keys_a_scrape_cannot_read_is_set_aside_not_merged(folder, key):
    """A zeroed entry (a host that crashed with the folder on its disk) reads as a key
    that is not JSON, or not prometheus-client's: merged, it would break every scrape from
    then on."""
    ended = metrics_process_id(_ended(folder))
    damaged = MmapedDict(str(folder / f"counter_{ended}.db"))
    damaged.write_value(key, 1.0, 0.0)
    damaged.close()
    assert metrics_files.merge_gone(str(folder)) == 1
    assert (folder / f"counter_{ended}.db.unreadable").exists()
    assert _files(folder) == {"histogram_gone.db"}
    _sums(folder)  # a scrape reads the folder


def test_a_full_folder_puts_the_process_back_and_leaves_no_empty_merged_file(
    folder, monkeypatch, caplog
):
    """The room the merged file needs is asked of the disk before it is written through
    its mapping: on a full tmpfs that write killed the process (SIGBUS: here gunicorn's
    master, or every scrape). Tried on a full 512 kB tmpfs: exit 135 before, a warning
    now."""
    _ended(folder)

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    assert metrics_files.merge_gone(str(folder)) == 0
    monkeypatch.undo()
    assert "No space left on device" in caplog.text
    assert not _merging(folder)
    assert not [name for name in _files(folder) if name.endswith("_gone.db")]
    assert _launches(folder) == 3
    assert metrics_files.merge_gone(str(folder)) == 1
    assert _launches(folder) == 3


#: A process that counts refusals of 12,000 reasons (some 1.5 MB of keys: more than the
#: merged file's first 1 MB), then ends.
MANY_KEYS = """
from lti_tool import metrics
for reason in range(12_000):
    metrics.count_refusal(f"a-reason-long-enough-to-need-room-{reason:05d}")
"""


def test_a_merged_file_that_must_grow_on_a_full_folder_puts_the_process_back(
    folder, monkeypatch, caplog
):
    """The merged file exists and the ended process brings more keys than it has room
    for: the room it must grow by is asked of the disk first (``_reserve``). Refused
    (a full tmpfs), nothing is written through the mapping and the process is back in
    the sums; given room, it is merged."""
    _ended(folder)
    assert metrics_files.merge_gone(str(folder)) == 1  # the merged file, 1 MB of room
    subprocess.run(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", MANY_KEYS],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        check=True,
    )
    before = _sums(folder)
    allocate = os.posix_fallocate

    def full_beyond_the_file(fd: int, offset: int, length: int) -> None:
        if offset + length > os.fstat(fd).st_size:
            raise OSError(28, "No space left on device")
        allocate(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", full_beyond_the_file)
    assert metrics_files.merge_gone(str(folder)) == 0
    monkeypatch.undo()
    assert "No space left on device" in caplog.text
    assert not _merging(folder)
    assert _sums(folder) == before  # the process back in the sums, the merged file whole
    assert metrics_files.merge_gone(str(folder)) == 1
    assert _sums(folder) == before


def test_what_merges_that_were_done_or_had_not_begun_left_is_removed(folder):
    """A copy half made (the merge had added nothing), or a copy whose process's file is
    no longer taken (the merge was done): removed, nothing put back."""
    _ended(folder)
    _ended(folder)
    (folder / "merging_counter_otherhost-1.before.part").write_bytes(b"half")
    (folder / "merging_counter_otherhost-2.before").write_bytes(b"not the merged file")
    assert metrics_files.merge_gone(str(folder)) == 1  # the second process
    assert not _merging(folder)
    assert _launches(folder) == 6


def test_a_stop_in_the_middle_of_a_merge_counts_nothing_twice(folder, monkeypatch):
    """A worker told to stop while its start merges (SIGQUIT or Ctrl-C: gunicorn's
    handlers raise SystemExit) between adding an ended process's values and removing its
    file: the stop goes on, and the next merge counts that process once."""
    ended = metrics_process_id(_ended(folder))
    unlink = os.unlink

    def stopped_first(path: str) -> None:
        if os.path.basename(path) == f"merging_counter_{ended}.taken":
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.05)  # the handler runs here
        unlink(path)

    def stop(_number: int, _frame: object) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        monkeypatch.setattr(os, "unlink", stopped_first)
        with pytest.raises(SystemExit):
            metrics_files.merge_gone(str(folder))
    finally:
        signal.signal(signal.SIGUSR1, previous)
        monkeypatch.undo()
    assert metrics_files.merge_gone(str(folder)) == 1  # what was left: its histogram
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}
    assert _launches(folder) == 3
    count = ("laeringslop_http_request_duration_seconds_count",)
    assert _sums(folder)[(*count, (("endpoint", "learner.home"), ("method", "GET")))] == 2


def test_a_merge_takes_a_hundred_processes_at_a_time(folder, monkeypatch):
    """A folder that grew for years holds neither the master nor a starting worker long."""
    monkeypatch.setattr(metrics_files, "MERGED_AT_ONCE", 2)
    source = folder / f"counter_{metrics_process_id(_ended(folder))}.db"
    for number in range(3):
        (folder / f"counter_otherhost-{number}.db").write_bytes(source.read_bytes())
        _left_long_ago(folder / f"counter_otherhost-{number}.db")
    assert _launches(folder) == 12
    assert [metrics_files.merge_gone(str(folder)) for _ in range(3)] == [2, 2, 0]
    assert _files(folder) == {"counter_gone.db", "histogram_gone.db"}
    assert _launches(folder) == 12
