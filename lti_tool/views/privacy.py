"""Privacy (GDPR): a person's "my data" page and its JSON export (their own data only),
and the admin's list of the organisation's people, where one is erased.

Anyone launched may read what the tool stores about them; the export is recorded in the
audit log (``services.privacy``). An admin erases a person of their own organisation
only, after a confirmation page, with a reason (``services.erasure``); never themselves.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from marshmallow import ValidationError

from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    requires,
)
from lti_tool.db import get_session
from lti_tool.errors import EraseOwn, NotFound
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.models import Launch
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.privacy import AuditRetentionForm, EraseForm, RetentionForm
from lti_tool.services import audit, erasure, privacy, retention

bp = Blueprint("privacy", __name__)

#: Everyone launched, whatever they may do besides.
EVERYONE = tuple(Permission)
#: Status of a page that shows a form again with what was wrong in it.
INVALID_FORM = 422
MAX_SEARCH = 100


def _launched() -> Launch:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch


@bp.route("/learner/my-data")
@requires(*EVERYONE)
def my_data() -> Any:
    launch = _launched()
    data = privacy.export_of(get_session(), launch.person)
    return render_template(
        "privacy/my_data.html",
        launch=launch,
        person=launch.person,
        counts=privacy.counts_of(data),
        launch_record_days=lti_services().settings.LAUNCH_RECORD_DAYS,
    )


@bp.route("/learner/my-data.json")
@requires(*EVERYONE)
def my_data_json() -> Any:
    launch = _launched()
    data = privacy.export_own(get_session(), current_actor(), launch.person)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "private, no-store",
        },
    )


# --- the admin: people and their erasure -----------------------------------------------------


def _admin_page(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


def _people_page(search: str) -> Any:
    session = get_session()
    people = privacy.people_of(session, current_organisation_id(), search[:MAX_SEARCH])
    audit.record_view(
        session, current_actor(), "people", [p.id for p in people], detail={"page": "people"}
    )
    return _admin_page("privacy/people.html", people=people, search=search[:MAX_SEARCH])


@bp.route("/admin/people")
@requires(Permission.ADMIN)
def people() -> Any:
    """The organisation's people, with a search; each may be erased."""
    return _people_page(request.args.get("q", ""))


def _erase_page(person_id: int, errors: Any = None, status: int = 200) -> Any:
    session = get_session()
    person = privacy.get_person(session, current_organisation_id(), person_id)
    audit.record_view(session, current_actor(), "person", [person.id], object_id=person.id)
    own = person.id == _launched().person_id
    return _admin_page(
        "privacy/confirm_erase.html",
        status,
        person=person,
        counts=privacy.counts_of(privacy.export_of(session, person)),
        refusal=EraseOwn.message if own else None,
        errors=errors or {},
        values=request.form,
    )


@bp.route("/admin/people/<int:person_id>/erase")
@requires(Permission.ADMIN)
def confirm_erase(person_id: int) -> Any:
    return _erase_page(person_id)


@bp.route("/admin/people/<int:person_id>/erase", methods=["POST"])
@requires(Permission.ADMIN)
def erase(person_id: int) -> Any:
    session = get_session()
    person = privacy.get_person(session, current_organisation_id(), person_id)
    if person.id == _launched().person_id:
        raise EraseOwn(f"person {person.id} would erase themselves")
    try:
        form = EraseForm().load(request.form.to_dict())
    except ValidationError as exc:
        return _erase_page(person_id, field_errors(exc), INVALID_FORM)
    erasure.erase_person(session, current_actor(), person, form["reason"])
    flash(gettext("The person is erased. Their certificates now verify as withdrawn."), "success")
    return redirect(url_for("privacy.people"))


# --- the organisation's retention rule ------------------------------------------------------


@bp.route("/admin/organisations/<int:organisation_pk>/retention", methods=["POST"])
@requires(Permission.ADMIN)
def set_retention(organisation_pk: int) -> Any:
    """The admin's own organisation only: another's people are not theirs to erase."""
    from lti_tool.views import admin as console

    if organisation_pk != current_organisation_id():
        raise NotFound(f"retention of organisation {organisation_pk} by another's admin")
    try:
        form = RetentionForm().load(request.form.to_dict())
    except ValidationError as exc:
        return console.organisation_page(
            organisation_pk, field_errors(exc), request.form, INVALID_FORM
        )
    months = form["retention_months"]
    retention.set_retention(get_session(), current_actor(), organisation_pk, months)
    if months is None:
        flash(gettext("No retention rule: people are kept until erased by hand."), "success")
    else:
        flash(
            ngettext(
                "People with no launch for %(num)d month are now erased by the worker.",
                "People with no launch for %(num)d months are now erased by the worker.",
                months,
            ),
            "success",
        )
    return redirect(url_for("admin.organisation", organisation_pk=organisation_pk))


@bp.route("/admin/organisations/<int:organisation_pk>/audit-retention", methods=["POST"])
@requires(Permission.ADMIN)
def set_audit_retention(organisation_pk: int) -> Any:
    """How long the admin's own organisation's audit log keeps its events."""
    from lti_tool.views import admin as console

    if organisation_pk != current_organisation_id():
        raise NotFound(f"audit retention of organisation {organisation_pk} by another's admin")
    try:
        form = AuditRetentionForm().load(request.form.to_dict())
    except ValidationError as exc:
        return console.organisation_page(
            organisation_pk, field_errors(exc), request.form, INVALID_FORM
        )
    months = form["audit_retention_months"]
    retention.set_audit_retention(get_session(), current_actor(), organisation_pk, months)
    flash(
        ngettext(
            "The audit log now keeps its events for %(num)d month.",
            "The audit log now keeps its events for %(num)d months.",
            months,
        ),
        "success",
    )
    return redirect(url_for("admin.organisation", organisation_pk=organisation_pk))
