"""CPU of each step of a full launch flow, in process (the Flask test client, no gunicorn).

    .venv/bin/python bench/flow_steps.py [--flows 400] [--returning] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_flow_steps] \
        [--redis-url redis://127.0.0.1:6379/12]

The tool on PostgreSQL (the database given is emptied) and Redis, the benchmark's LMS
(``launch_bench.bench_platform``, its JWKS served here). Each flow: login, the cookie check
when the tool asks for it, the platform's authorization (not timed: it signs the
id_token), the launch POST (answered with its landing page), personas in turn. Prints the
mean ``time.process_time`` of each step and of a flow, after 20 flows not counted.
``--profile FILE`` writes a cProfile (CPU time) of the counted flows (the platform's signing
included).
``--personas learner``: only the learner launches (default: the four in turn).
``--returning``: one browser per persona, kept, as a person launching again (the login
then skips the cookie check); by default every flow is a new browser.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from launch_bench import (  # noqa: E402
    bench_platform,
    free_port,
    in_process_app,
    is_check,
    migrated_database,
    serve_jwks,
)

from lti_tool.db import get_session  # noqa: E402
from lti_tool.services.demo import register_demo_platform  # noqa: E402

PERSONAS = ("learner", "designer", "manager", "admin")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=400)
    parser.add_argument("--returning", action="store_true")
    parser.add_argument(
        "--personas",
        default=",".join(PERSONAS),
        help="who launches, in turn (default: %(default)s)",
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_flow_steps"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also write a cProfile of the counted flows to FILE (read it with pstats)",
    )
    args = parser.parse_args()
    personas = args.personas.split(",")
    if not set(personas) <= set(PERSONAS):
        parser.error(f"--personas: each one of {', '.join(PERSONAS)}")

    import redis

    workdir = Path(tempfile.mkdtemp(prefix="lti-flow-steps-"))
    jwks_port = free_port()
    platform = bench_platform(jwks_port, "http://localhost")
    jwks = serve_jwks(platform, jwks_port)
    url = migrated_database(args.database_url, workdir)
    redis.Redis.from_url(args.redis_url).flushdb()
    app = in_process_app(
        url,
        workdir,
        "http://localhost",
        REDIS_URL=args.redis_url,
        LOGIN_RATE_LIMIT="100000/minute",
        LAUNCH_RATE_LIMIT="100000/minute",
    )
    with app.app_context():
        session = get_session()
        register_demo_platform(session, platform, organisation_name="Benchkommune")
        session.commit()

    steps: dict[str, list[float]] = {"login": [], "check": [], "launch": []}
    browsers: dict[str, object] = {}

    def flow(i: int) -> None:
        persona = personas[i % len(personas)]
        client = (
            browsers.setdefault(persona, app.test_client()) if args.returning else app.test_client()
        )
        started = time.process_time()
        login = client.get("/lti/login", query_string=platform.login_params(persona))  # type: ignore[attr-defined]
        steps["login"].append(time.process_time() - started)
        assert login.status_code == 302, login.get_data(as_text=True)[:300]
        if is_check(login.headers["Location"]):
            started = time.process_time()
            login = client.get(login.headers["Location"])  # type: ignore[attr-defined]
            steps["check"].append(time.process_time() - started)
        query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
        _action, form = platform.authorize(query)
        started = time.process_time()
        launched = client.post("/lti/launch", data=form)  # type: ignore[attr-defined]
        steps["launch"].append(time.process_time() - started)
        assert launched.status_code == 200, launched.get_data(as_text=True)[:300]

    try:
        for i in range(20):
            flow(i)
        for values in steps.values():
            values.clear()
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        if profiler:
            profiler.enable()
        for i in range(args.flows):
            flow(i)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        jwks.shutdown()
    total = 0.0
    for name, values in steps.items():
        if values:
            share = statistics.mean(values) * 1000 * len(values) / args.flows
            total += share
            print(f"{name:7s} {statistics.mean(values) * 1000:6.2f} ms  ({len(values)} of them)")
    print(f"a flow  {total:6.2f} ms ({'returning' if args.returning else 'new'} browsers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
