"""Reading Moodle question banks (Moodle XML and GIFT) into items, without a database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel

from lti_tool.domain.items import (
    CORRECT,
    INCORRECT,
    MULTIPLE_CHOICE,
    NUMERIC,
    OTHER_ANSWER,
    PARTIALLY_CORRECT,
    SELF_ASSESSMENT,
    SINGLE_CHOICE,
    TRUE_FALSE,
    CompetenceRef,
    ItemData,
    OptionData,
    outcome,
    validate_item,
)
from lti_tool.interchange.model import MAX_IMPORT_BYTES, MAX_IMPORT_ITEMS
from lti_tool.interchange.questions import Codes, html_to_text, to_plain_text
from lti_tool.interchange.questions_gift import id_number_and_tags, parse_gift
from lti_tool.interchange.questions_moodle_xml import parse_moodle_xml

FAKES = Path(__file__).resolve().parents[1] / "fakes" / "questions"
SUPPORTED = "(supported: multiple choice, true/false, numerical)."


@pytest.fixture(autouse=True)
def english():
    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "en")
    with app.app_context():
        yield


def _messages(problems) -> list[str]:
    return [str(p) for p in problems]


def read(parse, data: bytes, **kwargs):
    """The items, the skipped questions (as "line: name: reason") and the problems."""
    found = parse(data, **kwargs)
    skipped = [f"line {s.line}: {s.name}: {s.reason}" for s in found.skipped]
    return found.items, skipped, found.problems


def skip(line: int, name: str, question_type: str) -> str:
    return f"line {line}: {name}: Questions of type {question_type} cannot be imported {SUPPORTED}"


def nb(text: str) -> dict[str, str]:
    return {"nb": text}


def choice(text: str, fraction: float = 0.0, feedback: str = "") -> OptionData:
    return OptionData(text=nb(text), fraction=fraction, feedback=nb(feedback) if feedback else {})


def number(value: float, tolerance: float, fraction: float = 1.0, feedback: str = "") -> OptionData:
    return OptionData(
        fraction=fraction,
        feedback=nb(feedback) if feedback else {},
        value=value,
        tolerance=tolerance,
    )


def true_false(answer: bool, wrong: str = "", right: str = "") -> tuple[OptionData, OptionData]:
    """Sant/Usant with the feedback each earns when ``answer`` is the right one."""
    return (
        choice("Sant", 1.0 if answer else 0.0, right if answer else wrong),
        choice("Usant", 0.0 if answer else 1.0, wrong if answer else right),
    )


# Moodle XML

SLUKKEUTSTYR = {"category": "Standard for Brannvern grunnkurs/Slukkeutstyr"}
STANDARD_COMBINED = {
    CORRECT: nb("Svaret ditt er riktig."),
    PARTIALLY_CORRECT: nb("Svaret ditt er delvis riktig."),
    INCORRECT: nb("Svaret ditt er feil."),
}
VARSLING = {"category": "Standard for Brannvern grunnkurs/Varsling"}


def test_moodle_export_gives_its_supported_questions_exactly():
    items, skipped, problems = read(parse_moodle_xml, (FAKES / "moodle-export.xml").read_bytes())

    assert items == [
        ItemData(
            kind=SINGLE_CHOICE,
            stem=nb("Det brenner i en frityrgryte på kjøkkenet.\nHva gjør du først?"),
            options=(
                choice("Legger på lokket & slår av platen", 1.0, "Riktig: lokket kveler flammene."),
                choice("Heller vann på", 0.0, "Aldri vann på brennende fett!"),
                choice("Bærer gryta ut"),
            ),
            code="BRANN-FRITYR",
            feedback=nb("Vann på brennende fett gir en eksplosjonsartet brann."),
            settings=SLUKKEUTSTYR,
            competences=(CompetenceRef(code="BRANN-1"), CompetenceRef(code="kjøkken")),
            outcome_feedback=STANDARD_COMBINED,
        ),
        ItemData(
            kind=MULTIPLE_CHOICE,
            stem=nb("Hvilke slukkemidler kan brukes på brann i elektrisk utstyr?"),
            options=(
                choice("CO2-apparat", 0.5),
                choice("Pulverapparat", 0.5),
                choice("Vannslange", -1.0, "Vann leder strøm."),
            ),
            code="brannklasser",
            points=2.0,
            settings=SLUKKEUTSTYR,
            competences=(CompetenceRef(code="BRANN-2"),),
            outcome_feedback=STANDARD_COMBINED,
        ),
        ItemData(
            kind=TRUE_FALSE,
            stem=nb("Rømningsveier kan brukes som lager\nnår det er travelt."),
            options=true_false(False, "Nei, rømningsveier skal alltid være frie.", "Riktig."),
            code="rømningsvei",
            settings=SLUKKEUTSTYR,
            competences=(CompetenceRef(code="BRANN-1"),),
        ),
        ItemData(
            kind=NUMERIC,
            stem=nb("Hvor lang er brannslangen i et standard brannskap (i meter)?"),
            options=(number(30.0, 0.5), number(25.0, 2.0, 0.5, "Nesten.")),
            code="brannslange-rekkevidde",
            feedback=nb("Se skiltet på skapet."),
            settings={**SLUKKEUTSTYR, "unit": "m"},
            outcome_feedback={OTHER_ANSWER: nb("Feil lengde.")},
        ),
        ItemData(
            kind=SINGLE_CHOICE,
            stem=nb("Hvilken brannklasse gjelder brennbare væsker?"),
            options=(choice("A"), choice("B", 1.0)),
            code="brannklasser-2",
            settings=VARSLING,
            competences=(CompetenceRef(code="BRANN-2"),),
        ),
    ]
    assert problems == []
    assert skipped == [
        skip(210, "Beskriv rømningsplanen", "essay"),
        skip(253, "Nødnummer brann", "short answer"),
    ]


def _quiz(*questions: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n' + "\n".join(questions) + "\n</quiz>\n"
    ).encode()


def _multichoice(
    name: str, *answers: tuple[str, str], idnumber: str = "", single: str = "true"
) -> str:
    return (
        f'<question type="multichoice"><name><text>{name}</text></name>'
        f'<questiontext format="html"><text>Spørsmål {name}</text></questiontext>'
        f"<idnumber>{idnumber}</idnumber><single>{single}</single>"
        + "".join(f'<answer fraction="{f}"><text>{t}</text></answer>' for f, t in answers)
        + "</question>"
    )  # fmt: skip


def test_moodle_xml_reports_every_unusable_question_at_its_line():
    data = _quiz(
        _multichoice("Ingen riktige", ("0", "A"), ("50", "B")),
        _multichoice("Ett svar", ("100", "A")),
        _multichoice("For mye", ("100", "A"), ("100", "B"), single="false"),
        _multichoice("Rar prosent", ("hundre", "A"), ("0", "B")),
        '<question type="truefalse"><name><text>Uten svar</text></name>'
        '<questiontext><text>Sant?</text></questiontext></question>',
        '<question type="numerical"><name><text>Komma</text></name>'
        '<questiontext><text>Hvor mye?</text></questiontext>'
        '<answer fraction="100"><text>2,5</text><tolerance>0</tolerance></answer></question>',
        '<question type="numerical"><name><text>Hva som helst</text></name>'
        '<questiontext><text>Hvor mye?</text></questiontext>'
        '<answer fraction="100"><text>*</text></answer></question>',
        '<question type="ddwtos"><name><text>Dra og slipp</text></name></question>',
        '<question type="multianswer"><name><text>Cloze</text></name></question>',
    )  # fmt: skip
    items, skipped, problems = read(parse_moodle_xml, data)

    assert [item.code for item in items] == [
        "ingen-riktige", "ett-svar", "for-mye", "rar-prosent", "uten-svar", "komma",
        "hva-som-helst",
    ]  # fmt: skip
    assert _messages(problems) == [
        "line 3, question “Ingen riktige”: Mark one option as fully correct.",
        "line 4, question “Ett svar”: Give at least two options.",
        "line 5, question “For mye”: The correct options' credits must add up to 100 %.",
        "line 6, question “Rar prosent”: “hundre” is not a number (write decimals with a "
        "point, as in 2.5).",
        "line 7, question “Uten svar”: a true/false question needs the answers “true” and “false”",
        "line 8, question “Komma”: “2,5” is not a number (write decimals with a point, as in 2.5).",
        "line 9, question “Hva som helst”: “*” (any number) cannot be an accepted answer",
    ]
    assert skipped == [
        skip(10, "Dra og slipp", "ddwtos"),
        skip(11, "Cloze", "embedded answers (Cloze)"),
    ]


def test_moodle_xml_codes_come_from_id_numbers_and_are_unique_in_the_file():
    right = (("100", "A"), ("0", "B"))
    data = _quiz(
        _multichoice("Første", *right, idnumber="BRANN 1"),
        _multichoice("Andre", *right, idnumber="BRANN-1"),
        _multichoice("Lang " + "x" * 120, *right),
        _multichoice("Lang " + "x" * 120, *right),
        _multichoice("?!", *right),
    )
    items, _skipped, problems = read(parse_moodle_xml, data)

    assert problems == []
    assert [item.code for item in items] == [
        "BRANN-1",
        "BRANN-1-2",
        "lang-" + "x" * 95,
        "lang-" + "x" * 93 + "-2",
        "question",
    ]


def test_moodle_xml_true_false_words_follow_the_language():
    data = _quiz(
        '<question type="truefalse"><name><text>TF</text></name>'
        '<questiontext format="plain_text"><text>Is it?</text></questiontext>'
        '<answer fraction="100"><text>true</text></answer>'
        '<answer fraction="0"><text>false</text></answer></question>'
    )  # fmt: skip
    items, _skipped, problems = read(parse_moodle_xml, data, language="en")

    assert problems == []
    assert items[0].stem == {"en": "Is it?"}
    assert [option.text for option in items[0].options] == [{"en": "True"}, {"en": "False"}]
    assert [option.fraction for option in items[0].options] == [1.0, 0.0]


def test_malformed_moodle_xml_is_one_problem_at_its_line():
    data = b'<?xml version="1.0"?>\n<quiz>\n<question type="truefalse">\n</quiz>\n'
    items, _skipped, problems = read(parse_moodle_xml, data)

    assert items == []
    assert _messages(problems) == [
        "line 4: the XML cannot be read (mismatched tag: line 4, column 2)"
    ]


def test_moodle_xml_with_a_document_type_is_refused_so_entities_never_expand():
    xxe = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE quiz [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        b'<quiz><question type="truefalse"><name><text>&secret;</text></name></question></quiz>\n'
    )
    laughs = (
        b'<?xml version="1.0"?>\n<!DOCTYPE quiz [\n<!ENTITY a "aaaaaaaaaa">\n'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n]>\n<quiz>&b;</quiz>\n'
    )
    refused = (
        "line 2: the file declares a document type or entities (<!DOCTYPE …>), which Moodle "
        "never writes; it is refused for safety"
    )
    for data in (xxe, laughs):
        items, _skipped, problems = read(parse_moodle_xml, data)
        assert items == []
        assert _messages(problems) == [refused]


def test_moodle_xml_that_is_not_a_question_export_or_empty():
    assert _messages(parse_moodle_xml(b"<competencies/>").problems) == [
        "This is not a Moodle XML question file: it starts with <competencies>, not <quiz>."
    ]
    category = (
        '<question type="category"><category><text>$course$/top/Tom</text></category></question>'
    )
    assert _messages(parse_moodle_xml(_quiz(category)).problems) == ["The file holds no questions."]


# GIFT

GIFT_CATEGORY = {"category": "Brannvern/Slukking"}


def test_gift_bank_gives_every_supported_form_exactly():
    items, skipped, problems = read(parse_gift, (FAKES / "bank.gift").read_bytes())

    def gift(kind: str, stem: str, options, code: str, feedback: str = "") -> ItemData:
        return ItemData(
            kind=kind,
            stem=nb(stem),
            options=tuple(options),
            code=code,
            feedback=nb(feedback) if feedback else {},
            settings=GIFT_CATEGORY,
        )

    assert items == [
        gift(
            SINGLE_CHOICE,
            "Det brenner i en frityrgryte. Hva gjør du først?",
            [
                choice("Legger på lokket", 1.0, "Riktig: lokket kveler flammene."),
                choice("Heller vann på", 0.0, "Aldri vann på brennende fett!"),
                choice("Bærer gryta ut"),
            ],
            "frityrbrann",
            "Vann på brennende fett gir en eksplosjonsartet brann.",
        ),
        gift(
            MULTIPLE_CHOICE,
            "Hvilke slukkemidler kan brukes på brann i elektrisk utstyr?",
            [
                choice("CO2-apparat", 0.5),
                choice("Pulverapparat", 0.5),
                choice("Vannslange", -1.0, "Vann leder strøm."),
            ],
            "brannklasser",
        ),
        gift(
            TRUE_FALSE,
            "Rømningsveier kan brukes som lager når det er travelt.",
            true_false(False, "Nei, de skal alltid være frie.", "Riktig."),
            "rømningsvei",
        ),
        gift(
            TRUE_FALSE,
            "Røykvarslere skal testes minst én gang i året.",
            true_false(True),
            "røykvarsler",
        ),
        gift(TRUE_FALSE, "Et slukkeapparat skal stå synlig.", true_false(True), "slukkeapparat"),
        gift(
            TRUE_FALSE,
            "Heisen kan brukes ved brann.",
            true_false(False),
            "branntrapp",
            "Bruk alltid trappene.",
        ),
        gift(
            NUMERIC,
            "Hvor mange meter er brannslangen i et standard brannskap?",
            [number(30.0, 0.0)],
            "slangelengde",
        ),
        gift(
            NUMERIC,
            "Hvor mange kilo pulver har et vanlig pulverapparat?",
            [number(6.0, 0.5)],
            "pulverapparat-vekt",
        ),
        gift(
            NUMERIC,
            "Ved hvor mange grader tenner papir omtrent?",
            [number(250.0, 50.0)],
            "temperatur",
        ),
        gift(
            NUMERIC,
            "Hvor mange minutter bør en rømning ta?",
            [number(3.0, 0.0, 1.0, "Riktig."), number(5.0, 1.0, 0.5, "Litt for lenge.")],
            "rømningstid",
        ),
        gift(
            SINGLE_CHOICE,
            "Ved brann ringer du _____ og varsler brannvesenet.",
            [choice("110", 1.0), choice("112"), choice("113")],
            "ved-brann-ringer-du-og",
        ),
        gift(
            SINGLE_CHOICE,
            "Hva betyr skiltet {grønn pil} med teksten «Nødutgang = utgang»?\nVelg én.",
            [choice("Vei ut ved fare~rømning", 1.0), choice("Inngang for brannvesenet#1")],
            "tegn-skilt",
        ),
        gift(
            SINGLE_CHOICE,
            "Hva bruker du på brann i en frityrgryte på en restaurant?",
            [choice("Brannteppe", 1.0), choice("Vann")],
            "frityrbrann-2",
        ),
    ]
    assert _messages(problems) == [
        "line 61: Question “Uferdig” cannot be read: it needs exactly one answer section "
        "between { and } (write \\{ and \\} for braces in its text).",
    ]
    assert skipped == [
        skip(51, "Nødnummer", "short answer"),
        skip(53, "Par", "matching"),
        skip(59, "Refleksjon", "essay"),
        skip(63, "Husk å lese branninstruksen før du begynner.", "description"),
    ]


def test_gift_choice_kinds_follow_moodle():
    text = "\n\n".join(
        [
            "::En riktig::Q {~%100%A ~B}",
            "::Delvis::Q {=A ~%50%B ~C}",
            "::To riktige::Q {=A =B ~C}",
            "::Straff::Q {~%100%A ~%-50%B}",
        ]
    )
    items, _skipped, problems = read(parse_gift, text.encode())

    assert problems == []
    assert [(item.code, item.kind, [o.fraction for o in item.options]) for item in items] == [
        ("en-riktig", SINGLE_CHOICE, [1.0, 0.0]),
        ("delvis", SINGLE_CHOICE, [1.0, 0.5, 0.0]),
        ("to-riktige", SINGLE_CHOICE, [1.0, 1.0, 0.0]),
        ("straff", MULTIPLE_CHOICE, [1.0, -0.5]),
    ]


def test_gift_numbers_take_a_decimal_point_only():
    text = "::Komma::Hvor mye? {#2,5:0.1}\n\n::Område::Hvor mye? {#1..x}\n\n::Svar::Hvor mye? {#}"
    items, _skipped, problems = read(parse_gift, text.encode())

    assert len(items) == 3
    assert _messages(problems) == [
        "line 1, question “Komma”: “2,5” is not a number (write decimals with a point, as in 2.5).",
        "line 3, question “Område”: “x” is not a number (write decimals with a point, as in 2.5).",
        "line 5, question “Svar”: Give the correct numeric answer.",
    ]


def test_gift_formats_titles_and_categories():
    text = (
        "\ufeff// kommentar\n"
        "$CATEGORY: $course$/top/Brann\n"
        "[html]<p>Er <b>dette</b> &laquo;sant&raquo;?</p>{T#<p>Nei</p>#<p>Ja</p>}\r\n"
        "\r\n"
        "::Plain::[plain]Er 2 < 3?{TRUE}\n"
        "\n"
        "::Uten slutt på tittelen {F}\n"
    )
    items, _skipped, problems = read(parse_gift, text.encode(), language="nn")

    assert problems == []
    assert [item.stem for item in items] == [
        {"nn": "Er dette «sant»?"},
        {"nn": "Er 2 < 3?"},
        {"nn": "Uten slutt på tittelen"},
    ]
    assert [item.code for item in items] == ["er-dette-sant", "plain", "uten-slutt-på-tittelen"]
    assert items[0].options[0].feedback == {"nn": "Ja"}
    assert items[0].options[1].feedback == {"nn": "Nei"}
    assert [item.settings for item in items] == [{"category": "Brann"}] * 3


def test_gift_without_questions():
    items, _skipped, problems = read(parse_gift, b"// bare kommentarer\n\n$CATEGORY: tom\n")

    assert items == []
    assert _messages(problems) == ["The file holds no questions."]


# What both formats share


@pytest.mark.parametrize("parse", [parse_gift, parse_moodle_xml])
def test_oversized_files_are_refused_unread(parse):
    items, _skipped, problems = read(parse, b" " * (MAX_IMPORT_BYTES + 1))

    assert items == []
    assert _messages(problems) == [
        f"The file is {MAX_IMPORT_BYTES + 1} bytes; the most that can be imported is "
        f"{MAX_IMPORT_BYTES} bytes."
    ]


@pytest.mark.parametrize("parse", [parse_gift, parse_moodle_xml])
def test_files_that_are_not_utf8_are_refused(parse):
    items, _skipped, problems = read(parse, "<quiz>\n::Ø::Sant? {T}\n</quiz>".encode("latin-1"))

    assert items == []
    assert _messages(problems) == [
        "line 2: the file is not UTF-8 text (byte 10). Save it as UTF-8 and try again."
    ]


@pytest.mark.parametrize(
    ("parse", "data"),
    [
        (parse_gift, b"Sant? {T}\n\n" * (MAX_IMPORT_ITEMS + 1)),
        (parse_moodle_xml, _quiz(*['<question type="category"/>'] * (MAX_IMPORT_ITEMS + 1))),
    ],
)
def test_too_many_questions_are_refused(parse, data):
    items, _skipped, problems = read(parse, data)

    assert items == []
    assert _messages(problems) == [
        f"The file holds {MAX_IMPORT_ITEMS + 1} questions; the most one import can hold is "
        f"{MAX_IMPORT_ITEMS}."
    ]


def test_html_becomes_plain_text_with_paragraphs_as_lines():
    html = (
        "<p>Første&nbsp;avsnitt</p>\n<p>Andre <em>avsnitt</em><br>ny linje</p>"
        '<img src="@@PLUGINFILE@@/bilde.png"><script>alert(1)</script><ul><li>én</li></ul>'
    )
    assert html_to_text(html) == "Første avsnitt\nAndre avsnitt\nny linje\nén"
    assert to_plain_text("a  b\n\nc", "moodle_auto_format") == "a b\nc"
    assert to_plain_text("*a* <b>", "markdown") == "*a* <b>"


def test_codes_stay_unique_and_short():
    codes = Codes()
    assert [codes.claim("", "Hva er 112?"), codes.claim("", "Hva er 112"), codes.claim("", "")] == [
        "hva-er-112",
        "hva-er-112-2",
        "question",
    ]
    assert [codes.claim("LM-1", ""), codes.claim("lm-1", ""), codes.claim("Lm 1", "")] == [
        "LM-1",
        "lm-1-2",
        "Lm-1-3",
    ]


# One bank as Moodle 5 exports it, in both formats


LEGEMIDLER = {"category": "Standard for Legemiddelhåndtering"}
MOODLE_5_SKIPPED = [
    ("Nødnummer", "short answer"),
    ("Legemidler og bruk", "matching"),
    ("Avvik", "essay"),
    ("Om legemiddeldelen", "description"),
]


def _moodle_5_bank() -> list[ItemData]:
    """What the tool keeps of the bank in moodle-5-export.gift (GIFT carries no points,
    units or combined feedback). Both files are written as Moodle's exporter writes them
    (qformat_gift/qformat_xml writequestion, and exportprocess's blank line after each)."""

    def item(kind, stem, options, code, tags, feedback="", **extra) -> ItemData:
        return ItemData(
            kind=kind,
            stem=nb(stem),
            options=tuple(options),
            code=code,
            feedback=nb(feedback) if feedback else {},
            settings=LEGEMIDLER,
            competences=tuple(CompetenceRef(code=tag) for tag in tags),
            **extra,
        )

    return [
        item(
            SINGLE_CHOICE,
            "Hvem skal kontrollere en dose før den gis?",
            [
                choice("To personer, hver for seg", 1.0, "Riktig: to uavhengige kontroller."),
                choice("Den som deler ut", 0.0, "Nei, det er bare én kontroll."),
                choice("Legen"),
            ],
            "LM-DOBBEL",
            ["legemidler", "hjemmetjenesten"],
            "Se prosedyren for legemiddelhåndtering.",
        ),
        item(
            MULTIPLE_CHOICE,
            "Hva gjelder taushetsplikten?",
            [
                choice("Helseopplysninger", 0.5),
                choice("Personnummer", 0.5),
                choice("Kantinemenyen", -1.0, "Nei, den er offentlig."),
            ],
            "PV-TAUS",
            ["personvern"],
        ),
        item(
            TRUE_FALSE,
            "En epikrise kan sendes på vanlig e-post.",
            true_false(False, "Nei: bruk sikker kanal.", "Riktig."),
            "epikrise",
            ["personvern"],
            "Se rutinen for sikker sending.",
        ),
        item(
            NUMERIC,
            "Legen har forskrevet 50 mg. Mikstuen har 10 mg/ml. Hvor mange ml gir du?",
            [number(5.0, 0.0, 1.0, "Riktig."), number(5.0, 0.5, 0.5, "Nesten: mål nøyaktig.")],
            "LM-DOSE",
            ["legemidler"],
            outcome_feedback={OTHER_ANSWER: nb("Regn ut dosen delt på styrken.")},
        ),
        item(
            SINGLE_CHOICE,
            "Når skal multidosen deles ut?",
            [choice("Til avtalt tid", 1.0), choice("Når det passer")],
            "utdeling",
            [],
        ),
    ]


def test_moodle_gift_export_keeps_id_numbers_tags_and_other_answer_feedback():
    found = parse_gift((FAKES / "moodle-5-export.gift").read_bytes())

    assert found.problems == []
    assert found.items == _moodle_5_bank()
    assert [(q.line, q.name) for q in found.questions] == [
        (7, "Dobbeltkontroll"),
        (17, "Taushetsplikt gjelder"),
        (26, "Epikrise"),
        (31, "Dose i ml"),
        (60, "Utdeling"),
    ]
    assert [(s.line, s.name, str(s.question_type)) for s in found.skipped] == [
        (40, *MOODLE_5_SKIPPED[0]),
        (48, *MOODLE_5_SKIPPED[1]),
        (56, *MOODLE_5_SKIPPED[2]),
        (67, *MOODLE_5_SKIPPED[3]),
    ]


def test_moodle_xml_export_of_the_same_bank_gives_the_same_items_and_more():
    found = parse_moodle_xml((FAKES / "moodle-5-export.xml").read_bytes())
    combined = {
        CORRECT: nb("Svaret ditt er riktig."),
        PARTIALLY_CORRECT: nb("Svaret ditt er delvis riktig."),
        INCORRECT: nb("Svaret ditt er feil."),
    }
    single, multiple, tf, numeric, untagged = _moodle_5_bank()

    assert found.problems == []
    assert found.items == [
        dataclasses.replace(single, outcome_feedback=combined),
        dataclasses.replace(multiple, points=2.0, outcome_feedback=combined),
        tf,
        dataclasses.replace(numeric, settings={**LEGEMIDLER, "unit": "ml"}),
        untagged,  # blank combined feedback is no feedback
    ]
    assert [(s.name, str(s.question_type)) for s in found.skipped] == MOODLE_5_SKIPPED
    assert [s.line for s in found.skipped] == [208, 242, 286, 365]


def test_gift_id_numbers_and_tags_are_read_as_moodle_reads_them():
    assert id_number_and_tags("// question: 1  name: x\n// [id:A\\]1] [tag:b] [tag:c]\n") == (
        "A]1",
        ["b", "c"],
    )
    assert id_number_and_tags("// [tag: x ] [id:første] [id:andre] [tag:x] [tag:[a\\]]") == (
        "første",
        ["x", "[a]"],
    )
    assert id_number_and_tags("// [id:] [tag:<b>] ingen") == ("", [])


def test_gift_numeric_any_other_answer_takes_its_feedback_after_the_hash():
    text = (
        "::Uten::Hvor mye? {#5 ~#}\n\n"
        "::Med::Hvor mye? {#=5:0 ~ignored#Prøv igjen\\: regn ut.}\n\n"
        "::Tom::Hvor mye? {#5}\n"
    )
    items, skipped, problems = read(parse_gift, text.encode())

    assert problems == [] and skipped == []
    assert [item.outcome_feedback for item in items] == [
        {},
        {OTHER_ANSWER: nb("Prøv igjen: regn ut.")},
        {},
    ]
    assert [item.options for item in items] == [(number(5.0, 0.0),)] * 3


def test_moodle_xml_other_answer_keeps_the_first_feedback_and_none_when_blank():
    def numerical(name: str, *others: str) -> str:
        return (
            f'<question type="numerical"><name><text>{name}</text></name>'
            '<questiontext><text>Hvor mye?</text></questiontext>'
            '<answer fraction="100"><text>5</text><tolerance>0</tolerance></answer>'
            + "".join(
                f'<answer fraction="0"><text>*</text><feedback><text>{o}</text></feedback>'
                "</answer>"
                for o in others
            )
            + "</question>"
        )  # fmt: skip

    items, _skipped, problems = read(
        parse_moodle_xml, _quiz(numerical("Blank", ""), numerical("To", "Første", "Andre"))
    )

    assert problems == []
    assert [item.outcome_feedback for item in items] == [{}, {OTHER_ANSWER: nb("Første")}]


def test_a_file_of_only_skipped_questions_has_no_problem_of_its_own():
    found = parse_gift(b"::Essay::Skriv.{}\n\n::Kort::Hva? {=svar}\n")

    assert found.problems == [] and found.questions == []
    assert [s.name for s in found.skipped] == ["Essay", "Kort"]


def test_outcome_feedback_belongs_to_knowledge_items_and_other_answers_to_numeric():
    base = ItemData(
        kind=SINGLE_CHOICE,
        stem=nb("Q"),
        options=(choice("A", 1.0), choice("B")),
        competences=(CompetenceRef(code="x"),),
    )
    assert validate_item(dataclasses.replace(base, outcome_feedback={CORRECT: nb("Bra")})) == []
    refused = [
        dataclasses.replace(base, outcome_feedback={OTHER_ANSWER: nb("Nei")}),
        dataclasses.replace(
            base, kind=SELF_ASSESSMENT, options=(), outcome_feedback={CORRECT: nb("Bra")}
        ),
    ]
    for item in refused:
        assert [str(p) for p in validate_item(item)] == ["This item type has no such feedback."]
    numeric = dataclasses.replace(
        base, kind=NUMERIC, options=(number(1, 0),), outcome_feedback={OTHER_ANSWER: nb("Nei")}
    )
    assert validate_item(numeric) == []
    assert [outcome(c) for c in (1.0, 0.9995, 0.5, 0.0)] == [
        CORRECT,
        CORRECT,
        PARTIALLY_CORRECT,
        INCORRECT,
    ]


def test_moodles_own_gift_examples_read_as_moodle_reads_them():
    """The strings of Moodle's GIFT format tests (question/format/gift/tests)."""
    text = (
        "// math range question\n"
        "::Q5:: What is a number from 1 to 5? {#3:2~#Completely wrong}\n\n"
        "// question: 666  name: Q5\n"
        "::Q5::What is a number from 1 to 5?{#\n\t=%100%3:2#\n\t~#Completely wrong\n}\n\n"
        "::colours:: What's between orange and green in the spectrum?\n{\n"
        "    ~%50%yellow # right; good!\n    ~%-100%red # [html]wrong\n"
        "    ~%50%off-beige # right; good!\n    ~%-100%[plain]blue # wrong\n}\n\n"
        "// question: 666  name: Q8\n::Q8::How are you?{}\n"
    )
    items, skipped, problems = read(parse_gift, text.encode(), language="en")

    assert problems == []
    assert skipped == [skip(19, "Q8", "essay")]
    numeric = {
        "kind": NUMERIC,
        "options": (OptionData(fraction=1.0, value=3.0, tolerance=2.0),),
        "outcome_feedback": {OTHER_ANSWER: {"en": "Completely wrong"}},
    }
    assert [(i.kind, i.options, i.outcome_feedback) for i in items[:2]] == [
        tuple(numeric.values())
    ] * 2
    assert items[2].kind == MULTIPLE_CHOICE
    assert [(o.text["en"], o.fraction, o.feedback["en"]) for o in items[2].options] == [
        ("yellow", 0.5, "right; good!"),
        ("red", -1.0, "wrong"),
        ("off-beige", 0.5, "right; good!"),
        ("blue", -1.0, "wrong"),
    ]
