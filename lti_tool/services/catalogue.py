"""The activity catalogue (tiltak): courses with what e-learning needs (where it is taken,
how long it takes, its language), the competences each course develops and to which
level, and a classroom course's sessions. A course is certification's ``Course``: one
concept, created there (``certifications.save_course``), described here.

Designers and admins edit the catalogue; learning plans read it (``activities_developing``).
A session's seats are counted under a row lock on the session (``lock_course_session``):
see ``models.catalogue`` for why no session is overbooked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.db import among, dialect_of, insert_or_find
from lti_tool.domain.texts import ACTIVITY_LANGUAGES, clean_text, localized
from lti_tool.domain.urls import is_web_url
from lti_tool.errors import CatalogueInvalid, NotFound
from lti_tool.models import (
    BookingStatus,
    Competence,
    Course,
    CourseCompetence,
    CourseKind,
    CourseSession,
    FrameworkVersion,
    NoticeKind,
    Person,
    SessionBooking,
)
from lti_tool.services import certifications, item_bank, notices, requirements

#: The longest activity the forms accept (in minutes: a week of full days is 2,520).
MAX_DURATION_MINUTES = 100_000
#: The most seats a session may have.
MAX_CAPACITY = 10_000
MAX_PLACE_LENGTH = 500
MAX_REASON_LENGTH = 2000


# --- activities -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ActivityInput:
    """Everything on an activity's form."""

    code: str
    title: dict[str, str]
    kind: CourseKind
    description: dict[str, str] = dataclasses.field(default_factory=dict)
    lms_url: str | None = None
    duration_minutes: int | None = None
    language: str | None = None
    archived: bool = False


def list_catalogue(
    session: Session,
    organisation_id: int,
    *,
    include_archived: bool = False,
    kind: CourseKind | None = None,
) -> Sequence[Course]:
    """The organisation's activities by code, with what they develop and their sessions
    (six statements)."""
    query = select(Course).where(Course.organisation_id == organisation_id)
    if not include_archived:
        query = query.where(Course.archived.is_(False))
    if kind is not None:
        query = query.where(Course.kind == kind)
    return session.scalars(
        query.options(
            selectinload(Course.competences)
            .selectinload(CourseCompetence.competence)
            .selectinload(Competence.version),
            selectinload(Course.sessions).selectinload(CourseSession.instructor),
        ).order_by(Course.code)
    ).all()


def get_activity(session: Session, organisation_id: int, course_id: int) -> Course:
    """One activity with what it develops and its sessions; another organisation's is
    not found."""
    course = session.scalar(
        select(Course)
        .where(Course.id == course_id, Course.organisation_id == organisation_id)
        .options(
            selectinload(Course.competences)
            .selectinload(CourseCompetence.competence)
            .selectinload(Competence.version)
            .selectinload(FrameworkVersion.levels),
            selectinload(Course.sessions).selectinload(CourseSession.instructor),
        )
    )
    if course is None:
        raise NotFound(f"no course {course_id} in organisation {organisation_id}")
    return course


def update_activity(
    session: Session, organisation_id: int, course_id: int, data: ActivityInput
) -> Course:
    """Change an activity: its code, texts and kind (as ``certifications.save_course``)
    and where and how it is taken. An address must be http(s); the language one of
    ``ACTIVITY_LANGUAGES``; a course with sessions to come does not become e-learning."""
    if data.lms_url is not None and not is_web_url(data.lms_url):
        raise CatalogueInvalid(
            f"lms_url {data.lms_url!r}",
            reason=_l("Enter a full address that starts with https:// (or http://)."),
            field="lms_url",
        )
    if data.language is not None and data.language not in ACTIVITY_LANGUAGES:
        raise CatalogueInvalid(
            f"language {data.language!r}", reason=_l("Choose from the list."), field="language"
        )
    if data.duration_minutes is not None and not 0 < data.duration_minutes <= MAX_DURATION_MINUTES:
        raise CatalogueInvalid(
            f"duration {data.duration_minutes}",
            reason=_l("Give the duration in whole minutes."),
            field="duration_minutes",
        )
    if data.kind == CourseKind.ELEARNING and session.scalar(
        select(func.count()).where(
            CourseSession.course_id == course_id,
            CourseSession.organisation_id == organisation_id,
            CourseSession.cancelled_at.is_(None),
        )
    ):
        raise CatalogueInvalid(
            f"course {course_id} has sessions",
            reason=_l("The course has sessions: cancel them before making it e-learning."),
            field="kind",
        )
    course = certifications.save_course(
        session,
        organisation_id,
        course_id,
        data.code,
        data.title,
        data.kind,
        archived=data.archived,
    )
    course.description = clean_text(data.description)
    course.lms_url = data.lms_url
    course.duration_minutes = data.duration_minutes
    course.language = data.language
    session.flush()
    return course


@dataclasses.dataclass(frozen=True)
class SessionView:
    session: CourseSession
    booked: int
    """Seats taken."""
    waitlisted: int


@dataclasses.dataclass(frozen=True)
class ActivityView:
    """An activity with its sessions' bookings counted: what the pages and the API show."""

    course: Course
    sessions: tuple[SessionView, ...]


def activity_views(session: Session, courses: Sequence[Course]) -> list[ActivityView]:
    """The activities with their sessions' counts (one statement for them all)."""
    counts = booking_counts(session, [s.id for c in courses for s in c.sessions])
    nothing: dict[BookingStatus, int] = {}
    return [
        ActivityView(
            course,
            tuple(
                SessionView(
                    s,
                    counts.get(s.id, nothing).get(BookingStatus.BOOKED, 0),
                    counts.get(s.id, nothing).get(BookingStatus.WAITLISTED, 0),
                )
                for s in course.sessions
            ),
        )
        for course in courses
    ]


# --- what an activity develops --------------------------------------------------------------


def set_course_competence(
    session: Session, organisation_id: int, course_id: int, competence_id: int, level: int
) -> CourseCompetence:
    """Say that the course develops the competence (of a published version of the
    organisation's frameworks) to ``level`` of its scale; again: change the level."""
    course = certifications.get_course(session, organisation_id, course_id)
    usable = {c.id: c for c in item_bank.usable_competences(session, organisation_id)}
    competence = usable.get(competence_id)
    if competence is None:
        raise CatalogueInvalid(
            f"competence {competence_id} not usable in organisation {organisation_id}",
            reason=_l("Choose a competence of a published framework."),
            field="competence_id",
        )
    if level not in {lvl.value for lvl in competence.version.levels}:
        raise CatalogueInvalid(
            f"level {level} not on the scale of competence {competence_id}",
            reason=_l("Choose a level on the competence's scale."),
            field="level",
        )

    def existing() -> CourseCompetence | None:
        return session.get(CourseCompetence, (course.id, competence_id))

    row = existing()
    if row is None:
        row = insert_or_find(
            session,
            CourseCompetence(
                course_id=course.id,
                competence_id=competence_id,
                organisation_id=organisation_id,
                level=level,
            ),
            existing,
        )
    row.level = level
    session.flush()
    return row


def remove_course_competence(
    session: Session, organisation_id: int, course_id: int, competence_id: int
) -> None:
    course = certifications.get_course(session, organisation_id, course_id)
    row = session.get(CourseCompetence, (course.id, competence_id))
    if row is None:
        raise NotFound(f"course {course_id} does not develop competence {competence_id}")
    session.delete(row)
    session.flush()


@dataclasses.dataclass(frozen=True)
class ActivityOption:
    """An activity that develops a competence, as a plan offers it."""

    course_id: int
    code: str
    title: str
    kind: CourseKind
    level: int
    """The level of the competence it develops."""
    lms_url: str | None
    duration_minutes: int | None
    language: str | None


def activities_developing(
    session: Session,
    organisation_id: int,
    competence_ids: Iterable[int],
    *,
    locale: str = "nb",
) -> dict[int, list[ActivityOption]]:
    """The organisation's activities (not archived) that develop each competence, by any
    version of it (same framework, same identifier), highest level first, then by code.
    One statement."""
    wanted = list(competence_ids)
    if not wanted:
        return {}
    rows = session.execute(
        _developing_query(dialect_of(session)),
        {"competence_ids": wanted, "organisation_id": organisation_id},
    ).all()
    found: dict[int, list[ActivityOption]] = {}
    for competence_id, level, course in rows:
        options = found.setdefault(competence_id, [])
        if any(o.course_id == course.id for o in options):  # two versions in one course
            continue
        options.append(activity_option(course, level, locale))
    return found


@functools.cache
def _developing_query(dialect: str) -> Any:
    """``activities_developing``' statement, made once for each database."""
    asked, developed = requirements.ASKED, requirements.SHOWN
    return (
        requirements.every_version(asked.id, CourseCompetence.level, Course)
        .join(CourseCompetence, CourseCompetence.competence_id == developed.id)
        .join(Course, Course.id == CourseCompetence.course_id)
        .where(
            among(dialect, asked.id, "competence_ids"),
            Course.organisation_id == bindparam("organisation_id"),
            Course.archived.is_(False),
        )
        .order_by(asked.id, CourseCompetence.level.desc(), Course.code)
    )


def activity_option(course: Course, level: int, locale: str) -> ActivityOption:
    """The activity as a plan offers it, developing its competence to ``level``."""
    return ActivityOption(
        course_id=course.id,
        code=course.code,
        title=localized(course.title, locale) or course.code,
        kind=course.kind,
        level=level,
        lms_url=course.lms_url,
        duration_minutes=course.duration_minutes,
        language=course.language,
    )


# --- sessions -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionInput:
    """Everything on a session's form; times are UTC."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    place: str = ""
    video_url: str | None = None
    waitlist: bool = True
    instructor_id: int | None = None
    signup_deadline: dt.datetime | None = None


def _session_query(organisation_id: int, session_id: int, course_id: int | None) -> Any:
    query = select(CourseSession).where(
        CourseSession.id == session_id, CourseSession.organisation_id == organisation_id
    )
    return query if course_id is None else query.where(CourseSession.course_id == course_id)


def get_course_session(
    session: Session, organisation_id: int, session_id: int, course_id: int | None = None
) -> CourseSession:
    """A session of the organisation (of ``course_id``, when given); else not found."""
    found: CourseSession | None = session.scalar(
        _session_query(organisation_id, session_id, course_id)
    )
    if found is None:
        raise NotFound(f"no session {session_id} of course {course_id} in {organisation_id}")
    return found


def lock_course_session(
    session: Session, organisation_id: int, session_id: int, course_id: int | None = None
) -> CourseSession:
    """The session, its row locked until the transaction ends (``SELECT … FOR UPDATE``):
    whoever counts or changes its seats calls this first, so two sign-ups at once count
    one after the other. Read afresh, whatever the session held before."""
    found: CourseSession | None = session.scalar(
        _session_query(organisation_id, session_id, course_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound(f"no session {session_id} of course {course_id} in {organisation_id}")
    return found


def booking_counts(
    session: Session, session_ids: Iterable[int]
) -> dict[int, dict[BookingStatus, int]]:
    """Bookings of each session by status (one statement); a session without any is
    missing."""
    ids = list(session_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(SessionBooking.session_id, SessionBooking.status, func.count())
        .where(SessionBooking.session_id.in_(ids))
        .group_by(SessionBooking.session_id, SessionBooking.status)
    )
    found: dict[int, dict[BookingStatus, int]] = {}
    for session_id, status, count in rows:
        found.setdefault(session_id, {})[status] = count
    return found


def fill_from_waitlist(
    session: Session, course_session: CourseSession, now: dt.datetime
) -> list[SessionBooking]:
    """Give free seats to the waitlist, first come first served (``requested_at``, then
    id), and tell those who moved up; returns them. The caller holds the session's lock."""
    taken = booking_counts(session, [course_session.id]).get(course_session.id, {})
    free = course_session.capacity - taken.get(BookingStatus.BOOKED, 0)
    if free <= 0 or course_session.cancelled_at is not None:
        return []
    moved = list(
        session.scalars(
            select(SessionBooking)
            .where(
                SessionBooking.session_id == course_session.id,
                SessionBooking.status == BookingStatus.WAITLISTED,
            )
            .order_by(SessionBooking.requested_at, SessionBooking.id)
            .limit(free)
        )
    )
    for booking in moved:
        booking.status = BookingStatus.BOOKED
        booking.booked_at = now
        booking.sequence += 1
    session.flush()
    notices.add_notices(
        session, course_session, [b.person_id for b in moved], NoticeKind.MOVED_UP, now
    )
    return moved


def _check_session(
    session: Session, organisation_id: int, data: SessionInput, now: dt.datetime, new: bool
) -> None:
    def refuse(field: str, reason: object) -> CatalogueInvalid:
        return CatalogueInvalid(f"session {field}: {data!r}", reason=reason, field=field)

    if new and data.starts_at <= now:
        raise refuse("starts_at", _l("A new session must start in the future."))
    if data.ends_at <= data.starts_at:
        raise refuse("ends_at", _l("The session must end after it starts."))
    if not data.place.strip() and not data.video_url:
        raise refuse("place", _l("Give a place, a video link, or both."))
    if len(data.place) > MAX_PLACE_LENGTH:
        raise refuse("place", _l("Shorten the place to at most 500 characters."))
    if data.video_url is not None and not is_web_url(data.video_url):
        raise refuse(
            "video_url", _l("Enter a full address that starts with https:// (or http://).")
        )
    if not 0 < data.capacity <= MAX_CAPACITY:
        raise refuse("capacity", _l("Give the number of seats (1 to 10,000)."))
    if data.signup_deadline is not None and data.signup_deadline > data.starts_at:
        raise refuse("signup_deadline", _l("The sign-up deadline must be before the start."))
    if data.instructor_id is not None:
        instructor = session.get(Person, data.instructor_id)
        if instructor is None or instructor.organisation_id != organisation_id:
            raise refuse("instructor_id", _l("Choose from the list."))


def save_course_session(
    session: Session,
    organisation_id: int,
    course_id: int,
    session_id: int | None,
    data: SessionInput,
    now: dt.datetime,
) -> CourseSession:
    """Add a session to a classroom or practical course, or change one. A change of time
    or place moves its iCalendar SEQUENCE on and is told to those who booked; seats
    cannot drop below those booked, and seats added go to the waitlist first."""
    course = certifications.get_course(session, organisation_id, course_id)
    if course.kind == CourseKind.ELEARNING:
        raise CatalogueInvalid(
            f"course {course_id} is e-learning",
            reason=_l("E-learning has no sessions; give its link instead."),
            field="_schema",
        )
    _check_session(session, organisation_id, data, now, new=session_id is None)
    moved = False
    if session_id is None:
        found = CourseSession(
            organisation_id=organisation_id, course_id=course.id, uid=str(uuid.uuid4())
        )
        session.add(found)
    else:
        found = lock_course_session(session, organisation_id, session_id, course.id)
        if found.cancelled_at is not None:
            raise CatalogueInvalid(
                f"session {session_id} cancelled",
                reason=_l("The session is cancelled and cannot be changed."),
                field="_schema",
            )
        booked = booking_counts(session, [found.id]).get(found.id, {}).get(BookingStatus.BOOKED, 0)
        if data.capacity < booked:
            raise CatalogueInvalid(
                f"capacity {data.capacity} below {booked} booked",
                reason=_l(
                    "%(count)s people hold a seat: give at least that many seats, "
                    "or cancel bookings first.",
                    count=booked,
                ),
                field="capacity",
            )
        moved = (found.starts_at, found.ends_at, found.place, found.video_url) != (
            data.starts_at,
            data.ends_at,
            data.place.strip(),
            data.video_url,
        )
        if moved:
            found.sequence += 1
    found.starts_at, found.ends_at = data.starts_at, data.ends_at
    found.place, found.video_url = data.place.strip(), data.video_url
    found.capacity, found.waitlist = data.capacity, data.waitlist
    found.instructor_id, found.signup_deadline = data.instructor_id, data.signup_deadline
    session.flush()
    if session_id is not None:
        if moved:
            notices.notify_participants(session, found, NoticeKind.SESSION_CHANGED, now)
        fill_from_waitlist(session, found, now)
    return found


def cancel_course_session(
    session: Session,
    organisation_id: int,
    course_id: int,
    session_id: int,
    reason: str,
    now: dt.datetime,
) -> CourseSession:
    """Cancel a session (kept, with its bookings, so calendars can show it cancelled), and
    tell those who booked it."""
    found = lock_course_session(session, organisation_id, session_id, course_id)
    if found.cancelled_at is not None:
        raise CatalogueInvalid(
            f"session {session_id} already cancelled",
            reason=_l("The session is already cancelled."),
            field="_schema",
        )
    found.cancelled_at = now
    found.cancel_reason = reason.strip()[:MAX_REASON_LENGTH]
    found.sequence += 1
    session.flush()
    notices.notify_participants(session, found, NoticeKind.SESSION_CANCELLED, now)
    return found
