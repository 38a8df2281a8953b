"""Content packages in the designer's pages (issue 17): export the organisation's content as
a package, and import one with a preview first; and the package format's JSON Schema at its
stable, public URL.

Designers (and admins) of the launch's organisation only. The upload travels from the
preview to the confirmation sealed in the form (``services.pending_import``), bound to the
person and organisation; the import is all or nothing.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext, ngettext
from marshmallow import ValidationError

from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    current_permissions,
    public,
    requires,
)
from lti_tool.db import get_session
from lti_tool.domain.texts import localized
from lti_tool.errors import ImportErrors
from lti_tool.interchange import package as fmt
from lti_tool.lti.roles import Permission
from lti_tool.models import LibraryPackage, Organisation
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import form_data
from lti_tool.schemas.packages import PackageExportForm
from lti_tool.services import frameworks, library, packages, pending_import
from lti_tool.signing import secret_keys

bp = Blueprint("packages", __name__)

INVALID_FORM = 422
DESIGNERS = (Permission.DESIGNER, Permission.ADMIN)
#: Who reads the region's library: its designers, and its coordinators (who moderate).
READERS = (Permission.DESIGNER, Permission.COORDINATOR, Permission.ADMIN)
#: Who moderates it: the region's coordinators (and admins).
MODERATORS = (Permission.COORDINATOR, Permission.ADMIN)


def _may_design() -> bool:
    return bool(set(DESIGNERS) & current_permissions())


def _may_moderate() -> bool:
    return bool(set(MODERATORS) & current_permissions())


@bp.get(fmt.SCHEMA_ID)
@public
def schema() -> Any:
    """The JSON Schema (draft 2020-12) of the package format, version 1."""
    response = jsonify(fmt.SCHEMA)
    response.mimetype = "application/schema+json"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


def _page(status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    context.setdefault("values", {"version": "1.0.0", "licence": "CC-BY-4.0"})
    context.setdefault("errors", {})
    return render_template(
        "packages/packages.html",
        launch=current_launch(),
        frameworks=frameworks.list_frameworks(session, organisation_id),
        imports=packages.list_imports(session, organisation_id),
        localized=lambda text: localized(text, str(get_locale())),
        shown=_shown,
        max_kb=fmt.MAX_PACKAGE_BYTES // 1024,
        **context,
    ), status


def _shown(value: Any) -> str:
    """A field's value in the update's comparison: a text in the reader's language, else
    short JSON."""
    if isinstance(value, dict) and value and set(value) <= {"nb", "nn", "en"}:
        return localized(value, str(get_locale()))
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:300] + " …"


@bp.get("/designer/packages")
@requires(*DESIGNERS)
def packages_page() -> Any:
    return _page()


@bp.post("/designer/packages/export")
@requires(*DESIGNERS)
def export_package() -> Any:
    try:
        wanted = PackageExportForm().load(form_data(request.form, "frameworks"))
    except ValidationError as exc:
        return _page(INVALID_FORM, errors=field_errors(exc), values=request.form)
    data = packages.export_package(get_session(), current_organisation_id(), wanted)
    return _zip(data, wanted)


def _zip(data: bytes, wanted: packages.ExportRequest) -> Response:
    name = f"{wanted.name}-{wanted.version}.zip"
    return Response(
        data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/designer/packages/import")
@requires(*DESIGNERS)
def import_package() -> Any:
    """A preview of what the package would create, what is there already and what
    conflicts, with a button to confirm; or every problem, naming its entry."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(INVALID_FORM, import_errors={"file": [gettext("Choose a file.")]})
    data = upload.read(packages.MAX_UPLOAD + 1)
    try:
        preview = packages.preview_import(get_session(), current_organisation_id(), data)
    except ImportErrors as exc:
        return _page(INVALID_FORM, problems=exc.problems, filename=upload.filename)
    launch = current_launch()
    assert launch is not None  # requires() let a launched person through
    sealed = pending_import.seal_package(
        secret_keys(current_app),
        pending_import.PendingPackage(
            organisation_id=current_organisation_id(),
            person_id=launch.person_id,
            data=data,
            fingerprint=preview.fingerprint,
            filename=upload.filename,
        ),
    )
    return _page(preview=preview, pending=sealed, filename=upload.filename)


@bp.post("/designer/packages/import/confirm")
@requires(*DESIGNERS)
def confirm_import() -> Any:
    """Write what the preview showed, all or none."""
    launch = current_launch()
    assert launch is not None
    pending = pending_import.unseal_package(
        secret_keys(current_app),
        request.form.get("pending", ""),
        current_organisation_id(),
        launch.person_id,
    )
    if pending is None:
        flash(gettext("The preview has expired or is not yours: choose the file again."), "error")
        return _page(INVALID_FORM)
    try:
        record = packages.import_package(
            get_session(),
            pending.organisation_id,
            pending.data,
            fingerprint=pending.fingerprint,
            person_id=launch.person_id,
            take=request.form.getlist("take"),
        )
    except ImportErrors as exc:
        g.rollback_only = True  # nothing of a half-done import is kept
        return _page(INVALID_FORM, problems=exc.problems, filename=pending.filename)
    flash(
        ngettext(
            "The package %(name)s %(version)s is imported: %(num)d object is created.",
            "The package %(name)s %(version)s is imported: %(num)d objects are created.",
            len(record.objects),
            name=record.name,
            version=record.version,
        ),
        "success",
    )
    return redirect(url_for("packages.packages_page"))


# --- the regional library -------------------------------------------------------------------


def _library_page(status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    query = request.args.get("q", "")[:200]
    context.setdefault("values", {"version": "1.0.0", "licence": "CC-BY-4.0"})
    context.setdefault("errors", {})
    return render_template(
        "packages/library.html",
        launch=current_launch(),
        in_region=library.region_id_of(session, organisation_id) is not None,
        found=library.browse(session, organisation_id, query),
        hidden=library.hidden_packages(session, organisation_id) if _may_moderate() else (),
        may_design=_may_design(),
        query=query,
        organisation_id=organisation_id,
        frameworks=frameworks.list_frameworks(session, organisation_id),
        localized=lambda text: localized(text, str(get_locale())),
        **context,
    ), status


@bp.get("/designer/library")
@requires(*READERS)
def library_page() -> Any:
    """The region's library: search and browse its packages, publish one."""
    return _library_page()


@bp.post("/designer/library")
@requires(*DESIGNERS)
def publish_to_library() -> Any:
    try:
        wanted = PackageExportForm().load(form_data(request.form, "frameworks"))
    except ValidationError as exc:
        return _library_page(INVALID_FORM, errors=field_errors(exc), values=request.form)
    launch = current_launch()
    assert launch is not None
    made = library.publish_package(
        get_session(), current_organisation_id(), wanted, person_id=launch.person_id
    )
    flash(
        gettext(
            "%(name)s %(version)s is in the region's library.",
            name=made.name,
            version=made.version,
        ),
        "success",
    )
    return redirect(url_for("packages.library_page"))


@bp.get("/designer/library/<int:package_id>")
@requires(*READERS)
def library_package(package_id: int) -> Any:
    """A library package: what it holds and what importing it here would do."""
    session = get_session()
    organisation_id = current_organisation_id()
    found = library.get_package(session, organisation_id, package_id)
    context: dict[str, Any] = {}
    if found.withdrawn_at is None and found.hidden_at is None and _may_design():
        try:
            context["preview"] = packages.preview_import(session, organisation_id, found.data)
        except ImportErrors as exc:
            context["problems"] = exc.problems
        else:
            launch = current_launch()
            assert launch is not None
            context["pending"] = pending_import.seal_package(
                secret_keys(current_app),
                pending_import.PendingPackage(
                    organisation_id=organisation_id,
                    person_id=launch.person_id,
                    data=found.data,
                    fingerprint=context["preview"].fingerprint,
                    filename=f"{found.name}-{found.version}.zip",
                ),
            )
    return render_template(
        "packages/library_package.html",
        launch=current_launch(),
        package=found,
        publisher=session.get(Organisation, found.organisation_id),
        ours=found.organisation_id == organisation_id,
        may_moderate=_may_moderate(),
        filename=f"{found.name}-{found.version}.zip",
        localized=lambda text: localized(text, str(get_locale())),
        shown=_shown,
        **context,
    )


@bp.get("/designer/library/<int:package_id>/download")
@requires(*DESIGNERS)
def download_library_package(package_id: int) -> Any:
    found = library.get_package(get_session(), current_organisation_id(), package_id)
    return Response(
        found.data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{found.name}-{found.version}.zip"'},
    )


@bp.post("/designer/library/<int:package_id>/withdraw")
@requires(*DESIGNERS)
def withdraw_library_package(package_id: int) -> Any:
    """The publisher withdraws the version; copies already imported stay."""
    found = library.withdraw_package(get_session(), current_organisation_id(), package_id)
    flash(
        gettext(
            "%(name)s %(version)s is withdrawn from the library.",
            name=found.name,
            version=found.version,
        ),
        "success",
    )
    return redirect(url_for("packages.library_page"))


@bp.post("/designer/library/<int:package_id>/hide")
@requires(*MODERATORS)
def hide_library_package(package_id: int) -> Any:
    """A regional coordinator takes a version out of the library (moderation)."""
    reason = request.form.get("reason", "").strip()[:1000]
    session = get_session()
    if not reason:
        found = library.get_package(session, current_organisation_id(), package_id)
        flash(gettext("Say why the package is hidden."), "error")
        return redirect(url_for("packages.library_package", package_id=found.id))
    found = library.hide_package(session, current_actor(), package_id, reason)
    return _moderated(
        found,
        gettext(
            "%(name)s %(version)s is hidden from the library.",
            name=found.name,
            version=found.version,
        ),
    )


def _moderated(found: LibraryPackage, said: str) -> Any:
    flash(said, "success")
    return redirect(url_for("packages.library_package", package_id=found.id))


@bp.post("/designer/library/<int:package_id>/show")
@requires(*MODERATORS)
def show_library_package(package_id: int) -> Any:
    """A regional coordinator offers a hidden version in the library again."""
    found = library.show_package(get_session(), current_actor(), package_id)
    return _moderated(
        found,
        gettext(
            "%(name)s %(version)s is in the library again.",
            name=found.name,
            version=found.version,
        ),
    )
