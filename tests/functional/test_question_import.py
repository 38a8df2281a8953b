"""Importing Moodle's question exports (Moodle XML and GIFT) into the item bank: the
designer's preview and confirmation, the API and the command line, who may, and what
learners then see."""

from __future__ import annotations

import dataclasses
import io
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.interchange.questions_gift import parse_gift
from lti_tool.interchange.questions_moodle_xml import parse_moodle_xml
from lti_tool.models import Item
from lti_tool.services import item_bank
from tests.fakes import content
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import add_all_items, create_mapping, designer_browser, publish
from tests.functional.test_mapping_flow import place, take

QUESTIONS = Path(__file__).resolve().parent.parent / "fakes" / "questions"
XML = (QUESTIONS / "moodle-5-export.xml").read_bytes()
GIFT = (QUESTIONS / "moodle-5-export.gift").read_bytes()
IMPORT = "/designer/items/import"
CONFIRM = "/designer/items/import/confirm"
API = "/api/v1/items/import"
CODES = ["epikrise", "LM-DOBBEL", "LM-DOSE", "PV-TAUS", "utdeling"]
COMBINED = {
    "correct": {"nb": "Svaret ditt er riktig."},
    "partially_correct": {"nb": "Svaret ditt er delvis riktig."},
    "incorrect": {"nb": "Svaret ditt er feil."},
}


@pytest.fixture
def other_competence(app: Any, cli: Any) -> int:
    """A published competence "brannvern" of another organisation."""
    cli("organisation", "add", "Annenkommune")
    with app.app_context():
        ids = content.framework(
            content.organisation_id("Annenkommune"), "brann", "Brann", {"brannvern": "Brannvern"}
        )
        get_session().commit()
        return ids["brannvern"]


def _items(app: Any) -> list[Item]:
    with app.app_context():
        session = get_session()
        items = session.scalars(select(Item).order_by(Item.code)).all()
        for item in items:  # loaded while the session is open
            _ = [(ic.competence.code, o.id) for ic in item.competences for o in item.options]
        return list(items)


def _count(app: Any) -> int:
    with app.app_context():
        return int(get_session().scalar(select(func.count(Item.id))) or 0)


def _form(html: str, path: str) -> dict[str, Any] | None:
    return next(
        (f for f in parse_forms(html) if (f["action"] or "").split("?")[0] == path),
        None,
    )


def preview(browser: Any, data: bytes, name: str, fmt: str, *competence_ids: int) -> Any:
    """Post the file to the item bank's import form: the preview (or the problems)."""
    form = _form(browser.get("/designer/items").get_data(as_text=True), IMPORT)
    assert form is not None
    return browser.post(
        form["action"],
        data={
            "csrf_token": form["fields"]["csrf_token"],
            "format": fmt,
            "language": "nb",
            "competence_ids": [str(i) for i in competence_ids],
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def confirm(browser: Any, page: str, **changes: str) -> Any:
    form = _form(page, CONFIRM)
    assert form is not None, page
    return browser.post(form["action"], data={**form["fields"], **changes})


def _rows(html: str, caption: str) -> list[list[str]]:
    """The cells of the table with this caption, row by row, tags stripped."""
    table = html.split(f"<caption>{caption}</caption>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)
        ]
        for r in rows
    ]


# --- the designer's page ---------------------------------------------------------------------


def test_a_moodle_xml_export_is_previewed_then_written_on_confirmation(app, lms, care):
    browser = designer_browser(app, lms)
    office = care["competences"]["office"]
    response = preview(browser, XML, "moodle-5-export.xml", "moodle-xml", office)

    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "Preview of moodle-5-export.xml" in page
    assert _rows(page, "Questions to import") == [
        ["15", "Dobbeltkontroll", "Single choice", "LM-DOBBEL", "legemidler"],
        ["70", "Taushetsplikt gjelder", "Multiple choice", "PV-TAUS", "personvern"],
        ["123", "Epikrise", "True/false", "epikrise", "personvern"],
        ["156", "Dose i ml", "Numeric answer", "LM-DOSE", "legemidler"],
        ["322", "Utdeling", "Single choice", "utdeling", "office"],
    ]
    supported = "(supported: multiple choice, true/false, numerical)."
    assert _rows(page, "Questions skipped") == [
        ["208", "Nødnummer", f"Questions of type short answer cannot be imported {supported}"],
        ["242", "Legemidler og bruk", f"Questions of type matching cannot be imported {supported}"],
        ["286", "Avvik", f"Questions of type essay cannot be imported {supported}"],
        [
            "365",
            "Om legemiddeldelen",
            f"Questions of type description cannot be imported {supported}",
        ],
    ]
    assert _count(app) == 0  # nothing is written before the designer confirms

    done = confirm(browser, page)
    assert done.status_code == 302, done.get_data(as_text=True)
    bank = browser.get(done.headers["Location"]).get_data(as_text=True)
    assert "5 items are imported. 4 questions are skipped." in bank
    items = {item.code: item for item in _items(app)}
    assert sorted(items) == sorted(CODES)
    assert {code: [ic.competence.code for ic in i.competences] for code, i in items.items()} == {
        "LM-DOBBEL": ["legemidler"],
        "PV-TAUS": ["personvern"],
        "epikrise": ["personvern"],
        "LM-DOSE": ["legemidler"],
        "utdeling": ["office"],
    }
    assert all(item.source == "moodle-xml" for item in items.values())
    assert items["LM-DOBBEL"].outcome_feedback == COMBINED
    assert items["PV-TAUS"].points == 2.0
    assert items["LM-DOSE"].outcome_feedback == {
        "other_answer": {"nb": "Regn ut dosen delt på styrken."}
    }
    assert [(o.value, o.tolerance, o.fraction) for o in items["LM-DOSE"].options] == [
        (5.0, 0.0, 1.0),
        (5.0, 0.5, 0.5),
    ]
    assert items["utdeling"].outcome_feedback == {}

    # The same confirmation again: the codes are taken now, so nothing more is written.
    again = confirm(browser, page)
    assert again.status_code == 422
    assert "The bank already has an item with the code LM-DOBBEL." in again.get_data(as_text=True)
    assert _count(app) == 5


def test_the_imported_feedback_is_on_the_item_form_and_survives_an_edit(app, lms, care):
    browser = designer_browser(app, lms)
    page = preview(browser, XML, "x.xml", "moodle-xml", care["competences"]["office"])
    assert confirm(browser, page.get_data(as_text=True)).status_code == 302
    item = next(i for i in _items(app) if i.code == "LM-DOSE")
    html = browser.get(f"/designer/items/{item.id}").get_data(as_text=True)
    assert "When the answer matches no accepted answer" in html
    form = _form(html, f"/designer/items/{item.id}")
    assert form is not None
    assert form["fields"]["outcome_other_answer_nb"] == "Regn ut dosen delt på styrken."
    fields = {
        **form["fields"],
        # a text area and a select, which parse_forms leaves out
        "stem_nb": "Hvor mange ml gir du?",
        "competence_1": str(care["competences"]["legemidler"]),
        "outcome_incorrect_nb": "Les doseringskortet.",
    }
    response = browser.post(form["action"], data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    edited = next(i for i in _items(app) if i.code == "LM-DOSE")
    assert edited.outcome_feedback == {
        "other_answer": {"nb": "Regn ut dosen delt på styrken."},
        "incorrect": {"nb": "Les doseringskortet."},
    }


def test_gift_tags_tie_questions_and_an_untagged_one_needs_chosen_competences(app, lms, care):
    browser = designer_browser(app, lms)
    refused = preview(browser, GIFT, "moodle-5-export.gift", "gift")

    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Nothing was imported: the file moodle-5-export.gift has 1 problem." in html
    assert "line 60, question “Utdeling”" in html
    assert "It measures no competence" in html
    assert _form(html, CONFIRM) is None

    page = preview(browser, GIFT, "moodle-5-export.gift", "gift", care["competences"]["office"])
    assert page.status_code == 200
    assert confirm(browser, page.get_data(as_text=True)).status_code == 302
    items = {item.code: item for item in _items(app)}
    assert sorted(items) == sorted(CODES)  # the GIFT ids are the codes
    assert [ic.competence.code for ic in items["LM-DOBBEL"].competences] == ["legemidler"]
    assert items["LM-DOSE"].outcome_feedback == {
        "other_answer": {"nb": "Regn ut dosen delt på styrken."}
    }
    assert all(item.source == "gift" for item in items.values())


@pytest.mark.parametrize(
    ("data", "fmt", "defect"),
    [
        (
            XML.replace(b"</answer>", b"</answr>", 1),
            "moodle-xml",
            "line 48: the XML cannot be read (mismatched tag: line 48, column 6)",
        ),
        (
            GIFT.replace(b"{#\n", b"#\n", 1),
            "gift",
            "line 31: Question “Dose i ml” cannot be read: it needs exactly one answer section",
        ),
        (
            XML.replace(b'<answer fraction="100" format="html">', b'<answer fraction="50">', 1),
            "moodle-xml",
            "line 15, question “Dobbeltkontroll”: Mark one option as fully correct.",
        ),
        (b"::Essay::Skriv.{}\n", "gift", "No question in the file can be imported."),
    ],
)
def test_a_malformed_file_is_refused_naming_its_defect(app, lms, care, data, fmt, defect):
    browser = designer_browser(app, lms)
    response = preview(browser, data, "broken", fmt, care["competences"]["office"])

    assert response.status_code == 422
    html = response.get_data(as_text=True).replace("<td>", "").replace("</td>", ": ")
    assert defect in html.replace("&amp;", "&")
    assert _form(response.get_data(as_text=True), CONFIRM) is None
    assert _count(app) == 0


def test_the_form_asks_for_a_file_a_format_and_a_language(app, lms, care):
    browser = designer_browser(app, lms)
    form = _form(browser.get("/designer/items").get_data(as_text=True), IMPORT)
    assert form is not None
    response = browser.post(
        form["action"],
        data={"csrf_token": form["fields"]["csrf_token"], "format": "gift", "language": "nb"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Choose a file." in response.get_data(as_text=True)
    refused = browser.post(
        form["action"],
        data={
            "csrf_token": form["fields"]["csrf_token"],
            "format": "case",
            "language": "nb",
            "file": (io.BytesIO(GIFT), "x.gift"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "Choose a format." in refused.get_data(as_text=True)
    assert _count(app) == 0


def test_a_preview_changed_or_of_someone_else_writes_nothing(app, lms, care):
    browser = designer_browser(app, lms)
    page = preview(browser, XML, "x.xml", "moodle-xml", care["competences"]["office"])
    html = page.get_data(as_text=True)
    pending = _form(html, CONFIRM)["fields"]["pending"]  # type: ignore[index]

    # The signature's last character carries only four bits: change a whole one before it.
    changed = "B" if pending[-5] == "A" else "A"
    tampered = confirm(browser, html, pending=pending[:-5] + changed + pending[-4:])
    assert tampered.status_code == 422
    assert "The preview has expired or is not yours" in tampered.get_data(as_text=True)

    admin = designer_browser(app, lms, "admin")  # same organisation, another person
    bank = admin.get("/designer/items").get_data(as_text=True)
    form = _form(bank, IMPORT)
    assert form is not None
    foreign = admin.post(
        CONFIRM,
        data={"csrf_token": form["fields"]["csrf_token"], "pending": pending},
    )
    assert foreign.status_code == 422
    assert "The preview has expired or is not yours" in foreign.get_data(as_text=True)
    assert _count(app) == 0


def test_a_preview_the_frameworks_have_changed_since_is_not_written(app, lms, care):
    browser = designer_browser(app, lms)
    page = preview(browser, XML, "x.xml", "moodle-xml", care["competences"]["office"])
    html = page.get_data(as_text=True)
    with app.app_context():  # "hjemmetjenesten", a tag of Dobbeltkontroll, is now a competence
        content.framework(
            care["organisation_id"], "enheter", "Enheter", {"hjemmetjenesten": "Hjemmetjenesten"}
        )
        get_session().commit()

    response = confirm(browser, html)
    assert response.status_code == 422
    assert "The item bank or the frameworks changed since the preview" in response.get_data(
        as_text=True
    )
    assert _count(app) == 0


def _page_csrf(app: Any, client: Any) -> str:
    """The CSRF token the tool's pages give this browser (so only the role can refuse)."""
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


@pytest.mark.parametrize("persona", ["learner", "manager"])
def test_only_designers_and_admins_may_import(app, lms, care, persona):
    designer = designer_browser(app, lms)
    page = preview(designer, GIFT, "x.gift", "gift", care["competences"]["office"])
    pending = _form(page.get_data(as_text=True), CONFIRM)["fields"]["pending"]  # type: ignore[index]

    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, persona))
    csrf = _page_csrf(app, browser)
    assert browser.get("/designer/items").status_code == 403
    upload = {"csrf_token": csrf, "format": "gift", "language": "nb"}
    response = browser.post(IMPORT, data={**upload, "file": (io.BytesIO(GIFT), "x.gift")})
    assert response.status_code == 403
    assert browser.post(CONFIRM, data={"csrf_token": csrf, "pending": pending}).status_code == 403
    api = browser.post(
        API,
        data={"format": "gift", "competence": "office", "file": (io.BytesIO(GIFT), "x.gift")},
        headers={"X-CSRFToken": csrf},
    )
    assert api.status_code == 403
    assert _count(app) == 0


def test_another_organisations_competences_cannot_be_chosen_or_tagged(
    app, lms, care, other_competence
):
    browser = designer_browser(app, lms)
    gift = b"// [tag:brannvern]\n::Brann::Ring 110 ved brann.{T}\n"
    response = preview(browser, gift, "brann.gift", "gift", other_competence)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose competences from a published framework of your organisation." in html
    assert "It measures no competence" in html
    assert _count(app) == 0


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def token(cli: Any, care: Any) -> str:
    result = cli("api-token", "create", "--organisation", "Testkommune", "--scope", "write")
    return str(result.stdout.strip().splitlines()[-1])


def _api(app: Any, token: str, data: bytes, name: str, **fields: Any) -> Any:
    return app.test_client().post(
        API,
        data={"file": (io.BytesIO(data), name), **fields},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        content_type="multipart/form-data",
    )


def test_the_api_previews_as_a_dry_run_then_imports(app, lms, care, token):
    dry = _api(app, token, GIFT, "x.gift", format="gift", competence="office", dry_run="true")

    assert dry.status_code == 200, dry.get_json()
    found = dry.get_json()
    assert found["dry_run"] is True
    assert [(q["line"], q["name"], q["code"], q["competences"]) for q in found["imported"]] == [
        (7, "Dobbeltkontroll", "LM-DOBBEL", ["legemidler"]),
        (17, "Taushetsplikt gjelder", "PV-TAUS", ["personvern"]),
        (26, "Epikrise", "epikrise", ["personvern"]),
        (31, "Dose i ml", "LM-DOSE", ["legemidler"]),
        (60, "Utdeling", "utdeling", ["office"]),
    ]
    assert all(q["id"] is None for q in found["imported"])
    assert [(s["line"], s["name"], s["type"]) for s in found["skipped"]] == [
        (40, "Nødnummer", "short answer"),
        (48, "Legemidler og bruk", "matching"),
        (56, "Avvik", "essay"),
        (67, "Om legemiddeldelen", "description"),
    ]
    assert _count(app) == 0

    made = _api(app, token, XML, "x.xml", format="moodle-xml", competence="office")
    assert made.status_code == 201, made.get_json()
    imported = made.get_json()["imported"]
    assert made.get_json()["dry_run"] is False and len(made.get_json()["skipped"]) == 4
    assert {q["code"]: q["id"] for q in imported} == {i.code: i.id for i in _items(app)}


def test_the_api_refuses_what_cannot_be_imported_and_writes_nothing(
    app, lms, care, token, other_competence, cli
):
    cases = [
        ({"format": "gift"}, GIFT, ["line 60, question “Utdeling”: It measures no competence"]),
        (
            {"format": "gift", "competence": ["office", "brannvern"]},
            GIFT,
            [
                "No published framework of your organisation has a competence with the code "
                "brannvern."
            ],
        ),
        ({"format": "moodle-xml", "competence": "office"}, b"<quiz>", ["line 1: the XML"]),
        ({"format": "case"}, GIFT, []),
    ]
    for fields, data, starts in cases:
        response = _api(app, token, data, "f", **fields)
        assert response.status_code == 422, response.get_json()
        problems = response.get_json().get("problems", [])
        for start in starts:
            assert any(p.startswith(start) for p in problems), (start, problems)
    reader = cli("api-token", "create", "--organisation", "Testkommune", "--scope", "read")
    read_only = reader.stdout.strip().splitlines()[-1]
    refused = _api(app, read_only, GIFT, "f", format="gift", competence="office")
    assert refused.status_code == 403
    assert _count(app) == 0


# --- the command line ------------------------------------------------------------------------


def test_the_command_line_previews_as_a_dry_run_then_imports(app, lms, care, cli, tmp_path):
    path = tmp_path / "moodle-5-export.gift"
    path.write_bytes(GIFT)
    base = ("items", "import", str(path), "--organisation", "Testkommune")

    dry = cli(*base, "--format", "gift", "--competence", "office", "--dry-run")
    lines = dry.stdout.strip().splitlines()
    assert lines[0] == "import\tline 7\tsingle_choice\tLM-DOBBEL\tDobbeltkontroll\tlegemidler"
    assert lines[5].startswith("skip\tline 40\tNødnummer\tQuestions of type short answer")
    assert lines[-1] == ("Dry run: 5 question(s) would be imported, 4 skipped. Nothing written.")
    assert _count(app) == 0

    refused = cli(*base, ok=False)
    assert refused.exit_code == 1
    assert "line 60, question “Utdeling”: It measures no competence" in refused.output
    assert "Nothing imported: 1 problem(s)." in refused.output
    assert _count(app) == 0

    done = cli(*base, "--competence", "office")
    assert done.stdout.strip().splitlines()[-1] == "Imported 5 question(s); skipped 4."
    assert sorted(i.code for i in _items(app)) == sorted(CODES)

    xml = tmp_path / "export.xml"
    xml.write_bytes(XML)
    again = cli("items", "import", str(xml), "--organisation", "Testkommune", ok=False)
    assert "The bank already has an item with the code LM-DOBBEL." in again.output
    assert _count(app) == 5


# --- what learners see -----------------------------------------------------------------------


def test_learners_see_the_feedback_by_outcome_and_for_any_other_number(app, lms, care, gradebook):
    browser = designer_browser(app, lms)
    page = preview(browser, XML, "x.xml", "moodle-xml", care["competences"]["office"])
    assert confirm(browser, page.get_data(as_text=True)).status_code == 302
    mapping_id = create_mapping(
        browser,
        "importert",
        "Importerte spørsmål",
        competence_ids=[str(care["competences"]["legemidler"])],
    )
    add_all_items(browser, mapping_id)
    assert publish(browser, mapping_id).status_code == 302
    link_id = place(lms, app, gradebook, mapping_id)
    learner, location, _form_used = take(
        app, lms, "learner", link_id, {"Hvem skal kontrollere": "Legen", "Mikstuen": "7"}
    )
    html = learner.get(location).get_data(as_text=True)
    feedback = re.findall(r'<p class="feedback">([^<]*)</p>', html)
    assert "Svaret ditt er feil." in feedback
    assert "Se prosedyren for legemiddelhåndtering." in feedback
    assert feedback.index("Svaret ditt er feil.") < feedback.index(
        "Se prosedyren for legemiddelhåndtering."
    )
    assert "Regn ut dosen delt på styrken." in feedback
    assert "Svaret ditt er riktig." not in feedback


@pytest.mark.parametrize(
    ("data", "fmt"), [(XML, "moodle-xml"), (GIFT, "gift")], ids=["moodle-xml", "gift"]
)
def test_what_the_bank_holds_is_what_the_export_says(app, lms, care, token, data, fmt):
    """Each question comes back from the bank as the file has it (as far as items keep
    questions): texts, options, credits, feedback of every kind, points, settings."""
    response = _api(app, token, data, "f", format=fmt, competence="office")
    assert response.status_code == 201, response.get_json()
    parse = parse_moodle_xml if fmt == "moodle-xml" else parse_gift
    with app.app_context():
        session = get_session()
        stored = {
            item.code: item_bank.item_data(item)
            for item in item_bank.list_items(session, care["organisation_id"])
        }
        for expected in parse(data).items:
            held = stored[expected.code]
            plain = dataclasses.replace(
                held,
                options=tuple(dataclasses.replace(o, id=None) for o in held.options),
                competences=(),
            )
            assert plain == dataclasses.replace(expected, competences=())
            tagged = {ref.code for ref in expected.competences} & {"legemidler", "personvern"}
            assert {ref.code for ref in held.competences} == (tagged or {"office"})
