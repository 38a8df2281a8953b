"""A certificate outside the tool: its PDF, its Open Badges 3.0 credential, the public
issuer profile and revocation list they point to, and checking a credential brought back.

Credentials are signed with keys of their own (``KEYS_DIR/credentials``), never pruned:
a credential must stay verifiable until it expires, years after the LTI keys have been
rotated away. They are published in the tool's JWKS with a ``kid`` that is the URL of
the bare key, as Open Badges 3.0 asks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

import jwt
from flask_babel import force_locale, format_date, gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.credentials import open_badges, status_list
from lti_tool.domain.texts import localized
from lti_tool.domain.urls import is_web_url
from lti_tool.errors import NotFound
from lti_tool.interchange.case import case_uri
from lti_tool.lti.keys import KeyRing, ToolKey
from lti_tool.models import (
    Certificate,
    Certification,
    CertificationStatus,
    DocumentationExport,
    Organisation,
    StatusList,
)
from lti_tool.services import certificates, unit_exports
from lti_tool.services.certificates import Standing

log = logging.getLogger(__name__)

#: The JWT claims a VC-JWT adds around the credential (OB 3.0 §8.2.4).
JWT_CLAIMS = frozenset({"iss", "jti", "sub", "nbf", "exp", "iat", "aud"})
#: How long a signed status list may be cached by verifiers.
STATUS_LIST_VALID_HOURS = 24


@dataclasses.dataclass(frozen=True)
class CredentialUrls:
    """The public addresses credentials name; all under the tool's BASE_URL."""

    base_url: str

    def issuer(self, organisation_id: int) -> str:
        return f"{self.base_url}/ob/issuers/{organisation_id}"

    def achievement(self, certification_uuid: str) -> str:
        return f"{self.base_url}/ob/achievements/{certification_uuid}"

    def status_list(self, list_uuid: str) -> str:
        return f"{self.base_url}/ob/status/{list_uuid}"

    def key(self, kid: str) -> str:
        return f"{self.base_url}/ob/keys/{kid}"

    def verify(self, code: str) -> str:
        return f"{self.base_url}/verify/{code}"


def signing_key(keyring: KeyRing) -> ToolKey:
    """The newest credential key; made on first need when ``keys rotate`` (which makes it
    with the first tool key) did not, or its folder was lost: said in the log, since the
    backup must then hold it."""
    keys = keyring.all_keys()
    if keys:
        return keys[-1]
    made = keyring.rotate()
    log.warning(
        "no credential key in %s: made %s; back it up with the other keys (a credential "
        "signed by a lost key can never be verified again)",
        keyring.keys_dir,
        made.kid,
    )
    return made


def public_keys(keyring: KeyRing, urls: CredentialUrls) -> list[dict[str, Any]]:
    """Every credential key ever used (none is retired), named by its URL."""
    return [{**key.public_jwk(), "kid": urls.key(key.kid)} for key in keyring.all_keys()]


def public_key(keyring: KeyRing, urls: CredentialUrls, kid: str) -> dict[str, Any]:
    for key in keyring.all_keys():
        if key.kid == kid:
            return {**key.public_jwk(), "kid": urls.key(kid)}
    raise NotFound(f"no credential key {kid}")


def issuer_profile(session: Session, urls: CredentialUrls, organisation_id: int) -> dict:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}")
    return {
        "@context": [open_badges.VC_CONTEXT, open_badges.OB_CONTEXT],
        "id": urls.issuer(organisation.id),
        "type": ["Profile"],
        "name": organisation.name,
    }


# --- the credential -----------------------------------------------------------------------


def _language(certificate: Certificate) -> str:
    return str(certificate.content.get("language") or "nb")


def _criteria(content: dict[str, Any], language: str) -> str:
    own = localized(content.get("criteria"), language)
    if own:
        return own
    with force_locale(language):
        listed = "; ".join(
            gettext(
                "%(competence)s at level %(level)s",
                competence=localized(c["title"], language),
                level=localized(c["level_label"], language) or c["level"],
            )
            for c in content["competences"]
        )
        if listed:
            return gettext("Shown: %(competences)s.", competences=listed)
        return gettext("Awarded by %(organisation)s.", organisation=content["organisation"])


def _alignment(competence: dict[str, Any], language: str) -> open_badges.Alignment:
    ref = competence.get("external_ref") or ""
    level = localized(competence["level_label"], language) or str(competence["level"])
    return open_badges.Alignment(
        target_name=localized(competence["title"], language) or competence["code"],
        target_url=ref if is_web_url(ref) else case_uri(competence["identifier"]),
        target_code=competence["identifier"],
        target_framework=localized(competence["framework"], language) or None,
        target_description=f"{competence['level']}: {level}",
        target_type="CFItem",
    )


def build_credential(
    certificate: Certificate, status: StatusList, urls: CredentialUrls
) -> dict[str, Any]:
    content = certificate.content
    language = _language(certificate)
    title = localized(content["title"], language) or certificate.certification.code
    achievement = open_badges.AchievementData(
        id=urls.achievement(certificate.certification.uuid),
        name=title,
        description=localized(content.get("description"), language) or title,
        achievement_type=content["achievement_type"],
        criteria_narrative=_criteria(content, language),
        alignments=tuple(_alignment(c, language) for c in content["competences"]),
        language=language,
    )
    return open_badges.build_credential(
        credential_id=f"urn:uuid:{certificate.uuid}",
        name=title,
        issuer=open_badges.Issuer(
            id=urls.issuer(certificate.organisation_id),
            name=content["organisation"],
            url=None,
        ),
        subject_id=f"urn:uuid:{certificate.subject_uuid}",
        holder_name=certificate.holder_name,
        achievement=achievement,
        valid_from=certificate.valid_from,
        valid_until=certificate.expires_at,
        status=open_badges.StatusEntry(urls.status_list(status.uuid), certificate.status_index),
    )


def signed_credential(
    session: Session, certificate: Certificate, keyring: KeyRing, urls: CredentialUrls
) -> str:
    """The certificate's VC-JWT, signed once (on first request) and kept: what the holder
    downloads never changes, so a copy can be compared with it."""
    if certificate.credential_jwt:
        return certificate.credential_jwt
    locked = session.scalar(
        select(Certificate).where(Certificate.id == certificate.id).with_for_update()
    )
    assert locked is not None
    session.refresh(locked)
    if locked.credential_jwt:
        return locked.credential_jwt
    key = signing_key(keyring)
    credential = build_credential(locked, locked.status_list, urls)
    locked.credential_jwt = open_badges.sign_credential(
        credential, key.private_key(), urls.key(key.kid)
    )
    session.flush()
    return locked.credential_jwt


def credential_json(token: str) -> dict[str, Any]:
    """The credential inside a VC-JWT we signed and stored ourselves (nothing to verify)."""
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return {k: v for k, v in payload.items() if k not in JWT_CLAIMS}


def credential_json_text(token: str) -> str:
    """The credential as the JSON file a holder downloads (exactly what was signed)."""
    return json.dumps(credential_json(token), ensure_ascii=False, indent=2)


def achievement(session: Session, urls: CredentialUrls, achievement_uuid: str) -> dict:
    """The public Achievement a credential's achievement id resolves to."""
    certification = session.scalar(
        select(Certification).where(Certification.uuid == achievement_uuid)
    )
    if certification is None or certification.status == CertificationStatus.DRAFT:
        raise NotFound(f"no achievement {achievement_uuid}")
    return {
        "@context": [open_badges.VC_CONTEXT, open_badges.OB_CONTEXT],
        "id": urls.achievement(certification.uuid),
        "type": ["Achievement"],
        "achievementType": str(certification.achievement_type),
        "name": localized(certification.title, "nb"),
        "description": localized(certification.description, "nb")
        or localized(certification.title, "nb"),
        "criteria": {"narrative": localized(certification.criteria, "nb") or ""},
        "creator": issuer_profile(session, urls, certification.organisation_id),
    }


def qr_svg(url: str) -> str:
    """The verification address as an inline SVG QR code (for the certificate page)."""
    import segno  # here, not at start: most workers never draw one

    qr = segno.make_qr(url, error="m")
    return str(qr.svg_inline(scale=4, dark="#000", light="#fff", title=url))


def signed_status_list(
    session: Session, list_uuid: str, keyring: KeyRing, urls: CredentialUrls, now: dt.datetime
) -> str:
    """The organisation's revocation list as a signed BitstringStatusListCredential."""
    found = certificates.get_status_list(session, list_uuid)
    encoded = status_list.encode_list(
        certificates.revoked_indices(session, found.id), size=found.size
    )
    organisation = session.get(Organisation, found.organisation_id)
    assert organisation is not None
    credential = status_list.build_status_list_credential(
        list_credential_url=urls.status_list(found.uuid),
        issuer=open_badges.Issuer(id=urls.issuer(organisation.id), name=organisation.name),
        encoded_list=encoded,
        valid_from=now.replace(microsecond=0),
        valid_until=now.replace(microsecond=0) + dt.timedelta(hours=STATUS_LIST_VALID_HOURS),
    )
    key = signing_key(keyring)
    return open_badges.sign_credential(credential, key.private_key(), urls.key(key.kid))


# --- the PDF ------------------------------------------------------------------------------


def pdf(certificate: Certificate, language: str, urls: CredentialUrls, now: dt.datetime) -> bytes:
    """The certificate printed in ``language``, with its code, QR code and address."""
    # ReportLab (and Pillow) load with the first PDF, not in every worker at start
    from lti_tool.documents.certificate_pdf import CertificateDocument, render_certificate

    content = certificate.content
    with force_locale(language):
        revoked = certificate.revoked_at is not None
        document = CertificateDocument(
            language=language,
            heading=gettext("Certificate")
            if content["achievement_type"] == "Certificate"
            else gettext("Certificate of competence"),
            holder_label=gettext("This is to certify that"),
            holder_name=certificate.holder_name,
            achievement_title=localized(content["title"], language),
            achievement_description=localized(content.get("description"), language),
            competences_heading=gettext("Competences and levels"),
            competences=tuple(
                (
                    localized(c["title"], language) or c["code"],
                    localized(c["level_label"], language) or str(c["level"]),
                )
                for c in content["competences"]
            ),
            organisation_label=gettext("Issued by"),
            organisation_name=content["organisation"],
            issued_label=gettext("Issued"),
            issued_on=format_date(certificate.issued_at, "long"),
            issued_at=certificate.issued_at,
            expires_label=gettext("Valid until"),
            expires_on=format_date(certificate.expires_at, "long")
            if certificate.expires_at
            else None,
            no_expiry_text=gettext("No expiry"),
            code_label=gettext("Verification code"),
            verification_code=certificate.code,
            verify_label=gettext("Check this certificate at"),
            verification_url=urls.verify(certificate.code),
            document_title=gettext(
                "%(title)s – %(name)s",
                title=localized(content["title"], language),
                name=certificate.holder_name,
            ),
            revoked_text=gettext("Revoked: this certificate is no longer valid.")
            if revoked
            else None,
        )
    return render_certificate(document)


# --- verification -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Verification:
    """What anyone may learn about a certificate: no email, no LMS identity."""

    status: str
    """valid, expired, revoked, withdrawn (its holder was erased), unknown, or (for a
    credential brought back) tampered."""
    certificate: Certificate | None = None
    renewed: bool = False
    documentation: DocumentationExport | None = None
    """A unit's competence documentation (PDF) whose code was looked up, not a certificate."""

    def public(self, urls: CredentialUrls, language: str) -> dict[str, Any]:
        if self.documentation is not None:
            return {"status": self.status, **unit_exports.documentation_facts(self.documentation)}
        cert = self.certificate
        if cert is None:
            return {"status": self.status}
        return {
            "status": self.status,
            "code": cert.code,
            "holder": cert.holder_name,
            "achievement": localized(cert.content["title"], language),
            "achievement_type": cert.content["achievement_type"],
            "issuer": {
                "id": urls.issuer(cert.organisation_id),
                "name": cert.content["organisation"],
            },
            "issued_at": open_badges.format_datetime(cert.issued_at),
            "valid_until": open_badges.format_datetime(cert.expires_at)
            if cert.expires_at
            else None,
            "revoked_at": open_badges.format_datetime(cert.revoked_at) if cert.revoked_at else None,
            "renewed": self.renewed,
            "credential_id": f"urn:uuid:{cert.uuid}",
        }


def _verdict(session: Session, certificate: Certificate, now: dt.datetime) -> Verification:
    if certificate.withdrawn_at is not None:
        return Verification("withdrawn", certificate)
    renewed = certificates.is_renewed(session, certificate)
    state = certificates.standing(certificate, now, warn_days=0)
    status = {Standing.REVOKED: "revoked", Standing.EXPIRED: "expired"}.get(state, "valid")
    return Verification(status, certificate, renewed=renewed)


def verify_code(session: Session, code: str, now: dt.datetime) -> Verification:
    """A certificate's code, or a competence documentation's (``unit_exports``)."""
    found = certificates.find_by_code(session, code)
    if found:
        return _verdict(session, found, now)
    document = unit_exports.find_documentation(session, code)
    if document:
        return Verification("valid", documentation=document)
    return Verification("unknown")


def verify_upload(
    session: Session, raw: str, jwks: dict[str, Any], now: dt.datetime
) -> Verification:
    """Check a credential brought back, as a VC-JWT or as the JSON we handed out: a
    signature that fails, or JSON that differs from what we signed, is tampering."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            given = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested to exhaust the parser
            return Verification("tampered")
        if not isinstance(given, dict) or not isinstance(given.get("id"), str):
            return Verification("tampered")
        found = certificates.find_by_credential_id(session, given["id"])
        if found is not None and found.withdrawn_at is not None:
            return Verification("withdrawn", found)  # its signed copy went with the holder
        if found is None or not found.credential_jwt:
            return Verification("unknown")
        if credential_json(found.credential_jwt) != given:
            return Verification("tampered", found)
        return _verdict(session, found, now)
    try:
        verified = open_badges.verify_credential(text, jwks, now)
    except open_badges.CredentialInvalid as exc:
        return Verification("unknown" if exc.reason == "unknown_key" else "tampered")
    found = certificates.find_by_credential_id(session, str(verified.credential.get("id", "")))
    if found is None:
        return Verification("unknown")
    return _verdict(session, found, now)
