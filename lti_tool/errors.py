"""Domain exceptions, and the one place that turns them into responses.

Inside the LMS iframe an error is a translated HTML page; under ``/api`` it is JSON.
Anything unexpected is logged with its traceback and shown as a generic message.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from typing import Any

from flask import Flask, g, has_request_context, jsonify, make_response, render_template, request
from flask.wrappers import Response
from flask_babel import LazyString, format_timedelta, gettext, lazy_gettext
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from lti_tool.redis_pool import RedisUnavailable, cannot_serve
from lti_tool.signing import SESSION_ROLLED_BACK

log = logging.getLogger(__name__)


def log_launch_refusal(code: str, status: int, detail: str) -> None:
    """The one log line of every refused login or launch (monitoring greps for it), and
    its count by reason in /metrics. It names the platform the request claims to come
    from (``claimed_issuer``, ``claimed_client_id``, ``claimed_deployment_id``: as sent,
    unverified), so that a registration changed in an LMS shows whose."""
    from lti_tool.metrics import count_refusal

    claimed = {f"claimed_{name}": value[:CLAIMED_LENGTH] for name, value in _claimed().items()}
    log.warning(
        "LTI refused: %s (%s) %s",
        code,
        status,
        detail,
        extra={"refusal": code, "status": status, **claimed},
    )
    count_refusal(code)


#: The most of a claimed value a refusal's line keeps: a forged one may be of any length.
CLAIMED_LENGTH = 200


def _claimed() -> dict[str, str]:
    """The platform a refused launch's id_token (``views.lti``: ``g.claimed_platform``)
    or a refused login's parameters name, as sent."""
    if not has_request_context():
        return {}
    claimed: dict[str, str] | None = g.get("claimed_platform")
    if claimed is None and request.endpoint == "lti.login":
        try:
            values = request.values
        except HTTPException:  # a form too large to read: refused without reading it
            return {}
        claimed = {"issuer": values.get("iss", ""), "client_id": values.get("client_id", "")}
    return {name: value for name, value in (claimed or {}).items() if value}


def launch_refusal_codes() -> list[str]:
    """Every reason a login or launch is refused (the codes of LaunchError's kinds)."""
    codes: set[str] = set()
    kinds: list[type[LaunchError]] = [LaunchError]
    while kinds:
        kind = kinds.pop()
        codes.add(kind.code)
        kinds.extend(kind.__subclasses__())
    return sorted(codes)


class ToolError(Exception):
    """A refusal the user should understand. ``message`` is shown; ``detail`` is logged."""

    status = 400
    code = "bad_request"
    title: Any = lazy_gettext("Something went wrong")
    message: Any = lazy_gettext("The request could not be handled.")

    def __init__(self, detail: str = "", *, commit: bool = False, **params: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params
        #: Keep what the request wrote (e.g. a deployment recorded as pending).
        self.commit = commit


class LaunchError(ToolError):
    """An LTI login or launch was refused."""

    title = lazy_gettext("The launch from your learning platform was refused")
    message = lazy_gettext("The learning platform sent a launch the tool cannot accept.")
    #: Ask the user to start again from the course: most causes are transient.
    retry_hint = True
    #: Refused before the platform's signature was verified: it may come from anyone
    #: (a launch counted against ``LAUNCH_RATE_LIMIT``); set by ``lti.launch``.
    unsigned = False


def _launch_error(
    name: str, status: int, code: str, message: Any, retry_hint: bool = True
) -> type[LaunchError]:
    return type(
        name,
        (LaunchError,),
        {"status": status, "code": code, "message": message, "retry_hint": retry_hint},
    )


MissingParameter = _launch_error(
    "MissingParameter",
    400,
    "missing_parameter",
    lazy_gettext("The login request from the learning platform lacks a required field."),
)
LoginParameterTooLong = _launch_error(
    "LoginParameterTooLong",
    400,
    "login_parameter_too_long",
    lazy_gettext(
        "The login request from the learning platform has a field that is too long. "
        "Opening the activity again would send the same: ask your LMS administrator to "
        "check the tool's registration."
    ),
    retry_hint=False,
)
UnknownPlatform = _launch_error(
    "UnknownPlatform",
    403,
    "unknown_platform",
    lazy_gettext(
        "This learning platform (issuer and client id) is not registered with the tool. "
        "Ask your LMS administrator to register it."
    ),
    retry_hint=False,
)
PlatformDisabled = _launch_error(
    "PlatformDisabled",
    403,
    "platform_disabled",
    lazy_gettext("This learning platform has been disabled by the tool's administrator."),
    retry_hint=False,
)
TooManyLogins = _launch_error(
    "TooManyLogins",
    429,
    "too_many_logins",
    lazy_gettext(
        "Too many logins came from your network just now. Wait a minute and open the "
        "activity again."
    ),
)
InvalidToken = _launch_error(
    "InvalidToken",
    401,
    "invalid_token",
    lazy_gettext("The launch message could not be verified (signature or format)."),
)
UnknownKey = _launch_error(
    "UnknownKey",
    401,
    "unknown_key",
    lazy_gettext("The launch was signed with a key the learning platform does not publish."),
)
ExpiredToken = _launch_error(
    "ExpiredToken",
    401,
    "expired_token",
    lazy_gettext("The launch message has expired. Open the activity again from your course."),
)
TokenFromFuture = _launch_error(
    "TokenFromFuture",
    401,
    "token_not_yet_valid",
    lazy_gettext(
        "The launch message is dated in the future; the clocks of the learning platform "
        "and the tool disagree."
    ),
)
WrongAudience = _launch_error(
    "WrongAudience",
    401,
    "wrong_audience",
    lazy_gettext("The launch message was meant for another tool (audience mismatch)."),
)
WrongIssuer = _launch_error(
    "WrongIssuer",
    401,
    "wrong_issuer",
    lazy_gettext("The launch message comes from another platform than the one that logged in."),
)
MissingNonce = _launch_error(
    "MissingNonce", 401, "missing_nonce", lazy_gettext("The launch message has no usable nonce.")
)
ReplayedLaunch = _launch_error(
    "ReplayedLaunch",
    401,
    "replayed_launch",
    lazy_gettext("This launch has already been used. Open the activity again from your course."),
)
StateMismatch = _launch_error(
    "StateMismatch",
    401,
    "state_mismatch",
    lazy_gettext(
        "The launch does not belong to the login started in this browser, or the login "
        "took too long."
    ),
)
MissingDeployment = _launch_error(
    "MissingDeployment",
    400,
    "missing_deployment",
    lazy_gettext("The launch message does not say which deployment of the tool it is for."),
    retry_hint=False,
)
DeploymentPending = _launch_error(
    "DeploymentPending",
    403,
    "deployment_pending",
    lazy_gettext(
        "This placement of the tool is new and awaits approval by the tool's administrator. "
        "Try again once it has been approved."
    ),
    retry_hint=False,
)
DeploymentDisabled = _launch_error(
    "DeploymentDisabled",
    403,
    "deployment_disabled",
    lazy_gettext("This placement of the tool has been disabled by the tool's administrator."),
    retry_hint=False,
)


StateCookieLost = _launch_error(
    "StateCookieLost",
    403,
    "state_cookie_lost",
    lazy_gettext(
        "Your browser did not send back the cookie the tool set when this sign-in began, so "
        "the launch cannot be trusted."
    ),
)
LoginUsed = _launch_error(
    "LoginUsed",
    400,
    "login_used",
    lazy_gettext(
        "This sign-in has already been used or has expired. The learning platform accepts "
        "each sign-in once."
    ),
)
CookiesOff = _launch_error(
    "CookiesOff",
    403,
    "cookies_off",
    lazy_gettext(
        "Your browser does not keep the tool's cookies even in a window of its own. Allow "
        "cookies for this site in the browser's settings, then open the activity again from "
        "your course."
    ),
    retry_hint=False,
)

DeepLinkingForbidden = _launch_error(
    "DeepLinkingForbidden",
    403,
    "deep_linking_forbidden",
    lazy_gettext("Only course designers and administrators can add Læringsløp to a course."),
    retry_hint=False,
)
UnsupportedMessage = _launch_error(
    "UnsupportedMessage",
    400,
    "unsupported_message_type",
    lazy_gettext("The learning platform sent a kind of LTI message this tool does not handle."),
    retry_hint=False,
)
InvalidVersion = _launch_error(
    "InvalidVersion",
    400,
    "invalid_lti_version",
    lazy_gettext("The launch message does not declare LTI version 1.3.0."),
    retry_hint=False,
)
InvalidClaims = _launch_error(
    "InvalidClaims",
    400,
    "invalid_claims",
    lazy_gettext("The launch message lacks required LTI information."),
    retry_hint=False,
)
PlatformUnreachable = _launch_error(
    "PlatformUnreachable",
    502,
    "platform_unreachable",
    lazy_gettext("The tool could not fetch the learning platform's public keys. Try again."),
)


class NotSignedIn(ToolError):
    status = 401
    code = "not_signed_in"
    title = lazy_gettext("You are not signed in")
    message = lazy_gettext("Open Læringsløp from a course in your learning platform to sign in.")


class Forbidden(ToolError):
    status = 403
    code = "forbidden"
    title = lazy_gettext("Access denied")
    message = lazy_gettext("You do not have permission to see this page.")


class NotFound(ToolError):
    status = 404
    code = "not_found"
    title = lazy_gettext("Not found")
    message = lazy_gettext("The page or item does not exist.")


class InvalidName(ToolError):
    status = 400
    code = "invalid_name"
    title = lazy_gettext("The name cannot be used")
    message = lazy_gettext("A name must have between 1 and 200 characters.")


class OrganisationNameTaken(ToolError):
    status = 409
    code = "organisation_name_taken"
    title = lazy_gettext("The name is taken")
    message = lazy_gettext("Another organisation already has this name.")


class RegionNameTaken(ToolError):
    status = 409
    code = "region_name_taken"
    title = lazy_gettext("The name is taken")
    message = lazy_gettext("Another region already has this name.")


class PlatformOwnedElsewhere(ToolError):
    status = 409
    code = "platform_owned_elsewhere"
    title = lazy_gettext("The platform is registered by another organisation")
    message = lazy_gettext(
        "This issuer and client ID are already registered by another organisation. Ask the "
        "learning platform for a client ID of your own, or ask that organisation."
    )


class PlatformInUse(ToolError):
    status = 409
    code = "platform_in_use"
    title = lazy_gettext("The platform cannot be deleted")
    message = lazy_gettext(
        "People have used the tool from this learning platform, and deleting it would delete "
        "what they did. Disable it instead: launches are refused and everything is kept."
    )


class DeploymentInUse(ToolError):
    status = 409
    code = "deployment_in_use"
    title = lazy_gettext("The deployment cannot be deleted")
    message = lazy_gettext(
        "The tool has been launched through this deployment, and deleting it would delete "
        "those launches. Disable it instead: launches are refused and everything is kept."
    )


class DeploymentMoveRefused(ToolError):
    status = 409
    code = "deployment_in_use"
    title = lazy_gettext("The deployment cannot be moved")
    message = lazy_gettext(
        "People have launched the tool through this deployment. They belong to its "
        "organisation, with their data, and moved they could not open their pages through "
        "it. Leave it where it is; for the other organisation, add a deployment in the LMS "
        "(a course or placement of its own) and approve it there."
    )


class OwnAccess(ToolError):
    """An admin would disable or delete what their own launch goes through."""

    status = 409
    code = "own_access"
    title = lazy_gettext("You are signed in through this")
    message = lazy_gettext(
        "You are signed in through this learning platform or deployment: disabling or "
        "deleting it would lock you out at once. Do it signed in through another deployment, "
        "or with the command line."
    )


class RegistrationError(ToolError):
    """LTI Dynamic Registration refused or failed; nothing is written, the invite stays usable.

    With ``show_detail`` the detail (the platform's answer) is shown to the administrator.
    """

    title = lazy_gettext("The learning platform could not be registered")
    show_detail = True

    def __init__(self, detail: str = "", **params: Any) -> None:
        if self.show_detail and detail:
            params.setdefault("details", detail)
        super().__init__(detail, **params)


class RegistrationNotInvited(RegistrationError):
    status = 403
    code = "registration_not_invited"
    show_detail = False
    message = lazy_gettext(
        "Registering a learning platform needs a registration URL issued by the tool's "
        "administrator. Ask them for one and enter it in your learning platform."
    )


class InviteUnknown(RegistrationNotInvited):
    code = "registration_invite_unknown"
    message = lazy_gettext(
        "This registration URL is not valid. Ask the tool's administrator for a new one."
    )


class InviteUsed(RegistrationNotInvited):
    code = "registration_invite_used"
    message = lazy_gettext(
        "This registration URL has already been used. Each URL registers one platform once; "
        "ask the tool's administrator for a new one."
    )


class InviteExpired(RegistrationNotInvited):
    code = "registration_invite_expired"
    message = lazy_gettext(
        "This registration URL has expired. Ask the tool's administrator for a new one."
    )


class RegistrationParameterMissing(RegistrationError):
    status = 400
    code = "registration_missing_parameter"
    message = lazy_gettext(
        "The registration URL must be opened by your learning platform, which adds where to "
        "find its configuration. Enter the URL in the platform's tool registration (Moodle: "
        "Manage tools, Tool URL; Canvas: Developer Keys, LTI Registration)."
    )


class PlatformConfigurationInvalid(RegistrationError):
    status = 502
    code = "invalid_platform_configuration"
    message = lazy_gettext(
        "The learning platform's configuration (OpenID configuration) could not be read or "
        "is incomplete. Nothing was registered; you can try again with the same URL."
    )


class PrivateHostRefused(PlatformConfigurationInvalid):
    """A platform on a private or local address that REGISTRATION_ALLOWED_HOSTS lacks."""

    code = "platform_on_private_host"
    message = lazy_gettext(
        "The learning platform is at %(host)s, a private or local network address, which "
        "the tool only calls when its operator allows it. To register a platform on your own "
        "network, the tool's operator adds its host name or address range to the setting "
        "REGISTRATION_ALLOWED_HOSTS. Nothing was registered; you can try again with the same "
        "URL afterwards."
    )

    def __init__(self, detail: str = "", *, host: str) -> None:
        super().__init__(detail)
        self.message = LazyString(_format_message, type(self).message, {"host": host})


class PlatformUnsupported(RegistrationError):
    status = 502
    code = "platform_unsupported"
    message = lazy_gettext(
        "The learning platform does not offer resource link launches "
        "(LtiResourceLinkRequest), which the tool needs. Nothing was registered."
    )


class RegistrationPlatformUnreachable(RegistrationError):
    status = 504
    code = "registration_platform_unreachable"
    message = lazy_gettext(
        "The tool could not reach the learning platform (network error or timeout). Nothing "
        "was registered; you can try again with the same URL."
    )


class RegistrationRejected(RegistrationError):
    status = 502
    code = "registration_rejected"
    message = lazy_gettext(
        "The learning platform refused to register the tool. Its answer is shown below. "
        "Nothing was registered; you can try again with the same URL."
    )


class RegistrationResponseInvalid(RegistrationError):
    status = 502
    code = "invalid_registration_response"
    message = lazy_gettext(
        "The learning platform's answer to the registration lacks the tool's client id. "
        "Nothing was registered; you can try again with the same URL."
    )


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz", "/metrics"):
        return True
    return request.path.startswith(("/verify", "/ob/")) and wants_json()


def wants_json() -> bool:
    """A public page asked for as JSON (``?format=json`` or an Accept header preferring it)."""
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def render_error(
    status: int, code: str, title: Any, message: Any, commit: bool = False, **context: Any
) -> tuple[Any, int]:
    if not commit:
        g.rollback_only = True
    if _wants_json():
        body: dict[str, Any] = {"error": code, "message": str(message)}
        for extra in ("errors", "problems"):  # field-level errors, import problems (API)
            if extra in context:
                body[extra] = context[extra]
        response = jsonify(body)
        if status == 401 and request.path.startswith("/api/"):
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        elif status == 401 and request.path == "/metrics":
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, status
    return (
        render_template(
            "errors/error.html", status=status, code=code, title=title, message=message, **context
        ),
        status,
    )


def _api_extras(exc: ToolError) -> dict[str, Any]:
    """What a JSON client needs beyond the message: an import's problems, one per entry."""
    if _wants_json() and isinstance(exc, ImportErrors):
        return {"problems": [str(p) for p in exc.problems]}
    return {}


#: The wait a 503 asks for while the database or Redis does not answer.
SERVICE_DOWN_RETRY_SECONDS = 30
#: PostgreSQL's SQLSTATEs of a server that cannot serve now: a connection exception (class
#: 08), shutting down or starting (57P01-57P03), too many connections (53300).
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
#: SQLite's: another writer holds the file past busy_timeout, or the file cannot be opened.
_SQLITE_OUTAGES = ("database is locked", "unable to open database file")


def is_outage(exc: OperationalError) -> bool:
    """The database cannot serve now (down, restarting, unreachable, busy), as opposed to
    an OperationalError that is a fault in the statement (a missing table, a syntax error,
    too many parameters), which trying again would not mend."""
    if exc.connection_invalidated:
        return True
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith(_OUTAGE_SQLSTATES)
    text = str(original).lower()
    if isinstance(original, sqlite3.OperationalError):
        return text.startswith(_SQLITE_OUTAGES)
    # psycopg's own, without a SQLSTATE: the connection failed, timed out or was closed
    return "connection" in text or "server closed" in text


#: PostgreSQL's SQLSTATE of a statement stopped by its ``statement_timeout`` (query_canceled:
#: also a database administrator's ``pg_cancel_backend``; the tool sends no cancel itself).
_STOPPED_SQLSTATE = "57014"


def is_too_slow(exc: OperationalError) -> bool:
    """A statement ran past DATABASE_STATEMENT_TIMEOUT_SECONDS (or the worker's), or was
    cancelled by hand, and was stopped: neither an outage nor a fault in the statement."""
    return getattr(exc.orig, "sqlstate", None) == _STOPPED_SQLSTATE


def too_slow_response(exc: OperationalError) -> Response:
    """503 for a request whose statement was stopped for taking too long, in the reader's
    language. No Retry-After: the same request may well take as long again. Logged with
    the statement (not its values, which may be personal data), for operations to find the
    slow query; the request's transaction is rolled back."""
    statement = " ".join(str(exc.statement or "").split())
    log.error(
        "a statement ran past its time limit (or was cancelled) on %s %s: %s",
        request.method,
        request.path,
        statement[:1000],
    )
    return _unavailable(
        "took_too_long",
        gettext("This took too long"),
        gettext(
            "Læringsløp stopped the request because the database needed too long to answer "
            "it. Try again later; if it happens again, tell the administrator of your "
            "learning platform."
        ),
    )


def _unavailable(code: str, title: str, message: str) -> Response:
    """A 503 made in place of the request's answer: its transaction and its session's
    changes go, and the answer is never kept by a cache (it may have been made after the
    page's own hooks ran, with its launch token)."""
    g.setdefault(SESSION_ROLLED_BACK, True)  # the session's changes go with the request's
    response = make_response(render_error(503, code, title, message))
    response.headers["Cache-Control"] = "no-store"
    return response


def service_down_response(*, traceback: bool = True, cause: str = "") -> Response:
    """503 and a moment's wait (Retry-After), in the reader's language: the database or
    Redis does not answer (down, restarting, every connection in use). Logged with the
    error for operations (``traceback=False``: one line, for a request refused because
    Redis failed a moment ago, which ``redis_pool`` logged once, or because Redis said
    why it cannot serve, its ``cause``); the request's transaction is rolled back."""
    if traceback:
        log.exception("a service is unavailable on %s %s", request.method, request.path)
    elif cause:
        log.warning("Redis cannot serve %s %s: %s", request.method, request.path, cause)
    else:
        log.warning("Redis is unavailable on %s %s", request.method, request.path)
    response = _unavailable(
        "service_unavailable",
        gettext("Temporarily unavailable"),
        gettext(
            "A service Læringsløp depends on is not answering just now. Try again in a moment."
        ),
    )
    response.headers["Retry-After"] = str(SERVICE_DOWN_RETRY_SECONDS)
    return response


def database_unavailable_response(exc: OperationalError) -> Response | None:
    """The 503 for a database error that is not the request's fault (a statement stopped
    for taking too long, an outage); None for a fault in the statement, an error of ours.
    For the error handlers and for the request's commit alike."""
    if is_too_slow(exc):
        return too_slow_response(exc)
    if is_outage(exc):
        return service_down_response()
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ToolError)
    def handle_tool_error(exc: ToolError) -> tuple[Any, int]:
        if isinstance(exc, LaunchError):
            log_launch_refusal(exc.code, exc.status, exc.detail)
        else:
            log.info("refused %s %s: %s %s", request.method, request.path, exc.code, exc.detail)
        return render_error(
            exc.status,
            exc.code,
            exc.title,
            exc.message,
            commit=exc.commit,
            retry_hint=getattr(exc, "retry_hint", False),
            **_api_extras(exc),
            **exc.params,
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> Any:
        if exc.code is None or exc.code < 400:
            return exc
        refusal = exc.__cause__
        if isinstance(refusal, LaunchError):  # answered 429: one of too many (rate_limits)
            log_launch_refusal(refusal.code, exc.code, f"{refusal.detail}; over the limit")
        titles = {
            400: gettext("Bad request"),
            403: gettext("Access denied"),
            404: gettext("Not found"),
            405: gettext("Request not allowed"),
            413: gettext("Too large"),
            429: gettext("Too many requests"),
        }
        messages = {
            400: gettext("The request was not understood."),
            403: gettext("You do not have permission to see this page."),
            404: gettext("The page or item does not exist."),
            405: gettext("This address does not accept that kind of request."),
            413: gettext("What was sent is larger than the tool accepts."),
            429: _too_often(exc),
        }
        response = make_response(
            render_error(
                exc.code,
                (exc.name or "error").lower().replace(" ", "_"),
                titles.get(exc.code, gettext("Something went wrong")),
                messages.get(exc.code, gettext("The request could not be handled.")),
            )
        )
        for name, value in exc.get_headers():  # Allow (405), Retry-After (429)…
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    @app.errorhandler(RedisResponseError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    def handle_service_down(exc: Exception) -> Any:
        if isinstance(exc, OperationalError):
            # None: a fault of ours, which trying again will not help
            return database_unavailable_response(exc) or handle_unexpected(exc)
        if isinstance(exc, RedisResponseError):
            if not cannot_serve(exc):
                return handle_unexpected(exc)  # a wrong command: a fault of ours
            # full, read-only, failing its snapshots: its answer says so (on every
            # request until it is mended: a line each, no traceback)
            return service_down_response(traceback=False, cause=f"{type(exc).__name__}: {exc}")
        return service_down_response(traceback=not isinstance(exc, RedisUnavailable))

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> tuple[Any, int]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return render_error(
            500,
            "internal_error",
            gettext("Something went wrong"),
            gettext("An unexpected error occurred. It has been logged; please try again later."),
        )


def _too_often(exc: HTTPException) -> str:
    """The 429 message, with the wait its Retry-After asks for (a limit may count per
    second, minute, hour or day), in the page's language."""
    seconds = getattr(exc, "retry_after", None)
    if not isinstance(seconds, int) or seconds < 1:
        return gettext("You have asked too often. Wait a minute and try again.")
    wait = format_timedelta(wait_rounded_up(seconds), add_direction=True)
    return gettext("You have asked too often. Try again %(wait)s.", wait=wait)


def wait_rounded_up(seconds: int) -> dt.timedelta:
    """``seconds`` in the unit Babel will say them in, rounded up, not to the nearest:
    a wait of 5,399 s is said as "2 hours", never "1 hour"."""
    for unit in (86_400, 3_600, 60):
        if seconds >= unit:
            return dt.timedelta(seconds=-(-seconds // unit) * unit)
    return dt.timedelta(seconds=seconds)


# --- competence frameworks, job roles and their import/export -----------------------------


def _format_message(template: Any, values: dict[str, Any]) -> str:
    return str(template) % values


class FormattedError(ToolError):
    """A refusal whose message names what was refused: the class's ``message`` holds
    %(name)s placeholders, filled from the keyword arguments (translated when shown)."""

    def __init__(self, detail: str = "", **values: Any) -> None:
        super().__init__(detail)
        self.values = values
        if values:
            self.message = LazyString(_format_message, type(self).message, values)


class FrameworkCodeTaken(FormattedError):
    status = 409
    code = "framework_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another competence framework already has the code %(code)s.")


class InvalidCode(FormattedError):
    status = 400
    code = "invalid_code"
    title = lazy_gettext("The code cannot be used")
    message = lazy_gettext(
        "A code must have between 1 and %(max)s characters and no spaces: %(code)s."
    )


class MissingTitle(ToolError):
    status = 400
    code = "missing_title"
    title = lazy_gettext("The title is missing")
    message = lazy_gettext("Give a title in at least one language (bokmål, nynorsk or English).")


class VersionNotDraft(FormattedError):
    status = 409
    code = "version_not_draft"
    title = lazy_gettext("This version cannot be changed")
    message = lazy_gettext(
        "Version %(number)s of %(framework)s is %(status)s: only a draft can be changed. "
        "Start a new draft to make changes."
    )


class DraftExists(FormattedError):
    status = 409
    code = "draft_exists"
    title = lazy_gettext("There is already a draft")
    message = lazy_gettext(
        "%(framework)s already has a draft (version %(number)s). Publish or change that one."
    )


class NothingPublished(FormattedError):
    status = 409
    code = "nothing_published"
    title = lazy_gettext("No published version")
    message = lazy_gettext(
        "%(framework)s has no published version to start a new draft from. Change the draft it has."
    )


class CannotPublish(FormattedError):
    status = 409
    code = "cannot_publish"
    title = lazy_gettext("The version cannot be published yet")
    message = lazy_gettext(
        "A version needs at least one competence and a scale of at least two levels before "
        "it can be published (it has %(competences)s competence(s) and %(levels)s level(s))."
    )


class InvalidScale(FormattedError):
    status = 400
    code = "invalid_scale"
    title = lazy_gettext("The scale cannot be used")
    message = lazy_gettext(
        "A scale has between 2 and %(max)s levels, each with a label in at least one language."
    )


class LevelInUse(FormattedError):
    status = 409
    code = "level_in_use"
    title = lazy_gettext("The level is in use")
    message = lazy_gettext(
        "Level %(value)s is required by a job role and cannot be removed from the scale."
    )


class CompetenceCodeTaken(FormattedError):
    status = 409
    code = "competence_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another competence in this version already has the code %(code)s.")


class HierarchyCycle(FormattedError):
    status = 409
    code = "hierarchy_cycle"
    title = lazy_gettext("The competence cannot be moved there")
    message = lazy_gettext(
        "%(code)s cannot be placed under itself or under one of its own sub-competences."
    )


class CompetenceInUse(FormattedError):
    status = 409
    code = "competence_in_use"
    title = lazy_gettext("The competence is in use")
    message = lazy_gettext(
        "%(code)s is in use (by a job role, an item, a mapping or evidence) and cannot be "
        "deleted. Archive it instead."
    )


class CompetenceHasChildren(FormattedError):
    status = 409
    code = "competence_has_children"
    title = lazy_gettext("The competence has sub-competences")
    message = lazy_gettext(
        "%(code)s has sub-competences. Move or delete them first, or archive it instead."
    )


class JobRoleCodeTaken(FormattedError):
    status = 409
    code = "job_role_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another job role already has the code %(code)s.")


class RequirementInvalid(FormattedError):
    status = 400
    code = "requirement_invalid"
    title = lazy_gettext("The requirement cannot be used")


class CompetenceNotPublished(RequirementInvalid):
    code = "competence_not_published"
    message = lazy_gettext(
        "%(code)s is not in a published version of its framework. Publish the version first."
    )


class UnknownLevel(RequirementInvalid):
    code = "unknown_level"
    message = lazy_gettext("Level %(value)s is not on the scale of %(framework)s.")


class InvalidRenewal(RequirementInvalid):
    code = "invalid_renewal"
    message = lazy_gettext("The renewal period must be between 1 and %(max)s months, or none.")


class RequirementExists(RequirementInvalid):
    code = "requirement_exists"
    message = lazy_gettext("The job role already requires %(code)s.")


class UnknownFormat(FormattedError):
    status = 400
    code = "unknown_format"
    title = lazy_gettext("Unknown format")
    message = lazy_gettext("The format %(format)s is not known. Known formats: %(known)s.")


class ProblemsError(ToolError):
    """A refusal with a list of things to correct (``problems``), each shown."""

    status = 422

    def __init__(self, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} problem(s)",
            details=LazyString(lambda: "\n".join(str(p) for p in self.problems)),
        )


class ImportErrors(ProblemsError):
    """An import refused: nothing was written. ``problems`` says what and where, each."""

    code = "import_errors"
    title = lazy_gettext("The file cannot be imported")
    message = lazy_gettext("Nothing was imported. Correct the problems listed below and try again.")


class OrgUnitCodeTaken(FormattedError):
    status = 409
    code = "org_unit_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another sector, department or unit already has the code %(code)s.")


class InvalidOrgUnitParent(FormattedError):
    """A unit under a unit, a sector under anything, or a loop in the tree."""

    status = 409
    code = "invalid_org_unit_parent"
    title = lazy_gettext("It cannot be placed there")
    message = lazy_gettext(
        "%(code)s cannot be placed under %(parent)s: a unit sits under a sector or a "
        "department (or at the top), a department under a sector, and nothing under itself."
    )


# --- the REST API ---------------------------------------------------------------------------


class ApiTokenInvalid(ToolError):
    """A Bearer token that is unknown, revoked or malformed."""

    status = 401
    code = "invalid_api_token"
    title = lazy_gettext("The API token is not valid")
    message = lazy_gettext(
        "The API token is unknown or has been revoked. Ask the tool's administrator for a new one."
    )


class MetricsTokenInvalid(ToolError):
    """/metrics asked without METRICS_TOKEN as its bearer token."""

    status = 401
    code = "invalid_metrics_token"
    title = lazy_gettext("The metrics token is not valid")
    message = lazy_gettext(
        "The metrics are read with the token set in METRICS_TOKEN, sent as "
        "'Authorization: Bearer <token>'."
    )


class ReadOnlyToken(ToolError):
    status = 403
    code = "read_only_token"
    title = lazy_gettext("The API token may only read")
    message = lazy_gettext("This API token may only read. Changes need a token with write access.")


class PersonOnly(ToolError):
    """An endpoint about the person signed in, called with a token (no person)."""

    status = 403
    code = "person_only"
    title = lazy_gettext("Only for a signed-in person")
    message = lazy_gettext(
        "This address answers about the person signed in from the learning platform; an "
        "API token has no person."
    )


class JsonTooDeep(ToolError):
    """A JSON body nesting deeper than anything the tool reads (``json_input``)."""

    status = 400
    code = "json_too_deep"
    title = lazy_gettext("The request cannot be read")
    message = lazy_gettext(
        "The JSON nests objects and arrays too deeply. Send what the API documents."
    )


class InvalidInput(ToolError):
    """What was sent does not fit the endpoint's schema: ``errors`` names each field."""

    status = 422
    code = "invalid_input"
    title = lazy_gettext("The request has errors")
    message = lazy_gettext("Some fields are missing or invalid; see errors.")

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(f"invalid fields {sorted(errors)}", errors=errors)


# --- item bank, mappings and attempts -----------------------------------------------------


class ItemInvalid(ProblemsError):
    """An item that cannot be used: ``problems`` lists each thing to correct."""

    code = "item_invalid"
    title = lazy_gettext("The item cannot be saved")
    message = lazy_gettext("Correct the problems listed and save again.")


class ItemCodeTaken(FormattedError):
    status = 409
    code = "item_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another item in the bank already has the code %(code)s.")


class ItemInUse(FormattedError):
    status = 409
    code = "item_in_use"
    title = lazy_gettext("The item has been answered")
    message = lazy_gettext(
        "%(code)s has been answered, so its type, options, credits and competences cannot "
        "change (texts and feedback can). Archive it and make a new item instead."
    )


class MappingCodeTaken(FormattedError):
    status = 409
    code = "mapping_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another mapping already has the code %(code)s.")


class MappingInvalid(FormattedError):
    status = 409
    code = "mapping_invalid"
    title = lazy_gettext("The mapping cannot be used yet")
    message = lazy_gettext("%(reason)s")


class MappingNotOpen(FormattedError):
    status = 409
    code = "mapping_not_open"
    title = lazy_gettext("The mapping is not open")
    message = lazy_gettext("%(title)s is not published, so it cannot be taken now.")


class AttemptNotAllowed(FormattedError):
    status = 409
    code = "attempt_not_allowed"
    title = lazy_gettext("No new attempt now")
    message = lazy_gettext("%(reason)s")


class AttemptClosed(FormattedError):
    status = 409
    code = "attempt_closed"
    title = lazy_gettext("The attempt is closed")
    message = lazy_gettext("%(reason)s")


class InvalidAnswer(FormattedError):
    status = 422
    code = "invalid_answer"
    title = lazy_gettext("The answer cannot be saved")
    message = lazy_gettext("%(reason)s")


class PlacementInvalid(FormattedError):
    status = 422
    code = "placement_invalid"
    title = lazy_gettext("This cannot be placed")
    message = lazy_gettext("%(reason)s")


# --- certification ------------------------------------------------------------------------


class CertificationCodeTaken(FormattedError):
    status = 409
    code = "certification_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another certification already has the code %(code)s.")


class CertificationInvalid(FormattedError):
    status = 422
    code = "certification_invalid"
    title = lazy_gettext("The certification cannot be saved")
    message = lazy_gettext("%(reason)s")


class CourseCodeTaken(FormattedError):
    status = 409
    code = "course_code_taken"
    title = lazy_gettext("The code is taken")
    message = lazy_gettext("Another course already has the code %(code)s.")


class CannotIssue(FormattedError):
    status = 409
    code = "cannot_issue"
    title = lazy_gettext("No certificate was issued")
    message = lazy_gettext("%(reason)s")


class CannotRevoke(FormattedError):
    status = 409
    code = "cannot_revoke"
    title = lazy_gettext("The certificate cannot be revoked")
    message = lazy_gettext("%(reason)s")


class InvalidGrant(ToolError):
    status = 422
    code = "invalid_grant"
    title = lazy_gettext("The permission cannot be granted")
    message = lazy_gettext(
        "A manager needs a unit of your organisation. A coordinator covers your "
        "organisation's region, or your organisation when no region is given. Other "
        "permissions take neither."
    )


class AdminByToken(ToolError):
    status = 403
    code = "admin_needs_an_admin"
    title = lazy_gettext("Only an administrator grants admin")
    message = lazy_gettext(
        "An API token cannot grant admin. An administrator grants it on the Permissions page."
    )


class AdminLockout(ToolError):
    status = 409
    code = "admin_lockout"
    title = lazy_gettext("The organisation would lose its administrator")
    message = lazy_gettext(
        "You cannot withdraw your own admin grant, nor the organisation's last one. Grant "
        "admin to someone else first; they can withdraw it."
    )


class GrantReasonMissing(ToolError):
    status = 422
    code = "grant_reason_missing"
    title = lazy_gettext("Give a reason")
    message = lazy_gettext("Say why, in 1 to 500 characters: the reason is kept in the audit.")


# --- course rosters (LTI Names and Role Provisioning Services) ------------------------------


class RosterRefreshFailed(ToolError):
    """The course's members could not be read from the platform; the roster fetched before
    is kept. Each subclass says why, in words a manager can act on."""

    status = 502
    code = "roster_refresh_failed"
    title = lazy_gettext("The course's participants could not be fetched")
    message = lazy_gettext(
        "The learning platform's answer could not be used. The participants shown are those "
        "fetched before."
    )


class RosterNotOffered(RosterRefreshFailed):
    status = 409
    code = "roster_not_offered"
    message = lazy_gettext(
        "The learning platform offers no list of this course's participants (Names and Role "
        "Provisioning Services). Ask the LMS administrator to turn it on for Læringsløp."
    )


class RosterRefused(RosterRefreshFailed):
    code = "roster_refused"
    message = lazy_gettext(
        "The learning platform refused to list the course's participants. Ask the LMS "
        "administrator to let Læringsløp read course memberships. The participants shown are "
        "those fetched before."
    )


class RosterUnreachable(RosterRefreshFailed):
    status = 504
    code = "roster_unreachable"
    message = lazy_gettext(
        "The learning platform did not answer, or answered with an error. Try again later; "
        "the participants shown are those fetched before."
    )


class RosterHostRefused(RosterRefreshFailed):
    code = "roster_host_refused"
    message = lazy_gettext(
        "The learning platform's address for the course's participants is on a private "
        "network the tool may not call. Ask the tool's administrator to allow that host."
    )


class RosterTooLong(RosterRefreshFailed):
    code = "roster_too_long"
    message = lazy_gettext(
        "The course has more participants than the tool reads at once. The participants "
        "shown are those fetched before."
    )


class InvalidFilter(FormattedError):
    """A matrix filter in the query string that is not one of the choices."""

    status = 422
    code = "invalid_filter"
    title = lazy_gettext("The filter cannot be used")
    message = lazy_gettext("The filter %(field)s cannot be used: %(reason)s")


class SharedPlatform(ToolError):
    status = 403
    code = "shared_platform"
    title = lazy_gettext("The platform is shared")
    message = lazy_gettext(
        "Other organisations launch from this platform too: the LMS roles that count as "
        "designer here decide who designs for them as well, so they cannot be changed while "
        "the platform is shared. Grant designer to people under Permissions instead."
    )


class MonthNotOver(ToolError):
    status = 422
    code = "month_not_over"
    title = lazy_gettext("The month is not over")
    message = lazy_gettext(
        "A month's figures are recorded after its end; the current month is computed live."
    )


class CatalogueInvalid(FormattedError):
    """An activity, what it develops or a session refused; ``field`` names the form field
    the reason belongs to (``_schema``: the whole form)."""

    status = 422
    code = "catalogue_invalid"
    title = lazy_gettext("The activity cannot be saved")
    message = lazy_gettext("%(reason)s")

    @property
    def field(self) -> str:
        return str(self.values.get("field", "_schema"))


class PlanInvalid(FormattedError):
    """A learning plan's answer, item, due date or completion refused; ``field`` names the
    form field the reason belongs to (``_schema``: the whole form)."""

    status = 422
    code = "plan_invalid"
    title = lazy_gettext("The learning plan cannot be changed")
    message = lazy_gettext("%(reason)s")

    @property
    def field(self) -> str:
        return str(self.values.get("field", "_schema"))


class BookingRefused(FormattedError):
    """A booking, its cancellation or attendance refused (the session is cancelled,
    full, closed for sign-up …); ``reason`` says which."""

    status = 409
    code = "booking_refused"
    title = lazy_gettext("That cannot be done for this session")
    message = lazy_gettext("%(reason)s")


class EraseOwn(ToolError):
    """An admin would erase the person they are signed in as."""

    status = 409
    code = "erase_own"
    title = lazy_gettext("You cannot erase yourself here")
    message = lazy_gettext(
        "You are signed in as this person: erasing them would end your own access at once. "
        "Ask another administrator, or use the command line."
    )


class AttendanceInvalid(BookingRefused):
    """Attendance that cannot be recorded as asked (someone recording their own)."""

    status = 422
    code = "attendance_invalid"


class NotInRegion(ToolError):
    """The regional library needs the organisation to be in a region."""

    status = 409
    code = "not_in_region"
    title = lazy_gettext("Your organisation is in no region")
    message = lazy_gettext(
        "The library is shared within a region, and your organisation is in none. An "
        "administrator can put it in one; until then, share the package file by hand."
    )


class LibraryVersionTaken(FormattedError):
    status = 409
    code = "library_version_taken"
    title = lazy_gettext("That version is in the library already")
    message = lazy_gettext(
        "The region's library already has version %(version)s of %(name)s. Give the new "
        "one a higher version number."
    )
