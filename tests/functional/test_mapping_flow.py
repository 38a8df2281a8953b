"""A skills mapping from end to end, as an independent platform sees it: a designer builds
and places it by Deep Linking, several learners launch it from the course, answer (and
abandon and resume), submit, and the gradebook receives exactly one correct score each —
including across an outage of its score endpoint."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import requests
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.lti.services import lti_services
from lti_tool.models import Attempt, Evidence, ScoreDelivery
from lti_tool.services import score_delivery
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import (
    add_all_items,
    create_item,
    create_mapping,
    designer_browser,
    item_page_with,
    publish,
    start_attempt,
)
from tests.statements import statements_run


def build_mapping(app: Any, lms: TestLms, care: dict[str, Any]) -> int:
    """The nurse's mapping: a statement and three knowledge items, published."""
    browser = designer_browser(app, lms)
    legemidler = care["competences"]["legemidler"]
    personvern = care["competences"]["personvern"]
    for response in (
        create_item(
            browser,
            "self_assessment",
            "Jeg kan dobbeltkontrollere legemidler",
            {legemidler: 1},
            code="selv-1",
        ),
        create_item(
            browser,
            "single_choice",
            "Hvem har ansvar for dobbeltkontroll?",
            {legemidler: 1},
            options=[("Begge som kontrollerer", True), ("Bare den ene", False)],
            code="kunn-1",
        ),
        create_item(
            browser,
            "multiple_choice",
            "Hva er personopplysninger?",
            {personvern: 1},
            options=[("Navn", True), ("Fødselsnummer", True), ("Været", False)],
            code="kunn-2",
        ),
        create_item(
            browser,
            "numeric",
            "Hvor mange ml er 50 mg av 10 mg/ml?",
            {legemidler: 2},
            numeric=[(5, 0, 100)],
            code="kunn-3",
        ),
    ):
        assert response.status_code == 302, response.get_data(as_text=True)
    mapping_id = create_mapping(
        browser,
        "sykepleier-kartlegging",
        "Kartlegging for sykepleiere",
        job_role_id=str(care["roles"]["sykepleier"]),
        pass_percentage="50",
    )
    add_all_items(browser, mapping_id)
    response = publish(browser, mapping_id)
    assert response.status_code == 302, response.get_data(as_text=True)
    return mapping_id


def place(lms: TestLms, app: Any, gradebook: FakeGradebook, mapping_id: int) -> str:
    browser = designer_browser(app, lms)

    def column(line_item: dict[str, Any]) -> str:
        return gradebook.add_line_item(
            line_item["label"],
            line_item["scoreMaximum"],
            resource_id=line_item["resourceId"],
            tag=line_item["tag"],
        )

    (link_id,), _message = lms.deep_link(browser, [f"mapping:{mapping_id}"], lineitem_for=column)
    return link_id


def answer(browser: Any, location: str, value: Any, go: str = "next") -> Any:
    """Answer the item page at ``location`` (its form, its CSRF token)."""
    page = browser.get(location)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = next(f for f in parse_forms(page.get_data(as_text=True)) if f["method"] == "post")
    return browser.post(
        form["action"],
        data={"csrf_token": form["fields"]["csrf_token"], "answer": value, "go": go},
    )


def option_values(browser: Any, location: str) -> dict[str, str]:
    """The item page's options: label text → value."""
    html = browser.get(location).get_data(as_text=True)
    pairs = re.findall(
        r'name="answer" value="(\d+)" id="([^"]+)"[^>]*>\s*<label for="\2">([^<]+)</label>', html
    )
    return {label.strip(): value for value, _id, label in pairs}


def take(app: Any, lms: TestLms, persona: str, link_id: str, answers: dict[str, Any]) -> Any:
    """Launch the placed link as ``persona``, answer each item (by its stem), submit."""
    browser = TestLms.browser(app)
    response = lms.launch(browser, persona, link=link_id, locale="en")
    assert TestLms.landed(response)
    start = lms.landing_page(browser, response)
    assert start.status_code == 200, start.get_data(as_text=True)
    form = next(
        f for f in parse_forms(start.get_data(as_text=True)) if "/attempts" in (f["action"] or "")
    )
    response = browser.post(form["action"], data=form["fields"])
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    while "/items/" in location:
        html = browser.get(location).get_data(as_text=True)
        stem = next(s for s in answers if s in html)
        value = answers[stem]
        if isinstance(value, str) and not value.replace(",", "").replace(".", "").isdigit():
            value = option_values(browser, location)[value]
        elif isinstance(value, list):
            options = option_values(browser, location)
            value = [options[v] for v in value]
        response = answer(browser, location, value)
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
    review = browser.get(location)
    submit_form = next(
        f for f in parse_forms(review.get_data(as_text=True)) if "/submit" in (f["action"] or "")
    )
    done = browser.post(submit_form["action"], data=submit_form["fields"])
    assert done.status_code == 302, done.get_data(as_text=True)
    return browser, done.headers["Location"], submit_form


NURSE_RIGHT = {
    "dobbeltkontrollere": "3",
    "dobbeltkontroll?": "Begge som kontrollerer",
    "personopplysninger": ["Navn", "Fødselsnummer"],
    "50 mg": "5",
}


def deliver(app: Any, now: dt.datetime | None = None) -> Any:
    """One pass of the score worker (what `flask --app lti_tool worker --once` runs)."""
    with app.app_context():
        return score_delivery.deliver_due(
            app.extensions["db_sessionmaker"], lti_services(), now=now
        )


def test_placed_mapping_gives_each_learner_one_score_and_evidence(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    lineitem = lms.platform.links[link_id].lineitem
    assert lineitem and "type_id=1" in lineitem

    browser, result_url, submit_form = take(app, lms, "learner", link_id, NURSE_RIGHT)
    result = browser.get(result_url).get_data(as_text=True)
    assert "Score: 100 %" in result
    assert "passed" in result

    # a double click on submit writes nothing more
    again = browser.post(submit_form["action"], data=submit_form["fields"])
    assert again.status_code == 302
    with app.app_context():
        assert len(get_session().scalars(select(Attempt)).all()) == 1
        assert len(get_session().scalars(select(ScoreDelivery)).all()) == 1
        evidence = get_session().scalars(select(Evidence)).all()
        assert {(e.source, e.level) for e in evidence} == {("knowledge_test", 4)}
        assert len(evidence) == 2

    deliver(app)
    assert gradebook.given("101", lineitem) == [100]
    deliver(app)
    assert gradebook.given("101", lineitem) == [100]  # never sent twice


def test_the_start_page_says_where_one_may_come_back_in_everyday_words(app, lms, care, gradebook):
    """Bokmål says 'PC eller mobil' (it said 'enhet', a device: not what people say)."""
    link_id = place(lms, app, gradebook, build_mapping(app, lms, care))
    browser = TestLms.browser(app)
    response = lms.launch(browser, "learner", link=link_id, locale="nb")
    start = lms.landing_html(browser, response)
    assert "du kan stoppe og komme tilbake senere, også på en annen PC eller mobil." in start


NURSE_HALF = {
    "dobbeltkontrollere": "1",
    "dobbeltkontroll?": "Bare den ene",
    "personopplysninger": ["Navn"],
    "50 mg": "5,0",
}


def test_several_learners_outage_and_recovery_each_score_arrives_once(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    lineitem = lms.platform.links[link_id].lineitem
    gradebook.down = 503  # the LMS's score endpoint is down while people submit
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    take(app, lms, "manager", link_id, NURSE_HALF)
    counts = deliver(app)
    assert counts.delivered == 0
    assert gradebook.received == []

    gradebook.down = requests.ConnectionError("connection refused")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    deliver(app, later)
    assert gradebook.received == []

    gradebook.down = None  # back after an hour
    deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    assert gradebook.given("101", lineitem) == [100]
    # the half-right manager: a wrong single choice, half of multiple choice, the numeric
    # (weight 2 on its competence, but points count once in the total): 1.5 of 3
    assert gradebook.given("103", lineitem) == [50]
    deliver(app, dt.datetime.now(dt.UTC) + dt.timedelta(hours=3))
    assert len(gradebook.received) == 2
    score = gradebook.scores[lineitem]["103"][0]
    assert score["scoreMaximum"] == 100
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert score["userId"] == "103"


def test_abandon_and_resume_on_another_device_keeps_the_answers(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)

    first = TestLms.browser(app)
    response = lms.launch(first, "learner", link=link_id, locale="en")
    start = lms.landing_page(first, response).get_data(as_text=True)
    form = next(f for f in parse_forms(start) if "/attempts" in (f["action"] or ""))
    location = first.post(form["action"], data=form["fields"]).headers["Location"]
    assert location.split("?")[0].endswith("/items/1")
    html = first.get(location).get_data(as_text=True)
    stem = next(s for s in NURSE_RIGHT if s in html)
    value = NURSE_RIGHT[stem]
    if not str(value).isdigit():
        value = option_values(first, location)[value]
    response = answer(first, location, value)
    assert response.status_code == 302
    # the browser is closed; a phone launches from the course later
    second = TestLms.browser(app)
    response = lms.launch(second, "learner", link=link_id, locale="en")
    start = lms.landing_page(second, response).get_data(as_text=True)
    assert "Continue where you left off" in start
    form = next(f for f in parse_forms(start) if "/attempts" in (f["action"] or ""))
    location = second.post(form["action"], data=form["fields"]).headers["Location"]
    assert location.split("?")[0].endswith("/items/2"), "resumes at the first open item"
    review = second.get(location.split("/items/")[0] + "/review").get_data(as_text=True)
    assert review.count("Not answered") == 3
    with app.app_context():
        assert len(get_session().scalars(select(Attempt)).all()) == 1


def test_an_answer_that_is_not_a_number_is_refused_at_its_field(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    browser, location = start_attempt(app, lms, link_id)
    url, _page = item_page_with(browser, location, "50 mg")
    response = answer(browser, url, "fem")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html
    assert "Enter a number, like 12 or 2,5." in html
    assert 'id="answer-error"' in html


def test_a_launch_with_only_the_line_items_endpoint_finds_or_creates_its_column(
    app, lms, care, gradebook
):
    """A mapping link added by hand (custom mapping=<code>) in a course that accepts
    grades: the launch names the container only; the tool creates its column once and
    finds it again for the next learner."""
    build_mapping(app, lms, care)
    from lti_tool.lti import claims as c

    def launch(persona: str) -> Any:
        browser = TestLms.browser(app)
        custom = {"mapping": "sykepleier-kartlegging"}
        response = lms.signed_launch(
            browser,
            persona,
            change={c.CUSTOM: custom, c.AGS_ENDPOINT: gradebook.endpoint_claim()},
        )
        return browser, lms.landing_html(browser, response)

    for persona in ("learner", "manager"):
        browser, page = launch(persona)
        form = next(f for f in parse_forms(page) if "/attempts" in (f["action"] or ""))
        location = browser.post(form["action"], data=form["fields"]).headers["Location"]
        review = browser.get(location.split("/items/")[0] + "/review").get_data(as_text=True)
        submit_form = next(f for f in parse_forms(review) if "/submit" in (f["action"] or ""))
        assert browser.post(submit_form["action"], data=submit_form["fields"]).status_code == 302
    deliver(app)
    assert len(gradebook.created) == 1
    created = gradebook.created[0]
    assert created["resourceId"] == "mapping:sykepleier-kartlegging"
    assert created["scoreMaximum"] == 100
    column = next(iter(gradebook.scores))
    assert set(gradebook.scores[column]) == {"101", "103"}


def test_a_changed_answer_is_saved_in_the_background(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    browser, location = start_attempt(app, lms, link_id)
    url, page = item_page_with(browser, location, "50 mg")
    form = next(f for f in parse_forms(page) if f["method"] == "post")
    token = form["fields"]["csrf_token"]
    saved = browser.post(
        form["action"],
        data={"csrf_token": token, "answer": "5", "go": "stay"},
        headers={"X-Autosave": "1"},
    )
    assert saved.status_code == 204
    refused = browser.post(
        form["action"],
        data={"csrf_token": token, "answer": "fem", "go": "stay"},
        headers={"X-Autosave": "1"},
    )
    assert refused.status_code == 422
    assert refused.get_json() == {"error": "Enter a number, like 12 or 2,5."}
    assert 'value="5"' in browser.get(url).get_data(as_text=True)  # the good answer kept


LAUNCH = 1
"""Statements every request of a launched person makes before its own work (``auth.py``:
the launch with its person; their grants too, were they ever granted a permission)."""


def test_each_answer_saved_costs_three_statements_and_submitting_fourteen(
    app, lms, care, gradebook
):
    """The machine-independent figures of the benchmark (bench/RESULTS.md), exact: an item
    page reads the attempt, its answers and the item (4 statements, 5 for a
    self-assessment: its scale); a save reads the attempt (locked) and what the item
    accepts and upserts the answer (3), whichever item it is; submitting these 4 items
    (evidence for two competences of a job role, the gradebook's score) 14: the attempt
    moved to submitted, the mapping, one read of what scoring needs (items, options,
    competences, scales, answers, the mapping's competences, whether a certification is
    published, the person's other graded attempts), the answers' credit, the attempt's
    score, the evidence, the holdings (two), the person's requirement rows (four), the
    latest score and the new one; the review page 5, the result page 10 (with the person's
    roles, units and their mapping in one statement: ``assignments.own_placement``)."""
    link_id = place(lms, app, gradebook, build_mapping(app, lms, care))
    browser = TestLms.browser(app)
    response = lms.launch(browser, "learner", link=link_id, locale="en")
    start = lms.landing_page(browser, response).get_data(as_text=True)
    form = next(f for f in parse_forms(start) if "/attempts" in (f["action"] or ""))
    location = browser.post(form["action"], data=form["fields"]).headers["Location"]
    pages, saves = [], []
    while "/items/" in location:
        choices = list(option_values(browser, location).values())
        with statements_run(app) as run:
            page = browser.get(location).get_data(as_text=True)
        pages.append(len(run) - LAUNCH)
        form = next(f for f in parse_forms(page) if f["method"] == "post")
        data = {"csrf_token": form["fields"]["csrf_token"], "go": "next"}
        data["answer"] = choices[0] if choices else "5"  # a level, or the numeric answer
        with statements_run(app) as run:
            response = browser.post(form["action"], data=data)
        assert response.status_code == 302, response.get_data(as_text=True)
        saves.append(len(run) - LAUNCH)
        location = response.headers["Location"]
    assert sorted(pages) == [4, 4, 4, 5], pages  # the statement, with its scale: 5
    assert saves == [3, 3, 3, 3], saves
    with statements_run(app) as run:
        review = browser.get(location).get_data(as_text=True)
    assert len(run) - LAUNCH == 5, len(run)
    form = next(f for f in parse_forms(review) if "/submit" in (f["action"] or ""))
    with statements_run(app) as run:
        submitted = browser.post(form["action"], data=form["fields"])
    assert submitted.status_code == 302
    # the two evidence rows: one INSERT on PostgreSQL, one each on SQLite (the ORM's
    # batched INSERT … RETURNING is PostgreSQL's)
    sqlite = app.extensions["db_engine"].dialect.name == "sqlite"
    assert len(run) - LAUNCH == 14 + sqlite, "\n".join(run)
    with statements_run(app) as run:
        assert browser.get(submitted.headers["Location"]).status_code == 200
    assert len(run) - LAUNCH == 10, "\n".join(run)


def test_without_cookies_a_learner_starts_answers_and_autosaves(app, lms, care, gradebook):
    """In a frame that drops cookies: Start and each answer are POST forms carrying the
    launch token in their body, the autosave sends it in the X-Launch-Token header (as the
    item page's script does), and no URL carries it."""
    from tests.functional.token_browsing import CookielessTab

    link_id = place(lms, app, gradebook, build_mapping(app, lms, care))
    launched = lms.storage_launch(TestLms.cookieless_browser(app), "learner", link=link_id)
    tab = CookielessTab(app, launched)
    (start,) = [f for f in tab.post_forms() if "/attempts" in (f["action"] or "")]
    item = tab.submit(start)  # the redirect to the first item, carried over by POST
    assert item.status_code == 200 and "/items/1" in tab.visited[-1][0], tab.visited[-1][0]
    base, n = tab.visited[-1][0].split("/items/")[0], 1
    while "50 mg" not in tab.html:  # the numeric item (items may be in any order)
        n += 1
        assert tab.navigate(f"{base}/items/{n}").status_code == 200
    form = next(f for f in tab.post_forms() if "/items/" in (f["action"] or ""))
    assert "lt" not in form["fields"] and "lt=" not in form["action"]

    saved = tab.client.post(
        form["action"],
        data={"csrf_token": form["fields"]["csrf_token"], "answer": "5", "go": "stay"},
        headers={"X-Autosave": "1", "X-Launch-Token": tab.token},
    )
    assert saved.status_code == 204, saved.get_data(as_text=True)
    unsigned = tab.client.post(
        form["action"],
        data={"csrf_token": form["fields"]["csrf_token"], "answer": "5", "go": "stay"},
        headers={"X-Autosave": "1"},
    )
    assert unsigned.status_code == 400  # no launch token: its CSRF secret is not bound
    assert 'value="5"' in tab.navigate(f"{base}/items/{n}").get_data(as_text=True)  # kept
