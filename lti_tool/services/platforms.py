"""The platform registry: organisations, platforms, deployments (flush only, never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.db import insert_or_find, utcnow
from lti_tool.errors import NotFound, ToolError
from lti_tool.models import Deployment, Organisation, Platform, Status


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
    session: Session, name: str, auto_activate_deployments: bool = False
) -> Organisation:
    name = name.strip()
    if not name:
        raise RegistryError("organisation name is empty")
    if session.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
        raise RegistryError(f"an organisation named {name!r} already exists")
    organisation = Organisation(name=name, auto_activate_deployments=auto_activate_deployments)
    session.add(organisation)
    session.flush()
    return organisation


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.name)).all()


def _check_url(label: str, value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
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
        active = organisation.auto_activate_deployments
        new = Deployment(
            platform_id=platform.id,
            deployment_id=deployment_id,
            organisation_id=organisation.id,
            status=Status.ACTIVE if active else Status.PENDING,
            approved_at=utcnow() if active else None,
        )
        deployment = insert_or_find(session, new, find)
    return deployment


def count_launch(session: Session, deployment: Deployment) -> None:
    deployment.launch_count = Deployment.launch_count + 1
    deployment.last_launch_at = utcnow()
    session.flush()


def list_deployments(session: Session, status: Status | None = None) -> Sequence[Deployment]:
    query = select(Deployment).join(Platform).order_by(Platform.issuer, Deployment.deployment_id)
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
    return session.scalars(
        select(Platform)
        .where(Platform.organisation_id == organisation_id)
        .order_by(Platform.issuer, Platform.client_id)
    ).all()


def deployments_of(session: Session, organisation_id: int) -> Sequence[Deployment]:
    """Deployments an organisation's admin manages: its own, and those on its platforms."""
    return session.scalars(
        select(Deployment)
        .join(Platform)
        .where(
            (Deployment.organisation_id == organisation_id)
            | (Platform.organisation_id == organisation_id)
        )
        .order_by(Deployment.status, Platform.issuer, Deployment.deployment_id)
    ).all()


def approve_deployment_of(session: Session, organisation_id: int, deployment_pk: int) -> Deployment:
    deployment = get_deployment(session, deployment_pk)
    if organisation_id not in (deployment.organisation_id, deployment.platform.organisation_id):
        raise NotFound(f"deployment {deployment_pk} is not organisation {organisation_id}'s")
    return approve_deployment(session, deployment_pk)
