"""Dynamic Registration is not a way into other organisations or internal networks."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import responses

from lti_tool.errors import PlatformConfigurationInvalid
from lti_tool.lti.registration import check_outbound_url
from tests.functional.test_dynamic_registration import (
    CANVAS_CONFIG_URL,
    CANVAS_REGISTRATION_URL,
    MOODLE,
    MOODLE_CLIENT_ID,
    MOODLE_DEPLOYMENT_ID,
    MOODLE_TOKEN,
    TOOL_CONFIGURATION,
    calls,
    canvas_answer,
    canvas_configuration,
    fake_canvas,
    issue_url,
    moodle_answer,
    moodle_configuration,
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


# --- a municipality's Moodle on its own network: REGISTRATION_ALLOWED_HOSTS --------------

INTERNAL_MOODLE = "https://moodle.kommune.intern"
INTERNAL_ADDRESS = "10.20.30.40"


@pytest.fixture
def internal_dns(monkeypatch):
    """The municipality's DNS: internal names resolve to internal addresses (a fake of the
    resolver, the one part of the network the tests cannot reach); other names as usual."""
    names: dict[str, list[str]] = {
        "moodle.kommune.intern": [INTERNAL_ADDRESS],
        "intranett.kommune.intern": ["10.20.99.1"],
        "printer.kommune.intern": ["192.168.1.5"],
        "split.kommune.intern": ["10.20.30.41", "192.168.1.6"],
    }
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))
                for address in names[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def _internal(body: Any, site: str) -> Any:
    return json.loads(json.dumps(body).replace(MOODLE, site))


def fake_internal_moodle(http, site: str = INTERNAL_MOODLE) -> None:
    http.add(
        responses.GET,
        site + "/mod/lti/openid-configuration.php",
        json=_internal(moodle_configuration(), site),
    )
    http.add(
        responses.POST,
        site + "/mod/lti/openid-registration.php",
        json=_internal(moodle_answer(), site),
    )


def register_internal(app, site: str = INTERNAL_MOODLE, language: str = "nb"):
    result = app.test_cli_runner().invoke(args=["registration-url", "--organisation", "Kommune"])
    path = "/lti/register/" + result.output.strip().split("/lti/register/", 1)[1]
    return app.test_client().get(
        path,
        query_string={
            "openid_configuration": site + "/mod/lti/openid-configuration.php",
            "registration_token": MOODLE_TOKEN,
        },
        headers={"Accept-Language": language},
    )


def test_production_refuses_a_moodle_on_the_municipalitys_network_by_default(
    app, make_app, mocked_http, internal_dns
):
    production = make_app(APP_ENV="production")
    fake_internal_moodle(mocked_http)

    response = register_internal(production)

    assert response.status_code == 502
    html = page(response)
    assert "<code>platform_on_private_host</code>" in html
    assert "moodle.kommune.intern" in html and "REGISTRATION_ALLOWED_HOSTS" in html
    assert len(mocked_http.calls) == 0
    assert platforms(production) == []


@pytest.mark.parametrize(
    "allowed",
    [
        "moodle.kommune.intern",
        "MOODLE.kommune.intern.",  # case and a trailing dot do not matter
        "10.20.0.0/16",
        "10.20.30.40",
        "moodle.other.intern, 10.20.30.0/24",
    ],
)
def test_the_named_moodle_registers_with_only_the_allow_list_set(
    app, make_app, mocked_http, internal_dns, allowed
):
    production = make_app(APP_ENV="production", REGISTRATION_ALLOWED_HOSTS=allowed)
    fake_internal_moodle(mocked_http)

    response = register_internal(production)

    assert response.status_code == 200, page(response)
    (platform,) = platforms(production)
    assert platform.issuer == INTERNAL_MOODLE
    assert platform.client_id == MOODLE_CLIENT_ID
    assert [d.deployment_id for d in platform.deployments] == [MOODLE_DEPLOYMENT_ID]
    (post,) = calls(mocked_http, "POST", INTERNAL_MOODLE + "/mod/lti/openid-registration.php")
    sent = json.loads(post.body)
    assert sent["client_name#nn"] == sent["client_name#en"] == "Læringsløp"
    assert sent[TOOL_CONFIGURATION]["description#en"].startswith("Role-based competence")


@pytest.mark.parametrize(
    ("allowed", "site"),
    [
        ("moodle.kommune.intern", "https://intranett.kommune.intern"),  # another name
        ("10.20.0.0/16", "https://printer.kommune.intern"),  # outside the range
        ("10.20.0.0/16", "https://split.kommune.intern"),  # one address outside the range
        ("moodle.kommune.intern", "http://127.0.0.1:8080"),
        ("10.20.0.0/16", "http://169.254.169.254"),
    ],
)
def test_other_internal_hosts_stay_refused(app, make_app, mocked_http, internal_dns, allowed, site):
    production = make_app(APP_ENV="production", REGISTRATION_ALLOWED_HOSTS=allowed)
    fake_internal_moodle(mocked_http, site)

    response = register_internal(production, site)

    assert response.status_code == 502
    assert "<code>platform_on_private_host</code>" in page(response)
    assert len(mocked_http.calls) == 0
    assert platforms(production) == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "legger verktøyets driftsansvarlige til vertsnavnet"),
        ("nn", "legg driftsansvarleg for verktøyet til vertsnamnet"),
        ("en", "the tool's operator adds its host name or address range"),
    ],
)
def test_the_refusal_of_an_internal_host_is_translated(
    app, make_app, mocked_http, internal_dns, language, expected
):
    production = make_app(APP_ENV="production")
    response = register_internal(production, language=language)
    assert response.status_code == 502
    html = page(response)
    assert expected in html
    assert "moodle.kommune.intern" in html and "REGISTRATION_ALLOWED_HOSTS" in html


def test_the_allow_list_applies_where_private_hosts_are_refused_only(
    app, make_app, mocked_http, internal_dns
):
    """REGISTRATION_ALLOW_PRIVATE_HOSTS=true (the default outside production) allows every
    internal host, with or without the list."""
    open_ = make_app(REGISTRATION_ALLOW_PRIVATE_HOSTS="true", REGISTRATION_ALLOWED_HOSTS="x.y")
    fake_internal_moodle(mocked_http, "https://intranett.kommune.intern")
    response = register_internal(open_, "https://intranett.kommune.intern")
    assert response.status_code == 200, page(response)
