"""Horizontal scale: two web processes and two workers sharing PostgreSQL and Redis.

The tool runs as it does behind a load balancer: two gunicorn processes on different
ports, and two ``flask worker`` processes, all on one PostgreSQL database and one Redis
database, with nothing else in common. The browser (``requests``) logs in on one process
and launches on the other, answers a mapping across both, and the score reaches the LMS
once; the rate limit of ``/verify`` counts requests to both. The LMS is the test platform
and gradebook (``TestLms``, ``FakeGradebook``), served over real HTTP to the processes by
``PlatformServer``. A worker stopped with SIGTERM while it sends a score finishes that
one and gives back the rest of its claim, which the other worker sends.

Needs PostgreSQL and Redis (TEST_DATABASE_URL and TEST_REDIS_URL): skipped without them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from sqlalchemy import create_engine, make_url, select, text

from bench.launch_bench import start_gunicorn
from lti_tool import create_app
from lti_tool.db import get_session
from lti_tool.domain.items import SELF_ASSESSMENT, CompetenceRef, ItemData
from lti_tool.lti.demo_platform import DemoPlatform, PlacedLink
from lti_tool.lti.keys import generate_private_pem
from lti_tool.models import DeliveryStatus, MappingStatus, ScoreDelivery
from lti_tool.services import demo, item_bank, mappings
from lti_tool.services.launches import MAPPING_PARAM
from tests.conftest import WORKER, _migrate
from tests.fakes import content
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms, csrf_token, page_address
from tests.fakes.platform_server import PlatformServer, free_port

pytestmark = pytest.mark.skipif(
    not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL")),
    reason="needs PostgreSQL and Redis (TEST_DATABASE_URL and TEST_REDIS_URL)",
)

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
LINK = "7"
MAPPING = "skala"
ITEMS = 4


class Cluster:
    def __init__(self, env: dict[str, str], webs: list[str], database_url: str) -> None:
        self.env = env
        self.webs = webs
        self.database_url = database_url
        self.workers: list[subprocess.Popen[bytes]] = []
        self.platform: DemoPlatform
        self.gradebook: FakeGradebook
        self.server: PlatformServer

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [str(BIN / "flask"), "--app", "lti_tool", "worker", "--batch", "10"],
            cwd=ROOT,
            env=self.env,
        )
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.wait(timeout=30)
        self.workers.clear()

    def rows(self) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(
                    conn.execute(
                        select(
                            ScoreDelivery.id,
                            ScoreDelivery.status,
                            ScoreDelivery.locked_until,
                            ScoreDelivery.tries,
                        ).order_by(ScoreDelivery.id)
                    )
                )
        finally:
            engine.dispose()


def _scale_database() -> str:
    """A database of its own beside TEST_DATABASE_URL's (the processes see only what is
    committed, not the tests' rolled-back transactions), emptied and migrated."""
    given = make_url(
        os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    )
    name = f"{given.database}_scale{'_' + WORKER if WORKER else ''}"
    admin = create_engine(given, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = given.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    _migrate(url)
    return url


def _set_up(settings: dict[str, Any], platform: DemoPlatform, lineitem: str) -> None:
    """The platform registered, and a published mapping of self-assessments placed in the
    course with a gradebook column."""
    app = create_app(settings)
    try:
        with app.app_context():
            session = get_session()
            registered = demo.register_demo_platform(
                session, platform, organisation_name="Testkommune"
            )
            org_id = registered.deployments[0].organisation_id
            competences = content.framework(org_id, "SKALA", "Skala", {"K1": "Kompetanse 1"})
            items = [
                item_bank.create_item(
                    session,
                    org_id,
                    ItemData(
                        kind=SELF_ASSESSMENT,
                        stem={"nb": f"Hvor godt kan du {n}?"},
                        code=f"selv-{n}",
                        competences=[CompetenceRef(weight=1.0, id=competences["K1"])],
                    ),
                )
                for n in range(ITEMS)
            ]
            mapping = mappings.create_mapping(
                session,
                org_id,
                code=MAPPING,
                title={"nb": "Skala"},
                description={"nb": ""},
                competence_ids=list(competences.values()),
                rules=mappings.MappingRules(pass_percentage=50.0),
            )
            mappings.add_items(session, org_id, mapping.id, [item.id for item in items])
            mappings.set_status(session, org_id, mapping.id, MappingStatus.PUBLISHED)
            session.commit()
    finally:
        app.extensions["db_engine"].dispose()
    platform.links[LINK] = PlacedLink(LINK, "Skala", {MAPPING_PARAM: MAPPING}, lineitem)


def _wait_until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def _ready(url: str, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, f"{url} exited with {server.returncode}"
    try:
        return requests.get(url + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def cluster(
    redis_url: str, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    import redis

    database_url = _scale_database()
    redis.Redis.from_url(redis_url).flushdb()
    ports = [free_port(), free_port()]
    webs = [f"http://127.0.0.1:{port}" for port in ports]
    settings = {
        "APP_ENV": "development",
        "SECRET_KEY": "scale-secret-key-scale-secret-key-scale-secret",
        "BASE_URL": webs[0],  # the load balancer's address: the launch URL the LMS knows
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KEYS_DIR": str(keys_dir),
        "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        "LOG_LEVEL": "WARNING",
        "REGISTRATION_ALLOW_PRIVATE_HOSTS": "true",  # the LMS is on 127.0.0.1
        "SCORE_WORKER_POLL_SECONDS": "1",
        "VERIFY_RATE_LIMIT": "3 per minute",
    }
    env = {**os.environ, **settings}
    cluster = Cluster(env, webs, database_url)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        for web in webs:
            http.add_passthru(web)
        cluster.server = PlatformServer()
        cluster.platform = DemoPlatform(
            issuer=cluster.server.url,
            client_id="client-scale",
            deployment_id="1",
            private_pem=generate_private_pem(),
            kid="platform-key-scale",
            tool_launch_url=webs[0] + "/lti/launch",
            tool_login_url=webs[0] + "/lti/login",
        )
        TestLms(cluster.platform, http)  # serves the platform's JWKS
        cluster.gradebook = FakeGradebook(
            cluster.platform.issuer, http, cluster.platform.token_url, client_id="client-scale"
        )
        lineitem = cluster.gradebook.add_line_item("Skala", 100)
        _set_up(settings, cluster.platform, lineitem)
        servers = [start_gunicorn(env, port, workers=1, threads=4) for port in ports]
        try:
            for web, server in zip(webs, servers, strict=True):
                _wait_until(lambda w=web, s=server: _ready(w, s), 60, f"{web} ready")
            yield cluster
        finally:
            cluster.stop_workers()
            for server in servers:
                server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
            for server in servers:
                server.wait(timeout=30)
            cluster.server.close()
            redis.Redis.from_url(redis_url).flushdb()


def _launch_across(cluster: Cluster, persona: str) -> tuple[requests.Session, str]:
    """Login initiation on the first process, the launch on the second (which answers
    with the landing page). Returns the browser (its session cookie serves both) and the
    landing's address."""
    first, second = cluster.webs
    browser = requests.Session()
    login = browser.get(
        first + "/lti/login",
        params=cluster.platform.login_params(persona, link=LINK),
        allow_redirects=False,
    )
    assert login.status_code == 302, login.text[:300]
    login = browser.get(first + login.headers["Location"], allow_redirects=False)
    assert login.status_code == 302, login.text[:300]
    action, form = cluster.platform.authorize(
        dict(parse_qsl(urlsplit(login.headers["Location"]).query))
    )
    assert action == first + "/lti/launch"
    launch = browser.post(second + "/lti/launch", data=form, allow_redirects=False)
    assert launch.status_code == 200, launch.text[:300]
    address = page_address(launch.text)
    assert address, launch.text[:300]
    return browser, address


def _take_mapping_across(cluster: Cluster, persona: str) -> None:
    """Each page on one process, each answer posted to the other."""
    browser, path = _launch_across(cluster, persona)
    assert path == f"/mappings/{MAPPING}"
    q: dict[str, str] = {}  # no token: the session cookie, on both processes
    webs = cluster.webs
    page = browser.get(webs[0] + path, params=q)
    assert page.status_code == 200, page.status_code
    token = csrf_token(page.text)
    started = browser.post(
        webs[1] + path + "/attempts", params=q, data={"csrf_token": token}, allow_redirects=False
    )
    assert started.status_code == 302, started.text[:300]
    attempt = re.search(r"/mappings/attempts/(\d+)/", started.headers["Location"])
    assert attempt
    base = f"/mappings/attempts/{attempt.group(1)}"
    for position in range(1, ITEMS + 1):
        shown, saved = webs[position % 2], webs[(position + 1) % 2]
        item = browser.get(f"{shown}{base}/items/{position}", params=q)
        assert item.status_code == 200, item.status_code
        data = {
            "csrf_token": csrf_token(item.text),
            "answer": "3",
            "go": "review" if position == ITEMS else "next",
        }
        answer = browser.post(
            f"{saved}{base}/items/{position}", params=q, data=data, allow_redirects=False
        )
        assert answer.status_code == 302, answer.text[:300]
    review = browser.get(f"{webs[0]}{base}/review", params=q)
    assert review.status_code == 200
    submitted = browser.post(
        f"{webs[1]}{base}/submit", params=q, data={"csrf_token": token}, allow_redirects=False
    )
    assert submitted.status_code == 302, submitted.text[:300]
    result = browser.get(f"{webs[0]}{base}/result", params=q)
    assert result.status_code == 200
    assert "%" in result.text
    browser.close()


def test_two_processes_serve_one_learner_and_two_workers_send_the_score_once(cluster):
    cluster.start_worker()
    cluster.start_worker()

    _take_mapping_across(cluster, "learner3")

    gradebook = cluster.gradebook
    _wait_until(lambda: gradebook.received, 60, "the score reaches the gradebook")
    time.sleep(2.5)  # both workers poll every second: neither sends it again
    assert len(gradebook.received) == 1
    assert gradebook.received[0][1]["userId"] == "105"
    [row] = cluster.rows()
    assert row.status == DeliveryStatus.DELIVERED and row.tries == 1


def test_the_rate_limit_counts_requests_to_both_processes(cluster):
    first, second = cluster.webs
    answers = [
        requests.get(web + "/verify", timeout=10).status_code for web in (first, second, first)
    ]
    assert answers == [200, 200, 200]
    assert requests.get(second + "/verify", timeout=10).status_code == 429


def test_a_worker_stopped_mid_batch_gives_its_scores_to_the_other(cluster):
    cluster.stop_workers()
    before = len(cluster.gradebook.received)
    for persona in ("learner", "learner2"):
        _take_mapping_across(cluster, persona)
    cluster.server.hold_scores()
    first = cluster.start_worker()
    try:
        assert cluster.server.score_arrived.wait(60), "the first worker sends nothing"
        # both rows in its claim, under its lease: the release below is the worker's doing
        assert all(row.locked_until is not None for row in cluster.rows()[-2:])
        first.send_signal(signal.SIGTERM)  # while its first score is on its way
    finally:
        cluster.server.release_scores()
    assert first.wait(timeout=60) == 0
    sent, waiting = cluster.rows()[-2:]
    assert sent.status == DeliveryStatus.DELIVERED
    assert waiting.status == DeliveryStatus.PENDING
    assert waiting.locked_until is None  # given back, not left to its lease

    cluster.start_worker()  # long before the first worker's lease (300 s) would run out

    _wait_until(lambda: len(cluster.gradebook.received) == before + 2, 60, "the other sent")
    assert sorted(s["userId"] for _url, s in cluster.gradebook.received[before:]) == ["101", "104"]
    # the worker records the delivery once the LMS has answered: wait for its commit
    _wait_until(
        lambda: all(r.status == DeliveryStatus.DELIVERED for r in cluster.rows()),
        60,
        "both rows recorded as delivered",
    )
    assert all(r.tries == 1 for r in cluster.rows())
