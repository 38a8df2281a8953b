"""Counting the SQL statements a request runs: the machine-independent cost tests assert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def statements_run(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app runs inside the block."""
    run: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        run.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield run
    finally:
        event.remove(engine, "before_cursor_execute", record)
