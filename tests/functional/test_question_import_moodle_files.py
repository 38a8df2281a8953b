"""Moodle's own question-format test files (tests/fakes/questions/moodle/, copied from
Moodle's repository) through the designer's preview and confirmation, the API and the
command line: the types we hold are imported, the others skipped by name and line, ID
numbers kept, and what Moodle itself refuses is refused, naming the defect, nothing written."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import pytest

from lti_tool.db import get_session
from lti_tool.errors import ImportErrors
from lti_tool.services import item_bank
from tests.fakes import content
from tests.fakes.lms import TestLms
from tests.fakes.mappings import designer_browser
from tests.functional.test_question_import import (
    _api,
    _count,
    _form,
    _items,
    _rows,
    confirm,
    preview,
)

MOODLE = Path(__file__).resolve().parent.parent / "fakes" / "questions" / "moodle"
CONFIRM = "/designer/items/import/confirm"
UNSUPPORTED = (
    "Questions of type {} cannot be imported (supported: multiple choice, true/false, numerical)."
)


@pytest.fixture
def token(cli: Any, care: dict[str, Any]) -> str:
    result = cli("api-token", "create", "--organisation", "Testkommune", "--scope", "write")
    return str(result.stdout.strip().splitlines()[-1])


def _read(name: str) -> bytes:
    return (MOODLE / name).read_bytes()


def _unescaped(rows: list[list[str]]) -> list[list[str]]:
    return [[html.unescape(cell) for cell in row] for row in rows]


def test_moodles_gift_test_file_is_previewed_and_imported_on_the_designers_page(
    app: Any, lms: TestLms, care: dict[str, Any]
) -> None:
    browser = designer_browser(app, lms)
    response = preview(
        browser,
        _read("questions.gift.txt"),
        "questions.gift.txt",
        "gift",
        care["competences"]["office"],
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert _unescaped(_rows(page, "Questions to import")) == [
        ["14", "Q2", "Single choice", "q2", "office"],
        ["22", "colours", "Multiple choice", "colours", "office"],
        ["31", "Q5", "Numeric answer", "q5", "office"],
        ["41", "Q1", "True/false", "q1", "office"],
        ["46", "2-08 TSL", "True/false", "2-08-tsl", "office"],
        ["49", "2-08 TSL", "True/false", "2-08-tsl-2", "office"],
    ]
    assert _unescaped(_rows(page, "Questions skipped")) == [
        ["2", "Q8", UNSUPPORTED.format("essay")],
        ["5", "Moodle activities", UNSUPPORTED.format("matching")],
        ["34", "Shortanswer", UNSUPPORTED.format("short answer")],
    ]
    assert _count(app) == 0

    assert confirm(browser, page).status_code == 302
    items = {item.code: item for item in _items(app)}
    assert sorted(items) == ["2-08-tsl", "2-08-tsl-2", "colours", "q1", "q2", "q5"]
    # Numerical: 3 give or take 2, and Moodle's "*" answer's feedback for any other number.
    q5 = items["q5"]
    assert [(o.value, o.tolerance, o.fraction) for o in q5.options] == [(3.0, 2.0, 1.0)]
    assert q5.outcome_feedback == {"other_answer": {"nb": "Completely wrong"}}
    # True/false {FALSE#wrong#right####general}: each feedback on the option that earns it.
    q1 = items["q1"]
    assert [(o.fraction, o.feedback) for o in q1.options] == [
        (0.0, {"nb": "42 is the Ultimate Answer."}),
        (1.0, {"nb": "You gave the right answer."}),
    ]
    assert q1.feedback == {"nb": "This is, of course, a Hitchiker's Guide to the Galaxy reference."}
    assert [(o.text, o.fraction) for o in items["colours"].options] == [
        ({"nb": "yellow"}, 0.5),
        ({"nb": "red"}, -1.0),
        ({"nb": "off-beige"}, 0.5),
        ({"nb": "blue"}, -1.0),
    ]


def test_moodles_xml_test_files_keep_id_numbers_and_skip_the_essay(
    app: Any, lms: TestLms, care: dict[str, Any], token: str
) -> None:
    dry = _api(
        app,
        token,
        _read("nested_categories_with_questions.xml"),
        "nested.xml",
        format="moodle-xml",
        competence="office",
        dry_run="true",
    )
    assert dry.status_code == 200, dry.get_json()
    found = dry.get_json()
    assert [(q["line"], q["name"], q["kind"], q["code"]) for q in found["imported"]] == [
        (15, "Iota Question", "true_false", "iota-question"),
        (83, "Kappa Question", "true_false", "kappa-question"),
        (123, "Lambda Question", "true_false", "lambda-question"),
        (163, "Mu Question", "true_false", "mu-question"),
    ]
    assert [(s["line"], s["name"], s["type"]) for s in found["skipped"]] == [
        (55, "Kappa Essay Question", "essay")
    ]
    assert _count(app) == 0

    made = _api(
        app,
        token,
        _read("html_chars_in_idnumbers.xml"),
        "html_chars.xml",
        format="moodle-xml",
        competence="office",
    )
    assert made.status_code == 201, made.get_json()
    (item,) = _items(app)
    assert item.code == "T-&-F"  # Moodle's ID number "T &amp; F", its spaces made dashes
    assert item.settings == {"category": "Alpha"}
    assert [ic.competence.code for ic in item.competences] == ["office"]


def test_moodles_gift_file_with_a_category_imports_from_the_command_line(
    app: Any, lms: TestLms, care: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "questions_in_category.gift.txt"
    path.write_bytes(_read("questions_in_category.gift.txt"))
    base = ("items", "import", str(path), "--organisation", "Testkommune", "--format", "gift")

    dry = cli(*base, "--competence", "office", "--dry-run")
    lines = dry.stdout.strip().splitlines()
    assert lines[:2] == [
        "import\tline 14\tsingle_choice\tgreeting\tGreeting\toffice",
        "import\tline 27\ttrue_false\tmoodle-acronym\tMoodle acronym\toffice",
    ]
    assert lines[2].startswith("skip\tline 5\tMoodle activities\tQuestions of type matching")
    assert lines[3].startswith("skip\tline 22\tMoodle user\tQuestions of type short answer")
    assert _count(app) == 0

    done = cli(*base, "--competence", "office")
    assert done.stdout.strip().splitlines()[-1] == "Imported 2 question(s); skipped 2."
    greeting = next(i for i in _items(app) if i.code == "greeting")
    assert greeting.settings == {"category": "Default for New Features"}
    assert greeting.stem == {"nb": "Listen to this greeting:\nWhat language is being spoken?"}
    assert [o.fraction for o in greeting.options] == [0.0, 1.0, 0.0, 0.0]


def test_a_file_moodle_refuses_for_its_grades_is_refused_naming_the_grade(
    app: Any, lms: TestLms, care: dict[str, Any], token: str, cli: Any, tmp_path: Path
) -> None:
    """Moodle's error_invalid_grades.xml: an answer worth 33 % (not a third, 33.33333 %)."""
    data = _read("error_invalid_grades.xml")
    defect = "The credit 33 % is not one Moodle allows"

    browser = designer_browser(app, lms)
    page = preview(
        browser, data, "error_invalid_grades.xml", "moodle-xml", care["competences"]["office"]
    )
    assert page.status_code == 422
    assert defect in html.unescape(page.get_data(as_text=True))
    # The name as Moodle cleans it (its own test expects "Question with invalid grades : …").
    where = "line 4, question “Question with invalid grades : x > 1 & x < 2”"
    assert where in html.unescape(page.get_data(as_text=True))
    assert _form(page.get_data(as_text=True), CONFIRM) is None

    api = _api(app, token, data, "e.xml", format="moodle-xml", competence="office", dry_run="true")
    assert api.status_code == 422
    assert any(defect in p for p in api.get_json()["problems"]), api.get_json()

    gift = tmp_path / "invalid.gift"
    gift.write_bytes(
        b"::Primes::Which are prime?{\n~%33%2\n~%33.33333%3\n~%33.33333%5\n~%-50%4\n}\n"
    )
    refused = cli(
        "items",
        "import",
        str(gift),
        "--organisation",
        "Testkommune",
        "--format",
        "gift",
        "--competence",
        "office",
        ok=False,
    )
    assert refused.exit_code == 1
    assert "line 1, question “Primes”: The credit 33 % is not one Moodle allows" in refused.output
    assert _count(app) == 0


# What Moodle's GIFT exporter writes for a question with an ID number and tags, and the
# comments its importer reads them from (question/format/gift/tests/giftformat_test.php:
# test_export_question_with_tags_and_idnumber, extract_idnumber_and_tags_from_comment_testcases).
MOODLE_EXPORT_WITH_TAGS = (
    "// question: 104000  name: True/false question\n"
    "// [id:myid] [tag:tag1] [tag:tag2]\n"
    "::True/false question::[html]The answer is true.{TRUE#This is the wrong answer."
    "#This is the right answer.####You should have selected true.}\n\n"
)


@pytest.mark.parametrize(
    ("comment", "code", "competences"),
    [
        ("// A basic comment.", "question", ["office"]),
        ("// A comment with [id:frog] <-- an idnumber.", "frog", ["office"]),
        ("// Look tags: [tag:frog] [tag:toad].", "question", ["frog", "toad"]),
        (
            "// [tag:  toad] Here is  \n// a [id:   four   ] que[tag:frog   ]stion.",
            "four",
            ["toad", "frog"],
        ),
        ("// Ceci n'est pas une [tag:\n// frog].", "question", ["office"]),
        ("// [id:i\\]d].", "i]d", ["office"]),
    ],
)
def test_moodles_gift_comments_give_the_code_and_competences(
    app: Any,
    lms: TestLms,
    care: dict[str, Any],
    token: str,
    comment: str,
    code: str,
    competences: list[str],
) -> None:
    with app.app_context():
        content.framework(care["organisation_id"], "dyr", "Dyr", {"frog": "Frosk", "toad": "Padde"})
        get_session().commit()
    gift = f"{comment}\n::Question::Frogs are amphibians.{{T}}\n".encode()

    response = _api(app, token, gift, "q.gift", format="gift", competence="office")

    assert response.status_code == 201, response.get_json()
    (row,) = response.get_json()["imported"]
    assert (row["code"], row["competences"]) == (code, competences)


def test_moodles_gift_export_with_an_id_number_and_tags_is_imported(
    app: Any, lms: TestLms, care: dict[str, Any]
) -> None:
    with app.app_context():
        content.framework(care["organisation_id"], "tagger", "Tagger", {"tag1": "Tag 1"})
        get_session().commit()
    browser = designer_browser(app, lms)
    page = preview(browser, MOODLE_EXPORT_WITH_TAGS.encode(), "export.gift", "gift")

    assert page.status_code == 200, page.get_data(as_text=True)
    html_page = page.get_data(as_text=True)
    assert _unescaped(_rows(html_page, "Questions to import")) == [
        ["3", "True/false question", "True/false", "myid", "tag1"]
    ]
    assert confirm(browser, html_page).status_code == 302
    (item,) = _items(app)
    assert (item.code, [ic.competence.code for ic in item.competences]) == ("myid", ["tag1"])
    assert [(o.fraction, o.feedback) for o in item.options] == [
        (1.0, {"nb": "This is the right answer."}),
        (0.0, {"nb": "This is the wrong answer."}),
    ]
    assert item.feedback == {"nb": "You should have selected true."}


def test_moodles_xml_export_strings_keep_combined_and_any_other_answer_feedback(
    app: Any, lms: TestLms, care: dict[str, Any], token: str
) -> None:
    """xmlformat_test_exports.xml: what Moodle's XML exporter writes in its own tests
    (test_export_multichoice, _numerical, _shortanswer, _multianswer_withdollars). Its
    multiple choice question gives two answers 100 % each, which Moodle's question form
    refuses (the positive grades must add up to 100 %): so is the file, naming it."""
    data = _read("xmlformat_test_exports.xml")
    refused = _api(app, token, data, "exports.xml", format="moodle-xml", competence="office")
    assert refused.status_code == 422
    assert refused.get_json()["problems"] == [
        "line 4, question “Multiple choice question”: The correct options' credits must add "
        "up to 100 %."
    ]
    assert _count(app) == 0

    halves = data
    for answer in (b"2", b"4"):  # as Moodle's question form requires: 50 % each
        halves = halves.replace(
            b'<answer fraction="100" format="plain_text">\n      <text>' + answer + b"</text>",
            b'<answer fraction="50" format="plain_text">\n      <text>' + answer + b"</text>",
        )
    browser = designer_browser(app, lms)
    page = preview(browser, halves, "exports.xml", "moodle-xml", care["competences"]["office"])
    assert page.status_code == 200, page.get_data(as_text=True)
    html_page = page.get_data(as_text=True)
    assert _unescaped(_rows(html_page, "Questions skipped")) == [
        ["100", "Short answer question", UNSUPPORTED.format("short answer")],
        ["135", "Multianswer with $s", UNSUPPORTED.format("embedded answers (Cloze)")],
    ]
    assert confirm(browser, html_page).status_code == 302
    items = {item.code: item for item in _items(app)}
    choice = items["multiple-choice-question"]
    assert (choice.kind, choice.points) == ("multiple_choice", 2.0)
    assert [(o.text, o.fraction) for o in choice.options] == [
        ({"nb": "1"}, 0.0),
        ({"nb": "2"}, 0.5),
        ({"nb": "3"}, 0.0),
        ({"nb": "4"}, 0.5),
    ]
    assert choice.outcome_feedback == {
        "correct": {"nb": "Your answer is correct."},
        "partially_correct": {"nb": "Your answer is partially correct."},
        "incorrect": {"nb": "Your answer is incorrect."},
    }
    assert choice.feedback == {"nb": "The even numbers are 2 and 4."}
    number = items["numerical-question"]
    assert [(o.value, o.tolerance, o.fraction, o.feedback) for o in number.options] == [
        (42.0, 0.001, 1.0, {"nb": "Well done!"}),
        (13.0, 1.0, 0.0, {"nb": "What were you thinking?!"}),
    ]
    assert number.outcome_feedback == {"other_answer": {"nb": "Completely wrong."}}


# --- a confirmation sent twice at once (a double click) ------------------------------------


def test_the_same_import_twice_at_once_writes_once_and_refuses_the_other(
    app: Any, lms: TestLms, care: dict[str, Any]
) -> None:
    """Both requests see a bank without the file's codes; the second waits on the unique
    code until the first commits, then is refused as a changed preview, not a crash."""
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    upload = item_bank.QuestionUpload(
        _read("questions_in_category.gift.txt"),
        "gift",
        "nb",
        competence_ids=[care["competences"]["office"]],
    )
    first_written = threading.Event()
    release = threading.Event()
    results: dict[str, Any] = {}

    def confirm_import(name: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                result = item_bank.import_items(session, care["organisation_id"], upload)
                if hold:
                    first_written.set()
                    release.wait(5)
                session.commit()
                results[name] = len(result.items)
            except ImportErrors as exc:
                session.rollback()
                results[name] = [p.message is item_bank.PREVIEW_CHANGED for p in exc.problems]
            finally:
                session.close()

    one = threading.Thread(target=confirm_import, args=("one", True))
    one.start()
    assert first_written.wait(10)
    two = threading.Thread(target=confirm_import, args=("two", False))
    two.start()
    two.join(0.5)  # blocked on the unique code until the first commits
    release.set()
    one.join(10)
    two.join(10)
    assert results == {"one": 2, "two": [True]}  # refused: the preview changed
    assert _count(app) == 2
