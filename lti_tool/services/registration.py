"""Registration of platforms by LTI Dynamic Registration (flush only, never commit).

An administrator issues a one-time registration URL for an organisation; the platform's
administrator enters it in the LMS, which opens it; the tool registers itself with the
platform and records the platform for that organisation. Only a hash of the URL's secret is
stored. The calls to the platform happen before anything is written, so a failed
registration leaves nothing behind and the URL can be used again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import secrets

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.errors import (
    InviteExpired,
    InviteUnknown,
    InviteUsed,
    NotFound,
    PlatformOwnedElsewhere,
)
from lti_tool.lti import registration as dr
from lti_tool.lti.allowed_hosts import NO_HOSTS, AllowedHosts
from lti_tool.lti.tool_configuration import registration_request
from lti_tool.models import Organisation, Platform, RegistrationInvite
from lti_tool.services import platforms
from lti_tool.services.platforms import RegistryError

log = logging.getLogger(__name__)

#: Longest an invite may stay valid (30 days).
MAX_EXPIRES_IN_MINUTES = 30 * 24 * 60
REGISTRATION_PATH = "/lti/register/"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def registration_url(base_url: str, secret: str) -> str:
    """The URL the platform's administrator enters in the LMS."""
    return base_url.rstrip("/") + REGISTRATION_PATH + secret


def create_registration_invite(
    session: Session, organisation_name: str, expires_in_minutes: int = 60
) -> tuple[RegistrationInvite, str]:
    """A one-time invite for the organisation (created if new); returns it and its secret.

    The secret is returned once and never stored: keep it for the URL you show.
    """
    _check_expires_in(expires_in_minutes)
    organisation = platforms.get_or_create_organisation(session, organisation_name)
    return _new_invite(session, organisation, expires_in_minutes)


def create_registration_invite_of(
    session: Session, organisation_id: int, expires_in_minutes: int = 60
) -> tuple[RegistrationInvite, str]:
    """A one-time invite for the organisation an admin acts for (see above)."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id}")
    return _new_invite(session, organisation, expires_in_minutes)


def _check_expires_in(expires_in_minutes: int) -> None:
    if not 0 < expires_in_minutes <= MAX_EXPIRES_IN_MINUTES:
        raise RegistryError(
            f"expires in must be between 1 and {MAX_EXPIRES_IN_MINUTES} minutes, "
            f"got {expires_in_minutes}"
        )


def _new_invite(
    session: Session, organisation: Organisation, expires_in_minutes: int
) -> tuple[RegistrationInvite, str]:
    _check_expires_in(expires_in_minutes)
    secret = secrets.token_urlsafe(32)
    invite = RegistrationInvite(
        secret_hash=hash_secret(secret),
        organisation=organisation,
        expires_at=utcnow() + dt.timedelta(minutes=expires_in_minutes),
    )
    session.add(invite)
    session.flush()
    return invite, secret


def find_usable_invite(session: Session, secret: str) -> RegistrationInvite:
    """The invite of this secret, unless it is unknown, used or expired (each refused)."""
    invite = session.scalar(
        select(RegistrationInvite).where(RegistrationInvite.secret_hash == hash_secret(secret))
    )
    if invite is None:
        raise InviteUnknown("no invite with this secret")
    if invite.used_at is not None:
        raise InviteUsed(f"invite {invite.id} used at {invite.used_at.isoformat()}")
    if invite.expires_at <= utcnow():
        raise InviteExpired(f"invite {invite.id} expired at {invite.expires_at.isoformat()}")
    return invite


@dataclasses.dataclass(frozen=True)
class Registered:
    platform: Platform
    organisation: Organisation
    #: The deployment the platform made at registration (Moodle), or None (Canvas).
    deployment_id: str | None
    updated: bool


def register_with_invite(
    session: Session,
    invite: RegistrationInvite,
    initiation: dr.Initiation,
    *,
    base_url: str,
    timeout: int,
    allow_private_hosts: bool = True,
    allowed_hosts: AllowedHosts = NO_HOSTS,
) -> Registered:
    """Register the tool with the platform that opened the invite's URL, and record it.

    The platform is contacted first; a refusal raises before anything is written. Outside
    ``allow_private_hosts``, a platform on a private address must be in ``allowed_hosts``.
    """
    configuration = dr.fetch_platform_configuration(
        initiation, timeout, allow_private_hosts, allowed_hosts
    )
    client = registration_request(
        base_url, configuration.product_family, configuration.scopes_supported
    )
    answer = dr.register_client(
        configuration,
        initiation.registration_token,
        client,
        timeout,
        allow_private_hosts,
        allowed_hosts,
    )
    platform, updated = _record_platform(session, invite.organisation, configuration, answer)
    _mark_used(session, invite, platform)
    log.info(
        "dynamic registration: %s platform %s client %s (%s) for %s, deployment %s",
        "updated" if updated else "added",
        platform.issuer,
        platform.client_id,
        configuration.product_family,
        invite.organisation.name,
        answer.deployment_id,
    )
    return Registered(platform, invite.organisation, answer.deployment_id, updated)


def _record_platform(
    session: Session,
    organisation: Organisation,
    configuration: dr.PlatformConfiguration,
    answer: dr.ClientRegistration,
) -> tuple[Platform, bool]:
    """Add the platform, or update a known one instead of adding a duplicate.

    The same (issuer, client_id) is updated. An issuer other than Canvas's shared one that
    this organisation registered once before with another client id (the LMS registered the
    tool anew) gets the new client id and URLs; its deployments stay.
    """
    issuer = configuration.issuer
    existing = platforms.find_platform(session, issuer, answer.client_id)
    if existing is not None and existing.organisation_id != organisation.id:
        # Never let one organisation's invite rewrite (keys, URLs) another's platform.
        raise PlatformOwnedElsewhere(
            f"{issuer} client {answer.client_id} belongs to organisation "
            f"{existing.organisation_id}, invite is for {organisation.id}"
        )
    if existing is None and not configuration.is_canvas:
        same_organisation = [
            p
            for p in platforms.platforms_for_issuer(session, issuer)
            if p.organisation_id == organisation.id
        ]
        if len(same_organisation) == 1:
            existing = same_organisation[0]
            existing.client_id = answer.client_id
            session.flush()
    platform = platforms.register_platform(
        session,
        issuer=issuer,
        client_id=answer.client_id,
        auth_login_url=configuration.authorization_endpoint,
        auth_token_url=configuration.token_endpoint,
        jwks_url=configuration.jwks_uri,
        organisation_name=organisation.name,
        deployment_ids=[answer.deployment_id] if answer.deployment_id else [],
        name="" if existing is not None else configuration.host,
    )
    platform.product_family = configuration.product_family or None
    platform.registered_via = "dynamic"
    session.flush()
    return platform, existing is not None


def _mark_used(session: Session, invite: RegistrationInvite, platform: Platform) -> None:
    """Use the invite up, once: of two registrations racing for it, the second fails."""
    result = session.execute(
        update(RegistrationInvite)
        .where(RegistrationInvite.id == invite.id, RegistrationInvite.used_at.is_(None))
        .values(used_at=utcnow(), platform_id=platform.id)
        .execution_options(synchronize_session="fetch")
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        raise InviteUsed(f"invite {invite.id} was used by a concurrent registration")
    session.flush()
