"""Competence matrix benchmark: a unit's matrix, the organisation's export and figures.

Runs in process (the Flask app and its test client; no gunicorn, no Redis) against the data
of ``coverage_data.py`` (run it first):

    .venv/bin/python bench/coverage_bench.py \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_big] [--runs 30]

It measures p50/p95/max ms of wall time, SQL statements, and the CPU time of the work: this
process's and that of the PostgreSQL backends serving the database (``ServerCpu``), which
the machine's other load does not change:

1. ``services.coverage.unit_matrix`` of the 200-person unit ``BENCH_UNIT`` (one page, the
   figures of every page), called directly;
2. the same over HTTP as the unit's granted manager after a real signed launch: the page
   ``/manager/units/<id>/matrix`` and ``/api/v1/units/<id>/coverage`` (the latter with a
   read token), when those routes exist (they are looked up in the app's URL map; skipped
   with a message otherwise);
3. new evidence on the big data: ``services.evidence.record_evidence`` of a knowledge
   test for a cell of the unit that is not met (the holding's upsert), then the unit's
   matrix again, which must show the cell met; rolled back each time;
4. streaming the whole big organisation's matrix: ``headings`` and ``matrix_rows`` over all
   its 20,000 people, in a child process so that its peak RSS (``getrusage``) is its own;
   with ``--tracemalloc`` also the peak of Python allocations (slower);
5. when the routes exist: the unit's XLSX export, the organisation-wide XLSX (streamed by
   the client, in a child process for its peak RSS, as a whole-organisation manager) and
   the coordinator's figures (``/coordinator/`` as the region's coordinator,
   ``/api/v1/coverage/figures`` with a token; each then again with PostgreSQL on one
   core, ``one_core``, for the work its parallel workers would hide); and, as a baseline
   for the figures, the region's cells counted by status from ``matrix_rows`` (every
   organisation). ``--only-figures``: the figures alone.

Prints a table and keeps the JSON in ``bench/results/`` (not committed). Changes nothing
but the platform's JWKS address, launches and a read token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coverage_data import (  # noqa: E402
    BENCH_CLIENT_ID,
    BENCH_DEPLOYMENT,
    BENCH_ISSUER,
    BENCH_UNIT,
    BIG_ORGANISATION,
    COORDINATOR_SUB,
    DEFAULT_URL,
    GENERATED_AT,
    MANAGER_SUB,
)
from launch_bench import free_port, in_process_app, serve_jwks  # noqa: E402
from mapping_bench import signed_launch, tool_client  # noqa: E402
from sqlalchemy import select  # noqa: E402
from statement_count import count_statements  # noqa: E402

from lti_tool import gunicorn_conf  # noqa: E402
from lti_tool.db import get_session  # noqa: E402
from lti_tool.domain.coverage import CellStatus  # noqa: E402
from lti_tool.lti.demo_platform import DemoPlatform  # noqa: E402
from lti_tool.lti.keys import KeyRing, generate_private_pem  # noqa: E402
from lti_tool.models import Evidence, Organisation, OrgUnit, Platform  # noqa: E402
from lti_tool.services import coverage  # noqa: E402
from lti_tool.services.evidence import record_evidence  # noqa: E402

TOOL_BASE_URL = "https://tool.example"
TARGETS = {
    "unit_matrix": "≤ 150 ms p95",
    "organisation_xlsx": "≤ 15 s, ≤ 300 MB",
    "coordinator_figures": "≤ 500 ms",
}


# --- measuring -----------------------------------------------------------------------------


def measure(
    engine: Any, fn: Callable[[], Any], runs: int, warmup: int = 2, server: ServerCpu | None = None
) -> dict[str, Any]:
    """Wall and CPU time of ``runs`` calls, and the statements of each (all equal, or
    the figures say so); with ``server``, PostgreSQL's CPU time per call too."""
    for _ in range(warmup):
        fn()
    wall, cpu, counts = [], [], []
    with server.measured() if server else nullcontext([0.0]) as server_cpu:
        for _ in range(runs):
            with count_statements(engine) as counted:
                started, started_cpu = time.perf_counter(), time.process_time()
                fn()
                cpu.append(time.process_time() - started_cpu)
                wall.append(time.perf_counter() - started)
            counts.append(counted[0])
    ms = sorted(s * 1000 for s in wall)
    out = {
        "runs": runs,
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[max(0, round(0.95 * len(ms)) - 1)], 1),
        "max_ms": round(ms[-1], 1),
        "cpu_ms": round(statistics.median(cpu) * 1000, 1),
        "statements": sorted(set(counts)) if len(set(counts)) > 1 else counts[0],
    }
    if server:
        out["server_cpu_ms"] = round(server_cpu[0] / runs * 1000, 1)
        out["work_ms"] = round(out["cpu_ms"] + out["server_cpu_ms"], 1)
    return out


class ServerCpu:
    """CPU time PostgreSQL's backends serving the benchmark's database use (read from
    /proc: the server runs on this machine). With the benchmark's own CPU time it is the
    work a request costs, whatever else the machine is busy with."""

    def __init__(self, database_url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.database = url.database
        self.conn = psycopg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        )
        self.ticks = os.sysconf("SC_CLK_TCK")

    def _used(self) -> dict[int, int]:
        pids = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.database,),
        ).fetchall()
        used = {}
        for (pid,) in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # not on this machine, or gone
                continue
            used[pid] = int(fields[11]) + int(fields[12])  # utime + stime
        return used

    @contextmanager
    def measured(self) -> Iterator[list[float]]:
        """The backends' CPU seconds inside the block (in the one element)."""
        found = [0.0]
        before = self._used()
        yield found
        after = self._used()
        found[0] = sum(after[p] - before.get(p, 0) for p in after) / self.ticks

    def close(self) -> None:
        self.conn.close()


@contextmanager
def one_core(engine: Any) -> Iterator[None]:
    """PostgreSQL without parallel workers inside the block. A parallel worker's CPU time
    is not its backend's (``ServerCpu`` reads the backends), so the work of a statement
    PostgreSQL would spread over more cores is measured on one."""

    def serial(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        dbapi_conn.commit()

    engine.dispose()
    event.listen(engine, "connect", serial)
    try:
        yield
    finally:
        event.remove(engine, "connect", serial)
        engine.dispose()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def route(app: Any, *shapes: str) -> str | None:
    """The first of ``shapes`` (a rule as Flask writes it) the app has; None: none."""
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    return next((shape for shape in shapes if shape in rules), None)


# --- the app, the platform, the people -----------------------------------------------------


class Bench:
    def __init__(self, database_url: str, workdir: Path) -> None:
        KeyRing(workdir / "keys", 7).rotate()
        self.app = in_process_app(database_url, workdir, TOOL_BASE_URL)
        self.engine = self.app.extensions["db_engine"]
        self.server = ServerCpu(database_url)
        port = free_port()
        self.platform = DemoPlatform(
            issuer=BENCH_ISSUER,
            client_id=BENCH_CLIENT_ID,
            deployment_id=BENCH_DEPLOYMENT,
            private_pem=generate_private_pem(),
            kid="bench-key",
            tool_launch_url=TOOL_BASE_URL + "/lti/launch",
            tool_login_url=TOOL_BASE_URL + "/lti/login",
        )
        self.jwks = serve_jwks(self.platform, port)
        self.port = port
        gunicorn_conf.tune_gc()  # as a production worker runs (lti_tool/gunicorn_conf.py)
        with self.app.app_context():
            session = get_session()
            registered = session.scalars(
                select(Platform).where(
                    Platform.issuer == BENCH_ISSUER, Platform.client_id == BENCH_CLIENT_ID
                )
            ).one()
            registered.jwks_url = f"http://127.0.0.1:{port}/jwks"
            self.org_id = registered.organisation_id
            assert session.get(Organisation, self.org_id).name == BIG_ORGANISATION  # type: ignore[union-attr]
            self.unit_id = session.scalars(
                select(OrgUnit.id).where(
                    OrgUnit.organisation_id == self.org_id, OrgUnit.code == BENCH_UNIT
                )
            ).one()
            session.commit()

    def close(self) -> None:
        self.server.close()
        self.jwks.shutdown()
        self.engine.dispose()

    def launched(self, persona: str, sub: str | None) -> tuple[Any, str]:
        """A test client after a real signed launch, and its launch token."""
        with self.app.app_context():  # a child process's bench pointed the platform at its own
            session = get_session()
            registered = session.scalars(
                select(Platform).where(
                    Platform.issuer == BENCH_ISSUER, Platform.client_id == BENCH_CLIENT_ID
                )
            ).one()
            registered.jwks_url = f"http://127.0.0.1:{self.port}/jwks"
            session.commit()
        client = tool_client(self.app)
        _path, lt = signed_launch(client, self.platform, persona, None, sub)
        return client, lt

    def token(self) -> str:
        made = self.app.test_cli_runner().invoke(
            args=["api-token", "create", "--organisation", BIG_ORGANISATION, "--scope", "read"]
        )
        assert made.exit_code == 0, made.output
        return str(made.stdout.strip().splitlines()[-1])


def get(client: Any, url: str, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        response = client.get(url, **kwargs)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return run


# --- the parts -----------------------------------------------------------------------------


def unit_matrix_service(bench: Bench, runs: int) -> dict[str, Any]:
    def run() -> coverage.Matrix:
        with bench.app.app_context():
            session = get_session()
            scope = coverage.unit_scope(session, bench.org_id, bench.unit_id, None)
            return coverage.unit_matrix(session, bench.org_id, scope, now=GENERATED_AT)

    out = measure(bench.engine, run, runs, server=bench.server)
    matrix = run()
    out["people"] = matrix.people
    out["columns"] = len(matrix.columns)
    out["cells"] = sum(matrix.counts.values())
    out["coverage"] = matrix.coverage
    return out


def unit_matrix_http(bench: Bench, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    page = route(bench.app, "/manager/units/<int:unit_id>/matrix")
    api = route(bench.app, "/api/v1/units/<int:unit_id>/coverage")
    if page is None and api is None:
        print("  (no matrix page or coverage API on this branch: HTTP skipped)")
        return out
    if page:
        client, lt = bench.launched("learner", MANAGER_SUB)
        url = f"/manager/units/{bench.unit_id}/matrix?lt={lt}"
        out["page"] = measure(bench.engine, get(client, url), runs, server=bench.server)
    if api:
        headers = {"Authorization": f"Bearer {bench.token()}"}
        url = f"/api/v1/units/{bench.unit_id}/coverage"
        client = tool_client(bench.app)
        out["api"] = measure(
            bench.engine, get(client, url, headers=headers), runs, server=bench.server
        )
    return out


def evidence_write(bench: Bench, runs: int) -> dict[str, Any]:
    """Evidence arriving for a cell that is not met, and the matrix showing it met."""
    wall, counts = [], []
    with bench.app.app_context():
        session = get_session()
        scope = coverage.unit_scope(session, bench.org_id, bench.unit_id, None)

        def matrix() -> coverage.Matrix:
            return coverage.unit_matrix(
                session, bench.org_id, scope, now=GENERATED_AT, per_page=1000
            )

        unmet = [
            (row.person_id, cell)
            for row in matrix().rows
            for cell in row.cells
            if cell is not None and cell.status in (CellStatus.GAP, CellStatus.NEVER_ASSESSED)
        ]
        assert len(unmet) >= runs, "too few cells to turn"
        for person_id, cell in unmet[:: max(1, len(unmet) // runs)][:runs]:
            evidence = Evidence(
                organisation_id=bench.org_id,
                person_id=person_id,
                competence_id=cell.competence_id,
                source="knowledge_test",
                level=cell.required_level,
                percentage=90.0,
                recorded_at=GENERATED_AT - dt.timedelta(hours=1),
                detail={},
            )
            with count_statements(bench.engine) as counted:
                started = time.perf_counter()
                record_evidence(session, [evidence])
                wall.append(time.perf_counter() - started)
            counts.append(counted[0])
            row = next(r for r in matrix().rows if r.person_id == person_id)
            now_held = next(c for c in row.cells if c and c.competence_id == cell.competence_id)
            assert now_held.status == CellStatus.MET, (cell, now_held)
            session.rollback()
    ms = sorted(s * 1000 for s in wall)
    return {
        "runs": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "max_ms": round(ms[-1], 1),
        "statements": sorted(set(counts)) if len(set(counts)) > 1 else counts[0],
        "cells_turned_met": len(ms),
    }


@contextmanager
def once(bench: Bench) -> Iterator[dict[str, Any]]:
    """Wall, CPU (here and PostgreSQL's), statements and peak RSS of the block."""
    out: dict[str, Any] = {"rss_before_mb": round(rss_mb(), 1)}
    with count_statements(bench.engine) as counted, bench.server.measured() as server_cpu:
        started, started_cpu = time.perf_counter(), time.process_time()
        yield out
        out["seconds"] = round(time.perf_counter() - started, 2)
        out["cpu_seconds"] = round(time.process_time() - started_cpu, 2)
    out["server_cpu_seconds"] = round(server_cpu[0], 2)
    out["work_seconds"] = round(out["cpu_seconds"] + server_cpu[0], 2)
    out["statements"] = counted[0]
    out["peak_rss_mb"] = round(rss_mb(), 1)


def stream_organisation(database_url: str, traced: bool) -> dict[str, Any]:
    """In the child process: the big organisation's headings and rows, all of them."""
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-coverage-"))
    bench = Bench(database_url, workdir)
    try:
        with bench.app.app_context():
            session = get_session()
            if traced:
                tracemalloc.start()
            with once(bench) as out:
                columns = coverage.headings(session, bench.org_id, None)
                people = cells = 0
                for row in coverage.matrix_rows(session, bench.org_id, None, now=GENERATED_AT):
                    people += 1
                    cells += len(row.cells)
            out.update(people=people, columns=len(columns), cells=cells)
            if traced:
                out["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
                tracemalloc.stop()
        return out
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)


def region_by_streaming(database_url: str) -> dict[str, Any]:
    """In the child process: the region's figures (cells per status and competence, of
    every organisation) counted from ``matrix_rows``: what coordinator figures would cost
    without a summary of their own; a baseline, not the figures' service."""
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-coverage-"))
    bench = Bench(database_url, workdir)
    try:
        with bench.app.app_context():
            session = get_session()
            region_id = session.get(Organisation, bench.org_id).region_id  # type: ignore[union-attr]
            orgs = session.scalars(
                select(Organisation.id).where(Organisation.region_id == region_id)
            ).all()
            counts: dict[tuple[int, str], int] = {}
            people = 0
            with once(bench) as out:
                for org_id in orgs:
                    for row in coverage.matrix_rows(session, org_id, None, now=GENERATED_AT):
                        people += 1
                        for cell in row.cells.values():
                            key = (cell.competence_id, cell.status.value)
                            counts[key] = counts.get(key, 0) + 1
        out.update(organisations=len(orgs), people=people, cells=sum(counts.values()))
        return out
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)


def organisation_xlsx(database_url: str, url: str) -> dict[str, Any]:
    """In the child process: the organisation-wide XLSX over HTTP as a manager of the
    whole organisation (an admin: an LMS-role manager manages no unit until granted), read
    as it streams."""
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-coverage-"))
    bench = Bench(database_url, workdir)
    try:
        client, lt = bench.launched("admin", None)
        with once(bench) as out:
            response = client.get(f"{url}?lt={lt}", buffered=False)
            assert response.status_code == 200, response.status_code
            size = sum(len(chunk) for chunk in response.iter_encoded())
            response.close()
        out.update(url=url, bytes=size)
        return out
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)


def child(database_url: str, *args: str) -> dict[str, Any]:
    """Run one part in a fresh process (its peak RSS its own) and read its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def exports_and_figures(bench: Bench, database_url: str, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unit_xlsx = route(bench.app, "/manager/units/<int:unit_id>/export.xlsx")
    if unit_xlsx:
        client, lt = bench.launched("learner", MANAGER_SUB)
        url = f"/manager/units/{bench.unit_id}/export.xlsx?lt={lt}"
        out["unit_xlsx"] = measure(
            bench.engine, get(client, url), max(3, runs // 5), warmup=1, server=bench.server
        )
    else:
        print("  (no unit XLSX export on this branch: skipped)")
    whole = [
        rule.rule
        for rule in bench.app.url_map.iter_rules()
        if rule.rule.endswith(".xlsx") and "<" not in rule.rule
    ]
    if whole:
        out["organisation_xlsx"] = child(database_url, "--part", "xlsx", "--url", whole[0])
    else:
        print("  (no organisation-wide XLSX on this branch: skipped)")
    out |= figures(bench, runs)
    if not out.get("coordinator_page") and not out.get("figures_api"):
        print("  (no coordinator figures on this branch: skipped)")
    out["region_by_streaming"] = child(database_url, "--part", "region")
    return out


def figures(bench: Bench, runs: int) -> dict[str, Any]:
    """The coordinator's page (the region) and the figures API (the big municipality,
    with a token): as the server runs them, then on one core for the work."""
    out: dict[str, Any] = {}
    page = route(bench.app, "/coordinator/")
    api = route(bench.app, "/api/v1/coverage/figures")
    calls: dict[str, Callable[[], Any]] = {}
    if page:
        client, lt = bench.launched("learner", COORDINATOR_SUB)
        calls["coordinator_page"] = get(client, f"{page}?lt={lt}")
    if api:
        headers = {"Authorization": f"Bearer {bench.token()}"}
        calls["figures_api"] = get(tool_client(bench.app), api, headers=headers)
    for name, call in calls.items():
        out[name] = measure(bench.engine, call, runs, server=bench.server)
    with one_core(bench.engine):
        for name, call in calls.items():
            out[f"{name}_one_core"] = measure(bench.engine, call, runs, server=bench.server)
    return out


# --- the table -----------------------------------------------------------------------------


HEADER = [
    "| measured | wall p50 / time | wall p95 | CPU here + PostgreSQL = work | statements "
    "| memory |",
    "|---|---|---|---|---|---|",
]


def figures_lines(lines: list[str], found: dict[str, Any]) -> None:
    for key, name in (
        ("coordinator_page", "coordinator page (HTTP)"),
        ("figures_api", "coverage figures API (HTTP)"),
    ):
        for suffix, how in (("", ""), ("_one_core", ", PostgreSQL on one core")):
            if key + suffix in found:
                figures = found[key + suffix]
                lines.append(
                    f"| {name}{how} | {figures['p50_ms']} ms | {figures['p95_ms']} ms | "
                    f"{figures['cpu_ms']} + {figures['server_cpu_ms']} = "
                    f"{figures['work_ms']} ms | {figures['statements']} | |"
                )


def table(results: dict[str, Any]) -> str:
    lines = HEADER[:]

    def timed_line(name: str, figures: dict[str, Any]) -> None:
        lines.append(
            f"| {name} | {figures['p50_ms']} ms | {figures['p95_ms']} ms | "
            f"{figures['cpu_ms']} + {figures['server_cpu_ms']} = {figures['work_ms']} ms | "
            f"{figures['statements']} | |"
        )

    def once_line(name: str, figures: dict[str, Any]) -> None:
        memory = f"peak RSS {figures['peak_rss_mb']} MB (from {figures['rss_before_mb']})"
        if "tracemalloc_peak_mb" in figures:
            memory += f", tracemalloc {figures['tracemalloc_peak_mb']} MB"
        lines.append(
            f"| {name} | {figures['seconds']} s | | {figures['cpu_seconds']} + "
            f"{figures['server_cpu_seconds']} = {figures['work_seconds']} s | "
            f"{figures['statements']} | {memory} |"
        )

    timed_line("unit_matrix, 200 people (service)", results["unit_matrix"])
    for key, name in (("page", "matrix page (HTTP)"), ("api", "coverage API (HTTP)")):
        if key in results["unit_matrix_http"]:
            timed_line(name, results["unit_matrix_http"][key])
    write = results["evidence_write"]
    lines.append(
        f"| record_evidence, 1 record, then the cell shows met ({write['runs']}×) | "
        f"{write['p50_ms']} ms | max {write['max_ms']} ms | | {write['statements']} | |"
    )
    stream = results["stream"]
    once_line(f"matrix_rows, {stream['people']:,} people, {stream['cells']:,} cells", stream)
    extra = results["exports_and_figures"]
    if "unit_xlsx" in extra:
        timed_line("unit XLSX (HTTP)", extra["unit_xlsx"])
    if "organisation_xlsx" in extra:
        once_line("organisation XLSX (HTTP, streamed)", extra["organisation_xlsx"])
    figures_lines(lines, extra)
    region = extra["region_by_streaming"]
    once_line(
        f"baseline: region's figures counted from matrix_rows ({region['organisations']} "
        f"organisations, {region['people']:,} people)",
        region,
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=30, help="Timed runs of each request.")
    parser.add_argument("--tracemalloc", action="store_true", help="Trace the streaming too.")
    parser.add_argument(
        "--only-figures", action="store_true", help="Only the coordinator's figures."
    )
    parser.add_argument("--part", choices=("stream", "xlsx", "region"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    if args.part == "stream":
        print(json.dumps(stream_organisation(url, args.tracemalloc)))
        return 0
    if args.part == "region":
        print(json.dumps(region_by_streaming(url)))
        return 0
    if args.part == "xlsx":
        print(json.dumps(organisation_xlsx(url, args.url)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-coverage-"))
    bench = Bench(url, workdir)
    results: dict[str, Any] = {"runs": args.runs}
    try:
        if args.only_figures:
            print("coordinator figures …", flush=True)
            results["figures"] = figures(bench, args.runs)
            lines = HEADER[:]
            figures_lines(lines, results["figures"])
            print(json.dumps(results, indent=2))
            print("\n".join(lines))
            return 0
        print("unit_matrix (service) …", flush=True)
        results["unit_matrix"] = unit_matrix_service(bench, args.runs)
        print("unit matrix over HTTP …", flush=True)
        results["unit_matrix_http"] = unit_matrix_http(bench, args.runs)
        print("new evidence turning cells met …", flush=True)
        results["evidence_write"] = evidence_write(bench, min(args.runs, 20))
        print("organisation-wide matrix_rows (child process) …", flush=True)
        results["stream"] = child(url, "--part", "stream")
        if args.tracemalloc:
            traced = child(url, "--part", "stream", "--tracemalloc")
            results["stream"]["tracemalloc_peak_mb"] = traced["tracemalloc_peak_mb"]
        print("exports and coordinator figures …", flush=True)
        results["exports_and_figures"] = exports_and_figures(bench, url, args.runs)
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)

    print(json.dumps(results, indent=2))
    print(table(results))
    print("Targets: " + "; ".join(f"{k} {v}" for k, v in TARGETS.items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"coverage-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
