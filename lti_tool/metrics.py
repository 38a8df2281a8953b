"""Prometheus metrics (prometheus-client), served by /metrics (views/health.py).

Module-level objects. Under gunicorn each worker process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (``gunicorn_conf`` makes the folder before any worker loads the
app; the score worker may share it) and /metrics sums them, so any worker answers for all.
The outbox gauges are read from the database at scrape time, the same whoever answers.
Kept apart from ``observability`` (the logs): gunicorn's master loads the log formatter
before it sets PROMETHEUS_MULTIPROC_DIR, and prometheus-client reads it when first imported.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

from lti_tool import metrics_files
from lti_tool.observability import metrics_process_id
from lti_tool.services.outbox import OutboxState
from lti_tool.services.worker_status import WORKER_PARTS, WorkerStatus
from lti_tool.settings import make_metrics_folder

#: Where every process writes its values (gunicorn_conf sets it for the workers), as it was
#: when prometheus-client was loaded: that decides how the values are kept.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

#: The pid whose life lock this process holds (``metrics_files.hold_life``), and its lock.
_living: list[int] = [0]
_living_lock = threading.Lock()


def living_process_id() -> str:
    """This process's metrics id (prometheus-client asks on every count, to notice a
    fork), its life lock taken first in a new process, before its first file."""
    pid = os.getpid()
    if _living[0] != pid:
        with _living_lock:
            if _living[0] != pid:
                metrics_files.hold_life(MULTIPROCESS_DIR, metrics_process_id(pid))
                _living[0] = pid
    return metrics_process_id(pid)


if MULTIPROCESS_DIR:  # before any metric is made: each takes its value class when made
    make_metrics_folder(MULTIPROCESS_DIR)
    values.ValueClass = values.MultiProcessValue(living_process_id)
    metrics_files.merge_gone(MULTIPROCESS_DIR, own=living_process_id(), wait_seconds=1.0)

LAUNCHES = Counter(
    "laeringslop_lti_launches_total",
    "LTI launches accepted and recorded (the launch POST then answers with its landing page).",
)
REFUSALS = Counter(
    "laeringslop_lti_refusals_total",
    "LTI logins and launches refused, by reason (the error code of lti_tool.errors).",
    ["reason"],
)
REQUEST_SECONDS = Histogram(
    "laeringslop_http_request_duration_seconds",
    "Time to answer a request, by endpoint (the route's name, not the path) and method.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RESPONSES = Counter(
    "laeringslop_http_responses_total",
    "Responses, by endpoint, method and status code.",
    ["endpoint", "method", "status"],
)
LMS_CALL_SECONDS = Histogram(
    "laeringslop_lms_call_duration_seconds",
    "Calls to learning platforms, by kind (token, ags, nrps, jwks), whatever the outcome.",
    ["call"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LMS_CALL_ERRORS = Counter(
    "laeringslop_lms_call_errors_total",
    "Calls to learning platforms that failed, by kind and error (network, or the HTTP "
    "status class: 4xx, 5xx).",
    ["call", "error"],
)


#: The kinds of call to a platform (``lms_call``), and how one may fail.
LMS_CALLS = ("token", "ags", "nrps", "jwks")
LMS_CALL_FAILURES = ("network", "4xx", "5xx")


def count_refusal(code: str) -> None:
    REFUSALS.labels(code).inc()


def declare_refusal_reasons(codes: Iterable[str]) -> None:
    """Every reason shows from the start, at 0: a rate needs the series before its first."""
    for code in codes:
        REFUSALS.labels(code)


def declare_lms_calls() -> None:
    """Every kind of call's time and every failure from the start, at 0, as the refusals:
    an alert on ``increase()`` needs the series before the first error, and a rate of the
    calls is 0 before the first, not missing."""
    for call in LMS_CALLS:
        LMS_CALL_SECONDS.labels(call)
        for failure in LMS_CALL_FAILURES:
            LMS_CALL_ERRORS.labels(call, failure)


#: Each series' child, found once: ``labels()`` checks and locks on every call, and every
#: request observes two. As many as the metrics' own children (endpoint × method × status).
_request_seconds: dict[tuple[str, str], Any] = {}
_responses: dict[tuple[str, str, int], Any] = {}


def observe_response(endpoint: str, method: str, status: int, seconds: float) -> None:
    timer = _request_seconds.get((endpoint, method))
    if timer is None:
        timer = _request_seconds[endpoint, method] = REQUEST_SECONDS.labels(endpoint, method)
    timer.observe(seconds)
    counter = _responses.get((endpoint, method, status))
    if counter is None:
        counter = _responses[endpoint, method, status] = RESPONSES.labels(
            endpoint, method, str(status)
        )
    counter.inc()


@contextlib.contextmanager
def lms_call(call: str) -> Iterator[dict[str, int]]:
    """Time one call to a platform; the caller puts the answer's HTTP status in the dict.
    An exception counts as a network error."""
    outcome: dict[str, int] = {}
    started = time.perf_counter()
    try:
        yield outcome
    except Exception:
        LMS_CALL_ERRORS.labels(call, "network").inc()
        raise
    else:
        status = outcome.get("status", 0)
        if status >= 400:
            LMS_CALL_ERRORS.labels(call, f"{status // 100}xx").inc()
    finally:
        LMS_CALL_SECONDS.labels(call).observe(time.perf_counter() - started)


class OutboxCollector:
    """The outboxes' depth, oldest age and rows given up on, read from the database when
    scraped; and whether it answered (``laeringslop_database_up``: without it, the outbox
    gauges are left out, and an alert on them would go quiet rather than fire)."""

    def __init__(self, read: Callable[[], Mapping[str, OutboxState] | None]) -> None:
        #: {outbox: its state}; None when the database did not answer
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = self.read()
        yield GaugeMetricFamily(
            "laeringslop_database_up",
            "The database answered this scrape's outbox counts (1) or not (0).",
            value=0.0 if states is None else 1.0,
        )
        if states is None:
            return
        depth = GaugeMetricFamily(
            "laeringslop_outbox_depth",
            "Rows waiting in each outbox (scores, notices to email, results to read).",
            labels=["outbox"],
        )
        age = GaugeMetricFamily(
            "laeringslop_outbox_oldest_age_seconds",
            "Age of the oldest row waiting in each outbox (0 when empty).",
            labels=["outbox"],
        )
        failed = GaugeMetricFamily(
            "laeringslop_outbox_failed",
            "Rows of each outbox the worker gave up on, kept for an admin to retry.",
            labels=["outbox"],
        )
        for name, state in states.items():
            depth.add_metric([name], state.depth)
            age.add_metric([name], state.oldest_age_seconds or 0.0)
            failed.add_metric([name], state.failed)
        yield depth
        yield age
        yield failed


class WorkerStatusCollector:
    """The workers' status (``services.worker_status``), read from Redis when scraped:
    how long ago a worker last finished a pass, and each part of a pass failing (1) or not
    (0) at its latest try; left out when not known (no Redis, or Redis away)."""

    def __init__(self, read: Callable[[], WorkerStatus | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self.read()
        if status is None:
            return
        if status.last_pass_age_seconds is not None:
            yield GaugeMetricFamily(
                "laeringslop_worker_last_pass_age_seconds",
                "Seconds since a worker last finished a pass (+Inf: none in the last day).",
                value=status.last_pass_age_seconds,
            )
        failing = GaugeMetricFamily(
            "laeringslop_worker_part_failing",
            "A part of the workers' pass failed at its latest try (1) or went (0).",
            labels=["part"],
        )
        for part in WORKER_PARTS:
            failing.add_metric([part], 1.0 if part in status.failing else 0.0)
        yield failing


class RedisCollector:
    """Whether Redis answered the scrape's PING (``readiness.redis_state``): 1 or 0; left
    out without Redis. While it is 0, logins and launches are refused with 503 (their
    state lives there) and the rest goes on (``redis_pool``)."""

    def __init__(self, state: str) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.state == "in-process":
            return
        yield GaugeMetricFamily(
            "laeringslop_redis_up",
            "Redis answered this scrape's PING within a second (1) or not (0).",
            value=1.0 if self.state == "ok" else 0.0,
        )


def exposition(*gauges: OutboxCollector | RedisCollector | WorkerStatusCollector) -> bytes:
    """The text /metrics answers: every process's values (multiprocess mode) or this
    process's, and the gauges read when scraped."""
    if MULTIPROCESS_DIR:
        with metrics_files.readable(MULTIPROCESS_DIR):  # not mid-merge
            counted = generate_latest(MultiProcessCollector(None, path=MULTIPROCESS_DIR))
    else:
        counted = generate_latest(REGISTRY)
    return counted + b"".join(
        generate_latest(gauge)  # type: ignore[arg-type]
        for gauge in gauges
    )
