"""Defects a second reading of the learning plan (issue 14) found, each shown through HTTP
with real signed launches. They were marked xfail(strict) until mended; each passes now,
and a test here fails again if its defect comes back. The two deadlock tests need
PostgreSQL (row locks); on SQLite they are skipped."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text

from lti_tool.db import get_session
from lti_tool.models import (
    Attendance,
    BookingStatus,
    CourseKind,
    CourseSession,
    JobRole,
    Person,
    SessionBooking,
)
from tests.fakes.lms import TestLms, csrf_token
from tests.fakes.mappings import designer_browser, post_form
from tests.functional.test_bookings import book, cancel, launched
from tests.functional.test_catalogue_design import _activity, _activity_fields
from tests.functional.test_gap_analysis import _course
from tests.functional.test_learning_plan import (
    DAY,
    LEARNER,
    NOW,
    PLAN,
    _session,
    browser_of,
    evidence,
    frozen,
    get,
    items,
    key,
    nurse,
    offers,
    person_id,
    section,
    submit,
)
from tests.functional.test_session_calendar import _calendar, _events, _renew
from tests.functional.test_unit_matrix import MANAGER, add_evidence, grant_manager

HOUR = dt.timedelta(hours=1)
DESIGNER = "102"
OWN_COMPLETION = "You cannot confirm your own completion: someone else must confirm it."
#: the plan tests' fixtures
__all__ = ["frozen", "offers"]


def _classroom(app: Any, org: int, code: str, develops: dict[int, int]) -> tuple[int, int]:
    """A classroom course that develops ``develops`` ({competence: level}), with a
    session in 20 days: (course, session)."""
    with app.app_context():
        course = _course(org, code, develops, kind=CourseKind.CLASSROOM)
        session_id = _session(org, course, NOW + 20 * DAY)
        get_session().commit()
    return course, session_id


def _book_and_come(app: Any, lms: Any, browser: Any, session_id: int, monkeypatch: Any) -> None:
    """The person books the session; once it has started a designer records that they
    came."""
    assert book(browser, session_id).status_code == 302
    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW + 20 * DAY + HOUR)
    designer = designer_browser(app, lms)
    sheet = f"/sessions/{session_id}/attendance"
    response = post_form(designer, sheet, sheet, attended=[str(person_id(app, LEARNER))])
    assert response.status_code == 302, response.get_data(as_text=True)


def _manager_of_the_nurse(app: Any, lms: Any, offers: dict[str, Any]) -> tuple[Any, str]:
    """A manager of home care, launched, and the nurse's plan page as they see it."""
    manager = browser_of(app, lms, "manager")
    grant_manager(app, offers["organisation_id"], MANAGER, offers["units"]["hjemmetjenesten"])
    return manager, f"/manager/people/{person_id(app, LEARNER)}/plan"


def test_attendance_completes_a_classroom_activity_a_manager_added(
    app, lms, offers, frozen, monkeypatch
):
    org, comp = offers["organisation_id"], offers["competences"]
    # a classroom course in office, which no nurse needs
    office_course, session_id = _classroom(app, org, "office-kurs", {comp["office"]: 1})
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    manager, page = _manager_of_the_nurse(app, lms, offers)
    added = submit(manager, page, page + "/items", course_id=str(office_course))
    assert added.status_code == 302, added.get_data(as_text=True)
    _book_and_come(app, lms, browser, session_id, monkeypatch)

    # the person came: the course is done, as the person's own word would have made it
    assert items(app, learner) == [(office_course, None, "done", "manager")]
    extra = section(get(browser, PLAN), "extra-title")
    assert "Office-Kurs (en)" in extra and "Done" in extra
    assert "I have done this" not in extra


def test_taking_a_suggested_course_does_not_lower_a_level_already_measured(
    app, lms, offers, frozen, monkeypatch
):
    org, comp = offers["organisation_id"], offers["competences"]
    med, privacy = comp["legemidler"], comp["personvern"]
    # a basic classroom course: privacy to the level nurses need, medicines to 2
    _basic, session_id = _classroom(app, org, "grunnkurs", {privacy: 2, med: 2})
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    with app.app_context():  # medicines measured at level 4 (3 required): met
        add_evidence(org, learner, med, 4, NOW - 10 * DAY)
        get_session().commit()
    html = get(browser, PLAN)
    todo = section(html, "todo-title")
    assert "Grunnkurs (en)" in todo  # the plan suggests it for privacy
    assert "Legemiddelhåndtering (en)" in section(html, "met-title")
    _book_and_come(app, lms, browser, session_id, monkeypatch)

    html = get(browser, PLAN)
    assert "2 of 2 requirements met (100 %)" in html
    assert "Legemiddelhåndtering (en)" in section(html, "met-title")


def test_a_course_renews_a_higher_level_measured_once_it_has_run_out(
    app, lms, offers, frozen, monkeypatch
):
    org, comp = offers["organisation_id"], offers["competences"]
    med, privacy = comp["legemidler"], comp["personvern"]
    _basic, session_id = _classroom(app, org, "grunnkurs", {privacy: 2, med: 3})
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    with app.app_context():  # level 4 measured 25 months ago: run out (renewed every 24)
        add_evidence(org, learner, med, 4, NOW - 760 * DAY)
        get_session().commit()
    assert "Legemiddelhåndtering (en)" in section(get(browser, PLAN), "todo-title")
    _book_and_come(app, lms, browser, session_id, monkeypatch)

    # the course's level 3 is what the person holds now: the requirement is met again
    html = get(browser, PLAN)
    assert "2 of 2 requirements met (100 %)" in html
    assert "Legemiddelhåndtering (en)" in section(html, "met-title")


def test_a_confirmation_that_runs_out_is_due_again_after_the_activitys_code_changed(
    app, lms, offers, frozen
):
    courses = offers["courses"]
    nurse(app, lms)
    manager, page = _manager_of_the_nurse(app, lms, offers)
    confirmed = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)

    # a designer gives the activity a better code (its form, as it shows it)
    designer = designer_browser(app, lms)
    activity = _activity(courses["med_e"])
    renamed = post_form(
        designer,
        activity,
        activity,
        **_activity_fields(
            code="legemidler-grunnkurs-e",
            title_nb="Legemidler-E",
            title_en="Legemidler-E (en)",
            lms_url="https://lms.example/mod/scorm/view.php?id=7",
        ),
    )
    assert renamed.status_code == 302, renamed.get_data(as_text=True)

    # two years on the confirmation has run out (medicines are renewed every 24 months)
    with pytest.MonkeyPatch.context() as later:
        later.setattr("lti_tool.clock.now", lambda: NOW + 740 * DAY)
        html = get(manager, page)
        assert "Expired" in html
        renewed = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
        assert renewed.status_code == 302, renewed.status_code


def test_a_manager_cannot_confirm_their_own_completion(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    manager = nurse(app, lms, "manager")  # a nurse of home care who heads it too
    grant_manager(app, org, MANAGER, offers["units"]["hjemmetjenesten"])
    me = person_id(app, MANAGER)
    page = f"/manager/people/{me}/plan"
    answer = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
    assert answer.status_code == 422, answer.status_code
    assert OWN_COMPLETION in answer.get_data(as_text=True)
    assert evidence(app, me) == []


def test_a_designer_cannot_confirm_their_own_completion(app, lms, offers, frozen):
    courses = offers["courses"]
    nurse(app, lms)
    teacher = designer_browser(app, lms)
    me, learner = person_id(app, DESIGNER), person_id(app, LEARNER)
    page = f"/designer/courses/{courses['med_class']}"
    token = csrf_token(get(teacher, page))
    answer = teacher.post(
        page + "/completions?lang=en",
        data={"csrf_token": token, "person_ids": [str(learner), str(me)]},
    )
    assert answer.status_code == 422, answer.status_code
    assert OWN_COMPLETION in answer.get_data(as_text=True)
    assert evidence(app, me) == [] and evidence(app, learner) == []  # nobody: one action


def test_an_instructor_cannot_record_their_own_attendance(app, lms, offers, frozen, monkeypatch):
    org, comp = offers["organisation_id"], offers["competences"]
    _course_id, session_id = _classroom(app, org, "grunnkurs", {comp["personvern"]: 2})
    browser = nurse(app, lms)
    teacher = designer_browser(app, lms)
    me, learner = person_id(app, DESIGNER), person_id(app, LEARNER)
    for who in (browser, teacher):  # the designer who teaches it booked a seat too
        assert book(who, session_id).status_code == 302
    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW + 20 * DAY + HOUR)
    sheet = f"/sessions/{session_id}/attendance"
    for fields in ({"attended": [str(learner), str(me)]}, {"confirmed": [str(me)]}):
        answer = post_form(teacher, sheet, sheet, **fields)
        assert answer.status_code == 422, answer.status_code
        assert "You cannot record your own attendance or confirm your own level" in answer.get_data(
            as_text=True
        )
    assert evidence(app, me) == [] and evidence(app, learner) == []
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Attendance)) == 0


def test_the_plans_sessions_show_the_day_a_session_over_two_days_ends(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    with app.app_context():  # 25 March 13:00 to 26 March 16:00 in Oslo
        two_days = _session(org, courses["med_class"], NOW + 10 * DAY)
        found = get_session().get(CourseSession, two_days)
        assert found is not None
        found.ends_at = NOW + 11 * DAY + 3 * HOUR
        get_session().commit()
    browser = nurse(app, lms)
    todo = section(get(browser, PLAN), "todo-title")
    assert "Thu 25 Mar 2027 13:00" in todo
    assert "Fri 26 Mar 2027 16:00" in todo


def test_a_due_date_met_does_not_make_the_renewal_overdue(app, lms, offers, frozen):
    comp, courses = offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    manager, page = _manager_of_the_nurse(app, lms, offers)
    med_e = key(courses["med_e"], comp["legemidler"])
    due = (NOW + 30 * DAY).date().isoformat()
    assert submit(manager, page, page + "/due", med_e, due_on=due).status_code == 302
    # done in time: the manager confirms it the same day
    confirmed = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
    assert confirmed.status_code == 302

    # two years on it has run out (renewed every 24 months): due again, but not overdue
    with pytest.MonkeyPatch.context() as later:
        later.setattr("lti_tool.clock.now", lambda: NOW + 740 * DAY)
        html = get(browser, PLAN)
        block = html[html.index(f'id="plan-{med_e}"') :]
        block = block[: block.index("</li>")]
        assert "Expired" in section(html, "todo-title")
        assert "Overdue" not in block
        assert "Overdue" not in get(manager, page)


def _until_one_waits_for_a_lock(app: Any) -> None:
    """Wait until a connection of the test database waits for a row lock."""
    for _ in range(200):
        with app.extensions["db_engine"].connect() as watcher:
            waiting = watcher.scalar(
                text(
                    "select count(*) from pg_stat_activity "
                    "where datname = current_database() and wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("nobody waits for a lock")


def test_confirming_several_people_waits_for_a_rewrite_of_their_figures_without_deadlock(
    app, lms, offers, frozen
):
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite runs one writer at a time)")
    courses = offers["courses"]
    nurse(app, lms)
    nurse(app, lms, "learner2")
    first, second = sorted([person_id(app, LEARNER), person_id(app, "104")])
    teacher = designer_browser(app, lms)
    page = f"/designer/courses/{courses['med_class']}"
    token = csrf_token(get(teacher, page))
    answers: list[int] = []

    def confirm() -> None:  # the people in the page's order, not by id
        response = teacher.post(
            page + "/completions",
            data={"csrf_token": token, "person_ids": [str(second), str(first)]},
        )
        answers.append(response.status_code)

    # meanwhile another request rewrites both people's figures (new evidence for them):
    # it locks their rows in id order, as refresh_cells does
    other = app.extensions["db_engine"].connect()
    rows = Person.__table__
    try:
        with other.begin():
            other.execute(
                select(rows.c.id).where(rows.c.id == first).with_for_update(key_share=True)
            )
            thread = threading.Thread(target=confirm)
            thread.start()
            _until_one_waits_for_a_lock(app)  # the confirmation: holds the second, waits
            other.execute(
                select(rows.c.id).where(rows.c.id == second).with_for_update(key_share=True)
            )
        thread.join(30)
    finally:
        other.close()
    assert answers == [302]


def test_i_have_done_this_waits_for_a_change_of_the_job_roles_requirements_without_deadlock(
    app, lms, offers, frozen
):
    if app.extensions["db_engine"].dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite runs one writer at a time)")
    comp, courses = offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    entry = key(courses["med_e"], comp["legemidler"])
    token = csrf_token(get(browser, PLAN))
    answers: list[int] = []

    def done() -> None:
        response = browser.post(PLAN + "/done", data={"csrf_token": token, "entry": entry})
        answers.append(response.status_code)

    # meanwhile a designer changes what nurses need: the role first, then its people (as
    # coverage_cells.refresh_cells does for a rewrite by role)
    other = app.extensions["db_engine"].connect()
    roles, people = JobRole.__table__, Person.__table__
    try:
        with other.begin():
            nurses = offers["roles"]["sykepleier"]
            other.execute(
                select(roles.c.id).where(roles.c.id == nurses).with_for_update(key_share=True)
            )
            thread = threading.Thread(target=done)
            thread.start()
            _until_one_waits_for_a_lock(app)  # the answer: holds the person, waits for the role
            other.execute(
                select(people.c.id).where(people.c.id == learner).with_for_update(key_share=True)
            )
        thread.join(30)
    finally:
        other.close()
    assert answers == [302]


def test_the_course_attendance_form_proposes_todays_date_in_norway(
    app, lms, offers, frozen, monkeypatch
):
    courses = offers["courses"]
    # half past eleven at night in UTC is half past midnight the next day in Oslo
    late = NOW.replace(hour=23, minute=30)
    monkeypatch.setattr("lti_tool.clock.now", lambda: late)
    teacher = designer_browser(app, lms)
    html = get(teacher, f"/designer/courses/{courses['med_class']}")
    tomorrow = (late + DAY).date().isoformat()
    assert f'value="{tomorrow}"' in html, tomorrow


def test_one_person_holds_one_session_of_an_activity_at_a_time(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    with app.app_context():
        first = _session(org, courses["med_class"], NOW + 10 * DAY)
        second = _session(org, courses["med_class"], NOW + 17 * DAY)
        get_session().commit()
    browser = nurse(app, lms)
    assert book(browser, first).status_code == 302
    refused = book(browser, second)
    assert refused.status_code == 409
    assert "Du er påmeldt en annen samling av dette tiltaket" in refused.get_data(as_text=True)
    with app.app_context():
        seats = get_session().scalar(
            select(func.count())
            .select_from(SessionBooking)
            .where(SessionBooking.status == BookingStatus.BOOKED)
        )
    assert seats == 1
    # once the first booking is cancelled, the other session can be chosen
    assert cancel(browser, first).status_code == 302
    assert book(browser, second).status_code == 302


def test_a_manager_adding_an_activity_the_person_declined_asks_for_it_again(
    app, lms, offers, frozen
):
    comp, courses = offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    med_class = key(courses["med_class"], comp["legemidler"])
    answer = "/learner/plan/answer"
    declined = submit(browser, PLAN, answer, med_class, answer="declined", reason="No time")
    assert declined.status_code == 302
    manager, page = _manager_of_the_nurse(app, lms, offers)
    added = submit(manager, page, page + "/items", course_id=str(courses["med_class"]))
    assert added.status_code == 302, added.get_data(as_text=True)

    stored = items(app, learner)
    assert (courses["med_class"], comp["legemidler"], "suggested", "manager") in stored
    assert all(state != "declined" for _c, _k, state, _s in stored)
    block = get(browser, PLAN)
    block = block[block.index(f'id="plan-{med_class}"') :]
    block = block[: block.index("</li>")]
    assert "Suggested" in block and "Declined" not in block


def test_the_plan_says_sign_up_has_closed_instead_of_the_seats_left(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    with app.app_context():  # in ten days, but sign-up closed yesterday
        closed = _session(org, courses["med_class"], NOW + 10 * DAY, signup_deadline=NOW - DAY)
        get_session().commit()
    browser = nurse(app, lms)
    todo = section(get(browser, PLAN), "todo-title")
    line = todo[todo.index(f'/sessions/{closed}"') :]
    line = line[: line.index("</li>")]
    assert "sign-up closed" in line
    assert "seats left" not in line and "sign up by" not in line


def test_a_cancelled_booking_moves_the_feeds_sequence_on(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    with app.app_context():
        session_id = _session(org, courses["med_class"], NOW + 10 * DAY)
        uid = get_session().get(CourseSession, session_id).uid
        get_session().commit()
    browser = launched(app, lms)  # in English, as the feed's page is read
    assert book(browser, session_id).status_code == 302
    _, token = _renew(browser)
    anyone = TestLms.browser(app)  # a calendar service

    def event() -> tuple[str, int]:
        found = _events(_calendar(anyone.get(f"/calendar/{token}.ics")))[uid]
        return str(found["STATUS"]), found["SEQUENCE"]

    assert event() == ("CONFIRMED", 0)
    # cancelled: a calendar takes the change only when SEQUENCE goes up
    assert cancel(browser, session_id).status_code == 302
    assert event() == ("CANCELLED", 1)
    # booked again: up again, so the calendar shows it confirmed once more
    assert book(browser, session_id).status_code == 302
    assert event() == ("CONFIRMED", 2)
