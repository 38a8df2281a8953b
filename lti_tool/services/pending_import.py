"""A question import between its preview and the designer's confirmation.

The designer's page carries the upload from the preview to the confirmation itself: the
file (compressed), its format and language, the chosen competences and the fingerprint of
the preview, sealed with the application's secret key (signed, with a time stamp) and bound
to the organisation and the person who previewed it. Nothing is kept in process memory or
on disk, so any worker can confirm, and an abandoned preview leaves nothing behind. A seal
that was tampered with, is too old, or belongs to someone else opens to nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import zlib
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_tool.services.item_bank import QuestionUpload

#: What seals and opens: the tool's secret keys (``signing.secret_keys``), the last seals.
SecretKeys = str | bytes | Sequence[str]

#: How long a preview may wait for its confirmation.
MAX_AGE_SECONDS = 60 * 60
_SALT = "item-import-preview"


@dataclasses.dataclass(frozen=True)
class PendingImport:
    organisation_id: int
    person_id: int
    upload: QuestionUpload
    fingerprint: str
    """Of the preview the person saw (``ImportPreview.fingerprint``)."""
    filename: str


def _seal(
    secret: SecretKeys, salt: str, organisation_id: int, person_id: int, data: bytes, **extra: Any
) -> str:
    payload = {
        "o": organisation_id,
        "p": person_id,
        "d": base64.b64encode(zlib.compress(data, 9)).decode("ascii"),
        **extra,
    }
    token: str = URLSafeTimedSerializer(secret, salt=salt).dumps(payload)
    return token


def _unseal(
    secret: SecretKeys,
    salt: str,
    token: str,
    organisation_id: int,
    person_id: int,
    max_age: int,
) -> dict[str, Any] | None:
    """The payload with its file (``data``), or None when the seal is broken, too old or
    not this person's in this organisation."""
    try:
        payload = URLSafeTimedSerializer(secret, salt=salt).loads(token, max_age=max_age)
        if (int(payload["o"]), int(payload["p"])) != (organisation_id, person_id):
            return None
        payload["data"] = zlib.decompress(base64.b64decode(payload["d"]))
    except (BadSignature, KeyError, TypeError, ValueError, zlib.error):
        return None
    return dict(payload)


def seal(secret: SecretKeys, pending: PendingImport) -> str:
    return _seal(
        secret,
        _SALT,
        pending.organisation_id,
        pending.person_id,
        pending.upload.data,
        f=pending.upload.fmt,
        l=pending.upload.language,
        c=list(pending.upload.competence_ids),
        h=pending.fingerprint,
        n=pending.filename,
    )


def unseal(
    secret: SecretKeys,
    token: str,
    organisation_id: int,
    person_id: int,
    max_age: int = MAX_AGE_SECONDS,
) -> PendingImport | None:
    """The pending import, or None when the seal is broken, too old or not this person's."""
    payload = _unseal(secret, _SALT, token, organisation_id, person_id, max_age)
    if payload is None:
        return None
    try:
        return PendingImport(
            organisation_id=organisation_id,
            person_id=person_id,
            upload=QuestionUpload(
                data=payload["data"],
                fmt=str(payload["f"]),
                language=str(payload["l"]),
                competence_ids=[int(i) for i in payload["c"]],
            ),
            fingerprint=str(payload["h"]),
            filename=str(payload["n"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


# --- content packages (services.packages) ---------------------------------------------------

_PACKAGE_SALT = "package-import-preview"


@dataclasses.dataclass(frozen=True)
class PendingPackage:
    organisation_id: int
    person_id: int
    data: bytes
    fingerprint: str
    """Of the preview the person saw (``packages.Preview.fingerprint``)."""
    filename: str


def seal_package(secret: SecretKeys, pending: PendingPackage) -> str:
    return _seal(
        secret,
        _PACKAGE_SALT,
        pending.organisation_id,
        pending.person_id,
        pending.data,
        h=pending.fingerprint,
        n=pending.filename,
    )


def unseal_package(
    secret: SecretKeys,
    token: str,
    organisation_id: int,
    person_id: int,
    max_age: int = MAX_AGE_SECONDS,
) -> PendingPackage | None:
    """The pending package, or None when the seal is broken, too old or not this person's."""
    payload = _unseal(secret, _PACKAGE_SALT, token, organisation_id, person_id, max_age)
    if payload is None or "h" not in payload or "n" not in payload:
        return None
    return PendingPackage(
        organisation_id, person_id, payload["data"], str(payload["h"]), str(payload["n"])
    )
