"""W3C Bitstring Status List v1.0: the revocation bits our credentials point at.

A set bit means revoked. Index 0 is the left-most (most significant) bit of the first byte; the
bitstring is GZIP-compressed, base64url-encoded without padding and prefixed with the multibase
code "u". Pure: no Flask, no database.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import random
import secrets
import zlib
from collections.abc import Collection, Iterable
from typing import Any

from lti_tool.credentials.open_badges import VC_CONTEXT, Issuer, format_datetime

MIN_ENTRIES = 131072
"""16 KiB of bits: the spec's minimum length, the crowd a holder's index hides in."""


class StatusListFull(RuntimeError):
    """Every index of the list is taken: open a new status list credential."""


def encode_list(revoked: Iterable[int], size: int = MIN_ENTRIES) -> str:
    """The ``encodedList`` value for a list of ``size`` entries with ``revoked`` set."""
    if size < MIN_ENTRIES or size % 8:
        raise ValueError(f"a status list has a multiple of 8 entries, at least {MIN_ENTRIES}")
    bits = bytearray(size // 8)
    for index in revoked:
        _check_index(index, size)
        bits[index >> 3] |= 0x80 >> (index & 7)
    compressed = gzip.compress(bytes(bits), mtime=0)  # mtime=0: same bits, same bytes
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode_list(encoded: str) -> bytes:
    """The uncompressed bitstring; refuses lists shorter than the spec's minimum."""
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url, starting with 'u'")
    body = encoded[1:]
    try:
        compressed = base64.b64decode(body + "=" * (-len(body) % 4), b"-_", validate=True)
        bits = gzip.decompress(compressed)
    except (binascii.Error, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"encodedList is not GZIP data in base64url: {exc}") from exc
    if len(bits) * 8 < MIN_ENTRIES:
        raise ValueError(f"status list has {len(bits) * 8} entries, fewer than {MIN_ENTRIES}")
    return bits


def is_set(encoded_or_bytes: str | bytes, index: int) -> bool:
    """Whether entry ``index`` is set (revoked), from an encodedList or decoded bytes."""
    bits = decode_list(encoded_or_bytes) if isinstance(encoded_or_bytes, str) else encoded_or_bytes
    _check_index(index, len(bits) * 8)
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def build_status_list_credential(
    *,
    list_credential_url: str,
    issuer: Issuer,
    encoded_list: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
) -> dict[str, Any]:
    """An unsigned BitstringStatusListCredential.

    Sign it with ``open_badges.sign_credential`` like a badge: its ``jti`` is then
    ``list_credential_url`` and its ``sub`` the subject id ``<list_credential_url>#list``.
    Only the VC 2.0 context is used, so the issuer is ``{id, name}`` without the OB ``Profile``
    type.
    """
    valid_from_text, valid_until_text = format_datetime(valid_from), format_datetime(valid_until)
    if valid_until <= valid_from:
        raise ValueError("valid_until must be after valid_from")
    return {
        "@context": [VC_CONTEXT],
        "id": list_credential_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer.id, "name": issuer.name},
        "validFrom": valid_from_text,
        "validUntil": valid_until_text,
        "credentialSubject": {
            "id": f"{list_credential_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded_list,
        },
    }


def pick_free_index(
    used: Collection[int], rng: random.Random | None = None, size: int = MIN_ENTRIES
) -> int:
    """A uniformly random unused index, so an index reveals neither issue order nor list fill.

    ``rng`` defaults to the operating system's CSPRNG; tests pass a seeded ``random.Random``.
    """
    rng = rng or secrets.SystemRandom()
    taken = set(used)
    free = size - sum(1 for index in taken if 0 <= index < size)
    if free <= 0:
        raise StatusListFull(f"all {size} indices of this status list are in use")
    if free * 4 >= size:  # at least a quarter free: under 4 draws expected
        while True:
            index = rng.randrange(size)
            if index not in taken:
                return index
    return rng.choice([index for index in range(size) if index not in taken])


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside the status list of {size} entries")
