"""The LTI endpoints platforms call: login initiation (with its cookie check), launch, and
the tool's JWKS."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jwt
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask.wrappers import Response
from marshmallow import ValidationError
from werkzeug.routing import Rule

from lti_tool import clock, metrics
from lti_tool.app_factory import csrf, limiter
from lti_tool.auth import carry_launch_token_on_page, public, sign_in
from lti_tool.db import (
    commit_request_session,
    get_session,
    read_outside_transaction,
    view_reads_only,
)
from lti_tool.errors import CookiesOff, LaunchError, LoginUsed, StateCookieLost, TooManyLogins
from lti_tool.lti import claims as c
from lti_tool.lti.launch import BrowserCheckNeeded, validate_launch
from lti_tool.lti.oidc import (
    LoginStart,
    begin_auth,
    check_cookie_name,
    check_login,
    hold_login,
    peek_login,
    release_login,
    state_cookie_name,
)
from lti_tool.lti.services import lti_services
from lti_tool.lti.tool_configuration import (
    CANVAS_PLATFORM,
    SCOPES,
    canvas_developer_key,
    moodle_manual_fields,
    public_configuration,
    tool_urls,
)
from lti_tool.schemas.lti import VIA_ACCESS, VIA_FRAME, VIA_WINDOW, HeldLoginQuery
from lti_tool.services import credentials, plans, result_reads
from lti_tool.services.launches import landing, record_launch

bp = Blueprint("lti", __name__, url_prefix="/lti")


def _state_cookie(
    response: Response, name: str, value: str, max_age: int, *, partitioned: bool = True
) -> None:
    """Set (or with max_age 0, delete) a state cookie, cross-site like the session cookie.

    ``partitioned=False`` once the browser is past the frame's own check
    (:func:`_past_the_frame`): storage access grants the frame its *unpartitioned* cookies
    (a Partitioned one would land in the jar the frame did not keep), and a window of its
    own is first party, where every browser keeps unpartitioned cookies.
    """
    config = current_app.config
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/lti/",
        httponly=True,
        secure=config["SESSION_COOKIE_SECURE"],
        samesite=config["SESSION_COOKIE_SAMESITE"],
        partitioned=partitioned and config["SESSION_COOKIE_PARTITIONED"],
    )


#: The check cookie's value; its name is bound to the held login (:func:`check_cookie_name`).
#: It proves only that the browser keeps the tool's cookies here: the state cookie set
#: after it is what binds the launch to this browser.
CHECK_COOKIE_VALUE = "1"


def _login_limit() -> str:
    return lti_services().settings.LOGIN_RATE_LIMIT


def _launch_limit() -> str:
    return lti_services().settings.LAUNCH_RATE_LIMIT


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
@public
@limiter.limit(_login_limit, refused_as=lambda: TooManyLogins("logins from this address"))
def login() -> Any:
    """OIDC third-party login initiation (GET and POST, as platforms choose).

    The login is held, unused, until the check step sees the check cookie come back: only
    then does the platform see the authorization request (Moodle and Canvas accept each
    login once). A browser that brings the session cookie of an earlier launch, or a window
    of its own (``_keeps_cookies``), goes to the platform at once. With LTI platform
    storage the page first tries to keep the browser's proof there and, when the platform
    answers, goes straight to it; when it does not (Canvas's mobile apps), the page goes to
    the cookie check instead.
    """
    lti = lti_services()
    requested = check_login(get_session(), lti, request.values.to_dict())
    if not requested.storage_target and _keeps_cookies():
        return _to_platform(begin_auth(lti, requested), partitioned=not _top_level())
    login_id = hold_login(lti, dataclasses.replace(requested, storage_target=None))
    check_url = url_for("lti.login_check", id=login_id)
    if requested.storage_target:
        response = _to_platform(begin_auth(lti, requested), check_url=check_url)
    else:
        response = current_app.make_response(redirect(check_url))
    _check_cookie(response, login_id)
    return response


@bp.route("/login/check")
@public
def login_check() -> Any:
    """The cookie check: the check cookie came back, so send the held login to the
    platform; else offer storage access (in the frame) or a new window, the login unused."""
    query = _held_login_query()
    lti = lti_services()
    login_id = query["id"]
    if request.cookies.get(check_cookie_name(login_id)) == CHECK_COOKIE_VALUE:
        partitioned = not _past_the_frame(query)
        response = _to_platform(release_login(lti, login_id), partitioned=partitioned)
        _state_cookie(response, check_cookie_name(login_id), "", 0, partitioned=partitioned)
        return response
    peek_login(lti, login_id)  # still unused?
    if query["via"] == VIA_WINDOW:
        raise CookiesOff("no check cookie in a window of its own")
    lang = request.args.get("lang")  # the new window keeps the language chosen here
    return render_template(
        "lti/login_blocked.html",
        keep_query={"id": login_id, "via": query["via"]},  # in the language links
        access_url=url_for("lti.login_retry", id=login_id, via=VIA_ACCESS, lang=lang),
        window_url=url_for("lti.login_retry", id=login_id, via=VIA_WINDOW, lang=lang),
        access_failed=query["via"] == VIA_ACCESS,
    )


@bp.route("/login/retry")
@public
def login_retry() -> Any:
    """The held login again, from the frame after storage access or in a new window: set
    the check cookie once more and check it. Only the tool's own check page follows."""
    query = _held_login_query()
    if query["via"] == VIA_FRAME:
        raise LoginUsed("retry without storage access or window")
    peek_login(lti_services(), query["id"])
    lang = request.args.get("lang")
    target = url_for("lti.login_check", id=query["id"], via=query["via"], lang=lang)
    response = current_app.make_response(redirect(target))
    _check_cookie(response, query["id"], partitioned=not _past_the_frame(query))
    return response


def _keeps_cookies() -> bool:
    """This browser keeps the tool's cookies where the LMS shows it, so the check would
    only cost a round trip: the login brought the tool's session cookie (an earlier launch
    set it there), or it is a window of its own (the LMS opens the tool in a new window,
    not a frame), where the tool's cookies are first party and every browser keeps them.
    A first launch in a frame, or a browser that dropped the cookie, is checked."""
    return current_app.config["SESSION_COOKIE_NAME"] in request.cookies or _top_level()


def _top_level() -> bool:
    """The browser says this request loads a window's page, not a frame's (Fetch metadata,
    which a page cannot forge; a browser that sends none is taken to be in a frame)."""
    return request.headers.get("Sec-Fetch-Dest") == "document"


def _past_the_frame(query: dict[str, str]) -> bool:
    """The browser comes back after storage access, or in a window of its own."""
    return query["via"] in (VIA_ACCESS, VIA_WINDOW)


_HELD_LOGIN_QUERY = HeldLoginQuery()


def _held_login_query() -> dict[str, str]:
    try:
        query: dict[str, str] = _HELD_LOGIN_QUERY.load(request.args.to_dict())
    except ValidationError as exc:
        raise LoginUsed(f"malformed held login query: {exc.messages}") from exc
    return query


def _check_cookie(response: Response, login_id: str, *, partitioned: bool = True) -> None:
    ttl = lti_services().settings.LTI_STATE_TTL_SECONDS
    name = check_cookie_name(login_id)
    _state_cookie(response, name, CHECK_COOKIE_VALUE, ttl, partitioned=partitioned)


def _to_platform(start: LoginStart, check_url: str = "", *, partitioned: bool = True) -> Response:
    """Send the browser to the platform's authorization endpoint with a new state: through
    the platform-storage page when offered (``check_url`` when the platform does not
    answer it), else by redirect; the state cookie either way."""
    if start.storage_target:
        page = render_template(
            "lti/login_storage.html",
            auth_url=start.auth_url,
            check_url=check_url,
            state=start.state,
            secret=start.browser_secret,
            storage_target=start.storage_target,
            platform_origin=start.platform_origin,
        )
        response = current_app.make_response(page)
    else:
        response = current_app.make_response(redirect(start.auth_url))
    cookie = state_cookie_name(start.state)
    ttl = lti_services().settings.LTI_STATE_TTL_SECONDS
    _state_cookie(response, cookie, start.browser_secret, ttl, partitioned=partitioned)
    return response


def _unverified_claims(form: dict[str, str]) -> tuple[dict[str, str], Any]:
    """What a refused launch's id_token says, unverified: the platform it claims to come
    from (for the refusal's log line: a registration changed in the LMS shows whose) and
    its locale (to word the error page)."""
    try:
        body = jwt.decode(form.get("id_token", ""), options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}, None
    presentation = body.get(c.LAUNCH_PRESENTATION)
    locale = presentation.get("locale") if isinstance(presentation, dict) else None
    aud = body.get("aud")
    audiences = [body.get("azp"), *(aud if isinstance(aud, list) else [aud])]
    claimed = {
        "issuer": body.get("iss"),
        "client_id": next((a for a in audiences if isinstance(a, str) and a), None),
        "deployment_id": body.get(c.DEPLOYMENT_ID),
    }
    return {k: v for k, v in claimed.items() if isinstance(v, str)}, locale


def _same_origin_post() -> bool:
    """The POST came from one of the tool's own pages (the platform-storage re-post)."""
    if request.headers.get("Sec-Fetch-Site") == "same-origin":
        return True
    return request.headers.get("Origin") == request.host_url.rstrip("/")


def _unsigned(exc: Exception) -> bool:
    """A launch refused before its platform's signature was verified (it may come from
    anyone): counted against LAUNCH_RATE_LIMIT, and answered 429 past it. One the
    platform signed is never counted nor held back."""
    return isinstance(exc, LaunchError) and exc.unsigned


@bp.route("/launch", methods=["POST"])
@csrf.exempt
@public
@limiter.limit(_launch_limit, counted_only=_unsigned)
def launch() -> Any:
    """The redirect URI and target link for every message type."""
    form = request.form.to_dict()
    cookie = state_cookie_name(form["state"]) if form.get("state") else ""
    cookie_value = request.cookies.get(cookie) if cookie else None
    try:
        validated = validate_launch(
            get_session(),
            lti_services(),
            form,
            cookie_value,
            same_origin_post=_same_origin_post(),
        )
        settings = lti_services().settings
        record, held_grants = record_launch(
            get_session(),
            validated,
            job_role_param=settings.LTI_JOB_ROLE_PARAM,
            unit_param=settings.LTI_UNIT_PARAM,
        )
    except BrowserCheckNeeded as check:
        g.launch_locale = c.normalise_locale(_unverified_claims(form)[1])
        return _browser_check_page(check, form)
    except Exception:
        # Only a refusal needs these: decode the token again for them only then.
        g.claimed_platform, locale = _unverified_claims(form)
        g.launch_locale = c.normalise_locale(locale)
        raise
    if plans.placed_activity_code(record):
        # a placed e-learning activity: the worker reads its column after the commit
        result_reads.queue_result_read(get_session(), record, clock.now())
    sign_in(record, held_grants)
    response = _landing_page(*landing(record), carry_token=cookie_value is None)
    _forget_state_cookie(response, cookie)
    return response


def _forget_state_cookie(response: Response, name: str) -> None:
    """Delete the launch's state cookie, partitioned and not: the launch cannot tell which
    path set it (the frame: partitioned; a window of its own, or the frame after storage
    access: not), and a browser that keeps partitioned cookies keeps the two apart."""
    _state_cookie(response, name, "", 0)
    if current_app.config["SESSION_COOKIE_PARTITIONED"]:
        _state_cookie(response, name, "", 0, partitioned=False)


def _landing_page(endpoint: str, values: dict[str, str], *, carry_token: bool) -> Response:
    """Where the launch lands (its start page, the placed mapping, the picker…), as the
    launch's own response: one round trip fewer in the LMS frame, no token in any URL, and
    the launch, person and grants already read. The launch is committed first: it stands
    whatever the page does, and its locks (the course's row) are not held while the page
    is made. The page is made as the GET of its own address would make it (the landing's
    rule: its blueprint's template helpers, ``request.endpoint``); ``static/launch_token.js``
    puts that address (``page_address``) in the address bar, so a reload is a GET of it,
    not the launch posted again. A page that only reads (``db.reads_only``: the start
    pages) reads outside a transaction, as its GET does."""
    commit_request_session()
    view = current_app.view_functions[endpoint]  # the landing's own view
    if view_reads_only(view):
        read_outside_transaction(get_session())
    metrics.LAUNCHES.inc()
    g.page_address = url_for(endpoint, **values)  # type: ignore[arg-type]
    g.observed_endpoint = request.endpoint  # metrics and the access line: the launch
    request.url_rule = _get_rule(endpoint)
    request.view_args = dict(values)
    if carry_token:
        carry_launch_token_on_page()
    page: Any = view(**values)
    return current_app.make_response(page)


def _get_rule(endpoint: str) -> Rule:
    return next(r for r in current_app.url_map.iter_rules(endpoint) if "GET" in (r.methods or ()))


def _browser_check_page(check: BrowserCheckNeeded, form: dict[str, str]) -> Any:
    """No state cookie: ask platform storage for the secret; else refuse. The login was
    sent to the platform already, so starting it again would be refused there (Moodle)."""
    if check.login.get("storage_target") and not form.get("lti_storage_secret"):
        return render_template(
            "lti/launch_storage.html",
            id_token=form.get("id_token", ""),
            state=check.state,
            storage_target=check.login["storage_target"],
            platform_origin=check.login["platform_origin"],
        )
    raise StateCookieLost("no state cookie and no platform storage")


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
