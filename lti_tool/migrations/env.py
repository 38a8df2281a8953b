"""Alembic environment: the URL comes from the tool's settings, the schema from its models."""

from __future__ import annotations

import io
import logging
import re
import sys
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from alembic.util import CommandError
from sqlalchemy import JSON, text
from sqlalchemy.exc import OperationalError

from lti_tool import models  # noqa: F401  - every model registers its table
from lti_tool.db import Base, make_engine
from lti_tool.migrate import (
    MIGRATION_LOCK,
    MIGRATION_LOCK_WAIT,
    MIGRATION_STATEMENT_LOCK_WAIT,
    MIGRATION_STATEMENT_TIME,
)
from lti_tool.settings import load_settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    settings = load_settings()
    if not settings.DATABASE_URL:
        Path(settings.INSTANCE_PATH).mkdir(parents=True, exist_ok=True)
    return settings.database_url


def run_migrations_offline() -> None:
    """The SQL of the migrations, written for a database administrator to read and run
    (``db upgrade --sql``), PostgreSQL's only: SQLite's batch migrations copy tables they
    must first read. One transaction that first takes the migration lock, so the script
    takes turns with ``laeringslop migrate`` as two of those do. The whole script or
    nothing, through Alembic's own command too: a range refused halfway
    (``migrate.rows_to_copy``) must not leave a script without its COMMIT for psql to run
    in part."""
    url = database_url()
    if not url.startswith("postgresql"):
        raise CommandError(
            "SQL written in advance (--sql) is PostgreSQL's: the embedded SQLite database is "
            "migrated by `laeringslop migrate`"
        )
    script = io.StringIO()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},  # a % as itself, not the driver's %%
        output_buffer=script,
    )
    with context.begin_transaction():
        # as an upgrade run against the database (_wait_for_our_turn, _migrate): wait for
        # another migration at most MIGRATION_LOCK_WAIT, then never long behind the app
        context.execute(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_WAIT}'")
        context.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.execute(f"SET LOCAL lock_timeout = '{MIGRATION_STATEMENT_LOCK_WAIT}'")
        context.execute(f"SET LOCAL statement_timeout = '{MIGRATION_STATEMENT_TIME}'")
        _refuse_another_start()
        context.run_migrations()
    (config.output_buffer or sys.stdout).write(script.getvalue())


def _refuse_another_start() -> None:
    """A script written from a revision (``--sql FROM:TO``, every downgrade's) first checks
    that the database is at it: run on one at another revision, its statements would fail
    halfway or, worse, succeed on tables of another shape. It stops with the two
    revisions, and psql's ON_ERROR_STOP rolls the script back."""
    start = context.get_starting_revision_argument()
    if start is None:
        return  # a new database's whole schema: alembic_version is made in the script
    script = context.script.get_revision(start)  # "head", a short id: the whole id
    revision = None if script is None else script.revision
    if not isinstance(revision, str) or not re.fullmatch(r"[0-9a-f]+", revision):
        return  # base: nothing to check
    # a revision id of the shipped migrations, hexadecimal: nothing to quote
    check = (
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM alembic_version"  # noqa: S608
        f" WHERE version_num = '{revision}') THEN RAISE EXCEPTION"
        f" 'this script starts at revision {revision}, and the database is at %',"
        " (SELECT string_agg(version_num, ', ') FROM alembic_version);"
        " END IF; END $$"
    )
    context.execute(check)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _compare_server_default(  # type: ignore[no-untyped-def]
    context,
    inspected_column,
    metadata_column,
    inspected_default,
    metadata_default,
    rendered_metadata_default,
):
    """PostgreSQL cannot compare two ``json`` values (there is no ``=`` for ``json``), which
    Alembic's own comparison asks it to do: a JSON column's defaults are compared as text
    (``'[]'::json`` as ``'[]'``). Any other column: Alembic's comparison (``None``)."""
    if not isinstance(metadata_column.type, JSON):
        return None

    def bare(default: str | None) -> str | None:
        return default.removesuffix("::json").removesuffix("::jsonb") if default else default

    return bare(inspected_default) != bare(rendered_metadata_default)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name != "sqlite":
        _migrate(connection, is_sqlite=False)
        return
    _sqlite_foreign_keys(connection, on=False)  # the connection is this migration's only
    _migrate(connection, is_sqlite=True)
    _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection, *, on: bool) -> None:  # type: ignore[no-untyped-def]
    """SQLite's batch migrations copy a table, drop it and rename the copy. With foreign
    keys enforced (``db.make_engine``) the drop deletes every row that refers to the table
    (``ON DELETE CASCADE``): a downgrade that re-created ``person`` emptied the grants and
    launches. So they are off while migrating (outside a transaction: SQLite ignores the
    pragma inside one), and the data is checked before they are on again."""
    connection.commit()
    if on:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        if broken:
            raise RuntimeError(f"rows referring to missing rows after the migration: {broken[:5]}")
    else:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()


log = logging.getLogger("lti_tool.migrate")


def _takes_turns() -> bool:
    """An upgrade or downgrade: ``flask --app lti_tool db upgrade|downgrade`` (and so
    ``laeringslop migrate``) or alembic's own ``upgrade``/``downgrade``; not ``check`` or
    ``current``, which only read."""
    if config.attributes.get("takes_turns"):
        return True
    cmd = getattr(config.cmd_opts, "cmd", None)
    return bool(cmd) and getattr(cmd[0], "__name__", "") in ("upgrade", "downgrade")


def _wait_for_our_turn(connection) -> None:  # type: ignore[no-untyped-def]
    """Two hosts (or two compose projects, two pods) migrating one database at once: the
    second used to fail halfway with a duplicate key in PostgreSQL's catalogue. Now it
    waits for the first, then finds the schema at its revision and has nothing to do.

    The lock is the migration transaction's (``pg_advisory_xact_lock``, taken first in
    it, before Alembic reads the schema's revision): the commit or rollback gives it back,
    whatever happens, and it holds through a pooler in transaction mode too."""
    lock = {"k": MIGRATION_LOCK}
    if connection.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), lock).scalar():
        return
    log.warning(
        "another migration of this database is running%s: waiting for it to finish",
        _holder(connection),
    )
    connection.execute(text(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_WAIT}'"))
    connection.execute(text("SET LOCAL statement_timeout = 0"))  # the lock's wait decides
    try:
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), lock)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise  # cancelled, the server gone: the cause as it is
        raise CommandError(
            f"another migration of this database has run for over {MIGRATION_LOCK_WAIT}; "
            "try again once it has finished"
        ) from exc
    # the migration's own limits again (``_migrate``), for the rest of the transaction
    connection.execute(text(f"SET LOCAL lock_timeout = '{MIGRATION_STATEMENT_LOCK_WAIT}'"))
    connection.execute(text(f"SET LOCAL statement_timeout = '{MIGRATION_STATEMENT_TIME}'"))


#: PostgreSQL's "lock_not_available": the lock's wait ran past ``lock_timeout``.
LOCK_NOT_AVAILABLE = "55P03"


def _holder(connection) -> str:  # type: ignore[no-untyped-def]
    """Who holds the migration lock, for the log: a crashed host's session shows here.
    This database's: an advisory lock is one database's, and a server may hold several
    tools' databases (several municipalities'), each migrating on its own."""
    row = connection.execute(
        text(
            "SELECT a.pid, a.client_addr, a.application_name FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
        ),
        {"high": MIGRATION_LOCK >> 32, "low": MIGRATION_LOCK & 0xFFFFFFFF},
    ).first()
    if row is None:
        return ""
    return f" (PostgreSQL pid {row.pid}, from {row.client_addr or 'this host'})"


def _migrate(connection, *, is_sqlite: bool) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        # Never wait forever behind a lock held by a running app, nor run away.
        connection.execute(text(f"SET lock_timeout = '{MIGRATION_STATEMENT_LOCK_WAIT}'"))
        connection.execute(text(f"SET statement_timeout = '{MIGRATION_STATEMENT_TIME}'"))
        connection.commit()  # else Alembic runs inside this implicit transaction, uncommitted
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        compare_server_default=_compare_server_default,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql" and _takes_turns():
            _wait_for_our_turn(connection)
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
