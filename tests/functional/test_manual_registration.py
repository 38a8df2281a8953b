"""Manual registration: the values an LMS administrator pastes, and that they work."""

from __future__ import annotations

import json

from lti_tool.lti.demo_platform import DemoPlatform
from tests.conftest import TOOL_BASE_URL
from tests.fakes.lms import TestLms


def test_config_json_lists_the_tool_urls_and_canvas_developer_key(client):
    response = client.get("/lti/config.json")
    assert response.status_code == 200
    config = response.get_json()
    assert config["login_url"] == TOOL_BASE_URL + "/lti/login"
    assert config["launch_url"] == TOOL_BASE_URL + "/lti/launch"
    assert config["redirect_uris"] == [TOOL_BASE_URL + "/lti/launch"]
    assert config["canvas_platform"]["issuer"] == "https://canvas.instructure.com"
    assert config["canvas_platform"]["jwks_url"].startswith("https://sso.canvaslms.com/")
    assert config["deep_linking_url"] == TOOL_BASE_URL + "/lti/launch"
    assert config["jwks_url"] == TOOL_BASE_URL + "/lti/jwks.json"
    assert config["domain"] == "tool.example"
    key = config["canvas_developer_key"]
    assert key["oidc_initiation_url"] == config["login_url"]
    assert key["target_link_uri"] == config["launch_url"]
    assert key["public_jwk_url"] == config["jwks_url"]
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in key["scopes"]
    extension = key["extensions"][0]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["privacy_level"] == "public"
    assert extension["domain"] == "tool.example"
    placements = {p["placement"]: p for p in extension["settings"]["placements"]}
    assert placements["link_selection"]["message_type"] == "LtiDeepLinkingRequest"
    assert placements["course_navigation"]["message_type"] == "LtiResourceLinkRequest"
    assert config["moodle"]["LTI version"] == "LTI 1.3"
    assert config["moodle"]["Public keyset"] == config["jwks_url"]
    assert config["moodle"]["Initiate login URL"] == config["login_url"]


def test_config_page_shows_every_value_in_the_page_language(client):
    response = client.get("/lti/config", headers={"Accept-Language": "nn"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'lang="nn"' in html
    for value in ("/lti/login", "/lti/launch", "/lti/jwks.json", "oidc_initiation_url"):
        assert value in html
    canvas = html.split('id="canvas-json"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    assert json.loads(canvas.replace("&#34;", '"').replace("&quot;", '"'))["title"]


def test_values_pasted_by_hand_give_a_working_launch(app, platform_pem, mocked_http):
    """An LMS set up from /lti/config.json, registered with `platform add`, launches."""
    config = TestLms.browser(app).get("/lti/config.json").get_json()
    platform = DemoPlatform(
        issuer="https://moodle.hand.example",
        client_id="pasted-client",
        deployment_id="3",
        private_pem=platform_pem,
        kid="hand-key",
        tool_launch_url=config["launch_url"],
        tool_login_url=config["login_url"],
    )
    result = app.test_cli_runner().invoke(
        args=[
            "platform", "add", "--issuer", platform.issuer, "--client-id", platform.client_id,
            "--auth-url", platform.auth_url, "--token-url", platform.token_url,
            "--jwks-url", platform.jwks_url, "--deployment", "3", "--organisation", "Håndkommune",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lms = TestLms(platform, mocked_http)
    browser = TestLms.browser(app)
    response = lms.launch(browser, "learner")
    assert lms.landed(response), response.get_data(as_text=True)
    assert "Håndkommune" in lms.landing_page(browser, response).get_data(as_text=True)
