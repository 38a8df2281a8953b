"""Reading and checking framework files, without a database: Moodle CSV, CASE, job roles."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel

from lti_tool.interchange import case, job_roles_json, moodle_csv
from lti_tool.interchange.model import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ITEMS,
    CompetenceData,
    FrameworkData,
    LevelData,
    validate_framework,
)

FAKES = Path(__file__).resolve().parents[1] / "fakes" / "frameworks"
HEADER = ",".join(f'"{h}"' for h in moodle_csv.HEADERS)
SCALE_CONFIGURATION = (
    '"[{""scaleid"":""1""},{""id"":1,""scaledefault"":1,""proficient"":0},'
    '{""id"":3,""scaledefault"":0,""proficient"":1}]"'
)
FRAMEWORK_ROW = f',FW,"Rammeverk",,1,"Lav,Middels,Høy",{SCALE_CONFIGURATION},,,,,,1,'


@pytest.fixture(autouse=True)
def english():
    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "en")
    with app.app_context():
        yield


def _messages(problems) -> list[str]:
    return [str(p) for p in problems]


def _sample() -> FrameworkData:
    return FrameworkData(
        code="fw",
        title={"nb": "Rammeverk", "nn": "Rammeverk", "en": "Framework"},
        description={"nb": "Om, med komma", "en": "About"},
        identifier="0b7c1c9e-2d2e-4c1e-9b7e-4b8f0c1d2e3f",
        levels=[
            LevelData(1, {"nb": "Lav, litt", "en": "Low"}, {"nb": "Første"}),
            LevelData(2, {"nb": "Høy"}, {}),
        ],
        competences=[
            CompetenceData("A", None, "A", {"nb": "Alfa", "nn": "Alfa", "en": "Alpha"},
                           {"nb": "Linje 1\nLinje 2"}, "https://lovdata.no/x", "id-a"),
            CompetenceData("A.1", "A", "A.1", {"en": "Only English"}, {}, None, "id-a1",
                           archived=True),
            CompetenceData("B", None, "B", {"nb": "Beta"}, {}, None, "id-b"),
        ],
    )  # fmt: skip


def _comparable(data: FrameworkData) -> dict:
    return {
        "code": data.code,
        "title": data.title,
        "description": data.description,
        "identifier": data.identifier,
        "levels": [(lv.value, lv.label, lv.description) for lv in data.levels],
        "competences": [
            (c.code, c.parent_key, c.title, c.description, c.external_ref, c.identifier,
             c.archived)
            for c in data.competences
        ],
    }  # fmt: skip


def test_moodle_csv_round_trip_is_exact():
    parsed, problems = moodle_csv.parse(moodle_csv.dump(_sample()))
    assert problems == []
    assert _comparable(parsed) == _comparable(_sample())


def test_moodle_csv_export_has_moodles_columns_and_scale():
    text = moodle_csv.dump(_sample()).decode()
    rows = text.splitlines()
    moodles_header = (FAKES / "moodle-export.csv").read_text().splitlines()[0]
    assert rows[0] == moodles_header + ',"Læringsløp data (optional)"'
    assert ',"Lav; litt,Høy",' in rows[1]
    assert '{""id"":1,""scaledefault"":1,""proficient"":0}' in rows[1]


def test_case_round_trip_is_exact():
    data = _sample()
    data.competences[1].parent_key = "id-a"  # CASE names parents by identifier
    for c in data.competences:
        c.key = c.identifier
    parsed, problems = case.parse(case.dump(data))
    assert problems == []
    for c in parsed.competences:
        c.sequence = None
    assert _comparable(parsed) == _comparable(data)


def test_a_moodle_export_in_moodles_own_shape_is_read():
    data, problems = moodle_csv.parse((FAKES / "moodle-export.csv").read_bytes(), "nn")
    assert problems == []
    assert data.code == "IKT-GRUNN"
    assert data.title == {"nn": "IKT-grunnkompetanse"}
    assert data.description == {"nn": "Grunnleggende digitale ferdigheter for ansatte i kommunen."}
    assert [lv.label for lv in data.levels] == [
        {"nn": "Ikke kompetent"},
        {"nn": "Delvis kompetent"},
        {"nn": "Kompetent"},
    ]
    assert [(c.code, c.parent_key) for c in data.competences] == [
        ("kontor", None),
        ("tekst", "kontor"),
        ("regneark", "kontor"),
        ("epost", None),
    ]
    assert data.competences[1].description == {
        "nn": "Lager og redigerer dokumenter\nmed maler og stiler."
    }
    assert data.competences[2].description == {"nn": "Enkle formler & tabeller."}
    assert validate_framework(data) == []


def test_semicolons_and_a_byte_order_mark_are_accepted():
    text = (HEADER + "\n" + FRAMEWORK_ROW + "\n,K1,Kompetanse,,1,,,,,,,,,\n").replace(",", ";")
    text = text.replace('"Lav;Middels;Høy"', '"Lav,Middels,Høy"')
    text = text.replace(SCALE_CONFIGURATION.replace(",", ";"), SCALE_CONFIGURATION)
    data, problems = moodle_csv.parse(b"\xef\xbb\xbf" + text.encode())
    assert problems == []
    assert [c.code for c in data.competences] == ["K1"]
    assert len(data.levels) == 3


def test_every_problem_is_reported_with_its_line():
    text = "\n".join([
        HEADER,
        FRAMEWORK_ROW,
        ",A,Alfa,,1,,,,,,,,,",
        ",A,Alfa igjen,,1,,,,,,,,,",
        "X,B,Beta,,1,,,,,,,,,",
        "D,C,Gamma,,1,,,,,,,,,",
        "C,D,Delta,,1,,,,,,,,,",
        f",{'E' * 101},Epsilon,,1,,,,,,,,,",
        ",F,,,1,,,,,,,,,",
    ])  # fmt: skip
    data, problems = moodle_csv.parse(text.encode())
    assert problems == []
    messages = _messages(validate_framework(data))
    assert any(
        m.startswith("line 4:") and "A is used twice (also at line 3)" in m for m in messages
    )
    assert any(m.startswith("line 5:") and "parent X does not exist" in m for m in messages)
    assert any(m.startswith("line 6:") and "loop" in m for m in messages)
    assert any(m.startswith("line 7:") and "loop" in m for m in messages)
    assert any(m.startswith("line 8:") and "no control characters" in m for m in messages)
    assert any(m.startswith("line 9:") and "no title" in m for m in messages)
    assert len(messages) == 6


def test_bad_encoding_names_the_line():
    good = (HEADER + "\n" + FRAMEWORK_ROW + "\n").encode()
    parsed, problems = moodle_csv.parse(good + ",K,Kl\xe6r,,1,,,,,,,,,\n".encode("latin-1"))
    assert parsed is None
    assert _messages(problems) == [
        f"line 3: the file is not UTF-8 text (byte {len(good) + 6}). Save it as UTF-8 and "
        "try again."
    ]


def test_limits():
    parsed, problems = moodle_csv.parse(b"x" * (MAX_IMPORT_BYTES + 1))
    assert parsed is None and "most that can be imported" in _messages(problems)[0]
    rows = [HEADER, FRAMEWORK_ROW] + [f",K{n},K,,1,,,,,,,,," for n in range(MAX_IMPORT_ITEMS + 1)]
    parsed, problems = moodle_csv.parse("\n".join(rows).encode())
    assert parsed is None and "most one import can hold is 5000" in _messages(problems)[0]


def test_missing_columns_and_framework_row():
    _, problems = moodle_csv.parse(b"a,b\n1,2\n")
    assert "lacks the column(s)" in _messages(problems)[0]
    _, problems = moodle_csv.parse((HEADER + "\n,K,Kompetanse,,1,,,,,,,,,\n").encode())
    assert "Is framework" in _messages(problems)[0]


def test_an_external_case_package_is_read_in_its_language():
    data, problems = case.parse((FAKES / "case-external.json").read_bytes())
    assert problems == []
    assert data.identifier == "c5fb0e3a-9b0e-4c39-8d55-1a2b3c4d5e6f"
    assert data.title == {"nb": "Hygiene i helsetjenesten"}
    by_code = {c.code: c for c in data.competences}
    assert by_code["HY.1.2"].title == {"nb": "Håndhygiene"}
    assert by_code["HY.1.2"].description == {
        "nb": "Utfører håndhygiene etter WHOs fem indikasjoner."
    }
    assert by_code["HY.1.1"].description == {}  # the notes are not the description
    assert by_code["HY.1.1"].kept["case"]["fields"]["notes"] == "Hansker, frakk, munnbind."
    assert by_code["HY.1"].kept["case"]["fields"]["CFItemType"] == "Domain"
    assert by_code["HY.1.1"].parent_key == by_code["HY.1"].key
    assert by_code["HY.1.1"].external_ref.startswith("https://case.example.no/")
    assert [lv.label for lv in data.levels] == [{"nb": "Under opplæring"}, {"nb": "Mestrer"}]
    assert validate_framework(data) == []


def test_case_problems_name_the_item_and_field():
    package = json.loads((FAKES / "case-external.json").read_text())
    package["CFItems"][1]["fullStatement"] = ""
    package["CFAssociations"][1]["originNodeURI"]["identifier"] = "nowhere"
    package["CFAssociations"][2]["destinationNodeURI"]["identifier"] = (
        "0e1f0000-0000-4000-8000-000000000003"
    )
    data, problems = case.parse(json.dumps(package).encode())
    messages = _messages(problems) + _messages(validate_framework(data))
    assert (
        "CFItem 0e1f0000-0000-4000-8000-000000000002, field fullStatement: "
        "required, and missing or empty" in messages
    )
    assert any(
        "CFAssociation a0000000-0000-4000-8000-000000000002, field originNodeURI" in m
        and "nowhere" in m
        for m in messages
    )
    assert any(
        m.startswith("CFItem 0e1f0000-0000-4000-8000-000000000003: HY.1.1 is its own ancestor")
        for m in messages
    )


def test_not_a_case_package():
    assert "not valid JSON" in _messages(case.parse(b"{")[1])[0]
    assert "no CFDocument" in _messages(case.parse(b"[]")[1])[0]


def test_job_roles_json_round_trip_and_problems():
    roles = [
        job_roles_json.JobRoleData("r", {"nb": "R"}, {}, False, [
            job_roles_json.RequirementData("fw", 1, "A", 2, True, 24),
        ]),
    ]  # fmt: skip
    parsed, problems = job_roles_json.parse(job_roles_json.dump(roles))
    assert problems == []
    assert parsed[0].requirements[0].renewal_months == 24
    bad = {
        "job_roles": [
            {
                "code": "r",
                "title": {},
                "requirements": [{"framework": "fw", "required_level": "x"}],
            },
            {"code": "r", "title": {"nb": "R"}},
        ]
    }
    _, problems = job_roles_json.parse(json.dumps(bad).encode())
    messages = _messages(problems)
    assert "field job_roles[0].title: the job role has no title" in messages
    assert (
        "field job_roles[0].requirements[0].competence: required, and missing or empty" in messages
    )
    assert (
        "field job_roles[0].requirements[0].required_level: a whole number from 1 to 10 is needed"
        in messages
    )
    assert any(m.startswith("field job_roles[1].code: the code r is used twice") for m in messages)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("required_level", 0, "a whole number from 1 to 10 is needed"),
        ("required_level", 11, "a whole number from 1 to 10 is needed"),
        ("required_level", True, "a whole number from 1 to 10 is needed"),
        ("required_level", 2.5, "a whole number from 1 to 10 is needed"),
        ("framework_version", 0, "a whole number from 1 to 2147483647 is needed"),
        ("framework_version", 10**20, "a whole number from 1 to 2147483647 is needed"),
        ("renewal_months", 0, "a whole number from 1 to 240, or null, is needed"),
        ("renewal_months", 241, "a whole number from 1 to 240, or null, is needed"),
        ("renewal_months", -(10**20), "a whole number from 1 to 240, or null, is needed"),
        ("renewal_months", "12", "a whole number from 1 to 240, or null, is needed"),
    ],
)
def test_job_roles_json_refuses_numbers_out_of_range_naming_where(field, value, problem):
    requirement = {
        "framework": "fw",
        "framework_version": 1,
        "competence": "A",
        "required_level": 2,
        "renewal_months": 24,
        field: value,
    }
    document = {"job_roles": [{"code": "r", "title": {"nb": "R"}, "requirements": [requirement]}]}
    parsed, problems = job_roles_json.parse(json.dumps(document).encode())
    assert _messages(problems) == [f"field job_roles[0].requirements[0].{field}: {problem}"]
    assert parsed[0].requirements == []


def test_job_roles_json_takes_the_ends_of_each_range():
    requirement = {"framework": "fw", "competence": "A", "mandatory": False}
    document = {
        "job_roles": [
            {
                "code": "r",
                "title": {"nb": "R"},
                "requirements": [
                    {**requirement, "framework_version": 1, "required_level": 1},
                    {
                        **requirement,
                        "framework_version": 2**31 - 1,
                        "required_level": 10,
                        "renewal_months": 240,
                    },
                    {
                        **requirement,
                        "framework_version": 1,
                        "required_level": 1,
                        "renewal_months": 1,
                    },
                ],
            }
        ]
    }
    parsed, problems = job_roles_json.parse(json.dumps(document).encode())
    assert problems == []
    assert [r.renewal_months for r in parsed[0].requirements] == [None, 240, 1]


# --- real-world files (OpenSALT, CASE Network, Moodle) -------------------------------------

DOC = "9a1b2c3d-0000-4000-8000-00000000d0c0"


def _node(identifier: str, title: str = "x") -> dict:
    return {
        "title": title,
        "identifier": identifier,
        "uri": f"https://salt.example/uri/{identifier}",
    }


def _child_of(number: int, child: str, parent: str, sequence: int | None = None) -> dict:
    association = {
        "identifier": f"a{number}",
        "uri": f"https://salt.example/uri/a{number}",
        "associationType": "isChildOf",
        "originNodeURI": _node(child),
        "destinationNodeURI": _node(parent),
        "CFDocumentURI": _node(DOC),
        "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
    }
    if sequence is not None:
        association["sequenceNumber"] = sequence
    return association


def _item(identifier: str, code: str | None, statement: str, **more: str) -> dict:
    item = {
        "identifier": identifier,
        "uri": f"https://salt.example/uri/{identifier}",
        "fullStatement": statement,
        "CFDocumentURI": _node(DOC),
        "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
        **more,
    }
    if code is not None:
        item["humanCodingScheme"] = code
    return item


def _package(items: list[dict], associations: list[dict]) -> dict:
    """A small package shaped like OpenSALT's and CASE Network's exports."""
    return {
        "CFDocument": {
            "identifier": DOC,
            "uri": f"https://salt.example/uri/{DOC}",
            "creator": "Fylket",
            "title": "Matematikk",
            "humanCodingScheme": "MA 2020",
            "language": "en",
            "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
        },
        "CFItems": items,
        "CFAssociations": associations,
        "CFDefinitions": {"CFConcepts": [], "CFSubjects": [], "CFItemTypes": []},
    }


def _read(package: dict) -> FrameworkData:
    data, problems = case.parse(json.dumps(package).encode())
    assert problems == []
    assert validate_framework(data) == []
    return data


def _tree(data: FrameworkData) -> list[tuple[str, str | None]]:
    codes = {c.key: c.code for c in data.competences}
    return [(c.code, codes.get(c.parent_key) if c.parent_key else None) for c in data.competences]


def test_codes_may_have_inner_spaces():
    text = "\n".join([
        HEADER,
        FRAMEWORK_ROW,
        ",DIG 1,Digital kompetanse,,1,,,,,,,,,",
        '"DIG 1"," DIG 1.1 ",E-post,,1,,,,,,,,,',
    ])  # fmt: skip
    data, problems = moodle_csv.parse(text.encode())
    assert problems == []
    assert validate_framework(data) == []
    assert [(c.code, c.parent_key) for c in data.competences] == [
        ("DIG 1", None),
        ("DIG 1.1", "DIG 1"),
    ]
    package = _package(
        [_item("i1", "MA 1", "Tall"), _item("i2", "MA 1.1", "Brøk")],
        [_child_of(1, "i1", DOC), _child_of(2, "i2", "i1")],
    )
    assert _tree(_read(package)) == [("MA 1", None), ("MA 1.1", "MA 1")]


def test_codes_are_refused_only_when_empty_too_long_or_with_control_characters():
    for code in ("A 1", "Æ-1 b", "x" * 100):
        data = FrameworkData("fw", {"nb": "F"}, competences=[
            CompetenceData(code, None, code, {"nb": "T"}),
        ])  # fmt: skip
        assert validate_framework(data) == [], code
    for code in ("", "A\t1", "A\x001", "x" * 101, " A"):
        data = FrameworkData("fw", {"nb": "F"}, competences=[
            CompetenceData("k", None, code, {"nb": "T"}),
        ])  # fmt: skip
        assert "no control characters" in _messages(validate_framework(data))[0], code


def test_moodle_csv_duplicate_codes_are_still_refused():
    text = "\n".join([HEADER, FRAMEWORK_ROW, ",DIG 1,A,,1,,,,,,,,,", ",DIG 1,B,,1,,,,,,,,,"])
    data, problems = moodle_csv.parse(text.encode())
    assert problems == []
    assert any("DIG 1 is used twice" in m for m in _messages(validate_framework(data)))


def test_a_case_coding_scheme_that_cannot_be_a_code_gives_way_to_the_identifier():
    package = _package([_item("i1", "K" * 101, "Lang kode")], [_child_of(1, "i1", DOC)])
    assert [c.code for c in _read(package).competences] == ["i1"]


def test_a_repeated_case_coding_scheme_keeps_the_first_and_gives_the_rest_their_identifier():
    package = _package(
        [_item("i1", "MA 1", "Tall"), _item("i2", "MA 1", "Algebra"), _item("i3", "MA 1", "Geo")],
        [_child_of(1, "i1", DOC), _child_of(2, "i2", DOC), _child_of(3, "i3", DOC)],
    )
    assert [c.code for c in _read(package).competences] == ["MA 1", "i2", "i3"]


def test_a_case_item_with_two_parents_keeps_the_lowest_sequence_number_else_the_first():
    items = [_item("p1", "P1", "En"), _item("p2", "P2", "To"), _item("c", "C", "Barn")]
    top = [_child_of(1, "p1", DOC, 1), _child_of(2, "p2", DOC, 2)]
    numbered = _package(items, [*top, _child_of(3, "c", "p1", 5), _child_of(4, "c", "p2", 2)])
    data = _read(numbered)
    assert _tree(data) == [("P1", None), ("P2", None), ("C", "P2")]
    assert data.competences[2].sequence == 2
    unnumbered = _package(items, [*top, _child_of(3, "c", "p2"), _child_of(4, "c", "p1")])
    assert _tree(_read(unnumbered)) == [("P1", None), ("P2", None), ("C", "P2")]


def test_a_case_association_to_what_is_not_in_the_package_is_refused_by_name():
    package = _package(
        [_item("i1", "MA 1", "Tall"), _item("i2", "MA 1.1", "Brøk")],
        [_child_of(1, "i1", DOC), _child_of(2, "i2", "in-another-document")],
    )
    _, problems = case.parse(json.dumps(package).encode())
    assert _messages(problems) == [
        "CFAssociation a2, field destinationNodeURI: the item in-another-document does not exist"
    ]
    related = _child_of(3, "nowhere", "nor-here") | {"associationType": "isRelatedTo"}
    package["CFAssociations"] = [_child_of(1, "i1", DOC), _child_of(2, "i2", "i1"), related]
    _, problems = case.parse(json.dumps(package).encode())
    assert _messages(problems) == [
        "CFAssociation a3, field originNodeURI: the item nowhere does not exist"
    ]


def test_a_case_full_statement_is_the_description_when_the_abbreviated_one_is_the_title():
    package = _package(
        [
            _item("i1", "A", "Full tekst.", abbreviatedStatement="Kort", notes="Merknad."),
            _item("i2", "B", "Bare full.", notes="Merknad."),
            _item("i3", "C", "Lik.", abbreviatedStatement="Lik."),
        ],
        [_child_of(n, f"i{n}", DOC) for n in (1, 2, 3)],
    )
    by_code = {c.code: c for c in _read(package).competences}
    assert by_code["A"].title == {"en": "Kort"}
    assert by_code["A"].description == {"en": "Full tekst."}
    assert by_code["B"].title == {"en": "Bare full."}
    assert by_code["B"].description == {}
    assert by_code["B"].kept["case"]["fields"]["notes"] == "Merknad."
    assert by_code["C"].title == {"en": "Lik."}
    assert by_code["C"].description == {}


def test_a_wrapped_case_package_is_read():
    package = _package([_item("i1", "MA 1", "Tall")], [_child_of(1, "i1", DOC)])
    data = _read({"CFPackage": package})
    assert data.identifier == DOC
    assert data.code == DOC  # "MA 2020" cannot be a framework's code (no spaces)
    assert [c.code for c in data.competences] == ["MA 1"]


def test_codes_with_spaces_round_trip():
    data = FrameworkData("fw", {"nb": "F"}, identifier="d", competences=[
        CompetenceData("id-1", None, "DIG 1", {"nb": "En"}, identifier="id-1"),
        CompetenceData("id-2", "id-1", "DIG 1.1", {"nb": "To"}, identifier="id-2"),
    ])  # fmt: skip
    parsed, problems = case.parse(case.dump(data))
    assert problems == [] and _comparable(parsed) == _comparable(data)
    for c in data.competences:
        c.key = c.code
    data.competences[1].parent_key = "DIG 1"
    parsed, problems = moodle_csv.parse(moodle_csv.dump(data))
    assert problems == [] and _comparable(parsed) == _comparable(data)


# --- Moodle's own exports, kept whole -------------------------------------------------------

FULL = FAKES / "moodle-full-export.csv"


def test_a_full_moodle_export_comes_back_byte_for_byte():
    """HTML descriptions (commas, quotes, line breaks, a backslash before a quote), a
    scale whose default is not its first value, taxonomies, rules with their
    configuration, cross-references (one ID number with a comma), a competence's own
    scale, and rows not in tree order."""
    raw = FULL.read_bytes()
    data, problems = moodle_csv.parse(raw)
    assert problems == [] and validate_framework(data) == []
    assert moodle_csv.dump(data) == raw
    by_code = {c.code: c for c in data.competences}
    assert by_code["DK-1"].description == {
        "nb": 'Kan lede endring og involvere "de rette" personene.'
    }
    assert by_code["DK-1.2"].description == {"nb": "Linje én\nLinje to"}
    assert (
        by_code["DK-2"].kept["moodle-csv"]["ruletype"] == "core_competency\\competency_rule_points"
    )
    assert by_code["DK-3"].related == ["DK-1", "DK-4,A"]
    assert data.kept["moodle-csv"]["taxonomies"] == "domain,competency,skill"
    links = sum(len(c.related) for c in data.competences)
    summary = moodle_csv.summary(data.kept, [c.kept for c in data.competences], links)
    assert [str(line) for line in summary] == [
        "2 competency rules kept for export, not evaluated by the tool.",
        "4 cross-references between competences kept for export.",
        "8 HTML descriptions kept for export; the tool shows them as plain text.",
        "1 competence's own scale kept for export; the tool uses the framework's scale.",
        "The scale's default value (Delvis kompetent) and proficient values (Kompetent) kept "
        "for export.",
        "The taxonomy of each level (domain,competency,skill) kept for export.",
    ]  # fmt: skip


def test_what_the_tool_changed_is_written_as_the_tool_has_it():
    data, _ = moodle_csv.parse(FULL.read_bytes())
    by_code = {c.code: c for c in data.competences}
    by_code["DK-1"].description = {"nb": "Ny tekst, uten HTML."}
    data.levels = [*data.levels, LevelData(4, {"nb": "Ekspert"})]
    data.competences.remove(by_code["DK-1.2"])
    data.competences.append(CompetenceData("NY", "DK-2", "NY", {"nb": "Ny kompetanse"}))
    parsed_rows, unclosed = moodle_csv.read_rows(moodle_csv.dump(data).decode())
    assert unclosed is None
    framework, *competences = [row for _, row in parsed_rows[1:]]
    assert framework[5] == "Ikke kompetent,Delvis kompetent,Kompetent,Ekspert"
    assert json.loads(framework[6])[1] == {"id": 1, "scaledefault": 1, "proficient": 0}
    assert framework[13] == "domain,competency,skill"
    dk1 = next(row for row in competences if row[1] == "DK-1")
    assert dk1[3:5] == ["Ny tekst, uten HTML.", "2"]
    assert dk1[7:12] == ["core_competency\\competency_rule_all", "2", "null", "DK-3", "11"]
    assert "DK-1.2" not in [row[1] for row in competences]
    new = competences[-1]
    assert new == [
        "DK-2",
        "NY",
        "Ny kompetanse",
        "",
        "2",
        "",
        "",
        "",
        "0",
        "null",
        "",
        "20",
        "",
        "",
    ]
    assert len(framework) == 14  # nothing added: Moodle's 14 columns


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((",DK-3,18,", ",DK-9,18,"),
         "line 15: the cross-referenced competence DK-9 does not exist"),
        ((',2,null,DK-3', ',2,"{nope",DK-3'), "line 6: the rule configuration is not JSON"),
        ((",3,\"{\"\"base", ",tre,\"{\"\"base"),
         "line 9: the rule outcome tre is not a whole number"),
        ((':2,""scaledefault"":1', ':4,""scaledefault"":1'),
         "line 2: the scale configuration names the value 4, which the scale (3 values) does "
         "not have"),
        (('"domain,competency,skill"', '"domain,kompetanse"'),
         "line 2: the taxonomy kompetanse is not one of Moodle's (behaviour, competency, concept, "
         "domain, indicator, level, outcome, practice, proficiency, skill, value)"),
        (("DK-2.1,Fagsystem,,1,", "DK-2.1,Fagsystem,,7,"),
         "line 13: the description format 7 is not one of Moodle's (0, 1, 2 or 4)"),
        (("null,,19,,\n", 'null,,19,,"\n'), None),
    ],
)  # fmt: skip
def test_a_malformed_moodle_export_is_refused_naming_the_defect(change, message):
    text = FULL.read_text()
    assert change[0] in text
    data, problems = moodle_csv.parse(text.replace(change[0], change[1], 1).encode())
    if message is None:  # a quote opened and never closed
        assert data is None
        assert _messages(problems) == ["line 16: a quoted value is never closed"]
    else:
        assert message in _messages(problems) + _messages(validate_framework(data))


def test_phps_csv_dialect():
    row = ["", "a b", 'si "hei"', "C:\\x", 'C:\\"x"', "1,2", "linje\nto", "æøå", "\t"]
    written = moodle_csv.write_row(row)
    assert written == ',"a b","si ""hei""","C:\\x","C:\\"x""","1,2","linje\nto",æøå,"\t"\n'
    assert moodle_csv.read_rows(written) == ([(1, row)], None)
    assert moodle_csv.read_rows('a,"b\r\nc"\r\nd,e') == (
        [(1, ["a", "b\r\nc"]), (3, ["d", "e"])],
        None,
    )
    assert moodle_csv.read_rows('a,"b\nc') == ([], 1)


# --- CASE packages, kept whole --------------------------------------------------------------


def test_an_external_case_package_comes_back_as_it_was():
    raw = (FAKES / "case-external.json").read_bytes()
    data, problems = case.parse(raw)
    assert problems == []
    again = json.loads(case.dump(data, creator="Kongsberg", as_imported=True))
    assert again == json.loads(raw)  # nothing added: not even our extension
    assert [str(line) for line in case.summary(data.kept, [c.kept for c in data.competences])] == [
        "1 item type (CFItemType) kept for export.",
        "1 note kept for export, apart from the description.",
        "1 association that the tool does not use kept for export.",
    ]


def test_case_export_puts_the_short_title_and_the_statement_where_case_has_them():
    data = FrameworkData("fw", {"nb": "F"}, identifier="d", competences=[
        CompetenceData("a", None, "A", {"nb": "Kort"}, {"nb": "Hele utsagnet."}, identifier="a"),
        CompetenceData("b", None, "B", {"nb": "Bare tittel"}, identifier="b"),
    ])  # fmt: skip
    items = json.loads(case.dump(data))["CFItems"]
    assert (items[0]["abbreviatedStatement"], items[0]["fullStatement"]) == (
        "Kort",
        "Hele utsagnet.",
    )
    assert "notes" not in items[0] and items[0]["CFItemType"] == "Competence"
    assert items[1]["fullStatement"] == "Bare tittel" and "abbreviatedStatement" not in items[1]


def test_a_changed_case_item_is_written_as_the_tool_has_it():
    data, _ = case.parse((FAKES / "case-external.json").read_bytes())
    hand = next(c for c in data.competences if c.code == "HY.1.2")
    hand.title = {"nb": "Håndhygiene (WHO)"}
    hand.code = "HY.1.2a"
    package = json.loads(case.dump(data))
    item = next(i for i in package["CFItems"] if i["identifier"] == hand.identifier)
    assert item["abbreviatedStatement"] == "Håndhygiene (WHO)"
    assert item["fullStatement"] == "Utfører håndhygiene etter WHOs fem indikasjoner."
    assert item["humanCodingScheme"] == "HY.1.2a"
    assert item["lastChangeDateTime"] != "2024-05-02T10:00:00+00:00"
    assert package["CFDocument"]["adoptionStatus"] == "Draft"  # not as imported
    assert package["CFDocument"]["creator"] == "Eksempelfylket"


def test_other_tools_extensions_and_fields_come_back():
    package = _package(
        [
            _item("i1", "MA 1", "Tall", CFItemType="Kompetansemål", notes="Merk.",
                  educationLevel=["10"], extensions={"opensalt": {"x": 1}}),
            _item("i2", "MA 1.1", "Brøk", abbreviatedStatement="Brøk"),
        ],
        [_child_of(1, "i1", DOC, 1), _child_of(2, "i2", "i1", 1),
         _child_of(3, "i2", "i1") | {"associationType": "isRelatedTo"}],
    )  # fmt: skip
    package["CFDocument"]["extensions"] = {"caseNetwork": {"y": 2}}
    package["CFDocument"]["publisher"] = "Fylket"
    data = _read(package)
    assert json.loads(case.dump(data, as_imported=True)) == package
    data.code = "MA-2020"  # a code CASE cannot hold: kept in our extension
    again = json.loads(case.dump(data, as_imported=True))
    assert again["CFDocument"]["extensions"]["laeringslop"]["code"] == "MA-2020"
    assert again["CFDocument"]["extensions"]["caseNetwork"] == {"y": 2}


def test_moodle_scale_configurations_that_are_not_moodles_are_refused():
    for configuration, message in (
        ('"{nope"', "the scale configuration is not the JSON list Moodle writes"),
        ('"{""scaleid"":1}"', "the scale configuration is not the JSON list Moodle writes"),
        (
            '"[{""scaleid"":1},{""id"":2,""proficient"":1}]"',
            "the scale configuration has no default value",
        ),
        (
            '"[{""scaleid"":1},{""id"":1,""scaledefault"":1}]"',
            "the scale configuration has no proficient value",
        ),
    ):
        row = f',FW,"Rammeverk",,1,"Lav,Høy",{configuration},,,,,,1,'
        _, problems = moodle_csv.parse(
            f"{HEADER}\n{row}\n,K,Kompetanse,,1,,,,0,null,,1,,\n".encode()
        )
        assert _messages(problems) == [f"line 2: {message}"]
    assert moodle_csv.summary({"moodle-csv": {"scaleconfiguration": "{x"}}, []) == []
    plain = {"scalevalues": "Lav,Høy", "scaleconfiguration": '[{"scaleid":1}]'}
    assert moodle_csv.summary({"moodle-csv": plain}, []) == []


def test_our_exports_before_notes_were_kept_apart_import_as_they_did():
    """Our CASE exports used to write the description in notes as well."""
    content = resources.files("lti_tool.content").joinpath("legemiddelhandtering.case.json")
    package = json.loads(content.read_text("utf-8"))
    for item in package["CFItems"]:
        item["notes"] = item.pop("fullStatement")
        item["fullStatement"] = item.pop("abbreviatedStatement")
    data = _read(package)
    assert all("notes" not in c.kept["case"]["fields"] for c in data.competences)
    items = json.loads(case.dump(data))["CFItems"]
    assert all("notes" not in item for item in items)


def test_a_reordered_case_framework_numbers_its_siblings_again():
    package = _package(
        [_item("i1", "A", "En"), _item("i2", "B", "To")],
        [_child_of(1, "i1", DOC, 1), _child_of(2, "i2", DOC, 2)],
    )
    data = _read(package)
    data.competences.reverse()
    for competence in data.competences:
        competence.sequence = None
    associations = json.loads(case.dump(data))["CFAssociations"]
    assert [(a["identifier"], a["sequenceNumber"]) for a in associations] == [("a1", 2), ("a2", 1)]
