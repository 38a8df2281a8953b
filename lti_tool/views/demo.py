"""The demo LMS at /demo: a real LTI 1.3 platform inside the app, refused in production.

It plays the part Moodle plays: a course page that launches the tool in an iframe as a
learner, course designer, unit manager or administrator, the OIDC authorization endpoint
that answers with a signed id_token, its JWKS, and the deep-linking return endpoint that
places the chosen activities in the course. Its gradebook takes the tool's scores the way
Moodle's does: an OAuth2 token endpoint for the tool's signed client assertion, and the
AGS line-item and score endpoints at Moodle's URLs, shown on /demo/gradebook, and its
course's members (NRPS) for the managers' roster page.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask.wrappers import Response
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from lti_tool.app_factory import csrf
from lti_tool.auth import public
from lti_tool.db import get_session
from lti_tool.errors import NotFound, ToolError
from lti_tool.lti import claims as c
from lti_tool.lti.demo_platform import DEFAULT_LINK_ID, PERSONAS, AuthRequestError, PlacedLink
from lti_tool.lti.services import lti_services
from lti_tool.services import demo
from lti_tool.web_security import allow_form_action

bp = Blueprint("demo", __name__, url_prefix="/demo")

#: The demo course's id and the tool's type id in Moodle's AGS URLs (course 2, type 1).
AGS_BASE = "/mod/lti/services.php/2"
#: What the course page calls each demo person.
PERSONA_LABELS = {
    "learner": _l("Learner (employee)"),
    "learner2": _l("Second learner (nurse)"),
    "learner3": _l("Third learner (caseworker)"),
    "designer": _l("Course designer"),
    "manager": _l("Unit manager"),
    "admin": _l("Administrator"),
}
LEARNERS = ("learner", "learner2", "learner3")
#: The platform's own HTTP API: called by the tool's server, not by a browser.
API_ENDPOINTS = {
    "demo.token",
    "demo.line_items",
    "demo.line_item",
    "demo.scores",
    "demo.memberships",
}


class DemoAuthRefused(ToolError):
    status = 400
    code = "demo_auth_refused"


@bp.before_request
def _only_outside_production() -> Any:
    settings = lti_services().settings
    if not settings.demo_enabled:
        raise NotFound("the demo LMS is off (production)")
    # Cookies are per host: keep the demo's pages on the host the tool knows as BASE_URL.
    if (
        request.host_url.rstrip("/") != settings.base_url
        and request.method == "GET"
        and request.endpoint not in API_ENDPOINTS
    ):
        return redirect(settings.base_url + request.full_path.rstrip("?"))
    return None


@bp.errorhandler(demo.PlatformRefusal)
def _refused(exc: demo.PlatformRefusal) -> Response:
    """The platform API's refusals, as JSON (OAuth2's error shape)."""
    response = jsonify(exc.body())
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    return response


def _persona_rows() -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "label": PERSONA_LABELS.get(key, key),
            "name": persona.name,
            "job_roles": demo.DEMO_JOB_ROLES.get(key, {}).get("job_role", ""),
        }
        for key, persona in PERSONAS.items()
    ]


@bp.route("/")
@public
def course() -> Any:
    lti = lti_services()
    state = demo.load_course(lti)
    platform = demo.demo_platform(lti, state)
    registered = demo.find_demo_registration(get_session(), platform) is not None
    return render_template(
        "demo/course.html",
        personas=_persona_rows(),
        learners=[row for row in _persona_rows() if row["key"] in LEARNERS],
        activities=demo.activities(state),
        registered=registered,
        has_key=bool(lti.keyring.all_keys()),
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
    """The LMS starts a launch: third-party initiated login at the tool, from the course's
    own link or a placed one (``link``), or a deep-linking request to add activities."""
    if persona not in PERSONAS:
        raise NotFound(f"no demo persona {persona!r}")
    platform = demo.demo_platform(lti_services())
    link = request.args.get("link") or None
    if link is not None and link != DEFAULT_LINK_ID and link not in platform.links:
        raise NotFound(f"no link {link!r} in the demo course")
    deep = request.args.get("deep_linking") == "1" and link is None
    return redirect(
        platform.login_url(
            persona,
            message_type=c.DEEP_LINKING_REQUEST if deep else c.RESOURCE_LINK_REQUEST,
            locale=request.args.get("locale", "nb"),
            link=link,
        )
    )


@bp.route("/auth", methods=["GET", "POST"])
@csrf.exempt
@public
def auth() -> Any:
    """The platform's OIDC authorization endpoint: answers with a signed id_token, once
    per login (like Moodle's auth.php; the hints used are kept in the shared state store)."""
    lti = lti_services()
    platform = demo.demo_platform(lti)
    try:
        action, fields = platform.authorize(
            request.values.to_dict(), first_use=lambda hint: demo.first_use_of_hint(lti, hint)
        )
    except AuthRequestError as exc:
        raise DemoAuthRefused(str(exc)) from exc
    allow_form_action(action)
    return render_template("lti/autopost.html", action=action, fields=fields)


@bp.route("/jwks.json")
@public
def jwks() -> Response:
    return jsonify(demo.demo_platform(lti_services()).jwks())


@bp.route("/deep-link-return", methods=["POST"])
@csrf.exempt
@public
def deep_link_return() -> Any:
    """Where the tool returns a deep-linking response: the LMS checks the signature and
    places the links in the course, each with its gradebook column if it asks for one."""
    lti = lti_services()
    platform = demo.demo_platform(lti)
    try:
        message = demo.verify_tool_jwt(
            lti, request.form.get("JWT", ""), audience=platform.issuer, issuer=platform.client_id
        )
    except jwt.InvalidTokenError as exc:
        raise DemoAuthRefused(f"deep-linking response refused: {exc}") from exc
    items = message.get(c.DEEP_LINKING_CONTENT_ITEMS) or []
    if not isinstance(items, list):
        raise DemoAuthRefused("deep-linking response refused: content_items is not a list")
    placed: list[PlacedLink] = demo.place_content_items(lti, items)
    return render_template(
        "demo/deep_link_return.html",
        items=items,
        placed=placed,
        heading=gettext("The LMS received %(n)d item(s)", n=len(items)),
    )


@bp.route("/gradebook")
@public
def gradebook() -> Any:
    """The course's gradebook: a column per line item, a row per person."""
    columns, cells = demo.gradebook(demo.load_course(lti_services()))
    return render_template(
        "demo/gradebook.html",
        columns=columns,
        cells=cells,
        people=[(PERSONAS[row["key"]].sub, row) for row in _persona_rows()],
    )


# --- the platform's HTTP API (the tool's server calls these, with its bearer token) -------


def _json(body: Any, content_type: str, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=content_type)


def _check_type_id() -> None:
    if request.args.get("type_id") != "1":  # Moodle: the tool type the services belong to
        raise demo.PlatformRefusal(404, "not_found", "no tool type given (type_id)")


@bp.route("/token", methods=["POST"])
@csrf.exempt
@public
def token() -> Response:
    """OAuth2 client credentials with the tool's signed JWT (as Moodle's token.php)."""
    answer = demo.issue_token(lti_services(), request.form.to_dict())
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route(AGS_BASE + "/lineitems", methods=["GET", "POST"])
@csrf.exempt
@public
def line_items() -> Response:
    """The line-item container: list (filtered by resource_id, resource_link_id, tag), or
    add a column."""
    _check_type_id()
    authorization = request.headers.get("Authorization")
    if request.method == "POST":
        item = demo.create_line_item(
            lti_services(), authorization, request.mimetype, request.get_data()
        )
        return _json(item, demo.LINEITEM_TYPE, 201)
    found = demo.list_line_items(lti_services(), authorization, request.args.to_dict())
    return _json(found, demo.LINEITEM_CONTAINER_TYPE)


@bp.route(AGS_BASE + "/lineitems/<int:number>/lineitem")
@public
def line_item(number: int) -> Response:
    _check_type_id()
    item = demo.get_line_item(lti_services(), request.headers.get("Authorization"), number)
    return _json(item, demo.LINEITEM_TYPE)


@bp.route(AGS_BASE + "/lineitems/<int:number>/lineitem/scores", methods=["POST"])
@csrf.exempt
@public
def scores(number: int) -> Response:
    """A score for one person in the column (kept unless a later one is there)."""
    _check_type_id()
    demo.record_score(
        lti_services(),
        request.headers.get("Authorization"),
        number,
        request.mimetype,
        request.get_data(),
    )
    return Response("", status=200, content_type=demo.SCORE_TYPE)


@bp.route("/mod/lti/services.php/CourseSection/2/bindings/1/memberships")
@public
def memberships() -> Response:
    """The course's members (NRPS), as Moodle lists them."""
    found = demo.list_memberships(lti_services(), request.headers.get("Authorization"))
    return _json(found, demo.MEMBERSHIP_CONTAINER_TYPE)
