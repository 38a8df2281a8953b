"""The learner's "my requirements" page, fed by the LMS's custom parameters at launch."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import AssignmentSource, AssignmentStatus, JobRoleAssignment, UnitAssignment
from tests.fakes.lms import TestLms


def launch(lms: TestLms, client: Any, persona: str = "learner", **custom: str) -> Any:
    """A launch whose custom parameters are ``custom`` (none when empty)."""
    response = lms.signed_launch(client, persona, change={c.CUSTOM: custom})
    assert lms.landed(response), response.get_data(as_text=True)
    return response


def page(client: Any, path: str = "/learner/") -> str:
    response = client.get(path, query_string={"lang": "en"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def rows(app: Any, model: Any = JobRoleAssignment) -> list[tuple[str, str, str, bool]]:
    """Every assignment as (target code, source, status, has ended_at), oldest first."""
    with app.app_context():
        found = get_session().scalars(select(model).order_by(model.id))
        target = "job_role" if model is JobRoleAssignment else "unit"
        return [
            (getattr(a, target).code, a.source.value, a.status.value, a.ended_at is not None)
            for a in found
        ]


def test_a_launch_with_job_role_and_unit_shows_the_roles_requirements(app, lms, care):
    client = TestLms.browser(app)
    launch(lms, client, job_role="sykepleier", unit="hjemmetjenesten")
    html = page(client)
    assert "Sykepleier (en)" in html
    assert "Hjemmetjenesten" in html
    assert "Legemiddelhåndtering (en)" in html
    assert "Personvern (en)" in html
    assert "MS Office" not in html  # helsefagarbeider's, not the nurse's
    assert "Helse og omsorg (en) (version 1)" in html
    # required vs current, in words as well as bars
    assert "Level 3 of 4: Can guide others" in html
    assert "Level 2 of 4: Can apply" in html
    assert "Not shown yet" in html
    # the bars' widths are classes (the Content-Security-Policy allows no inline style)
    assert "bar-required width-75" in html and "bar-current width-0" in html
    css = client.get("/static/style.css")
    assert ".width-75 { width: 75%; }" in css.get_data(as_text=True)
    css.close()
    assert "Every 24 months" in html and "Every 12 months" in html
    assert rows(app) == [("sykepleier", "launch", "active", False)]
    assert rows(app, UnitAssignment) == [("hjemmetjenesten", "launch", "active", False)]


@pytest.mark.parametrize(
    ("lang", "every_24", "every_12"),
    [
        ("nb", "Hver 24. måned", "Hver 12. måned"),
        ("nn", "Kvar 24. månad", "Kvar 12. månad"),
        ("en", "Every 24 months", "Every 12 months"),
    ],
)
def test_the_renewal_words_follow_the_language(app, lms, care, lang, every_24, every_12):
    """The start page words each renewal once per page (the view makes them): in the
    reader's language and plural form."""
    client = TestLms.browser(app)
    launch(lms, client, job_role="sykepleier", unit="hjemmetjenesten")
    html = client.get("/learner/", query_string={"lang": lang}).get_data(as_text=True)
    assert every_24 in html and every_12 in html


def test_two_roles_give_the_union_with_the_highest_level(app, lms, care):
    client = TestLms.browser(app)
    launch(lms, client, job_role="sykepleier, helsefagarbeider")
    html = page(client)
    table = html.split("<table>")[1]
    legemidler = table.split("Legemiddelhåndtering (en)")[1].split("</tr>")[0]
    assert "3 – Can guide others" in legemidler  # 3 (nurse) beats 2 (health worker)
    assert "Every 12 months" in legemidler  # the shortest renewal
    assert "Sykepleier (en), Helsefagarbeider (en)" in legemidler or (
        "Helsefagarbeider (en), Sykepleier (en)" in legemidler
    )
    office = table.split("MS Office (en)")[1].split("</tr>")[0]
    assert "Recommended" in office and "Once is enough" in office


def test_unfilled_moodle_placeholders_are_ignored(app, lms, care):
    client = TestLms.browser(app)
    launch(lms, client, job_role="sykepleier", unit="hjemmetjenesten")
    launch(lms, client, job_role="$User.profile_field_stilling", unit="$User.department")
    assert rows(app) == [("sykepleier", "launch", "active", False)]
    assert rows(app, UnitAssignment) == [("hjemmetjenesten", "launch", "active", False)]
    assert "Legemiddelhåndtering (en)" in page(client)


def test_unknown_codes_are_ignored_not_an_error(app, lms, care, caplog):
    client = TestLms.browser(app)
    launch(lms, client, job_role="ukjent-rolle,sykepleier", unit="ukjent-enhet")
    assert rows(app) == [("sykepleier", "launch", "active", False)]
    assert rows(app, UnitAssignment) == []
    assert "ukjent-rolle" in caplog.text
    assert "Legemiddelhåndtering (en)" in page(client)


def test_launches_are_idempotent_and_end_roles_no_longer_sent(app, lms, care):
    client = TestLms.browser(app)
    for _ in range(3):
        launch(lms, client, job_role="sykepleier,helsefagarbeider")
    assert rows(app) == [
        ("sykepleier", "launch", "active", False),
        ("helsefagarbeider", "launch", "active", False),
    ]
    launch(lms, client, job_role="helsefagarbeider")
    assert rows(app) == [
        ("sykepleier", "launch", "ended", True),
        ("helsefagarbeider", "launch", "active", False),
    ]
    html = page(client)
    assert "Personvern (en)" not in html  # only the nurse needed it
    assert "MS Office (en)" in html
    launch(lms, client, job_role="")  # sent, and empty: no job role from the LMS any more
    assert [r[2] for r in rows(app)] == ["ended", "ended"]
    launch(lms, client)  # a course without the parameters says nothing
    assert len(rows(app)) == 2


def test_the_parameter_names_are_settings(make_app, lms, care):
    other = make_app(LTI_JOB_ROLE_PARAM="stilling", LTI_UNIT_PARAM="enhet")
    client = TestLms.browser(other)
    launch(lms, client, stilling="sykepleier", enhet="sykehjemmet", job_role="helsefagarbeider")
    with other.app_context():
        session = get_session()
        held = session.scalars(select(JobRoleAssignment)).all()
        assert [a.job_role.code for a in held] == ["sykepleier"]
        assert session.scalar(select(func.count()).select_from(UnitAssignment)) == 1


def test_a_role_without_requirements_says_so(app, lms, care):
    client = TestLms.browser(app)
    launch(lms, client, job_role="tomrolle")
    html = page(client)
    assert "The job role Tom rolle (en) has no required competence yet." in html
    assert "<table>" not in html


def test_without_a_job_role_the_learner_is_offered_the_choice(app, lms, care):
    client = TestLms.browser(app)
    launch(lms, client)
    html = page(client)
    assert "Choose your job role" in html
    assert 'name="job_role_ids"' in html
    assert "Hjemmetjenesten" in html  # the unit choice
    assert "Helse og omsorg</option>" not in html  # a sector is not a unit to sit in


def test_sources_and_times_are_kept(app, lms, care):
    client = TestLms.browser(app)
    launch(lms, client, job_role="sykepleier")
    with app.app_context():
        held = get_session().scalars(select(JobRoleAssignment)).one()
        assert held.source == AssignmentSource.LAUNCH
        assert held.status == AssignmentStatus.ACTIVE
        assert held.created_at is not None
