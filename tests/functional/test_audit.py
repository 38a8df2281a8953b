"""The audit log through HTTP: every view of another person's data is recorded (who, what,
when, whom), admins read and export it for their own organisation only, and an LMS role
alone opens no one's data."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from lti_tool.db import get_session
from lti_tool.documents.csv_safe import safe_cell
from lti_tool.lti import claims as c
from lti_tool.lti.demo_platform import LIS
from lti_tool.models import AuditAction, AuditEvent, CourseRoster, GrantKind
from tests.fakes.lms import TestLms
from tests.functional.test_admin_console import add_platform
from tests.functional.test_assignments import person_id
from tests.functional.test_deployments import other_lms
from tests.functional.test_grants import ADMIN, LEARNER, TEACHER, admin, give, landing, org
from tests.functional.test_learner_requirements import launch, page
from tests.statements import statements_run

__all__ = ["org"]  # the fixture, used by the tests below

UNIT = "hjemmetjenesten"


#: Changes to the set-up (the fixtures make frameworks, job roles, platforms).
SETUP = (
    AuditAction.REGISTER,
    AuditAction.CREATE,
    AuditAction.UPDATE,
    AuditAction.DELETE,
    AuditAction.PUBLISH,
    AuditAction.ENABLE,
    AuditAction.DISABLE,
)


def events(app: Any) -> list[tuple[AuditEvent, list[int]]]:
    """Every event but changes to the set-up, oldest first, with the people it concerns."""
    with app.app_context():
        from sqlalchemy.orm import selectinload

        found = get_session().scalars(
            select(AuditEvent)
            .where(AuditEvent.action.not_in(SETUP))
            .options(selectinload(AuditEvent.people))
            .order_by(AuditEvent.id)
        )
        return [(e, [p.person_id for p in e.people]) for e in found]


def read_log(browser: Any, status: int = 200, **filters: Any) -> str:
    response = browser.get("/admin/audit", query_string={**filters, "lang": "en"})
    assert response.status_code == status, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def unit_manager(app: Any, lms: TestLms, org: dict[str, Any]) -> Any:
    """The Moodle teacher, granted manager of home care; a learner works there."""
    launch(lms, TestLms.browser(app), "learner", unit=UNIT)
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    give(app, org, TEACHER, GrantKind.MANAGER, unit_id=org["units"][UNIT])
    return teacher


def test_the_start_page_answering_a_launch_records_its_view_at_its_own_address(app, lms, org):
    """The manager's start page answers the launch POST itself: its view of the unit's
    people is recorded as the page it is (``GET /manager/``, what a reload gets), as it
    was when the launch redirected there; not as the launch URL."""
    launch(lms, TestLms.browser(app), "learner", unit=UNIT)
    launch(lms, TestLms.browser(app), "manager")  # the manager is a person of the tool
    give(app, org, "103", GrantKind.MANAGER, unit_id=org["units"][UNIT])
    before = len(events(app))

    launched = lms.launch(TestLms.browser(app), "manager")

    assert launched.status_code == 200, launched.get_data(as_text=True)
    assert lms.landing_path(launched) == "/manager/"
    assert "Demo Ansatt" in launched.get_data(as_text=True)
    ((event, people),) = events(app)[before:]
    assert event.object_type == "people" and people == [person_id(app, LEARNER)]
    assert event.actor_person_id == person_id(app, "103")
    assert (event.request_method, event.request_path) == ("GET", "/manager/")


def test_a_manager_viewing_a_person_writes_one_event_naming_them(app, lms, org):
    teacher = unit_manager(app, lms, org)
    learner = person_id(app, LEARNER)
    before = len(events(app))
    page(teacher, f"/manager/people/{learner}")  # warm: the first request loads more
    with statements_run(app) as run:
        assert teacher.get(f"/manager/people/{learner}").status_code == 200
    audit_statements = [s for s in run if "audit_event" in s]
    assert 1 <= len(audit_statements) <= 2, audit_statements
    print(f"/manager/people/<id>: {len(run)} statements, {len(audit_statements)} for the audit")

    found = events(app)[before:]
    assert len(found) == 2  # one per request, not per person
    event, people = found[-1]
    assert event.action == AuditAction.VIEW and event.object_type == "person"
    assert event.actor_person_id == person_id(app, TEACHER) and event.actor_label is None
    assert people == [learner]
    assert event.request_method == "GET" and event.request_path == f"/manager/people/{learner}"
    assert event.organisation_id == org["organisation_id"]

    html = page(teacher, "/manager/")  # the list names everyone it shows
    assert "Demo Ansatt" in html
    event, people = events(app)[-1]
    assert event.object_type == "people" and people == [learner]
    assert "lt=" not in (event.request_path or "")


def test_own_data_and_empty_lists_are_not_recorded(app, lms, org):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner", unit=UNIT)
    page(learner, "/learner/")
    page(learner, "/certificates/")
    manager = TestLms.browser(app)
    launch(lms, manager, "manager")  # a manager of no unit: sees no one, so nothing to record
    page(manager, "/manager/")
    assert events(app) == []


def test_an_admin_reads_the_log_with_filters(app, lms, org):
    teacher = unit_manager(app, lms, org)
    learner = person_id(app, LEARNER)
    page(teacher, f"/manager/people/{learner}")
    console = admin(app, lms)
    html = page(console, "/admin/audit")
    assert "Audit log" in html and f"/manager/people/{learner}" in html
    assert "Demo Kursutvikler" in html  # who looked

    only = read_log(console, action="view", person_id=learner, actor_id=person_id(app, TEACHER))
    assert f"/manager/people/{learner}" in only and "1 event" in only  # the person, not the list
    assert "/manager/people/" not in read_log(console, action="grant")
    assert "Granted" in read_log(console, action="grant")  # the grant of the unit
    oslo = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Europe/Oslo")).date()  # its days
    tomorrow = (oslo + dt.timedelta(days=1)).isoformat()
    assert "No events match." in read_log(console, since=tomorrow)
    today = oslo.isoformat()
    assert f"/manager/people/{learner}" in read_log(console, since=today, until=today)

    for bad in (
        {"action": "explode"},
        {"since": tomorrow, "until": today},
        {"since": "yesterday"},
        {"since": "0001-01-01"},  # its Norwegian midnight is before the first UTC day
        {"page": "0"},
    ):
        assert "Correct the marked fields" in read_log(console, 422, **bad)

    # reading the log is recorded too (the refused requests record nothing), with the
    # filters and the people shown
    last, last_people = events(app)[-1]
    assert last.object_type == "audit" and last.actor_person_id == person_id(app, ADMIN)
    assert last.detail == {"since": today, "until": today} and learner in last_people


def test_the_log_shows_norwegian_time_and_its_day_filters_are_norwegian_days(
    app, lms, org, monkeypatch
):
    """A view at 23:30 UTC on 7 December is at 00:30 on 8 December in Oslo: the log says
    so, and the 8th's filter finds it (a UTC day would put it on the 7th)."""
    late = dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC)
    monkeypatch.setattr("lti_tool.clock.now", lambda: late)
    teacher = unit_manager(app, lms, org)
    learner = person_id(app, LEARNER)
    page(teacher, f"/manager/people/{learner}")
    console = admin(app, lms)
    viewed = f"/manager/people/{learner}"
    eighth = read_log(console, since="2026-12-08", until="2026-12-08")
    assert viewed in eighth and "12/8/26, 12:30\u202fAM (Europe/Oslo)" in eighth
    assert viewed not in read_log(console, until="2026-12-07")
    assert viewed not in read_log(console, since="2026-12-09")
    nb = console.get("/admin/audit", query_string={"lang": "nb"}).get_data(as_text=True)
    assert "08.12.2026, 00:30 (Europe/Oslo)" in nb
    assert "(UTC)" not in nb


def test_the_csv_export_is_safe_in_a_spreadsheet(app, lms, org):
    formula = "=cmd|' /C calc'!A0"
    browser = TestLms.browser(app)
    response = lms.signed_launch(
        browser, "learner", change={"name": formula, c.CUSTOM: {"unit": UNIT}}
    )
    assert lms.landed(response)
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    give(app, org, TEACHER, GrantKind.MANAGER, unit_id=org["units"][UNIT])
    page(teacher, f"/manager/people/{person_id(app, LEARNER)}")

    console = admin(app, lms)
    response = console.get(f"/admin/audit.csv?person_id={person_id(app, LEARNER)}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit.csv"'
    body = response.get_data(as_text=True).lstrip("\ufeff")
    table = list(csv.reader(io.StringIO(body)))
    assert table[0][:4] == ["occurred_at", "actor", "actor_person_id", "action"]
    cells = [cell for row in table for cell in row]
    assert "'" + formula in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
    assert len(table) == 1 + 2  # the grant and the view concern the learner

    export, people = events(app)[-1]
    assert export.action == AuditAction.EXPORT and export.object_type == "audit"
    assert people == [person_id(app, LEARNER)]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+47 99", "'+47 99"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Kari", "Kari"),
        (None, ""),
        (3, "3"),
    ],
)
def test_a_cell_that_looks_like_a_formula_is_written_as_text(value, written):
    assert safe_cell(value) == written


def test_another_organisations_admin_sees_none_of_it(app, lms, org, platform_pem, mocked_http):
    teacher = unit_manager(app, lms, org)
    page(teacher, f"/manager/people/{person_id(app, LEARNER)}")
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    stranger = TestLms.browser(app)
    assert annen.landed(annen.launch(stranger, "admin"))
    html = page(stranger, "/admin/audit")
    assert "/manager/people/" not in html and "helse" not in html  # the other's framework
    assert "1 event" in html  # their own platform's registration, nothing else
    assert "/manager/people/" not in read_log(stranger, person_id=person_id(app, LEARNER))
    assert "No events match." in read_log(stranger, action="view")
    exported = stranger.get("/admin/audit.csv", query_string={"action": "export"})
    _header, own = exported.get_data(as_text=True).strip().splitlines()  # their own export
    assert own.endswith(',export,audit,,,,GET,/admin/audit.csv,"{""action"": ""export""}"')


@pytest.mark.parametrize("persona", ["learner", "designer", "manager", "coordinator"])
def test_only_admins_read_the_log(app, lms, org, persona):
    browser = TestLms.browser(app)
    launch(lms, browser, "learner" if persona == "coordinator" else persona)
    if persona == "coordinator":
        give(app, org, LEARNER, GrantKind.COORDINATOR)
    for path in ("/admin/audit", "/admin/audit.csv"):
        assert browser.get(path).status_code == 403, (persona, path)
    assert TestLms.browser(app).get("/admin/audit").status_code in (401, 403)


def test_a_coordinator_sees_no_ones_data(app, lms, org):
    launch(lms, TestLms.browser(app), "learner2", unit=UNIT)
    coordinator = TestLms.browser(app)
    launch(lms, coordinator, "learner")
    give(app, org, LEARNER, GrantKind.COORDINATOR)
    for path in ("/manager/", f"/manager/people/{person_id(app, '104')}", "/admin/certificates"):
        assert coordinator.get(path).status_code == 403, path
    assert coordinator.get("/api/v1/people").status_code == 403


# --- the competence matrix, its drill-down, exports and course rosters -----------------------

OTHER = "104"  # a nurse of the nursing home: in no export or page of home care


def nurses(app: Any, lms: TestLms, org: dict[str, Any]) -> Any:
    """The teacher as manager of home care (its nurse, the learner); a nurse elsewhere."""
    launch(lms, TestLms.browser(app), "learner2", unit="sykehjemmet", job_role="sykepleier")
    launch(lms, TestLms.browser(app), "learner", unit=UNIT, job_role="sykepleier")
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    give(app, org, TEACHER, GrantKind.MANAGER, unit_id=org["units"][UNIT])
    return teacher


def one_event(app: Any, browser: Any, path: str, before: int) -> tuple[AuditEvent, list[int]]:
    """The one event ``path`` wrote (it answers 200)."""
    response = browser.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    response.get_data()  # a streamed body read to its end
    found = events(app)[before:]
    assert len(found) == 1, [(e.object_type, e.request_path) for e, _ in found]
    return found[0]


@pytest.mark.parametrize(
    ("path", "action", "what", "detail"),
    [
        ("/manager/units/{home}/matrix", "view", "competence_matrix", None),
        ("/manager/people/{learner}/competences/{med}", "view", "competence_trail", None),
        ("/api/v1/units/{home}/coverage", "view", "competence_matrix", None),
        (
            "/manager/units/{home}/export.csv?status=never_assessed",
            "export",
            "competence_matrix",
            {"kind": "csv", "statuses": ["never_assessed"]},
        ),
        ("/manager/units/{home}/export.xlsx", "export", "competence_matrix", {"kind": "xlsx"}),
        ("/manager/units/{home}/export.pdf", "export", "competence_matrix", {"kind": "pdf"}),
    ],
)
def test_the_matrix_and_its_exports_write_one_event_naming_whom_they_show(
    app, lms, org, path, action, what, detail
):
    teacher = nurses(app, lms, org)
    learner, other = person_id(app, LEARNER), person_id(app, OTHER)
    home, med = org["units"][UNIT], org["competences"]["legemidler"]
    url = path.format(home=home, learner=learner, med=med)
    page(teacher, "/manager/")  # the launch's first request, and the list's own event

    event, people = one_event(app, teacher, url, len(events(app)))

    assert (event.action.value, event.object_type) == (action, what)
    assert people == [learner]  # the nurse elsewhere is in none of it
    assert event.actor_person_id == person_id(app, TEACHER)
    assert event.request_path == url.split("?")[0]
    assert event.object_id == str(med if what == "competence_trail" else home)
    if detail is not None:
        assert event.detail is not None
        assert event.detail["kind"] == detail["kind"] and event.detail["unit_id"] == home
        assert event.detail["filters"]["statuses"] == detail.get("statuses", [])
        if detail["kind"] == "pdf":
            from lti_tool.models import DocumentationExport

            with app.app_context():
                codes = get_session().scalars(select(DocumentationExport.code)).all()
            assert [event.detail["code"]] == codes
        else:
            assert "code" not in event.detail
    console = admin(app, lms)
    logged = read_log(console, person_id=learner)
    assert url.split("?")[0] in logged
    assert url.split("?")[0] not in read_log(console, person_id=other)
    # what was shown is named in words, never by its key
    assert f": {what}" not in logged and f"{AUDITED_AS[what]}" in logged


#: How the log names what was shown (``admin/audit.html``'s labels), in English.
AUDITED_AS = {
    "competence_matrix": "Competence matrix",
    "competence_trail": "Evidence of a competence",
}


def test_the_organisations_workbook_names_everyone_in_it(app, lms, org):
    nurses(app, lms, org)
    console = admin(app, lms)
    event, people = one_event(app, console, "/manager/export.xlsx", len(events(app)))
    assert (event.action, event.object_type, event.object_id) == (
        AuditAction.EXPORT,
        "competence_matrix",
        None,
    )
    assert event.detail is not None and event.detail["unit_id"] is None
    # everyone but the admin who exports: the two nurses and the teacher
    assert people == sorted(person_id(app, p) for p in (LEARNER, OTHER, TEACHER))
    assert "/manager/export.xlsx" in read_log(console, person_id=person_id(app, OTHER))


def test_a_page_of_the_coverage_names_the_people_on_that_page_only(app, lms, org):
    teacher = nurses(app, lms, org)
    launch(lms, TestLms.browser(app), "learner3", unit=UNIT, job_role="sykepleier")
    url = f"/api/v1/units/{org['units'][UNIT]}/coverage?per_page=1"
    page(teacher, "/manager/")
    first = one_event(app, teacher, url, len(events(app)))[1]
    second = one_event(app, teacher, url + "&page=2", len(events(app)))[1]
    assert len(first) == len(second) == 1 and first != second
    assert set(first + second) == {person_id(app, LEARNER), person_id(app, "105")}


def test_a_roster_names_the_members_the_tool_knows(app, lms, org, gradebook):
    from tests.fakes.memberships import FakeMemberships, moodle_member
    from tests.functional.test_course_roster import refresh, roster_id

    teacher = nurses(app, lms, org)
    FakeMemberships(lms.http, lms.platform.memberships_url, gradebook).serve(
        [moodle_member(p) for p in ("learner", "learner2", "learner3")]
    )
    console = admin(app, lms)
    rid = roster_id(app)
    before = len(events(app))
    refresh(console, rid)
    platform_id = roster_platform(app)
    fetched, people = events(app)[before]  # the refresh read every member from the LMS
    assert (fetched.action, fetched.object_type, fetched.object_id) == (
        AuditAction.FETCH,
        "course_roster",
        str(rid),
    )
    assert people == sorted(person_id(app, p) for p in (LEARNER, OTHER))
    # learner3 never launched: no person of the tool, named by their user id on the LMS
    assert fetched.detail == {"platform_id": platform_id, "members": 3, "lms_user_ids": ["105"]}
    assert fetched.request_path == f"/manager/courses/{rid}/roster/refresh"

    path = f"/manager/courses/{rid}/roster"
    event, everyone = one_event(app, console, path, len(events(app)))
    assert everyone == sorted(person_id(app, p) for p in (LEARNER, OTHER))
    assert event.detail == {"platform_id": platform_id, "lms_user_ids": ["105"]}

    event, people = one_event(app, teacher, path, len(events(app)))

    assert (event.action, event.object_type, event.object_id) == (
        AuditAction.VIEW,
        "course_roster",
        str(rid),
    )
    assert people == [person_id(app, LEARNER)]  # their unit's only
    assert event.detail is None
    assert path in read_log(console, person_id=person_id(app, LEARNER))

    # only a member who never launched shown: an event all the same
    event, people = one_event(app, console, path + "?show=not-started", len(events(app)))
    assert (event.action, people) == (AuditAction.VIEW, [])
    assert event.detail == {
        "not_started_only": True,
        "platform_id": platform_id,
        "lms_user_ids": ["105"],
    }
    log = " ".join(read_log(console).split())
    assert "1 course participant who has never opened Læringsløp" in log
    assert "Fetched from the learning platform: Participants" in log
    assert "105" in read_csv(console)


def roster_platform(app: Any) -> int:
    with app.app_context():
        return get_session().scalars(select(CourseRoster.platform_id)).one()


def read_csv(browser: Any) -> str:
    response = browser.get("/admin/audit.csv")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


# --- an LMS role alone opens no one's data ----------------------------------------------------


@pytest.mark.parametrize("role", ["Mentor", "Manager"])
def test_a_course_mentor_or_manager_without_a_grant_sees_no_other_people(app, lms, org, role):
    launch(lms, TestLms.browser(app), "learner", unit=UNIT)
    browser = TestLms.browser(app)
    response = lms.signed_launch(
        browser, "manager", change={c.ROLES: [LIS + "membership#" + role], c.CUSTOM: {}}
    )
    assert lms.landing_path(response) == "/manager/"
    home = page(browser, "/manager/")
    assert "an administrator grants you the units you manage" in home
    assert "Demo Ansatt" not in home and "/manager/units" not in home
    learner = person_id(app, LEARNER)
    assert browser.get(f"/manager/people/{learner}").status_code == 404
    assert "Demo Ansatt" not in page(browser, "/manager/certificates")
    for path in (
        "/api/v1/people",
        f"/api/v1/people/{learner}",
        "/manager/units",
        "/manager/export.xlsx",
    ):
        assert browser.get(path).status_code == 403, path
    home, med = org["units"][UNIT], org["competences"]["legemidler"]
    for path in (
        f"/manager/units/{home}/matrix",
        f"/manager/people/{learner}/competences/{med}",
        f"/api/v1/units/{home}/coverage",
        *(f"/manager/units/{home}/export.{kind}" for kind in ("csv", "xlsx", "pdf")),
    ):
        assert browser.get(path).status_code == 404, path
    # what concerns only themselves stays open
    page(browser, "/learner/")
    page(browser, "/certificates/")
    assert events(app) == []

    give(app, org, "103", GrantKind.MANAGER, unit_id=org["units"][UNIT])
    assert "Demo Ansatt" in page(browser, "/manager/")
    assert browser.get(f"/manager/people/{learner}").status_code == 200


def test_an_admin_keeps_the_whole_organisation(app, lms, org):
    launch(lms, TestLms.browser(app), "learner", unit=UNIT)
    console = admin(app, lms)
    assert landing(lms, console, "admin").endswith("/admin/")
    assert "Demo Ansatt" in page(console, "/manager/")
    assert console.get("/manager/units").status_code == 200


# --- append-only --------------------------------------------------------------------------


def test_the_database_refuses_to_change_or_delete_an_event(app, lms, org):
    teacher = unit_manager(app, lms, org)
    page(teacher, f"/manager/people/{person_id(app, LEARNER)}")
    with app.app_context():
        session = get_session()
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("the append-only trigger is PostgreSQL's")
        for statement in (
            "UPDATE audit_event SET actor_person_id = NULL",
            "DELETE FROM audit_event_person",
            "DELETE FROM audit_event",
        ):
            with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
                session.execute(text(statement))
        session.rollback()
    assert len(events(app)) == 2  # the grant and the view


@pytest.mark.parametrize("filters", [{"until": "9999-12-31"}, {"page": str(10**12)}])
def test_the_log_refuses_a_date_or_page_beyond_its_range(app, lms, org, filters):
    unit_manager(app, lms, org)
    html = read_log(admin(app, lms), 422, **filters)
    assert "Correct the marked fields" in html
