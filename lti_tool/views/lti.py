"""The LTI endpoints platforms call: login initiation, launch, and the tool's JWKS."""

from __future__ import annotations

import json
from typing import Any

import jwt
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask.wrappers import Response

from lti_tool import csrf
from lti_tool.auth import public, sign_in
from lti_tool.db import get_session
from lti_tool.errors import CookiesBlocked
from lti_tool.lti import claims as c
from lti_tool.lti.launch import BrowserCheckNeeded, validate_launch
from lti_tool.lti.oidc import start_login, state_cookie_name
from lti_tool.lti.services import lti_services
from lti_tool.lti.tool_configuration import (
    CANVAS_PLATFORM,
    SCOPES,
    canvas_developer_key,
    moodle_manual_fields,
    public_configuration,
    tool_urls,
)
from lti_tool.services import credentials
from lti_tool.services.launches import landing, record_launch

bp = Blueprint("lti", __name__, url_prefix="/lti")


def _state_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """Set (or with max_age 0, delete) a state cookie, cross-site like the session cookie."""
    config = current_app.config
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/lti/",
        httponly=True,
        secure=config["SESSION_COOKIE_SECURE"],
        samesite=config["SESSION_COOKIE_SAMESITE"],
        partitioned=config["SESSION_COOKIE_PARTITIONED"],
    )


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
@public
def login() -> Any:
    """OIDC third-party login initiation (GET and POST, as platforms choose)."""
    lti = lti_services()
    start = start_login(get_session(), lti, request.values.to_dict())
    if start.storage_target:
        page = render_template(
            "lti/login_storage.html",
            auth_url=start.auth_url,
            state=start.state,
            secret=start.browser_secret,
            storage_target=start.storage_target,
            platform_origin=start.platform_origin,
        )
        response = current_app.make_response(page)
    else:
        response = current_app.make_response(redirect(start.auth_url))
    cookie = state_cookie_name(start.state)
    _state_cookie(response, cookie, start.browser_secret, lti.settings.LTI_STATE_TTL_SECONDS)
    return response


def _unverified_locale(id_token: str) -> str | None:
    """The launch's locale before validation, only to word an error page."""
    try:
        body = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    presentation = body.get(c.LAUNCH_PRESENTATION)
    if not isinstance(presentation, dict):
        return None
    return c.normalise_locale(presentation.get("locale"))


def _same_origin_post() -> bool:
    """The POST came from one of the tool's own pages (the platform-storage re-post)."""
    if request.headers.get("Sec-Fetch-Site") == "same-origin":
        return True
    return request.headers.get("Origin") == request.host_url.rstrip("/")


@bp.route("/launch", methods=["POST"])
@csrf.exempt
@public
def launch() -> Any:
    """The redirect URI and target link for every message type."""
    form = request.form.to_dict()
    g.launch_locale = _unverified_locale(form.get("id_token", ""))
    cookie = state_cookie_name(form["state"]) if form.get("state") else ""
    try:
        validated = validate_launch(
            get_session(),
            lti_services(),
            form,
            request.cookies.get(cookie) if cookie else None,
            same_origin_post=_same_origin_post(),
        )
    except BrowserCheckNeeded as check:
        return _browser_check_page(check, form)
    settings = lti_services().settings
    record = record_launch(
        get_session(),
        validated,
        job_role_param=settings.LTI_JOB_ROLE_PARAM,
        unit_param=settings.LTI_UNIT_PARAM,
    )
    token = sign_in(record)
    endpoint, values = landing(record)
    target = url_for(endpoint, **{**values, "lt": token})  # type: ignore[arg-type]
    response = current_app.make_response(redirect(target))
    _state_cookie(response, cookie, "", 0)
    return response


def _browser_check_page(check: BrowserCheckNeeded, form: dict[str, str]) -> Any:
    """No state cookie: ask platform storage for the secret, else explain, offer a window."""
    login_params = check.login.get("login_params", {})
    if check.login.get("storage_target") and not form.get("lti_storage_secret"):
        return render_template(
            "lti/launch_storage.html",
            id_token=form.get("id_token", ""),
            state=check.state,
            storage_target=check.login["storage_target"],
            platform_origin=check.login["platform_origin"],
            login_params=login_params,
        )
    raise CookiesBlocked("no state cookie; offered a new window", new_window_params=login_params)


@bp.route("/jwks.json")
@public
def jwks() -> Response:
    """Every active public key of the tool, each with its kid; the keys that sign
    certificates' credentials are named by their URL."""
    services = lti_services()
    credential_keys = credentials.public_keys(
        services.credential_keys, credentials.CredentialUrls(services.settings.base_url)
    )
    response = jsonify({"keys": services.keyring.jwks()["keys"] + credential_keys})
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.route("/config.json")
@public
def config_json() -> Response:
    """The tool's public URLs and the Canvas developer-key JSON, for manual registration."""
    return jsonify(public_configuration(lti_services().settings.base_url))


@bp.route("/config")
@public
def config_page() -> Any:
    """Every value an LMS administrator pastes when registering the tool by hand."""
    base_url = lti_services().settings.base_url
    return render_template(
        "lti/config.html",
        urls=tool_urls(base_url),
        moodle_fields=moodle_manual_fields(base_url),
        canvas_json=json.dumps(canvas_developer_key(base_url), indent=2, ensure_ascii=False),
        scopes=SCOPES,
        canvas_platform=CANVAS_PLATFORM,
    )
