"""Test fixtures: a migrated database (SQLite, or PostgreSQL via TEST_DATABASE_URL), Redis
when TEST_REDIS_URL is set, the demo platform as the test LMS, and app instances."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import responses
from alembic import command
from sqlalchemy import Engine, create_engine, event, make_url, text

from lti_tool import create_app
from lti_tool.db import Base, close_connections, get_session
from lti_tool.lti.demo_platform import DemoPlatform
from lti_tool.lti.keys import KeyRing, generate_private_pem
from lti_tool.migrate import alembic_config
from lti_tool.services import platforms
from tests.compile_once import compile_once
from tests.fakes.lms import TestLms

TOOL_BASE_URL = "https://tool.example"
PLATFORM_ISSUER = "https://moodle.example"


compile_once()  # before any app is made


@event.listens_for(Engine, "connect")
def _commit_without_fsync(dbapi_conn: Any, _record: Any) -> None:
    """A test database needs no durability across a power cut: SQLite's commits skip the
    fsync that costs milliseconds on a disk, several times a test."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA synchronous=OFF")


def _migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")  # the migrations shipped in the package


#: The pytest-xdist worker this process is ("gw0", "gw1", …), or "" without ``-n``.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database for this test process. Under ``-n`` each worker has its own:
    an SQLite file in its own temporary folder, or the PostgreSQL database of
    TEST_DATABASE_URL with the worker's name appended (``test_gw0``), created if missing."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        if WORKER:
            url = _worker_database(url)
        engine = create_engine(url)
        with engine.begin() as conn:  # a clean schema for every test run
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    _migrate(url)
    return url


def _worker_database(url: str) -> str:
    """The worker's own PostgreSQL database beside the given one, created if missing."""
    given = make_url(url)
    name = f"{given.database}_{WORKER}"
    engine = create_engine(given, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """TEST_REDIS_URL, whose database each test empties, and this run first: a run stopped
    midway leaves what it cached (a test LMS's JWKS under its URL, which the next run's new
    platform key does not match). Under ``-n`` worker N uses the database N above the
    given one (``/6`` for gw0, ``/7`` for gw1)."""
    url = os.environ.get("TEST_REDIS_URL", "")
    if url:
        import redis

        if WORKER:
            parts = urlsplit(url)
            number = int(parts.path.strip("/") or 0) + int(WORKER.removeprefix("gw"))
            url = urlunsplit(parts._replace(path=f"/{number}"))
        try:
            redis.Redis.from_url(url).flushdb()  # fails loudly when asked for and unreachable
        except redis.ResponseError as exc:  # a database number beyond Redis's (0–15)
            raise RuntimeError(
                f"{url} (TEST_REDIS_URL for worker {WORKER}): {exc}. "
                "Give a lower database number: worker N uses the given one plus N."
            ) from exc
    return url


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys")
    KeyRing(path, 7).rotate()
    return path


@pytest.fixture(scope="session")
def platform_pem() -> bytes:
    return generate_private_pem()


@pytest.fixture
def settings_overrides(
    database_url: str, redis_url: str, keys_dir: Path, tmp_path: Path
) -> dict[str, Any]:
    return {
        "APP_ENV": "test",
        "SECRET_KEY": "test-secret-key-test-secret-key-test-secret",
        "BASE_URL": TOOL_BASE_URL,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KEYS_DIR": str(keys_dir),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "LTI_LEEWAY_SECONDS": 5,
    }


@pytest.fixture
def make_app(settings_overrides: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Build another app instance (another worker/host) sharing the same DB and Redis."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        app = create_app({**settings_overrides, **overrides})
        made.append(app)
        return app

    yield make
    for app in made:
        close_connections(app)
        lti = app.extensions["lti"]
        for client in (lti.redis, lti.status_redis):
            if client is not None:
                client.close()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Iterator[Any]:
    app = make_app()
    yield app
    _clean(app)


def _clean(app: Any) -> None:
    """Empty every table and the test Redis database after each test: the statements of
    ``_emptying_script`` sent as one script (one round trip, not one per table)."""
    engine = app.extensions["db_engine"]
    script = _emptying_script(engine.dialect)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            raw.driver_connection.executescript(script)
        else:
            with raw.cursor() as cursor:
                cursor.execute(script)
        raw.commit()
    finally:
        raw.close()
    lti = app.extensions["lti"]
    if lti.redis is not None:
        lti.redis.flushdb()


_EMPTYING: dict[str, str] = {}


def _emptying_script(dialect: Any) -> str:
    """Every table emptied, children first; a tree (org units) has its parent links
    cleared first, as it refuses to lose its parents before its children. On PostgreSQL
    the audit log's append-only trigger is told this is a purge."""
    if dialect.name not in _EMPTYING:
        statements: list[Any] = []
        if dialect.name == "postgresql":
            statements.append(text("SELECT set_config('laeringslop.audit_purge', 'on', true)"))
        for table in reversed(Base.metadata.sorted_tables):
            for fk in table.foreign_keys:
                if fk.column.table is table and fk.parent.nullable:
                    statements.append(table.update().values({fk.parent.name: None}))
            statements.append(table.delete())
        literal = {"literal_binds": True}
        compiled = (str(s.compile(dialect=dialect, compile_kwargs=literal)) for s in statements)
        _EMPTYING[dialect.name] = ";\n".join(compiled) + ";"
    return _EMPTYING[dialect.name]


@pytest.fixture
def mocked_http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def lms(app: Any, platform_pem: bytes, mocked_http: responses.RequestsMock) -> TestLms:
    """The test LMS: the demo platform code, registered with the tool, its JWKS faked."""
    return register_test_lms(app, platform_pem, mocked_http)


def register_test_lms(app: Any, platform_pem: bytes, http: responses.RequestsMock) -> TestLms:
    """Register the test LMS with ``app`` (organisation "Testkommune"), its JWKS on ``http``:
    the ``lms`` fixture, and module-wide data sets that make their own app."""
    platform = DemoPlatform(
        issuer=PLATFORM_ISSUER,
        client_id="client-123",
        deployment_id="1",
        private_pem=platform_pem,
        kid="platform-key-1",
        tool_launch_url=TOOL_BASE_URL + "/lti/launch",
        tool_login_url=TOOL_BASE_URL + "/lti/login",
    )
    with app.app_context():
        registration = platforms.register_platform(
            get_session(),
            issuer=platform.issuer,
            client_id=platform.client_id,
            auth_login_url=platform.auth_url,
            auth_token_url=platform.token_url,
            jwks_url=platform.jwks_url,
            organisation_name="Testkommune",
            deployment_ids=[platform.deployment_id],
        )
        get_session().commit()
        assert registration.id
    return TestLms(platform, http)


@pytest.fixture
def client(app: Any) -> Any:
    return TestLms.browser(app)


@pytest.fixture
def cli(app: Any) -> Callable[..., Any]:
    """Run a `flask --app lti_tool …` command on the test app; by default it must succeed."""
    runner = app.test_cli_runner()

    def run(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(args=list(args))
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run
