"""The course certificate ("kursbevis") as an A4 PDF.

The caller translates every text; this module only lays it out, so it runs without Flask and
the same document always gives the same bytes. DejaVu Sans is embedded because the built-in
PDF fonts lack the Sami letters (đ ŋ ŧ …).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    HRFlowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from lti_tool.documents.pdf_layout import PlainText, build_pdf

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"

#: Modules of white around the symbol that the QR standard asks for.
QR_QUIET_ZONE = 4
QR_SIZE = 40 * mm
#: Marked-content tag around the QR drawing, so tests (and tools) can find it in the stream.
QR_TAG = "QRCode"

MARGIN = 20 * mm
BODY_WIDTH = A4[0] - 2 * MARGIN
QR_GAP = 6 * mm
URL_WIDTH = BODY_WIDTH - QR_SIZE - QR_GAP
INK = colors.HexColor("#1b1b1b")
ACCENT = colors.HexColor("#1f3a5f")
MUTED = colors.HexColor("#5a5a5a")
RULE = colors.HexColor("#c9d2dc")
REVOKED = colors.HexColor("#b3261e")


@dataclass(frozen=True)
class CertificateDocument:
    """Everything printed on a certificate, already translated and formatted."""

    language: str
    heading: str
    holder_label: str
    holder_name: str
    achievement_title: str
    achievement_description: str
    competences_heading: str
    competences: tuple[tuple[str, str], ...]
    organisation_label: str
    organisation_name: str
    issued_label: str
    issued_on: str
    issued_at: dt.datetime
    """The document's own date (its metadata)."""
    expires_label: str
    expires_on: str | None
    no_expiry_text: str
    code_label: str
    verification_code: str
    verify_label: str
    verification_url: str
    document_title: str
    revoked_text: str | None = None


@functools.cache
def _register_fonts() -> None:
    """Register DejaVu once per process; ``<b>`` in paragraphs then picks the bold face."""
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)


def draw_qr_code(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    """Draw ``data`` as a QR code, quiet zone included, in the square at (x, y) of ``size``.

    Vectors stay sharp in print. ``make_qr`` (not ``make``) because phones cannot read Micro
    QR. Inside a ``/QRCode`` marked-content block the coordinates are in modules, y downwards,
    with one rectangle per run of dark modules in a row, so the code can be read back.
    """
    matrix = segno.make_qr(data, error="m").matrix
    module = size / (len(matrix) + 2 * QR_QUIET_ZONE)
    canvas.addLiteral(f"/{QR_TAG} BMC")
    canvas.saveState()
    canvas.translate(x, y + size)
    canvas.scale(module, -module)
    canvas.setFillColor(colors.black)
    path = canvas.beginPath()
    for row, cells in enumerate(matrix):
        col = 0
        while col < len(cells):
            if not cells[col]:
                col += 1
                continue
            start = col
            while col < len(cells) and cells[col]:
                col += 1
            path.rect(start + QR_QUIET_ZONE, row + QR_QUIET_ZONE, col - start, 1)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()
    canvas.addLiteral("EMC")


class _QRCode(Flowable):
    """The QR code as a flowable that is also a link, for readers who click rather than scan."""

    def __init__(self, url: str, size: float) -> None:
        super().__init__()
        self.url = url
        self.size = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        draw_qr_code(self.canv, self.url, 0, 0, self.size)
        self.canv.linkURL(self.url, (0, 0, self.size, self.size), relative=1)


def _style(name: str, **kw: object) -> ParagraphStyle:
    base: dict[str, object] = {"fontName": FONT, "fontSize": 10.5, "leading": 14, "textColor": INK}
    return ParagraphStyle(name, **(base | kw))


STYLES = {
    "revoked": _style(
        "revoked",
        fontName=FONT_BOLD,
        fontSize=14,
        leading=18,
        alignment=TA_CENTER,
        textColor=colors.white,
    ),
    "heading": _style(
        "heading",
        fontName=FONT_BOLD,
        fontSize=30,
        leading=36,
        alignment=TA_CENTER,
        textColor=ACCENT,
    ),
    "holder_label": _style("holder_label", fontSize=11, alignment=TA_CENTER, textColor=MUTED),
    "holder_name": _style(
        "holder_name", fontName=FONT_BOLD, fontSize=22, leading=28, alignment=TA_CENTER
    ),
    "achievement": _style(
        "achievement",
        fontName=FONT_BOLD,
        fontSize=15,
        leading=20,
        alignment=TA_CENTER,
        textColor=ACCENT,
    ),
    "description": _style("description", alignment=TA_CENTER, textColor=MUTED),
    "section": _style("section", fontName=FONT_BOLD, fontSize=12, leading=16, textColor=ACCENT),
    "cell": _style("cell", fontSize=10, leading=13),
    "level": _style("level", fontName=FONT_BOLD, fontSize=10, leading=13, alignment=TA_RIGHT),
    "label": _style("label", fontSize=9, leading=13, textColor=MUTED),
    "value": _style("value"),
}


def _p(text: str, style: str) -> Paragraph:
    """A paragraph of plain text: names and titles must never be read as markup, and
    wrap between words."""
    return PlainText(text, STYLES[style])


def _revoked_banner(text: str) -> Table:
    banner = Table([[_p(text, "revoked")]], colWidths=["100%"])
    banner.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), REVOKED),
                ("TOPPADDING", (0, 0), (-1, -1), 8),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return banner


def _competences(doc: CertificateDocument) -> Table:
    """The competences as a table whose heading row repeats when it runs onto the next page."""
    rows = [[_p(doc.competences_heading, "section"), ""]]
    rows += [[_p(title, "cell"), _p(level, "level")] for title, level in doc.competences]
    table = Table(rows, colWidths=["62%", "38%"], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("SPAN", (0, 0), (-1, 0)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 1, ACCENT),
                ("LINEBELOW", (0, 1), (-1, -1), 0.5, RULE),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def _details(doc: CertificateDocument) -> Table:
    expires = doc.expires_on if doc.expires_on is not None else doc.no_expiry_text
    rows = [
        (doc.organisation_label, doc.organisation_name),
        (doc.issued_label, doc.issued_on),
        (doc.expires_label, expires),
        (doc.code_label, doc.verification_code),
    ]
    table = Table(
        [[_p(label, "label"), _p(value, "value")] for label, value in rows],
        colWidths=["32%", "68%"],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _verification(doc: CertificateDocument) -> Table:
    """QR code beside the printed, clickable address, for those who cannot scan."""
    url = escape(doc.verification_url, {'"': "&quot;"})
    text = [
        _p(doc.verify_label, "label"),
        Paragraph(f'<a href="{url}" color="#1f4e9a">{url}</a>', _url_style(doc.verification_url)),
    ]
    table = Table(
        [[_QRCode(doc.verification_url, QR_SIZE), text]],
        colWidths=[QR_SIZE + QR_GAP, URL_WIDTH],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEABOVE", (0, 0), (-1, 0), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 4 * mm),
            ]
        )
    )
    return table


def _url_style(url: str) -> ParagraphStyle:
    """Shrink the address (down to 7 pt) to keep it on one line: a broken URL is hard to type."""
    fitting = URL_WIDTH / pdfmetrics.stringWidth(url, FONT, 1)
    size = max(7.0, min(9.5, math.floor(fitting * 10) / 10))
    return _style("url", fontSize=size, leading=size * 1.35)


def start_footer(
    canvas: Canvas, page_width: float, margin: float, rule_at: float, size: float
) -> None:
    """A footer's rule across the body at ``rule_at``, and its small muted type; the
    caller draws its text, then restores the canvas's state."""
    canvas.saveState()
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(margin, rule_at, page_width - margin, rule_at)
    canvas.setFont(FONT, size)
    canvas.setFillColor(MUTED)


def _footer(doc: CertificateDocument) -> Callable[[Canvas, BaseDocTemplate], None]:
    """Code (and revocation) on every page, so a loose second page still says whose it is."""

    def draw(canvas: Canvas, _template: BaseDocTemplate) -> None:
        width = A4[0]
        start_footer(canvas, width, MARGIN, 14 * mm, 8)
        canvas.drawCentredString(width / 2, 9 * mm, f"{doc.code_label}: {doc.verification_code}")
        if doc.revoked_text:
            canvas.setFont(FONT_BOLD, 8)
            canvas.setFillColor(REVOKED)
            canvas.drawCentredString(width / 2, 5 * mm, doc.revoked_text)
        canvas.restoreState()

    return draw


def render_certificate(doc: CertificateDocument) -> bytes:
    """The certificate as PDF bytes; identical input gives identical bytes."""
    _register_fonts()
    story: list[Flowable] = []
    if doc.revoked_text:
        story += [_revoked_banner(doc.revoked_text), Spacer(0, 6 * mm)]
    story += [
        _p(doc.heading, "heading"),
        HRFlowable(width="30%", thickness=1.5, color=ACCENT, spaceBefore=2 * mm, spaceAfter=8 * mm),
        _p(doc.holder_label, "holder_label"),
        Spacer(0, 2 * mm),
        _p(doc.holder_name, "holder_name"),
        Spacer(0, 6 * mm),
        _p(doc.achievement_title, "achievement"),
    ]
    if doc.achievement_description:
        story += [Spacer(0, 2 * mm), _p(doc.achievement_description, "description")]
    if doc.competences:
        story += [Spacer(0, 8 * mm), _competences(doc)]
    story += [
        Spacer(0, 8 * mm),
        KeepTogether([_details(doc), Spacer(0, 5 * mm), _verification(doc)]),
    ]
    out = io.BytesIO()
    build_pdf(
        out,
        story,
        pagesize=A4,
        margin=MARGIN,
        name="certificate",
        footer=_footer(doc),
        created=doc.issued_at,
        title=doc.document_title,
        author=doc.organisation_name,
        subject=f"{doc.achievement_title} — {doc.holder_name}",
        lang=doc.language,
    )
    return out.getvalue()
