"""What operations sees: JSON logs carrying a request id (the metrics: ``lti_tool.metrics``).

The request id follows one user action everywhere it goes: it is taken from a well-formed
incoming ``X-Request-ID`` (a proxy's) or made here, returned on the response, written on
every log line, stored on the outbox rows the request writes (scores, notices, result
reads), bound again by the worker while it handles such a row, and sent to the LMS on
every AGS, NRPS and token call. So one grep finds a learner's click, the worker's delivery
and the LMS's log line of it. The worker's lines also name the row they are about
(``outbox``, ``outbox_row``): one request may write several rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import time
import traceback
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
#: An incoming id is kept only if it looks like an id (a UUID, a proxy's hex or base64url
#: id): anything else could inject text into the logs or the LMS's.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
REQUEST_ID_LENGTH = 128

_request_id: ContextVar[str | None] = ContextVar("laeringslop_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or outbox row) being handled in this thread, if any."""
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(given: str | None) -> str:
    """``given`` if it is a well-formed id, else a new one."""
    if given and _WELL_FORMED_ID.fullmatch(given):
        return given
    return new_request_id()


@contextlib.contextmanager
def bound_request_id(value: str | None) -> Iterator[str]:
    """Handle something under ``value`` (a new id if None): logs and LMS calls carry it."""
    request_id = value or new_request_id()
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


#: The outbox row a worker is handling (``bound_outbox_row``): its outbox's name and id.
_outbox_row: ContextVar[tuple[str, int] | None] = ContextVar("laeringslop_outbox_row", default=None)


@contextlib.contextmanager
def bound_outbox_row(outbox: str, row_id: int, request_id: str | None) -> Iterator[str]:
    """Handle an outbox row under the id of the request that wrote it, each line logged
    meanwhile naming the row as fields (``outbox`` as the metrics name it, ``outbox_row``):
    a request may write several rows, and the LMS calls' own lines name only a URL."""
    token = _outbox_row.set((outbox, row_id))
    try:
        with bound_request_id(request_id) as bound:
            yield bound
    finally:
        _outbox_row.reset(token)


#: Where ``RequestIds`` leaves the request's id for the app (``flask.request.environ``).
ENVIRON_KEY = "laeringslop.request_id"


class RequestIds:
    """WSGI middleware: the whole request, its teardown included, runs under its id (the
    incoming X-Request-ID if well formed, else a new one), unbound however it ends."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = request_id
        token = _request_id.set(request_id)  # as bound_request_id, without its generator
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            _request_id.reset(token)


# --- metrics files ---------------------------------------------------------------------------

#: This host's name as a metrics file names it ("_" separates the parts of those names).
_HOST = socket.gethostname().replace("_", "-") or "host"


def metrics_process_id(pid: int | None = None) -> str:
    """How a process's metrics files are named (``lti_tool.metrics``): its host and pid.
    Processes that share the folder from several hosts or containers (compose's
    ``metrics`` volume, where every container's first process is pid 1) would otherwise
    write into one another's files. Here, not in ``metrics``: gunicorn's master names a
    dead worker's files without loading prometheus-client's values."""
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


# --- logs -----------------------------------------------------------------------------------

_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every log record made in a request (or an outbox row's handling) keeps its id, and
    the row, as they were when logged: handlers may format it later, in another thread."""
    record = _make_record(*args, **kwargs)
    record.request_id = _request_id.get()
    row = _outbox_row.get()
    if row is not None:  # only then: a web line has no such fields
        record.outbox, record.outbox_row = row
    return record


if not getattr(_make_record, "keeps_request_id", False):
    _record_with_request_id.keeps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_record_with_request_id)

#: LogRecord's own attributes; any other attribute came as ``extra=`` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


#: ``lt=`` in a URL (a launch token someone put there; the tool never does), whatever logs it.
_LAUNCH_TOKEN = re.compile(r"((?:^|[?&;\s\"'])lt=)[^&;\s\"']+")


def redact_launch_tokens(text: str) -> str:
    """``text`` with every ``lt=`` value replaced: no log line holds a launch token."""
    return _LAUNCH_TOKEN.sub(r"\1[redacted]", text) if "lt=" in text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and the fields
    given as ``extra=``; a traceback as ``exception``. Every request writes one (the access
    line), so it is kept cheap: one encoder, the time's seconds formatted once a second."""

    _encoder = json.JSONEncoder(ensure_ascii=False, default=str)
    _second: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        whole = int(created)
        second = self._second  # one read: another thread may replace it meanwhile
        if second[0] != whole:
            second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
            self._second = second
        return f"{second[1]}.{int((created - whole) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return redact_launch_tokens(self._encoder.encode(entry))


class TextFormatter(logging.Formatter):
    """For people reading a terminal (LOG_FORMAT=text): the request id in brackets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = "-"
        return redact_launch_tokens(super().format(record))


def formatter(log_format: str) -> logging.Formatter:
    return TextFormatter() if log_format == "text" else JsonFormatter()


def configure_logging(level: str, log_format: str) -> None:
    """As ``logging.basicConfig``: only when nothing configured the root logger before
    (gunicorn's ``logconfig_dict`` in ``gunicorn_conf`` does, with the same formatter).
    Python's warnings (a library's deprecation, SQLAlchemy's) go through it either way, as
    ``py.warnings`` lines in the log's format, not plain text on standard error."""
    logging.captureWarnings(True)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level.upper())


def outgoing_headers() -> dict[str, str]:
    """The headers every call to a platform carries: the request id, when there is one."""
    request_id = current_request_id()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}
