"""gunicorn settings for ``python -m bench``: production's (``lti_tool/gunicorn_conf.py``),
without the access log, and each worker writes one line per request to
``$BENCH_STATS_DIR/<pid>.tsv``: the request's pattern (digits as ``N``), its server time
in ms and the SQL statements it ran. With ``BENCH_MEMORY_PROBE`` set, each worker also
logs what its memory holds (``memory_probe.py``). The suite reads the lines a scenario added: server
time and statements per request come from inside the worker, not from the load generator.
"""

import os
import re
import threading
import time
from typing import Any

from bench import memory_probe
from lti_tool.gunicorn_conf import (
    forwarded_allow_ips,
    limit_arenas,
    post_request,
    timeout,
    tune_gc,
    worker_class,
)

__all__ = [
    "accesslog",
    "forwarded_allow_ips",
    "post_request",
    "post_worker_init",
    "timeout",
    "worker_class",
]

accesslog = None

_NUMBER = re.compile(r"/\d+")


def post_worker_init(worker: Any) -> None:
    """The production hook, then the worker's app wrapped to record each request."""
    limit_arenas()
    tune_gc()
    from sqlalchemy import event

    app = worker.wsgi
    probe = memory_probe.install(app)
    local = threading.local()

    def count(*_args: Any) -> None:
        local.statements = getattr(local, "statements", 0) + 1

    event.listen(app.extensions["db_engine"], "before_cursor_execute", count)
    path = os.path.join(os.environ["BENCH_STATS_DIR"], f"{os.getpid()}.tsv")
    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the worker's life
    lock = threading.Lock()

    def recorded(environ: dict[str, Any], start_response: Any) -> Any:
        local.statements = 0
        started = time.perf_counter()
        body = app(environ, start_response)
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        ms = (time.perf_counter() - started) * 1000
        pattern = _NUMBER.sub("/N", environ.get("PATH_INFO", ""))
        with lock:
            out.write(f"{environ['REQUEST_METHOD']} {pattern}\t{ms:.3f}\t{local.statements}\n")
        if probe is not None:
            probe.after_request()
        return [data]

    worker.wsgi = recorded
