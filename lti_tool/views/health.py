"""Health checks for load balancers and orchestrators, and the metrics for Prometheus."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import ServiceUnavailable

from lti_tool import metrics as tool_metrics
from lti_tool.auth import public
from lti_tool.db import get_session, utcnow
from lti_tool.errors import MetricsTokenInvalid, NotFound
from lti_tool.lti.services import lti_services
from lti_tool.metrics_files import FolderBusy
from lti_tool.services import readiness, worker_status
from lti_tool.services.outbox import OutboxState, outbox_states

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
@public
def healthz() -> Any:
    """The process is alive and answering."""
    return jsonify(status="ok")


@bp.route("/readyz")
@public
def readyz() -> Any:
    """The database and the cache (Redis, when configured) are reachable, the database's
    schema is this version's (or a newer version's: a rolling upgrade migrates first), a
    key exists. Also how far behind the worker is (``outbox``: each outbox's depth and
    oldest age in seconds; ``worker``: its last pass and the parts of it failing), reported
    but not judged: a backlog does not make this process unready (``services.readiness``)."""
    checks: dict[str, str] = {}
    report = readiness.database_report(current_app.extensions["db_probe_engine"])
    if report is None:
        checks["database"] = "unreachable"
    else:
        checks["database"], checks["schema"] = "ok", report.schema
    redis_client = lti_services().status_redis
    checks["cache"] = readiness.redis_state(redis_client)
    # Without a signing key platforms cannot verify deep-linking responses or AGS calls.
    checks["keys"] = "ok" if lti_services().keyring.all_keys() else "missing"
    ready = all(v in ("ok", "in-process", "newer") for v in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": checks,
        "outbox": report.outbox if report is not None else None,
        "worker": readiness.worker_report(redis_client) if checks["cache"] == "ok" else None,
    }
    return jsonify(body), 200 if ready else 503


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

    def read_outboxes() -> dict[str, OutboxState] | None:
        try:
            return outbox_states(get_session(), utcnow())
        except Exception as exc:  # the process's metrics still count; the outboxes' are left out
            g.rollback_only = True
            log.warning("metrics: database unreachable: %s", exc)
            return None

    redis_client = lti_services().status_redis
    redis_state = readiness.redis_state(redis_client)  # one wait on a Redis away, not two
    try:
        body = tool_metrics.exposition(
            tool_metrics.OutboxCollector(read_outboxes),
            tool_metrics.RedisCollector(redis_state),
            tool_metrics.WorkerStatusCollector(
                lambda: worker_status.read_status(redis_client) if redis_state == "ok" else None
            ),
        )
    except FolderBusy as exc:  # a scrape missed, rather than counts that fall
        log.warning("metrics: %s", exc)
        raise ServiceUnavailable(str(exc), retry_after=15) from exc
    return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
