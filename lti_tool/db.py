"""Database wiring: the declarative base, column types, and one session per request.

The session is committed in exactly one place (``commit_request_session``, called after the
view returned without error) and rolled back otherwise; services only ``flush()``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import enum
import logging
import math
import os
import re
import socket
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, TypeVar

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    Enum,
    Integer,
    MetaData,
    String,
    any_,
    bindparam,
    create_engine,
    event,
    literal,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, InvalidatePoolError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import (
    DeclarativeBase,
    QueryableAttribute,
    Session,
    make_transient_to_detached,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.orm.attributes import instance_state, manager_of_class, set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from lti_tool import clock
from lti_tool.domain.certification_rules import add_months
from lti_tool.settings import SettingsError

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return clock.now()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


#: The largest value an ``Integer`` column holds on every database (PostgreSQL's
#: ``integer``): ids and numbers from outside beyond it are refused before any query.
MAX_INT = 2**31 - 1

intpk = Annotated[int, mapped_column(primary_key=True)]
str50 = Annotated[str, mapped_column(String(50))]
str255 = Annotated[str, mapped_column(String(255))]
url = Annotated[str, mapped_column(String(2048))]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]


def str_enum(kind: type[enum.StrEnum], name: str, length: int = 20) -> Enum:
    """A string enum stored as its values in a VARCHAR (no native type to migrate)."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


T = TypeVar("T")


def insert_or_find(session: Session, new: T, find: Callable[[], T | None]) -> T:
    """Insert ``new``; if a concurrent request inserted the same unique row first, return
    that one instead (two first launches of a new deployment or person at once)."""
    try:
        with session.begin_nested():
            session.add(new)
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found
    return new


def attach_row(session: Session, model: type[T], values: dict[str, Any], *, refresh: bool) -> T:
    """The row ``values`` (as the database holds it) as a persistent object of ``session``,
    without SQL: the one the session holds already (brought up to date with ``values`` when
    ``refresh``), else a new one. The new one is made without the model's constructor,
    whose instrumented sets and their history cost more than the values are worth here
    (a launch attaches five: its platform, deployment, organisation, person and itself)."""
    found = session.identity_map.get(identity_key(model, values["id"]))
    if found is not None:
        if refresh:
            for key, value in values.items():
                set_committed_value(found, key, value)
        return found  # type: ignore[no-any-return]
    row: T = manager_of_class(model).new_instance()
    instance_state(row).dict.update(values)
    make_transient_to_detached(row)
    session.add(row)
    return row


class RecentWrites:
    """Rows this process wrote lately, with the values it wrote, per database: a write that
    would give a row the values it was given a moment ago is skipped.

    For idempotent upserts that nearly every request repeats: each launch writes its
    course's names and roster offer, the same as the launch before it, and on PostgreSQL
    an ``ON CONFLICT DO UPDATE`` locks and rewrites that one row for every launch of the
    course, so a class launching at once queued on it. A write is noted only once its
    transaction commits (one rolled back is written again), and kept ``max_age`` seconds:
    a row another process changed since (a course renamed back, a database restored) is
    written again at the latest then. At most ``max_rows`` rows per database.
    """

    def __init__(self, max_age: float, max_rows: int) -> None:
        self.max_age = max_age
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._written: weakref.WeakKeyDictionary[Engine, OrderedDict[Any, tuple[Any, float]]]
        self._written = weakref.WeakKeyDictionary()

    def unchanged(self, session: Session, key: Any, values: Any) -> bool:
        """This process committed ``values`` for the row ``key`` less than ``max_age``
        seconds ago."""
        with self._lock:
            found = self._written.get(session.get_bind().engine, {}).get(key)
        return found is not None and found[0] == values and time.monotonic() < found[1]

    def note(self, session: Session, key: Any, values: Any) -> None:
        """The row ``key`` is written with ``values`` in the session's transaction: kept
        once it commits. A write inside a savepoint is not kept (the savepoint could be
        rolled back alone): it is written again the next time."""
        if not session.in_nested_transaction():
            session.info.setdefault(_PENDING_WRITES, []).append((self, key, values))

    def forget(self, session: Session, key: Any) -> None:
        """The row ``key`` is written otherwise in the session's transaction: its next
        write is not skipped, from now and again once the transaction commits (another
        request may note the row's old values meanwhile)."""
        self._drop(session.get_bind().engine, key)
        session.info.setdefault(_PENDING_WRITES, []).append((self, key, _FORGOTTEN))

    def _drop(self, engine: Engine, key: Any) -> None:
        with self._lock:
            self._written.get(engine, OrderedDict()).pop(key, None)

    def _keep(self, engine: Engine, key: Any, values: Any) -> None:
        with self._lock:
            rows = self._written.setdefault(engine, OrderedDict())
            rows[key] = (values, time.monotonic() + self.max_age)
            rows.move_to_end(key)
            while len(rows) > self.max_rows:
                rows.popitem(last=False)


_PENDING_WRITES = "recent_writes"
_FORGOTTEN = object()


# The transaction's events also fire for its savepoints (SQLAlchemy 2.1: a savepoint
# released "commits", one rolled back "rolls back"): those leave the transaction's writes
# pending.


@event.listens_for(Session, "after_commit")
def _keep_committed_writes(session: Session) -> None:
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING_WRITES, None)
    if pending:
        engine = session.get_bind().engine
        for recent, key, values in pending:
            if values is _FORGOTTEN:
                recent._drop(engine, key)
            else:
                recent._keep(engine, key, values)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back_writes(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING_WRITES, None)


@event.listens_for(Session, "after_begin")
def _drop_unfinished_writes(session: Session, transaction: Any, _connection: Any) -> None:
    """A transaction begun after one that ended without a commit (a session closed)."""
    if not transaction.nested:
        session.info.pop(_PENDING_WRITES, None)


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy keeps a datetime in SQLite (text that sorts as time does)."""


def _sqlite_add_months(moment: str | None, months: int | None) -> str | None:
    if moment is None or months is None:
        return None
    return add_months(dt.datetime.fromisoformat(moment), months).strftime(SQLITE_DATETIME)


class MonthsAfter(FunctionElement[dt.datetime]):
    """SQL for ``domain.certification_rules.add_months(moment, months)``: the same day
    ``months`` later, the month's last day when that day does not exist (PostgreSQL's
    interval arithmetic on UTC wall time; on SQLite the Python function itself)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "months_after"


@compiles(MonthsAfter)
def _months_after_sqlite(element: MonthsAfter, compiler: Any, **kw: Any) -> str:
    return f"add_months({compiler.process(element.clauses, **kw)})"


@compiles(MonthsAfter, "postgresql")
def _months_after_postgresql(element: MonthsAfter, compiler: Any, **kw: Any) -> str:
    moment, months = list(element.clauses)
    return (
        f"(({compiler.process(moment, **kw)} AT TIME ZONE 'UTC') "
        f"+ make_interval(months => {compiler.process(months, **kw)})) AT TIME ZONE 'UTC'"
    )


def dialect_of(session: Session) -> str:
    """The session's database: ``postgresql`` or ``sqlite``."""
    return session.get_bind().dialect.name


def among(
    dialect: str, column: ColumnElement[int] | QueryableAttribute[int], name: str
) -> ColumnElement[bool]:
    """``column IN :name``, the list of ids given when the statement runs (so the statement
    can be made once: making one costs more than running it). On PostgreSQL
    ``column = ANY(:name)``, one array parameter: an ``IN`` list of 300 ids is 300
    parameters that SQLAlchemy renders and psycopg parses again on every execution (its
    statement cache stops at 4 kB), about 1.5 ms of CPU a statement for each of a
    300-requirement person's pages (bench/pages_bench.py)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def among_values(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN (values)`` for values fixed when the statement is made (statuses, kinds):
    one parameter each, rendered once with the statement. A plain list given to ``in_``
    becomes an expanding parameter, which SQLAlchemy renders into the SQL again on every
    execution (``_process_parameters_for_postcompile``: 1–4 % of a worker's CPU in the
    launch bench, for the learner's start page alone)."""
    return column.in_([literal(value, column.type) for value in values])


#: How long a new PostgreSQL connection may take (libpq's ``connect_timeout``, unless the
#: URL gives one): a server that accepts and never answers (a half-dead host, a stuck
#: proxy) fails a request, and ``/readyz``, in seconds, not minutes. Redis's is the same.
CONNECT_TIMEOUT_SECONDS = 5

#: libpq's settings for a connection whose server went away while it was open (a host
#: gone, a failover, a dropped route): without them a request waits on it for TCP's own
#: retransmissions, some 15 minutes. Sent data left unacknowledged 30 s, or an idle
#: connection whose keepalives go unanswered for 30 + 3 × 10 s, fails; the request gets
#: the outage's 503 and the pool a new connection. A server that acknowledges and never
#: answers (a hung process) is not seen so: ``/readyz`` has its own deadline for that.
#: Each applies unless ``DATABASE_URL`` gives it.
TCP_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # ms
}


class StatementTimeout:
    """The ``statement_timeout`` an engine's PostgreSQL connections are opened with, in
    seconds (0: none set, the URL's or the role's own). Set by ``SET`` on each new
    connection, a session setting (with PgBouncer: session pooling), not by libpq's
    ``options``, which a pooler may refuse as a startup parameter."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def apply(self, dbapi_conn: Any, _record: Any) -> None:
        if self.seconds:
            # a whole number of milliseconds (validated settings): no quoting needed
            dbapi_conn.execute(f"SET statement_timeout = {int(self.seconds) * 1000}")
            dbapi_conn.commit()  # a session setting, not undone by the pool's rollback


def make_engine(
    database_url: str, statement_timeout_seconds: int = 0, *, probe: bool = False
) -> Engine:
    """The engine; on PostgreSQL each connection stops a statement that runs past
    ``statement_timeout_seconds`` (0: no limit; ``set_statement_timeout`` changes it).
    ``probe=True``: ``/readyz``'s own (``answering_session``), one connection kept, a
    second for probes that overlap."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            dbapi_conn.create_function("add_months", 2, _sqlite_add_months, deterministic=True)

        return engine
    given = make_url(database_url).query
    defaults = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **TCP_SETTINGS}
    connect_args = {name: value for name, value in defaults.items() if name not in given}
    pool: dict[str, Any] = (
        {"pool_size": 1, "max_overflow": 1, "pool_timeout": PROBE_WAIT_SECONDS}
        if probe
        else {"pool_size": 5, "max_overflow": 10}
    )
    engine = create_engine(database_url, connect_args=connect_args, **pool)
    # a URL that gives one (``?options=-c statement_timeout=…``) keeps it, in every process
    if "statement_timeout" not in str(given.get("options", "")):
        timeout = StatementTimeout(statement_timeout_seconds)
        _STATEMENT_TIMEOUTS[engine] = timeout
        event.listen(engine, "connect", timeout.apply)
    if probe:  # first: before the dialect's first queries, and the idle ping
        event.listen(engine, "do_connect", _connect_within_deadline)
        event.listen(engine, "connect", _hand_to_cutter, insert=True)
        event.listen(engine, "checkout", _hand_to_cutter, insert=True)
        event.listen(engine, "checkin", _take_from_cutter, insert=True)
    _ping_idle_connections(engine)
    return engine


#: Each PostgreSQL engine's statement timeout (``set_statement_timeout`` changes it).
_STATEMENT_TIMEOUTS: weakref.WeakKeyDictionary[Engine, StatementTimeout] = (
    weakref.WeakKeyDictionary()
)


def set_statement_timeout(engine: Engine, seconds: int) -> None:
    """Open the engine's connections from now on with ``seconds`` as their statement
    timeout (the worker and the commands: WORKER_STATEMENT_TIMEOUT_SECONDS, not the web
    requests' DATABASE_STATEMENT_TIMEOUT_SECONDS); the idle ones are closed, so none
    keeps the old one. Nothing on SQLite, which has no such timeout, nor when DATABASE_URL
    gives its own."""
    timeout = _STATEMENT_TIMEOUTS.get(engine)
    if timeout is None or timeout.seconds == seconds:
        return
    timeout.seconds = seconds
    engine.dispose()


# --- views that only read ----------------------------------------------------------------

#: ``Session.info``'s mark of a session that only reads from here on (``reads_only``).
_READING_ONLY = "reading_only"
_READS_ONLY_VIEW = "reads_only"

V = TypeVar("V", bound=Callable[..., Any])


def reads_only(view: V) -> V:
    """Mark a view that never writes: its GET (and a launch landing on it) reads outside a
    transaction (``read_outside_transaction``). Put it under ``@bp.route``."""
    setattr(view, _READS_ONLY_VIEW, True)
    return view


def view_reads_only(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, _READS_ONLY_VIEW, False))


class WriteWhileReadingOnly(RuntimeError):
    """A write by a session that only reads: a view marked ``reads_only`` that writes,
    whose writes would each commit on their own."""


def read_outside_transaction(session: Session) -> None:
    """From here on ``session`` only reads: its statements run without a transaction, each
    committed on its own (autocommit), so no BEGIN and no COMMIT are sent: two round trips
    fewer for the request (about 70 µs of the tool's CPU, and the database's, for a
    launch's start page: bench/RESULTS.md). Under READ COMMITTED, the default, each
    statement sees its own snapshot inside a transaction too. But what a query sets for
    its transaction is gone before the next one: not for a view whose reads depend on
    ``set_config(…, true)`` (the coordinator's sums), ``FOR UPDATE`` or a transaction's
    advisory lock. Call it at the start of a transaction (the request's first
    statement, or after a commit); until the session's transaction ends, a write is
    refused (``WriteWhileReadingOnly``: a flush, an ``insert``, ``update`` or ``delete``
    through the session, or a text statement other than a query)."""
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    session.info[_READING_ONLY] = True


# Checked by the session, not the engine: an engine event listener costs every statement
# some 15 µs (it takes SQLAlchemy's execution off its fast path); these cost nothing much.


@event.listens_for(Session, "do_orm_execute")
def _refuse_statements_that_write(state: Any) -> None:
    if state.session.info.get(_READING_ONLY) and not state.is_select:
        statement = state.statement
        if not isinstance(statement, TextClause) or not _is_select(statement.text):
            raise WriteWhileReadingOnly(f"a write outside a transaction: {str(statement)[:80]}")


@event.listens_for(Session, "before_flush")
def _refuse_flushes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_READING_ONLY):
        raise WriteWhileReadingOnly("a flush outside a transaction")


@event.listens_for(Session, "after_transaction_end")
def _end_reading_only(session: Session, transaction: Any) -> None:
    """Committed, rolled back or closed: the session's next transaction is a plain one."""
    if transaction.parent is None:
        session.info.pop(_READING_ONLY, None)


#: A data-changing statement inside a ``WITH``.
_CHANGES_DATA = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def _is_select(statement: str) -> bool:
    """A query that reads only: a SELECT, or a WITH whose parts change nothing."""
    start = statement.lstrip()[:6].upper()
    if start == "SELECT":
        return True
    return start[:4] == "WITH" and not _CHANGES_DATA.search(statement)


#: A pooled connection unused this long is tried before a request gets it (seconds).
IDLE_PING_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """Try a pooled connection before handing it out, if it sat unused for
    ``IDLE_PING_SECONDS``: one that died meanwhile (a database restart, a firewall's idle
    cut) is replaced, not given to a request. SQLAlchemy's ``pool_pre_ping`` tries every
    checkout, one more round trip for each of the busy requests that reuse a connection
    within milliseconds. A dead one found here retires every connection pooled before it
    (a restart killed them all); one that died since its last use a moment ago fails its
    request, and the pool drops every connection it had then (SQLAlchemy's disconnect
    handling)."""

    @event.listens_for(engine, "checkin")
    def _note_idle(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return  # new, or used a moment ago
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_conn.rollback()
        except engine.dialect.loaded_dbapi.Error as exc:
            # as pool_pre_ping does: every connection pooled before this one is suspect too
            raise InvalidatePoolError(f"pooled connection dead after idling: {exc}") from exc


def init_app(app: Flask, database_url: str, statement_timeout_seconds: int = 0) -> None:
    try:
        engine = make_engine(database_url, statement_timeout_seconds)
    except (ArgumentError, ImportError) as exc:  # a typo'd URL or a driver not installed
        raise SettingsError(
            f"DATABASE_URL cannot be used ({exc}). Use postgresql://user@host/db "
            "(psycopg 3), or leave it unset for SQLite."
        ) from exc
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    # /readyz's own connection (SQLite has no server to stop answering)
    app.extensions["db_probe_engine"] = (
        engine
        if engine.dialect.name == "sqlite"
        else make_engine(database_url, PROBE_STATEMENT_SECONDS, probe=True)
    )
    app.teardown_appcontext(_close_session)


def close_connections(app: Flask) -> None:
    """Close the app's pooled connections, the requests' and ``/readyz``'s (an app a
    test is done with: PostgreSQL's connections warn when garbage-collected open)."""
    for name in ("db_engine", "db_probe_engine"):
        app.extensions[name].dispose()


#: How long a probe waits for one of the probe engine's two connections.
PROBE_WAIT_SECONDS = 5
#: The probe's connections' statement limit: the probe cuts its side at 5 s, and the
#: server stops a statement of a cut connection (one waiting for a lock) as soon.
PROBE_STATEMENT_SECONDS = 5

#: The cutter of the ``answering_session`` this thread is in: the probe engine's
#: connections are handed to it as they are made and taken (``_hand_to_cutter``).
_CUTTER: contextvars.ContextVar[_ConnectionCutter | None] = contextvars.ContextVar(
    "lti_tool_connection_cutter", default=None
)


@contextlib.contextmanager
def answering_session(engine: Engine, seconds: float) -> Iterator[Session]:
    """A session on ``engine``'s connection (``make_engine(probe=True)``: not one the
    requests' pool may have given a stuck request, and there even when the database has
    no connection left to give) whose statements, the idle ping and a new connection's
    setting up included, are all answered within ``seconds`` of its start, or the
    connection is cut under it: the statement in hand then fails as a lost connection,
    and the next probe connects again. For ``/readyz``: a server that stopped answering
    on a connection already open ends neither libpq's timeouts (it acknowledged what was
    sent: ``TCP_SETTINGS``) nor its own statement limit. Making a connection takes at
    most ``connect_timeout``. On SQLite (no server, nothing handed over), a plain
    session."""
    cutter = _ConnectionCutter(seconds)
    handed = _CUTTER.set(cutter)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        _CUTTER.reset(handed)
        cutter.stop()


def _hand_to_cutter(dbapi_conn: Any, *_record: Any) -> None:
    """The probe engine's first ``connect`` and ``checkout`` listener: before the dialect's
    first queries and the idle ping, the connection's socket goes to the session's
    cutter."""
    cutter = _CUTTER.get()
    pgconn = getattr(dbapi_conn, "pgconn", None)
    if cutter is not None and pgconn is not None:
        cutter.watch(pgconn.socket)


def _take_from_cutter(dbapi_conn: Any, record: Any) -> None:
    """The probe engine's first ``checkin`` listener: the connection goes back to the pool,
    so the cutter lets go of it (another probe may take it before this one's deadline);
    cut already, it is not kept (closed with nothing in flight, it would not have said)."""
    cutter = _CUTTER.get()
    pgconn = getattr(dbapi_conn, "pgconn", None) if dbapi_conn is not None else None
    if cutter is not None and pgconn is not None and cutter.release(pgconn.socket):
        record.invalidate()


def _connect_within_deadline(_dialect: Any, _record: Any, _args: Any, params: Any) -> None:
    """The probe engine's ``do_connect``: a connection begun within the probe's deadline
    takes at most what is left of it (libpq's least is 2 s); none is begun after it (the
    pool connecting again, its kept connection having failed the idle ping at the cut)."""
    cutter = _CUTTER.get()
    if cutter is None:
        return
    left = cutter.seconds_left()
    if left <= 0:
        raise TimeoutError("the probe's time is up: no new connection")
    allowed = max(2, math.ceil(left))
    given = int(params.get("connect_timeout") or 0)  # 0: libpq's none (130 s an attempt)
    # each of a URL's hosts and addresses is an attempt with this much: documented
    params["connect_timeout"] = min(given, allowed) if given > 0 else allowed


def limit_statements(session: Session, seconds: float) -> None:
    """For the rest of the session's transaction, each statement is stopped after
    ``seconds``, and waits as long at most for a lock (PostgreSQL; elsewhere nothing): a
    read that may be held up and is not worth the connection's whole limit."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT set_config('statement_timeout', :ms, true), "
            "set_config('lock_timeout', :ms, true)"
        ),
        {"ms": str(int(seconds * 1000))},
    )


class _ConnectionCutter:
    """Shuts down the sockets handed to it (``watch``) ``seconds`` after it is made, unless
    stopped first, or given back (``release``). It holds a duplicate of each: shutting
    that down reaches the connection's socket, and never another's, whatever became of
    the connection's own descriptor (closed when a lost connection is dropped, its number
    then reused)."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._fired = False
        self._stopped = False
        self._timer = threading.Timer(max(seconds, 0.0), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def seconds_left(self) -> float:
        return 0.0 if self._fired else self._deadline - time.monotonic()

    def watch(self, fileno: int) -> None:
        """Cut this socket too at the deadline, or at once if it is past (a connection
        taken after the cut). A new connection is handed twice (made, then taken): a
        second duplicate, not a check of the number, which a connection made after a
        lost one may have taken over."""
        with self._lock:
            if self._stopped:
                return
            duplicate = socket.socket(fileno=os.dup(fileno))
            self._sockets.append(duplicate)
            if self._fired:
                self._shut(duplicate)

    def release(self, fileno: int) -> bool:
        """Let go of the socket ``fileno`` (its connection goes back to the pool); whether
        it was cut (the deadline passed while it was handed over)."""
        with self._lock:
            identity = _socket_identity(fileno)
            mine = [d for d in self._sockets if _socket_identity(d.fileno()) == identity]
            for duplicate in mine:
                self._sockets.remove(duplicate)
                duplicate.close()
            return bool(mine) and self._fired

    def _cut(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
            if self._sockets:
                log.warning("the database did not answer in time: its connection is cut")
            for duplicate in self._sockets:
                self._shut(duplicate)

    @staticmethod
    def _shut(duplicate: socket.socket) -> None:
        with contextlib.suppress(OSError):
            duplicate.shutdown(socket.SHUT_RDWR)  # the connection's socket too

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._stopped = True
            for duplicate in self._sockets:
                duplicate.close()
            self._sockets.clear()


def _socket_identity(fileno: int) -> tuple[int, int]:
    """The socket a descriptor refers to (its device and inode), whatever its number:
    a duplicate's is its original's."""
    found = os.fstat(fileno)
    return found.st_dev, found.st_ino


def get_session() -> Session:
    """The session of the current request (or CLI command), opened on first use: outside
    a transaction for the GET of a view that only reads (``reads_only``)."""
    if "db_session" not in g:
        session = g.db_session = current_app.extensions["db_sessionmaker"]()
        if _request_reads_only():
            read_outside_transaction(session)
    found: Session = g.db_session
    return found


def _request_reads_only() -> bool:
    """A GET (or HEAD) of a view marked ``reads_only``."""
    if not has_request_context() or request.method not in ("GET", "HEAD"):
        return False
    return view_reads_only(current_app.view_functions.get(request.endpoint or ""))


def commit_request_session() -> None:
    session: Session | None = g.get("db_session")
    if session is not None:
        session.commit()


def rollback_request_session() -> None:
    session: Session | None = g.get("db_session")
    if session is not None:
        session.rollback()


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
