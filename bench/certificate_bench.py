"""Certification benchmark: evaluating certifications as evidence changes, publishing one,
and the certificate pages, downloads and public verification.

Runs the tool in process (Flask app and test client), on SQLite in a temporary folder by
default, or on PostgreSQL (the database given is created if needed and emptied):

    .venv/bin/python bench/certificate_bench.py [--people 1000] [--certifications 20] \
        [--revoked 1000] [--samples 50] [--requests 20] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_bench_cert] [--profile]

Set up through the services (not timed): an organisation with the skills mapping of
``mapping_bench`` (a published framework of 10 competences on a 4-level scale, 200 bank
items, a published mapping of 40 items with a pass mark of 50 %), a course (a practical
test) and a refresher course, and ``--certifications`` published certifications, each
valid 48 months with a 90-day renewal window, earned by ALL of: the mapping passed,
competence ``i % 10`` at level 2 (3 and 4 for the certifications after the tenth, so that
evidence at level 2 meets exactly one certification) and the course attended; renewed by
the mapping passed AND the refresher attended. One more certification of the same shape
stays a draft, to be published in (2). Then ``--people`` people (Person rows on the
registered platform; the learner who holds certificates and a manager launch for real):

- every person gets certification 0 by ``issue_manually``, issued about four years ago so
  that the expiries spread from 30 days past to 180 days ahead (the manager's list);
- ``--revoked`` more certificates are issued (certification 1, then 2 …, one per person
  and round) and revoked with ``certificates.revoke`` (the status list);
- the people the evaluation is timed on (``--samples``), three groups of 30 for the
  attendance and the holder get evidence rows (a submitted attempt above the pass mark and
  knowledge-test evidence at level 2 in one competence), written directly, as a submitted
  attempt writes them, so that only the course is missing; the holder's attendance is
  recorded and evaluated, so they hold an automatic certificate, an expired one and a
  revoked one.

It measures (min/median/p95/max ms, and SQL statements per call or request):

1. ``certificates.evaluate_person`` (run inside every submitted attempt and every recorded
   attendance) for one person against every published certification: first with nothing
   met (``--samples`` people, rolled back), then, after their attendance rows are added,
   with one certificate issued each (committed; the commit is not timed);
2. publishing the draft certification (``certifications.set_status(..., PUBLISHED)``
   evaluates every person of the organisation) with the commit: seconds, statements and
   certificates issued; and ``record_attendance`` for 30 people at once (3 groups, each
   person then meeting one certification) with the commit;
3. over HTTP, after real signed launches: as the holder, ``/learner/``, ``/certificates/``,
   the PDF (the first in the process, then later ones), ``credential.jwt`` the very first
   time (makes the credential key), first for a certificate (signs; the stored token is
   cleared before each, not timed) and later (stored); anonymous, ``/verify/<code>`` as
   HTML and ``?format=json`` (codes of various certificates), ``POST /verify`` with the
   holder's JWT, ``/ob/status/<uuid>`` with the revoked certificates; as the manager,
   ``/manager/certificates?days=90``.

The tool runs with ``VERIFY_RATE_LIMIT`` high enough for the benchmark. ``--profile``
prints a cProfile of one evaluation that issues, of the publication (its figures then
include the profiler), of ``/certificates/`` and of the manager's list on stderr. Prints a
JSON summary and keeps it in ``bench/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import mapping_bench  # noqa: E402
from launch_bench import (  # noqa: E402
    bench_platform,
    free_port,
    in_process_app,
    migrated_database,
    serve_jwks,
)
from mapping_bench import (  # noqa: E402
    COMPETENCES,
    QueryCounter,
    Steps,
    profiled,
    query_summary,
    setup_content,
    signed_launch,
    summary,
    texts,
    tool_client,
)
from sqlalchemy import func, select, update  # noqa: E402

from lti_tool import clock  # noqa: E402
from lti_tool.db import get_session  # noqa: E402
from lti_tool.domain import certification_rules as rules  # noqa: E402
from lti_tool.domain.mapping_results import KNOWLEDGE_TEST  # noqa: E402
from lti_tool.lti.keys import KeyRing  # noqa: E402
from lti_tool.models import (  # noqa: E402
    Attempt,
    AttemptStatus,
    Attendance,
    Certificate,
    CertificationStatus,
    CourseKind,
    Evidence,
    Person,
)
from lti_tool.services import certificates, certifications, demo  # noqa: E402
from lti_tool.services.certifications import ConditionInput  # noqa: E402

TOOL_BASE_URL = "https://tool.example"
ORGANISATION = "Benchkommune"
VALIDITY_MONTHS = 48
RENEWAL_WINDOW_DAYS = 90
EXPIRING_DAYS = 90
ATTENDANCE_GROUP = 30
ATTENDANCE_RUNS = 3
HOLDER_SUB = "person-0000"
DRAFT_CODE = "bench-sert-ny"
REASON_IMPORTED = "Overført fra det gamle fagsystemet"
REASON_REVOKED = "Utstedt til feil person"


# --- set-up -------------------------------------------------------------------------------


def required_level(index: int) -> int:
    """Level 2 for the first ten certifications, then 3, then 4 (a 4-level scale)."""
    return 2 + (index // COMPETENCES) % 3


def earnable(certification_count: int) -> range:
    """The certifications people with evidence meet, one each: level 2, not 0 or 1 (those
    are the manual and the revoked ones)."""
    return range(2, min(certification_count, COMPETENCES))


def setup_certifications(
    app: Any, org_id: int, content: dict[str, Any], count: int
) -> dict[str, Any]:
    """The courses, ``count`` published certifications and one draft, through the
    services (published before anyone exists, so publishing evaluates no one)."""
    mapping_id, competence_ids = content["mapping_id"], content["competence_ids"]
    with app.app_context():
        session = get_session()
        course = certifications.save_course(
            session, org_id, None, "bench-praksis", texts("Praktisk prøve"), CourseKind.PRACTICAL
        )
        refresher = certifications.save_course(
            session,
            org_id,
            None,
            "bench-oppfrisking",
            texts("Oppfriskingskurs"),
            CourseKind.CLASSROOM,
        )
        terms = certifications.CertificationTerms(
            validity_months=VALIDITY_MONTHS, renewal_window_days=RENEWAL_WINDOW_DAYS
        )

        def define(code: str, title: str, competence_id: int, level: int) -> int:
            made = certifications.create_certification(
                session, org_id, code, texts(title), texts("Generert for ytelsesmåling"), {}, terms
            )
            certifications.save_path(
                session,
                org_id,
                made.id,
                certifications.EARN,
                None,
                rules.ALL,
                [
                    ConditionInput(f"mapping:{mapping_id}"),
                    ConditionInput(f"competence:{competence_id}", level),
                    ConditionInput(f"course:{course.id}"),
                ],
            )
            certifications.save_path(
                session,
                org_id,
                made.id,
                certifications.RENEW,
                None,
                rules.ALL,
                [ConditionInput(f"mapping:{mapping_id}"), ConditionInput(f"course:{refresher.id}")],
            )
            return made.id

        ids = []
        for i in range(count):
            ids.append(
                define(
                    f"bench-sert-{i:02d}",
                    f"Sertifisering {i}",
                    competence_ids[i % COMPETENCES],
                    required_level(i),
                )
            )
            certifications.set_status(session, org_id, ids[-1], CertificationStatus.PUBLISHED)
        draft = define(DRAFT_CODE, "Ny sertifisering", competence_ids[2], 2)
        session.commit()
        return {"ids": ids, "draft_id": draft, "course_id": course.id}


def create_people(app: Any, org_id: int, platform_id: int, count: int) -> list[int]:
    with app.app_context():
        session = get_session()
        people = [
            Person(
                platform_id=platform_id,
                sub=f"person-{i:04d}",
                organisation_id=org_id,
                name=f"Bench Ansatt {i}",
                given_name="Bench",
                family_name=f"Ansatt {i:04d}",
                email=f"person-{i:04d}@bench.example",
            )
            for i in range(count)
        ]
        session.add_all(people)
        session.commit()
        return [p.id for p in people]


def issue_and_revoke(
    app: Any,
    org_id: int,
    certification_ids: list[int],
    people: list[int],
    actor_id: int,
    revoked: int,
) -> dict[str, Any]:
    """Certification 0 to everyone (expiring from 30 days past to 180 days ahead), and
    ``revoked`` certificates of the next certifications issued and revoked."""
    now = clock.now()
    started = time.perf_counter()
    with app.app_context():
        session = get_session()
        actor = session.get(Person, actor_id)
        assert actor is not None
        four_years = now - dt.timedelta(days=1461)
        for n, person_id in enumerate(people):
            issued_at = four_years + dt.timedelta(days=-30 + 210 * n / len(people))
            certificates.issue_manually(
                session, org_id, certification_ids[0], person_id, actor, REASON_IMPORTED, issued_at
            )
        session.commit()
        issued_seconds = time.perf_counter() - started
        others = certification_ids[1:]
        for r in range(revoked):
            person_id = people[r % len(people)]
            certification_id = others[(r // len(people)) % len(others)]
            certificate = certificates.issue_manually(
                session, org_id, certification_id, person_id, actor, REASON_IMPORTED, now
            )
            certificates.revoke(session, org_id, certificate.id, actor, REASON_REVOKED, now)
        session.commit()
    return {
        "issue_manually_seconds": round(issued_seconds, 1),
        "issue_and_revoke_seconds": round(time.perf_counter() - started - issued_seconds, 1),
    }


def give_evidence(
    app: Any, org_id: int, content: dict[str, Any], people: dict[int, int], now: dt.datetime
) -> None:
    """As a submitted attempt above the pass mark leaves it: the attempt, and
    knowledge-test evidence at level 2 in the competence of certification ``people[id]``
    (written directly: submitting would also evaluate)."""
    with app.app_context():
        session = get_session()
        for person_id, index in people.items():
            attempt = Attempt(
                organisation_id=org_id,
                mapping_id=content["mapping_id"],
                person_id=person_id,
                number=1,
                status=AttemptStatus.SUBMITTED,
                plan=[],
                started_at=now - dt.timedelta(minutes=20),
                submitted_at=now,
                score=32.0,
                max_score=40.0,
                percentage=80.0,
            )
            session.add(attempt)
            session.flush()
            session.add(
                Evidence(
                    organisation_id=org_id,
                    person_id=person_id,
                    competence_id=content["competence_ids"][index % COMPETENCES],
                    source=KNOWLEDGE_TEST,
                    level=required_level(index),
                    percentage=80.0,
                    attempt_id=attempt.id,
                    recorded_at=now,
                    detail={"mapping": mapping_bench.MAPPING_CODE, "self_level": None},
                )
            )
        session.commit()


def add_attendance(app: Any, org_id: int, course_id: int, people: list[int]) -> None:
    """Attendance rows without evaluating (as if recorded before publication)."""
    now = clock.now()
    with app.app_context():
        session = get_session()
        session.add_all(
            Attendance(
                organisation_id=org_id,
                course_id=course_id,
                person_id=person_id,
                attended_on=now.date(),
                recorded_at=now,
            )
            for person_id in people
        )
        session.commit()


def certificate_count(app: Any) -> int:
    with app.app_context():
        return int(get_session().scalar(select(func.count(Certificate.id))) or 0)


# --- 1. evaluation ------------------------------------------------------------------------


def bench_evaluation(
    app: Any, queries: QueryCounter, org_id: int, course_id: int, pool: list[int], idle: int
) -> dict[str, Any]:
    steps = Steps(queries)

    def evaluate(step: str, person_id: int, keep: bool, profile: bool = False) -> int:
        with app.app_context():
            session = get_session()
            now = clock.now()

            def run() -> list[Certificate]:
                return certificates.evaluate_person(session, org_id, person_id, now)

            # with --profile the last one is profiled instead, and not counted
            issued = profiled(f"evaluate_person ({step})", run) if profile else steps.run(step, run)
            if keep:
                session.commit()
            else:
                session.rollback()
            return len(issued)

    steps.recording = False
    evaluate("warm-up", idle, keep=False)
    steps.recording = True
    for person_id in pool:
        assert evaluate("nothing_met", person_id, keep=False) == 0
    add_attendance(app, org_id, course_id, pool)
    for n, person_id in enumerate(pool):
        last = n == len(pool) - 1 and mapping_bench.PROFILE
        assert evaluate("one_issued", person_id, keep=True, profile=last) == 1
    return steps.report()


# --- 2. publication and attendance ----------------------------------------------------------


def bench_publication(
    app: Any, queries: QueryCounter, org_id: int, draft_id: int, people: int
) -> dict[str, Any]:
    before_certificates = certificate_count(app)
    with app.app_context():
        session = get_session()
        statements = queries.count
        started = time.perf_counter()

        def publish() -> None:
            certifications.set_status(session, org_id, draft_id, CertificationStatus.PUBLISHED)
            session.commit()

        profiled("set_status(PUBLISHED)", publish)
        elapsed = time.perf_counter() - started
        statements = queries.count - statements
        evaluated = session.scalar(
            select(func.count(Person.id)).where(Person.organisation_id == org_id)
        )
    return {
        "people_evaluated": evaluated,
        "people_created": people,
        "seconds": round(elapsed, 2),
        "sql_statements": statements,
        "sql_statements_per_person": round(statements / evaluated, 1),
        "ms_per_person": round(1000 * elapsed / evaluated, 2),
        "certificates_issued": certificate_count(app) - before_certificates,
    }


def bench_attendance(
    app: Any,
    queries: QueryCounter,
    org_id: int,
    course_id: int,
    groups: list[list[int]],
    recorded_by: int,
) -> dict[str, Any]:
    samples, counts, issued = [], [], []
    for group in groups:
        before = certificate_count(app)
        with app.app_context():
            session = get_session()
            statements = queries.count
            started = time.perf_counter()
            now = clock.now()
            added = certifications.record_attendance(
                session, org_id, course_id, group, now.date(), recorded_by, now
            )
            session.commit()
            samples.append(time.perf_counter() - started)
            counts.append(queries.count - statements)
        assert added == len(group), added
        issued.append(certificate_count(app) - before)
    return {
        **summary(samples),
        "people_per_call": len(groups[0]),
        "queries_per_call": query_summary(counts),
        "queries_per_person": round(statistics.mean(counts) / len(groups[0]), 1),
        "certificates_issued_per_call": issued,
    }


# --- 3. pages -----------------------------------------------------------------------------


def forget_credential(app: Any, certificate_id: int) -> None:
    with app.app_context():
        session = get_session()
        session.execute(
            update(Certificate)
            .where(Certificate.id == certificate_id)
            .values(credential_jwt=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()


def revoked_in(token: str) -> int:
    """How many entries the signed status list marks revoked (not verified: our own)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    encoded = claims["credentialSubject"]["encodedList"][1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return sum(bin(byte).count("1") for byte in bits)


def bench_pages(
    app: Any,
    queries: QueryCounter,
    platform: Any,
    manager: tuple[Any, str],
    org_id: int,
    holder_id: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    steps = Steps(queries)
    holder = tool_client(app)
    _path, lt = signed_launch(holder, platform, "learner", None, HOLDER_SUB)
    anyone = tool_client(app)
    manager_client, manager_lt = manager
    with app.app_context():
        session = get_session()
        held = certificates.certificates_of(session, org_id, holder_id)
        mine = next(c for c in held if c.method == "automatic")
        certificate_id = mine.id
        codes = list(
            session.scalars(select(Certificate.code).order_by(Certificate.id).limit(args.requests))
        )
        list_uuid = mine.status_list.uuid
        expiring_rows = len(certificates.expiring(session, org_id, EXPIRING_DAYS, clock.now()))
        held_count = len(held)

    def get(client: Any, url: str, query: dict[str, str] | None = None, status: int = 200) -> Any:
        response = client.get(url, query_string=query or {})
        assert response.status_code == status, (url, response.status_code)
        return response

    def timed(step: str, fn: Any, warmup: int = 1) -> Any:
        steps.recording = False
        for _ in range(warmup):
            fn(0)
        steps.recording = True
        response = None
        for n in range(args.requests):
            response = steps.run(step, lambda n=n: fn(n))
        return response

    q = {"lt": lt}
    sizes: dict[str, int] = {}
    home = timed("learner_home", lambda _n: get(holder, "/learner/", q))
    assert "status-valid" in home.get_data(as_text=True), "the start page shows no certificate"
    sizes["learner_home"] = len(home.data)
    mine_page = timed("my_certificates", lambda _n: get(holder, "/certificates/", q))
    sizes["my_certificates"] = len(mine_page.data)
    if mapping_bench.PROFILE:
        profiled("GET /certificates/", lambda: get(holder, "/certificates/", q))

    pdf_url = f"/certificates/{certificate_id}/certificate.pdf"
    first_pdf = steps.run("certificate_pdf_first_in_process", lambda: get(holder, pdf_url, q))
    assert first_pdf.data.startswith(b"%PDF"), first_pdf.data[:20]
    timed("certificate_pdf_later", lambda _n: get(holder, pdf_url, q), warmup=0)
    sizes["certificate_pdf"] = len(first_pdf.data)

    jwt_url = f"/certificates/{certificate_id}/credential.jwt"
    steps.run("credential_jwt_first_ever", lambda: get(holder, jwt_url, q))  # makes the key
    for _ in range(args.requests):
        forget_credential(app, certificate_id)  # not timed
        steps.run("credential_jwt_first", lambda: get(holder, jwt_url, q))
    token = timed("credential_jwt_later", lambda _n: get(holder, jwt_url, q), warmup=0)
    token = token.get_data(as_text=True)
    sizes["credential_jwt"] = len(token)

    def verify(n: int, as_json: bool) -> Any:
        query = {"format": "json"} if as_json else {}
        return get(anyone, f"/verify/{codes[n % len(codes)]}", query)

    html = timed("verify_code_html", lambda n: verify(n, False))
    sizes["verify_code_html"] = len(html.data)
    answer = timed("verify_code_json", lambda n: verify(n, True))
    assert answer.get_json()["status"] in ("valid", "expired", "revoked"), answer.get_json()

    def upload(_n: int) -> Any:
        response = anyone.post(
            "/verify", query_string={"format": "json"}, data={"credential": token}
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.get_json()["status"] == "valid", response.get_json()
        return response

    timed("verify_upload_jwt", upload)
    status_token = timed("status_list", lambda _n: get(anyone, f"/ob/status/{list_uuid}"))
    revoked_entries = revoked_in(status_token.get_data(as_text=True))

    manager_q = {"lt": manager_lt, "days": str(EXPIRING_DAYS)}
    listed = timed(
        "manager_expiring", lambda _n: get(manager_client, "/manager/certificates", manager_q)
    )
    sizes["manager_expiring"] = len(listed.data)
    if mapping_bench.PROFILE:
        profiled(
            "GET /manager/certificates",
            lambda: get(manager_client, "/manager/certificates", manager_q),
        )
    return {
        "requests": steps.report(),
        "bytes": sizes,
        "holder_certificates": held_count,
        "verified_codes": len(codes),
        "status_list_revoked_entries": revoked_entries,
        "manager_expiring_rows": expiring_rows,
    }


# --- the benchmark ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="Default: SQLite in a temp dir.")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--certifications", type=int, default=20, help="At least 3.")
    parser.add_argument("--revoked", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50, help="People evaluate_person runs for.")
    parser.add_argument("--requests", type=int, default=20, help="Runs of each page.")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile an evaluation, the publication and two pages (stderr).",
    )
    args = parser.parse_args()
    mapping_bench.PROFILE = args.profile
    with_evidence = 1 + args.samples + ATTENDANCE_RUNS * ATTENDANCE_GROUP
    if args.certifications < 3 or args.people < with_evidence + 1:
        parser.error(f"need --certifications >= 3 and --people > {with_evidence}")
    if args.revoked > args.people * (args.certifications - 1):
        parser.error("--revoked: at most --people × (--certifications - 1)")

    workdir = Path(tempfile.mkdtemp(prefix="lti-bench-cert-"))
    database_url = migrated_database(args.database_url, workdir)
    KeyRing(workdir / "keys", 7).rotate()

    jwks_port = free_port()
    platform = bench_platform(jwks_port, TOOL_BASE_URL)
    jwks_server = serve_jwks(platform, jwks_port)
    app = in_process_app(
        database_url,
        workdir,
        TOOL_BASE_URL,
        VERIFY_RATE_LIMIT="100000 per minute",
    )
    engine = app.extensions["db_engine"]
    results: dict[str, Any] = {
        "database": "postgresql" if "postgresql" in database_url else "sqlite",
        "people": args.people,
        "certifications": args.certifications,
        "revoked": args.revoked,
        "samples": args.samples,
        "requests": args.requests,
    }
    queries = QueryCounter(engine)
    try:
        setup: dict[str, Any] = {}
        started = time.perf_counter()
        with app.app_context():
            session = get_session()
            registered = demo.register_demo_platform(
                session, platform, organisation_name=ORGANISATION
            )
            session.commit()
            org_id = registered.deployments[0].organisation_id
            platform_id = registered.id
        content = setup_content(app, org_id)
        defined = setup_certifications(app, org_id, content, args.certifications)
        people = create_people(app, org_id, platform_id, args.people)
        manager_client = tool_client(app)
        _path, manager_lt = signed_launch(manager_client, platform, "manager", None)
        with app.app_context():
            manager_id = get_session().scalar(
                select(Person.id).where(Person.organisation_id == org_id, Person.id.not_in(people))
            )
        setup["platform_content_people_seconds"] = round(time.perf_counter() - started, 1)
        setup.update(
            issue_and_revoke(app, org_id, defined["ids"], people, manager_id, args.revoked)
        )
        # who has evidence: the holder, the evaluated people, the attendance groups
        holder_id = people[0]
        pool = people[1 : 1 + args.samples]
        grouped = people[1 + args.samples : with_evidence]
        groups = [
            grouped[g * ATTENDANCE_GROUP : (g + 1) * ATTENDANCE_GROUP]
            for g in range(ATTENDANCE_RUNS)
        ]
        meets = list(earnable(args.certifications))
        chosen = {holder_id: 2} | {
            person_id: meets[n % len(meets)] for n, person_id in enumerate(pool + grouped)
        }
        give_evidence(app, org_id, content, chosen, clock.now())
        add_attendance(app, org_id, defined["course_id"], [holder_id])
        with app.app_context():
            session = get_session()
            issued = certificates.evaluate_person(session, org_id, holder_id, clock.now())
            assert len(issued) == 1, issued
            session.commit()
        setup["seconds"] = round(time.perf_counter() - started, 1)
        setup["certificates"] = certificate_count(app)
        results["setup"] = setup

        results["evaluate_person"] = bench_evaluation(
            app, queries, org_id, defined["course_id"], pool, people[-1]
        )
        results["pages"] = bench_pages(
            app, queries, platform, (manager_client, manager_lt), org_id, holder_id, args
        )
        results["publish_certification"] = bench_publication(
            app, queries, org_id, defined["draft_id"], args.people
        )
        results["record_attendance"] = bench_attendance(
            app, queries, org_id, defined["course_id"], groups, manager_id
        )
        results["total_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        queries.close()
        jwks_server.shutdown()
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"certificate-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
