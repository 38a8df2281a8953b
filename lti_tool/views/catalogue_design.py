"""The designer's activity catalogue, on top of the courses pages (``certification_design``):
an activity's e-learning fields, the competences it develops and to which level, and a
classroom course's sessions (added, changed, cancelled).

Designers and admins only; managers record attendance on the course's page but do not
edit the catalogue. Another organisation's course or session is not found.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale, gettext
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import current_launch, current_organisation_id, requires
from lti_tool.db import get_session
from lti_tool.domain.texts import ACTIVITY_LANGUAGES, LANGUAGES, localized
from lti_tool.errors import CatalogueInvalid, CourseCodeTaken, InvalidCode, MissingTitle
from lti_tool.lti.roles import Permission
from lti_tool.models import CourseKind
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.catalogue import (
    ActivityForm,
    CancelSessionForm,
    CourseCompetenceForm,
    SessionForm,
    activity_values,
    session_values,
)
from lti_tool.services import assignments, catalogue, item_bank

bp = Blueprint("catalogue_design", __name__, url_prefix="/designer/courses")

INVALID_FORM = 422
DESIGNERS = (Permission.DESIGNER, Permission.ADMIN)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    locale = str(get_locale())
    return {
        "localized": lambda text: localized(text, locale),
        "LANGUAGES": LANGUAGES,
        "CourseKind": CourseKind,
        "language_names": _language_names(),
        "when": lambda moment: format_datetime(moment, "EEE d MMM y HH:mm") if moment else "",
    }


def _language_names() -> list[tuple[str, str]]:
    """The activity languages in the reader's language (Babel's CLDR names)."""
    names = get_locale().languages  # type: ignore[union-attr]
    return [(code, names.get(code, code)) for code in ACTIVITY_LANGUAGES]


def _to(endpoint: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, **values))


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


def _develops_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The grouped select of "competence at level": one group per competence of the
    organisation's published frameworks, one option per level of its scale."""
    locale = str(get_locale())
    groups = []
    for c in item_bank.usable_competences(get_session(), current_organisation_id()):
        title = f"{c.code} – {localized(c.title, locale)}"
        options = [
            (
                f"{c.id}:{lvl.value}",
                gettext(
                    "%(competence)s: level %(level)s, %(label)s",
                    competence=c.code,
                    level=lvl.value,
                    label=localized(lvl.label, locale),
                ),
            )
            for lvl in c.version.levels
        ]
        groups.append((title, options))
    return groups


# --- the activity -----------------------------------------------------------------------------


def _activity_page(course_id: int, status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    course = catalogue.get_activity(session, organisation_id, course_id)
    (view,) = catalogue.activity_views(session, [course])
    context.setdefault("values", activity_values(course))
    context.setdefault("errors", {})
    context.setdefault("develops_errors", {})
    return _render(
        "catalogue_design/activity.html",
        status,
        course=course,
        view=view,
        develops_choices=_develops_choices(),
        **context,
    )


@bp.route("/<int:course_id>/activity")
@requires(*DESIGNERS)
def activity_page(course_id: int) -> Any:
    return _activity_page(course_id)


@bp.route("/<int:course_id>/activity", methods=["POST"])
@requires(*DESIGNERS)
def update_activity(course_id: int) -> Any:
    try:
        form = ActivityForm().load(request.form.to_dict())
        catalogue.update_activity(
            get_session(), current_organisation_id(), course_id, form["activity"]
        )
    except ValidationError as exc:
        return _activity_page(
            course_id, INVALID_FORM, values=request.form, errors=field_errors(exc)
        )
    except (CourseCodeTaken, InvalidCode) as exc:
        errors = {"code": [str(exc.message)]}
        return _activity_page(course_id, exc.status, values=request.form, errors=errors)
    except MissingTitle as exc:
        errors = {"title_nb": [str(exc.message)]}
        return _activity_page(course_id, exc.status, values=request.form, errors=errors)
    except CatalogueInvalid as exc:
        errors = {exc.field: [str(exc.message)]}
        return _activity_page(course_id, exc.status, values=request.form, errors=errors)
    flash(gettext("Saved."), "success")
    return _to("catalogue_design.activity_page", course_id=course_id)


@bp.route("/<int:course_id>/develops", methods=["POST"])
@requires(*DESIGNERS)
def set_develops(course_id: int) -> Any:
    try:
        form = CourseCompetenceForm().load(request.form.to_dict())
        competence_id, level = form["develops"]
        catalogue.set_course_competence(
            get_session(), current_organisation_id(), course_id, competence_id, level
        )
    except ValidationError as exc:
        return _activity_page(course_id, INVALID_FORM, develops_errors=field_errors(exc))
    except CatalogueInvalid as exc:
        return _activity_page(
            course_id, exc.status, develops_errors={"develops": [str(exc.message)]}
        )
    flash(gettext("Saved."), "success")
    return _to("catalogue_design.activity_page", course_id=course_id, _anchor="develops-title")


@bp.route("/<int:course_id>/develops/<int:competence_id>/delete", methods=["POST"])
@requires(*DESIGNERS)
def remove_develops(course_id: int, competence_id: int) -> Any:
    catalogue.remove_course_competence(
        get_session(), current_organisation_id(), course_id, competence_id
    )
    flash(gettext("Removed."), "success")
    return _to("catalogue_design.activity_page", course_id=course_id, _anchor="develops-title")


# --- sessions ---------------------------------------------------------------------------------


def _session_page(course_id: int, session_id: int | None, status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    course = catalogue.get_activity(session, organisation_id, course_id)
    found = None
    if session_id is not None:
        found = catalogue.get_course_session(session, organisation_id, session_id, course.id)
    if "values" not in context:
        context["values"] = session_values(found) if found else {"waitlist": True}
    context.setdefault("errors", {})
    context.setdefault("cancel_errors", {})
    return _render(
        "catalogue_design/session.html",
        status,
        course=course,
        found=found,
        instructors=assignments.person_names(session, organisation_id),
        **context,
    )


@bp.route("/<int:course_id>/sessions/new")
@bp.route("/<int:course_id>/sessions/<int:session_id>")
@requires(*DESIGNERS)
def session_page(course_id: int, session_id: int | None = None) -> Any:
    return _session_page(course_id, session_id)


@bp.route("/<int:course_id>/sessions/new", methods=["POST"])
@bp.route("/<int:course_id>/sessions/<int:session_id>", methods=["POST"])
@requires(*DESIGNERS)
def save_session(course_id: int, session_id: int | None = None) -> Any:
    try:
        form = SessionForm().load(request.form.to_dict())
        catalogue.save_course_session(
            get_session(),
            current_organisation_id(),
            course_id,
            session_id,
            form["session"],
            clock.now(),
        )
    except ValidationError as exc:
        return _session_page(
            course_id, session_id, INVALID_FORM, values=request.form, errors=field_errors(exc)
        )
    except CatalogueInvalid as exc:
        errors = {exc.field: [str(exc.message)]}
        return _session_page(course_id, session_id, exc.status, values=request.form, errors=errors)
    flash(gettext("Session saved."), "success")
    return _to("catalogue_design.activity_page", course_id=course_id, _anchor="sessions-title")


@bp.route("/<int:course_id>/sessions/<int:session_id>/cancel", methods=["POST"])
@requires(*DESIGNERS)
def cancel_session(course_id: int, session_id: int) -> Any:
    try:
        form = CancelSessionForm().load(request.form.to_dict())
        catalogue.cancel_course_session(
            get_session(),
            current_organisation_id(),
            course_id,
            session_id,
            form["reason"],
            clock.now(),
        )
    except ValidationError as exc:
        return _session_page(course_id, session_id, INVALID_FORM, cancel_errors=field_errors(exc))
    except CatalogueInvalid as exc:
        return _session_page(
            course_id, session_id, exc.status, cancel_errors={"reason": [str(exc.message)]}
        )
    flash(gettext("Session cancelled."), "success")
    return _to("catalogue_design.activity_page", course_id=course_id, _anchor="sessions-title")
