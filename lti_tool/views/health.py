"""Health checks for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, jsonify
from sqlalchemy import text

from lti_tool.auth import public
from lti_tool.db import get_session
from lti_tool.lti.services import lti_services

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
    """The database and the cache (Redis, when configured) are reachable; a key exists."""
    checks: dict[str, str] = {}
    try:
        get_session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        g.rollback_only = True
        log.warning("readyz: database unreachable: %s", exc)
        checks["database"] = "unreachable"
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
    ready = all(v in ("ok", "in-process") for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
