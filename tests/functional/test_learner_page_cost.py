"""What the learner's start page and learning plan cost for a person with 3 job roles and
300 required competences (issue 15 item 2; bench/pages_bench.py times them): the same
statements as for a person with two requirements, and a plan page that renders one page
of 20 open requirements, each entry's answers still on it and working."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from lti_tool.db import get_session
from lti_tool.services.evidence import record_evidence
from tests.fakes import content
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import add_all_items, create_mapping, designer_browser, publish
from tests.functional.test_assignments import post_form
from tests.functional.test_certification_flow import earn, learner_browser
from tests.functional.test_gap_analysis import _course
from tests.functional.test_learner_requirements import launch
from tests.functional.test_learning_plan import LEARNER, person_id
from tests.functional.test_mapping_flow import build_mapping
from tests.functional.test_unit_matrix import evidence
from tests.statements import statements_run

REQUIRED = 300
ROLES = ("rolle0", "rolle1", "rolle2")


@pytest.fixture
def large(app: Any, care: dict[str, Any]) -> dict[str, Any]:
    """Three overlapping job roles of 120 requirements each (300 competences in all), and
    60 e-learning activities developing 5 of them each, as the benchmark has them."""
    org = care["organisation_id"]
    with app.app_context():
        ids = content.framework(
            org,
            "stor",
            "Stort rammeverk",
            {f"k{i:03d}": f"Kompetanse {i:03d}" for i in range(REQUIRED)},
        )
        for r, code in enumerate(ROLES):
            content.job_role(
                org,
                code,
                f"Rolle {r}",
                [
                    (ids[f"k{i:03d}"], 1 + (i + r) % 4, i % 3 != 0, None)
                    for i in range(r * 90, r * 90 + 120)
                ],
            )
        for n in range(60):
            _course(org, f"kurs-{n:02d}", {ids[f"k{n * 5 + k:03d}"]: 4 for k in range(5)})
        get_session().commit()
    return {**care, "large": ids}


def get(browser: Any, path: str, **query: Any) -> str:
    response = browser.get(path, query_string={"lang": "en", **query})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def cost(app: Any, browser: Any, path: str) -> int:
    get(browser, path)
    with statements_run(app) as run:
        get(browser, path)
    return len(run)


def test_the_start_page_and_the_plan_cost_the_same_statements_for_300_requirements(app, lms, large):
    small, many = TestLms.browser(app), TestLms.browser(app)
    launch(lms, small, "learner2", job_role="sykepleier", unit="hjemmetjenesten")
    launch(lms, many, "learner", job_role=",".join(ROLES), unit="hjemmetjenesten")
    home = get(many, "/learner/")
    assert home.count('class="requirement"') == REQUIRED
    assert "Kompetanse 299 (en)" in home and "Level 4 of 4: Expert" in home
    counts = {
        path: [cost(app, b, path) for b in (small, many)] for path in ("/learner/", "/learner/plan")
    }
    # the start page: launch (the learner was never granted a permission: no grants read),
    # roles and units with the roles' mapping (one statement), requirements (with their
    # competences and frameworks), scales, levels shown, certificates
    assert counts["/learner/"] == [6, 6], counts
    # the plan: launch, the organisation's window, job roles and requirements
    # (two), the person, their roles, holdings, labels, activities, held by, stored items;
    # the person with two requirements has no activity to look sessions up for
    assert counts["/learner/plan"] == [10, 11], counts


def test_the_plan_of_300_requirements_comes_20_at_a_time_and_every_answer_works(app, lms, large):
    browser = TestLms.browser(app)
    launch(lms, browser, "learner", job_role=",".join(ROLES), unit="hjemmetjenesten")
    first = get(browser, "/learner/plan")
    assert first.count('<article class="plan-line"') == 20
    assert "0 of 300 requirements met" in first
    assert "Requirements 1–20 of 300 that call for action (page 1 of 15)." in first
    assert (
        '<nav aria-label="Pages of what to do"' in first
        and '<span aria-current="page"><span class="visually-hidden">Page </span>1</span>' in first
    )
    # 15 pages: the first, the two after it and the last, a gap marked between (the pager
    # above the list and the one below it)
    links = re.findall(r'\?page=(\d+)(?:&amp;met_page=\d+)?#todo-title"><span', first)
    assert links == ["2", "3", "15"] * 2, links
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = get(browser, "/learner/plan", page=2)
    assert "Requirements 21–40 of 300" in second and 'rel="prev"' in second
    shown = {f["fields"]["entry"] for f in parse_forms(first) if f["fields"].get("entry")}
    later = [
        f
        for f in parse_forms(second)
        if f["fields"].get("entry") and f["fields"].get("answer") == "declined"
    ]
    assert later and not shown & {f["fields"]["entry"] for f in later}
    # out of range or not a number: the nearest page, never an error
    assert "(page 15 of 15)" in get(browser, "/learner/plan", page=99)
    assert "(page 1 of 15)" in get(browser, "/learner/plan", page="x")

    # a refused answer comes back on the page that holds its entry, the form open
    form = later[0]
    entry = form["fields"]["entry"]
    refused = browser.post(
        form["action"] + "&lang=en" if "?" in form["action"] else form["action"] + "?lang=en",
        data=form["fields"],
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "(page 2 of 15)" in html and f'href="#plan-{entry}-reason"' in html
    assert "<details open>" in html
    answered = browser.post(
        form["action"] + ("&" if "?" in form["action"] else "?") + "lang=en",
        data={**form["fields"], "reason": "Tatt før"},
    )
    assert answered.status_code == 302
    assert "page=2" in answered.headers["Location"]  # back to the page it was given on
    assert "Your reason: Tatt før" in get(browser, "/learner/plan", page=2)


def test_met_requirements_come_20_at_a_time_too_and_cost_no_more_statements(app, lms, large):
    browser = TestLms.browser(app)
    launch(lms, browser, "learner", job_role=",".join(ROLES), unit="hjemmetjenesten")
    learner = person_id(app, LEARNER)
    with app.app_context():  # level 4 shown for the first 250: met (50 remain to do)
        when = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        record_evidence(
            get_session(),
            [
                evidence(large["organisation_id"], learner, large["large"][f"k{i:03d}"], 4, when)
                for i in range(250)
            ],
        )
        get_session().commit()
    html = get(browser, "/learner/plan")
    assert "250 of 300 requirements met" in html
    assert "Requirements 1–20 of 250 met (page 1 of 13)." in html
    assert '<nav aria-label="Pages of what is met"' in html
    assert html.count('<li class="plan-line">') == 20
    assert "(page 1 of 3)" in html  # what to do: 50
    last = get(browser, "/learner/plan", page=3, met_page=13)
    assert "Requirements 241–250 of 250 met (page 13 of 13)." in last
    assert last.count('<li class="plan-line">') == 10 and "(page 3 of 3)" in last
    assert cost(app, browser, "/learner/plan") == 11


def test_the_roles_mapping_costs_the_start_page_no_statement_of_its_own(app, lms, care):
    """The start page links the published mappings of the person's active job roles (each
    of a person of several roles, by id): their codes and titles come with the roles, not
    the mappings with their items (ten statements more)."""
    nurse = TestLms.browser(app)
    launch(lms, nurse, "learner2", job_role="sykepleier")
    without = cost(app, nurse, "/learner/")
    build_mapping(app, lms, care)  # the nurse's, published
    designer = designer_browser(app, lms)
    role = str(care["roles"]["helsefagarbeider"])
    later = create_mapping(designer, "hfa", "Kartlegging for helsefagarbeidere", job_role_id=role)
    add_all_items(designer, later)
    assert publish(designer, later).status_code == 302
    create_mapping(designer, "utkast", "Et utkast", job_role_id=role)  # a draft

    assert cost(app, nurse, "/learner/") == without == 6
    assert "Map your competence: Kartlegging for sykepleiere" in get(nurse, "/learner/")
    both = TestLms.browser(app)
    launch(lms, both, "learner", job_role="helsefagarbeider,sykepleier")
    offered = get(both, "/learner/")  # each of their roles' mappings, the first by id first
    first = offered.index("Map your competence: Kartlegging for sykepleiere")
    assert first < offered.index("Map your competence: Kartlegging for helsefagarbeidere")
    assert cost(app, both, "/learner/") == without
    worker = TestLms.browser(app)
    launch(lms, worker, "learner3", job_role="helsefagarbeider")
    assert "Map your competence: Kartlegging for helsefagarbeidere" in get(worker, "/learner/")
    chosen = TestLms.browser(app)  # a role awaiting a manager's decision: no mapping yet
    launch(lms, chosen, "manager")
    nurse_role = [str(care["roles"]["sykepleier"])]
    post_form(chosen, get(chosen, "/learner/"), "/learner/job-roles", {"job_role_ids": nurse_role})
    html = get(chosen, "/learner/")
    assert "Awaiting a manager" in html and "Map your competence" not in html


def test_the_certificates_on_the_start_page_cost_one_statement_of_plain_rows(app, lms, care):
    """The start page lists the person's current certificates from one statement of what
    it shows: not each certificate's certification, holder and status list."""
    earn(app, lms, care)
    holder = learner_browser(app, lms)
    html = get(holder, "/learner/")
    assert '<span class="status status-valid">Valid</span>' in html
    assert 'href="/certificates/' in html and "You hold no certificates yet." not in html
    with statements_run(app) as run:
        get(holder, "/learner/")
    read = [re.findall(r"\bFROM (\w+)", s)[0] for s in run]  # each statement's first table
    assert read.count("certificate") == 1, run
    assert not {"certification", "status_list", "person"} & set(read), read
