"""Classroom sessions for the people who come, through HTTP with real launches: an
activity's sessions, booking and cancelling within capacity and the waitlist, the sign-up
deadline and cancelled sessions, the notices of each change (on the page, and by email
after the commit), and the instructor's attendance list giving evidence and certificates;
who may use each route, and another organisation seeing nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool import clock
from lti_tool.db import get_session
from lti_tool.domain.calendar import TIME_ZONE
from lti_tool.lti import claims as c
from lti_tool.lti.services import lti_services
from lti_tool.models import (
    Attendance,
    Certificate,
    Course,
    Evidence,
    MailStatus,
    Person,
    SessionBooking,
    SessionNotice,
)
from lti_tool.services import notices
from tests.fakes.lms import TestLms, csrf_token
from tests.fakes.mappings import designer_browser, post_form
from tests.fakes.smtp import FakeSmtpServer
from tests.functional.test_admin_console import add_platform
from tests.functional.test_audit import events
from tests.functional.test_catalogue_design import (
    _activity,
    _create_course,
    _new_session,
    _session_fields,
    _sessions,
)
from tests.functional.test_certification_flow import person_id
from tests.functional.test_deployments import other_lms
from tests.functional.test_learner_requirements import launch
from tests.functional.test_score_delivery import claimed_at_once
from tests.statements import statements_run

UTC = dt.UTC
#: The sessions of these tests: 1 June 2027, 09:00–12:00 in Oslo (07:00–10:00 UTC);
#: sign-up until 25 May 16:00 in Oslo.
STARTS = dt.datetime(2027, 6, 1, 7, 0, tzinfo=UTC)
BEFORE_DEADLINE = dt.datetime(2027, 5, 20, 12, 0, tzinfo=UTC)
AFTER_DEADLINE = dt.datetime(2027, 5, 26, 12, 0, tzinfo=UTC)
DURING = dt.datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
#: A signed launch's claims in English (the page's language follows the launch).
IN_ENGLISH = {c.LAUNCH_PRESENTATION: {"locale": "en", "document_target": "iframe"}}


@pytest.fixture
def designer(app: Any, lms: TestLms, care: dict[str, Any]) -> Any:
    return designer_browser(app, lms)


def launched(app: Any, lms: TestLms, persona: str = "learner", sub: str | None = None) -> Any:
    """A browser launched as ``persona``; ``sub``: another person with that persona's roles."""
    browser = TestLms.browser(app)
    if sub is None:
        response = lms.launch(browser, persona, locale="en")
    else:
        response = lms.signed_launch(
            browser,
            persona,
            change={
                "sub": sub,
                "name": f"Person {sub}",
                "email": f"p{sub}@example.org",
                **IN_ENGLISH,
            },
        )
    assert lms.landed(response), response.get_data(as_text=True)
    return browser


def classroom(
    app: Any, designer: Any, care: dict[str, Any], *, code: str = "hms-kurs", **fields: Any
) -> dict[str, int]:
    """A classroom course that develops legemidler to level 3, with one session (two seats
    and a waitlist unless ``fields`` say otherwise; a field given as None is left out)."""
    course_id = _create_course(designer, code, "classroom")
    form = {k: v for k, v in _session_fields(**fields).items() if v is not None}
    response = post_form(designer, _new_session(course_id), _new_session(course_id), **form)
    assert response.status_code == 302, response.get_data(as_text=True)
    post_form(
        designer,
        _activity(course_id),
        f"/designer/courses/{course_id}/develops",
        develops=f"{care['competences']['legemidler']}:3",
    )
    (made,) = _sessions(app, course_id)
    return {"course": course_id, "session": made.id}


def _post(browser: Any, path: str, **fields: Any) -> Any:
    """Post as the page's forms do (its CSRF token), whether or not it shows the button."""
    token = csrf_token(browser.get("/learner/bookings").get_data(as_text=True))
    return browser.post(path, data={"csrf_token": token, **fields})


def book(browser: Any, session_id: int) -> Any:
    return _post(browser, f"/sessions/{session_id}/book")


def cancel(browser: Any, session_id: int) -> Any:
    return _post(browser, f"/sessions/{session_id}/cancel")


def statuses(app: Any, session_id: int) -> dict[str, str]:
    with app.app_context():
        rows = get_session().execute(
            select(Person.sub, SessionBooking.status)
            .join(Person, Person.id == SessionBooking.person_id)
            .where(SessionBooking.session_id == session_id)
        )
        return {sub: str(status) for sub, status in rows}


def notices_of(app: Any, sub: str) -> list[tuple[str, str]]:
    with app.app_context():
        rows = get_session().execute(
            select(SessionNotice.kind, SessionNotice.mail_status)
            .join(Person, Person.id == SessionNotice.person_id)
            .where(Person.sub == sub)
            .order_by(SessionNotice.id)
        )
        return [(str(kind), str(mail)) for kind, mail in rows]


def text(response: Any) -> str:
    """A page's text without tags, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


# --- booking, the waitlist and moving up ----------------------------------------------------


def test_a_learner_sees_the_sessions_books_a_seat_and_cancels(app, lms, designer, care):
    ids = classroom(app, designer, care)
    learner = launched(app, lms)
    listing = learner.get("/learner/activities")
    assert listing.status_code == 200
    assert f"/learner/activities/{ids['course']}" in listing.get_data(as_text=True)
    page = learner.get(f"/learner/activities/{ids['course']}")
    assert page.status_code == 200
    shown = text(page)
    assert "Tue 1 Jun 2027 09:00 – 12:00" in shown  # Oslo time (CEST) of 07:00 UTC
    assert "Rådhuset, møterom 2" in shown
    assert "2 of 2 seats free" in shown and "Not booked" in shown and "Book a seat" in shown

    response = book(learner, ids["session"])
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(f"/sessions/{ids['session']}")
    assert statuses(app, ids["session"]) == {"101": "booked"}
    shown = text(learner.get(f"/learner/activities/{ids['course']}"))
    assert "1 of 2 seats free" in shown and "You have a seat" in shown
    assert "Cancel my booking" in shown
    # booking again keeps the one booking
    assert book(learner, ids["session"]).status_code == 302
    assert statuses(app, ids["session"]) == {"101": "booked"}

    mine = text(learner.get("/learner/bookings"))
    assert "Sessions I have booked" in mine and "hms-kurs" in mine
    assert "Booked: hms-kurs" in mine
    assert "You have a seat at hms-kurs, Tue 1 Jun 2027 09:00, Rådhuset, møterom 2." in mine

    assert cancel(learner, ids["session"]).status_code == 302
    assert statuses(app, ids["session"]) == {"101": "cancelled"}
    mine = text(learner.get("/learner/bookings"))
    assert "Booking cancelled: hms-kurs" in mine
    assert "You have booked no coming sessions." in mine
    assert notices_of(app, "101") == [("booked", "pending"), ("cancelled_booking", "pending")]
    # cancelling what is cancelled already: a clear refusal, nothing changed
    refused = cancel(learner, ids["session"])
    assert refused.status_code == 409
    assert "You have no booking of this session." in refused.get_data(as_text=True)
    # and booking again after cancelling joins as new
    assert book(learner, ids["session"]).status_code == 302
    assert statuses(app, ids["session"]) == {"101": "booked"}


def test_the_plan_says_a_seat_is_booked_where_it_suggested_the_course(app, lms, designer, care):
    ids = classroom(app, designer, care)
    learner = TestLms.browser(app)  # a nurse: the course develops one of her requirements
    launch(lms, learner, job_role="sykepleier")
    before = text(learner.get("/learner/plan", query_string={"lang": "en"}))
    assert "hms-kurs" in before and "Suggested" in before and "Seat booked" not in before
    assert book(learner, ids["session"]).status_code == 302
    after = text(learner.get("/learner/plan"))
    assert "Seat booked" in after and after.count("Suggested") == before.count("Suggested") - 1
    assert cancel(learner, ids["session"]).status_code == 302
    assert "Seat booked" not in text(learner.get("/learner/plan"))


def test_seats_then_the_waitlist_in_order_and_a_cancelled_seat_moves_the_first_up(
    app, lms, designer, care
):
    ids = classroom(app, designer, care)  # two seats, with a waitlist
    sid = ids["session"]
    people = {sub: launched(app, lms, sub=sub) for sub in ("2001", "2002", "2003", "2004")}
    for sub in ("2001", "2002", "2003", "2004"):
        assert book(people[sub], sid).status_code == 302
    assert statuses(app, sid) == {
        "2001": "booked",
        "2002": "booked",
        "2003": "waitlisted",
        "2004": "waitlisted",
    }
    page = text(people["2004"].get(f"/learner/activities/{ids['course']}"))
    assert "You are number 2 on the waitlist" in page
    assert "Full; 2 on the waitlist" in page
    assert "Leave the waitlist" in page
    assert "On the waitlist: hms-kurs" in text(people["2003"].get("/learner/bookings"))
    # a fifth person sees the waitlist to join, not a seat
    fifth = text(launched(app, lms, sub="2005").get(f"/sessions/{sid}"))
    assert "Join the waitlist" in fifth and "Book a seat" not in fifth

    assert cancel(people["2001"], sid).status_code == 302
    assert statuses(app, sid) == {
        "2001": "cancelled",
        "2002": "booked",
        "2003": "booked",
        "2004": "waitlisted",
    }
    assert "You are number 1 on the waitlist" in text(people["2004"].get(f"/sessions/{sid}"))
    moved = text(people["2003"].get("/learner/bookings"))
    assert "You have a seat: hms-kurs" in moved
    assert "A seat freed up: you have moved up from the waitlist" in moved
    assert notices_of(app, "2003") == [("waitlisted", "pending"), ("moved_up", "pending")]
    # leaving the waitlist frees no seat: nobody moves
    assert cancel(people["2004"], sid).status_code == 302
    assert statuses(app, sid)["2004"] == "cancelled"
    assert notices_of(app, "2002") == [("booked", "pending")]


def test_a_full_session_without_a_waitlist_refuses(app, lms, designer, care):
    ids = classroom(app, designer, care, capacity="1", waitlist=None)
    assert book(launched(app, lms), ids["session"]).status_code == 302
    second = launched(app, lms, "learner2")
    page = text(second.get(f"/learner/activities/{ids['course']}"))
    assert "Full" in page and "Book a seat" not in page and "Join the waitlist" not in page
    refused = book(second, ids["session"])
    assert refused.status_code == 409
    assert "The session is full, and has no waitlist." in refused.get_data(as_text=True)
    assert statuses(app, ids["session"]) == {"101": "booked"}


def test_the_signup_deadline_closes_booking_but_not_cancelling(
    app, lms, designer, care, monkeypatch
):
    ids = classroom(app, designer, care)
    early = launched(app, lms)
    late = launched(app, lms, "learner2")
    monkeypatch.setattr(clock, "now", lambda: BEFORE_DEADLINE)
    assert book(early, ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: AFTER_DEADLINE)
    page = text(late.get(f"/learner/activities/{ids['course']}"))
    assert "Sign-up has closed." in page and "Book a seat" not in page
    refused = book(late, ids["session"])
    assert refused.status_code == 409
    assert "Sign-up for this session has closed." in refused.get_data(as_text=True)
    assert statuses(app, ids["session"]) == {"101": "booked"}
    assert cancel(early, ids["session"]).status_code == 302  # until it starts
    monkeypatch.setattr(clock, "now", lambda: DURING)
    assert book(early, ids["session"]).status_code == 409


def test_a_booking_cannot_be_cancelled_once_the_session_started(
    app, lms, designer, care, monkeypatch
):
    ids = classroom(app, designer, care, signup_deadline="")
    learner = launched(app, lms)
    assert book(learner, ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: DURING)
    refused = cancel(learner, ids["session"])
    assert refused.status_code == 409
    assert "The session has started" in refused.get_data(as_text=True)
    assert statuses(app, ids["session"]) == {"101": "booked"}


def test_a_changed_and_a_cancelled_session_are_told_and_refuse_new_bookings(
    app, lms, designer, care
):
    ids = classroom(app, designer, care, capacity="1")
    seat, queued = launched(app, lms), launched(app, lms, "learner2")
    assert book(seat, ids["session"]).status_code == 302
    assert book(queued, ids["session"]).status_code == 302
    path = f"/designer/courses/{ids['course']}/sessions/{ids['session']}"
    moved = _session_fields(capacity="1", starts_at="2027-06-02T10:00", ends_at="2027-06-02T13:00")
    assert post_form(designer, path, path, **moved).status_code == 302
    told = text(seat.get("/learner/bookings"))
    assert "Changed: hms-kurs" in told
    assert "has changed: now Wed 2 Jun 2027 10:00 to Wed 2 Jun 2027 13:00" in told
    assert "Changed: hms-kurs" in text(queued.get("/learner/bookings"))

    response = post_form(designer, path, f"{path}/cancel", reason="The instructor is ill.")
    assert response.status_code == 302
    for browser in (seat, queued):
        told = text(browser.get("/learner/bookings"))
        assert "Cancelled: hms-kurs" in told
        assert "is cancelled. Reason: The instructor is ill." in told
    page = text(seat.get(f"/sessions/{ids['session']}"))
    assert "The session is cancelled. Reason: The instructor is ill." in page
    assert "Cancel my booking" not in page
    newcomer = launched(app, lms, "learner3")
    refused = book(newcomer, ids["session"])
    assert refused.status_code == 409
    assert "The session is cancelled." in refused.get_data(as_text=True)
    assert "learner3" not in statuses(app, ids["session"])
    assert [k for k, _ in notices_of(app, "104")] == [
        "waitlisted",
        "session_changed",
        "session_cancelled",
    ]


def test_the_activity_page_costs_the_same_statements_for_more_sessions(app, lms, designer, care):
    ids = classroom(app, designer, care)
    learner = launched(app, lms)
    assert book(learner, ids["session"]).status_code == 302
    url = f"/learner/activities/{ids['course']}"

    def cost() -> int:
        with statements_run(app) as run:
            assert learner.get(url).status_code == 200
        return len(run)

    before = cost()
    for day in (3, 4, 5):
        fields = _session_fields(starts_at=f"2027-06-0{day}T09:00", ends_at=f"2027-06-0{day}T12:00")
        new = _new_session(ids["course"])
        assert post_form(designer, new, new, **fields).status_code == 302
    assert cost() == before


def test_my_bookings_page_costs_the_same_statements_for_more_bookings_and_notices(
    app, lms, designer, care
):
    first = classroom(app, designer, care)
    learner = launched(app, lms)
    assert book(learner, first["session"]).status_code == 302

    def cost() -> int:
        with statements_run(app) as run:
            page = learner.get("/learner/bookings")
            assert page.status_code == 200
        return len(run)

    before = cost()
    for code in ("brann-kurs", "hlr-kurs"):
        more = classroom(app, designer, care, code=code)
        assert book(learner, more["session"]).status_code == 302
        assert cancel(learner, more["session"]).status_code == 302
        assert book(learner, more["session"]).status_code == 302
    assert "brann-kurs" in text(learner.get("/learner/bookings"))
    assert cost() == before


# --- the instructor's attendance list -------------------------------------------------------


def _certification_asking_for(designer: Any, course_id: int) -> int:
    response = post_form(
        designer,
        "/designer/certifications",
        "/designer/certifications",
        code="hms-bevis",
        title_nb="HMS-kursbevis",
        achievement_type="Certificate",
        validity_months="",
        renewal_window_days="",
        minimum_active_days="",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    certification_id = int(re.search(r"/certifications/(\d+)", response.headers["Location"])[1])
    base = f"/designer/certifications/{certification_id}"
    response = post_form(
        designer,
        f"{base}/paths/earn/new",
        f"{base}/paths/earn/new",
        operator="all",
        target_1=f"course:{course_id}",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert post_form(designer, base, f"{base}/status/published").status_code == 302
    return certification_id


def test_the_instructor_records_attendance_evidence_and_certificates_follow(
    app, lms, designer, care, monkeypatch
):
    instructor = launched(app, lms, "learner3")  # a plain learner, set on the session
    ids = classroom(app, designer, care, instructor_id=str(person_id(app, "105")))
    _certification_asking_for(designer, ids["course"])
    came, confirmed, absent = (
        launched(app, lms),
        launched(app, lms, "learner2"),
        launched(app, lms, sub="2009"),
    )
    for browser in (came, confirmed, absent):
        assert book(browser, ids["session"]).status_code == 302
    sheet_url = f"/sessions/{ids['session']}/attendance"
    # before the session: the list, but nothing to record yet
    page = instructor.get(sheet_url)
    assert page.status_code == 200
    assert "Attendance can be recorded once the session has started." in page.get_data(as_text=True)
    assert "Attendance list" in instructor.get(f"/sessions/{ids['session']}").get_data(as_text=True)
    assert "Sessions I teach" in text(instructor.get("/learner/bookings"))
    token = csrf_token(page.get_data(as_text=True))
    early = instructor.post(sheet_url, data={"csrf_token": token, "attended": ["1"]})
    assert early.status_code == 409

    monkeypatch.setattr(clock, "now", lambda: DURING)
    page = instructor.get(sheet_url).get_data(as_text=True)
    assert 'name="attended"' in page and 'name="confirmed"' in page
    assert '<label for="attended-' in page  # each box has its label
    learner_id, learner2_id = person_id(app, "101"), person_id(app, "104")
    response = post_form(
        instructor,
        sheet_url,
        sheet_url,
        attended=[str(learner_id)],
        confirmed=[str(learner2_id)],
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert (
        # the third is on the waitlist: no seat, so not missed
        "Attendance recorded: 2 people came. Level confirmed for 1 person. 2 certificates issued."
    ) in text(instructor.get(response.headers["Location"]))
    with app.app_context():
        db = get_session()
        attendance = db.scalars(select(Attendance).order_by(Attendance.person_id)).all()
        assert [(a.person_id, a.attended_on, a.course_id) for a in attendance] == [
            (learner_id, dt.date(2027, 6, 1), ids["course"]),
            (learner2_id, dt.date(2027, 6, 1), ids["course"]),
        ]
        assert {a.recorded_by_id for a in attendance} == {person_id(app, "105")}
        evidence = db.scalars(select(Evidence).order_by(Evidence.person_id)).all()
        assert [(e.person_id, e.source, str(e.confidence), e.level) for e in evidence] == [
            (learner_id, "attendance", "medium", 3),
            (learner2_id, "instructor_confirmed", "high", 3),
        ]
        assert evidence[1].detail["confirmed_by"] == "Ola Hansen"
        assert evidence[0].detail["session_id"] == ids["session"]
        holders = db.scalars(select(Certificate.person_id).order_by(Certificate.person_id)).all()
        assert holders == [learner_id, learner2_id]  # the rules waited on the course
    page = instructor.get(sheet_url).get_data(as_text=True)
    assert page.count("recorded</span>") == 2 and page.count("confirmed</span>") == 1

    # recording again adds nothing twice; a later confirmation is evidence of its own
    response = post_form(
        instructor,
        sheet_url,
        sheet_url,
        attended=[str(learner_id), str(learner2_id)],
        confirmed=[str(learner_id), str(learner2_id)],
    )
    assert response.status_code == 302
    with app.app_context():
        db = get_session()
        assert len(db.scalars(select(Attendance)).all()) == 2
        sources = db.execute(select(Evidence.person_id, Evidence.source)).all()
        assert sorted(sources) == sorted(
            [
                (learner_id, "attendance"),
                (learner2_id, "instructor_confirmed"),
                (learner_id, "instructor_confirmed"),
            ]
        )
        assert len(db.scalars(select(Certificate)).all()) == 2
    # the learner's competence shows the level
    assert "hms-kurs" in text(came.get("/learner/bookings"))


def test_recording_that_no_one_came_says_so_in_words(app, lms, designer, care, monkeypatch):
    ids = classroom(app, designer, care)
    assert book(launched(app, lms), ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: DURING)
    sheet_url = f"/sessions/{ids['session']}/attendance"
    response = post_form(designer, sheet_url, sheet_url)
    assert response.status_code == 302, response.get_data(as_text=True)
    shown = text(designer.get(response.headers["Location"]))
    assert "Attendance recorded: no one came. 1 person with a seat did not come." in shown
    assert "0 " not in shown.split("Attendance recorded")[1][:80]


def test_who_is_recorded_cannot_be_unticked_and_the_page_says_so(
    app, lms, designer, care, monkeypatch
):
    ids = classroom(app, designer, care)
    assert book(launched(app, lms), ids["session"]).status_code == 302
    assert book(launched(app, lms, "learner2"), ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: DURING)
    sheet_url = f"/sessions/{ids['session']}/attendance"
    learner_id, learner2_id = person_id(app, "101"), person_id(app, "104")
    recorded = post_form(designer, sheet_url, sheet_url, confirmed=[str(learner_id)])
    assert recorded.status_code == 302
    page = designer.get(sheet_url).get_data(as_text=True)
    assert "Recording only adds" in page
    for box in ("attended", "confirmed"):
        found = re.search(rf'<input [^>]*id="{box}-{learner_id}"[^>]*>', page)
        assert found and "checked disabled" in found.group(0), box
        other = re.search(rf'<input [^>]*id="{box}-{learner2_id}"[^>]*>', page)
        assert other and "disabled" not in other.group(0) and "checked" not in other.group(0)
    assert page.count("recorded</span>") == 1 and page.count("confirmed</span>") == 1


def test_the_session_attendance_list_is_an_audited_view(app, lms, designer, care):
    ids = classroom(app, designer, care)
    assert book(launched(app, lms), ids["session"]).status_code == 302
    assert book(launched(app, lms, "learner2"), ids["session"]).status_code == 302
    before = len(events(app))
    assert designer.get(f"/sessions/{ids['session']}/attendance").status_code == 200
    (event, people), *more = events(app)[before:]
    assert more == []
    assert (str(event.action), event.object_type, event.object_id) == (
        "view",
        "session_attendance",
        str(ids["session"]),
    )
    assert sorted(people) == sorted([person_id(app, "101"), person_id(app, "104")])


def test_only_people_who_booked_can_be_recorded(app, lms, designer, care, monkeypatch):
    ids = classroom(app, designer, care)
    stranger = launched(app, lms, "learner2")  # known to the tool, never booked
    assert book(launched(app, lms), ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: DURING)
    sheet_url = f"/sessions/{ids['session']}/attendance"
    response = post_form(designer, sheet_url, sheet_url, attended=[str(person_id(app, "104"))])
    assert response.status_code == 422
    assert "Choose among the people who booked the session." in response.get_data(as_text=True)
    bad = post_form(designer, sheet_url, sheet_url, attended=["x"])
    assert bad.status_code == 422
    with app.app_context():
        assert get_session().scalars(select(Attendance)).all() == []
    assert stranger.get(sheet_url).status_code == 403


@pytest.mark.parametrize("persona", ["learner", "manager"])
def test_a_plain_learner_or_manager_is_refused_the_attendance_list(
    app, lms, designer, care, persona, monkeypatch
):
    ids = classroom(app, designer, care)
    someone = launched(app, lms, persona)
    assert book(someone, ids["session"]).status_code == 302
    monkeypatch.setattr(clock, "now", lambda: DURING)
    sheet_url = f"/sessions/{ids['session']}/attendance"
    assert someone.get(sheet_url).status_code == 403
    token = csrf_token(someone.get(f"/sessions/{ids['session']}").get_data(as_text=True))
    me = person_id(app, "101" if persona == "learner" else "103")
    response = someone.post(sheet_url, data={"csrf_token": token, "attended": [str(me)]})
    assert response.status_code == 403
    assert "Attendance list" not in someone.get(f"/sessions/{ids['session']}").get_data(
        as_text=True
    )
    with app.app_context():
        assert get_session().scalars(select(Attendance)).all() == []
    # a designer may
    assert designer.get(sheet_url).status_code == 200


# --- who may use the routes -----------------------------------------------------------------


def _routes(ids: dict[str, int]) -> list[tuple[str, str]]:
    c, s = ids["course"], ids["session"]
    return [
        ("GET", f"/learner/activities/{c}"),
        ("GET", f"/sessions/{s}"),
        ("POST", f"/sessions/{s}/book"),
        ("POST", f"/sessions/{s}/cancel"),
        ("GET", f"/sessions/{s}/ics"),
        ("GET", f"/sessions/{s}/attendance"),
        ("POST", f"/sessions/{s}/attendance"),
    ]


def test_anonymous_is_not_signed_in(app, lms, designer, care):
    ids = classroom(app, designer, care)
    anonymous = TestLms.browser(app)
    for method, path in [
        *_routes(ids),
        ("GET", "/learner/activities"),
        ("GET", "/learner/bookings"),
        ("POST", "/learner/calendar"),
    ]:
        assert anonymous.open(path, method=method).status_code in (400, 401), path
        if method == "GET":
            assert anonymous.get(path).status_code == 401, path


def test_another_organisation_sees_nothing(app, lms, platform_pem, mocked_http, designer, care):
    ids = classroom(app, designer, care)
    learner = launched(app, lms)
    assert book(learner, ids["session"]).status_code == 302
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, other, "Annenkommune")
    for persona in ("learner", "designer"):
        stranger = TestLms.browser(app)
        assert other.landed(other.launch(stranger, persona, locale="en"))
        listing = stranger.get("/learner/activities").get_data(as_text=True)
        assert "hms-kurs" not in listing
        token = csrf_token(stranger.get("/learner/bookings").get_data(as_text=True))
        for method, path in _routes(ids):
            data = {"csrf_token": token, "attended": ["1"]} if method == "POST" else None
            response = stranger.open(path, method=method, data=data)
            assert response.status_code == 404, (persona, method, path, response.status_code)
        assert "hms-kurs" not in stranger.get("/learner/bookings").get_data(as_text=True)
    assert statuses(app, ids["session"]) == {"101": "booked"}


# --- email after the commit -----------------------------------------------------------------


def test_notices_are_emailed_by_the_worker_after_the_commit(make_app, lms, care):
    with FakeSmtpServer() as smtp:
        lms_app = make_app(SMTP_URL=smtp.url, MAIL_FROM="Læringsløp <no-reply@kommune.example>")
        designer = designer_browser(lms_app, lms)
        ids = classroom(lms_app, designer, care)
        learner = launched(lms_app, lms)
        assert book(learner, ids["session"]).status_code == 302
        assert smtp.received == []  # nothing is sent in the request
        runner = lms_app.test_cli_runner()
        result = runner.invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert "mail sent=1 retrying=0 failed=0 expired=0" in result.output
        (message,) = smtp.received
        assert message["To"] == "Demo Ansatt <ansatt@demokommune.example>"
        assert message["From"] == "Læringsløp <no-reply@kommune.example>"
        assert message["Subject"] == "Booked: hms-kurs"
        assert "Tue 1 Jun 2027 09:00" in message.get_content()
        assert notices_of(lms_app, "101") == [("booked", "sent")]
        # sent once: another pass sends nothing
        assert "mail sent=0" in runner.invoke(args=["worker", "--once"]).output
        assert len(smtp.received) == 1
        # a refusal for good fails the notice; it stays on the page
        smtp.refuse = "550 no such sender"
        assert cancel(learner, ids["session"]).status_code == 302
        assert "failed=1" in runner.invoke(args=["worker", "--once"]).output
        assert notices_of(lms_app, "101")[-1] == ("cancelled_booking", "failed")
        assert "Booking cancelled: hms-kurs" in text(learner.get("/learner/bookings"))


def test_a_notice_that_cannot_be_mailed_fails_alone(make_app, lms, care):
    """A course title and a name with line breaks, an internationalised domain and a
    non-ASCII local part (the server offers no SMTPUTF8): the first go out on one line,
    the last fails for good, and none keeps the others back."""
    with FakeSmtpServer() as smtp:
        lms_app = make_app(SMTP_URL=smtp.url, MAIL_FROM="no-reply@kommune.example")
        designer = designer_browser(lms_app, lms)
        ids = classroom(lms_app, designer, care, capacity="3")
        people = {
            "201": ("Ola\r\nBcc: x@evil.example", "ola@demokommune.example"),
            "202": ("Kari Nordmann", "kari@bø.example"),
            "203": ("Pål Hansen", "pål@demokommune.example"),
        }
        for sub, (name, email) in people.items():
            browser = TestLms.browser(lms_app)
            change = {"sub": sub, "name": name, "email": email, **IN_ENGLISH}
            assert lms.landed(lms.signed_launch(browser, "learner", change=change))
            assert book(browser, ids["session"]).status_code == 302
        with lms_app.app_context():  # a title with a line break, as an LMS's may hold
            db = get_session()
            db.get_one(Course, ids["course"]).title = {"nb": "HMS\r\nkurs", "en": "HMS\r\nkurs"}
            db.commit()
        result = lms_app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert "mail sent=2 retrying=0 failed=1 expired=0" in result.output
        assert {m["Subject"] for m in smtp.received} == {"Booked: HMS kurs"}
        assert sorted(str(m["To"]) for m in smtp.received) == [
            '"Ola Bcc: x@evil.example" <ola@demokommune.example>',
            "Kari Nordmann <kari@xn--b-5ga.example>",
        ]
        assert all(m["Bcc"] is None for m in smtp.received)
        assert notices_of(lms_app, "203") == [("booked", "failed")]
        assert (
            "mail sent=0 retrying=0 failed=0"
            in lms_app.test_cli_runner().invoke(args=["worker", "--once"]).output
        )


def test_old_notices_are_not_emailed_when_mail_comes_later(make_app, lms, care, monkeypatch):
    with FakeSmtpServer() as smtp:
        app = make_app()  # no SMTP_URL: notices on the page only
        designer = designer_browser(app, lms)
        ids = classroom(app, designer, care)
        assert book(launched(app, lms), ids["session"]).status_code == 302
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert "mail" not in result.output
        assert notices_of(app, "101") == [("booked", "pending")]
        later = clock.now() + dt.timedelta(hours=49)
        monkeypatch.setattr(clock, "now", lambda: later)
        mailing = make_app(SMTP_URL=smtp.url, MAIL_FROM="no-reply@kommune.example")
        result = mailing.test_cli_runner().invoke(args=["worker", "--once"])
        assert "mail sent=0 retrying=0 failed=0 expired=1" in result.output
        assert smtp.received == []
        assert notices_of(app, "101") == [("booked", "expired")]


def _three_notices(app: Any, lms: TestLms, designer: Any, care: dict[str, Any]) -> list[int]:
    """Three people book a session: a notice each to email, oldest first."""
    ids = classroom(app, designer, care, capacity="3")
    for sub in ("301", "302", "303"):
        assert book(launched(app, lms, sub=sub), ids["session"]).status_code == 302
    with app.app_context():
        return list(get_session().scalars(select(SessionNotice.id).order_by(SessionNotice.id)))


def test_workers_claiming_notices_at_once_take_different_ones(app, lms, designer, care):
    first, *rest = _three_notices(app, lms, designer, care)
    assert claimed_at_once(app, notices.NOTICES, clock.now()) == ([first], rest)


def test_a_worker_told_to_stop_releases_the_notices_it_has_not_sent(make_app, lms, care):
    """Stopped (SIGTERM) while it mails the first of its claim: it sends that one and
    gives the others back, due at once for another worker (not after its lease)."""
    with FakeSmtpServer() as smtp:
        lms_app = make_app(SMTP_URL=smtp.url, MAIL_FROM="no-reply@kommune.example")
        first, *rest = _three_notices(lms_app, lms, designer_browser(lms_app, lms), care)
        with lms_app.app_context():
            settings = lti_services().settings
        mailer = notices.SmtpMailer.from_url(smtp.url, 5)

        def deliver(stop: Any = None) -> notices.MailCounts:
            return notices.deliver_notices(
                lms_app.extensions["db_sessionmaker"],
                mailer,
                settings,
                now=clock.now,
                zone=TIME_ZONE,
                stop=stop,
            )

        assert deliver(stop=lambda: len(smtp.received) > 0).sent == 1
        with lms_app.app_context():
            rows = get_session().execute(
                select(SessionNotice.id, SessionNotice.mail_status, SessionNotice.mail_locked_until)
            )
            assert {row.id: (row.mail_status, row.mail_locked_until) for row in rows} == {
                first: (MailStatus.SENT, None),
                **{i: (MailStatus.PENDING, None) for i in rest},
            }
        assert deliver().sent == 2
        assert len(smtp.received) == 3


@pytest.mark.parametrize(
    ("smtp_url", "mail_from"),
    [
        ("http://mail.example", "a@b.example"),
        ("smtp://mail.example:x", "a@b.example"),
        ("smtp://mail.example", ""),
    ],
)
def test_a_bad_mail_setting_stops_the_start(make_app, smtp_url, mail_from):
    from lti_tool.settings import SettingsError

    with pytest.raises(SettingsError, match=r"SMTP_URL|MAIL_FROM"):
        make_app(SMTP_URL=smtp_url, MAIL_FROM=mail_from)


def test_a_person_without_email_gets_notices_on_the_page_only(app, lms, designer, care):
    ids = classroom(app, designer, care)
    browser = TestLms.browser(app)
    response = lms.signed_launch(
        browser,
        "learner",
        change={"sub": "3001", "name": "No Mail", **IN_ENGLISH},
        remove=("email",),
    )
    assert lms.landed(response)
    assert book(browser, ids["session"]).status_code == 302
    assert notices_of(app, "3001") == [("booked", str(MailStatus.NONE))]
    assert "Booked: hms-kurs" in text(browser.get("/learner/bookings"))


def test_the_booking_form_returns_to_the_page_it_was_on_and_nowhere_else(app, lms, designer, care):
    ids = classroom(app, designer, care)
    learner = launched(app, lms)
    activity = f"/learner/activities/{ids['course']}"
    page = learner.get(activity).get_data(as_text=True)
    assert f'name="next" value="{activity}"' in page
    response = post_form(learner, activity, f"/sessions/{ids['session']}/book", next=activity)
    assert response.status_code == 302
    assert response.headers["Location"].split("?")[0] == activity
    assert cancel(learner, ids["session"]).status_code == 302
    for elsewhere in ("//evil.example/learner/", "https://evil.example/", "/admin/keys"):
        response = _post(learner, f"/sessions/{ids['session']}/book", next=elsewhere)
        assert response.headers["Location"].split("?")[0] == f"/sessions/{ids['session']}"
        assert cancel(learner, ids["session"]).status_code == 302


def test_attendance_recorded_on_the_course_page_is_evidence_too(app, lms, designer, care):
    ids = classroom(app, designer, care)
    launched(app, lms)  # known to the tool
    learner_id = person_id(app, "101")
    page = f"/designer/courses/{ids['course']}"
    response = post_form(
        designer,
        page,
        f"{page}/attendance",
        attended_on=clock.now().date().isoformat(),
        person_ids=[str(learner_id)],
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        evidence = get_session().scalars(select(Evidence)).all()
        assert [(e.person_id, e.source, e.level, e.detail["course"]) for e in evidence] == [
            (learner_id, "attendance", 3, "hms-kurs")
        ]


def test_a_session_over_two_days_shows_the_day_it_ends(app, lms, designer, care):
    ids = classroom(app, designer, care, ends_at="2027-06-02T15:00")
    page = text(launched(app, lms).get(f"/learner/activities/{ids['course']}"))
    assert "Tue 1 Jun 2027 09:00 – Wed 2 Jun 2027 15:00" in page
