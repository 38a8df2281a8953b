"""A pooled database connection that died while idle (a database restart, a firewall's
idle cut) is tried and replaced before a request gets it; busy connections are not tried
(one round trip fewer per request than SQLAlchemy's ``pool_pre_ping``). PostgreSQL only:
SQLite has no server to lose."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from lti_tool import db


@pytest.fixture
def pg_app(make_app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a server connection to lose: PostgreSQL only")
    return make_app()


def _pooled_backend(app) -> int:
    """The backend pid of the connection the app's pool holds after one request."""
    assert app.test_client().get("/readyz").status_code == 200
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

    response = pg_app.test_client().get("/readyz")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["database"] == "ok"


def test_a_connection_used_a_moment_ago_is_not_tried(pg_app, database_url, monkeypatch):
    """The other side of the trade: without the idle time, no ping, so a connection killed
    since its last use fails its next request (then the pool starts afresh)."""
    pid = _pooled_backend(pg_app)
    _kill(database_url, pid)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)

    failed = pg_app.test_client().get("/readyz")
    assert failed.status_code == 503
    assert pg_app.test_client().get("/readyz").status_code == 200  # a new connection
