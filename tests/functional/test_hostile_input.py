"""Hostile input, as a security probe sends it: script addresses, numbers beyond the
database's, deep JSON, NUL characters, over-long text, writes without credentials. Each
gets a clear refusal (404, 422, 400, 401), never a 500, and nothing is written."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from lti_tool.db import get_session
from lti_tool.models import Competence
from tests.fakes.lms import TestLms
from tests.functional import test_api
from tests.functional.test_admin_console import get_page, submit
from tests.functional.test_api import API, SPEC, _counts, _upload

# The API's fixtures: a client with a Bearer token, tokens, an organisation with content.
api, new_token, org_a = test_api.api, test_api.new_token, test_api.org_a

SCRIPT_REFS = (
    "javascript:alert(document.location)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "https:alert(1)",
)
TOO_BIG = (2**31, 2**63, 2**70, 99999999999999999999999)


def designer(app: Any, lms: TestLms) -> Any:
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "designer", locale="en"))
    return browser


def competence_ref(app: Any, competence_id: int) -> str | None:
    with app.app_context():
        ref: str | None = get_session().scalar(
            select(Competence.external_ref).where(Competence.id == competence_id)
        )
        return ref


# --- script in a stored link --------------------------------------------------------------


@pytest.mark.parametrize("ref", SCRIPT_REFS)
def test_the_api_refuses_a_link_that_is_not_http(app, org_a, api, new_token, ref):
    token = new_token()
    body = {"code": "lenke", "title": {"nb": "Lenke"}, "external_ref": ref}
    made = api.call("post", f"/versions/{org_a['version_id']}/competences", token, json=body)
    assert made.status_code == 422, made.get_json()
    assert made.get_json()["errors"]["external_ref"]
    changed = api.call("put", f"/competences/{org_a['draft_competence_id']}", token, json=body)
    assert changed.status_code == 422, changed.get_json()
    assert competence_ref(app, org_a["draft_competence_id"]) is None


def test_the_api_keeps_an_https_link(app, org_a, api, new_token):
    ref = "https://lovdata.no/dokument/SF/forskrift/2008-04-03-320"
    body = {"code": "lenke", "title": {"nb": "Lenke"}, "external_ref": ref}
    changed = api.call(
        "put", f"/competences/{org_a['draft_competence_id']}", new_token(), json=body
    )
    assert changed.status_code == 200, changed.get_json()
    assert competence_ref(app, org_a["draft_competence_id"]) == ref


def test_the_designer_form_refuses_a_script_link(app, org_a, lms):
    browser = designer(app, lms)
    url = f"/designer/competences/{org_a['draft_competence_id']}"
    page = get_page(browser, url)
    refused = submit(
        browser, page, url, code="ny", title_nb="Ny", external_ref="javascript:alert(1)"
    )
    assert refused.status_code == 422
    assert "Enter a full address that starts with https://" in refused.get_data(as_text=True)
    assert competence_ref(app, org_a["draft_competence_id"]) is None


def test_a_stored_script_link_is_never_rendered_as_a_link(app, org_a, lms):
    """Rows written before the check (or by hand) are shown without the link."""
    with app.app_context():
        session = get_session()
        session.execute(
            update(Competence)
            .where(Competence.id == org_a["draft_competence_id"])
            .values(external_ref="javascript:alert(document.location)")
        )
        session.commit()
    page = get_page(designer(app, lms), f"/designer/versions/{org_a['version_id']}")
    assert "javascript:" not in page
    assert "Ny kompetanse" in page


def test_an_import_with_a_script_link_is_refused_and_writes_nothing(app, org_a, api, new_token):
    token = new_token()
    exported = api.call("get", f"/frameworks/{org_a['framework_id']}/export?format=case", token)
    assert exported.status_code == 200
    package = json.loads(exported.data)
    package["CFDocument"]["identifier"] = "a8d5a1de-0000-4000-8000-000000000001"
    for item in package["CFItems"]:
        extension = item.setdefault("extensions", {}).setdefault("laeringslop", {})
        extension["external_ref"] = "javascript:alert(document.location)"
    before = _counts(app, org_a["organisation_id"])
    refused = api.call(
        "post",
        "/frameworks/import",
        token,
        data=_upload(json.dumps(package).encode(), "f.json", format="case"),
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert refused.status_code == 422, refused.get_json()
    assert any("https://" in p for p in refused.get_json()["problems"])
    assert _counts(app, org_a["organisation_id"]) == before


# --- numbers beyond the database's ----------------------------------------------------------


@pytest.mark.parametrize("number", TOO_BIG)
def test_an_id_beyond_the_database_is_not_found(app, org_a, api, new_token, lms, number):
    token = new_token()
    assert api.call("get", f"/job-roles/{number}", token).status_code == 404
    assert api.call("delete", f"/competences/{number}", token).status_code == 404
    browser = designer(app, lms)
    assert browser.get(f"/designer/versions/{number}").status_code == 404


@pytest.mark.parametrize("number", [*TOO_BIG, -(2**63), 1e400])
def test_a_number_beyond_the_database_in_a_body_or_query_is_invalid(
    app, org_a, api, new_token, number
):
    token = new_token()
    role = org_a["roles"]["sykepleier"]
    body = {"competence_id": number, "required_level": 1}
    refused = api.call("post", f"/job-roles/{role}/requirements", token, json=body)
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["errors"]["competence_id"]
    body = {"competence_id": org_a["competences"]["legemidler"], "required_level": number}
    refused = api.call("put", f"/requirements/{org_a['requirement_id']}", token, json=body)
    assert refused.status_code == 422, refused.get_json()
    body = {"kind": "unit", "code": "u", "name": "U", "parent_id": number}
    assert api.call("post", "/org-units", token, json=body).status_code == 422
    if isinstance(number, int):
        assert api.call("get", f"/people?page={number}", token).status_code == 422


def test_a_number_beyond_the_database_in_a_form_is_invalid(app, org_a, lms):
    browser = designer(app, lms)
    competence = org_a["draft_competence_id"]
    page = get_page(browser, f"/designer/competences/{competence}")
    moved = submit(browser, page, f"/designer/competences/{competence}/move", parent_id=str(2**70))
    assert moved.status_code == 422
    listed = browser.get(f"/designer/items?competence_id={2**70}")
    assert listed.status_code == 200


# --- deep JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [50_000, 100])
def test_deeply_nested_json_is_a_bad_request(app, org_a, api, new_token, depth):
    body = '{"code": "dyp", "title": {"nb": "Dyp"}, "description": ' + "[" * depth
    body += "]" * depth + "}"
    refused = api.call(
        "post", "/frameworks", new_token(), data=body, content_type="application/json"
    )
    assert refused.status_code == 400, refused.get_data(as_text=True)[:300]
    assert refused.get_json()["error"] == "json_too_deep"
    assert refused.get_json()["message"]


def test_a_deeply_nested_import_file_is_a_problem_not_a_crash(app, org_a, api, new_token):
    before = _counts(app, org_a["organisation_id"])
    refused = api.call(
        "post",
        "/frameworks/import",
        new_token(),
        data=_upload(
            b'{"CFDocument": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "f.json", format="case"
        ),
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422, refused.get_data(as_text=True)[:300]
    assert refused.get_json()["problems"]
    assert _counts(app, org_a["organisation_id"]) == before


# --- NUL and unbounded text -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "a\x00b", "title": {"nb": "NUL"}}, "code"),
        ({"code": "nul", "title": {"nb": "N\x00UL"}}, "title"),
        ({"code": "nul", "title": {"nb": "NUL"}, "description": {"en": "\x00"}}, "description"),
        ({"code": "nul", "title": {"nb": "x" * 501}}, "title"),
        ({"code": "x" * 101, "title": {"nb": "Lang"}}, "code"),
        ({"code": "nul", "title": {"nb": "NUL"}, "description": {"nb": "x" * 5001}}, "description"),
    ],
)
def test_nul_and_overlong_text_in_json_are_invalid(app, org_a, api, new_token, body, field):
    before = _counts(app, org_a["organisation_id"])
    refused = api.call("post", "/frameworks", new_token(), json=body)
    assert refused.status_code == 422, refused.get_json()
    assert field in refused.get_json()["errors"]
    assert _counts(app, org_a["organisation_id"]) == before


def test_nul_in_grant_reasons_and_unit_names_is_invalid(app, org_a, api, new_token):
    token = new_token()
    body = {"kind": "unit", "code": "nul", "name": "Avdeling\x00"}
    assert api.call("post", "/org-units", token, json=body).get_json()["errors"]["name"]
    body = {"person_id": org_a["person_id"], "kind": "designer", "reason": "Fordi\x00"}
    refused = api.call("post", "/grants", token, json=body)
    assert refused.status_code == 422 and refused.get_json()["errors"]["reason"]


def test_nul_in_a_form_a_query_or_a_path_is_invalid(app, org_a, lms, client):
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    refused = submit(browser, page, "/designer/frameworks", code="a\x00b", title_nb="NUL")
    assert refused.status_code == 422
    assert browser.get("/designer/items?competence_id=%00").status_code == 422
    assert client.get("/verify/abc%00def").status_code == 422
    assert client.get("/verify?code=%00").status_code == 422
    translated = client.get("/verify/abc%00", headers={"Accept": "application/json"})
    assert translated.get_json()["error"] == "invalid_input"


# --- writes without credentials, against the OpenAPI document -------------------------------


OPERATIONS = sorted(
    (path, method)
    for path, ops in SPEC["paths"].items()
    for method in ops
    if path != API + "/openapi.json"
)


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_without_credentials_every_operation_answers_as_documented(client, path, method):
    operation = SPEC["paths"][path][method]
    url = re.sub(r"{(\w+)}", lambda m: "role" if m.group(1) == "kind" else "1", path)
    kwargs: dict[str, Any] = {}
    if "requestBody" in operation:
        kwargs = {"json": {"code": "x", "title": {"nb": "X"}}}
    response = client.open(url, method=method.upper(), **kwargs)
    assert response.status_code == 401, (method, path, response.status_code)
    documented = operation["responses"]["401"]["content"]
    assert response.mimetype in documented, (method, path, response.mimetype)
    assert set(response.get_json()) >= {"error", "message"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_undocumented_methods_are_not_allowed(client):
    for path, operations in SPEC["paths"].items():
        url = re.sub(r"{(\w+)}", lambda m: "role" if m.group(1) == "kind" else "1", path)
        for method in {"get", "post", "put", "patch", "delete"} - set(operations):
            response = client.open(url, method=method.upper(), json={})
            assert response.status_code == 405, (method, path, response.status_code)
            assert response.is_json, (method, path)
            assert set(response.headers["Allow"].lower().split(", ")) >= set(operations)


def test_no_content_has_no_content_type(app, org_a, api, new_token):
    removed = api.call("delete", f"/requirements/{org_a['requirement_id']}", new_token())
    assert removed.status_code == 204
    assert removed.data == b"" and "Content-Type" not in removed.headers


def test_a_write_without_a_launch_says_401_not_csrf(app, client):
    refused = client.post(API + "/frameworks", json={"code": "x", "title": {"nb": "X"}})
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "not_signed_in"


# --- the /verify rate limit without Redis ---------------------------------------------------


def test_production_without_redis_warns_that_verify_is_counted_per_worker(make_app, caplog):
    production = {"APP_ENV": "production", "SECRET_KEY": "p" * 40}
    production["BASE_URL"] = "https://lti.example.no"
    with caplog.at_level(logging.WARNING, logger="lti_tool"):
        make_app(**production, REDIS_URL="")
    warned = [r.getMessage() for r in caplog.records if "VERIFY_RATE_LIMIT" in r.getMessage()]
    assert warned and "each worker" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lti_tool"):
        make_app(**production, REDIS_URL="redis://127.0.0.1:6379/0")
        make_app(REDIS_URL="")  # the demo and development: no warning
    assert not [r for r in caplog.records if "VERIFY_RATE_LIMIT" in r.getMessage()]
