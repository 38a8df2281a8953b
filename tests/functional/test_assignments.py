"""Job roles and units from self-choice, managers and HR's CSV file, scoped by organisation."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import JobRole, JobRoleAssignment, Person, UnitAssignment
from tests.fakes import content
from tests.fakes.lms import TestLms, parse_forms
from tests.functional.test_admin_console import add_platform
from tests.functional.test_deployments import other_lms
from tests.functional.test_learner_requirements import launch, page, rows


@pytest.fixture
def manager(app: Any, lms: TestLms) -> Any:
    """A manager of the whole organisation: its admin (a manager by LMS role manages no
    unit until an admin grants one: test_audit, test_grants)."""
    browser = TestLms.browser(app)
    launch(lms, browser, "admin")
    return browser


def person_id(app: Any, sub: str, issuer: str = "https://moodle.example") -> int:
    with app.app_context():
        found = get_session().scalar(
            select(Person.id).where(Person.sub == sub, Person.platform.has(issuer=issuer))
        )
        assert found is not None
        return found


def form_for(html: str, action_part: str, **match: str) -> dict[str, Any]:
    for form in parse_forms(html):
        if action_part in (form["action"] or "") and all(
            form["fields"].get(k) == v for k, v in match.items()
        ):
            return form
    raise AssertionError(f"no form posting to {action_part} with {match}")


def post_form(browser: Any, html: str, action_part: str, data: dict | None = None, **match: str):
    form = form_for(html, action_part, **match)
    return browser.post(form["action"], data={**form["fields"], **(data or {})})


def end_confirmed(browser: Any, html: str, kind: str, nth: int = 0) -> Any:
    """A person page's ``nth`` End of a ``kind`` (role, unit): its confirmation page, then
    the confirmation's button."""
    ends = [
        f for f in parse_forms(html) if f"/{kind}/" in f["action"] and f["action"].endswith("/end")
    ]
    assert ends and ends[nth]["method"] == "get", ends  # asks first: changes nothing
    confirmation = browser.get(ends[nth]["action"])
    assert confirmation.status_code == 200, confirmation.get_data(as_text=True)
    return post_form(browser, confirmation.get_data(as_text=True), ends[nth]["action"])


def count(app: Any, model: Any) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model))


# --- self-choice ----------------------------------------------------------------------------


def test_self_choice_waits_for_a_manager_then_counts(app, lms, care, manager):
    learner = TestLms.browser(app)
    launch(lms, learner)
    html = page(learner)
    response = post_form(
        learner,
        html,
        "/learner/job-roles",
        {
            "job_role_ids": [str(care["roles"]["sykepleier"])],
            "unit_id": str(care["units"]["sykehjemmet"]),
        },
    )
    assert response.status_code == 302
    html = page(learner)
    assert "Awaiting a manager" in html
    assert "Legemiddelhåndtering (en)" not in html  # not before approval
    assert rows(app) == [("sykepleier", "self", "pending", False)]

    home = page(manager, "/manager/")
    assert "Demo Ansatt" in home
    assert "Job role: Sykepleier (en)" in home and "Unit: Sykehjemmet" in home
    for form in parse_forms(home):
        if (form["action"] or "").split("?")[0].endswith("/approve"):
            assert manager.post(form["action"], data=form["fields"]).status_code == 302
    with app.app_context():
        held = get_session().scalars(select(JobRoleAssignment)).one()
        assert held.status.value == "active"
        assert held.decided_by_id == person_id(app, "2")  # the admin
        assert held.decided_at is not None
    assert rows(app, UnitAssignment) == [("sykehjemmet", "self", "active", False)]
    html = page(learner)
    assert "Legemiddelhåndtering (en)" in html and "Sykehjemmet" in html
    assert "No choices await your decision." in page(manager, "/manager/")


def test_a_manager_rejects_a_choice(app, lms, care, manager):
    learner = TestLms.browser(app)
    launch(lms, learner)
    post_form(
        learner,
        page(learner),
        "/learner/job-roles",
        {"job_role_ids": [str(care["roles"]["sykepleier"])]},
    )
    home = page(manager, "/manager/")
    reject = next(
        f for f in parse_forms(home) if (f["action"] or "").split("?")[0].endswith("/reject")
    )
    assert manager.post(reject["action"], data=reject["fields"]).status_code == 302
    assert rows(app) == [("sykepleier", "self", "ended", True)]
    assert "Choose your job role" in page(learner)


def test_a_self_choice_needs_a_role(app, lms, care):
    learner = TestLms.browser(app)
    launch(lms, learner)
    response = post_form(learner, page(learner), "/learner/job-roles", {"job_role_ids": []})
    assert response.status_code == 422
    # in English, as the page the form was on (``page`` asks ?lang=en: the choice stays)
    assert "Choose at least one job role." in response.get_data(as_text=True)
    assert rows(app) == []


def test_a_self_choice_of_another_organisations_role_is_not_found(
    app, lms, care, platform_pem, mocked_http
):
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "c-2", "d-2")
    add_platform(app, other, "Annenkommune")
    with app.app_context():
        theirs = content.job_role(content.organisation_id("Annenkommune"), "x", "X", [])
        get_session().commit()
    learner = TestLms.browser(app)
    launch(lms, learner)
    response = post_form(learner, page(learner), "/learner/job-roles", {"job_role_ids": [theirs]})
    assert response.status_code == 404
    assert rows(app) == []


def offered(html: str) -> tuple[list[str], list[str]]:
    """The start page's choices: the job roles' titles and the units' names, in order."""
    roles = re.findall(r'name="job_role_ids" value="\d+"> ([^<]*)</label>', html)
    units = re.findall(r'<option value="\d+">([^<]*)</option>', html)
    return roles, units


def awaiting(html: str) -> str | None:
    """What the start page lists as awaiting a manager's approval, if anything."""
    found = re.search(r"<dt>Awaiting a manager's approval</dt>\s*<dd>(.*?)</dd>", html)
    return found.group(1) if found else None


def test_choices_wait_beside_the_roles_held_and_are_offered_only_without_an_active_role(
    app, lms, care
):
    """The start page reads the person's roles and units, pending or not, and the choices
    in one statement: the choices only while no job role is active (a pending one is not)."""
    learner = TestLms.browser(app)
    launch(lms, learner)
    html = page(learner)
    assert awaiting(html) is None
    assert offered(html) == (
        ["Helsefagarbeider (en)", "Sykepleier (en)", "Tom rolle (en)"],  # by code
        ["Hjemmetjenesten", "Sykehjemmet"],  # by name; not the sector
    )
    roles = [str(care["roles"][code]) for code in ("tomrolle", "sykepleier")]
    post_form(
        learner,
        html,
        "/learner/job-roles",
        {"job_role_ids": roles, "unit_id": str(care["units"]["sykehjemmet"])},
    )
    html = page(learner)
    assert awaiting(html) == "Tom rolle (en), Sykepleier (en); Sykehjemmet"  # as chosen
    assert "Choose your job role" in html and offered(html)[0]  # nothing active yet

    launch(lms, learner, job_role="helsefagarbeider", unit="hjemmetjenesten")
    html = page(learner)
    assert "<dd>Helsefagarbeider (en)</dd>" in html and "<dd>Hjemmetjenesten</dd>" in html
    assert awaiting(html) == "Tom rolle (en), Sykepleier (en); Sykehjemmet"
    assert "Choose your job role" not in html and offered(html) == ([], [])
    assert "MS Office (en)" in html  # the active role's requirements


# --- a manager assigns and ends ---------------------------------------------------------------


def test_a_manager_assigns_and_ends_roles_and_units(app, lms, care, manager):
    learner = TestLms.browser(app)
    launch(lms, learner)
    learner_id = person_id(app, "101")
    html = page(manager, f"/manager/people/{learner_id}")
    role = str(care["roles"]["helsefagarbeider"])
    response = post_form(manager, html, "/assign", {"target_id": role}, kind="role")
    assert response.status_code == 302
    unit = str(care["units"]["hjemmetjenesten"])
    post_form(manager, html, "/assign", {"target_id": unit}, kind="unit")
    post_form(manager, html, "/assign", {"target_id": role}, kind="role")  # twice: one row
    assert rows(app) == [("helsefagarbeider", "manager", "active", False)]
    assert rows(app, UnitAssignment) == [("hjemmetjenesten", "manager", "active", False)]
    assert "MS Office (en)" in page(learner)

    html = page(manager, f"/manager/people/{learner_id}")
    assert "by a manager" in html
    ended = end_confirmed(manager, html, "role")  # the whole organisation's manager: still theirs
    assert ended.status_code == 302 and ended.headers["Location"].endswith(f"/people/{learner_id}")
    assert rows(app) == [("helsefagarbeider", "manager", "ended", True)]
    assert "Choose your job role" in page(learner)


def test_launch_roles_are_not_doubled_by_a_manager_and_survive_the_lms(app, lms, care, manager):
    learner = TestLms.browser(app)
    launch(lms, learner, job_role="sykepleier")
    html = page(manager, f"/manager/people/{person_id(app, '101')}")
    post_form(
        manager, html, "/assign", {"target_id": str(care["roles"]["sykepleier"])}, kind="role"
    )
    post_form(
        manager, html, "/assign", {"target_id": str(care["roles"]["helsefagarbeider"])}, kind="role"
    )
    launch(lms, learner, job_role="")  # the LMS no longer sends a role
    assert rows(app) == [
        ("sykepleier", "launch", "ended", True),
        ("helsefagarbeider", "manager", "active", False),
    ]


def test_manager_forms_need_the_csrf_token(app, lms, care, manager):
    learner = TestLms.browser(app)
    launch(lms, learner)
    url = f"/manager/people/{person_id(app, '101')}/assign"
    response = manager.post(url, data={"kind": "role", "target_id": care["roles"]["sykepleier"]})
    assert response.status_code == 400
    assert rows(app) == []


@pytest.mark.parametrize("persona", ["learner", "designer"])
def test_learners_and_designers_are_refused_the_manager_pages(app, lms, care, persona):
    browser = TestLms.browser(app)
    launch(lms, browser, persona)
    own = person_id(app, {"learner": "101", "designer": "102"}[persona])
    assert browser.get("/manager/").status_code == 403
    assert browser.get(f"/manager/people/{own}").status_code == 403


# --- another municipality -------------------------------------------------------------------


@pytest.fixture
def annen(app: Any, platform_pem: bytes, mocked_http: Any) -> TestLms:
    """Annenkommune's Canvas, with its own 'sykepleier' job role and one requirement."""
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, other, "Annenkommune")
    with app.app_context():
        org = content.organisation_id("Annenkommune")
        ids = content.framework(org, "dig", "Digital kompetanse", {"it": "IT-systemer"})
        content.job_role(org, "sykepleier", "Sykepleier i Annen", [(ids["it"], 4, True, None)])
        get_session().commit()
    return other


def test_a_second_municipality_sees_none_of_it(app, lms, care, manager, annen):
    ours = TestLms.browser(app)
    launch(lms, ours, job_role="sykepleier")
    theirs = TestLms.browser(app)
    launch(annen, theirs, job_role="sykepleier")

    html = page(theirs)
    assert "Sykepleier i Annen (en)" in html
    assert "IT-systemer (en)" in html and "Level 4 of 4: Expert" in html
    assert "Legemiddelhåndtering" not in html
    assert "Legemiddelhåndtering (en)" in page(ours)
    assert "IT-systemer" not in page(ours)

    their_manager = TestLms.browser(app)
    launch(annen, their_manager, "admin")
    home = page(their_manager, "/manager/")
    assert "Sykepleier i Annen (en)" in home
    our_learner = person_id(app, "101")
    assert their_manager.get(f"/manager/people/{our_learner}").status_code == 404
    # … nor can they end our learner's role, whatever the token
    with app.app_context():
        ours_row = get_session().scalar(
            select(JobRoleAssignment.id).where(JobRoleAssignment.person_id == our_learner)
        )
    csrf = form_for(home, "/manager/import")["fields"]
    response = their_manager.post(f"/manager/assignments/role/{ours_row}/end", data=csrf)
    assert response.status_code == 404
    assert ("sykepleier", "launch", "active", False) in rows(app)

    # our manager lists only our people
    our_home = page(manager, "/manager/")
    their_learner = person_id(app, "101", "https://canvas.example")
    assert f"/manager/people/{their_learner}" not in our_home
    assert manager.get(f"/manager/people/{their_learner}").status_code == 404


def test_the_choices_offered_are_the_organisations_own(app, lms, care, annen):
    """Each municipality's learner without a job role is offered its own job roles and
    units in use, never another's: an archived role, a sector, Annen's unit are not."""
    with app.app_context():
        org = content.organisation_id("Annenkommune")
        content.unit(org, "annen-enhet", "Enhet i Annen")
        archived = content.job_role(care["organisation_id"], "gammel", "Gammel rolle", [])
        get_session().get_one(JobRole, archived).archived = True
        get_session().commit()
    ours, theirs = TestLms.browser(app), TestLms.browser(app)
    launch(lms, ours)
    launch(annen, theirs)

    assert offered(page(ours)) == (
        ["Helsefagarbeider (en)", "Sykepleier (en)", "Tom rolle (en)"],
        ["Hjemmetjenesten", "Sykehjemmet"],
    )
    assert offered(page(theirs)) == (["Sykepleier i Annen (en)"], ["Enhet i Annen"])


# --- HR's CSV file --------------------------------------------------------------------------


def upload(browser: Any, csv_text: str | bytes, name: str = "hr.csv") -> Any:
    home = page(browser, "/manager/")
    form = form_for(home, "/manager/import")
    data = csv_text.encode() if isinstance(csv_text, str) else csv_text
    action = form["action"] + ("&" if "?" in form["action"] else "?") + "lang=en"
    return browser.post(
        action,
        data={**form["fields"], "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def staff(app: Any, lms: TestLms, care: Any) -> None:
    """The learner and the designer have launched (the tool knows them)."""
    for persona in ("learner", "designer"):
        launch(lms, TestLms.browser(app), persona)


def test_an_import_writes_every_row(app, lms, care, manager, staff):
    response = upload(
        manager,
        "person_sourcedid;email;job_role;unit\n"
        "EMP-learner;;sykepleier;hjemmetjenesten\n"
        "EMP-learner;;helsefagarbeider;\n"
        ";KURSUTVIKLER@demokommune.example;;sykehjemmet\n",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    home = manager.get(response.headers["Location"]).get_data(as_text=True)
    assert "Imported 3 rows: 4 new, 0 already held." in home
    assert sorted(rows(app)) == [
        ("helsefagarbeider", "import", "active", False),
        ("sykepleier", "import", "active", False),
    ]
    assert sorted(rows(app, UnitAssignment)) == [
        ("hjemmetjenesten", "import", "active", False),
        ("sykehjemmet", "import", "active", False),
    ]
    response = upload(manager, "email,job_role\nansatt@demokommune.example,sykepleier\n")
    home = manager.get(response.headers["Location"]).get_data(as_text=True)
    assert "Imported 1 row: 0 new, 1 already held." in home
    assert count(app, JobRoleAssignment) == 2


def test_an_import_with_problems_writes_nothing_and_reports_each(app, lms, care, manager, staff):
    before = (count(app, JobRoleAssignment), count(app, UnitAssignment))
    response = upload(
        manager,
        "person_sourcedid,email,job_role,unit\n"
        "EMP-learner,,sykepleier,hjemmetjenesten\n"  # fine, but not written
        "EMP-nobody,,sykepleier,\n"  # row 3: unknown person
        ",,helsefagarbeider,\n"  # row 4: no person
        "EMP-designer,,brannmann,ukjent\n"  # row 5: unknown role and unit
        "EMP-designer,,,\n"  # row 6: nothing to assign
        "EMP-designer,,sykepleier,helse\n",  # row 7: a sector is not a unit
        name="ansatte.csv",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was imported: the file ansatte.csv has 6 problems." in html
    problems = html.split("import-problems")[1].split("</table>")[0]
    expected = [
        ("3", "person_sourcedid", "No one with EMP-nobody in your organisation"),
        ("4", "person_sourcedid/email", "Fill in person_sourcedid or email."),
        ("5", "job_role", "no job role with the code brannmann"),
        ("5", "unit", "no unit with the code ukjent"),
        ("6", "job_role/unit", "Fill in job_role or unit."),
        ("7", "unit", "no unit with the code helse"),
    ]
    for row, column, text in expected:
        assert f"<td>{row}</td><td>{column}</td><td>" in problems, (row, column)
        assert text in problems
    assert (count(app, JobRoleAssignment), count(app, UnitAssignment)) == before == (0, 0)


def test_an_import_checks_the_header_and_limits(app, lms, care, manager, staff, monkeypatch):
    html = upload(manager, "ansatt,stilling\nEMP-learner,sykepleier\n").get_data(as_text=True)
    assert "Unknown column ansatt." in html
    assert "The header needs a person_sourcedid or an email column." in html
    assert "The header needs a job_role or a unit column." in html
    assert "The file is empty." in upload(manager, "\n\n").get_data(as_text=True)
    from lti_tool.services import assignment_import

    monkeypatch.setattr(assignment_import, "MAX_IMPORT_ROWS", 2)
    many = "email,job_role\n" + "ansatt@demokommune.example,sykepleier\n" * 3
    assert "more than 2 rows" in upload(manager, many).get_data(as_text=True)
    monkeypatch.setattr(assignment_import, "MAX_IMPORT_BYTES", 1024)
    big = "email,job_role\n" + "ansatt@demokommune.example,sykepleier\n" * 40
    assert "larger than 1 kB" in upload(manager, big).get_data(as_text=True)
    assert count(app, JobRoleAssignment) == 0


def test_an_excel_file_in_windows_1252_is_read(app, lms, care, manager, staff):
    with app.app_context():
        content.unit(care["organisation_id"], "sjøsiden", "Sjøsiden")
        get_session().commit()
    data = "email;unit\r\nansatt@demokommune.example;sjøsiden\r\n".encode("cp1252")
    response = upload(manager, data)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert rows(app, UnitAssignment) == [("sjøsiden", "import", "active", False)]


def test_the_import_command(app, lms, care, staff, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("person_sourcedid,job_role\nEMP-learner,sykepleier\n")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["assignments", "import", str(good), "--organisation", "Testkommune"]
    )
    assert result.exit_code == 0, result.output
    assert "Imported 1 row(s): 1 new, 0 already held." in result.output
    assert rows(app) == [("sykepleier", "import", "active", False)]

    bad = tmp_path / "bad.csv"
    bad.write_text("person_sourcedid,job_role\nEMP-learner,helsefagarbeider\nEMP-x,lege\n")
    result = runner.invoke(
        args=["assignments", "import", str(bad), "--organisation", "Testkommune"]
    )
    assert result.exit_code == 1
    assert "row 3, person_sourcedid: No one with EMP-x" in result.output
    assert "row 3, job_role: Your organisation has no job role with the code lege." in result.output
    assert "Nothing imported: 2 problem(s)." in result.output
    assert len(rows(app)) == 1

    result = runner.invoke(args=["assignments", "import", str(good), "--organisation", "Ingen"])
    assert result.exit_code == 1


def test_an_import_only_matches_people_of_the_organisation(app, lms, care, manager, annen):
    launch(annen, TestLms.browser(app))  # Annenkommune's learner: same sourcedid and email
    response = upload(manager, "person_sourcedid,job_role\nEMP-learner,sykepleier\n")
    assert response.status_code == 422
    assert "No one with EMP-learner in your organisation" in response.get_data(as_text=True)


def test_launch_custom_claims_are_kept_on_the_launch(app, lms, care):
    """The sourcedid the import matches comes from the launch's lis claim."""
    launch(lms, TestLms.browser(app), job_role="sykepleier")
    with app.app_context():
        from lti_tool.models import Launch

        claims = get_session().scalars(select(Launch)).one().claims
        assert claims[c.LTI + "lis"]["person_sourcedid"] == "EMP-learner"
