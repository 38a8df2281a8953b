"""LTI Dynamic Registration 1.0, the LMS side: what the platform sends and answers.

The platform opens the tool's registration URL with ``openid_configuration`` and
``registration_token``; the tool reads the platform's OpenID configuration, then POSTs its
client registration to the platform's ``registration_endpoint`` and reads back the
``client_id`` (and, from Moodle, a ``deployment_id``). Everything that comes in goes through
a schema; every failure becomes a :class:`~lti_tool.errors.RegistrationError` whose detail the
administrator sees.

Spec: https://www.imsglobal.org/spec/lti-dr/v1p0
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from lti_tool.errors import (
    PlatformConfigurationInvalid,
    PlatformUnsupported,
    PrivateHostRefused,
    RegistrationParameterMissing,
    RegistrationPlatformUnreachable,
    RegistrationRejected,
    RegistrationResponseInvalid,
)
from lti_tool.lti.allowed_hosts import NO_HOSTS, AllowedHosts
from lti_tool.lti.claims import RESOURCE_LINK_REQUEST
from lti_tool.lti.platform_keys import USER_AGENT
from lti_tool.lti.tool_configuration import TOOL_CONFIGURATION

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"

#: Canvas's issuer for every hosted customer, while the configuration is served from the
#: customer's own host (kommune.instructure.com or a vanity domain).
CANVAS_ISSUERS = frozenset(
    {
        "https://canvas.instructure.com",
        "https://canvas.beta.instructure.com",
        "https://canvas.test.instructure.com",
    }
)
#: Where hosted Canvas serves authorization, tokens and keys (and subdomains of these).
CANVAS_HOSTS = ("instructure.com", "canvaslms.com")

#: How much of a platform's error body the administrator is shown.
MAX_DETAIL = 4000


def _url(**kwargs: Any) -> fields.Url:
    return fields.Url(require_tld=False, schemes={"http", "https"}, **kwargs)


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


class _InitiationSchema(_Base):
    """The query string the platform opens the registration URL with."""

    openid_configuration = _url(required=True)
    registration_token = fields.String(load_default="")


class _MessageField(fields.Field):
    """A supported message: ``{"type": …, "placements": […]}`` as the spec has it, or the
    plain string older Moodle sends."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, str) and value:
            return {"type": value, "placements": []}
        if isinstance(value, Mapping) and isinstance(value.get("type"), str):
            placements = value.get("placements") or []
            if not isinstance(placements, list):
                raise ValidationError("placements must be a list")
            return {"type": value["type"], "placements": [str(p) for p in placements]}
        raise ValidationError("a message is an object with a type, or a message type name")


class _PlatformConfigurationSchema(_Base):
    product_family_code = fields.String(required=True)
    version = fields.String(load_default="")
    messages_supported = fields.List(_MessageField(), required=True)


class _OpenIdConfigurationSchema(_Base):
    issuer = _url(required=True)
    authorization_endpoint = _url(required=True)
    token_endpoint = _url(required=True)
    jwks_uri = _url(required=True)
    registration_endpoint = _url(required=True)
    scopes_supported = fields.List(fields.String(), load_default=None)
    """None when the platform does not say: the tool then asks for all its scopes."""
    platform = fields.Nested(
        _PlatformConfigurationSchema, required=True, data_key=PLATFORM_CONFIGURATION
    )


class _IdField(fields.Field):
    """An identifier platforms send as a string or a number."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise ValidationError("must be a non-empty string")
        return str(value).strip()


class _ToolConfigurationSchema(_Base):
    deployment_id = _IdField(load_default=None)


class _RegistrationResponseSchema(_Base):
    client_id = _IdField(required=True)
    tool_configuration = fields.Nested(
        _ToolConfigurationSchema, load_default=None, data_key=TOOL_CONFIGURATION
    )


@dataclasses.dataclass(frozen=True)
class Initiation:
    openid_configuration: str
    registration_token: str


@dataclasses.dataclass(frozen=True)
class PlatformConfiguration:
    """What the tool needs from the platform's OpenID configuration."""

    configuration_url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    scopes_supported: list[str] | None
    product_family: str
    version: str
    messages_supported: list[dict[str, Any]]

    @property
    def is_canvas(self) -> bool:
        return self.product_family == "canvas"

    @property
    def host(self) -> str:
        """Where the configuration was served: the customer's host, also for Canvas."""
        return urlsplit(self.configuration_url).netloc


@dataclasses.dataclass(frozen=True)
class ClientRegistration:
    """The platform's answer: the tool's client id, and a deployment id when it made one."""

    client_id: str
    deployment_id: str | None


def parse_initiation(params: Mapping[str, str]) -> Initiation:
    try:
        loaded = _InitiationSchema().load(dict(params))
    except ValidationError as exc:
        raise RegistrationParameterMissing(_messages(exc)) from exc
    return Initiation(loaded["openid_configuration"], loaded["registration_token"].strip())


def _headers(registration_token: str) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if registration_token:  # Canvas wants it on the configuration GET too; Moodle checks it
        headers["Authorization"] = "Bearer " + registration_token
    return headers


#: Bigger answers are not a platform's configuration or registration: refuse to read on.
MAX_RESPONSE_BYTES = 1024 * 1024


def check_outbound_url(url: str, allow_private: bool, allowed: AllowedHosts = NO_HOSTS) -> None:
    """Refuse to call internal addresses on behalf of whoever opened a registration URL.

    The registration URL is opened by a browser with parameters it chose: without this,
    ``openid_configuration`` could make the tool fetch (and show) internal services. Every
    address the host name resolves to must be public, or admitted by ``allowed``
    (REGISTRATION_ALLOWED_HOSTS): a name that resolves to one public and one internal
    address is refused too.
    """
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise RegistrationPlatformUnreachable(f"{url}: cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global and not allowed.admits(host, address):
            raise PrivateHostRefused(
                f"{url}: {host} is a private or local address ({address}); add {host} or a "
                f"range holding {address} to REGISTRATION_ALLOWED_HOSTS to register this "
                "platform (REGISTRATION_ALLOW_PRIVATE_HOSTS=true would allow every internal "
                "host)",
                host=host,
            )


def _send(
    method: str,
    url: str,
    allow_private: bool,
    timeout: int,
    allowed: AllowedHosts = NO_HOSTS,
    **kwargs: Any,
) -> requests.Response:
    """One call to the platform: no redirects followed, no more than MAX_RESPONSE_BYTES."""
    check_outbound_url(url, allow_private, allowed)
    try:
        response = requests.request(
            method, url, allow_redirects=False, stream=True, timeout=timeout, **kwargs
        )
        content = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise RegistrationPlatformUnreachable(f"{method} {url}: {exc}") from exc
    if len(content) > MAX_RESPONSE_BYTES:
        raise PlatformConfigurationInvalid(f"{method} {url}: answer larger than 1 MB")
    response._content = content  # the body read under the cap, for .json()/.text
    return response


def fetch_platform_configuration(
    initiation: Initiation,
    timeout: int,
    allow_private: bool = True,
    allowed: AllowedHosts = NO_HOSTS,
) -> PlatformConfiguration:
    """GET and check the platform's OpenID configuration."""
    url = initiation.openid_configuration
    response = _send(
        "GET",
        url,
        allow_private,
        headers=_headers(initiation.registration_token),
        timeout=timeout,
        allowed=allowed,
    )
    if not response.ok:
        raise PlatformConfigurationInvalid(
            f"GET {url}: HTTP {response.status_code}\n{_body(response)}"
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise PlatformConfigurationInvalid(f"GET {url}: not JSON\n{_body(response)}") from exc
    return parse_platform_configuration(body, url)


def parse_platform_configuration(body: Any, configuration_url: str) -> PlatformConfiguration:
    try:
        loaded = _OpenIdConfigurationSchema().load(body if isinstance(body, Mapping) else {})
    except ValidationError as exc:
        raise PlatformConfigurationInvalid(f"{configuration_url}: {_messages(exc)}") from exc
    platform = loaded["platform"]
    configuration = PlatformConfiguration(
        configuration_url=configuration_url,
        issuer=loaded["issuer"],
        authorization_endpoint=loaded["authorization_endpoint"],
        token_endpoint=loaded["token_endpoint"],
        jwks_uri=loaded["jwks_uri"],
        registration_endpoint=loaded["registration_endpoint"],
        scopes_supported=loaded["scopes_supported"],
        product_family=platform["product_family_code"].strip().lower(),
        version=platform["version"],
        messages_supported=platform["messages_supported"],
    )
    _check_issuer(configuration)
    if not any(m["type"] == RESOURCE_LINK_REQUEST for m in configuration.messages_supported):
        raise PlatformUnsupported(
            f"{configuration_url}: messages_supported lacks {RESOURCE_LINK_REQUEST}: "
            + ", ".join(m["type"] for m in configuration.messages_supported)
        )
    return configuration


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _check_issuer(configuration: PlatformConfiguration) -> None:
    """The issuer is the host that serves the configuration, except Canvas's shared one."""
    if configuration.is_canvas and configuration.issuer.rstrip("/") in CANVAS_ISSUERS:
        # Anyone can claim to be hosted Canvas: its keys and endpoints must be Instructure's.
        for url in (
            configuration.authorization_endpoint,
            configuration.token_endpoint,
            configuration.jwks_uri,
        ):
            host = (urlsplit(url).hostname or "").lower()
            if not any(host == h or host.endswith("." + h) for h in CANVAS_HOSTS):
                raise PlatformConfigurationInvalid(
                    f"{url}: hosted Canvas ({configuration.issuer}) serves its endpoints "
                    f"from {', '.join(CANVAS_HOSTS)}"
                )
        return
    if _origin(configuration.issuer) != _origin(configuration.configuration_url):
        raise PlatformConfigurationInvalid(
            f"issuer {configuration.issuer} does not match the origin of "
            f"{configuration.configuration_url}"
        )


def register_client(
    configuration: PlatformConfiguration,
    registration_token: str,
    client: Mapping[str, Any],
    timeout: int,
    allow_private: bool = True,
    allowed: AllowedHosts = NO_HOSTS,
) -> ClientRegistration:
    """POST the tool's client registration; return what the platform made of it."""
    url = configuration.registration_endpoint
    headers = {**_headers(registration_token), "Content-Type": "application/json"}
    response = _send(
        "POST",
        url,
        allow_private,
        data=json.dumps(client).encode(),
        headers=headers,
        timeout=timeout,
        allowed=allowed,
    )
    if not response.ok:  # Canvas answers 422 with its own error body: show it
        raise RegistrationRejected(f"POST {url}: HTTP {response.status_code}\n{_body(response)}")
    try:
        body = response.json()
        loaded = _RegistrationResponseSchema().load(body if isinstance(body, Mapping) else {})
    except (ValueError, ValidationError) as exc:
        detail = _messages(exc) if isinstance(exc, ValidationError) else "not JSON"
        raise RegistrationResponseInvalid(f"POST {url}: {detail}\n{_body(response)}") from exc
    tool_configuration = loaded["tool_configuration"] or {}
    return ClientRegistration(loaded["client_id"], tool_configuration.get("deployment_id"))


def _body(response: requests.Response) -> str:
    """A JSON error body for the administrator (Canvas explains its 422s there).

    Anything else is only described, not shown: the page must not become a window onto
    whatever the given URL serves.
    """
    try:
        text = json.dumps(response.json(), indent=2, ensure_ascii=False)
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type")
        return f"({len(response.content)} bytes of {kind}, not shown)"
    return text[:MAX_DETAIL] + ("…" if len(text) > MAX_DETAIL else "")


def _messages(exc: ValidationError) -> str:
    return json.dumps(exc.messages, ensure_ascii=False, sort_keys=True)
