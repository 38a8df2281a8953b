"""Content packages (issue 17): export an organisation's content as a package, preview and
import it into another organisation (and into a fresh installation), all or nothing, with
its origin recorded; and no personal data travels."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import jsonschema
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import (
    Certificate,
    Certification,
    Course,
    Framework,
    Item,
    JobRole,
    Mapping,
    Organisation,
    PackageImport,
    Person,
)
from lti_tool.services import framework_io, packages
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import designer_browser
from tests.functional import test_api
from tests.functional.route_world import build

api, new_token = test_api.api, test_api.new_token

OTHER = "Nabokommune"
PAGE = "/designer/packages"


def export(cli: Any, path: Any, organisation: str = "Testkommune", *args: str) -> bytes:
    cli(
        "package", "export", "--organisation", organisation, "--name", "helse-basis",
        "--version", "1.0.0", "--output", str(path), *args,
    )  # fmt: skip
    return bytes(path.read_bytes())


def org_id(app: Any, name: str) -> int:
    with app.app_context():
        found = get_session().scalar(select(Organisation.id).where(Organisation.name == name))
        assert found is not None
        return int(found)


def _certification(session: Any, certification: Certification) -> str:
    """A certification as package data, its conditions named by codes."""
    oid = certification.organisation_id
    have = {
        "mappings": {
            m.code: m
            for m in session.scalars(select(Mapping).where(Mapping.organisation_id == oid))
        },
        "activities": {
            x.code: x for x in session.scalars(select(Course).where(Course.organisation_id == oid))
        },
    }
    dumped = packages._dump_certification(
        certification,
        lambda tree: packages._map_rule(
            tree, lambda leaf: packages._local_leaf(session, have, leaf)
        ),
    )
    return json.dumps(dumped, sort_keys=True)


def content(app: Any, name: str) -> dict[str, Any]:
    """The organisation's content as package data (ids replaced by codes and identifiers)."""
    oid = org_id(app, name)
    with app.app_context():
        session = get_session()

        def of(model: Any) -> list[Any]:
            return list(session.scalars(select(model).where(model.organisation_id == oid)))

        return {
            "frameworks": {
                f.code: packages._framework_key(framework_io.version_data(f.versions[-1]))
                for f in of(Framework)
            },
            "job_roles": sorted(
                json.dumps(packages._role_dict(framework_io.job_role_data(r)), sort_keys=True)
                for r in of(JobRole)
            ),
            "items": sorted(json.dumps(packages._dump_item(i), sort_keys=True) for i in of(Item)),
            "mappings": sorted(
                json.dumps(packages._dump_mapping(m), sort_keys=True) for m in of(Mapping)
            ),
            "activities": sorted(
                json.dumps(packages._dump_activity(x), sort_keys=True) for x in of(Course)
            ),
            "certifications": sorted(_certification(session, x) for x in of(Certification)),
        }


def counts(app: Any) -> tuple[int, ...]:
    with app.app_context():
        session = get_session()
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (
                Framework, JobRole, Item, Mapping, Course, Certification, PackageImport,
            )
        )  # fmt: skip


def loaded(cli: Any, organisation: str = "Testkommune") -> None:
    cli("content", "load-examples", "--organisation", organisation)


def test_a_package_round_trips_into_another_organisation_through_the_cli(app, lms, cli, tmp_path):
    loaded(cli)
    cli("organisation", "add", OTHER)
    export(cli, tmp_path / "p.zip")
    result = cli("package", "import", "--organisation", OTHER, str(tmp_path / "p.zip"))
    assert "Package helse-basis 1.0.0 from Testkommune" in result.output
    here = content(app, "Testkommune")
    assert all(here.values()), {k: len(v) for k, v in here.items()}
    assert content(app, OTHER) == here
    with app.app_context():
        record = get_session().scalar(select(PackageImport))
        assert (record.name, record.version, record.publisher, record.licence) == (
            "helse-basis", "1.0.0", "Testkommune", "CC-BY-4.0",
        )  # fmt: skip
        assert record.organisation_id == org_id(app, OTHER)
        kinds = {o.kind for o in record.objects}
        assert kinds == {"framework", "job_roles", "items", "mappings", "activities",
                         "certifications"}  # fmt: skip
        item = get_session().scalar(
            select(Item).where(Item.organisation_id == org_id(app, OTHER)).limit(1)
        )
        assert packages.origin(get_session(), item.organisation_id, "items", item.id) == record
        # the certification is the other organisation's own achievement
        uuids = set(get_session().scalars(select(Certification.uuid)))
        assert len(uuids) == 2 * len(here["certifications"])
    # a second import finds everything there already: nothing created, nothing changed
    again = cli("package", "import", "--organisation", OTHER, str(tmp_path / "p.zip"))
    assert "Imported 0 object(s)." in again.output
    assert "create\t" not in again.output


def test_a_package_imports_into_a_fresh_installation(app, lms, cli, make_app, tmp_path):
    loaded(cli)
    export(cli, tmp_path / "p.zip")
    fresh = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", REDIS_URL="")
    runner = fresh.test_cli_runner()
    for args in (
        ["db", "upgrade"],
        ["organisation", "add", "Fjellkommune"],
        ["package", "import", "--organisation", "Fjellkommune", str(tmp_path / "p.zip")],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    assert content(fresh, "Fjellkommune") == content(app, "Testkommune")


def test_a_dry_run_writes_nothing(app, lms, cli, tmp_path):
    loaded(cli)
    cli("organisation", "add", OTHER)
    export(cli, tmp_path / "p.zip")
    before = counts(app)
    result = cli("package", "import", "--organisation", OTHER, "--dry-run", str(tmp_path / "p.zip"))
    assert "Would import" in result.output
    assert counts(app) == before


def test_only_the_chosen_frameworks_and_what_builds_on_them_travel(app, lms, cli, tmp_path):
    loaded(cli)
    data = export(cli, tmp_path / "p.zip", "Testkommune", "--framework", "informasjonssikkerhet")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert [n for n in names if n.startswith("frameworks/")] == [
        "frameworks/informasjonssikkerhet.case.json"
    ]
    items = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("items.json"))["items"]
    assert items
    assert {ref["framework"] for i in items for ref in i["competences"]} == {
        "informasjonssikkerhet"
    }


# --- the designer's pages, the API and the schema ------------------------------------------


def other_designer(app: Any, lms: TestLms, organisation_on_the_same_lms: Any) -> Any:
    organisation_on_the_same_lms(OTHER, "nabo-1")
    browser = TestLms.browser(app)
    presentation = {"locale": "en", "document_target": "iframe"}
    response = lms.signed_launch(
        browser,
        "designer",
        change={c.DEPLOYMENT_ID: "nabo-1", c.LAUNCH_PRESENTATION: presentation},
    )
    assert lms.landed(response)
    return browser


def form_of(html: str, path: str) -> dict[str, Any]:
    for form in parse_forms(html):
        if (form["action"] or "").split("?")[0] == path and form["method"] == "post":
            return form
    raise AssertionError(f"no form posting to {path}")


def post_page_form(browser: Any, path: str, **fields: Any) -> Any:
    form = form_of(browser.get(PAGE).get_data(as_text=True), path)
    data = {"csrf_token": form["fields"]["csrf_token"], **fields}
    return browser.post(form["action"], data=data, content_type="multipart/form-data")


def preview(browser: Any, data: bytes, name: str = "pakke.zip") -> Any:
    return post_page_form(browser, PAGE + "/import", file=(io.BytesIO(data), name))


def ticked(page: str) -> list[str]:
    """The changes the preview ticks (a browser sends those boxes only)."""
    return [
        m.group(1)
        for m in re.finditer(r'<input type="checkbox"[^>]*name="take" value="([^"]+)"[^>]*>', page)
        if " checked" in m.group(0)
    ]


def confirm(browser: Any, page: str) -> Any:
    form = form_of(page, PAGE + "/import/confirm")
    fields = {k: v for k, v in form["fields"].items() if k != "take"}
    return browser.post(form["action"], data={**fields, "take": ticked(page)})


def test_designers_export_preview_and_import_through_the_pages(
    app, lms, cli, organisation_on_the_same_lms
):
    loaded(cli)
    here = designer_browser(app, lms)
    assert "Content packages" in here.get("/designer/").get_data(as_text=True)
    refused = post_page_form(here, PAGE + "/export", name="Not A Name", version="x")
    assert refused.status_code == 422
    assert "Use small letters" in refused.get_data(as_text=True)
    exported = post_page_form(here, PAGE + "/export", name="helse-basis", version="1.2")
    assert exported.status_code == 200
    assert exported.mimetype == "application/zip"
    assert 'filename="helse-basis-1.2.zip"' in exported.headers["Content-Disposition"]
    data = exported.get_data()

    there = other_designer(app, lms, organisation_on_the_same_lms)
    before = counts(app)
    shown = preview(there, data)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    page = shown.get_data(as_text=True)
    assert "To be created" in page and "Testkommune" in page and "CC-BY-4.0" in page
    assert counts(app) == before  # a preview writes nothing
    done = confirm(there, page)
    assert done.status_code == 302
    listed = there.get(done.headers["Location"]).get_data(as_text=True)
    assert "is imported" in listed and "helse-basis" in listed
    assert content(app, OTHER) == content(app, "Testkommune")

    # a local edit: the next preview shows it as differing, and the import keeps it
    with app.app_context():
        item = get_session().scalar(
            select(Item).where(Item.organisation_id == org_id(app, OTHER)).order_by(Item.code)
        )
        item.stem = {"nb": "Vår egen formulering"}
        code = item.code
        get_session().commit()
    again = preview(there, data).get_data(as_text=True)
    assert "Differ from what is here: kept as they are" in again
    conflicts = again.split("Differ from what is here")[1].split("</form>")[0]
    assert code in conflicts
    assert "To be created" not in again
    assert confirm(there, again).status_code == 302
    with app.app_context():
        kept = get_session().scalar(
            select(Item).where(Item.organisation_id == org_id(app, OTHER), Item.code == code)
        )
        assert kept.stem == {"nb": "Vår egen formulering"}


def test_a_sealed_preview_is_the_previewers_alone(app, lms, cli, organisation_on_the_same_lms):
    loaded(cli)
    here = designer_browser(app, lms)
    data = post_page_form(here, PAGE + "/export", name="p", version="1").get_data()
    there = other_designer(app, lms, organisation_on_the_same_lms)
    page = preview(there, data).get_data(as_text=True)
    pending = form_of(page, PAGE + "/import/confirm")["fields"]["pending"]
    # the designer of Testkommune cannot confirm Nabokommune's preview
    form = form_of(here.get(PAGE).get_data(as_text=True), PAGE + "/export")
    stolen = here.post(
        PAGE + "/import/confirm",
        data={"csrf_token": form["fields"]["csrf_token"], "pending": pending},
    )
    assert stolen.status_code == 422
    assert "expired or is not yours" in stolen.get_data(as_text=True)
    assert counts(app)[-1] == 0


def test_the_api_exports_lists_and_imports_with_the_right_scope(
    app, lms, cli, api, new_token, tmp_path
):
    loaded(cli)
    cli("organisation", "add", OTHER)
    write, read = new_token("Testkommune", "write"), new_token("Testkommune", "read")
    body = {"name": "helse-basis", "version": "2.0", "title": {"nb": "Helse"}}
    assert api.call("post", "/packages", read, json=body).status_code == 403
    assert api.call("post", "/packages", None, json=body).status_code == 401
    bad = api.call("post", "/packages", write, json={"name": "Ugyldig navn"})
    assert bad.status_code == 422
    exported = api.call("post", "/packages", write, json=body)
    assert exported.status_code == 200
    assert exported.mimetype == "application/zip"
    data = exported.get_data()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    assert manifest["version"] == "2.0" and manifest["title"] == {"nb": "Helse"}

    theirs = new_token(OTHER, "write")
    upload = {"file": (io.BytesIO(data), "p.zip"), "dry_run": "true"}
    dry = api.call("post", "/packages/import", theirs, data=upload)
    assert dry.status_code == 200, dry.get_data(as_text=True)
    assert dry.get_json()["dry_run"] is True
    assert {o["status"] for o in dry.get_json()["objects"]} == {"create"}
    assert counts(app)[-1] == 0
    made = api.call("post", "/packages/import", theirs, data={"file": (io.BytesIO(data), "p")})
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["publisher"] == "Testkommune"
    listed = api.call("get", "/packages", theirs).get_json()
    assert [p["name"] for p in listed["items"]] == ["helse-basis"]
    # one organisation never sees another's imports
    assert api.call("get", "/packages", read).get_json()["items"] == []
    spec = api.call("get", "/openapi.json", None).get_json()
    assert {"/packages", "/packages/import"} <= {p.removeprefix("/api/v1") for p in spec["paths"]}


def test_the_schema_is_public_and_describes_what_is_exported(app, lms, cli, client, tmp_path):
    loaded(cli)
    response = client.get("/schemas/package-v1.json")
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    schema = response.get_json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    archive = zipfile.ZipFile(io.BytesIO(export(cli, tmp_path / "p.zip")))
    manifest = json.loads(archive.read("manifest.json"))
    jsonschema.validate(manifest, schema)
    for entry in manifest["entries"]:
        document = json.loads(archive.read(entry["path"]))
        jsonschema.validate(document, {**schema, "$ref": f"#/$defs/{entry['type']}"})


def test_an_import_that_cannot_be_done_writes_nothing(app, lms, cli, tmp_path):
    loaded(cli)
    cli("organisation", "add", OTHER)
    data = export(cli, tmp_path / "p.zip", "Testkommune", "--framework", "informasjonssikkerhet")
    # an item naming a competence neither the package nor the organisation has
    from tests.functional.test_hostile_packages import repack

    def orphan(entries: dict[str, bytes]) -> None:
        doc = json.loads(entries["items.json"])
        doc["items"][0]["competences"][0]["framework"] = "finnes-ikke"
        entries["items.json"] = json.dumps(doc).encode()

    (tmp_path / "bad.zip").write_bytes(repack(data, orphan))
    before = counts(app)
    refused = cli("package", "import", "--organisation", OTHER, str(tmp_path / "bad.zip"), ok=False)
    assert refused.exit_code != 0
    assert "items.json" in refused.output and "finnes-ikke" in refused.output
    assert counts(app) == before  # not even the framework the package would have created


# --- personal data never travels ----------------------------------------------------------


def test_no_personal_data_travels_from_a_busy_organisation(app, lms, cli, tmp_path):
    build(app, lms)  # content, units, people, attempts, evidence, certificates, bookings
    with app.app_context():
        session = get_session()
        people = session.scalars(select(Person)).all()
        assert len(people) >= 5
        secrets = {
            value
            for person in people
            for value in (person.name, person.given_name, person.family_name, person.email,
                          person.sub)
            if value and len(value) >= 4
        }  # fmt: skip
        # the sweep's spare person has the sub "spare", as its spare job role has the code
        # and its person named "Reserve", as the role's title: content, not a person's data
        codes = set(session.scalars(select(JobRole.code)))
        codes |= {t for titles in session.scalars(select(JobRole.title)) for t in titles.values()}
        secrets -= codes
        assert len(secrets) >= 10
        certificates = session.scalars(select(Certificate)).all()
        assert certificates
        for certificate in certificates:
            secrets |= {certificate.holder_name, certificate.code, certificate.uuid,
                        certificate.subject_uuid}  # fmt: skip
        name = session.scalar(
            select(Organisation.name).where(Organisation.id == people[0].organisation_id)
        )
    archive = zipfile.ZipFile(io.BytesIO(export(cli, tmp_path / "p.zip", name)))
    texts = {entry: archive.read(entry).decode("utf-8") for entry in archive.namelist()}
    assert "items.json" in texts and len(texts) >= 6
    for entry, text in texts.items():
        for secret in secrets:
            assert secret not in text, (entry, secret)
        for field in ('"person', '"attempt', '"evidence', '"holder', '"booking', '"email'):
            assert field not in text, (entry, field)
