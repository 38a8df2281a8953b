"""The unit manager's pages: self-choices to decide, people with their job roles and units,
and job roles and units from HR's CSV file.

A manager acts for the organisation of their launch's deployment; a person or assignment
of another organisation is not found.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from marshmallow import ValidationError

from lti_tool.auth import current_launch, current_organisation_id, launch_token, requires
from lti_tool.db import get_session
from lti_tool.lti.roles import Permission
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import AssignForm
from lti_tool.services import assignment_import, assignments
from lti_tool.services.assignment_import import ImportRejected
from lti_tool.services.assignments import Kind

bp = Blueprint("manager", __name__, url_prefix="/manager")

INVALID_FORM = 422
KINDS = "any(role, unit)"


def _me() -> int:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch.person_id


def _to(endpoint: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, lt=launch_token(), **values))


def _home(status: int = 200, **context: Any) -> Any:
    people = assignments.people_of(get_session(), current_organisation_id())
    page = render_template(
        "manager/home.html",
        launch=current_launch(),
        people=people,
        pending=[p for p in people if p.has_pending],
        limits=(assignment_import.MAX_IMPORT_BYTES // 1024, assignment_import.MAX_IMPORT_ROWS),
        **context,
    )
    return page, status


@bp.route("/")
@requires(Permission.MANAGER, Permission.ADMIN)
def home() -> Any:
    return _home()


@bp.route("/people/<int:person_id>")
@requires(Permission.MANAGER, Permission.ADMIN)
def person(person_id: int, errors: dict[str, list[str]] | None = None, status: int = 200) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    placement = assignments.placement_of(session, organisation_id, person_id)
    page = render_template(
        "manager/person.html",
        launch=current_launch(),
        placement=placement,
        job_roles=assignments.job_roles_of(session, organisation_id),
        units=assignments.units_of(session, organisation_id),
        errors=errors or {},
    )
    return page, status


@bp.route("/people/<int:person_id>/assign", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def assign(person_id: int) -> Any:
    try:
        form = AssignForm().load(request.form)
    except ValidationError as exc:
        return person(person_id, field_errors(exc), INVALID_FORM)
    assignments.assign(
        get_session(),
        current_organisation_id(),
        person_id,
        Kind(form["kind"]),
        form["target_id"],
        by_id=_me(),
    )
    flash(gettext("Assigned."), "success")
    return _to("manager.person", person_id=person_id)


@bp.route(f"/assignments/<{KINDS}:kind>/<int:assignment_id>/end", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def end(kind: str, assignment_id: int) -> Any:
    row = assignments.end_assignment(
        get_session(), current_organisation_id(), Kind(kind), assignment_id, by_id=_me()
    )
    flash(gettext("Ended. It stays in the history."), "success")
    return _to("manager.person", person_id=row.person_id)


@bp.route(
    f"/assignments/<{KINDS}:kind>/<int:assignment_id>/<any(approve, reject):decision>",
    methods=["POST"],
)
@requires(Permission.MANAGER, Permission.ADMIN)
def decide(kind: str, assignment_id: int, decision: str) -> Any:
    assignments.decide(
        get_session(),
        current_organisation_id(),
        Kind(kind),
        assignment_id,
        approve=decision == "approve",
        decided_by_id=_me(),
    )
    if decision == "approve":
        flash(gettext("Approved."), "success")
    else:
        flash(gettext("Rejected."), "success")
    return _to("manager.home")


@bp.route("/import", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def import_file() -> Any:
    upload = request.files.get("file")
    data = upload.read(assignment_import.MAX_IMPORT_BYTES + 1) if upload else b""
    try:
        result = assignment_import.import_assignments(
            get_session(), current_organisation_id(), data, imported_by_id=_me()
        )
    except ImportRejected as rejected:
        filename = upload.filename if upload else ""
        return _home(INVALID_FORM, problems=rejected.problems, filename=filename)
    flash(
        ngettext(
            "Imported %(num)d row: %(added)d new, %(unchanged)d already held.",
            "Imported %(num)d rows: %(added)d new, %(unchanged)d already held.",
            result.rows,
            added=result.added,
            unchanged=result.unchanged,
        ),
        "success",
    )
    return _to("manager.home")
