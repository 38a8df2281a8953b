"""The benchmark's peer: a minimal LTI 1.3 tool on pylti1p3 and Flask, measured beside ours.

Issue 15 compares our launch with pylti1p3's Flask example. This is a tool of the same
kind, written from pylti1p3's documented API (not copied from the example), so that
``python -m bench all`` can run both under the same gunicorn settings in one run:

- ``GET|POST /login``: the OIDC login initiation. As the example does, it answers first with
  pylti1p3's cookie check page (``enable_check_cookies``): a browser's script reloads the
  same URL with ``lti1p3_new_window=1`` when cookies work (``peer_flow`` does that), and
  that request is redirected to the platform's authorization URL with a new state (in a
  cookie) and nonce;
- ``POST /launch``: ``FlaskMessageLaunch`` validates state, nonce, registration, signature
  (the platform's JWKS fetched once, then cached: ``set_public_key_caching``), deployment and
  message, and a small HTML page names the user and their roles;
- ``GET /jwks``: the tool's public key (as the example serves it); ``GET /readyz``: "ok",
  for the bench's readiness wait.

State and nonce live where the example keeps them: pylti1p3's ``FlaskCacheDataStorage`` on
Flask-Caching. With ``PEER_REDIS_URL`` set that is Flask-Caching's ``RedisCache`` (it works
with the installed redis client); without it, its ``FileSystemCache`` in ``PEER_CACHE_DIR``.
Over plain HTTP pylti1p3 keeps those keys without a per-browser session prefix (see
``CacheDataStorage.get_session_cookie_name``), as it does in the example on localhost.

The registration is a ``ToolConfDict`` built once per process from the environment:
``PEER_ISSUER``, ``PEER_CLIENT_ID``, ``PEER_AUTH_URL``, ``PEER_TOKEN_URL``,
``PEER_JWKS_URL``, ``PEER_DEPLOYMENT_ID`` and ``PEER_PRIVATE_KEY_FILE`` (the tool's key).
Like the example, it has no error handler: a launch pylti1p3 refuses (``LtiException``,
``OIDCException``) ends in a 500, and pylti1p3 keeps nonces after use, so a replayed
id_token with its state passes (issue 15 counts both against the example).

    gunicorn --workers 2 --threads 4 --worker-class gthread 'bench.peer_pylti1p3:create_app()'
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from flask import Flask, render_template_string
from flask_caching import Cache
from pylti1p3.contrib.flask import (
    FlaskCacheDataStorage,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
)
from pylti1p3.tool_config import ToolConfDict

ROLES = "https://purl.imsglobal.org/spec/lti/claim/roles"
PUBLIC_KEY_CACHE_SECONDS = 7200  # the lifetime pylti1p3's documentation shows

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Launched</title></head>
<body><h1>Hello, {{ name }}</h1>
<p>Roles:</p><ul>{% for role in roles %}<li>{{ role }}</li>{% endfor %}</ul>
</body></html>
"""


def tool_conf(settings: Mapping[str, str]) -> ToolConfDict:
    """The one platform registration, and the tool's key pair."""
    issuer = settings["PEER_ISSUER"]
    registration: Any = {  # pylti1p3's TIssConf
        "default": True,
        "client_id": settings["PEER_CLIENT_ID"],
        "auth_login_url": settings["PEER_AUTH_URL"],
        "auth_token_url": settings["PEER_TOKEN_URL"],
        "auth_audience": None,
        "key_set_url": settings.get("PEER_JWKS_URL"),
        "key_set": json.loads(settings["PEER_KEY_SET"]) if settings.get("PEER_KEY_SET") else None,
        "deployment_ids": [settings["PEER_DEPLOYMENT_ID"]],
    }
    conf = ToolConfDict({issuer: registration})
    private_pem = Path(settings["PEER_PRIVATE_KEY_FILE"]).read_text()
    conf.set_private_key(issuer, private_pem)
    conf.set_public_key(issuer, public_pem_of(private_pem))
    return conf


def public_pem_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def cache_config(settings: Mapping[str, str]) -> dict[str, Any]:
    """Flask-Caching's Redis cache when a Redis URL is given, else its filesystem cache."""
    if settings.get("PEER_REDIS_URL"):
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings["PEER_REDIS_URL"]}
    return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": settings["PEER_CACHE_DIR"]}


def create_app(settings: Mapping[str, str] | None = None) -> Flask:
    """The peer tool; ``settings`` as the ``PEER_*`` environment (the default)."""
    settings = dict(os.environ if settings is None else settings)
    app = Flask(__name__)
    cache = Cache(app, config=cache_config(settings))
    conf = tool_conf(settings)

    def storage() -> FlaskCacheDataStorage:
        return FlaskCacheDataStorage(cache)

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        request = FlaskRequest()
        target_link_uri = request.get_param("target_link_uri")
        oidc_login = FlaskOIDCLogin(request, conf, launch_data_storage=storage())
        return oidc_login.enable_check_cookies().redirect(target_link_uri)

    @app.route("/launch", methods=["POST"])
    def launch() -> Any:
        launch_data_storage = storage()
        message_launch = FlaskMessageLaunch(
            FlaskRequest(), conf, launch_data_storage=launch_data_storage
        )
        message_launch.set_public_key_caching(
            launch_data_storage, cache_lifetime=PUBLIC_KEY_CACHE_SECONDS
        )
        data = message_launch.get_launch_data()
        return render_template_string(
            PAGE, name=data.get("name") or data.get("sub"), roles=data.get(ROLES, [])
        )

    @app.route("/jwks")
    def jwks() -> Any:
        return conf.get_jwks()

    @app.route("/readyz")
    def readyz() -> str:
        return "ok"

    return app


def peer_flow(base_url: str, platform: Any, persona: str) -> float:
    """One full flow against the peer, as a browser and ``platform`` (a ``DemoPlatform``
    whose tool URLs are the peer's) do it: the login's cookie check page, its reload with
    ``lti1p3_new_window=1`` (what the page's script does), the platform's authorization,
    the launch POST and its page. Returns the seconds it took."""
    started = time.perf_counter()
    with requests.Session() as browser:
        params = platform.login_params(persona)
        check = browser.get(base_url + "/login", params=params, allow_redirects=False)
        assert check.status_code == 200, check.status_code
        assert "lti1p3_new_window" in check.text, check.text[:300]
        login = browser.get(
            base_url + "/login",
            params={**params, "lti1p3_new_window": "1"},
            allow_redirects=False,
        )
        assert login.status_code == 302, login.text[:300]
        query = dict(parse_qsl(urlsplit(login.headers["Location"]).query))
        action, form = platform.authorize(query)
        page = browser.post(action, data=form, allow_redirects=False)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        assert "Hello, " in page.text, page.text[:300]
    return time.perf_counter() - started
