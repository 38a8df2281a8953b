"""Flask commands for administrators: platforms, organisations, deployments, keys, demo.

Each command is one transaction: it commits at the end, or writes nothing on error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from lti_tool import clock, migrate
from lti_tool.db import get_session, set_statement_timeout
from lti_tool.errors import ImportErrors, ToolError
from lti_tool.lti.services import lti_services
from lti_tool.models import AuditAction, Status, TokenScope
from lti_tool.services import (
    api_tokens,
    audit,
    certifications,
    demo,
    framework_io,
    item_bank,
    organisations,
    packages,
    platforms,
    registration,
)
from lti_tool.services import frameworks as framework_services
from lti_tool.services.audit import Actor
from lti_tool.services.worker_status import WORKER_PARTS
from lti_tool.settings import LAUNCH_COUNT_DAYS

log = logging.getLogger(__name__)
#: How often the worker applies the organisations' retention rules.
RETENTION_EVERY = dt.timedelta(hours=1)


def transaction(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        session = get_session()
        try:
            result = command(*args, **kwargs)
            session.commit()
            return result
        except ToolError as exc:
            session.rollback()
            raise click.ClickException(exc.detail or exc.code) from exc
        except Exception:
            session.rollback()
            raise

    return run


platform_cli = AppGroup("platform", help="Register and manage LMS platforms.")
organisation_cli = AppGroup("organisation", help="Organisations (municipalities).")
region_cli = AppGroup("region", help="Regions: groups of municipalities that share content.")
deployment_cli = AppGroup("deployment", help="Deployments of the tool in the platforms.")
keys_cli = AppGroup("keys", help="The tool's signing keys (published at /lti/jwks.json).")
demo_cli = AppGroup("demo", help="The built-in demo LMS.")


@platform_cli.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. Moodle's wwwroot.")
@click.option("--client-id", required=True, help="The client id the platform gave the tool.")
@click.option("--auth-url", required=True, help="OIDC authorization endpoint.")
@click.option("--token-url", required=True, help="OAuth2 token endpoint (for AGS/NRPS).")
@click.option("--jwks-url", required=True, help="The platform's public keyset URL.")
@click.option(
    "--deployment", "deployments", multiple=True, help="Deployment id (repeat for several)."
)
@click.option("--organisation", required=True, help="Organisation name; created if new.")
@click.option("--name", default="", help="A display name for the platform.")
@transaction
def platform_add(
    issuer: str,
    client_id: str,
    auth_url: str,
    token_url: str,
    jwks_url: str,
    deployments: tuple[str, ...],
    organisation: str,
    name: str,
) -> None:
    """Register a platform (or update the URLs of a known issuer + client id)."""
    platform = platforms.register_platform(
        get_session(),
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_url,
        auth_token_url=token_url,
        jwks_url=jwks_url,
        organisation_name=organisation,
        deployment_ids=deployments,
        name=name,
    )
    click.echo(
        f"Platform {platform.id}: {platform.issuer} client {platform.client_id} "
        f"({len(platform.deployments)} deployment(s)) for {platform.organisation.name}"
    )


@platform_cli.command("list")
@transaction
def platform_list() -> None:
    """List platforms with their deployments."""
    rows = platforms.list_platforms(get_session())
    if not rows:
        click.echo("No platforms registered.")
    for p in rows:
        click.echo(f"{p.id}\t{p.status.value}\t{p.issuer}\t{p.client_id}\t{p.organisation.name}")
        for d in p.deployments:
            click.echo(
                f"\tdeployment {d.id}\t{d.status.value}\t{d.deployment_id}\t"
                f"{d.organisation.name}\tlaunches_{LAUNCH_COUNT_DAYS}_days={d.recent_launch_count}"
            )


@platform_cli.command("disable")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@transaction
def platform_disable(issuer: str, client_id: str) -> None:
    """Refuse every launch from this platform (keeps its data)."""
    platforms.set_platform_status(get_session(), issuer, client_id, Status.DISABLED)
    click.echo(f"Disabled {issuer} client {client_id}.")


@platform_cli.command("enable")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@transaction
def platform_enable(issuer: str, client_id: str) -> None:
    """Accept launches from a disabled platform again."""
    platforms.set_platform_status(get_session(), issuer, client_id, Status.ACTIVE)
    click.echo(f"Enabled {issuer} client {client_id}.")


@organisation_cli.command("add")
@click.argument("name")
@click.option(
    "--auto-activate/--no-auto-activate",
    default=False,
    help="Activate deployments first seen in a launch at once, instead of pending.",
)
@transaction
def organisation_add(name: str, auto_activate: bool) -> None:
    """Create an organisation (municipality)."""
    organisation = platforms.create_organisation(get_session(), name, auto_activate)
    click.echo(f"Organisation {organisation.id}: {organisation.name}")


@organisation_cli.command("list")
@transaction
def organisation_list() -> None:
    rows = platforms.list_organisations(get_session())
    if not rows:
        click.echo("No organisations.")
    for o in rows:
        policy = "auto-activate" if o.auto_activate_deployments else "approve new deployments"
        click.echo(f"{o.id}\t{o.name}\t{policy}")


@organisation_cli.command("rename")
@click.argument("old")
@click.argument("new")
@transaction
def organisation_rename(old: str, new: str) -> None:
    """Rename the organisation named OLD to NEW."""
    organisation = organisations.rename_organisation(get_session(), old, new)
    click.echo(f"Organisation {organisation.id}: {old} is now {organisation.name}")


@organisation_cli.command("set-region")
@click.argument("name")
@click.option("--region", "region", default=None, help="The region to put it in.")
@click.option("--none", "no_region", is_flag=True, help="Take it out of its region.")
@transaction
def organisation_set_region(name: str, region: str | None, no_region: bool) -> None:
    """Put the organisation NAME in a region (--region REGION), or in none (--none)."""
    if (region is None) == (not no_region):
        raise click.UsageError("Give either --region REGION or --none.")
    organisation = organisations.set_organisation_region(get_session(), name, region)
    if organisation.region is None:
        click.echo(f"{organisation.name} is in no region.")
    else:
        click.echo(f"{organisation.name} is in the region {organisation.region.name}.")


@region_cli.command("add")
@click.argument("name")
@transaction
def region_add(name: str) -> None:
    """Create a region."""
    region = organisations.create_region(get_session(), name)
    click.echo(f"Region {region.id}: {region.name}")


@region_cli.command("rename")
@click.argument("old")
@click.argument("new")
@transaction
def region_rename(old: str, new: str) -> None:
    """Rename the region named OLD to NEW."""
    region = organisations.rename_region(get_session(), old, new)
    click.echo(f"Region {region.id}: {old} is now {region.name}")


@region_cli.command("list")
@transaction
def region_list() -> None:
    """List regions with their member organisations."""
    rows = organisations.list_regions(get_session())
    if not rows:
        click.echo("No regions.")
    for region in rows:
        click.echo(f"{region.id}\t{region.name}\t{len(region.organisations)} organisation(s)")
        for member in region.organisations:
            click.echo(f"\t{member.name}")


@deployment_cli.command("list")
@click.option("--pending", is_flag=True, help="Only those awaiting approval.")
@transaction
def deployment_list(pending: bool) -> None:
    rows = platforms.list_deployments(get_session(), Status.PENDING if pending else None)
    if not rows:
        click.echo("No deployments.")
    for d in rows:
        click.echo(
            f"{d.id}\t{d.status.value}\t{d.platform.issuer}\t{d.platform.client_id}\t"
            f"{d.deployment_id}\t{d.organisation.name}"
        )


@deployment_cli.command("approve")
@click.argument("deployment_pk", type=int)
@transaction
def deployment_approve(deployment_pk: int) -> None:
    """Approve a pending deployment (the number from `deployment list`)."""
    d = platforms.approve_deployment(get_session(), deployment_pk)
    click.echo(f"Deployment {d.deployment_id} of {d.platform.issuer} is active.")


@click.command("registration-url")
@click.option("--organisation", required=True, help="Organisation name; created if new.")
@click.option(
    "--expires-in",
    type=click.IntRange(1, registration.MAX_EXPIRES_IN_MINUTES),
    default=60,
    show_default=True,
    help="Minutes the URL stays valid.",
)
@with_appcontext
@transaction
def registration_url(organisation: str, expires_in: int) -> None:
    """Print a one-time URL for registering a platform by LTI Dynamic Registration.

    Enter it in the LMS (Moodle: Manage tools, Tool URL; Canvas: Developer Keys,
    LTI Registration). Only a hash of it is stored: it cannot be shown again.
    """
    invite, secret = registration.create_registration_invite(
        get_session(), organisation, expires_in
    )
    url = registration.registration_url(lti_services().settings.base_url, secret)
    expires = invite.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(
        f"Registration URL for {invite.organisation.name}, usable once until {expires}:",
        err=True,
    )
    click.echo(url)


@keys_cli.command("rotate")
@transaction
def keys_rotate() -> None:
    """Create the first key, or a new one; the previous stays published for the grace period.
    Recorded in every organisation's audit log: the key signs for all of them. The first
    time, also the credential key (certificates' credentials), which is never replaced."""
    if migrate.schema_state(get_session()) in ("behind", "not migrated"):
        # the key file would be written and the audit's rows refused: checked first
        raise click.ClickException(
            "the database is not migrated: run `laeringslop migrate` first (no key was made)"
        )
    lti = lti_services()
    keyring = lti.keyring
    key = keyring.rotate()
    audit.record_everywhere(get_session(), Actor.cli, AuditAction.ROTATE_KEY, "tool_key", key.kid)
    click.echo(f"New signing key {key.kid} in {key.path}")
    published = keyring.published_keys()
    click.echo(f"Published keys: {', '.join(k.kid for k in published)}")
    if not lti.credential_keys.all_keys():
        # made with the first key, so that the backup taken after installing holds it
        made = lti.credential_keys.rotate()
        click.echo(
            f"New credential key {made.kid} in {made.path}: it signs the certificates' "
            "credentials and is never replaced; back it up with the signing keys"
        )


@keys_cli.command("list")
def keys_list() -> None:
    """The signing keys, newest first (published or expired), then the credential keys
    (``credential``: each stays, to verify what it signed)."""
    lti = lti_services()
    keyring = lti.keyring
    published = {k.kid for k in keyring.published_keys()}
    keys = keyring.all_keys()
    if not keys:
        click.echo("No keys: run `flask --app lti_tool keys rotate`.")
    for key in reversed(keys):
        state = "published" if key.kid in published else "expired"
        click.echo(f"{key.kid}\t{key.created_at.isoformat()}\t{state}")
    for key in reversed(lti.credential_keys.all_keys()):
        click.echo(f"{key.kid}\t{key.created_at.isoformat()}\tcredential")


@keys_cli.command("prune")
def keys_prune() -> None:
    """Delete key files past their grace period."""
    removed = lti_services().keyring.prune()
    click.echo(f"Removed {len(removed)} key(s).")


@demo_cli.command("setup")
@transaction
def demo_setup() -> None:
    """Register the demo LMS with the tool (and create the tool's first key)."""
    lti = lti_services()
    if not lti.settings.demo_enabled:
        raise click.ClickException("The demo LMS is off in production.")
    platform, loaded = demo.set_up_demo(get_session(), lti)
    if loaded.frameworks or loaded.job_roles or loaded.items or loaded.mappings:
        click.echo(
            f"Example content loaded: {len(loaded.frameworks)} framework(s), "
            f"{len(loaded.job_roles)} job role(s), {len(loaded.items)} item(s), "
            f"{len(loaded.mappings)} mapping(s)."
        )
    click.echo(f"Demo LMS registered ({platform.issuer}). Open {lti.settings.base_url}/demo")


assignments_cli = AppGroup("assignments", help="Job roles and units of the employees.")


@assignments_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--organisation", required=True, help="The organisation (municipality) name.")
@with_appcontext
def assignments_import(file: Any, organisation: str) -> None:
    """Import job roles and units from HR's CSV file, all or nothing.

    Columns: person_sourcedid or email, and job_role and/or unit (and manages_unit: the
    units the person manages); one row per employee and job role. Every problem is
    listed with its row and column; with any, nothing is written.
    """
    from flask_babel import force_locale

    from lti_tool.services import assignment_import

    session = get_session()
    data = file.read(assignment_import.MAX_IMPORT_BYTES + 1)
    with force_locale("en"):
        try:
            found = organisations.find_organisation(session, organisation)
            result = assignment_import.import_assignments(
                session, found.id, data, by=Actor.cli(found.id), may_grant=True
            )
        except assignment_import.ImportRejected as rejected:
            session.rollback()
            for problem in rejected.problems:
                where = f"row {problem.row}" if problem.row else "file"
                column = f", {problem.column}" if problem.column else ""
                click.echo(f"{where}{column}: {problem.message}", err=True)
            raise click.ClickException(
                f"Nothing imported: {len(rejected.problems)} problem(s)."
            ) from rejected
        except ToolError as exc:
            session.rollback()
            raise click.ClickException(exc.detail or exc.code) from exc
    session.commit()
    click.echo(
        f"Imported {result.rows} row(s): {result.added} new, {result.unchanged} already held."
    )
    if result.granted:
        click.echo(f"Granted {result.granted} manager permission(s).")


# --- competence frameworks, job roles, example content ------------------------------------

framework_cli = AppGroup("framework", help="Competence frameworks: import, export, list.")
job_role_cli = AppGroup("job-role", help="Job roles and their basis competence: import, export.")
content_cli = AppGroup("content", help="Example content shipped with the tool.")
FORMAT_CHOICE = click.Choice(sorted(framework_io.FORMATS))


def _refuse_import(exc: ImportErrors) -> click.ClickException:
    """Print every problem of a refused import, one per line (in English), and roll back."""
    from flask_babel import force_locale

    get_session().rollback()
    with force_locale("en"):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
    return click.ClickException(f"Nothing imported: {len(exc.problems)} problem(s).")


package_cli = AppGroup("package", help="Content packages: share content with other organisations.")


@package_cli.command("export")
@click.option("--organisation", required=True, help="Organisation name.")
@click.option("--name", required=True, help="The package's name (a-z, 0-9, . _ -).")
@click.option("--version", "package_version", default="1.0.0", show_default=True)
@click.option("--licence", default="CC-BY-4.0", show_default=True)
@click.option("--title", default="", help="The package's title (bokmål).")
@click.option(
    "--framework", "framework_codes", multiple=True, help="Only this framework (repeatable)."
)
@click.option("--output", type=click.File("wb"), default="-", help="File (default: stdout).")
@transaction
def package_export(
    organisation: str,
    name: str,
    package_version: str,
    licence: str,
    title: str,
    framework_codes: tuple[str, ...],
    output: Any,
) -> None:
    """Export the organisation's content as a package (a zip; no personal data)."""
    owner = organisations.find_organisation(get_session(), organisation)
    from marshmallow import ValidationError

    from lti_tool.schemas.packages import PackageExportForm

    fields = {"name": name, "version": package_version, "licence": licence, "title": title}
    try:
        checked = PackageExportForm().load({**fields, "frameworks": list(framework_codes)})
    except ValidationError as exc:
        raise click.ClickException(str(exc.messages)) from exc
    output.write(packages.export_package(get_session(), owner.id, checked))


@package_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--organisation", required=True, help="Organisation name.")
@click.option("--dry-run", is_flag=True, help="Only show what would be imported.")
@click.option(
    "--take",
    multiple=True,
    help="Take this change of an object that differs (KIND:CODE:FIELD, or framework:CODE "
    "for a new version; repeatable). Without: what differs is kept as it is.",
)
@click.option(
    "--take-unedited",
    is_flag=True,
    help="Take every change of the package except where the object was changed here.",
)
@transaction
def package_import(
    file: Any, organisation: str, dry_run: bool, take: tuple[str, ...], take_unedited: bool
) -> None:
    """Import the package FILE (all or nothing; what the organisation has is kept unless a
    change is taken)."""
    owner = organisations.find_organisation(get_session(), organisation)
    data = file.read(packages.MAX_UPLOAD + 1)
    try:
        preview = packages.preview_import(get_session(), owner.id, data)
        taken = set(take)
        if take_unedited:
            taken |= {c.key for c in preview.suggested()}
        if not dry_run:
            packages.import_package(get_session(), owner.id, data, take=taken)
    except ImportErrors as exc:
        raise _refuse_import(exc) from exc
    manifest = preview.manifest
    click.echo(f"Package {manifest.name} {manifest.version} from {manifest.publisher}")
    for line in preview.lines:
        click.echo(f"{line.status}\t{line.kind}\t{line.code}")
        for change in line.changes:
            mark = " (changed here)" if change.edited_here else ""
            verb = "take" if change.key in taken else "keep"
            click.echo(f"\t{verb}\t{change.key}{mark}")
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {len(preview.of(packages.CREATE))} object(s).")


@framework_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--organisation", required=True, help="Organisation name.")
@click.option(
    "--format", "format_name", type=FORMAT_CHOICE, default=None, help="Default: by file name."
)
@click.option(
    "--language",
    type=click.Choice(["nb", "nn", "en"]),
    default="nb",
    show_default=True,
    help="The language of a one-language file.",
)
@click.option("--publish", is_flag=True, help="Publish the imported version at once.")
@transaction
def framework_import(
    file: Any, organisation: str, format_name: str | None, language: str, publish: bool
) -> None:
    """Import FILE as a new framework of the organisation (all or nothing)."""
    if format_name is None:
        format_name = "moodle-csv" if str(file.name).lower().endswith(".csv") else "case"
    owner = organisations.find_organisation(get_session(), organisation)
    try:
        version = framework_io.import_framework(
            get_session(), owner.id, file.read(), format_name, language=language, publish=publish
        )
    except ImportErrors as exc:
        raise _refuse_import(exc) from exc
    click.echo(
        f"Framework {version.framework.code} version {version.number} ({version.status.value}): "
        f"{len(version.competences)} competence(s), {len(version.levels)} level(s)."
    )
    from flask_babel import force_locale

    with force_locale("en"):
        for line in framework_io.kept_summary(version):
            click.echo(f"Kept for export: {line}")


@framework_cli.command("export")
@click.argument("code")
@click.option("--organisation", required=True, help="Organisation name.")
@click.option("--format", "format_name", type=FORMAT_CHOICE, required=True)
@click.option(
    "--version",
    "number",
    type=int,
    default=None,
    help="Version number (default: the latest published, else the latest).",
)
@click.option("--output", type=click.File("wb"), default="-", help="File (default: stdout).")
@transaction
def framework_export(
    code: str, organisation: str, format_name: str, number: int | None, output: Any
) -> None:
    """Export the framework CODE."""
    owner = organisations.find_organisation(get_session(), organisation)
    output.write(
        framework_io.export_framework(
            get_session(), owner.id, code, format_name, number, creator=owner.name
        )
    )


@framework_cli.command("list")
@click.option("--organisation", required=True, help="Organisation name.")
@transaction
def framework_list(organisation: str) -> None:
    owner = organisations.find_organisation(get_session(), organisation)
    rows = framework_services.list_frameworks(get_session(), owner.id)
    if not rows:
        click.echo("No frameworks.")
    for framework in rows:
        versions = ", ".join(f"{v.number} {v.status.value}" for v in framework.versions)
        click.echo(f"{framework.id}\t{framework.code}\t{versions}")


@job_role_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--organisation", required=True, help="Organisation name.")
@transaction
def job_role_import(file: Any, organisation: str) -> None:
    """Import job roles and their profiles from FILE (JSON; all or nothing)."""
    owner = organisations.find_organisation(get_session(), organisation)
    try:
        made = framework_io.import_job_roles(get_session(), owner.id, file.read())
    except ImportErrors as exc:
        raise _refuse_import(exc) from exc
    click.echo(f"Imported {len(made)} job role(s): {', '.join(r.code for r in made)}")


@job_role_cli.command("export")
@click.option("--organisation", required=True, help="Organisation name.")
@click.option("--output", type=click.File("wb"), default="-", help="File (default: stdout).")
@transaction
def job_role_export(organisation: str, output: Any) -> None:
    """Export every job role of the organisation with its profile (JSON)."""
    owner = organisations.find_organisation(get_session(), organisation)
    output.write(framework_io.export_job_roles(get_session(), owner.id))


items_cli = AppGroup("items", help="The item bank: import questions from Moodle.")


@items_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--organisation", required=True, help="Organisation name.")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(sorted(item_bank.PARSERS)),
    default=None,
    help="Default: gift for .gift and .txt files, else moodle-xml.",
)
@click.option(
    "--language",
    type=click.Choice(["nb", "nn", "en"]),
    default="nb",
    show_default=True,
    help="The language the questions are written in.",
)
@click.option(
    "--competence",
    "competences",
    multiple=True,
    metavar="CODE",
    help="A competence measured by questions without a competence tag (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Only show what would be imported and skipped.")
@transaction
def items_import(
    file: Any,
    organisation: str,
    format_name: str | None,
    language: str,
    competences: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Import the questions of FILE (Moodle XML or GIFT) into the item bank, all or nothing.

    Questions of types the tool does not have (essay, short answer, matching …) are
    skipped and listed. A question tagged with a competence code measures that competence.
    """
    from flask_babel import force_locale

    if format_name is None:
        gift = str(file.name).lower().endswith((".gift", ".txt"))
        format_name = "gift" if gift else "moodle-xml"
    owner = organisations.find_organisation(get_session(), organisation)
    upload = item_bank.QuestionUpload(
        file.read(), format_name, language, competence_codes=competences
    )
    try:
        if dry_run:
            preview = item_bank.preview_import(get_session(), owner.id, upload)
            rows, skipped = preview.rows, preview.skipped
        else:
            result = item_bank.import_items(get_session(), owner.id, upload)
            rows, skipped = result.rows, result.skipped
    except ImportErrors as exc:
        raise _refuse_import(exc) from exc
    with force_locale("en"):
        for row in rows:
            measured = ", ".join(ref.code for ref in row.item.competences)
            click.echo(
                f"import\tline {row.line}\t{row.item.kind}\t{row.item.code}\t{row.name}\t{measured}"
            )
        for question in skipped:
            click.echo(f"skip\tline {question.line}\t{question.name}\t{question.reason}")
    if dry_run:
        get_session().rollback()
        click.echo(
            f"Dry run: {len(rows)} question(s) would be imported, {len(skipped)} skipped. "
            "Nothing written."
        )
    else:
        click.echo(f"Imported {len(rows)} question(s); skipped {len(skipped)}.")


@content_cli.command("load-examples")
@click.option("--organisation", required=True, help="Organisation name; created if new.")
@transaction
def content_load_examples(organisation: str) -> None:
    """Load the example frameworks, job roles, item bank, skills mappings and
    certifications (what exists is left as it is)."""
    owner = platforms.get_or_create_organisation(get_session(), organisation)
    loaded = framework_io.load_examples(get_session(), owner.id)
    click.echo(
        f"Loaded {len(loaded.frameworks)} framework(s) and {len(loaded.job_roles)} job "
        f"role(s) into {owner.name}; {len(loaded.skipped)} framework(s) were there already."
    )
    mapped = framework_io.load_example_mappings(get_session(), owner.id)
    click.echo(f"Loaded {len(mapped.items)} item(s) and {len(mapped.mappings)} mapping(s).")
    made = certifications.load_examples(get_session(), owner.id)
    click.echo(f"Loaded {len(made)} certification(s).")


api_token_cli = AppGroup("api-token", help="API tokens of an organisation (for /api/v1).")


@api_token_cli.command("create")
@click.option("--organisation", required=True, help="Organisation name.")
@click.option(
    "--scope",
    type=click.Choice([str(s) for s in TokenScope]),
    required=True,
    help="read: GET only; write: everything.",
)
@click.option("--name", default="", help="What the token is for (e.g. the HR system).")
@transaction
def api_token_create(organisation: str, scope: str, name: str) -> None:
    """Create a token and print it: it is shown this once, only its hash is kept."""
    owner = organisations.find_organisation(get_session(), organisation)
    row, token = api_tokens.create_token(get_session(), owner.id, TokenScope(scope), name)
    click.echo(f"API token {row.id} ({row.scope.value}) for {owner.name}. Keep it now:", err=True)
    click.echo(token)


@api_token_cli.command("list")
@click.option("--organisation", default=None, help="Organisation name (default: all).")
@transaction
def api_token_list(organisation: str | None) -> None:
    """List tokens (never the tokens themselves)."""
    owner_id = None
    if organisation:
        owner_id = organisations.find_organisation(get_session(), organisation).id
    rows = api_tokens.list_tokens(get_session(), owner_id)
    if not rows:
        click.echo("No API tokens.")
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        click.echo(
            f"{row.id}\t{row.organisation.name}\t{row.scope.value}\t{state}\t"
            f"last used {used}\t{row.name}"
        )


@api_token_cli.command("revoke")
@click.argument("token_id", type=int)
@transaction
def api_token_revoke(token_id: int) -> None:
    """Revoke a token at once: requests with it are refused (401)."""
    row = api_tokens.revoke_token(get_session(), token_id)
    click.echo(f"Revoked API token {row.id} of {row.organisation.name}.")


# --- coverage figures ----------------------------------------------------------------------

coverage_cli = AppGroup("coverage", help="Coverage figures for coordinators.")


def _month(_ctx: Any, _param: Any, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise click.BadParameter("give the month as YYYY-MM") from exc


@coverage_cli.command("snapshot")
@click.option("--month", callback=_month, help="YYYY-MM; default: the last month that is over.")
@with_appcontext
@transaction
def coverage_snapshot(month: dt.date | None) -> None:
    """Record every organisation's coverage figures at a month's end (counts only), for
    the coordinators' trend; a month recorded before is recorded again. A past month is
    computed from the evidence recorded up to its end, with today's job roles and units.
    The worker records the last month by itself."""
    from lti_tool.services import coverage_figures

    now = clock.now()
    chosen = month or coverage_figures.last_month(now)
    rows = coverage_figures.record_snapshot(get_session(), chosen, now=now)
    click.echo(f"Recorded {chosen:%Y-%m}: {rows} rows.")


# --- privacy: erasing people ----------------------------------------------------------------

person_cli = AppGroup("person", help="People of the tool: erasure (GDPR).")


@person_cli.command("erase")
@click.argument("person_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--reason", required=True, help="Why; kept in the audit log (without the name).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@transaction
def person_erase(person_id: int, reason: str, yes: bool) -> None:
    """Erase a person: their personal data goes, their certificates stay without their
    name and verify as withdrawn, recorded figures stay (``services.erasure``)."""
    from lti_tool.models import Person
    from lti_tool.services import erasure

    session = get_session()
    person = session.get(Person, person_id)
    if person is None:
        raise click.ClickException(f"No person {person_id}.")
    if not reason.strip() or "\x00" in reason:
        raise click.BadParameter("give a reason", param_hint="--reason")
    if not yes:
        click.confirm(f"Erase person {person_id} for good?", abort=True)
    done = erasure.erase_person(
        session, Actor.cli(person.organisation_id), person, reason, via="cli"
    )
    click.echo(
        f"Erased person {done.person_id}; {done.certificates_withdrawn} certificate(s) withdrawn."
    )


retention_cli = AppGroup("retention", help="Retention of personal data per organisation.")


@retention_cli.command("run")
@with_appcontext
def retention_run() -> None:
    """Erase the people of each organisation with a retention rule who have not launched
    for its months, and delete audit events and launch records past their retention (the
    worker does it too, once an hour); each erasure is audited. Each organisation's rule
    and each purge commits on its own: one that fails is rolled back alone, and the
    command then exits with 1."""
    from flask import current_app

    from lti_tool.services import retention

    days = lti_services().settings.LAUNCH_RECORD_DAYS
    sessions = current_app.extensions["db_sessionmaker"]
    result = retention.run_retention(sessions, clock.now(), days)
    if result.failed:
        raise click.ClickException(str(result))
    click.echo(str(result))


@dataclasses.dataclass
class _Pass:
    """What a worker's pass did: each part tried, whether it went, and what it returned."""

    went: dict[str, bool] = dataclasses.field(default_factory=dict)
    results: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        """The parts that failed, as ``worker --once`` names them: retention with the
        parts of it that failed (each organisation's rule, each purge)."""
        return [
            f"retention failed: {', '.join(self.results['retention'])}"
            if name == "retention" and self.results.get(name)
            else WORKER_PARTS[name]
            for name, ok in self.went.items()
            if not ok
        ]


# --- grades for the LMS (AGS) ---------------------------------------------------------------


@click.command("worker")
@click.option("--once", is_flag=True, help="One pass over what is due, then exit (for cron).")
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="At most this many scores per pass.",
)
@with_appcontext
def worker(once: bool, batch: int) -> None:
    """Send queued scores to the LMS gradebooks (AGS), in order, retrying what fails for now.

    Each pass first submits attempts whose time limit ran out unattended, so their scores
    are sent too, and records last month's coverage figures once a month is over
    (``coverage_figures.record_due_snapshots``), applies the organisations' retention
    rules once an hour (``services.retention``), and reads the results of placed activities
    that launches asked for (``services.result_reads``). With SMTP_URL set it also emails
    the booking notices (``services.notices``).
    Runs until SIGTERM or SIGINT (it finishes the score, mail or read in hand and gives back
    the rest of its claim), sleeping SCORE_WORKER_POLL_SECONDS when nothing is due. Several
    workers may run at once: each score, notice and result read is claimed by one
    (``services.outbox.claim_due``: on PostgreSQL with SKIP LOCKED).
    With --once it makes one pass and prints what it did.
    """
    import signal
    import threading

    from flask import current_app

    from lti_tool.db import utcnow
    from lti_tool.domain.calendar import TIME_ZONE
    from lti_tool.services import notices
    from lti_tool.services.attempts import close_overdue_attempts
    from lti_tool.services.coverage_figures import record_due_snapshots
    from lti_tool.services.result_reads import read_due_results
    from lti_tool.services.retention import run_retention
    from lti_tool.services.score_delivery import DeliveryCounts, deliver_due
    from lti_tool.services.worker_status import note_pass

    services = lti_services()
    session_factory = current_app.extensions["db_sessionmaker"]
    mailer = notices.mailer_from_settings(services.settings)

    def record_snapshots() -> None:
        with session_factory() as session:
            if record_due_snapshots(session, utcnow()):
                session.commit()

    retained_at: list[dt.datetime] = []

    def apply_retention() -> tuple[str, ...] | None:
        """The organisations' retention rules, once an hour at most (None when not due
        yet); the parts of it that failed."""
        now = utcnow()
        if retained_at and now - retained_at[-1] < RETENTION_EVERY:
            return None
        result = run_retention(session_factory, now, services.settings.LAUNCH_RECORD_DAYS)
        retained_at[:] = [now]  # a part that failed is tried again in an hour
        if result.failed:
            log.error("worker: retention: %s", result)
        elif result.erased or result.launches_deleted:
            log.info("worker: retention: %s", result)
        return result.failed

    def send_notices(stop: Callable[[], bool] | None) -> notices.MailCounts:
        assert mailer is not None
        return notices.deliver_notices(
            session_factory,
            mailer,
            services.settings,
            now=utcnow,
            zone=TIME_ZONE,
            limit=batch,
            stop=stop,
        )

    def one_pass(stop: Callable[[], bool] | None, logged_as: str) -> _Pass:
        """One pass, each part on its own: one that fails (the database away for a moment,
        the mail server refusing) is logged with its traceback and the others are still
        tried. Noted in Redis (``services.worker_status``): the pass once its scores went,
        and each part tried as gone or failing."""
        done = _Pass()

        def part(name: str, run: Callable[[], Any]) -> None:
            try:
                done.results[name] = run()
            except Exception:
                log.exception("%s: %s failed", logged_as, WORKER_PARTS[name])
                done.went[name] = False
            else:
                done.went[name] = True

        part("attempts", lambda: close_overdue_attempts(session_factory, utcnow()))
        part("figures", record_snapshots)
        part("retention", apply_retention)
        if done.went.get("retention") and done.results["retention"] is None:
            del done.went["retention"]  # not due: what its latest run left stands
        elif done.results.get("retention"):
            done.went["retention"] = False  # a part of it failed, rolled back and logged
        if mailer is not None:
            part("notices", lambda: send_notices(stop))
        part(
            "result_reads",
            lambda: read_due_results(session_factory, services, limit=batch, stop=stop),
        )
        part("scores", lambda: deliver_due(session_factory, services, limit=batch, stop=stop))
        note_pass(services.status_redis, done.went)
        return done

    if once:
        # cron's pass: what it did on stdout, and exit 1 naming each part that failed
        done = one_pass(None, "worker --once")
        if done.went.get("scores"):
            click.echo(str(done.results["scores"]))
        if done.went.get("result_reads") and done.results["result_reads"].handled:
            click.echo(str(done.results["result_reads"]))
        if done.went.get("notices"):
            click.echo(str(done.results["notices"]))
        if done.failed:
            raise click.ClickException("; ".join(done.failed))
        return

    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.info("worker: %s received, stopping", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    poll = services.settings.SCORE_WORKER_POLL_SECONDS
    log.info("worker: sending queued scores (polling every %ss)", poll)
    total = DeliveryCounts()
    try:
        while not stopping.is_set():
            done = one_pass(stopping.is_set, "worker")
            counts = done.results.get("scores") if done.went.get("scores") else None
            if counts is None:  # the database away for a moment: keep the worker, try again
                log.warning("worker: a pass failed; trying again in %ss", poll)
                stopping.wait(poll)
                continue
            total.delivered += counts.delivered
            total.retrying += counts.retrying
            total.failed += counts.failed
            if counts.handled < batch:  # nothing more due now: wait, or until told to stop
                stopping.wait(poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker: stopped (%s)", total)  # a log line, as every line the worker writes


#: The mark of a command already run with the worker's statement timeout (the commands are
#: the module's, shared by every app ``register`` is called for).
_WORKER_TIMEOUT = "_with_the_workers_statement_timeout"


def _with_the_workers_timeout(command: click.Command) -> None:
    """Run ``command`` (each command of a group) with WORKER_STATEMENT_TIMEOUT_SECONDS, not
    the web requests' timeout the app opens its connections with: an import, or the
    worker's retention over every launch record, may run longer than a page may. (A
    process is one or the other; in tests, an app that ran a command keeps the worker's.)"""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_the_workers_timeout(sub)
        return
    callback = command.callback
    if callback is None or getattr(callback, _WORKER_TIMEOUT, False):
        return

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        seconds = current_app.config["SETTINGS"].WORKER_STATEMENT_TIMEOUT_SECONDS
        set_statement_timeout(current_app.extensions["db_engine"], seconds)
        return callback(*args, **kwargs)

    wrapped = with_appcontext(run)
    setattr(wrapped, _WORKER_TIMEOUT, True)
    command.callback = wrapped


def register(app: Flask) -> None:
    groups = (
        platform_cli,
        organisation_cli,
        region_cli,
        deployment_cli,
        keys_cli,
        demo_cli,
        framework_cli,
        job_role_cli,
        content_cli,
        items_cli,
        coverage_cli,
        person_cli,
        retention_cli,
        package_cli,
    )
    for group in groups:
        app.cli.add_command(group)
    app.cli.add_command(assignments_cli)
    app.cli.add_command(api_token_cli)
    app.cli.add_command(registration_url)
    app.cli.add_command(worker)
    app.cli.add_command(migrate.db_cli)
    _with_the_workers_timeout(app.cli)
