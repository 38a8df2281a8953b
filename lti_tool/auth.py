"""Who is asking: the person and permissions of the current launch, and route guards.

A launch signs the browser in through the session cookie. Where the browser drops
cookies inside the LMS iframe, pages carry a signed launch token (``lt``) instead, in
links and forms, so navigation keeps working without cookies.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from lti_tool.db import get_session
from lti_tool.errors import DeploymentDisabled, Forbidden, NotSignedIn, PlatformDisabled
from lti_tool.lti.roles import Permission
from lti_tool.models import Launch, Status
from lti_tool.services.launches import get_launch

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
LAUNCH_TOKEN_PARAM = "lt"  # noqa: S105 - a parameter name, not a secret


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="launch-token")


def sign_in(launch: Launch) -> str:
    """Remember the launch for this browser; return the token for cookie-less navigation."""
    session.clear()
    session.permanent = True
    session["launch_id"] = launch.id
    if launch.person.locale:
        session["locale"] = launch.person.locale
    token: str = _serializer().dumps(launch.id)
    g.launch_token = token
    return token


def _launch_id_from_token() -> str | None:
    """The launch id in the request's launch token, when it carries a valid one."""
    try:
        token = request.values.get(LAUNCH_TOKEN_PARAM) or request.headers.get("X-Launch-Token")
    except HTTPException:  # a body the request may not carry (too large): no token
        return None
    if not token:
        return None
    max_age = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    try:
        launch_id = str(_serializer().loads(token, max_age=max_age))
    except BadSignature:
        return None
    g.launch_token = token
    return launch_id


def _launch_from_token() -> Launch | None:
    launch_id = _launch_id_from_token()
    return get_launch(get_session(), launch_id) if launch_id else None


def bind_csrf_to_launch_token() -> None:
    """Give a cookie-less request the CSRF secret of its launch (before CSRFProtect runs).

    Flask-WTF keeps its CSRF secret in the session; without cookies every request starts
    a new session, so a form rendered with ``lt`` could never be posted back. A request
    with a valid launch token and no session gets a secret derived from that launch.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field in session or session.get("launch_id"):
        return
    launch_id = _launch_id_from_token()
    if not launch_id:
        return
    key = str(current_app.secret_key or "").encode()
    message = f"launch-csrf:{launch_id}".encode()
    session[field] = hmac.new(key, message, hashlib.sha256).hexdigest()


def current_launch() -> Launch | None:
    if "current_launch" not in g:
        launch = _launch_from_token()
        if launch is None and session.get("launch_id"):
            launch = get_launch(get_session(), session["launch_id"])
        g.current_launch = launch
    found: Launch | None = g.current_launch
    return found


def current_permissions() -> frozenset[Permission]:
    launch = current_launch()
    return frozenset(Permission(p) for p in launch.permissions) if launch else frozenset()


def launch_token() -> str | None:
    """The token to carry in links when this request came with one.

    Always carried, not only without cookies: each tab keeps the launch it was opened
    with, even when a later launch in another tab changed the shared session.
    """
    token: str | None = g.get("launch_token")
    return token


def current_organisation_id() -> int:
    """The organisation of the current launch's deployment: what the person acts for."""
    launch = current_launch()
    if launch is None:
        raise NotSignedIn("no launch")
    return launch.deployment.organisation_id


def requires(*permissions: Permission) -> Callable[[F], F]:
    """Allow the view to people holding any of these permissions; refuse everyone else."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            launch = current_launch()
            if launch is None:
                raise NotSignedIn(f"{request.path} without a launch")
            # A session or launch token outlives neither its platform nor its deployment.
            if launch.deployment.platform.status != Status.ACTIVE:
                raise PlatformDisabled(f"platform {launch.deployment.platform_id} disabled")
            if launch.deployment.status != Status.ACTIVE:
                raise DeploymentDisabled(f"deployment {launch.deployment_pk} not active")
            held = current_permissions()
            if not held.intersection(permissions):
                raise Forbidden(f"{request.path} needs {permissions}, person {launch.person_id}")
            return view(*args, **kwargs)

        guarded.access = tuple(str(p) for p in permissions)  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def public(view: F) -> F:
    """Open to anyone: the LTI endpoints, JWKS, health checks."""
    view.access = (PUBLIC,)  # type: ignore[attr-defined]
    return view
