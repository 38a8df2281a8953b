"""Privacy (GDPR) through HTTP: a person's "my data" page and JSON export, an admin erasing
a person (then no page, API answer, export or table holds their name, e-mail or LMS user
id, and their certificate verifies as withdrawn), and who is refused."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import JSON, String, Text, select, update
from sqlalchemy.orm import selectinload

from lti_tool import clock
from lti_tool.credentials import status_list
from lti_tool.db import Base, get_session
from lti_tool.domain.certification_rules import add_months
from lti_tool.lti import claims as c
from lti_tool.lti.demo_platform import PERSONAS
from lti_tool.models import (
    Attempt,
    AuditAction,
    AuditEvent,
    Certificate,
    Deployment,
    JobRoleAssignment,
    Launch,
    Organisation,
    Person,
)
from lti_tool.services import erasure, launches, privacy
from tests.conftest import TOOL_BASE_URL
from tests.fakes.lms import TestLms, page_address, parse_forms
from tests.functional.test_admin_console import add_platform
from tests.functional.test_assignments import form_for
from tests.functional.test_assignments import person_id as moodle_person_id
from tests.functional.test_certification_flow import (
    admin_browser,
    earn,
    jwks,
    learner_browser,
    person_id,
    verify_upload,
)
from tests.functional.test_deployments import other_lms
from tests.functional.test_learner_requirements import launch
from tests.functional.test_mapping_flow import NURSE_RIGHT, build_mapping, place, take

LEARNER = PERSONAS["learner"]
NAME = f"{LEARNER.given_name} {LEARNER.family_name}"


def text_of(response: Any) -> str:
    return str(response.get_data(as_text=True))


def post_form(browser: Any, page: str, action: str, **fields: str) -> Any:
    form = form_for(text_of(browser.get(page)), action)
    return browser.post(form["action"], data={**form["fields"], **fields})


def export(browser: Any) -> dict[str, Any]:
    response = browser.get("/learner/my-data.json")
    assert response.status_code == 200, text_of(response)
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    found: dict[str, Any] = json.loads(response.get_data())
    return found


# --- my data ---------------------------------------------------------------------------------


def test_every_table_that_refers_to_a_person_is_declared_for_export_and_erasure():
    """A new table with a person column fails here until services.privacy declares it."""
    assert privacy.person_references() == set(privacy.COVERED)


def test_my_data_says_what_why_and_how_long_and_exports_everything(app, lms, care):
    browser = TestLms.browser(app)
    launch(lms, browser, "learner", job_role="sykepleier", unit="hjemmetjenesten")
    html = text_of(browser.get("/learner/my-data?lang=en"))
    for heading in (
        "Who you are",
        "Launches",
        "Job roles, units and permissions",
        "Mapping answers and results",
        "Evidence of competence",
        "Learning plan and bookings",
        "Certificates",
        "Audit log entries about you",
    ):
        assert f">{heading}</h2>" in html
    assert html.count("<dt>Why</dt>") == len(privacy.CATEGORIES)
    assert html.count("<dt>How long</dt>") == len(privacy.CATEGORIES)
    assert '<dd data-category="launches">1 record</dd>' in html
    assert "/learner/my-data.json" in html
    assert "/learner/my-data" in text_of(browser.get("/learner/"))  # reachable from each page

    data = export(browser)
    assert set(data) == set(privacy.CATEGORIES)
    (me,) = data["identity"]["person"]
    assert (me["name"], me["email"], me["sub"]) == (NAME, LEARNER.email, LEARNER.sub)
    assert len(data["launches"]["launch"]) == 1
    assert {r["source"] for r in data["roles"]["job_role_assignment"]} == {"launch"}
    assert len(data["roles"]["unit_assignment"]) == 1
    for table, _column in privacy.SUBJECT:  # every table about a person, even when empty
        assert table in data[privacy.SUBJECT[(table, _column)]]

    with app.app_context():
        event = get_session().scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None
        assert (event.action, event.object_type) == (AuditAction.EXPORT, "own_data")
        assert event.actor_person_id == int(me["id"]) and event.object_id == str(me["id"])
    # the next export lists that event among those about them
    again = export(browser)
    assert [e["action"] for e in again["audit"]["audit_event"]] == ["export"]


def test_everyone_launched_has_a_my_data_page_with_only_their_own_data(app, lms, care):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    admin = admin_browser(app, lms)
    data = export(admin)
    (me,) = data["identity"]["person"]
    assert me["sub"] == PERSONAS["admin"].sub
    assert LEARNER.email not in json.dumps(data)
    assert admin.get("/learner/my-data").status_code == 200
    designer = TestLms.browser(app)
    launch(lms, designer, "designer")
    assert designer.get("/learner/my-data").status_code == 200
    anonymous = TestLms.browser(app)
    assert anonymous.get("/learner/my-data").status_code == 401
    assert anonymous.get("/learner/my-data.json").status_code == 401


# --- erasure ---------------------------------------------------------------------------------


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _rows_naming(app: Any, values: tuple[str, ...], sub: str) -> list[str]:
    """Every table row (the audit log's events aside) whose text holds one of ``values``,
    or with a column or JSON value that is exactly ``sub``."""
    found = []
    with app.app_context():
        session = get_session()
        for table in Base.metadata.sorted_tables:
            if table.name == "audit_event":
                continue
            texts = [c for c in table.c if isinstance(c.type, String | Text | JSON)]
            if not texts:
                continue
            for row in session.execute(select(*texts)).all():
                for column, value in zip(texts, row, strict=True):
                    if value is None:
                        continue
                    dumped = json.dumps(value, ensure_ascii=False).lower()
                    if any(v.lower() in dumped for v in values) or sub in _leaves(value):
                        found.append(f"{table.name}.{column.name}: {dumped[:120]}")
    return found


def test_an_erased_person_is_nowhere_and_their_certificate_verifies_as_withdrawn(
    app, lms, care, new_token
):
    built, certificate = earn(app, lms, care)
    learner = learner_browser(app, lms)
    token = learner.get(f"/certificates/{certificate.id}/credential.jwt").get_data(as_text=True)
    signed_json = learner.get(f"/certificates/{certificate.id}/credential.json")
    assert signed_json.status_code == 200
    credential_json = signed_json.get_data(as_text=True)
    erased_id = person_id(app, LEARNER.sub)
    admin = admin_browser(app, lms)
    api_token = new_token()
    anyone = TestLms.browser(app)

    def read(client: Any, path: str, **kwargs: Any) -> Any:
        response = client.get(path, **kwargs)
        assert response.status_code == 200, (path, text_of(response)[:2000])
        return response

    def everywhere() -> str:
        """What the admin, the API and anyone see: pages, API answers and exports."""
        seen = [
            text_of(read(admin, path))
            for path in (
                "/admin/people",
                "/admin/certificates",
                "/admin/grants",
                "/manager/",
                f"/designer/certifications/{built['id']}",
                "/manager/certificates",
                "/admin/audit",
                "/admin/audit.csv",
            )
        ]
        bearer = {"Authorization": f"Bearer {api_token}"}
        for path in ("/api/v1/people", "/api/v1/coverage/figures"):
            seen.append(text_of(read(anyone, path, headers=bearer)))
        for unit_id in care["units"].values():
            seen.append(text_of(read(admin, f"/manager/units/{unit_id}/matrix")))
            seen.append(text_of(read(admin, f"/manager/units/{unit_id}/export.csv")))
            pdf = read(admin, f"/manager/units/{unit_id}/export.pdf")
            seen.append(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages))
        book = load_workbook(io.BytesIO(read(admin, "/manager/export.xlsx").data))
        seen += [str(c.value) for s in book.worksheets for r in s.iter_rows() for c in r]
        seen.append(text_of(read(anyone, f"/verify/{certificate.code}")))
        seen.append(text_of(read(anyone, f"/verify/{certificate.code}?format=json")))
        return "\n".join(seen)

    before = everywhere()
    assert NAME in before and LEARNER.email in before
    assert _rows_naming(app, (NAME, LEARNER.email), LEARNER.sub)

    people = text_of(admin.get("/admin/people?lang=en"))
    assert NAME in people and f"/admin/people/{erased_id}/erase" in people
    page = f"/admin/people/{erased_id}/erase?lang=en"
    confirm = text_of(admin.get(page))
    assert "1 certificate stays, without the holder" in confirm
    refused = post_form(admin, page, f"/admin/people/{erased_id}/erase", reason="  ")
    assert refused.status_code == 422 and 'aria-invalid="true"' in text_of(refused)
    assert person_id(app, LEARNER.sub) == erased_id  # nothing happened
    done = post_form(
        admin, page, f"/admin/people/{erased_id}/erase", reason=f"{NAME} asked to be erased"
    )
    assert done.status_code == 302, text_of(done)
    assert "The person is erased." in text_of(admin.get(done.headers["Location"] + "&lang=en"))
    log = text_of(admin.get("/admin/audit?action=erase&lang=en"))
    assert f"Erased (privacy): Person {erased_id}" in log and f"#{erased_id}" in log

    after = everywhere()
    for value in (NAME, LEARNER.email):
        assert value not in after
    assert _rows_naming(app, (NAME, LEARNER.email), LEARNER.sub) == []
    searched = text_of(admin.get("/admin/people", query_string={"q": LEARNER.family_name}))
    assert "No one found." in text_of(admin.get("/admin/people?lang=en&q=ansatt@"))
    assert NAME not in searched
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert anyone.get(f"/api/v1/people/{erased_id}", headers=bearer).status_code == 404
    assert admin.get(f"/manager/people/{erased_id}").status_code == 404
    assert admin.get(f"/admin/people/{erased_id}/erase").status_code == 404
    with app.app_context():
        session = get_session()
        assert session.get(Person, erased_id) is None
        kept = session.get(Certificate, certificate.id)
        assert kept is not None and kept.person_id is None and kept.holder_name == ""
        assert kept.withdrawn_at is not None and kept.credential_jwt is None
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == AuditAction.ERASE)
        ).one()
        assert event.object_id == str(erased_id) and event.actor_person_id == person_id(
            app, PERSONAS["admin"].sub
        )
        assert event.detail == {
            "reason": "[erased] asked to be erased",
            "via": "console",
            "certificates_withdrawn": 1,
        }

    # the certification's trail says the certificate was withdrawn, and so does the log
    trail = text_of(admin.get(f"/designer/certifications/{built['id']}?lang=en"))
    assert "data was erased</td><td><code>" + certificate.code in trail
    withdrawn = text_of(admin.get("/admin/audit?action=withdraw&lang=en"))
    assert f"Withdrew: Certificate {certificate.id}" in withdrawn
    # the certificate verifies as withdrawn: by code, as JSON, and as a credential brought back
    html = text_of(anyone.get(f"/verify/{certificate.code}?lang=en"))
    assert "Withdrawn" in html and "its holder's data has been erased" in html
    answer = anyone.get(f"/verify/{certificate.code}?format=json").get_json()
    assert answer["status"] == "withdrawn" and answer["holder"] == ""
    assert verify_upload(anyone, token)["status"] == "withdrawn"
    assert verify_upload(anyone, credential_json)["status"] == "withdrawn"
    html = text_of(anyone.get(f"/verify/{certificate.code}?lang=nn"))
    assert "Trekt tilbake" in html
    # and the status list says it is no longer valid
    status_url = jose_jwt.decode(token, jwks(anyone)).claims["credentialStatus"]
    listed = anyone.get(status_url["statusListCredential"].removeprefix(TOOL_BASE_URL))
    subject = jose_jwt.decode(listed.get_data(as_text=True), jwks(anyone)).claims[
        "credentialSubject"
    ]
    assert status_list.is_set(subject["encodedList"], int(status_url["statusListIndex"]))

    # launching again from the LMS, they start as a new person with nothing
    again = learner_browser(app, lms)
    new_id = person_id(app, LEARNER.sub)
    assert new_id != erased_id
    data = export(again)
    assert data["certificates"]["certificate"] == []
    assert data["mappings"]["attempt"] == [] and data["evidence"]["evidence"] == []


def test_only_an_admin_of_the_persons_organisation_erases_them(
    app, lms, care, platform_pem, mocked_http
):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    target = person_id(app, LEARNER.sub)
    for persona in ("learner", "designer"):
        browser = TestLms.browser(app)
        launch(lms, browser, persona)
        assert browser.get("/admin/people").status_code == 403
        assert browser.get(f"/admin/people/{target}/erase").status_code == 403
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    stranger = TestLms.browser(app)
    assert annen.landed(annen.launch(stranger, "admin"))
    assert NAME not in text_of(stranger.get("/admin/people"))
    assert stranger.get(f"/admin/people/{target}/erase").status_code == 404
    own = form_for(text_of(stranger.get("/admin/people")), "/admin/people")  # the search
    assert own["action"].startswith("/admin/people")
    csrf = form_for(text_of(stranger.get("/admin/keys/rotate")), "/admin/keys/rotate")["fields"][
        "csrf_token"
    ]
    posted = stranger.post(
        f"/admin/people/{target}/erase", data={"csrf_token": csrf, "reason": "Prøver"}
    )
    assert posted.status_code == 404
    assert person_id(app, LEARNER.sub) == target
    # nor may an admin erase themselves on the console
    admin = admin_browser(app, lms)
    me = moodle_person_id(app, PERSONAS["admin"].sub)  # the other LMS has a "2" too
    page = text_of(admin.get(f"/admin/people/{me}/erase?lang=en"))
    assert "You are signed in as this person" in page and 'method="post"' not in page
    csrf = form_for(text_of(admin.get("/admin/keys/rotate")), "/admin/keys/rotate")["fields"][
        "csrf_token"
    ]
    assert (
        admin.post(
            f"/admin/people/{me}/erase", data={"csrf_token": csrf, "reason": "Meg selv"}
        ).status_code
        == 409
    )
    assert moodle_person_id(app, PERSONAS["admin"].sub) == me


def test_the_command_line_erases_a_person(app, lms, care, cli):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    target = person_id(app, LEARNER.sub)
    refused = cli("person", "erase", "999999", "--reason", "x", "--yes", ok=False)
    assert refused.exit_code != 0 and "No person 999999" in refused.output
    done = cli("person", "erase", str(target), "--reason", f"Asked by {LEARNER.email}", "--yes")
    assert f"Erased person {target}; 0 certificate(s) withdrawn." in done.output
    assert person_id(app, LEARNER.sub) is None
    with app.app_context():
        event = (
            get_session()
            .scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.ERASE))
            .one()
        )
        assert event.actor_label == "cli" and event.detail["via"] == "cli"
        assert event.detail["reason"] == "Asked by [erased]"


@pytest.fixture
def new_token(cli):
    def make(organisation: str = "Testkommune", scope: str = "read") -> str:
        result = cli("api-token", "create", "--organisation", organisation, "--scope", scope)
        token: str = result.stdout.strip().splitlines()[-1]
        return token

    return make


# --- data minimisation ------------------------------------------------------------------------


def test_a_launch_record_keeps_only_the_claims_the_tool_reads(app, lms, care):
    browser = TestLms.browser(app)
    extra = {
        c.LIS: {"person_sourcedid": "EMP-7", "course_section_sourcedid": "SEC-1"},
        c.CUSTOM: {
            "job_role": "sykepleier",
            "mapping": "sykepleier-kartlegging",
            "private_email": "privat@example.org",
        },
        "picture": "https://moodle.example/pix/u1.png",
        "https://purl.imsglobal.org/spec/lti/claim/ext": {"user_username": "ansatt"},
        c.LAUNCH_PRESENTATION: {"locale": "nn", "return_url": "https://moodle.example/x"},
    }
    response = lms.signed_launch(browser, "learner", change=extra)
    # the launch stands (its landing, the mapping named, is not built here: a 404)
    assert page_address(text_of(response)), text_of(response)
    with app.app_context():
        session = get_session()
        (stored,) = session.scalars(select(Launch)).all()
        claims = stored.claims
        person = stored.person
        assert person.email == LEARNER.email and person.locale == "nn"  # used, at the launch
        roles = [a.job_role.code for a in session.scalars(select(JobRoleAssignment))]
        assert roles == ["sykepleier"]
    dumped = json.dumps(claims)
    for unused in ("privat@example.org", "SEC-1", "pix/u1.png", "user_username", "return_url"):
        assert unused not in dumped
    for personal in ("name", "given_name", "family_name", "email", "picture", "nonce"):
        assert personal not in claims
    assert claims[c.LIS] == {"person_sourcedid": "EMP-7"}
    assert claims[c.CUSTOM] == {"mapping": "sykepleier-kartlegging"}
    assert claims["sub"] == LEARNER.sub and claims[c.ROLES] and claims[c.CONTEXT]["id"]
    assert set(claims) <= {*launches.STORED_CLAIMS, c.CUSTOM, c.LIS}


# --- retention -------------------------------------------------------------------------------


def _launched_months_ago(app: Any, sub: str, months: int) -> None:
    """As if the person's last launch was ``months`` ago (the data a year of use leaves)."""
    with app.app_context():
        session = get_session()
        person = session.scalars(select(Person).where(Person.sub == sub)).one()
        person.last_seen_at = add_months(clock.now(), -months)
        session.commit()


def _organisation_of(app: Any, sub: str) -> int:
    with app.app_context():
        return int(
            get_session().scalars(select(Person.organisation_id).where(Person.sub == sub)).one()
        )


def test_the_retention_rule_erases_only_those_without_a_launch_for_its_months(app, lms, care, cli):
    old, recent = PERSONAS["learner"], PERSONAS["learner2"]
    for persona in ("learner", "learner2"):
        launch(lms, TestLms.browser(app), persona)
    admin = admin_browser(app, lms)
    organisation = _organisation_of(app, old.sub)
    page = f"/admin/organisations/{organisation}?lang=en"
    action = f"/admin/organisations/{organisation}/retention"
    assert "Retention of personal data" in text_of(admin.get(page))
    for wrong in ("0", "121", "tolv", "1e3"):
        refused = post_form(admin, page, action, retention_months=wrong)
        assert refused.status_code == 422, wrong
        html = text_of(refused)
        assert "Enter a whole number of months from 1 to 120" in html
        assert 'id="retention-retention_months-error"' in html
    saved = post_form(admin, page, action, retention_months="12")
    assert saved.status_code == 302, text_of(saved)
    with app.app_context():
        session = get_session()
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == AuditAction.RETENTION)
        ).one()
        assert event.detail == {"before": None, "after": 12}
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    assert "have not opened Læringsløp for 12 months" in text_of(
        learner.get("/learner/my-data?lang=en")
    )

    _launched_months_ago(app, old.sub, 13)
    _launched_months_ago(app, recent.sub, 11)
    result = cli("retention", "run")
    assert "1 erased in 1 organisation(s) with a rule" in result.output
    assert person_id(app, old.sub) is None
    assert person_id(app, recent.sub) is not None
    with app.app_context():
        event = (
            get_session()
            .scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.ERASE))
            .one()
        )
        assert event.actor_label == "system" and event.detail["via"] == "retention"
        assert event.detail["reason"] == (
            "No launch for 12 months (the organisation's retention rule)"
        )
    # the worker applies it too
    _launched_months_ago(app, recent.sub, 14)
    cli("worker", "--once")
    assert person_id(app, recent.sub) is None
    # and no rule keeps everyone
    saved = post_form(admin, page, action, retention_months="")
    assert saved.status_code == 302
    launch(lms, TestLms.browser(app), "learner")
    _launched_months_ago(app, old.sub, 50)
    assert "0 erased in 0 organisation(s)" in cli("retention", "run").output
    assert person_id(app, old.sub) is not None


def test_launch_records_past_their_days_go_but_each_links_newest_and_scored_ones_stay(
    app, lms, care, gradebook, cli, monkeypatch
):
    """LAUNCH_RECORD_DAYS (180): older launch records are deleted, except the newest of each
    of the person's links (its course and what it places: scores and rosters still go
    through it) and the launch an attempt in progress will send its score through (when
    its time runs out, the worker submits it through that launch); a submitted attempt's
    score has gone. The person and today's session stand."""
    link_id = place(lms, app, gradebook, build_mapping(app, lms, care))
    browser = TestLms.browser(app)
    kurs7 = {"id": "kurs-7", "label": "K7", "title": "Kurs 7"}
    kurs8 = {"id": "kurs-8", "label": "K8", "title": "Kurs 8"}
    today = clock.now()
    now = [today - dt.timedelta(days=200)]
    monkeypatch.setattr("lti_tool.clock.now", lambda: now[0])

    def launched(context: dict[str, str] | None = None, link: str | None = None) -> Any:
        """A launch a minute after the last; its record's id and its response."""
        now[0] += dt.timedelta(minutes=1)
        change: dict[str, Any] = {c.CONTEXT: context} if context else {}
        if link:
            linked = lms.platform.launch_claims("learner", nonce="-", link=link)
            change.update({k: linked[k] for k in (c.RESOURCE_LINK, c.CUSTOM, c.AGS_ENDPOINT)})
        response = lms.signed_launch(browser, "learner", change=change, link=link)
        assert response.status_code == 200, text_of(response)
        return _launch_ids(app)[-1], response

    take(app, lms, "learner", link_id, NURSE_RIGHT)  # submitted, its score sent
    (submitted_from,) = _launch_ids(app)
    in_progress_from, response = launched(link=link_id)
    again = next(
        f
        for f in parse_forms(lms.landing_html(browser, response))
        if "/attempts" in (f["action"] or "")
    )
    assert browser.post(again["action"], data=again["fields"]).status_code == 302
    old_kurs7 = [launched(kurs7)[0] for _ in range(3)]
    kurs8_only, _ = launched(kurs8)
    mapping_newest, _ = launched(link=link_id)  # not continued: the attempt keeps its launch
    plain_newest, _ = launched()  # the same course as the mapping's link, a link of its own
    now[0] = today - dt.timedelta(days=10)
    recent_kurs7, _ = launched(kurs7)  # not its link's newest, but within the 180 days
    now[0] = today
    today_kurs7, _ = launched(kurs7)
    with app.app_context():
        attempts = get_session().scalars(select(Attempt).order_by(Attempt.number)).all()
        assert [(a.status.value, a.launch_id) for a in attempts] == [
            ("submitted", submitted_from),
            ("in_progress", in_progress_from),
        ]
    before = set(_launch_ids(app))

    cli("worker", "--once")  # its hourly retention run, as production runs it

    after = set(_launch_ids(app))
    assert before - after == {submitted_from, *old_kurs7}
    kept = {in_progress_from, mapping_newest, kurs8_only, plain_newest, recent_kurs7}
    assert after == kept | {today_kurs7}
    assert browser.get("/learner/").status_code == 200  # today's session stands
    assert person_id(app, LEARNER.sub) is not None
    again = cli("retention", "run").output  # by hand, as an administrator would
    assert "0 launch record(s) past their retention deleted" in again
    told = text_of(browser.get("/learner/my-data?lang=nb"))
    assert "Lagres i 180 dager og slettes deretter" in told  # the person is told


def test_launch_records_of_one_link_made_at_one_moment_keep_exactly_one(app, lms, cli, monkeypatch):
    """Two launches of one link recorded at the same moment (two tabs at once): past their
    days, one of them stays as the link's newest (the greater id breaks the tie), not both
    and not none."""
    browser = TestLms.browser(app)
    today = clock.now()
    now = [today - dt.timedelta(days=200)]
    monkeypatch.setattr("lti_tool.clock.now", lambda: now[0])
    for _ in range(2):
        assert lms.signed_launch(browser, "learner").status_code == 200
    made = _launch_ids(app)
    now[0] = today

    cli("retention", "run")

    assert len(made) == 2 and _launch_ids(app) == [max(made)]


def test_launch_records_of_one_course_in_two_deployments_are_two_links(app, lms, cli, monkeypatch):
    """A course reached through two deployments of the LMS (a course copied into another
    deployment) keeps the newest launch of each: its scores go through the deployment the
    link was placed in."""
    browser = TestLms.browser(app)
    refused = lms.signed_launch(browser, "learner", change={c.DEPLOYMENT_ID: "dep-copy"})
    assert refused.status_code == 403  # recorded as pending
    with app.app_context():
        copy = get_session().scalar(
            select(Deployment).where(Deployment.deployment_id == "dep-copy")
        )
        assert copy is not None
    cli("deployment", "approve", str(copy.id))
    today = clock.now()
    now = [today - dt.timedelta(days=200)]
    monkeypatch.setattr("lti_tool.clock.now", lambda: now[0])
    assert lms.signed_launch(browser, "learner").status_code == 200
    now[0] += dt.timedelta(minutes=1)
    copied = lms.signed_launch(browser, "learner", change={c.DEPLOYMENT_ID: "dep-copy"})
    assert copied.status_code == 200
    made = _launch_ids(app)
    now[0] = today

    cli("retention", "run")

    assert len(made) == 2 and _launch_ids(app) == made


def _launches_days_ago(app: Any, lms: Any, monkeypatch: Any, persona: str, count: int) -> None:
    """``count`` launches of one link by ``persona``, a minute apart, 200 days ago."""
    browser = TestLms.browser(app)
    today = clock.now()
    now = [today - dt.timedelta(days=200)]
    monkeypatch.setattr("lti_tool.clock.now", lambda: now[0])
    for _ in range(count):
        now[0] += dt.timedelta(minutes=1)
        assert lms.signed_launch(browser, persona).status_code == 200
    monkeypatch.setattr("lti_tool.clock.now", lambda: today)


def test_a_run_deletes_at_most_a_batch_of_launch_records(app, lms, cli, monkeypatch):
    """Years of launch records are deleted a batch a run (one run an hour), not in one
    long transaction, the oldest first; the next run takes the next batch."""
    monkeypatch.setattr("lti_tool.services.retention.LAUNCH_PURGE_BATCH", 2)
    _launches_days_ago(app, lms, monkeypatch, "learner", 5)
    made = _launch_ids(app)

    left, told = [], []
    for _ in range(3):
        told.append(cli("retention", "run").output)
        left.append(_launch_ids(app))

    assert [
        f"{n} launch record(s) past their retention deleted" in t
        for n, t in zip((2, 2, 0), told, strict=True)
    ] == [True] * 3
    assert left == [made[2:], made[4:], made[4:]]


def test_records_written_without_a_link_key_are_keyed_and_purged_as_their_links(
    app, lms, cli, monkeypatch
):
    """A process of the version before, still running while the upgrade starts, writes
    its launches without ``link_key``: the retention run keys them, and they go as any of
    their link's records go, the newest kept."""
    _launches_days_ago(app, lms, monkeypatch, "learner", 3)
    made = _launch_ids(app)
    with app.app_context():
        session = get_session()
        keys = dict(session.execute(select(Launch.id, Launch.link_key)).all())
        session.execute(update(Launch).values(link_key=None))
        session.commit()

    assert "2 launch record(s) past their retention deleted" in cli("retention", "run").output

    assert _launch_ids(app) == made[-1:]
    with app.app_context():
        kept = get_session().scalar(select(Launch.link_key).where(Launch.id == made[-1]))
    assert kept == keys[made[-1]]  # as the launch itself keyed it


def _set_rule(browser: Any, organisation: int, months: str) -> None:
    page = f"/admin/organisations/{organisation}?lang=en"
    action = f"/admin/organisations/{organisation}/retention"
    assert post_form(browser, page, action, retention_months=months).status_code == 302


def test_a_purge_that_fails_leaves_the_erasures_done(app, lms, care, cli, monkeypatch, caplog):
    """The launch records' purge commits on its own: when it fails, it is logged and named
    (the command exits with 1), and the erasures the rules ask for are done."""
    _launches_days_ago(app, lms, monkeypatch, "learner2", 2)
    launch(lms, TestLms.browser(app), "learner")
    _set_rule(admin_browser(app, lms), _organisation_of(app, LEARNER.sub), "12")
    _launched_months_ago(app, LEARNER.sub, 13)

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken for the test")

    monkeypatch.setattr("lti_tool.services.retention.purge_launches", fails)
    result = cli("retention", "run", ok=False)

    assert result.exit_code == 1
    assert "failed, rolled back and logged: the launch records' retention" in result.output
    assert "broken for the test" in caplog.text
    assert person_id(app, LEARNER.sub) is None  # the erasure was done
    assert len(_launch_ids(app, PERSONAS["learner2"].sub)) == 2


def test_an_organisations_rule_that_fails_midway_is_rolled_back_alone(
    app, lms, care, cli, monkeypatch, caplog, platform_pem, mocked_http
):
    """Each organisation's rule is a transaction of its own: one whose erasure fails after
    writing leaves nothing of it (the person and their audit trail stand), and another
    municipality's rule and the purges are done. The worker's cron pass (``--once``) does
    the rest of its work, then exits with 1."""
    _launches_days_ago(app, lms, monkeypatch, "learner2", 2)
    kept_newest = _launch_ids(app, PERSONAS["learner2"].sub)[-1:]
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    launch(lms, TestLms.browser(app), "learner")
    launch(annen, TestLms.browser(app), "learner")  # the same LMS id, another municipality
    annen_admin = TestLms.browser(app)
    assert annen.landed(annen.launch(annen_admin, "admin"))
    with app.app_context():
        session = get_session()
        organisations = dict(session.execute(select(Organisation.name, Organisation.id)).all())
        for person in session.scalars(select(Person).where(Person.sub == LEARNER.sub)):
            person.last_seen_at = add_months(clock.now(), -13)
        session.commit()
    ours, theirs = organisations["Testkommune"], organisations["Annenkommune"]
    _set_rule(admin_browser(app, lms), ours, "12")
    _set_rule(annen_admin, theirs, "12")
    erase = erasure.erase_person

    def erase_then_fail(session: Any, actor: Any, person: Any, *args: Any, **kwargs: Any) -> Any:
        erased = erase(session, actor, person, *args, **kwargs)
        if person.organisation_id == ours:
            raise RuntimeError("broken for the test, after the erasure")
        return erased

    monkeypatch.setattr("lti_tool.services.erasure.erase_person", erase_then_fail)
    result = cli("worker", "--once", ok=False)

    assert result.exit_code == 1
    assert f"retention failed: the retention rule of organisation {ours}" in result.output
    assert "delivered=" in result.output  # the pass went on
    assert "broken for the test, after the erasure" in caplog.text
    with app.app_context():
        session = get_session()
        left = session.scalars(select(Person.organisation_id).where(Person.sub == LEARNER.sub))
        assert list(left) == [ours]  # rolled back here, erased there
        erasures = session.scalars(
            select(AuditEvent.organisation_id).where(AuditEvent.action == AuditAction.ERASE)
        )
        assert list(erasures) == [theirs]
    assert _launch_ids(app, PERSONAS["learner2"].sub) == kept_newest  # the purge was done


def _launch_ids(app: Any, sub: str = LEARNER.sub) -> list[str]:
    """The ids of the person's launch records, oldest first."""
    with app.app_context():
        query = select(Launch.id).join(Person).where(Person.sub == sub)
        return list(get_session().scalars(query.order_by(Launch.created_at)))


def test_only_the_organisations_own_admin_sets_its_retention(
    app, lms, care, platform_pem, mocked_http
):
    launch(lms, TestLms.browser(app), "learner")
    organisation = _organisation_of(app, LEARNER.sub)
    action = f"/admin/organisations/{organisation}/retention"
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    stranger = TestLms.browser(app)
    assert annen.landed(annen.launch(stranger, "admin"))
    csrf = form_for(text_of(stranger.get("/admin/keys/rotate")), "/admin/keys/rotate")["fields"][
        "csrf_token"
    ]
    posted = stranger.post(action, data={"csrf_token": csrf, "retention_months": "1"})
    assert posted.status_code == 404
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    assert learner.post(action, data={"retention_months": "1"}).status_code in (400, 403)
    with app.app_context():
        from lti_tool.models import Organisation

        found = get_session().get(Organisation, organisation)
        assert found is not None and found.retention_months is None


def test_hostile_input_on_the_people_pages_gets_a_clear_answer(app, lms, care):
    learner = TestLms.browser(app)
    launch(lms, learner, "learner")
    target = person_id(app, LEARNER.sub)
    admin = admin_browser(app, lms)
    assert admin.get("/admin/people", query_string={"q": "De\x00mo"}).status_code == 422
    assert admin.get("/admin/people", query_string={"q": "x" * 5000}).status_code == 200
    found = text_of(admin.get("/admin/people", query_string={"q": "ansatt@demo"}))
    assert NAME in found
    assert NAME not in text_of(admin.get("/admin/people", query_string={"q": "%"}))
    page = f"/admin/people/{target}/erase?lang=en"
    too_long = post_form(admin, page, f"/admin/people/{target}/erase", reason="x" * 501)
    assert too_long.status_code == 422 and 'aria-invalid="true"' in text_of(too_long)
    nul = post_form(admin, page, f"/admin/people/{target}/erase", reason="Ba om\x00 sletting")
    assert nul.status_code == 422 and "invalid_input" in text_of(nul)
    assert admin.get("/admin/people/99999999999999999999/erase").status_code == 404
    assert person_id(app, LEARNER.sub) == target


def test_erasing_cuts_the_person_out_of_their_certificates_trail_in_the_audit_log(app, lms, care):
    """The trail lives in the audit log, which is append-only: erasure is the one change
    it allows (on PostgreSQL, under its own flag), and only to the reasons' text."""
    _built, certificate = earn(app, lms, care)
    erased_id = person_id(app, LEARNER.sub)
    admin = admin_browser(app, lms)
    page = f"/admin/certificates/{certificate.id}?lang=en"
    reason = f"{NAME} showed a forged paper"
    done = post_form(admin, page, f"/admin/certificates/{certificate.id}/revoke", reason=reason)
    assert done.status_code == 302, text_of(done)
    trail = text_of(admin.get(page))
    assert '<h2 id="audit-title">Audit trail</h2>' in trail
    for shown in ("Issued", "The tool (rules met)", "Revoked", reason, "Demo Administrator"):
        assert shown in trail
    erase = f"/admin/people/{erased_id}/erase?lang=en"
    erased = post_form(admin, erase, f"/admin/people/{erased_id}/erase", reason="Asked to")
    assert erased.status_code == 302, text_of(erased)
    with app.app_context():
        events = (
            get_session()
            .scalars(
                select(AuditEvent)
                .where(AuditEvent.object_type == "certificate")
                .where(AuditEvent.action.in_([AuditAction.ISSUE, AuditAction.REVOKE]))
                .options(selectinload(AuditEvent.people))
                .order_by(AuditEvent.id)
            )
            .all()
        )
        assert [e.action for e in events] == [AuditAction.ISSUE, AuditAction.REVOKE]
        assert [[p.person_id for p in e.people] for e in events] == [[erased_id], [erased_id]]
        assert events[1].detail["reason"] == "[erased] showed a forged paper"
        assert all(e.object_id == str(certificate.id) for e in events)
    assert NAME not in text_of(admin.get("/admin/audit.csv"))
