"""A unit's competence matrix for an inspection: CSV, XLSX and a PDF "competence
documentation" whose verification code ``/verify`` resolves, without names.

Every export reads the cells from ``coverage.matrix_rows`` (people streamed a batch at a
time), never the whole matrix at once, into a temporary file that the response then
sends: the people written are tallied as they are written, so the audit log (recorded
before a byte is sent) names exactly whose data the file holds. An export decides the
statuses with the filters and the expiring window of the matrix page it was asked from
(``schemas.coverage.export_filters``). Statuses are words in the reader's language
(never colour alone), with the stable code beside them in the CSV; times are Norwegian,
the zone named.

**CSV**: semicolon-separated, UTF-8 with a byte order mark, one line per person and
required competence. Norwegian Excel lists with semicolons (the comma is the decimal
sign), so it opens the file in columns on a double click; LibreOffice asks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import IO, Any

from flask_babel import gettext, lazy_gettext, ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool import i18n
from lti_tool.documents import csv_safe
from lti_tool.domain.coverage import CellStatus, coverage_of
from lti_tool.domain.texts import localized
from lti_tool.errors import NotFound
from lti_tool.models import DocumentationExport, JobRole, Organisation, OrgUnit, Person
from lti_tool.services import org_units
from lti_tool.services.certificates import new_code, normalise_code
from lti_tool.services.coverage import (
    Heading,
    MatrixFilters,
    PersonCells,
    headings,
    matrix_rows,
    unit_scope,
)

#: The statuses in the order exports list them.
STATUS_ORDER = (
    CellStatus.MET,
    CellStatus.EXPIRING,
    CellStatus.GAP,
    CellStatus.EXPIRED,
    CellStatus.NEVER_ASSESSED,
)
STATUS_TEXTS = {
    CellStatus.MET: lazy_gettext("Met"),
    CellStatus.EXPIRING: lazy_gettext("Expires soon"),
    CellStatus.GAP: lazy_gettext("Gap"),
    CellStatus.EXPIRED: lazy_gettext("Expired"),
    CellStatus.NEVER_ASSESSED: lazy_gettext("Not assessed"),
}
#: The status rule in words (``domain.coverage``), ``%(days)d`` the expiring window.
STATUS_RULES = {
    CellStatus.MET: lazy_gettext("Holds the required level, valid beyond %(days)d days."),
    CellStatus.EXPIRING: lazy_gettext(
        "Holds the required level, but it expires within %(days)d days."
    ),
    CellStatus.GAP: lazy_gettext("Assessed below the required level."),
    CellStatus.EXPIRED: lazy_gettext("Held the required level, but it has expired."),
    CellStatus.NEVER_ASSESSED: lazy_gettext("No evidence for the competence yet."),
}
#: A cell held by the person's own word only (``domain.coverage``: a self-assessment, a
#: self-reported course), beside its status in every export.
OWN_WORD = lazy_gettext("own word only")
OWN_WORD_RULE = lazy_gettext(
    "The level rests only on the person's own word (a self-assessment or a self-reported "
    "course): no test, instructor or LMS has confirmed it."
)
#: Every status (iterating the enum itself is slow: the exports count per cell).
_STATUSES = tuple(CellStatus)
CSV_DELIMITER = ";"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def status_text(status: CellStatus | str) -> str:
    """A status in the reader's words: the one word pages, exports and the public
    verification all use, so an inspector comparing them reads the same."""
    return str(STATUS_TEXTS[CellStatus(status)])


def _cell_words() -> tuple[dict[CellStatus, str], dict[CellStatus, str]]:
    """A cell's words by status, translated once (the exports write one a cell): as they
    read, and with the own-word mark."""
    words = {s: status_text(s) for s in _STATUSES}
    return words, {s: f"{word} ({OWN_WORD})" for s, word in words.items()}


def _rule(status: CellStatus, days: int) -> str:
    return str(STATUS_RULES[status]) % {"days": days}


# --- what is exported -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExportScope:
    """Whose matrix an export holds, as printed on it."""

    organisation_id: int
    organisation_name: str
    unit_id: int | None
    """None: the whole organisation."""
    unit_name: str | None
    sub_units: tuple[str, ...]
    unit_ids: frozenset[int] | None
    filters: MatrixFilters
    now: dt.datetime
    exported_by_id: int
    exported_by_name: str
    locale: str
    expiring_days: int
    """The matrix's expiring window the statuses are decided with."""


def export_scope(
    session: Session,
    organisation_id: int,
    unit_id: int | None,
    managed: frozenset[int] | None,
    *,
    filters: MatrixFilters,
    expiring_days: int | None,
    now: dt.datetime,
    exported_by_id: int,
    locale: str,
) -> ExportScope:
    """The scope of an export of ``unit_id`` (with the units under it) or, for None, the
    whole organisation, checked against the caller's ``managed`` units (NotFound); an
    ``expiring_days`` of None is the organisation's window."""
    organisation = session.get(Organisation, organisation_id)
    exporter = session.get(Person, exported_by_id)
    assert organisation is not None and exporter is not None
    unit_ids: frozenset[int] | None = None
    unit_name: str | None = None
    sub_units: tuple[str, ...] = ()
    if unit_id is None:
        if managed is not None:
            raise NotFound(f"the whole organisation is not one of {sorted(managed)}")
    else:
        unit_ids = unit_scope(session, organisation_id, unit_id, managed)
        unit_name = org_units.get_unit(session, organisation_id, unit_id).name
        sub_units = tuple(
            session.scalars(
                select(OrgUnit.name)
                .where(OrgUnit.id.in_(unit_ids - {unit_id}))
                .order_by(OrgUnit.name, OrgUnit.id)
            )
        )
    return ExportScope(
        organisation_id=organisation_id,
        organisation_name=organisation.name,
        unit_id=unit_id,
        unit_name=unit_name,
        sub_units=sub_units,
        unit_ids=unit_ids,
        filters=filters,
        now=now,
        exported_by_id=exported_by_id,
        exported_by_name=exporter.display_name,
        locale=locale,
        expiring_days=expiring_days or organisation.expiring_days,
    )


def _headings(session: Session, scope: ExportScope) -> tuple[Heading, ...]:
    return headings(
        session, scope.organisation_id, scope.unit_ids, filters=scope.filters, locale=scope.locale
    )


def _people(session: Session, scope: ExportScope) -> Iterator[PersonCells]:
    return matrix_rows(
        session,
        scope.organisation_id,
        scope.unit_ids,
        now=scope.now,
        expiring_days=scope.expiring_days,
        filters=scope.filters,
        locale=scope.locale,
    )


@dataclasses.dataclass
class Tally:
    """Cells per status, in all and per competence, gathered while rows stream past;
    ``person_ids``: whose data left in the export (for the audit log)."""

    person_ids: list[int] = dataclasses.field(default_factory=list)
    counts: dict[CellStatus, int] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(_STATUSES, 0)
    )
    by_competence: dict[int, dict[CellStatus, int]] = dataclasses.field(default_factory=dict)
    own_word: int = 0
    """Cells held today (met or expiring) by the person's own word only."""

    def add(self, person: PersonCells) -> dict[CellStatus, int]:
        """Count the person's cells in; their own counts by status."""
        self.person_ids.append(person.person_id)
        counts = dict.fromkeys(_STATUSES, 0)
        by_competence = self.by_competence
        for cell in person.cells.values():
            counts[cell.status] += 1
            if cell.held_by_own_word:
                self.own_word += 1
            mine = by_competence.get(cell.competence_id)
            if mine is None:
                mine = by_competence[cell.competence_id] = dict.fromkeys(_STATUSES, 0)
            mine[cell.status] += 1
        for status, n in counts.items():
            self.counts[status] += n
        return counts

    @property
    def coverage(self) -> float | None:
        return coverage_of(self.counts)


def filter_texts(session: Session, scope: ExportScope) -> list[str]:
    """The filters in words (job roles and competences by name); empty: none."""
    filters, texts = scope.filters, []
    if filters.job_role_ids:
        roles = session.execute(
            select(JobRole.code, JobRole.title).where(
                JobRole.id.in_(filters.job_role_ids),
                JobRole.organisation_id == scope.organisation_id,
            )
        ).all()
        names = sorted(localized(title, scope.locale) or code for code, title in roles)
        texts.append(gettext("Job roles: %(names)s", names=", ".join(names)))
    if filters.competence_ids:
        chosen = [h for h in _headings(session, scope) if h.competence_id in filters.competence_ids]
        texts.append(
            gettext("Competences: %(names)s", names=", ".join(h.title for h in chosen) or "–")
        )
    if filters.statuses:
        words = [status_text(s) for s in STATUS_ORDER if s in filters.statuses]
        texts.append(gettext("People with a status of: %(names)s", names=", ".join(words)))
    if filters.mandatory_only:
        texts.append(gettext("Mandatory requirements only"))
    return texts


def filters_record(scope: ExportScope) -> dict[str, Any]:
    """The filters and the expiring window as JSON (kept with a documentation export, and
    in the audit log)."""
    filters = scope.filters
    return {
        "job_role_ids": sorted(filters.job_role_ids),
        "competence_ids": sorted(filters.competence_ids),
        "statuses": sorted(s.value for s in filters.statuses),
        "mandatory_only": filters.mandatory_only,
        "expiring_days": scope.expiring_days,
    }


def _own_word_count_label() -> str:
    return gettext("Held today, by the person's own word only")


def _date(value: dt.datetime | None) -> str:
    """A day as the file keeps it (ISO), the day it is in Norway."""
    return i18n.local_date(value).isoformat() if value else ""


def _window(days: int) -> str:
    return ngettext("%(num)d day", "%(num)d days", days)


def _details(session: Session, scope: ExportScope) -> list[tuple[str, str]]:
    """What the export is of, who made it when, and what it was asked for with (the
    filters, the expiring window), as label and text."""
    return [
        (gettext("Organisation"), scope.organisation_name),
        (gettext("Unit"), scope.unit_name or gettext("The whole organisation")),
        (gettext("Units under it"), ", ".join(scope.sub_units) or "–"),
        (gettext("Exported on"), i18n.local_time(scope.now)),
        (gettext("Exported by"), scope.exported_by_name),
        (gettext("Filters"), "; ".join(filter_texts(session, scope)) or gettext("None")),
        (gettext("Expiring window"), _window(scope.expiring_days)),
    ]


# --- CSV --------------------------------------------------------------------------------------


def csv_header() -> list[str]:
    return [
        gettext("Name"),
        gettext("Job roles"),
        gettext("Competence code"),
        gettext("Competence"),
        gettext("Framework"),
        gettext("Mandatory"),
        gettext("Required level"),
        gettext("Held level"),
        gettext("Valid until (date in %(zone)s)", zone=i18n.zone_name()),
        gettext("Status"),
        gettext("Status code"),
        gettext("Own word only"),
    ]


def write_csv(session: Session, scope: ExportScope, out: IO[bytes]) -> Tally:
    """The export as CSV (UTF-8) written to ``out``, one line per person and required
    competence (none for a person nothing is required of), every cell formula-safe. The
    people are tallied as their lines are written: one read, so the audit log names
    exactly the people the file holds."""
    columns = {h.competence_id: h for h in _headings(session, scope)}
    yes, no = gettext("Yes"), gettext("No")
    tally = Tally()

    def rows() -> Iterator[list[Any]]:
        for person in _people(session, scope):
            if not person.cells:  # no line: nothing of theirs is in the file
                continue
            tally.add(person)
            roles = ", ".join(person.job_roles)
            for cid in sorted(person.cells, key=lambda c: columns[c].order):
                cell, heading = person.cells[cid], columns[cid]
                yield [
                    person.name,
                    roles,
                    heading.code,
                    heading.title,
                    heading.framework,
                    yes if cell.mandatory else no,
                    cell.required_level,
                    "" if cell.held_level is None else cell.held_level,
                    _date(cell.expires_at),
                    status_text(cell.status),
                    cell.status.value,
                    "" if cell.held_level is None else (yes if cell.own_word else no),
                ]

    for line in csv_safe.csv_lines(csv_header(), rows(), delimiter=CSV_DELIMITER):
        out.write(line.encode("utf-8"))
    return tally


# --- XLSX -------------------------------------------------------------------------------------


def _sheet_name(text: str) -> str:
    """A name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in text)
    return cleaned[:31]


def write_xlsx(session: Session, scope: ExportScope, out: IO[bytes]) -> Tally:
    """The export as a workbook written to ``out``: the matrix (people × competences, a
    status word in each cell), coverage per competence and per person, and a sheet about
    the export. Rows go to disk as they come (``constant_memory``)."""
    import xlsxwriter  # here, not at start: most workers never write a workbook

    book = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_formulas": False,  # a name like =HYPERLINK(…) stays text
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    percent = book.add_format({"num_format": "0.0"})
    wrapped = book.add_format({"text_wrap": True, "valign": "top"})  # "Met (own word only)"
    columns = _headings(session, scope)
    about = book.add_worksheet(_sheet_name(gettext("About")))
    matrix = book.add_worksheet(_sheet_name(gettext("Matrix")))
    people = book.add_worksheet(_sheet_name(gettext("Per person")))
    competences = book.add_worksheet(_sheet_name(gettext("Per competence")))
    statuses = [status_text(s) for s in STATUS_ORDER]

    def head(sheet: Any, titles: list[str], widths: list[int], left: int = 0) -> None:
        for col, width in enumerate(widths):
            sheet.set_column(col, col, width)
        for col, title in enumerate(titles):
            sheet.write_string(0, col, title, bold)
        sheet.freeze_panes(1, left)

    head(
        matrix,
        [gettext("Name"), gettext("Job roles")] + [f"{h.code} – {h.title}" for h in columns],
        [30, 24] + [20] * len(columns),
        left=1,
    )
    head(
        people,
        [gettext("Name"), gettext("Job roles"), *statuses, gettext("Coverage (%)")],
        [30, 24] + [12] * len(statuses) + [12],
    )
    # 375,000 cells for 20,000 people: words looked up once, not translated per cell
    words, own_words = _cell_words()
    column_of = {h.competence_id: col for col, h in enumerate(columns, start=2)}
    coverage_col = 2 + len(STATUS_ORDER)
    tally, row = Tally(), 0
    for person in _people(session, scope):
        counts = tally.add(person)
        row += 1
        roles = ", ".join(person.job_roles)
        matrix.write_string(row, 0, person.name)
        matrix.write_string(row, 1, roles)
        for cid, cell in person.cells.items():  # a row's cells in any order (constant_memory)
            col = column_of.get(cid)
            if col is not None:
                said = own_words if cell.own_word else words
                matrix.write_string(row, col, said[cell.status], wrapped)
        people.write_string(row, 0, person.name)
        people.write_string(row, 1, roles)
        for col, status in enumerate(STATUS_ORDER, start=2):
            people.write_number(row, col, counts[status])
        mine = coverage_of(counts)
        if mine is not None:
            people.write_number(row, coverage_col, mine, percent)
    matrix.autofilter(0, 0, row, 1 + len(columns))
    people.autofilter(0, 0, row, 2 + len(STATUS_ORDER))

    head(
        competences,
        [
            gettext("Competence code"),
            gettext("Competence"),
            gettext("Framework"),
            *statuses,
            gettext("Coverage (%)"),
        ],
        [18, 36, 24] + [12] * len(statuses) + [12],
    )
    for line, heading in enumerate(columns, start=1):
        counts = tally.by_competence.get(heading.competence_id, dict.fromkeys(_STATUSES, 0))
        competences.write_string(line, 0, heading.code)
        competences.write_string(line, 1, heading.title)
        competences.write_string(line, 2, f"{heading.framework} ({heading.framework_version})")
        for col, status in enumerate(STATUS_ORDER, start=3):
            competences.write_number(line, col, counts[status])
        figure = coverage_of(counts)
        if figure is not None:
            competences.write_number(line, 3 + len(STATUS_ORDER), figure, percent)
    competences.autofilter(0, 0, len(columns), 3 + len(STATUS_ORDER))

    head(about, [gettext("About the export"), ""], [32, 90])
    lines = _about(session, scope, tally)
    for line, (label, value) in enumerate(lines, start=1):
        about.write_string(line, 0, label, bold)
        about.write_string(line, 1, value)
    about.autofilter(0, 0, len(lines), 1)
    book.close()
    return tally


def _about(session: Session, scope: ExportScope, tally: Tally) -> list[tuple[str, str]]:
    """What the export is of, its figures and the status rule, as label and text."""
    days = scope.expiring_days
    lines = [
        *_details(session, scope),
        (gettext("People"), str(len(tally.person_ids))),
        (gettext("Coverage"), i18n.format_percentage(tally.coverage)),
    ]
    lines += [(status_text(s), str(tally.counts[s])) for s in STATUS_ORDER]
    lines.append((_own_word_count_label(), str(tally.own_word)))
    lines += [
        (
            gettext("Status: %(status)s", status=status_text(s)),
            str(STATUS_RULES[s]) % {"days": days},
        )
        for s in STATUS_ORDER
    ]
    lines.append((f"({OWN_WORD})", str(OWN_WORD_RULE)))
    lines.append(
        (
            gettext("What coverage means"),
            gettext("The share of required competences met or expiring (held today)."),
        )
    )
    return lines


# --- the PDF and its verification -------------------------------------------------------------


def record_documentation(session: Session, scope: ExportScope, tally: Tally) -> DocumentationExport:
    """Keep what the document states, under a new verification code (flushed)."""
    row = DocumentationExport(
        code=new_code(),
        organisation_id=scope.organisation_id,
        unit_id=scope.unit_id,
        organisation_name=scope.organisation_name,
        unit_name=scope.unit_name,
        scope_unit_ids=sorted(scope.unit_ids) if scope.unit_ids is not None else None,
        filters=filters_record(scope),
        generated_at=scope.now,
        exported_by_id=scope.exported_by_id,
        people=len(tally.person_ids),
        counts={**{s.value: n for s, n in tally.counts.items()}, "own_word": tally.own_word},
        coverage=tally.coverage,
    )
    session.add(row)
    session.flush()
    return row


def find_documentation(session: Session, code: str) -> DocumentationExport | None:
    return session.scalar(
        select(DocumentationExport).where(DocumentationExport.code == normalise_code(code))
    )


def tally(session: Session, scope: ExportScope) -> Tally:
    """The figures of the export (a first pass over the rows: the summary comes first)."""
    found = Tally()
    for person in _people(session, scope):
        found.add(person)
    return found


def write_pdf(
    session: Session,
    scope: ExportScope,
    figures: Tally,
    record: DocumentationExport,
    verify_url: str,
    out: IO[bytes],
) -> Tally:
    """The competence documentation, landscape: who and what it covers, the summary
    (``figures``, a first read), the status rule, the verification code and QR code, then
    the matrix (people a page at a time, the competences split into groups of columns).
    The people of the matrix as written (for the audit log: whose data the file holds)."""
    # ReportLab (and Pillow) load with the first PDF, not in every worker at start
    from lti_tool.documents import competence_pdf

    days = scope.expiring_days
    document = competence_pdf.DocumentationDocument(
        language=scope.locale,
        created=scope.now,
        heading=gettext("Competence documentation"),
        details=tuple(_details(session, scope)),
        summary_heading=gettext("Summary"),
        summary=(
            (gettext("People"), str(len(figures.person_ids))),
            (gettext("Coverage"), i18n.format_percentage(figures.coverage)),
            *((status_text(s), str(figures.counts[s])) for s in STATUS_ORDER),
            (_own_word_count_label(), str(figures.own_word)),
        ),
        legend_heading=gettext("What the statuses mean"),
        legend=(
            *((status_text(s), str(STATUS_RULES[s]) % {"days": days}) for s in STATUS_ORDER),
            (f"({OWN_WORD})", str(OWN_WORD_RULE)),
        ),
        matrix_heading=gettext("The matrix"),
        name_label=gettext("Name"),
        not_required=gettext("–: not required of the person"),
        empty_text=gettext("No one in the unit matches the filters."),
        code_label=gettext("Verification code"),
        verification_code=record.code,
        verify_label=gettext("Check this document at"),
        verification_url=verify_url,
        page_label=gettext("Page"),
        document_title=gettext(
            "Competence documentation – %(unit)s",
            unit=scope.unit_name or scope.organisation_name,
        ),
        author=scope.organisation_name,
    )
    columns = _headings(session, scope)
    problem = {CellStatus.GAP, CellStatus.EXPIRED, CellStatus.NEVER_ASSESSED}
    words, own_words = _cell_words()

    written = Tally()

    def rows() -> Iterator[competence_pdf.MatrixRow]:
        for person in _people(session, scope):
            written.add(person)
            cells = []
            for heading in columns:
                cell = person.cells.get(heading.competence_id)
                cells.append(
                    competence_pdf.MatrixCell("–", False)
                    if cell is None
                    else competence_pdf.MatrixCell(
                        (own_words if cell.own_word else words)[cell.status],
                        cell.status in problem,
                    )
                )
            yield competence_pdf.MatrixRow(person.name, ", ".join(person.job_roles), tuple(cells))

    competence_pdf.render_documentation(
        document, [f"{h.code} – {h.title}" for h in columns], rows(), out
    )
    return written


def documentation_facts(row: DocumentationExport) -> dict[str, Any]:
    """What anyone may learn from a documentation's code: no names of people."""
    return {
        "kind": "competence_documentation",
        "code": row.code,
        "organisation": row.organisation_name,
        "unit": row.unit_name,
        "generated_at": row.generated_at.isoformat(),
        "people": row.people,
        "coverage": row.coverage,
        "counts": {s.value: row.counts.get(s.value, 0) for s in STATUS_ORDER},
        # held today by the person's own word only (None: exported before it was counted)
        "own_word": row.counts.get("own_word"),
        "expiring_days": row.expiring_days,
        "filtered": any(
            row.filters.get(key) for key in ("job_role_ids", "competence_ids", "statuses")
        )
        or bool(row.filters.get("mandatory_only")),
    }
