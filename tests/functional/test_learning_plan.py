"""The learning plan through HTTP: the learner's /learner/plan (suggestions for every gap,
the most urgent first, classroom sessions, progress in words and a bar), the person's
answers (accept, postpone until a day, decline with a reason), "I have done this" as
self-reported evidence, the plan following the evidence, a manager's items, due dates
and confirmations for their unit's people only, an instructor's confirmation, the cost of
the page, and e-learning placed by deep linking whose gradebook column counts as LMS
evidence. Real signed launches from the test LMS."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import event, select

from lti_tool.db import get_session
from lti_tool.lti import ags
from lti_tool.lti.services import lti_services
from lti_tool.models import (
    AuditEvent,
    AuditEventPerson,
    Course,
    CourseKind,
    CourseSession,
    Evidence,
    JobRoleAssignment,
    Organisation,
    Person,
    PlanItem,
    PlanItemSource,
    PlanItemState,
    ResultRead,
)
from lti_tool.services.result_reads import READS, ReadCounts, read_due_results
from tests.fakes import content
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.functional import test_api
from tests.functional.test_bookings import book, cancel
from tests.functional.test_gap_analysis import _course
from tests.functional.test_gradebook_catch_up import place
from tests.functional.test_learner_requirements import launch
from tests.functional.test_score_delivery import claimed_at_once, table_rows
from tests.functional.test_unit_matrix import MANAGER, add_evidence, add_person, grant_manager
from tests.statements import statements_run

NOW = dt.datetime(2027, 3, 15, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
LEARNER = "101"
PLAN = "/learner/plan"


# the API tests' fixtures: a Bearer-token client, tokens, another organisation
api, new_token, other_org = test_api.api, test_api.new_token, test_api.other_org


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW)


def _session(org: int, course_id: int, starts: dt.datetime, **fields: Any) -> int:
    row = CourseSession(
        organisation_id=org,
        course_id=course_id,
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=3),
        place=fields.pop("place", "Rådhuset, sal 2"),
        capacity=fields.pop("capacity", 12),
        uid=str(uuid.uuid4()),
        **fields,
    )
    get_session().add(row)
    get_session().flush()
    return row.id


@pytest.fixture
def offers(app: Any, care: dict[str, Any]) -> dict[str, Any]:
    """The catalogue: e-learning and a classroom course for medicines, e-learning for
    privacy and for office (which no nurse needs)."""
    org = care["organisation_id"]
    med, privacy, office = (care["competences"][c] for c in ("legemidler", "personvern", "office"))
    with app.app_context():
        courses = {
            "med_e": _course(
                org,
                "legemidler-e",
                {med: 3},
                lms_url="https://lms.example/mod/scorm/view.php?id=7",
                duration_minutes=45,
                language="nb",
            ),
            "med_class": _course(
                org, "legemidler-kurs", {med: 4, privacy: 2}, kind=CourseKind.CLASSROOM
            ),
            "privacy_e": _course(org, "personvern-e", {privacy: 2}),
            "office_e": _course(org, "office-e", {office: 1}),
        }
        _session(org, courses["med_class"], NOW + 20 * DAY)
        _session(org, courses["med_class"], NOW + 30 * DAY, place="Sykehjemmet, møterom")
        _session(org, courses["med_class"], NOW + 25 * DAY, cancelled_at=NOW, place="Avlyst sal")
        _session(org, courses["med_class"], NOW - 20 * DAY, place="Gammel sal")
        get_session().commit()
    return {**care, "courses": courses}


def person_id(app: Any, sub: str) -> int:
    with app.app_context():
        found: int = get_session().scalar(select(Person.id).where(Person.sub == sub))
        return found


def upcoming_sessions(app: Any, course_id: int) -> list[int]:
    """The ids of the course's sessions to come, not cancelled, the first first."""
    with app.app_context():
        return list(
            get_session().scalars(
                select(CourseSession.id)
                .where(
                    CourseSession.course_id == course_id,
                    CourseSession.cancelled_at.is_(None),
                    CourseSession.starts_at > NOW,
                )
                .order_by(CourseSession.starts_at)
            )
        )


def nurse(app: Any, lms: TestLms, persona: str = "learner") -> Any:
    """A nurse of home care, launched: their browser."""
    browser = TestLms.browser(app)
    launch(lms, browser, persona, job_role="sykepleier", unit="hjemmetjenesten")
    return browser


def browser_of(app: Any, lms: TestLms, persona: str) -> Any:
    browser = TestLms.browser(app)
    launch(lms, browser, persona)
    return browser


def get(browser: Any, path: str, expect: int = 200) -> str:
    response = browser.get(path, query_string={"lang": "en"})
    assert response.status_code == expect, response.get_data(as_text=True)[:3000]
    return response.get_data(as_text=True)


def submit(browser: Any, page: str, action: str, entry: str | None = None, **fields: Any) -> Any:
    """Post the page's form to ``action`` (the one for ``entry``, and ``answer`` when
    given), with its hidden fields and ``fields``."""
    html = get(browser, page)
    for form in parse_forms(html):
        if form["method"] != "post" or (form["action"] or "").split("?")[0] != action:
            continue
        if entry is not None and form["fields"].get("entry") != entry:
            continue
        if "answer" in fields and form["fields"].get("answer") != fields["answer"]:
            continue
        url = form["action"] + ("&" if "?" in form["action"] else "?") + "lang=en"
        return browser.post(url, data={**form["fields"], **fields})
    raise AssertionError(f"no form posting to {action} for {entry} on {page}")


def key(course_id: int | None, competence_id: int | None) -> str:
    return f"{course_id or 0}-{competence_id or 0}"


def items(app: Any, person: int) -> list[tuple[int | None, int | None, str, str]]:
    with app.app_context():
        rows = get_session().scalars(
            select(PlanItem).where(PlanItem.person_id == person).order_by(PlanItem.id)
        )
        return [(r.course_id, r.competence_id, r.state.value, r.source.value) for r in rows]


def evidence(app: Any, person: int) -> list[tuple[int, str, str, int, dict[str, Any]]]:
    with app.app_context():
        rows = get_session().scalars(
            select(Evidence).where(Evidence.person_id == person).order_by(Evidence.id)
        )
        return [(e.competence_id, e.source, e.confidence, e.level, e.detail) for e in rows]


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


# --- the plan --------------------------------------------------------------------------------


def test_every_gap_gets_its_activities_the_most_urgent_first(app, lms, offers, frozen):
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    with app.app_context():  # privacy: shown, but it ran out yesterday
        add_evidence(org, learner, comp["personvern"], 2, NOW - 30 * DAY, valid_until=NOW - DAY)
        get_session().commit()

    home = get(browser, "/learner/")
    assert 'href="/learner/plan' in home and "Open my learning plan" in home
    html = get(browser, PLAN)
    assert "<h1>My learning plan</h1>" in html
    todo = section(html, "todo-title")
    # expired (privacy) before never assessed (medicines): the most urgent first
    assert todo.index("Personvern (en)") < todo.index("Legemiddelhåndtering (en)")
    assert "Expired" in todo and "Not assessed" in todo  # in words, not colour alone
    privacy = todo[todo.index("Personvern (en)") : todo.index("Legemiddelhåndtering (en)")]
    medicines = todo[todo.index("Legemiddelhåndtering (en)") :]
    # each gap has the activities that reach its level; office is no nurse's requirement
    assert "Personvern-E (en)" in privacy and "Legemidler-Kurs (en)" in privacy
    assert "Legemidler-E (en)" in medicines and "Legemidler-Kurs (en)" in medicines
    assert "Office-E (en)" not in html
    assert f"/learner/activities/{courses['med_e']}" in medicines
    assert "E-learning, about 45 minutes" in medicines
    assert 'href="https://lms.example/mod/scorm/view.php?id=7"' in medicines
    # a classroom course's upcoming sessions, with date and place; no cancelled or past one
    assert "Rådhuset, sal 2" in medicines and "Sykehjemmet, møterom" in medicines
    assert "12 seats left" in medicines
    assert "Avlyst sal" not in html and "Gammel sal" not in html
    # progress in words and a bar
    assert "0 of 2 requirements met (0 %)" in html
    assert '<progress id="plan-progress" max="2" value="0">' in html
    assert '<label for="plan-progress">' in html
    # nothing is stored until the person answers
    assert items(app, learner) == []


def test_the_plans_sessions_link_to_their_pages_and_show_the_persons_booking(
    app, lms, offers, frozen
):
    courses = offers["courses"]
    browser = nurse(app, lms)
    first, second = upcoming_sessions(app, courses["med_class"])
    html = get(browser, PLAN)
    assert f'href="/sessions/{first}' in html and f'href="/sessions/{second}' in html
    assert "You have a seat" not in html
    booked = submit(browser, f"/sessions/{first}", f"/sessions/{first}/book")
    assert booked.status_code == 302
    medicines = section(get(browser, PLAN), "todo-title")
    # in the privacy line and in the medicines line: the seat is theirs, the other is open
    assert medicines.count("<strong>You have a seat</strong>") == 2
    # and no "I have done this" where the seat is still to come (their attendance counts)
    assert medicines.count("You have a seat in a session still to come") == 2
    mine = medicines[medicines.index(f'href="/sessions/{first}') :]
    assert mine.index("You have a seat") < mine.index(f'href="/sessions/{second}')
    assert "12 seats left" in mine[mine.index(f'href="/sessions/{second}') :]


def test_an_archived_activity_is_shown_read_only_to_those_it_concerns(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    classroom = courses["med_class"]
    browser = nurse(app, lms)
    other = nurse(app, lms, "learner2")
    with app.app_context():
        first = get_session().scalar(
            select(CourseSession.id)
            .where(CourseSession.course_id == classroom, CourseSession.starts_at > NOW)
            .where(CourseSession.cancelled_at.is_(None))
            .order_by(CourseSession.starts_at)
        )
    assert submit(browser, f"/sessions/{first}", f"/sessions/{first}/book").status_code == 302
    with app.app_context():  # a manager's item for the other person, then it is archived
        get_session().add(
            PlanItem(
                organisation_id=org,
                person_id=person_id(app, "104"),
                course_id=classroom,
                state=PlanItemState.SUGGESTED,
                source=PlanItemSource.MANAGER,
            )
        )
        get_session().get(Course, classroom).archived = True
        get_session().commit()
    gone = "This activity is no longer offered: it can no longer be booked."
    # the booking's session page links to the activity, which is there, read-only
    session_page = get(browser, f"/sessions/{first}")
    assert f'href="/learner/activities/{classroom}' in session_page
    page = get(browser, f"/learner/activities/{classroom}")
    assert gone in page and "Book a seat" not in page and "No longer offered." in page
    # the plan offers it no more, nor its sessions
    assert "Legemidler-Kurs (en)" not in get(browser, PLAN)
    # the manager's item: in the plan, its title leads to the page
    plan = get(other, PLAN)
    assert f'href="/learner/activities/{classroom}' in plan and "Rådhuset, sal 2" not in plan
    assert gone in get(other, f"/learner/activities/{classroom}")
    # someone it does not concern: not found
    stranger = browser_of(app, lms, "learner3")
    get(stranger, f"/learner/activities/{classroom}", expect=404)


@pytest.mark.parametrize(
    ("lang", "title", "progress"),
    [
        ("nb", "Min læringsplan", "0 av 2 krav oppfylt"),
        ("nn", "Læringsplanen min", "0 av 2 krav oppfylte"),
        ("en", "My learning plan", "0 of 2 requirements met"),
    ],
)
def test_the_plan_in_each_language(app, lms, offers, frozen, lang, title, progress):
    browser = nurse(app, lms)
    html = browser.get(PLAN, query_string={"lang": lang}).get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html and progress in html


def test_the_activity_page_shows_what_it_develops_and_its_sessions(app, lms, offers, frozen):
    courses = offers["courses"]
    browser = nurse(app, lms)
    html = get(browser, f"/learner/activities/{courses['med_class']}")
    assert "<h1>Legemidler-Kurs (en)</h1>" in html
    assert "Legemiddelhåndtering (en): level 4" in html and "Personvern (en): level 2" in html
    assert "Rådhuset, sal 2" in html and "Avlyst sal" not in html
    assert "I have done this" in html
    office = get(browser, f"/learner/activities/{courses['office_e']}")
    assert "It is not in your plan" in office
    get(browser, "/learner/activities/999999", expect=404)


def test_the_person_accepts_postpones_and_declines_with_a_reason(app, lms, offers, frozen):
    comp, courses = offers["competences"], offers["courses"]
    med, privacy = comp["legemidler"], comp["personvern"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    e_learning, classroom = key(courses["med_e"], med), key(courses["med_class"], med)

    done = submit(browser, PLAN, "/learner/plan/answer", e_learning, answer="accepted")
    assert done.status_code == 302
    html = get(browser, PLAN)
    assert "Added to your plan." in html
    block = html[html.index(f'id="plan-{e_learning}"') :]
    assert "Accepted" in block[: block.index("</li>")]

    # a postponement needs a day after today and within two years
    for until, message in [
        ("", "Enter a date."),
        ((NOW - DAY).date().isoformat(), "Choose a day after today."),
        (NOW.date().isoformat(), "Choose a day after today."),
        ((NOW + 800 * DAY).date().isoformat(), "Postpone by two years at most."),
        ("31.03.2027", "Enter a date like 2026-03-31."),
    ]:
        refused = submit(
            browser, PLAN, "/learner/plan/answer", classroom, answer="postponed", until=until
        )
        assert refused.status_code == 422, until
        page = refused.get_data(as_text=True)
        assert message in page and 'class="error-summary"' in page
        assert f'href="#plan-{classroom}-until"' in page and "<details open>" in page
    until = (NOW + 10 * DAY).date()
    answer = submit(
        browser,
        PLAN,
        "/learner/plan/answer",
        classroom,
        answer="postponed",
        until=until.isoformat(),
    )
    assert answer.status_code == 302
    assert "Postponed until Mar 25, 2027" in get(browser, PLAN)

    # a decline needs a reason
    privacy_e = key(courses["privacy_e"], privacy)
    refused = submit(browser, PLAN, "/learner/plan/answer", privacy_e, answer="declined")
    assert refused.status_code == 422
    assert "Say why you decline: your manager sees it." in refused.get_data(as_text=True)
    answer = submit(
        browser,
        PLAN,
        "/learner/plan/answer",
        privacy_e,
        answer="declined",
        reason="Tok kurset i forrige jobb",
    )
    assert answer.status_code == 302
    assert "Your reason: Tok kurset i forrige jobb" in get(browser, PLAN)
    assert items(app, learner) == [
        (courses["med_e"], med, "accepted", "suggested"),
        (courses["med_class"], med, "postponed", "suggested"),
        (courses["privacy_e"], privacy, "declined", "suggested"),
    ]

    # an entry that is not in the plan, and an unknown answer
    html = get(browser, PLAN)
    token = next(f for f in parse_forms(html) if f["fields"].get("entry"))["fields"]
    office = key(courses["office_e"], comp["office"])
    gone = browser.post(PLAN + "/answer", data={**token, "entry": office, "answer": "accepted"})
    assert gone.status_code == 404
    odd = browser.post(PLAN + "/answer", data={**token, "entry": e_learning, "answer": "maybe"})
    assert odd.status_code == 422

    # the day comes: the postponed entry is suggested again
    with pytest.MonkeyPatch.context() as later:
        later.setattr("lti_tool.clock.now", lambda: NOW + 11 * DAY)
        html = get(browser, PLAN)
        block = html[html.index(f'id="plan-{classroom}"') :]
        assert "Suggested" in block[: block.index("</li>")]


def test_today_is_the_day_in_oslo_not_in_utc(app, lms, offers, monkeypatch):
    """At 00:30 in Oslo it is still yesterday in UTC: the plan's today is Oslo's."""
    late = dt.datetime(2027, 3, 25, 23, 30, tzinfo=dt.UTC)  # 26 March, 00:30 in Oslo
    monkeypatch.setattr("lti_tool.clock.now", lambda: late)
    comp, courses = offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    classroom = key(courses["med_class"], comp["legemidler"])
    # postponing to today changes nothing: the field and the server both start tomorrow
    assert 'min="2027-03-27" max="2029-03-27"' in get(browser, PLAN)
    refused = submit(
        browser, PLAN, "/learner/plan/answer", classroom, answer="postponed", until="2027-03-26"
    )
    assert refused.status_code == 422
    assert "Choose a day after today." in refused.get_data(as_text=True)
    answer = submit(
        browser, PLAN, "/learner/plan/answer", classroom, answer="postponed", until="2027-03-27"
    )
    assert answer.status_code == 302


def test_evidence_closes_the_gap_its_items_are_done_and_no_stale_suggestion_stays(
    app, lms, offers, frozen
):
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    med = comp["legemidler"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    submit(browser, PLAN, "/learner/plan/answer", key(courses["med_e"], med), answer="accepted")
    declined = key(courses["med_class"], med)
    submit(browser, PLAN, "/learner/plan/answer", declined, answer="declined", reason="Nei")
    with app.app_context():  # a mapping measures level 3: the requirement is met
        add_evidence(org, learner, med, 3, NOW - DAY)
        get_session().commit()
    html = get(browser, PLAN)
    assert "1 of 2 requirements met (50 %)" in html
    met = section(html, "met-title")
    assert "Legemiddelhåndtering (en)" in met and "Knowledge test" in met
    assert "Legemidler-E (en)" in met and "Done" in met  # what was accepted is done
    assert "Legemidler-Kurs (en)" not in met  # what was declined is left out
    todo = section(html, "todo-title")
    assert "Legemiddelhåndtering (en)" not in todo
    assert "Legemidler-E (en)" not in todo  # no suggestion for a closed gap
    # the classroom course still counts for privacy, which is still open
    assert "Legemidler-Kurs (en)" in todo and "Personvern (en)" in todo


def test_i_have_done_this_is_the_persons_word_and_never_outweighs_a_test(app, lms, offers, frozen):
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    med = comp["legemidler"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    entry = key(courses["med_e"], med)
    answer = submit(browser, PLAN, "/learner/plan/done", entry)
    assert answer.status_code == 302
    recorded = evidence(app, learner)
    assert [(c, s, conf, lvl) for c, s, conf, lvl, _d in recorded] == [
        (med, "self_reported", "low", 3)
    ]
    assert recorded[0][4]["course"] == "legemidler-e"
    assert items(app, learner) == []  # no item was answered: nothing to mark done
    html = get(browser, PLAN)
    # alone, the person's word is what they hold, and it says so
    met = section(html, "met-title")
    assert "Self-reported: done, in the person's own words" in met
    assert "low confidence" in met
    assert "Noted as done, in your own words." in html

    with app.app_context():  # then a knowledge test measures level 2: it counts over the word
        add_evidence(org, learner, med, 2, NOW - 2 * DAY)
        get_session().commit()
    html = get(browser, PLAN)
    todo = section(html, "todo-title")
    line = todo[todo.index("Legemiddelhåndtering (en)") :]
    assert "Gap" in line and "Level 2 shown, level 3 required" in line
    assert "Knowledge test" in line and "medium confidence" in line
    # and it can be said again only for what is not done
    with app.app_context():
        get_session().execute(
            PlanItem.__table__.insert().values(
                organisation_id=org,
                person_id=learner,
                course_id=courses["med_e"],
                competence_id=med,
                state="done",
                source="suggested",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        get_session().commit()
    html = get(browser, PLAN)
    block = html[html.index(f'id="plan-{entry}"') :]
    assert "Marked done Mar 15, 2027, but the requirement still calls for action" in block
    # the word is given: no button to give it again, and no second evidence row
    block = block[: block.index("</li>")]
    reported = "You have reported it done; a confirmation by your instructor or manager will"
    assert reported in block and "I have done this" not in block
    page = get(browser, f"/learner/activities/{courses['med_e']}")
    assert reported in page and "I have done this" not in page
    token = csrf_token(html)
    again = browser.post(PLAN + "/done?lang=en", data={"csrf_token": token, "entry": entry})
    assert again.status_code == 422
    assert reported in again.get_data(as_text=True)
    assert len(evidence(app, learner)) == 2  # the word and the test


def test_hostile_answers_get_a_clear_refusal_not_a_500(app, lms, offers, frozen):
    comp, courses = offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    org = offers["organisation_id"]
    entry = key(courses["med_e"], comp["legemidler"])
    token = csrf_token(get(browser, PLAN))
    for data, status in [
        ({"entry": entry, "answer": "declined", "reason": "nei\x00"}, 422),
        ({"entry": entry, "answer": "declined", "reason": "x" * 2001}, 422),
        ({"entry": "9" * 60, "answer": "accepted"}, 422),
        ({"entry": "1-2-3", "answer": "accepted"}, 404),
        ({"entry": entry, "answer": "postponed", "until": "9999-99-99"}, 422),
        ({"answer": "accepted"}, 422),
    ]:
        answer = browser.post(PLAN + "/answer", data={"csrf_token": token, **data})
        assert answer.status_code == status, data
    assert browser.post(PLAN + "/done", data={"csrf_token": token}).status_code == 422
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, MANAGER, offers["units"]["hjemmetjenesten"])
    page = f"/manager/people/{person_id(app, LEARNER)}/plan"
    token = csrf_token(get(manager, page))
    for action, data in [
        ("/items", {"course_id": str(2**40)}),
        ("/items", {"competence_id": "x"}),
        ("/items", {"course_id": str(courses["med_e"]), "due_on": "in a week"}),
        ("/due", {"entry": entry, "due_on": "0001-01-01"}),
        ("/confirm", {"course_id": ""}),
    ]:
        answer = manager.post(page + action, data={"csrf_token": token, **data})
        assert answer.status_code == 422, (action, data)
    assert items(app, person_id(app, LEARNER)) == []


def test_two_answers_at_once_make_one_item(app, lms, offers):
    """The second answer waits for the person's row, locked by the first, then finds the
    item the first made: one item, with the later answer."""
    from lti_tool.services import plans

    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    nurse(app, lms)
    learner = person_id(app, LEARNER)
    entry = key(courses["med_e"], comp["legemidler"])
    answered, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def answer(what: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                plans.answer_plan_item(session, org, learner, entry, what, now=NOW, reason="Nei")
                if hold:
                    answered.set()
                    release.wait(5)
                session.commit()
            except BaseException as exc:
                errors.append(exc)
            finally:
                session.close()

    one = threading.Thread(target=answer, args=("accepted", True))
    one.start()
    assert answered.wait(10)
    two = threading.Thread(target=answer, args=("declined", False))
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting for the person's row
    release.set()
    one.join(10)
    two.join(10)
    assert errors == []
    assert items(app, learner) == [(courses["med_e"], comp["legemidler"], "declined", "suggested")]


# --- the manager -------------------------------------------------------------------------------


def test_a_manager_adds_items_sets_due_dates_sees_reasons_and_confirms(app, lms, offers, frozen):
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    med, privacy = comp["legemidler"], comp["personvern"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    privacy_e = key(courses["privacy_e"], privacy)
    submit(browser, PLAN, "/learner/plan/answer", privacy_e, answer="declined", reason="Tatt før")
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, MANAGER, offers["units"]["hjemmetjenesten"])
    page = f"/manager/people/{learner}/plan"
    assert page in get(manager, f"/manager/people/{learner}")
    html = get(manager, page)
    assert "Learning plan of Demo Ansatt" in html
    assert "Reason: Tatt før" in html and "Declined" in html

    # an activity outside the requirements, with a due date
    due = (NOW + 30 * DAY).date().isoformat()
    added = submit(manager, page, page + "/items", course_id=str(courses["office_e"]), due_on=due)
    assert added.status_code == 302, added.get_data(as_text=True)
    # a competence the person needs (a request without an activity)
    added = submit(manager, page, page + "/items", competence_id=str(privacy))
    assert added.status_code == 302
    # a due date on a suggestion
    med_e = key(courses["med_e"], med)
    dated = submit(manager, page, page + "/due", med_e, due_on=due)
    assert dated.status_code == 302
    assert items(app, learner) == [
        (courses["privacy_e"], privacy, "declined", "suggested"),
        (courses["office_e"], None, "suggested", "manager"),
        (None, privacy, "suggested", "manager"),
        (courses["med_e"], med, "suggested", "manager"),
    ]
    # refusals: both or neither, a day gone by, a competence not required, a stranger's course
    for fields, message in [
        ({"course_id": str(courses["med_e"]), "competence_id": str(med)}, "Choose an activity"),
        ({}, "Choose an activity or a competence."),
        ({"competence_id": str(med), "due_on": "2027-03-01"}, "Choose today or a later day."),
        ({"competence_id": str(comp["office"])}, "Choose one of the competences"),
        ({"course_id": "999999"}, None),
    ]:
        refused = submit(manager, page, page + "/items", **fields)
        if message is None:
            assert refused.status_code == 404
            continue
        assert refused.status_code == 422, fields
        assert message in refused.get_data(as_text=True)

    learner_view = get(browser, PLAN)
    assert "Other activities from your manager" in learner_view
    assert "Office-E (en)" in learner_view and "added by Demo Enhetsleder" in learner_view
    assert "Your manager asks you to close this gap" in learner_view
    assert "due Apr 14, 2027" in learner_view

    # the manager confirms the e-learning completed: high confidence, named
    confirmed = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
    assert confirmed.status_code == 302
    assert [(s, conf, lvl) for _c, s, conf, lvl, _d in evidence(app, learner)] == [
        ("instructor_confirmed", "high", 3)
    ]
    assert evidence(app, learner)[0][4]["confirmed_by"] == "Demo Enhetsleder"
    with app.app_context():  # the inspection trail: who confirmed whose completion
        confirmed_event = (
            get_session().scalars(select(AuditEvent).where(AuditEvent.action == "confirm")).one()
        )
        assert confirmed_event.object_type == "course_completion"
        assert confirmed_event.object_id == str(courses["med_e"])
        assert confirmed_event.actor_person_id == person_id(app, MANAGER)
        concerned = get_session().scalars(
            select(AuditEventPerson.person_id).where(
                AuditEventPerson.event_id == confirmed_event.id
            )
        )
        assert list(concerned) == [learner]
    html = get(manager, page)
    assert "Confirmed by an instructor or manager" in html and "high confidence" in html
    trail = get(manager, f"/manager/people/{learner}/competences/{med}")
    assert "Confirmed by an instructor or manager (legemidler-e)" in trail
    assert "confirmed by Demo Enhetsleder" in trail and "high confidence" in trail
    assert (courses["med_e"], med, "done", "manager") in items(app, learner)
    # confirming the same again writes nothing
    again = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
    assert again.status_code == 422
    assert "This completion is confirmed already." in again.get_data(as_text=True)
    assert len(evidence(app, learner)) == 1
    # two years on the confirmation has run out (medicines are renewed every 24 months):
    # the activity is due again, and confirming it is no repetition
    with pytest.MonkeyPatch.context() as later:
        later.setattr("lti_tool.clock.now", lambda: NOW + 740 * DAY)
        renewed = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
        assert renewed.status_code == 302, renewed.get_data(as_text=True)
    assert len(evidence(app, learner)) == 2


def test_only_managers_of_the_persons_unit_and_admins_reach_the_plan(app, lms, offers, frozen):
    org, courses = offers["organisation_id"], offers["courses"]
    nurse(app, lms)
    learner = person_id(app, LEARNER)
    page = f"/manager/people/{learner}/plan"
    elsewhere = browser_of(app, lms, "designer")  # manages the nursing home only
    grant_manager(app, org, "102", offers["units"]["sykehjemmet"])
    get(elsewhere, page, expect=404)
    token = csrf_token(get(elsewhere, f"/designer/courses/{courses['med_e']}"))
    for action, data in [
        ("/items", {"course_id": str(courses["med_e"])}),
        ("/due", {"entry": key(courses["med_e"], offers["competences"]["legemidler"])}),
        ("/confirm", {"course_id": str(courses["med_e"])}),
    ]:
        refused = elsewhere.post(page + action, data={"csrf_token": token, **data})
        assert refused.status_code == 404, action
    assert items(app, learner) == [] and evidence(app, learner) == []
    # an LMS-role manager manages no unit until one is granted; a learner is no manager
    get(browser_of(app, lms, "manager"), page, expect=404)
    get(browser_of(app, lms, "learner2"), page, expect=403)
    # an admin of the organisation reaches everyone of it, and no one of another
    admin = browser_of(app, lms, "admin")
    assert "Learning plan of Demo Ansatt" in get(admin, page)
    with app.app_context():
        other = Organisation(name="Annenkommune")
        get_session().add(other)
        get_session().flush()
        stranger = add_person(other.id, "Frida Gran", None, [])
        get_session().commit()
    get(admin, f"/manager/people/{stranger}/plan", expect=404)
    # what a manager saw is in the audit log, naming the person
    with app.app_context():
        seen = (
            get_session()
            .scalars(
                select(AuditEventPerson.person_id)
                .join(AuditEvent, AuditEvent.id == AuditEventPerson.event_id)
                .where(AuditEvent.object_type == "learning_plan")
            )
            .all()
        )
        assert seen == [learner]


def test_an_instructor_confirms_completion_for_several_people(app, lms, offers, frozen):
    comp, courses = offers["competences"], offers["courses"]
    nurse(app, lms)
    nurse(app, lms, "learner2")
    people = [person_id(app, LEARNER), person_id(app, "104")]
    teacher = TestLms.browser(app)
    lms.launch(teacher, "designer", locale="en")
    page = f"/designer/courses/{courses['med_class']}"
    refused = submit(teacher, page, page + "/completions", person_ids=[])
    assert refused.status_code == 422
    assert "Choose at least one person." in refused.get_data(as_text=True)
    done = submit(teacher, page, page + "/completions", person_ids=[str(p) for p in people])
    assert done.status_code == 302, done.get_data(as_text=True)
    for person in people:
        assert sorted((c, s, conf, lvl) for c, s, conf, lvl, _d in evidence(app, person)) == [
            (comp["legemidler"], "instructor_confirmed", "high", 4),
            (comp["personvern"], "instructor_confirmed", "high", 2),
        ]
    # the same again changes nothing: refused, nothing written; a newcomer alone is written
    again = submit(teacher, page, page + "/completions", person_ids=[str(p) for p in people])
    assert again.status_code == 422
    assert "This completion is confirmed already." in again.get_data(as_text=True)
    nurse(app, lms, "learner3")
    newcomer = person_id(app, "105")
    both = [str(p) for p in [*people, newcomer]]
    assert submit(teacher, page, page + "/completions", person_ids=both).status_code == 302
    assert [len(evidence(app, p)) for p in [*people, newcomer]] == [2, 2, 2]


# --- the cost ----------------------------------------------------------------------------------


def test_the_page_and_the_api_cost_the_same_however_large_the_plan(app, lms, offers, frozen):
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    small, large = nurse(app, lms, "learner2"), nurse(app, lms)
    with app.app_context():  # a third framework and role: many more requirements and offers
        extra = content.framework(org, "it", "IT", {f"it{i}": f"IT {i}" for i in range(12)})
        content.job_role(org, "it-bruker", "IT-bruker", [(c, 2, True, 12) for c in extra.values()])
        for i, competence in enumerate(extra.values()):
            kind = CourseKind.CLASSROOM if i % 2 else CourseKind.ELEARNING
            course = _course(org, f"it-kurs-{i}", {competence: 3}, kind=kind)
            if kind == CourseKind.CLASSROOM:
                _session(org, course, NOW + (i + 5) * DAY)
        get_session().commit()
    launch(lms, large, job_role="sykepleier,helsefagarbeider,it-bruker", unit="hjemmetjenesten")
    learner = person_id(app, LEARNER)
    with app.app_context():
        add_evidence(org, learner, comp["legemidler"], 1, NOW - DAY)
        get_session().commit()
    for entry, answer in [
        (key(courses["med_e"], comp["legemidler"]), "accepted"),
        (key(courses["office_e"], comp["office"]), "accepted"),
    ]:
        assert submit(large, PLAN, "/learner/plan/answer", entry, answer=answer).status_code == 302
    counts = []
    for browser in (small, large):
        get(browser, PLAN)
        with statements_run(app) as run:
            html = get(browser, PLAN)
        counts.append(len(run))
    assert "IT 11 (en)" in html and "Office-E (en)" in html
    assert "0 of 15 requirements met" in html
    assert counts[0] == counts[1], counts
    assert counts[1] <= 22, counts


def _numbers(parameters: Any) -> set[int]:
    """The whole numbers a statement was given, however the driver takes them."""
    values = parameters.values() if isinstance(parameters, dict) else parameters
    found: set[int] = set()
    for value in values:
        found.update(_numbers(value) if isinstance(value, list | tuple) else {value})
    return {v for v in found if isinstance(v, int)}


def test_the_plan_reads_the_requirements_of_the_persons_own_job_roles_only(
    app, lms, offers, frozen
):
    """A municipality has hundreds of job roles; a person's plan stands on their own."""
    browser = nurse(app, lms)
    org = offers["organisation_id"]
    with app.app_context():
        extra = content.framework(org, "it", "IT", {f"it{i}": f"IT {i}" for i in range(12)})
        other = content.job_role(
            org, "it-bruker", "IT-bruker", [(c, 2, True, 12) for c in extra.values()]
        )
        get_session().commit()
    engine = app.extensions["db_engine"]
    asked: list[tuple[str, set[int]]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "FROM requirement" in statement:
            asked.append((statement, _numbers(parameters)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        html = get(browser, PLAN)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert "IT 1" not in html
    assert asked, "the page read no requirements"
    with app.app_context():
        mine = set(
            get_session().scalars(
                select(JobRoleAssignment.job_role_id).where(
                    JobRoleAssignment.person_id == person_id(app, LEARNER)
                )
            )
        )
    restricted = ("job_role.id IN (", "job_role.id = ANY (")
    for statement, numbers in asked:
        assert any(r in statement for r in restricted), statement
        assert mine <= numbers and other not in numbers, (mine, other, numbers)


# --- the API -----------------------------------------------------------------------------------


def test_the_api_gives_the_plan_to_the_person_their_manager_admins_and_tokens(
    app, lms, offers, frozen, api, new_token, other_org
):
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    with app.app_context():
        add_evidence(org, learner, comp["personvern"], 2, NOW - 30 * DAY, valid_until=NOW - DAY)
        get_session().commit()
    entry = key(courses["privacy_e"], comp["personvern"])
    submit(browser, PLAN, "/learner/plan/answer", entry, answer="declined", reason="Tatt før")
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, MANAGER, offers["units"]["hjemmetjenesten"])
    page = f"/manager/people/{learner}/plan"
    due = (NOW + 30 * DAY).date().isoformat()
    submit(manager, page, page + "/due", key(courses["med_e"], comp["legemidler"]), due_on=due)

    path = f"/people/{learner}/plan"
    answer = api.call("get", path, new_token("Testkommune", "read"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    plan = answer.get_json()
    assert plan["person_id"] == learner and plan["name"] == "Demo Ansatt"
    assert plan["progress"] == {"met": 0, "total": 2, "percent": 0}
    privacy, medicines = plan["lines"]  # the most urgent first
    assert (privacy["code"], privacy["status"]) == ("personvern", "expired")
    assert (privacy["required_level"], privacy["current_level"]) == (2, 2)
    assert privacy["held_by"]["source"] == "knowledge_test"
    assert privacy["held_by"]["confidence"] == "medium"
    declined = next(i for i in privacy["items"] if i["key"] == entry)
    assert declined["state"] == "declined" and declined["decline_reason"] == "Tatt før"
    assert declined["activity"]["code"] == "personvern-e"
    assert (medicines["status"], medicines["current_level"]) == ("never_assessed", None)
    by_code = {i["activity"]["code"]: i for i in medicines["items"]}
    assert by_code["legemidler-e"]["due_on"] == due
    assert by_code["legemidler-e"]["source"] == "manager"
    assert by_code["legemidler-e"]["added_by"] == "Demo Enhetsleder"
    assert by_code["legemidler-e"]["state"] == "suggested"
    assert by_code["legemidler-kurs"]["activity"]["kind"] == "classroom"
    assert [s["place"] for s in by_code["legemidler-kurs"]["sessions"]] == [
        "Rådhuset, sal 2",
        "Sykehjemmet, møterom",
    ]
    assert plan["other_items"] == []

    # the person themself, through their launch; their manager; an admin
    # (in the language the token's answer has: the browser chose English on a page)
    assert browser.get("/api/v1" + path, query_string={"lang": "nb"}).get_json() == plan
    assert manager.get("/api/v1" + path).status_code == 200
    assert browser_of(app, lms, "admin").get("/api/v1" + path).status_code == 200
    # another learner is refused; a manager of another unit does not find them
    assert browser_of(app, lms, "learner2").get("/api/v1" + path).status_code == 403
    elsewhere = browser_of(app, lms, "designer")
    grant_manager(app, org, "102", offers["units"]["sykehjemmet"])
    assert elsewhere.get("/api/v1" + path).status_code == 404
    # another organisation's token does not find them; no credentials at all: 401
    assert api.call("get", path, new_token(other_org, "read")).status_code == 404
    assert api.call("get", path, None).status_code == 401
    assert api.call("get", "/people/999999/plan", new_token()).status_code == 404

    spec = api.call("get", "/openapi.json", None).get_json()
    operation = spec["paths"]["/api/v1/people/{person_id}/plan"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PlanOut"
    }
    assert {"PlanLineOut", "PlanEntryOut", "HeldByOut"} <= set(spec["components"]["schemas"])


def test_the_apis_sessions_carry_the_persons_own_booking(app, lms, offers, frozen, api, new_token):
    org, courses = offers["organisation_id"], offers["courses"]
    browser = nurse(app, lms)
    other = browser_of(app, lms, "learner2")
    learner = person_id(app, LEARNER)
    with app.app_context():
        first, second = get_session().scalars(
            select(CourseSession)
            .where(
                CourseSession.course_id == courses["med_class"],
                CourseSession.cancelled_at.is_(None),
                CourseSession.starts_at > NOW,
            )
            .order_by(CourseSession.starts_at)
        )
        first.capacity = 1
        first_id, second_id = first.id, second.id
        never = _session(org, courses["med_class"], NOW + 40 * DAY)
        get_session().commit()
    assert book(other, first_id).status_code == 302  # the only seat
    assert book(browser, second_id).status_code == 302
    assert cancel(browser, second_id).status_code == 302  # one session of an activity at once
    assert book(browser, first_id).status_code == 302  # the waitlist

    def sessions() -> dict[int, Any]:
        answer = api.call("get", f"/people/{learner}/plan", new_token("Testkommune", "read"))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        (medicines,) = [line for line in answer.get_json()["lines"] if line["code"] == "legemidler"]
        (course,) = [i for i in medicines["items"] if i["activity"]["id"] == courses["med_class"]]
        return {s["id"]: s["booking"] for s in course["sessions"]}

    assert sessions() == {
        first_id: {"status": "waitlisted", "waitlist_position": 1},
        second_id: {"status": "cancelled", "waitlist_position": None},
        never: None,  # never booked
    }
    assert cancel(other, first_id).status_code == 302  # the learner moves up
    assert sessions()[first_id] == {"status": "booked", "waitlist_position": None}

    spec = api.call("get", "/openapi.json", None).get_json()["components"]["schemas"]
    booking = spec["PlanSessionOut"]["properties"]["booking"]
    assert "PlanBookingOut" in str(booking)
    assert spec["PlanBookingOut"]["properties"]["status"]["enum"] == [
        "booked",
        "waitlisted",
        "cancelled",
    ]


def test_the_api_costs_the_same_however_large_the_plan(app, lms, offers, frozen, api, new_token):
    org, comp = offers["organisation_id"], offers["competences"]
    nurse(app, lms, "learner2")
    large = nurse(app, lms)
    with app.app_context():
        extra = content.framework(org, "it", "IT", {f"it{i}": f"IT {i}" for i in range(10)})
        content.job_role(org, "it-bruker", "IT-bruker", [(c, 2, True, 12) for c in extra.values()])
        for i, competence in enumerate(extra.values()):
            course = _course(org, f"it-kurs-{i}", {competence: 3}, kind=CourseKind.CLASSROOM)
            _session(org, course, NOW + (i + 5) * DAY)
        add_evidence(org, person_id(app, LEARNER), comp["legemidler"], 1, NOW - DAY)
        get_session().commit()
    launch(lms, large, job_role="sykepleier,helsefagarbeider,it-bruker", unit="hjemmetjenesten")
    token = new_token("Testkommune", "read")
    counts = []
    for sub in ("104", LEARNER):
        path = f"/people/{person_id(app, sub)}/plan"
        assert api.call("get", path, token).status_code == 200
        with statements_run(app) as run:
            answer = api.call("get", path, token)
        counts.append(len(run))
    assert len(answer.get_json()["lines"]) == 13
    assert counts[0] == counts[1], counts


# --- e-learning placed in the LMS: its gradebook column is evidence ---------------------------


def place_activity(app: Any, lms: TestLms, gradebook: FakeGradebook, course_id: int) -> tuple:
    """The designer places the activity by deep linking; its link's id and column."""
    return place(app, lms, gradebook, f"activity:{course_id}")


def read_results(app: Any, now: dt.datetime = NOW) -> ReadCounts:
    """One pass of the worker over the results launches asked for."""
    with app.app_context():
        return read_due_results(app.extensions["db_sessionmaker"], lti_services(), now)


def requests_queued(app: Any) -> list[tuple[int, int, int]]:
    with app.app_context():
        rows = get_session().scalars(select(ResultRead).order_by(ResultRead.id))
        return [(r.person_id, r.course_id, r.tries) for r in rows]


def test_a_placed_e_learning_activity_reads_its_column_as_lms_evidence(
    app, lms, offers, gradebook, frozen, cli
):
    comp, courses = offers["competences"], offers["courses"]
    med = comp["legemidler"]
    link_id, lineitem = place_activity(app, lms, gradebook, courses["med_e"])
    assert lms.platform.links[link_id].custom == {"activity": "legemidler-e"}
    (column,) = [i for i in gradebook.line_items.values() if i["id"] == lineitem]
    assert column["resourceId"] == "activity:legemidler-e"
    assert column["tag"] == "laeringslop-activity"
    with app.app_context():
        course = get_session().get(Course, courses["med_e"])
        assert course.placed_context_title == "Informasjonssikkerhet for ansatte"
        assert course.placed_context_id == "2" and course.placed_at == NOW

    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    opened = lms.launch(browser, "learner", link=link_id, locale="en")
    assert TestLms.landed(opened)
    assert TestLms.landing_path(opened) == "/learner/activities/placed/legemidler-e"
    landing = lms.landing_page(browser, opened)
    assert "<h1>Legemidler-E (en)</h1>" in landing.get_data(as_text=True)
    assert read_results(app).read == 1
    assert evidence(app, learner) == []  # no grade in the column yet
    assert requests_queued(app) == []  # read: the request is done

    gradebook.grade(lineitem, LEARNER, 40)  # below half: not completed
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    assert read_results(app).read == 1
    assert evidence(app, learner) == []

    gradebook.grade(lineitem, LEARNER, 85, timestamp="2027-03-15T09:00:00+01:00")
    for _ in range(2):  # read after each launch, recorded once
        assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
        assert cli("worker", "--once").output.splitlines()[-1].startswith("results read=1")
    recorded = evidence(app, learner)
    assert [(c, s, conf, lvl) for c, s, conf, lvl, _d in recorded] == [
        (med, "lms_score", "medium", 3)
    ]
    assert recorded[0][4]["lms_score"] == 85.0
    assert gradebook.calls("GET", "/results")
    assert all("user_id=101" in url for _m, url, _s in gradebook.calls("GET", "/results"))
    html = get(browser, PLAN)
    met = section(html, "met-title")
    assert "Legemiddelhåndtering (en)" in met and "Score in the LMS" in met
    assert "medium confidence" in met


def test_the_launch_asks_the_lms_nothing_and_costs_the_same_whatever_the_lms_holds(
    app, lms, offers, gradebook, frozen, monkeypatch
):
    """The launch holds the person's and deployment's rows locked: the LMS is read after it."""
    # The database state store sweeps old logins now and then (1 in 50): not in a count.
    monkeypatch.setattr("lti_tool.lti.state.random.randrange", lambda n: 1)
    link_id, lineitem = place_activity(app, lms, gradebook, offers["courses"]["med_e"])
    browser = nurse(app, lms)
    costs = []
    for score in (None, 30, 90):
        if score is not None:
            gradebook.grade(lineitem, LEARNER, score)
        asked = len(gradebook.requests)
        with statements_run(app) as run:
            assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
        assert len(gradebook.requests) == asked  # no HTTP call in the launch
        costs.append(len(run))
        learner = person_id(app, LEARNER)
        assert requests_queued(app) == [(learner, offers["courses"]["med_e"], 0)]
    assert costs[1] == costs[2]  # the first launch also made the person
    assert evidence(app, learner) == []  # nothing before the worker
    assert read_results(app).recorded == 1
    assert len(evidence(app, learner)) == 1


def test_the_lms_down_is_read_again_later_and_nothing_is_lost(
    app, lms, offers, gradebook, frozen, caplog
):
    caplog.set_level(logging.INFO, logger="lti_tool.services.result_reads")
    courses = offers["courses"]
    link_id, lineitem = place_activity(app, lms, gradebook, courses["med_e"])
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    gradebook.grade(lineitem, LEARNER, 100)
    gradebook.down = 503
    opened = lms.launch(browser, "learner", link=link_id)
    assert TestLms.landed(opened)  # the launch lands whatever the LMS does
    assert TestLms.landing_path(opened) == "/learner/activities/placed/legemidler-e"
    counts = read_results(app)
    assert (counts.read, counts.retrying) == (0, 1)
    assert "try 1 failed, again at" in caplog.text  # operations sees it before it gives up
    assert evidence(app, learner) == []
    assert requests_queued(app) == [(learner, courses["med_e"], 1)]
    assert read_results(app).handled == 0  # not due again before its backoff

    gradebook.down = None
    later = NOW + dt.timedelta(hours=2)
    assert read_results(app, later).recorded == 1
    assert len(evidence(app, learner)) == 1
    assert requests_queued(app) == []

    # a launch without result.readonly asks nothing
    lms.platform.links[link_id].lineitem = None
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    assert requests_queued(app) == []


def test_a_read_the_platform_refuses_waits_failed_for_the_admin_to_retry(
    app, lms, offers, gradebook, frozen
):
    """Failed reads are shown beside the failed scores (/admin/deliveries), with their tries
    and last error, and read again from there once the LMS is mended."""
    link_id, lineitem = place_activity(app, lms, gradebook, offers["courses"]["med_e"])
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    gradebook.grade(lineitem, LEARNER, 100)
    gradebook.down = 403
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    assert read_results(app).failed == 1
    assert requests_queued(app) == [(learner, offers["courses"]["med_e"], 1)]  # kept, failed
    assert read_results(app, NOW + 30 * DAY).handled == 0  # and not read again by itself
    assert evidence(app, learner) == []

    admin = browser_of(app, lms, "admin")
    page = get(admin, "/admin/deliveries")
    (shown,) = table_rows(page, "Results the tool could not read")
    assert "Demo Ansatt" in shown["Person"] and "Legemidler-E (en)" in shown["Activity"]
    assert (shown["Tries"], shown["Status code"]) == ("1", "403")
    assert "403" in shown["Error"]
    assert get(browser_of(app, lms, "learner2"), "/admin/deliveries", 403)

    token = csrf_token(page)
    gradebook.down = None  # mended in the LMS: the admin reads it again
    with app.app_context():
        read_id = get_session().scalars(select(ResultRead.id)).one()
    retried = submit(admin, "/admin/deliveries", f"/admin/deliveries/reads/{read_id}/retry")
    assert retried.status_code == 302
    assert "The result will be read again shortly." in get(admin, retried.headers["Location"])
    assert read_results(app).recorded == 1
    assert requests_queued(app) == [] and len(evidence(app, learner)) == 1
    page = get(admin, "/admin/deliveries")
    assert "No failed reads." in page
    gone = admin.post(f"/admin/deliveries/reads/{read_id}/retry", data={"csrf_token": token})
    assert gone.status_code == 404


def test_a_platform_unreachable_for_too_long_fails_the_read_and_a_launch_asks_again(
    app, lms, offers, gradebook, frozen
):
    link_id, lineitem = place_activity(app, lms, gradebook, offers["courses"]["med_e"])
    browser = nurse(app, lms)
    gradebook.grade(lineitem, LEARNER, 100)
    gradebook.down = 503
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    assert read_results(app).retrying == 1
    admin = browser_of(app, lms, "admin")
    page = get(admin, "/admin/deliveries")
    (waiting,) = table_rows(page, "Results waiting to be read again")
    assert waiting["Tries"] == "1" and "HTTP 503" in waiting["Last error"]
    with app.app_context():
        read_id = get_session().scalars(select(ResultRead.id)).one()
    early = admin.post(
        f"/admin/deliveries/reads/{read_id}/retry?lang=en",
        data={"csrf_token": csrf_token(get(admin, "/admin/grants"))},
    )
    assert "Reading the result has not failed" in get(admin, early.headers["Location"])
    hours = lti_services_of(app).settings.SCORE_RETRY_FOR_HOURS
    assert read_results(app, NOW + dt.timedelta(hours=hours + 1)).failed == 1
    (failed,) = table_rows(get(admin, "/admin/deliveries"), "Results the tool could not read")
    assert failed["Tries"] == "2" and failed["Status code"] == "503"
    # the person opens the activity again: it is asked for afresh
    gradebook.down = None
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    assert requests_queued(app) == [(person_id(app, LEARNER), offers["courses"]["med_e"], 0)]
    assert read_results(app).recorded == 1


def test_two_reads_of_the_same_result_record_it_once(app, lms, offers, gradebook, frozen):
    """A worker slower than its lease: another takes the request over and records the
    result; the first, reading the same result, records nothing more."""
    link_id, lineitem = place_activity(app, lms, gradebook, offers["courses"]["med_e"])
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    gradebook.grade(lineitem, LEARNER, 90)
    assert TestLms.landed(lms.launch(browser, "learner", link=link_id))
    second: list[ReadCounts] = []
    with app.app_context():
        services = lti_services()
        past_lease = NOW + dt.timedelta(seconds=services.settings.SCORE_LEASE_SECONDS + 1)

    class SlowClient(ags.AgsClient):
        def get_results(self, *args: Any, **kwargs: Any) -> Any:
            found = super().get_results(*args, **kwargs)
            if not second:  # its lease ran out meanwhile: another worker reads it too
                second.append(read_results(app, past_lease))
            return found

    with app.app_context():
        first = read_due_results(
            app.extensions["db_sessionmaker"],
            services,
            NOW,
            client=SlowClient.from_services(services),
        )
    assert (second[0].read, second[0].recorded) == (1, 1)
    assert (first.read, first.recorded) == (1, 0)
    assert len(evidence(app, learner)) == 1
    assert requests_queued(app) == []


def _three_reads(app: Any, lms: TestLms, gradebook: FakeGradebook, course_id: int) -> list[int]:
    """Three people open a placed activity: a result to read each, oldest first."""
    link_id, _ = place_activity(app, lms, gradebook, course_id)
    for sub in ("301", "302", "303"):
        change = {"sub": sub, "name": f"Person {sub}", "email": f"p{sub}@example.org"}
        response = lms.signed_launch(TestLms.browser(app), "learner", change=change, link=link_id)
        assert TestLms.landed(response)
    with app.app_context():
        return list(get_session().scalars(select(ResultRead.id).order_by(ResultRead.id)))


def test_workers_claiming_reads_at_once_take_different_ones(app, lms, offers, gradebook, frozen):
    first, *rest = _three_reads(app, lms, gradebook, offers["courses"]["med_e"])
    assert claimed_at_once(app, READS, NOW) == ([first], rest)


def test_a_worker_told_to_stop_releases_the_reads_it_has_not_made(
    app, lms, offers, gradebook, frozen
):
    """Stopped (SIGTERM) while it reads the first of its claim: it records that one and
    gives the others back, due at once for another worker (not after its lease)."""
    first, *rest = _three_reads(app, lms, gradebook, offers["courses"]["med_e"])
    told = threading.Event()

    class StoppedWhileReading(ags.AgsClient):
        def get_results(self, *args: Any, **kwargs: Any) -> Any:
            told.set()
            return super().get_results(*args, **kwargs)

    with app.app_context():
        services = lti_services()
        counts = read_due_results(
            app.extensions["db_sessionmaker"],
            services,
            NOW,
            client=StoppedWhileReading.from_services(services),
            stop=told.is_set,
        )
        assert counts.read == 1
        rows = get_session().execute(select(ResultRead.id, ResultRead.locked_until))
        leases = {row.id: row.locked_until for row in rows}
    assert first not in leases  # read and done
    assert leases == dict.fromkeys(rest)
    assert read_results(app).read == 2
    assert requests_queued(app) == []


def test_two_workers_recording_the_same_result_at_once_record_it_once(app, lms, offers):
    """The second waits for the person's row, locked by the first, then finds the evidence
    the first wrote: one evidence."""
    from lti_tool.services import plans

    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    org, course = offers["organisation_id"], offers["courses"]["med_e"]
    nurse(app, lms)
    learner = person_id(app, LEARNER)
    result = ags.Result(user_id=LEARNER, score=9, maximum=10, timestamp=NOW)
    recorded, release = threading.Event(), threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def record(hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                found = plans.record_activity_result(session, org, learner, course, result, NOW)
                written.append(len(found))
                if hold:
                    recorded.set()
                    release.wait(5)
                session.commit()
            except BaseException as exc:
                errors.append(exc)
            finally:
                session.close()

    one = threading.Thread(target=record, args=(True,))
    one.start()
    assert recorded.wait(10)
    two = threading.Thread(target=record, args=(False,))
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting for the person's row
    release.set()
    one.join(10)
    two.join(10)
    assert errors == []
    assert written == [1, 0]
    assert len(evidence(app, learner)) == 1


def test_the_picker_offers_e_learning_only_and_refuses_a_classroom_course(app, lms, offers):
    from lti_tool.lti import claims as c

    courses = offers["courses"]
    browser = TestLms.browser(app)
    opened = lms.launch(browser, "designer", message_type=c.DEEP_LINKING_REQUEST, locale="en")
    html = lms.landing_page(browser, opened).get_data(as_text=True)
    assert f'value="activity:{courses["med_e"]}"' in html
    assert f'value="activity:{courses["med_class"]}"' not in html
    form = next(f for f in parse_forms(html) if f["method"] == "post")
    data = {"csrf_token": form["fields"]["csrf_token"], "item": f"activity:{courses['med_class']}"}
    refused = browser.post(form["action"], data=data)
    assert refused.status_code == 422
    assert "Choose among the e-learning activities shown." in refused.get_data(as_text=True)
    with app.app_context():
        assert get_session().get(Course, courses["med_class"]).placed_at is None


def test_the_stored_items_keep_their_source(app, lms, offers, frozen):
    """A person's answers to a manager's item keep it the manager's."""
    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, MANAGER, offers["units"]["hjemmetjenesten"])
    page = f"/manager/people/{learner}/plan"
    submit(manager, page, page + "/items", course_id=str(courses["med_e"]))
    entry = key(courses["med_e"], comp["legemidler"])
    submit(browser, PLAN, "/learner/plan/answer", entry, answer="accepted")
    with app.app_context():
        (row,) = get_session().scalars(select(PlanItem)).all()
        assert (row.state, row.source) == (PlanItemState.ACCEPTED, PlanItemSource.MANAGER)


def lti_services_of(app: Any) -> Any:
    with app.app_context():
        return lti_services()


def test_a_level_held_by_the_persons_own_word_says_so_to_the_manager_until_confirmed(
    app, lms, offers, frozen, cli
):
    """A self-reported course meets the requirement by the matrix's rule, but a unit
    manager documenting the unit sees, on the page and in every export, that no test,
    instructor or LMS has confirmed it; the manager's confirmation takes the mark away."""
    from tests.functional.test_unit_exports import about_sheet, pdf_text, read_csv
    from tests.functional.test_unit_matrix import cell_html

    org, comp, courses = offers["organisation_id"], offers["competences"], offers["courses"]
    med, home = comp["legemidler"], offers["units"]["hjemmetjenesten"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    assert (
        submit(browser, PLAN, "/learner/plan/done", key(courses["med_e"], med)).status_code == 302
    )
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, MANAGER, home)
    matrix = f"/manager/units/{home}/matrix"
    token = cli("api-token", "create", "--organisation", "Testkommune", "--scope", "read")
    api = {"Authorization": f"Bearer {token.stdout.strip().splitlines()[-1]}"}

    def shown() -> dict[str, Any]:
        html = get(manager, matrix)
        cell = cell_html(html, "Demo Ansatt", "Legemiddelhåndtering (en)")
        lines = read_csv(manager.get(f"/manager/units/{home}/export.csv?lang=en"))
        (line,) = [r for r in lines if r["Competence code"] == "legemidler"]
        body = app.test_client().get(f"/api/v1/units/{home}/coverage", headers=api).get_json()
        (row,) = body["people"]
        (api_cell,) = [c for c in row["cells"] if c["competence_id"] == med]
        about = about_sheet(manager.get(f"/manager/units/{home}/export.xlsx?lang=en"))
        pdf = pdf_text(manager.get(f"/manager/units/{home}/export.pdf?lang=en"))
        code = pdf.split("Verification code: ")[1].split()[0]
        verified = app.test_client().get(f"/verify/{code}?format=json").get_json()
        return {
            "cell": cell,
            "summary": "rests only on the employee's own word" in html,
            "csv": (line["Status code"], line["Own word only"]),
            "api": (api_cell["status"], api_cell["own_word"], body["own_word"]),
            "xlsx": about["Held today, by the person's own word only"],
            "pdf": ("Met (own word only)" in pdf, verified["own_word"]),
            "trail": get(manager, f"/manager/people/{learner}/competences/{med}"),
        }

    said = shown()
    assert "✓ 3/3 self</span>" in said["cell"]  # seen, and read out
    assert (
        "Met, level 3, level 3 required, ends Mar 15, 2029, by the employee's own word only"
        in (said["cell"])
    )
    assert said["summary"]
    assert said["csv"] == ("met", "Yes")
    assert said["api"] == ("met", True, 1)
    assert said["xlsx"] == "1" and said["pdf"] == (True, 1)
    assert "The level rests only on the person's own word" in said["trail"]

    page = f"/manager/people/{learner}/plan"
    confirmed = submit(manager, page, page + "/confirm", course_id=str(courses["med_e"]))
    assert confirmed.status_code == 302
    said = shown()
    assert "✓ 3/3</span>" in said["cell"] and "own word" not in said["cell"]
    assert not said["summary"]
    assert said["csv"] == ("met", "No")
    assert said["api"] == ("met", False, 0)
    assert said["xlsx"] == "0" and said["pdf"] == (False, 0)
    assert "The level rests only on the person's own word" not in said["trail"]


def test_a_classroom_course_with_a_seat_to_come_is_not_reported_done(app, lms, offers, frozen):
    """ "I have done this" for a course whose booked session is still to come would meet
    the requirement before the person sat in it (and take the course out of the plan):
    it is not offered, and refused; the attendance will count. A cancelled seat brings
    the button back."""
    courses, med = offers["courses"], offers["competences"]["legemidler"]
    browser = nurse(app, lms)
    learner = person_id(app, LEARNER)
    first = upcoming_sessions(app, courses["med_class"])[0]
    entry = key(courses["med_class"], med)
    told = "You have a seat in a session still to come: your attendance there will count."
    assert book(browser, first).status_code == 302
    page = get(browser, PLAN)
    block = page[page.index(f'id="plan-{entry}"') :]
    block = block[: block.index('id="plan-', 10)] if 'id="plan-' in block[10:] else block
    assert told in block and "I have done this" not in block
    activity = get(browser, f"/learner/activities/{courses['med_class']}")
    assert told in activity and "I have done this" not in activity
    refused = browser.post(
        PLAN + "/done?lang=en", data={"csrf_token": csrf_token(page), "entry": entry}
    )
    assert refused.status_code == 422 and told in refused.get_data(as_text=True)
    assert evidence(app, learner) == []

    assert cancel(browser, first).status_code == 302
    assert "I have done this" in get(browser, f"/learner/activities/{courses['med_class']}")
    assert submit(browser, PLAN, "/learner/plan/done", entry).status_code == 302
