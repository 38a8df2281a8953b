"""A real LTI 1.3 platform, small: the demo LMS at /demo, and the test suite's platform.

It has its own RSA key and JWKS, answers the tool's OIDC authorization request with a
signed id_token shaped like Moodle 5.2's (see shared/lms-samples), and can sign anything a
test needs to show a refusal (wrong audience, expired, another key, ``alg: none``…). Like
Moodle's ``auth.php`` it accepts each login's ``lti_message_hint`` once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization

from lti_tool.lti import claims as c
from lti_tool.lti.keys import (
    generate_private_pem,
    load_private_pem,
    rsa_public_jwk,
    write_private_file,
)

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@dataclasses.dataclass(frozen=True)
class Persona:
    key: str
    sub: str
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


PERSONAS: dict[str, Persona] = {
    p.key: p
    for p in (
        Persona(
            "learner",
            "101",
            "Demo",
            "Ansatt",
            "ansatt@demokommune.example",
            (LIS + "membership#Learner",),
        ),
        Persona(
            "learner2",
            "104",
            "Kari",
            "Nilsen",
            "kari.nilsen@demokommune.example",
            (LIS + "membership#Learner",),
        ),
        Persona(
            "learner3",
            "105",
            "Ola",
            "Hansen",
            "ola.hansen@demokommune.example",
            (LIS + "membership#Learner",),
        ),
        Persona(
            "designer",
            "102",
            "Demo",
            "Kursutvikler",
            "kursutvikler@demokommune.example",
            (LIS + "membership#Instructor",),
        ),
        Persona(
            "manager",
            "103",
            "Demo",
            "Enhetsleder",
            "leder@demokommune.example",
            (LIS + "membership#Manager",),
        ),
        Persona(
            "admin",
            "2",
            "Demo",
            "Administrator",
            "admin@demokommune.example",
            (
                LIS + "institution/person#Administrator",
                LIS + "membership#Instructor",
                LIS + "system/person#Administrator",
            ),
        ),
    )
}


AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
#: The course's link to the tool that an administrator adds by hand (no grades).
DEFAULT_LINK_ID = "1"


@dataclasses.dataclass
class PlacedLink:
    """A resource link in the course, as a deep-linking response created it."""

    id: str
    title: str
    custom: dict[str, str] = dataclasses.field(default_factory=dict)
    lineitem: str | None = None
    """Its gradebook column's URL (Moodle: ``…/lineitems/<n>/lineitem?type_id=1``)."""


class AuthRequestError(ValueError):
    """The tool's authorization request is not one this platform accepts."""


class DemoPlatform:
    """One platform (issuer) with one client registration of the tool."""

    token_lifetime = 60  # Moodle's id_tokens live 60 seconds

    def __init__(
        self,
        issuer: str,
        client_id: str,
        deployment_id: str,
        private_pem: bytes,
        kid: str,
        tool_launch_url: str,
        tool_login_url: str,
        custom_by_persona: Mapping[str, Mapping[str, str]] | None = None,
        links: Mapping[str, PlacedLink] | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.private_pem = private_pem
        self.kid = kid
        self.tool_launch_url = tool_launch_url
        self.tool_login_url = tool_login_url
        #: Extra custom parameters per persona, as an LMS fills them from user fields.
        self.custom_by_persona = custom_by_persona or {}
        #: Links placed in the course by deep linking, by resource link id.
        self.links: dict[str, PlacedLink] = dict(links or {})
        self._key = load_private_pem(private_pem)
        #: The message hints its authorization endpoint has answered (see :meth:`authorize`).
        self.used_hints: set[str] = set()
        #: Whether launches carry the NRPS claim (Moodle's default for registered tools).
        self.offers_nrps = True

    # --- the platform's URLs (relative to its issuer) ----------------------------------

    @property
    def auth_url(self) -> str:
        return self.issuer + "/auth"

    @property
    def token_url(self) -> str:
        return self.issuer + "/token"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks.json"

    @property
    def lineitems_url(self) -> str:
        """The course's line-item container, shaped like Moodle's (course 2, tool type 1)."""
        return self.issuer + "/mod/lti/services.php/2/lineitems?type_id=1"

    @property
    def memberships_url(self) -> str:
        """The course's NRPS memberships URL, shaped like Moodle's (course 2, tool type 1)."""
        return self.issuer + "/mod/lti/services.php/CourseSection/2/bindings/1/memberships"

    def lineitem_url(self, number: int) -> str:
        return self.issuer + f"/mod/lti/services.php/2/lineitems/{number}/lineitem?type_id=1"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [rsa_public_jwk(self._key.public_key(), self.kid)]}

    # --- step 1: third-party initiated login -------------------------------------------

    def login_params(
        self,
        persona: str = "learner",
        *,
        message_type: str = c.RESOURCE_LINK_REQUEST,
        locale: str = "nb",
        storage_target: str | None = None,
        canvas_style: bool = False,
        link: str | None = None,
    ) -> dict[str, str]:
        """What the platform sends to the tool's login URL (Moodle's shape by default)."""
        # A new launch id in every login, as Moodle's hint names the launch it started.
        hint = {
            "persona": persona,
            "message_type": message_type,
            "locale": locale,
            "launch": uuid.uuid4().hex,
        }
        if link is not None:
            hint["link"] = link
        params = {
            "iss": self.issuer,
            "login_hint": PERSONAS[persona].sub,
            "target_link_uri": self.tool_launch_url,
            "lti_message_hint": json.dumps(hint, separators=(",", ":")),
            "client_id": self.client_id,
        }
        if canvas_style:  # Canvas names it deployment_id and adds its own fields
            params["deployment_id"] = self.deployment_id
            params["canvas_region"] = "not_configured"
            params["canvas_environment"] = "prod"
        else:
            params["lti_deployment_id"] = self.deployment_id
        if storage_target:
            params["lti_storage_target"] = storage_target
        return params

    def login_url(self, persona: str = "learner", **kwargs: Any) -> str:
        return self.tool_login_url + "?" + urlencode(self.login_params(persona, **kwargs))

    # --- step 2: the authorization request, answered with a signed id_token -------------

    def authorize(
        self, query: Mapping[str, str], first_use: Callable[[str], bool] | None = None
    ) -> tuple[str, dict[str, str]]:
        """Check the tool's auth request; return where to POST and the form to POST.

        Each ``lti_message_hint`` is accepted once, as Moodle's ``auth.php`` does (it forgets
        the launch after the first authorization request: "Invalid request" after that).
        ``first_use(hint)`` records a hint and says whether it was new; by default this
        platform object remembers the hints itself.
        """
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self.client_id,
        }
        for name, value in expected.items():
            if query.get(name) != value:
                raise AuthRequestError(f"{name} must be {value!r}")
        if query.get("redirect_uri") != self.tool_launch_url:
            raise AuthRequestError("redirect_uri is not the registered launch URL")
        for name in ("state", "nonce", "login_hint"):
            if not query.get(name):
                raise AuthRequestError(f"{name} missing")
        try:
            hint = json.loads(query.get("lti_message_hint") or "{}")
        except ValueError:
            raise AuthRequestError("lti_message_hint is not ours") from None
        if query.get("lti_message_hint") and not (first_use or self._first_use)(
            query["lti_message_hint"]
        ):
            raise AuthRequestError("lti_message_hint used before (Moodle: Invalid request)")
        persona = next((p for p in PERSONAS.values() if p.sub == query["login_hint"]), None)
        if persona is None:
            raise AuthRequestError("unknown login_hint")
        claims = self.launch_claims(
            persona.key,
            nonce=query["nonce"],
            message_type=hint.get("message_type", c.RESOURCE_LINK_REQUEST),
            locale=hint.get("locale", "nb"),
            link=hint.get("link"),
        )
        return query["redirect_uri"], {"id_token": self.sign(claims), "state": query["state"]}

    def _first_use(self, hint: str) -> bool:
        if hint in self.used_hints:
            return False
        self.used_hints.add(hint)
        return True

    def launch_claims(
        self,
        persona: str,
        *,
        nonce: str,
        message_type: str = c.RESOURCE_LINK_REQUEST,
        locale: str = "nb",
        now: int | None = None,
        link: str | None = None,
    ) -> dict[str, Any]:
        """The claims of a launch, as Moodle 5.2 shapes them.

        ``link`` names a placed link (its custom parameters and gradebook column come
        along); without it the launch is from the course's hand-made link, with no grades.
        """
        who = PERSONAS[persona]
        now = int(time.time()) if now is None else now
        claims: dict[str, Any] = {
            "nonce": nonce,
            "iat": now,
            "exp": now + self.token_lifetime,
            "iss": self.issuer,
            "aud": self.client_id,
            c.DEPLOYMENT_ID: self.deployment_id,
            c.TARGET_LINK_URI: self.tool_launch_url,
            "sub": who.sub,
            c.LTI + "lis": {"person_sourcedid": f"EMP-{who.key}", "course_section_sourcedid": ""},
            c.ROLES: list(who.roles),
            c.CONTEXT: {
                "id": "2",
                "label": "INFOSEC",
                "title": "Informasjonssikkerhet for ansatte",
                "type": ["CourseSection"],
            },
            c.MESSAGE_TYPE: message_type,
            "given_name": who.given_name,
            "family_name": who.family_name,
            "name": who.name,
            "email": who.email,
            c.LTI + "ext": {"user_username": who.key, "lms": "moodle-2"},
            c.LAUNCH_PRESENTATION: {
                "locale": locale,
                "document_target": "iframe",
                "return_url": self.issuer + "/course",
            },
            c.TOOL_PLATFORM: {
                "product_family_code": "moodle",
                "version": "2026020500",
                "guid": "demo-lms",
                "name": "Demokommune",
                "description": "Demo LMS",
            },
            c.VERSION: "1.3.0",
            c.CUSTOM: {
                "kommune": "demokommune",
                "course_label": "INFOSEC",
                **self.custom_by_persona.get(persona, {}),
            },
        }
        if self.offers_nrps:
            claims[c.NRPS] = {
                "context_memberships_url": self.memberships_url,
                "service_versions": ["1.0", "2.0"],
            }
        if message_type == c.DEEP_LINKING_REQUEST:
            claims[c.DEEP_LINKING_SETTINGS] = {
                "deep_link_return_url": self.issuer + "/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["frame", "iframe", "window"],
                "accept_copy_advice": False,
                "accept_multiple": True,
                "accept_unsigned": False,
                "auto_create": False,
                "can_confirm": False,
                "accept_lineitem": True,
                "title": "",
                "text": "",
                "data": "demo-" + uuid.uuid4().hex[:8],
            }
            claims[c.AGS_ENDPOINT] = {"scope": list(AGS_SCOPES), "lineitems": self.lineitems_url}
        else:
            placed = self.links.get(link or "") or PlacedLink(DEFAULT_LINK_ID, "Læringsløp")
            claims[c.RESOURCE_LINK] = {"title": placed.title, "description": "", "id": placed.id}
            claims[c.CUSTOM].update(placed.custom)
            if placed.lineitem:
                claims[c.AGS_ENDPOINT] = {
                    "scope": list(AGS_SCOPES),
                    "lineitems": self.lineitems_url,
                    "lineitem": placed.lineitem,
                }
        return claims

    def place(self, content_items: list[dict[str, Any]], lineitem_for: Any = None) -> list[str]:
        """Add the ltiResourceLink items of a deep-linking response to the course, as the
        LMS does; ``lineitem_for(item["lineItem"])`` makes the gradebook column and returns
        its URL. Returns the new links' ids."""
        added = []
        for item in content_items:
            if item.get("type") != "ltiResourceLink":
                continue
            link_id = str(len(self.links) + 2)  # "1" is the hand-made link
            lineitem = None
            if item.get("lineItem") and lineitem_for is not None:
                lineitem = lineitem_for(item["lineItem"])
            self.links[link_id] = PlacedLink(
                link_id,
                str(item.get("title") or ""),
                {str(k): str(v) for k, v in (item.get("custom") or {}).items()},
                lineitem,
            )
            added.append(link_id)
        return added

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        headers: Mapping[str, Any] | None = None,
        key: Any = None,
        algorithm: str = "RS256",
    ) -> str:
        all_headers = {"typ": "JWT", "kid": self.kid, **(headers or {})}
        return jwt.encode(
            dict(claims),
            key if key is not None else self._key,
            algorithm=algorithm,
            headers=all_headers,
        )


def load_or_create_key(path: Path) -> tuple[bytes, str]:
    """The demo platform's key, kept in the instance folder between runs."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_file(path, generate_private_pem())
    pem = path.read_bytes()
    return pem, key_id(pem)


def key_id(private_pem: bytes) -> str:
    """A kid derived from the public key, stable across restarts."""
    der = (
        load_private_pem(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "demo-" + hashlib.sha256(der).hexdigest()[:16]
