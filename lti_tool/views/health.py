"""Health checks for load balancers and orchestrators, and the metrics for Prometheus."""

from __future__ import annotations

import hmac
import logging
import math
from typing import Any

import redis
from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from lti_tool import metrics as tool_metrics
from lti_tool.auth import public
from lti_tool.db import answering_session, get_session, limit_statements, utcnow
from lti_tool.errors import MetricsTokenInvalid, NotFound, is_outage
from lti_tool.lti.services import lti_services
from lti_tool.migrate import schema_state
from lti_tool.services.outbox import outbox_states, worker_pass_age

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
@public
def healthz() -> Any:
    """The process is alive and answering."""
    return jsonify(status="ok")


#: How long ``/readyz`` waits for the database's answers all told, connecting included.
DATABASE_ANSWER_SECONDS = 5.0
#: How long the outbox's count may take, or wait for a lock: it is reported, not judged.
OUTBOX_COUNT_SECONDS = 2.0


@bp.route("/readyz")
@public
def readyz() -> Any:
    """The database and the cache (Redis, when configured) are reachable, the database's
    schema is this version's (or a newer version's: a rolling upgrade migrates first), a
    key exists. Also how far behind the worker is (``outbox``: each outbox's depth and
    oldest age in seconds), reported but not judged: a backlog does not make this process
    unready. The database is read on a connection of the probe's own, which must answer
    within ``DATABASE_ANSWER_SECONDS`` (``db.answering_session``)."""
    checks: dict[str, str] = {}
    outbox = None
    try:
        with answering_session(
            current_app.extensions["db_probe_engine"], DATABASE_ANSWER_SECONDS
        ) as session:
            session.execute(text("SELECT 1"))
            schema = schema_state(session)
            if schema in ("ok", "newer"):
                outbox = _outbox_report(session)
        checks["database"], checks["schema"] = "ok", schema
    except Exception as exc:
        log.warning("readyz: database unreachable: %s", exc)
        checks["database"], outbox = "unreachable", None
    redis_client = lti_services().redis
    if redis_client is not None:
        try:
            redis_client.ping()
            checks["cache"] = "ok"
        except Exception as exc:
            log.warning("readyz: redis unreachable: %s", exc)
            checks["cache"] = "unreachable"
    else:
        checks["cache"] = "in-process"
    # Without a signing key platforms cannot verify deep-linking responses or AGS calls.
    checks["keys"] = "ok" if lti_services().keyring.all_keys() else "missing"
    ready = all(v in ("ok", "in-process", "newer") for v in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": checks,
        "outbox": outbox,
        "worker": _worker_report() if checks["cache"] == "ok" else None,
    }
    return jsonify(body), 200 if ready else 503


def _worker_pass_age() -> float | None:
    """Seconds since a worker last finished a pass; None when not known (no Redis, or
    Redis away: logged)."""
    try:
        return worker_pass_age(lti_services().redis)
    except redis.RedisError as exc:
        log.warning("the workers' last pass not read: %s", exc)
        return None


def _worker_report() -> dict[str, float | None] | None:
    """Reported, not judged (a web process is ready without a worker): the seconds since
    a worker last finished a pass, null when none has in the last day."""
    age = _worker_pass_age()
    if age is None:
        return None
    return {"last_pass_age_seconds": None if math.isinf(age) else round(age, 1)}


def _outbox_report(session: Session) -> dict[str, dict[str, Any]] | None:
    """Each outbox's depth and oldest age; None when the database answered the count with
    an error (PostgreSQL gave it up after ``OUTBOX_COUNT_SECONDS``, waiting for a lock a
    stuck transaction holds; a newer version's schema): the probe still gives its checks,
    which decide readiness. A database that stopped answering is the probe's failure."""
    try:
        limit_statements(session, OUTBOX_COUNT_SECONDS)
        states = outbox_states(session, utcnow())
    except DBAPIError as exc:
        if exc.connection_invalidated or (isinstance(exc, OperationalError) and is_outage(exc)):
            raise  # no answer at all: the probe's failure
        log.warning("readyz: outbox not read: %s", exc)  # its time, a lock, a newer schema
        return None
    return {
        name: {"depth": state.depth, "oldest_age_seconds": state.oldest_age_seconds}
        for name, state in states.items()
    }


@bp.route("/metrics")
@public
def metrics() -> Any:
    """Prometheus's scrape: served only with METRICS_TOKEN set, to its bearer token."""
    token = lti_services().settings.METRICS_TOKEN
    if not token:
        raise NotFound("/metrics: METRICS_TOKEN is not set")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise MetricsTokenInvalid("/metrics without its bearer token")

    def read_outboxes() -> dict[str, tuple[int, float | None]]:
        try:
            states = outbox_states(get_session(), utcnow())
        except Exception as exc:  # the process's metrics still count; the gauges are left out
            g.rollback_only = True
            log.warning("metrics: database unreachable: %s", exc)
            return {}
        return {name: (s.depth, s.oldest_age_seconds) for name, s in states.items()}

    body = tool_metrics.exposition(
        tool_metrics.OutboxCollector(read_outboxes),
        tool_metrics.WorkerPassCollector(_worker_pass_age),
    )
    return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
