"""Moodle's competency framework CSV (admin/tool/lpimportcsv): read and write.

One row per competence, and one row (``Is framework`` = 1) for the framework itself, whose
``Scale values`` (labels, lowest first, joined by commas) and ``Scale configuration``
(JSON: ``[{"scaleid": …}, {"id": 1, "scaledefault": 1, "proficient": 0}, …]``) hold the
scale. Parents are named by ``Parent ID number``. Moodle has one language: we read it into
``language`` and write it back in that language.

Moodle writes the file with PHP's ``fputcsv`` (comma, ``"``, backslash as escape
character, ``\\n`` after each row; a value is quoted when it holds a comma, a quote, a
backslash, a space, a tab or a line break, and ``true``/``false`` become ``1`` and
nothing). We read and write exactly that dialect, so a file that Moodle exported comes
back from an import and an export byte for byte:

- what the tool does not use is kept (``kept["moodle-csv"]``) and written back: the HTML
  description and its format (the tool shows it as plain text), the scale configuration
  (default and proficient values), the taxonomy of each level, each competence's rule
  (type, outcome, configuration), cross-references, own scale, exported ID and row order;
- a kept value is written back only while what the tool made of it is unchanged (the
  description's text, the scale's labels); else the tool's value is written.

What Moodle cannot hold (other languages, level descriptions, references, identifiers of
frameworks made in the tool) we write in one more column, ``Læringsløp data (optional)``,
as JSON, and only when there is such data; Moodle's importer reads its 14 columns by
position and ignores it, and our importer reads it back.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext, lazy_ngettext

from lti_tool import json_input
from lti_tool.domain.texts import LANGUAGES, localized
from lti_tool.interchange.model import (
    EXTENSION,
    MAX_IMPORT_ITEMS,
    NUL_IN_TEXT,
    CompetenceData,
    FrameworkData,
    LevelData,
    Problem,
    at_line,
    decode,
    text_of,
    too_many,
)

#: The name under which a framework's and a competence's ``kept`` data are stored.
KEPT = "moodle-csv"
HEADERS = (
    "Parent ID number",
    "ID number",
    "Short name",
    "Description",
    "Description format",
    "Scale values",
    "Scale configuration",
    "Rule type (optional)",
    "Rule outcome (optional)",
    "Rule config (optional)",
    "Cross-referenced competency ID numbers",
    "Exported ID (optional)",
    "Is framework",
    "Taxonomy",
)
EXTENSION_HEADER = "Læringsløp data (optional)"
#: Our names of the columns, in Moodle's order.
COLUMNS = (
    "parent",
    "idnumber",
    "shortname",
    "description",
    "descriptionformat",
    "scalevalues",
    "scaleconfiguration",
    "ruletype",
    "ruleoutcome",
    "ruleconfig",
    "related",
    "exportid",
    "isframework",
    "taxonomy",
)
REQUIRED = ("idnumber", "shortname", "isframework")
#: Moodle's text formats: FORMAT_MOODLE, FORMAT_HTML, FORMAT_PLAIN, FORMAT_MARKDOWN.
FORMAT_MOODLE = "0"
FORMAT_HTML = "1"
FORMAT_PLAIN = "2"
FORMAT_MARKDOWN = "4"
FORMATS = (FORMAT_MOODLE, FORMAT_HTML, FORMAT_PLAIN, FORMAT_MARKDOWN)
#: The taxonomies Moodle knows for a framework's levels.
TAXONOMIES = (
    "behaviour",
    "competency",
    "concept",
    "domain",
    "indicator",
    "level",
    "outcome",
    "practice",
    "proficiency",
    "skill",
    "value",
)
#: Moodle shortens short names and ID numbers to this many characters.
MOODLE_MAX = 100


def _normalise(header: str) -> str:
    return re.sub(r"[^a-zæøå]", "", header.strip().casefold())


#: Moodle's headers (and those of older Moodle versions) to our column names.
_KNOWN = {_normalise(h): c for h, c in zip(HEADERS, COLUMNS, strict=True)} | {
    "parentidnumber": "parent",
    "crossreferencedcompetencyidnumbers": "related",
    "crossreferencedcompetencyidnumbersoptional": "related",
    "taxonomies": "taxonomy",
}


def _columns(
    header: list[str], line: int
) -> tuple[dict[str, int], int | None, bool, list[Problem]]:
    """Which column holds what: our column names to their index, the index of our own
    column, and whether the columns are Moodle's, by position.

    Moodle reads its 14 columns by position and writes their names in the exporting
    user's language (and older versions named them differently), so a header of 14 or
    more columns is read by position, whatever the names, unless a name we know stands
    where Moodle reads another column: Moodle would misread such a file, and so it is
    refused. A shorter header (a file made by hand) is read by the names."""
    named = [_KNOWN.get(_normalise(name)) for name in header]
    extension = next(
        (i for i, name in enumerate(header) if _normalise(name).startswith("læringsløp")), None
    )
    if len(header) >= len(COLUMNS) and extension in (None, len(COLUMNS)):
        misplaced = [
            Problem(
                at_line(line),
                lazy_gettext(
                    "column %(number)s is “%(found)s”, but Moodle reads its columns by "
                    "position and reads column %(number)s as “%(expected)s”",
                    number=index + 1,
                    found=header[index].strip(),
                    expected=HEADERS[index],
                ),
            )
            for index, column in enumerate(named[: len(COLUMNS)])
            if column is not None and column != COLUMNS[index]
        ]
        columns = {column: index for index, column in enumerate(COLUMNS)}
        return columns, extension, True, misplaced
    columns = {}
    for index, column in enumerate(named):
        if column is not None:
            columns.setdefault(column, index)
    return columns, extension, False, []


def _html_to_text(value: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</li>|</div>", "\n", value)
    text = re.sub(r"<[^>]*>", "", text)
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


# --- PHP's CSV dialect ----------------------------------------------------------------------


def read_rows(text: str, delimiter: str = ",") -> tuple[list[tuple[int, list[str]]], int | None]:
    """The rows of ``text`` as PHP's ``fgetcsv`` reads them (in a quoted value ``""`` is a
    quote, and a backslash keeps the character after it, both written as they are), each
    with the line it starts on; and the line of a quoted value that is never closed."""
    rows: list[tuple[int, list[str]]] = []
    row: list[str] = []
    field: list[str] = []
    line = start = 1
    position, end = 0, len(text)
    quoted_from: int | None = None
    while position < end:
        char = text[position]
        if quoted_from is not None:
            if char == "\\" and position + 1 < end:
                field.append(text[position : position + 2])
                line += text[position + 1] == "\n"
                position += 2
                continue
            if char == '"':
                if text.startswith('"', position + 1):
                    field.append('"')
                    position += 2
                    continue
                quoted_from = None
            else:
                field.append(char)
                line += char == "\n"
            position += 1
            continue
        if char == '"' and not "".join(field).strip():
            field.clear()
            quoted_from = line
        elif char == delimiter:
            row.append("".join(field))
            field.clear()
        elif char in "\r\n":
            if char == "\r" and text.startswith("\n", position + 1):
                position += 1
            row.append("".join(field))
            field.clear()
            rows.append((start, row))
            row = []
            line += 1
            start = line
        else:
            field.append(char)
        position += 1
    if quoted_from is not None:
        return rows, quoted_from
    if field or row:
        row.append("".join(field))
        rows.append((start, row))
    return rows, None


def _php_value(value: str) -> str:
    if not any(char in value for char in ',"\\\n\r\t '):
        return value
    out = ['"']
    escaped = False
    for char in value:
        if char == "\\":
            escaped = True
        elif not escaped and char == '"':
            out.append('"')
        else:
            escaped = False
        out.append(char)
    out.append('"')
    return "".join(out)


def write_row(values: Iterable[str]) -> str:
    """One row as PHP's ``fputcsv`` writes it (Moodle's ``csv_export_writer``)."""
    return ",".join(_php_value(value) for value in values) + "\n"


# --- reading --------------------------------------------------------------------------------


def _extension(value: str, line: int, problems: list[Problem]) -> dict[str, Any]:
    if not value.strip():
        return {}
    try:
        data = json_input.loads(value)
    except ValueError:
        data = None
    if data is not None and json_input.nul_at(data) is not None:
        problems.append(Problem(at_line(line), NUL_IN_TEXT))
        return {}
    if isinstance(data, dict) and isinstance(data.get(EXTENSION), dict):
        return dict(data[EXTENSION])
    if not isinstance(data, dict):
        problems.append(
            Problem(
                at_line(line),
                lazy_gettext("the column %(column)s is not a JSON object", column=EXTENSION_HEADER),
            )
        )
        return {}
    return {}


def _json_problem(value: str, line: int, message: Any, problems: list[Problem]) -> Any:
    try:
        return json_input.loads(value)
    except ValueError:
        problems.append(Problem(at_line(line), message))
        return None


def _scale_problems(labels: str, configuration: str, line: int, problems: list[Problem]) -> None:
    """Moodle's scale configuration: a JSON list, the scale first, then one object per
    value that is the default or proficient, naming the value by its number; Moodle wants
    a default value and a proficient one."""
    if not configuration:
        return
    try:
        parsed = json_input.loads(configuration)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list):
        problems.append(
            Problem(
                at_line(line),
                lazy_gettext("the scale configuration is not the JSON list Moodle writes"),
            )
        )
        return
    count = len(_labels(labels))
    entries = [entry for entry in parsed[1:] if isinstance(entry, dict)]
    for entry in parsed[1:]:
        value = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= count:
            problems.append(
                Problem(
                    at_line(line),
                    lazy_gettext(
                        "the scale configuration names the value %(value)s, which the scale "
                        "(%(count)s values) does not have",
                        value=value,
                        count=count,
                    ),
                )
            )
    if not any(entry.get("scaledefault") for entry in entries):
        problems.append(
            Problem(at_line(line), lazy_gettext("the scale configuration has no default value"))
        )
    if not any(entry.get("proficient") for entry in entries):
        problems.append(
            Problem(at_line(line), lazy_gettext("the scale configuration has no proficient value"))
        )


def _taxonomy_problems(taxonomies: str, line: int, problems: list[Problem]) -> None:
    for term in taxonomies.split(","):
        if term and term not in TAXONOMIES:
            problems.append(
                Problem(
                    at_line(line),
                    lazy_gettext(
                        "the taxonomy %(term)s is not one of Moodle's (%(known)s)",
                        term=term,
                        known=", ".join(TAXONOMIES),
                    ),
                )
            )


def _labels(scalevalues: str) -> list[str]:
    return [label.strip() for label in scalevalues.split(",") if label.strip()]


def _description(raw: str, format_: str) -> str:
    if format_ in (FORMAT_PLAIN, FORMAT_MARKDOWN):
        return raw.replace("\r\n", "\n").strip()
    return _html_to_text(raw)


def _row_problems(cell: Any, line: int, problems: list[Problem]) -> None:
    if cell("descriptionformat") not in ("", *FORMATS):
        problems.append(
            Problem(
                at_line(line),
                lazy_gettext(
                    "the description format %(format)s is not one of Moodle's (0, 1, 2 or 4)",
                    format=cell("descriptionformat"),
                ),
            )
        )
    if not re.fullmatch(r"-?\d*", cell("ruleoutcome")):
        problems.append(
            Problem(
                at_line(line),
                lazy_gettext(
                    "the rule outcome %(outcome)s is not a whole number",
                    outcome=cell("ruleoutcome"),
                ),
            )
        )
    if cell("ruleconfig") not in ("", "null"):
        _json_problem(
            cell("ruleconfig"),
            line,
            lazy_gettext("the rule configuration is not JSON"),
            problems,
        )


def parse(data: bytes, language: str = "nb") -> tuple[FrameworkData | None, list[Problem]]:
    text, problems = decode(data)
    if text is None:
        return None, problems
    first_line = text.split("\n", 1)[0]
    rows, unclosed = read_rows(text, _sniff_delimiter(first_line))
    if unclosed is not None:
        return None, [Problem(at_line(unclosed), lazy_gettext("a quoted value is never closed"))]
    if not rows:
        return None, [Problem("", lazy_gettext("The file is empty."))]
    header_line, header = rows[0]
    columns, extension_column, by_position, misplaced = _columns(header, header_line)
    if misplaced:
        return None, misplaced
    missing = [HEADERS[COLUMNS.index(c)] for c in REQUIRED if c not in columns]
    if missing:
        return None, [
            Problem(
                at_line(header_line),
                lazy_gettext(
                    "the header row lacks the column(s) %(columns)s",
                    columns=", ".join(f"“{m}”" for m in missing),
                ),
            )
        ]
    body = rows[1:]
    if len(body) > MAX_IMPORT_ITEMS + 1:
        return None, [too_many(len(body) - 1)]

    framework: FrameworkData | None = None
    competences: list[CompetenceData] = []
    for line, row in body:
        if not any(value.strip() for value in row):
            continue
        if len(row) != len(header):
            # Moodle's CSV reader refuses the whole file ("the number of columns is not
            # constant"); the row is still read, so that its other problems are named too.
            problems.append(
                Problem(
                    at_line(line),
                    lazy_gettext(
                        "the row has %(count)s values, but the header row has %(columns)s",
                        count=len(row),
                        columns=len(header),
                    ),
                )
            )

        def raw(column: str, row: list[str] = row) -> str:
            index = columns.get(column)
            return row[index] if index is not None and index < len(row) else ""

        def cell(column: str) -> str:
            return raw(column).strip()

        _row_problems(cell, line, problems)
        ext = (
            _extension(row[extension_column], line, problems)
            if extension_column is not None and extension_column < len(row)
            else {}
        )
        description = _description(raw("description"), cell("descriptionformat"))
        title = text_of(ext.get("title")) or (
            {language: cell("shortname")} if cell("shortname") else {}
        )
        descriptions = text_of(ext.get("description")) or (
            {language: description} if description else {}
        )
        identifier = ext.get("identifier") if isinstance(ext.get("identifier"), str) else None
        kept = {
            "shortname": raw("shortname"),
            "description": raw("description"),
            "descriptionformat": cell("descriptionformat"),
            "text": description,
            "scalevalues": cell("scalevalues"),
            "scaleconfiguration": cell("scaleconfiguration"),
        }
        _scale_problems(cell("scalevalues"), cell("scaleconfiguration"), line, problems)
        if cell("isframework") not in ("", "0", "false"):
            if framework is not None:
                problems.append(
                    Problem(
                        at_line(line),
                        lazy_gettext(
                            "a second framework row (the first is at %(other)s)",
                            other=framework.where,
                        ),
                    )
                )
                continue
            _taxonomy_problems(cell("taxonomy"), line, problems)
            framework = FrameworkData(
                code=cell("idnumber"),
                title=title,
                description=descriptions,
                identifier=identifier,
                levels=_levels(cell, ext, language),
                kept={
                    KEPT: kept
                    | {"taxonomies": cell("taxonomy"), "language": language}
                    | ({"header": header[: len(COLUMNS)]} if by_position else {})
                },
                where=at_line(line),
            )
            continue
        references = [
            code.strip().replace("%2C", ",") for code in cell("related").split(",") if code.strip()
        ]
        ref = ext.get("external_ref")
        competences.append(
            CompetenceData(
                key=cell("idnumber"),
                parent_key=cell("parent") or None,
                code=cell("idnumber"),
                title=title,
                description=descriptions,
                external_ref=ref if isinstance(ref, str) and ref else None,
                identifier=identifier,
                archived=ext.get("archived") is True,
                related=references,
                kept={
                    KEPT: kept
                    | {
                        "ruletype": cell("ruletype"),
                        "ruleoutcome": cell("ruleoutcome"),
                        "ruleconfig": cell("ruleconfig"),
                        "exportid": cell("exportid"),
                        "row": len(competences),
                    }
                },
                where=at_line(line),
            )
        )
    if framework is None:
        problems.append(
            Problem(
                "",
                lazy_gettext(
                    "no row describes the framework itself (the row with “Is framework” = 1)"
                ),
            )
        )
        return None, problems
    framework.competences = competences
    return framework, problems


def _levels(cell: Any, ext: dict[str, Any], language: str) -> list[LevelData]:
    if isinstance(ext.get("levels"), list):
        levels = []
        for number, level in enumerate(ext["levels"], start=1):
            level = level if isinstance(level, dict) else {}
            levels.append(
                LevelData(
                    value=number,
                    label=text_of(level.get("label")),
                    description=text_of(level.get("description")),
                )
            )
        return levels
    return [
        LevelData(value=number, label={language: label})
        for number, label in enumerate(_labels(cell("scalevalues")), start=1)
    ]


# --- writing --------------------------------------------------------------------------------


def _depths(framework: FrameworkData) -> int:
    parents = {c.key: c.parent_key for c in framework.competences}
    deepest = 0
    for key in parents:
        depth, current = 1, parents[key]
        while current is not None and depth <= len(parents):
            depth, current = depth + 1, parents.get(current)
        deepest = max(deepest, depth)
    return deepest


def _kept(data: FrameworkData | CompetenceData) -> dict[str, Any]:
    kept = data.kept.get(KEPT)
    return kept if isinstance(kept, dict) else {}


def _short_name(kept: dict[str, Any], title: dict[str, str], language: str) -> str:
    """The short name: as imported (with its spaces) while the title is unchanged."""
    text = localized(title, language)[:MOODLE_MAX]
    imported = kept.get("shortname")
    return imported if isinstance(imported, str) and imported.strip() == text else text


def _described(kept: dict[str, Any], description: dict[str, str], language: str) -> list[str]:
    """The description and its format: as imported while its text is unchanged."""
    text = localized(description, language)
    if kept and kept.get("text", "") == text:
        return [str(kept.get("description", "")), str(kept.get("descriptionformat", ""))]
    return [text, FORMAT_PLAIN]


def _scale(framework: FrameworkData, language: str) -> list[str]:
    """Scale values and configuration: as imported while the labels are unchanged."""
    levels = sorted(framework.levels, key=lambda level: level.value)
    labels = [localized(level.label, language).replace(",", ";") for level in levels]
    kept = _kept(framework)
    if kept and _labels(str(kept.get("scalevalues", ""))) == labels:
        return [str(kept["scalevalues"]), str(kept.get("scaleconfiguration", ""))]
    if not levels:
        return ["", ""]
    top = len(levels)
    configuration = [{"scaleid": "0"}] + [
        {
            "id": level.value,
            "scaledefault": 1 if level.value == 1 else 0,
            "proficient": 1 if level.value > top // 2 else 0,
        }
        for level in levels
    ]
    return [",".join(labels), json.dumps(configuration, separators=(",", ":"))]


def _texts(framework: FrameworkData) -> Iterable[dict[str, str]]:
    yield framework.title
    yield framework.description
    for level in framework.levels:
        yield level.label
    for competence in framework.competences:
        yield competence.title
        yield competence.description


def _needs_extension(framework: FrameworkData, language: str) -> bool:
    """Does the framework hold what Moodle's 14 columns cannot (so that our importer gets
    it back)? A framework that came from Moodle, unchanged, does not."""
    if any(set(text) - {language} for text in _texts(framework)):
        return True
    if any(level.description for level in framework.levels):
        return True
    if framework.identifier and not _kept(framework):
        return True
    return any(
        c.external_ref or c.archived or (c.identifier and not _kept(c))
        for c in framework.competences
    )


def _export_ids(competences: Sequence[CompetenceData]) -> list[str]:
    """Each competence's exported ID: as imported (rule configurations name competences by
    it), else a number no other competence has."""
    kept_ids = [str(_kept(c).get("exportid") or "") for c in competences]
    taken = [int(value) for value in kept_ids if value.isdigit()]
    following = max(taken, default=0)
    result = []
    for value in kept_ids:
        if not value:
            following += 1
            value = str(following)
        result.append(value)
    return result


def dump(framework: FrameworkData, language: str | None = None) -> bytes:
    kept = _kept(framework)
    language = language or str(kept.get("language") or "nb")
    if language not in LANGUAGES:
        language = "nb"
    extension = _needs_extension(framework, language)
    header = kept.get("header")
    if not (
        isinstance(header, list)
        and len(header) == len(HEADERS)
        and all(isinstance(name, str) for name in header)
    ):
        header = list(HEADERS)
    out = [write_row([*header, EXTENSION_HEADER] if extension else header)]
    levels = sorted(framework.levels, key=lambda level: level.value)
    ext: dict[str, Any] = {
        "identifier": framework.identifier,
        "title": framework.title,
        "description": framework.description,
        "levels": [{"label": level.label, "description": level.description} for level in levels],
    }
    row = [
        "",
        framework.code,
        _short_name(kept, framework.title, language),
        *_described(kept, framework.description, language),
        *_scale(framework, language),
        "",
        "",
        "",
        "",
        "",
        "1",
        str(kept["taxonomies"])
        if "taxonomies" in kept
        else ",".join(["competency"] * _depths(framework)),
    ]
    out.append(write_row([*row, _ext_value(ext)] if extension else row))
    ordered = sorted(
        enumerate(framework.competences),
        key=lambda pair: (
            not isinstance(_kept(pair[1]).get("row"), int),
            _kept(pair[1]).get("row", 0),
            pair[0],
        ),
    )
    competences = [competence for _, competence in ordered]
    codes = {c.key: c.code for c in competences}
    for competence, export_id in zip(competences, _export_ids(competences), strict=True):
        kept = _kept(competence)
        related = [key for key in competence.related if key in codes]
        row = [
            competence.parent_key or "",
            competence.code,
            _short_name(kept, competence.title, language),
            *_described(kept, competence.description, language),
            str(kept.get("scalevalues") or ""),
            str(kept.get("scaleconfiguration") or "") if kept.get("scalevalues") else "",
            str(kept.get("ruletype") or ""),
            str(kept.get("ruleoutcome") or "0"),
            str(kept.get("ruleconfig") or "null"),
            ",".join(codes[key].replace(",", "%2C") for key in related),
            export_id,
            "",
            "",
        ]
        if extension:
            row.append(
                _ext_value(
                    {
                        "identifier": competence.identifier,
                        "title": competence.title,
                        "description": competence.description,
                        "external_ref": competence.external_ref,
                        "archived": competence.archived,
                    }
                )
            )
        out.append(write_row(row))
    return "".join(out).encode("utf-8")


def _ext_value(ext: dict[str, Any]) -> str:
    return json.dumps({EXTENSION: ext}, ensure_ascii=False, separators=(",", ":"))


# --- what was kept --------------------------------------------------------------------------


def summary(
    framework: dict[str, Any], competences: Sequence[dict[str, Any]], links: int = 0
) -> list[Any]:
    """What the import kept for export that the tool does not use, one sentence each
    (``links``: the cross-references between competences)."""
    found = framework.get(KEPT)
    kept: dict[str, Any] = found if isinstance(found, dict) else {}
    rows = [c[KEPT] for c in competences if isinstance(c.get(KEPT), dict)]
    if not kept and not rows:
        return []
    lines: list[Any] = []
    rules = sum(1 for row in rows if row.get("ruletype"))
    if rules:
        lines.append(
            lazy_ngettext(
                "%(num)d competency rule kept for export, not evaluated by the tool.",
                "%(num)d competency rules kept for export, not evaluated by the tool.",
                rules,
            )
        )
    if links:
        lines.append(
            lazy_ngettext(
                "%(num)d cross-reference between competences kept for export.",
                "%(num)d cross-references between competences kept for export.",
                links,
            )
        )
    formatted = sum(
        1
        for row in [kept, *rows]
        if row.get("descriptionformat") in (FORMAT_MOODLE, FORMAT_HTML)
        and row.get("text") != str(row.get("description", "")).strip()
    )
    if formatted:
        lines.append(
            lazy_ngettext(
                "%(num)d HTML description kept for export; the tool shows it as plain text.",
                "%(num)d HTML descriptions kept for export; the tool shows them as plain text.",
                formatted,
            )
        )
    scales = sum(1 for row in rows if row.get("scalevalues"))
    if scales:
        lines.append(
            lazy_ngettext(
                "%(num)d competence's own scale kept for export; the tool uses the "
                "framework's scale.",
                "%(num)d competences' own scales kept for export; the tool uses the "
                "framework's scale.",
                scales,
            )
        )
    lines += _scale_summary(kept)
    if kept.get("taxonomies"):
        lines.append(
            lazy_gettext(
                "The taxonomy of each level (%(taxonomies)s) kept for export.",
                taxonomies=kept["taxonomies"],
            )
        )
    return lines


def _scale_summary(kept: dict[str, Any]) -> list[Any]:
    try:
        configuration = json_input.loads(str(kept.get("scaleconfiguration") or "[]"))
    except ValueError:
        return []
    labels = _labels(str(kept.get("scalevalues") or ""))
    if not isinstance(configuration, list) or not labels:
        return []

    def named(flag: str) -> list[str]:
        return [
            labels[entry["id"] - 1]
            for entry in configuration[1:]
            if isinstance(entry, dict)
            and entry.get(flag)
            and isinstance(entry.get("id"), int)
            and 1 <= entry["id"] <= len(labels)
        ]

    default, proficient = named("scaledefault"), named("proficient")
    if not default and not proficient:
        return []
    return [
        lazy_gettext(
            "The scale's default value (%(default)s) and proficient values (%(proficient)s) "
            "kept for export.",
            default=", ".join(default) or "–",
            proficient=", ".join(proficient) or "–",
        )
    ]
