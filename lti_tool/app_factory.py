"""The application factory (``create_app``, also ``lti_tool.create_app``): it only wires
things together."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, g
from flask.wrappers import Response
from flask_wtf.csrf import CSRFProtect
from redis import ConnectionPool
from sqlalchemy.exc import OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_tool import db, errors
from lti_tool.domain.urls import safe_url
from lti_tool.json_input import JsonProvider
from lti_tool.navigation import NavigationPost
from lti_tool.rate_limits import RateLimits, remote_address
from lti_tool.schemas.checks import refuse_nul_in_request
from lti_tool.settings import Settings, SettingsError, load_settings, log_refused_start
from lti_tool.signing import SessionCookies
from lti_tool.views import IdConverter

csrf: CSRFProtect = CSRFProtect()
#: One line per request: method, path, endpoint, status, duration_ms and the client's
#: address (gunicorn's own access log is off: it cannot carry the request id).
access_log = logging.getLogger("lti_tool.access")
#: Limits what anyone may call without signing in (``rate_limits``).
limiter: RateLimits = RateLimits()


class Tool(Flask):
    """Flask, each hook and view found synchronous once: Flask asks
    ``inspect.iscoroutinefunction`` again of every hook it runs (some 16 a request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synchronous: set[Any] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            if func in self._synchronous:
                return func
        except TypeError:  # not hashable: asked every time
            return super().ensure_sync(func)
        found = super().ensure_sync(func)
        if found is func:
            self._synchronous.add(func)
        return found


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    try:
        settings = load_settings(overrides)
    except SettingsError as exc:
        log_refused_start(exc)  # the traceback that follows is the caller's
        raise
    app = Tool("lti_tool", instance_path=settings.INSTANCE_PATH)  # its logger, templates…
    app.json = JsonProvider(app)
    app.session_interface = SessionCookies()
    app.url_map.converters["int"] = IdConverter  # before any route is added
    _configure(app, settings)

    from lti_tool import auditing, cli, errors, i18n, metrics, migrate, observability, web_security
    from lti_tool.lti import services as lti_services

    # The schema is judged (readiness, the commands) against the migrations this process
    # was loaded with, not those a newer version installs under it while it runs.
    migrate.schema_revisions()

    db.init_app(app, settings.database_url, settings.DATABASE_STATEMENT_TIMEOUT_SECONDS)
    auditing.init_app(app)  # set-up changes are recorded as their transaction commits
    from lti_tool.services.coverage_cells import keep_cells_current

    keep_cells_current()  # the figures' requirement lines follow every change to them
    lti_services.init_app(app, settings)
    from lti_tool.auth import (
        bind_csrf_to_launch_token,
        carry_token_over_redirect,
        keep_token_pages_private,
    )

    app.before_request(_start_request)  # first: the start time
    metrics.declare_refusal_reasons(errors.launch_refusal_codes())
    metrics.declare_lms_calls()
    app.before_request(_allow_import_files)  # before anything reads the form
    app.before_request(refuse_nul_in_request)  # PostgreSQL cannot store it
    app.before_request(bind_csrf_to_launch_token)  # before CSRFProtect's own check
    csrf.init_app(app)
    limiter.init_app(
        app,
        storage_uri=settings.REDIS_URL or "memory://",
        # Each app (and test) counts on its own, even when they share one Redis (a new
        # app may get a collected one's id(): a name of its own, not its address).
        key_prefix=f"laeringslop-{uuid.uuid4().hex}"
        if settings.APP_ENV == "test"
        else "laeringslop",
        connection_pool=_redis_pool(app),
    )
    i18n.init_app(app)
    errors.register_error_handlers(app)
    _register_blueprints(app)
    cli.register(app)
    app.after_request(_observe)  # last of the hooks (Flask runs the later-registered first)
    web_security.init_app(app)  # its headers after the commit: a new platform may frame
    app.after_request(_finish_request)
    app.after_request(keep_token_pages_private)  # after the redirect carried over
    app.after_request(carry_token_over_redirect)  # before the commit: it may render a page
    app.context_processor(_template_globals)
    app.add_template_filter(safe_url)
    app.wsgi_app = NavigationPost(app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = observability.RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    if settings.PROXY_FIX_HOPS:
        n = settings.PROXY_FIX_HOPS
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )
    return app


#: The routes that take an import file (up to ``MAX_IMPORT_BYTES``) or carry one, sealed,
#: from the question preview to its confirmation (compressed, base64 in a signed token: at
#: most about 1.8 times the file). Every other request stays under MAX_CONTENT_LENGTH.
IMPORT_ENDPOINTS = frozenset(
    {
        "designer.import_framework",
        "designer.import_job_roles",
        "mapping_design.import_items",
        "mapping_design.confirm_import",
        "api.import_framework",
        "api.import_items",
        "api.import_job_roles",
        "packages.import_package",
        "packages.confirm_import",
        "api.import_package",
    }
)


def _start_request() -> None:
    """The request's id (``observability.RequestIds`` bound it) and start time, for the
    response header, the outbox rows, the access line and the metrics."""
    from flask import request

    from lti_tool import observability

    g.request_id = request.environ.get(
        observability.ENVIRON_KEY
    ) or observability.accepted_request_id(request.headers.get(observability.REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    """The response's metrics and its one access log line (the path without the query
    string, which may carry a launch token), once every other hook has run: the commit
    and the security headers (which may read the platforms' origins) are part of the
    time a request took."""
    from flask import request

    from lti_tool import metrics, observability

    started = g.get("request_started")
    if started is None:  # refused before the first hook ran
        return response
    seconds = time.perf_counter() - started
    # a launch answered with its landing page is the launch's (views.lti._landing_page)
    endpoint = g.get("observed_endpoint") or request.endpoint or "unmatched"
    metrics.observe_response(endpoint, request.method, response.status_code, seconds)
    response.headers[observability.REQUEST_ID_HEADER] = g.request_id
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
            "client": remote_address(),  # behind trusted proxies, the client (rate limits: per /64)
        },
    )
    return response


def _redis_pool(app: Flask) -> ConnectionPool | None:
    """The tool's Redis connection pool (``lti.services``), None without Redis."""
    client = app.extensions["lti"].redis
    return None if client is None else client.connection_pool


def _allow_import_files() -> None:
    """Let the import routes take the files their pages promise (the rest: 2 MB)."""
    from flask import request

    from lti_tool.interchange.model import MAX_IMPORT_BYTES

    if request.endpoint in IMPORT_ENDPOINTS:
        request.max_content_length = 2 * MAX_IMPORT_BYTES


def _configure(app: Flask, settings: Settings) -> None:
    from lti_tool.observability import configure_logging

    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    if settings.is_production and not settings.REDIS_URL:
        logging.getLogger("lti_tool").warning(
            "REDIS_URL is not set: the rate limits of /verify (VERIFY_RATE_LIMIT=%s), LTI "
            "login and launch and API tokens are counted "
            "by each worker process on its own, so one address may ask that often per worker "
            "and per host. Set REDIS_URL to count it once for all of them.",
            settings.VERIFY_RATE_LIMIT,
        )
    secure = settings.is_https
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.SECRET_KEY,
        SECRET_KEY_FALLBACKS=list(settings.SECRET_KEY_FALLBACKS),
        # Flask-WTF signs with the last key and accepts any (itsdangerous): a form a
        # page showed before the key changed can still be sent
        WTF_CSRF_SECRET_KEY=[*settings.SECRET_KEY_FALLBACKS, settings.SECRET_KEY],
        TESTING=settings.APP_ENV == "test",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.SESSION_HOURS),
        SESSION_COOKIE_NAME="laeringslop_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Inside an LMS iframe the tool is a third party: cookies need SameSite=None,
        # which browsers only accept with Secure; Partitioned (CHIPS) keeps them when
        # third-party cookies are blocked. Over plain http (the local demo) use Lax.
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="None" if secure else "Lax",
        SESSION_COOKIE_PARTITIONED=secure,
        PREFERRED_URL_SCHEME="https" if secure else "http",
        WTF_CSRF_SSL_STRICT=False,  # the Referer is the LMS's page inside an iframe
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=settings.DEFAULT_LOCALE,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )


def _register_blueprints(app: Flask) -> None:
    from lti_tool.services.unit_exports import status_text as cell_status_text
    from lti_tool.views import (
        admin,
        api,
        attempts,
        bookings,
        catalogue_design,
        certificates,
        certification_design,
        coordinator,
        courses,
        demo,
        designer,
        health,
        home,
        learner,
        lti,
        manager,
        mapping_design,
        packages,
        privacy,
        registration,
        unit_exports,
    )

    modules = [
        health,
        lti,
        registration,
        home,
        learner,
        attempts,
        designer,
        mapping_design,
        certification_design,
        catalogue_design,
        packages,
        bookings,
        certificates,
        manager,
        courses,
        unit_exports,
        coordinator,
        admin,
        privacy,
        api,
    ]
    # Not even registered when off: its POST routes would otherwise answer a CSRF 400
    # before the blueprint's own 404 guard runs.
    if app.config["SETTINGS"].demo_enabled:
        modules.append(demo)
    for module in modules:
        app.register_blueprint(module.bp)
    # A cell status in words: the same word on pages, in exports and on /verify.
    app.jinja_env.globals["status_text"] = cell_status_text


def _template_globals() -> dict[str, Any]:
    """The launch token a page carries on in its ``<meta>`` (a frame without cookies),
    never in a URL: ``static/launch_token.js`` puts it in POST bodies and a header."""
    from lti_tool.auth import page_launch_token

    return {
        "page_launch_token": page_launch_token(),
        # a landing page answering the launch POST: the address it stands for
        "page_address": g.get("page_address"),
    }


def _finish_request(response: Response) -> Response:
    """Commit the request's one transaction, unless an error asked for a rollback. A
    database that stops answering at the commit, or a statement of it stopped for taking
    too long, gets the 503 any other statement would."""
    if g.get("rollback_only"):
        db.rollback_request_session()
    else:
        try:
            db.commit_request_session()  # the audit's rows and what is not yet flushed too
        except OperationalError as exc:
            unavailable = errors.database_unavailable_response(exc)
            if unavailable is None:
                raise
            db.rollback_request_session()
            response = unavailable
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
