"""Launch benchmark: full login → authorization → launch → landing flows against gunicorn.

The benchmark process plays the LMS: it serves its JWKS over HTTP, signs id_tokens with
the demo platform code, and drives N browser flows at a given concurrency. The tool runs
under gunicorn (2 workers by default) on PostgreSQL and Redis, as in production.

    .venv/bin/python bench/launch_bench.py \
        --database-url postgresql://postgres@127.0.0.1:5432/lti_bench \
        --redis-url redis://127.0.0.1:6379/14 --flows 400 --concurrency 8

Prints launches/s and p50/p95/max latency of a whole flow. The database given is reset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lti_tool.lti.demo_platform import DemoPlatform  # noqa: E402
from lti_tool.lti.keys import generate_private_pem  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_jwks(platform: DemoPlatform, port: int) -> ThreadingHTTPServer:
    body = json.dumps(platform.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def reset_database(url: str) -> None:
    """Create the benchmark database if needed, and empty it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def bench_platform(port: int, tool_base_url: str, **kwargs: Any) -> DemoPlatform:
    """The benchmarks' LMS: the demo platform code, its JWKS served on ``port``."""
    return DemoPlatform(
        issuer=f"http://127.0.0.1:{port}",
        client_id="bench-client",
        deployment_id="1",
        private_pem=generate_private_pem(),
        kid="bench-key",
        tool_launch_url=tool_base_url + "/lti/launch",
        tool_login_url=tool_base_url + "/lti/login",
        **kwargs,
    )


def migrated_database(database_url: str | None, workdir: Path) -> str:
    """The in-process benchmarks' database, migrated to head: the PostgreSQL database
    given (created if needed, and emptied), else a SQLite file in ``workdir``. Returns its
    SQLAlchemy URL."""
    from alembic import command

    from lti_tool.migrate import alembic_config

    if database_url:
        reset_database(database_url)
        url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        url = "sqlite:///" + str(workdir / "bench.sqlite3")
    command.upgrade(alembic_config(url), "head")
    return url


def in_process_app(database_url: str, workdir: Path, base_url: str, **settings: Any) -> Any:
    """The tool as the in-process benchmarks run it: its database, keys and instance in
    ``workdir``, no Redis, quiet logs; ``settings`` add or override."""
    from lti_tool import create_app

    return create_app(
        {
            "APP_ENV": "test",
            "SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret",
            "BASE_URL": base_url,
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "KEYS_DIR": str(workdir / "keys"),
            "INSTANCE_PATH": str(workdir / "instance"),
            "LOG_LEVEL": "WARNING",
            **settings,
        }
    )


def prepared_tool(
    database_url: str, redis_url: str, base_url: str, workdir: Path, platform: DemoPlatform
) -> dict[str, str]:
    """The database (emptied, migrated), Redis (flushed), the tool's keys in ``workdir`` and
    ``platform`` registered, through the tool's own commands; returns the environment the
    tool runs with."""
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BASE_URL": base_url,
        "KEYS_DIR": str(workdir / "keys"),
        "INSTANCE_PATH": str(workdir / "instance"),
        "LOG_LEVEL": "WARNING",
    }
    reset_database(database_url)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "lti_tool"]
    run: dict[str, Any] = {"cwd": ROOT, "env": env, "check": True}
    subprocess.run([*flask, "db", "upgrade"], capture_output=True, **run)
    subprocess.run([*flask, "keys", "rotate"], **run)
    subprocess.run(
        [
            *flask,
            "platform",
            "add",
            "--issuer",
            platform.issuer,
            "--client-id",
            platform.client_id,
            "--auth-url",
            platform.auth_url,
            "--token-url",
            platform.token_url,
            "--jwks-url",
            platform.jwks_url,
            "--deployment",
            platform.deployment_id,
            "--organisation",
            "Benchkommune",
        ],
        **run,
    )
    return env


def start_gunicorn(
    env: dict[str, str],
    port: int,
    workers: int,
    threads: int,
    config: str | None = None,
    app: str = "lti_tool:create_app()",
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """The tool under gunicorn (gthread) on 127.0.0.1:``port``; ``config`` a gunicorn
    config file to add, ``app`` another WSGI app to serve (the suite's peer tool); its
    logs to ``log`` when given (else to this process's stderr)."""
    log_file = log.open("ab") if log else None
    try:
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                *(["--config", config] if config else []),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
                app,
            ],
            cwd=ROOT,
            env=env,
            stderr=log_file,
        )
    finally:
        if log_file is not None:
            log_file.close()  # gunicorn holds its own copy


def wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until ``/readyz`` answers 200: on a busy machine two workers loading the app can
    take many seconds. Fails at once if gunicorn exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            if requests.get(base_url + "/readyz", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or slow to answer
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base_url} not ready after {timeout:.0f} s")


CHECK_PATH = "/lti/login/check"
PAGE_ADDRESS = re.compile(r'<meta name="page-address" content="([^"]+)">')


def is_check(location: str) -> bool:
    """A login redirected to the tool's cookie check (a browser without the tool's
    session cookie), not yet to the platform."""
    return urlsplit(location).path == CHECK_PATH


def landing_of(status: int, body: str) -> str:
    """Where a launch landed: the address its landing page stands for (``page-address``;
    the launch answers with that page itself, never a redirect)."""
    assert status == 200, body[:300]
    found = PAGE_ADDRESS.search(body)
    assert found, "a launch page without its address"
    return found.group(1)


def one_flow(base_url: str, platform: DemoPlatform, persona: str) -> float:
    """One full flow in a new browser: login → cookie check → the platform → launch,
    answered with the start page."""
    started = time.perf_counter()
    with requests.Session() as browser:
        login = browser.get(
            base_url + "/lti/login", params=platform.login_params(persona), allow_redirects=False
        )
        assert login.status_code == 302, login.text[:300]
        if is_check(login.headers["Location"]):
            check = login.headers["Location"]
            login = browser.get(urljoin(base_url + "/", check), allow_redirects=False)
            assert login.status_code == 302, login.text[:300]
        query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
        action, form = platform.authorize(query)
        launch = browser.post(action, data=form, allow_redirects=False)
        landing_of(launch.status_code, launch.text)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--flows", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=16)
    args = parser.parse_args()

    tool_port, jwks_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{tool_port}"
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-"))
    platform = bench_platform(jwks_port, base_url)
    env = prepared_tool(args.database_url, args.redis_url, base_url, workdir, platform)
    jwks_server = serve_jwks(platform, jwks_port)
    server = start_gunicorn(env, tool_port, args.workers, args.threads)
    try:
        wait_ready(base_url, server)
        personas = ["learner", "designer", "manager", "admin"]
        for i in range(args.warmup):
            one_flow(base_url, platform, personas[i % 4])
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            started = time.perf_counter()
            latencies = list(
                pool.map(lambda i: one_flow(base_url, platform, personas[i % 4]), range(args.flows))
            )
            elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
        jwks_server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)

    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    result = {
        "flows": args.flows,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "threads": args.threads,
        "launches_per_second": round(args.flows / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p95_ms": round(q[94] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "database": "postgresql" if "postgres" in args.database_url else "other",
        "cache": "redis" if args.redis_url else "database",
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"launch-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
