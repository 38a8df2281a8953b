"""Changes to the set-up are in the audit log, one event per action, with who did it:
frameworks and their versions, job-role profiles, platforms and deployments, the tool's
key. The log keeps its events for its own retention, apart from personal data's, and the
certification trail is in it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from lti_tool.db import get_session
from lti_tool.models import AuditAction, AuditEvent, Organisation, Person
from lti_tool.services import audit, retention
from tests.fakes.lms import TestLms
from tests.functional.test_admin_console import (
    SECOND,
    add_platform,
    follow,
    form_for,
    get_page,
    submit,
)
from tests.functional.test_assignments import person_id
from tests.functional.test_deployments import other_lms
from tests.functional.test_designer_ui import competence_id, designer, version_id
from tests.functional.test_grants import ADMIN, TEACHER, admin, org

__all__ = ["org"]  # the fixture


def changes(app: Any, after: int = 0) -> list[tuple[str, str, Any, Any, dict]]:
    """(action, object type, object id, actor, detail) of the events after id ``after``."""
    with app.app_context():
        found = get_session().scalars(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
        )
        return [
            (
                e.action.value,
                e.object_type,
                e.object_id,
                e.actor_person_id or e.actor_label,
                e.detail or {},
            )
            for e in found
        ]


def last_id(app: Any) -> int:
    with app.app_context():
        return get_session().scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc())) or 0


def test_a_designers_framework_changes_are_one_event_per_action(app, lms):
    browser = designer(app, lms)
    start = last_id(app)
    page = get_page(browser, "/designer/frameworks")
    response = submit(
        browser, page, "/designer/frameworks", code="ikt", title_nb="IKT", title_en="ICT"
    )
    version = version_id(response.headers["Location"])
    follow(browser, response)
    new = get_page(browser, f"/designer/versions/{version}/competences/new")
    follow(browser, submit(
        browser, new, f"/designer/versions/{version}/competences",
        code="grunn", parent_id="", title_nb="Grunnleggende",
    ))  # fmt: skip
    scale = get_page(browser, f"/designer/versions/{version}/scale")
    follow(browser, submit(
        browser, scale, f"/designer/versions/{version}/scale", level_1_nb="Lav", level_2_nb="Høy"
    ))  # fmt: skip
    refused = get_page(browser, f"/designer/competences/{competence_id(app, 'grunn')}")
    assert (
        submit(
            browser, refused, f"/designer/competences/{competence_id(app, 'grunn')}", code=""
        ).status_code
        == 422
    )  # a refused change is no change: nothing recorded
    confirm = get_page(browser, f"/designer/versions/{version}/publish")
    page = follow(browser, submit(browser, confirm, f"/designer/versions/{version}/publish"))
    with app.app_context():
        from lti_tool.models import FrameworkVersion

        framework = get_session().get(FrameworkVersion, version).framework_id
    response = submit(browser, page, f"/designer/frameworks/{framework}/drafts")
    draft = version_id(response.headers["Location"])

    me = person_id(app, TEACHER)
    v, f, d = str(version), str(framework), str(draft)
    assert [(a, t, i, who) for a, t, i, who, _ in changes(app, start)] == [
        ("create", "framework", f, me),  # with its first version: one event
        ("update", "framework_version", v, me),  # a competence added
        ("update", "framework_version", v, me),  # the scale
        ("publish", "framework_version", v, me),
        ("create", "framework_version", d, me),  # the new draft
    ]
    found = changes(app, start)
    assert found[0][4] == {"code": "ikt", "parts": ["framework_version"]}
    assert found[1][4] == {"parts": ["competence"]} and found[2][4] == {"parts": ["scale_level"]}
    assert found[3][4]["status"] == "published"

    # the admin finds them by what they concern
    console = admin(app, lms)
    html = get_page(console, "/admin/audit?object_type=framework_version&lang=en")
    assert "Published: Framework version" in html and "4 events" in html
    assert "<td>published_at, status</td>" in html and "<td>scale_level</td>" in html
    assert "Created: Framework" not in html.replace("Created: Framework version", "")
    assert 'id="audit-object_type"' in html and '<label for="audit-object_type">' in html
    assert console.get("/admin/audit?object_type=DROP%20TABLE").status_code == 422


def test_a_job_role_profile_change_is_recorded(app, lms, org):
    browser = designer(app, lms)
    start = last_id(app)
    role = org["roles"]["tomrolle"]
    competence = org["competences"]["legemidler"]
    picked = get_page(browser, f"/designer/job-roles/{role}?competence_id={competence}")
    response = submit(
        browser, picked, f"/designer/job-roles/{role}/requirements", required_level="2"
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    assert [(a, t, i, who, d) for a, t, i, who, d in changes(app, start)] == [
        ("update", "job_role", str(role), person_id(app, TEACHER), {"parts": ["requirement"]})
    ]


def test_platforms_deployments_and_keys_are_recorded(
    app, lms, platform_pem, mocked_http, tmp_path, monkeypatch
):
    import shutil

    keyring = app.extensions["lti"].keyring
    folder = tmp_path / "keys"
    shutil.copytree(keyring.keys_dir, folder)
    monkeypatch.setattr(keyring, "keys_dir", folder)
    console = admin(app, lms)
    me = person_id(app, ADMIN)
    other = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "d-9")
    add_platform(app, other, "Annenkommune")  # the command line's way, in a test: the system
    start = last_id(app)
    add_platform(app, lms, deployments=(SECOND,))  # a deployment added to a known platform
    (registered,) = changes(app, start)
    assert registered[:2] == ("create", "deployment") and registered[3] == "system"

    deployment = registered[2]
    start = last_id(app)
    confirm_url = f"/admin/deployments/{deployment}/disable"
    page = get_page(console, f"/admin/deployments/{deployment}")
    form = form_for(page, confirm_url, "get")
    confirm = console.get(form["action"], query_string=form["fields"]).get_data(as_text=True)
    done = follow(console, submit(console, confirm, confirm_url))
    follow(console, submit(console, done, f"/admin/deployments/{deployment}/enable"))

    rotate = get_page(console, "/admin/keys/rotate")
    follow(console, submit(console, rotate, "/admin/keys/rotate"))
    kid = keyring.all_keys()[-1].kid

    with app.app_context():
        orgs = dict(get_session().execute(select(Organisation.name, Organisation.id)).all())
    found = changes(app, start)
    assert [(a, t, i, who) for a, t, i, who, _ in found[:2]] == [
        ("disable", "deployment", deployment, me),
        ("enable", "deployment", deployment, me),
    ]
    with app.app_context():
        keys = (
            get_session()
            .scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.ROTATE_KEY))
            .all()
        )
        by_org = {e.organisation_id: (e.object_id, e.actor_person_id, e.actor_label) for e in keys}
    # every organisation's log has it (the key signs for all); only the admin's own names them
    assert by_org == {
        orgs["Testkommune"]: (kid, me, None),
        orgs["Annenkommune"]: (kid, None, audit.TOOL_ADMIN),
    }


def test_the_command_line_rotation_is_recorded_as_the_command_lines(
    app, tmp_path, monkeypatch, lms
):
    import shutil

    keyring = app.extensions["lti"].keyring
    folder = tmp_path / "keys"
    shutil.copytree(keyring.keys_dir, folder)
    monkeypatch.setattr(keyring, "keys_dir", folder)
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    (event,) = [c for c in changes(app) if c[0] == "rotate_key"]
    assert event[1:4] == ("tool_key", keyring.all_keys()[-1].kid, "cli")


# --- the log's own retention ------------------------------------------------------------------


def _age_events(app: Any, days: int) -> None:
    """Move every event back in time (tests only: the trigger allows it under the flag)."""
    with app.app_context():
        session = get_session()
        audit.allow(session, audit.ERASE_FLAG)
        for event in session.scalars(select(AuditEvent)):
            event.occurred_at = event.occurred_at - dt.timedelta(days=days)
        session.commit()


def test_the_audit_log_keeps_its_events_for_its_own_retention(app, lms, org):
    console = admin(app, lms)
    organisation = org["organisation_id"]
    page = get_page(console, f"/admin/organisations/{organisation}?lang=en")
    assert "Retention of the audit log" in page and 'value="60"' in page
    path = f"/admin/organisations/{organisation}/audit-retention"
    refused = submit(console, page, path, audit_retention_months="3")
    assert refused.status_code == 422
    assert 'id="audit-retention-audit_retention_months-error"' in refused.get_data(as_text=True)
    follow(console, submit(console, page, path, audit_retention_months="24"))
    with app.app_context():
        assert get_session().get(Organisation, organisation).audit_retention_months == 24
    (changed,) = [c for c in changes(app) if c[0] == "retention"]
    assert changed[1:] == (
        "audit",
        str(organisation),
        person_id(app, ADMIN),
        {"before": 60, "after": 24},
    )

    # personal data's rule: a person long gone is erased, and the events naming them stay
    with app.app_context():
        session = get_session()
        retention.set_retention(session, audit.Actor.cli(organisation), organisation, 1)
        person = session.get(Person, person_id(app, ADMIN))
        person.last_seen_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
        session.commit()
    before = len(changes(app))
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 erased" in result.output and "0 audit event(s)" in result.output
    assert len(changes(app)) == before + 1  # the erasure's event; none deleted

    # two years and a bit later: everything before the audit retention goes, nothing newer
    _age_events(app, 2 * 366 + 10)
    with app.app_context():
        session = get_session()
        audit.record(session, audit.Actor.system(organisation), AuditAction.UPDATE, "framework", 1)
        session.commit()
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert f"{before + 1} audit event(s)" in result.output
    assert [c[:3] for c in changes(app)] == [("update", "framework", "1")]


def test_nothing_else_may_delete_or_change_an_event(app, lms, org, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the append-only trigger is PostgreSQL's")
    admin(app, lms)
    with app.app_context():
        session = get_session()
        for statement in ("DELETE FROM audit_event", "UPDATE audit_event SET object_id = 'x'"):
            with pytest.raises(DBAPIError, match="append-only"):
                session.execute(text(statement))
            session.rollback()
        audit.allow(session, audit.PURGE_FLAG)  # the purge's flag deletes, and changes nothing
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text("UPDATE audit_event SET object_id = 'x'"))
        session.rollback()


def test_an_import_is_one_event_however_much_it_makes(app, lms, care):
    from tests.fakes.mappings import designer_browser
    from tests.functional.test_designer_ui import FAKES, upload
    from tests.functional.test_question_import import CODES, XML, confirm, preview

    browser = designer_browser(app, lms)
    start = last_id(app)
    office = care["competences"]["office"]
    shown = preview(browser, XML, "moodle-5-export.xml", "moodle-xml", office)
    assert changes(app, start) == []  # a preview changes nothing
    assert confirm(browser, shown.get_data(as_text=True)).status_code == 302
    page = get_page(browser, "/designer/frameworks")
    moodle = (FAKES / "moodle-export.csv").read_bytes()
    imported = upload(
        browser, page, "/designer/frameworks/import", moodle, "m.csv",
        format="moodle-csv", language="nb",
    )  # fmt: skip
    assert imported.status_code == 302, imported.get_data(as_text=True)
    me = person_id(app, TEACHER)
    (items, framework) = changes(app, start)
    assert items[:4] == ("import", "item", None, me)
    assert items[4]["count"] == len(CODES) and sorted(items[4]["codes"]) == sorted(CODES)
    assert framework[:2] == ("import", "framework") and framework[3] == me
    assert framework[4]["parts"] == ["framework_version"]


def test_a_dynamic_registration_is_the_systems_with_the_path_it_came_through(app, cli, mocked_http):
    from tests.functional.test_dynamic_registration import (
        fake_moodle,
        issue_url,
        open_from_moodle,
        platforms,
    )

    path = issue_url(cli, "Moodlekommune")
    fake_moodle(mocked_http)
    assert open_from_moodle(TestLms.browser(app), path).status_code == 200
    (platform,) = platforms(app)
    with app.app_context():
        (event,) = get_session().scalars(
            select(AuditEvent).where(AuditEvent.action == AuditAction.REGISTER)
        )
        assert (event.object_type, event.object_id) == ("platform", str(platform.id))
        assert event.organisation_id == platform.organisation_id
        assert event.actor_label == "system" and event.actor_person_id is None
        assert (event.request_method, event.request_path) == ("GET", path)
        assert event.detail == {"parts": ["deployment"]}  # its deployment came with it


def test_recording_a_change_costs_one_insert_and_a_read_changes_nothing(app, lms):
    from tests.statements import statements_run

    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    response = submit(browser, page, "/designer/frameworks", code="ikt", title_nb="IKT")
    version = version_id(response.headers["Location"])
    new = get_page(browser, f"/designer/versions/{version}/competences/new")
    with statements_run(app) as run:
        added = submit(
            browser, new, f"/designer/versions/{version}/competences",
            code="grunn", parent_id="", title_nb="Grunnleggende",
        )  # fmt: skip
    assert added.status_code == 302
    written = [s for s in run if "audit_event" in s]
    print(f"adding a competence: {len(run)} statements, {len(written)} for the audit log")
    assert len(written) == 1 and written[0].lstrip().upper().startswith("INSERT")
    with statements_run(app) as run:
        get_page(browser, f"/designer/versions/{version}")
    assert not [s for s in run if "audit_event" in s]  # a designer's own content: no view


def test_a_platforms_new_key_set_is_a_key_change(app, lms):
    from lti_tool.services import platforms

    p = lms.platform
    start = last_id(app)
    with app.app_context():
        platform = platforms.register_platform(
            get_session(),
            issuer=p.issuer,
            client_id=p.client_id,
            auth_login_url=p.auth_url,
            auth_token_url=p.token_url,
            jwks_url=p.jwks_url + "?rotated=1",
            organisation_name="Testkommune",
            deployment_ids=(p.deployment_id,),
        )
        get_session().commit()
        platform_id = platform.id
    ((action, kind, object_id, who, detail),) = changes(app, start)
    assert (action, kind, object_id, who) == ("rotate_key", "platform", str(platform_id), "system")
    assert detail == {"changed": ["jwks_url"]}


def test_a_mapping_and_a_certification_with_its_rules_are_recorded_as_made(app, lms, care):
    from tests.functional.test_certification_flow import build_certification

    built = build_certification(app, lms, care)
    me = person_id(app, TEACHER)
    made = [(a, t, who) for a, t, _i, who, _d in changes(app) if t in ("mapping", "certification")]
    assert ("create", "mapping", me) in made and ("publish", "mapping", me) in made
    assert ("create", "certification", me) in made and ("publish", "certification", me) in made
    rules = [
        d
        for a, t, i, who, d in changes(app)
        if (a, t, i) == ("update", "certification", str(built["id"]))
    ]
    assert rules and all(d["changed"] for d in rules)  # the ways to earn and renew it
    assert {c for d in rules for c in d["changed"]} >= {"earn_paths", "renewal_paths"}
