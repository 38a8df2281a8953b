"""Reading and checking framework files, without a database: Moodle CSV, CASE, job roles."""

from __future__ import annotations

import json
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
FRAMEWORK_ROW = ',FW,"Rammeverk",,1,"Lav,Middels,Høy","[{""scaleid"":""1""}]",,,,,,1,'


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
    assert rows[0].split(",")[:14] == list(moodle_csv.HEADERS)
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
        ",har mellomrom,Epsilon,,1,,,,,,,,,",
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
    assert any(m.startswith("line 8:") and "no spaces" in m for m in messages)
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
    assert by_code["HY.1.1"].description == {"nb": "Hansker, frakk, munnbind."}
    assert by_code["HY.1.1"].parent_key == by_code["HY.1"].key
    assert by_code["HY.1.1"].external_ref.startswith("https://case.example.no/")
    assert [lv.label for lv in data.levels] == [{"nb": "Under opplæring"}, {"nb": "Mestrer"}]
    assert validate_framework(data) == []


def test_case_problems_name_the_item_and_field():
    package = json.loads((FAKES / "case-external.json").read_text())
    package["CFItems"][1]["fullStatement"] = ""
    package["CFItems"][2]["humanCodingScheme"] = "HY.1"
    package["CFAssociations"][1]["destinationNodeURI"]["identifier"] = "nowhere"
    data, problems = case.parse(json.dumps(package).encode())
    messages = _messages(problems) + _messages(validate_framework(data))
    assert (
        "CFItem 0e1f0000-0000-4000-8000-000000000002, field fullStatement: "
        "required, and missing or empty" in messages
    )
    assert any(
        "CFAssociation a0000000-0000-4000-8000-000000000002, field destinationNodeURI" in m
        and "nowhere" in m
        for m in messages
    )
    assert any(
        m.startswith("CFItem 0e1f0000-0000-4000-8000-000000000003: the code HY.1 is used twice")
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
    assert "field job_roles[0].requirements[0].required_level: a whole number is needed" in messages
    assert any(m.startswith("field job_roles[1].code: the code r is used twice") for m in messages)
