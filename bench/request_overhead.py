"""CPU a request costs outside its view, in process: trivial requests through the whole app.

    .venv/bin/python bench/request_overhead.py [--requests 3000] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_request_overhead] \
        [--redis-url redis://127.0.0.1:6379/12] [--profile FILE]

The tool on PostgreSQL (the database given is emptied) and Redis, logging at INFO in JSON
as production does (to /dev/null), called as gunicorn calls it (its WSGI callable, one
prepared environ per request: no test client). After one real signed launch (the
benchmark's LMS signs it), each request below is made ``--requests`` times, after 200 not
counted, in 5 batches, and the mean ``time.process_time`` per request of the fastest batch
is printed, in µs:

- ``/healthz``: a probe without cookies (its view only answers ``{"status": "ok"}``);
- ``/healthz``, signed in: the same with the launch's session cookie;
- ``/accessibility``, signed in: a small public HTML page (templates, CSP);
- ``bare Flask``: a Flask app with one view answering "ok", the floor of any Flask app.

``--profile FILE`` writes a cProfile (CPU time) of the counted requests of the tool.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
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
from werkzeug.test import EnvironBuilder  # noqa: E402

from lti_tool.db import get_session  # noqa: E402
from lti_tool.services.demo import register_demo_platform  # noqa: E402


def production_logs() -> None:
    """JSON lines at INFO, as gunicorn_conf configures them, written to /dev/null."""
    from lti_tool.observability import JsonFormatter

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - kept for the run
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def session_cookie(app: Any, platform: Any) -> str:
    """A learner's launch, as a browser makes it: the session cookie it leaves."""
    client = app.test_client()
    login = client.get("/lti/login", query_string=platform.login_params("learner"))
    if is_check(login.headers["Location"]):
        login = client.get(login.headers["Location"])
    _action, form = platform.authorize(dict(parse_qsl(urlsplit(login.headers["Location"]).query)))
    launched = client.post("/lti/launch", data=form)
    assert launched.status_code == 200, launched.get_data(as_text=True)[:300]
    cookie = client.get_cookie("laeringslop_session")
    assert cookie is not None
    return str(cookie.value)


def requester(app: Any, path: str, cookie: str | None, status: int) -> Callable[[], None]:
    """One request to ``path``, as a WSGI server makes it (the body read and closed)."""
    headers = {"Cookie": f"laeringslop_session={cookie}"} if cookie else {}
    environ = EnvironBuilder(path=path, base_url="http://localhost", headers=headers).get_environ()
    answered: list[str] = []

    def start_response(status_line: str, _headers: Any, _exc_info: Any = None) -> None:
        answered.append(status_line)

    def request() -> None:
        answered.clear()
        copy = dict(environ)
        copy["wsgi.input"] = io.BytesIO(b"")
        body = app(copy, start_response)
        try:
            for _chunk in body:
                pass
        finally:
            if hasattr(body, "close"):
                body.close()
        assert answered[0].startswith(str(status)), answered

    return request


def mean_us(request: Callable[[], None], count: int, batches: int = 5) -> float:
    """The mean of the fastest of ``batches`` batches: other work on the machine only
    ever slows one down."""
    for _ in range(200):
        request()
    means = []
    for _ in range(batches):
        started = time.process_time()
        for _ in range(count // batches):
            request()
        means.append((time.process_time() - started) / (count // batches) * 1e6)
    return min(means)


def bare_flask() -> Any:
    from flask import Flask

    app = Flask("bare")
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_request_overhead"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the tool's requests")
    args = parser.parse_args()

    import redis

    workdir = Path(tempfile.mkdtemp(prefix="lti-request-overhead-"))
    jwks_port = free_port()
    platform = bench_platform(jwks_port, "http://localhost")
    jwks = serve_jwks(platform, jwks_port)
    url = migrated_database(args.database_url, workdir)
    redis.Redis.from_url(args.redis_url).flushdb()
    production_logs()  # before the app: it configures logging only where none is
    app = in_process_app(url, workdir, "http://localhost", REDIS_URL=args.redis_url)
    with app.app_context():
        session = get_session()
        register_demo_platform(session, platform, organisation_name="Benchkommune")
        session.commit()
    try:
        cookie = session_cookie(app, platform)
    finally:
        jwks.shutdown()

    tool = {
        "/healthz": requester(app, "/healthz", None, 200),
        "/healthz, signed in": requester(app, "/healthz", cookie, 200),
        "/accessibility, signed in": requester(app, "/accessibility", cookie, 200),
    }
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    for name, request in tool.items():
        if profiler:
            profiler.enable()
        print(f"{name:28s} {mean_us(request, args.requests):7.0f} µs")
        if profiler:
            profiler.disable()
    if profiler:
        profiler.dump_stats(args.profile)
    floor = requester(bare_flask(), "/healthz", None, 200)
    print(f"{'bare Flask':28s} {mean_us(floor, args.requests):7.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
