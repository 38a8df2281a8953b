"""Who is asking: the person and permissions of the current launch, and route guards.

A launch signs the browser in through the session cookie. Where the browser drops
cookies inside the LMS iframe, a signed launch token stands in for it, and it never goes
in a URL (access logs, browser history, ``Referer``): the launch answers with its landing
page itself (``views.lti``), which carries the token in ``<meta name="launch-token">``
when the browser proved itself without the state cookie; the token then travels only in a
POST body (``lt``) or the ``X-Launch-Token`` header. The static script adds it to POST
forms and turns links and GET forms into POST navigations, which
``navigation.NavigationPost`` turns back into the GET they stand for; a redirect becomes a
page that navigates on that way.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app, g, render_template, request, session
from flask.wrappers import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from lti_tool.db import get_session
from lti_tool.errors import (
    ApiTokenInvalid,
    DeploymentDisabled,
    Forbidden,
    NotSignedIn,
    PersonOnly,
    PlatformDisabled,
    ReadOnlyToken,
)
from lti_tool.lti.roles import Permission
from lti_tool.models import Launch, PermissionGrant, Status
from lti_tool.services.audit import Actor
from lti_tool.services.launches import get_launch
from lti_tool.signing import SerializerOfKeys, secret_keys

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
LAUNCH_TOKEN_PARAM = "lt"  # noqa: S105 - a parameter name, not a secret
LAUNCH_TOKEN_HEADER = "X-Launch-Token"  # noqa: S105 - a header name, not a secret


_launch_tokens = SerializerOfKeys(salt="launch-token")


def _serializer() -> URLSafeTimedSerializer:
    """The current key's: it signs every new launch token."""
    return _launch_tokens(secret_keys(current_app)[-1:])


def sign_in(launch: Launch, held_grants: list[PermissionGrant]) -> None:
    """Remember the launch for this browser (the session cookie), and make it and the
    person's grants read for it the request's: a start page rendered in the launch's own
    response reads them from here."""
    session.clear()
    session.permanent = True
    session["launch_id"] = launch.id
    if launch.person.locale:
        session["locale"] = launch.person.locale
    # The launch's CSRF secret: the same with or without the cookie (bind_csrf_to_launch_token)
    session[_csrf_field()] = _launch_csrf_secret(launch.id)
    g.token_launch_id = str(launch.id)  # its token is made only for a page that carries it
    g.current_launch = launch
    g.current_grants = held_grants


def _launch_id_from_token() -> str | None:
    """The launch id in the request's launch token, when it carries a valid one (read once)."""
    if "token_launch_id" not in g:
        g.token_launch_id = _read_launch_token()
    found: str | None = g.token_launch_id
    return found


def _read_launch_token() -> str | None:
    """The header or a POST body's ``lt``; never a launch token in a query string."""
    try:
        token = request.headers.get(LAUNCH_TOKEN_HEADER) or (
            request.form.get(LAUNCH_TOKEN_PARAM) if request.method == "POST" else None
        )
    except HTTPException:  # a body the request may not carry (too large): no token
        return None
    if not token:
        return None
    max_age = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    for key in reversed(secret_keys(current_app)):  # the current key first: almost every token's
        try:
            launch_id = str(_launch_tokens((key,)).loads(token, max_age=max_age))
        except BadSignature:
            continue
        g.launch_token = token
        g.launch_token_key = key  # its CSRF secret is of the same key (bind_csrf_to_launch_token)
        return launch_id
    return None


def _launch_from_token() -> Launch | None:
    launch_id = _launch_id_from_token()
    return get_launch(get_session(), launch_id) if launch_id else None


def bind_csrf_to_launch_token() -> None:
    """Give a cookie-less request the CSRF secret of its launch (before CSRFProtect runs).

    Flask-WTF keeps its CSRF secret in the session; without cookies every request starts
    a new session, so a form rendered with ``lt`` could never be posted back. A request
    with a valid launch token and no session gets a secret derived from that launch.
    """
    field = _csrf_field()
    if field in session or session.get("launch_id"):
        return
    launch_id = _launch_id_from_token()
    if not launch_id:
        return
    session[field] = _launch_csrf_secret(launch_id, g.get("launch_token_key"))


def _csrf_field() -> str:
    return str(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))


def _launch_csrf_secret(launch_id: str, key: str | None = None) -> str:
    """A launch's CSRF secret, made again from its id wherever it is needed: by the key
    that signed its launch token (the current key, or while the key changes an earlier
    one, so a page shown before the change can still send its form)."""
    secret = (key or secret_keys(current_app)[-1]).encode()
    message = f"launch-csrf:{launch_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def carry_launch_token_on_page() -> None:
    """The page answering the launch carries its token (``<meta>``): the browser proved
    itself by platform storage, not by the state cookie, so it will drop the session
    cookie too. Made here, from the launch ``sign_in`` named, only for such a page."""
    g.page_launch_token = _serializer().dumps(g.token_launch_id)


def current_launch() -> Launch | None:
    if "current_launch" not in g:
        launch = _launch_from_token()
        if launch is None and session.get("launch_id"):
            launch = get_launch(get_session(), session["launch_id"])
        g.current_launch = launch
    found: Launch | None = g.current_launch
    return found


def current_grants() -> list[PermissionGrant]:
    """The current person's active grants in the organisation they act for: read once per
    request (a withdrawal bites at the next request)."""
    if "current_grants" not in g:
        from lti_tool.services import grants

        launch = current_launch()
        g.current_grants = (
            grants.active_grants(get_session(), launch.deployment.organisation_id, launch.person)
            if launch
            else []
        )
    found: list[PermissionGrant] = g.current_grants
    return found


def current_permissions() -> frozenset[Permission]:
    """The LMS roles of the launch and the person's grants now (``services.grants``)."""
    if "current_permissions" not in g:
        from lti_tool.services import grants

        launch = current_launch()
        g.current_permissions = (
            grants.effective_permissions(grants.role_permissions(launch), current_grants())
            if launch
            else frozenset()
        )
    found: frozenset[Permission] = g.current_permissions
    return found


def page_launch_token() -> str | None:
    """The launch token this page must carry on (in its ``<meta>`` and POST forms): when
    the request came by the token and the session cookie does not hold that launch (the
    browser drops cookies, or another tab launched since)."""
    if "page_launch_token" not in g:
        launch_id = _launch_id_from_token()
        carry = launch_id is not None and str(session.get("launch_id")) != launch_id
        g.page_launch_token = g.get("launch_token") if carry else None
    token: str | None = g.page_launch_token
    return token


#: A query field whose name ``parse_qsl`` reads as ``lt``: each letter as it is or
#: percent-encoded (no other bytes decode to them), ending at ``=``, ``&`` or the end. A
#: query without one is not parsed (an authorization redirect's is some 500 characters).
_MAY_NAME_LAUNCH_TOKEN = re.compile(r"(?:^|&)(?:l|%6[cC])(?:t|%74)(?:[=&]|$)")


def carry_token_over_redirect(response: Response) -> Response:
    """A redirect answered to a page that carries the token would lose it (the browser
    follows with a bare GET): a page that navigates on by POST instead. Whatever the
    view did, no ``lt`` leaves in a Location."""
    location = response.headers.get("Location")
    if not location or not 300 <= response.status_code < 400:
        return response
    parts = urlsplit(location)
    query = (
        parse_qsl(parts.query, keep_blank_values=True)
        if _MAY_NAME_LAUNCH_TOKEN.search(parts.query)
        else []
    )
    if any(k == LAUNCH_TOKEN_PARAM for k, _ in query):
        query = [(k, v) for k, v in query if k != LAUNCH_TOKEN_PARAM]
        location = urlunsplit(parts._replace(query=urlencode(query)))
        response.headers["Location"] = location
    if not _within_tool(location) or page_launch_token() is None:
        return response
    page = render_template("navigate_on.html", target=location)
    moved = current_app.make_response((page, 200))
    for name, value in response.headers.items():
        if name.lower() == "set-cookie":
            moved.headers.add(name, value)
    return moved


def _within_tool(location: str) -> bool:
    """Whether a browser on this request's page would take ``location`` to the tool's own
    origin: read as a browser does (``\\`` as ``/``; another scheme is another origin,
    ``javascript:`` and ``data:`` too)."""
    parts = urlsplit(location.replace("\\", "/"))
    if parts.scheme and parts.scheme.lower() != request.scheme:
        return False
    return not parts.netloc or parts.netloc.lower() == request.host.lower()


def keep_token_pages_private(response: Response) -> Response:
    """A page carrying the launch token (its ``<meta>``) is stored by no cache, shared or
    the browser's disk, whatever the view allowed: the token outlives the page."""
    if page_launch_token() is not None:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def current_organisation_id() -> int:
    """The organisation of the current launch's deployment: what the person acts for."""
    launch = current_launch()
    if launch is None:
        raise NotSignedIn("no launch")
    return launch.deployment.organisation_id


def managed_units() -> frozenset[int] | None:
    """The units whose people the current manager sees and decides for (with the units
    under them); None for every unit of the organisation (``services.grants``)."""
    if "managed_units" not in g:
        from lti_tool.services import grants

        launch = current_launch()
        if launch is None:
            raise NotSignedIn("no launch")
        g.managed_units = grants.manager_scope(get_session(), launch, current_grants())
    found: frozenset[int] | None = g.managed_units
    return found


def current_actor() -> Actor:
    """Who acts in this request, for the audit log: an API token, or the launched person."""
    method, path = request.method, request.path
    if g.get("page_address"):  # the landing page answering a launch: the GET it stands for
        method, path = "GET", g.page_address
    caller: ApiCaller | None = g.get("api_caller")
    if caller is not None and caller.token_id is not None:
        return Actor.of_token(
            caller.organisation_id, caller.token_id, caller.token_name, method, path
        )
    launch = current_launch()
    if launch is None:
        raise NotSignedIn("no launch")
    return Actor(
        launch.deployment.organisation_id, person_id=launch.person_id, method=method, path=path
    )


def require_whole_organisation() -> None:
    """Refuse a manager of some units what only the organisation's managers may do."""
    if managed_units() is not None:
        raise Forbidden(f"{request.path} needs the whole organisation")


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


# --- the REST API: a Bearer token or the launch -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class ApiCaller:
    """Who calls the API: a token of an organisation, or a person through their launch."""

    organisation_id: int
    person_id: int | None = None
    """None for a token."""
    token_id: int | None = None
    token_name: str = ""
    can_write: bool = False


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiTokenInvalid("Authorization header is not a Bearer token")
    return token.strip()


def current_api_caller() -> ApiCaller:
    found: ApiCaller = g.api_caller
    return found


def api_access(*permissions: Permission, tokens: bool = True) -> Callable[[F], F]:
    """Allow an API view to tokens (read scope: GET only) and to launched people holding
    any of ``permissions``. A launched person's changes need the page's CSRF token in the
    ``X-CSRFToken`` header; a token's do not (no cookie, so nothing to forge). Neither a
    token nor a launch: 401, whatever the method (as the OpenAPI document says)."""
    from lti_tool.app_factory import csrf
    from lti_tool.models import TokenScope
    from lti_tool.services import api_tokens

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            reads = request.method in ("GET", "HEAD", "OPTIONS")
            token = _bearer()
            if token is not None:
                row = api_tokens.authenticate(get_session(), token)
                if row is None:
                    raise ApiTokenInvalid(f"{request.path}: unknown or revoked token")
                if not tokens:
                    raise PersonOnly(f"{request.path} with token {row.id}")
                if not reads and row.scope != TokenScope.WRITE:
                    raise ReadOnlyToken(f"{request.method} {request.path} with token {row.id}")
                g.api_caller = ApiCaller(
                    row.organisation_id,
                    token_id=row.id,
                    token_name=row.name,
                    can_write=row.scope == TokenScope.WRITE,
                )
                return view(*args, **kwargs)
            if current_launch() is None:  # neither a token nor a launch: nothing to forge
                raise NotSignedIn(f"{request.method} {request.path} without a token or launch")
            csrf.protect()
            return requires(*permissions)(_as_launch(view))(*args, **kwargs)

        guarded.access = tuple(str(p) for p in permissions)  # type: ignore[attr-defined]
        guarded.api_tokens = tokens  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def _as_launch(view: F) -> F:
    @functools.wraps(view)
    def signed_in(*args: Any, **kwargs: Any) -> Any:
        launch = current_launch()
        assert launch is not None  # requires() let the request in
        g.api_caller = ApiCaller(
            launch.deployment.organisation_id, person_id=launch.person_id, can_write=True
        )
        return view(*args, **kwargs)

    return signed_in  # type: ignore[return-value]
