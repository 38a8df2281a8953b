"""The platform registry: organisations, platforms, deployments (flush only, never commit)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session, selectinload, undefer_group

from lti_tool.db import insert_or_find, utcnow
from lti_tool.domain.urls import is_web_url
from lti_tool.errors import (
    DeploymentInUse,
    DeploymentMoveRefused,
    NotFound,
    OrganisationNameTaken,
    OwnAccess,
    PlatformInUse,
    PlatformOwnedElsewhere,
    ToolError,
)
from lti_tool.models import (
    Deployment,
    Launch,
    Organisation,
    Person,
    Platform,
    Status,
)


class RegistryError(ToolError):
    code = "invalid_registration"


def get_or_create_organisation(session: Session, name: str) -> Organisation:
    name = name.strip()
    if not name:
        raise RegistryError("organisation name is empty")
    found = session.scalar(select(Organisation).where(Organisation.name == name))
    if found is None:
        found = Organisation(name=name)
        session.add(found)
        session.flush()
    return found


def create_organisation(
    session: Session,
    name: str,
    auto_activate_deployments: bool = False,
    steward_id: int | None = None,
) -> Organisation:
    name = name.strip()
    if not name:
        raise RegistryError("organisation name is empty")
    if session.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
        raise OrganisationNameTaken(f"an organisation named {name!r} already exists")
    organisation = Organisation(
        name=name, auto_activate_deployments=auto_activate_deployments, steward_id=steward_id
    )
    session.add(organisation)
    session.flush()
    return organisation


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.name)).all()


def _check_url(label: str, value: str) -> str:
    if not is_web_url(value.strip()):
        raise RegistryError(f"{label} must be an absolute http(s) URL, got {value!r}")
    return value.strip()


def find_platform(session: Session, issuer: str, client_id: str) -> Platform | None:
    return session.scalar(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    )


def platforms_for_issuer(session: Session, issuer: str) -> Sequence[Platform]:
    return session.scalars(select(Platform).where(Platform.issuer == issuer)).all()


def register_platform(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    organisation_name: str,
    deployment_ids: Sequence[str] = (),
    name: str = "",
) -> Platform:
    """Add a platform, or update the URLs of a known (issuer, client_id) and add deployments."""
    issuer = _check_url("issuer", issuer)
    if not client_id.strip():
        raise RegistryError("client_id is empty")
    organisation = get_or_create_organisation(session, organisation_name)
    platform = find_platform(session, issuer, client_id.strip())
    if platform is None:
        # A new platform belongs to the organisation named; a known one keeps its owner
        # and status (disable/enable are separate acts): naming another organisation
        # only gives the new deployment ids to it, as on a regional LMS.
        platform = Platform(
            issuer=issuer,
            client_id=client_id.strip(),
            organisation=organisation,
            status=Status.ACTIVE,
        )
        session.add(platform)
    platform.name = name or platform.name or urlsplit(issuer).netloc
    platform.auth_login_url = _check_url("auth login URL", auth_login_url)
    platform.auth_token_url = _check_url("token URL", auth_token_url)
    platform.jwks_url = _check_url("JWKS URL", jwks_url)
    session.flush()
    known = {d.deployment_id for d in platform.deployments}
    for deployment_id in deployment_ids:
        deployment_id = deployment_id.strip()
        if deployment_id and deployment_id not in known:
            # Named by the administrator who registers the platform: active at once.
            platform.deployments.append(
                Deployment(
                    deployment_id=deployment_id,
                    organisation=organisation,
                    status=Status.ACTIVE,
                    approved_at=utcnow(),
                )
            )
            known.add(deployment_id)
    session.flush()
    return platform


def list_platforms(session: Session) -> Sequence[Platform]:
    return session.scalars(select(Platform).order_by(Platform.issuer, Platform.client_id)).all()


def set_platform_status(session: Session, issuer: str, client_id: str, status: Status) -> Platform:
    platform = find_platform(session, issuer, client_id)
    if platform is None:
        raise NotFound(f"platform {issuer} / {client_id}")
    platform.status = status
    session.flush()
    return platform


def record_deployment(session: Session, platform: Platform, deployment_id: str) -> Deployment:
    """The deployment of a launch; one not seen before is recorded on its first valid launch.

    Cloned courses and Canvas registrations produce deployment ids nobody typed in: they
    start pending unless the organisation accepts new deployments at once.
    """

    def find() -> Deployment | None:
        return session.scalar(
            select(Deployment).where(
                Deployment.platform_id == platform.id, Deployment.deployment_id == deployment_id
            )
        )

    deployment = find()
    if deployment is None:
        organisation = platform.organisation
        # A platform registered through an admin's invite (Canvas sends no deployment id
        # at registration) gets its first deployment active: the invite was the consent.
        first_of_invited = platform.registered_via == "dynamic" and not platform.deployments
        active = organisation.auto_activate_deployments or first_of_invited
        new = Deployment(
            platform_id=platform.id,
            deployment_id=deployment_id,
            organisation_id=organisation.id,
            status=Status.ACTIVE if active else Status.PENDING,
            approved_at=utcnow() if active else None,
        )
        deployment = insert_or_find(session, new, find)
    return deployment


def list_deployments(session: Session, status: Status | None = None) -> Sequence[Deployment]:
    query = (
        select(Deployment)
        .join(Platform)
        .options(undefer_group("launches"))
        .order_by(Platform.issuer, Deployment.deployment_id)
    )
    if status is not None:
        query = query.where(Deployment.status == status)
    return session.scalars(query).all()


def get_deployment(session: Session, deployment_pk: int) -> Deployment:
    deployment = session.get(Deployment, deployment_pk)
    if deployment is None:
        raise NotFound(f"deployment {deployment_pk}")
    return deployment


def approve_deployment(session: Session, deployment_pk: int) -> Deployment:
    deployment = get_deployment(session, deployment_pk)
    deployment.status = Status.ACTIVE
    deployment.approved_at = utcnow()
    session.flush()
    return deployment


def count_pending_deployments(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Deployment).where(Deployment.status == Status.PENDING)
        )
        or 0
    )


def platforms_of(session: Session, organisation_id: int) -> Sequence[Platform]:
    """The organisation's platforms, with their deployments and those's launch counts."""
    return session.scalars(_console_queries()[0], {"organisation_id": organisation_id}).all()


def deployments_of(session: Session, organisation_id: int) -> Sequence[Deployment]:
    """Deployments an organisation's admin manages: its own, and those on its platforms."""
    return session.scalars(_console_queries()[1], {"organisation_id": organisation_id}).all()


@functools.cache
def _console_queries() -> tuple[Any, Any]:
    """The statements of ``platforms_of`` and ``deployments_of``, made once (the admin's
    start page runs both)."""
    organisation_id: Any = bindparam("organisation_id")
    return (
        select(Platform)
        .where(Platform.organisation_id == organisation_id)
        .options(selectinload(Platform.deployments).undefer_group("launches"))
        .order_by(Platform.issuer, Platform.client_id),
        select(Deployment)
        .join(Platform)
        .where(
            (Deployment.organisation_id == organisation_id)
            | (Platform.organisation_id == organisation_id)
        )
        .options(undefer_group("launches"))
        .order_by(Deployment.status, Platform.issuer, Deployment.deployment_id),
    )


def approve_deployment_of(session: Session, organisation_id: int, deployment_pk: int) -> Deployment:
    deployment = get_deployment(session, deployment_pk)
    if organisation_id not in (deployment.organisation_id, deployment.platform.organisation_id):
        raise NotFound(f"deployment {deployment_pk} is not organisation {organisation_id}'s")
    return approve_deployment(session, deployment_pk)


# --- the admin console: what an organisation's admin manages ------------------------------
#
# An admin acts for the organisation of their launch's deployment. They manage the platforms
# that organisation owns, every deployment on those platforms (a regional LMS serves several
# municipalities), and the deployments that belong to their organisation on other platforms.
# Anything else is not found: the console never tells whether it exists.


def platform_of(session: Session, organisation_id: int, platform_pk: int) -> Platform:
    """A platform the organisation owns."""
    platform = session.get(Platform, platform_pk)
    if platform is None or platform.organisation_id != organisation_id:
        raise NotFound(f"platform {platform_pk} is not organisation {organisation_id}'s")
    return platform


def deployment_of(session: Session, organisation_id: int, deployment_pk: int) -> Deployment:
    """A deployment of the organisation, or on a platform the organisation owns."""
    deployment = session.get(Deployment, deployment_pk)
    if deployment is None or organisation_id not in (
        deployment.organisation_id,
        deployment.platform.organisation_id,
    ):
        raise NotFound(f"deployment {deployment_pk} is not organisation {organisation_id}'s")
    return deployment


@dataclasses.dataclass(frozen=True)
class Impact:
    """What disabling or deleting a platform or a deployment would touch."""

    people: int
    """People who have launched the tool through it."""
    launches: int
    deployments: int
    signed_in_through: bool
    """The acting admin's own launch goes through it: disabling it locks them out."""

    @property
    def in_use(self) -> bool:
        return bool(self.people or self.launches)

    @property
    def deletable(self) -> bool:
        return not (self.in_use or self.signed_in_through)


def _launch_rows(session: Session, *where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(Launch).where(*where)) or 0


def platform_impact(session: Session, platform: Platform, acting_deployment_pk: int) -> Impact:
    people = (
        session.scalar(
            select(func.count()).select_from(Person).where(Person.platform_id == platform.id)
        )
        or 0
    )
    pks = [d.id for d in platform.deployments]
    recorded = _launch_rows(session, Launch.deployment_pk.in_(pks)) if pks else 0
    return Impact(
        people=people,
        launches=recorded,
        deployments=len(pks),
        signed_in_through=acting_deployment_pk in pks,
    )


def deployment_impact(
    session: Session, deployment: Deployment, acting_deployment_pk: int
) -> Impact:
    people = (
        session.scalar(
            select(func.count(func.distinct(Launch.person_id))).where(
                Launch.deployment_pk == deployment.id
            )
        )
        or 0
    )
    recorded = _launch_rows(session, Launch.deployment_pk == deployment.id)
    return Impact(
        people=people,
        launches=recorded,
        deployments=1,
        signed_in_through=deployment.id == acting_deployment_pk,
    )


def platform_with_impact_of(
    session: Session, organisation_id: int, platform_pk: int, acting_deployment_pk: int
) -> tuple[Platform, Impact]:
    platform = platform_of(session, organisation_id, platform_pk)
    return platform, platform_impact(session, platform, acting_deployment_pk)


def deployment_with_impact_of(
    session: Session, organisation_id: int, deployment_pk: int, acting_deployment_pk: int
) -> tuple[Deployment, Impact]:
    deployment = deployment_of(session, organisation_id, deployment_pk)
    return deployment, deployment_impact(session, deployment, acting_deployment_pk)


def set_platform_status_of(
    session: Session,
    organisation_id: int,
    platform_pk: int,
    status: Status,
    acting_deployment_pk: int,
) -> Platform:
    """Enable or disable a platform the organisation owns (not the one the admin is in)."""
    platform = platform_of(session, organisation_id, platform_pk)
    if status != Status.ACTIVE and acting_deployment_pk in {d.id for d in platform.deployments}:
        raise OwnAccess(f"platform {platform_pk} carries the acting launch")
    platform.status = status
    session.flush()
    return platform


def set_deployment_status_of(
    session: Session,
    organisation_id: int,
    deployment_pk: int,
    status: Status,
    acting_deployment_pk: int,
) -> Deployment:
    """Enable (approving it if pending) or disable a deployment the organisation manages."""
    deployment = deployment_of(session, organisation_id, deployment_pk)
    if status != Status.ACTIVE and deployment.id == acting_deployment_pk:
        raise OwnAccess(f"deployment {deployment_pk} carries the acting launch")
    deployment.status = status
    if status == Status.ACTIVE and deployment.approved_at is None:
        deployment.approved_at = utcnow()
    session.flush()
    return deployment


def delete_platform_of(
    session: Session, organisation_id: int, platform_pk: int, acting_deployment_pk: int
) -> Platform:
    """Delete a platform nobody has used, with its deployments (registry rows only).

    A platform people have launched from is refused: deleting it would delete them and all
    they did. Disabling it is the way to stop it.
    """
    platform, impact = platform_with_impact_of(
        session, organisation_id, platform_pk, acting_deployment_pk
    )
    if impact.signed_in_through:
        raise OwnAccess(f"platform {platform_pk} carries the acting launch")
    if impact.in_use:
        raise PlatformInUse(
            f"platform {platform_pk} has {impact.people} people and {impact.launches} launches"
        )
    session.delete(platform)
    session.flush()
    return platform


def delete_deployment_of(
    session: Session, organisation_id: int, deployment_pk: int, acting_deployment_pk: int
) -> Deployment:
    """Delete a deployment never launched through (a typo, a stray cloned course)."""
    deployment, impact = deployment_with_impact_of(
        session, organisation_id, deployment_pk, acting_deployment_pk
    )
    if impact.signed_in_through:
        raise OwnAccess(f"deployment {deployment_pk} carries the acting launch")
    if impact.in_use:
        raise DeploymentInUse(f"deployment {deployment_pk} has {impact.launches} launches")
    deployment.platform.deployments.remove(deployment)
    session.flush()
    return deployment


def organisations_in_reach(session: Session, organisation_id: int) -> Sequence[Organisation]:
    """The organisations an admin manages: their own, those of deployments on their
    platforms, and those their organisation created in the console that have no platform
    of their own yet (never another admin's, nor one made on the command line).

    An admin may give a deployment to any of them, rename them and put them in a region.
    Not to others: a deployment given to another municipality would let the admin act
    for it.
    """
    on_own_platforms = (
        select(Deployment.organisation_id)
        .join(Platform)
        .where(Platform.organisation_id == organisation_id)
    )
    stewarded = (Organisation.steward_id == organisation_id) & ~select(Platform.id).where(
        Platform.organisation_id == Organisation.id
    ).exists()
    return session.scalars(
        select(Organisation)
        .where(
            (Organisation.id == organisation_id) | Organisation.id.in_(on_own_platforms) | stewarded
        )
        .order_by(Organisation.name)
    ).all()


def organisation_in_reach(session: Session, organisation_id: int, target_pk: int) -> Organisation:
    for organisation in organisations_in_reach(session, organisation_id):
        if organisation.id == target_pk:
            return organisation
    raise NotFound(f"organisation {target_pk} is out of organisation {organisation_id}'s reach")


def reassign_deployment_of(
    session: Session, organisation_id: int, deployment_pk: int, target_pk: int
) -> Deployment:
    """Give a deployment nobody has launched through yet to another organisation (one
    approved into the wrong one): its launches act for that one. One in use is refused:
    its people belong to the organisation they launched for, with their data, and would
    find the tool's pages closed to them through it."""
    deployment = deployment_of(session, organisation_id, deployment_pk)
    # FOR UPDATE (PostgreSQL): a launch's row holds KEY SHARE on its deployment until it
    # commits, so a first launch under way is counted below, and one after waits the move
    session.refresh(deployment, with_for_update=True)
    target = organisation_in_reach(session, organisation_id, target_pk)
    if target.id != deployment.organisation_id and deployment_impact(session, deployment, 0).in_use:
        raise DeploymentMoveRefused(f"deployment {deployment_pk} has launches")
    deployment.organisation = target
    session.flush()
    return deployment


def register_platform_of(
    session: Session,
    organisation_id: int,
    *,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    deployment_ids: Sequence[str] = (),
    name: str = "",
) -> Platform:
    """Register a platform by hand for the organisation, or update one it already owns.

    An (issuer, client_id) another organisation registered is refused: its URLs are not
    this admin's to change.
    """
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id}")
    existing = find_platform(session, issuer.strip(), client_id.strip())
    if existing is not None and existing.organisation_id != organisation_id:
        raise PlatformOwnedElsewhere(
            f"{issuer} / {client_id} is organisation {existing.organisation_id}'s"
        )
    return register_platform(
        session,
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        jwks_url=jwks_url,
        organisation_name=organisation.name,
        deployment_ids=deployment_ids,
        name=name,
    )
