"""Headers for a tool that lives in an LMS's iframe: a Content-Security-Policy that lets
only the registered platforms frame it and runs only the tool's own scripts (each inline
script carries the response's nonce), and HSTS over https.

The platforms' origins come from the registry cache (one statement per process each time
the registry changes, or every ``REGISTRY_CACHE_SECONDS``), never per request; a change
made on another host reaches them within ``FRAME_ORIGINS_LAG_SECONDS``.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, current_app, g
from flask.wrappers import Response
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.lti.registry_cache import origin

log = logging.getLogger(__name__)

#: How long a page's framing policy may lag a registry change made by another process: a
#: page reads the registry's generation from Redis only when its process has not read it
#: (at a login or launch) for that long. Framing is no permission: a platform registered
#: elsewhere a moment ago is refused a frame for a few seconds at most.
FRAME_ORIGINS_LAG_SECONDS = 5.0

#: A year; sent only when BASE_URL is https.
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    """Register before the hook that commits: Flask runs the later-registered first, so
    the headers are made after the commit (a platform just registered may frame its
    own confirmation page)."""
    app.context_processor(lambda: {"csp_nonce": csp_nonce()})
    app.after_request(_add_headers)


def csp_nonce() -> str:
    """This response's script nonce (``<script nonce="{{ csp_nonce }}">``)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    nonce: str = g.csp_nonce
    return nonce


def allow_form_action(url: str) -> None:
    """Let this response's form post to ``url``'s origin (the deep-linking response
    auto-posts to the platform's return URL)."""
    found = origin(url)
    if found:
        g.setdefault("form_action_origins", []).append(found)


def frame_origins() -> tuple[str, ...]:
    """The registered platforms' origins and the configured extra ones; the tool's own
    origin (the demo LMS) is ``'self'`` in the policy."""
    from lti_tool.lti.services import lti_services

    lti = lti_services()
    extra = tuple(o for o in (origin(u) for u in lti.settings.FRAME_ANCESTORS_EXTRA) if o)
    try:
        # A session of its own: the request's may have failed (an error page) or be
        # about to be rolled back.
        registered = lti.registry.frame_origins(
            current_app.extensions["db_sessionmaker"],
            lti.registry.recent_generation(FRAME_ORIGINS_LAG_SECONDS),
        )
    except (SQLAlchemyError, OSError):  # no database yet: the tool frames itself
        log.warning("the platforms' origins could not be read: frame-ancestors 'self' only")
        registered = ()
    return tuple(dict.fromkeys((*registered, *extra)))


def content_security_policy() -> str:
    platforms = " ".join(frame_origins())
    forms = " ".join(dict.fromkeys(g.get("form_action_origins", [])))
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{csp_nonce()}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action 'self' {platforms} {forms}".rstrip(),
            f"frame-ancestors 'self' {platforms}".rstrip(),
        )
    )


#: A redirect's policy: its body is never shown (the browser follows the Location), so
#: nothing in it may load or run, and no platform's origin need be read for it.
REDIRECT_POLICY = "default-src 'none'; base-uri 'none'"


def _add_headers(response: Response) -> Response:
    if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
        if 300 <= response.status_code < 400 and "Location" in response.headers:
            response.headers["Content-Security-Policy"] = REDIRECT_POLICY
        else:
            response.headers["Content-Security-Policy"] = " ".join(
                content_security_policy().split()
            ).replace(" ;", ";")
    settings = current_app.config["SETTINGS"]
    if settings.is_https:  # also behind a proxy that forgot X-Forwarded-Proto
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
