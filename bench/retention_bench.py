"""How long the worker's hourly purge of launch records takes on PostgreSQL, over many.

    .venv/bin/python bench/retention_bench.py \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_retention_bench] \
        [--launches 1000000] [--people 20000]

The database given is emptied and migrated with this checkout's migrations. Then
``--people`` people of one organisation launch ``--launches`` times in all, evenly over
400 days, in 3 courses each, a third of the launches through a link that places a
mapping: 6 links a person. The records are written by one SQL statement, with a
``launch.link_key`` where the schema has one (an md5 of the link's parts: the same links
as the tool's own keys make, not the same values). The purge
(``services.retention.purge_launches``, LAUNCH_RECORD_DAYS 180, at most
``LAUNCH_PURGE_BATCH`` a run) is timed three times, each run rolled back; then it is run
until nothing is left to delete, and timed once more: what each later hour costs, when
only the newest record of each link is past its days. Printed: the records, those past
their days, and each run's deleted records and seconds (wall time: the work is
PostgreSQL's). Run it in another checkout (``git worktree``) to compare with an older
version.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from launch_bench import bench_platform, in_process_app, migrated_database  # noqa: E402
from sqlalchemy import inspect, text  # noqa: E402

from lti_tool.db import get_session  # noqa: E402
from lti_tool.services.demo import register_demo_platform  # noqa: E402
from lti_tool.services.retention import LAUNCH_PURGE_BATCH, purge_launches  # noqa: E402

DAYS = 180

PEOPLE = """
INSERT INTO person (platform_id, sub, organisation_id, name, given_name, family_name, email,
                    locale, created_at, last_seen_at, ever_granted)
SELECT :platform, 'bench-' || n, :organisation, '', '', '', '', '', now(), now(), false
FROM generate_series(1, :people) AS n
"""

LAUNCHES = """
INSERT INTO launch (id, person_id, deployment_pk, message_type, context_id, permissions,
                    claims, created_at{key_column})
SELECT 'bench-' || g, first.id + g % :people, :deployment, 'LtiResourceLinkRequest',
       'kurs-' || (g / :people) % 3, '["learner"]',
       CASE WHEN (g / (:people * 3)) % 3 = 0
            THEN '{{"https://purl.imsglobal.org/spec/lti/claim/custom": {{"mapping": "M1"}}}}'
            ELSE '{{}}' END::json,
       now() - (g::float / :launches) * interval '400 days'{key_value}
FROM generate_series(0, :launches - 1) AS g,
     (SELECT min(id) AS id FROM person WHERE sub LIKE 'bench-%') AS first
"""
KEY_VALUE = """,
       md5((first.id + g % :people) || '/' || :deployment || '/kurs-' || (g / :people) % 3
           || '/' || ((g / (:people * 3)) % 3 = 0)::text)"""


def timed_purge(app: object, now: dt.datetime, *, keep: bool) -> tuple[int, float]:
    with app.app_context():  # type: ignore[attr-defined]
        session = get_session()
        started = time.perf_counter()
        deleted = purge_launches(session, now, DAYS)
        took = time.perf_counter() - started
        if keep:
            session.commit()
        else:
            session.rollback()
    return deleted, took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/lti_retention_bench"
    )
    parser.add_argument("--launches", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lti-retention-bench-"))
    url = migrated_database(args.database_url, workdir)
    app = in_process_app(url, workdir, "http://localhost", WORKER_STATEMENT_TIMEOUT_SECONDS=0)
    with app.app_context():
        session = get_session()
        platform = register_demo_platform(
            session, bench_platform(1, "http://localhost"), organisation_name="Benchkommune"
        )
        session.commit()
        deployment = session.scalar(
            text("SELECT id FROM deployment WHERE platform_id = :p"), {"p": platform.id}
        )
        columns = inspect(session.connection()).get_columns("launch")
        keyed = "link_key" in {column["name"] for column in columns}
        values = {
            "platform": platform.id,
            "organisation": platform.organisation_id,
            "deployment": deployment,
            "people": args.people,
            "launches": args.launches,
        }
        started = time.perf_counter()
        session.execute(text(PEOPLE), values)
        launches = LAUNCHES.format(
            key_column=", link_key" if keyed else "", key_value=KEY_VALUE if keyed else ""
        )
        session.execute(text(launches), values)
        session.commit()
        session.execute(text("ANALYZE launch"))
        session.commit()
        past = session.scalar(
            text(
                "SELECT count(*) FROM launch WHERE created_at < now() - make_interval(days => :d)"
            ),
            {"d": DAYS},
        )
        print(
            f"{args.launches} launch records of {args.people} people written in "
            f"{time.perf_counter() - started:.1f} s; {past} past their {DAYS} days; "
            f"link_key: {'yes' if keyed else 'no'}"
        )
    now = dt.datetime.now(dt.UTC)
    for run in range(3):
        deleted, took = timed_purge(app, now, keep=False)
        print(f"run {run + 1}: {deleted} deleted (at most {LAUNCH_PURGE_BATCH}) in {took:.2f} s")
    runs = 0
    while timed_purge(app, now, keep=True)[0]:
        runs += 1
    deleted, took = timed_purge(app, now, keep=False)
    print(f"after {runs} runs that deleted: a run deletes {deleted} in {took:.2f} s")
    app.extensions["db_engine"].dispose()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
