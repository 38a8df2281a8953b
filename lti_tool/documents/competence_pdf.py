"""A unit's competence documentation as a landscape A4 PDF, for an inspection.

The caller translates every text and streams the matrix's rows; this module lays them
out with the certificate's fonts, styles and QR code (``certificate_pdf``). The story is
fed to ReportLab as it is consumed, a page of people at a time, so a large unit does not
hold every row in memory. Statuses are words (shaded when something is missing), readable
in greyscale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from lti_tool.documents.certificate_pdf import (
    ACCENT,
    FONT,
    MUTED,
    QR_GAP,
    RULE,
    STYLES,
    _p,
    _QRCode,
    _register_fonts,
    _style,
    start_footer,
)
from lti_tool.documents.pdf_layout import PlainText, build_pdf, fit_line

PAGE = landscape(A4)
MARGIN = 15 * mm
BODY_WIDTH = PAGE[0] - 2 * MARGIN
QR_SIZE = 32 * mm
NAME_WIDTH = 62 * mm
CELL_WIDTH = 23 * mm
#: Competences per table: as many as fit beside the name.
COLUMNS_PER_GROUP = int((BODY_WIDTH - NAME_WIDTH) // CELL_WIDTH)
#: People per table: about a page.
PEOPLE_PER_TABLE = 24
SHADE = "#d9d9d9"

MATRIX_STYLES = {
    "title": _style(
        "doc-title", fontName="DejaVuSans-Bold", fontSize=20, leading=26, textColor=ACCENT
    ),
    "head": _style("doc-head", fontName="DejaVuSans-Bold", fontSize=7, leading=8.5),
    "name": _style("doc-name", fontSize=7.5, leading=9),
    "roles": _style("doc-roles", fontSize=6.5, leading=8, textColor=MUTED),
    "cell": _style("doc-cell", fontSize=7, leading=8.5),
    "missing": _style("doc-missing", fontName="DejaVuSans-Bold", fontSize=7, leading=8.5),
    "small": _style("doc-small", fontSize=8, leading=10, textColor=MUTED),
}


@dataclasses.dataclass(frozen=True)
class DocumentationDocument:
    """Every text of the document but the matrix, already translated and formatted."""

    language: str
    created: dt.datetime
    """When it was made (its metadata)."""
    heading: str
    details: tuple[tuple[str, str], ...]
    summary_heading: str
    summary: tuple[tuple[str, str], ...]
    legend_heading: str
    legend: tuple[tuple[str, str], ...]
    matrix_heading: str
    name_label: str
    not_required: str
    empty_text: str
    code_label: str
    verification_code: str
    verify_label: str
    verification_url: str
    page_label: str
    document_title: str
    author: str


@dataclasses.dataclass(frozen=True)
class MatrixCell:
    text: str
    missing: bool
    """Shaded and bold: the person lacks the competence today (gap, expired, not assessed)."""


@dataclasses.dataclass(frozen=True)
class MatrixRow:
    name: str
    job_roles: str
    cells: tuple[MatrixCell, ...]


class _Story(list[Flowable]):
    """The flowables ReportLab consumes from the front, topped up from ``source`` as they
    go: ReportLab asks ``len()`` before each one."""

    def __init__(self, first: Iterable[Flowable], source: Iterator[Flowable]) -> None:
        super().__init__(first)
        self.source = source

    def __len__(self) -> int:
        while super().__len__() < 2:
            following = next(self.source, None)
            if following is None:
                break
            self.append(following)
        return super().__len__()


def _pairs(rows: Sequence[tuple[str, str]], widths: tuple[str, str]) -> Table:
    table = Table(
        [[_p(label, "label"), _p(value, "value")] for label, value in rows], colWidths=list(widths)
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
            ]
        )
    )
    return table


def _verification(doc: DocumentationDocument) -> Table:
    url = escape(doc.verification_url, {'"': "&quot;"})
    text = [
        _p(doc.code_label, "label"),
        _p(doc.verification_code, "section"),
        Spacer(0, 2 * mm),
        _p(doc.verify_label, "label"),
        Paragraph(f'<a href="{url}" color="#1f4e9a">{url}</a>', STYLES["value"]),
    ]
    table = Table(
        [[_QRCode(doc.verification_url, QR_SIZE), text]],
        colWidths=[QR_SIZE + QR_GAP, BODY_WIDTH / 2 - QR_SIZE - QR_GAP],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _front(doc: DocumentationDocument) -> list[Flowable]:
    """The first page: what, whose, the figures, the legend and the verification."""
    half = BODY_WIDTH / 2 - 4 * mm
    left = [
        _pairs(doc.details, (f"{0.3 * half}", f"{0.7 * half}")),
        Spacer(0, 5 * mm),
        _p(doc.summary_heading, "section"),
        _pairs(doc.summary, (f"{0.6 * half}", f"{0.4 * half}")),
    ]
    right = [
        _p(doc.legend_heading, "section"),
        _pairs(doc.legend, (f"{0.3 * half}", f"{0.7 * half}")),
        Spacer(0, 2 * mm),
        _p(doc.not_required, "label"),
        Spacer(0, 5 * mm),
        _verification(doc),
    ]
    columns = Table([[left, right]], colWidths=[half + 8 * mm, half])
    columns.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return [
        Paragraph(escape(doc.heading), MATRIX_STYLES["title"]),
        Spacer(0, 4 * mm),
        columns,
    ]


def _plain(text: str, style: str) -> Paragraph:
    return PlainText(text, MATRIX_STYLES[style])


def _table(
    doc: DocumentationDocument, titles: Sequence[str], rows: Sequence[MatrixRow], group: range
) -> Table:
    """People × the competences of ``group``; the heading row repeats on a new page."""
    data: list[list[Any]] = [
        [_plain(doc.name_label, "head"), *(_plain(titles[i], "head") for i in group)]
    ]
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 1, ACCENT),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]
    for r, row in enumerate(rows, start=1):
        line: list[Any] = [[_plain(row.name, "name"), _plain(row.job_roles, "roles")]]
        for c, i in enumerate(group, start=1):
            cell = row.cells[i]
            line.append(_plain(cell.text, "missing" if cell.missing else "cell"))
            if cell.missing:
                style.append(("BACKGROUND", (c, r), (c, r), SHADE))
        data.append(line)
    table = Table(
        data, colWidths=[NAME_WIDTH] + [CELL_WIDTH] * len(group), repeatRows=1, hAlign="LEFT"
    )
    table.setStyle(TableStyle(style))
    return table


def _chunks(rows: Iterator[MatrixRow], size: int) -> Iterator[list[MatrixRow]]:
    chunk: list[MatrixRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _matrix(
    doc: DocumentationDocument, titles: Sequence[str], rows: Iterator[MatrixRow]
) -> Iterator[Flowable]:
    """A page of people at a time; competences beyond a page's width in further tables."""
    groups = [
        range(start, min(start + COLUMNS_PER_GROUP, len(titles)))
        for start in range(0, len(titles), COLUMNS_PER_GROUP)
    ] or [range(0)]
    yield PageBreak()
    yield _p(doc.matrix_heading, "section")
    any_rows = False
    for chunk in _chunks(rows, PEOPLE_PER_TABLE):
        any_rows = True
        for group in groups:
            yield CondPageBreak(40 * mm)
            yield _table(doc, titles, chunk, group)
            yield Spacer(0, 4 * mm)
    if not any_rows:
        yield _p(doc.empty_text, "value")


def _footer(doc: DocumentationDocument) -> Any:
    def draw(canvas: Canvas, template: BaseDocTemplate) -> None:
        width = PAGE[0]
        start_footer(canvas, width, MARGIN, 11 * mm, 7.5)
        # the title in the left third, cut short rather than run into the code
        title = fit_line(doc.document_title, FONT, 7.5, (width - 2 * MARGIN) / 3 - 4 * mm)
        canvas.drawString(MARGIN, 7 * mm, title)
        canvas.drawCentredString(width / 2, 7 * mm, f"{doc.code_label}: {doc.verification_code}")
        canvas.drawRightString(width - MARGIN, 7 * mm, f"{doc.page_label} {canvas.getPageNumber()}")
        canvas.restoreState()

    return draw


def render_documentation(
    doc: DocumentationDocument,
    titles: Sequence[str],
    rows: Iterator[MatrixRow],
    out: IO[bytes],
) -> None:
    """Write the documentation to ``out``: ``titles`` are the competences' column
    headings, ``rows`` the people (each with one cell per title), consumed as pages fill."""
    _register_fonts()
    build_pdf(
        out,
        _Story([KeepTogether(_front(doc))], _matrix(doc, titles, rows)),
        pagesize=PAGE,
        margin=MARGIN,
        name="documentation",
        footer=_footer(doc),
        created=doc.created,
        title=doc.document_title,
        author=doc.author,
        lang=doc.language,
        pageCompression=1,
    )
