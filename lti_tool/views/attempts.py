"""Taking a skills mapping (learners): start or resume, one item per page with its answer
saved on every step, a review page, one submission, and the result.

Anyone launched from the LMS may take a published mapping of their organisation; an
attempt is only ever seen by the person who made it (anyone else: not found).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext

from lti_tool.auth import (
    current_launch,
    current_organisation_id,
    current_permissions,
    requires,
)
from lti_tool.db import get_session, utcnow
from lti_tool.domain.texts import localized
from lti_tool.errors import AttemptClosed, InvalidAnswer, NotFound
from lti_tool.lti.roles import Permission
from lti_tool.models import AttemptStatus, Launch
from lti_tool.services import attempts

bp = Blueprint("attempts", __name__, url_prefix="/mappings")

INVALID_FORM = 422


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"localized": lambda text: localized(text, str(get_locale()))}


def _launch() -> Launch:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch


def _to(endpoint: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, **values))


def _mapping(code: str) -> Any:
    return attempts.mapping_to_take(
        get_session(), current_organisation_id(), _launch().person_id, code
    )


@bp.route("/<code>")
@requires(Permission.LEARNER)
def mapping_page(code: str) -> Any:
    """The mapping's start page: what it measures, the rules, earlier attempts."""
    session = get_session()
    try:
        mapping = _mapping(code)
    except NotFound as exc:
        if exc.params.get("no_role_mapping"):
            return render_template("attempts/no_role_mapping.html", launch=_launch()), 404
        raise
    view = attempts.overview(
        session, current_organisation_id(), mapping, _launch().person_id, utcnow()
    )
    return render_template(
        "attempts/start.html",
        launch=_launch(),
        view=view,
        code=code,
        may_design=bool({Permission.DESIGNER, Permission.ADMIN} & current_permissions()),
    )


@bp.route("/<code>/attempts", methods=["POST"])
@requires(Permission.LEARNER)
def start(code: str) -> Any:
    mapping = _mapping(code)
    attempt = attempts.start_attempt(
        get_session(),
        current_organisation_id(),
        mapping.id,
        _launch().person_id,
        _launch().id,
        utcnow(),
    )
    answered = {r.item_id for r in attempt.responses}
    first_open = next(
        (n for n, entry in enumerate(attempt.plan, 1) if entry["item"] not in answered),
        len(attempt.plan) or 1,
    )
    return _to("attempts.item_page", attempt_id=attempt.id, position=first_open)


def _item_page(attempt_id: int, position: int, errors: list[str] | None = None) -> Any:
    session = get_session()
    attempt = attempts.get_attempt(
        session, current_organisation_id(), attempt_id, _launch().person_id
    )
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return _to("attempts.result_page", attempt_id=attempt.id)
    page = attempts.question(session, attempt, position)
    return (
        render_template(
            "attempts/item.html",
            launch=_launch(),
            attempt=attempt,
            page=page,
            errors=errors or [],
            now=utcnow(),
        ),
        INVALID_FORM if errors else 200,
    )


@bp.route("/attempts/<int:attempt_id>/items/<int:position>")
@requires(Permission.LEARNER)
def item_page(attempt_id: int, position: int) -> Any:
    try:
        return _item_page(attempt_id, position)
    except AttemptClosed:  # past the deadline: submitted on the way in
        return _to("attempts.result_page", attempt_id=attempt_id)


@bp.route("/attempts/<int:attempt_id>/items/<int:position>", methods=["POST"])
@requires(Permission.LEARNER)
def save(attempt_id: int, position: int) -> Any:
    """Save the answer, then go where the button said (previous, next, review).

    The page also saves each change at once in the background (``X-Autosave: 1``), so an
    answer given and then left survives a closed browser; without JavaScript the buttons
    save it."""
    autosave = request.headers.get("X-Autosave") == "1"
    try:
        saved = attempts.save_answer(
            get_session(),
            current_organisation_id(),
            attempt_id,
            _launch().person_id,
            position,
            request.form.getlist("answer"),
            utcnow(),
        )
    except InvalidAnswer as exc:
        if autosave:
            return jsonify(error=str(exc.message)), INVALID_FORM
        return _item_page(attempt_id, position, [str(exc.message)])
    except AttemptClosed as exc:
        if autosave:
            return jsonify(error=str(exc.message)), exc.status
        flash(str(exc.message), "warning")
        return _to("attempts.result_page", attempt_id=attempt_id)
    if autosave:  # the page saved a changed answer in the background: stay
        return "", 204
    go = request.form.get("go", "next")
    if go == "previous" and position > 1:
        return _to("attempts.item_page", attempt_id=attempt_id, position=position - 1)
    if go == "next" and position < saved.count:
        return _to("attempts.item_page", attempt_id=attempt_id, position=position + 1)
    if go.isdigit() and 1 <= int(go) <= saved.count:
        return _to("attempts.item_page", attempt_id=attempt_id, position=int(go))
    return _to("attempts.review_page", attempt_id=attempt_id)


@bp.route("/attempts/<int:attempt_id>/review")
@requires(Permission.LEARNER)
def review_page(attempt_id: int) -> Any:
    """Every item with whether it is answered, before submitting."""
    session = get_session()
    attempt = attempts.get_attempt(
        session, current_organisation_id(), attempt_id, _launch().person_id
    )
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return _to("attempts.result_page", attempt_id=attempt.id)
    pages = attempts.questions(session, attempt)
    return render_template(
        "attempts/review.html", launch=_launch(), attempt=attempt, pages=pages, now=utcnow()
    )


@bp.route("/attempts/<int:attempt_id>/submit", methods=["POST"])
@requires(Permission.LEARNER)
def submit(attempt_id: int) -> Any:
    """Submit once; a repeat (double click, another tab) just shows the result."""
    attempts.submit_attempt(
        get_session(),
        current_organisation_id(),
        attempt_id,
        _launch().person_id,
        utcnow(),
        launch_id=_launch().id,
    )
    flash(gettext("Your answers are submitted."), "success")
    return _to("attempts.result_page", attempt_id=attempt_id)


@bp.route("/attempts/<int:attempt_id>/result")
@requires(Permission.LEARNER)
def result_page(attempt_id: int) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    person_id = _launch().person_id
    attempt = attempts.get_attempt(session, organisation_id, attempt_id, person_id)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        attempts.overview(session, organisation_id, attempt.mapping, person_id, utcnow())
        if attempt.status == AttemptStatus.IN_PROGRESS:
            return _to("attempts.review_page", attempt_id=attempt.id)
    result = attempts.attempt_result(session, organisation_id, attempt, str(get_locale()))
    return render_template("attempts/result.html", launch=_launch(), result=result)
