"""What /metrics costs with the files of ended processes in its folder, before and after
they are merged (``lti_tool.metrics_files``).

    .venv/bin/python bench/metrics_folder.py [--ended 200] [--endpoints 120]

This process counts as a long-running web worker would (a request histogram and a
response counter for ``--endpoints`` endpoints, GET and POST), then its two files are
copied ``--ended`` times as the files of ended processes (another host's, without a life
lock: as a worker replaced at a reload leaves them). Prints the CPU of one scrape
(``metrics.exposition``, the mean of 3) with them, the time of the merges
(``MERGED_AT_ONCE`` processes each), the CPU of a scrape after them, and whether every
sum is kept (never lower, within a billionth).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ended", type=int, default=200)
    parser.add_argument("--endpoints", type=int, default=120)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="laeringslop-metrics-bench-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # before prometheus-client loads
    from prometheus_client.parser import text_string_to_metric_families

    from lti_tool import metrics, metrics_files

    for number in range(args.endpoints):
        for method in ("GET", "POST"):
            endpoint = f"bench.endpoint_{number}"
            metrics.REQUEST_SECONDS.labels(endpoint=endpoint, method=method).observe(
                0.001 * (number % 50)
            )
            metrics.RESPONSES.labels(endpoint=endpoint, method=method, status="200").inc(number)

    def scrape() -> tuple[float, dict[tuple[str, str], float]]:
        times = []
        for _ in range(3):
            started = time.process_time()
            text = metrics.exposition().decode()
            times.append(time.process_time() - started)
        sums = {
            (sample.name, str(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return sum(times) / len(times), sums

    own = [name for name in os.listdir(folder) if name.endswith(".db")]
    for number in range(args.ended):
        Path(folder, f"life_ended{number}-1.lock").touch()  # its process gone: not held
        for name in own:
            ended = os.path.join(folder, f"{name.split('_', 1)[0]}_ended{number}-1.db")
            shutil.copy(os.path.join(folder, name), ended)
    before_cpu, before = scrape()
    started = time.perf_counter()
    merged = rounds = 0
    while step := metrics_files.merge_gone(folder, own=metrics.living_process_id()):
        merged += step  # at most MERGED_AT_ONCE a time, as starts and ends come
        rounds += 1
    merge_seconds = time.perf_counter() - started
    after_cpu, after = scrape()
    kept = after.keys() == before.keys() and all(
        after[key] >= value and math.isclose(after[key], value, rel_tol=1e-9)
        for key, value in before.items()
    )
    files = sorted(name for name in os.listdir(folder) if name.endswith(".db"))
    print(f"files of ended processes: {args.ended} × 2, this process's: {len(own)}")
    print(f"a scrape with them: {before_cpu * 1000:.1f} ms CPU ({len(before)} samples)")
    print(f"merged {merged} processes in {rounds} merges, {merge_seconds:.2f} s in all")
    print(f"files now: {', '.join(files[:10])}{' …' if len(files) > 10 else ''}")
    print(f"a scrape after: {after_cpu * 1000:.1f} ms CPU; every sum kept: {kept}")
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if kept and merged == args.ended else 1


if __name__ == "__main__":
    sys.exit(main())
