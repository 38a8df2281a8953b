"""What the tool's PDFs share: one body frame inside the page's margins with a footer drawn
as each page ends, and paragraphs of plain text that wrap between words.

ReportLab splits a word that is wider than its column wherever the line runs out, starting
on the line it shares with the words before it ("legemiddel – L" / "egemiddelhånd…"), and
without a hyphen. ``PlainText`` wraps at spaces; only a word wider than a whole line breaks,
on a line of its own, with a hyphen where each line ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import IO, Any
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph

#: ReportLab's soft hyphen: a place a word may break, shown as "-" when it does.
SOFT_HYPHEN = "\xad"
ELLIPSIS = "…"


def breakable_markup(text: str, font: str, size: float, width: float) -> str:
    """``text`` as paragraph markup (escaped) in which only the words wider than ``width``
    may break: each starts a new line and may break after any letter."""
    pieces: list[str] = []
    for word in text.split():
        if stringWidth(word, font, size) <= width:
            pieces.append(escape(word))
            continue
        broken = SOFT_HYPHEN.join(escape(letter) for letter in word)
        pieces.append(f"<br/>{broken}" if pieces else broken)
    return " ".join(pieces)


class PlainText(Paragraph):
    """A paragraph of plain text (never read as markup: names and titles come from
    people) that wraps at word boundaries, breaking a word only when it is wider than the
    line it gets (``breakable_markup``, decided when the paragraph learns its width)."""

    def __init__(self, text: str | None, style: ParagraphStyle, *args: Any, **kwargs: Any) -> None:
        # ReportLab makes the halves of a split paragraph with text None and their frags
        self.plain = text
        self._width: float | None = None
        super().__init__(escape(text) if text is not None else None, style, *args, **kwargs)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        style = self.style
        width = availWidth - style.leftIndent - style.rightIndent
        if self.plain is not None and width != self._width:
            self._width = width
            markup = breakable_markup(self.plain, style.fontName, style.fontSize, width)
            Paragraph.__init__(self, markup, style)
        return super().wrap(availWidth, availHeight)  # type: ignore[no-any-return]


def fit_line(text: str, font: str, size: float, width: float) -> str:
    """``text`` on one line of ``width``: whole, or cut after a word with an ellipsis (a
    footer has one line)."""
    if stringWidth(text, font, size) <= width:
        return text
    words = text.split()
    while words:
        words.pop()
        shorter = " ".join(words) + " " + ELLIPSIS
        if stringWidth(shorter, font, size) <= width:
            return shorter
    return ELLIPSIS


class _Dated(BaseDocTemplate):
    """A document whose creation and modification dates are ``created`` (ReportLab's
    invariant mode, which makes the same input give the same bytes, would say 2000-01-01:
    a file an inspector opens should say when it was made)."""

    def __init__(self, out: IO[bytes], created: dt.datetime, **kwargs: Any) -> None:
        utc = created.astimezone(dt.UTC)
        self.pdf_date = utc.strftime("D:%Y%m%d%H%M%S+00'00'")
        super().__init__(out, **kwargs)

    def beforeDocument(self) -> None:
        self.canv.setDateFormatter(lambda *_ymdhms: self.pdf_date)


def build_pdf(
    out: IO[bytes],
    story: Sequence[Flowable],
    *,
    pagesize: tuple[float, float],
    margin: float,
    name: str,
    footer: Callable[[Canvas, BaseDocTemplate], None],
    created: dt.datetime,
    **info: Any,
) -> None:
    """Lay ``story`` out into ``out``: one frame filling the page within ``margin`` on
    every side, ``footer`` drawn at the end of each page (so text extraction reads it after
    the body). ``created``: the document's date; ``info``: its title, author, subject and
    lang; it opens showing its title, and the same input gives the same bytes."""
    template = _Dated(
        out,
        created,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        displayDocTitle=True,
        invariant=1,
        **info,
    )
    body = Frame(
        margin,
        margin,
        pagesize[0] - 2 * margin,
        template.height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    template.addPageTemplates([PageTemplate(name, [body], onPageEnd=footer)])
    template.build(story)
