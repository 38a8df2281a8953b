"""A unit's competence matrix exported for an inspection: CSV, XLSX and the PDF
competence documentation (``services.unit_exports``), with the matrix page's filters in
the query string (``schemas.coverage``).

Who may export what: managers and admins; a manager by grant only their units (with the
units under them: ``coverage.unit_scope``), anything else is not found. The whole
organisation's workbook (``/manager/export.xlsx``) is the admins' (whose scope is the whole
organisation; a manager by grant of the top unit exports that unit instead); anyone else is
forbidden it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from flask import Blueprint, Response, request
from flask_babel import get_locale, gettext, to_user_timezone
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    managed_units,
    require_whole_organisation,
    requires,
)
from lti_tool.db import get_session
from lti_tool.errors import InvalidFilter
from lti_tool.interchange.questions import slug
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.coverage import export_filters
from lti_tool.services import audit, credentials, unit_exports
from lti_tool.services.unit_exports import ExportScope
from lti_tool.views import attachment

bp = Blueprint("unit_exports", __name__, url_prefix="/manager")

log = logging.getLogger(__name__)
#: Bytes read from a temporary file per chunk of the response.
CHUNK = 64 * 1024


def _scope(unit_id: int | None) -> ExportScope:
    """What the caller asked to export, checked against the units they manage."""
    try:
        filters, days = export_filters(request.args)
    except ValidationError as exc:
        field, reasons = next(iter(field_errors(exc).items()))
        raise InvalidFilter(str(exc), field=field, reason=" ".join(reasons)) from exc
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return unit_exports.export_scope(
        get_session(),
        current_organisation_id(),
        unit_id,
        managed_units(),
        filters=filters,
        expiring_days=days,
        now=clock.now(),
        exported_by_id=launch.person_id,
        locale=str(get_locale()),
    )


def _exported(
    scope: ExportScope, kind: str, person_ids: list[int], code: str | None = None
) -> None:
    """Record in the audit log, in the request's transaction, that the people whose data
    the export holds left the tool: ``kind`` csv/xlsx/pdf, ``code`` the PDF's
    verification code. Called before a byte of the export is sent."""
    detail: dict[str, Any] = {
        "kind": kind,
        "unit_id": scope.unit_id,
        "filters": unit_exports.filters_record(scope),
    }
    if code is not None:
        detail["code"] = code
    audit.record_view(
        get_session(),
        current_actor(),
        "competence_matrix",
        person_ids,
        object_id=scope.unit_id,
        export=True,
        detail=detail,
    )
    log.info(
        "export %s of unit %s (organisation %s) by person %s: %d people",
        kind,
        scope.unit_id if scope.unit_id is not None else "all",
        scope.organisation_id,
        scope.exported_by_id,
        len(person_ids),
    )


def _filename(scope: ExportScope, extension: str) -> str:
    """Named in the reader's language by the unit (else the organisation) and the time
    (Norwegian) it was exported: "kompetanse-hjemmetjenesten-20261208-0930.pdf"."""
    whose = slug(scope.unit_name or scope.organisation_name) or str(scope.unit_id or "")
    when = f"{to_user_timezone(scope.now):%Y%m%d-%H%M}"
    return "-".join(filter(None, [slug(gettext("competence")), whose, when])) + f".{extension}"


def _send(body: IO[bytes], mimetype: str, filename: str) -> Response:
    """A temporary file as a download, read from disk a chunk at a time as the response
    goes out; closed (and so deleted) when sent or dropped."""
    size = body.seek(0, os.SEEK_END)
    body.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := body.read(CHUNK):
                yield chunk
        finally:
            body.close()

    response = Response(chunks(), mimetype=mimetype)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = attachment(filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/units/<int:unit_id>/export.csv")
@requires(Permission.MANAGER, Permission.ADMIN)
def export_csv(unit_id: int) -> Response:
    scope = _scope(unit_id)
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response once sent
    tally = unit_exports.write_csv(get_session(), scope, out)
    _exported(scope, "csv", tally.person_ids)
    return _send(out, "text/csv", _filename(scope, "csv"))


def _xlsx(scope: ExportScope) -> Response:
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response once sent
    tally = unit_exports.write_xlsx(get_session(), scope, out)
    _exported(scope, "xlsx", tally.person_ids)
    return _send(out, unit_exports.XLSX_MIMETYPE, _filename(scope, "xlsx"))


@bp.route("/units/<int:unit_id>/export.xlsx")
@requires(Permission.MANAGER, Permission.ADMIN)
def export_xlsx(unit_id: int) -> Response:
    return _xlsx(_scope(unit_id))


@bp.route("/export.xlsx")
@requires(Permission.MANAGER, Permission.ADMIN)
def export_organisation_xlsx() -> Response:
    """Everyone in the organisation (a manager of some units, or of none: forbidden, as
    the organisation's other pages)."""
    require_whole_organisation()
    return _xlsx(_scope(None))


@bp.route("/units/<int:unit_id>/export.pdf")
@requires(Permission.MANAGER, Permission.ADMIN)
def export_pdf(unit_id: int) -> Response:
    """The competence documentation, its verification code kept for ``/verify``."""
    session, scope = get_session(), _scope(unit_id)
    figures = unit_exports.tally(session, scope)
    record = unit_exports.record_documentation(session, scope, figures)
    urls = credentials.CredentialUrls(lti_services().settings.base_url)
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response once sent
    written = unit_exports.write_pdf(session, scope, figures, record, urls.verify(record.code), out)
    _exported(scope, "pdf", written.person_ids, record.code)
    return _send(out, "application/pdf", _filename(scope, "pdf"))
