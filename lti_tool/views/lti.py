"""The LTI endpoints platforms call: login initiation, launch, and the tool's JWKS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask.wrappers import Response
from flask_babel import gettext

from lti_tool import csrf
from lti_tool.auth import public, sign_in
from lti_tool.db import get_session
from lti_tool.errors import log_launch_refusal, render_error
from lti_tool.lti import claims as c
from lti_tool.lti.launch import BrowserCheckNeeded, validate_launch
from lti_tool.lti.oidc import start_login, state_cookie_name
from lti_tool.lti.services import lti_services
from lti_tool.services.launches import landing_endpoint, record_launch
from lti_tool.services.platforms import find_platform

bp = Blueprint("lti", __name__, url_prefix="/lti")


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
@public
def login() -> Any:
    """OIDC third-party login initiation (GET and POST, as platforms choose)."""
    lti = lti_services()
    params = request.values.to_dict()
    start = start_login(get_session(), lti, params)
    if start.storage_target:
        response = current_app.make_response(
            render_template(
                "lti/login_storage.html",
                auth_url=start.auth_url,
                state=start.state,
                secret=start.browser_secret,
                storage_target=start.storage_target,
                platform_origin=start.platform_origin,
            )
        )
    else:
        response = redirect(start.auth_url)  # type: ignore[assignment]
    response.set_cookie(
        state_cookie_name(start.state),
        start.browser_secret,
        max_age=lti.settings.LTI_STATE_TTL_SECONDS,
        path="/lti/",
        httponly=True,
        **_cross_site_cookie(),
    )
    return response


def _cross_site_cookie() -> dict[str, Any]:
    if lti_services().settings.is_https:
        return {"secure": True, "samesite": "None", "partitioned": True}
    return {"samesite": "Lax"}


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


@bp.route("/launch", methods=["POST"])
@csrf.exempt
@public
def launch() -> Any:
    """The redirect URI and target link for every message type."""
    lti = lti_services()
    form = request.form.to_dict()
    g.launch_locale = _unverified_locale(form.get("id_token", ""))
    state = form.get("state", "")
    cookie_name = state_cookie_name(state) if state else ""
    try:
        validated = validate_launch(
            get_session(), lti, form, request.cookies.get(cookie_name) if state else None
        )
    except BrowserCheckNeeded as check:
        return _browser_check_page(check, form)
    record = record_launch(get_session(), validated)
    token = sign_in(record)
    response = redirect(url_for(landing_endpoint(record), lt=token))
    response.delete_cookie(cookie_name, path="/lti/", **_cross_site_cookie())
    return response


def _browser_check_page(check: BrowserCheckNeeded, form: dict[str, str]) -> Any:
    """No state cookie: ask platform storage for the secret, else explain and offer a window."""
    login_params = check.login.get("login_params", {})
    storage_target = check.login.get("storage_target")
    if storage_target and not form.get("lti_storage_secret"):
        return render_template(
            "lti/launch_storage.html",
            id_token=form.get("id_token", ""),
            state=check.state,
            storage_target=storage_target,
            platform_origin=_origin(check.login),
            login_params=login_params,
        )
    log_launch_refusal("cookies_blocked", 403, "no state cookie; offered a new window")
    return render_error(
        403,
        "cookies_blocked",
        title=_cookie_title(),
        message=_cookie_message(),
        new_window_params=login_params,
    )


def _origin(login: Mapping[str, Any]) -> str:
    """The platform's origin: where LTI storage messages may go."""
    platform = find_platform(get_session(), login["iss"], login["client_id"])
    if platform is None:
        return "*"
    parts = urlsplit(platform.auth_login_url)
    return f"{parts.scheme}://{parts.netloc}"


def _cookie_title() -> str:
    return gettext("Your browser blocked the tool's cookies")


def _cookie_message() -> str:
    return gettext(
        "The tool runs inside your learning platform, and your browser does not let it keep "
        "the cookie that proves this launch started here. Open the tool in a new window to "
        "continue; nothing is lost."
    )


@bp.route("/jwks.json")
@public
def jwks() -> Response:
    """Every active public key of the tool, each with its kid."""
    response = jsonify(lti_services().keyring.jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response
