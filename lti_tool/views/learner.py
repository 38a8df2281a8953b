"""The employee's pages: my requirements, choosing a job role when none is known, my
learning plan (``services.plans``: answer each item, say "I have done this") and an
activity of the catalogue (where a placed e-learning link lands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, ngettext
from marshmallow import ValidationError

from lti_tool import clock, urls
from lti_tool.auth import current_launch, current_organisation_id, requires
from lti_tool.db import get_session, reads_only
from lti_tool.domain import plan as plan_rules
from lti_tool.domain.texts import localized
from lti_tool.errors import NotFound, PlanInvalid
from lti_tool.lti.roles import Permission
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import SelfChoiceForm, form_data
from lti_tool.schemas.plans import AnswerForm, DoneForm
from lti_tool.services import (
    assignments,
    bookings,
    catalogue,
    certificates,
    organisations,
    plans,
    requirements,
)
from lti_tool.services.gaps import GapLine
from lti_tool.views.bookings import session_helpers

bp = Blueprint("learner", __name__, url_prefix="/learner")

INVALID_FORM = 422
PLAN_PAGE_SIZE = 20
"""Open requirements a plan page shows: a person with 300 of them gets them a page at a time,
the most urgent first (each renders its entries' forms; bench/RESULTS.md)."""


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
    held = certificates.current_of(get_session(), current_organisation_id(), _person_id())
    warn_days = organisations.expiring_days_of(get_session(), current_organisation_id())
    page = render_template(
        "learner/home.html",
        launch=current_launch(),
        mine=mine,
        errors=errors or {},
        role_mappings=mine.role_mappings,
        localized=lambda text: localized(text, locale),
        # translated once a page, formatted for each of hundreds of requirements
        level_format=gettext("Level %(value)d of %(top)d: %(label)s"),
        version_format=gettext("version %(number)d"),
        renewals={
            months: ngettext("Every month", "Every %(num)d months", months)
            for months in {line.renewal_months for line in mine.lines}
            if months
        },
        certificates=[(c, certificates.standing(c, now, warn_days)) for c in held],
    )
    return page, status


@bp.route("/")
@reads_only
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
    return redirect(url_for("learner.home"))


# --- my learning plan ---------------------------------------------------------------------------


def _plan_page(
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    failed: str | None = None,
    values: Any = None,
) -> Any:
    """The plan, a page of its open requirements (and of its met ones: ``met_page``) at a
    time; ``failed`` names the entry whose form is shown again with ``errors`` (on the
    page that holds it). Only the lines of the two pages are made in full."""
    pages: dict[str, int] = {}

    def shown(lines: Sequence[GapLine]) -> list[int]:
        open_ids = [line.competence_id for line in lines if line.needs_action]
        met_ids = [line.competence_id for line in lines if not line.needs_action]
        number = request.args.get("page", 1, type=int)
        holding = _line_of(failed, open_ids)
        if holding is not None:
            number = holding // PLAN_PAGE_SIZE + 1
        met_page = request.args.get("met_page", 1, type=int)
        pages.update(
            page=min(max(number, 1), max(1, -(-len(open_ids) // PLAN_PAGE_SIZE))),
            met_page=min(max(met_page, 1), max(1, -(-len(met_ids) // PLAN_PAGE_SIZE))),
        )
        start = (pages["page"] - 1) * PLAN_PAGE_SIZE
        met_start = (pages["met_page"] - 1) * PLAN_PAGE_SIZE
        return [
            *open_ids[start : start + PLAN_PAGE_SIZE],
            *met_ids[met_start : met_start + PLAN_PAGE_SIZE],
        ]

    found = plans.learning_plan(
        get_session(),
        current_organisation_id(),
        _person_id(),
        now=clock.now(),
        locale=str(get_locale()),
        detail=shown,
    )
    open_lines, met_lines = found.open_lines, found.met_lines
    number, met_page = pages.get("page", 1), pages.get("met_page", 1)
    start = (number - 1) * PLAN_PAGE_SIZE
    met_start = (met_page - 1) * PLAN_PAGE_SIZE
    page = render_template(
        "learner/plan.html",
        launch=current_launch(),
        plan=found,
        open_lines=open_lines[start : start + PLAN_PAGE_SIZE],
        first=start + 1,
        page=number,
        pages=max(1, -(-len(open_lines) // PLAN_PAGE_SIZE)),
        met_lines=met_lines[met_start : met_start + PLAN_PAGE_SIZE],
        met_first=met_start + 1,
        met_page=met_page,
        met_pages=max(1, -(-len(met_lines) // PLAN_PAGE_SIZE)),
        window=plan_rules.postpone_window(found.today),
        errors=errors or {},
        failed=failed,
        values=values or {},
    )
    return page, status


def _line_of(key: str | None, competence_ids: Sequence[int]) -> int | None:
    """Where the requirement of an entry's key (``plans.entry_key``) is among the lines."""
    _course, _dash, competence = (key or "").partition("-")
    if not competence.isdigit() or int(competence) not in competence_ids:
        return None
    return list(competence_ids).index(int(competence))


def _back_to_plan() -> str:
    """The plan page the answer was given on (its forms post with ``?page=``)."""
    page = request.args.get("page", type=int)
    return url_for("learner.plan", page=page if page and page > 1 else None)


@bp.route("/plan")
@reads_only
@requires(Permission.LEARNER)
def plan() -> Any:
    """My learning plan: what to do for each requirement, the most urgent first."""
    return _plan_page()


@bp.route("/plan/answer", methods=["POST"])
@requires(Permission.LEARNER)
def answer() -> Any:
    """Accept, postpone or decline an entry of my plan."""
    try:
        form = AnswerForm().load(request.form.to_dict())
        plans.answer_plan_item(
            get_session(),
            current_organisation_id(),
            _person_id(),
            form["entry"],
            form["answer"],
            now=clock.now(),
            until=form["until"],
            reason=form.get("reason", ""),
            locale=str(get_locale()),
        )
    except ValidationError as exc:
        return _plan_page(field_errors(exc), INVALID_FORM, request.form.get("entry"), request.form)
    except PlanInvalid as exc:
        errors = {exc.field: [str(exc.message)]}
        return _plan_page(errors, exc.status, request.form.get("entry"), request.form)
    messages = {
        plan_rules.ACCEPTED: gettext("Added to your plan."),
        plan_rules.POSTPONED: gettext("Postponed."),
        plan_rules.DECLINED: gettext("Declined. Your manager sees your reason."),
    }
    flash(messages[form["answer"]], "success")
    return redirect(_back_to_plan())


@bp.route("/plan/done", methods=["POST"])
@requires(Permission.LEARNER)
def report_done() -> Any:
    """ "I have done this": my own word that I completed an activity."""
    try:
        form = DoneForm().load(request.form.to_dict())
        plans.report_completion(
            get_session(),
            current_organisation_id(),
            _person_id(),
            form["entry"],
            now=clock.now(),
            locale=str(get_locale()),
        )
    except ValidationError as exc:
        return _plan_page(field_errors(exc), INVALID_FORM)
    except PlanInvalid as exc:
        return _plan_page({exc.field: [str(exc.message)]}, exc.status, request.form.get("entry"))
    flash(
        gettext(
            "Noted as done, in your own words. A test or an instructor's confirmation "
            "counts for more."
        ),
        "success",
    )
    return redirect(_back_to_plan())


# --- an activity --------------------------------------------------------------------------------


def _activity_page(course_id: int) -> Any:
    session, organisation_id = get_session(), current_organisation_id()
    course = catalogue.get_activity(session, organisation_id, course_id)
    found = plans.learning_plan(
        session, organisation_id, _person_id(), now=clock.now(), locale=str(get_locale())
    )
    activity = bookings.activity_sessions(
        session, organisation_id, course.id, _person_id(), clock.now()
    )
    mine = found.entries_of(course.id) or any(s.status for s in activity.sessions)
    if course.archived and not mine:  # shown, read-only, to those it concerns
        raise NotFound(f"course {course_id} archived")
    return render_template(
        "learner/activity.html",
        launch=current_launch(),
        course=course,
        activity=activity,
        back=urls.here(),
        now=clock.now(),
        today=found.today,
        entries=found.entries_of(course.id),
        **session_helpers(),  # localized, span, when, BookingStatus …
    )


@bp.route("/activities/<int:course_id>")
@reads_only
@requires(Permission.LEARNER)
def activity(course_id: int) -> Any:
    """An activity of the catalogue: what it develops, where it is taken, its sessions."""
    return _activity_page(course_id)


@bp.route("/activities/placed/<code>")
@reads_only
@requires(Permission.LEARNER)
def placed_activity(code: str) -> Any:
    """Where the link of an e-learning activity placed in the LMS lands."""
    course = plans.placed_activity(get_session(), current_organisation_id(), code)
    return _activity_page(course.id)
