"""The demo LMS at /demo: a real LTI 1.3 platform inside the app, refused in production.

It plays the part Moodle plays: a course page that launches the tool in an iframe as a
learner, course designer, unit manager or administrator, the OIDC authorization endpoint
that answers with a signed id_token, its JWKS, and the deep-linking return endpoint.
"""

from __future__ import annotations

from typing import Any

import jwt
from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask.wrappers import Response
from flask_babel import gettext

from lti_tool import csrf
from lti_tool.auth import public
from lti_tool.db import get_session
from lti_tool.errors import NotFound, ToolError
from lti_tool.lti import claims as c
from lti_tool.lti.demo_platform import PERSONAS, AuthRequestError
from lti_tool.lti.services import lti_services
from lti_tool.services import demo

bp = Blueprint("demo", __name__, url_prefix="/demo")


class DemoAuthRefused(ToolError):
    status = 400
    code = "demo_auth_refused"


@bp.before_request
def _only_outside_production() -> Any:
    settings = lti_services().settings
    if not settings.demo_enabled:
        raise NotFound("the demo LMS is off (production)")
    # Cookies are per host: keep the demo on the host the tool knows as BASE_URL.
    if request.host_url.rstrip("/") != settings.base_url and request.method == "GET":
        return redirect(settings.base_url + request.full_path.rstrip("?"))
    return None


@bp.route("/")
@public
def course() -> Any:
    platform = demo.demo_platform(lti_services())
    registered = demo.find_demo_registration(get_session(), platform) is not None
    return render_template(
        "demo/course.html",
        personas=PERSONAS,
        registered=registered,
        has_key=bool(lti_services().keyring.all_keys()),
        issuer=platform.issuer,
    )


@bp.route("/setup", methods=["POST"])
@public
def setup() -> Any:
    """Register the demo LMS, create the tool's first key and load the example content."""
    demo.set_up_demo(get_session(), lti_services())
    return redirect(url_for("demo.course"))


@bp.route("/launch/<persona>")
@public
def launch(persona: str) -> Any:
    """The LMS starts a launch: third-party initiated login at the tool."""
    if persona not in PERSONAS:
        raise NotFound(f"no demo persona {persona!r}")
    deep = request.args.get("deep_linking") == "1"
    platform = demo.demo_platform(lti_services())
    return redirect(
        platform.login_url(
            persona,
            message_type=c.DEEP_LINKING_REQUEST if deep else c.RESOURCE_LINK_REQUEST,
            locale=request.args.get("locale", "nb"),
        )
    )


@bp.route("/auth", methods=["GET", "POST"])
@csrf.exempt
@public
def auth() -> Any:
    """The platform's OIDC authorization endpoint: answers with a signed id_token."""
    platform = demo.demo_platform(lti_services())
    try:
        action, fields = platform.authorize(request.values.to_dict())
    except AuthRequestError as exc:
        raise DemoAuthRefused(str(exc)) from exc
    return render_template("lti/autopost.html", action=action, fields=fields)


@bp.route("/jwks.json")
@public
def jwks() -> Response:
    return jsonify(demo.demo_platform(lti_services()).jwks())


@bp.route("/deep-link-return", methods=["POST"])
@csrf.exempt
@public
def deep_link_return() -> Any:
    """Where the tool returns a deep-linking response; shows what the LMS would add."""
    lti = lti_services()
    platform = demo.demo_platform(lti)
    token = request.form.get("JWT", "")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = next(k for k in lti.keyring.published_keys() if k.kid == kid)
        message = jwt.decode(
            token,
            key.private_key().public_key(),
            algorithms=["RS256"],
            audience=platform.issuer,
            issuer=platform.client_id,
        )
    except (jwt.InvalidTokenError, StopIteration) as exc:
        raise DemoAuthRefused(f"deep-linking response refused: {exc}") from exc
    items = message.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items", [])
    return render_template(
        "demo/deep_link_return.html",
        items=items,
        heading=gettext("The LMS received %(n)d item(s)", n=len(items)),
    )
