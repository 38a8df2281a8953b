"""What the question-bank readers (Moodle XML and GIFT) share, before anything is written.

Both read Moodle's questions into a ``QuestionFile``: the questions we can hold, each as
``ItemData`` with its name and line (texts in Moodle's formats become plain text, each
question gets a code unique within the file: Moodle's ID number, else a slug of its name);
the questions of types we do not have (essay, short answer, matching …), skipped by name
and line; and the problems, which refuse the whole file (it cannot be read, or a question
we could hold breaks the item rules). Nothing here touches the database or Flask (beyond
lazily translated messages).
"""

from __future__ import annotations

import dataclasses
import math
import re
from html.parser import HTMLParser
from typing import Any

from flask_babel import lazy_gettext as _l

from lti_tool.domain.items import MAX_STEM_LENGTH, CompetenceRef, ItemData, validate_item
from lti_tool.domain.texts import LANGUAGES, MAX_DESCRIPTION_LENGTH
from lti_tool.interchange.model import MAX_CODE_LENGTH, MAX_IMPORT_ITEMS, Problem, text_problems

#: Moodle's text formats, as its XML names them.
HTML = "html"
MOODLE_AUTO_FORMAT = "moodle_auto_format"
PLAIN_TEXT = "plain_text"
MARKDOWN = "markdown"

#: The options of a true/false item, in each language (the item's data, not the interface).
TRUE_FALSE_WORDS = {"nb": ("Sant", "Usant"), "nn": ("Sant", "Usant"), "en": ("True", "False")}

#: How many words of a question's text name it when it has no name.
NAME_WORDS = 8
CODE_WORDS = 6

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_SPACES = re.compile(r"\s+")
_NOT_IN_CODE = re.compile(r"[\W_]+")
#: Moodle's category paths start with their context ("$course$/", "$system$/" …) and "top".
_CATEGORY_CONTEXT = re.compile(r"^\$\w+\$/")
_CATEGORY_TOP = re.compile(r"^top(?:/|$)")


def check_language(language: str) -> None:
    """The language the file is written in must be one of ours, or its texts are lost."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")


def in_language(language: str, text: str) -> dict[str, str]:
    """A text as our items hold it ({"nb": …}), or no text at all."""
    return {language: text} if text else {}


def true_false_words(language: str) -> tuple[str, str]:
    return TRUE_FALSE_WORDS[language]


# Texts


class _TextOnly(HTMLParser):
    """Collects an HTML fragment's text: block ends become line breaks, scripts vanish."""

    BREAKS = frozenset(
        {"br", "p", "div", "li", "tr", "ul", "ol", "table", "blockquote", "pre", "hr"}
        | {f"h{level}" for level in range(1, 7)}
    )
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(_SPACES.sub(" ", data))


def _tidy_lines(text: str) -> str:
    """Collapse the spaces in each line and drop empty lines."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def html_to_text(value: str) -> str:
    """Plain text of HTML: tags (and so images) dropped, entities read, paragraphs as lines."""
    parser = _TextOnly()
    parser.feed(value)
    parser.close()
    return _tidy_lines("".join(parser.parts))


def to_plain_text(value: str, text_format: str) -> str:
    """Plain text of a Moodle text in one of its formats (HTML unless it says otherwise).

    Auto-format keeps its line breaks (Moodle shows them) but may hold HTML; plain text and
    Markdown already read as text.
    """
    if text_format in (PLAIN_TEXT, MARKDOWN):
        return _tidy_lines(value)
    if text_format == MOODLE_AUTO_FORMAT:
        value = value.replace("\n", "<br>")
    return html_to_text(value)


def question_name(raw: str) -> str:
    """A question's name as Moodle cleans it on import (``clean_question_name``): its tags
    dropped ("Question with <strong>invalid grades</strong>" names "Question with invalid
    grades"), on one line."""
    return " ".join(html_to_text(raw).split())


def short_name(text: str, words: int = NAME_WORDS) -> str:
    """The first words of a text, to name a question that has no name of its own."""
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def parse_number(text: str) -> float | None:
    """A finite decimal number written with a point (as Moodle writes them), or None."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def category_path(raw: str) -> str:
    """A Moodle category path without its context ("$course$/top/Brann/Slukking" becomes
    "Brann/Slukking"): the context means nothing outside the course it came from."""
    path = _CATEGORY_CONTEXT.sub("", raw.strip())
    return _CATEGORY_TOP.sub("", path).strip()


# Codes


class Codes:
    """Hands out item codes unique within one file, whatever their case (as the bank
    compares them): a clash gets -2, -3 … appended."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, idnumber: str, name: str) -> str:
        """Moodle's ID number (its spaces made dashes) if it has one, else a slug of the name."""
        base = "-".join(idnumber.split()) if idnumber.strip() else slug(name)
        base = base[:MAX_CODE_LENGTH] or "question"
        code, number = base, 1
        while code.casefold() in self.taken:
            number += 1
            suffix = f"-{number}"
            code = base[: MAX_CODE_LENGTH - len(suffix)] + suffix
        self.taken.add(code.casefold())
        return code


def slug(text: str) -> str:
    """Lower-case words joined by dashes ("Hva er 112?" → "hva-er-112"); letters like æøå stay."""
    return _NOT_IN_CODE.sub("-", text.casefold()).strip("-")


# What a file holds

#: How a skipped question's type is named (Moodle's name of any other type is shown as is).
TYPE_LABELS = {
    "essay": _l("essay"),
    "shortanswer": _l("short answer"),
    "matching": _l("matching"),
    "description": _l("description"),
    "multianswer": _l("embedded answers (Cloze)"),
    "cloze": _l("embedded answers (Cloze)"),  # as Moodle XML names multianswer
    "calculated": _l("calculated"),
}


def type_label(question_type: str) -> Any:
    return TYPE_LABELS.get(question_type, question_type)


@dataclasses.dataclass(frozen=True)
class Question:
    """A question we can hold, as an item, with the name and line that find it in the file."""

    item: ItemData
    name: str
    line: int


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A question of a type we do not have: it is left out, and the designer is told."""

    name: str
    line: int
    question_type: Any
    """Moodle's name of the type, translated where we know it (a lazy string)."""

    @property
    def reason(self) -> Any:
        return _l(
            "Questions of type %(type)s cannot be imported (supported: multiple choice, "
            "true/false, numerical).",
            type=self.question_type,
        )


@dataclasses.dataclass
class QuestionFile:
    questions: list[Question] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)

    @property
    def items(self) -> list[ItemData]:
        return [question.item for question in self.questions]

    def finish(self) -> QuestionFile:
        """A file with neither questions nor problems holds nothing to import."""
        if not self.questions and not self.skipped and not self.problems:
            self.problems.append(no_questions())
        return self


# Problems


def at_question(line: int, name: str) -> Any:
    return _l("line %(line)s, question “%(name)s”", line=line, name=name)


def not_a_number(where: Any, value: str) -> Problem:
    return Problem(
        where,
        _l(
            "“%(value)s” is not a number (write decimals with a point, as in 2.5).",
            value=value,
        ),
    )


def no_questions() -> Problem:
    return Problem("", _l("The file holds no questions."))


def too_many_questions(count: int) -> Problem:
    return Problem(
        "",
        _l(
            "The file holds %(count)s questions; the most one import can hold is %(max)s.",
            count=count,
            max=MAX_IMPORT_ITEMS,
        ),
    )


#: The credits Moodle allows an answer (its ``question_bank::fraction_options_full``):
#: p/q for q ≤ 6, tenths, 1/q for q ≤ 10 and 1/20, each also negative. Moodle refuses a
#: file with any other credit ("invalid grade"), so do we: 33 % where a third was meant
#: would leave the question unable to reach full marks.
MOODLE_FRACTIONS = (
    1.0,
    0.9,
    0.8333333,
    0.8,
    0.75,
    0.7,
    0.6666667,
    0.6,
    0.5,
    0.4,
    0.3333333,
    0.3,
    0.25,
    0.2,
    0.1666667,
    0.1428571,
    0.125,
    0.1111111,
    0.1,
    0.05,
    0.0,
)


def is_moodle_fraction(fraction: float) -> bool:
    """As Moodle compares them (``match_grade_options``): within 0.00001 of one it allows."""
    return any(abs(abs(fraction) - allowed) < 0.00001 for allowed in MOODLE_FRACTIONS)


def not_a_moodle_grade(where: Any, fraction: float) -> Problem:
    return Problem(
        where,
        _l(
            "The credit %(percent)s %% is not one Moodle allows (such as 100, 50, "
            "33.33333 or -25 %%).",
            percent=f"{fraction * 100:g}",
        ),
    )


def item_problems(item: ItemData, where: Any) -> list[Problem]:
    """The item rules' problems, except the missing competence: tags become competences
    only when the import is resolved against the organisation's frameworks. A credit
    Moodle does not allow is named first."""
    problems = [
        not_a_moodle_grade(where, option.fraction)
        for option in item.options
        if not is_moodle_fraction(option.fraction)
    ]
    problems += length_problems(item, where)
    if not item.competences:
        item = dataclasses.replace(item, competences=(CompetenceRef(code="-"),))
    return problems + [Problem(where, message) for message in validate_item(item)]


def length_problems(item: ItemData, where: Any) -> list[Problem]:
    """Texts longer than the item form takes (or holding a NUL character)."""
    stem_too_long = _l("the question's text is longer than %(max)s characters", max=MAX_STEM_LENGTH)
    option_too_long = _l("an answer's text is longer than %(max)s characters", max=MAX_STEM_LENGTH)
    feedback_too_long = _l(
        "a feedback text is longer than %(max)s characters", max=MAX_DESCRIPTION_LENGTH
    )
    checks = [(item.stem, MAX_STEM_LENGTH, stem_too_long)]
    checks += [(option.text, MAX_STEM_LENGTH, option_too_long) for option in item.options]
    feedbacks = [item.feedback, *item.outcome_feedback.values()]
    feedbacks += [option.feedback for option in item.options]
    checks += [(texts, MAX_DESCRIPTION_LENGTH, feedback_too_long) for texts in feedbacks]
    found: list[Problem] = []
    said: set[int] = set()  # each message once, however many answers are too long
    for texts, max_length, too_long in checks:
        for problem in text_problems(where, dict(texts), max_length, too_long):
            if id(problem.message) not in said:
                said.add(id(problem.message))
                found.append(problem)
    return found
