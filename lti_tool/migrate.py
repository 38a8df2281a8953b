"""The schema's Alembic migrations, shipped inside the package (``lti_tool/migrations``).

``flask --app lti_tool db upgrade`` runs them on the database in the tool's settings, with
no ``alembic.ini`` and no source tree: what an installed package (the wheel, the Docker
image) needs. The ``alembic.ini`` at the repository root points developers' ``alembic``
commands (``revision --autogenerate``, ``check``) at the same migrations.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

from lti_tool.settings import Settings

if TYPE_CHECKING:  # Alembic (and Mako) load when a command runs, not in every web worker
    from alembic.config import Config

#: Where Alembic finds env.py and versions/: the package's own folder, wherever installed.
SCRIPT_LOCATION = "lti_tool:migrations"


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


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema of DATABASE_URL (to the newest revision by default).

    A deploy step, run before the new version starts; never run at start-up.
    """
    from alembic import command

    config = _config()
    with _alembic_errors():
        command.upgrade(config, revision)
        command.current(config)


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Undo migrations (the newest one by default): to go back to the tool's previous
    version after an upgrade. Restore the backup instead when a migration dropped data."""
    from alembic import command

    config = _config()
    with _alembic_errors():
        command.downgrade(config, revision)
        command.current(config)


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
