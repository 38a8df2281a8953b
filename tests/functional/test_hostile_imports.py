"""Hostile import files: a NUL character (raw, or JSON's ``\\u0000``) or over-long text in
any importer's file is a problem naming where it is, never a 500 (PostgreSQL refuses NUL
and strings longer than a ``String(n)`` column), and nothing is written."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.interchange.job_roles_json import FORMAT as JOB_ROLES_FORMAT
from lti_tool.models import Competence, Framework, Item, JobRole, JobRoleAssignment
from tests.fakes.lms import TestLms
from tests.functional import test_api
from tests.functional.test_assignments import manager, staff, upload
from tests.functional.test_question_import import preview

# The fixtures used here: a client with a Bearer token, tokens, HR's manager and staff.
api, new_token = test_api.api, test_api.new_token
manager, staff = manager, staff

FAKES = Path(__file__).resolve().parent.parent / "fakes"
MOODLE_CSV = (FAKES / "frameworks" / "moodle-export.csv").read_text("utf-8")
CASE = json.loads((FAKES / "frameworks" / "case-external.json").read_text("utf-8"))
GIFT = "::Nødnummer::Hvilket nummer ringer du ved brann?{=110 ~112 ~113}\n"
NUL_REFUSED = "NUL character"


def counts(app: Any) -> tuple[int, ...]:
    with app.app_context():
        session = get_session()
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Framework, Competence, JobRole, Item, JobRoleAssignment)
        )


def post_file(api: Any, token: str, path: str, data: bytes, **fields: str) -> Any:
    return api.call(
        "post",
        path,
        token,
        data={"file": (io.BytesIO(data), "file"), **fields},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )


def refused(response: Any, *expected: str) -> list[str]:
    """The problems of a refused import; each expected text is in one of them."""
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    problems: list[str] = response.get_json()["problems"]
    for text in expected:
        assert any(text in problem for problem in problems), (text, problems)
    return problems


def case_with(**item: str) -> bytes:
    package = json.loads(json.dumps(CASE))
    package["CFItems"][1].update(item)
    return json.dumps(package).encode()


# --- competence frameworks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt", "where", "what"),
    [
        (
            MOODLE_CSV.replace("Tekstbehandling", "Tekst\x00behandling").encode(),
            "moodle-csv",
            "line 4, column 20",
            NUL_REFUSED,
        ),
        (
            MOODLE_CSV.replace('"Tekstbehandling"', "x" * 501).encode(),
            "moodle-csv",
            "line 4",
            "the title is longer than 500 characters",
        ),
        (
            MOODLE_CSV.replace("dokumenter<br>", "dokumenter<br>" + "x" * 5000).encode(),
            "moodle-csv",
            "line 4",
            "the description is longer than 5000 characters",
        ),
        (
            MOODLE_CSV.replace("kontor,tekst,", "kontor," + "t" * 101 + ",").encode(),
            "moodle-csv",
            "line 4",
            "must have between 1 and 100 characters",
        ),
        (
            MOODLE_CSV.replace("Ikke kompetent", "Ikke " + "k" * 500).encode(),
            "moodle-csv",
            "line 2",
            "the label of level 1 is longer than 500 characters",
        ),
        (
            case_with(abbreviatedStatement="Hånd\u0000hygiene"),
            "case",
            "field CFItems[1].abbreviatedStatement",
            NUL_REFUSED,
        ),
        (case_with(notes="\u0000"), "case", "field CFItems[1].notes", NUL_REFUSED),
        (
            case_with(abbreviatedStatement="h" * 501),
            "case",
            "0e1f0000-0000-4000-8000-000000000002",
            "the title is longer than 500 characters",
        ),
        (
            case_with(identifier="i" * 101),
            "case",
            "",
            "the identifier is longer than 100 characters",
        ),
        (
            json.dumps(CASE, indent=1).replace('"HY.1.2"', '"HY.\x00"').encode(),
            "case",
            "line 31, column 29",
            NUL_REFUSED,
        ),
    ],
)
def test_a_framework_file_with_nul_or_overlong_text_is_refused(
    app, lms, api, new_token, data, fmt, where, what
):
    before = counts(app)
    response = post_file(api, new_token(), "/frameworks/import", data, format=fmt)
    problems = refused(response, what)
    assert any(where in p and what in p for p in problems), problems
    assert counts(app) == before


def test_the_framework_command_refuses_a_nul(app, lms, cli, tmp_path):
    before = counts(app)
    path = tmp_path / "framework.csv"
    path.write_bytes(MOODLE_CSV.replace("Regneark", "Regne\x00ark").encode())
    result = cli("framework", "import", str(path), "--organisation", "Testkommune", ok=False)
    assert result.exit_code == 1, result.output
    assert "line 5, column 22: the text holds a NUL character" in result.output
    assert "Nothing imported: 1 problem(s)." in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert counts(app) == before


# --- job roles ------------------------------------------------------------------------------


def job_roles(**role: Any) -> bytes:
    document = {
        "format": JOB_ROLES_FORMAT,
        "version": 1,
        "job_roles": [{"code": "renholder", "title": {"nb": "Renholder"}, **role}],
    }
    return json.dumps(document).encode()


REQUIREMENT = {"framework": "hms", "framework_version": 1, "required_level": 1}


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        (job_roles(title={"nb": "Ren\u0000holder"}), "field job_roles[0].title.nb", NUL_REFUSED),
        (
            job_roles(requirements=[{**REQUIREMENT, "competence": "brann\u0000"}]),
            "field job_roles[0].requirements[0].competence",
            NUL_REFUSED,
        ),
        (job_roles(code="r" * 101), "field job_roles[0].code", "between 1 and 100 characters"),
        (
            job_roles(title={"nb": "R" * 501}),
            "field job_roles[0]",
            "the title is longer than 500 characters",
        ),
    ],
)
def test_a_job_role_file_with_nul_or_overlong_text_is_refused(
    app, lms, care, api, new_token, data, where, what
):
    before = counts(app)
    problems = refused(post_file(api, new_token(), "/job-roles/import", data), what)
    assert any(where in p and what in p for p in problems), problems
    assert counts(app) == before


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("framework_version", 10**20, "a whole number from 1 to 2147483647 is needed"),
        ("framework_version", 2**31, "a whole number from 1 to 2147483647 is needed"),
        ("required_level", 10**20, "a whole number from 1 to 10 is needed"),
        ("required_level", -1, "a whole number from 1 to 10 is needed"),
        ("renewal_months", 10**20, "a whole number from 1 to 240, or null, is needed"),
        ("renewal_months", 0, "a whole number from 1 to 240, or null, is needed"),
    ],
)
def test_a_job_role_file_with_a_number_out_of_range_is_refused_naming_where(
    app, lms, care, api, new_token, field, value, what
):
    before = counts(app)
    requirement = {**REQUIREMENT, "competence": "brann", field: value}
    data = job_roles(requirements=[requirement])
    problems = refused(post_file(api, new_token(), "/job-roles/import", data))
    assert problems == [f"field job_roles[0].requirements[0].{field}: {what}"]
    norsk = api.call(
        "post",
        "/job-roles/import",
        new_token(),
        data={"file": (io.BytesIO(data), "file")},
        content_type="multipart/form-data",
        headers={"Accept-Language": "nb"},
    )
    assert norsk.status_code == 422
    assert f"{field}: et heltall fra 1 til" in norsk.get_json()["problems"][0]
    assert counts(app) == before


# --- questions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt", "where", "what"),
    [
        (GIFT.replace("brann", "br\x00ann").encode(), "gift", "line 1, column 45", NUL_REFUSED),
        (
            GIFT.replace("Hvilket", "x" * 2001).encode(),
            "gift",
            "line 1, question “Nødnummer”",
            "the question's text is longer than 2000 characters",
        ),
        (
            GIFT.replace("~112", "~" + "1" * 2001).encode(),
            "gift",
            "line 1, question “Nødnummer”",
            "an answer's text is longer than 2000 characters",
        ),
        (
            b"<quiz><question type='truefalse'><name><text>N\x00</text></name></question></quiz>",
            "moodle-xml",
            "line 1, column 47",
            NUL_REFUSED,
        ),
    ],
)
def test_a_question_file_with_nul_or_overlong_text_is_refused(
    app, lms, care, api, new_token, data, fmt, where, what
):
    before = counts(app)
    for dry_run in ("true", "false"):
        response = post_file(
            api,
            new_token(),
            "/items/import",
            data,
            format=fmt,
            competence="office",
            dry_run=dry_run,
        )
        problems = refused(response, what)
        assert any(where in p and what in p for p in problems), problems
    assert counts(app) == before


def test_the_designer_sees_the_nul_in_a_question_file(app, lms, care):
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "designer", locale="en"))
    page = preview(browser, GIFT.replace("brann", "br\x00ann").encode(), "q.gift", "gift")
    assert page.status_code == 422
    shown = "<td>line 1, column 45</td><td>the text holds a NUL character"
    assert shown in page.get_data(as_text=True)
    assert counts(app)[3] == 0


# --- HR's assignments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csv_text", "where"),
    [
        (
            "person_sourcedid,job_role\nEMP-learner,syke\x00pleier\n",
            "<td>2</td><td>job_role</td><td>",
        ),
        (
            "person_sourcedid,job_role\nEMP-\x00learner,sykepleier\n",
            "<td>2</td><td>person_sourcedid</td><td>",
        ),
        (
            "email,unit\nansatt@demokommune.example,hjemme\x00tjenesten\n",
            "<td>2</td><td>unit</td><td>",
        ),
    ],
)
def test_an_hr_file_with_a_nul_is_refused(app, lms, care, manager, staff, csv_text, where):
    before = counts(app)
    response = upload(manager, csv_text)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    page = response.get_data(as_text=True)
    assert where + "The text holds a NUL character" in page, page
    assert counts(app) == before


def test_the_hr_command_refuses_a_nul(app, lms, care, staff, tmp_path):
    path = tmp_path / "hr.csv"
    path.write_bytes(b"person_sourcedid,job_role\nEMP-learner,syke\x00pleier\n")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["assignments", "import", str(path), "--organisation", "Testkommune"]
    )
    assert result.exit_code == 1, result.output
    assert "row 2, job_role: " in result.output and NUL_REFUSED in result.output
    assert counts(app)[4] == 0
