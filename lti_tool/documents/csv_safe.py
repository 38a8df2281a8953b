"""CSV files that a spreadsheet opens safely: no cell runs as a formula.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel and LibreOffice as a formula (CSV injection, OWASP); such a cell gets a leading
single quote, which the spreadsheet shows as text. Every CSV export goes through here.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """The value as CSV text, a formula-like start defused."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(
    header: Iterable[Any], rows: Iterable[Iterable[Any]], delimiter: str = ","
) -> Iterator[str]:
    """The header and rows as CSV text, a line at a time (to stream), every cell safe;
    ``delimiter`` ``;`` for a file Norwegian Excel opens in columns on a double click.

    Starts with a byte order mark so that Excel reads the UTF-8 (æ, ø, å) right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write("\ufeff")
    for row in itertools.chain([header], rows):
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
