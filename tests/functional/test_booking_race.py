"""Many people signing up for the last seat at the same moment never overbook a session:
20 launched people, each in a thread of their own with their own connection, post the
booking form through the app at once (PostgreSQL; SQLite runs one writer at a time).
Likewise a double click on the attendance list records a confirmation once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool import clock
from lti_tool.db import get_session
from lti_tool.models import Attendance, BookingStatus, Evidence, SessionBooking
from tests.fakes.lms import csrf_token
from tests.fakes.mappings import designer_browser
from tests.functional.test_bookings import DURING, book, classroom, launched
from tests.functional.test_bookings import designer as designer
from tests.functional.test_certification_flow import person_id

RACERS = 20


def _counts(app: Any, session_id: int) -> dict[str, int]:
    with app.app_context():
        rows = get_session().execute(
            select(SessionBooking.status, func.count())
            .where(SessionBooking.session_id == session_id)
            .group_by(SessionBooking.status)
        )
        return {str(status): count for status, count in rows}


def _at_once(posts: list[Callable[[], Any]]) -> list[int]:
    """Run each post in a thread of its own, all at the same instant; their statuses."""
    start = threading.Barrier(len(posts))
    answers: list[int] = []
    lock = threading.Lock()

    def run(post: Callable[[], Any]) -> None:
        start.wait(10)
        response = post()
        with lock:
            answers.append(response.status_code)

    threads = [threading.Thread(target=run, args=(post,)) for post in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    return sorted(answers)


def _race(app: Any, lms: Any, session_id: int) -> list[int]:
    """Launch RACERS people, then let them all post the booking at the same instant."""
    posts = []
    for n in range(RACERS):
        browser = launched(app, lms, sub=f"race-{n}")
        token = csrf_token(browser.get(f"/sessions/{session_id}").get_data(as_text=True))
        url, data = f"/sessions/{session_id}/book", {"csrf_token": token}
        posts.append(partial(browser.post, url, data=data))
    return _at_once(posts)


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


def test_a_double_click_on_the_attendance_list_confirms_once(
    app, lms, designer, care, postgresql_only, monkeypatch
):
    ids = classroom(app, designer, care)
    assert book(launched(app, lms), ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: DURING)
    sheet_url = f"/sessions/{ids['session']}/attendance"
    learner = str(person_id(app, "101"))
    posts = []
    for _ in range(6):  # the same designer in six tabs, each posting at the same instant
        browser = designer_browser(app, lms)
        token = csrf_token(browser.get(sheet_url).get_data(as_text=True))
        data = {"csrf_token": token, "attended": [learner], "confirmed": [learner]}
        posts.append(partial(browser.post, sheet_url, data=data))
    assert _at_once(posts) == [302] * len(posts)
    with app.app_context():
        db = get_session()
        assert len(db.scalars(select(Attendance)).all()) == 1
        sources = db.scalars(select(Evidence.source)).all()
        assert sources == ["instructor_confirmed"]
