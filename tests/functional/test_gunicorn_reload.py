"""gunicorn with the packaged settings, reloaded (SIGHUP) while its settings file is broken.

A reload starts new workers that read LTI_TOOL_SETTINGS again and stops the old ones
before the new have loaded the app; a worker that cannot load it stopped all of gunicorn
("Worker failed to boot"). The master now checks first and refuses such a reload, whoever
sends the signal. Slow (a real gunicorn, a few seconds); the SQLite stage runs it.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.fakes.platform_server import free_port
from tests.production_processes import production_environment

pytestmark = pytest.mark.slow

METRICS_TOKEN = secrets.token_urlsafe(32)
BOOTED = re.compile(r"Booting worker with pid: (\d+)")


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "laeringslop.toml"
    path.write_text('LOG_LEVEL = "INFO"\n')
    return path


@pytest.fixture
def gunicorn(
    tmp_path: Path, settings_file: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    port = free_port()
    log = tmp_path / "gunicorn.log"
    environment = {
        **production_environment(tmp_path),
        "LTI_TOOL_SETTINGS": str(settings_file),
        "LOG_FORMAT": "text",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:lti_tool.gunicorn_conf"]
    with log.open("w") as out:
        server = subprocess.Popen(  # noqa: S603 - gunicorn with the tool's own settings
            [*command, "lti_tool:create_app()"],
            cwd=tmp_path,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield server, log, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _until(found: Callable[[], bool], server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if found():
            return
        assert server.poll() is None, f"gunicorn stopped:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"not in time:\n{log.read_text()}")


def _healthz_count(base: str) -> float:
    """/healthz's requests as /metrics adds them up over the workers, ended ones too."""
    text = requests.get(
        base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    prefix = 'laeringslop_http_request_duration_seconds_count{endpoint="health.healthz"'
    (line,) = [row for row in text.splitlines() if row.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=10).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
        return False


def test_a_reload_with_settings_that_cannot_work_is_refused_and_the_workers_go_on(
    gunicorn, settings_file, tmp_path
):
    server, log, base = gunicorn
    _until(lambda: _answers(base), server, log)
    (first,) = BOOTED.findall(log.read_text())

    settings_file.write_text("LOG_LEVEL = \n")  # a half-saved edit: not TOML
    server.send_signal(signal.SIGHUP)
    _until(lambda: "Reload refused" in log.read_text(), server, log)
    time.sleep(1)  # a reload that went on would boot a worker (or stop gunicorn) by now
    assert server.poll() is None
    assert _answers(base)
    text = log.read_text()
    assert BOOTED.findall(text) == [first]  # the worker that was there still answers
    assert f"Cannot read LTI_TOOL_SETTINGS={settings_file}" in text  # what to change
    assert "Traceback" not in text

    answered = _healthz_count(base)
    settings_file.write_text('LOG_LEVEL = "WARNING"\n')  # mended: the next reload goes on
    server.send_signal(signal.SIGHUP)
    _until(lambda: len(BOOTED.findall(log.read_text())) == 2, server, log)
    _until(lambda: _answers(base), server, log)
    second = BOOTED.findall(log.read_text())[1]
    assert second != first

    # The first worker's counts are merged when it ends: one file a kind for the ended
    # workers, and the counts go on from where they were.
    folder = tmp_path / "metrics"
    merged = "metrics: the counts of 1 ended processes merged"  # after its last file
    _until(lambda: merged in log.read_text(), server, log)
    assert not [name for name in os.listdir(folder) if f"-{first}." in name]
    assert (folder / "counter_gone.db").exists()
    assert _healthz_count(base) >= answered + 1
    server.terminate()
    assert server.wait(timeout=30) == 0
