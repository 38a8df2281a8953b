"""The schema's Alembic migrations, shipped inside the package (``lti_tool/migrations``).

``flask --app lti_tool db upgrade`` runs them on the database in the tool's settings, with
no ``alembic.ini`` and no source tree: what an installed package (the wheel, the Docker
image) needs. The ``alembic.ini`` at the repository root points developers' ``alembic``
commands (``revision --autogenerate``, ``check``) at the same migrations.
"""

from __future__ import annotations

import ast
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from lti_tool.settings import Settings

if TYPE_CHECKING:  # Alembic (and Mako) load when a command runs, not in every web worker
    from alembic.config import Config

#: Where Alembic finds env.py and versions/: the package's own folder, wherever installed.
SCRIPT_LOCATION = "lti_tool:migrations"
log = logging.getLogger(__name__)


#: The PostgreSQL advisory lock upgrades and downgrades take turns on (migrations/env.py):
#: any number no other application on the database uses, the same in every version.
MIGRATION_LOCK = 7_364_019_882
#: How long an upgrade waits for another one to finish (the longest migration so far took
#: minutes over a million launch records).
MIGRATION_LOCK_WAIT = "15min"
#: How long a migration's statement waits for a table's lock the running app holds (then
#: the migration fails and is undone, rather than stop every request queued behind it),
#: and how long a statement may run.
MIGRATION_STATEMENT_LOCK_WAIT = "10s"
MIGRATION_STATEMENT_TIME = "5min"


def rows_to_copy(revision: str, what: str) -> bool:
    """For a migration that reads rows into Python to copy or key them: whether to do so.

    Run against a database, always. Writing SQL for a database administrator to run
    (``db upgrade --sql``), a script from an empty database (no start revision) made the
    tables it would read, empty, in the same script: there is nothing to copy, and the
    script says so. From a revision (``--sql FROM:TO``) the rows are the database's, and
    only the migration run against it can read them: that is refused, naming the
    migration, rather than written without its data. (A downgrade's SQL always has a
    start.)"""
    from alembic import context, op
    from alembic.util import CommandError

    if not context.is_offline_mode():
        return True
    if context.get_starting_revision_argument() is None:
        op.execute(f"-- {revision}: no {what} to copy, the tables are new in this script")
        return False
    raise CommandError(
        f"migration {revision} copies {what} row by row, which SQL written in advance "
        "cannot do: run that migration against the database, then write the SQL of the "
        "rest (nothing was written)"
    )


def alembic_config(database_url: str) -> Config:
    """The Alembic configuration of the packaged migrations, for the given database."""
    from alembic.config import Config

    config = Config(stdout=sys.stdout)  # Alembic's default is the stdout at its import
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def settings_config(settings: Settings) -> Config:
    """The configuration for the tool's own database (SQLite: its folder is created)."""
    if not settings.DATABASE_URL:
        Path(settings.INSTANCE_PATH).mkdir(parents=True, exist_ok=True)
    return alembic_config(settings.database_url)


@dataclass(frozen=True)
class SchemaRevisions:
    """The revisions the shipped migrations know, and the newest (their head)."""

    known: frozenset[str]
    head: str

    def state_of(self, database_revision: str | None) -> str:
        """How a database at ``database_revision`` stands to this version of the tool:
        ``ok`` at the head; ``behind`` at an older revision (this version would miss
        tables or columns: run the migrations); ``newer`` at a revision this version does
        not know (a newer version migrated it, as in a rolling upgrade: its migrations
        keep the previous version working); ``not migrated`` without a revision."""
        if database_revision is None:
            return "not migrated"
        if database_revision == self.head:
            return "ok"
        return "behind" if database_revision in self.known else "newer"


@functools.cache
def schema_revisions() -> SchemaRevisions:
    """Read from the migration files themselves, once a process (``create_app``: as the
    process starts, so files a newer version installs under it later change nothing),
    without loading Alembic (8 MB in each web worker, for the readiness probe). A test
    checks it against Alembic's own reading."""
    folder = files("lti_tool") / "migrations" / "versions"
    return revisions_of(m.read_text() for m in folder.iterdir() if m.name.endswith(".py"))


def revisions_of(sources: Iterable[str]) -> SchemaRevisions:
    """The revisions of these migration files' sources, and their one head."""
    revises: dict[str, tuple[str, ...]] = {}
    for source in sources:
        found = _revision_of(source)
        if found is not None:
            revises[found[0]] = found[1]
    heads = set(revises) - {parent for parents in revises.values() for parent in parents}
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return SchemaRevisions(frozenset(revises), heads.pop())


def _revision_of(source: str) -> tuple[str, tuple[str, ...]] | None:
    """A migration file's ``revision`` and the revisions it revises (``down_revision``:
    none, one, or a merge's several), as module-level assignments; None if not one."""
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = None if value is None else ast.literal_eval(value)
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str):
        return None
    parents = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    return revision, parents


def schema_state(session: Session) -> str:
    """Where the database's schema stands to this version's migrations
    (``SchemaRevisions.state_of``), logged when the migrations have yet to run. A table
    that is not there is "not migrated"; a database that stops answering meanwhile is an
    outage (``errors.is_outage``), raised as such."""
    from lti_tool.errors import is_outage

    try:
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (ProgrammingError, OperationalError) as exc:
        if isinstance(exc, OperationalError) and is_outage(exc):
            raise
        session.rollback()
        revision = None
    revisions = schema_revisions()
    state = revisions.state_of(revision)
    if state in ("behind", "not migrated"):
        log.warning(
            "the database's schema is %s (at %s, this version needs %s): run "
            "`laeringslop migrate` (or `flask --app lti_tool db upgrade`)",
            state,
            revision,
            revisions.head,
        )
    return state


db_cli = AppGroup("db", help="The database schema (the migrations shipped with the tool).")


def _config() -> Config:
    return settings_config(current_app.config["SETTINGS"])


@contextmanager
def _alembic_errors() -> Iterator[None]:
    """Alembic's refusals (not at head, drift, unknown revision) as a message and exit 1."""
    from alembic.util.exc import CommandError

    try:
        yield
    except CommandError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _logged_end(what: str) -> Iterator[None]:
    """A migration run against the database is a deploy step (compose's ``migrate``, the
    units' ``ExecStartPre``) whose output goes where the logs go: one that fails says why
    as a log line (JSON by default, a traceback in its ``exception``), not as click's plain
    ``Error:`` line or a bare traceback a log shipper takes line by line. Exit status 1."""
    try:
        yield
    except click.ClickException as exc:
        log.error("%s failed: %s", what, exc.format_message())
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:  # the database not answering yet, at boot: its first line
        log.exception("%s failed: %s", what, (str(exc).splitlines() or [repr(exc)])[0])
        raise SystemExit(1) from None


def _log_revision(config: Config) -> None:
    """Where the migrations left the database, as a log line (``_logged_end``) rather than
    Alembic's ``current`` on standard output. Read after the turn (``migrations/env.py``)
    is over: it need not wait for another upgrade."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with current_app.extensions["db_engine"].connect() as connection:  # the app's database
        revision = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(config).get_current_head()
    log.info(
        "the database's schema is at %s%s",
        revision or "base",
        " (head)" if revision == head else "",
        extra={"revision": revision},
    )


def _sql_option(starting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--sql``: the script written for a database administrator (``migrations/env.py``),
    where it starts."""
    return click.option(
        "--sql",
        is_flag=True,
        help=f"Write the SQL to standard output instead (PostgreSQL): {starting}.",
    )


@db_cli.command("upgrade")
@click.argument("revision", default="head")
@_sql_option("from an empty database, or FROM:TO as the revision")
def db_upgrade(revision: str, sql: bool) -> None:
    """Create or upgrade the schema of DATABASE_URL (to the newest revision by default).

    A deploy step, run before the new version starts; never run at start-up. With
    ``--sql``, the database is not touched: its SQL is written for an administrator to
    read and run (``psql -v ON_ERROR_STOP=1 -f``: the script is its own transaction).
    """
    from alembic import command

    config = _config()
    config.attributes["takes_turns"] = True  # with another upgrade at once (migrations/env.py)
    if sql:
        with _alembic_errors():
            command.upgrade(config, revision, sql=True)  # the whole script, or nothing
        return
    with _logged_end("the upgrade"), _alembic_errors():
        command.upgrade(config, revision)
        _log_revision(config)


@db_cli.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="-1")  # -2 is a revision, not an option
@_sql_option(
    "from this version's newest revision, where an upgrade to it left the database, or "
    "FROM:TO as the revision"
)
def db_downgrade(revision: str, sql: bool) -> None:
    """Undo migrations (the newest one by default): to go back to the tool's previous
    version after an upgrade. Restore the backup instead when a migration dropped data.

    With ``--sql``, the database is not touched: the SQL is written for an administrator
    to read and run, as ``upgrade --sql`` writes it."""
    from alembic import command

    if revision.startswith("-") and re.fullmatch(r"-\d+", revision) is None:
        raise click.UsageError(f"No such option: {revision}")  # before any connection
    config = _config()
    config.attributes["takes_turns"] = True
    if sql:
        with _alembic_errors():
            command.downgrade(config, _from_the_head(config, revision), sql=True)
        return
    with _logged_end("the downgrade"), _alembic_errors():
        command.downgrade(config, _from_here(config, revision))
        _log_revision(config)


def _from_the_head(config: Config, revision: str) -> str:
    """The range a downgrade written in advance undoes: SQL for no database in particular
    starts where this version's upgrade leaves one, its newest revision (``FROM:TO`` as
    given; ``-1`` and other steps counted from there)."""
    if ":" in revision:
        return revision
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(config).get_current_head()
    return f"{head}:{_steps_down(config, head, revision)}"


def _from_here(config: Config, revision: str) -> str:
    """A relative downgrade (``-1``, the default) as the revision it reaches from where the
    app's database is when the command starts. One started on another host while a
    downgrade runs waits its turn (``migrations/env.py``), then finds the database there
    and has nothing to do, where ``-1`` read after its turn came would have taken it down
    one step more."""
    if re.fullmatch(r"-(\d+)", revision) is None:
        return revision
    from alembic.runtime.migration import MigrationContext

    with current_app.extensions["db_engine"].connect() as connection:  # the app's database
        current = MigrationContext.configure(connection).get_current_revision()
    return _steps_down(config, current, revision)


def _steps_down(config: Config, current: str | None, revision: str) -> str:
    """The revision ``revision`` (``-N``) reaches from ``current``; any other as given."""
    steps = re.fullmatch(r"-(\d+)", revision)
    if steps is None or current is None:
        return revision  # nothing to undo: Alembic says so
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    target: str | None = current
    for _ in range(int(steps.group(1))):
        if target is None:
            return revision  # past the first migration: Alembic says so
        down = script.get_revision(target).down_revision
        if not (down is None or isinstance(down, str)):
            return revision  # a merge of two lines: Alembic's own reading (one line so far)
        target = down
    return target or "base"


@db_cli.command("current")
def db_current() -> None:
    """Show the revision the database is at ("(head)" when up to date)."""
    from alembic import command

    with _alembic_errors():
        command.current(_config())


@db_cli.command("check")
def db_check() -> None:
    """Fail when the database is behind, or the models differ from the migrations."""
    from alembic import command

    with _alembic_errors():
        command.check(_config())
    click.echo("The database is at head and matches the models.")
