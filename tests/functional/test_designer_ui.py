"""The designer's pages, driven over HTTP with real launches: frameworks (create, edit,
scale, publish, new draft), import and export through the upload form, job roles with
their profiles, and who may see them."""

from __future__ import annotations

import io
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lti_tool import IMPORT_ENDPOINTS
from lti_tool.db import get_session
from lti_tool.interchange import moodle_csv
from lti_tool.interchange.model import MAX_IMPORT_BYTES
from lti_tool.models import (
    Competence,
    Deployment,
    Framework,
    FrameworkVersion,
    JobRole,
    Organisation,
    Requirement,
    ScaleLevel,
    Status,
)
from lti_tool.services import framework_io, platforms
from tests.fakes.lms import TestLms, csrf_token
from tests.functional.test_admin_console import follow, form_for, get_page, submit
from tests.functional.test_deployments import launch_into

FAKES = Path(__file__).resolve().parent.parent / "fakes" / "frameworks"


def designer(app: Any, lms: TestLms, persona: str = "designer") -> Any:
    browser = TestLms.browser(app)
    response = lms.launch(browser, persona, locale="en")
    assert lms.landed(response), response.get_data(as_text=True)
    return browser


def counts(app: Any) -> dict[str, int]:
    with app.app_context():
        session = get_session()
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Framework, FrameworkVersion, Competence, ScaleLevel, JobRole, Requirement)
        }


def upload(browser: Any, page: str, path: str, data: bytes, name: str, **fields: str) -> Any:
    form = form_for(page, path)
    return browser.post(
        form["action"],
        data={**form["fields"], **fields, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def version_id(location: str) -> int:
    found = re.search(r"/designer/versions/(\d+)", location)
    assert found, location
    return int(found.group(1))


def competence_id(app: Any, code: str) -> int:
    with app.app_context():
        found = (
            get_session()
            .scalars(
                select(Competence.id).where(Competence.code == code).order_by(Competence.id.desc())
            )
            .first()
        )
        assert found is not None
        return found


# --- frameworks -----------------------------------------------------------------------------


def test_create_edit_publish_and_start_a_new_draft(app, lms):
    browser = designer(app, lms)
    home = get_page(browser, "/designer/")
    assert "/designer/frameworks" in home and "/designer/job-roles" in home

    page = get_page(browser, "/designer/frameworks")
    response = submit(browser, page, "/designer/frameworks", code="", title_nb="")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in text and 'href="#framework-code"' in text

    response = submit(
        browser, page, "/designer/frameworks", code="ikt", title_nb="IKT", title_en="ICT"
    )
    version = version_id(response.headers["Location"])
    page = follow(browser, response)
    assert "IKT, version 1" not in page  # the page speaks English: the English title
    assert "ICT, version 1" in page and "Draft" in page

    # competences: a top one, one under it
    new = get_page(browser, f"/designer/versions/{version}/competences/new")
    response = submit(
        browser,
        new,
        f"/designer/versions/{version}/competences",
        code="grunn",
        parent_id="",
        title_nb="Grunnleggende",
        external_ref="https://lovdata.no/",
    )
    follow(browser, response)
    top = competence_id(app, "grunn")
    new = get_page(browser, f"/designer/versions/{version}/competences/new?parent_id={top}")
    assert f'<option value="{top}" selected>' in new
    response = submit(
        browser,
        new,
        f"/designer/versions/{version}/competences",
        code="epost",
        parent_id=str(top),
        title_nb="E-post",
        title_nn="E-post",
    )
    page = follow(browser, response)
    assert "epost" in page and "competence-tree" in page
    # a taken code is shown by its field
    response = submit(
        browser, new, f"/designer/versions/{version}/competences", code="grunn", title_nb="X"
    )
    assert response.status_code == 422
    assert "already has the code grunn" in response.get_data(as_text=True)

    # edit, then move to the top
    child = competence_id(app, "epost")
    edit = get_page(browser, f"/designer/competences/{child}")
    follow(
        browser,
        submit(browser, edit, f"/designer/competences/{child}", code="e-post", title_en="Email"),
    )
    follow(browser, submit(browser, edit, f"/designer/competences/{child}/move", parent_id=""))
    with app.app_context():
        moved = get_session().get(Competence, child)
        assert (moved.code, moved.parent_id, moved.title["en"]) == ("e-post", None, "Email")

    # publishing needs a scale: the confirmation then the refusal
    confirm = get_page(browser, f"/designer/versions/{version}/publish")
    response = submit(browser, confirm, f"/designer/versions/{version}/publish")
    assert response.status_code == 409

    scale = get_page(browser, f"/designer/versions/{version}/scale")
    response = submit(browser, scale, f"/designer/versions/{version}/scale", level_1_nb="Lav")
    assert response.status_code == 422
    assert "at least two levels" in response.get_data(as_text=True)
    response = submit(
        browser,
        scale,
        f"/designer/versions/{version}/scale",
        level_1_nb="Lav",
        level_1_en="Low",
        level_2_nb="Høy",
        level_2_en="High",
        description_2_en="Can teach it",
    )
    page = follow(browser, response)
    assert "Low" in page and "High" in page and "Can teach it" in page

    # archive and delete: delete goes through a confirmation
    delete = get_page(browser, f"/designer/competences/{child}/delete")
    assert "Delete the competence e-post?" in delete
    follow(browser, submit(browser, delete, f"/designer/competences/{child}/delete"))
    with app.app_context():
        assert get_session().get(Competence, child) is None

    confirm = get_page(browser, f"/designer/versions/{version}/publish")
    page = follow(browser, submit(browser, confirm, f"/designer/versions/{version}/publish"))
    assert "Published" in page and "Start a new draft" in page
    assert f"/designer/competences/{top}/delete" not in page  # frozen: no actions

    framework = form_for(page, "/designer/frameworks/", "get") if False else None
    assert framework is None
    with app.app_context():
        framework_pk = get_session().get(FrameworkVersion, version).framework_id
    response = submit(browser, page, f"/designer/frameworks/{framework_pk}/drafts")
    draft = version_id(response.headers["Location"])
    page = follow(browser, response)
    assert "ICT, version 2" in page and "grunn" in page and "Draft" in page
    assert draft != version


def test_a_moodle_export_comes_back_byte_for_byte_and_the_page_lists_what_was_kept(app, lms):
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    moodle = (FAKES / "moodle-full-export.csv").read_bytes()
    response = upload(
        browser, page, "/designer/frameworks/import", moodle, "moodle.csv",
        format="moodle-csv", language="nb", publish="1",
    )  # fmt: skip
    imported = follow(browser, response)
    for line in (
        "2 competency rules kept for export, not evaluated by the tool.",
        "4 cross-references between competences kept for export.",
        "8 HTML descriptions kept for export; the tool shows them as plain text.",
        "The taxonomy of each level (domain,competency,skill) kept for export.",
    ):
        assert line in imported
    # the HTML descriptions are shown as text: no markup from the file reaches the page
    assert "Kan lede endring og involvere" in imported
    assert "<strong>endring</strong>" not in imported and "&lt;strong&gt;" not in imported
    with app.app_context():
        framework_pk = get_session().scalar(select(Framework.id).where(Framework.code == "DK"))
    exported = browser.get(
        f"/designer/frameworks/{framework_pk}/export", query_string={"format": "moodle-csv"}
    )
    assert exported.data == moodle
    # a new draft keeps what was kept, and gives the file back too
    follow(browser, submit(browser, imported, f"/designer/frameworks/{framework_pk}/drafts"))
    draft = browser.get(
        f"/designer/frameworks/{framework_pk}/export",
        query_string={"format": "moodle-csv", "version": "2"},
    )
    assert draft.data == moodle


def test_import_moodle_csv_and_case_then_export_gives_them_back(app, lms):
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    moodle = (FAKES / "moodle-export.csv").read_bytes()
    response = upload(
        browser, page, "/designer/frameworks/import", moodle, "moodle.csv",
        format="moodle-csv", language="nb", publish="1",
    )  # fmt: skip
    imported = follow(browser, response)
    assert "IKT-grunnkompetanse" in imported and "Published" in imported

    content = resources.files("lti_tool.content")
    case = content.joinpath("informasjonssikkerhet.case.json").read_bytes()
    response = upload(
        browser, page, "/designer/frameworks/import", case, "infosik.json",
        format="case", language="nb",
    )  # fmt: skip
    follow(browser, response)

    listing = get_page(browser, "/designer/frameworks")
    assert "IKT-GRUNN" in listing and "informasjonssikkerhet" in listing
    with app.app_context():
        session = get_session()
        ids = dict(session.execute(select(Framework.code, Framework.id)).all())
        org = session.scalar(select(Framework.organisation_id))
        expected_csv = framework_io.export_framework(session, org, "IKT-GRUNN", "moodle-csv")
    exported = browser.get(
        f"/designer/frameworks/{ids['IKT-GRUNN']}/export", query_string={"format": "moodle-csv"}
    )
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"] == 'attachment; filename="IKT-GRUNN-v1.csv"'
    assert exported.data == expected_csv
    # what comes out goes back in, as the same framework, in another organisation
    with app.app_context():
        session = get_session()
        other = platforms.create_organisation(session, "Drammen")
        again = framework_io.import_framework(session, other.id, exported.data, "moodle-csv")
        first = framework_io.frameworks.find_version(session, org, "IKT-GRUNN")
        assert [
            (c.code, c.parent_key, c.title, c.description)
            for c in framework_io.version_data(again).competences
        ] == [
            (c.code, c.parent_key, c.title, c.description)
            for c in framework_io.version_data(first).competences
        ]
        assert framework_io.export_framework(session, other.id, "IKT-GRUNN", "moodle-csv") == (
            exported.data
        )
        session.rollback()

    exported = browser.get(
        f"/designer/frameworks/{ids['informasjonssikkerhet']}/export",
        query_string={"format": "case", "version": "1"},
    )
    assert exported.status_code == 200
    assert exported.mimetype == "application/json"
    data = json.loads(exported.data)
    source = json.loads(case)
    assert data["CFDocument"]["identifier"] == source["CFDocument"]["identifier"]
    assert sorted(i["identifier"] for i in data["CFItems"]) == sorted(
        i["identifier"] for i in source["CFItems"]
    )


def test_a_broken_file_shows_every_problem_and_changes_nothing(app, lms):
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    broken = (
        (FAKES / "moodle-export.csv").read_text()
        + 'nowhere,X,"Foreldreløs",,1,,,,0,null,,7,,\n'
        + ',tekst,"Dobbel",,1,,,,0,null,,8,,\n'
    ).encode()
    before = counts(app)
    response = upload(
        browser, page, "/designer/frameworks/import", broken, "broken.csv",
        format="moodle-csv", language="nb",
    )  # fmt: skip
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "the file broken.csv has 2 problems" in text
    assert re.search(r"<td>line 7</td><td>the parent nowhere does not exist", text)
    assert re.search(r"<td>line 8</td><td>the code tekst is used twice", text)
    assert counts(app) == before
    # a file in the wrong format, and no file at all
    response = upload(
        browser, page, "/designer/frameworks/import", broken, "broken.csv",
        format="case", language="nb",
    )  # fmt: skip
    assert response.status_code == 422 and "Nothing was imported" in response.get_data(as_text=True)
    form = form_for(page, "/designer/frameworks/import")
    response = browser.post(
        form["action"],
        data={**form["fields"], "format": "case", "language": "nb"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "Choose a file." in response.get_data(as_text=True)
    assert counts(app) == before


# --- job roles ------------------------------------------------------------------------------


def test_job_role_with_requirements(app, lms):
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    moodle = (FAKES / "moodle-export.csv").read_bytes()
    follow(browser, upload(
        browser, page, "/designer/frameworks/import", moodle, "m.csv",
        format="moodle-csv", language="nb", publish="1",
    ))  # fmt: skip

    roles = get_page(browser, "/designer/job-roles")
    response = submit(
        browser, roles, "/designer/job-roles", code="saksbehandler", title_nb="Saksbehandler"
    )
    role_page = follow(browser, response)
    role = int(re.search(r"/designer/job-roles/(\d+)", response.headers["Location"]).group(1))
    assert "No competences are required yet." in role_page

    tekst = competence_id(app, "tekst")
    picked = get_page(browser, f"/designer/job-roles/{role}?competence_id={tekst}")
    assert "Kompetent" in picked  # the level select shows the version's scale labels
    response = submit(
        browser, picked, f"/designer/job-roles/{role}/requirements",
        required_level="3", mandatory="1", renewal_months="24",
    )  # fmt: skip
    role_page = follow(browser, response)
    with app.app_context():
        req = get_session().scalars(select(Requirement)).one()
        assert (req.required_level, req.mandatory, req.renewal_months) == (3, True, 24)
        req_id = req.id
    # twice is refused by the field; a bad renewal too
    response = submit(
        browser, picked, f"/designer/job-roles/{role}/requirements", required_level="2"
    )
    assert response.status_code == 422
    assert "already requires tekst" in response.get_data(as_text=True)
    response = submit(
        browser, role_page, f"/designer/requirements/{req_id}",
        required_level="2", renewal_months="999",
    )  # fmt: skip
    assert response.status_code == 422
    assert "between 1 and 240 months" in response.get_data(as_text=True)
    follow(browser, submit(
        browser, role_page, f"/designer/requirements/{req_id}",
        required_level="2", renewal_months="", mandatory="",  # the box unticked
    ))  # fmt: skip
    with app.app_context():
        req = get_session().get(Requirement, req_id)
        assert (req.required_level, req.mandatory, req.renewal_months) == (2, False, None)

    exported = browser.get("/designer/job-roles/export")
    assert exported.status_code == 200
    roles_json = json.loads(exported.data)
    assert roles_json["job_roles"][0]["requirements"][0]["competence"] == "tekst"

    confirm = get_page(browser, f"/designer/requirements/{req_id}/remove")
    follow(browser, submit(browser, confirm, f"/designer/requirements/{req_id}/remove"))
    confirm = get_page(browser, f"/designer/job-roles/{role}/archive")
    page = follow(browser, submit(browser, confirm, f"/designer/job-roles/{role}/archive"))
    assert "This job role is archived" in page
    with app.app_context():
        assert get_session().scalar(select(func.count(Requirement.id))) == 0

    # the export imports again (here: renamed, to not collide)
    roles = get_page(browser, "/designer/job-roles")
    data = exported.data.replace(b'"saksbehandler"', b'"radgiver"')
    response = upload(browser, roles, "/designer/job-roles/import", data, "roles.json")
    follow(browser, response)
    with app.app_context():
        assert get_session().scalar(select(func.count(Requirement.id))) == 1
    before = counts(app)
    response = upload(browser, roles, "/designer/job-roles/import", data, "roles.json")
    assert response.status_code == 422
    assert "another job role already has the code radgiver" in response.get_data(as_text=True)
    assert counts(app) == before


# --- who may ----------------------------------------------------------------------------------


def _some_content(app: Any) -> dict[str, int]:
    with app.app_context():
        session = get_session()
        org = session.scalar(select(Organisation.id).where(Organisation.name == "Testkommune"))
        framework_io.load_examples(session, org)
        session.commit()
        return {
            "framework": session.scalars(select(Framework.id)).first(),
            "version": session.scalars(select(FrameworkVersion.id)).first(),
            "competence": session.scalars(select(Competence.id)).first(),
            "role": session.scalars(select(JobRole.id)).first(),
            "requirement": session.scalars(select(Requirement.id)).first(),
        }


def _pages(ids: dict[str, int]) -> list[str]:
    return [
        "/designer/frameworks",
        f"/designer/frameworks/{ids['framework']}",
        f"/designer/frameworks/{ids['framework']}/export?format=case",
        f"/designer/versions/{ids['version']}",
        f"/designer/versions/{ids['version']}/scale",
        f"/designer/versions/{ids['version']}/publish",
        f"/designer/versions/{ids['version']}/competences/new",
        f"/designer/competences/{ids['competence']}",
        f"/designer/competences/{ids['competence']}/delete",
        "/designer/job-roles",
        f"/designer/job-roles/{ids['role']}",
        f"/designer/job-roles/{ids['role']}/archive",
        f"/designer/requirements/{ids['requirement']}/remove",
    ]


@pytest.mark.parametrize("persona", ["learner", "manager"])
def test_learners_and_managers_are_refused(app, lms, persona):
    ids = _some_content(app)
    browser = designer(app, lms, persona)
    for path in _pages(ids):
        assert browser.get(path).status_code == 403, path


def test_designers_and_admins_see_every_page(app, lms):
    ids = _some_content(app)
    for persona in ("designer", "admin"):
        browser = designer(app, lms, persona)
        for path in _pages(ids):
            status = browser.get(path).status_code
            assert status in (200, 302), f"{persona} {path}: {status}"


def test_another_organisations_designer_finds_nothing(app, lms):
    ids = _some_content(app)
    with app.app_context():
        session = get_session()
        other = platforms.create_organisation(session, "Drammen")
        platform = platforms.find_platform(session, lms.platform.issuer, lms.platform.client_id)
        found = platforms.record_deployment(session, platform, "drammen-1")
        found.organisation_id, found.status = other.id, Status.ACTIVE
        session.commit()
        assert session.get(Deployment, found.id).organisation_id == other.id
    browser = TestLms.browser(app)
    assert lms.landing_path(launch_into(lms, browser, "drammen-1", "designer")) == "/designer/"
    listing = get_page(browser, "/designer/frameworks")
    assert "informasjonssikkerhet" not in listing
    for path in _pages(ids):
        if path in ("/designer/frameworks", "/designer/job-roles"):
            continue
        assert browser.get(path).status_code == 404, path
    token = csrf_token(listing)
    for path in (
        f"/designer/frameworks/{ids['framework']}/drafts",
        f"/designer/versions/{ids['version']}/publish",
        f"/designer/competences/{ids['competence']}/delete",
        f"/designer/job-roles/{ids['role']}/archive",
        f"/designer/requirements/{ids['requirement']}/remove",
    ):
        assert browser.post(path, data={"csrf_token": token}).status_code == 404, path


def test_markup_in_a_moodle_file_never_reaches_the_page_as_markup(app, lms):
    """An HTML description (with escaped markup in it) and a scale label that is markup:
    the version page and the import summary show them as text."""
    attack = "<img src=x onerror=alert(1)>"
    rows = [
        moodle_csv.HEADERS,
        ["", "XSS", "Skript", "<p>&lt;script&gt;alert(2)&lt;/script&gt;</p><script>x</script>",
         "1", f"{attack},Bra", '[{"scaleid":1},{"id":1,"scaledefault":1,"proficient":1}]',
         "", "", "", "", "", "1", "competency"],
        ["", "K1", f"Kort {attack}", f"&lt;b onclick=alert(3)&gt;{attack}", "1", "", "",
         "", "0", "null", "", "1", "", ""],
    ]  # fmt: skip
    data = "".join(moodle_csv.write_row(row) for row in rows).encode()
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    response = upload(
        browser, page, "/designer/frameworks/import", data, "moodle.csv",
        format="moodle-csv", language="nb", publish="0",
    )  # fmt: skip
    imported = follow(browser, response)
    assert "The scale&#39;s default value (&lt;img src=x onerror=alert(1)&gt;)" in imported
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in imported
    assert "&lt;b onclick=alert(3)&gt;" in imported
    for markup in ("<img", "<script>alert", "<b onclick"):
        assert markup not in imported


def _upload_large(browser: Any, page: str, path: str, data: bytes, name: str, **fields: str) -> Any:
    """As :func:`upload`, with the body encoded in memory (the test client would spool a
    large one to a temporary file it never closes)."""
    form = form_for(page, path)
    values = {**form["fields"], **fields, "file": FileStorage(io.BytesIO(data), filename=name)}
    boundary, body = encode_multipart(values)
    return browser.post(
        form["action"], data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_an_import_file_as_large_as_the_page_promises_reaches_the_import(app, lms):
    """The page says "At most 5120 kB": a 3 MB file gets the import's own answer, not the
    generic "too large" of the 2 MB request limit; a larger one the import's own limit."""
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    before = counts(app)
    big = b"idnumber,shortname\n" + b"x" * (3 * 1024 * 1024)
    response = _upload_large(
        browser,
        page,
        "/designer/frameworks/import",
        big,
        "big.csv",
        format="moodle-csv",
        language="nb",
    )
    assert response.status_code != 413, response.status_code
    assert "larger than the tool accepts" not in response.get_data(as_text=True)

    too_big = b"x" * (MAX_IMPORT_BYTES + 1)
    response = _upload_large(
        browser,
        page,
        "/designer/frameworks/import",
        too_big,
        "huge.csv",
        format="moodle-csv",
        language="nb",
    )
    assert response.status_code == 422, response.status_code
    assert f"the most that can be imported is {MAX_IMPORT_BYTES} bytes" in response.get_data(
        as_text=True
    )
    assert counts(app) == before


def test_every_import_route_named_for_large_files_exists(app):
    """A renamed view would silently fall back to the 2 MB limit."""
    assert set(app.view_functions) >= IMPORT_ENDPOINTS


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("nn", "Lesarar på nynorsk: bokmål, deretter engelsk."),
        ("nb", "Lesere på bokmål: nynorsk, deretter engelsk."),
        ("en", "Readers in English: bokmål, then nynorsk."),
    ],
)
def test_text_fields_show_which_language_readers_see_when_theirs_is_missing(app, lms, lang, shown):
    """The fallback order of domain.texts.FALLBACK, shown where texts are written."""
    browser = designer(app, lms)

    for path in ("/designer/frameworks", "/designer/job-roles", "/designer/items/new?kind=numeric"):
        html = get_page(browser, f"{path}{'&' if '?' in path else '?'}lang={lang}")
        assert shown in html, path


def test_a_drafts_title_and_description_are_edited_per_language(app, lms, care):
    """A version's texts were set only when the framework was made: a draft's page now
    edits them in each language, with the fallback order shown; a reader in a language
    the text lacks gets the next in that order; a published version is not changed."""
    browser = designer(app, lms)
    page = get_page(browser, "/designer/frameworks")
    made = submit(browser, page, "/designer/frameworks", code="spraak", title_nb="Bare bokmål")
    draft = version_id(made.headers["Location"])
    path = f"/designer/versions/{draft}/texts"
    page = get_page(browser, f"/designer/versions/{draft}")
    assert "Readers in English: bokmål, then nynorsk." in page
    refused = submit(browser, page, path, title_nb="", title_nn="", title_en="")
    assert refused.status_code == 422
    assert "Give a title in at least one language." in refused.get_data(as_text=True)
    saved = submit(
        browser, page, path, title_nb="", title_nn="Berre nynorsk", description_en="In English"
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with app.app_context():
        version = get_session().get(FrameworkVersion, draft)
        assert version is not None
        assert (version.title, version.description) == (
            {"nn": "Berre nynorsk"},
            {"en": "In English"},
        )
    shown = get_page(browser, f"/designer/versions/{draft}?lang=nb")
    assert "Berre nynorsk" in shown and "In English" in shown  # nb: nynorsk, then English
    with app.app_context():
        published = get_session().scalar(
            select(FrameworkVersion).where(FrameworkVersion.status == "published")
        )
        assert published is not None
        before = (published.id, published.title)
    token = csrf_token(shown)
    again = browser.post(
        f"/designer/versions/{before[0]}/texts", data={"csrf_token": token, "title_nb": "Endret"}
    )
    assert again.status_code == 409
    with app.app_context():
        assert get_session().get(FrameworkVersion, before[0]).title == before[1]
