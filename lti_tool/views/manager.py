"""The unit manager's pages: self-choices to decide, people with their job roles and units,
job roles and units from HR's CSV file, and a person's learning plan (add an activity or a
competence, set due dates, see the person's answers and reasons, confirm an activity
completed).

A manager acts for the organisation of their launch's deployment; a person or assignment
of another organisation is not found. A person granted manager of some units
(``services.grants``) sees and decides for the people of those units (and the units under
them) only; the organisation's structure and HR's file are for admins and for managers by
LMS role.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, ngettext
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import (
    current_actor,
    current_grants,
    current_launch,
    current_organisation_id,
    current_permissions,
    managed_units,
    require_whole_organisation,
    requires,
)
from lti_tool.db import get_session
from lti_tool.domain.texts import localized
from lti_tool.errors import (
    InvalidCode,
    InvalidInput,
    InvalidName,
    InvalidOrgUnitParent,
    OrgUnitCodeTaken,
    PlanInvalid,
    ToolError,
)
from lti_tool.lti.roles import Permission
from lti_tool.models import UnitKind
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import AssignForm, PeoplePageQuery
from lti_tool.schemas.coverage import (
    MatrixQuery,
    TrailQuery,
    export_query,
    matrix_options,
    query_data,
)
from lti_tool.schemas.org_units import MoveUnitForm, RenameUnitForm, UnitForm
from lti_tool.schemas.plans import AddItemForm, ConfirmForm, DueForm
from lti_tool.services import (
    assignment_import,
    assignments,
    audit,
    certifications,
    coverage,
    grants,
    org_units,
    organisations,
    plans,
)
from lti_tool.services.assignment_import import ImportRejected
from lti_tool.services.assignments import Kind
from lti_tool.views import matrix_cells

bp = Blueprint("manager", __name__, url_prefix="/manager")

INVALID_FORM = 422
KINDS = "any(role, unit)"


def _me() -> int:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch.person_id


def _to(endpoint: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, **values))


def _home(status: int = 200, **context: Any) -> Any:
    session, organisation_id, scope = get_session(), current_organisation_id(), managed_units()
    try:
        number = PeoplePageQuery().load(query_data(request.args))["page"]
    except ValidationError as exc:
        raise InvalidInput(field_errors(exc)) from exc
    people = assignments.people_page(session, organisation_id, scope, number)
    shown = dict.fromkeys(p.person.id for p in (*people.pending, *people.people))
    audit.record_view(session, current_actor(), "people", list(shown))
    page = render_template(
        "manager/home.html",
        launch=current_launch(),
        whole_organisation=scope is None,
        my_units=grants.granted_units(current_grants())
        if scope is not None
        else grants.units_of(session, organisation_id),
        people=people,
        pending=people.pending,
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
    session, organisation_id, scope = get_session(), current_organisation_id(), managed_units()
    placement = assignments.placement_of(session, organisation_id, person_id, scope)
    audit.record_view(session, current_actor(), "person", [person_id], object_id=person_id)
    page = render_template(
        "manager/person.html",
        launch=current_launch(),
        placement=placement,
        job_roles=assignments.job_roles_of(session, organisation_id),
        units=assignments.units_of(session, organisation_id, scope),
        scope=scope,
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
        unit_ids=managed_units(),
    )
    flash(gettext("Assigned."), "success")
    return _to("manager.person", person_id=person_id)


@bp.route(f"/assignments/<{KINDS}:kind>/<int:assignment_id>/end")
@requires(Permission.MANAGER, Permission.ADMIN)
def confirm_end(kind: str, assignment_id: int) -> Any:
    session = get_session()
    ending = assignments.assignment_to_end(
        session, current_organisation_id(), Kind(kind), assignment_id, managed_units()
    )
    person_id = ending.row.person_id  # their name and place, shown to ask
    audit.record_view(session, current_actor(), "person", [person_id], object_id=person_id)
    return render_template(
        "manager/confirm_end.html", launch=current_launch(), ending=ending, kind=kind
    )


@bp.route(f"/assignments/<{KINDS}:kind>/<int:assignment_id>/end", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def end(kind: str, assignment_id: int) -> Any:
    ending = assignments.end_assignment(
        get_session(),
        current_organisation_id(),
        Kind(kind),
        assignment_id,
        by_id=_me(),
        unit_ids=managed_units(),
    )
    person = ending.row.person
    if ending.leaves_scope:  # their page is no longer this manager's to see
        flash(
            gettext(
                "Ended. %(name)s is no longer in your units; it stays in the history.",
                name=person.display_name,
            ),
            "success",
        )
        return _to("manager.home")
    flash(gettext("Ended. It stays in the history."), "success")
    return _to("manager.person", person_id=person.id)


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
        unit_ids=managed_units(),
    )
    if decision == "approve":
        flash(gettext("Approved."), "success")
    else:
        flash(gettext("Rejected."), "success")
    return _to("manager.home")


@bp.route("/import", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def import_file() -> Any:
    require_whole_organisation()
    upload = request.files.get("file")
    data = upload.read(assignment_import.MAX_IMPORT_BYTES + 1) if upload else b""
    try:
        result = assignment_import.import_assignments(
            get_session(),
            current_organisation_id(),
            data,
            by=current_actor(),
            may_grant=Permission.ADMIN in current_permissions(),
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
    if result.granted:
        flash(
            ngettext(
                "%(num)d manager permission granted.",
                "%(num)d manager permissions granted.",
                result.granted,
            ),
            "success",
        )
    return _to("manager.home")


# --- the municipality's sectors, departments and units ------------------------------------

#: The field a refusal of the org unit services belongs to.
UNIT_FIELD_OF: dict[type[ToolError], str] = {
    InvalidCode: "code",
    OrgUnitCodeTaken: "code",
    InvalidName: "name",
    InvalidOrgUnitParent: "parent_id",
}
UNIT_REFUSALS = tuple(UNIT_FIELD_OF)


def _unit_refusal(exc: ToolError) -> dict[str, list[str]]:
    field = next(name for kind, name in UNIT_FIELD_OF.items() if isinstance(exc, kind))
    return {field: [str(exc.message)]}


def _parent_options(leave_out: int | None = None) -> list[tuple[Any, str]]:
    """Every unit that something can sit under, indented by depth (archived left out)."""
    options: list[tuple[Any, str]] = [("", gettext("None (at the top)"))]

    def walk(nodes: list[org_units.TreeNode], depth: int) -> None:
        for node in nodes:
            if node.unit.id == leave_out:
                continue
            if node.unit.kind != UnitKind.UNIT:
                options.append((node.unit.id, "\u2013 " * depth + node.unit.name))
            walk(node.children, depth + 1)

    walk(org_units.unit_tree(get_session(), current_organisation_id()), 0)
    return options


def _units_page(status: int = 200, **context: Any) -> Any:
    context.setdefault("errors", {})
    context.setdefault("values", {"kind": UnitKind.UNIT.value})
    page = render_template(
        "manager/units.html",
        launch=current_launch(),
        tree=org_units.unit_tree(get_session(), current_organisation_id(), include_archived=True),
        kinds=[k.value for k in UnitKind],
        parent_options=_parent_options(),
        **context,
    )
    return page, status


@bp.route("/units")
@requires(Permission.MANAGER, Permission.ADMIN)
def units() -> Any:
    require_whole_organisation()
    return _units_page()


@bp.route("/units", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def create_unit() -> Any:
    require_whole_organisation()
    try:
        form = UnitForm().load(request.form)
        made = org_units.create_unit(
            get_session(),
            current_organisation_id(),
            kind=UnitKind(form["kind"]),
            code=form["code"],
            name=form["name"],
            parent_id=form["parent_id"],
        )
    except ValidationError as exc:
        return _units_page(INVALID_FORM, errors=field_errors(exc), values=request.form)
    except UNIT_REFUSALS as exc:
        return _units_page(INVALID_FORM, errors=_unit_refusal(exc), values=request.form)
    flash(gettext("%(name)s is created.", name=made.name), "success")
    return _to("manager.units")


def _unit_page(
    unit_id: int,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    values: Any = None,
    move_errors: dict[str, list[str]] | None = None,
) -> Any:
    found = org_units.get_unit(get_session(), current_organisation_id(), unit_id)
    page = render_template(
        "manager/unit.html",
        launch=current_launch(),
        unit=found,
        parent_options=_parent_options(leave_out=found.id),
        errors=errors or {},
        values=values if values is not None else {"code": found.code, "name": found.name},
        move_errors=move_errors or {},
    )
    return page, status


@bp.route("/units/<int:unit_id>")
@requires(Permission.MANAGER, Permission.ADMIN)
def unit(unit_id: int) -> Any:
    require_whole_organisation()
    return _unit_page(unit_id)


@bp.route("/units/<int:unit_id>", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def rename_unit(unit_id: int) -> Any:
    require_whole_organisation()
    try:
        form = RenameUnitForm().load(request.form)
        renamed = org_units.rename_unit(
            get_session(), current_organisation_id(), unit_id, name=form["name"], code=form["code"]
        )
    except ValidationError as exc:
        return _unit_page(unit_id, INVALID_FORM, field_errors(exc), request.form)
    except UNIT_REFUSALS as exc:
        return _unit_page(unit_id, INVALID_FORM, _unit_refusal(exc), request.form)
    flash(gettext("%(name)s is saved.", name=renamed.name), "success")
    return _to("manager.units")


@bp.route("/units/<int:unit_id>/move", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def move_unit(unit_id: int) -> Any:
    require_whole_organisation()
    try:
        form = MoveUnitForm().load(request.form)
        moved = org_units.move_unit(
            get_session(), current_organisation_id(), unit_id, form["parent_id"]
        )
    except ValidationError as exc:
        return _unit_page(unit_id, INVALID_FORM, move_errors=field_errors(exc))
    except UNIT_REFUSALS as exc:
        return _unit_page(unit_id, INVALID_FORM, move_errors=_unit_refusal(exc))
    flash(gettext("%(name)s is moved.", name=moved.name), "success")
    return _to("manager.units")


@bp.route("/units/<int:unit_id>/archive")
@requires(Permission.MANAGER, Permission.ADMIN)
def confirm_archive_unit(unit_id: int) -> Any:
    require_whole_organisation()
    found = org_units.get_unit(get_session(), current_organisation_id(), unit_id)
    return render_template("manager/confirm_unit_archive.html", launch=current_launch(), unit=found)


@bp.route("/units/<int:unit_id>/<any(archive, restore):action>", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def archive_unit(unit_id: int, action: str) -> Any:
    require_whole_organisation()
    found = org_units.archive_unit(
        get_session(), current_organisation_id(), unit_id, archived=action == "archive"
    )
    if found.archived:
        flash(gettext("%(name)s is archived.", name=found.name), "success")
    else:
        flash(gettext("%(name)s is restored.", name=found.name), "success")
    return _to("manager.units")


# --- the unit's competence matrix ------------------------------------------------------------


def _matrix_query() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The matrix's query string, or its defaults and the errors when it does not read."""
    try:
        return MatrixQuery().load(query_data(request.args)), {}
    except ValidationError as exc:
        return MatrixQuery().load({}), field_errors(exc)


@bp.route("/units/<int:unit_id>/matrix")
@requires(Permission.MANAGER, Permission.ADMIN)
def matrix(unit_id: int) -> Any:
    """The unit's (and its sub-units') people × required competences, for a manager of it."""
    session, organisation_id = get_session(), current_organisation_id()
    scope = coverage.unit_scope(session, organisation_id, unit_id, managed_units())
    query, errors = _matrix_query()
    locale = str(get_locale())
    found = coverage.unit_matrix(
        session,
        organisation_id,
        scope,
        now=clock.now(),
        locale=locale,
        **matrix_options(query, organisations.expiring_days_of(session, organisation_id)),
    )
    shown = [row.person_id for row in found.rows]
    audit.record_view(session, current_actor(), "competence_matrix", shown, object_id=unit_id)
    keep = {k: v for k, v in request.args.lists() if k not in ("page", "lt", "lang")}
    page = render_template(
        "manager/matrix.html",
        launch=current_launch(),
        unit=org_units.get_unit(session, organisation_id, unit_id),
        matrix=found,
        competences=coverage.headings(session, organisation_id, scope, locale=locale),
        query=query,
        errors=errors,
        keep=keep,
        keep_query=[(k, v) for k, values in keep.items() for v in values],
        exports=export_query(query),
        trail_url=matrix_cells.trail_url,
        matrix_cells=matrix_cells.MatrixCells,
    )
    return page, INVALID_FORM if errors else 200


@bp.route("/people/<int:person_id>/competences/<int:competence_id>")
@requires(Permission.MANAGER, Permission.ADMIN)
def competence_trail(person_id: int, competence_id: int) -> Any:
    """A cell's drill-down: the person's evidence for the competence and certificates."""
    try:
        query = TrailQuery().load(request.args.to_dict())
    except ValidationError:
        query = TrailQuery().load({})
    session, organisation_id = get_session(), current_organisation_id()
    trail = coverage.competence_trail(
        session,
        organisation_id,
        person_id,
        competence_id,
        managed_units(),
        now=clock.now(),
        expiring_days=query["days"] or organisations.expiring_days_of(session, organisation_id),
        locale=str(get_locale()),
    )
    audit.record_view(
        session, current_actor(), "competence_trail", [person_id], object_id=competence_id
    )
    return render_template(
        "manager/competence_trail.html",
        launch=current_launch(),
        trail=trail,
        unit_id=query["unit"],
        days=query["days"],
    )


# --- a person's learning plan -----------------------------------------------------------------


def _plan_page(
    person_id: int,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    form: str | None = None,
    values: Any = None,
) -> Any:
    """The plan of a person in the manager's units; ``form`` names the form shown again
    with ``errors`` (``add``, or an entry's key)."""
    session, organisation_id = get_session(), current_organisation_id()
    found = plans.managed_plan(
        session,
        organisation_id,
        person_id,
        managed_units(),
        now=clock.now(),
        locale=str(get_locale()),
    )
    audit.record_view(session, current_actor(), "learning_plan", [person_id], object_id=person_id)
    page = render_template(
        "manager/plan.html",
        launch=current_launch(),
        plan=found,
        activities=certifications.list_courses(session, organisation_id),
        localized=lambda text: localized(text, str(get_locale())),
        errors=errors or {},
        form=form,
        values=values or {},
    )
    return page, status


def _plan_refused(person_id: int, form: str, exc: Exception) -> Any:
    if isinstance(exc, ValidationError):
        return _plan_page(person_id, INVALID_FORM, field_errors(exc), form, request.form)
    assert isinstance(exc, PlanInvalid)
    return _plan_page(person_id, exc.status, {exc.field: [str(exc.message)]}, form, request.form)


@bp.route("/people/<int:person_id>/plan")
@requires(Permission.MANAGER, Permission.ADMIN)
def plan(person_id: int) -> Any:
    """The person's learning plan, with their answers and reasons (their manager's view)."""
    return _plan_page(person_id)


@bp.route("/people/<int:person_id>/plan/items", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def add_plan_item(person_id: int) -> Any:
    """Add an activity or a competence to the person's plan, with a due date if wanted."""
    try:
        form = AddItemForm().load(request.form.to_dict())
        plans.add_plan_item(
            get_session(),
            current_organisation_id(),
            person_id,
            by_id=_me(),
            unit_ids=managed_units(),
            now=clock.now(),
            course_id=form["course_id"],
            competence_id=form["competence_id"],
            due_on=form["due_on"],
            locale=str(get_locale()),
        )
    except (ValidationError, PlanInvalid) as exc:
        return _plan_refused(person_id, "add", exc)
    flash(gettext("Added to the plan."), "success")
    return _to("manager.plan", person_id=person_id)


@bp.route("/people/<int:person_id>/plan/due", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def set_due_date(person_id: int) -> Any:
    """Set or clear when an entry of the person's plan should be done."""
    try:
        form = DueForm().load(request.form.to_dict())
        plans.set_due_date(
            get_session(),
            current_organisation_id(),
            person_id,
            form["entry"],
            form["due_on"],
            by_id=_me(),
            unit_ids=managed_units(),
            now=clock.now(),
            locale=str(get_locale()),
        )
    except (ValidationError, PlanInvalid) as exc:
        return _plan_refused(person_id, request.form.get("entry", ""), exc)
    flash(gettext("Due date saved."), "success")
    return _to("manager.plan", person_id=person_id)


@bp.route("/people/<int:person_id>/plan/confirm", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def confirm_completion(person_id: int) -> Any:
    """Confirm that the person completed an activity: evidence at the levels it develops."""
    try:
        form = ConfirmForm().load(request.form.to_dict())
        plans.confirm_completion(
            get_session(),
            current_organisation_id(),
            form["course_id"],
            [person_id],
            actor=current_actor(),
            unit_ids=managed_units(),
            now=clock.now(),
        )
    except (ValidationError, PlanInvalid) as exc:
        return _plan_refused(person_id, "confirm", exc)
    flash(gettext("Confirmed as completed."), "success")
    return _to("manager.plan", person_id=person_id)
