"""The REST API under /api/v1: tokens, scoping by organisation, validation, pagination,
import/export, the OpenAPI document, and access through a launch."""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from lti_tool import create_app
from lti_tool.db import get_session
from lti_tool.models import (
    ApiToken,
    Competence,
    CourseKind,
    Framework,
    FrameworkVersion,
    GrantKind,
    JobRole,
    JobRoleAssignment,
    OrgUnit,
    PermissionGrant,
    Person,
    Requirement,
    VersionStatus,
)
from lti_tool.services import assignments, certifications, frameworks, grants
from lti_tool.services.assignments import Kind
from lti_tool.services.audit import Actor
from lti_tool.views.api_spec import build_spec
from tests.fakes import content
from tests.fakes.lms import TestLms, csrf_token

FAKES = Path(__file__).resolve().parent.parent / "fakes" / "frameworks"
OTHER = "Annenkommune"
API = "/api/v1"


def _static_spec() -> dict[str, Any]:
    """The document as collection-time data: the parametrized tests run over its paths."""
    app = create_app(
        {
            "APP_ENV": "test",
            "SECRET_KEY": "collection-secret-key-collection-secret-key",
            "BASE_URL": "https://tool.example",
            "DATABASE_URL": "sqlite://",
        }
    )
    with app.test_request_context():
        spec = build_spec()
    app.extensions["db_engine"].dispose()
    return spec


SPEC = _static_spec()
OPERATIONS = sorted(
    (path, method)
    for path, ops in SPEC["paths"].items()
    for method in ops
    if path != API + "/openapi.json"
)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def new_token(cli):
    def make(organisation: str = "Testkommune", scope: str = "write") -> str:
        result = cli("api-token", "create", "--organisation", organisation, "--scope", scope)
        token = result.stdout.strip().splitlines()[-1]
        assert token.startswith("ll_")
        return token

    return make


@pytest.fixture
def api(app):
    """A client that sends a Bearer token."""

    class Client:
        def __init__(self) -> None:
            self.http = app.test_client()

        def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> Any:
            headers = kwargs.pop("headers", {})
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            return self.http.open(API + path, method=method.upper(), headers=headers, **kwargs)

    return Client()


@pytest.fixture
def org_a(app, lms):
    """Testkommune with content, a draft, a person placed in a role and a unit."""
    client = TestLms.browser(app)
    assert lms.landed(lms.launch(client, "learner"))
    with app.app_context():
        found = content.care_content()
        session = get_session()
        org = found["organisation_id"]
        draft = frameworks.create_framework(session, org, "utkast", {"nb": "Utkast"})
        draft_competence = frameworks.add_competence(
            session, org, draft.id, "ny", {"nb": "Ny kompetanse"}
        )
        person = session.scalar(select(Person).where(Person.organisation_id == org))
        assert person is not None
        role_row = assignments.assign(
            session, org, person.id, Kind.ROLE, found["roles"]["sykepleier"], by_id=None
        )
        assignments.assign(
            session, org, person.id, Kind.UNIT, found["units"]["hjemmetjenesten"], by_id=None
        )
        granted, _ = grants.grant(
            session,
            org,
            person_id=person.id,
            kind=GrantKind.MANAGER,
            unit_id=found["units"]["hjemmetjenesten"],
            reason="Leads home care",
            by=Actor.cli(org),
            via="api",
        )  # withdrawn: the person stays a plain learner here
        grants.withdraw(session, org, granted.id, reason="Left", by=Actor.cli(org), via="api")
        helse = session.scalar(select(Framework).where(Framework.code == "helse"))
        requirement = session.scalar(
            select(Requirement).where(Requirement.job_role_id == found["roles"]["sykepleier"])
        )
        course = certifications.save_course(
            session, org, None, "hms-kurs", {"nb": "HMS-kurs"}, CourseKind.CLASSROOM
        )
        session.commit()
        return {
            **found,
            "framework_id": helse.id,
            "version_id": draft.id,
            "published_version_id": helse.versions[0].id,
            "draft_competence_id": draft_competence.id,
            "person_id": person.id,
            "assignment_id": role_row.id,
            "requirement_id": requirement.id,
            "grant_id": granted.id,
            "course_id": course.id,
        }


@pytest.fixture
def other_org(cli):
    cli("organisation", "add", OTHER)
    return OTHER


def _counts(app, organisation_id: int) -> dict[str, int]:
    with app.app_context():
        session = get_session()

        def count(query: Any) -> int:
            return int(session.scalar(query) or 0)

        return {
            "frameworks": count(
                select(func.count(Framework.id)).where(Framework.organisation_id == organisation_id)
            ),
            "versions": count(
                select(func.count(FrameworkVersion.id))
                .join(Framework)
                .where(Framework.organisation_id == organisation_id)
            ),
            "published": count(
                select(func.count(FrameworkVersion.id))
                .join(Framework)
                .where(
                    Framework.organisation_id == organisation_id,
                    FrameworkVersion.status == VersionStatus.PUBLISHED,
                )
            ),
            "competences": count(
                select(func.count(Competence.id))
                .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
                .join(Framework)
                .where(Framework.organisation_id == organisation_id)
            ),
            "archived_competences": count(
                select(func.count(Competence.id))
                .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
                .join(Framework)
                .where(Framework.organisation_id == organisation_id, Competence.archived)
            ),
            "job_roles": count(
                select(func.count(JobRole.id)).where(JobRole.organisation_id == organisation_id)
            ),
            "archived_roles": count(
                select(func.count(JobRole.id)).where(
                    JobRole.organisation_id == organisation_id, JobRole.archived
                )
            ),
            "requirements": count(
                select(func.count(Requirement.id))
                .join(JobRole)
                .where(JobRole.organisation_id == organisation_id)
            ),
            "units": count(
                select(func.count(OrgUnit.id)).where(OrgUnit.organisation_id == organisation_id)
            ),
            "archived_units": count(
                select(func.count(OrgUnit.id)).where(
                    OrgUnit.organisation_id == organisation_id, OrgUnit.archived
                )
            ),
            "active_grants": count(
                select(func.count(PermissionGrant.id)).where(
                    PermissionGrant.organisation_id == organisation_id,
                    PermissionGrant.withdrawn_at.is_(None),
                )
            ),
            "active_role_assignments": count(
                select(func.count(JobRoleAssignment.id))
                .join(JobRole)
                .where(
                    JobRole.organisation_id == organisation_id,
                    JobRoleAssignment.status == "active",
                )
            ),
        }


# --- the document ---------------------------------------------------------------------------


def test_the_document_describes_every_route_and_only_those(app, client):
    response = client.get(API + "/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    documented = {(p, m.upper()) for p, ops in spec["paths"].items() for m in ops}
    routed = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == routed
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.endswith("/openapi.json"):
                assert op["security"] == []
                continue
            assert op["summary"], (path, method)
            assert "401" in op["responses"] and "404" in op["responses"], (path, method)
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, (path, method)
            if method in ("post", "put") and not path.endswith(("/publish", "/drafts", "/end")):
                assert "requestBody" in op, (path, method)
    schemas = spec["components"]["schemas"]
    assert {"FrameworkIn", "VersionOut", "JobRoleOut", "Error"} <= set(schemas)
    assert "CompetenceNode" in schemas


def test_the_document_is_public_and_the_api_is_not(client):
    assert client.get(API + "/openapi.json").status_code == 200
    refused = client.get(API + "/frameworks")
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "not_signed_in"


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_from_the_command_line_creates_reads_changes_and_deletes(
    app, lms, api, cli, new_token
):
    token = new_token("Testkommune", "write")
    with app.app_context():
        row = get_session().scalar(select(ApiToken))
        assert row is not None and row.last_used_at is None
        assert token not in row.token_hash  # only the hash is kept
    made = api.call(
        "post",
        "/frameworks",
        token,
        json={"code": "hms", "title": {"nb": "HMS", "en": "HSE"}},
    )
    assert made.status_code == 201, made.get_json()
    version = made.get_json()
    assert version["status"] == "draft" and version["code"] == "hms"
    vid = version["id"]
    levels = api.call(
        "put",
        f"/versions/{vid}/levels",
        token,
        json={"levels": [{"label": {"nb": "Kjenner til"}}, {"label": {"nb": "Kan"}}]},
    )
    assert levels.status_code == 200 and len(levels.get_json()["levels"]) == 2
    top = api.call(
        "post", f"/versions/{vid}/competences", token, json={"code": "brann", "title": {"nb": "B"}}
    ).get_json()
    child = api.call(
        "post",
        f"/versions/{vid}/competences",
        token,
        json={"code": "slukking", "title": {"nb": "S"}, "parent_id": top["id"]},
    )
    assert child.status_code == 201
    spare = api.call(
        "post", f"/versions/{vid}/competences", token, json={"code": "x", "title": {"nb": "X"}}
    ).get_json()
    changed = api.call(
        "put",
        f"/competences/{spare['id']}",
        token,
        json={"code": "y", "title": {"nb": "Y"}, "external_ref": "https://lovdata.no/x"},
    )
    assert changed.get_json()["code"] == "y"
    assert api.call("post", f"/competences/{spare['id']}/archive", token, json={}).get_json()[
        "archived"
    ]
    assert api.call("delete", f"/competences/{spare['id']}", token).status_code == 204
    tree = api.call("get", f"/versions/{vid}", token).get_json()
    assert [c["code"] for c in tree["competences"]] == ["brann"]
    assert [c["code"] for c in tree["competences"][0]["children"]] == ["slukking"]
    published = api.call("post", f"/versions/{vid}/publish", token)
    assert published.get_json()["status"] == "published"
    fid = version["framework_id"]
    assert api.call("get", f"/frameworks/{fid}", token).get_json()["versions"][0]["status"] == (
        "published"
    )
    role = api.call(
        "post", "/job-roles", token, json={"code": "vekter", "title": {"nb": "Vekter"}}
    ).get_json()
    req = api.call(
        "post",
        f"/job-roles/{role['id']}/requirements",
        token,
        json={"competence_id": top["id"], "required_level": 2, "renewal_months": 12},
    )
    assert req.status_code == 201, req.get_json()
    rid = req.get_json()["id"]
    assert req.get_json()["framework"] == "hms"
    updated = api.call(
        "put", f"/requirements/{rid}", token, json={"required_level": 1, "mandatory": False}
    )
    assert updated.get_json()["required_level"] == 1
    listed = api.call("get", f"/job-roles/{role['id']}/requirements", token).get_json()
    assert listed["total"] == 1
    assert api.call("delete", f"/requirements/{rid}", token).status_code == 204
    renamed = api.call(
        "put",
        f"/job-roles/{role['id']}",
        token,
        json={"code": "vakt", "title": {"nb": "Vakt"}},
    )
    assert renamed.get_json()["code"] == "vakt"
    assert api.call("post", f"/job-roles/{role['id']}/archive", token, json={}).get_json()[
        "archived"
    ]
    draft = api.call("post", f"/frameworks/{fid}/drafts", token)
    assert draft.status_code == 201 and draft.get_json()["number"] == 2
    again = api.call("post", f"/frameworks/{fid}/drafts", token)
    assert again.status_code == 409 and again.get_json()["error"] == "draft_exists"
    with app.app_context():
        assert get_session().scalar(select(ApiToken.last_used_at)) is not None
    assert "last used" in cli("api-token", "list").output


def test_a_read_token_reads_and_cannot_write(app, lms, api, new_token):
    token = new_token("Testkommune", "read")
    assert api.call("get", "/frameworks", token).status_code == 200
    refused = api.call("post", "/frameworks", token, json={"code": "x", "title": {"nb": "X"}})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "read_only_token"
    with app.app_context():
        assert get_session().scalar(select(func.count(Framework.id))) == 0


def test_revoked_and_unknown_tokens_are_refused(app, lms, api, cli, new_token):
    token = new_token("Testkommune", "write")
    assert api.call("get", "/job-roles", token).status_code == 200
    with app.app_context():
        token_id = get_session().scalar(select(ApiToken.id))
    assert "Revoked" in cli("api-token", "revoke", str(token_id)).output
    for sent in (token, "ll_unknown", "not-even-ours"):
        refused = api.call("get", "/job-roles", sent)
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "invalid_api_token"
    basic = api.call("get", "/job-roles", None, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    assert "revoked" in cli("api-token", "list", "--organisation", "Testkommune").output


def test_token_commands_refuse_an_unknown_organisation_and_token(cli, lms):
    assert cli("api-token", "create", "--organisation", "Nowhere", "--scope", "read", ok=False)
    assert cli("api-token", "revoke", "999", ok=False).exit_code != 0
    assert "No API tokens." in cli("api-token", "list").output


# --- validation -----------------------------------------------------------------------------


def test_unknown_and_invalid_fields_are_named(app, lms, api, new_token):
    token = new_token()
    refused = api.call(
        "post",
        "/frameworks",
        token,
        json={"title": {"de": "Rahmen"}, "colour": "red"},
        headers={"Accept-Language": "en"},
    )
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["error"] == "invalid_input"
    assert body["errors"]["colour"] == ["Unknown field."]
    assert body["errors"]["code"] == ["Missing data for required field."]
    assert "title" in body["errors"]
    nb = api.call("post", "/frameworks", token, json={"colour": "red"}).get_json()
    assert nb["errors"]["colour"] == ["Ukjent felt."]
    nn = api.call(
        "post", "/frameworks", token, json={"colour": 1}, headers={"Accept-Language": "nn"}
    ).get_json()
    assert nn["errors"]["colour"] == ["Ukjend felt."]
    assert nn["errors"]["code"] == ["Feltet manglar."]
    not_json = api.call("post", "/frameworks", token, data="x", content_type="text/plain")
    assert not_json.status_code == 422 and "_schema" in not_json.get_json()["errors"]
    bad_code = api.call("post", "/frameworks", token, json={"code": "a b", "title": {"nb": "X"}})
    assert bad_code.status_code == 400 and bad_code.get_json()["error"] == "invalid_code"
    with app.app_context():
        assert get_session().scalar(select(func.count(Framework.id))) == 0


# --- pagination -----------------------------------------------------------------------------


def test_lists_are_paged_with_link_headers(app, lms, api, new_token):
    token = new_token()
    for number in range(7):
        made = api.call(
            "post", "/job-roles", token, json={"code": f"r{number}", "title": {"nb": "R"}}
        )
        assert made.status_code == 201
    page = api.call("get", "/job-roles?page=2&per_page=3", token)
    body = page.get_json()
    assert (body["page"], body["per_page"], body["total"]) == (2, 3, 7)
    assert [r["code"] for r in body["items"]] == ["r3", "r4", "r5"]
    links = page.headers["Link"]
    assert 'page=3&per_page=3>; rel="next"' in links
    assert 'page=1&per_page=3>; rel="prev"' in links
    assert 'page=3&per_page=3>; rel="last"' in links
    last = api.call("get", "/job-roles?page=3&per_page=3", token)
    assert [r["code"] for r in last.get_json()["items"]] == ["r6"]
    assert 'rel="next"' not in last.headers["Link"]
    assert api.call("get", "/job-roles", token).get_json()["per_page"] == 25
    too_many = api.call("get", "/job-roles?per_page=101", token)
    assert too_many.status_code == 422 and "per_page" in too_many.get_json()["errors"]
    assert api.call("get", "/job-roles?page=0", token).status_code == 422
    assert api.call("get", "/job-roles?sort=x", token).get_json()["errors"] == {
        "sort": ["Ukjent felt."]
    }


# --- import and export ----------------------------------------------------------------------


def _upload(data: bytes, name: str, **fields: str) -> dict[str, Any]:
    return {"file": (io.BytesIO(data), name), **fields}


@pytest.mark.parametrize(
    ("path", "format_name"),
    [
        (FAKES / "case-external.json", "case"),
        (FAKES / "moodle-export.csv", "moodle-csv"),
        ("legemiddelhandtering.case.json", "case"),
    ],
)
def test_import_through_the_api_and_export_again(app, lms, api, new_token, path, format_name):
    token = new_token()
    if isinstance(path, Path):
        data = path.read_bytes()
    else:
        data = resources.files("lti_tool.content").joinpath(path).read_bytes()
    made = api.call(
        "post",
        "/frameworks/import",
        token,
        data=_upload(data, "file", format=format_name, publish="true"),
        content_type="multipart/form-data",
    )
    assert made.status_code == 201, made.get_json()
    version = made.get_json()
    assert version["status"] == "published" and version["competences"]
    for out in ("case", "moodle-csv"):
        exported = api.call(
            "get", f"/frameworks/{version['framework_id']}/export?format={out}", token
        )
        assert exported.status_code == 200
        assert version["code"] in exported.headers["Content-Disposition"]
        if out == "case":
            assert exported.get_json()["CFDocument"]["identifier"] == version["identifier"]
        else:
            assert exported.mimetype == "text/csv"
    missing = api.call("get", f"/frameworks/{version['framework_id']}/export", token)
    assert missing.status_code == 422 and "format" in missing.get_json()["errors"]


@pytest.mark.parametrize(
    ("name", "format_name", "kept"),
    [
        ("moodle-full-export.csv", "moodle-csv", 6),
        ("case-external.json", "case", 3),
    ],
)
def test_an_import_lists_what_it_kept_and_the_export_gives_it_back(
    app, lms, api, new_token, name, format_name, kept
):
    token = new_token()
    data = (FAKES / name).read_bytes()
    made = api.call(
        "post",
        "/frameworks/import",
        token,
        data=_upload(data, name, format=format_name),
        content_type="multipart/form-data",
    )
    assert made.status_code == 201, made.get_json()
    lines = made.get_json()["kept_for_export"]
    assert len(lines) == kept and all("eksport" in line for line in lines)
    exported = api.call(
        "get",
        f"/frameworks/{made.get_json()['framework_id']}/export?format={format_name}&version=1",
        token,
    )
    if format_name == "moodle-csv":
        assert exported.data == data
    else:
        document = exported.get_json()["CFDocument"]
        assert document["adoptionStatus"] == "Adopted"
        assert document["lastChangeDateTime"] == "2024-05-02T10:00:00+00:00"
        items = {item["humanCodingScheme"]: item for item in exported.get_json()["CFItems"]}
        assert items["HY.1"]["CFItemType"] == "Domain"
        assert items["HY.1.1"]["notes"] == "Hansker, frakk, munnbind."
        assert "notes" not in items["HY.1.2"]
        assert items["HY.1.2"]["abbreviatedStatement"] == "Håndhygiene"


def test_a_broken_file_changes_nothing(app, lms, api, new_token):
    token = new_token()
    organisation_id = _org_id(app, "Testkommune")
    before = _counts(app, organisation_id)
    broken = (FAKES / "moodle-export.csv").read_bytes().replace(b",kontor,", b",,", 1)
    broken += b'"ukjent-forelder",barn,"Barn",,1,,,,0,null,,9,,\n'
    refused = api.call(
        "post",
        "/frameworks/import",
        token,
        data=_upload(broken, "f.csv", format="moodle-csv"),
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "import_errors"
    assert refused.get_json()["problems"]
    not_json = api.call(
        "post",
        "/frameworks/import",
        token,
        data=_upload(b"{not json", "f.json", format="case"),
        content_type="multipart/form-data",
    )
    assert not_json.status_code == 422
    no_file = api.call(
        "post",
        "/frameworks/import",
        token,
        data={"format": "case"},
        content_type="multipart/form-data",
    )
    assert no_file.get_json()["errors"] == {"file": ["Send filen i feltet file."]}
    assert _counts(app, organisation_id) == before


def test_job_roles_import_and_export(app, lms, api, new_token):
    token = new_token()
    for entry in ("informasjonssikkerhet.case.json", "digital-kompetanse.case.json"):
        data = resources.files("lti_tool.content").joinpath(entry).read_bytes()
        api.call(
            "post",
            "/frameworks/import",
            token,
            data=_upload(data, entry, format="case", publish="true"),
            content_type="multipart/form-data",
        )
    roles = resources.files("lti_tool.content").joinpath("job-roles.json").read_bytes()
    made = api.call(
        "post",
        "/job-roles/import",
        token,
        data=_upload(roles, "job-roles.json"),
        content_type="multipart/form-data",
    )
    # legemiddelhandtering is not imported: every role asking for it is a problem
    if made.status_code == 422:
        organisation_id = _org_id(app, "Testkommune")
        assert _counts(app, organisation_id)["job_roles"] == 0
        data = resources.files("lti_tool.content").joinpath("legemiddelhandtering.case.json")
        api.call(
            "post",
            "/frameworks/import",
            token,
            data=_upload(data.read_bytes(), "l.json", format="case", publish="true"),
            content_type="multipart/form-data",
        )
        made = api.call(
            "post",
            "/job-roles/import",
            token,
            data=_upload(roles, "job-roles.json"),
            content_type="multipart/form-data",
        )
    assert made.status_code == 201, made.get_json()
    codes = {r["code"] for r in made.get_json()["created"]}
    assert "alle-ansatte" in codes
    exported = api.call("get", "/job-roles/export", token)
    assert exported.status_code == 200
    assert {r["code"] for r in json.loads(exported.data)["job_roles"]} == codes
    twice = api.call(
        "post",
        "/job-roles/import",
        token,
        data=_upload(roles, "job-roles.json"),
        content_type="multipart/form-data",
    )
    assert twice.status_code == 422 and twice.get_json()["problems"]


# --- org units, people and assignments ------------------------------------------------------


def test_units_people_and_assignments(app, org_a, api, new_token):
    token = new_token()
    sector = api.call(
        "post", "/org-units", token, json={"kind": "sector", "code": "oppvekst", "name": "Oppvekst"}
    ).get_json()
    unit = api.call(
        "post",
        "/org-units",
        token,
        json={"kind": "unit", "code": "skole", "name": "Skolen", "parent_id": sector["id"]},
    )
    assert unit.status_code == 201, unit.get_json()
    uid = unit.get_json()["id"]
    moved = api.call(
        "put", f"/org-units/{uid}", token, json={"name": "Skulen", "parent_id": None}
    ).get_json()
    assert moved["name"] == "Skulen" and moved["parent_id"] is None
    units = api.call("get", "/org-units?per_page=100", token).get_json()
    assert "skole" in {u["code"] for u in units["items"]}
    people = api.call("get", "/people", token).get_json()
    assert people["total"] == 1
    person = people["items"][0]
    assert [r["code"] for r in person["job_roles"]] == ["sykepleier"]
    pid = person["id"]
    added = api.call(
        "post",
        f"/people/{pid}/assignments",
        token,
        json={"kind": "unit", "target_id": uid},
    )
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["source"] == "manager"
    listed = api.call("get", f"/people/{pid}/assignments", token).get_json()
    assert {(a["kind"], a["code"]) for a in listed["items"]} == {
        ("role", "sykepleier"),
        ("unit", "hjemmetjenesten"),
        ("unit", "skole"),
    }
    ended = api.call("post", f"/assignments/unit/{added.get_json()['id']}/end", token)
    assert ended.get_json()["status"] == "ended"
    assert api.call(
        "post", f"/assignments/unit/{added.get_json()['id']}/end", token
    ).status_code == (404)
    single = api.call("get", f"/people/{pid}", token).get_json()
    assert [u["code"] for u in single["units"]] == ["hjemmetjenesten"]
    archived = api.call("post", f"/org-units/{uid}/archive", token, json={"archived": True})
    assert archived.get_json()["archived"] is True
    hidden = api.call("get", "/org-units", token).get_json()
    assert "skole" not in {u["code"] for u in hidden["items"]}
    shown = api.call("get", "/org-units?include_archived=true&per_page=100", token).get_json()
    assert "skole" in {u["code"] for u in shown["items"]}


# --- one organisation's token sees nothing of another's -------------------------------------

#: A valid body for each operation that takes one: scoping, not validation, must refuse.
EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/frameworks"): {"code": "annen", "title": {"nb": "Annen"}},
    ("post", "/frameworks/import"): "multipart",
    ("post", "/job-roles/import"): "multipart",
    ("post", "/items/import"): "multipart",
    ("post", "/packages"): {"name": "annen", "version": "1"},
    ("post", "/packages/import"): "multipart",
    ("put", "/versions/{version_id}/levels"): {
        "levels": [{"label": {"nb": "1"}}, {"label": {"nb": "2"}}]
    },
    ("post", "/versions/{version_id}/competences"): {"code": "c9", "title": {"nb": "C"}},
    ("put", "/competences/{competence_id}"): {"code": "c9", "title": {"nb": "C"}},
    ("post", "/competences/{competence_id}/archive"): {},
    ("post", "/job-roles"): {"code": "annen-rolle", "title": {"nb": "R"}},
    ("put", "/job-roles/{job_role_id}"): {"code": "sykepleier", "title": {"nb": "S"}},
    ("post", "/job-roles/{job_role_id}/archive"): {},
    ("post", "/job-roles/{job_role_id}/requirements"): {
        "competence_id": "{published_competence_id}",
        "required_level": 2,
    },
    ("put", "/requirements/{requirement_id}"): {"required_level": 1},
    ("post", "/org-units"): {"kind": "unit", "code": "annen-enhet", "name": "E"},
    ("put", "/org-units/{unit_id}"): {"name": "Ny"},
    ("post", "/org-units/{unit_id}/archive"): {},
    ("post", "/people/{person_id}/assignments"): {"kind": "role", "target_id": "{job_role_id}"},
    ("post", "/grants"): {
        "person_id": "{person_id}",
        "kind": "manager",
        "unit_id": "{unit_id}",
        "reason": "Leads home care",
    },
    ("post", "/grants/{grant_id}/withdraw"): {"reason": "Left"},
}
#: Endpoints whose body names another organisation's person: not found either.
BODY_NAMES_ANOTHERS = {("post", "/grants")}
#: Endpoints that answer with a file of the caller's own organisation (a package export).
EXPORTS = {("post", "/packages")}
#: Endpoints about the launched person: a token has no person.
PERSON_ONLY = {("get", "/me/requirements")}


def _org_id(app, name: str) -> int:
    with app.app_context():
        return content.organisation_id(name)


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_another_organisations_token_finds_nothing(
    app, org_a, other_org, api, new_token, path, method
):
    token = new_token(other_org, "write")
    ids = {
        "framework_id": org_a["framework_id"],
        "version_id": org_a["version_id"],
        "competence_id": org_a["draft_competence_id"],
        "published_competence_id": org_a["competences"]["legemidler"],
        "job_role_id": org_a["roles"]["sykepleier"],
        "requirement_id": org_a["requirement_id"],
        "unit_id": org_a["units"]["hjemmetjenesten"],
        "person_id": org_a["person_id"],
        "assignment_id": org_a["assignment_id"],
        "grant_id": org_a["grant_id"],
        "course_id": org_a["course_id"],
        "kind": "role",
    }
    relative = path.removeprefix(API)
    operation = SPEC["paths"][path][method]
    url = re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), relative)
    if method == "get" and "format" in json.dumps(operation.get("parameters", [])):
        url += "?format=case"
    kwargs: dict[str, Any] = {}
    if "requestBody" in operation:
        example = EXAMPLES.get((method, relative))
        assert example is not None, f"add a valid example body for {method} {relative}"
        if example == "multipart":
            data = (
                resources.files("lti_tool.content").joinpath("job-roles.json").read_bytes()
                if "job-roles" in relative
                else (FAKES / "case-external.json").read_bytes()
            )
            kwargs = {
                "data": _upload(
                    data, "f", **({} if "job-roles" in relative else {"format": "case"})
                ),
                "content_type": "multipart/form-data",
            }
        else:
            kwargs = {"json": _fill(example, ids)}
    before = _counts(app, org_a["organisation_id"])
    response = api.call(method, url, token, **kwargs)
    assert _counts(app, org_a["organisation_id"]) == before, f"{method} {path} changed A"
    if (method, relative) in PERSON_ONLY:
        assert response.status_code == 403
    elif "{" in relative or (method, relative) in BODY_NAMES_ANOTHERS:
        assert response.status_code == 404, (method, path, response.get_json())
        assert response.get_json()["error"] == "not_found"
    elif method == "get" or (method, relative) in EXPORTS:
        assert response.status_code == 200
        if (method, relative) in EXPORTS:
            archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
            text = "".join(archive.read(name).decode() for name in archive.namelist())
        else:
            text = response.get_data(as_text=True)
        for code in ("sykepleier", "helse", "hjemmetjenesten", "utkast", "Ansatt"):
            assert code not in text, (path, code)
    else:  # creating in one's own organisation: allowed, and it lands there
        assert response.status_code in (201, 422), (method, path, response.get_json())


# --- through a launch -----------------------------------------------------------------------


def _page_csrf(app: Any, client: Any) -> str:
    """The token flask-wtf's csrf_token() puts in this browser's pages (forms, meta tags)."""
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


def test_a_designer_writes_with_the_session_and_the_pages_csrf_token(app, lms):
    client = TestLms.browser(app)
    lms.launch(client, "designer")
    assert client.get(API + "/frameworks").status_code == 200
    body = {"code": "fra-siden", "title": {"nb": "Fra siden"}}
    without = client.post(API + "/frameworks", json=body)
    assert without.status_code == 400  # no CSRF token: a cross-site form could do this
    assert without.is_json
    made = client.post(
        API + "/frameworks", json=body, headers={"X-CSRFToken": _page_csrf(app, client)}
    )
    assert made.status_code == 201, made.get_json()
    with app.app_context():
        assert get_session().scalar(select(Framework.code)) == "fra-siden"


def test_a_learner_reads_own_requirements_and_cannot_write(app, org_a, lms):
    client = TestLms.browser(app)
    lms.launch(client, "learner")
    mine = client.get(API + "/me/requirements", headers={"Accept-Language": "en"})
    assert mine.status_code == 200, mine.get_json()
    body = mine.get_json()
    assert [r["code"] for r in body["job_roles"]] == ["sykepleier"]
    assert {r["code"] for r in body["requirements"]} == {"legemidler", "personvern"}
    assert all(r["met"] is False for r in body["requirements"])
    assert client.get(API + "/frameworks").status_code == 403
    assert client.get(API + "/people").status_code == 403
    headers = {"X-CSRFToken": _page_csrf(app, client)}
    for method, path in (("post", "/frameworks"), ("post", "/job-roles")):
        refused = client.open(
            API + path, method=method, json={"code": "x", "title": {"nb": "X"}}, headers=headers
        )
        assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    with app.app_context():
        assert _counts(app, org_a["organisation_id"])["job_roles"] == 3


def test_a_manager_reads_people_but_cannot_change_content(app, org_a, lms):
    client = TestLms.browser(app)
    lms.launch(client, "manager")
    # by LMS role alone a manager of no unit: the people endpoints are the organisation's
    assert client.get(API + "/people").status_code == 403
    admin = TestLms.browser(app)
    lms.launch(admin, "admin")
    assert admin.get(API + "/people").get_json()["total"] == 3  # the learner, manager, admin
    assert client.get(API + "/job-roles").status_code == 200
    with client.session_transaction() as session:
        assert session.get("launch_id")
    page = client.get("/learner/").get_data(as_text=True)  # a form: its CSRF token
    headers = {"X-CSRFToken": csrf_token(page)}
    refused = client.post(
        API + "/frameworks", json={"code": "x", "title": {"nb": "X"}}, headers=headers
    )
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"


def test_me_needs_a_launch_not_a_token(app, lms, api, new_token):
    refused = api.call("get", "/me/requirements", new_token())
    assert refused.status_code == 403 and refused.get_json()["error"] == "person_only"
