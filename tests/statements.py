"""Counting the SQL statements a request runs: the machine-independent cost tests assert."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def engine_events(app: Any, **listeners: Callable[..., None]) -> Iterator[None]:
    """The app's engine calls each listener (by event name: ``commit=…``) inside the block."""
    engine = app.extensions["db_engine"]
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)


@contextmanager
def statements_run(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app runs inside the block."""
    run: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        run.append(statement)

    with engine_events(app, before_cursor_execute=record):
        yield run


@contextmanager
def statements_rendered_again(app: Any) -> Iterator[list[str]]:
    """The statements run inside the block that SQLAlchemy renders again on every execution
    (an expanding ``IN`` parameter: ``POSTCOMPILE`` in the compiled SQL)."""
    found: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, *_: Any):
        compiled = getattr(context, "compiled", None)
        if compiled is not None and "POSTCOMPILE" in compiled.string:
            found.append(compiled.string)

    with engine_events(app, before_cursor_execute=record):
        yield found


@contextmanager
def statements_in_transaction(app: Any) -> Iterator[list[tuple[str, bool]]]:
    """The SQL statements the app runs inside the block, each with whether the database
    connection ran it inside a transaction (as the driver holds it: not in autocommit)."""
    run: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        run.append((statement, not _autocommit(cursor.connection)))

    with engine_events(app, before_cursor_execute=record):
        yield run


def _autocommit(dbapi_connection: Any) -> bool:
    autocommit = getattr(dbapi_connection, "autocommit", None)
    if isinstance(autocommit, bool):  # psycopg
        return autocommit
    return dbapi_connection.isolation_level is None  # sqlite3
