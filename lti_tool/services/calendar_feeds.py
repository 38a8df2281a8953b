"""Calendar files of classroom sessions: one session's (``/sessions/<id>/ics``), and a
person's feed of the sessions they booked at a secret address (``/calendar/<token>.ics``).

The feed's token is shown once, when it is made or renewed; only its sha256 is kept
(``CalendarFeed``), and renewing replaces it, so the old address stops working at once.
The feed lists the sessions the person booked from 90 days back: a seat as a confirmed
event, a place on the waitlist as a tentative one, and a session cancelled, or a booking
the person cancelled, as a cancelled event (STATUS:CANCELLED) rather than dropping it,
so a calendar that has the event shows it struck out instead of keeping it as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.db import insert_or_find
from lti_tool.domain.calendar import TIME_ZONE, CalendarEvent, calendar_file
from lti_tool.domain.texts import localized
from lti_tool.models import BookingStatus, CalendarFeed, CourseSession, Person
from lti_tool.services import assignments, bookings

#: How far back the feed lists sessions.
FEED_HISTORY = dt.timedelta(days=90)
#: last_used_at is written at most this often (a calendar may ask every few minutes).
USE_RECORDED_EVERY = dt.timedelta(hours=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_of(session: Session, organisation_id: int, person_id: int) -> CalendarFeed | None:
    """The person's feed, if they made one (its token is not kept: only that it exists)."""
    found: CalendarFeed | None = session.scalar(
        select(CalendarFeed).where(
            CalendarFeed.organisation_id == organisation_id, CalendarFeed.person_id == person_id
        )
    )
    return found


def renew_calendar_feed(
    session: Session, organisation_id: int, person_id: int, now: dt.datetime
) -> str:
    """A new secret address for the person's feed; returns its token (shown once). The
    previous address, if any, stops working.

    Only for a person of the organisation: an LMS account of another organisation's
    person, launched in this one's deployment (a regional LMS), has no feed here."""
    assignments.get_person(session, organisation_id, person_id)
    token = secrets.token_urlsafe(32)
    feed = feed_of(session, organisation_id, person_id)
    if feed is None:
        feed = insert_or_find(
            session,
            CalendarFeed(
                organisation_id=organisation_id,
                person_id=person_id,
                token_hash=token_hash(token),
                created_at=now,
            ),
            lambda: feed_of(session, organisation_id, person_id),
        )
    feed.token_hash, feed.renewed_at = token_hash(token), now
    session.flush()
    return token


def find_feed(session: Session, token: str, now: dt.datetime) -> CalendarFeed | None:
    """The feed of this token, noting when it was last used; None for an unknown token."""
    feed: CalendarFeed | None = session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == token_hash(token))
    )
    if feed is not None and (
        feed.last_used_at is None or now - feed.last_used_at >= USE_RECORDED_EVERY
    ):
        feed.last_used_at = now
        session.flush()
    return feed


def _event(
    course_session: CourseSession,
    locale: str,
    page_url: str,
    *,
    cancelled: bool = False,
    tentative: bool = False,
    changes: int = 0,
) -> CalendarEvent:
    """The session as an event; ``changes``: how often the person's booking of it changed,
    added to the session's SEQUENCE (a feed's event changes with the booking too)."""
    course = course_session.course
    lines = [localized(course.description, locale)]
    if course_session.video_url:
        lines.append(gettext("Video meeting: %(url)s", url=course_session.video_url))
    if course_session.instructor is not None:
        lines.append(gettext("Instructor: %(name)s", name=course_session.instructor.display_name))
    if course_session.cancelled_at is not None:
        lines.append(gettext("The session is cancelled."))
        if course_session.cancel_reason:
            lines.append(gettext("Reason: %(reason)s", reason=course_session.cancel_reason))
    elif cancelled:
        lines.append(gettext("You cancelled your booking."))
    elif tentative:
        lines.append(gettext("You are on the waitlist."))
    lines.append(page_url)
    return CalendarEvent(
        uid=course_session.uid,
        sequence=course_session.sequence + changes,
        summary=localized(course.title, locale) or course.code,
        starts_at=course_session.starts_at,
        ends_at=course_session.ends_at,
        location=course_session.place or course_session.video_url or "",
        description="\n\n".join(line for line in lines if line),
        url=page_url,
        cancelled=cancelled or course_session.cancelled_at is not None,
        tentative=tentative,
        updated_at=course_session.updated_at,
    )


def session_calendar(
    course_session: CourseSession, locale: str, page_url: str, now: dt.datetime
) -> bytes:
    """The session's own calendar file (cancelled when the session is)."""
    with force_locale(locale):
        return calendar_file([_event(course_session, locale, page_url)], zone=TIME_ZONE, now=now)


def personal_calendar(
    session: Session,
    feed: CalendarFeed,
    session_url: Callable[[int], str],
    now: dt.datetime,
    default_locale: str,
) -> bytes:
    """The feed of the person's booked sessions (see the module docstring); each event
    links to ``session_url(session_id)``, the session's page."""
    person: Person = feed.person
    locale = person.locale if person.locale in ("nb", "nn", "en") else default_locale
    booked = bookings.bookings_of(
        session,
        feed.organisation_id,
        person.id,
        now,
        since=now - FEED_HISTORY,
        include_cancelled=True,
    )
    with force_locale(locale):
        events = [
            _event(
                s.session,
                locale,
                session_url(s.session.id),
                cancelled=s.status == BookingStatus.CANCELLED,
                tentative=s.status == BookingStatus.WAITLISTED,
                changes=s.changes,
            )
            for s in booked
        ]
        name = gettext("Courses: %(name)s", name=person.display_name)
        return calendar_file(events, zone=TIME_ZONE, now=now, name=name)
