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

from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_tool.services.item_bank import QuestionUpload

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


def seal(secret: str | bytes, pending: PendingImport) -> str:
    payload = {
        "o": pending.organisation_id,
        "p": pending.person_id,
        "d": base64.b64encode(zlib.compress(pending.upload.data, 9)).decode("ascii"),
        "f": pending.upload.fmt,
        "l": pending.upload.language,
        "c": list(pending.upload.competence_ids),
        "h": pending.fingerprint,
        "n": pending.filename,
    }
    token: str = URLSafeTimedSerializer(secret, salt=_SALT).dumps(payload)
    return token


def unseal(
    secret: str | bytes,
    token: str,
    organisation_id: int,
    person_id: int,
    max_age: int = MAX_AGE_SECONDS,
) -> PendingImport | None:
    """The pending import, or None when the seal is broken, too old or not this person's."""
    try:
        payload = URLSafeTimedSerializer(secret, salt=_SALT).loads(token, max_age=max_age)
        pending = PendingImport(
            organisation_id=int(payload["o"]),
            person_id=int(payload["p"]),
            upload=QuestionUpload(
                data=zlib.decompress(base64.b64decode(payload["d"])),
                fmt=str(payload["f"]),
                language=str(payload["l"]),
                competence_ids=[int(i) for i in payload["c"]],
            ),
            fingerprint=str(payload["h"]),
            filename=str(payload["n"]),
        )
    except (BadSignature, KeyError, TypeError, ValueError, zlib.error):
        return None
    if (pending.organisation_id, pending.person_id) != (organisation_id, person_id):
        return None
    return pending


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


def seal_package(secret: str | bytes, pending: PendingPackage) -> str:
    payload = {
        "o": pending.organisation_id,
        "p": pending.person_id,
        "d": base64.b64encode(zlib.compress(pending.data, 9)).decode("ascii"),
        "h": pending.fingerprint,
        "n": pending.filename,
    }
    token: str = URLSafeTimedSerializer(secret, salt=_PACKAGE_SALT).dumps(payload)
    return token


def unseal_package(
    secret: str | bytes,
    token: str,
    organisation_id: int,
    person_id: int,
    max_age: int = MAX_AGE_SECONDS,
) -> PendingPackage | None:
    """The pending package, or None when the seal is broken, too old or not this person's."""
    try:
        payload = URLSafeTimedSerializer(secret, salt=_PACKAGE_SALT).loads(token, max_age=max_age)
        pending = PendingPackage(
            organisation_id=int(payload["o"]),
            person_id=int(payload["p"]),
            data=zlib.decompress(base64.b64decode(payload["d"])),
            fingerprint=str(payload["h"]),
            filename=str(payload["n"]),
        )
    except (BadSignature, KeyError, TypeError, ValueError, zlib.error):
        return None
    if (pending.organisation_id, pending.person_id) != (organisation_id, person_id):
        return None
    return pending
