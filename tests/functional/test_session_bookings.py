"""The seat rule of a classroom session (``services.bookings.book_session`` and
``cancel_booking``): seats first come first served, then the waitlist in order, a freed
seat to the first in the queue; closed, cancelled and full sessions refused; and, on
PostgreSQL, two sign-ups for the last seat at once: one seat, one place in the queue."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.errors import BookingRefused, NotFound
from lti_tool.models import (
    BookingStatus,
    Course,
    CourseKind,
    CourseSession,
    Organisation,
    SessionBooking,
)
from lti_tool.services import bookings, catalogue
from lti_tool.services.catalogue import SessionInput
from tests.fakes import content
from tests.fakes.lms import TestLms
from tests.functional.test_unit_matrix import add_person

NOW = dt.datetime(2027, 5, 1, 8, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def setup(app: Any, lms: TestLms) -> dict[str, Any]:
    """A classroom course with a two-seat session on 1 June, sign-up until 25 May, and
    five people of the organisation."""
    with app.app_context():
        session = get_session()
        org = content.organisation_id("Testkommune")
        course = Course(
            organisation_id=org, code="hms", title={"nb": "HMS"}, kind=CourseKind.CLASSROOM
        )
        session.add(course)
        session.flush()
        made = catalogue.save_course_session(
            session,
            org,
            course.id,
            None,
            SessionInput(
                starts_at=dt.datetime(2027, 6, 1, 7, 0, tzinfo=dt.UTC),
                ends_at=dt.datetime(2027, 6, 1, 10, 0, tzinfo=dt.UTC),
                capacity=2,
                place="Rådhuset",
                signup_deadline=dt.datetime(2027, 5, 25, 14, 0, tzinfo=dt.UTC),
            ),
            NOW,
        )
        people = [add_person(org, f"Person {n}", None, []) for n in range(5)]
        session.commit()
        return {"org": org, "course": course.id, "session": made.id, "people": people}


def _book(setup: dict[str, Any], n: int, at: dt.datetime = NOW) -> SessionBooking:
    return bookings.book_session(
        get_session(), setup["org"], setup["people"][n], setup["session"], at
    )


def _queue(setup: dict[str, Any]) -> list[tuple[int, str]]:
    """(person number, status) in the order the seats and the queue go."""
    rows = get_session().scalars(
        select(SessionBooking)
        .where(SessionBooking.session_id == setup["session"])
        .order_by(SessionBooking.requested_at, SessionBooking.id)
    )
    return [(setup["people"].index(b.person_id), str(b.status)) for b in rows]


def test_seats_first_then_the_waitlist_and_a_freed_seat_to_the_first_in_the_queue(app, setup):
    with app.app_context():
        for n in range(4):
            _book(setup, n, NOW + n * MINUTE)
        assert _queue(setup) == [(0, "booked"), (1, "booked"), (2, "waitlisted"), (3, "waitlisted")]
        again = _book(setup, 2, NOW + 9 * MINUTE)  # asking again changes nothing
        assert again.status == BookingStatus.WAITLISTED and again.requested_at == NOW + 2 * MINUTE

        later = NOW + 10 * MINUTE
        cancelled = bookings.cancel_booking(
            get_session(), setup["org"], setup["people"][0], setup["session"], later
        )
        assert cancelled.status == BookingStatus.CANCELLED and cancelled.cancelled_at == later
        assert _queue(setup) == [
            (0, "cancelled"),
            (1, "booked"),
            (2, "booked"),  # moved up
            (3, "waitlisted"),
        ]
        moved = get_session().scalar(
            select(SessionBooking).where(SessionBooking.person_id == setup["people"][2])
        )
        assert moved is not None and moved.booked_at == later
        # leaving the queue frees no seat
        bookings.cancel_booking(
            get_session(), setup["org"], setup["people"][3], setup["session"], later
        )
        # booking again after cancelling: the back of the queue, the same row
        rebooked = _book(setup, 0, NOW + 20 * MINUTE)
        assert rebooked.id == cancelled.id and rebooked.status == BookingStatus.WAITLISTED
        assert rebooked.cancelled_at is None and rebooked.booked_at is None
        with pytest.raises(BookingRefused, match="no booking"):  # nothing left to cancel
            bookings.cancel_booking(
                get_session(), setup["org"], setup["people"][3], setup["session"], later
            )


def test_full_without_a_waitlist_closed_and_cancelled_sessions_are_refused(app, setup):
    with app.app_context():
        session = get_session()
        found = session.get(CourseSession, setup["session"])
        assert found is not None
        found.waitlist = False
        _book(setup, 0)
        _book(setup, 1)
        with pytest.raises(BookingRefused, match="full"):
            _book(setup, 2)
        deadline = dt.datetime(2027, 5, 25, 14, 0, tzinfo=dt.UTC)
        with pytest.raises(BookingRefused, match="closed"):
            _book(setup, 3, deadline)  # at the deadline it has closed
        found.signup_deadline = None
        with pytest.raises(BookingRefused, match="closed"):
            _book(setup, 3, found.starts_at)  # without one: at the start
        catalogue.cancel_course_session(
            session, setup["org"], setup["course"], setup["session"], "", NOW
        )
        with pytest.raises(BookingRefused, match="cancelled"):
            _book(setup, 4)
        assert [status for _, status in _queue(setup)] == ["booked", "booked"]


def test_another_organisations_person_or_session_is_not_found(app, setup):
    with app.app_context():
        session = get_session()
        other = Organisation(name="Annenkommune")
        session.add(other)
        session.flush()
        stranger = add_person(other.id, "Frida Gran", None, [])
        with pytest.raises(NotFound):
            bookings.book_session(session, setup["org"], stranger, setup["session"], NOW)
        with pytest.raises(NotFound):
            bookings.book_session(session, other.id, setup["people"][0], setup["session"], NOW)
        assert _queue(setup) == []


def test_two_sign_ups_for_the_last_seat_at_once_never_overbook(app, setup):
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    with app.app_context():
        _book(setup, 0)  # one seat of two left
        get_session().commit()
    counted = threading.Event()
    release = threading.Event()
    results: dict[str, str] = {}

    def sign_up(name: str, n: int, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                booking = bookings.book_session(
                    session, setup["org"], setup["people"][n], setup["session"], NOW + n * MINUTE
                )
                if hold:  # holds the lock, its seat counted but not committed
                    counted.set()
                    release.wait(5)
                session.commit()
                results[name] = str(booking.status)
            finally:
                session.close()

    one = threading.Thread(target=sign_up, args=("one", 1, True))
    one.start()
    assert counted.wait(10)
    two = threading.Thread(target=sign_up, args=("two", 2, False))
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting for the session's row lock
    release.set()
    one.join(10)
    two.join(10)
    assert results == {"one": "booked", "two": "waitlisted"}
    with app.app_context():
        assert [status for _, status in _queue(setup)] == ["booked", "booked", "waitlisted"]
