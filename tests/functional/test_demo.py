"""The demo LMS at /demo, end to end: a real platform inside the app, off in production.

The browser is the test client on http://localhost (its default host), which is the
BASE_URL; the tool fetches the demo platform's JWKS over HTTP, answered here by the same
app through ``responses``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses

from lti_tool.db import get_session
from lti_tool.lti.demo_platform import PERSONAS
from lti_tool.models import Status
from lti_tool.services.demo import DEMO_CLIENT_ID, DEMO_DEPLOYMENT_ID
from lti_tool.services.platforms import find_platform
from tests.fakes.lms import csrf_token, parse_forms

BASE_URL = "http://localhost"
DEMO_ISSUER = BASE_URL + "/demo"
LANDING = {
    "learner": "/learner/",
    "designer": "/designer/",
    "manager": "/manager/",
    "admin": "/admin/",
}


@pytest.fixture
def demo_app(make_app, settings_overrides, mocked_http):
    app = make_app(BASE_URL=BASE_URL)
    app.jwks_fetches = 0  # type: ignore[attr-defined]

    def serve_jwks(request: Any) -> tuple[int, dict[str, str], bytes]:
        app.jwks_fetches += 1  # type: ignore[attr-defined]
        response = app.test_client().get(urlsplit(request.url).path)
        return response.status_code, {"Content-Type": response.content_type}, response.data

    mocked_http.add_callback(responses.GET, DEMO_ISSUER + "/jwks.json", callback=serve_jwks)
    yield app
    from tests.conftest import _clean

    _clean(app)


def _path(response) -> str:
    """The local path and query of a redirect on the demo's own host."""
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost"), response.headers["Location"]
    return location.path + ("?" + location.query if location.query else "")


def _setup(client) -> None:
    page = client.get("/demo/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/demo/setup" in html  # not registered yet: the set-up form is offered
    response = client.post("/demo/setup", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _path(response) == "/demo/"
    after = client.get("/demo/").get_data(as_text=True)
    assert "/demo/setup" not in after
    for persona in PERSONAS:
        assert f"/demo/launch/{persona}" in after


def _launch(client, persona: str, **query: str):
    """Click a persona button on the course page; follow the browser's redirects and
    auto-posted forms to the tool's answer to the launch."""
    started = client.get(f"/demo/launch/{persona}", query_string=query)
    assert started.status_code == 302
    login_path = _path(started)
    assert login_path.startswith("/lti/login?")

    login = client.get(login_path)
    assert login.status_code == 302, login.get_data(as_text=True)
    auth_path = _path(login)
    assert auth_path.startswith("/demo/auth?")

    auth = client.get(auth_path)
    assert auth.status_code == 200, auth.get_data(as_text=True)
    (form,) = parse_forms(auth.get_data(as_text=True))
    assert form["action"] == BASE_URL + "/lti/launch"
    assert form["method"] == "post"
    assert set(form["fields"]) == {"id_token", "state"}
    return client.post(urlsplit(form["action"]).path, data=form["fields"])


def test_setup_registers_the_demo_platform(demo_app):
    _setup(demo_app.test_client())
    with demo_app.app_context():
        platform = find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID)
        assert platform is not None
        assert platform.status == Status.ACTIVE
        assert platform.jwks_url == DEMO_ISSUER + "/jwks.json"
        assert [(d.deployment_id, d.status) for d in platform.deployments] == [
            (DEMO_DEPLOYMENT_ID, Status.ACTIVE)
        ]
    # Setting up again (here with the command) changes nothing.
    result = demo_app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code == 0, result.output
    assert DEMO_ISSUER in result.output
    with demo_app.app_context():
        platform = find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID)
        assert len(platform.deployments) == 1


def test_setup_needs_a_csrf_token(demo_app):
    client = demo_app.test_client()
    assert client.post("/demo/setup").status_code == 400
    with demo_app.app_context():
        assert find_platform(get_session(), DEMO_ISSUER, DEMO_CLIENT_ID) is None


def test_demo_jwks_is_the_platform_keyset(demo_app):
    body = demo_app.test_client().get("/demo/jwks.json").get_json()
    (jwk,) = body["keys"]
    assert jwk["kid"].startswith("demo-")
    assert jwk["kty"] == "RSA" and "d" not in jwk


@pytest.mark.parametrize("persona", list(LANDING))
def test_each_persona_launches_from_the_demo_lms(demo_app, persona):
    setup_client = demo_app.test_client()
    _setup(setup_client)
    client = demo_app.test_client()  # the person's own browser
    launched = _launch(client, persona)
    assert launched.status_code == 302, launched.get_data(as_text=True)
    landing = _path(launched)
    assert landing.split("?")[0] == LANDING[persona]
    page = client.get(landing)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert PERSONAS[persona].family_name in html
    assert demo_app.jwks_fetches >= 1  # the signature was checked with the fetched keys


def test_the_platform_keys_are_fetched_once_and_cached(demo_app):
    _setup(demo_app.test_client())
    for persona in ("learner", "designer"):
        assert _launch(demo_app.test_client(), persona).status_code == 302
    assert demo_app.jwks_fetches == 1


def test_the_demo_can_launch_in_another_language(demo_app):
    _setup(demo_app.test_client())
    client = demo_app.test_client()
    launched = _launch(client, "learner", locale="en")
    assert launched.status_code == 302
    with client.session_transaction() as session:
        assert session.get("locale") == "en"


def test_deep_linking_from_the_demo_lms(demo_app):
    _setup(demo_app.test_client())
    client = demo_app.test_client()
    launched = _launch(client, "designer", deep_linking="1")
    assert launched.status_code == 302, launched.get_data(as_text=True)
    choose_path = _path(launched)
    assert choose_path.startswith("/designer/deep-link?")

    page = client.get(choose_path)
    assert page.status_code == 200
    (choose,) = [f for f in parse_forms(page.get_data(as_text=True)) if f["method"] == "post"]
    submitted = client.post(choose["action"], data=choose["fields"])
    assert submitted.status_code == 200, submitted.get_data(as_text=True)

    (back,) = parse_forms(submitted.get_data(as_text=True))
    assert back["action"] == DEMO_ISSUER + "/deep-link-return"
    assert set(back["fields"]) == {"JWT"}
    returned = client.post(urlsplit(back["action"]).path, data=back["fields"])
    assert returned.status_code == 200, returned.get_data(as_text=True)
    html = returned.get_data(as_text=True)
    # One item, the tool's launch URL, as the LMS would add it to the course.
    items = re.findall(r"<li>(.*?) — <code>(.*?)</code></li>", html)
    assert items == [("Læringsløp", BASE_URL + "/lti/launch")]


def test_deep_link_return_refuses_a_forged_response(demo_app):
    client = demo_app.test_client()
    response = client.post("/demo/deep-link-return", data={"JWT": "not.a.jwt"})
    assert response.status_code == 400
    assert "demo_auth_refused" in response.get_data(as_text=True)


def test_demo_auth_refuses_a_request_it_did_not_expect(demo_app):
    response = demo_app.test_client().get(
        "/demo/auth", query_string={"scope": "openid", "response_type": "code"}
    )
    assert response.status_code == 400


def test_unknown_persona_is_404(demo_app):
    assert demo_app.test_client().get("/demo/launch/superuser").status_code == 404


def test_demo_on_another_host_redirects_to_the_base_url(demo_app):
    client = demo_app.test_client()
    response = client.get("/demo/", base_url="http://127.0.0.1")
    assert response.status_code == 302
    assert response.headers["Location"] == BASE_URL + "/demo/"


@pytest.fixture
def production_app(make_app):
    return make_app(APP_ENV="production", SECRET_KEY="p" * 40, BASE_URL="https://lti.example.no")


def test_every_demo_url_is_404_in_production(make_app, production_app):
    paths = {
        (method, rule.rule.replace("<persona>", "learner"))
        for rule in make_app(BASE_URL=BASE_URL).url_map.iter_rules()
        if rule.rule.startswith("/demo")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert ("GET", "/demo/") in paths and ("POST", "/demo/setup") in paths
    client = production_app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "lti.example.no"})
    for method, path in sorted(paths):
        status = client.open(path, method=method).status_code
        assert status == 404, f"{method} {path} answered {status} in production"
    # ... and the front page does not link to it.
    assert "/demo" not in client.get("/").get_data(as_text=True)


def test_demo_setup_command_refuses_in_production(production_app):
    result = production_app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code != 0
    assert "off in production" in result.output


def test_the_demo_learner_sees_the_example_requirements_of_their_job_roles(demo_app):
    """The demo LMS sends job_role=sykepleier,alle-ansatte; setup loaded the examples."""
    client = demo_app.test_client()
    _setup(client)
    landing = _path(_launch(client, "learner"))
    assert landing.split("?")[0] == "/learner/"
    page = client.get(landing).get_data(as_text=True)
    assert "Sykepleier" in page
    assert "dobbeltkontroll" in page.lower()  # from the medication-handling profile
    assert "personvern" in page.lower()  # from the all-staff information-security profile
