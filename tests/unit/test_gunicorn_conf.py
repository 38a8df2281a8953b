"""The gunicorn settings shipped in the package (``-c python:lti_tool.gunicorn_conf``)."""

from __future__ import annotations

import gc
import importlib

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


def test_the_environment_sets_bind_workers_threads_and_trusted_proxies(reload):
    conf = reload(
        GUNICORN_BIND="127.0.0.1:9000",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        FORWARDED_ALLOW_IPS="10.0.0.2",
    )
    assert (conf.bind, conf.workers, conf.threads) == ("127.0.0.1:9000", 3, 8)
    assert conf.forwarded_allow_ips == "10.0.0.2"


def test_the_access_log_leaves_out_query_strings(reload):
    """Launch tokens travel in ?lt=: the log has the path (%(U)s), never the request line
    (%(r)s) or the query (%(q)s)."""
    conf = reload()
    assert "%(U)s" in conf.access_log_format
    assert "%(r)s" not in conf.access_log_format and "%(q)s" not in conf.access_log_format


def test_a_worker_that_has_loaded_the_app_collects_garbage_less_often():
    before = gc.get_threshold()
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert gc.get_threshold() == gunicorn_conf.GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
