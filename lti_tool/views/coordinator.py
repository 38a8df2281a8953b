"""The coordinators' page: coverage figures of their region or municipality, counts only.

A coordinator of a region sees every municipality of it; a coordinator of a municipality
and an admin see their own (``services.coverage_figures.figures_scope``). No page here
names a person: groups of fewer than five people show no counts, nor do the groups
withheld with them (``domain.suppression``), whichever municipality is chosen.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import get_locale
from marshmallow import ValidationError

from lti_tool import clock
from lti_tool.auth import LAUNCH_TOKEN_PARAM, current_grants, current_organisation_id, requires
from lti_tool.db import get_session
from lti_tool.domain.suppression import MIN_PEOPLE
from lti_tool.lti.roles import Permission
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.figures import FiguresQuery
from lti_tool.services import coverage_figures

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")

INVALID_FORM = 422
#: Query parameters every page carries that are not filters.
NOT_FILTERS = (LAUNCH_TOKEN_PARAM, "lang")


@bp.route("/")
@requires(Permission.COORDINATOR, Permission.ADMIN)
def home() -> Any:
    args = {k: v for k, v in request.args.items() if k not in NOT_FILTERS and v != ""}
    errors: dict[str, list[str]] = {}
    try:
        query = FiguresQuery().load(args)
    except ValidationError as exc:
        errors, query = field_errors(exc), FiguresQuery().load({})
    figures = coverage_figures.figures_for(
        get_session(),
        current_organisation_id(),
        current_grants(),
        only=query["organisation"],
        now=clock.now(),
        expiring_days=query["expiring_days"],
        months=query["months"],
        locale=str(get_locale()),
    )
    page = render_template(
        "coordinator/home.html",
        figures=figures,
        query=query,
        errors=errors,
        statuses=coverage_figures.STATUSES,
        min_people=MIN_PEOPLE,
        keep_query={k: v for k, v in args.items() if k in FiguresQuery().fields},
    )
    return page, INVALID_FORM if errors else 200
