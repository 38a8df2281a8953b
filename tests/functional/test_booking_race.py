"""Many people signing up for the last seat at the same moment never overbook a session:
20 launched people, each in a thread of their own with their own connection, post the
booking form through the app at once (PostgreSQL; SQLite runs one writer at a time)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.models import BookingStatus, SessionBooking
from tests.fakes.lms import csrf_token
from tests.functional.test_bookings import book, classroom, launched
from tests.functional.test_bookings import designer as designer

RACERS = 20


def _counts(app: Any, session_id: int) -> dict[str, int]:
    with app.app_context():
        rows = get_session().execute(
            select(SessionBooking.status, func.count())
            .where(SessionBooking.session_id == session_id)
            .group_by(SessionBooking.status)
        )
        return {str(status): count for status, count in rows}


def _race(app: Any, lms: Any, session_id: int) -> list[int]:
    """Launch RACERS people, then let them all post the booking at the same instant."""
    racers = []
    for n in range(RACERS):
        browser = launched(app, lms, sub=f"race-{n}")
        token = csrf_token(browser.get(f"/sessions/{session_id}").get_data(as_text=True))
        racers.append((browser, token))
    start = threading.Barrier(RACERS)
    answers: list[int] = []
    lock = threading.Lock()

    def sign_up(browser: Any, token: str) -> None:
        start.wait(10)
        response = browser.post(f"/sessions/{session_id}/book", data={"csrf_token": token})
        with lock:
            answers.append(response.status_code)

    threads = [threading.Thread(target=sign_up, args=racer) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    return sorted(answers)


@pytest.fixture
def postgresql_only(app: Any) -> None:
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")


def test_twenty_people_race_for_the_last_seat_without_a_waitlist(
    app, lms, designer, care, postgresql_only
):
    ids = classroom(app, designer, care, capacity="3", waitlist=None, signup_deadline="")
    for persona in ("learner", "learner2"):  # two of three seats taken before the race
        assert book(launched(app, lms, persona), ids["session"]).status_code == 302
    answers = _race(app, lms, ids["session"])
    assert answers == [302] + [409] * (RACERS - 1)
    assert _counts(app, ids["session"]) == {"booked": 3}


def test_twenty_people_race_for_the_last_seat_and_queue_in_order(
    app, lms, designer, care, postgresql_only
):
    ids = classroom(app, designer, care, capacity="1", signup_deadline="")
    answers = _race(app, lms, ids["session"])
    assert answers == [302] * RACERS
    assert _counts(app, ids["session"]) == {"booked": 1, "waitlisted": RACERS - 1}
    with app.app_context():
        waiting = (
            get_session()
            .scalars(
                select(SessionBooking)
                .where(
                    SessionBooking.session_id == ids["session"],
                    SessionBooking.status == BookingStatus.WAITLISTED,
                )
                .order_by(SessionBooking.requested_at, SessionBooking.id)
            )
            .all()
        )
        # each has a place of their own in the queue
        assert len({(b.requested_at, b.id) for b in waiting}) == RACERS - 1
