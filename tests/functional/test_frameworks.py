"""Competence frameworks and job roles through the services, the database and the CLI:
drafts and publishing, import/export round trips, all-or-nothing imports, example content,
and organisation isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.errors import (
    CannotPublish,
    CompetenceCodeTaken,
    CompetenceInUse,
    CompetenceNotPublished,
    DraftExists,
    FrameworkCodeTaken,
    HierarchyCycle,
    ImportErrors,
    InvalidCode,
    InvalidRenewal,
    LevelInUse,
    NotFound,
    UnknownLevel,
    VersionNotDraft,
)
from lti_tool.interchange import moodle_csv
from lti_tool.models import (
    Competence,
    Framework,
    FrameworkVersion,
    JobRole,
    Requirement,
    ScaleLevel,
)
from lti_tool.services import framework_io, frameworks, job_roles, platforms
from lti_tool.services.frameworks import LevelInput

FAKES = Path(__file__).resolve().parents[1] / "fakes" / "frameworks"
TABLES = (Framework, FrameworkVersion, ScaleLevel, Competence, JobRole, Requirement)
SCALE = [LevelInput({"nb": "Lav"}), LevelInput({"nb": "Middels"}), LevelInput({"nb": "Høy"})]


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield get_session()


def _org(session, name: str = "Kongsberg") -> int:
    return platforms.get_or_create_organisation(session, name).id


def _counts(session) -> dict:
    return {t.__name__: session.scalar(select(func.count()).select_from(t)) for t in TABLES}


def _draft(session, org: int):
    version = frameworks.create_framework(session, org, "fw", {"nb": "Rammeverk"})
    frameworks.set_scale(session, org, version.id, SCALE)
    a = frameworks.add_competence(session, org, version.id, "A", {"nb": "Alfa"})
    b = frameworks.add_competence(session, org, version.id, "B", {"nb": "Beta"}, parent_id=a.id)
    return version, a, b


def test_drafts_change_and_published_versions_do_not(ctx):
    org = _org(ctx)
    version, a, b = _draft(ctx, org)
    with pytest.raises(FrameworkCodeTaken) as taken:
        frameworks.create_framework(ctx, org, "fw", {"nb": "Igjen"})
    with force_locale("en"):
        assert str(taken.value.message) == ("Another competence framework already has the code fw.")
    with force_locale("nn"):
        assert str(taken.value.message) == "Eit anna kompetanserammeverk har alt koden fw."
    with pytest.raises(CompetenceCodeTaken):
        frameworks.add_competence(ctx, org, version.id, "A", {"nb": "Alfa igjen"})
    with pytest.raises(HierarchyCycle):
        frameworks.move_competence(ctx, org, a.id, b.id)
    c = frameworks.add_competence(ctx, org, version.id, "C", {"nb": "Gamma"}, position=0)
    assert [x.code for x in frameworks.ordered_competences(version)] == ["C", "A", "B"]
    frameworks.move_competence(ctx, org, b.id, None, 1)
    assert [(x.code, x.position) for x in frameworks.ordered_competences(version)] == [
        ("C", 0),
        ("B", 1),
        ("A", 2),
    ]
    frameworks.delete_competence(ctx, org, c.id)
    frameworks.publish_version(ctx, org, version.id)
    for change in (
        lambda: frameworks.add_competence(ctx, org, version.id, "D", {"nb": "D"}),
        lambda: frameworks.update_competence(ctx, org, a.id, "A", {"nb": "Ny"}),
        lambda: frameworks.archive_competence(ctx, org, a.id),
        lambda: frameworks.set_scale(ctx, org, version.id, SCALE[:2]),
        lambda: frameworks.delete_competence(ctx, org, a.id),
    ):
        with pytest.raises(VersionNotDraft):
            change()


def test_publishing_needs_competences_and_two_levels(ctx):
    org = _org(ctx)
    version = frameworks.create_framework(ctx, org, "tom", {"nb": "Tom"})
    with pytest.raises(CannotPublish):
        frameworks.publish_version(ctx, org, version.id)


def test_a_new_draft_keeps_identifiers_and_hierarchy(ctx):
    org = _org(ctx)
    version, a, _ = _draft(ctx, org)
    frameworks.publish_version(ctx, org, version.id)
    draft = frameworks.start_new_draft(ctx, org, version.framework_id)
    assert draft.number == 2
    copied = {c.code: c for c in draft.competences}
    assert copied["A"].identifier == a.identifier and copied["A"].id != a.id
    assert copied["B"].parent is copied["A"]
    assert [lv.label for lv in draft.levels] == [lv.label for lv in version.levels]
    with pytest.raises(DraftExists):
        frameworks.start_new_draft(ctx, org, version.framework_id)


def test_competences_and_levels_in_use_are_archive_only(ctx):
    org = _org(ctx)
    version, a, _ = _draft(ctx, org)
    role = job_roles.create_job_role(ctx, org, "sykepleier", {"nb": "Sykepleier"})
    with pytest.raises(CompetenceNotPublished):
        job_roles.add_requirement(ctx, org, role.id, a.id, 2)
    frameworks.publish_version(ctx, org, version.id)
    with pytest.raises(UnknownLevel):
        job_roles.add_requirement(ctx, org, role.id, a.id, 4)
    with pytest.raises(InvalidRenewal):
        job_roles.add_requirement(ctx, org, role.id, a.id, 3, renewal_months=241)
    job_roles.add_requirement(ctx, org, role.id, a.id, 3, renewal_months=24)
    # A requirement pinned to a draft competence (only possible by hand) blocks deleting it.
    draft = frameworks.start_new_draft(ctx, org, version.framework_id)
    in_draft = next(c for c in draft.competences if c.code == "A")
    ctx.add(Requirement(job_role=role, competence=in_draft, required_level=3))
    ctx.flush()
    with pytest.raises(CompetenceInUse):
        frameworks.delete_competence(ctx, org, in_draft.id)
    with pytest.raises(LevelInUse):
        frameworks.set_scale(ctx, org, draft.id, SCALE[:2])
    assert frameworks.archive_competence(ctx, org, in_draft.id).archived


def test_person_requirements_are_the_union_of_the_roles(ctx):
    org = _org(ctx)
    framework_io.load_examples(ctx, org)
    roles = {r.code: r.id for r in job_roles.list_job_roles(ctx, org)}
    union = job_roles.requirements_for_roles(
        ctx, org, [roles["sykepleier"], roles["helsefagarbeider"], roles["alle-ansatte"]]
    )
    assert len(union) == 12
    dispensing = next(
        p
        for p in union
        if p.job_role_ids == tuple(sorted([roles["sykepleier"], roles["helsefagarbeider"]]))
        and p.required_level == 3
        and p.renewal_months == 24
    )
    assert dispensing.mandatory
    assert job_roles.requirements_for_roles(ctx, _org(ctx, "Drammen"), list(roles.values())) == []


def _without_kept(version):
    """The version's data without what an import keeps for the format it came from."""
    data = framework_io.version_data(version)
    data.kept = {}
    for competence in data.competences:
        competence.kept = {}
    return data


@pytest.mark.parametrize("format_name", ["moodle-csv", "case"])
def test_export_then_import_gives_back_the_framework(ctx, format_name):
    source, target = _org(ctx), _org(ctx, "Drammen")
    framework_io.load_examples(ctx, source)
    for code in ("digital-kompetanse", "informasjonssikkerhet", "legemiddelhandtering"):
        exported = framework_io.export_framework(ctx, source, code, format_name)
        imported = framework_io.import_framework(ctx, target, exported, format_name)
        original = frameworks.find_version(ctx, source, code)
        assert _without_kept(imported) == _without_kept(original)
        again = framework_io.export_framework(ctx, target, code, format_name, number=1)
        if format_name == "moodle-csv":
            assert again == exported
        else:  # the short title and the statement where CASE has them, and no notes
            for item in json.loads(again)["CFItems"]:
                ours = item["extensions"]["laeringslop"]
                assert item["abbreviatedStatement"] == ours["title"]["nb"]
                assert item["fullStatement"] == ours["description"]["nb"]
                assert "notes" not in item


def test_import_of_hand_made_files(ctx):
    org = _org(ctx)
    moodle = framework_io.import_framework(
        ctx, org, (FAKES / "moodle-export.csv").read_bytes(), "moodle-csv", publish=True
    )
    assert moodle.status.value == "published"
    assert [(c.code, c.parent.code if c.parent else None, c.position)
            for c in frameworks.ordered_competences(moodle)] == [
        ("kontor", None, 0), ("tekst", "kontor", 0), ("regneark", "kontor", 1), ("epost", None, 1)
    ]  # fmt: skip
    external = framework_io.import_framework(
        ctx, org, (FAKES / "case-external.json").read_bytes(), "case"
    )
    assert external.framework.code == "c5fb0e3a-9b0e-4c39-8d55-1a2b3c4d5e6f"
    assert [c.code for c in frameworks.ordered_competences(external)] == [
        "HY.1",
        "HY.1.1",
        "HY.1.2",
    ]
    assert external.source == "case"


def test_a_broken_file_writes_nothing_and_reports_every_problem(cli, app, tmp_path):
    cli("organisation", "add", "Kongsberg")
    broken = tmp_path / "broken.csv"
    broken.write_text(
        (FAKES / "moodle-export.csv").read_text()
        + 'nowhere,X,"Foreldreløs",,1,,,,0,null,,7,,\n'
        + ',tekst,"Dobbel",,1,,,,0,null,,8,,\n'
    )
    with app.app_context():
        before = _counts(get_session())
    result = cli("framework", "import", str(broken), "--organisation", "Kongsberg", ok=False)
    assert result.exit_code != 0
    assert "line 7: the parent nowhere does not exist" in result.output
    assert "line 8: the code tekst is used twice (also at line 4)" in result.output
    assert "Nothing imported: 2 problem(s)." in result.output
    with app.app_context():
        assert _counts(get_session()) == before


def test_cli_imports_a_case_package_as_other_tools_write_them(cli, app, tmp_path):
    """Wrapped in CFPackage, codes with spaces and repeated, an item with two parents, and
    an abbreviated statement with notes; a parent in another document is refused."""
    doc = "7d1e0000-0000-4000-8000-00000000d0c0"

    def node(identifier: str) -> dict:
        return {"title": "x", "identifier": identifier, "uri": f"https://salt.example/{identifier}"}

    def item(identifier: str, code: str, statement: str, **more: str) -> dict:
        return {"identifier": identifier, "uri": f"https://salt.example/{identifier}",
                "humanCodingScheme": code, "fullStatement": statement, "language": "nb",
                "CFDocumentURI": node(doc), "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
                **more}  # fmt: skip

    def child_of(number: int, child: str, parent: str, sequence: int) -> dict:
        return {"identifier": f"as-{number}", "uri": f"https://salt.example/as-{number}",
                "associationType": "isChildOf", "sequenceNumber": sequence,
                "originNodeURI": node(child), "destinationNodeURI": node(parent),
                "lastChangeDateTime": "2024-01-01T00:00:00+00:00"}  # fmt: skip

    package = {
        "CFPackage": {
            "CFDocument": {"identifier": doc, "uri": f"https://salt.example/{doc}",
                           "creator": "Fylket", "title": "Matematikk", "language": "nb",
                           "lastChangeDateTime": "2024-01-01T00:00:00+00:00"},
            "CFItems": [
                item("i1", "MA 1", "Tall og algebra"),
                item("i2", "MA 1.1", "Regner med brøk og desimaltall.",
                     abbreviatedStatement="Brøk", notes="Også prosent."),
                item("i3", "MA 1.1", "Løser likninger."),
                item("i4", "MA 2", "Geometri"),
            ],
            "CFAssociations": [
                child_of(1, "i1", doc, 1),
                child_of(2, "i4", doc, 2),
                child_of(3, "i2", "i1", 1),
                child_of(4, "i2", "i4", 3),
                child_of(5, "i3", "in-another-document", 1),
            ],
        }
    }  # fmt: skip
    path = tmp_path / "opensalt.json"
    path.write_text(json.dumps(package, ensure_ascii=False))
    cli("organisation", "add", "Kongsberg")
    with app.app_context():
        before = _counts(get_session())
    refused = cli("framework", "import", str(path), "--organisation", "Kongsberg",
                  "--format", "case", ok=False)  # fmt: skip
    assert (
        "CFAssociation as-5, field destinationNodeURI: the item in-another-document does "
        "not exist" in refused.output
    )
    with app.app_context():
        assert _counts(get_session()) == before
    package["CFPackage"]["CFAssociations"][4] = child_of(5, "i3", doc, 3)
    path.write_text(json.dumps(package, ensure_ascii=False))
    result = cli("framework", "import", str(path), "--organisation", "Kongsberg",
                 "--format", "case")  # fmt: skip
    assert "4 competence(s)" in result.output
    with app.app_context():
        session = get_session()
        org = _org(session)
        version = frameworks.find_version(session, org, doc)
        assert [(c.code, c.parent.code if c.parent else None)
                for c in frameworks.ordered_competences(version)] == [
            ("MA 1", None), ("MA 1.1", "MA 1"), ("MA 2", None), ("i3", None)
        ]  # fmt: skip
        fraction = next(c for c in version.competences if c.code == "MA 1.1")
        assert fraction.title == {"nb": "Brøk"}
        assert fraction.description == {"nb": "Regner med brøk og desimaltall."}
        assert fraction.kept["case"]["fields"]["notes"] == "Også prosent."


def test_cli_import_export_and_examples(cli, tmp_path):
    cli("organisation", "add", "Kongsberg")
    cli("organisation", "add", "Drammen")
    loaded = cli("content", "load-examples", "--organisation", "Kongsberg").output
    assert "Loaded 3 framework(s) and 4 job role(s)" in loaded
    again = cli("content", "load-examples", "--organisation", "Kongsberg").output
    assert "Loaded 0 framework(s) and 0 job role(s)" in again
    out = tmp_path / "lm.json"
    cli("framework", "export", "legemiddelhandtering", "--organisation", "Kongsberg",
        "--format", "case", "--output", str(out))  # fmt: skip
    imported = cli("framework", "import", str(out), "--organisation", "Drammen", "--publish")
    assert (
        "legemiddelhandtering version 1 (published): 6 competence(s), 4 level(s)" in imported.output
    )
    roles = tmp_path / "roles.json"
    cli("job-role", "export", "--organisation", "Kongsberg", "--output", str(roles))
    refused = cli("job-role", "import", str(roles), "--organisation", "Drammen", ok=False)
    assert "there is no version 1 of the framework informasjonssikkerhet" in refused.output
    listed = cli("framework", "list", "--organisation", "Drammen").output
    assert "legemiddelhandtering\t1 published" in listed


def test_job_roles_round_trip(ctx):
    source, target = _org(ctx), _org(ctx, "Drammen")
    framework_io.load_examples(ctx, source)
    for code in ("digital-kompetanse", "informasjonssikkerhet", "legemiddelhandtering"):
        data = framework_io.export_framework(ctx, source, code, "case")
        framework_io.import_framework(ctx, target, data, "case", publish=True)
    exported = framework_io.export_job_roles(ctx, source)
    framework_io.import_job_roles(ctx, target, exported)
    assert framework_io.export_job_roles(ctx, target) == exported
    before = _counts(ctx)
    with pytest.raises(ImportErrors) as refused:
        framework_io.import_job_roles(ctx, target, exported)
    assert len(refused.value.problems) == 4
    assert _counts(ctx) == before


def test_another_organisation_cannot_read_export_or_change(ctx):
    org, other = _org(ctx), _org(ctx, "Drammen")
    version, a, _ = _draft(ctx, org)
    role = job_roles.create_job_role(ctx, org, "r", {"nb": "R"})
    for attempt in (
        lambda: frameworks.get_framework(ctx, other, version.framework_id),
        lambda: frameworks.get_version(ctx, other, version.id),
        lambda: frameworks.get_competence(ctx, other, a.id),
        lambda: frameworks.find_framework(ctx, other, "fw"),
        lambda: framework_io.export_framework(ctx, other, "fw", "case"),
        lambda: frameworks.update_competence(ctx, other, a.id, "A", {"nb": "X"}),
        lambda: frameworks.publish_version(ctx, other, version.id),
        lambda: frameworks.start_new_draft(ctx, other, version.framework_id),
        lambda: job_roles.get_job_role(ctx, other, role.id),
        lambda: job_roles.add_requirement(ctx, other, role.id, a.id, 1),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert frameworks.list_frameworks(ctx, other) == []


def test_competence_codes_may_have_inner_spaces_as_other_tools_write_them(ctx):
    """An imported "DIG 1.1" stays editable; framework codes stay without spaces."""
    org = _org(ctx)
    version, a, _ = _draft(ctx, org)
    spaced = frameworks.add_competence(ctx, org, version.id, "DIG 1.1", {"nb": "Med mellomrom"})
    frameworks.update_competence(ctx, org, spaced.id, "DIG 1.2", {"nb": "Endret"})
    assert spaced.code == "DIG 1.2"
    with pytest.raises(InvalidCode):
        frameworks.update_competence(ctx, org, a.id, "", {"nb": "Tom"})
    with pytest.raises(InvalidCode):
        frameworks.create_framework(ctx, org, "fw 2", {"nb": "Mellomrom"})


def test_a_case_package_comes_back_as_it_was_through_the_database(cli, app, tmp_path):
    """Item types, notes, statements, URIs, dates, the association to another framework
    and the rubric: what the tool does not use is kept and written back."""
    source = FAKES / "case-external.json"
    cli("organisation", "add", "Kongsberg")
    result = cli("framework", "import", str(source), "--organisation", "Kongsberg")
    kept = [line for line in result.output.splitlines() if line.startswith("Kept for export:")]
    assert len(kept) == 3 and "CFItemType" in kept[0]
    out = tmp_path / "out.json"
    cli("framework", "export", "c5fb0e3a-9b0e-4c39-8d55-1a2b3c4d5e6f", "--organisation",
        "Kongsberg", "--format", "case", "--output", str(out))  # fmt: skip
    assert json.loads(out.read_text()) == json.loads(source.read_text())


def test_a_moodle_export_through_the_cli_lists_what_was_kept(cli, tmp_path):
    source = FAKES / "moodle-full-export.csv"
    cli("organisation", "add", "Kongsberg")
    result = cli("framework", "import", str(source), "--organisation", "Kongsberg")
    assert len([line for line in result.output.splitlines() if "Kept for export:" in line]) == 6
    out = tmp_path / "out.csv"
    cli("framework", "export", "DK", "--organisation", "Kongsberg", "--format", "moodle-csv",
        "--output", str(out))  # fmt: skip
    assert out.read_bytes() == source.read_bytes()


def test_a_renamed_competence_keeps_its_cross_references_and_rule(ctx):
    org = _org(ctx)
    source = (FAKES / "moodle-full-export.csv").read_bytes()
    version = framework_io.import_framework(ctx, org, source, "moodle-csv", publish=True)
    draft = frameworks.start_new_draft(ctx, org, version.framework_id)
    privacy = next(c for c in draft.competences if c.code == "DK-3")
    frameworks.update_competence(
        ctx, org, privacy.id, "DK-3x", privacy.title, {"nb": "Ny beskrivelse."}
    )
    exported = framework_io.export_framework(ctx, org, "DK", "moodle-csv", draft.number)
    lines = exported.decode().splitlines()
    assert ',DK-1,"Endring og innovasjon",' in lines[5]
    assert lines[5].endswith(",2,null,DK-3x,11,,")
    assert lines[9] == (
        ',DK-3x,"Personvern, taushetsplikt og informasjonssikkerhet","Ny beskrivelse.",2,'
        '"Nei,Ja","[{""scaleid"":4},{""id"":2,""scaledefault"":1,""proficient"":1}]",,0,null,'
        '"DK-1,DK-4%2CA",14,,'
    )
    # the first version is unchanged, and still gives Moodle's file back
    assert framework_io.export_framework(ctx, org, "DK", "moodle-csv", 1) == source


EXTERNAL = FAKES / "external"


@pytest.mark.parametrize(
    "name",
    [
        "opensalt-ItemTypeTestFramework.json",
        "opensalt-MarkdownFramework.json",
        "opensalt-ordering-excerpt.json",
    ],
)
def test_opensalts_own_case_packages_come_back_equal(cli, tmp_path, name):
    """OpenSALT's packages (no document language, an item type with its definition,
    Markdown with CR LF, empty short statements and notes, an item without isChildOf)
    through the CLI: the export is the package, nothing added or left out."""
    source = EXTERNAL / name
    document = json.loads(source.read_text())["CFDocument"]["identifier"]
    cli("organisation", "add", "Kongsberg")
    cli("framework", "import", str(source), "--organisation", "Kongsberg", "--format", "case")
    out = tmp_path / "out.json"
    cli("framework", "export", document, "--organisation", "Kongsberg", "--format", "case",
        "--output", str(out))  # fmt: skip
    assert json.loads(out.read_text()) == json.loads(source.read_text())


MOODLE_EXAMPLE = EXTERNAL / "moodle-lpimportcsv-example.csv"


def _moodle_round_trip(cli, tmp_path, data: bytes) -> bytes:
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    cli("organisation", "add", "Kongsberg")
    result = cli("framework", "import", str(source), "--organisation", "Kongsberg")
    assert "64 competence(s), 2 level(s)" in result.output
    out = tmp_path / "out.csv"
    cli("framework", "export", "OECD-CORE", "--organisation", "Kongsberg", "--format",
        "moodle-csv", "--output", str(out))  # fmt: skip
    return out.read_bytes()


def test_moodles_own_example_comes_back_byte_for_byte(cli, tmp_path):
    """The file Moodle's tests import: Moodle 3.1's column names, short names ending in a
    space, CR LF inside the HTML descriptions, cross-references before their targets."""
    data = MOODLE_EXAMPLE.read_bytes()
    assert _moodle_round_trip(cli, tmp_path, data) == data


def test_moodles_example_saved_by_excel_or_named_in_norwegian_is_read(cli, tmp_path):
    """A byte order mark and CR LF after each row (as Excel saves it) are read as Moodle
    reads them, and the export is Moodle's file again; column names in another language
    (Moodle writes them in the exporting user's) are read by position and kept."""
    text = MOODLE_EXAMPLE.read_bytes().decode()
    rest = text.split("\n", 1)[1]
    norwegian = (
        "Foreldrens ID-nummer,ID-nummer,Kortnavn,Beskrivelse,Beskrivelsesformat,Skalaverdier,"
        "Skalaoppsett,Regeltype,Regelutfall,Regeloppsett,Kryssreferanser,Eksport-ID,"
        "Er rammeverk,Taksonomi"
    )
    excel = ("\ufeff" + norwegian + "\n" + rest).replace("\r\n", "\n").replace("\n", "\r\n")
    exported = _moodle_round_trip(cli, tmp_path, excel.encode())
    assert exported.decode() == moodle_csv.write_row(norwegian.split(",")) + rest


def _line_of(text: str, start: str) -> int:
    return text[: text.index(start)].count("\n") + 1


@pytest.mark.parametrize(
    ("change", "row", "message"),
    [
        (("null,level-1,26,", "null,level-9,26,"), "analytical-thinking,DR-AT1",
         "the cross-referenced competence level-9 does not exist"),
        ((",0,null,level-1,27,", ',0,"{""op"":",level-1,27,'), "analytical-thinking,DR-AT-2",
         "the rule configuration is not JSON"),
        (("0,null,,11,,\n", "0,null,,11,\n"), "delivery,analytical-thinking",
         "the row has 13 values, but the header row has 14"),
        (("Shortname,Description", "Description,Shortname"), '"Parent id number"',
         "column 3 is “Description”, but Moodle reads its columns by position and reads "
         "column 3 as “Short name”"),
        (("null,level-1,64,,\n", 'null,level-1,64,,\n,x,"Uten slutt,,1,,,,0,null,,65,,\n'),
         ",x,", "a quoted value is never closed"),
        (("levels,level-2,", "nowhere,level-2,"), "nowhere,level-2",
         "the parent nowhere does not exist"),
    ],
)  # fmt: skip
def test_malformed_variants_of_moodles_example_are_refused(
    cli, app, tmp_path, change, row, message
):
    text = MOODLE_EXAMPLE.read_bytes().decode()
    assert change[0] in text
    broken = text.replace(change[0], change[1], 1)
    path = tmp_path / "broken.csv"
    path.write_bytes(broken.encode())
    cli("organisation", "add", "Kongsberg")
    with app.app_context():
        before = _counts(get_session())
    result = cli("framework", "import", str(path), "--organisation", "Kongsberg", ok=False)
    assert result.exit_code != 0
    assert f"line {_line_of(broken, row)}: {message}" in result.output
    with app.app_context():
        assert _counts(get_session()) == before


def _markdown_package_with(change: str) -> str:
    package = json.loads((EXTERNAL / "opensalt-MarkdownFramework.json").read_text())
    first, second = package["CFAssociations"]
    if change == "unknown destination":
        first["destinationNodeURI"]["identifier"] = "ffffffff-0000-4000-8000-000000000000"
    elif change == "unknown origin":
        second["originNodeURI"]["identifier"] = "eeeeeeee-0000-4000-8000-000000000000"
    elif change == "its own parent":
        first["destinationNodeURI"] = dict(first["originNodeURI"])
    elif change == "no statement":
        del package["CFItems"][1]["fullStatement"]
    else:  # cut short
        return json.dumps(package)[:-40]
    return json.dumps(package)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unknown destination",
         "CFAssociation a5eb02f4-b8df-11e7-b06e-b17e31351e5a, field destinationNodeURI: the "
         "item ffffffff-0000-4000-8000-000000000000 does not exist"),
        ("unknown origin",
         "CFAssociation c496e718-b8df-11e7-b712-1f8220b52d15, field originNodeURI: the item "
         "eeeeeeee-0000-4000-8000-000000000000 does not exist"),
        ("its own parent",
         "CFItem a5eafca0-b8df-11e7-8d17-8dc52d8205bc: MD.Math is its own ancestor: the "
         "parents form a loop"),
        ("no statement",
         "CFItem a5eafca0-b8df-11e7-8d17-8dc52d8205bc, field fullStatement: required, and "
         "missing or empty"),
        ("cut short", "the file is not valid JSON"),
    ],
)  # fmt: skip
def test_malformed_variants_of_an_opensalt_package_are_refused(cli, app, tmp_path, change, message):
    path = tmp_path / "broken.json"
    path.write_text(_markdown_package_with(change))
    cli("organisation", "add", "Kongsberg")
    with app.app_context():
        before = _counts(get_session())
    result = cli("framework", "import", str(path), "--organisation", "Kongsberg", ok=False)
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert _counts(get_session()) == before
