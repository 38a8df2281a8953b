"""Health checks for load balancers and orchestrators, and the metrics for Prometheus."""

from __future__ import annotations

import dataclasses
import hmac
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.orm import Session

from lti_tool import metrics as tool_metrics
from lti_tool.auth import public
from lti_tool.db import get_session, utcnow
from lti_tool.errors import MetricsTokenInvalid, NotFound
from lti_tool.lti.services import lti_services
from lti_tool.migrate import schema_state
from lti_tool.services.outbox import outbox_states

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
@public
def healthz() -> Any:
    """The process is alive and answering."""
    return jsonify(status="ok")


#: How long ``/readyz`` waits for the database's answers (connecting included): a
#: connection the server stopped answering on would otherwise hold the probe, and a thread,
#: until TCP gives up on it (``db.TCP_SETTINGS``).
DATABASE_ANSWER_SECONDS = 5.0
#: The probe's reads run here, one at a time: a read stuck on a dead connection holds only
#: this thread, and the probes after it time out behind it (unready) until it is freed.
_database_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz-database")


@dataclasses.dataclass(frozen=True)
class DatabaseReport:
    schema: str
    """``migrate.schema_state``: ok, newer, behind or not migrated."""
    outbox: dict[str, dict[str, Any]] | None
    """Each outbox's depth and oldest age; None when not read (see ``_outbox_report``)."""


@bp.route("/readyz")
@public
def readyz() -> Any:
    """The database and the cache (Redis, when configured) are reachable, the database's
    schema is this version's (or a newer version's: a rolling upgrade migrates first), a
    key exists. Also how far behind the worker is (``outbox``: each outbox's depth and
    oldest age in seconds), reported but not judged: a backlog does not make this process
    unready. The database is read on a session of its own, within
    ``DATABASE_ANSWER_SECONDS``, not the request's."""
    checks: dict[str, str] = {}
    report = _read_database(current_app.extensions["db_sessionmaker"])
    checks["database"] = "unreachable" if report is None else "ok"
    if report is not None:
        checks["schema"] = report.schema
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
    outbox = report.outbox if report is not None else None
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "outbox": outbox}
    return jsonify(body), 200 if ready else 503


def _read_database(new_session: Callable[[], Session]) -> DatabaseReport | None:
    """The database's part of the probe; None when it did not answer in time, or failed."""
    asked = _database_reader.submit(_database_report, new_session)
    try:
        return asked.result(timeout=DATABASE_ANSWER_SECONDS)
    except FutureTimeout:
        asked.cancel()  # not begun (behind a stuck read): not run later either
        log.warning("readyz: the database did not answer in %s s", DATABASE_ANSWER_SECONDS)
    except Exception as exc:
        log.warning("readyz: database unreachable: %s", exc)
    return None


def _database_report(new_session: Callable[[], Session]) -> DatabaseReport:
    with new_session() as session:
        session.execute(text("SELECT 1"))
        schema = schema_state(session)
        outbox = _outbox_report(session) if schema in ("ok", "newer") else None
        return DatabaseReport(schema, outbox)


def _outbox_report(session: Session) -> dict[str, dict[str, Any]] | None:
    """Each outbox's depth and oldest age; None when the database did not answer the
    count in time (a table locked by a stuck transaction, past the statement limit): the
    probe still gives its checks, which decide readiness, not a took-too-long error."""
    try:
        states = outbox_states(session, utcnow())
    except Exception as exc:
        session.rollback()
        log.warning("readyz: outbox not read: %s", exc)
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

    body = tool_metrics.exposition(tool_metrics.OutboxCollector(read_outboxes))
    return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
