"""CPU time of submitting a skills mapping, in process (the Flask test client, no gunicorn).

    .venv/bin/python bench/submit_cpu.py [--learners 40] [--items 30] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_submit_cpu]

The content of ``mapping_bench.py`` (10 competences, 200 items in the bank) with a mapping
of the bank's first ``--items`` (30: the suite's mapping), placed in the course with a
gradebook column. Each learner (a signed launch of their own) starts an attempt and answers
every item (not measured), then submits: the submit POST is measured by
``time.process_time`` (this process's CPU: the tool's Python, not the database server's),
wall-clock time and SQL statements. The first ``--warmup`` learners are not counted.
Prints a JSON summary. CPU time does not depend on the neighbours on a shared machine as
wall-clock time does; to compare two versions, run each in turn, interleaved.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mapping_bench import (  # noqa: E402
    CSRF,
    GRADED_LINK,
    MAPPING_CODE,
    ORGANISATION,
    QueryCounter,
    answer_for,
    bench_tool,
    setup_content,
    signed_launch,
    tool_client,
)
from sqlalchemy import event  # noqa: E402

from lti_tool.db import get_session  # noqa: E402
from lti_tool.lti.demo_platform import PlacedLink  # noqa: E402
from lti_tool.models import Attempt, ScoreDelivery  # noqa: E402
from lti_tool.services import demo  # noqa: E402
from lti_tool.services.launches import MAPPING_PARAM  # noqa: E402


class StatementTimer:
    """Each statement the engine runs, with its wall-clock time, printed on stderr (the
    commit too)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)

    def _before(self, *args: Any) -> None:
        self.started = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        ms = (time.perf_counter() - self.started) * 1000
        print(f"{ms:7.2f} ms  {' '.join(statement.split())[:150]}", file=sys.stderr)

    def _commit(self, conn: Any) -> None:
        print("          COMMIT", file=sys.stderr)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine, "commit", self._commit)


def answered_attempt(
    app: Any, platform: Any, content: dict[str, Any], sub: str, rng: random.Random
) -> tuple[Any, str, str]:
    """A learner with every item answered: their browser, the attempt's address, the
    CSRF token."""
    client = tool_client(app)
    path = signed_launch(client, platform, "learner", GRADED_LINK, sub)
    token = CSRF.search(client.get(path).get_data(as_text=True))
    assert token, "no CSRF token on the start page"
    started = client.post(path + "/attempts", data={"csrf_token": token.group(1)})
    base = started.headers["Location"].split("/items/")[0]
    attempt_id = int(base.rsplit("/", 1)[1])
    with app.app_context():
        plan = get_session().get(Attempt, attempt_id).plan  # type: ignore[union-attr]
    ability = rng.uniform(0.2, 0.95)
    for position, entry in enumerate(plan, 1):
        values = answer_for(content["items"][entry["item"]], rng.random() < ability, rng)
        data = {"csrf_token": token.group(1), "answer": values, "go": "next"}
        saved = client.post(f"{base}/items/{position}", data=data)
        assert saved.status_code == 302, saved.get_data(as_text=True)[:300]
    return client, base, token.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="Default: SQLite in a temporary folder.")
    parser.add_argument("--learners", type=int, default=40, help="2 at least (for a p95)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print each statement of the last submit with its time, on stderr",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also write a cProfile (CPU time) of the counted submits to FILE (pstats)",
    )
    args = parser.parse_args()
    if args.learners < 2:
        parser.error("--learners: 2 at least (a p95 needs two submits)")
    profile = cProfile.Profile(time.process_time) if args.profile else None

    workdir, _url, gradebook, platform, jwks_server, app = bench_tool(
        args.database_url, "lti-bench-submit-"
    )
    engine = app.extensions["db_engine"]
    queries = QueryCounter(engine)
    cpu, wall, counts = [], [], []
    try:
        with app.app_context():
            session = get_session()
            registered = demo.register_demo_platform(
                session, platform, organisation_name=ORGANISATION, token_url=gradebook.token_url
            )
            session.commit()
            org_id = registered.deployments[0].organisation_id
        content = setup_content(app, org_id, args.items)
        lineitem = gradebook.lineitem_url(platform, 2)
        custom = {MAPPING_PARAM: MAPPING_CODE}
        platform.links[GRADED_LINK] = PlacedLink(GRADED_LINK, "Kartlegging", custom, lineitem)
        rng = random.Random(args.seed)
        for n in range(args.warmup + args.learners):
            client, base, token = answered_attempt(app, platform, content, f"learner-{n}", rng)
            before = queries.count
            last = n == args.warmup + args.learners - 1
            timer = StatementTimer(engine) if args.explain and last else None
            started, started_cpu = time.perf_counter(), time.process_time()
            if profile is not None and n >= args.warmup:
                submitted = profile.runcall(
                    client.post, f"{base}/submit", data={"csrf_token": token}
                )
            else:
                submitted = client.post(f"{base}/submit", data={"csrf_token": token})
            spent_cpu, spent = time.process_time() - started_cpu, time.perf_counter() - started
            if timer is not None:
                timer.close()
            assert submitted.status_code == 302, submitted.get_data(as_text=True)[:300]
            assert submitted.headers["Location"].endswith("/result")
            if n >= args.warmup:
                cpu.append(spent_cpu * 1000)
                wall.append(spent * 1000)
                counts.append(queries.count - before)
        with app.app_context():
            scores = len(get_session().scalars(ScoreDelivery.__table__.select()).all())
        assert scores == args.warmup + args.learners, f"{scores} scores queued"
    finally:
        queries.close()
        jwks_server.shutdown()
        gradebook.server.shutdown()
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    if profile is not None:
        profile.dump_stats(args.profile)

    def figures(ms: list[float]) -> dict[str, float]:
        return {
            "mean": round(statistics.fmean(ms), 2),
            "median": round(statistics.median(ms), 2),
            "p95": round(statistics.quantiles(ms, n=20, method="inclusive")[18], 2),
        }

    print(
        json.dumps(
            {
                "database": engine.dialect.name,
                "items": args.items,
                "learners": args.learners,
                "submit_cpu_ms": figures(cpu),
                "submit_wall_ms": figures(wall),
                "statements": sorted(set(counts)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
