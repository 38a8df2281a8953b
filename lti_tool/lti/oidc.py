"""OIDC third-party login initiation: the first leg of every LTI 1.3 launch.

The platform calls ``/lti/login`` (GET or POST); we look up the registration by issuer and
client_id, create a state bound to this browser (a secret kept in a cookie and, where the
platform offers it, in LTI client-side storage) and a nonce bound to that state, and send
the browser to the platform's authorization endpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy.orm import Session

from lti_tool.errors import MissingParameter, PlatformDisabled, UnknownPlatform
from lti_tool.lti.services import LtiServices
from lti_tool.lti.tool_config import DatabaseToolConf
from lti_tool.models import Status
from lti_tool.services import platforms

#: Login parameters kept with the state, to restart the login in a new window.
LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "client_id",
    "lti_deployment_id",
    "deployment_id",
)


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


def start_login(session: Session, lti: LtiServices, params: Mapping[str, str]) -> LoginStart:
    issuer = (params.get("iss") or "").strip()
    login_hint = params.get("login_hint") or ""
    target_link_uri = params.get("target_link_uri") or ""
    required = {"iss": issuer, "login_hint": login_hint, "target_link_uri": target_link_uri}
    for name, value in required.items():
        if not value:
            raise MissingParameter(f"login without {name}", field=name)
    client_id = (params.get("client_id") or "").strip()
    if not client_id:
        # Older platforms omit client_id; it is only unambiguous with one registration.
        candidates = platforms.platforms_for_issuer(session, issuer)
        if not candidates:
            raise UnknownPlatform(f"login from unknown issuer={issuer!r} without client_id")
        if len(candidates) != 1:
            raise MissingParameter(f"login without client_id for {issuer}", field="client_id")
        client_id = candidates[0].client_id
    conf = DatabaseToolConf(session, lti.keyring)
    platform = conf.find_platform(issuer, client_id)
    if platform is None:
        raise UnknownPlatform(f"login from unknown issuer={issuer!r} client_id={client_id!r}")
    if platform.status != Status.ACTIVE:
        raise PlatformDisabled(f"login from disabled platform {platform.id}")

    auth = urlsplit(platform.auth_login_url)
    origin = f"{auth.scheme}://{auth.netloc}"  # where LTI storage messages may go
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    browser_secret = secrets.token_urlsafe(32)
    storage_target = params.get("lti_storage_target") or None
    lti.state_store.save_state(
        state,
        {
            "iss": issuer,
            "client_id": client_id,
            "nonce": nonce,
            "secret_hash": hash_secret(browser_secret),
            "storage_target": storage_target,
            "platform_origin": origin,
            "login_params": {k: params[k] for k in LOGIN_PARAMS if params.get(k)},
        },
        lti.settings.LTI_STATE_TTL_SECONDS,
    )
    query: dict[str, Any] = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": client_id,
        "redirect_uri": lti.launch_url,
        "state": state,
        "nonce": nonce,
        "login_hint": login_hint,  # passed back unchanged: Moodle relies on it
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform.auth_login_url else "?"
    return LoginStart(
        state=state,
        browser_secret=browser_secret,
        auth_url=platform.auth_login_url + separator + urlencode(query),
        storage_target=storage_target,
        platform_origin=origin,
    )
