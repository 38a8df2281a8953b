"""Booking classroom sessions, and the instructor's attendance list.

A person books a seat (or a place on the waitlist) of a session of their organisation,
and may cancel until it starts; a freed seat goes to the first on the waitlist. Every
count of seats happens under the session's row lock (``catalogue.lock_course_session``),
so no session is ever overbooked, however many sign up at once (``models.catalogue``).
Each change is told to the people it concerns (``services.notices``).

After the session the instructor (the person set on it), a designer or an admin records
who came: that writes the course's attendance (``certifications.add_attendance``), is
evidence of each competence the course develops at its level (attendance, or the
instructor's confirmation of the level), and evaluates the certifications that wait on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain import bookings as rules
from lti_tool.domain.calendar import local_date
from lti_tool.domain.evidence_sources import ATTENDANCE, INSTRUCTOR_CONFIRMED
from lti_tool.errors import AttendanceInvalid, BookingRefused, NotFound
from lti_tool.models import (
    Attendance,
    BookingStatus,
    Course,
    CourseSession,
    Evidence,
    NoticeKind,
    Person,
    SessionBooking,
)
from lti_tool.services import catalogue, certificates, certifications, evidence, notices

#: The notice each new booking's place gives.
_NOTICE = {BookingStatus.BOOKED: NoticeKind.BOOKED, BookingStatus.WAITLISTED: NoticeKind.WAITLISTED}
ACTIVE = (BookingStatus.BOOKED, BookingStatus.WAITLISTED)

_CLOSED_REASONS = {
    rules.Signup.CANCELLED: _l("The session is cancelled."),
    rules.Signup.WITHDRAWN: _l("The activity is no longer offered."),
    rules.Signup.CLOSED: _l("Sign-up for this session has closed."),
}


def _booking_of(session: Session, session_id: int, person_id: int) -> SessionBooking | None:
    found: SessionBooking | None = session.scalar(
        select(SessionBooking)
        .where(SessionBooking.session_id == session_id, SessionBooking.person_id == person_id)
        .execution_options(populate_existing=True)
    )
    return found


def _signup(course_session: CourseSession, now: dt.datetime) -> rules.Signup:
    return rules.signup(
        starts_at=course_session.starts_at,
        signup_deadline=course_session.signup_deadline,
        cancelled=course_session.cancelled_at is not None,
        archived=course_session.course.archived,
        now=now,
    )


def _seats_taken(session: Session, course_session: CourseSession) -> int:
    counts = catalogue.booking_counts(session, [course_session.id])
    return counts.get(course_session.id, {}).get(BookingStatus.BOOKED, 0)


def _holds_another(
    session: Session, course_session: CourseSession, person_id: int, now: dt.datetime
) -> bool:
    """Whether the person holds a seat or a place on the waitlist of another session of
    the same activity that is not over nor cancelled: one seat an activity at a time."""
    found = session.scalar(
        select(SessionBooking.id)
        .join(CourseSession, CourseSession.id == SessionBooking.session_id)
        .where(
            CourseSession.course_id == course_session.course_id,
            CourseSession.id != course_session.id,
            CourseSession.cancelled_at.is_(None),
            CourseSession.ends_at > now,
            SessionBooking.person_id == person_id,
            SessionBooking.status.in_(ACTIVE),
        )
        .limit(1)
    )
    return found is not None


def book_session(
    session: Session, organisation_id: int, person_id: int, session_id: int, now: dt.datetime
) -> SessionBooking:
    """Book the person a seat, or a place on the waitlist when the seats are taken; a
    booking they hold already is kept as it is. Refused when the session is cancelled,
    its activity archived, sign-up closed, it is full without a waitlist, or the person
    holds another session of the activity still to come."""
    found = catalogue.lock_course_session(session, organisation_id, session_id)
    person = session.get(Person, person_id)  # the launch's: no statement
    if person is None or person.organisation_id != organisation_id:
        raise NotFound(f"person {person_id} not in organisation {organisation_id}")
    booking = _booking_of(session, found.id, person_id)
    if booking is not None and booking.status in ACTIVE:
        return booking
    state = _signup(found, now)
    if state != rules.Signup.OPEN:
        raise BookingRefused(f"session {session_id}: {state}", reason=_CLOSED_REASONS[state])
    if _holds_another(session, found, person_id, now):
        raise BookingRefused(
            f"person {person_id} holds another session of course {found.course_id}",
            reason=_l(
                "You have booked another session of this activity: cancel that booking "
                "first to choose this one."
            ),
        )
    place = rules.place_for(_seats_taken(session, found), found.capacity, found.waitlist)
    if place == rules.Place.FULL:
        raise BookingRefused(
            f"session {session_id} full", reason=_l("The session is full, and has no waitlist.")
        )
    status = BookingStatus.BOOKED if place == rules.Place.SEAT else BookingStatus.WAITLISTED
    if booking is None:
        booking = SessionBooking(
            organisation_id=organisation_id, session_id=found.id, person_id=person_id, sequence=0
        )
        session.add(booking)
    else:  # booked again after cancelling: a change the calendar must take
        booking.sequence += 1
    booking.status, booking.requested_at, booking.cancelled_at = status, now, None
    booking.booked_at = now if status == BookingStatus.BOOKED else None
    session.flush()
    notices.add_notices(session, found, [person_id], _NOTICE[status], now)
    return booking


def cancel_booking(
    session: Session, organisation_id: int, person_id: int, session_id: int, now: dt.datetime
) -> SessionBooking:
    """Cancel the person's booking (a seat or a place on the waitlist) before the session
    starts; a seat freed goes to the first on the waitlist."""
    found = catalogue.lock_course_session(session, organisation_id, session_id)
    booking = _booking_of(session, found.id, person_id)
    if booking is None or booking.status not in ACTIVE:
        raise BookingRefused(
            f"session {session_id}: no booking of person {person_id}",
            reason=_l("You have no booking of this session."),
        )
    if not rules.may_cancel(found.starts_at, now):
        raise BookingRefused(
            f"session {session_id} started",
            reason=_l("The session has started: the booking can no longer be cancelled."),
        )
    had_seat = booking.status == BookingStatus.BOOKED
    booking.status, booking.cancelled_at, booking.booked_at = BookingStatus.CANCELLED, now, None
    booking.sequence += 1
    session.flush()
    notices.add_notices(session, found, [person_id], NoticeKind.CANCELLED_BOOKING, now)
    if had_seat:
        catalogue.fill_from_waitlist(session, found, now)
    return booking


# --- what a person sees -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionStanding:
    """A session as a person sees it: seats, sign-up, and their own booking."""

    session: CourseSession
    booked: int
    waitlisted: int
    signup: rules.Signup
    status: BookingStatus | None
    """The person's booking: None when they never booked it."""
    position: int | None
    """Their place on the waitlist (1 = next to get a seat)."""
    changes: int = 0
    """How often their booking changed (``SessionBooking.sequence``)."""

    @property
    def free(self) -> int:
        return max(self.session.capacity - self.booked, 0)

    @property
    def holds(self) -> bool:
        """Whether the person holds a seat or a place on the waitlist."""
        return self.status in ACTIVE


def waitlist_positions(
    session: Session, session_ids: Iterable[int], person_id: int
) -> dict[int, int]:
    """The person's place on the waitlist of each session where they wait (one statement)."""
    ids = list(session_ids)
    if not ids:
        return {}
    ranked = (
        select(
            SessionBooking.session_id,
            SessionBooking.person_id,
            func.row_number()
            .over(
                partition_by=SessionBooking.session_id,
                order_by=(SessionBooking.requested_at, SessionBooking.id),
            )
            .label("position"),
        )
        .where(
            SessionBooking.session_id.in_(ids),
            SessionBooking.status == BookingStatus.WAITLISTED,
        )
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.session_id, ranked.c.position).where(ranked.c.person_id == person_id)
    )
    return {session_id: position for session_id, position in rows}


def standings(
    session: Session,
    sessions: Sequence[CourseSession],
    person_id: int,
    now: dt.datetime,
) -> list[SessionStanding]:
    """The sessions with their seats and the person's booking (three statements)."""
    ids = [s.id for s in sessions]
    counts = catalogue.booking_counts(session, ids)
    mine: dict[int, BookingStatus] = {}
    changes: dict[int, int] = {}
    if ids:
        rows = session.execute(
            select(SessionBooking.session_id, SessionBooking.status, SessionBooking.sequence).where(
                SessionBooking.session_id.in_(ids), SessionBooking.person_id == person_id
            )
        )
        for session_id, status, sequence in rows:
            mine[session_id], changes[session_id] = status, sequence
    positions = waitlist_positions(
        session, [i for i, status in mine.items() if status == BookingStatus.WAITLISTED], person_id
    )
    return [
        SessionStanding(
            session=s,
            booked=counts.get(s.id, {}).get(BookingStatus.BOOKED, 0),
            waitlisted=counts.get(s.id, {}).get(BookingStatus.WAITLISTED, 0),
            signup=_signup(s, now),
            status=mine.get(s.id),
            position=positions.get(s.id),
            changes=changes.get(s.id, 0),
        )
        for s in sessions
    ]


@dataclasses.dataclass(frozen=True)
class ActivitySessions:
    course: Course
    sessions: list[SessionStanding]


def activity_sessions(
    session: Session, organisation_id: int, course_id: int, person_id: int, now: dt.datetime
) -> ActivitySessions:
    """An activity's sessions as the person sees them: those not yet over, and any they
    hold a booking of; another organisation's activity is not found."""
    course = catalogue.get_activity(session, organisation_id, course_id)
    held = set(
        session.scalars(
            select(SessionBooking.session_id)
            .join(CourseSession, CourseSession.id == SessionBooking.session_id)
            .where(
                CourseSession.course_id == course.id,
                SessionBooking.person_id == person_id,
                SessionBooking.status.in_(ACTIVE),
            )
        )
    )
    shown = [s for s in course.sessions if s.ends_at > now or s.id in held]
    return ActivitySessions(course, standings(session, shown, person_id, now))


def session_standing(
    session: Session, organisation_id: int, session_id: int, person_id: int, now: dt.datetime
) -> SessionStanding:
    """One session of the organisation as the person sees it; else not found."""
    found = session.scalar(
        select(CourseSession)
        .where(CourseSession.id == session_id, CourseSession.organisation_id == organisation_id)
        .options(selectinload(CourseSession.course), selectinload(CourseSession.instructor))
    )
    if found is None:
        raise NotFound(f"no session {session_id} in organisation {organisation_id}")
    (standing,) = standings(session, [found], person_id, now)
    return standing


def bookings_of(
    session: Session,
    organisation_id: int,
    person_id: int,
    now: dt.datetime,
    *,
    since: dt.datetime | None = None,
    include_cancelled: bool = False,
) -> list[SessionStanding]:
    """The sessions the person booked (seats and waitlist; with ``include_cancelled`` also
    those they or the organiser cancelled), by start, from ``since`` (default: those not
    yet over). What the bookings page, the learning plan and the calendar feed list."""
    statuses = [*ACTIVE, BookingStatus.CANCELLED] if include_cancelled else list(ACTIVE)
    sessions = session.scalars(
        select(CourseSession)
        .join(SessionBooking, SessionBooking.session_id == CourseSession.id)
        .where(
            SessionBooking.organisation_id == organisation_id,
            SessionBooking.person_id == person_id,
            SessionBooking.status.in_(statuses),
            CourseSession.ends_at > (since or now),
        )
        .options(selectinload(CourseSession.course), selectinload(CourseSession.instructor))
        .order_by(CourseSession.starts_at, CourseSession.id)
    ).all()
    return standings(session, sessions, person_id, now)


def teaching(
    session: Session, organisation_id: int, person_id: int, now: dt.datetime
) -> list[CourseSession]:
    """The sessions the person is the instructor of, from those of the last 30 days on
    (attendance is recorded after the session)."""
    return list(
        session.scalars(
            select(CourseSession)
            .where(
                CourseSession.organisation_id == organisation_id,
                CourseSession.instructor_id == person_id,
                CourseSession.ends_at > now - dt.timedelta(days=30),
            )
            .options(selectinload(CourseSession.course))
            .order_by(CourseSession.starts_at, CourseSession.id)
        )
    )


# --- the instructor's attendance list ----------------------------------------------------------


def may_take_attendance(course_session: CourseSession, person_id: int, designs: bool) -> bool:
    """The session's instructor, a designer or an admin (``designs``)."""
    return designs or course_session.instructor_id == person_id


def session_day(course_session: CourseSession) -> dt.date:
    """The day the session is held, in the tool's time zone: the attendance's date."""
    return local_date(course_session.starts_at)


@dataclasses.dataclass(frozen=True)
class AttendanceRow:
    person: Person
    status: BookingStatus
    attended: bool
    confirmed: bool
    """The instructor confirmed the level the course develops."""


@dataclasses.dataclass(frozen=True)
class AttendanceSheet:
    session: CourseSession
    rows: list[AttendanceRow]

    @property
    def develops(self) -> bool:
        """Whether the course develops any competence (a level to confirm)."""
        return bool(self.session.course.competences)


def _confirmed(session: Session, course_session: CourseSession, person_ids: list[int]) -> set[int]:
    """Who has the instructor's confirmation from this session already."""
    competence_ids = [c.competence_id for c in course_session.course.competences]
    if not person_ids or not competence_ids:
        return set()
    rows = session.execute(
        select(Evidence.person_id, Evidence.detail).where(
            Evidence.organisation_id == course_session.organisation_id,
            Evidence.person_id.in_(person_ids),
            Evidence.competence_id.in_(competence_ids),
            Evidence.source == INSTRUCTOR_CONFIRMED,
        )
    )
    return {
        person_id
        for person_id, detail in rows
        if (detail or {}).get("session_id") == course_session.id
    }


def attendance_sheet(session: Session, organisation_id: int, session_id: int) -> AttendanceSheet:
    """Who booked the session (seats, then the waitlist, by name), and who is recorded as
    having come; another organisation's session is not found."""
    found = session.scalar(
        select(CourseSession)
        .where(CourseSession.id == session_id, CourseSession.organisation_id == organisation_id)
        .options(
            selectinload(CourseSession.course).selectinload(Course.competences),
            selectinload(CourseSession.instructor),
        )
    )
    if found is None:
        raise NotFound(f"no session {session_id} in organisation {organisation_id}")
    bookings = session.scalars(
        select(SessionBooking)
        .where(SessionBooking.session_id == found.id, SessionBooking.status.in_(ACTIVE))
        .options(selectinload(SessionBooking.person))
    ).all()
    people = [b.person_id for b in bookings]
    attended = set(
        session.scalars(
            select(Attendance.person_id).where(
                Attendance.course_id == found.course_id,
                Attendance.attended_on == session_day(found),
                Attendance.person_id.in_(people),
            )
        )
    )
    confirmed = _confirmed(session, found, people)
    rows = [
        AttendanceRow(b.person, b.status, b.person_id in attended, b.person_id in confirmed)
        for b in bookings
    ]
    rows.sort(key=lambda r: (r.status != BookingStatus.BOOKED, r.person.display_name.lower()))
    return AttendanceSheet(found, rows)


@dataclasses.dataclass(frozen=True)
class AttendanceRecorded:
    came: int
    """People recorded as having come, now or before."""
    absent: int
    """People with a seat who are not recorded as having come."""
    confirmed: int
    """People whose level the instructor newly confirmed."""
    certificates: int
    """Certificates issued because of it."""


def record_attendance(
    session: Session,
    organisation_id: int,
    session_id: int,
    attended_ids: Iterable[int],
    confirmed_ids: Iterable[int],
    recorded_by: Person,
    now: dt.datetime,
) -> AttendanceRecorded:
    """Record who came to the session (``attended_ids``) and whose level the instructor
    confirms (``confirmed_ids``, who came too). New attendance is the course's attendance
    and evidence of each competence it develops at its level: attendance, or the
    instructor's confirmation; a confirmation added later is evidence of its own. Then
    the certifications of everyone recorded are evaluated. Recording again adds nothing
    twice; only people who booked the session may be recorded, and not by themselves
    (their own word would count as attendance or a confirmation). The session's row is
    locked first, so two posts at once (a double click) record one after the other."""
    catalogue.lock_course_session(session, organisation_id, session_id)
    sheet = attendance_sheet(session, organisation_id, session_id)
    found = sheet.session
    if found.cancelled_at is not None:
        raise BookingRefused(
            f"session {session_id} cancelled", reason=_l("The session is cancelled.")
        )
    if found.starts_at > now:
        raise BookingRefused(
            f"session {session_id} not started",
            reason=_l("Attendance can be recorded once the session has started."),
        )
    confirmed = set(confirmed_ids) if sheet.develops else set()
    came = set(attended_ids) | confirmed
    if recorded_by.id in came:
        raise AttendanceInvalid(
            f"person {recorded_by.id} records their own attendance",
            reason=_l(
                "You cannot record your own attendance or confirm your own level: "
                "someone else must record it."
            ),
        )
    rows = {r.person.id: r for r in sheet.rows}
    if not came <= rows.keys():
        raise NotFound(f"people {sorted(came - rows.keys())} did not book session {session_id}")
    added = certifications.add_attendance(
        session, found.course, sorted(came), session_day(found), recorded_by.id, now
    )
    newly_confirmed = {p for p in confirmed if not rows[p].confirmed}
    evidence.record_course_evidence(
        session,
        found.course,
        [p for p in added if p not in newly_confirmed],
        ATTENDANCE,
        now,
        session_id=found.id,
    )
    evidence.record_course_evidence(
        session,
        found.course,
        newly_confirmed,
        INSTRUCTOR_CONFIRMED,
        now,
        session_id=found.id,
        confirmed_by=recorded_by,
    )
    issued = 0
    for person_id in sorted(came):
        issued += len(certificates.evaluate_person(session, organisation_id, person_id, now))
    present = came | {r.person.id for r in sheet.rows if r.attended}
    absent = sum(
        1 for r in sheet.rows if r.status == BookingStatus.BOOKED and r.person.id not in present
    )
    return AttendanceRecorded(len(present), absent, len(newly_confirmed), issued)
