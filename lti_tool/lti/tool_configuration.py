"""What the tool tells platforms about itself: its URLs, the LTI tool configuration for
Dynamic Registration, Canvas's developer-key JSON, and the values for Moodle's manual form.

One place for all of them, so that a registration by URL, by JSON and by hand agree.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

TOOL_NAME = "Læringsløp"
#: The name in each of the tool's languages (a proper name: the same in all three).
TOOL_NAMES = {"nb": TOOL_NAME, "nn": TOOL_NAME, "en": TOOL_NAME}
TOOL_DESCRIPTIONS = {
    "nb": "Rollebasert kompetanse for kommuner: basiskompetanse per rolle, kartlegging, "
    "læringsplaner og kursbevis.",
    "nn": "Rollebasert kompetanse for kommunar: basiskompetanse per rolle, kartlegging, "
    "læringsplanar og kursbevis.",
    "en": "Role-based competence for municipalities: baseline competence per role, "
    "assessment, learning plans and course certificates.",
}
#: The untagged description: bokmål, the tool's default language.
TOOL_DESCRIPTION = TOOL_DESCRIPTIONS["nb"]
TOOL_ID = "laeringslop"

AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
NRPS_SCOPES = ("https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",)
SCOPES = AGS_SCOPES + NRPS_SCOPES

#: Claims the tool asks the platform to share (names for the manager's documentation).
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email", "locale")

#: Custom parameters every placement sends (substitution variables both LMSs know).
CUSTOM_PARAMETERS = {"person_sourcedid": "$Person.sourcedId"}

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CANVAS = "https://canvas.instructure.com/lti/"


def tool_urls(base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "login_url": base + "/lti/login",
        "launch_url": base + "/lti/launch",
        "redirect_uri": base + "/lti/launch",
        "deep_linking_url": base + "/lti/launch",
        "jwks_url": base + "/lti/jwks.json",
        "domain": urlsplit(base).netloc,
        "icon_url": base + "/static/icon.svg",
    }


def language_tagged(name: str, values: dict[str, str]) -> dict[str, str]:
    """A human-readable field with a value per language: ``name`` (bokmål, the default) and
    ``name#nb``, ``name#nn``, ``name#en``, as OpenID Connect Dynamic Client Registration
    (section 2.1) tags ``client_name`` and LTI Dynamic Registration ``description`` and a
    message's ``label``."""
    return {name: values["nb"], **{f"{name}#{language}": values[language] for language in values}}


def _messages(urls: dict[str, str], product_family: str) -> list[dict[str, Any]]:
    """The messages the tool accepts, with the placements each LMS understands."""
    resource: dict[str, Any] = {
        "type": "LtiResourceLinkRequest",
        "target_link_uri": urls["launch_url"],
        **language_tagged("label", TOOL_NAMES),
    }
    deep_linking: dict[str, Any] = {
        "type": "LtiDeepLinkingRequest",
        "target_link_uri": urls["launch_url"],
        **language_tagged("label", TOOL_NAMES),
    }
    if product_family == "canvas":
        resource["placements"] = ["course_navigation"]
        deep_linking["placements"] = ["link_selection", "assignment_selection"]
        resource[CANVAS + "course_navigation/default_enabled"] = False
    else:  # Moodle and the spec: ContentArea is where "add an activity" lives
        deep_linking["placements"] = ["ContentArea"]
    return [resource, deep_linking]


def registration_request(
    base_url: str, product_family: str = "", supported_scopes: list[str] | None = None
) -> dict[str, Any]:
    """The client registration the tool POSTs in LTI Dynamic Registration."""
    urls = tool_urls(base_url)
    scopes = [s for s in SCOPES if supported_scopes is None or s in supported_scopes]
    configuration: dict[str, Any] = {
        "domain": urls["domain"],
        **language_tagged("description", TOOL_DESCRIPTIONS),
        "target_link_uri": urls["launch_url"],
        "custom_parameters": dict(CUSTOM_PARAMETERS),
        "claims": list(CLAIMS),
        "messages": _messages(urls, product_family),
    }
    if product_family == "canvas":
        configuration[CANVAS + "privacy_level"] = "public"  # else no names or emails
        configuration[CANVAS + "tool_id"] = TOOL_ID
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls["login_url"],
        "redirect_uris": [urls["redirect_uri"]],
        **language_tagged("client_name", TOOL_NAMES),
        "jwks_uri": urls["jwks_url"],
        "logo_uri": urls["icon_url"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: configuration,
    }


def canvas_developer_key(base_url: str) -> dict[str, Any]:
    """Canvas's LTI 1.3 developer-key JSON ("Paste JSON" when adding an LTI key)."""
    urls = tool_urls(base_url)
    return {
        "title": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": urls["login_url"],
        "target_link_uri": urls["launch_url"],
        "public_jwk_url": urls["jwks_url"],
        "scopes": list(SCOPES),
        "custom_fields": dict(CUSTOM_PARAMETERS),
        "extensions": [
            {
                "domain": urls["domain"],
                "tool_id": TOOL_ID,
                "platform": "canvas.instructure.com",
                "privacy_level": "public",
                "settings": {
                    "text": TOOL_NAME,
                    "icon_url": urls["icon_url"],
                    "placements": [
                        {
                            "placement": "course_navigation",
                            "message_type": "LtiResourceLinkRequest",
                            "target_link_uri": urls["launch_url"],
                            "text": TOOL_NAME,
                            "default": "disabled",
                        },
                        {
                            "placement": "link_selection",
                            "message_type": "LtiDeepLinkingRequest",
                            "target_link_uri": urls["launch_url"],
                            "text": TOOL_NAME,
                        },
                        {
                            "placement": "assignment_selection",
                            "message_type": "LtiDeepLinkingRequest",
                            "target_link_uri": urls["launch_url"],
                            "text": TOOL_NAME,
                        },
                    ],
                },
            }
        ],
    }


def moodle_manual_fields(base_url: str) -> list[tuple[str, str]]:
    """Field-by-field values for Moodle's "Configure a tool manually" form (labels as Moodle
    shows them in English)."""
    urls = tool_urls(base_url)
    custom = "\n".join(f"{k}={v}" for k, v in CUSTOM_PARAMETERS.items())
    return [
        ("Tool name", TOOL_NAME),
        ("Tool URL", urls["launch_url"]),
        ("Tool description", TOOL_DESCRIPTION),
        ("LTI version", "LTI 1.3"),
        ("Public key type", "Keyset URL"),
        ("Public keyset", urls["jwks_url"]),
        ("Initiate login URL", urls["login_url"]),
        ("Redirection URI(s)", urls["redirect_uri"]),
        ("Custom parameters", custom),
        ("Tool configuration usage", "Show in activity chooser and as a preconfigured tool"),
        ("Default launch container", "Embed, without blocks"),
        ("Supports Deep Linking (Content-Item Message)", "Yes"),
        ("Content Selection URL", urls["deep_linking_url"]),
        (
            "IMS LTI Assignment and Grade Services",
            "Use this service for grade sync and column management",
        ),
        (
            "IMS LTI Names and Role Provisioning",
            "Use this service to retrieve members' information as per privacy settings",
        ),
        ("Share launcher's name with tool", "Always"),
        ("Share launcher's email with tool", "Always"),
        ("Accept grades from the tool", "Always"),
    ]


#: What a tool admin enters for hosted Canvas (the same for every Canvas customer).
CANVAS_PLATFORM = {
    "issuer": "https://canvas.instructure.com",
    "auth_login_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "auth_token_url": "https://sso.canvaslms.com/login/oauth2/token",
    "jwks_url": "https://sso.canvaslms.com/api/lti/security/jwks",
}


def public_configuration(base_url: str) -> dict[str, Any]:
    """Everything for manual registration, as served at /lti/config.json."""
    urls = tool_urls(base_url)
    return {
        "title": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        **{k: v for k, v in urls.items() if k not in ("icon_url", "redirect_uri")},
        "redirect_uris": [urls["redirect_uri"]],
        "canvas_platform": dict(CANVAS_PLATFORM),
        "scopes": list(SCOPES),
        "claims": list(CLAIMS),
        "custom_parameters": dict(CUSTOM_PARAMETERS),
        "messages": _messages(urls, ""),
        "canvas_developer_key": canvas_developer_key(base_url),
        "moodle": dict(moodle_manual_fields(base_url)),
    }
