"""Who may do what, decided in the tool: permissions granted on top of the LMS roles.

The LMS roles of a launch stay the defaults (``lti.roles.permissions_for``, with the
context roles each platform counts as designer: ``Platform.designer_roles``). An
organisation's admin adds to them by granting a person manager of a unit (a sector,
department or unit, and everything under it), designer, coordinator (of the
organisation's region, or of the organisation) or admin: from the admin console, the REST
API, or HR's CSV file (``manages_unit``).

When it takes effect: on every request. The LMS roles come with the launch, the grants
are read per request (one query, ``auth.current_permissions``; none for someone never
granted anything: ``Person.ever_granted``), so a withdrawn admin, designer or manager
loses the access at their next request, not their next launch.
``Launch.permissions`` keeps what the person held at the launch (where it lands).

Every grant and withdrawal is kept on its row: who, when, how (console, api, import) and
why. Rows are never deleted; withdrawn ones stay as history.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.db import insert_or_find, utcnow
from lti_tool.errors import (
    AdminByToken,
    AdminLockout,
    GrantReasonMissing,
    InvalidGrant,
    NotFound,
    SharedPlatform,
)
from lti_tool.lti.claims import ROLES
from lti_tool.lti.roles import DESIGNER_ROLE_CHOICES, Permission, permissions_for
from lti_tool.models import (
    AuditAction,
    GrantKind,
    Launch,
    Organisation,
    OrgUnit,
    PermissionGrant,
    Person,
    Platform,
)
from lti_tool.services import assignments, audit, org_units, platforms
from lti_tool.services.audit import Actor

MAX_REASON_LENGTH = 500
VIA = ("console", "api", "import", "system")
"""How a grant came: the admin console, the REST API, HR's file, or the tool itself (the
demo's set-up)."""

#: The permission each kind of grant gives.
PERMISSION_OF = {
    GrantKind.MANAGER: Permission.MANAGER,
    GrantKind.DESIGNER: Permission.DESIGNER,
    GrantKind.COORDINATOR: Permission.COORDINATOR,
    GrantKind.ADMIN: Permission.ADMIN,
}


# --- what a person may do -------------------------------------------------------------------


def designer_roles(platform: Platform) -> tuple[str, ...]:
    return tuple(r for r in platform.designer_roles.split(",") if r)


def others_on_platform(platform: Platform, organisation_id: int) -> list[str]:
    """The names of the other organisations with a deployment on the platform."""
    return sorted(
        {d.organisation.name for d in platform.deployments if d.organisation_id != organisation_id}
    )


def set_designer_roles(
    session: Session, by: Actor, platform_pk: int, roles: Iterable[str]
) -> Platform:
    """Choose the context roles that count as designer in the platform's launches (none:
    only grants make designers); audited.

    Only where the platform serves the admin's organisation alone: on a platform shared
    with other organisations (a regional LMS) the choice would decide who designs for
    them too, so it stays as it is; each organisation grants designer to its people."""
    platform = platforms.platform_of(session, by.organisation_id, platform_pk)
    if others_on_platform(platform, by.organisation_id):
        raise SharedPlatform(f"platform {platform_pk} has deployments of other organisations")
    before = designer_roles(platform)
    chosen = set(roles)
    platform.designer_roles = ",".join(r for r in DESIGNER_ROLE_CHOICES if r in chosen)
    after = designer_roles(platform)
    if after != before:
        audit.record(
            session,
            by,
            AuditAction.DESIGNER_ROLES,
            "platform",
            platform.id,
            detail={"before": list(before), "after": list(after)},
        )
    session.flush()
    return platform


def active_grants(session: Session, organisation_id: int, person: Person) -> list[PermissionGrant]:
    """The person's active grants in the organisation (every page needs them): none, without
    a statement, for someone never granted anything (``Person.ever_granted``), as most are."""
    if not person.ever_granted:
        return []
    return list(session.scalars(_active_grants(), _of(organisation_id, person.id)))


def _of(organisation_id: int, person_id: int) -> dict[str, int]:
    return {"organisation_id": organisation_id, "person_id": person_id}


@functools.cache
def _active_grants() -> Any:
    """The statement of a person's active grants, made once: every page and launch runs
    one, and making it cost more than running it."""
    return select(PermissionGrant).where(
        PermissionGrant.person_id == bindparam("person_id"),
        PermissionGrant.organisation_id == bindparam("organisation_id"),
        PermissionGrant.withdrawn_at.is_(None),
    )


def role_permissions(launch: Launch) -> frozenset[Permission]:
    """What the launch's LMS roles give, with the context roles its platform counts as
    designer now (a change of the platform's choice bites at once too)."""
    platform = launch.deployment.platform
    return permissions_for(launch.claims.get(ROLES) or [], designer_roles(platform))


def effective_permissions(
    role_held: Iterable[Permission], held_grants: Iterable[PermissionGrant]
) -> frozenset[Permission]:
    """The LMS roles' permissions and the person's active grants in the organisation they
    act for (their launch's deployment's)."""
    return frozenset(role_held) | {PERMISSION_OF[g.kind] for g in held_grants}


def manager_scope(
    session: Session, launch: Launch, held_grants: Sequence[PermissionGrant]
) -> frozenset[int] | None:
    """The units whose people a launch's manager sees and decides for: None for the whole
    organisation (an admin), else the granted units with their sub-units (``held_grants``:
    the person's active grants, read on this request).

    An LMS role (Mentor, Manager) makes a manager of none: it is a role in one course,
    and must not open a whole municipality's personnel data. An admin grants the units."""
    if Permission.ADMIN in effective_permissions(role_permissions(launch), held_grants):
        return None
    roots = {
        g.unit_id for g in held_grants if g.kind == GrantKind.MANAGER and g.unit_id is not None
    }
    return org_units.with_sub_units(session, launch.deployment.organisation_id, roots)


def granted_units(held_grants: Iterable[PermissionGrant]) -> list[OrgUnit]:
    """The units of the manager grants among ``held_grants`` (without the units under them)."""
    found = [g.unit for g in held_grants if g.kind == GrantKind.MANAGER and g.unit is not None]
    return sorted(found, key=lambda u: (u.name, u.id))


def people_of(session: Session, organisation_id: int) -> list[Person]:
    """The organisation's people who can be granted something (they have launched)."""
    return list(
        session.scalars(
            select(Person)
            .where(Person.organisation_id == organisation_id)
            .order_by(Person.family_name, Person.given_name, Person.name, Person.id)
        )
    )


def units_of(session: Session, organisation_id: int) -> list[OrgUnit]:
    """The sectors, departments and units a manager can be granted (archived left out)."""
    return list(
        session.scalars(
            select(OrgUnit)
            .where(OrgUnit.organisation_id == organisation_id, OrgUnit.archived.is_(False))
            .order_by(OrgUnit.name, OrgUnit.id)
        )
    )


# --- grants and withdrawals -----------------------------------------------------------------


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= MAX_REASON_LENGTH:
        raise GrantReasonMissing(f"reason of {len(reason)} characters")
    return reason


def _check_scope(
    session: Session,
    organisation_id: int,
    kind: GrantKind,
    unit_id: int | None,
    region_id: int | None,
) -> None:
    if kind == GrantKind.MANAGER:
        unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
        refused = (
            unit is None
            or unit.organisation_id != organisation_id
            or unit.archived
            or region_id is not None
        )
    elif kind == GrantKind.COORDINATOR:
        organisation = session.get(Organisation, organisation_id)
        refused = unit_id is not None or (
            region_id is not None and (organisation is None or organisation.region_id != region_id)
        )
    else:
        refused = unit_id is not None or region_id is not None
    if refused:
        raise InvalidGrant(f"{kind} grant with unit {unit_id}, region {region_id}")


def grant(
    session: Session,
    organisation_id: int,
    *,
    person_id: int,
    kind: GrantKind,
    reason: str,
    by: Actor,
    via: str,
    unit_id: int | None = None,
    region_id: int | None = None,
) -> tuple[PermissionGrant, bool]:
    """Grant the permission; the active grant and False when the person already holds it.

    An API token grants anything but admin: a leaked token must not make anyone an
    administrator. A new grant is written to the audit log too."""
    assert via in VIA and by.organisation_id == organisation_id
    by_id = by.person_id
    if by.token_id is not None and kind == GrantKind.ADMIN:
        raise AdminByToken(f"admin grant for person {person_id} by a token")
    reason = _clean_reason(reason)
    person = assignments.get_person(session, organisation_id, person_id)
    _check_scope(session, organisation_id, kind, unit_id, region_id)
    key = PermissionGrant.key_of(organisation_id, person.id, kind, unit_id, region_id)

    def held() -> PermissionGrant | None:
        found: PermissionGrant | None = session.scalar(
            select(PermissionGrant).where(PermissionGrant.active_key == key)
        )
        return found

    existing = held()
    if existing is not None:
        # a grant written without this function (by a process older than the flag, by
        # hand): granting it again is what makes it count
        person.ever_granted = True
        return existing, False
    row = PermissionGrant(
        organisation_id=organisation_id,
        person_id=person.id,
        kind=kind,
        unit_id=unit_id,
        region_id=region_id,
        granted_by_id=by_id,
        granted_by_token_id=by.token_id,
        granted_via=via,
        granted_at=utcnow(),
        reason=reason,
        active_key=key,
    )
    # a concurrent request granting the same first: theirs is the active grant
    found = insert_or_find(session, row, held)
    person.ever_granted = True  # from now on, their launches and pages read their grants
    session.flush()
    if found is row:
        audit.record(
            session,
            by,
            AuditAction.GRANT,
            "grant",
            row.id,
            [person.id],
            {"kind": kind.value, "unit_id": unit_id, "region_id": region_id, "via": via},
        )
    return found, found is row


def get_grant(session: Session, organisation_id: int, grant_id: int) -> PermissionGrant:
    found = session.get(PermissionGrant, grant_id)
    if found is None or found.organisation_id != organisation_id:
        raise NotFound(f"grant {grant_id} not in organisation {organisation_id}")
    return found


def withdraw(
    session: Session,
    organisation_id: int,
    grant_id: int,
    *,
    reason: str,
    by: Actor,
    via: str,
) -> PermissionGrant:
    """Withdraw an active grant; the row stays with who withdrew it, when and why.

    No one withdraws their own admin grant, nor the organisation's last one: the
    organisation keeps an administrator."""
    assert via in VIA and by.organisation_id == organisation_id
    by_id = by.person_id
    reason = _clean_reason(reason)
    row = get_grant(session, organisation_id, grant_id)
    if not row.active:
        raise NotFound(f"grant {grant_id} already withdrawn")
    if row.kind == GrantKind.ADMIN:
        if row.person_id == by_id:
            raise AdminLockout(f"person {by_id} withdrawing their own admin grant {grant_id}")
        others = session.scalar(
            select(PermissionGrant.id)
            .where(
                PermissionGrant.organisation_id == organisation_id,
                PermissionGrant.kind == GrantKind.ADMIN,
                PermissionGrant.withdrawn_at.is_(None),
                PermissionGrant.id != row.id,
            )
            .limit(1)
        )
        if others is None:
            raise AdminLockout(f"grant {grant_id} is organisation {organisation_id}'s last admin")
    row.withdrawn_at = utcnow()
    row.active_key = None
    row.withdrawn_by_id = by_id
    row.withdrawn_by_token_id = by.token_id
    row.withdrawn_via = via
    row.withdrawal_reason = reason
    session.flush()
    audit.record(
        session,
        by,
        AuditAction.WITHDRAW,
        "grant",
        row.id,
        [row.person_id],
        {"kind": row.kind.value, "unit_id": row.unit_id, "region_id": row.region_id, "via": via},
    )
    return row


def grants_of(
    session: Session,
    organisation_id: int,
    *,
    active_only: bool = False,
    offset: int | None = None,
    limit: int | None = None,
) -> Sequence[PermissionGrant]:
    """The organisation's grants, newest first: the audit of who granted and withdrew what."""
    query = (
        select(PermissionGrant)
        .where(PermissionGrant.organisation_id == organisation_id)
        .options(
            selectinload(PermissionGrant.person),
            selectinload(PermissionGrant.granted_by),
            selectinload(PermissionGrant.withdrawn_by),
            selectinload(PermissionGrant.granted_by_token),
            selectinload(PermissionGrant.withdrawn_by_token),
            selectinload(PermissionGrant.unit),
            selectinload(PermissionGrant.region),
        )
        .order_by(PermissionGrant.granted_at.desc(), PermissionGrant.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if active_only:
        query = query.where(PermissionGrant.withdrawn_at.is_(None))
    return list(session.scalars(query))
