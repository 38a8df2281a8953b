"""Job roles and units from HR: a CSV file, all or nothing.

The file (UTF-8, or Windows-1252 as Excel saves it; comma, semicolon or tab separated)
has a header row and one row per person and job role and/or unit:

    person_sourcedid,email,job_role,unit
    EMP-1001,,sykepleier,hjemmetjenesten
    ,kari@kommune.no,helsefagarbeider,
    EMP-1001,,fagutvikler,

- ``person_sourcedid`` (the LMS's ``lis.person_sourcedid``, e.g. Moodle's idnumber) or
  ``email`` names the person; give at least one column of the two, and one of them in
  every row (sourcedid wins when both are filled). Only people of the organisation who
  have launched the tool are known.
- ``job_role`` and ``unit`` hold one code each (a second role: a second row); give at
  least one of the two columns (or ``manages_unit``), and a value in one of them in every
  row.
- ``manages_unit`` (admins only) holds the codes of the units (sectors, departments or
  units; several separated by commas) the person manages: each becomes a manager grant
  (``services.grants``) with the import and its row as the reason in the audit.

Every row is checked first; any problem (reported with its row number as a spreadsheet
shows it, the header being row 1, and its column) and nothing is written. Otherwise
each role and unit becomes an active assignment with source ``import``; what the person
already holds is left as it is. The import adds: it does not end assignments that are
missing from the file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.errors import ToolError
from lti_tool.lti import claims as c
from lti_tool.models import AssignmentSource, GrantKind, Launch, OrgUnit, Person
from lti_tool.services import assignments, grants
from lti_tool.services.assignments import Kind
from lti_tool.services.audit import Actor

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 5000
PERSON_COLUMNS = ("person_sourcedid", "email")
TARGET_COLUMNS = {"job_role": Kind.ROLE, "unit": Kind.UNIT}
GRANT_COLUMN = "manages_unit"
COLUMNS = (*PERSON_COLUMNS, *TARGET_COLUMNS, GRANT_COLUMN)

MESSAGES: dict[str, Any] = {
    "empty": lazy_gettext("The file is empty."),
    "too_large": lazy_gettext("The file is larger than %(limit)d kB. Split it into smaller files."),
    "too_many_rows": lazy_gettext(
        "The file has more than %(limit)d rows. Split it into smaller files."
    ),
    "encoding": lazy_gettext(
        "The file is neither UTF-8 nor Windows-1252 text. Save it as CSV UTF-8."
    ),
    "unreadable": lazy_gettext("The file cannot be read as CSV: %(error)s"),
    "unknown_column": lazy_gettext(
        "Unknown column %(name)s. The columns are person_sourcedid, email, job_role, unit "
        "and manages_unit."
    ),
    "repeated_column": lazy_gettext("The column %(name)s appears more than once."),
    "no_person_column": lazy_gettext("The header needs a person_sourcedid or an email column."),
    "no_target_column": lazy_gettext("The header needs a job_role or a unit column."),
    "nul": lazy_gettext("The text holds a NUL character, which cannot be stored. Remove it."),
    "extra_cells": lazy_gettext("The row has more cells than the header has columns."),
    "no_person": lazy_gettext("Fill in person_sourcedid or email."),
    "no_target": lazy_gettext("Fill in job_role or unit."),
    "no_target_or_grant": lazy_gettext("Fill in job_role, unit or manages_unit."),
    "grant_not_allowed": lazy_gettext(
        "Only an administrator may grant managers. Leave out the column manages_unit."
    ),
    "unknown_managed_unit": lazy_gettext(
        "Your organisation has no sector, department or unit with the code %(value)s."
    ),
    "unknown_person": lazy_gettext(
        "No one with %(value)s in your organisation has opened Læringsløp yet."
    ),
    "ambiguous_person": lazy_gettext(
        "%(value)s matches several people in your organisation; use person_sourcedid."
    ),
    "unknown_job_role": lazy_gettext("Your organisation has no job role with the code %(value)s."),
    "unknown_unit": lazy_gettext("Your organisation has no unit with the code %(value)s."),
}


@dataclasses.dataclass(frozen=True)
class Problem:
    row: int | None
    """As a spreadsheet numbers it: the header is row 1. None: the whole file."""
    column: str | None
    code: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def message(self) -> str:
        """In the reader's language (translated when shown, not when found)."""
        return str(MESSAGES[self.code]) % dict(self.params)


class ImportRejected(ToolError):
    status = 422
    code = "import_rejected"
    title = lazy_gettext("Nothing was imported")
    message = lazy_gettext("The file has problems. Correct them and upload the file again.")

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the import file")
        self.problems = list(problems)


@dataclasses.dataclass(frozen=True)
class ImportResult:
    rows: int
    added: int
    """New assignments written."""
    unchanged: int
    """Roles and units the people already held."""
    granted: int = 0
    """New manager grants (``manages_unit``)."""


def _problem(row: int | None, column: str | None, code: str, **params: Any) -> Problem:
    return Problem(row, column, code, tuple(sorted(params.items())))


def _decode(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _rows(text: str) -> list[list[str]]:
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)]


def _people_by_sourcedid(
    session: Session, organisation_id: int, values: set[str]
) -> dict[str, set[int]]:
    if not values:
        return {}
    sourcedid = Launch.claims[(c.LTI + "lis", "person_sourcedid")].as_string()
    found: dict[str, set[int]] = {}
    for value, person_id in session.execute(
        select(sourcedid, Launch.person_id)
        .join(Person, Person.id == Launch.person_id)
        .where(Person.organisation_id == organisation_id, sourcedid.in_(values))
        .distinct()
    ):
        found.setdefault(value, set()).add(person_id)
    return found


def _people_by_email(
    session: Session, organisation_id: int, values: set[str]
) -> dict[str, set[int]]:
    if not values:
        return {}
    found: dict[str, set[int]] = {}
    for email, person_id in session.execute(
        select(func.lower(Person.email), Person.id).where(
            Person.organisation_id == organisation_id, func.lower(Person.email).in_(values)
        )
    ):
        found.setdefault(email, set()).add(person_id)
    return found


@dataclasses.dataclass(frozen=True)
class _Line:
    row: int
    person_id: int
    targets: tuple[tuple[Kind, int], ...]
    managed: tuple[int, ...] = ()
    """Units the person is granted manager of."""


def _managed_units(session: Session, organisation_id: int, codes: set[str]) -> dict[str, int]:
    """The organisation's sectors, departments and units (not archived) by lower code."""
    if not codes:
        return {}
    return {
        code.lower(): unit_id
        for code, unit_id in session.execute(
            select(OrgUnit.code, OrgUnit.id).where(
                OrgUnit.organisation_id == organisation_id,
                OrgUnit.archived.is_(False),
                func.lower(OrgUnit.code).in_({c.lower() for c in codes}),
            )
        )
    }


def check_file(
    session: Session, organisation_id: int, data: bytes, *, may_grant: bool = False
) -> tuple[list[_Line], list[Problem]]:
    """Every row checked; the lines to write, and every problem found."""
    if len(data) > MAX_IMPORT_BYTES:
        return [], [_problem(None, None, "too_large", limit=MAX_IMPORT_BYTES // 1024)]
    text = _decode(data)
    if text is None:
        return [], [_problem(None, None, "encoding")]
    try:
        rows = _rows(text)
    except csv.Error as exc:
        return [], [_problem(None, None, "unreadable", error=str(exc))]
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(cell.strip() for cell in r)]
    if not numbered:
        return [], [_problem(None, None, "empty")]
    if len(numbered) - 1 > MAX_IMPORT_ROWS:
        return [], [_problem(None, None, "too_many_rows", limit=MAX_IMPORT_ROWS)]
    header_row, header = numbered[0]
    columns = [h.strip().lower() for h in header]
    problems = []
    for name in dict.fromkeys(columns):
        if name and name not in COLUMNS:
            problems.append(_problem(header_row, name, "unknown_column", name=name))
        elif name and columns.count(name) > 1:
            problems.append(_problem(header_row, name, "repeated_column", name=name))
    if not set(columns) & set(PERSON_COLUMNS):
        problems.append(_problem(header_row, None, "no_person_column"))
    granting = GRANT_COLUMN in columns
    if not set(columns) & {*TARGET_COLUMNS, GRANT_COLUMN}:
        problems.append(_problem(header_row, None, "no_target_column"))
    if granting and not may_grant:
        problems.append(_problem(header_row, GRANT_COLUMN, "grant_not_allowed"))
    if problems:
        return [], problems

    records = []
    for number, cells in numbered[1:]:
        if len(cells) > len(columns) and any(x.strip() for x in cells[len(columns) :]):
            problems.append(_problem(number, None, "extra_cells"))
        record = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(columns)
        }
        problems += [_problem(number, k, "nul") for k, v in record.items() if "\x00" in v]
        records.append((number, record))
    if any(p.code == "nul" for p in problems):
        return [], problems  # PostgreSQL would refuse the look-ups

    sourcedids = {r["person_sourcedid"] for _, r in records if r.get("person_sourcedid")}
    emails = {r["email"].lower() for _, r in records if r.get("email")}
    by_sourcedid = _people_by_sourcedid(session, organisation_id, sourcedids)
    by_email = _people_by_email(session, organisation_id, emails)
    known = {
        kind: assignments.by_codes(
            session, kind, organisation_id, {r[col] for _, r in records if r.get(col)}
        )
        for col, kind in TARGET_COLUMNS.items()
    }
    wanted = {
        number: assignments.parse_codes(record.get(GRANT_COLUMN, "")) or []
        for number, record in records
    }
    managed = _managed_units(session, organisation_id, {c for cs in wanted.values() for c in cs})

    lines = []
    for number, record in records:
        person_id = None
        if record.get("person_sourcedid"):
            column, value = "person_sourcedid", record["person_sourcedid"]
            matches = by_sourcedid.get(value, set())
        elif record.get("email"):
            column, value = "email", record["email"]
            matches = by_email.get(value.lower(), set())
        else:
            column, value, matches = None, "", set()
            problems.append(_problem(number, "/".join(PERSON_COLUMNS), "no_person"))
        if column and not matches:
            problems.append(_problem(number, column, "unknown_person", value=value))
        elif column and len(matches) > 1:
            problems.append(_problem(number, column, "ambiguous_person", value=value))
        elif column:
            person_id = next(iter(matches))
        targets = []
        for col, kind in TARGET_COLUMNS.items():
            code = record.get(col)
            if not code:
                continue
            target = known[kind].get(code.lower())
            if target is None:
                problems.append(_problem(number, col, f"unknown_{col}", value=code))
            else:
                targets.append((kind, target.id))
        unit_ids = []
        for code in wanted[number]:
            if code.lower() in managed:
                unit_ids.append(managed[code.lower()])
            else:
                problems.append(_problem(number, GRANT_COLUMN, "unknown_managed_unit", value=code))
        if not wanted[number] and not any(record.get(c) for c in TARGET_COLUMNS):
            if granting:
                column = "/".join((*TARGET_COLUMNS, GRANT_COLUMN))
                problems.append(_problem(number, column, "no_target_or_grant"))
            else:
                problems.append(_problem(number, "/".join(TARGET_COLUMNS), "no_target"))
        if person_id is not None and (targets or unit_ids):
            lines.append(_Line(number, person_id, tuple(targets), tuple(unit_ids)))
    return lines, problems


def import_assignments(
    session: Session,
    organisation_id: int,
    data: bytes,
    *,
    by: Actor,
    may_grant: bool = False,
) -> ImportResult:
    """Check the whole file; write every row, or nothing (``ImportRejected``).

    ``by``: who imports (a person, or the command line); ``may_grant``: they may grant
    managers (an admin, or the command line)."""
    lines, problems = check_file(session, organisation_id, data, may_grant=may_grant)
    if problems:
        raise ImportRejected(problems)
    added = unchanged = granted = 0
    for line in lines:
        for unit_id in line.managed:
            _grant, created = grants.grant(
                session,
                organisation_id,
                person_id=line.person_id,
                kind=GrantKind.MANAGER,
                unit_id=unit_id,
                reason=f"HR file import, row {line.row} (manages_unit)",
                by=by,
                via="import",
            )
            granted += created
        for kind, target_id in line.targets:
            _row, created = assignments.assign_once(
                session,
                organisation_id,
                line.person_id,
                kind,
                target_id,
                by_id=by.person_id,
                source=AssignmentSource.IMPORT,
            )
            added += created
            unchanged += not created
    session.flush()
    return ImportResult(rows=len(lines), added=added, unchanged=unchanged, granted=granted)
