"""The employee's pages: my requirements, and choosing a job role when none is known."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import current_launch, current_organisation_id, launch_token, requires
from lti_tool.db import get_session
from lti_tool.domain.texts import localized
from lti_tool.lti.roles import Permission
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import SelfChoiceForm, form_data
from lti_tool.services import assignments, certificates, mappings, organisations, requirements

bp = Blueprint("learner", __name__, url_prefix="/learner")

INVALID_FORM = 422


def _person_id() -> int:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch.person_id


def _page(errors: dict[str, list[str]] | None = None, status: int = 200) -> Any:
    locale = str(get_locale())
    mine = requirements.requirements_of(
        get_session(), current_organisation_id(), _person_id(), locale
    )
    now = clock.now()
    held = certificates.current_only(
        certificates.certificates_of(get_session(), current_organisation_id(), _person_id())
    )
    warn_days = organisations.expiring_days_of(get_session(), current_organisation_id())
    page = render_template(
        "learner/home.html",
        launch=current_launch(),
        mine=mine,
        errors=errors or {},
        role_mapping=mappings.mapping_for_job_roles(
            get_session(), current_organisation_id(), [role.id for role in mine.roles]
        ),
        localized=lambda text: localized(text, locale),
        certificates=[(c, certificates.standing(c, now, warn_days)) for c in held],
    )
    return page, status


@bp.route("/")
@requires(Permission.LEARNER)
def home() -> Any:
    return _page()


@bp.route("/job-roles", methods=["POST"])
@requires(Permission.LEARNER)
def choose_job_roles() -> Any:
    try:
        form = SelfChoiceForm().load(form_data(request.form, "job_role_ids"))
    except ValidationError as exc:
        return _page(field_errors(exc), INVALID_FORM)
    assignments.choose_self(
        get_session(),
        current_organisation_id(),
        _person_id(),
        form["job_role_ids"],
        form["unit_id"],
    )
    flash(gettext("Your choice is saved. A manager will approve it."), "success")
    return redirect(url_for("learner.home", lt=launch_token()))
