"""1EdTech Open Badges 3.0 credentials and their VC-JWT proof (OB 3.0 §8.2).

The JWT payload is the OpenBadgeCredential itself (VC Data Model 2.0, no ``vc`` wrapper) plus the
registered claims that mirror it: ``iss`` = issuer.id, ``jti`` = id, ``sub`` =
credentialSubject.id, ``nbf`` = validFrom and ``exp`` = validUntil. Pure: no Flask, no database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
ALGORITHM = "RS256"
_REGISTERED_CLAIMS = frozenset({"iss", "jti", "sub", "nbf", "exp"})

Reason = Literal["malformed", "unknown_key", "bad_signature", "claims_mismatch"]


@dataclasses.dataclass(frozen=True)
class Issuer:
    """The awarding organisation, serialised as an OB 3.0 ``Profile``."""

    id: str
    name: str
    url: str | None = None


@dataclasses.dataclass(frozen=True)
class Alignment:
    """A framework node the achievement aligns to; targetType is optional in OB 3.0."""

    target_name: str
    target_url: str
    target_code: str | None = None
    target_framework: str | None = None
    target_description: str | None = None
    target_type: str | None = "CFItem"


@dataclasses.dataclass(frozen=True)
class AchievementData:
    """What was achieved; achievement_type is an OB 3.0 AchievementType, e.g. Certificate."""

    id: str
    name: str
    description: str
    achievement_type: str
    criteria_narrative: str
    alignments: tuple[Alignment, ...] = ()
    language: str | None = None


@dataclasses.dataclass(frozen=True)
class StatusEntry:
    """The credential's revocation bit: which status list credential, which index in it."""

    list_credential_url: str
    index: int


@dataclasses.dataclass(frozen=True)
class VerifiedCredential:
    """Signature and claims hold. Time is reported, not enforced, yet OB 3.0 counts an expired
    or not-yet-valid credential as not valid."""

    credential: dict[str, Any]
    kid: str
    expired: bool
    not_yet_valid: bool


class CredentialInvalid(Exception):
    """The token cannot be trusted; ``reason`` says why in one machine-readable word."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason


def format_datetime(moment: dt.datetime) -> str:
    """A DateTimeZ in UTC with whole seconds, so nbf/exp can mirror it exactly."""
    if moment.utcoffset() is None:
        raise ValueError("credential times must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_credential(
    *,
    credential_id: str,
    name: str,
    issuer: Issuer,
    subject_id: str,
    holder_name: str,
    achievement: AchievementData,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
    status: StatusEntry | None,
    description: str | None = None,
) -> dict[str, Any]:
    """An unsigned OpenBadgeCredential (OB 3.0 §B.1.2) for one holder and achievement."""
    if not _is_urn_uuid(subject_id):
        raise ValueError("subject_id must be a pseudonymous urn:uuid, never an address or name")
    valid_from_text = format_datetime(valid_from)
    valid_until_text = None if valid_until is None else format_datetime(valid_until)
    if valid_until is not None and valid_until <= valid_from:
        raise ValueError("valid_until must be after valid_from")
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": name,
    }
    if description is not None:
        credential["description"] = description
    credential["issuer"] = _profile(issuer)
    credential["validFrom"] = valid_from_text
    if valid_until_text is not None:
        credential["validUntil"] = valid_until_text
    credential["credentialSubject"] = {
        "id": subject_id,
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityHash": holder_name,
                "identityType": "name",
                "hashed": False,
            }
        ],
        "achievement": _achievement(achievement),
    }
    if status is not None:
        credential["credentialStatus"] = _status_entry(status)
    return credential


def sign_credential(
    credential: dict[str, Any], private_key_pem: str | bytes | rsa.RSAPrivateKey, kid: str
) -> str:
    """The credential as a Compact JWS.

    OB 3.0 wants ``kid`` to be a URI that dereferences to the public JWK, and allows no header
    beyond alg, kid, jwk and typ.
    """
    claims: dict[str, Any] = {
        "iss": credential["issuer"]["id"],
        "jti": credential["id"],
        "sub": credential["credentialSubject"]["id"],
        "nbf": _numeric_date(credential["validFrom"]),
    }
    if "validUntil" in credential:
        claims["exp"] = _numeric_date(credential["validUntil"])
    return jwt.encode(
        {**credential, **claims},
        private_key_pem,
        algorithm=ALGORITHM,
        headers={"kid": kid, "typ": "JWT"},
    )


def verify_credential(
    token: str, jwks: dict[str, Any], now: dt.datetime | None = None
) -> VerifiedCredential:
    """Check signature and claims; expiry is a flag so callers can say "expired", not "invalid"."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise CredentialInvalid("malformed", str(exc)) from exc
    if header.get("alg") != ALGORITHM:
        raise CredentialInvalid("bad_signature", f"alg {header.get('alg')!r} is not {ALGORITHM}")
    kid = header.get("kid")
    if kid is None:
        raise CredentialInvalid("unknown_key", "the header names no kid")
    key = _find_key(jwks, kid)
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise CredentialInvalid("bad_signature", str(exc)) from exc
    except jwt.DecodeError as exc:
        raise CredentialInvalid("malformed", str(exc)) from exc
    except jwt.InvalidTokenError as exc:
        raise CredentialInvalid("claims_mismatch", str(exc)) from exc
    credential = {k: v for k, v in payload.items() if k not in _REGISTERED_CLAIMS}
    valid_from, valid_until = _check_claims(payload, credential)
    now = now or dt.datetime.now(dt.UTC)
    return VerifiedCredential(
        credential=credential,
        kid=kid,
        expired=valid_until is not None and now >= valid_until,
        not_yet_valid=now < valid_from,
    )


def _is_urn_uuid(value: str) -> bool:
    if not value.startswith("urn:uuid:"):
        return False
    try:
        uuid.UUID(value.removeprefix("urn:uuid:"))
    except ValueError:
        return False
    return True


def _profile(issuer: Issuer) -> dict[str, Any]:
    profile: dict[str, Any] = {"id": issuer.id, "type": ["Profile"], "name": issuer.name}
    if issuer.url is not None:
        profile["url"] = issuer.url
    return profile


def _achievement(achievement: AchievementData) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": achievement.id,
        "type": ["Achievement"],
        "achievementType": achievement.achievement_type,
        "name": achievement.name,
        "description": achievement.description,
        "criteria": {"narrative": achievement.criteria_narrative},
    }
    if achievement.alignments:
        data["alignment"] = [_alignment(a) for a in achievement.alignments]
    if achievement.language is not None:
        data["inLanguage"] = achievement.language
    return data


def _alignment(alignment: Alignment) -> dict[str, Any]:
    optional = {
        "targetCode": alignment.target_code,
        "targetFramework": alignment.target_framework,
        "targetDescription": alignment.target_description,
        "targetType": alignment.target_type,
    }
    return {
        "type": ["Alignment"],
        "targetName": alignment.target_name,
        "targetUrl": alignment.target_url,
        **{k: v for k, v in optional.items() if v is not None},
    }


def _status_entry(status: StatusEntry) -> dict[str, Any]:
    if status.index < 0:
        raise ValueError("a status list index is never negative")
    url = status.list_credential_url
    return {
        "id": f"{url}#{status.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(status.index),
        "statusListCredential": url,
    }


def _numeric_date(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def _find_key(jwks: dict[str, Any], kid: str) -> jwt.PyJWK:
    for jwk in jwks.get("keys", []):
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            try:
                return jwt.PyJWK(jwk, algorithm=ALGORITHM)
            except jwt.PyJWTError as exc:
                raise CredentialInvalid("unknown_key", f"kid {kid!r} is no RSA key") from exc
    raise CredentialInvalid("unknown_key", f"kid {kid!r} is not in the JWKS")


def _check_claims(
    payload: dict[str, Any], credential: dict[str, Any]
) -> tuple[dt.datetime, dt.datetime | None]:
    """OB 3.0 "Verify a Credential VC-JWT Signature": each claim must mirror the credential."""
    issuer = credential.get("issuer")
    subject = credential.get("credentialSubject")
    expected = {
        "iss": issuer.get("id") if isinstance(issuer, dict) else None,
        "jti": credential.get("id"),
        "sub": subject.get("id") if isinstance(subject, dict) else None,
    }
    for claim, value in expected.items():
        if value is None or payload.get(claim) != value:
            raise CredentialInvalid("claims_mismatch", f"{claim} does not match the credential")
    valid_from = _parse_time(credential.get("validFrom"))
    if valid_from is None or not _same_instant(payload.get("nbf"), valid_from):
        raise CredentialInvalid("claims_mismatch", "nbf does not match validFrom")
    valid_until = _parse_time(credential.get("validUntil"))
    if ("validUntil" in credential or "exp" in payload) and (
        valid_until is None or not _same_instant(payload.get("exp"), valid_until)
    ):
        raise CredentialInvalid("claims_mismatch", "exp does not match validUntil")
    return valid_from, valid_until


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _same_instant(claim: Any, moment: dt.datetime) -> bool:
    is_number = isinstance(claim, int | float) and not isinstance(claim, bool)
    return is_number and claim == moment.timestamp()
