"""Mapping benchmark: learners take a skills mapping, scores reach the gradebook, statistics.

Runs the tool in process (Flask app and test client), on SQLite in a temporary folder by
default, or on PostgreSQL (the database given is created if needed and emptied):

    .venv/bin/python bench/mapping_bench.py [--learners 50] [--extra-scores 1000] \
        [--database-url postgresql://postgres@127.0.0.1:5432/lti_bench3] [--profile]

Set up through the services (not timed): an organisation with a published framework of 10
competences (4-level scale), 200 items in the bank (self-assessment, single choice,
multiple choice, true/false and numeric, 40 of each) tied to those competences, and a
published mapping of a fixed list of 40 items (8 of each kind), placed in the course as a
link with a gradebook column.

It measures (min/median/p95/max ms, and SQL statements per request):

1. per learner (N, each a real signed launch of the placed link with a sub of its own):
   the mapping's start page, starting the attempt, each item page and each answer saved
   (POST, 302), the review page, the submit (scoring 40 items, evidence, the outbox row)
   and the result page; the first learners (``--warmup``) launch a copy of the link
   without a gradebook column and are not counted;
2. score delivery: the N queued scores, then ``--extra-scores`` more queued with
   ``queue_score`` (spread over the N learners, so each learner's scores go in order),
   sent by ``score_delivery.deliver_due`` to a fake gradebook served over HTTP on
   127.0.0.1 (token endpoint and score endpoint): scores per second and token requests
   (1 expected: the token is cached);
3. the designer's item statistics page ``/designer/mappings/<id>/statistics`` after the
   attempts.

The tool is configured with ``REGISTRATION_ALLOW_PRIVATE_HOSTS=true`` so that its AGS
client calls the gradebook on 127.0.0.1. ``--profile`` prints a cProfile of the last
submit, of the extra scores' delivery and of one statistics page on stderr. Prints a JSON
summary and keeps it in ``bench/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from competence_bench import case_package  # noqa: E402
from launch_bench import (  # noqa: E402
    bench_platform,
    free_port,
    in_process_app,
    landing_of,
    migrated_database,
    serve_jwks,
)
from sqlalchemy import event, select  # noqa: E402

from lti_tool.db import get_session  # noqa: E402
from lti_tool.domain.items import (  # noqa: E402
    MULTIPLE_CHOICE,
    NUMERIC,
    SELF_ASSESSMENT,
    SINGLE_CHOICE,
    TRUE_FALSE,
    CompetenceRef,
    ItemData,
    OptionData,
    default_fractions,
)
from lti_tool.lti.demo_platform import DemoPlatform, PlacedLink  # noqa: E402
from lti_tool.lti.keys import KeyRing  # noqa: E402
from lti_tool.lti.services import lti_services  # noqa: E402
from lti_tool.models import (  # noqa: E402
    Attempt,
    DeliveryStatus,
    Item,
    Launch,
    MappingStatus,
    ScoreDelivery,
)
from lti_tool.services import (  # noqa: E402
    demo,
    framework_io,
    frameworks,
    item_bank,
    mappings,
    placement,
    score_delivery,
)
from lti_tool.services.launches import MAPPING_PARAM  # noqa: E402

TOOL_BASE_URL = "https://tool.example"
ORGANISATION = "Benchkommune"
FRAMEWORK = "BENCHMAP"
MAPPING_CODE = "bench-kartlegging"
COMPETENCES = 10
KINDS = (SELF_ASSESSMENT, SINGLE_CHOICE, MULTIPLE_CHOICE, TRUE_FALSE, NUMERIC)
BANK_ITEMS = 200
MAPPING_ITEMS = 40
GRADED_LINK = "2"
UNGRADED_LINK = "3"  # the same mapping without a gradebook column: for the warm-up learners
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- figures ------------------------------------------------------------------------------


PROFILE = False


def profiled(name: str, fn: Callable[[], Any], enabled: bool = True) -> Any:
    """With --profile: the 20 costliest functions (cumulative) of one call, on stderr."""
    if not (PROFILE and enabled):
        return fn()
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    result = profile.runcall(fn)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(20)
    print(f"--- profile: {name}\n{text.getvalue()}", file=sys.stderr)
    return result


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {
        "n": len(ms),
        "min_ms": round(ms[0], 1),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
    }


def query_summary(counts: list[int]) -> dict[str, float]:
    ordered = sorted(counts)
    return {
        "min": ordered[0],
        "median": statistics.median(ordered),
        "max": ordered[-1],
    }


class QueryCounter:
    """Counts every SQL statement the engine runs (``count`` grows; read it around a call)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)


class Steps:
    """Timings and statement counts per step of the learner's flow."""

    def __init__(self, queries: QueryCounter) -> None:
        self.queries = queries
        self.times: dict[str, list[float]] = defaultdict(list)
        self.counts: dict[str, list[int]] = defaultdict(list)
        self.recording = True

    def run(self, step: str, fn: Callable[[], Any]) -> Any:
        before = self.queries.count
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        if self.recording:
            self.times[step].append(elapsed)
            self.counts[step].append(self.queries.count - before)
        return result

    def report(self) -> dict[str, Any]:
        return {
            step: {**summary(samples), "queries_per_request": query_summary(self.counts[step])}
            for step, samples in self.times.items()
        }


# --- a fake gradebook (token and score endpoints), over real HTTP --------------------------


class Gradebook:
    """``POST /token`` hands out a bearer token; ``POST …/lineitem/scores`` takes scores."""

    TOKEN = "bench-access-token"  # noqa: S105 - the fake gradebook's own token

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.token_requests = 0
        self.scores: list[dict[str, Any]] = []
        self.refused = 0
        self.lock = threading.Lock()
        gradebook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = urlsplit(self.path).path
                if path == "/token":
                    with gradebook.lock:
                        gradebook.token_requests += 1
                    answer = {
                        "access_token": gradebook.TOKEN,
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "scope": dict(parse_qsl(body.decode())).get("scope", ""),
                    }
                    self._reply(200, json.dumps(answer).encode())
                elif path.endswith("/lineitem/scores") and "type_id=1" in self.path:
                    if self.headers.get("Authorization") != "Bearer " + gradebook.TOKEN:
                        with gradebook.lock:
                            gradebook.refused += 1
                        self._reply(401, b'{"error": "invalid token"}')
                        return
                    with gradebook.lock:
                        gradebook.scores.append(json.loads(body))
                    self._reply(200, b"{}")
                else:
                    self._reply(404, b"{}")

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    def lineitem_url(self, platform: DemoPlatform, number: int) -> str:
        """The platform's line-item URL (Moodle's shape), on this server."""
        return self.base_url + platform.lineitem_url(number).removeprefix(platform.issuer)


# --- generated content --------------------------------------------------------------------


def texts(text: str) -> dict[str, str]:
    return {"nb": text, "nn": text + " (nn)", "en": text + " (en)"}


def generated_item(n: int, kind: str, competences: list[int]) -> ItemData:
    """Item ``n`` of the bank: its kind's options, tied to one competence (every third
    knowledge item to a second one as well, at half weight)."""
    refs = [CompetenceRef(weight=1.0, id=competences[0])]
    if kind != SELF_ASSESSMENT and n % 3 == 0:
        refs.append(CompetenceRef(weight=0.5, id=competences[1]))
    options: list[OptionData] = []
    if kind == SINGLE_CHOICE:
        options = [
            OptionData(texts(f"Alternativ {o}"), 1.0 if o == 0 else 0.0, texts(f"Fordi {o}"))
            for o in range(4)
        ]
    elif kind == MULTIPLE_CHOICE:
        correct = [True, True, False, False]
        options = [
            OptionData(texts(f"Påstand {o}"), fraction)
            for o, fraction in enumerate(default_fractions(correct))
        ]
    elif kind == TRUE_FALSE:
        options = [OptionData(texts("Sant"), 1.0), OptionData(texts("Usant"), 0.0)]
    elif kind == NUMERIC:
        options = [
            OptionData(value=10.0 + n, tolerance=0.5, fraction=1.0, feedback=texts("Riktig")),
            OptionData(value=100.0 + n, tolerance=0.0, fraction=0.5),
        ]
    return ItemData(
        kind=kind,
        stem=texts(f"Spørsmål {n} ({kind})"),
        options=options,
        code=f"item-{n:03d}",
        points=1.0,
        feedback=texts(f"Forklaring til spørsmål {n}"),
        competences=refs,
    )


def setup_content(app: Any, org_id: int, mapping_items: int = MAPPING_ITEMS) -> dict[str, Any]:
    """Framework, item bank and a mapping of the bank's first ``mapping_items``, through the
    services; returns what the learners need: the mapping's id and, per item id, its kind
    and options."""
    with app.app_context():
        session = get_session()
        framework_io.import_framework(
            session, org_id, case_package(FRAMEWORK, COMPETENCES), "case", publish=True
        )
        session.commit()
        framework = frameworks.find_framework(session, org_id, FRAMEWORK)
        competence_ids = sorted(
            c.id
            for c in item_bank.usable_competences(session, org_id)
            if c.version.framework_id == framework.id
        )
        assert len(competence_ids) == COMPETENCES, competence_ids
        items = []
        for n in range(BANK_ITEMS):
            kind = KINDS[n % len(KINDS)]
            first = (n + n // len(KINDS)) % COMPETENCES
            chosen = [competence_ids[first], competence_ids[(first + 1) % COMPETENCES]]
            items.append(item_bank.create_item(session, org_id, generated_item(n, kind, chosen)))
        mapping = mappings.create_mapping(
            session,
            org_id,
            code=MAPPING_CODE,
            title=texts("Kartlegging for ytelsesmåling"),
            description=texts("Generert"),
            competence_ids=competence_ids,
            rules=mappings.MappingRules(pass_percentage=50.0),
        )
        # the first 40 of the bank: 8 of each kind, every competence measured
        chosen_items = [item.id for item in items[:mapping_items]]
        mappings.add_items(session, org_id, mapping.id, chosen_items)
        mappings.set_status(session, org_id, mapping.id, MappingStatus.PUBLISHED)
        session.commit()
        measured = {ic.competence_id for mi in mapping.items for ic in mi.item.competences} & set(
            competence_ids
        )
        assert len(measured) == COMPETENCES, f"{len(measured)} competences measured"
        assert len(mapping.items) == mapping_items
        kinds = defaultdict(int)
        answers_of: dict[int, dict[str, Any]] = {}
        for row in session.scalars(select(Item).where(Item.id.in_(chosen_items))):
            kinds[row.kind] += 1
            answers_of[row.id] = {
                "kind": row.kind,
                "options": [(o.id, o.fraction, o.value) for o in row.options],
            }
        return {
            "mapping_id": mapping.id,
            "competence_ids": competence_ids,
            "items": answers_of,
            "kinds": dict(kinds),
        }


def answer_for(item: dict[str, Any], good: bool, rng: random.Random) -> list[str]:
    """Form values for an item: right (``good``) or wrong, as a learner ticks them."""
    kind, options = item["kind"], item["options"]
    if kind == SELF_ASSESSMENT:
        return [str(rng.choice((3, 4)) if good else rng.choice((1, 2)))]
    if kind == NUMERIC:
        value = options[0][2] if good else options[0][2] + 7
        return [f"{value:g}".replace(".", ",")]
    right = [str(i) for i, fraction, _ in options if fraction > 0]
    wrong = [str(i) for i, fraction, _ in options if fraction <= 0]
    if kind == MULTIPLE_CHOICE:
        return right if good else [right[0], wrong[0]]
    return [right[0]] if good else [rng.choice(wrong)]


# --- launches -----------------------------------------------------------------------------


def tool_client(app: Any) -> Any:
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "tool.example"})
    return client


def signed_launch(
    client: Any, platform: DemoPlatform, persona: str, link: str | None, sub: str | None = None
) -> str:
    """A real login → id_token → launch; the id_token is signed here for ``sub`` (a
    person of our own) instead of the persona's. Returns the landing's address."""
    login = client.get("/lti/login", query_string=platform.login_params(persona, link=link))
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    login = client.get(login.headers["Location"])  # the cookie check, then the platform
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
    claims = platform.launch_claims(persona, nonce=query["nonce"], link=link)
    if sub is not None:
        claims.update(
            sub=sub,
            given_name="Bench",
            family_name=f"Ansatt {sub}",
            name=f"Bench Ansatt {sub}",
            email=f"{sub}@bench.example",
        )
    form = {"id_token": platform.sign(claims), "state": query["state"]}
    launch = client.post("/lti/launch", data=form)
    return landing_of(launch.status_code, launch.get_data(as_text=True))


def take_mapping(
    app: Any,
    platform: DemoPlatform,
    steps: Steps,
    content: dict[str, Any],
    sub: str,
    link: str,
    rng: random.Random,
    profile_submit: bool = False,
) -> int:
    """One learner from launch to result; returns the attempt's id."""
    client = tool_client(app)
    path = signed_launch(client, platform, "learner", link, sub)
    assert path == f"/mappings/{MAPPING_CODE}", path

    def get(url: str) -> Any:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    def post(url: str, data: dict[str, Any]) -> Any:
        response = client.post(url, data=data)
        assert response.status_code == 302, (url, response.get_data(as_text=True)[:500])
        return response

    start_page = steps.run("start_page", lambda: get(path))
    csrf = CSRF.search(start_page.get_data(as_text=True))
    assert csrf, "no CSRF token on the start page"
    token = csrf.group(1)
    started = steps.run("start_attempt", lambda: post(path + "/attempts", {"csrf_token": token}))
    found = re.search(r"/mappings/attempts/(\d+)/items/1\b", started.headers["Location"])
    assert found, started.headers["Location"]
    attempt_id = int(found.group(1))
    with app.app_context():
        plan = get_session().get(Attempt, attempt_id).plan  # type: ignore[union-attr]
    assert len(plan) == MAPPING_ITEMS
    ability = rng.uniform(0.2, 0.95)
    base = f"/mappings/attempts/{attempt_id}"
    for position, entry in enumerate(plan, 1):
        steps.run("item_page", lambda position=position: get(f"{base}/items/{position}"))
        values = answer_for(content["items"][entry["item"]], rng.random() < ability, rng)
        go = "next" if position < len(plan) else "review"
        data = {"csrf_token": token, "answer": values, "go": go}
        url = f"{base}/items/{position}"
        saved = steps.run("save_answer", lambda url=url, data=data: post(url, data))
        where = "/review" if go == "review" else f"/items/{position + 1}"
        assert urlsplit(saved.headers["Location"]).path == base + where, saved.headers["Location"]
    steps.run("review_page", lambda: get(f"{base}/review"))

    def submit() -> Any:
        return post(f"{base}/submit", {"csrf_token": token})

    if profile_submit and PROFILE:  # not counted: the profiler slows it down
        submitted = profiled("POST submit", submit)
    else:
        submitted = steps.run("submit", submit)
    assert urlsplit(submitted.headers["Location"]).path == f"{base}/result"
    result = steps.run("result_page", lambda: get(f"{base}/result"))
    assert "%" in result.get_data(as_text=True)
    return attempt_id


# --- score delivery -----------------------------------------------------------------------


def pending(app: Any) -> int:
    with app.app_context():
        return len(
            get_session()
            .scalars(select(ScoreDelivery.id).where(ScoreDelivery.status == DeliveryStatus.PENDING))
            .all()
        )


def last_error(app: Any) -> str | None:
    with app.app_context():
        return get_session().scalar(
            select(ScoreDelivery.last_error)
            .where(ScoreDelivery.last_error.is_not(None))
            .order_by(ScoreDelivery.id.desc())
            .limit(1)
        )


def deliver_all(
    app: Any, gradebook: Gradebook, queries: QueryCounter, profile: bool = False
) -> dict[str, Any]:
    """Every pending score, through deliver_due; scores per second and token requests."""
    waiting = pending(app)
    tokens_before, received_before = gradebook.token_requests, len(gradebook.scores)
    statements_before = queries.count
    passes = 0
    started = time.perf_counter()
    delivered = 0
    with app.app_context():
        session_factory = app.extensions["db_sessionmaker"]
        services = lti_services()
        while True:
            counts = profiled(
                f"deliver_due ({waiting} scores)",
                lambda: score_delivery.deliver_due(session_factory, services, limit=waiting + 10),
                enabled=profile and passes == 0,
            )
            passes += 1
            delivered += counts.delivered
            if counts.retrying or counts.failed:
                raise AssertionError(f"{counts}: {last_error(app)}")
            if counts.handled == 0:
                break
    elapsed = time.perf_counter() - started
    received = len(gradebook.scores) - received_before
    assert delivered == waiting == received, (delivered, waiting, received)
    return {
        "scores": delivered,
        "seconds": round(elapsed, 2),
        "scores_per_second": round(delivered / elapsed, 1) if elapsed else None,
        "deliver_due_calls": passes,
        "token_requests": gradebook.token_requests - tokens_before,
        "sql_statements_per_score": round((queries.count - statements_before) / delivered, 1)
        if delivered
        else None,
    }


def queue_extra(app: Any, attempt_ids: list[int], extra: int) -> None:
    """``extra`` more scores (as if resubmitted), round robin over the learners' launches."""
    from lti_tool.db import utcnow

    with app.app_context():
        session = get_session()
        launches = [
            session.get(Launch, session.get(Attempt, attempt_id).launch_id)  # type: ignore[union-attr]
            for attempt_id in attempt_ids
        ]
        for n in range(extra):
            launch = launches[n % len(launches)]
            queued = score_delivery.queue_score(
                session,
                organisation_id=launch.deployment.organisation_id,  # type: ignore[union-attr]
                attempt_id=None,
                launch=launch,  # type: ignore[arg-type]
                score_given=float(n % 101),
                score_maximum=placement.SCORE_MAXIMUM,
                comment=f"{MAPPING_CODE}: {n % 101} %",
                line_item=None,
                submitted_at=utcnow(),
            )
            assert queued is not None
        session.commit()


# --- the benchmark ------------------------------------------------------------------------


def bench_tool(database_url: str, prefix: str) -> tuple[Path, str, Gradebook, Any, Any, Any]:
    """The tool in process on its migrated database (``migrated_database``), its keys in a
    new folder, the fake gradebook and the benchmark's LMS with its JWKS served: (folder,
    database URL, gradebook, platform, JWKS server, app)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    url = migrated_database(database_url, workdir)
    KeyRing(workdir / "keys", 7).rotate()
    gradebook = Gradebook()
    jwks_port = free_port()
    platform = bench_platform(jwks_port, TOOL_BASE_URL)
    jwks_server = serve_jwks(platform, jwks_port)
    app = in_process_app(
        url,
        workdir,
        TOOL_BASE_URL,
        # The fake gradebook is on 127.0.0.1. Outside production this is meant to be
        # the default, but AgsClient.from_services reads the raw setting (None when
        # unset, so private hosts are refused): say it explicitly.
        REGISTRATION_ALLOW_PRIVATE_HOSTS=True,
    )
    return workdir, url, gradebook, platform, jwks_server, app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="Default: SQLite in a temp dir.")
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2, help="Learners not counted (no score).")
    parser.add_argument("--extra-scores", type=int, default=1000, help="0: none.")
    parser.add_argument("--requests", type=int, default=20, help="Runs of the statistics page.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the last submit, the extra scores' delivery and a statistics page.",
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile

    workdir, database_url, gradebook, platform, jwks_server, app = bench_tool(
        args.database_url, "lti-bench-mapping-"
    )
    engine = app.extensions["db_engine"]
    results: dict[str, Any] = {
        "database": "postgresql" if "postgresql" in database_url else "sqlite",
        "learners": args.learners,
        "warmup_learners": args.warmup,
        "bank_items": BANK_ITEMS,
        "mapping_items": MAPPING_ITEMS,
        "competences": COMPETENCES,
    }
    queries = QueryCounter(engine)
    try:
        with app.app_context():
            session = get_session()
            registered = demo.register_demo_platform(
                session, platform, organisation_name=ORGANISATION, token_url=gradebook.token_url
            )
            session.commit()
            org_id = registered.deployments[0].organisation_id

        started = time.perf_counter()
        content = setup_content(app, org_id)
        results["setup_seconds"] = round(time.perf_counter() - started, 1)
        results["mapping_kinds"] = content["kinds"]
        custom = {MAPPING_PARAM: MAPPING_CODE}
        lineitem = gradebook.lineitem_url(platform, 2)
        platform.links[GRADED_LINK] = PlacedLink(GRADED_LINK, "Kartlegging", custom, lineitem)
        platform.links[UNGRADED_LINK] = PlacedLink(UNGRADED_LINK, "Kartlegging", dict(custom))
        results["lineitem"] = lineitem

        rng = random.Random(args.seed)
        steps = Steps(queries)
        steps.recording = False
        for n in range(args.warmup):
            take_mapping(app, platform, steps, content, f"warmup-{n}", UNGRADED_LINK, rng)
        steps.recording = True
        attempt_ids = []
        started = time.perf_counter()
        for n in range(args.learners):
            attempt_ids.append(
                take_mapping(
                    app,
                    platform,
                    steps,
                    content,
                    f"learner-{n:04d}",
                    GRADED_LINK,
                    rng,
                    profile_submit=n == args.learners - 1,
                )
            )
        results["learners_seconds"] = round(time.perf_counter() - started, 1)
        results["learner_steps"] = steps.report()

        delivery: dict[str, Any] = {}
        assert pending(app) == args.learners, "one queued score per learner"
        delivery["learner_scores"] = deliver_all(app, gradebook, queries)
        if args.extra_scores:
            queue_extra(app, attempt_ids, args.extra_scores)
            delivery["extra_scores"] = deliver_all(app, gradebook, queries, profile=True)
        delivery["token_requests_in_all"] = gradebook.token_requests
        delivery["refused_by_gradebook"] = gradebook.refused
        results["score_delivery"] = delivery

        results["statistics_page"] = bench_statistics(
            app, platform, queries, content["mapping_id"], args
        )
        results["statistics_page"]["submitted_attempts"] = args.learners + args.warmup
    finally:
        queries.close()
        jwks_server.shutdown()
        gradebook.server.shutdown()
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"mapping-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results))
    return 0


def bench_statistics(
    app: Any, platform: DemoPlatform, queries: QueryCounter, mapping_id: int, args: Any
) -> dict[str, Any]:
    client = tool_client(app)
    signed_launch(client, platform, "designer", None)
    url = f"/designer/mappings/{mapping_id}/statistics"

    def get() -> Any:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        return response

    html = get().get_data(as_text=True)  # warm-up
    assert "item-0" in html, "the statistics page shows no item"
    samples, counts = [], []
    for _ in range(args.requests):
        before = queries.count
        started = time.perf_counter()
        get()
        samples.append(time.perf_counter() - started)
        counts.append(queries.count - before)
    if PROFILE:
        profiled(f"GET {url}", get)
    return {
        **summary(samples),
        "queries_per_request": query_summary(counts),
        "html_bytes": len(html),
    }


if __name__ == "__main__":
    raise SystemExit(main())
