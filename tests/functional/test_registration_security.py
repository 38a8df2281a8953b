"""Dynamic Registration is not a way into other organisations or internal networks."""

from __future__ import annotations

import pytest
import responses

from lti_tool.errors import PlatformConfigurationInvalid
from lti_tool.lti.registration import check_outbound_url
from tests.functional.test_dynamic_registration import (
    CANVAS_CONFIG_URL,
    CANVAS_REGISTRATION_URL,
    canvas_answer,
    canvas_configuration,
    fake_canvas,
    issue_url,
    open_from_canvas,
    page,
    platforms,
)

pytest_plugins = ["tests.functional.test_dynamic_registration"]


def test_an_invite_cannot_take_over_another_organisations_platform(app, cli, browser, mocked_http):
    fake_canvas(mocked_http)
    assert open_from_canvas(browser, issue_url(cli, "Offerkommune")).status_code == 200
    (victim,) = platforms(app)
    jwks_before = victim.jwks_url

    mocked_http.reset()
    evil = canvas_configuration()
    mocked_http.add(responses.GET, CANVAS_CONFIG_URL, json=evil)
    mocked_http.add(responses.POST, CANVAS_REGISTRATION_URL, json=canvas_answer())  # same id
    response = open_from_canvas(browser, issue_url(cli, "Angriperkommune"))

    assert response.status_code == 409
    assert "<code>platform_owned_elsewhere</code>" in page(response)
    (still,) = platforms(app)
    assert still.jwks_url == jwks_before and still.organisation.name == "Offerkommune"


def test_hosted_canvas_must_serve_its_keys_from_instructure(app, cli, browser, mocked_http):
    configuration = canvas_configuration()
    configuration["jwks_uri"] = "https://evil.example/jwks"
    fake_canvas(mocked_http, configuration)
    response = open_from_canvas(browser, issue_url(cli, "Kommune"))
    assert response.status_code == 502
    assert "<code>invalid_platform_configuration</code>" in page(response)
    assert platforms(app) == []


def test_redirects_are_not_followed_and_other_pages_are_not_shown(app, cli, browser, mocked_http):
    mocked_http.add(
        responses.GET,
        CANVAS_CONFIG_URL,
        status=302,
        headers={"Location": "http://10.0.0.5:8080/admin"},
        body="",
    )
    mocked_http.add(responses.GET, "http://10.0.0.5:8080/admin", body="<h1>internal secret</h1>")
    response = open_from_canvas(browser, issue_url(cli, "Kommune"))
    assert response.status_code == 502
    assert "internal secret" not in page(response)
    assert len([c for c in mocked_http.calls if "10.0.0.5" in c.request.url]) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/openid",
        "http://localhost/openid",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/x",
        "http://[::1]/x",
    ],
)
def test_internal_addresses_are_refused_when_private_hosts_are_not_allowed(url):
    with pytest.raises(PlatformConfigurationInvalid):
        check_outbound_url(url, allow_private=False)
    check_outbound_url(url, allow_private=True)  # the default outside production


def test_production_refuses_a_registration_pointing_at_the_tools_own_network(
    app, make_app, mocked_http
):
    strict = make_app(REGISTRATION_ALLOW_PRIVATE_HOSTS="false")
    result = strict.test_cli_runner().invoke(args=["registration-url", "--organisation", "K"])
    url = next(line for line in result.output.splitlines() if "/lti/register/" in line)
    path = "/lti/register/" + url.split("/lti/register/", 1)[1]
    response = strict.test_client().get(
        path, query_string={"openid_configuration": "http://127.0.0.1:9/openid"}
    )
    assert response.status_code == 502
    assert "REGISTRATION_ALLOW_PRIVATE_HOSTS" in response.get_data(as_text=True)
    assert len(mocked_http.calls) == 0
