"""The designer's activity catalogue through HTTP with real launches: an activity's
e-learning fields, the competences it develops, classroom sessions (added, changed,
cancelled, seats and waitlist), the catalogue in the API; who may use each route, and
another organisation seeing nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import (
    BookingStatus,
    Course,
    CourseCompetence,
    CourseSession,
    Person,
    SessionBooking,
)
from tests.fakes.lms import TestLms, csrf_token
from tests.fakes.mappings import designer_browser, post_form
from tests.functional.test_access import _csrf_token
from tests.functional.test_admin_console import add_platform
from tests.functional.test_deployments import other_lms
from tests.statements import statements_run

UTC = dt.UTC
#: 09:00 and 12:00 in Oslo on a summer day: 07:00 and 10:00 UTC (CEST, UTC+2).
SUMMER_START, SUMMER_END = "2027-06-01T09:00", "2027-06-01T12:00"


def _create_course(designer: Any, code: str, kind: str) -> int:
    response = post_form(
        designer, "/designer/courses", "/designer/courses", code=code, title_nb=code, kind=kind
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = designer.get("/designer/courses").get_data(as_text=True)
    found = re.search(rf"/designer/courses/(\d+)[^>]*><code>{code}<", page)
    assert found, page
    return int(found.group(1))


def _course(app: Any, course_id: int) -> Course:
    with app.app_context():
        course = get_session().get(Course, course_id)
        assert course is not None
        return course


def _sessions(app: Any, course_id: int) -> list[CourseSession]:
    with app.app_context():
        return list(
            get_session().scalars(
                select(CourseSession)
                .where(CourseSession.course_id == course_id)
                .order_by(CourseSession.id)
            )
        )


def _activity(course_id: int) -> str:
    return f"/designer/courses/{course_id}/activity"


def _activity_fields(**changes: str) -> dict[str, str]:
    fields = {
        "code": "info-e",
        "title_nb": "Informasjonssikkerhet på nett",
        "title_en": "Information security online",
        "description_nb": "Et kurs i Moodle.",
        "kind": "elearning",
        "lms_url": "https://moodle.example/course/view.php?id=42",
        "duration_minutes": "45",
        "language": "nb",
    }
    return {**fields, **changes}


@pytest.fixture
def designer(app: Any, lms: TestLms, care: dict[str, Any]) -> Any:
    return designer_browser(app, lms)


# --- an activity's e-learning fields ---------------------------------------------------------


def test_a_designer_describes_an_elearning_activity(app, designer):
    course_id = _create_course(designer, "info-e", "elearning")
    page = designer.get("/designer/courses").get_data(as_text=True)
    assert f'href="/designer/courses/{course_id}/activity' in page  # the way to edit it

    response = post_form(designer, _activity(course_id), _activity(course_id), **_activity_fields())
    assert response.status_code == 302, response.get_data(as_text=True)
    course = _course(app, course_id)
    assert course.lms_url == "https://moodle.example/course/view.php?id=42"
    assert (course.duration_minutes, course.language) == (45, "nb")
    assert course.title == {
        "nb": "Informasjonssikkerhet på nett",
        "en": "Information security online",
    }
    assert course.description == {"nb": "Et kurs i Moodle."}
    page = designer.get(_activity(course_id), query_string={"lang": "en"}).get_data(as_text=True)
    assert 'value="https://moodle.example/course/view.php?id=42"' in page
    assert '<option value="nb" selected>Norwegian Bokmål</option>' in page
    assert '<option value="se">Northern Sami</option>' in page
    assert '<label for="activity-lms_url">' in page
    assert "Sessions" not in page  # e-learning has none

    # archiving it, and clearing the optional fields
    response = post_form(
        designer,
        _activity(course_id),
        _activity(course_id),
        **_activity_fields(lms_url="", duration_minutes="", language="", archived="on"),
    )
    assert response.status_code == 302
    course = _course(app, course_id)
    assert (course.lms_url, course.duration_minutes, course.language) == (None, None, None)
    assert course.archived is True


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lms_url", "javascript:alert(1)", "Enter a full address that starts with https://"),
        ("lms_url", "ftp://files.example/course", "Enter a full address that starts with https://"),
        ("duration_minutes", "0", "Enter 1 or more."),
        ("duration_minutes", "ti", "Enter a number"),
        ("language", "xx", "Choose one."),
        ("kind", "webinar", "Choose one."),
        ("code", "", "Fill this in."),
    ],
)
def test_bad_activity_fields_are_refused_by_the_field(app, designer, field, value, message):
    course_id = _create_course(designer, "info-e", "elearning")
    response = post_form(
        designer, _activity(course_id), _activity(course_id), **_activity_fields(**{field: value})
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="activity-{field}-error"' in page and message in page
    assert _course(app, course_id).lms_url is None  # nothing saved


def test_a_code_taken_by_another_course_is_refused(app, designer):
    _create_course(designer, "taken", "classroom")
    course_id = _create_course(designer, "info-e", "elearning")
    response = post_form(
        designer, _activity(course_id), _activity(course_id), **_activity_fields(code="taken")
    )
    assert response.status_code == 409
    assert 'id="activity-code-error"' in response.get_data(as_text=True)


# --- what it develops ------------------------------------------------------------------------


def test_the_competences_an_activity_develops_and_to_which_level(app, designer, care):
    course_id = _create_course(designer, "legemidler-kurs", "classroom")
    medicines = care["competences"]["legemidler"]
    page = designer.get(_activity(course_id), query_string={"lang": "en"}).get_data(as_text=True)
    assert f'<option value="{medicines}:3">legemidler: level 3, Can guide others</option>' in page
    develops = f"/designer/courses/{course_id}/develops"

    assert (
        post_form(designer, _activity(course_id), develops, develops=f"{medicines}:3").status_code
        == 302
    )
    assert (
        post_form(designer, _activity(course_id), develops, develops=f"{medicines}:4").status_code
        == 302
    )
    with app.app_context():
        rows = get_session().scalars(select(CourseCompetence)).all()
        assert [(r.course_id, r.competence_id, r.level) for r in rows] == [
            (course_id, medicines, 4)  # changed, not added twice
        ]
        assert rows[0].organisation_id == care["organisation_id"]
    page = designer.get(_activity(course_id), query_string={"lang": "en"}).get_data(as_text=True)
    assert "4 – Expert" in page

    for bad, status in (
        (f"{medicines}:9", 422),  # not on the scale
        ("999999:1", 422),  # no such competence here
        ("legemidler", 422),
        ("", 422),
    ):
        response = post_form(designer, _activity(course_id), develops, develops=bad)
        assert response.status_code == status, bad
        assert 'id="develops-develops-error"' in response.get_data(as_text=True)

    remove = f"/designer/courses/{course_id}/develops/{medicines}/delete"
    assert post_form(designer, _activity(course_id), remove).status_code == 302
    with app.app_context():
        assert get_session().scalars(select(CourseCompetence)).all() == []
    token = csrf_token(designer.get(_activity(course_id)).get_data(as_text=True))
    assert designer.post(remove, data={"csrf_token": token}).status_code == 404


# --- sessions --------------------------------------------------------------------------------


def _new_session(course_id: int) -> str:
    return f"/designer/courses/{course_id}/sessions/new"


def _session_fields(**changes: str) -> dict[str, str]:
    fields = {
        "starts_at": SUMMER_START,
        "ends_at": SUMMER_END,
        "place": "Rådhuset, møterom 2",
        "video_url": "",
        "capacity": "2",
        "waitlist": "on",
        "instructor_id": "",
        "signup_deadline": "2027-05-25T16:00",
    }
    return {**fields, **changes}


def test_the_session_form_offers_everyone_by_name_not_their_roles_and_units(app, designer, care):
    """The instructor select needs names only: one statement, not everyone's roles and
    units loaded (it did before, for a select of names)."""
    from tests.functional.test_unit_matrix import add_person

    course_id = _create_course(designer, "hms-kurs", "classroom")
    unit, nurse = care["units"]["hjemmetjenesten"], care["roles"]["sykepleier"]
    with app.app_context():
        ids = [
            add_person(care["organisation_id"], name, unit, [nurse])
            for name in ("Åse Ødegård", "Bodil Aas", "Cato Berg")
        ]
        get_session().commit()
    with statements_run(app) as run:
        response = designer.get(_new_session(course_id))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<label for="session-instructor_id">' in page
    assert '<select id="session-instructor_id" name="instructor_id">' in page
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', page)
    assert [o for o in options if int(o[0]) in ids] == [
        (str(ids[1]), "Bodil Aas"),
        (str(ids[2]), "Cato Berg"),
        (str(ids[0]), "Åse Ødegård"),
    ]
    read = " ".join(run).lower()
    assert "job_role_assignment" not in read and "unit_assignment" not in read, run


def _book(app: Any, session_id: int, status: BookingStatus, *subs: str) -> None:
    """Bookings written straight to the table (signing up is another page's)."""
    with app.app_context():
        db = get_session()
        found = db.get(CourseSession, session_id)
        assert found is not None
        for n, sub in enumerate(subs):
            person = Person(
                platform_id=db.scalar(select(Person.platform_id).limit(1)),
                sub=sub,
                organisation_id=found.organisation_id,
                name=f"Person {sub}",
            )
            db.add(person)
            db.flush()
            at = dt.datetime(2027, 5, 1, 8, n, tzinfo=UTC)
            db.add(
                SessionBooking(
                    organisation_id=found.organisation_id,
                    session_id=session_id,
                    person_id=person.id,
                    status=status,
                    requested_at=at,
                    booked_at=at if status == BookingStatus.BOOKED else None,
                )
            )
        db.commit()


def _statuses(app: Any, session_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        rows = get_session().execute(
            select(Person.sub, SessionBooking.status)
            .join(Person, Person.id == SessionBooking.person_id)
            .where(SessionBooking.session_id == session_id)
            .order_by(SessionBooking.id)
        )
        return [(sub, str(status)) for sub, status in rows]


def test_a_designer_adds_changes_and_cancels_a_session(app, designer):
    course_id = _create_course(designer, "hms-kurs", "classroom")
    page = designer.get(_new_session(course_id)).get_data(as_text=True)
    assert 'type="datetime-local"' in page and '<label for="session-starts_at">' in page
    with app.app_context():
        instructor = get_session().scalar(select(Person.id).where(Person.sub == "102"))  # designer
    response = post_form(
        designer,
        _new_session(course_id),
        _new_session(course_id),
        **_session_fields(instructor_id=str(instructor)),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    (made,) = _sessions(app, course_id)
    assert made.starts_at == dt.datetime(2027, 6, 1, 7, 0, tzinfo=UTC)  # Oslo summer time
    assert made.ends_at == dt.datetime(2027, 6, 1, 10, 0, tzinfo=UTC)
    assert made.signup_deadline == dt.datetime(2027, 5, 25, 14, 0, tzinfo=UTC)
    assert (made.place, made.capacity, made.waitlist) == ("Rådhuset, møterom 2", 2, True)
    assert made.instructor_id == instructor and made.sequence == 0
    assert re.fullmatch(r"[0-9a-f-]{36}", made.uid)
    listing = designer.get(_activity(course_id), query_string={"lang": "en"}).get_data(as_text=True)
    assert "0 of 2" in listing and "Rådhuset, møterom 2" in listing

    edit = f"/designer/courses/{course_id}/sessions/{made.id}"
    page = designer.get(edit).get_data(as_text=True)
    assert f'value="{SUMMER_START}"' in page  # shown again in Oslo time
    # seats only: calendars need not hear of it
    response = post_form(designer, edit, edit, **_session_fields(capacity="3"))
    assert response.status_code == 302, response.get_data(as_text=True)
    (changed,) = _sessions(app, course_id)
    assert (changed.capacity, changed.sequence, changed.uid) == (3, 0, made.uid)
    # a new time or place: the calendar's SEQUENCE moves on, the UID stays
    response = post_form(
        designer,
        edit,
        edit,
        **_session_fields(capacity="3", place="", video_url="https://meet.example/hms"),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    (changed,) = _sessions(app, course_id)
    assert (changed.place, changed.video_url, changed.sequence) == (
        "",
        "https://meet.example/hms",
        1,
    )

    # with a session to come, it cannot become e-learning
    refused = post_form(
        designer,
        _activity(course_id),
        _activity(course_id),
        **_activity_fields(code="hms-kurs", kind="elearning"),
    )
    assert refused.status_code == 422
    assert 'id="activity-kind-error"' in refused.get_data(as_text=True)
    assert _course(app, course_id).kind == "classroom"

    cancel = f"{edit}/cancel"
    response = post_form(designer, edit, cancel, reason="Instruktøren er syk")
    assert response.status_code == 302, response.get_data(as_text=True)
    (cancelled,) = _sessions(app, course_id)
    assert cancelled.cancelled_at is not None and cancelled.cancel_reason == "Instruktøren er syk"
    assert cancelled.sequence == 2 and cancelled.uid == made.uid
    page = designer.get(edit, query_string={"lang": "en"}).get_data(as_text=True)
    assert "Cancelled" in page and "Instruktøren er syk" in page
    assert f'action="{edit}' not in page  # no form to change it
    token = csrf_token(designer.get(_activity(course_id)).get_data(as_text=True))
    again = designer.post(edit, data={"csrf_token": token, **_session_fields()})
    assert again.status_code == 422
    assert designer.post(cancel, data={"csrf_token": token}).status_code == 422


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ends_at": "2027-06-01T08:00"}, "ends_at", "must end after it starts"),
        ({"place": "", "video_url": ""}, "place", "Give a place, a video link, or both."),
        ({"video_url": "javascript:alert(1)"}, "video_url", "starts with https://"),
        ({"starts_at": "2027-03-28T02:30"}, "starts_at", "The clocks skip that time"),
        ({"starts_at": "i morgen"}, "starts_at", "Enter a date and time"),
        ({"starts_at": ""}, "starts_at", "Fill this in."),
        (
            {"starts_at": "2020-01-01T09:00", "ends_at": "2020-01-01T10:00"},
            "starts_at",
            "in the future",
        ),
        ({"signup_deadline": "2027-06-02T09:00"}, "signup_deadline", "before the start"),
        ({"capacity": "0"}, "capacity", "Enter 1 or more."),
        ({"capacity": ""}, "capacity", "Fill this in."),
        ({"capacity": "10001"}, "capacity", "Enter at most 10000."),
        ({"instructor_id": "999999"}, "instructor_id", "Choose from the list."),
    ],
)
def test_bad_session_fields_are_refused_by_the_field(app, designer, changes, field, message):
    course_id = _create_course(designer, "hms-kurs", "classroom")
    response = post_form(
        designer, _new_session(course_id), _new_session(course_id), **_session_fields(**changes)
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert f'id="session-{field}-error"' in page and message in page, page
    assert _sessions(app, course_id) == []


def test_elearning_has_no_sessions(app, designer):
    course_id = _create_course(designer, "info-e", "elearning")
    response = post_form(
        designer, _new_session(course_id), _new_session(course_id), **_session_fields()
    )
    assert response.status_code == 422
    assert "E-learning has no sessions" in response.get_data(as_text=True)
    assert _sessions(app, course_id) == []


def test_seats_never_drop_below_those_booked_and_added_seats_go_to_the_waitlist(app, designer):
    course_id = _create_course(designer, "hms-kurs", "classroom")
    post_form(designer, _new_session(course_id), _new_session(course_id), **_session_fields())
    (made,) = _sessions(app, course_id)
    _book(app, made.id, BookingStatus.BOOKED, "s1", "s2")
    _book(app, made.id, BookingStatus.WAITLISTED, "w1", "w2", "w3")
    edit = f"/designer/courses/{course_id}/sessions/{made.id}"

    response = post_form(designer, edit, edit, **_session_fields(capacity="1"))
    assert response.status_code == 422
    assert "2 people hold a seat" in response.get_data(as_text=True)
    assert _sessions(app, course_id)[0].capacity == 2

    response = post_form(designer, edit, edit, **_session_fields(capacity="4"))
    assert response.status_code == 302
    assert _statuses(app, made.id) == [
        ("s1", "booked"),
        ("s2", "booked"),
        ("w1", "booked"),  # first come, first served
        ("w2", "booked"),
        ("w3", "waitlisted"),
    ]
    listing = designer.get(_activity(course_id), query_string={"lang": "en"}).get_data(as_text=True)
    assert "4 of 4" in listing


# --- who may, and another organisation ------------------------------------------------------


@pytest.fixture
def course_with_session(app: Any, designer: Any, care: dict[str, Any]) -> dict[str, int]:
    course_id = _create_course(designer, "hms-kurs", "classroom")
    post_form(designer, _new_session(course_id), _new_session(course_id), **_session_fields())
    medicines = care["competences"]["legemidler"]
    post_form(
        designer,
        _activity(course_id),
        f"/designer/courses/{course_id}/develops",
        develops=f"{medicines}:3",
    )
    (made,) = _sessions(app, course_id)
    return {"course": course_id, "session": made.id, "competence": medicines}


def _routes(ids: dict[str, int]) -> list[tuple[str, str]]:
    c, s, m = ids["course"], ids["session"], ids["competence"]
    return [
        ("GET", f"/designer/courses/{c}/activity"),
        ("POST", f"/designer/courses/{c}/activity"),
        ("POST", f"/designer/courses/{c}/develops"),
        ("POST", f"/designer/courses/{c}/develops/{m}/delete"),
        ("GET", f"/designer/courses/{c}/sessions/new"),
        ("POST", f"/designer/courses/{c}/sessions/new"),
        ("GET", f"/designer/courses/{c}/sessions/{s}"),
        ("POST", f"/designer/courses/{c}/sessions/{s}"),
        ("POST", f"/designer/courses/{c}/sessions/{s}/cancel"),
    ]


@pytest.mark.parametrize("persona", ["learner", "manager"])
def test_learners_and_managers_are_refused_every_catalogue_route(
    app, lms, course_with_session, persona
):
    browser = TestLms.browser(app)
    page = lms.launch(browser, persona, locale="en")
    assert lms.landed(page)
    token = _csrf_token(app, browser)  # a valid token: the refusal is the guard's
    for method, path in _routes(course_with_session):
        data = {"csrf_token": token, **_session_fields()} if method == "POST" else None
        response = browser.open(path, method=method, data=data)
        assert response.status_code == 403, (persona, method, path)
    assert _sessions(app, course_with_session["course"])[0].cancelled_at is None
    if persona == "manager":  # the attendance page offers no way to edit
        page = browser.get(f"/designer/courses/{course_with_session['course']}").get_data(
            as_text=True
        )
        assert "/activity" not in page


def test_anonymous_is_not_signed_in(app, lms, course_with_session):
    anonymous = TestLms.browser(app)
    for method, path in _routes(course_with_session):
        assert anonymous.open(path, method=method).status_code in (400, 401), path
        if method == "GET":
            assert anonymous.get(path).status_code == 401


def test_another_organisations_designer_finds_nothing(
    app, platform_pem, mocked_http, course_with_session
):
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, other, "Annenkommune")
    stranger = designer_browser(app, other)
    token = csrf_token(stranger.get("/designer/courses").get_data(as_text=True))
    assert "hms-kurs" not in stranger.get("/designer/courses").get_data(as_text=True)
    for method, path in _routes(course_with_session):
        data = (
            {"csrf_token": token, **_session_fields(), "develops": "1:1"}
            if method == "POST"
            else None
        )
        response = stranger.open(path, method=method, data=data)
        assert response.status_code == 404, (method, path, response.status_code)
    assert _sessions(app, course_with_session["course"])[0].cancelled_at is None
    assert _course(app, course_with_session["course"]).code == "hms-kurs"
    with app.app_context():
        assert len(get_session().scalars(select(CourseCompetence)).all()) == 1
    # nor through the API
    assert stranger.get("/api/v1/courses").get_json()["items"] == []
    assert stranger.get(f"/api/v1/courses/{course_with_session['course']}").status_code == 404


def test_a_session_of_another_course_is_not_found_under_this_one(
    app, designer, course_with_session
):
    other_id = _create_course(designer, "annet-kurs", "classroom")
    path = f"/designer/courses/{other_id}/sessions/{course_with_session['session']}"
    assert designer.get(path).status_code == 404
    token = csrf_token(designer.get(_activity(other_id)).get_data(as_text=True))
    assert designer.post(f"{path}/cancel", data={"csrf_token": token}).status_code == 404
    assert _sessions(app, course_with_session["course"])[0].cancelled_at is None


# --- the API ---------------------------------------------------------------------------------


def test_the_api_reads_the_catalogue_for_designers_only(app, lms, designer, course_with_session):
    ids = course_with_session
    elearning = _create_course(designer, "info-e", "elearning")
    post_form(designer, _activity(elearning), _activity(elearning), **_activity_fields())
    _book(app, ids["session"], BookingStatus.BOOKED, "s1")
    _book(app, ids["session"], BookingStatus.WAITLISTED, "w1")

    listed = designer.get("/api/v1/courses")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    body = listed.get_json()
    assert body["total"] == 2 and [c["code"] for c in body["items"]] == ["hms-kurs", "info-e"]
    classroom, online = body["items"]
    assert classroom["kind"] == "classroom" and classroom["develops"] == [
        {
            "competence_id": ids["competence"],
            "code": "legemidler",
            "identifier": classroom["develops"][0]["identifier"],
            "framework_version_id": classroom["develops"][0]["framework_version_id"],
            "level": 3,
        }
    ]
    (session,) = classroom["sessions"]
    assert session["starts_at"] == "2027-06-01T07:00:00+00:00"
    assert (session["capacity"], session["booked"], session["waitlisted"]) == (2, 1, 1)
    assert session["place"] == "Rådhuset, møterom 2" and session["cancelled_at"] is None
    assert online["lms_url"] == "https://moodle.example/course/view.php?id=42"
    assert (online["duration_minutes"], online["language"], online["sessions"]) == (45, "nb", [])

    only = designer.get("/api/v1/courses", query_string={"kind": "elearning"}).get_json()
    assert [c["code"] for c in only["items"]] == ["info-e"]
    one = designer.get(f"/api/v1/courses/{elearning}").get_json()
    assert one["title"] == {
        "nb": "Informasjonssikkerhet på nett",
        "en": "Information security online",
    }
    assert designer.get("/api/v1/courses", query_string={"colour": "red"}).status_code == 422
    assert designer.get("/api/v1/courses/999999").status_code == 404

    for persona in ("learner", "manager"):
        browser = TestLms.browser(app)
        lms.launch(browser, persona)
        assert browser.get("/api/v1/courses").status_code == 403, persona
        assert browser.get(f"/api/v1/courses/{elearning}").status_code == 403, persona


def test_the_api_list_costs_the_same_statements_for_more_courses(app, designer, care):
    def cost() -> int:
        with statements_run(app) as run:
            assert designer.get("/api/v1/courses").status_code == 200
        return len(run)

    def add(numbers: range) -> None:
        for n in numbers:
            course_id = _create_course(designer, f"kurs-{n}", "classroom")
            new = _new_session(course_id)
            post_form(designer, new, new, **_session_fields())
            develops = f"/designer/courses/{course_id}/develops"
            medicines = care["competences"]["legemidler"]
            post_form(designer, _activity(course_id), develops, develops=f"{medicines}:2")

    add(range(2))
    few = cost()
    add(range(2, 6))
    assert cost() == few


# --- e-learning placed by deep linking -------------------------------------------------------


def test_an_elearning_activity_is_placed_in_an_lms_course_by_deep_linking(app, lms, designer):
    course_id = _create_course(designer, "info-e", "elearning")
    classroom = _create_course(designer, "hms-kurs", "classroom")
    links, message = lms.deep_link(TestLms.browser(app), [f"activity:{course_id}"])
    (item,) = message["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink" and item["title"] == "info-e"
    assert item["custom"] == {"activity": "info-e"}
    # a gradebook column the tool reads the person's result from (services.plans)
    assert item["lineItem"]["resourceId"] == "activity:info-e"
    assert len(links) == 1
    course = _course(app, course_id)
    assert course.placed_context_id == "2"
    assert course.placed_context_title == "Informasjonssikkerhet for ansatte"
    assert course.placed_at is not None
    page = designer.get(_activity(course_id), query_string={"lang": "en"}).get_data(as_text=True)
    assert "Placed by deep linking in the LMS course Informasjonssikkerhet for ansatte." in page
    assert _course(app, classroom).placed_context_id is None

    # only e-learning of the catalogue is offered, and only it is accepted
    browser = TestLms.browser(app)
    response = lms.launch(browser, "designer", message_type=c.DEEP_LINKING_REQUEST, locale="en")
    picker = lms.landing_page(browser, response).get_data(as_text=True)
    assert f'value="activity:{course_id}"' in picker
    assert f'value="activity:{classroom}"' not in picker
    token = csrf_token(picker)
    for refused in (f"activity:{classroom}", "activity:999999", "activity:x"):
        answer = browser.post("/designer/deep-link", data={"csrf_token": token, "item": refused})
        assert answer.status_code == 422, refused
        assert "Choose among the e-learning activities shown." in answer.get_data(as_text=True)
