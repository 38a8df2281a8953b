"""OIDC third-party login initiation: the first leg of every LTI 1.3 launch.

The platform calls ``/lti/login`` (GET or POST); we look up the registration by issuer and
client_id, create a state bound to this browser (a secret kept in a cookie and, where the
platform offers it, in LTI client-side storage) and a nonce bound to that state, and send
the browser to the platform's authorization endpoint.

Without platform storage the cookie is the only proof, so the login first checks that the
browser keeps the tool's cookies (:func:`hold_login`, then :func:`release_login` at
``/lti/login/check``) *before* the platform sees the authorization request: Moodle's
``auth.php`` accepts a login's ``lti_message_hint`` once, so a browser that drops cookies
must take the login elsewhere (a new window, or the frame after storage access) while it
is still unused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy.orm import Session

from lti_tool.errors import (
    LoginParameterTooLong,
    LoginUsed,
    MissingParameter,
    PlatformDisabled,
    UnknownPlatform,
)
from lti_tool.lti.services import LtiServices
from lti_tool.models import Status
from lti_tool.services import platforms

#: The most what a login keeps from its request may take, written as it is kept (JSON,
#: ASCII: ``\u3000`` for a wide space): Moodle's take about 200 bytes, Canvas's about
#: 1.5 kB (its ``lti_message_hint`` is a JWT). A held login and a state wait in Redis, so
#: what one login may keep there is bounded.
LONGEST_LOGIN = 4096


@dataclasses.dataclass(frozen=True)
class LoginRequest:
    """A login initiation checked against a registered, active platform."""

    issuer: str
    client_id: str
    auth_login_url: str
    login_hint: str
    lti_message_hint: str | None
    storage_target: str | None
    """Frame name for LTI client-side storage, when the platform offers it."""

    @property
    def platform_origin(self) -> str:
        """Where LTI storage messages may go: the origin of the authorization endpoint."""
        auth = urlsplit(self.auth_login_url)
        return f"{auth.scheme}://{auth.netloc}"


@dataclasses.dataclass(frozen=True)
class LoginStart:
    state: str
    browser_secret: str
    auth_url: str
    storage_target: str | None
    """Frame name for LTI client-side storage, when the platform offers it."""
    platform_origin: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def state_cookie_name(state: str) -> str:
    return "lti1p3_state_" + hashlib.sha256(state.encode()).hexdigest()[:24]


def check_cookie_name(login_id: str) -> str:
    return "lti1p3_check_" + hashlib.sha256(login_id.encode()).hexdigest()[:24]


def check_login(session: Session, lti: LtiServices, params: Mapping[str, str]) -> LoginRequest:
    """The login request, if it names a registered and active platform; else a LaunchError."""
    issuer = (params.get("iss") or "").strip()
    login_hint = params.get("login_hint") or ""
    target_link_uri = params.get("target_link_uri") or ""
    required = {"iss": issuer, "login_hint": login_hint, "target_link_uri": target_link_uri}
    for name, value in required.items():
        if not value:
            raise MissingParameter(f"login without {name}", field=name)
    client_id = (params.get("client_id") or "").strip()
    kept = {
        "iss": issuer,
        "client_id": client_id,
        "login_hint": login_hint,
        "lti_message_hint": params.get("lti_message_hint") or "",
        "lti_storage_target": params.get("lti_storage_target") or "",
    }
    size = len(json.dumps(kept))
    if size > LONGEST_LOGIN:
        longest = max(kept, key=lambda k: len(json.dumps(kept[k])))
        raise LoginParameterTooLong(f"login of {size} bytes kept, the longest {longest}")
    if not client_id:
        # Older platforms omit client_id; it is only unambiguous with one registration.
        candidates = platforms.platforms_for_issuer(session, issuer)
        if not candidates:
            raise UnknownPlatform(f"login from unknown issuer={issuer!r} without client_id")
        if len(candidates) != 1:
            raise MissingParameter(f"login without client_id for {issuer}", field="client_id")
        client_id = candidates[0].client_id
    platform = lti.registry.platform(session, issuer, client_id, lti.registry.generation())
    if platform is None:
        raise UnknownPlatform(f"login from unknown issuer={issuer!r} client_id={client_id!r}")
    if platform.status != Status.ACTIVE:
        raise PlatformDisabled(f"login from disabled platform {platform.id}")
    return LoginRequest(
        issuer=issuer,
        client_id=client_id,
        auth_login_url=platform.auth_login_url,
        login_hint=login_hint,
        lti_message_hint=params.get("lti_message_hint") or None,
        storage_target=params.get("lti_storage_target") or None,
    )


def begin_auth(lti: LtiServices, login: LoginRequest) -> LoginStart:
    """Create the state and nonce, and the platform's authorization URL to send them to."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    browser_secret = secrets.token_urlsafe(32)
    lti.state_store.save_state(
        state,
        {
            "iss": login.issuer,
            "client_id": login.client_id,
            "nonce": nonce,
            "secret_hash": hash_secret(browser_secret),
            "storage_target": login.storage_target,
            "platform_origin": login.platform_origin,
        },
        lti.settings.LTI_STATE_TTL_SECONDS,
    )
    query: dict[str, Any] = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": login.client_id,
        "redirect_uri": lti.launch_url,
        "state": state,
        "nonce": nonce,
        "login_hint": login.login_hint,  # passed back unchanged: Moodle relies on it
    }
    if login.lti_message_hint:
        query["lti_message_hint"] = login.lti_message_hint
    separator = "&" if "?" in login.auth_login_url else "?"
    return LoginStart(
        state=state,
        browser_secret=browser_secret,
        auth_url=login.auth_login_url + separator + urlencode(query),
        storage_target=login.storage_target,
        platform_origin=login.platform_origin,
    )


# --- the cookie check before the platform sees the login -------------------------------

_HELD = "held-login:"  # its own namespace in the state store: never a launch's state


def hold_login(lti: LtiServices, login: LoginRequest) -> str:
    """Keep the checked login, unused, under a random id; return the id.

    It lives as long as a state, in Redis or the database (never in one process): the
    check may reach another worker, and the new window another host. Stored as its fields
    are (``vars``: strings, None and a dict of strings, serialised at once), not deep
    copied by ``dataclasses.asdict`` first.
    """
    login_id = secrets.token_urlsafe(32)
    lti.state_store.save_state(
        _HELD + login_id, {"login": vars(login)}, lti.settings.LTI_STATE_TTL_SECONDS
    )
    return login_id


def _held(data: Mapping[str, Any] | None, login_id: str) -> LoginRequest:
    if data is None or not isinstance(data.get("login"), dict):
        raise LoginUsed(f"held login {login_id[:8]}… unknown, used or expired")
    try:
        return LoginRequest(**data["login"])
    except TypeError as exc:  # held by another version of the tool, during a deploy
        raise LoginUsed(f"held login {login_id[:8]}… unreadable: {exc}") from exc


def peek_login(lti: LtiServices, login_id: str) -> LoginRequest:
    """The held login, still unused; LoginUsed when it is unknown, used or expired."""
    return _held(lti.state_store.get_state(_HELD + login_id), login_id)


def release_login(lti: LtiServices, login_id: str) -> LoginStart:
    """Begin the held login's authorization, then use it up: the only time the platform
    sees it.

    Call it once the check cookie came back. A held login is released once: whichever of
    the frame, the frame after storage access and the new window comes back with the
    cookie first sends it to the platform; the others get LoginUsed. Its state is saved
    before the held login is used up: a Redis too full to keep the state (503, "try again
    in a moment") leaves the login held for that moment, not lost.
    """
    store = lti.state_store
    start = begin_auth(lti, peek_login(lti, login_id))
    if store.take_state(_HELD + login_id) is None:  # released meanwhile, or expired
        store.take_state(start.state)  # the state made for it goes unused
        raise LoginUsed(f"held login {login_id[:8]}… used or expired while released")
    return start
