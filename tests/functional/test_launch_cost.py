"""What a launch costs the database, and that launches at once all land.

The launch POST reads the platform and deployment from the registry cache and writes in
four statements and one commit: the person (one upsert), their grants, the launch, the
course. Statements of the database state store (no Redis: the state and the nonce are
rows) are counted apart. The first page reads the launch in one statement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from lti_tool.db import get_session
from lti_tool.models import Launch, Person
from tests.fakes.lms import TestLms
from tests.statements import statements_run

#: The state store's own statements when it is the database (no Redis).
STATE_TABLES = ("lti_login_state", "lti_used_nonce")


@contextmanager
def commits_run(app: Any) -> Iterator[list[int]]:
    """The commits the app makes inside the block (their count: the list's length)."""
    done: list[int] = []

    def record(conn: Any) -> None:
        done.append(1)

    engine = app.extensions["db_engine"]
    event.listen(engine, "commit", record)
    try:
        yield done
    finally:
        event.remove(engine, "commit", record)


def _without_state_store(statements: list[str]) -> list[str]:
    """The statements of the launch itself: not the database state store's (its rows, and
    the savepoint that consumes the nonce)."""
    return [
        s
        for s in statements
        if not any(table in s for table in STATE_TABLES)
        and not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def _launch_form(lms: TestLms, browser: Any, persona: str) -> dict[str, str]:
    """Login and cookie check done: the form the platform posts to the launch."""
    return lms.authorize(lms.login(browser, persona))


def test_a_launch_costs_four_statements_and_one_commit(app, lms):
    assert lms.launch(TestLms.browser(app), "learner").status_code == 302  # the course known
    on_redis = app.extensions["lti"].redis is not None

    for persona in ("learner2", "learner"):  # a new person, then a known one
        browser = TestLms.browser(app)
        form = _launch_form(lms, browser, persona)
        with statements_run(app) as run, commits_run(app) as commits:
            response = lms.post_launch(browser, form)

        assert response.status_code == 302, response.get_data(as_text=True)
        own = _without_state_store(run)
        assert len(own) == 4, "\n".join(own)
        assert own[0].startswith("INSERT INTO person") and "ON CONFLICT" in own[0]
        assert not [s for s in run if s.startswith("UPDATE deployment")]
        if on_redis:
            assert run == own
        assert len(commits) == 1


def test_login_and_cookie_check_need_no_sql_with_the_registry_cached(app, lms):
    assert lms.launch(TestLms.browser(app), "learner").status_code == 302
    on_redis = app.extensions["lti"].redis is not None
    browser = TestLms.browser(app)
    params = lms.platform.login_params("learner")

    with statements_run(app) as at_login, commits_run(app) as commits:
        initiation = browser.get("/lti/login", query_string=params)
        checked = browser.get(initiation.headers["Location"])

    assert checked.status_code == 302
    assert _without_state_store(at_login) == []
    if on_redis:
        assert at_login == [] and commits == []


def test_the_first_page_reads_the_launch_once(app, lms):
    warm = TestLms.browser(app)  # the process has read the platforms' origins once
    assert warm.get(lms.launch(warm, "learner").headers["Location"]).status_code == 200
    browser = TestLms.browser(app)
    launched = lms.launch(browser, "learner")
    assert launched.status_code == 302

    with statements_run(app) as run, commits_run(app) as commits:
        page = browser.get(launched.headers["Location"])

    assert page.status_code == 200
    assert "Demo Ansatt" in page.get_data(as_text=True)
    # the handoff used up: in the database state store (not on Redis), its one row
    used = [s for s in run if s.startswith("INSERT INTO lti_used_nonce")]
    assert len(used) == (0 if app.extensions["lti"].redis is not None else 1), run
    run = _without_state_store(run)
    launch_reads = [s for s in run if "FROM launch" in s]
    assert len(launch_reads) == 1, launch_reads
    assert not [s for s in run if "FROM deployment" in s or "FROM platform" in s]
    # the launch with its person, deployment, platform and organisation; the grants; the
    # person's job roles and units; the job roles and units to choose from (none held);
    # the certificates
    assert len(run) == 7, "\n".join(run)
    assert len(commits) <= 1


def test_a_platform_disabled_elsewhere_refuses_the_next_launch_at_once(app, lms, make_app):
    """The registry cache of one process learns of another's change through Redis."""
    if app.extensions["lti"].redis is None:
        pytest.skip("without Redis each process sees another's change after its cache time")
    other = make_app()
    assert lms.launch(TestLms.browser(app), "learner").status_code == 302  # cached here
    runner = other.test_cli_runner()
    disabled = runner.invoke(
        args=[
            "platform",
            "disable",
            "--issuer",
            lms.platform.issuer,
            "--client-id",
            lms.platform.client_id,
        ]
    )
    assert disabled.exit_code == 0, disabled.output

    login = lms.login(TestLms.browser(app), "learner")

    assert login.response.status_code == 403
    assert "platform_disabled" in login.response.get_data(as_text=True)


TABS = 8


def test_the_same_learner_launching_in_eight_tabs_at_once_lands_every_time(app, lms):
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    tabs = [TestLms.browser(app) for _ in range(TABS)]
    forms = [_launch_form(lms, tab, "learner") for tab in tabs]
    start = threading.Barrier(TABS)
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()

    def run(tab: Any, form: dict[str, str]) -> None:
        start.wait(10)
        launched = lms.post_launch(tab, form)
        page = tab.get(launched.headers.get("Location", "/learner/"))
        with lock:
            answers.append((launched.status_code, page.status_code))

    threads = [threading.Thread(target=run, args=pair) for pair in zip(tabs, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not any(t.is_alive() for t in threads)
    assert answers == [(302, 200)] * TABS
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Launch)) == TABS


#: The first page of each persona the benchmark launches (``python -m bench all``), and
#: its statements once the process has read the platforms' origins: the launch with its
#: person, deployment, platform and organisation, and the grants, then the page's own.
FIRST_PAGES = {
    # the person's job roles and units; the roles and units to choose from; certificates
    "learner": ("/learner/", 7),
    "designer": ("/designer/", 2),
    # everyone of the organisation, their job roles and units
    "manager": ("/manager/", 5),
    # the platforms, their deployments (with their launch counts), the deployments
    "admin": ("/admin/", 5),
}


@pytest.mark.parametrize("persona", sorted(FIRST_PAGES))
def test_each_first_page_costs_its_statements(app, lms, persona):
    path, count = FIRST_PAGES[persona]
    warm = TestLms.browser(app)
    assert warm.get(lms.launch(warm, persona).headers["Location"]).status_code == 200
    browser = TestLms.browser(app)
    launched = lms.launch(browser, persona)
    assert launched.headers["Location"].startswith(path)

    with statements_run(app) as run, commits_run(app) as commits:
        page = browser.get(launched.headers["Location"])

    assert page.status_code == 200
    run = _without_state_store(run)  # the handoff used up (test_the_first_page_reads_…)
    assert len(run) == count, "\n".join(run)
    assert len([s for s in run if s.startswith("SELECT launch.id")]) == 1  # the launch, once
    assert len(commits) <= 1


def test_a_refusal_by_the_rate_limit_says_when_to_try_again(make_app, lms):
    """The limiter adds no headers to the responses it lets through (each would cost a
    Redis command): only its refusal says when to try again."""
    browser = make_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    params = lms.platform.login_params("learner")

    answers = [browser.get("/lti/login", query_string=params) for _ in range(3)]

    assert [a.status_code for a in answers] == [302, 302, 429]
    assert not [a for a in answers if "X-RateLimit-Limit" in a.headers]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
