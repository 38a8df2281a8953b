"""The designer's certifications: define them (texts, validity, renewal), the paths that earn
and renew them, publish them, see who holds them and the audit trail; and the courses
whose attendance paths may ask for, with attendance recorded by designers or managers.

Designers and admins define; managers may also record attendance. Anything of another
organisation is not found.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    current_permissions,
    managed_units,
    requires,
)
from lti_tool.db import get_session
from lti_tool.domain import certification_rules as rules
from lti_tool.domain.calendar import local_date
from lti_tool.domain.texts import LANGUAGES, localized
from lti_tool.errors import (
    CertificationCodeTaken,
    CertificationInvalid,
    CourseCodeTaken,
    InvalidCode,
    PlanInvalid,
)
from lti_tool.lti.roles import Permission
from lti_tool.models import AchievementType, CertificationStatus, CourseKind
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import form_data
from lti_tool.schemas.certifications import (
    PATH_FORM_ROWS,
    AttendanceForm,
    CertificationForm,
    CourseForm,
    PathForm,
)
from lti_tool.schemas.plans import ConfirmPeopleForm
from lti_tool.services import (
    assignments,
    audit,
    certificates,
    certifications,
    item_bank,
    mappings,
    plans,
)
from lti_tool.services.certifications import EARN, PATH_KINDS

bp = Blueprint("certification_design", __name__, url_prefix="/designer")

INVALID_FORM = 422
DESIGNERS = (Permission.DESIGNER, Permission.ADMIN)
ATTENDANCE_TAKERS = (Permission.DESIGNER, Permission.MANAGER, Permission.ADMIN)


def _attendance_scope() -> frozenset[int] | None:
    """Designers and admins record anyone's attendance; a manager by grant their units'."""
    return None if current_permissions() & set(DESIGNERS) else managed_units()


KINDS = "any(" + ", ".join(PATH_KINDS) + ")"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    locale = str(get_locale())
    return {
        "localized": lambda text: localized(text, locale),
        "LANGUAGES": LANGUAGES,
        "AchievementType": AchievementType,
        "CourseKind": CourseKind,
        "CertificationStatus": CertificationStatus,
    }


def _to(endpoint: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, **values))


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


def _now() -> dt.datetime:
    return clock.now()


def _values(certification: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": certification.code,
        "achievement_type": str(certification.achievement_type),
        "validity_months": certification.validity_months or "",
        "renewal_window_days": certification.renewal_window_days
        if certification.renewal_window_days is not None
        else "",
        "minimum_active_days": certification.minimum_active_days
        if certification.minimum_active_days is not None
        else "",
    }
    for lang in LANGUAGES:
        values[f"title_{lang}"] = certification.title.get(lang, "")
        values[f"description_{lang}"] = certification.description.get(lang, "")
        values[f"criteria_{lang}"] = certification.criteria.get(lang, "")
    return values


# --- the list -----------------------------------------------------------------------------


def _list_page(status: int = 200, **context: Any) -> Any:
    context.setdefault("values", {"achievement_type": AchievementType.CERTIFICATE.value})
    context.setdefault("errors", {})
    return _render(
        "certification_design/certifications.html",
        status,
        certifications=certifications.list_certifications(get_session(), current_organisation_id()),
        **context,
    )


@bp.route("/certifications")
@requires(*DESIGNERS)
def certifications_page() -> Any:
    return _list_page()


@bp.route("/certifications", methods=["POST"])
@requires(*DESIGNERS)
def create_certification() -> Any:
    try:
        form = CertificationForm().load(request.form.to_dict())
        certification = certifications.create_certification(
            get_session(),
            current_organisation_id(),
            form["code"],
            form["title"],
            form.get("description", {}),
            form["criteria"],
            form["terms"],
        )
    except ValidationError as exc:
        return _list_page(INVALID_FORM, values=request.form, errors=field_errors(exc))
    except (CertificationCodeTaken, InvalidCode) as exc:
        return _list_page(exc.status, values=request.form, errors={"code": [str(exc.message)]})
    except CertificationInvalid as exc:
        return _list_page(exc.status, values=request.form, errors={"_schema": [str(exc.message)]})
    flash(gettext("Certification created. Now add the paths that earn it."), "success")
    return _to("certification_design.certification_page", certification_id=certification.id)


# --- one certification --------------------------------------------------------------------


def _page(certification_id: int, status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    certification = certifications.get_certification(session, organisation_id, certification_id)
    context.setdefault("values", _values(certification))
    context.setdefault("errors", {})
    events = certificates.events_of(session, organisation_id, certification.id)
    holders = certificates.holders(session, organisation_id, certification.id)
    shown = {c.person_id for c in holders} | {c.person_id for _, c in events}
    audit.record_view(
        session,
        current_actor(),
        "certificates",
        {p for p in shown if p is not None},
        object_id=certification.id,
    )
    return _render(
        "certification_design/certification.html",
        status,
        certification=certification,
        paths=certifications.path_views(session, certification),
        holders=holders,
        events=events,
        event_names=audit.names_of(session, organisation_id, [e for e, _ in events]),
        people=assignments.people_of(session, organisation_id),
        now=_now(),
        **context,
    )


@bp.route("/certifications/<int:certification_id>")
@requires(*DESIGNERS)
def certification_page(certification_id: int) -> Any:
    return _page(certification_id)


@bp.route("/certifications/<int:certification_id>", methods=["POST"])
@requires(*DESIGNERS)
def update_certification(certification_id: int) -> Any:
    try:
        form = CertificationForm().load(request.form.to_dict())
        certifications.update_certification(
            get_session(),
            current_organisation_id(),
            certification_id,
            form["code"],
            form["title"],
            form.get("description", {}),
            form["criteria"],
            form["terms"],
        )
    except ValidationError as exc:
        return _page(certification_id, INVALID_FORM, values=request.form, errors=field_errors(exc))
    except (CertificationCodeTaken, InvalidCode) as exc:
        return _page(
            certification_id, exc.status, values=request.form, errors={"code": [str(exc.message)]}
        )
    except CertificationInvalid as exc:
        return _page(
            certification_id,
            exc.status,
            values=request.form,
            errors={"_schema": [str(exc.message)]},
        )
    flash(gettext("Saved."), "success")
    return _to("certification_design.certification_page", certification_id=certification_id)


@bp.route(
    "/certifications/<int:certification_id>/status/<any(draft, published, archived):status>",
    methods=["POST"],
)
@requires(*DESIGNERS)
def set_status(certification_id: int, status: str) -> Any:
    try:
        certifications.set_status(
            get_session(), current_organisation_id(), certification_id, CertificationStatus(status)
        )
    except CertificationInvalid as exc:
        return _page(certification_id, exc.status, errors={"_schema": [str(exc.message)]})
    flash(gettext("Status changed."), "success")
    return _to("certification_design.certification_page", certification_id=certification_id)


# --- paths --------------------------------------------------------------------------------


def _targets() -> list[tuple[str, list[tuple[str, str]]]]:
    """The conditions a path form offers, grouped for <optgroup>s."""
    session = get_session()
    organisation_id = current_organisation_id()
    locale = str(get_locale())
    competences = [
        (f"{rules.COMPETENCE}:{c.id}", f"{c.code} – {localized(c.title, locale)}")
        for c in item_bank.usable_competences(session, organisation_id)
    ]
    passable = [
        (f"{rules.MAPPING}:{m.id}", f"{m.code} – {localized(m.title, locale)}")
        for m in mappings.list_mappings(session, organisation_id)
        if m.pass_percentage is not None
    ]
    courses = [
        (f"{rules.COURSE}:{c.id}", f"{c.code} – {localized(c.title, locale)}")
        for c in certifications.list_courses(session, organisation_id)
    ]
    return [
        (gettext("Competence at a level"), competences),
        (gettext("Skills mapping passed"), passable),
        (gettext("Course attended"), courses),
    ]


def _path_page(
    certification_id: int, kind: str, index: int | None, status: int = 200, **context: Any
) -> Any:
    certification = certifications.get_certification(
        get_session(), current_organisation_id(), certification_id
    )
    if "values" not in context:
        values: dict[str, Any] = {"operator": rules.ALL}
        paths = certification.earn_paths if kind == EARN else certification.renewal_paths
        if index is not None and 0 <= index < len(paths):
            values["operator"] = rules.ALL if rules.ALL in paths[index] else rules.ANY
            for n, leaf in enumerate(rules.leaves(paths[index]), start=1):
                values[f"target_{n}"] = f"{leaf['type']}:{leaf[leaf['type'] + '_id']}"
                values[f"level_{n}"] = leaf.get("level", "")
        context["values"] = values
    context.setdefault("errors", {})
    return _render(
        "certification_design/path.html",
        status,
        certification=certification,
        kind=kind,
        index=index,
        rows=range(1, PATH_FORM_ROWS + 1),
        targets=_targets(),
        **context,
    )


@bp.route(f"/certifications/<int:certification_id>/paths/<{KINDS}:kind>/new")
@bp.route(f"/certifications/<int:certification_id>/paths/<{KINDS}:kind>/<int:index>")
@requires(*DESIGNERS)
def path_page(certification_id: int, kind: str, index: int | None = None) -> Any:
    return _path_page(certification_id, kind, index)


@bp.route(f"/certifications/<int:certification_id>/paths/<{KINDS}:kind>/new", methods=["POST"])
@bp.route(
    f"/certifications/<int:certification_id>/paths/<{KINDS}:kind>/<int:index>",
    methods=["POST"],
)
@requires(*DESIGNERS)
def save_path(certification_id: int, kind: str, index: int | None = None) -> Any:
    try:
        form = PathForm().load(request.form.to_dict())
        certifications.save_path(
            get_session(),
            current_organisation_id(),
            certification_id,
            kind,
            index,
            form["operator"],
            form["conditions"],
        )
    except ValidationError as exc:
        return _path_page(
            certification_id,
            kind,
            index,
            INVALID_FORM,
            values=request.form,
            errors=field_errors(exc),
        )
    except CertificationInvalid as exc:
        return _path_page(
            certification_id,
            kind,
            index,
            exc.status,
            values=request.form,
            errors={"_schema": [str(exc.message)]},
        )
    flash(gettext("Path saved."), "success")
    return _to("certification_design.certification_page", certification_id=certification_id)


@bp.route(
    f"/certifications/<int:certification_id>/paths/<{KINDS}:kind>/<int:index>/delete",
    methods=["POST"],
)
@requires(*DESIGNERS)
def delete_path(certification_id: int, kind: str, index: int) -> Any:
    try:
        certifications.remove_path(
            get_session(), current_organisation_id(), certification_id, kind, index
        )
    except CertificationInvalid as exc:
        return _page(certification_id, exc.status, errors={"_schema": [str(exc.message)]})
    flash(gettext("Path removed."), "success")
    return _to("certification_design.certification_page", certification_id=certification_id)


# --- courses and attendance ---------------------------------------------------------------


def _courses_page(status: int = 200, **context: Any) -> Any:
    context.setdefault("values", {"kind": CourseKind.CLASSROOM.value})
    context.setdefault("errors", {})
    return _render(
        "certification_design/courses.html",
        status,
        courses=certifications.list_courses(
            get_session(), current_organisation_id(), include_archived=True
        ),
        may_design=bool(current_permissions() & set(DESIGNERS)),
        **context,
    )


@bp.route("/courses")
@requires(*ATTENDANCE_TAKERS)
def courses_page() -> Any:
    return _courses_page()


@bp.route("/courses", methods=["POST"])
@requires(*DESIGNERS)
def create_course() -> Any:
    try:
        form = CourseForm().load(request.form.to_dict())
        certifications.save_course(
            get_session(),
            current_organisation_id(),
            None,
            form["code"],
            form["title"],
            form["kind"],
        )
    except ValidationError as exc:
        return _courses_page(INVALID_FORM, values=request.form, errors=field_errors(exc))
    except (CourseCodeTaken, InvalidCode) as exc:
        return _courses_page(exc.status, values=request.form, errors={"code": [str(exc.message)]})
    flash(gettext("Course created."), "success")
    return _to("certification_design.courses_page")


def _attendance_page(course_id: int, status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    context.setdefault("values", {"attended_on": local_date(_now()).isoformat()})
    context.setdefault("errors", {})
    context.setdefault("confirm_errors", {})
    course = certifications.get_course(session, organisation_id, course_id)
    attendance = certifications.attendance_of(
        session, organisation_id, course_id, _attendance_scope()
    )
    people = assignments.people_of(session, organisation_id, unit_ids=_attendance_scope())
    shown = {a.person_id for a in attendance} | {p.person.id for p in people}
    audit.record_view(session, current_actor(), "attendance", shown, object_id=course.id)
    return _render(
        "certification_design/attendance.html",
        status,
        course=course,
        attendance=attendance,
        people=people,
        may_design=bool(current_permissions() & set(DESIGNERS)),
        **context,
    )


@bp.route("/courses/<int:course_id>")
@requires(*ATTENDANCE_TAKERS)
def attendance_page(course_id: int) -> Any:
    return _attendance_page(course_id)


@bp.route("/courses/<int:course_id>/attendance", methods=["POST"])
@requires(*ATTENDANCE_TAKERS)
def record_attendance(course_id: int) -> Any:
    launch = current_launch()
    assert launch is not None
    try:
        form = AttendanceForm().load(form_data(request.form, "person_ids"))
        for person_id in form["person_ids"]:
            assignments.check_in_units(get_session(), person_id, _attendance_scope())
        added = certifications.record_attendance(
            get_session(),
            current_organisation_id(),
            course_id,
            form["person_ids"],
            form["attended_on"],
            launch.person_id,
            _now(),
        )
    except ValidationError as exc:
        return _attendance_page(
            course_id, INVALID_FORM, values=request.form, errors=field_errors(exc)
        )
    except CertificationInvalid as exc:
        return _attendance_page(
            course_id, exc.status, values=request.form, errors={"attended_on": [str(exc.message)]}
        )
    flash(gettext("Attendance recorded for %(count)s people.", count=added), "success")
    return _to("certification_design.attendance_page", course_id=course_id)


@bp.route("/courses/<int:course_id>/completions", methods=["POST"])
@requires(*ATTENDANCE_TAKERS)
def confirm_completion(course_id: int) -> Any:
    """An instructor (designer) or manager confirms that these people completed the
    activity: evidence at the levels it develops, with high confidence (``services.plans``)."""
    launch = current_launch()
    assert launch is not None
    try:
        form = ConfirmPeopleForm().load(form_data(request.form, "person_ids"))
        written = plans.confirm_completion(
            get_session(),
            current_organisation_id(),
            course_id,
            form["person_ids"],
            actor=current_actor(),
            unit_ids=_attendance_scope(),
            now=_now(),
        )
    except ValidationError as exc:
        return _attendance_page(course_id, INVALID_FORM, confirm_errors=field_errors(exc))
    except PlanInvalid as exc:
        return _attendance_page(
            course_id, exc.status, confirm_errors={exc.field: [str(exc.message)]}
        )
    flash(gettext("Completion confirmed: %(count)s evidence records.", count=written), "success")
    return _to("certification_design.attendance_page", course_id=course_id)
