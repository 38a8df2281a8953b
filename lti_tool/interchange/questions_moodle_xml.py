"""Moodle XML question banks ("Export questions" in Moodle's question bank): read.

A ``<quiz>`` holds ``<question type="…">`` elements. We read multiple choice (one or several
answers), true/false and numerical questions; ``category`` pseudo-questions set the category
of the questions after them; every other type is skipped by name and line. Fractions are
percentages (-100 … 100), texts are HTML or another Moodle format and become plain text,
``<idnumber>`` is the item's code and ``<tags>`` are passed on as competence codes for the
import to resolve. Multiple choice keeps its combined feedback (``<correctfeedback>``,
``<partiallycorrectfeedback>``, ``<incorrectfeedback>``) and numerical the feedback of its
``*`` answer (any other number).

The XML comes from outside, so it is parsed with defusedxml and any document type
declaration (and with it every entity trick) is refused: Moodle never writes one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from flask_babel import lazy_gettext as _l

from lti_tool.domain.items import (
    CORRECT,
    INCORRECT,
    MULTIPLE_CHOICE,
    NUMERIC,
    OTHER_ANSWER,
    PARTIALLY_CORRECT,
    SINGLE_CHOICE,
    TRUE_FALSE,
    CompetenceRef,
    ItemData,
    OptionData,
)
from lti_tool.interchange.model import MAX_IMPORT_ITEMS, Problem, at_line, decode
from lti_tool.interchange.questions import (
    HTML,
    Codes,
    Question,
    QuestionFile,
    Skipped,
    at_question,
    category_path,
    check_language,
    in_language,
    item_problems,
    not_a_number,
    parse_number,
    question_name,
    short_name,
    to_plain_text,
    too_many_questions,
    true_false_words,
    type_label,
)

#: The answer Moodle's numerical questions give for "any other number".
ANY_NUMBER = "*"
#: Moodle's combined feedback elements, by the outcome they are for.
COMBINED_FEEDBACK = {
    CORRECT: "correctfeedback",
    PARTIALLY_CORRECT: "partiallycorrectfeedback",
    INCORRECT: "incorrectfeedback",
}


@dataclasses.dataclass
class _Context:
    """What reading one file carries from question to question."""

    language: str
    codes: Codes = dataclasses.field(default_factory=Codes)
    category: str = ""


@dataclasses.dataclass
class _Answers:
    """What a type's reader makes of a question's answers."""

    kind: str
    options: list[OptionData]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    outcome_feedback: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def parse_moodle_xml(data: bytes, language: str = "nb") -> QuestionFile:
    """The questions of a Moodle XML export, those skipped and every problem with it;
    texts go under ``language``. The caller imports nothing when there is any problem."""
    check_language(language)
    text, problems = decode(data)
    if text is None:
        return QuestionFile(problems=problems)
    root, lines, problems = _parse_xml(text)
    if root is None:
        return QuestionFile(problems=problems)
    if root.tag != "quiz":
        return QuestionFile(
            problems=[
                Problem(
                    "",
                    _l(
                        "This is not a Moodle XML question file: it starts with <%(tag)s>, "
                        "not <quiz>.",
                        tag=root.tag,
                    ),
                )
            ]
        )
    questions = root.findall("question")
    if len(questions) > MAX_IMPORT_ITEMS:
        return QuestionFile(problems=[too_many_questions(len(questions))])
    found = QuestionFile()
    context = _Context(language)
    for element in questions:
        _read_question(element, lines.get(element, 0), context, found)
    return found.finish()


# Parsing


class _LineRecorder:
    """Builds the tree like ElementTree does and notes the line of each <question>, which
    ElementTree forgets and a designer needs to find a question in a long export."""

    def __init__(self, current_line: Callable[[], int]) -> None:
        self.builder = TreeBuilder()
        self.current_line = current_line
        self.lines: dict[Element, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = self.builder.start(tag, attrs)
        if tag == "question":
            self.lines[element] = self.current_line()
        return element

    def end(self, tag: str) -> Element:
        return self.builder.end(tag)

    def data(self, data: str) -> None:
        self.builder.data(data)

    def close(self) -> Element:
        return self.builder.close()


def _parse_xml(text: str) -> tuple[Element | None, dict[Element, int], list[Problem]]:
    """The document and the lines of its questions, or why it cannot be read safely."""
    parser: Any = None  # the recorder asks the parser where it is, so it is made first

    def current_line() -> int:
        return int(parser.parser.CurrentLineNumber)

    recorder = _LineRecorder(current_line)
    parser = DefusedXMLParser(target=recorder, forbid_dtd=True)
    try:
        parser.feed(text)
        return parser.close(), recorder.lines, []
    except ParseError as exc:
        problem = Problem(
            at_line(exc.position[0]), _l("the XML cannot be read (%(error)s)", error=str(exc))
        )
    except DefusedXmlException:
        problem = Problem(
            at_line(current_line()),
            _l(
                "the file declares a document type or entities (<!DOCTYPE …>), which Moodle "
                "never writes; it is refused for safety"
            ),
        )
    return None, {}, [problem]


def _text(element: Element | None, path: str = "text") -> str:
    """The stripped text of a child (Moodle wraps every text in <text>), or ''."""
    if element is None:
        return ""
    return (element.findtext(path) or "").strip()


def _formatted(element: Element | None) -> str:
    """The plain text of a Moodle text element (<questiontext format="html"><text>…)."""
    if element is None:
        return ""
    return to_plain_text(_text(element), element.get("format", HTML))


# Questions


def _read_question(element: Element, line: int, context: _Context, found: QuestionFile) -> None:
    question_type = element.get("type") or "?"
    if question_type == "category":
        context.category = category_path(_text(element.find("category")))
        return
    stem = _formatted(element.find("questiontext"))
    name = question_name(_text(element.find("name"))) or short_name(stem) or "?"
    read_answers = _ANSWER_READERS.get(question_type)
    if read_answers is None:
        found.skipped.append(Skipped(name, line, type_label(question_type)))
        return
    where = at_question(line, name)
    answers = read_answers(element, where, context.language)
    points = _points(element, where, answers.problems)
    settings = {"category": context.category} if context.category else {}
    item = ItemData(
        kind=answers.kind,
        stem=in_language(context.language, stem),
        options=tuple(answers.options),
        code=context.codes.claim(_text(element, "idnumber"), name),
        points=points,
        feedback=in_language(context.language, _formatted(element.find("generalfeedback"))),
        settings=settings | answers.settings,
        competences=_competences(element),
        outcome_feedback=answers.outcome_feedback,
    )
    found.questions.append(Question(item, name, line))
    found.problems.extend(answers.problems or item_problems(item, where))


def _points(element: Element, where: Any, problems: list[Problem]) -> float:
    raw = _text(element, "defaultgrade")
    if not raw:
        return 1.0
    points = parse_number(raw)
    if points is None:
        problems.append(not_a_number(where, raw))
        return 1.0
    return points


def _competences(element: Element) -> tuple[CompetenceRef, ...]:
    """The question's tags, in order and once each: the import decides which are competences."""
    tags = (_text(tag) for tag in element.findall("tags/tag"))
    return tuple(CompetenceRef(code=tag) for tag in dict.fromkeys(tags) if tag)


def _fraction(answer: Element, where: Any, problems: list[Problem]) -> float:
    """An answer's credit: Moodle writes a percentage, we keep -1 … 1."""
    raw = answer.get("fraction", "0")
    percent = parse_number(raw)
    if percent is None:
        problems.append(not_a_number(where, raw))
        return 0.0
    return percent / 100


def _option(answer: Element, where: Any, language: str, problems: list[Problem]) -> OptionData:
    return OptionData(
        text=in_language(language, _formatted(answer)),
        fraction=_fraction(answer, where, problems),
        feedback=in_language(language, _formatted(answer.find("feedback"))),
    )


def _multichoice(element: Element, where: Any, language: str) -> _Answers:
    single = _text(element, "single").casefold() not in ("false", "0")
    answers = _Answers(SINGLE_CHOICE if single else MULTIPLE_CHOICE, [])
    for answer in element.findall("answer"):
        answers.options.append(_option(answer, where, language, answers.problems))
    for outcome, tag in COMBINED_FEEDBACK.items():
        text = in_language(language, _formatted(element.find(tag)))
        if text:
            answers.outcome_feedback[outcome] = text
    return answers


def _truefalse(element: Element, where: Any, language: str) -> _Answers:
    """Moodle's two answers are named "true" and "false"; ours are words in the language."""
    answers = _Answers(TRUE_FALSE, [])
    by_text = {_text(answer).casefold(): answer for answer in element.findall("answer")}
    if set(by_text) != {"true", "false"}:
        answers.problems.append(
            Problem(where, _l("a true/false question needs the answers “true” and “false”"))
        )
        return answers
    for value, word in zip(("true", "false"), true_false_words(language), strict=True):
        option = _option(by_text[value], where, language, answers.problems)
        answers.options.append(dataclasses.replace(option, text={language: word}))
    return answers


def _numerical(element: Element, where: Any, language: str) -> _Answers:
    answers = _Answers(NUMERIC, [], settings=_unit(element))
    for answer in element.findall("answer"):
        problems = answers.problems
        raw = _text(answer)
        fraction = _fraction(answer, where, problems)
        if raw == ANY_NUMBER:
            if fraction > 0:
                problems.append(Problem(where, _l("“*” (any number) cannot be an accepted answer")))
            feedback = in_language(language, _formatted(answer.find("feedback")))
            if feedback:
                answers.outcome_feedback.setdefault(OTHER_ANSWER, feedback)
            continue  # "any other number" is no accepted answer: it only carries feedback
        value = parse_number(raw)
        tolerance = parse_number(_text(answer, "tolerance") or "0")
        if value is None:
            problems.append(not_a_number(where, raw))
        if tolerance is None:
            problems.append(not_a_number(where, _text(answer, "tolerance")))
        answers.options.append(
            OptionData(
                fraction=fraction,
                feedback=in_language(language, _formatted(answer.find("feedback"))),
                value=value,
                tolerance=tolerance,
            )
        )
    return answers


def _unit(element: Element) -> dict[str, Any]:
    """The unit the answers are in: Moodle's unit with multiplier 1 (others are conversions)."""
    for unit in element.findall("units/unit"):
        name = _text(unit, "unit_name")
        if name and parse_number(_text(unit, "multiplier")) == 1:
            return {"unit": name}
    return {}


_ANSWER_READERS: dict[str, Callable[[Element, Any, str], _Answers]] = {
    "multichoice": _multichoice,
    "truefalse": _truefalse,
    "numerical": _numerical,
}
