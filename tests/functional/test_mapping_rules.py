"""The rules of taking a mapping, enforced on the server: time limit, attempts, waiting
days; who may see what; deep-linking choices; imports; item statistics."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import Attempt, AttemptStatus, Item, Mapping, ScoreDelivery
from lti_tool.services import platforms
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import (
    create_item,
    create_mapping,
    designer_browser,
    item_page_with,
    post_form,
    start_attempt,
)
from tests.functional.test_deployments import other_lms
from tests.functional.test_mapping_flow import (
    NURSE_HALF,
    NURSE_RIGHT,
    build_mapping,
    place,
    take,
)

QUESTIONS = Path(__file__).resolve().parent.parent / "fakes" / "questions"


def set_rules(app: Any, lms: TestLms, mapping_id: int, **rules: str) -> None:
    browser = designer_browser(app, lms)
    page = browser.get(f"/designer/mappings/{mapping_id}").get_data(as_text=True)
    form = next(
        f
        for f in parse_forms(page)
        if (f["action"] or "").split("?")[0].endswith(f"/mappings/{mapping_id}")
    )
    data = {**form["fields"], **rules}
    # the form parser keeps every radio and checkbox: send what the browser would
    data["selection"] = rules.get("selection", "fixed")
    if "shuffle" not in rules:
        data.pop("shuffle", None)
    response = browser.post(form["action"], data=data)
    assert response.status_code == 302, response.get_data(as_text=True)


def neighbour_lms(app: Any, lms: TestLms, platform_pem: bytes) -> TestLms:
    """The LMS of another municipality, registered: its people are of another
    organisation."""
    neighbour = other_lms(platform_pem, lms.http, "https://nabo.example", "nabo", "n1")
    with app.app_context():
        platforms.register_platform(
            get_session(),
            issuer=neighbour.platform.issuer,
            client_id=neighbour.platform.client_id,
            auth_login_url=neighbour.platform.auth_url,
            auth_token_url=neighbour.platform.token_url,
            jwks_url=neighbour.platform.jwks_url,
            organisation_name="Nabokommune",
            deployment_ids=["n1"],
        )
        get_session().commit()
    return neighbour


def test_time_limit_is_enforced_on_the_server(app, lms, care, gradebook, monkeypatch):
    mapping_id = build_mapping(app, lms, care)
    set_rules(app, lms, mapping_id, time_limit_minutes="10")
    link_id = place(lms, app, gradebook, mapping_id)
    browser, location = start_attempt(app, lms, link_id)
    page = browser.get(location).get_data(as_text=True)
    assert "Time left: about" in page
    form = next(f for f in parse_forms(page) if f["method"] == "post")

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    monkeypatch.setattr("lti_tool.views.attempts.utcnow", lambda: later)
    response = browser.post(
        form["action"], data={"csrf_token": form["fields"]["csrf_token"], "answer": "1"}
    )
    assert response.status_code == 302
    assert "/result" in response.headers["Location"]
    result = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "The time is up" in result
    with app.app_context():
        attempt = get_session().scalars(select(Attempt)).one()
        assert attempt.status == AttemptStatus.SUBMITTED
        assert attempt.responses == []  # the late answer was not kept
        assert attempt.percentage == 0


def test_attempt_limits_and_waiting_days(app, lms, care, gradebook, monkeypatch):
    lms.platform.custom_by_persona = {"learner": {"job_role": "sykepleier"}}
    mapping_id = build_mapping(app, lms, care)
    set_rules(app, lms, mapping_id, max_attempts="2", min_days_between="7")
    link_id = place(lms, app, gradebook, mapping_id)
    take(app, lms, "learner", link_id, NURSE_HALF)
    browser, page = start_attempt(app, lms, link_id)
    assert "Your next attempt opens on" in page

    in_eight_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    monkeypatch.setattr("lti_tool.views.attempts.utcnow", lambda: in_eight_days)
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    monkeypatch.setattr(
        "lti_tool.views.attempts.utcnow", lambda: in_eight_days + dt.timedelta(days=30)
    )
    browser, page = start_attempt(app, lms, link_id)
    assert "You have used all your attempts (2)." in page
    with app.app_context():
        attempts = get_session().scalars(select(Attempt).order_by(Attempt.number)).all()
        assert [(a.number, a.percentage) for a in attempts] == [(1, 50.0), (2, 100.0)]
    # the learner's start page now shows where they stand (the latest knowledge test)
    home = browser.get("/learner/", query_string={"lang": "en"}).get_data(as_text=True)
    assert "Not shown yet" not in home
    assert "Level 4 of 4: Expert" in home  # legemidler, needed at 3
    assert "Map your competence: Kartlegging for sykepleiere" in home
    assert "requirement met" in home


def test_an_attempt_is_only_seen_by_its_owner(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    _browser, location = start_attempt(app, lms, link_id)
    other, _ = start_attempt(app, lms, link_id, persona="manager")
    path = location.split("?")[0]
    assert other.get(path).status_code == 404
    base = path.split("/items/")[0]
    assert other.get(base + "/review").status_code == 404
    assert other.get(base + "/result").status_code == 404
    page = other.get(path)  # its own token, someone else's attempt id
    assert page.status_code == 404


def test_designer_pages_refuse_learners_and_other_organisations(
    app, lms, care, gradebook, platform_pem
):
    mapping_id = build_mapping(app, lms, care)
    with app.app_context():
        item_id = get_session().scalars(select(Item.id)).first()
    learner = TestLms.browser(app)
    lms.launch(learner, "learner", locale="en")
    for path in (
        f"/designer/mappings/{mapping_id}",
        f"/designer/mappings/{mapping_id}/statistics",
        f"/designer/items/{item_id}",
        "/designer/items/new?kind=numeric",
    ):
        assert learner.get(path).status_code == 403, path
    # a designer of another municipality (its own LMS) finds nothing
    outsider = designer_browser(app, neighbour_lms(app, lms, platform_pem))
    for path in (
        f"/designer/mappings/{mapping_id}",
        f"/designer/mappings/{mapping_id}/statistics",
        f"/designer/items/{item_id}",
    ):
        assert outsider.get(path).status_code == 404, path
    assert "sykepleier-kartlegging" not in outsider.get("/designer/mappings").get_data(as_text=True)


def test_my_roles_mapping_opens_the_mapping_of_the_persons_job_role(app, lms, care, gradebook):
    build_mapping(app, lms, care)
    browser = designer_browser(app, lms)
    (link_id,), message = lms.deep_link(
        browser,
        ["role"],
        lineitem_for=lambda li: gradebook.add_line_item(li["label"], resource_id=li["resourceId"]),
    )
    item = message[c.DEEP_LINKING_CONTENT_ITEMS][0]
    assert item["custom"] == {"mapping": "@job-role"}
    assert item["lineItem"]["resourceId"] == "mapping:@job-role"
    nurse = TestLms.browser(app)
    response = lms.signed_launch(nurse, "learner", change={})  # no job role yet
    lms.platform.custom_by_persona = {"learner": {"job_role": "sykepleier"}}
    response = lms.launch(nurse, "learner", link=link_id, locale="en")
    page = lms.landing_page(nurse, response).get_data(as_text=True)
    assert "Kartlegging for sykepleiere" in page
    lms.platform.custom_by_persona = {"manager": {"job_role": "tomrolle"}}
    other = TestLms.browser(app)
    page = lms.launch(other, "manager", link=link_id, locale="en")
    assert page.status_code == 404
    assert "No mapping for your job role" in page.get_data(as_text=True)


def test_deep_linking_honours_what_the_platform_accepts(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    browser = designer_browser(app, lms)
    links, message = lms.deep_link(browser, [f"mapping:{mapping_id}", "home"])
    assert len(links) == 2
    assert message[c.DEEP_LINKING_DATA].startswith("demo-")  # echoed back
    items = message[c.DEEP_LINKING_CONTENT_ITEMS]
    assert items[0] == {
        "type": "ltiResourceLink",
        "title": "Kartlegging for sykepleiere",
        "url": "https://tool.example/lti/launch",
        "custom": {"mapping": "sykepleier-kartlegging"},
        "lineItem": {
            "scoreMaximum": 100,
            "label": "Kartlegging for sykepleiere",
            "resourceId": "mapping:sykepleier-kartlegging",
            "tag": "laeringslop-mapping",
        },
    }
    assert "lineItem" not in items[1]
    # cancelling returns an empty response
    links, message = lms.deep_link(browser, [], cancel=True)
    assert links == [] and message[c.DEEP_LINKING_CONTENT_ITEMS] == []


def _deep_link_page(app, lms, settings_change):
    browser = TestLms.browser(app)
    login = lms.login(browser, "designer", message_type=c.DEEP_LINKING_REQUEST, locale="en")
    claims = lms.platform.launch_claims(
        "designer",
        nonce=login.auth_query["nonce"],
        message_type=c.DEEP_LINKING_REQUEST,
        locale="en",
    )
    claims[c.DEEP_LINKING_SETTINGS].update(settings_change)
    token = lms.platform.sign(claims)
    response = lms.post_launch(browser, {"id_token": token, "state": login.auth_query["state"]})
    return browser, TestLms.landing_page(browser, response)


def test_one_item_only_and_no_links_accepted(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    browser, page = _deep_link_page(app, lms, {"accept_multiple": False})
    html = page.get_data(as_text=True)
    assert 'type="radio" id="item-mapping-' in html
    form = next(f for f in parse_forms(html) if f["method"] == "post")
    response = browser.post(
        form["action"],
        data={
            "csrf_token": form["fields"]["csrf_token"],
            "item": [f"mapping:{mapping_id}", "home"],
        },
    )
    assert response.status_code == 422
    assert "choose one" in response.get_data(as_text=True)

    browser, page = _deep_link_page(app, lms, {"accept_types": ["link", "file"]})
    html = page.get_data(as_text=True)
    assert "does not accept links to tools" in html
    assert "item-mapping-" not in html


def test_moodle_xml_import_through_the_item_bank_page(app, lms, care):
    browser = designer_browser(app, lms)
    page = browser.get("/designer/items").get_data(as_text=True)
    form = next(
        f
        for f in parse_forms(page)
        if (f["action"] or "").split("?")[0] == "/designer/items/import"
    )
    data = (QUESTIONS / "moodle-export.xml").read_bytes()
    response = browser.post(
        form["action"],
        data={
            "csrf_token": form["fields"]["csrf_token"],
            "format": "moodle-xml",
            "language": "nb",
            "competence_ids": [str(care["competences"]["legemidler"])],
            "file": (io.BytesIO(data), "moodle-export.xml"),
        },
        content_type="multipart/form-data",
    )
    # the export holds an essay and a short-answer question: they are skipped, and nothing
    # is written before the designer confirms the preview
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Questions of type essay cannot be imported" in html
    assert "Questions to import" in html
    with app.app_context():
        assert get_session().scalars(select(Item)).all() == []


def test_gift_import_creates_items_tied_to_the_chosen_competence(app, lms, care):
    browser = designer_browser(app, lms)
    gift = (
        "::dose::Hvor mange ml er 50 mg av 10 mg/ml? {#5:0}\n\n"
        "::kontroll::Dobbeltkontroll gjøres av to personer. {T}\n\n"
        "::hvem::Hvem signerer? {=Begge ~Den ene ~Ingen}\n"
    ).encode()
    page = browser.get("/designer/items").get_data(as_text=True)
    form = next(
        f
        for f in parse_forms(page)
        if (f["action"] or "").split("?")[0] == "/designer/items/import"
    )
    response = browser.post(
        form["action"],
        data={
            "csrf_token": form["fields"]["csrf_token"],
            "format": "gift",
            "language": "nb",
            "competence_ids": [str(care["competences"]["legemidler"])],
            "file": (io.BytesIO(gift), "bank.gift"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    confirm = next(
        f
        for f in parse_forms(response.get_data(as_text=True))
        if (f["action"] or "").split("?")[0] == "/designer/items/import/confirm"
    )
    response = browser.post(confirm["action"], data=confirm["fields"])
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        items = get_session().scalars(select(Item).order_by(Item.code)).all()
        assert [(i.code, i.kind, i.source) for i in items] == [
            ("dose", "numeric", "gift"),
            ("hvem", "single_choice", "gift"),
            ("kontroll", "true_false", "gift"),
        ]
        assert all(
            [ic.competence_id for ic in i.competences] == [care["competences"]["legemidler"]]
            for i in items
        )


def test_item_statistics_after_attempts(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    take(app, lms, "manager", link_id, NURSE_HALF)
    take(app, lms, "designer", link_id, NURSE_HALF)
    browser = designer_browser(app, lms)
    html = browser.get(f"/designer/mappings/{mapping_id}/statistics").get_data(as_text=True)
    assert "3 submitted attempts." in html
    assert "Mean score: 66.7 %." in html
    # kunn-3 (numeric) everyone right: facility 1.00, no spread → no discrimination
    row = html.split("kunn-3")[1].split("</tr>")[0]
    assert "1.00" in row and "–" in row
    row = html.split("kunn-1")[1].split("</tr>")[0]
    assert "0.33" in row and "1.00" in row


def test_invalid_item_lists_every_problem_and_writes_nothing(app, lms, care):
    browser = designer_browser(app, lms)
    response = create_item(
        browser,
        "single_choice",
        "Et spørsmål uten riktig svar",
        {care["competences"]["legemidler"]: 1},
        options=[("A", False), ("B", False)],
    )
    assert response.status_code == 422
    assert "Mark one option as fully correct." in response.get_data(as_text=True)
    response = create_item(browser, "multiple_choice", "", {}, options=[("A", True)])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Write the question or statement in at least one language." in html
    with app.app_context():
        assert get_session().scalars(select(Item)).all() == []


def test_the_worker_submits_an_abandoned_timed_attempt_and_sends_its_score(
    app, lms, care, gradebook, cli, monkeypatch
):
    mapping_id = build_mapping(app, lms, care)
    set_rules(app, lms, mapping_id, time_limit_minutes="5")
    link_id = place(lms, app, gradebook, mapping_id)
    start_attempt(app, lms, link_id)  # started, then the browser is closed for good
    result = cli("worker", "--once")  # not overdue yet: nothing happens
    assert "delivered=0" in result.output
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    monkeypatch.setattr("lti_tool.db.utcnow", lambda: later)
    monkeypatch.setattr("lti_tool.services.score_delivery.utcnow", lambda: later)
    result = cli("worker", "--once")
    assert "delivered=1" in result.output
    lineitem = lms.platform.links[link_id].lineitem
    assert gradebook.given("101", lineitem) == [0]
    with app.app_context():
        attempt = get_session().scalars(select(Attempt)).one()
        assert attempt.status == AttemptStatus.SUBMITTED


def test_a_published_mappings_code_cannot_change(app, lms, care):
    mapping_id = build_mapping(app, lms, care)
    browser = designer_browser(app, lms)
    page = browser.get(f"/designer/mappings/{mapping_id}").get_data(as_text=True)
    form = next(
        f
        for f in parse_forms(page)
        if (f["action"] or "").split("?")[0].endswith(f"/mappings/{mapping_id}")
    )
    # the parser keeps every radio and checkbox: send what the browser would
    data = {**form["fields"], "code": "nytt-navn", "selection": "fixed"}
    data.pop("shuffle")
    response = browser.post(form["action"], data=data)
    assert response.status_code == 422
    assert "cannot change once the mapping has been published" in response.get_data(as_text=True)
    with app.app_context():
        assert get_session().get(Mapping, mapping_id).code == "sykepleier-kartlegging"


def test_adding_nothing_asks_for_a_choice(app, lms, care):
    browser, page = _deep_link_page(app, lms, {})
    form = next(f for f in parse_forms(page.get_data(as_text=True)) if f["method"] == "post")
    response = browser.post(form["action"], data={"csrf_token": form["fields"]["csrf_token"]})
    assert response.status_code == 422
    assert "Choose what to add, or cancel." in response.get_data(as_text=True)


def test_a_score_goes_only_to_the_column_of_the_mapping_placed_there(app, lms, care, gradebook):
    """A learner who opens another mapping from a placed link must not overwrite the
    placed mapping's column."""
    first = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, first)
    browser = designer_browser(app, lms)
    second = create_mapping(
        browser,
        "personvern",
        "Personvern",
        competence_ids=[str(care["competences"]["personvern"])],
    )
    page = browser.get(f"/designer/mappings/{second}").get_data(as_text=True)
    form = next(
        f
        for f in parse_forms(page)
        if (f["action"] or "").endswith("/items") or "/items?" in (f["action"] or "")
    )
    ids = re.findall(r'name="item_ids" type="checkbox" value="(\d+)"', page)
    browser.post(form["action"], data={"csrf_token": form["fields"]["csrf_token"], "item_ids": ids})
    post_form(browser, f"/designer/mappings/{second}", f"/designer/mappings/{second}/publish")
    learner = TestLms.browser(app)
    response = lms.launch(learner, "learner", link=link_id, locale="en")
    assert lms.landing_path(response) == "/mappings/sykepleier-kartlegging"  # the link's
    page = learner.get("/mappings/personvern").get_data(as_text=True)
    form = next(f for f in parse_forms(page) if "/attempts" in (f["action"] or ""))
    location = learner.post(form["action"], data=form["fields"]).headers["Location"]
    review = learner.get(location.split("/items/")[0] + "/review").get_data(as_text=True)
    submit_form = next(f for f in parse_forms(review) if "/submit" in (f["action"] or ""))
    assert learner.post(submit_form["action"], data=submit_form["fields"]).status_code == 302
    with app.app_context():
        assert get_session().scalars(select(Attempt)).one().status == AttemptStatus.SUBMITTED
        assert get_session().scalars(select(ScoreDelivery)).all() == []


def test_editing_an_item_keeps_attempts_in_progress_working(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    learner, location = start_attempt(app, lms, link_id)
    with app.app_context():
        item_id = get_session().scalars(select(Item.id).where(Item.code == "kunn-1")).one()
    designer = designer_browser(app, lms)
    page = designer.get(f"/designer/items/{item_id}").get_data(as_text=True)
    form = next(f for f in parse_forms(page) if f["method"] == "post")
    data = {**form["fields"], "stem_nb": "Hvem har ansvaret for dobbeltkontroll?", "correct": "1"}
    data["competence_1"] = str(care["competences"]["legemidler"])  # a select: not parsed
    data["option_1_text_nb"] = "Begge som kontrollerer (rettet)"
    response = designer.post(form["action"], data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    _url, html = item_page_with(learner, location, "ansvaret for dobbeltkontroll")
    assert "Begge som kontrollerer (rettet)" in html
    assert "Bare den ene" in html


def test_thresholds_for_some_levels_only_are_refused_and_nothing_is_saved(app, lms, care):
    mapping_id = build_mapping(app, lms, care)
    legemidler = care["competences"]["legemidler"]
    personvern = care["competences"]["personvern"]
    browser = designer_browser(app, lms)
    response = post_form(
        browser,
        f"/designer/mappings/{mapping_id}",
        f"/designer/mappings/{mapping_id}/thresholds",
        **{f"threshold_{legemidler}_{n}": str(v) for n, v in ((1, 10), (2, 30), (3, 60), (4, 90))},
        **{f"threshold_{personvern}_3": "80"},
    )
    assert response.status_code == 422
    assert "Give a minimum for every level" in response.get_data(as_text=True)
    with app.app_context():
        mapping = get_session().get(Mapping, mapping_id)
        assert all(mc.thresholds == {} for mc in mapping.competences)
