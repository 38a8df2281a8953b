"""GIFT question banks (Moodle's text format, https://docs.moodle.org/en/GIFT_format): read.

Questions are separated by blank lines; ``//`` lines are comments and ``$CATEGORY:`` sets
the category of the questions after it. A question is ``::title::`` (optional), its text
(optionally ``[html]``, ``[moodle]``, ``[plain]`` or ``[markdown]`` first) and one answer
section in braces; text after the braces makes a missing-word question. ``\\~ \\= \\# \\{ \\}
\\:`` are the characters themselves and ``\\n`` a line break.

We read what Moodle reads as multiple choice (``{=right ~wrong}``, ``{~%50%a ~%50%b}``),
true/false (``{T}``, ``{FALSE#wrong feedback#right feedback}``) and numerical (``{#42:0.5}``,
``{#1..5}``, ``{#=42 =%50%40:2 ~#feedback for any other number}``), following Moodle's own
reader so a file means here what it means there. Essay, short answer, matching and
descriptions are skipped by name and line.

Moodle's export starts each question with comment lines: ``// question: 2042  name: …``
and, when the question has them, ``// [id:BRANN-1] [tag:HMS-1] [tag:brann]``. As Moodle
does, the ``[id:…]`` in a question's comments is its ID number (our code) and each
``[tag:…]`` a tag (a competence code when it names one); ``\\]`` is a ``]`` in either.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from flask_babel import lazy_gettext as _l

from lti_tool.domain.items import (
    MULTIPLE_CHOICE,
    NUMERIC,
    OTHER_ANSWER,
    SINGLE_CHOICE,
    TRUE_FALSE,
    CompetenceRef,
    ItemData,
    OptionData,
)
from lti_tool.interchange.model import MAX_IMPORT_ITEMS, Problem, at_line, decode
from lti_tool.interchange.questions import (
    CODE_WORDS,
    HTML,
    MARKDOWN,
    MOODLE_AUTO_FORMAT,
    PLAIN_TEXT,
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

CATEGORY = "$CATEGORY:"
#: What a missing-word question shows where the answer goes.
BLANK = "_____"
GENERAL_FEEDBACK = "####"
#: GIFT's format prefixes, and Moodle's auto-format when a text has none.
_FORMATS = {
    "html": HTML,
    "moodle": MOODLE_AUTO_FORMAT,
    "plain": PLAIN_TEXT,
    "markdown": MARKDOWN,
}
_FORMAT_PREFIX = re.compile(r"^\[(html|moodle|plain|markdown)\]")
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d+)?)%")
_TRUE = ("T", "TRUE")
_FALSE = ("F", "FALSE")

#: Escaped characters stand in as private-use characters while the markup is read, so that
#: ``\\=`` is never taken for an answer; ``\\n`` becomes a line break at once.
_ESCAPE = re.compile(r"\\([\\:#=~{}n])")
_ESCAPED = "\\:#=~{}"
_PLACEHOLDER = {char: chr(0xE000 + index) for index, char in enumerate(_ESCAPED)}
_RESTORE = str.maketrans({mark: char for char, mark in _PLACEHOLDER.items()})

#: Moodle's patterns for the ID number and tags in a question's comments: any characters
#: but brackets and control characters (tags may hold "[" but not "<", ">" or "`"), with
#: ``\]`` for a "]".
_ID_NUMBER = re.compile(r"\[id:((?:\\\]|[^\[\]\x00-\x1f\x7f])+)\]")
_TAG = re.compile(r"\[tag:((?:\\\]|[^\]<>`\x00-\x1f\x7f])+)\]")


@dataclasses.dataclass
class _Block:
    """One question's lines (trimmed, with their numbers) and its comment lines."""

    lines: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    comments: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Context:
    """What reading one file carries from question to question."""

    language: str
    codes: Codes = dataclasses.field(default_factory=Codes)
    category: str = ""


@dataclasses.dataclass
class _Question:
    """One question's parts, its escapes still hidden: what follows reads the answers."""

    title: str
    stem: str
    """Plain text, with the blank of a missing-word question."""
    text_format: str
    answers: str
    """What is between the braces, without the general feedback."""
    feedback: str

    @property
    def name(self) -> str:
        return self.title or short_name(self.stem) or "?"


def parse_gift(data: bytes, language: str = "nb") -> QuestionFile:
    """The questions of a GIFT file, those skipped and every problem with it; texts go
    under ``language``. The caller imports nothing when there is any problem."""
    check_language(language)
    text, problems = decode(data)
    if text is None:
        return QuestionFile(problems=problems)
    blocks = _blocks(text)
    if len(blocks) > MAX_IMPORT_ITEMS:
        return QuestionFile(problems=[too_many_questions(len(blocks))])
    found = QuestionFile(problems=problems)
    context = _Context(language)
    for block in blocks:
        _read_block(block, context, found)
    return found.finish()


# Splitting and escapes


def _blocks(text: str) -> list[_Block]:
    """The file's questions: runs of lines between blank lines, each line trimmed and with
    its number, the comment lines apart."""
    blocks: list[_Block] = []
    current = _Block()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            if current.lines:
                blocks.append(current)
            current = _Block()
        elif line.startswith("//"):  # a comment line does not end a question
            current.comments.append(line)
        else:
            current.lines.append((number, line))
    if current.lines:
        blocks.append(current)
    return blocks


def id_number_and_tags(comments: str) -> tuple[str, list[str]]:
    """The ID number (the first ``[id:…]``, or '') and the tags in a question's comments."""
    found = _ID_NUMBER.search(comments)
    id_number = found.group(1).replace("\\]", "]").strip() if found else ""
    tags = [match.replace("\\]", "]").strip() for match in _TAG.findall(comments)]
    return id_number, [tag for tag in dict.fromkeys(tags) if tag]


def _hide_escapes(text: str) -> str:
    def hide(match: re.Match[str]) -> str:
        char = match.group(1)
        return "\n" if char == "n" else _PLACEHOLDER[char]

    return _ESCAPE.sub(hide, text)


def _restore(text: str) -> str:
    return text.translate(_RESTORE)


def _plain(text: str, default_format: str) -> str:
    """A GIFT text as plain text: its own format prefix, or the question's format."""
    text_format, body = _split_format(text.strip(), default_format)
    return to_plain_text(_restore(body), text_format)


def _split_format(text: str, default_format: str) -> tuple[str, str]:
    match = _FORMAT_PREFIX.match(text)
    if match is None:
        return default_format, text
    return _FORMATS[match.group(1)], text[match.end() :]


# Questions


def _read_block(block: _Block, context: _Context, found: QuestionFile) -> None:
    lines = block.lines
    if lines[0][1].startswith(CATEGORY):
        context.category = category_path(lines[0][1][len(CATEGORY) :])
        lines = lines[1:]
    if not lines:
        return
    line = lines[0][0]
    question = _split_question(line, _hide_escapes("\n".join(text for _, text in lines)))
    if isinstance(question, Problem):
        found.problems.append(question)
        return
    if isinstance(question, Skipped):
        found.skipped.append(question)
        return
    question_type = _question_type(question.answers)
    read = _READERS.get(question_type)
    if read is None:
        found.skipped.append(Skipped(question.name, line, type_label(question_type)))
        return
    where = at_question(line, question.name)
    read_answers = read(question, where, context.language)
    id_number, tags = id_number_and_tags("\n".join(block.comments))
    item = ItemData(
        kind=read_answers.kind,
        stem=in_language(context.language, question.stem),
        options=tuple(read_answers.options),
        code=context.codes.claim(
            id_number, question.title or short_name(question.stem, CODE_WORDS)
        ),
        feedback=in_language(context.language, question.feedback),
        settings={"category": context.category} if context.category else {},
        competences=tuple(CompetenceRef(code=tag) for tag in tags),
        outcome_feedback=read_answers.outcome_feedback,
    )
    found.questions.append(Question(item, question.name, line))
    found.problems.extend(read_answers.problems or item_problems(item, where))


def _take_title(text: str) -> tuple[str, str]:
    """``::title::`` and the rest; like Moodle, a ``::`` that is never closed is no title."""
    if not text.startswith("::"):
        return "", text
    title, separator, rest = text[2:].partition("::")
    if not separator:
        return "", text[2:]
    return question_name(_restore(title)), rest.strip()


def _split_question(line: int, text: str) -> _Question | Skipped | Problem:
    """Title, text, answer section and general feedback, or why they cannot be told apart
    (or a description, which has no answers)."""
    title, text = _take_title(text)
    text_format, text = _split_format(text, MOODLE_AUTO_FORMAT)
    start, end = text.find("{"), text.find("}")
    if start < 0 and end < 0:
        name = title or short_name(_plain(text, text_format)) or "?"
        return Skipped(name, line, type_label("description"))
    if start < 0 or end < start or "{" in text[start + 1 :] or "}" in text[end + 1 :]:
        name = title or short_name(_plain(text.split("{")[0], text_format)) or "?"
        return Problem(
            at_line(line),
            _l(
                "Question “%(name)s” cannot be read: it needs exactly one answer section "
                "between { and } (write \\{ and \\} for braces in its text).",
                name=name,
            ),
        )
    before, after = text[:start], text[end + 1 :]
    stem = before + after if not after.strip() else before + BLANK + after
    answers, separator, feedback = text[start + 1 : end].rpartition(GENERAL_FEEDBACK)
    if not separator:
        answers, feedback = feedback, ""
    return _Question(
        title=title,
        stem=_plain(stem, text_format),
        text_format=text_format,
        answers=answers.strip(),
        feedback=_plain(feedback, text_format),
    )


def _question_type(answers: str) -> str:
    """Moodle's type for an answer section, told apart in Moodle's order."""
    if not answers:
        return "essay"
    if answers.startswith("#"):
        return "numerical"
    if "~" in answers:
        return "multichoice"
    if "=" in answers and "->" in answers:
        return "matching"
    if answers.partition("#")[0].strip().upper() in _TRUE + _FALSE:
        return "truefalse"
    return "shortanswer"


@dataclasses.dataclass
class _Read:
    """What a type's reader makes of a question's answers."""

    kind: str
    options: list[OptionData]
    problems: list[Problem] = dataclasses.field(default_factory=list)
    outcome_feedback: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def _weight(answer: str, default: float) -> tuple[float, str]:
    """An answer's ``%50%`` credit (as 0.5) and the rest of it."""
    match = _WEIGHT.match(answer)
    if match is None:
        return default, answer
    return float(match.group(1)) / 100, answer[match.end() :]


def _choice(question: _Question, where: Any, language: str) -> _Read:
    """``=`` marks a right answer, ``~`` a wrong one or one with a ``%n%`` credit. As in
    Moodle, any ``=`` makes one answer the choice; without one, several credits make it
    multiple choice."""
    pieces = re.split(r"([~=])", question.answers)
    marked = [("~", pieces[0])] if pieces[0].strip() else []
    marked += list(zip(pieces[1::2], pieces[2::2], strict=True))
    options = []
    for marker, answer in marked:
        fraction, answer = _weight(answer.strip(), 1.0 if marker == "=" else 0.0)
        text, _, feedback = answer.partition("#")
        options.append(
            OptionData(
                text=in_language(language, _plain(text, question.text_format)),
                fraction=fraction,
                feedback=in_language(language, _plain(feedback, question.text_format)),
            )
        )
    fractions = sorted(o.fraction for o in options)
    only_one_right = fractions.count(1.0) == 1 and fractions.count(0.0) == len(fractions) - 1
    single = "=" in question.answers or only_one_right
    return _Read(SINGLE_CHOICE if single else MULTIPLE_CHOICE, options)


def _true_false(question: _Question, where: Any, language: str) -> _Read:
    """``{T#feedback when wrong#feedback when right}``: the feedback goes to the option
    that earns it."""
    answer, wrong_text, right_text = [*question.answers.split("#", 2), "", ""][:3]
    is_true = answer.strip().upper() in _TRUE
    wrong = in_language(language, _plain(wrong_text, question.text_format))
    right = in_language(language, _plain(right_text, question.text_format))
    true_word, false_word = true_false_words(language)
    options = [
        OptionData(
            text={language: true_word},
            fraction=1.0 if is_true else 0.0,
            feedback=right if is_true else wrong,
        ),
        OptionData(
            text={language: false_word},
            fraction=0.0 if is_true else 1.0,
            feedback=wrong if is_true else right,
        ),
    ]
    return _Read(TRUE_FALSE, options)


def _numeric(question: _Question, where: Any, language: str) -> _Read:
    """``{#value}``, ``{#value:tolerance}``, ``{#low..high}``, or several ``=`` answers
    with ``%n%`` credits. As in Moodle, everything after a ``~`` is the feedback (after its
    ``#``) for any other number: Moodle's "*" answer, which Moodle's export writes as
    ``~#feedback``."""
    answers, other, other_answer = question.answers[1:].partition("~")
    other_feedback = in_language(
        language, _plain(other_answer.partition("#")[2], question.text_format)
    )
    pieces = [piece.strip() for piece in answers.split("=")]
    options: list[OptionData] = []
    problems: list[Problem] = []
    for piece in pieces[1:] if not pieces[0] else pieces:
        fraction, piece = _weight(piece, 1.0)
        number, _, feedback = piece.partition("#")
        value, tolerance = _value_and_tolerance(_restore(number).strip(), where, problems)
        options.append(
            OptionData(
                fraction=fraction,
                feedback=in_language(language, _plain(feedback, question.text_format)),
                value=value,
                tolerance=tolerance,
            )
        )
    read = _Read(NUMERIC, options, problems)
    if other and other_feedback:
        read.outcome_feedback[OTHER_ANSWER] = other_feedback
    return read


def _value_and_tolerance(
    number: str, where: Any, problems: list[Problem]
) -> tuple[float | None, float | None]:
    """``42``, ``42:0.5`` or ``40..44`` (the middle, give or take half the range)."""
    if ".." in number[1:]:
        low_text, _, high_text = number.partition("..")
        low, high = _number(low_text, where, problems), _number(high_text, where, problems)
        if low is None or high is None:
            return None, None
        return (low + high) / 2, (high - low) / 2
    value_text, _, tolerance_text = number.partition(":")
    value = _number(value_text, where, problems)
    tolerance = _number(tolerance_text, where, problems) if tolerance_text else 0.0
    return value, tolerance


def _number(text: str, where: Any, problems: list[Problem]) -> float | None:
    value = parse_number(text)
    if value is None:
        problems.append(not_a_number(where, text.strip()))
    return value


_READERS = {"multichoice": _choice, "truefalse": _true_false, "numerical": _numeric}
