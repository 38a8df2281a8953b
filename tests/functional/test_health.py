"""Health checks for load balancers: alive, and ready (database and cache reachable)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from lti_tool.db import close_connections
from tests.fakes.freezing_proxy import FreezingProxy


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


def test_readyz_judges_the_databases_schema_against_this_versions(make_app, tmp_path):
    """Not migrated, or behind this version (a pod started before `laeringslop migrate`
    ran): unready, its pages would fail. A newer version's schema (the rolling upgrade
    migrated first): ready, and said so."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'schema.db'}"
    app = make_app(DATABASE_URL=url)
    client, cli = app.test_client(), app.test_cli_runner()

    def schema() -> tuple[int, str]:
        response = client.get("/readyz")
        return response.status_code, response.get_json()["checks"]["schema"]

    assert schema() == (503, "not migrated")
    assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
    assert schema() == (200, "ok")
    assert cli.invoke(args=["db", "downgrade"]).exit_code == 0
    assert schema() == (503, "behind")
    assert cli.invoke(args=["db", "upgrade"]).exit_code == 0
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'"))
    engine.dispose()
    assert schema() == (200, "newer")


def test_a_running_process_judges_the_schema_by_the_migrations_it_was_loaded_with(
    make_app, monkeypatch, tmp_path
):
    """A newer version's files installed under a running process (a pip upgrade before
    its restart) must not make it take its database for behind and answer 503."""
    from lti_tool import migrate

    installed = tmp_path / "lti_tool" / "migrations" / "versions"
    installed.mkdir(parents=True)
    shipped = migrate.files("lti_tool") / "migrations" / "versions"
    for migration in shipped.iterdir():
        if migration.name.endswith(".py"):
            (installed / migration.name).write_text(migration.read_text())
    (installed / "ffffffffffff_newer.py").write_text(
        f'revision = "ffffffffffff"\ndown_revision = "{migrate.schema_revisions().head}"\n'
    )
    migrate.schema_revisions.cache_clear()  # a process that has read none yet
    try:
        running = make_app().test_client()
        monkeypatch.setattr(migrate, "files", lambda package: tmp_path / package)  # installed
        assert running.get("/readyz").get_json()["checks"]["schema"] == "ok"
    finally:
        monkeypatch.undo()
        migrate.schema_revisions.cache_clear()


def test_the_revisions_readyz_knows_are_alembics():
    """``migrate.schema_revisions`` reads the migration files without Alembic: it must
    read them as Alembic does."""
    from alembic.script import ScriptDirectory

    from lti_tool.migrate import alembic_config, schema_revisions

    alembic = ScriptDirectory.from_config(alembic_config("sqlite://"))
    ours = schema_revisions()
    assert [ours.head] == alembic.get_heads()
    assert ours.known == {script.revision for script in alembic.walk_revisions()}


def test_readyz_gives_up_on_a_database_that_accepts_and_never_answers(make_app, monkeypatch):
    """A half-dead database host (or a stuck proxy in front of it) accepts the connection
    and says nothing: the probe answers 503 after the connect timeout, not minutes later."""
    import socket
    import threading
    import time

    monkeypatch.setattr("lti_tool.db.CONNECT_TIMEOUT_SECONDS", 2)  # libpq's least
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepting = threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True)
    accepting.start()
    port = silent.getsockname()[1]
    app = make_app(DATABASE_URL=f"postgresql+psycopg://tool@127.0.0.1:{port}/tool")
    answers: list[Any] = []
    asking = threading.Thread(target=lambda: answers.append(app.test_client().get("/readyz")))
    try:
        started = time.monotonic()
        asking.start()
        asking.join(timeout=15)  # without a timeout it would wait for ever
        waited = time.monotonic() - started
    finally:
        for connection in held:  # the database "answers" at last: the probe ends
            connection.close()
        silent.close()
        asking.join()
    assert waited < 10, waited
    assert answers[0].status_code == 503
    assert answers[0].get_json()["checks"]["database"] == "unreachable"


def test_a_login_while_redis_is_down_is_told_to_try_again(make_app, lms):
    """Redis down (the OIDC state lives there): 503 with Retry-After and a page saying to
    try again in a moment, in the login's language, not an unexpected error's 500."""
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    params = lms.platform.login_params("learner")
    browser = app.test_client()

    refused = browser.get("/lti/login", query_string={**params, "lang": "nb"})

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert "Prøv igjen om litt" in refused.get_data(as_text=True)


def test_a_page_while_the_database_is_down_is_told_to_try_again(make_app):
    app = make_app(DATABASE_URL="sqlite:////nonexistent/dir/x.db")
    client = app.test_client()
    page = client.get("/verify/ABCD-EFGH-JKMN?lang=en")
    assert page.status_code == 503
    assert "Try again in a moment" in page.get_data(as_text=True)
    asked = client.get("/verify/ABCD-EFGH-JKMN?format=json")
    assert asked.status_code == 503 and asked.get_json()["error"] == "service_unavailable"


def test_the_revisions_of_branches_and_their_merge():
    """A merge migration (``alembic merge``) revises two: the head is the merge."""
    from lti_tool.migrate import revisions_of

    def migration(revision: str, down: str) -> str:
        return f'"""doc"""\nrevision: str = {revision!r}\ndown_revision: str | None = {down}\n'

    found = revisions_of(
        [
            migration("a1", "None"),
            migration("b2", "'a1'"),
            migration("c3", "'a1'"),
            migration("d4", "('b2', 'c3')"),
            "def helper():\n    revision = 'not one'\n",
        ]
    )
    assert found.head == "d4" and found.known == {"a1", "b2", "c3", "d4"}
    assert found.state_of("b2") == "behind" and found.state_of("e5") == "newer"


def test_a_fault_in_a_statement_is_no_outage(make_app, tmp_path):
    """An OperationalError that trying again will not mend (here SQLite's "no such table":
    the database was never migrated) is an unexpected error, 500, not "try again"."""
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    response = app.test_client().get("/verify/ABCD-EFGH-JKMN?lang=en")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


def test_readyz_on_a_postgresql_database_never_migrated(make_app, database_url):
    """PostgreSQL says a missing alembic_version otherwise than SQLite (UndefinedTable, a
    ProgrammingError): the same "not migrated", not an outage."""
    from sqlalchemy import create_engine, make_url, text

    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's own error for a missing table")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS never_migrated"))
    engine.dispose()
    empty = make_url(database_url).update_query_dict({"options": "-csearch_path=never_migrated"})
    app = make_app(DATABASE_URL=empty.render_as_string(hide_password=False))

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert (checks["database"], checks["schema"]) == ("ok", "not migrated")


@pytest.fixture
def proxied(make_app: Any, app: Any, database_url: str) -> Iterator[tuple[Any, FreezingProxy]]:
    """A tool whose database (the test database, migrated) is behind a ``FreezingProxy``."""
    from sqlalchemy import make_url

    if not database_url.startswith("postgresql"):
        pytest.skip("a database server behind a network connection")
    url = make_url(database_url)
    proxy = FreezingProxy(url.host or "127.0.0.1", url.port or 5432)
    through = url.set(host="127.0.0.1", port=proxy.port)
    tool = make_app(DATABASE_URL=through.render_as_string(hide_password=False))
    try:
        yield tool, proxy
    finally:
        proxy.close()
        close_connections(tool)


def _probes(client: Any, count: int) -> tuple[list[Any], float]:
    """``count`` probes one after the other, each given up on after 20 s: the answers, and
    how long they took all told."""
    import threading
    import time

    answers: list[Any] = []
    started = time.monotonic()
    for _ in range(count):
        asking = threading.Thread(target=lambda: answers.append(client.get("/readyz")))
        asking.daemon = True
        asking.start()
        asking.join(timeout=20)
    return answers, time.monotonic() - started


def _ready_again(client: Any) -> None:
    import time

    deadline = time.monotonic() + 15
    while (status := client.get("/readyz").status_code) != 200:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_readyz_gives_up_on_a_database_that_stops_answering(proxied):
    """Every connection frozen, new ones too: each probe says unreachable after the
    connect timeout, not when TCP gives up (minutes); once it answers, ready again."""
    tool, proxy = proxied
    client = tool.test_client()
    assert client.get("/readyz").status_code == 200

    proxy.frozen.set()
    answers, waited = _probes(client, 2)

    assert len(answers) == 2, f"a probe still waits after {waited:.0f} s"
    assert waited < 15, waited
    for answer in answers:
        assert answer.status_code == 503
        assert answer.get_json()["checks"]["database"] == "unreachable"
    proxy.thaw()
    _ready_again(client)


def test_readyz_cuts_a_connection_that_stops_answering_midway(proxied, caplog):
    """The probe's own connection made, then its server stops answering its query: libpq
    and the server's statement limit would wait for ever; the probe cuts the connection
    at its deadline and says unreachable."""
    tool, proxy = proxied
    client = tool.test_client()
    proxy.freeze_on = b"SELECT 1"

    answers, waited = _probes(client, 1)

    assert len(answers) == 1, f"the probe still waits after {waited:.0f} s"
    assert 4 < waited < 10, waited  # at its deadline (5 s)
    assert answers[0].status_code == 503
    assert answers[0].get_json()["checks"]["database"] == "unreachable"
    assert "its connection is cut" in caplog.text
    proxy.thaw()
    _ready_again(client)


@pytest.mark.parametrize(
    ("marker", "when"),
    [
        (b"version()", "the dialect's first queries, as the connection is set up"),
        (b"set_config", "the outbox's count, after the checks were answered"),
    ],
)
def test_readyz_cuts_a_connection_whatever_it_was_doing(proxied, marker, when):
    """The deadline holds from the probe's start, whatever the connection was doing when
    its server stopped answering: unreachable, not a probe that never answers, nor a
    ready one because only the outbox's count was held up."""
    tool, proxy = proxied
    proxy.freeze_on = marker

    answers, waited = _probes(tool.test_client(), 1)

    assert len(answers) == 1, f"the probe still waits after {waited:.0f} s ({when})"
    assert waited < 10, waited
    assert answers[0].status_code == 503, when
    assert answers[0].get_json()["checks"]["database"] == "unreachable"
    proxy.thaw()
    _ready_again(tool.test_client())


@pytest.mark.parametrize("kept", ["frozen", "dropped", "host gone"])
def test_readyz_cuts_a_connection_made_again_after_its_kept_one_failed(proxied, monkeypatch, kept):
    """The probe's kept connection fails its idle ping (frozen: cut at the deadline;
    dropped, as by a restart: at once; the host gone, new connections unanswered too),
    and the pool connects again within the same probe: that connection is cut as well,
    whatever number its socket took (the dropped one's, freed a moment ago), and none is
    begun after the deadline. The probe ends at its 5 seconds, not 5 + connect_timeout."""
    tool, proxy = proxied
    client = tool.test_client()
    assert client.get("/readyz").status_code == 200  # its connection, kept
    monkeypatch.setattr("lti_tool.db.IDLE_PING_SECONDS", 0.0)  # tried at every probe
    if kept == "dropped":
        proxy.drop_open()
    if kept == "host gone":
        proxy.frozen.set()
    proxy.freeze_on = b"SELECT 1"  # the ping's, and the probe's own on a new connection

    answers, waited = _probes(client, 1)

    assert len(answers) == 1, f"the probe still waits after {waited:.0f} s"
    assert waited < 7, waited
    assert answers[0].status_code == 503
    proxy.thaw()
    _ready_again(client)


def test_a_connection_given_back_before_the_deadline_is_not_cut(app, database_url):
    """A probe's connection goes back to the pool before its deadline passes (the probe
    done, or its session between transactions): the deadline no longer reaches it, so the
    next probe, or another thread's probe holding it by then, finds it whole."""
    import time

    from sqlalchemy import text

    from lti_tool.db import answering_session

    if not database_url.startswith("postgresql"):
        pytest.skip("a server connection to cut")
    engine = app.extensions["db_probe_engine"]
    with answering_session(engine, 0.5) as session:
        session.execute(text("SELECT 1"))
        session.commit()  # the connection back in the pool, idle
        time.sleep(1)  # the deadline passes, the probe's session not yet closed

    response = app.test_client().get("/readyz")

    assert response.status_code == 200, response.get_json()


def test_readyz_does_not_wait_on_the_connections_requests_hold(proxied):
    """The pool's connections stuck (requests hold them, their server stopped answering on
    them) while new ones are answered: the probe reads on a new one, ready."""
    from sqlalchemy import text

    tool, proxy = proxied
    held = tool.extensions["db_engine"].connect()  # a request's, from the pool
    held.execute(text("SELECT 1"))
    proxy.freeze_open()

    answers, waited = _probes(tool.test_client(), 1)

    proxy.thaw()
    held.invalidate()  # its server gone: dropped, not given back to the pool
    held.close()
    assert len(answers) == 1 and waited < 5, waited
    assert answers[0].status_code == 200, answers[0].get_json()


def test_connections_give_up_on_a_server_gone_in_seconds_not_minutes(make_app, database_url):
    """libpq's keepalives and TCP user timeout on every connection (``db.TCP_SETTINGS``),
    unless the URL gives its own: the kernel's retransmissions would take some 15 minutes."""
    from sqlalchemy import make_url

    if not database_url.startswith("postgresql"):
        pytest.skip("libpq's settings")

    def parameters(url: str) -> dict[str, str]:
        tool = make_app(DATABASE_URL=url)
        connection = tool.extensions["db_engine"].raw_connection()
        try:
            return dict(connection.driver_connection.info.get_parameters())
        finally:
            connection.close()
            tool.extensions["db_engine"].dispose()

    given = parameters(database_url)
    assert given["tcp_user_timeout"] == "30000"
    assert (given["keepalives_idle"], given["keepalives_interval"]) == ("30", "10")
    assert (given["keepalives_count"], given["connect_timeout"]) == ("3", "5")
    own = make_url(database_url).update_query_dict({"tcp_user_timeout": "9000"})
    assert parameters(own.render_as_string(hide_password=False))["tcp_user_timeout"] == "9000"


def test_readyz_keeps_its_connection_when_the_database_has_none_left(make_app, app, database_url):
    """At the database's (or the role's) connection limit the requests' pool still serves,
    and so does the probe: it keeps a connection of its own, rather than making every
    process unready at once."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import OperationalError

    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connection limits")
    admin = create_engine(database_url)
    role = "lt_probe_limit"
    with admin.begin() as connection:
        connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        # the test database's tables are its owner's: the role reads them as its member
        owner = connection.scalar(text("SELECT current_user"))
        connection.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2 IN ROLE {owner}"))
    limited = make_url(database_url).set(username=role, password=None)
    tool = make_app(DATABASE_URL=limited.render_as_string(hide_password=False))
    client = tool.test_client()
    others = create_engine(limited)
    held = []
    try:
        assert client.get("/readyz").status_code == 200
        with pytest.raises(OperationalError, match="too many connections"):  # none left
            for _ in range(3):
                held.append(others.connect())

        response = client.get("/readyz")

        assert response.status_code == 200, response.get_json()
        assert response.get_json()["checks"]["database"] == "ok"
        assert len(held) == 1  # the probe's connection was one of the two
    finally:
        for connection in held:
            connection.close()
        others.dispose()
        close_connections(tool)
        with admin.begin() as connection:
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
