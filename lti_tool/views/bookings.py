"""Classroom sessions for the people who come to them: an activity's sessions, booking
and cancelling, one's bookings and notices, the instructor's attendance list, and the
calendar files (a session's, and one's personal feed).

Everyone launched may see their organisation's activities and sessions and book them
for themselves (every launched person holds ``learner``). The attendance list is the
session's instructor's (the person set on it), a designer's or an admin's. The personal
feed is public to whoever has its secret address. Another organisation's activity or
session is not found.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale, get_timezone, gettext, ngettext
from marshmallow import ValidationError

from lti_tool import clock, urls
from lti_tool.app_factory import limiter
from lti_tool.auth import (
    current_actor,
    current_launch,
    current_organisation_id,
    current_permissions,
    public,
    requires,
)
from lti_tool.db import get_session
from lti_tool.domain.bookings import Signup
from lti_tool.domain.texts import localized
from lti_tool.errors import BookingRefused, Forbidden, NotFound
from lti_tool.i18n import format_span
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.models import BookingStatus, CourseKind, Person
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import form_data
from lti_tool.schemas.bookings import BookingForm, SessionAttendanceForm
from lti_tool.services import audit, bookings, calendar_feeds, catalogue, notices

bp = Blueprint("bookings", __name__)

INVALID_FORM = 422
#: Every launched person holds ``learner``: these pages are everyone's, for themselves.
EVERYONE = (Permission.LEARNER,)
#: The attendance list: the session's instructor (any launched person, checked on the
#: session), designers and admins.
ATTENDANCE_TAKERS = (Permission.LEARNER, Permission.DESIGNER, Permission.ADMIN)
DESIGNERS = frozenset({Permission.DESIGNER, Permission.ADMIN})


@bp.context_processor
def session_helpers() -> dict[str, Any]:
    """What the session templates and ``bookings/_macros.html`` use; the learner's activity
    page (``views.learner``) passes them too."""
    locale = str(get_locale())
    return {
        "localized": lambda text: localized(text, locale),
        "when": lambda moment: format_datetime(moment, "EEE d MMM y HH:mm") if moment else "",
        "span": format_span,
        "BookingStatus": BookingStatus,
        "Signup": Signup,
        "CourseKind": CourseKind,
        "describe": lambda notice: notices.describe(notice, locale, str(get_timezone())),
    }


def _me() -> Person:
    launch = current_launch()
    assert launch is not None  # @requires let the request in
    return launch.person


def _now() -> dt.datetime:
    return clock.now()


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


def _designs() -> bool:
    return bool(current_permissions() & DESIGNERS)


# --- activities and sessions ------------------------------------------------------------------


@bp.route("/learner/activities")
@requires(*EVERYONE)
def activities_page() -> Any:
    """The organisation's activities: e-learning with its link, classroom and practical
    courses with their coming sessions."""
    session = get_session()
    courses = catalogue.list_catalogue(session, current_organisation_id())
    views = catalogue.activity_views(session, courses)
    now = _now()
    return _render(
        "bookings/activities.html",
        activities=[
            (v, [s for s in v.sessions if s.session.ends_at > now and not s.session.cancelled_at])
            for v in views
        ],
    )


def _session_page(session_id: int, status: int = 200, **context: Any) -> Any:
    standing = bookings.session_standing(
        get_session(), current_organisation_id(), session_id, _me().id, _now()
    )
    context.setdefault("errors", {})
    return _render(
        "bookings/session.html",
        status,
        standing=standing,
        may_take_attendance=bookings.may_take_attendance(standing.session, _me().id, _designs()),
        back=urls.here(),
        **context,
    )


@bp.route("/sessions/<int:session_id>")
@requires(*EVERYONE)
def session_page(session_id: int) -> Any:
    return _session_page(session_id)


def _back(form: dict[str, Any], session_id: int) -> Any:
    path = form.get("next")
    target = (
        urls.tool_path(path) if path else url_for("bookings.session_page", session_id=session_id)
    )
    return redirect(target)


@bp.route("/sessions/<int:session_id>/book", methods=["POST"])
@requires(*EVERYONE)
def book(session_id: int) -> Any:
    """Book a seat, or a place on the waitlist."""
    form = BookingForm().load(request.form.to_dict())
    try:
        booking = bookings.book_session(
            get_session(), current_organisation_id(), _me().id, session_id, _now()
        )
    except BookingRefused as exc:
        return _session_page(session_id, exc.status, errors={"_schema": [str(exc.message)]})
    if booking.status == BookingStatus.BOOKED:
        flash(gettext("You have a seat."), "success")
    else:
        flash(gettext("The session is full: you are on the waitlist."), "success")
    return _back(form, session_id)


@bp.route("/sessions/<int:session_id>/cancel", methods=["POST"])
@requires(*EVERYONE)
def cancel(session_id: int) -> Any:
    """Cancel one's own booking (a seat or a place on the waitlist)."""
    form = BookingForm().load(request.form.to_dict())
    try:
        bookings.cancel_booking(
            get_session(), current_organisation_id(), _me().id, session_id, _now()
        )
    except BookingRefused as exc:
        return _session_page(session_id, exc.status, errors={"_schema": [str(exc.message)]})
    flash(gettext("Your booking is cancelled."), "success")
    return _back(form, session_id)


def _ics(body: bytes, filename: str) -> Response:
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-cache",
        },
    )


@bp.route("/sessions/<int:session_id>/ics")
@requires(*EVERYONE)
def session_ics(session_id: int) -> Response:
    """The session's calendar file, for anyone launched in its organisation."""
    standing = bookings.session_standing(
        get_session(), current_organisation_id(), session_id, _me().id, _now()
    )
    page = urls.absolute_url("bookings.session_page", session_id=session_id)
    body = calendar_feeds.session_calendar(standing.session, str(get_locale()), page, _now())
    return _ics(body, f"session-{session_id}.ics")


# --- the instructor's attendance list ---------------------------------------------------------


def _attendance_page(session_id: int, status: int = 200, **context: Any) -> Any:
    sheet = bookings.attendance_sheet(get_session(), current_organisation_id(), session_id)
    if not bookings.may_take_attendance(sheet.session, _me().id, _designs()):
        raise Forbidden(f"person {_me().id} is not the instructor of session {session_id}")
    shown = [row.person.id for row in sheet.rows]
    audit.record_view(
        get_session(), current_actor(), "session_attendance", shown, object_id=session_id
    )
    context.setdefault("errors", {})
    return _render(
        "bookings/attendance.html",
        status,
        sheet=sheet,
        started=sheet.session.starts_at <= _now(),
        **context,
    )


@bp.route("/sessions/<int:session_id>/attendance")
@requires(*ATTENDANCE_TAKERS)
def attendance_page(session_id: int) -> Any:
    """The session's instructor, designers and admins; anyone else is refused."""
    return _attendance_page(session_id)


@bp.route("/sessions/<int:session_id>/attendance", methods=["POST"])
@requires(*ATTENDANCE_TAKERS)
def record_attendance(session_id: int) -> Any:
    session, organisation_id = get_session(), current_organisation_id()
    sheet = bookings.attendance_sheet(session, organisation_id, session_id)
    if not bookings.may_take_attendance(sheet.session, _me().id, _designs()):
        raise Forbidden(f"person {_me().id} is not the instructor of session {session_id}")
    try:
        form = SessionAttendanceForm().load(form_data(request.form, "attended", "confirmed"))
        recorded = bookings.record_attendance(
            session,
            organisation_id,
            session_id,
            form["attended"],
            form["confirmed"],
            _me(),
            _now(),
        )
    except ValidationError as exc:
        return _attendance_page(session_id, INVALID_FORM, errors=field_errors(exc))
    except BookingRefused as exc:
        return _attendance_page(session_id, exc.status, errors={"_schema": [str(exc.message)]})
    except NotFound:
        message = gettext("Choose among the people who booked the session.")
        return _attendance_page(session_id, INVALID_FORM, errors={"_schema": [message]})
    flash(_attendance_message(recorded), "success")
    return redirect(url_for("bookings.attendance_page", session_id=session_id))


def _attendance_message(recorded: bookings.AttendanceRecorded) -> str:
    """What recording attendance did, a sentence per count (none for what is zero, but
    always who came)."""
    if recorded.came:
        lines = [
            ngettext(
                "Attendance recorded: %(num)d person came.",
                "Attendance recorded: %(num)d people came.",
                recorded.came,
            )
        ]
    else:
        lines = [gettext("Attendance recorded: no one came.")]
    if recorded.absent:
        lines.append(
            ngettext(
                "%(num)d person with a seat did not come.",
                "%(num)d people with a seat did not come.",
                recorded.absent,
            )
        )
    if recorded.confirmed:
        lines.append(
            ngettext(
                "Level confirmed for %(num)d person.",
                "Level confirmed for %(num)d people.",
                recorded.confirmed,
            )
        )
    if recorded.certificates:
        lines.append(
            ngettext(
                "%(num)d certificate issued.", "%(num)d certificates issued.", recorded.certificates
            )
        )
    return " ".join(lines)


# --- one's bookings, notices and calendar -----------------------------------------------------


def _bookings_page(status: int = 200, **context: Any) -> Any:
    session, organisation_id, me, now = get_session(), current_organisation_id(), _me(), _now()
    return _render(
        "bookings/mine.html",
        status,
        booked=bookings.bookings_of(session, organisation_id, me.id, now),
        notices=notices.notices_of(session, organisation_id, me.id),
        teaching=bookings.teaching(session, organisation_id, me.id, now),
        feed=calendar_feeds.feed_of(session, organisation_id, me.id),
        back=urls.here(),
        **context,
    )


@bp.route("/learner/bookings")
@requires(*EVERYONE)
def my_bookings() -> Any:
    """One's bookings, what one has been told of them, the sessions one teaches, and
    one's calendar feed."""
    return _bookings_page()


@bp.route("/learner/calendar", methods=["POST"])
@requires(*EVERYONE)
def renew_calendar() -> Any:
    """A new secret address for one's calendar feed, shown this once (the old one stops)."""
    token = calendar_feeds.renew_calendar_feed(
        get_session(), current_organisation_id(), _me().id, _now()
    )
    address = urls.absolute_url("bookings.calendar_feed", token=token)
    return _bookings_page(feed_url=address)


def _calendar_limit() -> str:
    return str(lti_services().settings.CALENDAR_RATE_LIMIT)


def _feed_key() -> str:
    """The rate limit counts per feed (see ``CALENDAR_RATE_LIMIT``)."""
    token = str((request.view_args or {}).get("token", ""))
    return "calendar:" + calendar_feeds.token_hash(token)


@bp.route("/calendar/<token>.ics")
@public
@limiter.limit(_calendar_limit, key=_feed_key)
def calendar_feed(token: str) -> Response:
    """A person's feed, to whoever has its secret address; any other token: not found."""
    now = _now()
    feed = calendar_feeds.find_feed(get_session(), token, now)
    if feed is None:
        raise NotFound("unknown calendar token")
    body = calendar_feeds.personal_calendar(
        get_session(),
        feed,
        lambda session_id: urls.absolute_url("bookings.session_page", session_id=session_id),
        now,
        lti_services().settings.DEFAULT_LOCALE,
    )
    return _ics(body, "laeringslop.ics")
