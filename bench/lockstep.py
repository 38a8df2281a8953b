"""Two checkouts of the tool measured in lockstep, in process: which is cheaper?

    .venv/bin/python bench/lockstep.py --base ../base-checkout [--new .] \
        [--unit flow-learner|page-home|page-plan] [--rounds 400]

On a shared or virtual machine the speed of the same code swings by a third from one
minute to the next, so two benchmark runs one after the other compare the machine more
than the code. Here each checkout runs in a process of its own, set up as
``flow_steps.py`` (``flow-*``: login, cookie check, launch POST with its page; the
platform's signing not counted) or ``pages_bench.py`` (``page-*``: a signed-in learner
with 3 job roles and 300 required competences), on its own PostgreSQL database and Redis
database; then the two take turns, one unit each, ``--rounds`` times (the order flipped
every round). Prints each side's CPU per unit (``time.process_time`` of its own process:
median, mean, quartiles) and new/base. Each side imports ``lti_tool`` from its own
checkout, with this virtualenv's packages.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

UNITS = ("flow-learner", "flow-designer", "flow-manager", "flow-admin", "page-home", "page-plan")
PAGES = {"page-home": "/learner/", "page-plan": "/learner/plan"}
WARM_UP = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the checkout to compare against")
    parser.add_argument("--new", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--unit", choices=UNITS, default="flow-learner")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_lockstep"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--side", nargs=3, metavar=("TREE", "DATABASE_URL", "REDIS_URL"), help=argparse.SUPPRESS
    )  # one side's process (internal)
    args = parser.parse_args()
    if args.side:
        return serve_side(args.unit, *args.side)
    sides = {
        "base": start_side(args, args.base, "_base", 0),
        "new": start_side(args, args.new, "_new", 1),
    }
    spent: dict[str, list[float]] = {name: [] for name in sides}
    try:
        for i in range(args.rounds):
            for name in list(sides)[:: 1 if i % 2 == 0 else -1]:
                process = sides[name]
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write("go\n")
                process.stdin.flush()
                spent[name].append(float(process.stdout.readline()))
    finally:
        for process in sides.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=60)
    for name, values in spent.items():
        values.sort()
        print(
            f"{args.unit} {name:4s} median {statistics.median(values):7.2f} ms"
            f"  mean {statistics.mean(values):7.2f}"
            f"  quartiles {values[len(values) // 4]:.2f}–{values[3 * len(values) // 4]:.2f}"
        )
    ratio = statistics.median(spent["new"]) / statistics.median(spent["base"])
    print(f"{args.unit} new/base (medians) {ratio:.3f}")
    return 0


def start_side(args: argparse.Namespace, tree: str, suffix: str, redis_offset: int) -> Any:
    """One side's process, once it has set up and warmed up."""
    redis_base, _, number = args.redis_url.rpartition("/")
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--base",
            tree,
            "--unit",
            args.unit,
            "--side",
            str(Path(tree).resolve()),
            args.database_url + suffix,
            f"{redis_base}/{int(number) + redis_offset}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready = process.stdout.readline().strip()
    if ready != "ready":
        raise SystemExit(f"{tree}: the side did not start ({ready!r})")
    return process


def serve_side(unit: str, tree: str, database_url: str, redis_url: str) -> int:
    """Set up ``unit`` from ``tree``'s own code, then answer each ``go`` with its CPU ms."""
    sys.path[:0] = [tree, str(Path(tree) / "bench")]
    answer = sys.stdout
    sys.stdout = sys.stderr  # the tool's commands print: keep the answers' channel clean
    workdir = Path(tempfile.mkdtemp(prefix="lti-lockstep-"))
    run = (
        _page(unit, database_url, workdir)
        if unit in PAGES
        else _flow(unit, database_url, redis_url, workdir)
    )
    for _ in range(WARM_UP):
        run()
    gc.collect()
    answer.write("ready\n")
    answer.flush()
    for _line in sys.stdin:
        answer.write(f"{run() * 1000:.4f}\n")
        answer.flush()
    return 0


def _page(unit: str, database_url: str, workdir: Path) -> Callable[[], float]:
    import pages_bench as pb  # the side's own

    from lti_tool.lti.keys import KeyRing

    url = pb.migrated_database(database_url, workdir)
    KeyRing(workdir / "keys", 7).rotate()
    port = pb.free_port()
    platform = pb.bench_platform(
        port, pb.TOOL_BASE_URL, custom_by_persona={"learner": {"job_role": "ROLE0,ROLE1,ROLE2"}}
    )
    pb.serve_jwks(platform, port)
    app = pb.in_process_app(url, workdir, pb.TOOL_BASE_URL)
    pb.setup(app, platform)
    client = pb.launched(app, platform)
    path = PAGES[unit]

    def run() -> float:
        started = time.process_time()
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return time.process_time() - started

    return run


def _flow(unit: str, database_url: str, redis_url: str, workdir: Path) -> Callable[[], float]:
    """A persona's flow set up as ``flow_steps.py`` sets it up, written out here rather
    than called: each side must be built by its own checkout's bench code (``launch_bench``
    puts its own tree first on ``sys.path``), and a base older than a shared helper would
    not have it."""
    from urllib.parse import parse_qsl, urlsplit

    import redis
    from launch_bench import (  # the side's own
        bench_platform,
        free_port,
        in_process_app,
        is_check,
        migrated_database,
        serve_jwks,
    )

    from lti_tool.db import get_session
    from lti_tool.services.demo import register_demo_platform

    port = free_port()
    platform = bench_platform(port, "http://localhost")
    serve_jwks(platform, port)
    url = migrated_database(database_url, workdir)
    redis.Redis.from_url(redis_url).flushdb()
    app = in_process_app(
        url,
        workdir,
        "http://localhost",
        REDIS_URL=redis_url,
        LOGIN_RATE_LIMIT="100000/minute",
        LAUNCH_RATE_LIMIT="100000/minute",
    )
    with app.app_context():
        session = get_session()
        register_demo_platform(session, platform, organisation_name="Benchkommune")
        session.commit()
    persona = unit.removeprefix("flow-")

    def run() -> float:
        """A new browser's flow; the platform's authorization (its signing) not counted."""
        client = app.test_client()
        started = time.process_time()
        login = client.get("/lti/login", query_string=platform.login_params(persona))
        if is_check(login.headers["Location"]):
            login = client.get(login.headers["Location"])
        spent = time.process_time() - started
        _action, form = platform.authorize(
            dict(parse_qsl(urlsplit(login.headers["Location"]).query))
        )
        started = time.process_time()
        launched = client.post("/lti/launch", data=form)
        assert launched.status_code == 200, launched.status_code
        return spent + time.process_time() - started

    return run


if __name__ == "__main__":
    raise SystemExit(main())
