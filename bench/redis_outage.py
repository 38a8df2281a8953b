"""A Redis that stops answering, under gunicorn: what people signed in, and launches, see.

    .venv/bin/python bench/redis_outage.py [--seconds 20] [--people 8] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_redis_outage] \
        [--redis-url redis://127.0.0.1:6379/11]

The tool under gunicorn (2 workers × 4 threads, the packaged settings) on PostgreSQL (the
database given is emptied), its Redis (the database given is emptied) behind a TCP proxy
that can stop passing anything on, as a paused Redis or a hung host. Three phases of
``--seconds`` each: Redis answering, Redis not answering, Redis answering again. In each,
``--people`` browsers signed in beforehand ask for their start page in a loop, and one more
launches again and again (login, cookie check, launch). Prints for each phase the pages'
count, statuses, p50/p95/max and how many kept the platform in their framing policy
(``frame-ancestors``), and the launches' statuses and p50/p95/max. A drill, not a test:
the timings are this machine's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from launch_bench import (  # noqa: E402
    bench_platform,
    free_port,
    is_check,
    prepared_tool,
    serve_jwks,
    start_gunicorn,
    wait_ready,
)

from lti_tool.lti.demo_platform import DemoPlatform  # noqa: E402
from tests.fakes.freezing_proxy import FreezingProxy  # noqa: E402


def launch(base: str, platform: DemoPlatform, browser: requests.Session) -> int:
    """One launch as ``browser``: the status that ended it (200: landed; 503 at the login
    while Redis fails)."""
    login = browser.get(
        base + "/lti/login", params=platform.login_params("learner"), allow_redirects=False
    )
    if login.status_code == 302 and is_check(login.headers["Location"]):
        login = browser.get(base + login.headers["Location"], allow_redirects=False)
    if login.status_code != 302:
        return login.status_code
    action, form = platform.authorize(dict(parse_qsl(urlsplit(login.headers["Location"]).query)))
    return browser.post(action, data=form, allow_redirects=False).status_code


class Phase:
    """What the browsers saw in one phase."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.pages: list[tuple[float, int, bool]] = []
        self.launches: list[tuple[float, int]] = []

    def summary(self) -> dict[str, Any]:
        page_times = [t for t, _, _ in self.pages]
        launch_times = [t for t, _ in self.launches]
        return {
            "phase": self.name,
            "pages": len(self.pages),
            "page statuses": dict(Counter(s for _, s, _ in self.pages)),
            "pages framed by the platform": sum(framed for _, _, framed in self.pages),
            "page ms p50/p95/max": _quantiles(page_times),
            "launches": len(self.launches),
            "launch statuses": dict(Counter(s for _, s in self.launches)),
            "launch ms p50/p95/max": _quantiles(launch_times),
        }


def _quantiles(seconds: list[float]) -> str:
    if not seconds:
        return "–"
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{statistics.median(ms):.1f} / {p95:.1f} / {ms[-1]:.1f}"


def run_phase(
    phase: Phase,
    seconds: float,
    base: str,
    platform: DemoPlatform,
    browsers: list[requests.Session],
) -> None:
    deadline = time.monotonic() + seconds
    issuer = platform.issuer

    def pages(browser: requests.Session) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = browser.get(base + "/learner/")
            took = time.perf_counter() - started
            policy = response.headers.get("Content-Security-Policy", "")
            ancestors = policy.split("frame-ancestors", 1)[-1].split(";")[0].split()
            with phase.lock:
                phase.pages.append((took, response.status_code, issuer in ancestors))

    def launches() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status = launch(base, platform, requests.Session())
            with phase.lock:
                phase.launches.append((time.perf_counter() - started, status))

    threads = [threading.Thread(target=pages, args=(b,)) for b in browsers]
    threads.append(threading.Thread(target=launches))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_redis_outage"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()

    redis_parts = urlsplit(args.redis_url)
    proxy = FreezingProxy(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379)
    through = redis_parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    workdir = Path(tempfile.mkdtemp(prefix="lti-redis-outage-"))
    tool_port, jwks_port = free_port(), free_port()
    base = f"http://127.0.0.1:{tool_port}"
    platform = bench_platform(jwks_port, base)
    env = prepared_tool(args.database_url, through, base, workdir, platform)
    env.update(LOGIN_RATE_LIMIT="100000 per minute", LAUNCH_RATE_LIMIT="100000 per minute")
    jwks = serve_jwks(platform, jwks_port)
    server = start_gunicorn(
        env, tool_port, 2, 4, config="python:lti_tool.gunicorn_conf", log=workdir / "tool.log"
    )
    try:
        wait_ready(base, server)
        browsers = []
        for _ in range(args.people):
            browser = requests.Session()
            assert launch(base, platform, browser) == 200
            browsers.append(browser)
        phases = [Phase("Redis answering"), Phase("Redis not answering"), Phase("answering again")]
        for number, phase in enumerate(phases):
            if number == 1:
                proxy.frozen.set()
                proxy.freeze_open()
            if number == 2:
                proxy.thaw()
            print(f"{phase.name} ({args.seconds:g} s) …", file=sys.stderr)
            run_phase(phase, args.seconds, base, platform, browsers)
        for phase in phases:
            print(phase.summary())
    finally:
        server.terminate()
        server.wait(timeout=30)
        jwks.shutdown()
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
