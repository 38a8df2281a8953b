"""What an import file holds, before anything is written: plain data and its problems.

Each format parses bytes into a ``FrameworkData`` and a list of ``Problem``s (each with
where it is: a line, or an item and field), and writes a ``FrameworkData`` back to bytes.
``validate_framework`` then checks what every format shares: codes, titles and their
lengths, the scale, parents and cycles. A NUL character, which PostgreSQL stores in no
text, is refused for every format here: raw by ``decode`` (by line and column), spelt
``\\u0000`` by ``read_json`` (by its path). Nothing here touches the database.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext

from lti_tool import json_input
from lti_tool.domain.requirements import has_cycle
from lti_tool.domain.texts import LANGUAGES, MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH
from lti_tool.domain.urls import is_web_url

#: The largest file an import reads.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
#: The most competences (rows, items) one import may hold.
MAX_IMPORT_ITEMS = 5000
#: The longest code and identifier (the columns' length), and external reference.
MAX_CODE_LENGTH = 100
MAX_REF_LENGTH = 2048
#: The most levels a scale may have.
MAX_LEVELS = 10
#: The name of our extension in formats that allow them (CASE, our Moodle CSV column).
EXTENSION = "laeringslop"

TITLE_TOO_LONG = lazy_gettext("the title is longer than %(max)s characters", max=MAX_TITLE_LENGTH)
DESCRIPTION_TOO_LONG = lazy_gettext(
    "the description is longer than %(max)s characters", max=MAX_DESCRIPTION_LENGTH
)
#: Said of an address that is not an absolute http(s) one (``domain.urls.is_web_url``).
NOT_A_WEB_ADDRESS = lazy_gettext(
    "the reference is not an address that starts with https:// (or http://)"
)
#: Said of a NUL character wherever a file holds one (PostgreSQL stores none in text).
NUL_IN_TEXT = lazy_gettext("the text holds a NUL character, which cannot be stored: remove it")

_CODE = re.compile(r"^\S+$")
#: Control characters (C0, DEL, C1), which no code may hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with an import, and where (``where`` and ``message`` are lazily
    translated strings)."""

    where: Any
    message: Any

    def __str__(self) -> str:
        where = str(self.where) if self.where is not None else ""
        return f"{where}: {self.message}" if where else str(self.message)


def _where(where: Any) -> Any:
    """Where a problem is, without evaluating a lazy string (which needs a locale)."""
    return where if where is not None else ""


def at_line(line: int) -> Any:
    return lazy_gettext("line %(line)s", line=line)


def at_position(line: int, column: int) -> Any:
    return lazy_gettext("line %(line)s, column %(column)s", line=line, column=column)


def at_field(path: str) -> Any:
    """A place in a JSON file, as a path (``job_roles[0].title.nb``)."""
    return lazy_gettext("field %(path)s", path=path)


def at_item(kind: str, identifier: str, field: str | None = None) -> Any:
    if field:
        return lazy_gettext(
            "%(kind)s %(identifier)s, field %(field)s",
            kind=kind,
            identifier=identifier,
            field=field,
        )
    return lazy_gettext("%(kind)s %(identifier)s", kind=kind, identifier=identifier)


@dataclasses.dataclass
class LevelData:
    value: int
    label: dict[str, str]
    description: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class CompetenceData:
    key: str
    """What other rows name it by as their parent (Moodle: ID number; CASE: identifier)."""
    parent_key: str | None
    code: str
    title: dict[str, str]
    description: dict[str, str] = dataclasses.field(default_factory=dict)
    external_ref: str | None = None
    identifier: str | None = None
    archived: bool = False
    sequence: int | None = None
    """Order among siblings when the format gives one (CASE sequenceNumber); else file order."""
    related: list[str] = dataclasses.field(default_factory=list)
    """The keys of cross-referenced competences (Moodle's related competencies)."""
    kept: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the file held that the tool does not use, by format name: written back on export."""
    where: Any = None


@dataclasses.dataclass
class FrameworkData:
    code: str
    title: dict[str, str]
    description: dict[str, str] = dataclasses.field(default_factory=dict)
    identifier: str | None = None
    levels: list[LevelData] = dataclasses.field(default_factory=list)
    competences: list[CompetenceData] = dataclasses.field(default_factory=list)
    kept: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the file held that the tool does not use, by format name: written back on export."""
    where: Any = None


def text_of(value: Any) -> dict[str, str]:
    """A {"nb": …} mapping from outside, keeping known languages with string values."""
    if not isinstance(value, dict):
        return {}
    return {
        k: v.strip()
        for k, v in value.items()
        if k in LANGUAGES and isinstance(v, str) and v.strip()
    }


def code_problem(code: str) -> Any | None:
    """What is wrong with a framework's or job role's code (these take no spaces)."""
    if (
        not code
        or len(code) > MAX_CODE_LENGTH
        or not _CODE.match(code)
        or _CONTROL.search(code) is not None
    ):
        return lazy_gettext(
            "the code “%(code)s” must have between 1 and %(max)s characters and no spaces",
            code=code,
            max=MAX_CODE_LENGTH,
        )
    return None


def competence_code_problem(code: str) -> Any | None:
    """What is wrong with a competence's code: other tools' codes may have inner spaces
    ("DIG 1.1"), so only an empty or too long code, or one with control characters (or
    spaces at its ends, which the readers trim) is refused."""
    if (
        not code
        or len(code) > MAX_CODE_LENGTH
        or code != code.strip()
        or _CONTROL.search(code) is not None
    ):
        return lazy_gettext(
            "the code “%(code)s” must have between 1 and %(max)s characters and no control "
            "characters",
            code=code,
            max=MAX_CODE_LENGTH,
        )
    return None


def decode(data: bytes) -> tuple[str | None, list[Problem]]:
    """The text of an UTF-8 file (with or without a byte order mark), or its problem
    (too large, not UTF-8, or a NUL character anywhere)."""
    if len(data) > MAX_IMPORT_BYTES:
        return None, [
            Problem(
                "",
                lazy_gettext(
                    "The file is %(size)s bytes; the most that can be imported is %(max)s bytes.",
                    size=len(data),
                    max=MAX_IMPORT_BYTES,
                ),
            )
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [
            Problem(
                at_line(line),
                lazy_gettext(
                    "the file is not UTF-8 text (byte %(position)s). Save it as UTF-8 and "
                    "try again.",
                    position=exc.start + 1,
                ),
            )
        ]
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        return None, [Problem(at_position(line, column), NUL_IN_TEXT)]
    return text, []


def read_json(data: bytes) -> tuple[Any, list[Problem]]:
    """A JSON file's value, or its problems: as ``decode``'s, not JSON, nested too deep,
    or a string holding a NUL character (``\\u0000``), named by its path."""
    text, problems = decode(data)
    if text is None:
        return None, problems
    try:
        value = json_input.loads(text)
    except ValueError as exc:
        return None, [
            Problem("", lazy_gettext("the file is not valid JSON (%(error)s)", error=str(exc)))
        ]
    path = json_input.nul_at(value)
    if path is not None:
        return None, [Problem(at_field(path), NUL_IN_TEXT)]
    return value, []


def text_problems(
    where: Any, texts: dict[str, str], max_length: int, too_long: Any
) -> list[Problem]:
    """A title's or description's problem, if any: a NUL character, or more than
    ``max_length`` characters (said by ``too_long``)."""
    if any("\x00" in text for text in texts.values()):
        return [Problem(where, NUL_IN_TEXT)]
    if any(len(text) > max_length for text in texts.values()):
        return [Problem(where, too_long)]
    return []


def too_many(count: int) -> Problem:
    return Problem(
        "",
        lazy_gettext(
            "The file holds %(count)s competences; the most one import can hold is %(max)s.",
            count=count,
            max=MAX_IMPORT_ITEMS,
        ),
    )


def validate_framework(data: FrameworkData, *, publish: bool = False) -> list[Problem]:
    """Every problem that all formats share, each with where it is."""
    problems: list[Problem] = []
    where = _where(data.where)
    wrong_code = code_problem(data.code)
    if wrong_code is not None:
        problems.append(Problem(where, wrong_code))
    if not data.title:
        problems.append(Problem(where, lazy_gettext("the framework has no title")))
    problems += text_problems(where, data.title, MAX_TITLE_LENGTH, TITLE_TOO_LONG)
    problems += text_problems(where, data.description, MAX_DESCRIPTION_LENGTH, DESCRIPTION_TOO_LONG)
    if len(data.competences) > MAX_IMPORT_ITEMS:
        problems.append(too_many(len(data.competences)))
        return problems
    problems += _validate_levels(data, where, publish)

    by_key: dict[str, CompetenceData] = {}
    by_code: dict[str, CompetenceData] = {}
    by_identifier: dict[str, CompetenceData] = {}
    for competence in data.competences:
        here = _where(competence.where)
        wrong_code = competence_code_problem(competence.code)
        if wrong_code is not None:
            problems.append(Problem(here, wrong_code))
        elif competence.code in by_code:
            problems.append(
                Problem(
                    here,
                    lazy_gettext(
                        "the code %(code)s is used twice (also at %(other)s)",
                        code=competence.code,
                        other=by_code[competence.code].where,
                    ),
                )
            )
        else:
            by_code[competence.code] = competence
        if not competence.title:
            problems.append(Problem(here, lazy_gettext("the competence has no title")))
        problems += text_problems(here, competence.title, MAX_TITLE_LENGTH, TITLE_TOO_LONG)
        problems += text_problems(
            here, competence.description, MAX_DESCRIPTION_LENGTH, DESCRIPTION_TOO_LONG
        )
        if competence.external_ref and len(competence.external_ref) > MAX_REF_LENGTH:
            problems.append(
                Problem(
                    here,
                    lazy_gettext(
                        "the reference is longer than %(max)s characters", max=MAX_REF_LENGTH
                    ),
                )
            )
        elif competence.external_ref and not is_web_url(competence.external_ref):
            problems.append(Problem(here, NOT_A_WEB_ADDRESS))
        if competence.identifier:
            if len(competence.identifier) > MAX_CODE_LENGTH:
                problems.append(
                    Problem(
                        here,
                        lazy_gettext(
                            "the identifier is longer than %(max)s characters",
                            max=MAX_CODE_LENGTH,
                        ),
                    )
                )
            elif competence.identifier in by_identifier:
                problems.append(
                    Problem(
                        here,
                        lazy_gettext(
                            "the identifier %(identifier)s is used twice (also at %(other)s)",
                            identifier=competence.identifier,
                            other=by_identifier[competence.identifier].where,
                        ),
                    )
                )
            else:
                by_identifier[competence.identifier] = competence
        if competence.key not in by_key:
            by_key[competence.key] = competence

    for competence in data.competences:
        for key in competence.related:
            if key not in by_key:
                problems.append(
                    Problem(
                        _where(competence.where),
                        lazy_gettext(
                            "the cross-referenced competence %(code)s does not exist", code=key
                        ),
                    )
                )
    index = {key: number for number, key in enumerate(by_key)}
    parent_of: dict[int, int | None] = {}
    for competence in data.competences:
        parent = competence.parent_key
        if parent is not None and parent not in by_key:
            problems.append(
                Problem(
                    _where(competence.where),
                    lazy_gettext("the parent %(parent)s does not exist", parent=parent),
                )
            )
        elif by_key[competence.key] is competence:
            parent_of[index[competence.key]] = index[parent] if parent is not None else None
    for competence in data.competences:
        node = index[competence.key]
        if by_key[competence.key] is competence and node in parent_of and _on_loop(parent_of, node):
            problems.append(
                Problem(
                    _where(competence.where),
                    lazy_gettext(
                        "%(code)s is its own ancestor: the parents form a loop",
                        code=competence.code,
                    ),
                )
            )
    return problems


def _on_loop(parent_of: dict[int, int | None], node: int) -> bool:
    """Is ``node`` one of the nodes of a loop (not merely below one)?"""
    if not has_cycle(parent_of, node, parent_of.get(node)):
        return False
    current = parent_of.get(node)
    for _ in range(len(parent_of) + 1):
        if current is None:
            return False
        if current == node:
            return True
        current = parent_of.get(current)
    return False


def _validate_levels(data: FrameworkData, where: Any, publish: bool) -> list[Problem]:
    problems: list[Problem] = []
    levels = data.levels
    if not levels and not publish:
        return problems
    values = sorted(level.value for level in levels)
    if not 2 <= len(levels) <= MAX_LEVELS or values != list(range(1, len(levels) + 1)):
        problems.append(
            Problem(
                where,
                lazy_gettext(
                    "the scale must have between 2 and %(max)s levels numbered from 1 "
                    "(it has %(count)s)",
                    max=MAX_LEVELS,
                    count=len(levels),
                ),
            )
        )
    for level in levels:
        if not level.label:
            problems.append(
                Problem(where, lazy_gettext("level %(value)s has no label", value=level.value))
            )
        problems += text_problems(
            where,
            level.label,
            MAX_TITLE_LENGTH,
            lazy_gettext(
                "the label of level %(value)s is longer than %(max)s characters",
                value=level.value,
                max=MAX_TITLE_LENGTH,
            ),
        )
        problems += text_problems(
            where,
            level.description,
            MAX_DESCRIPTION_LENGTH,
            lazy_gettext(
                "the description of level %(value)s is longer than %(max)s characters",
                value=level.value,
                max=MAX_DESCRIPTION_LENGTH,
            ),
        )
    if publish and not any(not c.archived for c in data.competences):
        problems.append(
            Problem(where, lazy_gettext("a published framework needs at least one competence"))
        )
    return problems


def sibling_order(competences: Sequence[CompetenceData]) -> list[CompetenceData]:
    """File order, except that siblings with a sequence number come in its order."""
    numbered = list(enumerate(competences))
    numbered.sort(
        key=lambda pair: (
            pair[1].sequence is None,
            pair[1].sequence if pair[1].sequence is not None else 0,
            pair[0],
        )
    )
    return [competence for _, competence in numbered]
