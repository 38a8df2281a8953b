"""The gunicorn settings shipped in the package (``-c python:lti_tool.gunicorn_conf``)."""

from __future__ import annotations

import gc
import importlib
import os
from types import SimpleNamespace

import pytest

from lti_tool import gunicorn_conf


@pytest.fixture
def reload(monkeypatch):
    def load(**environ: str):
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(gunicorn_conf)

    yield load
    monkeypatch.undo()
    importlib.reload(gunicorn_conf)


def test_defaults_serve_every_interface_with_threads(reload):
    conf = reload()
    assert conf.bind == "0.0.0.0:8000"
    assert (conf.workers, conf.threads, conf.worker_class) == (2, 4, "gthread")
    assert conf.forwarded_allow_ips == "127.0.0.1"


def test_no_control_socket_and_a_log_level_gunicorn_can_configure(reload):
    """gunicorn's control socket is off; a LOG_LEVEL logging does not know leaves gunicorn
    at INFO (the app's settings check then names the mistake), where it stopped gunicorn
    with "Unable to configure root logger"."""
    assert reload().control_socket_disable is True
    assert reload(LOG_LEVEL="warning").logconfig_dict["root"]["level"] == "WARNING"
    assert reload(LOG_LEVEL="warn").logconfig_dict["root"]["level"] == "WARN"
    assert reload(LOG_LEVEL="LOUD").logconfig_dict["root"]["level"] == "INFO"


def test_the_environment_sets_bind_workers_threads_and_trusted_proxies(reload):
    conf = reload(
        GUNICORN_BIND="127.0.0.1:9000",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        FORWARDED_ALLOW_IPS="10.0.0.2",
    )
    assert (conf.bind, conf.workers, conf.threads) == ("127.0.0.1:9000", 3, 8)
    assert conf.forwarded_allow_ips == "10.0.0.2"


def test_gunicorn_logs_json_and_leaves_the_access_log_to_the_tool(reload):
    """The tool logs each request itself (with its request id, without the query string,
    where launch tokens travel); gunicorn's own lines use the tool's formatter."""
    conf = reload()
    assert conf.accesslog is None
    assert conf.logconfig_dict["formatters"]["tool"]["()"].endswith(".JsonFormatter")
    assert (
        reload(LOG_FORMAT="text")
        .logconfig_dict["formatters"]["tool"]["()"]
        .endswith(".TextFormatter")
    )


def test_the_master_makes_a_metrics_folder_for_the_workers_unless_given(reload, monkeypatch):
    conf = reload()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    master = SimpleNamespace(handle_hup=lambda: None, pidfile=None)  # gunicorn's Arbiter
    conf.on_starting(master)
    made = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert os.path.isdir(made)
    conf.on_exit(None)
    assert not os.path.exists(made)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/run/given")
    conf.on_starting(master)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == "/run/given"


def test_a_worker_that_has_loaded_the_app_collects_garbage_less_often():
    before = gc.get_threshold()
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert gc.get_threshold() == gunicorn_conf.GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_worker_limits_its_malloc_arenas_on_glibc():
    """Each thread's own arena kept workers' resident memory growing (bench/RESULTS.md)."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc arenas are glibc's")
    assert gunicorn_conf.limit_arenas() is True


def test_a_worker_trims_its_heap_after_a_request_at_most_every_ten_seconds(monkeypatch):
    trimmed: list[bool] = []
    monkeypatch.setattr(gunicorn_conf, "trim_heap", lambda: trimmed.append(True) or True)
    monkeypatch.setattr(gunicorn_conf, "_last_trim", [0.0])
    for _ in range(3):
        gunicorn_conf.post_request(None, None, None, None)
    assert trimmed == [True]


def test_gunicorn_accepts_every_hook_of_the_settings():
    """gunicorn checks each hook's arity when it reads the settings, and refuses to start."""
    from gunicorn.config import Config

    config = Config()
    for name in ("on_starting", "child_exit", "on_exit", "post_worker_init", "post_request"):
        config.set(name, getattr(gunicorn_conf, name))
