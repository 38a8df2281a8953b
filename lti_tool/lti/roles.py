"""LTI roles → the tool's permissions.

Roles arrive as full URIs (``http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor``,
with sub-roles such as ``.../membership/Instructor#TeachingAssistant``) or as short names
(``Instructor``). Context (membership) roles decide what a person may do; institution and
system roles are only trusted for Administrator, because Canvas sends
``institution/person#Student`` to instructors too.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


class Permission(enum.StrEnum):
    LEARNER = "learner"
    COORDINATOR = "coordinator"
    """Only by a grant in the tool (``services.grants``); no LMS role gives it."""
    DESIGNER = "designer"
    MANAGER = "manager"
    ADMIN = "admin"


#: From least to most; a person lands on the page of the highest they hold.
PERMISSION_ORDER = (
    Permission.LEARNER,
    Permission.COORDINATOR,
    Permission.DESIGNER,
    Permission.MANAGER,
    Permission.ADMIN,
)

#: The context roles that count as designer unless the platform chooses others
#: (``Platform.designer_roles``).
DEFAULT_DESIGNER_ROLES = ("Administrator", "ContentDeveloper", "Instructor", "TeachingAssistant")
#: The context roles an admin may choose among for a platform's designers.
DESIGNER_ROLE_CHOICES = (*DEFAULT_DESIGNER_ROLES, "Mentor", "Manager")

CONTEXT_ROLE_PERMISSIONS = {
    "Learner": Permission.LEARNER,
    "Mentor": Permission.MANAGER,
    "Manager": Permission.MANAGER,
}

ADMIN_SCOPES = ("institution", "system")
ADMIN_ROLES = ("Administrator", "SysAdmin")


@dataclasses.dataclass(frozen=True)
class Role:
    scope: str
    """membership (context), institution, system, or unknown."""
    name: str
    sub_role: str | None = None


def parse_role(value: str) -> Role:
    """Read one role in any form the platforms send."""
    value = value.strip()
    if value.startswith(LIS):
        path, _, fragment = value[len(LIS) :].partition("#")
        parts = path.split("/")
        scope = parts[0]
        if scope in ("institution", "system") and len(parts) >= 2:
            return Role(scope=scope, name=fragment)
        if scope == "membership":
            if len(parts) >= 2:  # membership/Instructor#TeachingAssistant
                return Role(scope="membership", name=parts[1], sub_role=fragment or None)
            return Role(scope="membership", name=fragment)
        return Role(scope="unknown", name=fragment or path)
    if value.startswith("urn:lti:"):  # LTI 1.1 forms some platforms still send
        kind, _, name = value[len("urn:lti:") :].partition(":")
        rest = name.rpartition("/")[2]
        scope = {"role": "membership", "instrole": "institution", "sysrole": "system"}.get(
            kind, "unknown"
        )
        role_name, _, sub = rest.partition("/")
        return Role(scope=scope, name=role_name, sub_role=sub or None)
    if "#" in value or "/" in value:
        return Role(scope="unknown", name=value.rpartition("#")[2])
    return Role(scope="membership", name=value)  # short names are context roles


def permissions_for(
    roles: Iterable[str], designer_roles: Iterable[str] = DEFAULT_DESIGNER_ROLES
) -> frozenset[Permission]:
    """Everyone launched is at least a learner: every employee has requirements of their own.

    ``designer_roles``: the context roles (or sub-roles) that count as designer on the
    platform the roles came from.
    """
    designers = frozenset(designer_roles)
    granted = {Permission.LEARNER}
    for role in map(parse_role, roles):
        if role.scope in ADMIN_SCOPES and role.name in ADMIN_ROLES:
            granted.add(Permission.ADMIN)
        elif role.scope == "membership":
            # a sub-role names the role precisely: Instructor#TeachingAssistant is a
            # teaching assistant, a designer only where TeachingAssistant is ticked
            if (role.sub_role or role.name) in designers:
                granted.add(Permission.DESIGNER)
            for name in (role.name, role.sub_role):
                if name in CONTEXT_ROLE_PERMISSIONS:
                    granted.add(CONTEXT_ROLE_PERMISSIONS[name])
    return frozenset(granted)


def highest(permissions: Iterable[Permission | str]) -> Permission:
    held = {Permission(p) for p in permissions}
    return max(held, key=PERMISSION_ORDER.index, default=Permission.LEARNER)
