"""Installing from the package: the wheel alone migrates the database and serves the tool.

Slow (1–2 minutes: it builds the wheel and installs it with its dependencies in a fresh
virtual environment); deselect with ``-m 'not slow'``. Everything runs from a temporary
folder outside the checkout, so nothing can come from the source tree: no alembic.ini,
no migrations/ or config/ folder.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory

from lti_tool import models  # noqa: F401  - every model registers its table
from lti_tool.db import Base
from lti_tool.migrate import alembic_config
from tests.fakes.platform_server import free_port
from tests.production_processes import production_environment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = secrets.token_urlsafe(32)
#: What the wheel is not built from: environments, caches, local data, tests, benchmarks.
NOT_SOURCES = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "instance",
    "keys",
    "tests",
    "bench",
)


@pytest.fixture(scope="module")
def outside() -> Iterator[Path]:
    """A folder outside the checkout (pytest's tmp_path could be configured inside it)."""
    with tempfile.TemporaryDirectory(prefix="laeringslop-wheel-") as folder:
        path = Path(folder).resolve()
        assert ROOT not in path.parents
        yield path


@pytest.fixture(scope="module")
def venv(outside: Path) -> Path:
    """A virtual environment made as the Dockerfile makes the image's: the tool's wheel and
    its dependencies installed by the build's pip, none of its own; returns its bin/.

    The wheel is built from a copy of the sources: setuptools' build/ folder in the
    checkout could otherwise carry files the sources no longer have.
    """
    source = outside / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    wheels = outside / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, source],
        check=True,
        cwd=outside,
    )
    (wheel,) = wheels.glob("lti_tool-*.whl")
    target = outside / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", target], check=True)
    python = target / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", wheel]
    subprocess.run(pip, check=True, cwd=outside)
    return target / "bin"


@pytest.fixture(scope="module")
def environment(outside: Path) -> dict[str, str]:
    return {**production_environment(outside), "LOG_LEVEL": "INFO", "METRICS_TOKEN": METRICS_TOKEN}


def _run(venv: Path, environment: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [str(venv / args[0]), *args[1:]],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_wheel_migrates_and_serves_without_the_source_tree(venv, environment, outside):
    cwd = outside / "elsewhere"
    cwd.mkdir()
    (outside / "data").mkdir()
    where = "import lti_tool; print(lti_tool.__file__)"
    package = _run(venv, environment, cwd, "python", "-c", where)
    assert Path(package.strip()).is_relative_to(outside / "venv")  # not the checkout
    defaults = "from lti_tool.settings import Settings as S; print(S.INSTANCE_PATH, S.KEYS_DIR)"
    instance, keys = _run(venv, environment, cwd, "python", "-c", defaults).split()
    assert (instance, keys) == (str(cwd / "instance"), str(cwd / "keys"))  # not site-packages

    assert not (venv / "pip").exists()  # as in the image: nothing to install more with

    # The migrations come from the package (the image's `migrate`): a fresh database at
    # head, every table made.
    upgraded = _run(venv, environment, cwd, "laeringslop", "migrate")
    (head,) = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert upgraded == ""  # where it left the schema is a log line, on stderr
    with sqlite3.connect(outside / "data" / "lti_tool.sqlite3") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert set(Base.metadata.tables) <= tables
    _run(venv, environment, cwd, "flask", "--app", "lti_tool", "db", "check")
    _run(venv, environment, cwd, "laeringslop", "flask", "--app", "lti_tool", "keys", "rotate")
    worked = _run(venv, environment, cwd, "laeringslop", "worker", "--once")
    assert worked.splitlines()[0] == "delivered=0 retrying=0 failed=0"

    # The image's `web`: gunicorn with the packaged settings, two workers.
    port = free_port()
    log = outside / "gunicorn.log"
    asks = 12
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(venv / "laeringslop"), "web"],
            cwd=cwd,
            env={**environment, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            healthz = _wait_for(base + "/healthz?lt=secret-launch-token", server, log)
            assert healthz.status_code == 200
            for _ in range(asks - 1):
                with requests.Session() as fresh:  # a connection of its own: either worker
                    assert fresh.get(base + "/healthz", timeout=5).status_code == 200
            ready = requests.get(base + "/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {
                "database": "ok",
                "schema": "ok",  # the migrations read from the installed package
                "cache": "in-process",
                "keys": "ok",
            }
            assert ready.json()["outbox"]["scores"] == {
                "depth": 0,
                "oldest_age_seconds": None,
                "failed": 0,
            }
            assert requests.get(base + "/metrics", timeout=5).status_code == 401
            metrics = requests.get(
                base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
            )
            assert metrics.status_code == 200, metrics.text
            counted = 'laeringslop_http_request_duration_seconds_count{endpoint="health.healthz"'
            (line,) = [row for row in metrics.text.splitlines() if row.startswith(counted)]
            assert float(line.rsplit(" ", 1)[1]) == asks  # both workers' requests, summed
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert server.returncode == 0
    lines = [json.loads(row) for row in log.read_text().splitlines()]  # JSON, one per line
    access = [row for row in lines if row["logger"] == "lti_tool.access"]
    assert len(access) == asks + 3  # and /readyz, /metrics twice
    assert {row["path"] for row in access} == {"/healthz", "/readyz", "/metrics"}
    assert len({row["request_id"] for row in access}) == len(access)
    assert {row["logger"] for row in lines} >= {"gunicorn.error", "lti_tool.access"}
    assert "secret-launch-token" not in log.read_text()  # no query strings


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> requests.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            return requests.get(url, timeout=10)
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer at {url}:\n{log.read_text()}")
