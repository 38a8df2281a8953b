"""Competence benchmark: framework import/export, the learner's requirements page, the API.

Runs the tool in process (Flask app and test client), on SQLite in a temporary folder by
default, or on PostgreSQL (the database given is created if needed and emptied):

    .venv/bin/python bench/competence_bench.py [--items 2000] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_bench2]

It measures, each several times (min/median/max ms):

1. importing a generated CASE package of N competences (a 3-level tree, nb/nn/en texts)
   through ``framework_io.import_framework`` (what ``flask framework import`` calls), in
   one transaction; exporting it as CASE and as Moodle CSV; importing a Moodle CSV;
2. ``GET /learner/`` after a real signed launch (login → the platform's authorization →
   launch) for a person with 3 job roles that require 300 competences in all;
3. ``GET /api/v1/frameworks/<id>/export?format=case`` and the paginated ``/api/v1/people``
   and ``/api/v1/job-roles`` with a read token made by ``flask api-token create``.

Prints a JSON summary and keeps it in ``bench/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
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
    landing_of,
    migrated_database,
    serve_jwks,
)
from statement_count import count_statements  # noqa: E402

from lti_tool.db import get_session  # noqa: E402
from lti_tool.interchange import case, job_roles_json, moodle_csv  # noqa: E402
from lti_tool.interchange.job_roles_json import JobRoleData, RequirementData  # noqa: E402
from lti_tool.interchange.model import CompetenceData, FrameworkData, LevelData  # noqa: E402
from lti_tool.lti.demo_platform import DemoPlatform  # noqa: E402
from lti_tool.lti.keys import KeyRing  # noqa: E402
from lti_tool.models import (  # noqa: E402
    AssignmentSource,
    AssignmentStatus,
    CourseKind,
    JobRoleAssignment,
    Person,
)
from lti_tool.services import (  # noqa: E402
    catalogue,
    certifications,
    demo,
    framework_io,
    frameworks,
    item_bank,
)

TOOL_BASE_URL = "https://tool.example"
ORGANISATION = "Benchkommune"
ROLES = 3
REQUIRED_TOTAL = 300
LANGS = ("nb", "nn", "en")


# --- figures ------------------------------------------------------------------------------


PROFILE = False


def profiled(name: str, fn: Callable[[], Any]) -> None:
    """With --profile: the 15 costliest functions (cumulative) of one call, on stderr."""
    if not PROFILE:
        return
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    profile.runcall(fn)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(15)
    print(f"--- profile: {name}\n{text.getvalue()}", file=sys.stderr)


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "n": len(ms),
        "min_ms": round(ms[0], 1),
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(ms[-1], 1),
    }


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[dict[str, float], Any]:
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return summary(samples), result


# --- generated content --------------------------------------------------------------------


def texts(prefix: str) -> dict[str, str]:
    words = {"nb": "Kompetanse", "nn": "Kompetanse (nynorsk)", "en": "Competence"}
    return {lang: f"{words[lang]} {prefix}" for lang in LANGS}


def generated_framework(code: str, items: int) -> FrameworkData:
    """N competences in a 3-level tree: ~1 % roots, ~9 % middle, the rest leaves."""
    roots = max(1, items // 100)
    middles = max(1, items // 10 - roots)
    competences = []
    for i in range(items):
        key = f"K{i:05d}"
        if i < roots:
            parent = None
        elif i < roots + middles:
            parent = f"K{(i - roots) % roots:05d}"
        else:
            parent = f"K{roots + (i % middles):05d}"
        competences.append(
            CompetenceData(
                key=key,
                parent_key=parent,
                code=key,
                title=texts(key),
                description={lang: f"Beskrivelse {key} ({lang}) " * 3 for lang in LANGS},
                identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{key}")),
            )
        )
    levels = [
        LevelData(v, {lang: f"Nivå {v} {lang}" for lang in LANGS}, {"nb": f"Nivå {v}"})
        for v in (1, 2, 3, 4)
    ]
    return FrameworkData(
        code=code,
        title=texts(f"rammeverk {code}"),
        description={"nb": "Generert for ytelsesmåling"},
        identifier=str(uuid.uuid4()),
        levels=levels,
        competences=competences,
    )


def case_package(code: str, items: int) -> bytes:
    return case.dump(generated_framework(code, items), creator=ORGANISATION, version="1")


def csv_file(code: str, items: int) -> bytes:
    return moodle_csv.dump(generated_framework(code, items))


# --- the benchmark ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="Default: SQLite in a temp dir.")
    parser.add_argument("--items", type=int, default=2000, help="Competences per framework.")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each import/export.")
    parser.add_argument("--requests", type=int, default=20, help="Runs of each page/API call.")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one learner page and API call (stderr)."
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile

    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-competence-"))
    database_url = migrated_database(args.database_url, workdir)
    KeyRing(workdir / "keys", 7).rotate()

    jwks_port = free_port()
    platform = bench_platform(
        jwks_port,
        TOOL_BASE_URL,
        custom_by_persona={"learner": {"job_role": ",".join(f"ROLE{r}" for r in range(ROLES))}},
    )
    jwks_server = serve_jwks(platform, jwks_port)
    app = in_process_app(
        database_url,
        workdir,
        TOOL_BASE_URL,
    )
    engine = app.extensions["db_engine"]
    results: dict[str, Any] = {
        "database": "postgresql" if "postgresql" in database_url else "sqlite",
        "items": args.items,
        "people": args.people,
        "repeat": args.repeat,
        "requests": args.requests,
    }
    try:
        with app.app_context():
            session = get_session()
            registered = demo.register_demo_platform(
                session, platform, organisation_name=ORGANISATION
            )
            session.commit()
            org_id = registered.deployments[0].organisation_id
            platform_id = registered.id

        results["framework"] = bench_frameworks(app, engine, org_id, args)
        results["learner_requirements"] = bench_learner(app, engine, platform, org_id, args)
        results["api"] = bench_api(app, engine, org_id, platform_id, args)
    finally:
        jwks_server.shutdown()
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"competence-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results))
    return 0


def bench_frameworks(app: Any, engine: Any, org_id: int, args: argparse.Namespace) -> Any:
    out: dict[str, Any] = {}
    with app.app_context():
        # The framework the job roles use: imported and published (not timed).
        session = get_session()
        framework_io.import_framework(
            session, org_id, case_package("BENCH", args.items), "case", publish=True
        )
        session.commit()

    packages = iter([case_package(f"CASE{i}", args.items) for i in range(args.repeat + 1)])
    out["case_package_bytes"] = len(case_package("SIZE", args.items))

    def import_case() -> None:
        data = next(packages)
        with app.app_context():
            session = get_session()
            version = framework_io.import_framework(session, org_id, data, "case")
            session.commit()
            assert len(version.competences) == args.items

    with count_statements(engine) as queries:
        out["import_case"], _ = timed(import_case, args.repeat, warmup=1)
    out["import_case"]["queries_per_run"] = queries[0] // (args.repeat + 1)

    def export(format_name: str) -> Callable[[], bytes]:
        def run() -> bytes:
            with app.app_context():
                return framework_io.export_framework(get_session(), org_id, "BENCH", format_name)

        return run

    out["export_case"], data = timed(export("case"), args.repeat)
    out["export_case"]["bytes"] = len(data)
    out["export_moodle_csv"], data = timed(export("moodle-csv"), args.repeat)
    out["export_moodle_csv"]["bytes"] = len(data)

    files = iter([csv_file(f"CSV{i}", args.items) for i in range(args.repeat + 1)])

    def import_csv() -> None:
        data = next(files)
        with app.app_context():
            session = get_session()
            version = framework_io.import_framework(session, org_id, data, "moodle-csv")
            session.commit()
            assert len(version.competences) == args.items

    out["import_moodle_csv"], _ = timed(import_csv, args.repeat, warmup=1)
    return out


def required_roles() -> bytes:
    """ROLE0..ROLE2 as job-role JSON: three roles of 120 requirements each of framework
    BENCH, overlapping: 300 competences in all."""
    per_role = REQUIRED_TOTAL * 2 // 5  # 120
    step = (REQUIRED_TOTAL - per_role) // (ROLES - 1)  # 90
    roles = [
        JobRoleData(
            code=f"ROLE{r}",
            title={"nb": f"Stilling {r}", "nn": f"Stilling {r}", "en": f"Job role {r}"},
            requirements=[
                RequirementData("BENCH", 1, f"K{i:05d}", 1 + (i + r) % 4, i % 3 != 0, None)
                for i in range(r * step, r * step + per_role)
            ],
        )
        for r in range(ROLES)
    ]
    return job_roles_json.dump(roles)


def add_page_content(session: Any, org_id: int) -> None:
    """The learner pages' benchmark content: the 400-competence framework, the job roles
    that require 300 of them, and 60 activities (e-learning and classroom) that each
    develop 5 of them to level 3 (``bench/pages_bench.py`` and ``python -m bench``)."""
    framework_io.import_framework(session, org_id, case_package("BENCH", 400), "case", publish=True)
    framework_io.import_job_roles(session, org_id, required_roles())
    session.flush()
    framework = frameworks.find_framework(session, org_id, "BENCH")
    by_code = {
        c.code: c.id
        for c in item_bank.usable_competences(session, org_id)
        if c.version.framework_id == framework.id
    }
    for n in range(60):
        title = {"nb": f"Kurs {n}", "nn": f"Kurs {n}", "en": f"Course {n}"}
        kind = (CourseKind.ELEARNING, CourseKind.CLASSROOM)[n % 2]
        course = certifications.save_course(session, org_id, None, f"KURS{n}", title, kind)
        for k in range(5):
            competence = by_code[f"K{(n * 5 + k):05d}"]
            catalogue.set_course_competence(session, org_id, course.id, competence, 3)


def bench_learner(
    app: Any, engine: Any, platform: DemoPlatform, org_id: int, args: argparse.Namespace
) -> Any:
    with app.app_context():
        session = get_session()
        framework_io.import_job_roles(session, org_id, required_roles())
        session.commit()

    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "tool.example"})
    login = client.get("/lti/login", query_string=platform.login_params("learner"))
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    login = client.get(login.headers["Location"])  # the cookie check, then the platform
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
    _action, form = platform.authorize(query)
    launch = client.post("/lti/launch", data=form)
    landed = landing_of(launch.status_code, launch.get_data(as_text=True))
    page_url = "/learner/"

    def get_page() -> Any:
        response = client.get(page_url)
        assert response.status_code == 200, response.status_code
        return response

    response = get_page()
    html = response.get_data(as_text=True)
    assert "K00000" in html or "Kompetanse" in html, "the page shows no requirement"
    with count_statements(engine) as queries:
        get_page()
    out, _ = timed(get_page, args.requests, warmup=2)
    profiled("GET /learner/", get_page)
    out["queries_per_request"] = queries[0]
    out["html_bytes"] = len(html)
    out["launch_landing"] = landed
    return out


def bench_api(
    app: Any, engine: Any, org_id: int, platform_id: int, args: argparse.Namespace
) -> Any:
    with app.app_context():
        session = get_session()
        role_ids = [
            r.id
            for r in framework_io.job_roles.list_job_roles(session, org_id, include_archived=True)
        ]
        people = [
            Person(
                platform_id=platform_id,
                sub=f"bench-{i}",
                organisation_id=org_id,
                name=f"Person {i}",
                given_name="Person",
                family_name=f"Etternavn{i:05d}",
                email=f"p{i}@bench.example",
            )
            for i in range(args.people)
        ]
        session.add_all(people)
        session.flush()
        session.add_all(
            JobRoleAssignment(
                person_id=p.id,
                job_role_id=role_ids[i % len(role_ids)],
                source=AssignmentSource.IMPORT,
                status=AssignmentStatus.ACTIVE,
            )
            for i, p in enumerate(people)
        )
        session.commit()
        framework_id = frameworks.find_framework(session, org_id, "BENCH").id

    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["api-token", "create", "--organisation", ORGANISATION, "--scope", "read"]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def get(url: str) -> Callable[[], Any]:
        def run() -> Any:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
            return response

        return run

    out: dict[str, Any] = {}
    calls = {
        "export_case": f"/api/v1/frameworks/{framework_id}/export?format=case",
        "people_page_1": "/api/v1/people?page=1&per_page=100",
        # everyone made here, and the learner of the launch
        "people_page_last": f"/api/v1/people?page={args.people // 100 + 1}&per_page=100",
        "job_roles_page_1": "/api/v1/job-roles?page=1&per_page=100",
    }
    for name, url in calls.items():
        with count_statements(engine) as queries:
            get(url)()
        repeat = max(3, args.requests // 4) if name == "export_case" else args.requests
        out[name], response = timed(get(url), repeat)
        profiled(f"GET {url}", get(url))
        out[name]["queries_per_request"] = queries[0]
        out[name]["bytes"] = len(response.get_data())
        if name.startswith("people"):
            out[name]["total"] = response.get_json()["total"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
