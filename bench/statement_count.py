"""Counting the SQL statements an engine runs: the benchmarks' machine-independent figure
beside their times (``tests/statements.py`` lists them for the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def count_statements(engine: Any) -> Iterator[list[int]]:
    """The number of SQL statements ``engine`` runs inside the block (in its one element,
    read after the block)."""
    counter = [0]

    def before(*args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)
