"""The README's backup and restore (Production, *Backup and restore*), the commands without
compose: the database with ``pg_dump --format=custom`` and ``pg_restore --no-owner`` into
an empty database the tool's database user owns, the key folders with ``tar``, then the
migrations. All as a database user that is not a superuser, as the tool's is. The
restored tool is the one backed up: the same content, people still signed in (the same
SECRET_KEY), the same public keys, the audit log still append-only.

Needs PostgreSQL (TEST_DATABASE_URL) and its client programs (pg_dump, pg_restore), which
CI has: there a missing program is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from lti_tool.lti.keys import KeyRing
from tests.conftest import WORKER, register_test_lms
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import designer_browser
from tests.functional.test_migrations import _db_commands

ROOT = Path(__file__).resolve().parents[2]
#: The database user the tool runs as here: a login, not a superuser, owning its databases.
TOOL_USER = f"laeringslop_backup{WORKER}"


def _programs() -> None:
    if shutil.which("pg_dump") and shutil.which("pg_restore"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI has PostgreSQL's client programs: pg_dump and pg_restore are missing")
    pytest.skip("needs PostgreSQL's pg_dump and pg_restore")


@pytest.fixture
def tool_databases() -> Iterator[tuple[str, str]]:
    """Two empty databases beside TEST_DATABASE_URL's, owned by ``TOOL_USER``: the one
    backed up and the one restored into; their URLs as that user. Dropped afterwards."""
    _programs()
    given = os.environ.get("TEST_DATABASE_URL", "")
    if not given.startswith(("postgresql://", "postgresql+psycopg://")):
        pytest.skip("TEST_DATABASE_URL is not a PostgreSQL database")
    admin_url = make_url(given).set(drivername="postgresql+psycopg")
    names = [f"{admin_url.database}_{purpose}{WORKER}" for purpose in ("backed_up", "restored")]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def drop() -> None:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    drop()
    with admin.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": TOOL_USER}
        ).first():
            conn.execute(text(f'CREATE ROLE "{TOOL_USER}" LOGIN NOSUPERUSER NOCREATEDB'))
    try:
        yield tuple(  # type: ignore[misc]
            admin_url.set(database=name, username=TOOL_USER).render_as_string(hide_password=False)
            for name in names
        )
    finally:
        drop()
        with admin.connect() as conn:  # it owned only those databases
            conn.execute(text(f'DROP ROLE IF EXISTS "{TOOL_USER}"'))
        admin.dispose()


def _createdb(url: str) -> None:
    """``createdb --owner=… …``, as a PostgreSQL administrator (TEST_DATABASE_URL's user)."""
    target = make_url(url)
    admin = make_url(os.environ["TEST_DATABASE_URL"])
    where = [f"--host={admin.host}"] if admin.host else []  # else libpq's socket
    where += [f"--port={admin.port}"] if admin.port else []
    where += [f"--username={admin.username}"] if admin.username else []
    _run("createdb", f"--owner={target.username}", *where, str(target.database))


def _run(*command: str | Path) -> None:
    done = subprocess.run(  # noqa: S603 - the README's commands, on the test's own files
        [str(part) for part in command], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def _pg_url(url: str) -> str:
    """``DATABASE_URL`` without ``+psycopg``, as the README's ``sed`` gives pg_dump."""
    return url.replace("+psycopg", "")


def test_the_readme_gives_the_commands_this_test_runs():
    section = (ROOT / "README.md").read_text().split("### Backup and restore")[1]
    section = re.sub(r"\s+", " ", section.split("\n### ")[0])
    for command in (
        '(umask 077; pg_dump --format=custom --file=laeringslop-$(date +%F).dump "$PG_URL")',
        "(umask 077; tar -C /var/lib/laeringslop -czpf keys.tgz keys)",
        "createdb --owner=laeringslop laeringslop",
        'pg_restore --no-owner --dbname "$PG_URL" laeringslop-2026-12-06.dump',
        "laeringslop migrate",
    ):
        assert command in section, command


def test_a_backup_restored_into_an_empty_database_is_the_tool_backed_up(
    tmp_path, make_app, platform_pem, mocked_http, tool_databases
):
    backed_up, restored_url = tool_databases
    _createdb(backed_up)
    state = tmp_path / "state"
    KeyRing(state / "keys", 7).rotate()
    KeyRing(state / "keys" / "credentials", 36_500).rotate()
    app = make_app(DATABASE_URL=backed_up, KEYS_DIR=str(state / "keys"))
    _db_commands(app)("upgrade")
    lms = register_test_lms(app, platform_pem, mocked_http)
    browser = designer_browser(app, lms)
    page = browser.get("/designer/frameworks").get_data(as_text=True)
    (create,) = [f for f in parse_forms(page) if f["action"].endswith("/designer/frameworks")]
    data = {**create["fields"], "code": "brann", "title_nb": "Brannvern"}
    assert browser.post(create["action"], data=data).status_code == 302
    public_keys = app.test_client().get("/lti/jwks.json").get_json()
    app.extensions["db_engine"].dispose()  # the tool stopped for the backup's restore

    # Back up: the database, and the key folders with their modes, readable by you only.
    dump = tmp_path / "laeringslop-2026-12-07.dump"
    pg_dump = shlex.join(["pg_dump", "--format=custom", f"--file={dump}", _pg_url(backed_up)])
    _run("sh", "-c", f"umask 077; {pg_dump}")
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600  # names, e-mail addresses, the audit log
    archive = tmp_path / "keys.tgz"
    tar = f"umask 077; tar -C {shlex.quote(str(state))} -czpf {shlex.quote(str(archive))} keys"
    _run("sh", "-c", tar)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    # Restore elsewhere: the key folders, then the database into an empty one.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run("tar", "-C", elsewhere, "-xzpf", archive)
    for path in [elsewhere / "keys", *(elsewhere / "keys").rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    _createdb(restored_url)
    _run("pg_restore", "--no-owner", "--dbname", _pg_url(restored_url), dump)
    restored = make_app(DATABASE_URL=restored_url, KEYS_DIR=str(elsewhere / "keys"))

    db = _db_commands(restored)
    db("upgrade")  # `laeringslop migrate`: at head already, nothing to run
    assert "(head)" in db("current")
    assert "matches the models" in db("check")
    again = TestLms.same_browser_on(browser, restored)  # still signed in
    assert "Brannvern" in again.get("/designer/frameworks").get_data(as_text=True)
    assert restored.test_client().get("/lti/jwks.json").get_json() == public_keys
    _assert_audit_log_append_only(restored_url)
    restored.extensions["db_engine"].dispose()


def _assert_audit_log_append_only(url: str) -> None:
    """The trigger and its function came back with the data (``--no-owner``)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar()
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET action = 'changed'"))
    finally:
        engine.dispose()
