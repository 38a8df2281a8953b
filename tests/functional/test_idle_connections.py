"""A pooled database connection that died while idle (a database restart, a firewall's
idle cut) is tried and replaced before a request gets it; busy connections are not tried
(one round trip fewer per request than SQLAlchemy's ``pool_pre_ping``). PostgreSQL only:
SQLite has no server to lose."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session

from lti_tool import db
from tests.fakes.lms import TestLms


@pytest.fixture
def pg_app(make_app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a server connection to lose: PostgreSQL only")
    return make_app()


#: A page that reads the database through the pool (a certificate code that does not
#: exist: 404). /readyz reads on a connection of its own, not the pool's.
PAGE = "/verify/ABCD-EFGH-JKMN?lang=en"


def _pooled_backend(app) -> int:
    """The backend pid of the connection the app's pool holds after one request."""
    assert app.test_client().get(PAGE).status_code == 404
    engine = app.extensions["db_engine"]
    assert engine.pool.checkedin() == 1
    with engine.connect() as conn:  # the same pooled connection, checked out again
        return int(conn.scalar(text("SELECT pg_backend_pid()")))


def _kill(database_url: str, pid: int) -> None:
    other = create_engine(database_url)
    with other.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_an_idle_connection_that_died_is_replaced(pg_app, database_url, monkeypatch):
    pid = _pooled_backend(pg_app)
    _kill(database_url, pid)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # it has idled long enough

    response = pg_app.test_client().get(PAGE)

    assert response.status_code == 404, response.get_data(as_text=True)[:300]


def test_a_connection_used_a_moment_ago_is_not_tried(pg_app, database_url, monkeypatch):
    """The other side of the trade: without the idle time, no ping, so a connection killed
    since its last use fails its next request (then the pool starts afresh)."""
    pid = _pooled_backend(pg_app)
    _kill(database_url, pid)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)

    failed = pg_app.test_client().get(PAGE)
    assert failed.status_code == 503
    assert pg_app.test_client().get(PAGE).status_code == 404  # a new connection


def test_a_page_whose_connection_died_is_told_to_try_again(pg_app, database_url, monkeypatch):
    """A connection lost under a page (a database restart): 503 with Retry-After and
    "try again", not an unexpected error; the next request gets a new connection."""
    pid = _pooled_backend(pg_app)
    _kill(database_url, pid)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    client = pg_app.test_client()

    failed = client.get(PAGE)

    assert failed.status_code == 503 and failed.headers["Retry-After"] == "30"
    assert "Try again in a moment" in failed.get_data(as_text=True)
    assert client.get(PAGE).status_code == 404  # no such code


@contextmanager
def _connection_lost_at_next_commit(app: Any, database_url: str) -> Iterator[list[bool]]:
    """The app's next commit finds its connection killed (a database restart at that
    moment); the list yielded is empty once that commit has run."""
    sessions = app.extensions["db_sessionmaker"]
    armed = [True]

    def lose_the_connection(session: Session) -> None:
        if armed.pop() if armed else False:
            _kill(database_url, int(session.scalar(text("SELECT pg_backend_pid()"))))

    event.listen(sessions, "before_commit", lose_the_connection)
    try:
        yield armed
    finally:
        event.remove(sessions, "before_commit", lose_the_connection)


def test_a_commit_the_database_does_not_answer_is_told_to_try_again(pg_app, database_url):
    """The connection is lost at the request's own commit (after the page was made): the
    page made is not sent as if its work were kept; 503, "try again"."""
    with _connection_lost_at_next_commit(pg_app, database_url) as armed:
        failed = pg_app.test_client().get("/verify/ABCD-EFGH-JKMN?lang=en")

    assert not armed  # the commit ran, and lost its connection
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "30"
    assert failed.headers["Cache-Control"] == "no-store"  # made after the hooks that set it
    assert "Try again in a moment" in failed.get_data(as_text=True)


def test_a_launch_whose_commit_is_lost_signs_no_one_in(pg_app, lms, database_url):
    """The launch's commit loses its connection: 503, and the browser keeps the cookie it
    came with (none), not a session naming a launch that was never recorded."""
    browser = TestLms.browser(pg_app)
    form = lms.authorize(lms.login(browser, "learner"))
    with _connection_lost_at_next_commit(pg_app, database_url) as armed:
        failed = lms.post_launch(browser, form)

    assert not armed and failed.status_code == 503
    set_cookies = " ".join(failed.headers.getlist("Set-Cookie"))
    assert pg_app.config["SESSION_COOKIE_NAME"] + "=" not in set_cookies
    assert browser.get("/learner/").status_code in (401, 403)
