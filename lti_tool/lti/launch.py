"""Launch validation: the second leg of an LTI 1.3 launch, on pylti1p3's MessageLaunch.

pylti1p3 gives the structure (format decoding, registration lookup through our database
tool configuration); every check it leaves loose is done here instead: the state bound to
the browser, the nonce bound to the state and consumed once, the signature with a key from
the platform's JWKS (refetched once on an unknown kid), RS* algorithms only, iss/aud/azp,
exp/iat with leeway, the deployment (new ones recorded as pending), message type, version.
Identifiers the tool cannot keep as they came (a NUL, over 255 characters) refuse the
launch; other text loses its NUL characters, and a memberships URL the tool cannot keep is
no NRPS offer (``claims``, ``nrps``).
"""

from __future__ import annotations

import binascii
import dataclasses
import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

import jwt
import requests
from jwt.utils import base64url_decode, base64url_encode
from marshmallow import ValidationError
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.request import Request
from sqlalchemy.orm import Session

from lti_tool.errors import (
    DeploymentDisabled,
    DeploymentPending,
    ExpiredToken,
    InvalidClaims,
    InvalidToken,
    InvalidVersion,
    LaunchError,
    MissingDeployment,
    MissingNonce,
    PlatformDisabled,
    ReplayedLaunch,
    StateMismatch,
    TokenFromFuture,
    UnknownPlatform,
    UnsupportedMessage,
    WrongAudience,
    WrongIssuer,
)
from lti_tool.lti import claims as c
from lti_tool.lti import nrps
from lti_tool.lti.oidc import hash_secret
from lti_tool.lti.services import LtiServices
from lti_tool.lti.tool_config import DatabaseToolConf, ToolRegistration
from lti_tool.models import Deployment, Status
from lti_tool.services import platforms

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512")
#: Made once: a schema loads from any thread, and making one copies all its fields.
_CLAIMS = c.LaunchClaimsSchema()
#: What a base64url segment of a JWT may hold (without its padding).
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _JWS(jwt.PyJWS):
    """PyJWT's JWS with its segment check done by a regular expression: the same refusals
    (a character outside base64url, bad padding, a non-canonical encoding), where PyJWT
    tests each of an id_token's 2,000 or so characters in a Python generator."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if padding > 2 or (padding and len(segment) % 4 != 0):
            raise jwt.DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1 or not _BASE64URL.fullmatch(stripped):
            raise jwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise jwt.DecodeError(f"Invalid {name} padding") from err
        if base64url_encode(decoded) != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


class _JWT(jwt.PyJWT):
    def __init__(self) -> None:
        super().__init__()
        self._jws = _JWS(options=self._get_sig_options())


#: Decodes and verifies id_tokens (one for every thread: it keeps no state per token).
_ID_TOKENS = _JWT()
#: pylti1p3 makes an HTTP session per launch unless given one; the tool's calls to the
#: platform go through its own clients (``lti.ags``, ``lti.nrps``), never this one.
_UNUSED_HTTP = requests.Session()


class BrowserCheckNeeded(Exception):
    """No state cookie came with the launch; the browser must prove the state another way.

    Carries the stored login so the view can try LTI client-side storage, or offer to
    open the tool in a new window (where the platform did not offer storage).
    """

    def __init__(self, state: str, login: Mapping[str, Any]) -> None:
        super().__init__("state cookie missing")
        self.state = state
        self.login = login


@dataclasses.dataclass(frozen=True)
class ValidatedLaunch:
    claims: dict[str, Any]
    """The id_token's claims, without NUL characters and without an unusable NRPS claim."""
    registration: ToolRegistration
    deployment: Deployment
    message_type: str
    locale: str | None


class _FormRequest(Request):
    def __init__(self, form: Mapping[str, str], secure: bool) -> None:
        self._form = form
        self._secure = secure

    @property
    def session(self) -> None:
        return None

    def get_param(self, key: str) -> str:
        return self._form.get(key) or ""

    def is_secure(self) -> bool:
        return self._secure


class ToolMessageLaunch(MessageLaunch):
    def __init__(
        self,
        form: Mapping[str, str],
        *,
        session: Session,
        lti: LtiServices,
        state_cookie: str | None,
        same_origin_post: bool = False,
    ) -> None:
        self._session_db = session
        self._same_origin_post = same_origin_post
        self._state = ""
        self._lti = lti
        self._state_cookie = state_cookie
        self._login: dict[str, Any] = {}
        self._deployment: Deployment | None = None
        self._browser_check: BrowserCheckNeeded | None = None
        self._generation: Any = None
        """The registry's generation, read with the state (``registry_cache``)."""
        super().__init__(
            _FormRequest(form, lti.settings.is_https),
            DatabaseToolConf(session, lti.keyring),
            session_service=object(),  # type: ignore[arg-type]  # state lives in our store
            cookie_service=object(),  # type: ignore[arg-type]
            requests_session=_UNUSED_HTTP,
        )
        self._registration = None
        self._signature_verified = False  # a refusal before it may come from anyone

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)

    def validate(self) -> ToolMessageLaunch:
        self._validated = True
        try:
            self._validate_signature()
        except LaunchError as exc:
            exc.unsigned = not self._signature_verified
            raise
        if self._browser_check is not None:
            # Only a genuine id_token learns how to continue without the cookie.
            raise self._browser_check
        self.consume_state_and_nonce()
        self.validate_message()
        self.validate_deployment()
        return self

    def _validate_signature(self) -> None:
        """Everything up to the platform's signature and its claims: what fails before
        the signature is verified may come from anyone."""
        try:
            self.validate_jwt_format()
        except LtiException as exc:
            raise InvalidToken(str(exc)) from exc
        if not isinstance(self._jwt.get("header"), dict) or not isinstance(
            self._jwt.get("body"), dict
        ):
            raise InvalidToken("id_token header or payload is not a JSON object")
        self.validate_nonce_present()
        self.validate_state()
        self.validate_registration()
        self.validate_jwt_signature()

    # --- each check -------------------------------------------------------------------

    def validate_nonce_present(self) -> None:
        """A nonce the state store can look up: it is read before the signature is checked,
        so a forged one with NUL or of any length must be refused, not crash the lookup
        (PostgreSQL keeps no NUL; the database store's column holds 255 characters)."""
        nonce = self._jwt["body"].get("nonce")
        if not nonce or not isinstance(nonce, str):
            raise MissingNonce("id_token without nonce")
        if not c.storable_id(nonce):
            raise MissingNonce(f"id_token with an unusable nonce {nonce[:8]!r}…")

    def validate_state(self) -> ToolMessageLaunch:  # type: ignore[override]
        """The state must come back to the browser that started the login.

        The browser proves it with the secret set at login: from the state cookie, or
        (cookies blocked) from LTI platform storage, re-posted by the tool's own page. The
        state is only read here; it is used up once the token has been verified.
        """
        state = self._get_request_param("state")
        if not state:
            raise StateMismatch("launch without state")
        if not c.storable_id(state):  # looked up before the signature is checked
            raise StateMismatch(f"launch with an unusable state {state[:8]!r}…")
        nonce = self._jwt["body"]["nonce"]
        login, nonce_used, self._generation = self._lti.state_store.check_launch(
            state, nonce, self._lti.registry
        )
        if nonce_used:
            raise ReplayedLaunch(f"nonce {nonce[:8]}… used before")
        if login is None or "secret_hash" not in login:  # not a held login's key either
            raise StateMismatch("state unknown or expired")
        proof = self._state_cookie
        storage_secret = self._get_request_param("lti_storage_secret")
        if not proof and storage_secret:
            if not login.get("storage_target"):
                raise StateMismatch("storage secret for a login that offered no platform storage")
            if not self._same_origin_post:
                raise StateMismatch("storage secret not posted by the tool's own page")
            proof = storage_secret
        if proof:
            if not hmac.compare_digest(hash_secret(proof), login["secret_hash"]):
                raise StateMismatch("state does not belong to this browser")
        else:
            self._browser_check = BrowserCheckNeeded(state, login)
        if self._jwt["body"].get("nonce") != login["nonce"]:
            raise StateMismatch("nonce does not match the login")
        self._login = login
        self._state = state
        return self

    def validate_registration(self) -> ToolMessageLaunch:  # type: ignore[override]
        body = self._jwt["body"]
        issuer, client_id = self._login["iss"], self._login["client_id"]
        if body.get("iss") != issuer:
            raise WrongIssuer(f"iss {body.get('iss')!r}, login was from {issuer!r}")
        platform = self._lti.registry.platform(
            self._session_db, issuer, client_id, self._generation
        )
        if platform is None:
            raise UnknownPlatform(f"registration {issuer} / {client_id} gone since login")
        if platform.status != Status.ACTIVE:
            raise PlatformDisabled(f"platform {platform.id} disabled")
        self._registration = ToolRegistration(platform, self._lti.keyring)
        return self

    def validate_jwt_signature(self) -> ToolMessageLaunch:  # type: ignore[override]
        assert isinstance(self._registration, ToolRegistration)
        header = self._jwt.get("header", {})
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"id_token alg {alg!r} refused")
        platform = self._registration.platform
        key = self._lti.platform_keys.key_for(platform.jwks_url, header.get("kid"), alg)
        try:
            _ID_TOKENS.decode(
                self._get_id_token(),
                key=key.key,
                algorithms=[alg],
                audience=platform.client_id,
                issuer=platform.issuer,
                leeway=self._lti.settings.LTI_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except _CHECKED_AFTER_THE_SIGNATURE as exc:  # PyJWT verified the signature first
            self._signature_verified = True
            raise _claims_error(exc) from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from exc
        self._signature_verified = True
        aud = self._jwt["body"].get("aud")
        azp = self._jwt["body"].get("azp")
        if isinstance(aud, list) and len(aud) > 1 and azp is None:
            raise WrongAudience("several audiences and no azp")
        if azp is not None and azp != platform.client_id:
            raise WrongAudience(f"azp {azp!r} is not our client_id")
        return self

    def consume_state_and_nonce(self) -> None:
        """Use up the login and its nonce, atomically: a second copy of the token fails."""
        nonce = self._jwt["body"]["nonce"]
        ttl = self._lti.settings.LTI_NONCE_TTL_SECONDS
        state_unused, nonce_unused = self._lti.state_store.finish_launch(self._state, nonce, ttl)
        if not state_unused:
            raise ReplayedLaunch("state used by a concurrent launch")
        if not nonce_unused:
            raise ReplayedLaunch(f"nonce {nonce[:8]}… used concurrently")

    def validate_message(self) -> ToolMessageLaunch:  # type: ignore[override]
        body = self._jwt["body"]
        if body.get(c.VERSION) != "1.3.0":
            raise InvalidVersion(f"version claim {body.get(c.VERSION)!r}")
        message_type = body.get(c.MESSAGE_TYPE)
        if message_type not in c.SUPPORTED_MESSAGE_TYPES:
            raise UnsupportedMessage(f"message_type {message_type!r}")
        try:
            _CLAIMS.load(body)
        except ValidationError as exc:
            raise InvalidClaims(f"claims: {exc.messages}") from exc
        return self

    def validate_deployment(self) -> ToolMessageLaunch:  # type: ignore[override]
        assert isinstance(self._registration, ToolRegistration)
        deployment_id = self._jwt["body"].get(c.DEPLOYMENT_ID)
        if not isinstance(deployment_id, str) or not c.storable_id(deployment_id):
            raise MissingDeployment(f"unusable deployment_id {deployment_id!r:.80}")
        platform = self._registration.platform
        deployment = self._lti.registry.deployment(
            self._session_db, platform, deployment_id, self._generation
        ) or platforms.record_deployment(self._session_db, platform, deployment_id)
        if deployment.status == Status.PENDING:
            raise DeploymentPending(
                f"deployment {deployment_id!r} of platform {deployment.platform_id} pending",
                commit=True,
            )
        if deployment.status == Status.DISABLED:
            raise DeploymentDisabled(f"deployment {deployment.id} disabled")
        self._deployment = deployment
        return self

    def _payload_json(self) -> bytes:
        """The id_token's payload as the JSON text it was sent as (decoded and verified
        already: its segment is well formed)."""
        return base64url_decode(self._get_id_token().split(".")[1].encode())

    def result(self) -> ValidatedLaunch:
        assert isinstance(self._registration, ToolRegistration) and self._deployment is not None
        body = dict(self._jwt["body"])
        if c.NRPS in body and nrps.memberships_url_from_claims(body) is None:
            del body[c.NRPS]  # not offered, or a URL the tool cannot keep: no roster
        if c.json_may_hold_nul(self._payload_json()):  # most hold none: no walk then
            body = c.without_nul(body)  # text PostgreSQL cannot store; ids checked before
        presentation = body.get(c.LAUNCH_PRESENTATION)
        if not isinstance(presentation, dict):
            presentation = {}
        return ValidatedLaunch(
            claims=body,
            registration=self._registration,
            deployment=self._deployment,
            message_type=str(body[c.MESSAGE_TYPE]),
            locale=c.normalise_locale(presentation.get("locale")),
        )


#: What PyJWT raises on a token's claims, which it checks once the signature is verified.
_CHECKED_AFTER_THE_SIGNATURE = (
    jwt.ExpiredSignatureError,
    jwt.ImmatureSignatureError,
    jwt.InvalidAudienceError,
    jwt.InvalidIssuerError,
    jwt.MissingRequiredClaimError,
    jwt.InvalidIssuedAtError,
)


def _claims_error(exc: jwt.InvalidTokenError) -> LaunchError:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return ExpiredToken(str(exc))
    if isinstance(exc, jwt.ImmatureSignatureError):
        return TokenFromFuture(str(exc))
    if isinstance(exc, jwt.InvalidAudienceError):
        return WrongAudience(str(exc))
    if isinstance(exc, jwt.InvalidIssuerError):
        return WrongIssuer(str(exc))
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return InvalidClaims(str(exc))
    return InvalidToken(f"{type(exc).__name__}: {exc}")


def validate_launch(
    session: Session,
    lti: LtiServices,
    form: Mapping[str, str],
    state_cookie: str | None,
    same_origin_post: bool = False,
) -> ValidatedLaunch:
    """Validate an id_token POSTed to /lti/launch, or raise a LaunchError saying why."""
    if not form.get("id_token"):
        missing = InvalidToken("launch without id_token")
        missing.unsigned = True
        raise missing
    launch = ToolMessageLaunch(
        form,
        session=session,
        lti=lti,
        state_cookie=state_cookie,
        same_origin_post=same_origin_post,
    )
    return launch.validate().result()
