"""No empty gradebook cell for what a person already achieved, and the grade the LMS gets.

A learner who earned a certificate, or submitted a mapping, before the course's link to it
existed gets the grade on their first launch of the link (once, however often they
launch); a mapping gives the highest attempt or the latest, as its designer chose; the
gradebook comment names the mapping or certification by its title in the person's
language. Real signed launches from the test LMS; the gradebook is a fake Moodle.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select, text

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import (
    Certificate,
    DeliveryStatus,
    Launch,
    Mapping,
    ScoreDelivery,
)
from lti_tool.services import gradebook as grades
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms, page_address
from tests.fakes.mappings import designer_browser, post_form
from tests.functional.test_certification_flow import earn
from tests.functional.test_mapping_flow import NURSE_HALF, NURSE_RIGHT, build_mapping, deliver
from tests.functional.token_browsing import launch_id_of
from tests.statements import statements_run

LEARNER = "101"
CODE = "sykepleier-kartlegging"
TITLES = {
    "title_nb": "Kartlegging for sykepleiere",
    "title_nn": "Kartlegging for sjukepleiarar",
    "title_en": "Skills mapping for nurses",
}


def place(app: Any, lms: TestLms, gradebook: FakeGradebook, choice: str) -> tuple[str, str]:
    """The designer places ``choice`` by deep linking; the LMS makes its column. Returns
    the link's id and its line item's URL."""

    def column(line_item: dict[str, Any]) -> str:
        return gradebook.add_line_item(
            line_item["label"],
            line_item["scoreMaximum"],
            resource_id=line_item["resourceId"],
            tag=line_item["tag"],
        )

    (link_id,), _message = lms.deep_link(designer_browser(app, lms), [choice], lineitem_for=column)
    lineitem = lms.platform.links[link_id].lineitem
    assert lineitem and "type_id=1" in lineitem
    return link_id, lineitem


def launch_link(
    app: Any, lms: TestLms, link_id: str, locale: str = "en", persona: str = "learner"
) -> str:
    """The person opens the course's link; the id of the Launch row it made."""
    response = lms.launch(TestLms.browser(app), persona, link=link_id, locale=locale)
    assert TestLms.landed(response), response.get_data(as_text=True)
    return _launch_id(app, response)


def _launch_id(app: Any, response: Any) -> str:
    return launch_id_of(app, response)


def take_without_grades(app: Any, lms: TestLms, answers: dict[str, Any]) -> None:
    """Take the mapping from a link the teacher added by hand (custom mapping=…), in a
    course that accepts no grades: no AGS claim, no score."""
    from tests.functional.test_certification_flow import _answer_all

    browser = TestLms.browser(app)
    response = lms.signed_launch(browser, "learner", change={c.CUSTOM: {"mapping": CODE}})
    _answer_all(browser, TestLms.landing_path(response), answers)


def take_from_link(app: Any, lms: TestLms, link_id: str, answers: dict[str, Any]) -> None:
    from tests.functional.test_certification_flow import _answer_all

    browser = TestLms.browser(app)
    response = lms.launch(browser, "learner", link=link_id, locale="en")
    assert TestLms.landed(response), response.get_data(as_text=True)
    _answer_all(browser, TestLms.landing_path(response), answers)


def scores(app: Any) -> list[dict[str, Any]]:
    """Every score queued, oldest first: what was sent or is waiting to be."""
    with app.app_context():
        rows = get_session().scalars(select(ScoreDelivery).order_by(ScoreDelivery.id))
        return [{**r.score, "status": r.status, "lineitem": r.lineitem_url} for r in rows]


def mapping_settings(app: Any, lms: TestLms, mapping_id: int, **fields: str) -> Any:
    """The designer saves the mapping's settings form."""
    values = {"code": CODE, **TITLES, "selection": "fixed", "pass_percentage": "50", **fields}
    return post_form(
        designer_browser(app, lms),
        f"/designer/mappings/{mapping_id}",
        f"/designer/mappings/{mapping_id}",
        **values,
    )


def counted_launch(
    app: Any, lms: TestLms, link: str | None = None, **change: Any
) -> tuple[int, Any]:
    """The SQL statements of the launch POST alone (the login leg aside)."""
    browser = TestLms.browser(app)
    login = lms.login(browser, "learner", link=link, locale="en")
    form = lms.authorize(login)
    if change:
        claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
        claims.update(change)
        form = {"id_token": lms.platform.sign(claims), "state": login.auth_query["state"]}
    with statements_run(app) as statements:
        response = lms.post_launch(browser, form)
    assert TestLms.landed(response), response.get_data(as_text=True)
    return len(statements), response


# --- a certificate earned before the link existed -----------------------------------------


def test_a_certificate_earned_before_its_link_existed_reaches_the_new_column_once(
    app, lms, care, gradebook
):
    built, certificate = earn(app, lms, care)
    assert scores(app) == []  # no link placed the certification: no column to fill
    link_id, lineitem = place(app, lms, gradebook, f"certification:{built['id']}")

    first = launch_link(app, lms, link_id, locale="nn")
    (queued,) = scores(app)
    assert queued["scoreGiven"] == 100
    assert queued["scoreMaximum"] == 100
    assert queued["userId"] == LEARNER
    assert queued["lineitem"] == lineitem
    # No nynorsk title: bokmål stands in (not the code "legemiddel").
    assert queued["comment"] == "Legemiddelhåndtering"
    with app.app_context():
        assert get_session().get(Launch, first) is not None

    launch_link(app, lms, link_id, locale="en")  # again, before the worker ran
    assert len(scores(app)) == 1

    gradebook.down = 503  # the LMS is down: the score waits and is tried again
    assert deliver(app).retrying == 1
    assert scores(app)[0]["status"] == DeliveryStatus.PENDING
    launch_link(app, lms, link_id)
    assert len(scores(app)) == 1
    gradebook.down = None
    assert deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).delivered == 1
    assert gradebook.given(LEARNER, lineitem) == [100]

    launch_link(app, lms, link_id)  # delivered: nothing new to send
    assert len(scores(app)) == 1
    assert deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).handled == 0
    assert gradebook.given(LEARNER, lineitem) == [100]
    assert certificate.code not in gradebook.scores[lineitem][LEARNER][0]["comment"]


def test_the_certification_comment_is_its_title_in_the_persons_language(app, lms, care, gradebook):
    built, _certificate = earn(app, lms, care)
    link_id, lineitem = place(app, lms, gradebook, f"certification:{built['id']}")
    launch_link(app, lms, link_id, locale="en")
    deliver(app)
    assert gradebook.scores[lineitem][LEARNER][0]["comment"] == "Medication handling"


def test_someone_who_does_not_hold_the_certification_gets_no_score(app, lms, care, gradebook):
    built, _certificate = earn(app, lms, care)
    link_id, _lineitem = place(app, lms, gradebook, f"certification:{built['id']}")
    launch_link(app, lms, link_id, persona="learner2")  # has not earned it
    assert scores(app) == []


# --- a mapping submitted before the link existed -------------------------------------------


def test_a_mapping_submitted_before_its_link_existed_reaches_the_new_column_once(
    app, lms, care, gradebook
):
    mapping_id = build_mapping(app, lms, care)
    assert mapping_settings(app, lms, mapping_id).status_code == 302
    take_without_grades(app, lms, NURSE_HALF)
    assert scores(app) == []
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")

    launch_link(app, lms, link_id, locale="en")
    (queued,) = scores(app)
    assert (queued["scoreGiven"], queued["scoreMaximum"]) == (50, 100)
    assert queued["comment"] == "Skills mapping for nurses: 50 %"
    assert queued["lineitem"] == lineitem

    launch_link(app, lms, link_id, locale="nn")
    assert len(scores(app)) == 1
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [50]


def test_the_mapping_comment_is_its_title_in_the_persons_language(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    assert mapping_settings(app, lms, mapping_id).status_code == 302
    take_without_grades(app, lms, NURSE_RIGHT)
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    launch_link(app, lms, link_id, locale="nn")
    deliver(app)
    assert gradebook.scores[lineitem][LEARNER][0]["comment"] == (
        "Kartlegging for sjukepleiarar: 100 %"
    )


def test_a_relaunch_with_nothing_new_queues_nothing_in_five_statements(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    take_without_grades(app, lms, NURSE_RIGHT)
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    launch_link(app, lms, link_id)
    assert len(scores(app)) == 1

    # The same launch without AGS (the course takes no grades) does no catch-up at all.
    without_ags, _ = counted_launch(app, lms, **{c.CUSTOM: {"mapping": CODE}})
    relaunch, _ = counted_launch(app, lms, link=link_id)
    assert len(scores(app)) == 1
    # The catch-up reads the placed mapping, the person's grade and the line item's latest
    # score, in a savepoint (so that a failure cannot fail the launch): five statements,
    # and it writes nothing.
    assert relaunch - without_ags == 5, (relaunch, without_ags)
    # When written (before the launch answered with its page): 17 on SQLite (login state
    # and nonce in the database), 11 on PostgreSQL with Redis; now with the mapping's page.
    assert relaunch <= 28, relaunch
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100]


def test_canvas_is_told_when_the_graded_attempt_was_submitted(app, lms, care, gradebook):
    """A grade caught up later still carries the time of the attempt that earned it, so
    Canvas does not mark it late; with "highest", the first attempt that reached it."""
    from lti_tool.models import Attempt
    from lti_tool.services.score_delivery import CANVAS_SUBMISSION, iso_timestamp

    mapping_id = build_mapping(app, lms, care)
    take_without_grades(app, lms, NURSE_RIGHT)
    take_without_grades(app, lms, NURSE_HALF)
    take_without_grades(app, lms, NURSE_RIGHT)
    with app.app_context():
        first, *_ = get_session().scalars(select(Attempt).order_by(Attempt.id))
        earned_at = iso_timestamp(first.submitted_at)
    link_id, _lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    canvas = {"product_family_code": "canvas", "guid": "g", "name": "Canvas", "version": "1"}
    browser = TestLms.browser(app)
    login = lms.login(browser, "learner", link=link_id, locale="en")
    claims = lms.platform.launch_claims(
        "learner", nonce=login.auth_query["nonce"], link=link_id, locale="en"
    )
    claims[c.TOOL_PLATFORM] = canvas
    token = lms.platform.sign(claims)
    response = lms.post_launch(browser, {"id_token": token, "state": login.auth_query["state"]})
    assert TestLms.landed(response), response.get_data(as_text=True)
    (queued,) = scores(app)
    assert queued["scoreGiven"] == 100
    assert queued[CANVAS_SUBMISSION] == {"submittedAt": earned_at}
    assert queued["timestamp"] > earned_at  # the score itself is new


# --- the highest or the latest attempt ------------------------------------------------------


def test_a_worse_retake_keeps_the_highest_grade_and_latest_sends_it(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    with app.app_context():
        assert get_session().get(Mapping, mapping_id).grade_policy == "highest"  # the default
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    take_from_link(app, lms, link_id, NURSE_RIGHT)
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100]

    take_from_link(app, lms, link_id, NURSE_HALF)  # a worse retake
    launch_link(app, lms, link_id)
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100]  # not 50
    assert len(scores(app)) == 1

    # The designer switches the mapping to the latest attempt: the next launch sends it.
    assert mapping_settings(app, lms, mapping_id, grade_policy="latest").status_code == 302
    page = designer_browser(app, lms).get(f"/designer/mappings/{mapping_id}")
    assert 'value="latest" checked' in page.get_data(as_text=True)
    launch_link(app, lms, link_id)
    launch_link(app, lms, link_id)
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100, 50]

    take_from_link(app, lms, link_id, NURSE_RIGHT)  # latest: a better retake goes at once
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100, 50, 100]
    take_from_link(app, lms, link_id, NURSE_RIGHT)  # the same grade again: nothing to send
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100, 50, 100]
    assert len(scores(app)) == 3


def test_latest_sends_a_worse_retake_on_submission(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    assert mapping_settings(app, lms, mapping_id, grade_policy="latest").status_code == 302
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    take_from_link(app, lms, link_id, NURSE_RIGHT)
    take_from_link(app, lms, link_id, NURSE_HALF)
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100, 50]
    assert [s["comment"] for s in gradebook.scores[lineitem][LEARNER]] == [
        "Skills mapping for nurses: 100 %",
        "Skills mapping for nurses: 50 %",
    ]


def test_the_grade_policy_form_refuses_an_unknown_choice(app, lms, care):
    mapping_id = build_mapping(app, lms, care)
    response = mapping_settings(app, lms, mapping_id, grade_policy="average")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose which attempt gives the grade: the highest or the latest." in html
    assert 'id="settings-grade_policy-error"' in html
    with app.app_context():
        mapping = get_session().get(Mapping, mapping_id)
        assert mapping.grade_policy == "highest"
        assert mapping.title == {"nb": "Kartlegging for sykepleiere"}  # nothing half-written


def test_a_new_mapping_may_take_the_latest_attempt(app, lms, care):
    from tests.fakes.mappings import create_mapping

    browser = designer_browser(app, lms)
    page = browser.get("/designer/mappings").get_data(as_text=True)
    assert 'id="mapping-grade_policy-highest" name="grade_policy" value="highest" checked' in page
    role = str(care["roles"]["sykepleier"])
    latest = create_mapping(browser, "ny", "Ny", job_role_id=role, grade_policy="latest")
    highest = create_mapping(browser, "standard", "Standard", job_role_id=role)
    with app.app_context():
        session = get_session()
        assert session.get(Mapping, latest).grade_policy == "latest"
        assert session.get(Mapping, highest).grade_policy == "highest"


def test_the_grade_policy_form_is_translated(app, lms, care):
    mapping_id = build_mapping(app, lms, care)
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "designer", locale="nn"))
    html = browser.get(f"/designer/mappings/{mapping_id}").get_data(as_text=True)
    assert "Karakter i karakterboka til emnet" in html
    assert '<label for="settings-grade_policy-latest"' in html
    assert "Det siste forsøket, betre eller dårlegare" in html


# --- when nothing is queued -------------------------------------------------------------------


def test_launches_that_take_no_grades_queue_nothing(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    take_without_grades(app, lms, NURSE_RIGHT)
    # The hand-made link again (no AGS claim: "accept grades" not ticked).
    again = lms.signed_launch(TestLms.browser(app), "learner", change={c.CUSTOM: {"mapping": CODE}})
    assert TestLms.landed(again)
    assert scores(app) == []
    # AGS without a line item of its own (only the container): the catch-up leaves it.
    browser = TestLms.browser(app)
    response = lms.signed_launch(
        browser,
        "learner",
        change={c.CUSTOM: {"mapping": CODE}, c.AGS_ENDPOINT: gradebook.endpoint_claim()},
    )
    assert TestLms.landed(response)
    # A link naming an unknown mapping or certification, with a line item.
    column = gradebook.add_line_item("Something else", 100)
    for custom in ({"mapping": "nope"}, {"certification": "nope"}, {"other": "x"}):
        response = lms.signed_launch(
            TestLms.browser(app),
            "learner",
            change={c.CUSTOM: custom, c.AGS_ENDPOINT: gradebook.endpoint_claim(column)},
        )
        # the launch stands; its landing page may say the mapping is unknown (404)
        assert page_address(response.get_data(as_text=True)), response.get_data(as_text=True)
    assert scores(app) == []
    assert mapping_id


def test_the_job_role_link_catches_up_on_the_persons_role_mapping(app, lms, care, gradebook):
    """A link placed as "the mapping of my job role" gets that mapping's grade."""
    build_mapping(app, lms, care)
    learner = TestLms.browser(app)
    response = lms.signed_launch(
        learner,
        "learner",
        change={c.CUSTOM: {"mapping": CODE, "job_role": "sykepleier"}},
    )
    assert lms.landed(response), response.get_data(as_text=True)
    take_without_grades(app, lms, NURSE_RIGHT)
    link_id, lineitem = place(app, lms, gradebook, "role")
    launch_link(app, lms, link_id)
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100]
    assert gradebook.scores[lineitem][LEARNER][0]["comment"] == (
        "Kartlegging for sykepleiere: 100 %"
    )


# --- two launches at once ---------------------------------------------------------------------


def test_two_launches_at_once_queue_the_grade_once(app, lms, care, gradebook):
    """Both see no score for the line item; the unique (key, follows_id) lets one queue it,
    and the other, blocked on the index until the first commits, queues nothing."""
    mapping_id = build_mapping(app, lms, care)
    link_id, _lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    launches = [launch_link(app, lms, link_id) for _ in range(2)]  # nothing achieved yet
    take_without_grades(app, lms, NURSE_RIGHT)
    assert scores(app) == []
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    first_queued = threading.Event()
    release = threading.Event()
    results: dict[str, Any] = {}

    def catch_up(name: str, launch_id: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                queued = grades.catch_up(session, session.get(Launch, launch_id))
                if hold:
                    first_queued.set()
                    release.wait(5)
                session.commit()
                results[name] = queued is not None
            finally:
                session.close()

    one = threading.Thread(target=catch_up, args=("one", launches[0], True))
    one.start()
    assert first_queued.wait(10)
    two = threading.Thread(target=catch_up, args=("two", launches[1], False))
    two.start()
    two.join(0.5)  # blocked on the unique index until the first commits
    release.set()
    one.join(10)
    two.join(10)
    assert results == {"one": True, "two": False}
    assert len(scores(app)) == 1


def test_a_submission_racing_a_launch_still_queues_its_new_grade(app, lms, care, gradebook):
    """A submission never yields: blocked by a launch's catch-up for the same line item,
    it reads again and queues after it when its grade differs."""
    mapping_id = build_mapping(app, lms, care)
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    take_without_grades(app, lms, NURSE_HALF)
    launch_id = launch_link(app, lms, link_id)
    (first,) = scores(app)
    assert first["scoreGiven"] == 50
    with app.app_context():  # the teacher resets the column: the outbox forgets it
        session = get_session()
        session.execute(ScoreDelivery.__table__.delete())
        session.commit()
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    caught_up = threading.Event()
    release = threading.Event()
    results: dict[str, Any] = {}

    def launch_catch_up() -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                results["launch"] = grades.catch_up(session, session.get(Launch, launch_id))
                caught_up.set()
                release.wait(5)
                session.commit()
            finally:
                session.close()

    def submission() -> None:
        from lti_tool.services import score_delivery

        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                launch = session.get(Launch, launch_id)
                results["submission"] = score_delivery.queue_score(
                    session,
                    organisation_id=launch.deployment.organisation_id,
                    attempt_id=None,
                    launch=launch,
                    score_given=100,
                    score_maximum=100,
                    comment="new",
                    line_item=None,
                    submitted_at=None,
                    if_changed=True,
                )
                session.commit()
            finally:
                session.close()

    one = threading.Thread(target=launch_catch_up)
    one.start()
    assert caught_up.wait(10)
    two = threading.Thread(target=submission)
    two.start()
    two.join(0.5)
    release.set()
    one.join(10)
    two.join(10)
    assert results["launch"] is not None and results["submission"] is not None
    assert [s["scoreGiven"] for s in scores(app)] == [50, 100]
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [50, 100]


# --- grade bookkeeping never fails a launch -----------------------------------------------------


def test_a_catch_up_that_breaks_is_undone_and_the_launch_goes_on(
    app, lms, care, gradebook, monkeypatch, caplog
):
    """The catch-up writes its score, then the database refuses a statement (on PostgreSQL
    that aborts the transaction): the score is undone, the error logged, and the person
    still lands on the mapping; the next launch catches up."""
    mapping_id = build_mapping(app, lms, care)
    take_without_grades(app, lms, NURSE_RIGHT)
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    queue = grades.queue_mapping_grade

    def queue_then_break(session: Any, *args: Any, **kwargs: Any) -> Any:
        assert queue(session, *args, **kwargs) is not None
        session.execute(text("SELECT no_such_column FROM score_delivery"))

    monkeypatch.setattr(grades, "queue_mapping_grade", queue_then_break)
    broken = launch_link(app, lms, link_id)
    assert scores(app) == []
    assert "the grade could not be caught up" in caplog.text
    with app.app_context():
        assert get_session().get(Launch, broken) is not None  # the launch itself is kept

    monkeypatch.undo()
    launch_link(app, lms, link_id)
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [100]


# --- another organisation -----------------------------------------------------------------------


def test_a_certificate_reaches_no_column_of_another_organisation(
    app, lms, care, gradebook, organisation_on_the_same_lms
):
    """One LMS, two organisations (a deployment each). A course of the other organisation
    has a link naming a certification with the same code; the learner launched it. The
    certificate they then earn here is not that organisation's: its column stays empty,
    at issue and on their next launch of the link."""
    from tests.functional.test_certification_flow import (
        _take_mapping,
        build_certification,
        person_id,
        record_attendance,
    )

    built = build_certification(app, lms, care)
    code = "legemiddel"
    organisation_on_the_same_lms()
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))  # a person here
    column = gradebook.add_line_item("Legemiddelhåndtering (Annenkommune)", 100)
    elsewhere = {
        c.DEPLOYMENT_ID: "annen-1",
        c.CUSTOM: {"certification": code},
        c.AGS_ENDPOINT: gradebook.endpoint_claim(column),
    }
    response = lms.signed_launch(TestLms.browser(app), "learner", change=elsewhere)
    # the launch stands (its landing: not this organisation's certification, a 404)
    assert page_address(response.get_data(as_text=True)), response.get_data(as_text=True)

    _take_mapping(app, lms, built, "learner", NURSE_RIGHT)
    record_attendance(app, lms, built["courses"]["praksis"], person_id(app, LEARNER))
    with app.app_context():
        assert get_session().scalars(select(Certificate)).one()
    assert scores(app) == []
    response = lms.signed_launch(TestLms.browser(app), "learner", change=elsewhere)
    assert page_address(response.get_data(as_text=True)), response.get_data(as_text=True)
    assert scores(app) == []


def test_scores_queued_before_the_upgrade_are_followed(app, lms, care, gradebook):
    """Rows from before the migration follow nothing (NULL): the first score after the
    upgrade follows the newest of them, and the same grade is still not queued twice."""
    mapping_id = build_mapping(app, lms, care)
    take_without_grades(app, lms, NURSE_HALF)
    link_id, lineitem = place(app, lms, gradebook, f"mapping:{mapping_id}")
    launch_link(app, lms, link_id)
    with app.app_context():
        session = get_session()
        session.execute(ScoreDelivery.__table__.update().values(follows_id=None))
        session.commit()
        (old,) = session.scalars(select(ScoreDelivery.id))
    launch_link(app, lms, link_id)
    assert len(scores(app)) == 1
    take_from_link(app, lms, link_id, NURSE_RIGHT)
    with app.app_context():
        rows = get_session().execute(
            select(ScoreDelivery.id, ScoreDelivery.follows_id).order_by(ScoreDelivery.id)
        )
        assert [follows for _id, follows in rows] == [None, old]
    deliver(app)
    assert gradebook.given(LEARNER, lineitem) == [50, 100]
