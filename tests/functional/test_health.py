"""Health checks for load balancers: alive, and ready (database and cache reachable)."""

from __future__ import annotations


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_database_and_cache(app, redis_url):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == ("ok" if redis_url else "in-process")


def test_readyz_is_503_when_the_database_is_unreachable(make_app):
    app = make_app(DATABASE_URL="sqlite:////nonexistent/dir/x.db")
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unreachable"
    # Alive all the same: the orchestrator should not restart it for a database outage.
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_redis_is_unreachable(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["cache"] == "unreachable"
    assert body["checks"]["database"] == "ok"


def test_readyz_is_503_without_a_signing_key(make_app, tmp_path):
    app = make_app(KEYS_DIR=str(tmp_path / "no-keys"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["keys"] == "missing"
