"""Flask commands for administrators: platforms, organisations, deployments, keys, demo.

Each command is one transaction: it commits at the end, or writes nothing on error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from lti_tool.db import get_session
from lti_tool.errors import ToolError
from lti_tool.lti.services import lti_services
from lti_tool.models import Status
from lti_tool.services import demo, organisations, platforms, registration


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
                f"{d.organisation.name}\tlaunches={d.launch_count}"
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
def keys_rotate() -> None:
    """Create the first key, or a new one; the previous stays published for the grace period."""
    keyring = lti_services().keyring
    key = keyring.rotate()
    click.echo(f"New signing key {key.kid} in {key.path}")
    published = keyring.published_keys()
    click.echo(f"Published keys: {', '.join(k.kid for k in published)}")


@keys_cli.command("list")
def keys_list() -> None:
    keyring = lti_services().keyring
    published = {k.kid for k in keyring.published_keys()}
    keys = keyring.all_keys()
    if not keys:
        click.echo("No keys: run `flask --app lti_tool keys rotate`.")
    for key in reversed(keys):
        state = "published" if key.kid in published else "expired"
        click.echo(f"{key.kid}\t{key.created_at.isoformat()}\t{state}")


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
    if not lti.keyring.all_keys():
        lti.keyring.rotate()
    platform = demo.register_demo_platform(get_session(), demo.demo_platform(lti))
    click.echo(f"Demo LMS registered ({platform.issuer}). Open {lti.settings.base_url}/demo")


def register(app: Flask) -> None:
    groups = (platform_cli, organisation_cli, region_cli, deployment_cli, keys_cli, demo_cli)
    for group in groups:
        app.cli.add_command(group)
    app.cli.add_command(registration_url)
