"""The competence matrix page's cells as HTML, a row at a time.

A page shows up to 50 people × 60 competences; rendered cell by cell in Jinja (a macro,
gettext, ``url_for`` and a date format per cell) the cells were two thirds of the page's
time. The template still decides the words and the markup's pieces: it translates the
statuses, the "not required" cell and the sentences once, and hands them here; this
module only puts each cell together with plain string formatting. Every cell keeps its
icon and levels (hidden from screen readers) and its words (visually hidden): whose cell,
which competence, the status, the levels and when it ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from lti_tool import i18n
from lti_tool.services.coverage import PersonRow

#: Stand-ins for the ids in the drill-down's address (``trail_url``).
_PERSON, _COMPETENCE = 900_000_001, 900_000_002


def trail_url(**query: Any) -> tuple[str, str, str]:
    """A cell's drill-down address in three pieces (HTML-escaped) that go around the
    person's id and the competence's: ``url_for`` once a page, not once a cell."""
    url = url_for("manager.competence_trail", person_id=_PERSON, competence_id=_COMPETENCE, **query)
    path, mark, rest = url.partition("?")
    before, _, between = path.partition(str(_PERSON))
    middle, _, after = between.partition(str(_COMPETENCE))
    return str(escape(before)), str(escape(middle)), str(escape(after + mark + rest))


@dataclasses.dataclass
class MatrixCells:
    """A page's cells from the template's pieces: ``icons`` and ``labels`` by status
    (markup), the ``not_required`` cell (markup), the ``levels`` and ``ends`` sentences
    translated with their placeholders kept (``%(held)s``, ``%(required)s``, ``%(date)s``),
    the mark of a cell held by the person's own word (``own_mark``, shown) and its words
    (``own_word``, read out), the columns' ``titles`` and the drill-down's address
    (``trail_url``)."""

    icons: Mapping[str, str]
    labels: Mapping[str, str]
    not_required: str
    levels: str
    ends: str
    own_mark: str
    own_word: str
    titles: Sequence[str]
    trail: tuple[str, str, str]
    dates: Callable[[dt.datetime], str] = dataclasses.field(default_factory=i18n.medium_dates)

    def __post_init__(self) -> None:
        # translations are trusted as in the template; plain str: Markup's % is slow
        self.levels, self.ends = str(self.levels), str(self.ends)
        self.own_mark, self.own_word = str(self.own_mark), str(self.own_word)
        self.titles = [str(escape(t)) for t in self.titles]

    def row(self, row: PersonRow) -> Markup:
        """The row's cells, one ``<td>`` a column."""
        name = escape(row.name)
        to_person = f"{self.trail[0]}{row.person_id}{self.trail[1]}"
        query = self.trail[2]
        none, levels, ends = str(self.not_required), self.levels, self.ends
        own_mark, own_word = f" {self.own_mark}", f", {self.own_word}"
        out = []
        for cell, title in zip(row.cells, self.titles, strict=True):
            if cell is None:
                out.append(none)
                continue
            status, held, required = cell.status, cell.held_level, cell.required_level
            said = levels % {"held": held or 0, "required": required}
            if cell.expires_at is not None:
                said += ", " + ends % {"date": escape(self.dates(cell.expires_at))}
            mark = ""
            if cell.own_word:
                mark, said = own_mark, said + own_word
            out.append(
                f'<td class="cell cell-{status}"><a href="{to_person}{cell.competence_id}{query}">'
                f'<span aria-hidden="true">{self.icons[status]} {"–" if held is None else held}'
                f'/{required}{mark}</span><span class="visually-hidden">{name}, {title}: '
                f"{self.labels[status]}, {said}</span></a></td>"
            )
        return Markup("\n".join(out))  # noqa: S704 - pieces escaped above or markup given
