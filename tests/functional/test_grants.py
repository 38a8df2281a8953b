"""Who may do what, decided in the tool: grants on top of Moodle's roles, through HTTP.

Moodle sends Instructor (every teacher), Learner and, for its site admins, institution
Administrator; never Mentor or Manager. The personas ``designer``, ``learner`` and
``admin`` send exactly those shapes (see ../shared/lms-samples/moodle-5.2/launch-*.json).
"""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.lti import claims
from lti_tool.models import (
    ApiToken,
    AssignmentStatus,
    AuditAction,
    AuditEvent,
    Certificate,
    GrantKind,
    JobRoleAssignment,
    Launch,
    PermissionGrant,
    Person,
    Platform,
    UnitAssignment,
    UnitKind,
)
from lti_tool.services import grants
from lti_tool.services.audit import Actor
from tests.fakes import content
from tests.fakes.lms import TestLms, page_address, parse_forms
from tests.functional.test_admin_console import add_platform, forged_csrf_token
from tests.functional.test_assignments import form_for, person_id, post_form
from tests.functional.test_certification_flow import build_certification
from tests.functional.test_deployments import other_lms
from tests.functional.test_learner_requirements import launch, page
from tests.statements import statements_run

TEACHER = "102"  # the designer persona: Moodle's Instructor
LEARNER = "101"
ADMIN = "2"


@pytest.fixture
def org(app: Any, lms: TestLms) -> dict[str, Any]:
    """Care content, and a school sector with its unit beside it."""
    with app.app_context():
        found = content.care_content()
        school = content.unit(
            found["organisation_id"], "oppvekst", "Oppvekst", kind=UnitKind.SECTOR
        )
        found["units"]["skolen"] = content.unit(
            found["organisation_id"], "skolen", "Skolen", school
        )
        found["sector"] = get_session().scalar(
            select(content.OrgUnit.id).where(content.OrgUnit.code == "helse")
        )
        get_session().commit()
        return found


def landing(lms: TestLms, browser: Any, persona: str, **custom: str) -> str:
    """Where a launch of this persona lands (the path)."""
    response = launch(lms, browser, persona, **custom)
    return lms.landing_path(response)


def admin(app: Any, lms: TestLms) -> Any:
    browser = TestLms.browser(app)
    assert landing(lms, browser, "admin").endswith("/admin/")
    return browser


def grant_on_console(browser: Any, **fields: str) -> Any:
    form = form_for(page(browser, "/admin/grants"), "/admin/grants")
    action = form["action"] + ("&" if "?" in form["action"] else "?") + "lang=en"
    return browser.post(action, data={**form["fields"], **fields})


def choose(lms: TestLms, app: Any, persona: str, role_id: int, unit_id: int) -> Any:
    """The employee chooses a job role and unit (pending a manager's approval)."""
    browser = TestLms.browser(app)
    launch(lms, browser, persona)
    response = post_form(
        browser,
        page(browser),
        "/learner/job-roles",
        {"job_role_ids": [str(role_id)], "unit_id": str(unit_id)},
    )
    assert response.status_code == 302
    return browser


def pending_role(app: Any, sub: str) -> int:
    with app.app_context():
        found = get_session().scalar(
            select(JobRoleAssignment.id).where(
                JobRoleAssignment.person_id == person_id(app, sub),
                JobRoleAssignment.status == AssignmentStatus.PENDING,
            )
        )
        assert found is not None
        return found


def status_of(app: Any, assignment_id: int) -> str:
    with app.app_context():
        row = get_session().get(JobRoleAssignment, assignment_id)
        assert row is not None
        return str(row.status.value)


def grant_rows(app: Any) -> list[PermissionGrant]:
    with app.app_context():
        found = list(get_session().scalars(select(PermissionGrant).order_by(PermissionGrant.id)))
        for row in found:
            get_session().expunge(row)
        return found


# --- a manager by grant --------------------------------------------------------------------


def test_a_moodle_teacher_granted_manager_lands_on_their_units_and_decides_only_there(
    app, lms, org
):
    roles, units = org["roles"], org["units"]
    choose(lms, app, "learner", roles["sykepleier"], units["hjemmetjenesten"])
    choose(lms, app, "learner2", roles["helsefagarbeider"], units["skolen"])
    teacher = TestLms.browser(app)
    assert landing(lms, teacher, "designer").endswith("/designer/")  # Instructor: designer

    console = admin(app, lms)
    response = grant_on_console(
        console,
        person_id=str(person_id(app, TEACHER)),
        kind="manager",
        unit_id=str(org["sector"]),
        reason="Head of health and care",
    )
    assert response.status_code == 302
    # in force at the open session's next request
    assert teacher.get("/manager/").status_code == 200

    assert landing(lms, teacher, "designer").endswith("/manager/")
    home = page(teacher, "/manager/")
    assert "The units you manage" in home and "Helse og omsorg (helse)" in home
    assert "Demo Ansatt" in home  # in Hjemmetjenesten, under the sector
    assert "Kari Nilsen" not in home  # in Skolen
    assert "/manager/import" not in home
    assert '/manager/units"' not in home and "/manager/units?" not in home  # the units' admin
    assert f"/manager/units/{org['sector']}/matrix" in home  # their unit's competence matrix

    kari = pending_role(app, "104")
    refused = teacher.post(
        f"/manager/assignments/role/{kari}/approve",
        data={"csrf_token": forged_csrf_token(app, teacher)},
    )
    assert refused.status_code == 404
    assert status_of(app, kari) == "pending"
    assert teacher.get(f"/manager/people/{person_id(app, '104')}").status_code == 404
    for path in ("/manager/units", f"/manager/units/{units['skolen']}"):
        assert teacher.get(path).status_code == 403
    assert teacher.get("/api/v1/people").status_code == 403

    demo = pending_role(app, LEARNER)
    approve = form_for(home, f"/manager/assignments/role/{demo}/approve")
    assert teacher.post(approve["action"], data=approve["fields"]).status_code == 302
    assert status_of(app, demo) == "active"
    with app.app_context():
        decided = get_session().get(JobRoleAssignment, demo)
        assert decided is not None and decided.decided_by_id == person_id(app, TEACHER)
    # their place in the unit still waits: nothing to assign until it is approved
    waiting = page(teacher, f"/manager/people/{person_id(app, LEARNER)}")
    assert "Approve their place in your unit to change it." in waiting
    assert f'action="/manager/people/{person_id(app, LEARNER)}/assign"' not in waiting
    with app.app_context():
        place = get_session().scalar(
            select(UnitAssignment.id).where(
                UnitAssignment.person_id == person_id(app, LEARNER),
                UnitAssignment.status == AssignmentStatus.PENDING,
            )
        )
    home = page(teacher, "/manager/")
    approve = form_for(home, f"/manager/assignments/unit/{place}/approve")
    assert teacher.post(approve["action"], data=approve["fields"]).status_code == 302
    placing = page(teacher, f"/manager/people/{person_id(app, LEARNER)}")
    assert f'<option value="{units["sykehjemmet"]}">Sykehjemmet' in placing
    assert f'<option value="{units["skolen"]}">' not in placing  # not theirs to place in
    # an admin still sees the whole organisation (a manager by LMS role: test_audit)
    assert "Kari Nilsen" in page(console, "/manager/")


def test_a_manager_of_one_unit_does_not_see_its_sibling(app, lms, org):
    roles, units = org["roles"], org["units"]
    choose(lms, app, "learner", roles["sykepleier"], units["hjemmetjenesten"])
    choose(lms, app, "learner2", roles["sykepleier"], units["sykehjemmet"])
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    with app.app_context():
        grants.grant(
            get_session(),
            org["organisation_id"],
            person_id=person_id(app, TEACHER),
            kind=GrantKind.MANAGER,
            unit_id=units["sykehjemmet"],
            reason="Head of the nursing home",
            by=Actor.cli(org["organisation_id"]),
            via="api",
        )
        get_session().commit()
    assert landing(lms, teacher, "designer").endswith("/manager/")
    home = page(teacher, "/manager/")
    assert "Kari Nilsen" in home and "Demo Ansatt" not in home
    demo = pending_role(app, LEARNER)
    token = forged_csrf_token(app, teacher)
    for decision in ("approve", "reject"):
        url = f"/manager/assignments/role/{demo}/{decision}"
        assert teacher.post(url, data={"csrf_token": token}).status_code == 404
    assert status_of(app, demo) == "pending"
    # nor place someone of another unit, nor anyone into another unit
    demo_id, kari_id = person_id(app, LEARNER), person_id(app, "104")
    data = {"csrf_token": token, "kind": "unit", "target_id": str(units["sykehjemmet"])}
    assert teacher.post(f"/manager/people/{demo_id}/assign", data=data).status_code == 404
    data["target_id"] = str(units["hjemmetjenesten"])
    assert teacher.post(f"/manager/people/{kari_id}/assign", data=data).status_code == 404


def test_a_withdrawal_is_audited_and_takes_effect(app, lms, org):
    choose(lms, app, "learner", org["roles"]["sykepleier"], org["units"]["hjemmetjenesten"])
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    console = admin(app, lms)
    grant_on_console(
        console,
        person_id=str(person_id(app, TEACHER)),
        kind="manager",
        unit_id=str(org["units"]["hjemmetjenesten"]),
        reason="Acting head",
    )
    assert landing(lms, teacher, "designer").endswith("/manager/")
    assert "Demo Ansatt" in page(teacher, "/manager/")

    (row,) = grant_rows(app)
    html = page(console, "/admin/grants")
    assert "Acting head" in html and "Demo Kursutvikler" in html and "Demo Administrator" in html
    missing = post_form(console, html, f"/admin/grants/{row.id}/withdraw", {"reason": " "})
    assert missing.status_code == 422
    assert f'id="withdraw-{row.id}-error"' in missing.get_data(as_text=True)
    assert grant_rows(app)[0].withdrawn_at is None
    response = post_form(console, html, f"/admin/grants/{row.id}/withdraw", {"reason": "Back"})
    assert response.status_code == 302

    # at once: the open session's next request is refused; the next launch: a designer again
    assert teacher.get("/manager/").status_code == 403
    assert landing(lms, teacher, "designer").endswith("/designer/")
    assert teacher.get("/manager/").status_code == 403

    (row,) = grant_rows(app)
    assert row.withdrawal_reason == "Back" and row.withdrawn_via == "console"
    assert row.withdrawn_by_id == row.granted_by_id == person_id(app, ADMIN)
    assert row.withdrawn_at is not None and row.withdrawn_at >= row.granted_at
    html = page(console, "/admin/grants")
    assert "Acting head" in html and "Back" in html
    assert f"/admin/grants/{row.id}/withdraw" not in html  # withdrawn: no form
    again = console.post(
        f"/admin/grants/{row.id}/withdraw",
        data={"csrf_token": forged_csrf_token(app, console), "reason": "Twice"},
    )
    assert again.status_code == 404


def test_the_console_refuses_a_grant_without_reason_or_scope(app, lms, org):
    launch(lms, TestLms.browser(app), "designer")
    console = admin(app, lms)
    teacher = str(person_id(app, TEACHER))
    cases = [
        ({"kind": "manager", "unit_id": "", "reason": "x"}, "A manager needs a unit"),
        ({"kind": "admin", "unit_id": str(org["sector"]), "reason": "x"}, "A manager needs"),
        ({"kind": "designer", "reason": ""}, "Fill this in."),
        ({"kind": "boss", "reason": "x"}, "Choose one."),
    ]
    for fields, message in cases:
        response = grant_on_console(console, person_id=teacher, **fields)
        assert response.status_code == 422, fields
        assert message in response.get_data(as_text=True)
    assert grant_rows(app) == []


def test_an_admin_of_another_organisation_cannot_grant_here(
    app, lms, org, platform_pem, mocked_http
):
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    launch(lms, TestLms.browser(app), "designer")
    with app.app_context():
        here, _ = grants.grant(
            get_session(),
            org["organisation_id"],
            person_id=person_id(app, TEACHER),
            kind=GrantKind.DESIGNER,
            reason="Writes the courses",
            by=Actor.cli(org["organisation_id"]),
            via="api",
        )
        get_session().commit()
        here_id = here.id
    stranger = TestLms.browser(app)
    assert annen.landed(annen.launch(stranger, "admin"))
    html = page(stranger, "/admin/grants")
    assert "Writes the courses" not in html and "Demo Kursutvikler" not in html
    token = forged_csrf_token(app, stranger)
    given = stranger.post(
        "/admin/grants",
        data={
            "csrf_token": token,
            "person_id": str(person_id(app, TEACHER)),
            "kind": "admin",
            "reason": "Take over",
        },
    )
    assert given.status_code == 404
    withdrawn = stranger.post(
        f"/admin/grants/{here_id}/withdraw", data={"csrf_token": token, "reason": "Mine now"}
    )
    assert withdrawn.status_code == 404
    (row,) = grant_rows(app)
    assert row.withdrawn_at is None and row.kind == GrantKind.DESIGNER


# --- designers: per platform ---------------------------------------------------------------


def test_the_platform_chooses_which_lms_roles_count_as_designer(app, lms, org):
    console = admin(app, lms)
    with app.app_context():
        platform_pk = person_platform(app)
    html = page(console, f"/admin/platforms/{platform_pk}")
    assert "LMS roles that count as designer" in html
    form = form_for(html, f"/admin/platforms/{platform_pk}/designer-roles")
    assert (
        console.post(
            form["action"], data={**form["fields"], "roles": ["ContentDeveloper"]}
        ).status_code
        == 302
    )
    html = page(console, f"/admin/platforms/{platform_pk}")
    assert 'value="ContentDeveloper" checked' in html
    assert 'value="Instructor" checked' not in html

    teacher = TestLms.browser(app)
    assert landing(lms, teacher, "designer").endswith("/learner/")  # Instructor: no longer
    assert teacher.get("/designer/").status_code == 403
    refused = lms.launch(TestLms.browser(app), "designer", message_type=DEEP_LINKING)
    assert refused.status_code == 403
    # the Moodle site admin stays admin (institution Administrator)
    assert landing(lms, TestLms.browser(app), "admin").endswith("/admin/")

    response = grant_on_console(
        console,
        person_id=str(person_id(app, TEACHER)),
        kind="designer",
        reason="Writes the courses",
    )
    assert response.status_code == 302
    assert landing(lms, teacher, "designer").endswith("/designer/")
    assert lms.landed(lms.launch(TestLms.browser(app), "designer", message_type=DEEP_LINKING))

    bad = console.post(form["action"], data={**form["fields"], "roles": ["Learner"]})
    assert bad.status_code == 422
    with app.app_context():
        from lti_tool.models import Platform

        found = get_session().get(Platform, platform_pk)
        assert found is not None and found.designer_roles == "ContentDeveloper"


DEEP_LINKING = "LtiDeepLinkingRequest"


def person_platform(app: Any) -> int:
    with app.app_context():
        found = get_session().scalar(select(Launch).order_by(Launch.created_at.desc()))
        assert found is not None
        return found.deployment.platform_id


def test_a_coordinator_grant_is_carried_by_the_launch(app, lms, org):
    teacher = TestLms.browser(app)
    launch(lms, teacher, "learner")
    console = admin(app, lms)
    response = grant_on_console(
        console,
        person_id=str(person_id(app, LEARNER)),
        kind="coordinator",
        reason="Counts for the municipality",
    )
    assert response.status_code == 302
    assert landing(lms, teacher, "learner").endswith("/coordinator/")
    assert "Coverage figures" in page(teacher, "/coordinator/")
    with app.app_context():
        last = get_session().scalar(select(Launch).order_by(Launch.created_at.desc()))
        assert last is not None and "coordinator" in last.permissions
    assert "the organisation" in page(console, "/admin/grants")


# --- HR's file: manages_unit ---------------------------------------------------------------


def upload(browser: Any, csv_text: str) -> Any:
    home = page(browser, "/manager/")
    form = form_for(home, "/manager/import")
    action = form["action"] + ("&" if "?" in form["action"] else "?") + "lang=en"
    return browser.post(
        action,
        data={**form["fields"], "file": (io.BytesIO(csv_text.encode()), "hr.csv")},
        content_type="multipart/form-data",
    )


def test_hr_file_grants_managers_and_only_an_admin_may_send_it(app, lms, org):
    launch(lms, TestLms.browser(app), "learner", unit="hjemmetjenesten")
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    text = "email,job_role,manages_unit\nkursutvikler@demokommune.example,,hjemmetjenesten\n"

    manager = TestLms.browser(app)
    launch(lms, manager, "manager")  # a manager by LMS role: of no unit, no HR file
    assert "/manager/import" not in page(manager, "/manager/")
    refused = manager.post(
        "/manager/import",
        data={
            "csrf_token": forged_csrf_token(app, manager),
            "file": (io.BytesIO(text.encode()), "hr.csv"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403

    console = admin(app, lms)
    bad = upload(console, "email,manages_unit\nkursutvikler@demokommune.example,ukjent\n")
    assert bad.status_code == 422
    assert "no sector, department or unit with the code ukjent" in bad.get_data(as_text=True)
    empty = upload(console, "email,job_role,manages_unit\nkursutvikler@demokommune.example,,\n")
    assert "Fill in job_role, unit or manages_unit." in empty.get_data(as_text=True)
    assert grant_rows(app) == []

    response = upload(console, text)
    assert response.status_code == 302
    assert "1 manager permission granted." in page(console, "/manager/")
    assert upload(console, text).status_code == 302  # again: already held, no second grant
    (row,) = grant_rows(app)
    assert row.kind == GrantKind.MANAGER and row.unit_id == org["units"]["hjemmetjenesten"]
    assert row.granted_via == "import" and row.granted_by_id == person_id(app, ADMIN)
    assert row.reason == "HR file import, row 2 (manages_unit)"
    assert "HR file import, row 2" in page(console, "/admin/grants")
    assert landing(lms, teacher, "designer").endswith("/manager/")
    assert "Demo Ansatt" in page(teacher, "/manager/")


def test_the_command_line_import_grants_managers(app, lms, org, tmp_path):
    launch(lms, TestLms.browser(app), "designer")
    file = tmp_path / "hr.csv"
    file.write_text("email,manages_unit\nkursutvikler@demokommune.example,helse\n")
    result = app.test_cli_runner().invoke(
        args=["assignments", "import", str(file), "--organisation", "Testkommune"]
    )
    assert result.exit_code == 0, result.output
    assert "Granted 1 manager permission(s)." in result.output
    (row,) = grant_rows(app)
    assert row.unit_id == org["sector"] and row.granted_by_id is None
    assert row.granted_by_token_id is None
    assert "the command line (HR file)" in page(admin(app, lms), "/admin/grants")
    (event,) = [e for e in audit_events(app) if e.action == AuditAction.GRANT]
    assert event.actor_label == "cli"
    assert event.actor_person_id is None and event.request_path is None


def test_forms_offer_every_kind(app, lms, org):
    console = admin(app, lms)
    html = page(console, "/admin/grants")
    kinds = [f for f in parse_forms(html) if (f["action"] or "").split("?")[0] == "/admin/grants"]
    assert kinds and "No permissions granted yet." in html
    for kind in ("manager", "designer", "coordinator", "admin"):
        assert f'value="{kind}"' in html


# --- the REST API ----------------------------------------------------------------------------


def token(app: Any, scope: str) -> str:
    result = app.test_cli_runner().invoke(
        args=["api-token", "create", "--organisation", "Testkommune", "--scope", scope]
    )
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[-1])


def call(app: Any, method: str, path: str, secret: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}
    return app.test_client().open("/api/v1" + path, method=method, headers=headers, **kwargs)


def test_grants_through_the_api(app, lms, org):
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    writer, reader = token(app, "write"), token(app, "read")
    body = {
        "person_id": person_id(app, TEACHER),
        "kind": "manager",
        "unit_id": org["units"]["hjemmetjenesten"],
        "reason": "Head of home care",
    }
    made = call(app, "POST", "/grants", writer, json=body)
    assert made.status_code == 201, made.get_json()
    grant = made.get_json()
    assert grant["granted_via"] == "api" and grant["granted_by_id"] is None
    assert grant["active"] is True and grant["person_name"] == "Demo Kursutvikler"
    again = call(app, "POST", "/grants", writer, json=body)
    assert again.status_code == 200 and again.get_json()["id"] == grant["id"]
    assert call(app, "POST", "/grants", reader, json=body).status_code == 403

    refusals = [
        ({**body, "unit_id": None}, "invalid_grant"),
        ({**body, "region_id": 1}, "invalid_grant"),
        ({**body, "kind": "coordinator", "unit_id": None, "region_id": 999}, "invalid_grant"),
        ({**body, "reason": "  "}, "grant_reason_missing"),
        ({**body, "kind": "owner"}, "invalid_input"),
        ({k: v for k, v in body.items() if k != "reason"}, "invalid_input"),
    ]
    for sent, error in refusals:
        response = call(app, "POST", "/grants", writer, json=sent)
        assert response.status_code == 422 and response.get_json()["error"] == error, sent

    listed = call(app, "GET", "/grants", reader).get_json()
    assert [g["id"] for g in listed["items"]] == [grant["id"]] and listed["total"] == 1
    assert call(app, "GET", f"/grants/{grant['id']}", reader).get_json()["reason"] == (
        "Head of home care"
    )
    assert landing(lms, teacher, "designer").endswith("/manager/")

    path = f"/grants/{grant['id']}/withdraw"
    assert call(app, "POST", path, writer, json={}).status_code == 422
    withdrawn = call(app, "POST", path, writer, json={"reason": "Moved on"})
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["withdrawal_reason"] == "Moved on"
    assert withdrawn.get_json()["withdrawn_via"] == "api"
    assert call(app, "POST", path, writer, json={"reason": "Twice"}).status_code == 404
    assert call(app, "GET", "/grants?active=true", reader).get_json()["items"] == []
    assert landing(lms, teacher, "designer").endswith("/designer/")


def token_named(app: Any, name: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(
        args=[
            *("api-token", "create", "--organisation", "Testkommune"),
            "--name",
            name,
            "--scope",
            "write",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        found = get_session().scalar(select(ApiToken.id).where(ApiToken.name == name))
    assert found is not None
    return found, str(result.stdout.strip().splitlines()[-1])


def audit_events(app: Any) -> list[AuditEvent]:
    with app.app_context():
        found = list(get_session().scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for row in found:
            get_session().expunge(row)
        return found


def test_a_grant_by_api_token_names_the_token(app, lms, org):
    launch(lms, TestLms.browser(app), "designer")
    token_id, secret = token_named(app, "HR-systemet")
    body = {"person_id": person_id(app, TEACHER), "kind": "designer", "reason": "Writes courses"}
    made = call(app, "POST", "/grants", secret, json=body)
    assert made.status_code == 201
    assert made.get_json()["granted_by_token_id"] == token_id
    assert made.get_json()["granted_by_id"] is None
    grant_id = made.get_json()["id"]
    withdrawn = call(app, "POST", f"/grants/{grant_id}/withdraw", secret, json={"reason": "Left"})
    assert withdrawn.get_json()["withdrawn_by_token_id"] == token_id

    html = page(admin(app, lms), "/admin/grants")
    assert f"the API token HR-systemet (no. {token_id}) (API): Writes courses" in html
    assert f"the API token HR-systemet (no. {token_id}) (API): Left" in html
    granted, withdrawal = [e for e in audit_events(app) if e.object_type == "grant"]
    for event, action in ((granted, AuditAction.GRANT), (withdrawal, AuditAction.WITHDRAW)):
        assert event.action == action and event.object_id == str(grant_id)
        assert event.actor_label == f"api-token:{token_id} HR-systemet"
        assert event.actor_person_id is None and event.request_method == "POST"
    assert granted.detail == {"kind": "designer", "unit_id": None, "region_id": None, "via": "api"}
    # the token read the grants too: a view of the person's data, by the token
    call(app, "GET", "/grants", secret)
    viewed = audit_events(app)[-1]
    assert viewed.action == AuditAction.VIEW and viewed.actor_label.startswith("api-token:")


def test_a_grant_on_the_console_is_in_the_audit_log(app, lms, org):
    launch(lms, TestLms.browser(app), "designer")
    console = admin(app, lms)
    response = grant_on_console(
        console, person_id=str(person_id(app, TEACHER)), kind="designer", reason="Writes"
    )
    assert response.status_code == 302
    (row,) = grant_rows(app)
    event = next(e for e in audit_events(app) if e.action == AuditAction.GRANT)
    assert event.actor_person_id == person_id(app, ADMIN) and event.object_id == str(row.id)
    assert event.request_path == "/admin/grants"
    html = console.get(
        "/admin/audit",
        query_string={"action": "grant", "person_id": person_id(app, TEACHER), "lang": "en"},
    ).get_data(as_text=True)
    assert "Granted: Permission" in html and "Demo Kursutvikler" in html


def test_only_admins_grant_through_a_launch(app, lms, org):
    for persona in ("learner", "designer", "manager"):
        browser = TestLms.browser(app)
        launch(lms, browser, persona)
        assert browser.get("/api/v1/grants").status_code == 403, persona
    console = admin(app, lms)
    assert console.get("/api/v1/grants").status_code == 200


def test_a_manager_by_grant_sees_and_issues_certificates_for_their_units_only(app, lms, org):
    built = build_certification(app, lms, org)
    launch(lms, TestLms.browser(app), "learner", unit="hjemmetjenesten")
    launch(lms, TestLms.browser(app), "learner2", unit="skolen")
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    with app.app_context():
        grants.grant(
            get_session(),
            org["organisation_id"],
            person_id=person_id(app, TEACHER),
            kind=GrantKind.MANAGER,
            unit_id=org["units"]["hjemmetjenesten"],
            reason="Head of home care",
            by=Actor.cli(org["organisation_id"]),
            via="console",
        )
        get_session().commit()
    launch(lms, teacher, "designer")
    html = page(teacher, "/manager/certificates")
    assert "Demo Ansatt" in html and "Kari Nilsen" not in html
    refused = teacher.post(
        "/manager/certificates/issue",
        data={
            "csrf_token": forged_csrf_token(app, teacher),
            "person_id": str(person_id(app, "104")),
            "certification_id": str(built["id"]),
            "reason": "Paper proof of practice",
        },
    )
    assert refused.status_code == 404
    assert "Kari Nilsen" in page(admin(app, lms), "/manager/certificates")


def test_a_manager_by_grant_records_attendance_for_their_units_only(app, lms, org):
    built = build_certification(app, lms, org)
    launch(lms, TestLms.browser(app), "learner", unit="hjemmetjenesten")
    launch(lms, TestLms.browser(app), "learner2", unit="skolen")
    head = TestLms.browser(app)
    launch(lms, head, "learner3")  # a Moodle learner, granted manager: no designer
    with app.app_context():
        grants.grant(
            get_session(),
            org["organisation_id"],
            person_id=person_id(app, "105"),
            kind=GrantKind.MANAGER,
            unit_id=org["units"]["hjemmetjenesten"],
            reason="Head of home care",
            by=Actor.cli(org["organisation_id"]),
            via="console",
        )
        get_session().commit()
    assert landing(lms, head, "learner3").endswith("/manager/")
    course = built["courses"]["praksis"]
    html = page(head, f"/designer/courses/{course}")
    assert "Demo Ansatt" in html and "Kari Nilsen" not in html
    token = forged_csrf_token(app, head)
    data = {"csrf_token": token, "attended_on": "2026-12-01"}
    kari = {**data, "person_ids": [str(person_id(app, "104"))]}
    assert head.post(f"/designer/courses/{course}/attendance", data=kari).status_code == 404
    demo = {**data, "person_ids": [str(person_id(app, LEARNER))]}
    assert head.post(f"/designer/courses/{course}/attendance", data=demo).status_code == 302
    # a designer takes anyone's attendance
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    assert "Kari Nilsen" in page(teacher, f"/designer/courses/{course}")


# --- decided on every request -----------------------------------------------------------------


def give(app: Any, org: dict[str, Any], sub: str, kind: GrantKind, **scope: Any) -> int:
    with app.app_context():
        row, _ = grants.grant(
            get_session(),
            org["organisation_id"],
            person_id=person_id(app, sub),
            kind=kind,
            reason="Needed",
            by=Actor.cli(org["organisation_id"]),
            via="api",
            **scope,
        )
        get_session().commit()
        return row.id


def take_back(app: Any, org: dict[str, Any], grant_id: int) -> None:
    with app.app_context():
        grants.withdraw(
            get_session(),
            org["organisation_id"],
            grant_id,
            reason="Gone",
            by=Actor.cli(org["organisation_id"]),
            via="api",
        )
        get_session().commit()


def test_a_withdrawal_bites_at_the_next_request_not_the_next_launch(app, lms, org):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")  # Moodle's Learner: no designer, manager nor admin
    launch(lms, TestLms.browser(app), "learner2")
    give(app, org, "104", GrantKind.ADMIN)  # not the last admin grant then
    as_admin = give(app, org, LEARNER, GrantKind.ADMIN)
    as_designer = give(app, org, LEARNER, GrantKind.DESIGNER)
    as_manager = give(app, org, LEARNER, GrantKind.MANAGER, unit_id=org["units"]["hjemmetjenesten"])
    # granted after the launch: in force at the next request already
    for path in ("/admin/grants", "/designer/", "/manager/"):
        assert learner.get(path).status_code == 200, path
    with statements_run(app) as run:
        assert learner.get("/admin/grants").status_code == 200
    granted_reads = [s for s in run if "permission_grant" in s and s.startswith("SELECT")]
    print(f"/admin/grants: {len(run)} statements, {len(granted_reads)} on the grants")

    html = page(learner, "/admin/grants")
    take_back(app, org, as_admin)
    refused = post_form(
        learner,
        html,
        "/admin/grants",
        {"person_id": str(person_id(app, LEARNER)), "kind": "admin", "reason": "Me again"},
    )
    assert refused.status_code == 403
    assert learner.get("/admin/grants").status_code == 403
    mine = [r.kind for r in grant_rows(app) if r.active and r.person_id == person_id(app, LEARNER)]
    assert mine == [GrantKind.DESIGNER, GrantKind.MANAGER]
    take_back(app, org, as_designer)
    assert learner.get("/designer/").status_code == 403
    assert learner.get("/manager/").status_code == 200
    take_back(app, org, as_manager)
    assert learner.get("/manager/").status_code == 403


def grant_reads(app: Any, browser: Any, path: str, status: int = 200) -> int:
    """The statements reading grants that a GET of ``path`` runs."""
    with statements_run(app) as run:
        assert browser.get(path).status_code == status, path
    return len([s for s in run if "FROM permission_grant " in s])


def test_permissions_cost_one_query_per_request_and_none_for_someone_never_granted(app, lms, org):
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    page(teacher, "/designer/")
    assert grant_reads(app, teacher, "/designer/") == 0  # never granted anything
    manager = give(app, org, TEACHER, GrantKind.MANAGER, unit_id=org["units"]["hjemmetjenesten"])
    assert grant_reads(app, teacher, "/designer/") == 1
    assert grant_reads(app, teacher, "/manager/") == 1
    # withdrawn: still read (the person was granted once), and the permission is gone
    take_back(app, org, manager)
    assert grant_reads(app, teacher, "/manager/", 403) == 1
    with app.app_context():
        assert get_session().get(Person, person_id(app, TEACHER)).ever_granted


def test_granting_again_marks_someone_whose_grant_was_written_without_the_flag(app, lms, org):
    """A grant written past ``grants.grant`` (by a process older than ``ever_granted``,
    by hand) is not read; granting it again, "already held", makes it count."""
    teacher = TestLms.browser(app)
    launch(lms, teacher, "learner")
    give(app, org, LEARNER, GrantKind.DESIGNER)
    assert teacher.get("/designer/").status_code == 200
    with app.app_context():
        get_session().get(Person, person_id(app, LEARNER)).ever_granted = False
        get_session().commit()
    assert teacher.get("/designer/").status_code == 403  # the grant is not read
    give(app, org, LEARNER, GrantKind.DESIGNER)  # already held: the same grant
    assert teacher.get("/designer/").status_code == 200
    held = [r for r in grant_rows(app) if r.person_id == person_id(app, LEARNER)]
    assert len(held) == 1


# --- a manager by grant acts within their units only ---------------------------------------


def unit_place(app: Any, sub: str, unit_id: int) -> tuple[int, str]:
    with app.app_context():
        row = get_session().scalar(
            select(UnitAssignment)
            .where(
                UnitAssignment.person_id == person_id(app, sub), UnitAssignment.unit_id == unit_id
            )
            .order_by(UnitAssignment.id.desc())
        )
        assert row is not None
        return row.id, str(row.status.value)


def test_choosing_a_unit_does_not_hand_the_rest_of_a_record_to_its_manager(app, lms, org):
    units = org["units"]
    launch(lms, TestLms.browser(app), "learner", unit="sykehjemmet")  # placed by the LMS
    choose(lms, app, "learner", org["roles"]["sykepleier"], units["hjemmetjenesten"])
    head = TestLms.browser(app)
    launch(lms, head, "learner3")
    give(app, org, "105", GrantKind.MANAGER, unit_id=units["hjemmetjenesten"])
    home = page(head, "/manager/")
    assert "Demo Ansatt" in home  # to decide the choice

    placed, status = unit_place(app, LEARNER, units["sykehjemmet"])
    assert status == "active"
    token = forged_csrf_token(app, head)
    ended = head.post(f"/manager/assignments/unit/{placed}/end", data={"csrf_token": token})
    assert ended.status_code == 404
    assert unit_place(app, LEARNER, units["sykehjemmet"])[1] == "active"
    # nor issue them a certificate, nor take their attendance, before the choice is approved
    built = build_certification(app, lms, org)
    issued = head.post(
        f"/manager/certifications/{built['id']}/issue",
        data={"csrf_token": token, "person_id": str(person_id(app, LEARNER)), "reason": "Paper"},
    )
    assert issued.status_code == 404

    chosen, status = unit_place(app, LEARNER, units["hjemmetjenesten"])
    assert status == "pending"
    url = f"/manager/assignments/unit/{chosen}/approve"
    assert head.post(url, data={"csrf_token": token}).status_code == 302
    assert unit_place(app, LEARNER, units["hjemmetjenesten"])[1] == "active"
    # placed in their unit now: still not the other unit's place
    ended = head.post(f"/manager/assignments/unit/{placed}/end", data={"csrf_token": token})
    assert ended.status_code == 404
    assert unit_place(app, LEARNER, units["sykehjemmet"])[1] == "active"


def test_a_manager_by_grant_issues_by_hand_from_a_certification_only_to_their_people(app, lms, org):
    built = build_certification(app, lms, org)
    launch(lms, TestLms.browser(app), "learner", unit="hjemmetjenesten")
    launch(lms, TestLms.browser(app), "learner2", unit="skolen")
    head = TestLms.browser(app)
    launch(lms, head, "learner3")  # a Moodle learner: no designer
    give(app, org, "105", GrantKind.MANAGER, unit_id=org["units"]["hjemmetjenesten"])
    token = forged_csrf_token(app, head)
    url = f"/manager/certifications/{built['id']}/issue"
    data = {"csrf_token": token, "reason": "Paper proof of practice"}
    kari = head.post(url, data={**data, "person_id": str(person_id(app, "104"))})
    assert kari.status_code == 404
    demo = head.post(url, data={**data, "person_id": str(person_id(app, LEARNER))})
    assert demo.status_code == 302
    with app.app_context():
        issued = get_session().scalars(select(Certificate.person_id)).all()
    assert issued == [person_id(app, LEARNER)]


def test_the_attendance_list_shows_a_manager_by_grant_their_people_only(app, lms, org):
    built = build_certification(app, lms, org)
    launch(lms, TestLms.browser(app), "learner", unit="hjemmetjenesten")
    launch(lms, TestLms.browser(app), "learner2", unit="skolen")
    course = built["courses"]["praksis"]
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    html = page(teacher, f"/designer/courses/{course}")
    everyone = [str(person_id(app, LEARNER)), str(person_id(app, "104"))]
    recorded = post_form(
        teacher,
        html,
        f"/designer/courses/{course}/attendance",
        {"attended_on": "2026-12-01", "person_ids": everyone},
    )
    assert recorded.status_code == 302
    head = TestLms.browser(app)
    launch(lms, head, "learner3")
    give(app, org, "105", GrantKind.MANAGER, unit_id=org["units"]["hjemmetjenesten"])
    html = page(head, f"/designer/courses/{course}")
    assert "Demo Ansatt" in html and "Kari Nilsen" not in html
    assert "Kari Nilsen" in page(teacher, f"/designer/courses/{course}")


# --- admin grants: never by a token, never the last --------------------------------------------


def test_a_token_cannot_grant_admin(app, lms, org):
    launch(lms, TestLms.browser(app), "designer")
    writer = token(app, "write")
    body = {"person_id": person_id(app, TEACHER), "kind": "admin", "reason": "Take over"}
    refused = call(app, "POST", "/grants", writer, json=body)
    assert refused.status_code == 403 and refused.get_json()["error"] == "admin_needs_an_admin"
    assert grant_rows(app) == []
    made = call(app, "POST", "/grants", writer, json={**body, "kind": "designer"})
    assert made.status_code == 201


def test_an_admin_keeps_the_organisation_an_administrator(app, lms, org):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    launch(lms, TestLms.browser(app), "learner2")
    mine = give(app, org, LEARNER, GrantKind.ADMIN)
    html = page(learner, "/admin/grants")
    own = post_form(learner, html, f"/admin/grants/{mine}/withdraw", {"reason": "Done"})
    assert own.status_code == 409
    told = own.get_data(as_text=True)
    assert f'id="withdraw-{mine}-error"' in told
    assert "You cannot withdraw your own admin grant" in told  # the page's English stays
    assert grant_rows(app)[0].active

    # the Moodle site admin may not withdraw the last admin grant either
    console = admin(app, lms)
    html = page(console, "/admin/grants")
    last = post_form(console, html, f"/admin/grants/{mine}/withdraw", {"reason": "Gone"})
    assert last.status_code == 409
    assert f'id="withdraw-{mine}-error"' in last.get_data(as_text=True)
    writer = token(app, "write")
    path = f"/grants/{mine}/withdraw"
    api = call(app, "POST", path, writer, json={"reason": "Gone"})
    assert api.status_code == 409 and api.get_json()["error"] == "admin_lockout"
    assert grant_rows(app)[0].active

    other = give(app, org, "104", GrantKind.ADMIN)
    html = page(console, "/admin/grants")
    done = post_form(console, html, f"/admin/grants/{mine}/withdraw", {"reason": "Moved"})
    assert done.status_code == 302
    assert [r.id for r in grant_rows(app) if r.active] == [other]
    assert learner.get("/admin/grants").status_code == 403


# --- one active grant of a permission, even granted twice at once ---------------------------


def test_a_grant_given_twice_at_once_is_one_active_grant(app, lms, org):
    launch(lms, TestLms.browser(app), "designer")
    teacher = person_id(app, TEACHER)
    writer = token(app, "write")
    body = {"person_id": teacher, "kind": "designer", "reason": "Writes courses"}
    first = call(app, "POST", "/grants", writer, json=body)
    assert first.status_code == 201
    path = f"/grants/{first.get_json()['id']}/withdraw"
    assert call(app, "POST", path, writer, json={"reason": "Done"}).status_code == 200
    again = call(app, "POST", "/grants", writer, json=body)  # withdrawn: granted anew
    assert again.status_code == 201 and again.get_json()["id"] != first.get_json()["id"]
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")

    inserted, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def give_manager(name: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                _row, created = grants.grant(
                    session,
                    org["organisation_id"],
                    person_id=teacher,
                    kind=GrantKind.MANAGER,
                    unit_id=org["units"]["skolen"],
                    reason=name,
                    by=Actor.cli(org["organisation_id"]),
                    via="api",
                )
                if hold:
                    inserted.set()
                    release.wait(5)
                session.commit()
                results[name] = created
            finally:
                session.close()

    one = threading.Thread(target=give_manager, args=("one", True))
    one.start()
    assert inserted.wait(10)
    two = threading.Thread(target=give_manager, args=("two", False))
    two.start()
    two.join(0.5)  # blocked on the unique key until the first commits
    release.set()
    one.join(10)
    two.join(10)
    assert results == {"one": True, "two": False}
    managers = [r for r in grant_rows(app) if r.kind == GrantKind.MANAGER and r.active]
    assert [r.reason for r in managers] == ["one"]


# --- a grant stays in its organisation ---------------------------------------------------------


def test_a_grant_does_not_travel_through_another_organisations_deployment(
    app, lms, org, organisation_on_the_same_lms
):
    """A regional Moodle with a deployment for each municipality: one person, one sub."""
    here = TestLms.browser(app)
    launch(lms, here, "learner")
    launch(lms, TestLms.browser(app), "learner2")
    give(app, org, "104", GrantKind.ADMIN)
    for kind in (GrantKind.ADMIN, GrantKind.DESIGNER):
        give(app, org, LEARNER, kind)
    give(app, org, LEARNER, GrantKind.MANAGER, unit_id=org["units"]["hjemmetjenesten"])
    organisation_on_the_same_lms()
    there = TestLms.browser(app)
    response = lms.signed_launch(there, "learner", change={claims.DEPLOYMENT_ID: "annen-1"})
    # signed in there as a learner: the start page answering the launch is the learner's,
    # which has no person of that organisation to show (as GET /learner/ answers there)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert page_address(response.get_data(as_text=True)) == "/learner/"
    assert "<code>not_found</code>" in response.get_data(as_text=True)
    assert there.get("/learner/").status_code == 404
    for path in ("/admin/grants", "/designer/", "/manager/", "/api/v1/grants"):
        assert there.get(path).status_code == 403, path
    # through their own organisation's deployment, the grants hold
    for path in ("/admin/grants", "/designer/", "/manager/"):
        assert here.get(path).status_code == 200, path


# --- designer roles: audited, and not on a platform other organisations share ----------------


def test_a_change_of_designer_roles_is_audited(app, lms, org):
    console = admin(app, lms)
    platform_pk = person_platform(app)
    form = form_for(page(console, f"/admin/platforms/{platform_pk}"), "/designer-roles")
    chosen = {**form["fields"], "roles": ["ContentDeveloper", "Manager"]}
    assert console.post(form["action"], data=chosen).status_code == 302
    assert console.post(form["action"], data=chosen).status_code == 302  # unchanged: no event
    (event,) = [e for e in audit_events(app) if e.action == AuditAction.DESIGNER_ROLES]
    assert event.object_type == "platform" and event.object_id == str(platform_pk)
    assert event.actor_person_id == person_id(app, ADMIN)
    assert event.detail == {
        "before": ["Administrator", "ContentDeveloper", "Instructor", "TeachingAssistant"],
        "after": ["ContentDeveloper", "Manager"],
    }
    html = console.get(
        "/admin/audit", query_string={"action": "designer_roles", "lang": "en"}
    ).get_data(as_text=True)
    assert "Changed designer roles: Platform" in html


def test_designer_roles_of_a_platform_shared_with_another_organisation_stay(
    app, lms, org, organisation_on_the_same_lms
):
    console = admin(app, lms)
    platform_pk = person_platform(app)
    organisation_on_the_same_lms("Nabokommune", "nabo-1")
    html = page(console, f"/admin/platforms/{platform_pk}")
    assert "Other organisations launch from this platform too" in html
    assert "Nabokommune" in html and "/designer-roles" not in html
    refused = console.post(
        f"/admin/platforms/{platform_pk}/designer-roles",
        data={"csrf_token": forged_csrf_token(app, console), "roles": ["Mentor"]},
    )
    assert refused.status_code == 403
    with app.app_context():
        found = get_session().get(Platform, platform_pk)
        assert found is not None and "Mentor" not in found.designer_roles
    assert [e for e in audit_events(app) if e.action == AuditAction.DESIGNER_ROLES] == []


def test_ending_a_persons_last_place_in_a_managers_units_asks_first_and_says_where_they_went(
    app, lms, org
):
    """A unit's manager ends someone's place there: the confirmation says they will no
    longer see them, and the end lands on the manager's start page, not on "not found"."""
    units = org["units"]
    launch(lms, TestLms.browser(app), "learner", unit="sykehjemmet")  # placed by the LMS
    head = TestLms.browser(app)
    launch(lms, head, "learner3")
    give(app, org, "105", GrantKind.MANAGER, unit_id=units["sykehjemmet"])
    placed, _status = unit_place(app, LEARNER, units["sykehjemmet"])
    html = page(head, f"/manager/people/{person_id(app, LEARNER)}")
    (end,) = [f for f in parse_forms(html) if f["action"].endswith(f"/unit/{placed}/end")]
    assert end["method"] == "get"
    confirmation = head.get(end["action"]).get_data(as_text=True)
    assert unit_place(app, LEARNER, units["sykehjemmet"])[1] == "active"  # asking ends nothing
    assert "you will no longer see them" in confirmation
    ended = post_form(head, confirmation, end["action"])
    assert ended.status_code == 302 and ended.headers["Location"].endswith("/manager/")
    assert "is no longer in your units" in head.get("/manager/").get_data(as_text=True)
    assert unit_place(app, LEARNER, units["sykehjemmet"])[1] == "ended"
