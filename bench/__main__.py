"""The benchmark suite: the tool under gunicorn on PostgreSQL and Redis, driven over HTTP.

    .venv/bin/python -m bench all [--flows 400] [--learners 200] [--think 2.0] ...
    .venv/bin/python -m bench soak --minutes 10 [--concurrency 16]

Both create (and empty) the database given (default ``lti_bench_suite``) and flush the
Redis database given, set the tool up with its own commands and services (a platform, a
framework of 400 competences, three job roles requiring 300 of them, 60 activities
developing them, a published mapping of 30 items placed with a gradebook column), start
gunicorn (2 workers × 4 threads, gthread, production's settings from
``lti_tool/gunicorn_conf.py`` without the access log, see ``bench/gunicorn_stats.py``)
and drive it from this process, which plays the LMS and the browsers, on 127.0.0.1 only.

``all`` runs the scenarios and prints one table (see ``bench/README.md``); its launch runs
take turns with a peer tool on pylti1p3 (``bench/peer_pylti1p3.py``, issue 15's
comparison) under the same gunicorn settings, unless ``--no-peer``. ``soak`` runs
mixed traffic (launches, mappings, reports) for the minutes given and reports the errors
and the workers' resident memory over time. The JSON is kept in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from competence_bench import add_page_content  # noqa: E402
from launch_bench import (  # noqa: E402
    bench_platform,
    free_port,
    in_process_app,
    is_check,
    landing_of,
    one_flow,
    prepared_tool,
    serve_jwks,
    start_gunicorn,
    wait_ready,
)
from mapping_bench import CSRF, answer_for, setup_content  # noqa: E402
from peer_pylti1p3 import peer_flow  # noqa: E402

from lti_tool.lti.demo_platform import DemoPlatform, PlacedLink  # noqa: E402
from lti_tool.lti.keys import generate_private_pem  # noqa: E402
from lti_tool.services.launches import MAPPING_PARAM  # noqa: E402

GRADED_LINK = "2"
MAPPING_CODE = "bench-kartlegging"
PEER_NAME = "pylti1p3"  # issue 15's peer: a tool on pylti1p3's Flask API (bench/peer_pylti1p3.py)
ROLES_PERSONA = "learner2"  # the person with 3 job roles and 300 required competences
LAUNCH_PERSONAS = ("learner", "designer", "manager", "admin")  # as launch_bench
TARGETS = {
    "save answer": ("p95", 25.0),
    "submit": ("p95", 100.0),
    "start page /learner/": ("server p95", 30.0),
    "plan page /learner/plan": ("server p95", 30.0),
}


# --- the machine's figures: CPU and memory of processes, from /proc ------------------------


TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_mb(pid: int) -> dict[str, float]:
    """Resident (RSS), proportional (PSS: shared pages divided among their users) and
    unique (USS: private pages) memory of a process, from ``/proc/<pid>/smaps_rollup``."""
    found = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            kb = int(value.split()[0]) if value.split() and value.split()[0].isdigit() else 0
            if name == "Rss":
                found["rss"] = round(kb / 1024, 1)
            elif name == "Pss":
                found["pss"] = round(kb / 1024, 1)
            elif name in ("Private_Clean", "Private_Dirty"):
                found["uss"] = round(found["uss"] + kb / 1024, 1)
    return found


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


# --- the tool under gunicorn ----------------------------------------------------------------


@dataclass
class Served:
    """A tool under gunicorn, measured from ``/proc``; as such, the peer tool
    (``bench/peer_pylti1p3.py``): no database and no per-request log (``Tool`` has both)."""

    base_url: str
    platform: DemoPlatform
    server: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        return sorted(children(self.server.pid))

    def cpu(self) -> float:
        """The gunicorn processes' CPU seconds so far (master and workers)."""
        return cpu_seconds([self.server.pid, *self.workers()])

    def rss(self) -> dict[int, float]:
        return {pid: round(rss_mb(pid), 1) for pid in self.workers()}

    def postgres_cpu(self) -> float | None:
        return None

    def lines(self) -> dict[Path, int]:
        return {}

    def requests_since(self, marks: dict[Path, int]) -> list[tuple[str, float, int]]:
        return []


@dataclass
class Tool(Served):
    """Ours: its database, its workers' request log, and the scenarios' data."""

    stats_dir: Path
    database_url: str
    content: dict[str, Any]

    def postgres_cpu(self) -> float | None:
        """CPU seconds of the PostgreSQL backends serving the bench database, when the
        server runs on this machine (None otherwise)."""
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            ]
        if not pids or not Path(f"/proc/{pids[0]}").exists():
            return None
        return cpu_seconds(pids)

    def lines(self) -> dict[Path, int]:
        """Where each worker's request log ends now."""
        return {p: p.stat().st_size for p in self.stats_dir.glob("*.tsv")}

    def requests_since(self, marks: dict[Path, int]) -> list[tuple[str, float, int]]:
        """(pattern, server ms, statements) of each request since ``marks``."""
        time.sleep(0.2)  # the last lines written
        found = []
        for path in self.stats_dir.glob("*.tsv"):
            with path.open("rb") as f:
                f.seek(marks.get(path, 0))
                for line in f.read().decode().splitlines():
                    pattern, ms, statements = line.split("\t")
                    found.append((pattern, float(ms), int(statements)))
        return found


def setup_data(tool_app: Any, platform: DemoPlatform, mapping_items: int) -> dict[str, Any]:
    """What the scenarios need, through the services: the mapping (``mapping_bench``), the
    framework and job roles of ``competence_bench`` and 60 activities developing 5 of the
    required competences each (so the plan page offers some)."""
    from sqlalchemy import select

    from lti_tool.db import get_session
    from lti_tool.models import Organisation

    with tool_app.app_context():
        session = get_session()
        org_id = session.scalar(select(Organisation.id).where(Organisation.name == "Benchkommune"))
        assert org_id is not None
    content = setup_content(tool_app, org_id, mapping_items)
    with tool_app.app_context():
        session = get_session()
        add_page_content(session, org_id)
        session.commit()
    custom = {MAPPING_PARAM: MAPPING_CODE}
    platform.links[GRADED_LINK] = PlacedLink(
        GRADED_LINK, "Kartlegging", custom, platform.lineitem_url(2)
    )
    return content


@contextlib.contextmanager
def running_tool(args: argparse.Namespace) -> Iterator[Tool]:
    tool_port, jwks_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{tool_port}"
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-suite-"))
    stats_dir = workdir / "stats"
    stats_dir.mkdir()
    platform = bench_platform(
        jwks_port,
        base_url,
        custom_by_persona={ROLES_PERSONA: {"job_role": "ROLE0,ROLE1,ROLE2"}},
    )
    print(f"setting up (load average {load_average()}) …", file=sys.stderr)
    env = prepared_tool(args.database_url, args.redis_url, base_url, workdir, platform)
    env["BENCH_STATS_DIR"] = str(stats_dir)
    # Every flow comes from this one address, under the default limits (6,000 logins a
    # minute per address; launches the platform signed are not counted): a load test
    # from one address is not held back.
    # The tool logs as production does: a JSON access line per request (INFO), each one
    # formatted and written (into the run's folder, not the terminal).
    env["LOG_LEVEL"] = "INFO"
    tool_app = in_process_app(
        args.database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        workdir,
        base_url,
    )
    try:
        content = setup_data(tool_app, platform, args.items)
    finally:
        tool_app.extensions["db_engine"].dispose()
    jwks_server = serve_jwks(platform, jwks_port)
    server = start_gunicorn(
        env,
        tool_port,
        args.workers,
        args.threads,
        config=str(BENCH / "gunicorn_stats.py"),
        log=workdir / "tool.log",
    )
    try:
        started = time.monotonic()
        wait_ready(base_url, server, timeout=args.ready_timeout)
        print(f"gunicorn ready after {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield Tool(base_url, platform, server, stats_dir, args.database_url, content)
    finally:
        server.terminate()
        server.wait(timeout=30)
        jwks_server.shutdown()
        _show_logged_errors(workdir / "tool.log")
        shutil.rmtree(workdir, ignore_errors=True)


def _show_logged_errors(log: Path) -> None:
    """The tool's log goes with the run's folder: what it logged at ERROR is shown first."""
    if not log.exists():
        return
    errors = [line for line in log.open(errors="replace") if '"level": "ERROR"' in line]
    if errors:
        print(f"the tool logged {len(errors)} error(s); the first:", file=sys.stderr)
        print(errors[0].rstrip()[:2000], file=sys.stderr)


def peer_platform(platform: DemoPlatform, base_url: str) -> DemoPlatform:
    """The same LMS (issuer, client, deployment, key, custom parameters, links) with the
    peer's login and launch URLs: its id_tokens carry the claims ours get."""
    return DemoPlatform(
        issuer=platform.issuer,
        client_id=platform.client_id,
        deployment_id=platform.deployment_id,
        private_pem=platform.private_pem,
        kid=platform.kid,
        tool_launch_url=base_url + "/launch",
        tool_login_url=base_url + "/login",
        custom_by_persona=platform.custom_by_persona,
        links=platform.links,
    )


@contextlib.contextmanager
def running_peer(args: argparse.Namespace, platform: DemoPlatform) -> Iterator[Served]:
    """The peer under gunicorn with our settings (``--workers`` × ``--threads``, gthread) on
    a port of its own, registered with ``platform`` (whose JWKS the suite serves), its
    state and nonces in the Redis database given (Flask-Caching's keys beside ours)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-peer-"))
    key_file = workdir / "tool.pem"
    key_file.write_bytes(generate_private_pem())
    env = {
        **os.environ,
        "PEER_ISSUER": platform.issuer,
        "PEER_CLIENT_ID": platform.client_id,
        "PEER_AUTH_URL": platform.auth_url,
        "PEER_TOKEN_URL": platform.token_url,
        "PEER_JWKS_URL": platform.jwks_url,
        "PEER_DEPLOYMENT_ID": platform.deployment_id,
        "PEER_PRIVATE_KEY_FILE": str(key_file),
        "PEER_REDIS_URL": args.redis_url,
        "PEER_CACHE_DIR": str(workdir / "cache"),
    }
    server = start_gunicorn(
        env, port, args.workers, args.threads, app="bench.peer_pylti1p3:create_app()"
    )
    try:
        wait_ready(base_url, server, timeout=args.ready_timeout)
        yield Served(base_url, peer_platform(platform, base_url), server)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


# --- browsers -------------------------------------------------------------------------------


def launched(
    tool: Tool, persona: str, link: str | None = None, sub: str | None = None
) -> tuple[requests.Session, str]:
    """A browser after a real login → id_token → launch (signed here for ``sub``, a person
    of our own, when given); returns it and the landing's address (its cookie keeps the
    browser signed in)."""
    browser = requests.Session()
    platform = tool.platform
    login = browser.get(
        tool.base_url + "/lti/login",
        params=platform.login_params(persona, link=link),
        allow_redirects=False,
    )
    assert login.status_code == 302, login.text[:300]
    if is_check(login.headers["Location"]):
        login = browser.get(tool.base_url + login.headers["Location"], allow_redirects=False)
        assert login.status_code == 302, login.text[:300]
    query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
    claims = platform.launch_claims(persona, nonce=query["nonce"], link=link)
    if sub is not None:
        claims.update(sub=sub, given_name="Bench", family_name=sub, name=f"Bench {sub}")
    form = {"id_token": platform.sign(claims), "state": query["state"]}
    launch = browser.post(tool.base_url + "/lti/launch", data=form, allow_redirects=False)
    return browser, landing_of(launch.status_code, launch.text)


@dataclass
class Learner:
    """One learner through the placed mapping: launch, start, each item, submit."""

    tool: Tool
    sub: str
    rng: random.Random
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    browser: requests.Session | None = None
    token: str = ""
    base: str = ""
    plan: list[int] = field(default_factory=list)

    def timed(self, step: str, call: Callable[[], requests.Response], status: int) -> Any:
        started = time.perf_counter()
        response = call()
        self.times[step].append(time.perf_counter() - started)
        assert response.status_code == status, (step, response.status_code, response.text[:300])
        return response

    def start(self) -> None:
        self.browser, path = launched(self.tool, "learner", GRADED_LINK, self.sub)
        assert path == f"/mappings/{MAPPING_CODE}", path
        url = self.tool.base_url + path
        page = self.browser.get(url)
        assert page.status_code == 200, page.status_code
        found = CSRF.search(page.text)
        assert found, "no CSRF token on the start page"
        self.token = found.group(1)
        started = self.browser.post(
            url + "/attempts",
            data={"csrf_token": self.token},
            allow_redirects=False,
        )
        assert started.status_code == 302, started.text[:300]
        attempt = re.search(r"/mappings/attempts/(\d+)/items/1\b", started.headers["Location"])
        assert attempt, started.headers["Location"]
        self.base = f"{self.tool.base_url}/mappings/attempts/{attempt.group(1)}"
        self.plan = attempt_plan(self.tool.database_url, int(attempt.group(1)))

    def answer(self, position: int, last: bool, think: float) -> None:
        browser = self.browser
        assert browser is not None
        url = f"{self.base}/items/{position}"
        self.timed("item page", lambda: browser.get(url), 200)
        good = self.rng.random() < 0.7
        values = answer_for(self.tool.content["items"][self.plan[position - 1]], good, self.rng)
        if think:
            time.sleep(self.rng.uniform(0.5 * think, 1.5 * think))
            # gunicorn closes a connection idle for 2 s (its keepalive): a browser thinking
            # longer opens a new one, rather than racing the server's close on the old
            browser.close()
        data = {"csrf_token": self.token, "answer": values, "go": "review" if last else "next"}
        self.timed(
            "save answer",
            lambda: browser.post(url, data=data, allow_redirects=False),
            302,
        )

    def finish(self) -> None:
        browser = self.browser
        assert browser is not None
        self.timed("review page", lambda: browser.get(self.base + "/review"), 200)
        self.timed(
            "submit",
            lambda: browser.post(
                self.base + "/submit",
                data={"csrf_token": self.token},
                allow_redirects=False,
            ),
            302,
        )
        self.timed("result page", lambda: browser.get(self.base + "/result"), 200)
        browser.close()


def attempt_plan(database_url: str, attempt_id: int) -> list[int]:
    """The items of an attempt in the order it asks them (read from the database, as the
    browser sees them one page at a time)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT plan FROM attempt WHERE id = %s", [attempt_id]).fetchone()
    assert row is not None
    plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return [entry["item"] for entry in plan]


# --- scenarios ------------------------------------------------------------------------------


def quantiles(samples: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in ms of samples in seconds."""
    if not samples:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ms = sorted(s * 1000 for s in samples)
    if len(ms) == 1:
        return {"p50_ms": ms[0], "p95_ms": ms[0], "p99_ms": ms[0]}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "p99_ms": round(q[98], 1)}


class Measured:
    """CPU of gunicorn and PostgreSQL, and the requests the workers logged, around a block,
    or summed over the blocks it is entered for (the rounds of an interleaved run)."""

    def __init__(self, tool: Served) -> None:
        self.tool = tool
        self.elapsed = 0.0
        self.cpu = 0.0
        self.pg_cpu: float | None = 0.0
        self.requests: list[tuple[str, float, int]] = []

    def __enter__(self) -> Measured:
        self.marks = self.tool.lines()
        self.cpu_before = self.tool.cpu()
        self.pg_before = self.tool.postgres_cpu()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.elapsed += time.perf_counter() - self.started
        self.cpu += self.tool.cpu() - self.cpu_before
        pg_after = self.tool.postgres_cpu()
        if pg_after is None or self.pg_before is None or self.pg_cpu is None:
            self.pg_cpu = None
        else:
            self.pg_cpu += pg_after - self.pg_before
        self.requests += self.tool.requests_since(self.marks)

    def row(self, flows: int, pattern: str | None = None) -> dict[str, Any]:
        """Rates, CPU per flow, statements per request (all, and of ``pattern``'s), server
        times of ``pattern``'s requests."""
        mine = [r for r in self.requests if pattern is None or r[0] == pattern]
        server = quantiles([ms / 1000 for _p, ms, _s in mine])
        return {
            "flows": flows,
            "per_second": round(flows / self.elapsed, 1),
            "cpu_ms_per_flow": round(self.cpu * 1000 / flows, 1),
            "pg_cpu_ms_per_flow": None
            if self.pg_cpu is None
            else round(self.pg_cpu * 1000 / flows, 1),
            "requests": len(self.requests),
            "sql_per_request": round(sum(s for *_x, s in self.requests) / len(self.requests), 1)
            if self.requests
            else None,
            "sql_per_flow": round(sum(s for *_x, s in self.requests) / flows, 1),
            "server_p50_ms": server["p50_ms"],
            "server_p95_ms": server["p95_ms"],
            "statements_by_request": {
                p: round(statistics.mean(counts), 1) for p, counts in _group(self.requests).items()
            },
        }


def _group(rows: list[tuple[str, float, int]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for pattern, _ms, statements in rows:
        grouped[pattern].append(statements)
    return grouped


def guarded(call: Callable[[], Any], errors: Counter[str]) -> Any:
    try:
        return call()
    except Exception as exc:
        errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
        return None


@dataclass
class Contender:
    """A tool in the launch scenario: its server, how one full flow goes, and its figures
    summed over the rounds."""

    server: Served
    flow: Callable[[str, DemoPlatform, str], float]
    pattern: str | None  # the launch POST in the workers' log (None: the peer has no log)
    measured: Measured
    personas: tuple[str, ...] = LAUNCH_PERSONAS
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    rounds: list[dict[str, float]] = field(default_factory=list)
    done: int = 0

    def one(self, i: int) -> float | None:
        persona = self.personas[i % len(self.personas)]
        server = self.server
        return guarded(lambda: self.flow(server.base_url, server.platform, persona), self.errors)

    def run(self, flows: int, concurrency: int) -> None:
        """One round: ``flows`` flows at ``concurrency``, measured."""
        cpu, elapsed = self.measured.cpu, self.measured.elapsed
        numbers = range(self.done, self.done + flows)
        with self.measured, ThreadPoolExecutor(max_workers=concurrency) as pool:
            self.latencies += [t for t in pool.map(self.one, numbers) if t is not None]
        self.done += flows
        took = self.measured.elapsed - elapsed
        self.rounds.append(
            {
                "flows": flows,
                "per_second": round(flows / took, 1),
                "cpu_ms_per_flow": round((self.measured.cpu - cpu) * 1000 / flows, 1),
            }
        )

    def result(self) -> dict[str, Any]:
        return {
            **self.measured.row(self.done, self.pattern),
            **quantiles(self.latencies),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "rounds": self.rounds,
        }


def scenario_launches(
    tool: Tool,
    flows: int,
    concurrency: int,
    peer: Served | None = None,
    rounds: int = 1,
    personas: tuple[str, ...] = LAUNCH_PERSONAS,
) -> list[dict[str, Any]]:
    """Full flows (ours: login → check → launch → first page; the peer's: login's cookie
    check page → its reload → launch and its page), ``personas`` in turn, after 16 not
    counted. With a peer, the two take turns: ``rounds`` rounds each, ours first in each,
    the ``flows`` split over them. Returns ours, then the peer's."""
    contenders = [Contender(tool, one_flow, "POST /lti/launch", Measured(tool), personas)]
    if peer is not None:
        contenders.append(Contender(peer, peer_flow, None, Measured(peer), personas))
    for contender in contenders:  # warm-up
        for i in range(16):
            contender.one(i)
        contender.errors.clear()
    shares = [flows // rounds + (1 if r < flows % rounds else 0) for r in range(rounds)]
    for share in shares:
        for contender in contenders:
            contender.run(share, concurrency)
    return [contender.result() for contender in contenders]


def scenario_page(tool: Tool, path: str, requests_: int) -> dict[str, Any]:
    """One person (3 job roles, 300 required competences) asking for a page, one at a time."""
    browser, _landing = launched(tool, ROLES_PERSONA)
    url = tool.base_url + path
    errors: Counter[str] = Counter()

    def get() -> float:
        started = time.perf_counter()
        response = browser.get(url)
        assert response.status_code == 200, response.status_code
        return time.perf_counter() - started

    for _ in range(5):
        get()
    with Measured(tool) as m:
        latencies = [t for _ in range(requests_) if (t := guarded(get, errors)) is not None]
    browser.close()
    return {
        **m.row(requests_, "GET " + path),
        **quantiles(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


def scenario_mapping(tool: Tool, learners: int, think: float, seed: int) -> dict[str, Any]:
    """``learners`` learners launched and started (not measured), then all answering the
    mapping at once, each with a think time, then submitting; the database checked after."""
    rng = random.Random(seed)
    people = [
        Learner(tool, f"bench-{seed}-{n:04d}", random.Random(rng.random())) for n in range(learners)
    ]
    errors: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda p: guarded(p.start, errors), people))
    ready = [p for p in people if p.base]
    items = len(tool.content["items"])

    def answer_all(person: Learner) -> None:
        time.sleep(person.rng.uniform(0, think))  # not all in the same instant
        for position in range(1, items + 1):
            last = position == items
            guarded(lambda p=position, last=last: person.answer(p, last, think), errors)
        guarded(person.finish, errors)

    with Measured(tool) as m, ThreadPoolExecutor(max_workers=len(ready) or 1) as pool:
        list(pool.map(answer_all, ready))
    times: dict[str, list[float]] = defaultdict(list)
    for person in ready:
        for step, samples in person.times.items():
            times[step].extend(samples)
    checks = check_mapping_data(tool, [p.sub for p in ready], items)
    by_step = {
        step: {
            "n": len(samples),
            **quantiles(samples),
            "server": quantiles([ms / 1000 for p, ms, _s in m.requests if p == pattern_of(step)]),
            "sql": round(statistics.mean(_group(m.requests).get(pattern_of(step), [0])), 1),
        }
        for step, samples in times.items()
    }
    return {
        **m.row(len(ready)),
        "learners": learners,
        "started": len(ready),
        "items": items,
        "think_seconds": think,
        "steps": by_step,
        "errors": sum(errors.values()) + learners - len(ready),
        "error_kinds": dict(errors),
        "checks": checks,
    }


def pattern_of(step: str) -> str:
    return {
        "item page": "GET /mappings/attempts/N/items/N",
        "save answer": "POST /mappings/attempts/N/items/N",
        "review page": "GET /mappings/attempts/N/review",
        "submit": "POST /mappings/attempts/N/submit",
        "result page": "GET /mappings/attempts/N/result",
    }[step]


def check_mapping_data(tool: Tool, subs: list[str], items: int) -> dict[str, Any]:
    """Each learner's attempt has one answer per item (none lost, none twice) and is
    submitted, and the outbox holds exactly one score per learner."""
    import psycopg

    with psycopg.connect(tool.database_url) as conn:
        rows = conn.execute(
            """SELECT p.sub, count(r.id), count(DISTINCT r.item_id),
                      bool_and(a.submitted_at IS NOT NULL),
                      (SELECT count(*) FROM score_delivery s WHERE s.attempt_id = a.id)
               FROM attempt a JOIN person p ON p.id = a.person_id
               LEFT JOIN response r ON r.attempt_id = a.id
               WHERE p.sub = ANY(%s) GROUP BY p.sub, a.id""",
            [subs],
        ).fetchall()
    by_sub = {
        sub: (answers, distinct, done, scores) for sub, answers, distinct, done, scores in rows
    }
    return {
        "learners": len(subs),
        "attempts": len(rows),
        "attempts_with_every_answer": sum(1 for r in by_sub.values() if r[0] == items),
        "answers_lost": sum(max(items - by_sub.get(s, (0,))[0], 0) for s in subs),
        "answers_twice": sum(r[0] - r[1] for r in by_sub.values()),
        "submitted": sum(1 for r in by_sub.values() if r[2]),
        "learners_with_one_score": sum(1 for r in by_sub.values() if r[3] == 1),
        "scores_in_outbox": sum(r[3] for r in by_sub.values()),
    }


# --- the commands ---------------------------------------------------------------------------


def _personas(text: str) -> list[str]:
    chosen = [p for p in text.split(",") if p]
    unknown = set(chosen) - set(LAUNCH_PERSONAS)
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"each one of {', '.join(LAUNCH_PERSONAS)}")
    return chosen


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"load_average_before": load_average(), "scenarios": {}}
    scenarios = results["scenarios"]
    only = set(args.only.split(",")) if args.only else {"launch", "pages", "mapping"}
    with running_tool(args) as tool, contextlib.ExitStack() as stack:
        peer = None
        if args.peer and "launch" in only:
            peer = stack.enter_context(running_peer(args, tool.platform))
            results["peer"] = {"name": PEER_NAME, "pylti1p3": _version("pylti1p3")}
        for concurrency in args.concurrency if "launch" in only else ():
            name = f"launch c{concurrency}"
            print(
                f"{name} ({args.rounds} rounds{', with the peer' if peer else ''}) …",
                file=sys.stderr,
            )
            ours, *theirs = scenario_launches(
                tool, args.flows, concurrency, peer, args.rounds, tuple(args.personas)
            )
            scenarios[name] = ours
            for found in theirs:
                scenarios[f"{name} (peer: {PEER_NAME})"] = found
        if peer is not None:
            results["peer"]["rss_mb_per_worker"] = peer.rss()
            results["peer"]["rss_mb_master"] = round(rss_mb(peer.server.pid), 1)
            stack.close()
        for path in ("/learner/", "/learner/plan") if "pages" in only else ():
            name = ("start page " if path == "/learner/" else "plan page ") + path
            print(f"{name} …", file=sys.stderr)
            scenarios[name] = scenario_page(tool, path, args.page_requests)
        if "mapping" in only:
            print(f"mapping, {args.learners} learners …", file=sys.stderr)
            scenarios["mapping"] = scenario_mapping(tool, args.learners, args.think, args.seed)
        results["rss_mb_per_worker"] = tool.rss()
        results["memory_mb_per_worker"] = {pid: memory_mb(pid) for pid in tool.workers()}
        results["rss_mb_master"] = round(rss_mb(tool.server.pid), 1)
    results["load_average_after"] = load_average()
    return results


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    """Mixed traffic at a concurrency: launches, learners taking the mapping (no think
    time), and reports (a designer's item statistics, a person's plan page)."""
    results: dict[str, Any] = {"load_average_before": load_average()}
    errors: Counter[str] = Counter()
    done: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    with running_tool(args) as tool:
        deadline = time.monotonic() + args.minutes * 60
        numbers = iter(range(10**9))
        lock = threading.Lock()
        mapping_id = tool.content["mapping_id"]

        def one_learner() -> None:
            with lock:
                n = next(numbers)
            person = Learner(tool, f"soak-{n:06d}", random.Random(n))
            person.start()
            items = len(tool.content["items"])
            for position in range(1, items + 1):
                person.answer(position, position == items, 0)
            person.finish()

        def one_report() -> None:
            persona, path = random.choice(
                [
                    ("designer", f"/designer/mappings/{mapping_id}/statistics"),
                    (ROLES_PERSONA, "/learner/plan"),
                ]
            )
            browser, _landing = launched(tool, persona)
            for _ in range(5):
                response = browser.get(tool.base_url + path)
                assert response.status_code == 200, (path, response.status_code)
            browser.close()

        def one_launch() -> None:
            one_flow(tool.base_url, tool.platform, random.choice(LAUNCH_PERSONAS))

        kinds = [("launch", one_launch, 6), ("mapping", one_learner, 1), ("report", one_report, 3)]
        population = [k for k in kinds for _ in range(k[2])]

        def loop() -> None:
            while time.monotonic() < deadline:
                name, call, _weight = random.choice(population)
                guarded(call, errors)
                with lock:
                    done[name] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=loop, daemon=True) for _ in range(args.concurrency)]
        for thread in threads:
            thread.start()
        cpu0 = tool.cpu()
        while any(t.is_alive() for t in threads):
            left = deadline - time.monotonic()
            if left > 0:
                time.sleep(min(args.sample_seconds, left))
            else:  # the last flows finishing: one sample when they have
                for thread in threads:
                    thread.join()
            samples.append(
                {
                    "minute": round((time.monotonic() - started) / 60, 2),
                    "rss_mb": tool.rss(),
                    "flows": dict(done),
                    "errors": sum(errors.values()),
                    "load": load_average(),
                }
            )
            print(json.dumps(samples[-1]), file=sys.stderr)
        cpu = tool.cpu() - cpu0
        results["rss_mb_master"] = round(rss_mb(tool.server.pid), 1)
        results["memory_mb_per_worker"] = {pid: memory_mb(pid) for pid in tool.workers()}
    warm = [s for s in samples if s["minute"] >= args.warmup_minutes] or samples
    first, last = warm[0]["rss_mb"], samples[-1]["rss_mb"]
    growth = {
        str(pid): round(100 * (last.get(pid, 0) - first[pid]) / first[pid], 1)
        for pid in first
        if first[pid]
    }
    results.update(
        minutes=args.minutes,
        concurrency=args.concurrency,
        flows=dict(done),
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        gunicorn_cpu_seconds=round(cpu, 1),
        rss_after_warmup_mb=first,
        rss_at_end_mb=last,
        rss_growth_percent_after_warmup=growth,
        samples=samples,
        load_average_after=load_average(),
    )
    return results


def table(results: dict[str, Any]) -> str:
    """The figures as one Markdown table."""
    head = (
        "| scenario | flows | flows/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/flow "
        "(gunicorn) | PostgreSQL CPU ms/flow | SQL/request | server p50 / p95 ms | target |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, r in results["scenarios"].items():
        steps = r.get("steps")
        if steps:
            for step in ("save answer", "submit"):
                s = steps.get(step)
                if not s:
                    continue
                flows = f"{s['n']} ({r['flows']} learners)"
                rows.append(
                    _row(f"mapping: {step}", {**r, "flows": flows}, s, s["server"], s["sql"])
                )
            continue
        rows.append(_row(name, r, r, r, r["sql_per_request"]))
    rss = ", ".join(f"{v} MB" for v in results["rss_mb_per_worker"].values())
    shares = "; ".join(
        f"PSS {m['pss']} / USS {m['uss']} MB"
        for m in results.get("memory_mb_per_worker", {}).values()
    )
    notes = f"\n\nRSS per worker after the runs: {rss} (target ≤ 150 MB); {shares}."
    personas = results.get("options", {}).get("personas")
    if personas and any(name.startswith("launch") for name in results["scenarios"]):
        notes += f"\n\nWho launches in the launch runs, in turn: {', '.join(personas)}."
    peer = results.get("peer")
    if peer:
        peer_rss = ", ".join(f"{v} MB" for v in peer.get("rss_mb_per_worker", {}).values())
        options = results.get("options", {})
        notes += (
            f"\n\nPeer: {peer['name']} {peer['pylti1p3']} under the same gunicorn settings "
            f"(`bench/peer_pylti1p3.py`), interleaved with ours: {options.get('rounds')} "
            "rounds at each concurrency, ours then the peer in each, the flows split over "
            f"them. Its RSS per worker: {peer_rss}; master {peer.get('rss_mb_master')} MB "
            f"(ours: {results.get('rss_mb_master')} MB)."
        )
    return head + "\n".join(rows) + notes


def _row(name: str, r: dict[str, Any], q: dict[str, Any], server: dict[str, Any], sql: Any) -> str:
    target = next((t for k, t in TARGETS.items() if k in name), None)
    met = ""
    if target:
        kind, limit = target
        # a page's row holds the client's quantiles and the server's (server_p95_ms)
        server_p95 = server.get("server_p95_ms", server.get("p95_ms"))
        value = server_p95 if kind == "server p95" else q["p95_ms"]
        verdict = "met" if value is not None and value <= limit else "MISSED"
        met = f"{kind} ≤ {limit:g} ms: {verdict}"
    sp50 = server.get("server_p50_ms", server.get("p50_ms"))
    sp95 = server.get("server_p95_ms", server.get("p95_ms"))
    server_ms = "–" if sp50 is None and sp95 is None else f"{sp50} / {sp95}"
    pg = "–" if r["pg_cpu_ms_per_flow"] is None else r["pg_cpu_ms_per_flow"]
    return (
        f"| {name} | {r['flows']} | {r['per_second']} | {q['p50_ms']} | {q['p95_ms']} | "
        f"{q['p99_ms']} | {r['errors']} | {r['cpu_ms_per_flow']} | {pg} | "
        f"{'–' if sql is None else sql} | {server_ms} | {met} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_bench_suite"
    )
    common.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    common.add_argument("--workers", type=int, default=2)
    common.add_argument("--threads", type=int, default=4)
    common.add_argument("--items", type=int, default=30, help="Items of the mapping.")
    common.add_argument("--ready-timeout", type=float, default=180.0)
    every = commands.add_parser("all", parents=[common], help="Every scenario, one table.")
    every.add_argument(
        "--flows", type=int, default=400, help="Launches per concurrency (each tool's)."
    )
    every.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="Rounds per concurrency, ours and the peer's in turn; the flows split over them.",
    )
    every.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Measure the peer tool (bench/peer_pylti1p3.py) beside ours in the launch runs.",
    )
    every.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[8, 32]
    )
    every.add_argument(
        "--personas",
        type=_personas,
        default=list(LAUNCH_PERSONAS),
        help="Who launches in the launch runs, in turn (default: all four; "
        "'learner' as an LMS's employees do).",
    )
    every.add_argument("--page-requests", type=int, default=100)
    every.add_argument("--learners", type=int, default=200)
    every.add_argument("--think", type=float, default=5.0, help="Seconds between answers.")
    every.add_argument("--seed", type=int, default=15)
    every.add_argument(
        "--only", default="", help="Some scenarios, comma-separated: launch, pages, mapping."
    )
    soak = commands.add_parser("soak", parents=[common], help="Mixed traffic for minutes.")
    soak.add_argument("--minutes", type=float, default=10)
    soak.add_argument("--concurrency", type=int, default=16)
    soak.add_argument("--warmup-minutes", type=float, default=2)
    soak.add_argument("--sample-seconds", type=float, default=30)
    args = parser.parse_args(argv)

    results = run_all(args) if args.command == "all" else run_soak(args)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    results["options"] = {k: v for k, v in vars(args).items() if k != "command"}
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"suite-{args.command}-{stamp}.json").write_text(json.dumps(results, indent=2))
    if args.command == "all":
        print(table(results))
    else:
        print(json.dumps({k: v for k, v in results.items() if k != "samples"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
