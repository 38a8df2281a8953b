"""Open Badges 3.0 credentials as VC-JWT, checked with joserfc (a JOSE library independent of the
PyJWT that signs them), and the Bitstring Status List their credentialStatus points at."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import gzip
import hashlib
import hmac
import json
import random
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from lti_tool.credentials.open_badges import (
    OB_CONTEXT,
    VC_CONTEXT,
    AchievementData,
    Alignment,
    CredentialInvalid,
    Issuer,
    StatusEntry,
    build_credential,
    format_datetime,
    sign_credential,
    verify_credential,
)
from lti_tool.credentials.status_list import (
    MIN_ENTRIES,
    StatusListFull,
    build_status_list_credential,
    decode_list,
    encode_list,
    is_set,
    pick_free_index,
)
from lti_tool.lti.keys import rsa_public_jwk

KID = "https://tool.example/credentials/keys#k1"
ISSUER = Issuer(id="https://tool.example/issuer", name="Læringsløp", url="https://kommune.example")
SUBJECT_ID = "urn:uuid:7d1c3f4e-2b8a-4e51-9a0b-6c2d8f1e3a57"
CREDENTIAL_ID = "urn:uuid:0f6b9a52-8d3e-4c71-b2a4-19e5c7d0f863"
LIST_URL = "https://tool.example/credentials/status/1"
# 10:30:15.123456 at +01:00 is 09:30:15Z once microseconds are dropped.
VALID_FROM = dt.datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
VALID_UNTIL = dt.datetime(2029, 3, 1, 9, 30, 15, tzinfo=dt.UTC)
NBF = int(dt.datetime(2026, 3, 1, 9, 30, 15, tzinfo=dt.UTC).timestamp())
EXP = int(VALID_UNTIL.timestamp())
DURING = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
ACHIEVEMENT = AchievementData(
    id="https://tool.example/achievements/hygiene-basics",
    name="Hygiene basics",
    description="Hand hygiene and infection control in home care.",
    achievement_type="Competency",
    criteria_narrative="Passed the hygiene module with at least 80 %.",
    alignments=(
        Alignment(
            target_name="Infection control",
            target_url="https://framework.example/items/ic-1",
            target_code="IC-1",
            target_framework="Municipal care competences",
            target_description="Prevents the spread of infection.",
        ),
    ),
    language="nb",
)


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def impostor() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks(signer: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {"keys": [rsa_public_jwk(signer.public_key(), KID)]}


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _credential(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "credential_id": CREDENTIAL_ID,
        "name": "Hygiene basics for Kari",
        "issuer": ISSUER,
        "subject_id": SUBJECT_ID,
        "holder_name": "Kari Nordmann",
        "achievement": ACHIEVEMENT,
        "valid_from": VALID_FROM,
        "valid_until": VALID_UNTIL,
        "status": StatusEntry(list_credential_url=LIST_URL, index=94567),
        "description": "Awarded after the hygiene module.",
    }
    return build_credential(**{**arguments, **changes})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _sign_raw(payload: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    """A properly signed token whose claims the test chooses, to exercise the claim checks."""
    return pyjwt.encode(payload, _pem(key), algorithm="RS256", headers={"kid": KID})


def _reason(token: str, jwks: dict[str, Any]) -> str:
    with pytest.raises(CredentialInvalid) as caught:
        verify_credential(token, jwks, now=DURING)
    return caught.value.reason


# --- the credential, as an independent library sees it ---------------------------------------


def test_signed_credential_verifies_with_joserfc(signer, jwks):
    token = sign_credential(_credential(), _pem(signer), KID)

    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])

    assert decoded.header == {"alg": "RS256", "kid": KID, "typ": "JWT"}  # OB 3.0 allows no more
    claims = decoded.claims
    assert claims["@context"] == [VC_CONTEXT, OB_CONTEXT]
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["id"] == CREDENTIAL_ID
    assert claims["name"] == "Hygiene basics for Kari"
    assert claims["description"] == "Awarded after the hygiene module."
    assert claims["issuer"] == {
        "id": ISSUER.id,
        "type": ["Profile"],
        "name": "Læringsløp",
        "url": "https://kommune.example",
    }
    assert claims["validFrom"] == "2026-03-01T09:30:15Z"
    assert claims["validUntil"] == "2029-03-01T09:30:15Z"
    assert claims["credentialSubject"] == {
        "id": SUBJECT_ID,
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityHash": "Kari Nordmann",
                "identityType": "name",
                "hashed": False,
            }
        ],
        "achievement": {
            "id": ACHIEVEMENT.id,
            "type": ["Achievement"],
            "achievementType": "Competency",
            "name": "Hygiene basics",
            "description": "Hand hygiene and infection control in home care.",
            "criteria": {"narrative": "Passed the hygiene module with at least 80 %."},
            "alignment": [
                {
                    "type": ["Alignment"],
                    "targetName": "Infection control",
                    "targetUrl": "https://framework.example/items/ic-1",
                    "targetCode": "IC-1",
                    "targetFramework": "Municipal care competences",
                    "targetDescription": "Prevents the spread of infection.",
                    "targetType": "CFItem",
                }
            ],
            "inLanguage": "nb",
        },
    }
    assert claims["credentialStatus"] == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }
    assert claims["iss"] == ISSUER.id
    assert claims["jti"] == CREDENTIAL_ID
    assert claims["sub"] == SUBJECT_ID
    assert claims["nbf"] == NBF
    assert claims["exp"] == EXP
    assert "vc" not in claims  # VC 1.1 wrapped the credential; VC 2.0 / OB 3.0 do not
    assert "iat" not in claims


def test_optional_parts_are_left_out_not_nulled(signer):
    credential = _credential(
        issuer=Issuer(id=ISSUER.id, name=ISSUER.name),
        achievement=AchievementData(
            id=ACHIEVEMENT.id,
            name="Hygiene basics",
            description="Hand hygiene.",
            achievement_type="Certificate",
            criteria_narrative="Pass the module.",
        ),
        valid_until=None,
        status=None,
        description=None,
    )

    assert set(credential) == {
        "@context",
        "id",
        "type",
        "name",
        "issuer",
        "validFrom",
        "credentialSubject",
    }
    assert "url" not in credential["issuer"]
    assert set(credential["credentialSubject"]["achievement"]) == {
        "id",
        "type",
        "achievementType",
        "name",
        "description",
        "criteria",
    }
    claims = pyjwt.decode(
        sign_credential(credential, _pem(signer), KID),
        options={"verify_signature": False},
    )
    assert "exp" not in claims


def test_target_type_defaults_to_cfitem_and_can_be_left_out():
    def alignment_of(alignment: Alignment) -> dict[str, Any]:
        achievement = dataclasses.replace(ACHIEVEMENT, alignments=(alignment,))
        (only,) = _credential(achievement=achievement)["credentialSubject"]["achievement"][
            "alignment"
        ]
        return only

    assert alignment_of(Alignment("Infection control", "https://x.example"))["targetType"] == (
        "CFItem"
    )
    assert alignment_of(Alignment("Infection control", "https://x.example", target_type=None)) == {
        "type": ["Alignment"],
        "targetName": "Infection control",
        "targetUrl": "https://x.example",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"subject_id": "kari@kommune.example"},
        {"subject_id": "urn:uuid:not-a-uuid"},
        {"valid_from": dt.datetime(2026, 3, 1, 9, 30)},  # naive: which 09:30?
        {"valid_until": VALID_FROM},
        {"status": StatusEntry(list_credential_url=LIST_URL, index=-1)},
    ],
)
def test_build_refuses_bad_input(changes):
    with pytest.raises(ValueError):
        _credential(**changes)


def test_format_datetime_is_utc_whole_seconds_with_z():
    assert format_datetime(VALID_FROM) == "2026-03-01T09:30:15Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(dt.datetime(2026, 3, 1))


# --- our verifier ------------------------------------------------------------------------------


def test_verify_returns_the_credential_it_signed(signer, jwks):
    credential = _credential()
    verified = verify_credential(sign_credential(credential, _pem(signer), KID), jwks, now=DURING)

    assert verified.credential == credential  # the JWT claims are not part of the credential
    assert verified.kid == KID
    assert not verified.expired
    assert not verified.not_yet_valid


def test_one_changed_character_in_the_payload_breaks_the_signature(signer, jwks):
    header, payload, signature = sign_credential(_credential(), _pem(signer), KID).split(".")
    text = _unb64(payload).decode()
    assert text.count("Kari Nordmann") == 1
    forged = _b64(text.replace("Kari Nordmann", "Karl Nordmann").encode())

    assert _reason(f"{header}.{forged}.{signature}", jwks) == "bad_signature"


def test_another_key_under_our_kid_is_a_bad_signature(impostor, jwks):
    token = sign_credential(_credential(), _pem(impostor), KID)
    assert _reason(token, jwks) == "bad_signature"


def test_unknown_kid(signer, jwks):
    token = sign_credential(_credential(), _pem(signer), "https://tool.example/keys#gone")
    assert _reason(token, jwks) == "unknown_key"


def test_kid_without_an_rsa_key_behind_it(signer):
    secret = {"kty": "oct", "kid": KID, "k": _b64(b"0123456789abcdef0123456789abcdef")}
    token = sign_credential(_credential(), _pem(signer), KID)
    assert _reason(token, {"keys": [secret]}) == "unknown_key"


def test_token_without_kid(signer, jwks):
    token = pyjwt.encode({"iss": ISSUER.id}, _pem(signer), algorithm="RS256")
    assert _reason(token, jwks) == "unknown_key"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unsigned_and_hmac_tokens_are_refused(signer, jwks, alg):
    credential = _credential()
    claims = {**credential, "iss": ISSUER.id, "jti": CREDENTIAL_ID, "sub": SUBJECT_ID, "nbf": NBF}
    header = _b64(json.dumps({"alg": alg, "kid": KID, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    # HS256 keyed with our public JWK's modulus: the classic algorithm-confusion forgery.
    secret = jwks["keys"][0]["n"].encode()
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    signature = "" if alg == "none" else _b64(mac)

    assert _reason(f"{header}.{body}.{signature}", jwks) == "bad_signature"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "e30.e30"])
def test_malformed_tokens(jwks, token):
    assert _reason(token, jwks) == "malformed"


def test_signed_payload_that_is_not_an_object_is_malformed(signer, jwks):
    token = pyjwt.PyJWS().encode(
        b'["not", "an", "object"]', _pem(signer), algorithm="RS256", headers={"kid": KID}
    )
    assert _reason(token, jwks) == "malformed"


def test_expired_is_a_flag_not_an_error(signer, jwks):
    token = sign_credential(_credential(), _pem(signer), KID)

    at_expiry = verify_credential(token, jwks, now=VALID_UNTIL)
    before = verify_credential(token, jwks, now=VALID_UNTIL - dt.timedelta(seconds=1))
    early = verify_credential(token, jwks, now=VALID_FROM - dt.timedelta(seconds=1))

    assert at_expiry.expired and not at_expiry.not_yet_valid  # leeway 0: exp itself is too late
    assert not before.expired
    assert early.not_yet_valid and not early.expired


def test_without_valid_until_there_is_no_exp_and_no_expiry(signer, jwks):
    token = sign_credential(_credential(valid_until=None), _pem(signer), KID)

    assert "exp" not in pyjwt.decode(token, options={"verify_signature": False})
    verified = verify_credential(token, jwks, now=dt.datetime(2199, 1, 1, tzinfo=dt.UTC))
    assert not verified.expired
    assert "validUntil" not in verified.credential


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example/issuer"},
        {"jti": "urn:uuid:00000000-0000-4000-8000-000000000000"},
        {"sub": "urn:uuid:00000000-0000-4000-8000-000000000001"},
        {"nbf": NBF + 1},
        {"nbf": str(NBF)},
        {"exp": EXP - 1},
        {"exp": None},  # validUntil without exp
        {"validUntil": None},  # exp without validUntil
        {"validFrom": "yesterday"},
        {"issuer": ISSUER.id},  # issuer id no longer where iss says it is
    ],
)
def test_claims_must_agree_with_the_credential(signer, jwks, changes):
    payload = {
        **_credential(),
        "iss": ISSUER.id,
        "jti": CREDENTIAL_ID,
        "sub": SUBJECT_ID,
        "nbf": NBF,
        "exp": EXP,
    }
    payload.update(changes)
    payload = {k: v for k, v in payload.items() if v is not None}

    assert _reason(_sign_raw(payload, signer), jwks) == "claims_mismatch"


def test_claim_types_pyjwt_checks_itself_are_claims_mismatch(signer, jwks):
    payload = {**_credential(), "iss": ISSUER.id, "jti": CREDENTIAL_ID, "sub": 7, "nbf": NBF}
    assert _reason(_sign_raw(payload, signer), jwks) == "claims_mismatch"


# --- the status list ---------------------------------------------------------------------------


def test_round_trip():
    revoked = {0, 5, 94567, MIN_ENTRIES - 1}
    encoded = encode_list(revoked)
    bits = decode_list(encoded)

    assert [i for i in range(MIN_ENTRIES) if is_set(bits, i)] == sorted(revoked)
    assert is_set(encoded, 94567)
    assert not is_set(encoded, 94568)


@pytest.mark.parametrize(
    ("index", "byte", "value"),
    [(0, 0, 0x80), (7, 0, 0x01), (8, 1, 0x80), (MIN_ENTRIES - 1, MIN_ENTRIES // 8 - 1, 0x01)],
)
def test_index_zero_is_the_leftmost_bit(index, byte, value):
    bits = decode_list(encode_list([index]))
    assert bits[byte] == value
    assert sum(bits) == value  # nothing else set


def test_encoding_is_multibase_base64url_gzip_without_padding():
    encoded = encode_list([3])
    assert encoded.startswith("u")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = gzip.decompress(_unb64(encoded[1:]))  # plain stdlib, not our decoder
    assert len(raw) == 16 * 1024 and raw[0] == 0x10


def test_decodes_the_spec_example():
    example = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
    bits = decode_list(example)
    assert len(bits) * 8 == MIN_ENTRIES
    assert not any(bits)


def test_an_empty_list_compresses_to_a_few_dozen_characters():
    encoded = encode_list([])
    assert len(decode_list(encoded)) >= 16 * 1024
    assert len(encoded) < 100
    assert encode_list([]) == encoded  # deterministic: no timestamp in the GZIP header


@pytest.mark.parametrize("index", [-1, MIN_ENTRIES])
def test_out_of_range_indices_raise(index):
    encoded = encode_list([])
    with pytest.raises(ValueError, match="outside"):
        encode_list([index])
    with pytest.raises(ValueError, match="outside"):
        is_set(encoded, index)


@pytest.mark.parametrize("size", [MIN_ENTRIES - 8, MIN_ENTRIES + 1])
def test_sizes_below_the_minimum_or_not_whole_bytes_raise(size):
    with pytest.raises(ValueError, match="multiple of 8"):
        encode_list([], size=size)


def test_a_larger_list_is_allowed():
    encoded = encode_list([MIN_ENTRIES], size=2 * MIN_ENTRIES)
    assert is_set(encoded, MIN_ENTRIES)


@pytest.mark.parametrize(
    "encoded",
    [
        "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",  # no "u"
        "u!!!!",
        "u" + _b64(b"not gzip"),
        "u" + _b64(gzip.compress(bytes(1024), mtime=0)),  # 8192 entries: too small a crowd
    ],
)
def test_bad_encoded_lists_raise(encoded):
    with pytest.raises(ValueError):
        decode_list(encoded)


def test_status_list_credential_signs_and_verifies(signer, jwks):
    encoded = encode_list([94567])
    credential = build_status_list_credential(
        list_credential_url=LIST_URL,
        issuer=ISSUER,
        encoded_list=encoded,
        valid_from=VALID_FROM,
        valid_until=VALID_FROM + dt.timedelta(days=1),
    )
    assert credential == {
        "@context": [VC_CONTEXT],
        "id": LIST_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": ISSUER.id, "name": ISSUER.name},
        "validFrom": "2026-03-01T09:30:15Z",
        "validUntil": "2026-03-02T09:30:15Z",
        "credentialSubject": {
            "id": f"{LIST_URL}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded,
        },
    }
    token = sign_credential(credential, _pem(signer), KID)
    claims = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert (claims["jti"], claims["sub"]) == (LIST_URL, f"{LIST_URL}#list")
    verified = verify_credential(token, jwks, now=VALID_FROM + dt.timedelta(hours=1))
    assert is_set(verified.credential["credentialSubject"]["encodedList"], 94567)
    with pytest.raises(ValueError, match="after"):
        build_status_list_credential(
            list_credential_url=LIST_URL,
            issuer=ISSUER,
            encoded_list=encoded,
            valid_from=VALID_FROM,
            valid_until=VALID_FROM,
        )


def test_pick_free_index_never_returns_a_used_one():
    rng = random.Random(7)
    used = set(range(0, 64, 2))
    picks = {pick_free_index(used, rng, size=64) for _ in range(200)}
    assert picks <= set(range(1, 64, 2))
    assert len(picks) > 20  # spread over the free indices, not a fixed one


def test_pick_free_index_finds_the_last_free_one():
    used = set(range(64)) - {17}
    assert pick_free_index(used, random.Random(1), size=64) == 17


def test_pick_free_index_ignores_used_entries_outside_the_list():
    used = (set(range(8)) - {3}) | {100}
    assert pick_free_index(used, random.Random(1), size=8) == 3


def test_pick_free_index_fails_clearly_when_full():
    with pytest.raises(StatusListFull, match="all 64 indices"):
        pick_free_index(range(64), random.Random(1), size=64)


def test_pick_free_index_defaults_to_the_system_csprng():
    index = pick_free_index(set())
    assert 0 <= index < MIN_ENTRIES
