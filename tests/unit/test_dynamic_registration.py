"""The LMS side of Dynamic Registration: which platform configurations are accepted."""

from __future__ import annotations

from typing import Any

import pytest

from lti_tool.errors import PlatformConfigurationInvalid, PlatformUnsupported
from lti_tool.lti.registration import PLATFORM_CONFIGURATION, parse_platform_configuration


def configuration(issuer: str, family: str = "moodle", messages: Any = None) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/mod/lti/auth.php",
        "token_endpoint": issuer + "/mod/lti/token.php",
        "jwks_uri": issuer + "/mod/lti/certs.php",
        "registration_endpoint": issuer + "/mod/lti/openid-registration.php",
        PLATFORM_CONFIGURATION: {
            "product_family_code": family,
            "messages_supported": messages
            if messages is not None
            else [{"type": "LtiResourceLinkRequest"}],
        },
    }


@pytest.mark.parametrize(
    ("issuer", "served_from"),
    [
        ("https://moodle.example", "https://moodle.example/mod/lti/openid-configuration.php"),
        ("https://moodle.example", "https://moodle.example:443/mod/lti/openid-configuration.php"),
        ("https://MOODLE.example", "https://moodle.example/mod/lti/openid-configuration.php"),
        ("https://host.example/moodle", "https://host.example/moodle/mod/lti/c.php"),
        ("http://localhost:8080", "http://localhost:8080/mod/lti/openid-configuration.php"),
    ],
)
def test_the_issuer_is_the_origin_the_configuration_is_served_from(issuer, served_from):
    parsed = parse_platform_configuration(configuration(issuer), served_from)
    assert parsed.issuer == issuer
    assert parsed.product_family == "moodle"


@pytest.mark.parametrize(
    ("issuer", "served_from"),
    [
        ("https://other.example", "https://moodle.example/c.php"),
        ("http://moodle.example", "https://moodle.example/c.php"),
        ("https://moodle.example:8443", "https://moodle.example/c.php"),
        ("https://canvas.instructure.com", "https://canvas.kommune.example/c.php"),  # not canvas
    ],
)
def test_an_issuer_from_elsewhere_is_refused(issuer, served_from):
    with pytest.raises(PlatformConfigurationInvalid):
        parse_platform_configuration(configuration(issuer), served_from)


def test_canvas_may_name_its_shared_issuer():
    body = configuration("https://canvas.instructure.com", family="canvas")
    parsed = parse_platform_configuration(body, "https://canvas.kommune.example/c.php")
    assert parsed.is_canvas and parsed.host == "canvas.kommune.example"


def test_canvas_with_another_foreign_issuer_is_refused():
    body = configuration("https://evil.example", family="canvas")
    with pytest.raises(PlatformConfigurationInvalid):
        parse_platform_configuration(body, "https://canvas.kommune.example/c.php")


def test_messages_as_objects_or_strings():
    body = configuration(
        "https://moodle.example",
        messages=["LtiResourceLinkRequest", {"type": "LtiDeepLinkingRequest", "placements": ["X"]}],
    )
    parsed = parse_platform_configuration(body, "https://moodle.example/c.php")
    assert parsed.messages_supported == [
        {"type": "LtiResourceLinkRequest", "placements": []},
        {"type": "LtiDeepLinkingRequest", "placements": ["X"]},
    ]


@pytest.mark.parametrize("messages", [[], ["LtiDeepLinkingRequest"], [{"type": "Other"}]])
def test_a_platform_without_resource_links_is_refused(messages):
    body = configuration("https://moodle.example", messages=messages)
    with pytest.raises(PlatformUnsupported):
        parse_platform_configuration(body, "https://moodle.example/c.php")


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.pop(PLATFORM_CONFIGURATION),
        lambda b: b.pop("jwks_uri"),
        lambda b: b.update(token_endpoint="not a url"),
        lambda b: b[PLATFORM_CONFIGURATION].update(messages_supported=[42]),
    ],
)
def test_an_incomplete_configuration_is_refused(change):
    body = configuration("https://moodle.example")
    change(body)
    with pytest.raises(PlatformConfigurationInvalid):
        parse_platform_configuration(body, "https://moodle.example/c.php")


def test_a_configuration_that_is_not_an_object_is_refused():
    with pytest.raises(PlatformConfigurationInvalid):
        parse_platform_configuration(["not", "an", "object"], "https://moodle.example/c.php")


def test_scopes_are_none_when_the_platform_does_not_list_them():
    """The registration then asks for every scope the tool uses, not for none."""
    parsed = parse_platform_configuration(
        configuration("https://moodle.example"), "https://moodle.example/c.php"
    )
    assert parsed.scopes_supported is None
