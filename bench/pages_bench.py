"""The learner's start page and learning plan, in process, for the person with 3 job roles
and 300 required competences (issue 15 item 2's target: each ≤ 30 ms server time).

    .venv/bin/python bench/pages_bench.py [--requests 30] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_bench_pages]

The data of ``python -m bench all``'s page scenarios, made through the services: the
framework (400 competences) and three job roles of ``competence_bench``, and 60 activities
developing 5 of the required competences each. After a real signed launch it requests
each page ``--requests`` times and prints, per page, the CPU ms of this process per
request (``time.process_time``: the Flask app's work, not PostgreSQL's), the wall p50/p95,
the SQL statements and the HTML size. SQLite in a temporary folder by default.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from competence_bench import ORGANISATION, TOOL_BASE_URL, add_page_content  # noqa: E402
from launch_bench import (  # noqa: E402
    bench_platform,
    free_port,
    in_process_app,
    landing_of,
    migrated_database,
    serve_jwks,
)
from statement_count import count_statements  # noqa: E402

from lti_tool.db import get_session  # noqa: E402
from lti_tool.lti.keys import KeyRing  # noqa: E402
from lti_tool.services import (  # noqa: E402
    demo,
)

PAGES = ("/learner/", "/learner/plan")


def setup(app: Any, platform: Any) -> None:
    """As ``bench.__main__.setup_data`` does for the page scenarios."""
    with app.app_context():
        session = get_session()
        registered = demo.register_demo_platform(session, platform, organisation_name=ORGANISATION)
        session.flush()
        org_id = registered.deployments[0].organisation_id
        add_page_content(session, org_id)
        session.commit()


def launched(app: Any, platform: Any) -> Any:
    """A test client after a real signed launch of the 3-role learner (its cookie)."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "tool.example"})
    login = client.get("/lti/login", query_string=platform.login_params("learner"))
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    login = client.get(login.headers["Location"])
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
    _action, form = platform.authorize(query)
    launch = client.post("/lti/launch", data=form)
    landing_of(launch.status_code, launch.get_data(as_text=True))
    return client


def measure(app: Any, client: Any, url: str, requests: int) -> dict[str, Any]:
    engine = app.extensions["db_engine"]
    for _ in range(3):  # warm up
        response = client.get(url)
        assert response.status_code == 200, response.status_code
    with count_statements(engine) as queries:
        html = client.get(url).get_data()
    cpu, wall = [], []
    for _ in range(requests):
        c0, w0 = time.process_time(), time.perf_counter()
        response = client.get(url)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        assert response.status_code == 200
    wall.sort()
    return {
        "cpu_ms_mean": round(statistics.mean(cpu), 1),
        "cpu_ms_median": round(statistics.median(cpu), 1),
        "wall_p50": round(wall[len(wall) // 2], 1),
        "wall_p95": round(wall[min(len(wall) - 1, int(len(wall) * 0.95))], 1),
        "statements": queries[0],
        "html_bytes": len(html),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="Default: SQLite in a temp dir.")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="cProfile each page (stderr).")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-pages-"))
    database_url = migrated_database(args.database_url, workdir)
    KeyRing(workdir / "keys", 7).rotate()
    jwks_port = free_port()
    platform = bench_platform(
        jwks_port, TOOL_BASE_URL, custom_by_persona={"learner": {"job_role": "ROLE0,ROLE1,ROLE2"}}
    )
    jwks_server = serve_jwks(platform, jwks_port)
    app = in_process_app(database_url, workdir, TOOL_BASE_URL)
    results: dict[str, Any] = {"database": database_url.split(":")[0]}
    try:
        setup(app, platform)
        client = launched(app, platform)
        gc.collect()
        for page in PAGES:
            results[page] = measure(app, client, page, args.requests)
            if args.profile:
                profiler = cProfile.Profile(time.process_time)
                profiler.runcall(client.get, page)
                print(f"--- {page}", file=sys.stderr)
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(45)
    finally:
        jwks_server.shutdown()
        app.extensions["db_engine"].dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
