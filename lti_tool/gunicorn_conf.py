"""gunicorn settings for production, shipped in the package:

    gunicorn -c python:lti_tool.gunicorn_conf 'lti_tool:create_app()'

GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS and FORWARDED_ALLOW_IPS override them.
"""

import gc
import os
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
accesslog = "-"
# %(U)s is the path without the query string: launch tokens (?lt=) stay out of the logs.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

#: Collect the young generation after 50,000 new objects rather than Python's 700, and the
#: older ones more rarely still.
GC_THRESHOLD = (50_000, 50, 100)


def tune_gc() -> None:
    """Fewer, cheaper garbage collections in a worker: what is loaded by then (the app, its
    modules, its caches) is frozen out of every later scan, and collections come less often.
    A 200-person competence matrix makes about 100,000 short-lived objects; with Python's
    defaults full collections during it made its p95 three times its p50 (bench/RESULTS.md).
    Memory is unaffected: reference counting still frees nearly everything at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def post_worker_init(worker: Any) -> None:
    """gunicorn's hook: the worker has loaded the app."""
    tune_gc()
