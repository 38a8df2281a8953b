"""The README's backup and restore (Production, *Backup and restore*), run as written: the
database with ``pg_dump --format=custom`` and ``pg_restore --no-owner`` into an empty
database, the key folders with ``tar``. The restored tool is the one backed up: the same
content, people still signed in, the same public keys, the audit log still append-only.

Needs PostgreSQL (TEST_DATABASE_URL) and its client programs (pg_dump, pg_restore).
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from lti_tool.lti.keys import KeyRing
from tests.conftest import register_test_lms
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import designer_browser
from tests.functional.test_migrations import _db_commands, _roundtrip_database

pytestmark = pytest.mark.skipif(
    not (shutil.which("pg_dump") and shutil.which("pg_restore")),
    reason="needs PostgreSQL's pg_dump and pg_restore",
)


def _run(*command: str | Path) -> None:
    done = subprocess.run(  # noqa: S603 - the README's commands, on the test's own files
        [str(part) for part in command], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def _pg_url(url: str) -> str:
    """``DATABASE_URL`` without ``+psycopg``, as the README's ``sed`` gives pg_dump."""
    return url.replace("+psycopg", "")


def test_a_backup_restored_into_an_empty_database_is_the_tool_backed_up(
    tmp_path, make_app, platform_pem, mocked_http
):
    backed_up = _roundtrip_database("postgresql", tmp_path, purpose="backed_up")
    restored_url = _roundtrip_database("postgresql", tmp_path, purpose="restored")
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

    # Back up: the database, and the key folders with their modes, readable by you only.
    dump = tmp_path / "laeringslop-2026-12-07.dump"
    _run("pg_dump", "--format=custom", f"--file={dump}", _pg_url(backed_up))
    archive = tmp_path / "keys.tgz"
    _run("sh", "-c", f"umask 077; tar -C {state} -czpf {archive} keys")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    # Restore elsewhere: the key folders, then the database into an empty one.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run("tar", "-C", elsewhere, "-xzpf", archive)
    for path in [elsewhere / "keys", *(elsewhere / "keys").rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    _run("pg_restore", "--no-owner", "--dbname", _pg_url(restored_url), dump)
    restored = make_app(DATABASE_URL=restored_url, KEYS_DIR=str(elsewhere / "keys"))

    db = _db_commands(restored)
    assert "matches the models" in db("check")  # at head: migrate has nothing to do
    again = TestLms.same_browser_on(browser, restored)  # still signed in
    assert "Brannvern" in again.get("/designer/frameworks").get_data(as_text=True)
    assert restored.test_client().get("/lti/jwks.json").get_json() == public_keys
    _assert_audit_log_append_only(restored_url)


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
