"""A statement that runs too long on PostgreSQL is stopped (``statement_timeout``): a web
request after DATABASE_STATEMENT_TIMEOUT_SECONDS, answered 503 in the reader's language
with nothing of it kept; the worker and the commands after the longer
WORKER_STATEMENT_TIMEOUT_SECONDS. Held up here by a table another connection holds locked,
as a request queued behind a stuck transaction is."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

from lti_tool.settings import SettingsError, load_settings
from tests.fakes.lms import TestLms, parse_forms

NB_TOO_LONG = "Dette tok for lang tid"


@pytest.fixture
def postgresql(database_url: str, app: Any) -> str:
    """The test database's libpq address; only PostgreSQL has a statement timeout. (The
    ``app`` fixture empties the database after the test, the other apps' rows too.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("statement_timeout is PostgreSQL's")
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


@contextmanager
def table_locked(dsn: str, table: str, seconds: float, mode: str = "EXCLUSIVE") -> Iterator[None]:
    """``table`` locked against writes (``mode`` ``ACCESS EXCLUSIVE``: reads too) by
    another connection, as by a transaction that is stuck, for ``seconds`` or until the
    block ends, whichever comes first."""
    locked = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute(f"LOCK TABLE {table} IN {mode} MODE")  # EXCLUSIVE: reads pass
            locked.set()
            release.wait(seconds)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def _people(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM person").fetchone()
        assert row is not None
        return int(row[0])


def test_a_launch_held_up_past_the_time_limit_is_stopped_and_keeps_nothing(
    make_app: Any, platform_pem: bytes, mocked_http: Any, postgresql: str, caplog: Any
) -> None:
    from tests.conftest import register_test_lms

    app = make_app(DATABASE_STATEMENT_TIMEOUT_SECONDS=1)
    lms = register_test_lms(app, platform_pem, mocked_http)
    browser = TestLms.browser(app)
    form = lms.authorize(lms.login(browser, "learner"))
    other = TestLms.browser(app)
    second = lms.authorize(lms.login(other, "learner"))
    people = _people(postgresql)
    # new connections, as after a restart: the first transaction of each is the one
    # stopped, and the limit outlives its rollback
    app.extensions["db_engine"].dispose()

    with table_locked(postgresql, "person", seconds=30), caplog.at_level(logging.ERROR):
        started = time.monotonic()
        response = lms.post_launch(browser, form)
        again = lms.post_launch(other, second)
        took = time.monotonic() - started

    assert (response.status_code, again.status_code) == (503, 503)
    assert took < 10  # each stopped after its second, not when the lock went
    page = response.get_data(as_text=True)
    assert NB_TOO_LONG in page
    assert "Retry-After" not in response.headers  # the same request may take as long again
    assert response.headers["Cache-Control"] == "no-store"
    assert _people(postgresql) == people  # the person's upsert went with the request
    logged = [r.getMessage() for r in caplog.records if "time limit" in r.getMessage()]
    assert logged and "INSERT INTO person" in logged[0], logged
    assert browser.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None  # no one signed in

    # the lock gone, the same learner's next launch lands and signs in
    assert TestLms.landed(lms.launch(browser, "learner"))
    assert browser.get_cookie(app.config["SESSION_COOKIE_NAME"]) is not None


@pytest.mark.parametrize(
    ("locale", "title"), [("en", "This took too long"), ("nn", "Dette tok for lang tid")]
)
def test_the_stop_is_told_in_the_launchs_language(
    make_app: Any, platform_pem: bytes, mocked_http: Any, postgresql: str, locale: str, title: str
) -> None:
    from tests.conftest import register_test_lms

    app = make_app(DATABASE_STATEMENT_TIMEOUT_SECONDS=1)
    lms = register_test_lms(app, platform_pem, mocked_http)
    browser = TestLms.browser(app)
    form = lms.authorize(lms.login(browser, "learner", locale=locale))

    with table_locked(postgresql, "person", seconds=30):
        response = lms.post_launch(browser, form)

    assert response.status_code == 503
    assert title in response.get_data(as_text=True)


def test_a_statement_of_the_commit_stopped_so_is_answered_alike(
    make_app: Any, platform_pem: bytes, mocked_http: Any, postgresql: str
) -> None:
    """A change whose audit rows are written as it commits (``_finish_request``), after
    the view: stopped there, the same 503, and none of it kept."""
    from tests.conftest import register_test_lms

    app = make_app(DATABASE_STATEMENT_TIMEOUT_SECONDS=1)
    lms = register_test_lms(app, platform_pem, mocked_http)
    browser = TestLms.browser(app)
    assert TestLms.landed(lms.launch(browser, "designer"))
    page = browser.get("/designer/frameworks").get_data(as_text=True)
    (create,) = [f for f in parse_forms(page) if f["action"].endswith("/designer/frameworks")]
    fields = {**create["fields"], "code": "brann", "title_nb": "Brannvern"}

    with table_locked(postgresql, "audit_event", seconds=30):
        response = browser.post(create["action"], data=fields)

    assert response.status_code == 503, response.get_data(as_text=True)[:2000]
    assert NB_TOO_LONG in response.get_data(as_text=True)
    assert "Brannvern" not in browser.get("/designer/frameworks").get_data(as_text=True)


def test_a_limit_the_database_url_gives_is_kept_everywhere(
    make_app: Any, database_url: str, postgresql: str
) -> None:
    from sqlalchemy import text

    url = make_url(database_url).update_query_dict({"options": "-c statement_timeout=7000"})
    app = make_app(DATABASE_URL=url.render_as_string(hide_password=False))

    def limit() -> str:
        with app.extensions["db_engine"].connect() as connection:
            return str(connection.scalar(text("SHOW statement_timeout")))

    assert limit() == "7s"
    assert app.test_cli_runner().invoke(args=["organisation", "list"]).exit_code == 0
    assert limit() == "7s"  # not the worker's either


def test_readyz_answers_its_checks_when_the_outbox_cannot_be_read_in_time(
    make_app: Any, postgresql: str
) -> None:
    """The outbox's depth is reported, not judged: a count held up by a lock (a stuck
    transaction's) gives up after its own 2 seconds, not the requests' 30, and the probe
    still answers its checks, ready: not unreachable, not the took-too-long page."""
    app = make_app()  # the default limits
    client = app.test_client()

    with table_locked(postgresql, "score_delivery", seconds=30, mode="ACCESS EXCLUSIVE"):
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started

    assert 1.5 < took < 4.5, took  # the count's 2 s, inside the probe's 5
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["outbox"] is None
    # the stopped transaction was rolled back: the next probe reads the outbox again
    assert client.get("/readyz").get_json()["outbox"]["scores"]["depth"] == 0


def _add_organisation_while_locked(
    app: Any, dsn: str, lock_seconds: float
) -> tuple[Any, float, bool]:
    """``organisation add`` while its table is locked for ``lock_seconds``: the command's
    result, how long it took, and whether the organisation is there after."""
    runner = app.test_cli_runner()
    with table_locked(dsn, "organisation", seconds=lock_seconds):
        started = time.monotonic()
        result = runner.invoke(args=["organisation", "add", "Ventekommune"])
        took = time.monotonic() - started
    added = "Ventekommune" in runner.invoke(args=["organisation", "list"]).output
    return result, took, added


def test_the_commands_wait_longer_than_a_web_request(make_app: Any, postgresql: str) -> None:
    """A command writes past the web requests' limit: it runs with the worker's."""
    app = make_app(DATABASE_STATEMENT_TIMEOUT_SECONDS=1, WORKER_STATEMENT_TIMEOUT_SECONDS=20)

    result, took, added = _add_organisation_while_locked(app, postgresql, lock_seconds=2.5)

    assert result.exit_code == 0, result.output
    assert took >= 2  # it waited for the lock, past the web requests' second
    assert added


def test_a_command_past_the_workers_limit_is_stopped(make_app: Any, postgresql: str) -> None:
    app = make_app(DATABASE_STATEMENT_TIMEOUT_SECONDS=30, WORKER_STATEMENT_TIMEOUT_SECONDS=1)

    result, took, added = _add_organisation_while_locked(app, postgresql, lock_seconds=30)

    assert result.exit_code != 0
    assert took < 10
    assert not added


@pytest.mark.parametrize(
    "name", ["DATABASE_STATEMENT_TIMEOUT_SECONDS", "WORKER_STATEMENT_TIMEOUT_SECONDS"]
)
@pytest.mark.parametrize("value", ["-1", "86401", "soon"])
def test_a_time_limit_out_of_range_is_refused_at_start(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={name: value})


@pytest.mark.parametrize("value", ["0", "86400"])
def test_no_limit_and_a_days_limit_are_taken(value: str) -> None:
    settings = load_settings(environ={"DATABASE_STATEMENT_TIMEOUT_SECONDS": value})
    assert int(value) == settings.DATABASE_STATEMENT_TIMEOUT_SECONDS


def test_by_default_a_web_request_may_run_a_statement_for_30_seconds(
    make_app: Any, postgresql: str
) -> None:
    from sqlalchemy import text

    engine = make_app().extensions["db_engine"]
    with engine.connect() as connection:
        assert connection.scalar(text("SHOW statement_timeout")) == "30s"
