"""gunicorn settings for production, shipped in the package:

    gunicorn -c python:lti_tool.gunicorn_conf 'lti_tool:create_app()'

GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS and FORWARDED_ALLOW_IPS override them.

Logs: gunicorn's own lines go through the tool's formatter (LOG_FORMAT: JSON by default),
and gunicorn's access log is off: the tool logs one line per request itself, with its
request id and endpoint (``lti_tool.access``), the path without the query. Turned on, its
lines hold no launch token (``RedactingLogger``).

Metrics: the workers write their values into PROMETHEUS_MULTIPROC_DIR, so /metrics sums
them whichever worker answers. Without the setting a fresh folder is made for this
gunicorn; with it, give a folder that is emptied before each start (a tmpfs).
"""

import functools
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any, NoReturn

from gunicorn.glogging import Logger

from lti_tool.observability import metrics_process_id, redact_launch_tokens
from lti_tool.settings import EXIT_BAD_SETTINGS, LOG_LEVELS, settings_or_exit

_TOKEN_ATOMS = frozenset(("{x-launch-token}i", "{http_x_launch_token}e"))


class RedactingLogger(Logger):
    """gunicorn's logger, whose access lines (when turned on: ``--access-logfile``) hold
    no launch token: every ``lt=`` value and the ``X-Launch-Token`` header redacted, as
    sent (``{x-launch-token}i``) and as ``navigation.NavigationPost`` puts it in the
    environ (``{http_x_launch_token}e``)."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        found: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {
            key: "[redacted]"
            if key in _TOKEN_ATOMS
            else redact_launch_tokens(value)
            if isinstance(value, str)
            else value
            for key, value in found.items()
        }


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
accesslog = None
#: gunicorn's control socket (for ``gunicornc``, gunicorn 25.1+) is off: nothing here uses
#: it, a read-only home made every start log an error, and two gunicorns on one host
#: shared its default path.
control_socket_disable = True
logger_class = RedactingLogger
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_FORMATTER = {
    "text": "lti_tool.observability.TextFormatter",
}.get(os.environ.get("LOG_FORMAT", "json"), "lti_tool.observability.JsonFormatter")
#: A LOG_LEVEL the logging module does not know would stop gunicorn with "Unable to
#: configure root logger": INFO here, and the app's own check says what is wrong.
_LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
if _LOG_LEVEL not in LOG_LEVELS:
    _LOG_LEVEL = "INFO"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"tool": {"()": _FORMATTER}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "tool",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": _LOG_LEVEL, "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}


#: The metrics folder this gunicorn made (none when PROMETHEUS_MULTIPROC_DIR was given).
_made_metrics_dir: list[str] = []


def on_starting(server: Any) -> None:
    """gunicorn's hook, in the master before any worker loads the app: settings that
    cannot work stop gunicorn here, with one line (each worker would otherwise log it with
    a traceback), and refuse a reload later (``_reload_if_settings_work``); a metrics
    folder if none is set (prometheus-client reads PROMETHEUS_MULTIPROC_DIR when first
    imported)."""
    if not _settings_work(server):
        _stop(server, EXIT_BAD_SETTINGS)  # its line is written: stop, no traceback
    server.handle_hup = functools.partial(_reload_if_settings_work, server, server.handle_hup)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = tempfile.mkdtemp(prefix="laeringslop-metrics-")
        _made_metrics_dir.append(folder)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def _reload_if_settings_work(server: Any, reload: Callable[[], None]) -> None:
    """gunicorn's SIGHUP, checked first: its reload starts new workers, which read the
    settings file again, and stops the old ones before the new have loaded the app; a
    worker that cannot load it then stops gunicorn ("Worker failed to boot"), and the
    service is down. So settings that cannot work refuse the reload, whoever sent the
    signal (systemd's ExecReload checks first too, but not a ``kill -HUP``), and the
    workers go on with the settings they have."""
    if _settings_work(server):
        reload()
        return
    server.log.error(
        "Reload refused: the settings cannot work (the line before says why); the "
        "workers go on with the settings they started with. Mend them soon: a worker "
        "started meanwhile (one replaced after a timeout or a crash) would read them "
        "and stop gunicorn"
    )


def _settings_work(server: Any) -> bool:
    """:func:`settings.settings_or_exit` in a child of its own: checking loads libraries
    (``limits``, for the rate limits; some 7 MB) the master does not need otherwise; the
    child writes the line that says what is wrong."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child leaves through os._exit only
        code = 1
        try:
            settings_or_exit()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)  # never gunicorn's code in the child
    try:
        _, status = os.waitpid(child, 0)
    except KeyboardInterrupt:  # Ctrl-C while checking (the child has it too): stop quietly
        _stop(server, 130)
    return os.waitstatus_to_exitcode(status) != EXIT_BAD_SETTINGS


def _stop(server: Any, code: int) -> NoReturn:
    """Stop gunicorn from ``on_starting``: its pidfile, written before the hook, removed
    (gunicorn's own exit would not)."""
    if server.pidfile is not None:
        server.pidfile.unlink()
    raise SystemExit(code)


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's hook: a worker is gone; its live gauges go with it, and its counts are
    merged into the folder's counts of ended processes (``metrics_files``)."""
    from prometheus_client import multiprocess

    from lti_tool import metrics_files

    multiprocess.mark_process_dead(metrics_process_id(worker.pid))
    metrics_files.merge_gone(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_exit(_server: Any) -> None:
    """gunicorn's hook: the master stops; remove the metrics folder it made."""
    for folder in _made_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)


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


#: glibc's malloc arenas a worker may use. By default each thread that allocates gets an
#: arena of its own (up to 8 per core), and freed memory stays spread over them: a
#: worker's resident memory grew with its threads and over time (bench/RESULTS.md). One:
#: the threads take turns on the GIL anyway, and Python's small objects never reach
#: malloc; in the 10-minute soak, workers ended 5 MB lower than with two, at no more CPU.
MALLOC_ARENAS = 1
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


#: How often a worker hands the heap's free memory back to the system (seconds, at most).
TRIM_SECONDS = 10.0
_last_trim = [0.0]


def _libc() -> Any:
    """glibc, or None elsewhere."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def limit_arenas() -> bool:
    """At most ``MALLOC_ARENAS`` malloc arenas in this process (glibc; elsewhere nothing):
    before the worker starts its threads. Returns whether the limit is set."""
    libc = _libc()
    try:
        return bool(libc and libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except AttributeError:  # not glibc (musl has no arenas to limit)
        return False


def trim_heap() -> bool:
    """Give the free memory of malloc's heap back to the system (glibc's ``malloc_trim``):
    a page that made many objects for a moment leaves the worker's resident memory at its
    peak otherwise. Returns whether memory was released."""
    libc = _libc()
    try:
        return bool(libc and libc.malloc_trim(0))
    except AttributeError:
        return False


def post_request(_worker: Any, _req: Any, _environ: Any, _resp: Any) -> None:
    """gunicorn's hook, after each request: the heap trimmed every ``TRIM_SECONDS`` at most
    (a few ms each time)."""
    now = time.monotonic()
    if now - _last_trim[0] >= TRIM_SECONDS:
        _last_trim[0] = now
        trim_heap()


def post_worker_init(worker: Any) -> None:
    """gunicorn's hook: the worker has loaded the app."""
    limit_arenas()
    tune_gc()
