"""A unit's competence matrix exported for an inspection (CSV, XLSX, PDF) through HTTP:
each file parsed back and its statuses compared with the matrix and with an independent
computation from the raw evidence, formulas defused, filters, the PDF's verification code
on the public /verify page without names, who is refused, and statements that do not grow
with the unit."""

from __future__ import annotations

import csv
import datetime as dt
import html as markup
import io
import re
import tempfile
import tracemalloc
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lti_tool.db import get_session
from lti_tool.models import AuditEvent, OrgUnit, Person
from lti_tool.services import coverage, unit_exports
from lti_tool.services.coverage import MatrixFilters
from lti_tool.services.evidence import record_evidence
from tests.fakes import content
from tests.fakes.lms import TestLms
from tests.functional.test_admin_console import add_platform
from tests.functional.test_deployments import other_lms
from tests.functional.test_unit_matrix import (
    DAY,
    NOW,
    add_evidence,
    add_people,
    add_person,
    evidence,
    expected_status,
    grant_manager,
    home_matrix,
    statuses,
    unit,  # noqa: F401 - the fixture the tests take
)
from tests.statements import statements_run

TEXTS = {
    "met": "Met",
    "expiring": "Expires soon",
    "gap": "Gap",
    "expired": "Expired",
    "never_assessed": "Not assessed",
}
VALID_UNTIL = "Valid until (date in Europe/Oslo)"
NAMES = ["Anne Aas", "Bjørn Berg", "Cecilie Dahl", "David Eik", "Eva Fjell", "Geir Holm"]
TEACHER = "102"


@pytest.fixture(autouse=True)
def _now(monkeypatch: Any) -> None:
    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW)


def browser(app: Any, lms: TestLms, persona: str = "admin") -> Any:
    client = TestLms.browser(app)
    assert lms.landed(lms.launch(client, persona))
    return client


def get(client: Any, path: str, expect: int = 200, **query: Any) -> Any:
    response = client.get(path, query_string={"lang": "en", **query})
    response.get_data()  # read, then let the view's temporary file go
    response.close()
    assert response.status_code == expect, response.get_data(as_text=True)[:2000]
    return response


def home_path(unit: dict[str, Any], kind: str) -> str:
    return f"/manager/units/{unit['units']['hjemmetjenesten']}/export.{kind}"


def read_csv(response: Any) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))


def expected(app: Any, unit: dict[str, Any], **kwargs: Any) -> dict[tuple[str, str], str]:
    with app.app_context():
        return statuses(home_matrix(unit, **kwargs))


def pdf_text(response: Any) -> str:
    """The PDF's text, whitespace made single spaces (lines wrap where they fit)."""
    pages = PdfReader(io.BytesIO(response.get_data())).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def about_sheet(response: Any) -> dict[str, str]:
    book = load_workbook(io.BytesIO(response.get_data()))
    return {r[0].value: r[1].value for r in book["About"].iter_rows(min_row=2)}


def last_export(app: Any) -> tuple[AuditEvent, set[str]]:
    """The latest export's audit event, and the names of the people it names."""
    with app.app_context():
        session = get_session()
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "export")
            .options(selectinload(AuditEvent.people))
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one()
        ids = [p.person_id for p in event.people]
        names = set(session.scalars(select(Person.name).where(Person.id.in_(ids))))
        return event, names


# --- the content ---------------------------------------------------------------------------


def test_the_csv_holds_each_cell_with_its_status_in_words_and_code(app, lms, unit):
    response = get(browser(app, lms), home_path(unit, "csv"))
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    found = {(r["Name"], r["Competence code"]): r["Status code"] for r in rows}
    assert found == expected(app, unit)
    assert all(TEXTS[r["Status code"]] == r["Status"] for r in rows)
    with app.app_context():
        for r in rows:  # the status again, from the raw evidence
            pid = unit["people"][
                {
                    "Anne Aas": "met",
                    "Bjørn Berg": "gap",
                    "Cecilie Dahl": "expiring",
                    "David Eik": "expired",
                    "Eva Fjell": "never",
                }[r["Name"]]
            ]
            cid = unit["competences"][r["Competence code"]]
            renewal = {"legemidler": 12 if r["Name"] == "Cecilie Dahl" else 24, "personvern": 12}
            assert r["Status code"] == expected_status(
                unit["organisation_id"],
                pid,
                cid,
                int(r["Required level"]),
                renewal.get(r["Competence code"]),
            )
    david = next(
        r for r in rows if r["Name"] == "David Eik" and r["Competence code"] == "personvern"
    )
    assert david[VALID_UNTIL] == (NOW - DAY).date().isoformat()
    assert "Frida Gran" not in {r["Name"] for r in rows}  # another unit


def test_the_csv_speaks_the_readers_language(app, lms, unit):
    rows = read_csv(get(browser(app, lms), home_path(unit, "csv"), lang="nb"))
    assert {"Navn", "Status", "Statuskode"} <= set(rows[0])
    assert {r["Status"] for r in rows if r["Statuskode"] == "met"} == {"Oppfylt"}


def test_the_workbook_has_a_sheet_per_view_frozen_filtered_and_in_words(app, lms, unit):
    response = get(browser(app, lms), home_path(unit, "xlsx"))
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["About", "Matrix", "Per person", "Per competence"]
    matrix = book["Matrix"]
    assert matrix.freeze_panes == "B2"
    assert matrix.auto_filter.ref == "A1:E7"
    heads = [c.value for c in matrix[1]]
    assert heads[:2] == ["Name", "Job roles"]
    codes = [h.split(" – ")[0] for h in heads[2:]]
    found = {
        (row[0].value, code): cell.value
        for row in matrix.iter_rows(min_row=2)
        for code, cell in zip(codes, row[2:], strict=True)
        if cell.value
    }
    assert found == {key: TEXTS[value] for key, value in expected(app, unit).items()}
    with app.app_context():
        page = home_matrix(unit)
    per_competence = book["Per competence"]
    assert per_competence.freeze_panes == "A2" and per_competence.auto_filter.ref
    figures = {r[0].value: r[-1].value for r in per_competence.iter_rows(min_row=2)}
    assert figures == {c.code: c.coverage for c in page.columns}
    per_person = book["Per person"]
    assert per_person.auto_filter.ref == "A1:H7"
    people = {r[0].value: r[-1].value for r in per_person.iter_rows(min_row=2)}
    assert people == {r.name: r.coverage for r in page.rows}
    about = {r[0].value: r[1].value for r in book["About"].iter_rows(min_row=2)}
    assert about["Organisation"] == "Testkommune"
    assert about["Unit"] == "Hjemmetjenesten"
    assert about["Exported by"] == "Demo Administrator"
    assert about["People"] == "6" and about["Coverage"] == f"{page.coverage:.1f}%"
    assert "expires within 30 days" in about["Status: Expires soon"]


def test_the_organisation_workbook_holds_everyone(app, lms, unit):
    book = load_workbook(io.BytesIO(get(browser(app, lms), "/manager/export.xlsx").get_data()))
    names = [r[0].value for r in book["Matrix"].iter_rows(min_row=2)]
    assert "Frida Gran" in names and "Anne Aas" in names
    about = {r[0].value: r[1].value for r in book["About"].iter_rows(min_row=2)}
    assert about["Unit"] == "The whole organisation"


def test_the_pdf_documents_the_unit_and_verify_tells_it_without_names(app, lms, unit):
    client = browser(app, lms)
    response = get(client, home_path(unit, "pdf"))
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.get_data()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Competence documentation" in text
    assert "Testkommune" in text and "Hjemmetjenesten" in text
    assert "Demo Administrator" in text  # who exported it
    assert reader.metadata.creation_date == NOW  # when, in the file's own data too
    for name in NAMES:
        assert name in text
    assert "Not assessed" in text and "Gap" in text and "Expired" in text
    code = text.split("Verification code: ")[1].split()[0]
    with app.app_context():
        coverage_figure = home_matrix(unit).coverage
    # anyone, without a launch, checks the code
    page = get(TestLms.browser(app), f"/verify/{code}").get_data(as_text=True)
    assert "<h1>Verify a competence documentation</h1>" in page  # not "a certificate"
    assert "Hjemmetjenesten" in page and "Testkommune" in page
    assert f"<dd>{coverage_figure:.1f}%</dd>" in page
    assert "<dd>6</dd>" in page
    # each status's count, as the PDF prints them: the figures an inspector compares
    counts = get(TestLms.browser(app), f"/verify/{code}", format="json").get_json()["counts"]
    assert counts["gap"] >= 1 and counts["never_assessed"] >= 1
    for status, word in (("met", "Met"), ("gap", "Gap"), ("never_assessed", "Not assessed")):
        n = counts[status]
        assert f"<dt>{word}</dt><dd>{n} cell{'' if n == 1 else 's'}</dd>" in page
    for name in [*NAMES, "Demo Administrator", "Frida Gran"]:
        assert name not in page
    facts = get(TestLms.browser(app), f"/verify/{code.lower()}", format="json").get_json()
    assert facts["kind"] == "competence_documentation" and facts["people"] == 6
    assert facts["unit"] == "Hjemmetjenesten" and facts["coverage"] == coverage_figure
    assert not any(name in str(facts) for name in NAMES)
    get(TestLms.browser(app), "/verify/AAAA-BBBB-CCCC", expect=404)


def test_a_name_that_looks_like_a_formula_stays_text(app, lms, unit):
    formula = '=HYPERLINK("https://evil.example","Klikk")'
    with app.app_context():
        add_person(
            unit["organisation_id"],
            formula,
            unit["units"]["hjemmetjenesten"],
            [unit["roles"]["sykepleier"]],
        )
        get_session().commit()
    client = browser(app, lms)
    rows = read_csv(get(client, home_path(unit, "csv")))
    names = {r["Name"] for r in rows}
    assert "'" + formula in names and formula not in names
    book = load_workbook(io.BytesIO(get(client, home_path(unit, "xlsx")).get_data()))
    cells = [r[0] for r in book["Matrix"].iter_rows(min_row=2)]
    evil = next(c for c in cells if "HYPERLINK" in str(c.value))
    assert evil.data_type == "s" and evil.value == formula  # a string, not a formula


def test_the_filters_apply_to_every_export(app, lms, unit):
    client = browser(app, lms)
    rows = read_csv(get(client, home_path(unit, "csv"), status="expired"))
    assert {r["Name"] for r in rows} == {"David Eik"}
    expired = MatrixFilters(statuses=frozenset({coverage.CellStatus.EXPIRED}))
    assert {(r["Name"], r["Competence code"]): r["Status code"] for r in rows} == expected(
        app, unit, filters=expired
    )
    rows = read_csv(get(client, home_path(unit, "csv"), mandatory="1"))
    assert "office" not in {r["Competence code"] for r in rows}
    worker = unit["roles"]["helsefagarbeider"]
    book = load_workbook(
        io.BytesIO(get(client, home_path(unit, "xlsx"), job_role=str(worker)).get_data())
    )
    names = [r[0].value for r in book["Matrix"].iter_rows(min_row=2)]
    assert names == ["Cecilie Dahl", "Eva Fjell"]
    about = {r[0].value: r[1].value for r in book["About"].iter_rows(min_row=2)}
    assert about["Filters"] == "Job roles: Helsefagarbeider (en)"
    text = "\n".join(
        p.extract_text()
        for p in PdfReader(
            io.BytesIO(get(client, home_path(unit, "pdf"), status="gap").get_data())
        ).pages
    )
    assert "Bjørn Berg" in text and "Anne Aas" not in text
    refused = get(client, home_path(unit, "csv"), expect=422, **{"job_role": "x"})
    assert "Choose from the list." in refused.get_data(as_text=True)


# --- the matrix's window and filters, its links, the audit, numbers and times ----------------


def test_the_exports_decide_the_statuses_with_the_matrix_expiring_window(app, lms, unit):
    client = browser(app, lms)
    # Cecilie's medicines end in 20 days: expiring within 30 days, met within 10; Anne's
    # privacy ends in 355 days: met within 30, expiring within 400
    rows = read_csv(get(client, home_path(unit, "csv"), days="10"))
    found = {(r["Name"], r["Competence code"]): r["Status code"] for r in rows}
    assert found[("Cecilie Dahl", "legemidler")] == "met"
    assert found == expected(app, unit, expiring_days=10)
    assert last_export(app)[0].detail["filters"]["expiring_days"] == 10  # type: ignore[index]

    response = get(client, home_path(unit, "xlsx"), days="400")
    about = about_sheet(response)
    assert about["Expiring window"] == "400 days"
    assert "expires within 400 days" in about["Status: Expires soon"]
    book = load_workbook(io.BytesIO(response.get_data()))
    heads = [c.value for c in book["Matrix"][1]]
    anne = next(r for r in book["Matrix"].iter_rows(min_row=2) if r[0].value == "Anne Aas")
    privacy = next(i for i, h in enumerate(heads) if str(h).startswith("personvern"))
    assert anne[privacy].value == "Expires soon"

    text = pdf_text(get(client, home_path(unit, "pdf"), days="400"))
    assert "Expiring window 400 days" in text
    assert "it expires within 400 days" in text
    code = text.split("Verification code: ")[1].split()[0]
    with app.app_context():
        counts = home_matrix(unit, expiring_days=400).counts
    page = get(TestLms.browser(app), f"/verify/{code}").get_data(as_text=True)
    assert "counted as expiring when it ended within 400 days" in page
    facts = get(TestLms.browser(app), f"/verify/{code}", format="json").get_json()
    assert facts["expiring_days"] == 400
    assert facts["counts"] == {s.value: n for s, n in counts.items()}


def export_links(html: str) -> dict[str, tuple[str, str]]:
    """The matrix page's links to its exports by file type: the address and the text."""
    found = re.findall(r'<a href="([^"]*/export\.(csv|xlsx|pdf)[^"]*)">([^<]+)</a>', html)
    return {kind: (markup.unescape(href), text) for href, kind, text in found}


def test_the_matrix_page_links_to_its_exports_with_its_filters_and_window(app, lms, unit):
    client = browser(app, lms)
    worker = unit["roles"]["helsefagarbeider"]
    matrix = f"/manager/units/{unit['units']['hjemmetjenesten']}/matrix"
    asked = {"job_role": str(worker), "status": ["expiring", "never_assessed"], "days": "25"}
    html = get(client, matrix, sort="-name", **asked).get_data(as_text=True)
    links = export_links(html)
    assert {kind: text for kind, (_, text) in links.items()} == {
        "csv": "Download the matrix as a CSV file",
        "xlsx": "Download the matrix as an Excel workbook",
        "pdf": "Download the competence documentation as a PDF file",
    }
    for href, _ in links.values():
        query = parse_qs(urlsplit(href).query)
        assert query["job_role"] == [str(worker)] and query["days"] == ["25"]
        assert query["status"] == ["expiring", "never_assessed"] and "sort" not in query
    followed = client.get(links["csv"][0] + "&lang=en")  # the link as it is
    assert followed.status_code == 200
    rows = read_csv(followed)
    filters = MatrixFilters(
        job_role_ids=frozenset({worker}),
        statuses=frozenset({coverage.CellStatus.EXPIRING, coverage.CellStatus.NEVER_ASSESSED}),
    )
    shown = expected(app, unit, expiring_days=25, filters=filters)
    assert {(r["Name"], r["Competence code"]): r["Status code"] for r in rows} == shown
    assert {name for name, _ in shown} == {"Cecilie Dahl", "Eva Fjell"}
    # a filter that does not read: the page shows everyone, and so do its links (in the
    # organisation's window, which an export reads when its address names none)
    bad = get(client, matrix, expect=422, status="lost").get_data(as_text=True)
    assert parse_qs(urlsplit(export_links(bad)["pdf"][0]).query) == {}


def test_the_csv_names_in_the_audit_log_exactly_the_people_it_holds(app, lms, unit):
    client = browser(app, lms)
    response = client.get(home_path(unit, "csv"), query_string={"lang": "en"}, buffered=False)
    assert response.status_code == 200
    with app.app_context():  # someone joins the unit while the file goes out
        add_person(
            unit["organisation_id"],
            "Hanne Iversen",
            unit["units"]["hjemmetjenesten"],
            [unit["roles"]["sykepleier"]],
        )
        get_session().commit()
    rows = read_csv(response)
    response.close()
    _, audited = last_export(app)
    assert audited == {r["Name"] for r in rows}
    assert audited == {"Anne Aas", "Bjørn Berg", "Cecilie Dahl", "David Eik", "Eva Fjell"}


def test_verify_writes_the_coverage_as_the_readers_language_does(app, lms, unit):
    text = pdf_text(get(browser(app, lms), home_path(unit, "pdf"), lang="nb"))
    code = text.split("Kontrollkode: ")[1].split()[0]
    assert "Dekning 27,3 %" in text  # (its no-break space made a space, as every space)
    anyone = TestLms.browser(app)
    assert "<dd>27,3\u00a0%</dd>" in get(anyone, f"/verify/{code}", lang="nb").get_data(
        as_text=True
    )
    assert "<dd>27,3\u00a0%</dd>" in get(anyone, f"/verify/{code}", lang="nn").get_data(
        as_text=True
    )
    assert "<dd>27.3%</dd>" in get(anyone, f"/verify/{code}").get_data(as_text=True)


def test_a_file_is_named_in_the_readers_language_by_its_unit(app, lms, unit):
    """Not "competence-unit-3": a manager with several units tells the files apart."""
    client = browser(app, lms)
    disposition = get(client, home_path(unit, "csv")).headers["Content-Disposition"]
    assert disposition == 'attachment; filename="competence-hjemmetjenesten-20270315-1300.csv"'
    disposition = get(client, home_path(unit, "pdf"), lang="nb").headers["Content-Disposition"]
    assert disposition == 'attachment; filename="kompetanse-hjemmetjenesten-20270315-1300.pdf"'
    whole = get(client, "/manager/export.xlsx", lang="nn").headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="kompetanse-[a-z0-9-]+-20270315-1300\.xlsx"', whole)

    with app.app_context():  # a name a header cannot carry as it is
        found = get_session().get(OrgUnit, unit["units"]["hjemmetjenesten"])
        found.name = "Hjemmetjenesten Øst"
        get_session().commit()
    disposition = get(client, home_path(unit, "csv"), lang="nb").headers["Content-Disposition"]
    assert disposition == (
        'attachment; filename="kompetanse-hjemmetjenesten-ost-20270315-1300.csv"; '
        "filename*=UTF-8''kompetanse-hjemmetjenesten-%C3%B8st-20270315-1300.csv"
    )


def test_times_and_days_are_norwegian_and_the_zone_is_named(app, lms, unit):
    # 22:30 UTC on 30 June is 00:30 on 1 July in Norway; NOW (12:00 UTC) is 13:00 there
    with app.app_context():
        org = unit["organisation_id"]
        hanne = add_person(
            org, "Hanne Iversen", unit["units"]["hjemmetjenesten"], [unit["roles"]["sykepleier"]]
        )
        ends = dt.datetime(2027, 6, 30, 22, 30, tzinfo=dt.UTC)
        add_evidence(org, hanne, unit["competences"]["legemidler"], 3, NOW - DAY, valid_until=ends)
        get_session().commit()
    client = browser(app, lms)
    response = get(client, home_path(unit, "csv"))
    assert "-20270315-1300.csv" in response.headers["Content-Disposition"]
    hanne_line = next(
        r
        for r in read_csv(response)
        if r["Name"] == "Hanne Iversen" and r["Competence code"] == "legemidler"
    )
    assert hanne_line[VALID_UNTIL] == "2027-07-01"
    assert about_sheet(get(client, home_path(unit, "xlsx")))["Exported on"] == (
        "3/15/27, 1:00\u202fPM (Europe/Oslo)"
    )
    text = pdf_text(get(client, home_path(unit, "pdf"), lang="nb"))
    assert "Eksportert 15.03.2027, 13:00 (Europe/Oslo)" in text
    code = text.split("Kontrollkode: ")[1].split()[0]
    page = get(TestLms.browser(app), f"/verify/{code}", lang="nb").get_data(as_text=True)
    assert "15. mars 2027, 13:00:00 CET" in page


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["learner", "designer"])
def test_learners_and_designers_are_refused(app, lms, unit, persona):
    client = browser(app, lms, persona)
    for kind in ("csv", "xlsx", "pdf"):
        get(client, home_path(unit, kind), expect=403)
    get(client, "/manager/export.xlsx", expect=403)


def test_a_manager_of_another_unit_gets_nothing(app, lms, unit):
    client = browser(app, lms, "designer")
    grant_manager(app, unit["organisation_id"], TEACHER, unit["units"]["sykehjemmet"])
    for kind in ("csv", "xlsx", "pdf"):
        get(client, home_path(unit, kind), expect=404)
    get(client, "/manager/export.xlsx", expect=403)  # not the whole organisation
    own = read_csv(get(client, f"/manager/units/{unit['units']['sykehjemmet']}/export.csv"))
    assert {r["Name"] for r in own} == {"Frida Gran"}


def test_an_admin_of_another_organisation_gets_nothing(app, lms, unit, platform_pem, mocked_http):
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    stranger = TestLms.browser(app)
    assert annen.landed(annen.launch(stranger, "admin"))
    for kind in ("csv", "xlsx", "pdf"):
        get(stranger, home_path(unit, kind), expect=404)
    book = load_workbook(io.BytesIO(get(stranger, "/manager/export.xlsx").get_data()))
    names = [r[0].value for r in book["Matrix"].iter_rows(min_row=2)]
    assert names == ["Demo Administrator"]  # their own organisation: themselves only


# --- cost ---------------------------------------------------------------------------------


def _unit_of(app: Any, org: int, code: str, size: int, role: int, competence: int) -> int:
    with app.app_context():
        session = get_session()
        unit_id = content.unit(org, code, code.title())
        people = add_people(org, [f"P{n} {code}" for n in range(size)], unit_id, [role])
        held = [evidence(org, p, competence, 3, NOW - n * DAY) for n, p in enumerate(people)]
        record_evidence(session, held)
        session.commit()
        return unit_id


def test_the_csv_runs_the_same_statements_for_5_or_50_people(app, lms, care):
    org, role = care["organisation_id"], care["roles"]["sykepleier"]
    med = care["competences"]["legemidler"]
    few = _unit_of(app, org, "liten", 5, role, med)
    many = _unit_of(app, org, "stor", 50, role, med)
    client = browser(app, lms)
    counts = []
    for unit_id, size in ((few, 5), (many, 50)):
        with statements_run(app) as run:
            rows = read_csv(get(client, f"/manager/units/{unit_id}/export.csv"))
        assert len({r["Name"] for r in rows}) == size
        counts.append(len(run))
        # the audit log's two: the event, and the people exported (all at once)
        assert len([s for s in run if s.startswith("INSERT INTO audit_event")]) == 2
    assert counts[0] == counts[1]


def test_writing_the_csv_keeps_memory_bounded(app, lms, care):
    org, role = care["organisation_id"], care["roles"]["sykepleier"]
    med = care["competences"]["legemidler"]
    small = _unit_of(app, org, "liten", 500, role, med)
    large = _unit_of(app, org, "stor", 2000, role, med)
    peaks = []
    with app.test_request_context(query_string={"lang": "en"}):
        session = get_session()
        someone = session.scalar(select(Person.id).limit(1))
        assert someone is not None
        for unit_id in (small, large):
            scope = unit_exports.export_scope(
                session,
                org,
                unit_id,
                None,
                filters=MatrixFilters(),
                expiring_days=30,
                now=NOW,
                exported_by_id=someone,
                locale="en",
            )
            with tempfile.TemporaryFile() as out:
                tracemalloc.start()
                written = unit_exports.write_csv(session, scope, out)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
                assert out.tell() > 0 and len(written.person_ids) in (500, 2000)
    # four times the people, not four times the memory: a batch of people at a time
    # (both a full batch) into the file, which the response then sends a chunk at a time
    assert peaks[1] < 2 * peaks[0], peaks
