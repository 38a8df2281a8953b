"""Certificates as people meet them: the holder's list and downloads (PDF, VC-JWT, JSON),
the public verification page and the Open Badges documents credentials point to, the
manager's list of what expires soon, and revocation by an admin.

Who may use what:
- anyone (public): ``/verify`` and ``/verify/<code>`` (rate-limited), ``/ob/…``;
- the holder only (any launched person): their own certificates and downloads;
- managers and admins: the expiring list; with designers, manual issue;
- admins: revocation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.app_factory import csrf, limiter
from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    current_permissions,
    managed_units,
    public,
    requires,
)
from lti_tool.db import get_session, reads_only
from lti_tool.domain.texts import localized
from lti_tool.errors import CannotIssue, CannotRevoke, wants_json
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.certifications import ExpiringQuery, ManualIssueForm, RevokeForm
from lti_tool.schemas.checks import id_value
from lti_tool.services import (
    assignments,
    audit,
    certificates,
    certifications,
    credentials,
    organisations,
)
from lti_tool.services.certificates import Standing

bp = Blueprint("certificates", __name__)

EVERYONE = (Permission.LEARNER, Permission.DESIGNER, Permission.MANAGER, Permission.ADMIN)
INVALID_FORM = 422
MAX_UPLOAD_CHARS = 200_000


@bp.context_processor
def _helpers() -> dict[str, Any]:
    locale = str(get_locale())
    return {"localized": lambda text: localized(text, locale), "Standing": Standing}


def _now() -> dt.datetime:
    return clock.now()


def _urls() -> credentials.CredentialUrls:
    return credentials.CredentialUrls(lti_services().settings.base_url)


def _me() -> Any:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch.person


def _warn_days() -> int:
    """When a certificate turns amber, and the managers' list's window unless it names
    one: the organisation's expiring window, as the competence matrix's."""
    return organisations.expiring_days_of(get_session(), current_organisation_id())


def _verify_limit() -> str:
    return lti_services().settings.VERIFY_RATE_LIMIT


# --- the holder ---------------------------------------------------------------------------


@bp.route("/certificates/")
@requires(*EVERYONE)
def my_certificates() -> Any:
    session, now = get_session(), _now()
    held = certificates.certificates_of(session, current_organisation_id(), _me().id)
    current = certificates.current_only(held)
    return render_template(
        "certificates/mine.html",
        launch=current_launch(),
        current=[(c, certificates.standing(c, now, _warn_days())) for c in current],
        history=[c for c in held if c not in current],
        progress=certifications.progress_of(session, current_organisation_id(), _me().id, now),
    )


@bp.route("/certificates/certification/<code>")
@requires(*EVERYONE)
def certification_page(code: str) -> Any:
    """Where a link that placed a certification lands: where the person stands on it."""
    session, now = get_session(), _now()
    certification = certifications.find_certification(session, current_organisation_id(), code)
    return render_template(
        "certificates/certification.html",
        launch=current_launch(),
        progress=certifications.progress_for(session, certification, _me().id, now),
        warn_days=_warn_days(),
        now=now,
    )


def _mine(certificate_id: int) -> Any:
    return certificates.get_certificate(
        get_session(), current_organisation_id(), certificate_id, person_id=_me().id
    )


@bp.route("/certificates/<int:certificate_id>")
@reads_only
@requires(*EVERYONE)
def certificate_page(certificate_id: int) -> Any:
    certificate = _mine(certificate_id)
    return render_template(
        "certificates/certificate.html",
        launch=current_launch(),
        certificate=certificate,
        standing=certificates.standing(certificate, _now(), _warn_days()),
        verify_url=_urls().verify(certificate.code),
        qr_svg=credentials.qr_svg(_urls().verify(certificate.code)),
    )


def _download(body: bytes | str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/certificates/<int:certificate_id>/certificate.pdf")
@requires(*EVERYONE)
def certificate_pdf(certificate_id: int) -> Response:
    certificate = _mine(certificate_id)
    body = credentials.pdf(certificate, str(get_locale()), _urls(), _now())
    return _download(body, "application/pdf", f"certificate-{certificate.code}.pdf")


@bp.route("/certificates/<int:certificate_id>/credential.jwt")
@requires(*EVERYONE)
def credential_jwt(certificate_id: int) -> Response:
    certificate = _mine(certificate_id)
    token = credentials.signed_credential(
        get_session(), certificate, lti_services().credential_keys, _urls()
    )
    return _download(token, "application/vc+jwt", f"credential-{certificate.code}.jwt")


@bp.route("/certificates/<int:certificate_id>/credential.json")
@requires(*EVERYONE)
def credential_json(certificate_id: int) -> Response:
    certificate = _mine(certificate_id)
    token = credentials.signed_credential(
        get_session(), certificate, lti_services().credential_keys, _urls()
    )
    body = credentials.credential_json_text(token)
    return _download(body, "application/json", f"credential-{certificate.code}.json")


# --- anyone: verification -----------------------------------------------------------------


def _verification(result: credentials.Verification, status: int = 200) -> Any:
    locale = str(get_locale())
    if wants_json():
        return jsonify(result.public(_urls(), locale)), status
    return (
        render_template("certificates/verify.html", result=result, warn_days=0, errors={}),
        status,
    )


@bp.route("/verify")
@public
@limiter.limit(_verify_limit, scope="certificates.verify")
def verify_form() -> Any:
    """Look up a code typed from a printed certificate, or check a credential file."""
    code = request.args.get("code", "").strip()
    if code:
        return redirect(url_for("certificates.verify_code", code=certificates.normalise_code(code)))
    return render_template("certificates/verify.html", result=None, errors={})


@bp.route("/verify/<code>")
@public
@limiter.limit(_verify_limit, scope="certificates.verify")
def verify_code(code: str) -> Any:
    result = credentials.verify_code(get_session(), code, _now())
    return _verification(result, 404 if result.status == "unknown" else 200)


@bp.route("/verify", methods=["POST"])
@public
@csrf.exempt  # changes nothing; scripts and wallets post here without a session
@limiter.limit(_verify_limit, scope="certificates.verify")
def verify_upload() -> Any:
    """Check a downloaded credential (.jwt or .json): tampering shows."""
    upload = request.files.get("credential")
    raw = upload.read(MAX_UPLOAD_CHARS + 1).decode("utf-8", "replace") if upload else ""
    raw = raw or request.form.get("credential_text", "") or request.form.get("credential", "")
    if not raw and request.mimetype in ("application/json", "application/vc+jwt", "text/plain"):
        raw = request.get_data(as_text=True)  # a script posts the credential as the body
    if not raw.strip() or len(raw) > MAX_UPLOAD_CHARS:
        message = gettext("Choose a credential file (.jwt or .json) or paste its text.")
        if wants_json():
            return jsonify(error="invalid_input", message=message), INVALID_FORM
        return render_template(
            "certificates/verify.html", result=None, errors={"credential": [message]}
        ), INVALID_FORM
    services = lti_services()
    jwks = {"keys": credentials.public_keys(services.credential_keys, _urls())}
    return _verification(credentials.verify_upload(get_session(), raw, jwks, _now()))


@bp.route("/ob/issuers/<int:organisation_id>")
@public
def issuer(organisation_id: int) -> Any:
    """The Open Badges Profile of an organisation: its name, nothing more."""
    return jsonify(credentials.issuer_profile(get_session(), _urls(), organisation_id))


@bp.route("/ob/achievements/<achievement_uuid>")
@public
def achievement(achievement_uuid: str) -> Any:
    return jsonify(credentials.achievement(get_session(), _urls(), achievement_uuid))


@bp.route("/ob/keys/<kid>")
@public
def credential_key(kid: str) -> Any:
    """The bare public key a credential's ``kid`` names (OB 3.0 §8.2.3)."""
    response = jsonify(credentials.public_key(lti_services().credential_keys, _urls(), kid))
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


@bp.route("/ob/status/<list_uuid>")
@public
def status_list(list_uuid: str) -> Any:
    """The organisation's revocation list, a signed BitstringStatusListCredential."""
    token = credentials.signed_status_list(
        get_session(), list_uuid, lti_services().credential_keys, _urls(), _now()
    )
    response = Response(token, mimetype="application/vc+jwt")
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


# --- managers: what expires, manual issue -------------------------------------------------


@bp.route("/manager/certificates")
@requires(Permission.MANAGER, Permission.ADMIN)
def expiring() -> Any:
    try:
        query = ExpiringQuery().load(request.args.to_dict())
    except ValidationError as exc:
        return _expiring_page(_warn_days(), field_errors(exc), INVALID_FORM)
    return _expiring_page(query.get("days") or _warn_days())


def _expiring_page(days: int, errors: Any = None, status: int = 200) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    rows = certificates.expiring(session, organisation_id, days, _now(), managed_units())
    holders = [p for r in rows if (p := r.certificate.person_id) is not None]
    audit.record_view(session, current_actor(), "certificates", holders, detail={"days": days})
    return render_template(
        "certificates/expiring.html",
        launch=current_launch(),
        days=days,
        rows=rows,
        certifications=certifications.list_certifications(
            session, organisation_id, published_only=True
        ),
        people=assignments.people_of(session, organisation_id, unit_ids=managed_units()),
        errors=errors or {},
        values=request.form,
    ), status


@bp.route("/manager/certifications/<int:certification_id>/issue", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN, Permission.DESIGNER)
def issue(certification_id: int) -> Any:
    """Issue by hand, with a reason (designers from the certification's page, to anyone)."""
    designer = current_permissions() & {Permission.DESIGNER, Permission.ADMIN}
    return _issue_by_hand(certification_id, None if designer else managed_units())


@bp.route("/manager/certificates/issue", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def issue_chosen() -> Any:
    """Issue by hand from the manager's list, the certification chosen on the form."""
    return _issue_by_hand(request.form.get("certification_id", type=id_value) or 0, managed_units())


def _issue_by_hand(certification_id: int, unit_ids: frozenset[int] | None) -> Any:
    """Issue to a person of ``unit_ids`` (a manager of some units); None: to anyone."""
    person_id = request.form.get("person_id", type=id_value) or 0
    assignments.check_in_units(get_session(), person_id, unit_ids)
    try:
        form = ManualIssueForm().load(request.form.to_dict())
        certificate = certificates.issue_manually(
            get_session(),
            current_organisation_id(),
            certification_id,
            form["person_id"],
            _me(),
            form["reason"],
            _now(),
        )
    except ValidationError as exc:
        flash(" ".join(m for ms in field_errors(exc).values() for m in ms), "error")
        return redirect(_back())
    except CannotIssue as exc:
        flash(str(exc.message), "error")
        return redirect(_back())
    flash(gettext("Certificate %(code)s issued.", code=certificate.code), "success")
    return redirect(_back())


def _back() -> str:
    """Where the form came from: a path on this site only (no other host, no header tricks)."""
    target = request.form.get("next", "")
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    if local and target.isprintable():
        return target
    return url_for("certificates.expiring")


# --- admins: the register and revocation --------------------------------------------------


@bp.route("/admin/certificates")
@requires(Permission.ADMIN)
def register() -> Any:
    session = get_session()
    code = request.args.get("code", "").strip()
    found = certificates.find_by_code(session, code, current_organisation_id()) if code else None
    recent = certificates.recent(session, current_organisation_id())
    shown = [p for c in [*recent, *([found] if found else [])] if (p := c.person_id) is not None]
    audit.record_view(session, current_actor(), "certificates", shown)
    return render_template(
        "certificates/register.html",
        launch=current_launch(),
        code=code,
        found=found,
        recent=recent,
        now=_now(),
        warn_days=_warn_days(),
    )


@bp.route("/admin/certificates/<int:certificate_id>")
@requires(Permission.ADMIN)
def certificate_admin(certificate_id: int, errors: Any = None, status: int = 200) -> Any:
    session, organisation_id = get_session(), current_organisation_id()
    certificate = certificates.get_certificate(session, organisation_id, certificate_id)
    trail = certificates.trail_of(session, organisation_id, certificate.id)
    audit.record_view(
        get_session(),
        current_actor(),
        "certificate",
        [certificate.person_id] if certificate.person_id is not None else [],
        object_id=certificate.id,
    )
    return render_template(
        "certificates/admin_certificate.html",
        launch=current_launch(),
        certificate=certificate,
        trail=trail,
        names=audit.names_of(session, organisation_id, trail),
        standing=certificates.standing(certificate, _now(), _warn_days()),
        errors=errors or {},
        values=request.form,
    ), status


@bp.route("/admin/certificates/<int:certificate_id>/revoke", methods=["POST"])
@requires(Permission.ADMIN)
def revoke(certificate_id: int) -> Any:
    try:
        form = RevokeForm().load(request.form.to_dict())
        certificates.revoke(
            get_session(),
            current_organisation_id(),
            certificate_id,
            _me(),
            form["reason"],
            _now(),
        )
    except ValidationError as exc:
        return certificate_admin(certificate_id, field_errors(exc), INVALID_FORM)
    except CannotRevoke as exc:
        return certificate_admin(certificate_id, {"reason": [str(exc.message)]}, exc.status)
    flash(gettext("The certificate is revoked."), "success")
    return redirect(url_for("certificates.certificate_admin", certificate_id=certificate_id))
