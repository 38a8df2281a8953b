"""What ``/readyz`` reads of the database and of the workers, each within its own limit:
a database that stops answering makes the probe say so in seconds, and what is reported
but not judged (the outboxes, the workers' passes) never makes a process unready."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from lti_tool.db import answering_session, limit_statements, utcnow
from lti_tool.errors import is_outage
from lti_tool.migrate import schema_state
from lti_tool.services import worker_status
from lti_tool.services.outbox import outbox_states

log = logging.getLogger(__name__)

#: How long the probe waits for the database's answers all told, connecting included.
DATABASE_ANSWER_SECONDS = 5.0
#: How long the outbox's count may take, or wait for a lock: it is reported, not judged.
OUTBOX_COUNT_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class DatabaseReport:
    schema: str
    """``migrate.schema_state``: ok, newer, behind or not migrated."""
    outbox: dict[str, dict[str, Any]] | None
    """Each outbox's depth and oldest age; None when not read (``_outbox_report``)."""


def database_report(probe_engine: Engine) -> DatabaseReport | None:
    """The database's schema and outboxes, read on the probe's own connection
    (``db.answering_session``) within ``DATABASE_ANSWER_SECONDS``; None when it did not
    answer (in time, or at all)."""
    try:
        with answering_session(probe_engine, DATABASE_ANSWER_SECONDS) as session:
            session.execute(text("SELECT 1"))
            schema = schema_state(session)
            outbox = _outbox_report(session) if schema in ("ok", "newer") else None
    except Exception as exc:
        log.warning("readyz: database unreachable: %s", exc)
        return None
    return DatabaseReport(schema, outbox)


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
        name: {
            "depth": state.depth,
            "oldest_age_seconds": state.oldest_age_seconds,
            "failed": state.failed,
        }
        for name, state in states.items()
    }


def redis_state(client: redis.Redis | None) -> str:
    """``ok`` when Redis answers a PING (on ``client``, the status connections: within a
    second), ``unreachable`` when not, ``in-process`` without Redis."""
    if client is None:
        return "in-process"
    try:
        client.ping()
    except redis.RedisError as exc:
        log.warning("redis unreachable: %s", exc)
        return "unreachable"
    return "ok"


def worker_report(client: redis.Redis | None) -> dict[str, Any] | None:
    """Reported, not judged (a web process is ready without a worker): the seconds since
    a worker last finished a pass (null when none has in the last day, or when the
    heartbeat is not the workers': a key without a lifetime, until the next pass replaces
    it) and the parts of a pass that failed at their latest try
    (``services.worker_status``), shown either way; None without Redis or with it away."""
    status = worker_status.read_status(client)
    if status is None:
        return None
    age = status.last_pass_age_seconds
    return {
        "last_pass_age_seconds": None if age is None or math.isinf(age) else round(age, 1),
        "failing": list(status.failing),
    }
