"""LTI Dynamic Registration: the CLI issues a one-time URL, the platform opens it, the tool
registers itself with the platform, and launches with the client it got then work.

The platforms are faked with ``responses``: Moodle 5.2 with the bodies of a real exchange
(tests/fakes/samples), Canvas with its shared issuer, its SSO host, its extensions and no
deployment id in the answer.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select

from lti_tool.db import get_session, utcnow
from lti_tool.lti.demo_platform import DemoPlatform
from lti_tool.models import Deployment, Platform, RegistrationInvite, Status
from lti_tool.services import registration
from tests.conftest import TOOL_BASE_URL
from tests.fakes.lms import TestLms
from tests.functional.test_web_security import assert_page_policy, policy

SAMPLE = json.loads(
    (Path(__file__).parent.parent / "fakes" / "samples" / "moodle-5.2-dynamic-registration.json")
    .read_text(encoding="utf-8")
)  # fmt: skip

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
CANVAS_EXT = "https://canvas.instructure.com/lti/"
LAUNCH = TOOL_BASE_URL + "/lti/launch"
SCOPES = " ".join(
    [
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    ]
)

# --- Moodle 5.2, the real exchange moved to a fake host ----------------------------------

MOODLE = "https://moodle.kommune.example"
MOODLE_CONFIG_URL = MOODLE + "/mod/lti/openid-configuration.php"
MOODLE_REGISTRATION_URL = MOODLE + "/mod/lti/openid-registration.php"
MOODLE_TOKEN = SAMPLE["initiation"]["args"]["registration_token"]
MOODLE_CLIENT_ID = SAMPLE["registration_response"]["body"]["client_id"]  # CDAPp9ACBHniCBC
MOODLE_DEPLOYMENT_ID = SAMPLE["registration_response"]["body"][TOOL_CONFIGURATION]["deployment_id"]


def _moved(body: Any) -> Any:
    """A sample body with the Moodle site and the probe tool moved to our fake hosts."""
    text = json.dumps(body)
    text = text.replace("http://localhost:8080", MOODLE)
    text = text.replace("http://127.0.0.1:5005", TOOL_BASE_URL).replace(
        "127.0.0.1:5005", "tool.example"
    )
    return json.loads(text)


def moodle_configuration() -> dict[str, Any]:
    return _moved(SAMPLE["openid_configuration_response"]["body"])


def moodle_answer(client_id: str = MOODLE_CLIENT_ID, deployment_id: str = MOODLE_DEPLOYMENT_ID):
    answer = _moved(SAMPLE["registration_response"]["body"])
    answer["client_id"] = client_id
    answer[TOOL_CONFIGURATION]["deployment_id"] = deployment_id
    return answer


NAME = "Læringsløp"
#: The tool's name and description in bokmål (untagged and #nb), nynorsk and English.
DESCRIPTION_NB = (
    "Rollebasert kompetanse for kommuner: basiskompetanse per rolle, kartlegging, "
    "læringsplaner og kursbevis."
)
DESCRIPTIONS = {
    "description": DESCRIPTION_NB,
    "description#nb": DESCRIPTION_NB,
    "description#nn": "Rollebasert kompetanse for kommunar: basiskompetanse per rolle, "
    "kartlegging, læringsplanar og kursbevis.",
    "description#en": "Role-based competence for municipalities: baseline competence per "
    "role, assessment, learning plans and course certificates.",
}
LABELS = {"label": NAME, "label#nb": NAME, "label#nn": NAME, "label#en": NAME}

MOODLE_REQUEST = {
    "application_type": "web",
    "response_types": ["id_token"],
    "grant_types": ["implicit", "client_credentials"],
    "initiate_login_uri": TOOL_BASE_URL + "/lti/login",
    "redirect_uris": [LAUNCH],
    "client_name": NAME,
    "client_name#nb": NAME,
    "client_name#nn": NAME,
    "client_name#en": NAME,
    "jwks_uri": TOOL_BASE_URL + "/lti/jwks.json",
    "logo_uri": TOOL_BASE_URL + "/static/icon.svg",
    "token_endpoint_auth_method": "private_key_jwt",
    "scope": SCOPES,
    TOOL_CONFIGURATION: {
        "domain": "tool.example",
        **DESCRIPTIONS,
        "target_link_uri": LAUNCH,
        "custom_parameters": {"person_sourcedid": "$Person.sourcedId"},
        "claims": ["iss", "sub", "name", "given_name", "family_name", "email", "locale"],
        "messages": [
            {"type": "LtiResourceLinkRequest", "target_link_uri": LAUNCH, **LABELS},
            {
                "type": "LtiDeepLinkingRequest",
                "target_link_uri": LAUNCH,
                **LABELS,
                "placements": ["ContentArea"],
            },
        ],
    },
}

# --- Canvas: one issuer for every customer, the configuration on the customer's host -------

CANVAS_ISSUER = "https://canvas.instructure.com"
CANVAS = "https://canvas.kommune.example"
CANVAS_SSO = "https://sso.canvaslms.com"
CANVAS_CONFIG_URL = CANVAS + "/api/lti/security/openid-configuration"
CANVAS_REGISTRATION_URL = CANVAS + "/api/lti/registrations"
CANVAS_TOKEN = "canvas-registration-token-0123456789"
CANVAS_CLIENT_ID = "10000000000042"


def canvas_configuration() -> dict[str, Any]:
    return {
        "issuer": CANVAS_ISSUER,
        "authorization_endpoint": CANVAS_SSO + "/api/lti/authorize_redirect",
        "registration_endpoint": CANVAS_REGISTRATION_URL,
        "jwks_uri": CANVAS_SSO + "/api/lti/security/jwks",
        "token_endpoint": CANVAS_SSO + "/login/oauth2/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [
            "openid",
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
            "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
            "https://canvas.instructure.com/lti/public_jwk/scope/update",
            "https://canvas.instructure.com/lti/account_lookup/scope/show",
        ],
        "response_types_supported": ["id_token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "picture", "email", "name", "given_name", "family_name"],
        "subject_types_supported": ["public"],
        "authorization_server": "canvas.kommune.example",
        PLATFORM_CONFIGURATION: {
            "product_family_code": "canvas",
            "version": "vCloud",
            "messages_supported": [
                {
                    "type": "LtiResourceLinkRequest",
                    "placements": [CANVAS_EXT + "course_navigation", "course_navigation"],
                },
                {
                    "type": "LtiDeepLinkingRequest",
                    "placements": ["link_selection", "assignment_selection"],
                },
            ],
            "variables": ["Canvas.account.id", "Person.name.full"],
            CANVAS_EXT + "account_name": "Kommune",
            CANVAS_EXT + "account_lti_guid": "guid-1234:canvas-lms",
        },
    }


def canvas_answer(client_id: str = CANVAS_CLIENT_ID) -> dict[str, Any]:
    """Canvas echoes the registration with a client id, and no deployment id."""
    answer = copy.deepcopy(CANVAS_REQUEST)
    answer["client_id"] = client_id
    return answer


CANVAS_REQUEST = {
    **MOODLE_REQUEST,
    TOOL_CONFIGURATION: {
        **MOODLE_REQUEST[TOOL_CONFIGURATION],
        "messages": [
            {
                "type": "LtiResourceLinkRequest",
                "target_link_uri": LAUNCH,
                **LABELS,
                "placements": ["course_navigation"],
                CANVAS_EXT + "course_navigation/default_enabled": False,
            },
            {
                "type": "LtiDeepLinkingRequest",
                "target_link_uri": LAUNCH,
                **LABELS,
                "placements": ["link_selection", "assignment_selection"],
            },
        ],
        CANVAS_EXT + "privacy_level": "public",
        CANVAS_EXT + "tool_id": "laeringslop",
    },
}


# --- helpers --------------------------------------------------------------------------


class RegisteredPlatform(DemoPlatform):
    """The demo platform at the endpoints the platform announced in its configuration."""

    def __init__(self, *, auth_url: str, token_url: str, jwks_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._endpoints = {"auth": auth_url, "token": token_url, "jwks": jwks_url}

    @property
    def auth_url(self) -> str:
        return self._endpoints["auth"]

    @property
    def token_url(self) -> str:
        return self._endpoints["token"]

    @property
    def jwks_url(self) -> str:
        return self._endpoints["jwks"]


@pytest.fixture
def browser(app):
    return TestLms.browser(app)


def issue_url(cli, organisation: str, *options: str) -> str:
    """The registration URL path `flask registration-url` prints."""
    result = cli("registration-url", "--organisation", organisation, *options)
    url = result.stdout.strip()
    assert url.startswith(TOOL_BASE_URL + "/lti/register/"), result.output
    return url[len(TOOL_BASE_URL) :]


def fake_moodle(http, configuration=None, answer=None, *, status: int = 200):
    http.add(responses.GET, MOODLE_CONFIG_URL, json=configuration or moodle_configuration())
    http.add(responses.POST, MOODLE_REGISTRATION_URL, json=answer or moodle_answer(), status=status)


def fake_canvas(http, configuration=None, answer=None):
    http.add(responses.GET, CANVAS_CONFIG_URL, json=configuration or canvas_configuration())
    http.add(responses.POST, CANVAS_REGISTRATION_URL, json=answer or canvas_answer(), status=200)


def open_from_moodle(browser, path: str, token: str = MOODLE_TOKEN):
    """What Moodle does with the Tool URL: open it with its configuration and a token."""
    return browser.get(
        path, query_string={"openid_configuration": MOODLE_CONFIG_URL, "registration_token": token}
    )


def open_from_canvas(browser, path: str):
    return browser.get(
        path,
        query_string={
            "openid_configuration": CANVAS_CONFIG_URL,
            "registration_token": CANVAS_TOKEN,
        },
    )


def count(app, model) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model))


def invites(app) -> list[RegistrationInvite]:
    with app.app_context():
        return list(
            get_session().scalars(select(RegistrationInvite).order_by(RegistrationInvite.id))
        )


def platforms(app) -> list[Platform]:
    with app.app_context():
        rows = get_session().scalars(select(Platform).order_by(Platform.id)).all()
        for row in rows:  # load what the tests look at before the session closes
            _ = [d.deployment_id for d in row.deployments], row.organisation.name
        return list(rows)


def page(response) -> str:
    return response.get_data(as_text=True)


def calls(http, method: str, url: str) -> list[Any]:
    return [c.request for c in http.calls if c.request.method == method and c.request.url == url]


# --- the CLI ----------------------------------------------------------------------------


def test_registration_url_stores_only_a_hash_of_a_one_time_secret(app, cli):
    path = issue_url(cli, "Moodlekommune")
    secret = path.rsplit("/", 1)[1]
    assert len(secret) >= 40
    (invite,) = invites(app)
    assert invite.secret_hash == registration.hash_secret(secret) != secret
    assert invite.used_at is None and invite.platform_id is None
    lifetime = invite.expires_at - utcnow()
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(minutes=60)
    assert "Moodlekommune" in cli("organisation", "list").output  # created on the way
    # Another URL is another secret.
    assert issue_url(cli, "Moodlekommune") != path
    assert cli("organisation", "list").output.count("Moodlekommune") == 1


def test_registration_url_expiry_is_configurable_and_bounded(app, cli):
    issue_url(cli, "Moodlekommune", "--expires-in", "5")
    lifetime = invites(app)[0].expires_at - utcnow()
    assert dt.timedelta(minutes=4) < lifetime <= dt.timedelta(minutes=5)
    refused = cli("registration-url", "--organisation", "X", "--expires-in", "0", ok=False)
    assert refused.exit_code != 0
    assert count(app, RegistrationInvite) == 1


# --- Moodle: the whole flow -------------------------------------------------------------


def test_moodle_registers_by_url_and_then_launches(app, cli, browser, mocked_http, platform_pem):
    path = issue_url(cli, "Moodlekommune")
    fake_moodle(mocked_http)

    response = open_from_moodle(browser, path)

    assert response.status_code == 200, page(response)
    html = page(response)
    assert "window.parent.postMessage({subject: 'org.imsglobal.lti.close'}, '*')" in html
    assert "window.opener" in html
    assert 'id="registration-close"' in html
    assert "moodle.kommune.example" in html and "Moodlekommune" in html
    # the page runs its script by nonce, and the platform just registered may frame it
    assert_page_policy(response)
    assert any("moodle.kommune.example" in o for o in policy(response)["frame-ancestors"])
    assert MOODLE_CLIENT_ID in html
    assert "?lang=" not in html  # the language links would open the one-time URL again

    (get,) = calls(mocked_http, "GET", MOODLE_CONFIG_URL)
    (post,) = calls(mocked_http, "POST", MOODLE_REGISTRATION_URL)
    for request in (get, post):
        assert request.headers["Authorization"] == "Bearer " + MOODLE_TOKEN
        assert request.headers["User-Agent"].startswith("Laeringslop-LTI-Tool/")
    assert post.headers["Content-Type"] == "application/json"
    assert json.loads(post.body) == MOODLE_REQUEST

    (platform,) = platforms(app)
    assert (platform.issuer, platform.client_id) == (MOODLE, MOODLE_CLIENT_ID)
    assert platform.auth_login_url == MOODLE + "/mod/lti/auth.php"
    assert platform.auth_token_url == MOODLE + "/mod/lti/token.php"
    assert platform.jwks_url == MOODLE + "/mod/lti/certs.php"
    assert platform.product_family == "moodle"
    assert platform.registered_via == "dynamic"
    assert platform.status == Status.ACTIVE
    assert platform.organisation.name == "Moodlekommune"
    assert [(d.deployment_id, d.status) for d in platform.deployments] == [
        (MOODLE_DEPLOYMENT_ID, Status.ACTIVE)
    ]
    (invite,) = invites(app)
    assert invite.used_at is not None and invite.platform_id == platform.id

    moodle = RegisteredPlatform(
        issuer=MOODLE,
        client_id=MOODLE_CLIENT_ID,
        deployment_id=MOODLE_DEPLOYMENT_ID,
        private_pem=platform_pem,
        kid="moodle-key",
        tool_launch_url=LAUNCH,
        tool_login_url=TOOL_BASE_URL + "/lti/login",
        auth_url=platform.auth_login_url,
        token_url=platform.auth_token_url,
        jwks_url=platform.jwks_url,
    )
    lms = TestLms(moodle, mocked_http)
    launched = lms.launch(TestLms.browser(app), "learner")
    assert lms.landed(launched), page(launched)
    assert lms.landing_path(launched).endswith("/learner/")
    assert lms.jwks_calls == 1


def test_without_a_registration_token_no_authorization_is_sent(app, cli, browser, mocked_http):
    fake_moodle(mocked_http)
    path = issue_url(cli, "Moodlekommune")
    response = browser.get(path, query_string={"openid_configuration": MOODLE_CONFIG_URL})
    assert response.status_code == 200, page(response)
    assert all("Authorization" not in call.request.headers for call in mocked_http.calls)


def test_older_moodle_lists_supported_messages_as_plain_strings(app, cli, browser, mocked_http):
    configuration = moodle_configuration()
    configuration[PLATFORM_CONFIGURATION]["messages_supported"] = [
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    ]
    fake_moodle(mocked_http, configuration)
    response = open_from_moodle(browser, issue_url(cli, "Moodlekommune"))
    assert response.status_code == 200, page(response)
    assert count(app, Platform) == 1


# --- Canvas -----------------------------------------------------------------------------


def canvas_platform(platform_pem: bytes, deployment_id: str) -> RegisteredPlatform:
    return RegisteredPlatform(
        issuer=CANVAS_ISSUER,
        client_id=CANVAS_CLIENT_ID,
        deployment_id=deployment_id,
        private_pem=platform_pem,
        kid="canvas-key",
        tool_launch_url=LAUNCH,
        tool_login_url=TOOL_BASE_URL + "/lti/login",
        auth_url=CANVAS_SSO + "/api/lti/authorize_redirect",
        token_url=CANVAS_SSO + "/login/oauth2/token",
        jwks_url=CANVAS_SSO + "/api/lti/security/jwks",
    )


def test_canvas_registers_with_its_extensions_and_a_token_on_both_calls(
    app, cli, browser, mocked_http, platform_pem
):
    cli("organisation", "add", "Canvaskommune")  # new deployments wait for approval
    fake_canvas(mocked_http)

    response = open_from_canvas(browser, issue_url(cli, "Canvaskommune"))

    assert response.status_code == 200, page(response)
    assert "org.imsglobal.lti.close" in page(response)
    assert "canvas.kommune.example" in page(response)
    (get,) = calls(mocked_http, "GET", CANVAS_CONFIG_URL)
    (post,) = calls(mocked_http, "POST", CANVAS_REGISTRATION_URL)
    assert get.headers["Authorization"] == post.headers["Authorization"] == "Bearer " + CANVAS_TOKEN
    sent = json.loads(post.body)
    assert sent == CANVAS_REQUEST
    assert "openid" not in sent["scope"].split()
    assert sent[TOOL_CONFIGURATION][CANVAS_EXT + "privacy_level"] == "public"

    (platform,) = platforms(app)
    assert (platform.issuer, platform.client_id) == (CANVAS_ISSUER, CANVAS_CLIENT_ID)
    assert platform.auth_login_url == CANVAS_SSO + "/api/lti/authorize_redirect"
    assert platform.jwks_url == CANVAS_SSO + "/api/lti/security/jwks"
    assert platform.name == "canvas.kommune.example"
    assert platform.product_family == "canvas"
    assert platform.registered_via == "dynamic"
    assert platform.deployments == []  # Canvas names no deployment at registration

    # The first launch records the deployment: active at once, the invite was the consent …
    lms = TestLms(
        canvas_platform(platform_pem, "42:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"), mocked_http
    )
    launched = lms.launch(TestLms.browser(app), "learner", canvas_style=True)
    assert lms.landed(launched), page(launched)
    assert lms.landing_path(launched).endswith("/learner/")
    # … while a later, unknown deployment (another course or account) waits for approval.
    other = TestLms(canvas_platform(platform_pem, "43:another-course"), mocked_http)
    refused = other.launch(TestLms.browser(app), "learner", canvas_style=True)
    assert refused.status_code == 403
    assert "<code>deployment_pending</code>" in page(refused)


def test_canvas_deployment_is_active_at_once_for_an_auto_activating_organisation(
    app, cli, browser, mocked_http, platform_pem
):
    cli("organisation", "add", "Canvaskommune", "--auto-activate")
    fake_canvas(mocked_http)
    assert open_from_canvas(browser, issue_url(cli, "Canvaskommune")).status_code == 200
    lms = TestLms(canvas_platform(platform_pem, "42:abc"), mocked_http)
    launched = lms.launch(TestLms.browser(app), "designer", canvas_style=True)
    assert lms.landed(launched), page(launched)
    (platform,) = platforms(app)
    assert [(d.deployment_id, d.status) for d in platform.deployments] == [
        ("42:abc", Status.ACTIVE)
    ]


@pytest.mark.parametrize(
    "issuer", ["https://canvas.beta.instructure.com", "https://canvas.test.instructure.com"]
)
def test_canvas_beta_and_test_issuers_are_accepted(app, cli, browser, mocked_http, issuer):
    configuration = canvas_configuration()
    configuration["issuer"] = issuer
    fake_canvas(mocked_http, configuration)
    assert open_from_canvas(browser, issue_url(cli, "Canvaskommune")).status_code == 200
    assert platforms(app)[0].issuer == issuer


def test_the_canvas_issuer_from_a_platform_that_is_not_canvas_is_refused(
    app, cli, browser, mocked_http
):
    configuration = moodle_configuration()
    configuration["issuer"] = CANVAS_ISSUER
    fake_moodle(mocked_http, configuration)
    response = open_from_moodle(browser, issue_url(cli, "Moodlekommune"))
    assert response.status_code == 502
    assert "<code>invalid_platform_configuration</code>" in page(response)
    assert count(app, Platform) == 0


# --- refusals before anything is fetched ------------------------------------------------


def test_registration_without_a_secret_is_refused(app, browser, mocked_http):
    for response in (
        browser.get("/lti/register"),
        browser.get("/lti/register", query_string={"openid_configuration": MOODLE_CONFIG_URL}),
    ):
        assert response.status_code == 403
        assert "<code>registration_not_invited</code>" in page(response)
        assert "administrator" in page(response)
    assert len(mocked_http.calls) == 0  # the platform is never contacted


def test_registration_with_an_unknown_secret_is_refused(app, cli, browser, mocked_http):
    issue_url(cli, "Moodlekommune")
    response = open_from_moodle(browser, "/lti/register/not-the-secret")
    assert response.status_code == 403
    assert "<code>registration_invite_unknown</code>" in page(response)
    assert len(mocked_http.calls) == 0


def test_a_used_registration_url_is_refused(app, cli, browser, mocked_http):
    path = issue_url(cli, "Moodlekommune")
    fake_moodle(mocked_http)
    assert open_from_moodle(browser, path).status_code == 200
    fetched = len(mocked_http.calls)

    again = open_from_moodle(browser, path)

    assert again.status_code == 403
    assert "<code>registration_invite_used</code>" in page(again)
    assert len(mocked_http.calls) == fetched
    assert count(app, Platform) == 1


def test_an_expired_registration_url_is_refused(app, cli, browser, mocked_http):
    path = issue_url(cli, "Moodlekommune", "--expires-in", "1")
    with app.app_context():
        session = get_session()
        invite = session.scalars(select(RegistrationInvite)).one()
        invite.expires_at = utcnow() - dt.timedelta(seconds=1)
        session.commit()
    fake_moodle(mocked_http)

    response = open_from_moodle(browser, path)

    assert response.status_code == 403
    assert "<code>registration_invite_expired</code>" in page(response)
    assert len(mocked_http.calls) == 0
    assert count(app, Platform) == 0


def test_opening_the_url_without_the_platform_explains_where_to_enter_it(app, cli, browser):
    path = issue_url(cli, "Moodlekommune")
    response = browser.get(path)
    assert response.status_code == 400
    assert "<code>registration_missing_parameter</code>" in page(response)
    assert invites(app)[0].used_at is None


def test_opening_the_url_with_a_configuration_that_is_not_http_is_refused(
    app, cli, browser, mocked_http
):
    path = issue_url(cli, "Moodlekommune")
    response = browser.get(path, query_string={"openid_configuration": "file:///etc/passwd"})
    assert response.status_code == 400
    assert "<code>registration_missing_parameter</code>" in page(response)
    assert len(mocked_http.calls) == 0


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "krever en registrerings-URL fra administratoren"),
        ("nn", "krev ein registrerings-URL frå administratoren"),
        ("en", "needs a registration URL issued by the tool's administrator"),
    ],
)
def test_refusal_pages_are_translated(app, browser, language, expected):
    response = browser.get("/lti/register", headers={"Accept-Language": language})
    assert response.status_code == 403
    assert expected in page(response)


# --- failures write nothing and leave the URL usable ------------------------------------


def _no_config_endpoint(configuration):
    del configuration["registration_endpoint"]


def _wrong_issuer(configuration):
    configuration["issuer"] = "https://evil.example"


def _no_resource_links(configuration):
    configuration[PLATFORM_CONFIGURATION]["messages_supported"] = [
        {"type": "LtiDeepLinkingRequest"}
    ]


def _fake_config(change):
    def fake(http):
        configuration = moodle_configuration()
        change(configuration)
        fake_moodle(http, configuration)

    return fake


def _config_status(status):
    def fake(http):
        http.add(
            responses.GET, MOODLE_CONFIG_URL, body="<h1>Down for maintenance</h1>", status=status
        )

    return fake


def _config_raises(exc):
    def fake(http):
        http.add(responses.GET, MOODLE_CONFIG_URL, body=exc)

    return fake


def _answer(status, body):
    def fake(http):
        http.add(responses.GET, MOODLE_CONFIG_URL, json=moodle_configuration())
        http.add(responses.POST, MOODLE_REGISTRATION_URL, status=status, **body)

    return fake


def _registration_raises(exc):
    def fake(http):
        http.add(responses.GET, MOODLE_CONFIG_URL, json=moodle_configuration())
        http.add(responses.POST, MOODLE_REGISTRATION_URL, body=exc)

    return fake


CANVAS_422 = {
    "errors": [
        {
            "field": "redirect_uris",
            "message": "<b>must</b> be on the tool's domain & unique",
        }
    ]
}

FAILURES = {
    "configuration missing an endpoint": (
        _fake_config(_no_config_endpoint),
        502,
        "invalid_platform_configuration",
        "registration_endpoint",
    ),
    "issuer not the configuration's origin": (
        _fake_config(_wrong_issuer),
        502,
        "invalid_platform_configuration",
        "https://evil.example",
    ),
    "no resource link launches": (
        _fake_config(_no_resource_links),
        502,
        "platform_unsupported",
        "LtiResourceLinkRequest",
    ),
    "configuration HTTP 500": (
        _config_status(500),
        502,
        "invalid_platform_configuration",
        "HTTP 500",
    ),
    "configuration timeout": (
        _config_raises(requests.ConnectTimeout("connect timed out")),
        504,
        "registration_platform_unreachable",
        "connect timed out",
    ),
    "configuration network error": (
        _config_raises(requests.ConnectionError("Name or service not known")),
        504,
        "registration_platform_unreachable",
        "Name or service not known",
    ),
    "registration HTTP 500": (
        _answer(500, {"body": "Internal error"}),
        502,
        "registration_rejected",
        "HTTP 500",
    ),
    "registration HTTP 422 (Canvas's error body)": (
        _answer(422, {"json": CANVAS_422}),
        502,
        "registration_rejected",
        "&lt;b&gt;must&lt;/b&gt; be on the tool&#39;s domain &amp; unique",
    ),
    "registration HTTP 400": (
        _answer(400, {"json": {"error": "invalid_client_metadata"}}),
        502,
        "registration_rejected",
        "invalid_client_metadata",
    ),
    "registration answer without client id": (
        _answer(200, {"json": {"client_name": "Læringsløp"}}),
        502,
        "invalid_registration_response",
        "client_id",
    ),
    "registration timeout": (
        _registration_raises(requests.ReadTimeout("read timed out")),
        504,
        "registration_platform_unreachable",
        "read timed out",
    ),
}


@pytest.mark.parametrize(("fake", "status", "code", "detail"), FAILURES.values(), ids=FAILURES)
def test_a_failed_registration_writes_nothing_and_the_url_stays_usable(
    app, cli, browser, mocked_http, fake, status, code, detail
):
    path = issue_url(cli, "Moodlekommune")
    fake(mocked_http)

    response = open_from_moodle(browser, path)

    assert response.status_code == status, page(response)
    html = page(response)
    assert f"<code>{code}</code>" in html
    assert detail in html  # what went wrong, HTML-escaped
    assert "<b>must</b>" not in html
    assert count(app, Platform) == 0
    assert count(app, Deployment) == 0
    (invite,) = invites(app)
    assert invite.used_at is None and invite.platform_id is None

    # The administrator fixes the platform and enters the same URL again.
    mocked_http.reset()
    fake_moodle(mocked_http)
    assert open_from_moodle(browser, path).status_code == 200
    assert count(app, Platform) == 1
    assert invites(app)[0].used_at is not None


# --- registering again ------------------------------------------------------------------


def test_registering_the_same_client_again_updates_it(app, cli, browser, mocked_http):
    fake_moodle(mocked_http)
    assert open_from_moodle(browser, issue_url(cli, "Moodlekommune")).status_code == 200
    mocked_http.reset()
    configuration = moodle_configuration()
    configuration["jwks_uri"] = MOODLE + "/mod/lti/certs-v2.php"
    fake_moodle(mocked_http, configuration)

    again = open_from_moodle(browser, issue_url(cli, "Moodlekommune"))

    assert again.status_code == 200, page(again)
    assert "Plattformen var registrert fra før" in page(again)
    (platform,) = platforms(app)
    assert platform.jwks_url == MOODLE + "/mod/lti/certs-v2.php"
    assert [d.deployment_id for d in platform.deployments] == [MOODLE_DEPLOYMENT_ID]
    assert all(invite.platform_id == platform.id for invite in invites(app))


def test_moodle_registering_the_tool_anew_updates_the_client_id(app, cli, browser, mocked_http):
    fake_moodle(mocked_http)
    assert open_from_moodle(browser, issue_url(cli, "Moodlekommune")).status_code == 200
    mocked_http.reset()
    fake_moodle(mocked_http, answer=moodle_answer(client_id="NewClient123", deployment_id="5"))

    again = open_from_moodle(browser, issue_url(cli, "Moodlekommune"))

    assert again.status_code == 200, page(again)
    (platform,) = platforms(app)
    assert platform.client_id == "NewClient123"
    assert [d.deployment_id for d in platform.deployments] == [MOODLE_DEPLOYMENT_ID, "5"]


def test_the_same_moodle_for_another_organisation_is_another_platform(
    app, cli, browser, mocked_http
):
    fake_moodle(mocked_http)
    assert open_from_moodle(browser, issue_url(cli, "Moodlekommune")).status_code == 200
    mocked_http.reset()
    fake_moodle(mocked_http, answer=moodle_answer(client_id="OtherClient", deployment_id="7"))
    assert open_from_moodle(browser, issue_url(cli, "Nabokommune")).status_code == 200
    rows = platforms(app)
    assert [(p.client_id, p.organisation.name) for p in rows] == [
        (MOODLE_CLIENT_ID, "Moodlekommune"),
        ("OtherClient", "Nabokommune"),
    ]


def test_canvas_registrations_are_never_merged(app, cli, browser, mocked_http):
    """Canvas shares its issuer across customers: each client id is its own platform."""
    fake_canvas(mocked_http)
    assert open_from_canvas(browser, issue_url(cli, "Canvaskommune")).status_code == 200
    mocked_http.reset()
    fake_canvas(mocked_http, answer=canvas_answer("10000000000043"))
    assert open_from_canvas(browser, issue_url(cli, "Canvaskommune")).status_code == 200
    assert [p.client_id for p in platforms(app)] == [CANVAS_CLIENT_ID, "10000000000043"]
