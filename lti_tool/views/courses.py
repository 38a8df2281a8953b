"""The manager's LMS courses and who of their participants has not started.

The participants come from the platform (LTI Names and Role Provisioning Services) when a
manager asks (the refresh button), and are kept until the next refresh; see
``services.course_roster`` for what each column means and whom a manager by grant sees.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    managed_units,
    requires,
)
from lti_tool.db import get_session
from lti_tool.domain.texts import localized
from lti_tool.errors import RosterRefreshFailed
from lti_tool.lti.ags import AgsClient
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.course_roster import ALL, NOT_STARTED, RosterQuery
from lti_tool.services import course_roster

bp = Blueprint("courses", __name__, url_prefix="/manager/courses")

INVALID_FORM = 422


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"localized": lambda text: localized(text, str(get_locale()))}


@bp.route("/")
@requires(Permission.MANAGER, Permission.ADMIN)
def index() -> Any:
    return render_template(
        "manager/courses.html",
        launch=current_launch(),
        rosters=course_roster.list_rosters(get_session(), current_organisation_id()),
    )


@bp.route("/<int:roster_id>/roster")
@requires(Permission.MANAGER, Permission.ADMIN)
def roster(roster_id: int) -> Any:
    try:
        show = RosterQuery().load(request.args.to_dict())["show"]
        errors: dict[str, list[str]] = {}
    except ValidationError as exc:
        show, errors = ALL, field_errors(exc)
    view = course_roster.view_roster(
        get_session(),
        current_actor(),
        roster_id,
        clock.now(),
        unit_ids=managed_units(),
        not_started_only=show == NOT_STARTED,
    )
    page = render_template(
        "manager/roster.html",
        launch=current_launch(),
        view=view,
        show=show,
        whole_organisation=managed_units() is None,
        errors=errors,
    )
    return page, INVALID_FORM if errors else 200


@bp.route("/<int:roster_id>/roster/refresh", methods=["POST"])
@requires(Permission.MANAGER, Permission.ADMIN)
def refresh(roster_id: int) -> Any:
    try:
        count = course_roster.refresh_roster(
            get_session(),
            current_actor(),
            roster_id,
            AgsClient.from_services(lti_services()),
            clock.now(),
        )
    except RosterRefreshFailed as exc:
        flash(str(exc.message), "error")
    else:
        flash(
            ngettext(
                "%(num)d participant fetched from the learning platform.",
                "%(num)d participants fetched from the learning platform.",
                count,
            ),
            "success",
        )
    return redirect(url_for("courses.roster", roster_id=roster_id))
