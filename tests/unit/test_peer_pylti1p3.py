"""The bench's peer tool (``bench/peer_pylti1p3.py``) takes the demo platform's launches and
refuses a forged one: a broken peer would make issue 15's comparison meaningless."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.exception import LtiException

from bench.peer_pylti1p3 import create_app
from lti_tool.lti.demo_platform import DemoPlatform
from lti_tool.lti.keys import generate_private_pem

BASE = "http://localhost"


@pytest.fixture(scope="module")
def platform() -> DemoPlatform:
    return DemoPlatform(
        issuer="https://lms.example",
        client_id="bench-client",
        deployment_id="1",
        private_pem=generate_private_pem(),
        kid="bench-key",
        tool_launch_url=BASE + "/launch",
        tool_login_url=BASE + "/login",
    )


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("peer") / "tool.pem"
    path.write_bytes(generate_private_pem())
    return path


@pytest.fixture
def app(platform: DemoPlatform, key_file: Path, tmp_path: Path) -> Any:
    app = create_app(
        {
            "PEER_ISSUER": platform.issuer,
            "PEER_CLIENT_ID": platform.client_id,
            "PEER_AUTH_URL": platform.auth_url,
            "PEER_TOKEN_URL": platform.token_url,
            "PEER_KEY_SET": json.dumps(platform.jwks()),  # no HTTP in a unit test
            "PEER_DEPLOYMENT_ID": platform.deployment_id,
            "PEER_PRIVATE_KEY_FILE": str(key_file),
            "PEER_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    app.testing = True  # pylti1p3's refusals raised here, not turned into 500 pages
    return app


def logged_in(client: Any, platform: DemoPlatform) -> dict[str, str]:
    """The cookie check page, its reload, and the auth request's query."""
    params = platform.login_params("learner")
    check = client.get("/login", query_string=params)
    assert check.status_code == 200
    assert "lti1p3_new_window" in check.get_data(as_text=True)
    login = client.get("/login", query_string={**params, "lti1p3_new_window": "1"})
    assert login.status_code == 302
    assert login.headers["Location"].startswith(platform.auth_url + "?")
    return dict(parse_qsl(urlsplit(login.headers["Location"]).query))


def test_a_demo_platform_launch_shows_the_user_and_roles(app, platform):
    client = app.test_client()
    action, form = platform.authorize(logged_in(client, platform))
    assert action == BASE + "/launch"
    page = client.post("/launch", data=form)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Hello, Demo Ansatt" in text
    assert "membership#Learner" in text


def test_a_bad_signature_is_refused(app, platform):
    client = app.test_client()
    query = logged_in(client, platform)
    claims = platform.launch_claims("learner", nonce=query["nonce"])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    form = {"id_token": platform.sign(claims, key=other_key), "state": query["state"]}
    with pytest.raises(LtiException, match="Can't decode id_token"):
        client.post("/launch", data=form)


def test_a_state_without_its_cookie_is_refused(app, platform):
    _action, form = platform.authorize(logged_in(app.test_client(), platform))
    with pytest.raises(LtiException, match="State not found"):
        app.test_client().post("/launch", data=form)  # another browser: no state cookie


def test_a_replay_passes_as_issue_15_reports_of_the_example(app, platform):
    """pylti1p3 keeps the nonce after use and marks the state valid for that id_token: the
    same form posted again, from another browser, launches. The comparison counts that."""
    client = app.test_client()
    _action, form = platform.authorize(logged_in(client, platform))
    assert client.post("/launch", data=form).status_code == 200
    assert app.test_client().post("/launch", data=form).status_code == 200
