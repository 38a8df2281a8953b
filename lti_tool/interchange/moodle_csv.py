"""Moodle's competency framework CSV (admin/tool/lpimportcsv): read and write.

One row per competence, and one row (``Is framework`` = 1) for the framework itself, whose
``Scale values`` (labels, lowest first, joined by commas) and ``Scale configuration``
(JSON: ``[{"scaleid": …}, {"id": 1, "scaledefault": 1, "proficient": 0}, …]``) hold the
scale. Parents are named by ``Parent ID number``. Moodle has one language: we read it into
``language`` and write bokmål (or the nearest language that has a text).

What Moodle cannot hold (the other languages, level descriptions, references, identifiers)
we write in one more column, ``Læringsløp data (optional)``, as JSON; Moodle's importer
reads its 14 columns by position and ignores it, and our importer reads it back, so our
own export and import give back exactly what was exported.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from flask_babel import lazy_gettext

from lti_tool.domain.texts import localized
from lti_tool.interchange.model import (
    EXTENSION,
    MAX_IMPORT_ITEMS,
    CompetenceData,
    FrameworkData,
    LevelData,
    Problem,
    at_line,
    decode,
    text_of,
    too_many,
)

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
FORMAT_HTML = "1"
FORMAT_PLAIN = "2"
#: Moodle shortens short names and ID numbers to this many characters.
MOODLE_MAX = 100


def _normalise(header: str) -> str:
    return re.sub(r"[^a-zæøå]", "", header.strip().casefold())


#: Moodle's headers (and those of older Moodle versions) to our column names.
_KNOWN = {_normalise(h): c for h, c in zip(HEADERS, COLUMNS, strict=True)} | {
    "crossreferencedcompetencyidnumbers": "related",
    "taxonomies": "taxonomy",
}


def _html_to_text(value: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</li>|</div>", "\n", value)
    text = re.sub(r"<[^>]*>", "", text)
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _extension(value: str, line: int, problems: list[Problem]) -> dict[str, Any]:
    if not value.strip():
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        data = None
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


def parse(data: bytes, language: str = "nb") -> tuple[FrameworkData | None, list[Problem]]:
    text, problems = decode(data)
    if text is None:
        return None, problems
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    try:
        rows = _read_rows(reader)
    except csv.Error as exc:
        return None, [
            Problem(
                at_line(reader.line_num),
                lazy_gettext("the CSV cannot be read (%(error)s)", error=str(exc)),
            )
        ]
    if not rows:
        return None, [Problem("", lazy_gettext("The file is empty."))]
    header_line, header = rows[0]
    columns: dict[str, int] = {}
    extension_column: int | None = None
    for index, name in enumerate(header):
        normalised = _normalise(name)
        if normalised.startswith("læringsløp"):
            extension_column = index
        elif normalised in _KNOWN:
            columns.setdefault(_KNOWN[normalised], index)
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

    def cell(row: list[str], column: str) -> str:
        index = columns.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""

    framework: FrameworkData | None = None
    competences: list[CompetenceData] = []
    for line, row in body:
        if not any(value.strip() for value in row):
            continue
        ext = (
            _extension(row[extension_column], line, problems)
            if extension_column is not None and extension_column < len(row)
            else {}
        )
        description = cell(row, "description")
        if cell(row, "descriptionformat") != FORMAT_PLAIN:
            description = _html_to_text(description)
        title = text_of(ext.get("title")) or (
            {language: cell(row, "shortname")} if cell(row, "shortname") else {}
        )
        descriptions = text_of(ext.get("description")) or (
            {language: description} if description else {}
        )
        identifier = ext.get("identifier") if isinstance(ext.get("identifier"), str) else None
        if cell(row, "isframework") not in ("", "0", "false"):
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
            framework = FrameworkData(
                code=cell(row, "idnumber"),
                title=title,
                description=descriptions,
                identifier=identifier,
                levels=_levels(row, cell, ext, language, line, problems),
                where=at_line(line),
            )
            continue
        ref = ext.get("external_ref")
        competences.append(
            CompetenceData(
                key=cell(row, "idnumber"),
                parent_key=cell(row, "parent") or None,
                code=cell(row, "idnumber"),
                title=title,
                description=descriptions,
                external_ref=ref if isinstance(ref, str) and ref else None,
                identifier=identifier,
                archived=ext.get("archived") is True,
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


def _read_rows(reader: Any) -> list[tuple[int, list[str]]]:
    rows = []
    start = 1
    for row in reader:
        rows.append((start, row))
        start = reader.line_num + 1
    return rows


def _levels(
    row: list[str],
    cell: Any,
    ext: dict[str, Any],
    language: str,
    line: int,
    problems: list[Problem],
) -> list[LevelData]:
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
    configuration = cell(row, "scaleconfiguration")
    if configuration:
        try:
            parsed = json.loads(configuration)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            problems.append(
                Problem(
                    at_line(line),
                    lazy_gettext("the scale configuration is not the JSON list Moodle writes"),
                )
            )
    labels = [label.strip() for label in cell(row, "scalevalues").split(",") if label.strip()]
    return [
        LevelData(value=number, label={language: label})
        for number, label in enumerate(labels, start=1)
    ]


def _depths(framework: FrameworkData) -> int:
    parents = {c.key: c.parent_key for c in framework.competences}
    deepest = 0
    for key in parents:
        depth, current = 1, parents[key]
        while current is not None and depth <= len(parents):
            depth, current = depth + 1, parents.get(current)
        deepest = max(deepest, depth)
    return deepest


def dump(framework: FrameworkData, language: str = "nb") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*HEADERS, EXTENSION_HEADER])
    levels = sorted(framework.levels, key=lambda level: level.value)
    top = len(levels)
    configuration = [{"scaleid": "0"}] + [
        {
            "id": level.value,
            "scaledefault": 1 if level.value == 1 else 0,
            "proficient": 1 if level.value > top // 2 else 0,
        }
        for level in levels
    ]
    ext: dict[str, Any] = {
        "identifier": framework.identifier,
        "title": framework.title,
        "description": framework.description,
        "levels": [{"label": level.label, "description": level.description} for level in levels],
    }
    writer.writerow(
        [
            "",
            framework.code,
            localized(framework.title, language)[:MOODLE_MAX],
            localized(framework.description, language),
            FORMAT_PLAIN,
            ",".join(localized(level.label, language).replace(",", ";") for level in levels),
            json.dumps(configuration, separators=(",", ":")),
            "",
            "",
            "",
            "",
            "",
            "1",
            ",".join(["competency"] * _depths(framework)),
            json.dumps({EXTENSION: ext}, ensure_ascii=False, separators=(",", ":")),
        ]
    )
    for number, competence in enumerate(framework.competences, start=1):
        ext = {
            "identifier": competence.identifier,
            "title": competence.title,
            "description": competence.description,
            "external_ref": competence.external_ref,
            "archived": competence.archived,
        }
        writer.writerow(
            [
                competence.parent_key or "",
                competence.code,
                localized(competence.title, language)[:MOODLE_MAX],
                localized(competence.description, language),
                FORMAT_PLAIN,
                "",
                "",
                "",
                "0",
                "null",
                "",
                str(number),
                "",
                "",
                json.dumps({EXTENSION: ext}, ensure_ascii=False, separators=(",", ":")),
            ]
        )
    return out.getvalue().encode("utf-8")
