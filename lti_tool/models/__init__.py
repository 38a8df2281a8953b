"""Every model, imported here so that Alembic and the app see the whole schema."""

from lti_tool.models.api_token import ApiToken, TokenScope
from lti_tool.models.competence import (
    Competence,
    Framework,
    FrameworkVersion,
    ScaleLevel,
    VersionStatus,
)
from lti_tool.models.job_role import JobRole, Requirement
from lti_tool.models.lti_state import LoginState, UsedNonce
from lti_tool.models.org_structure import (
    AssignmentSource,
    AssignmentStatus,
    JobRoleAssignment,
    OrgUnit,
    UnitAssignment,
    UnitKind,
)
from lti_tool.models.organisation import Organisation, Region
from lti_tool.models.person import Launch, Person
from lti_tool.models.platform import Deployment, Platform, Status
from lti_tool.models.registration import RegistrationInvite

__all__ = [
    "ApiToken",
    "AssignmentSource",
    "AssignmentStatus",
    "Competence",
    "Deployment",
    "Framework",
    "FrameworkVersion",
    "JobRole",
    "JobRoleAssignment",
    "Launch",
    "LoginState",
    "OrgUnit",
    "Organisation",
    "Person",
    "Platform",
    "Region",
    "RegistrationInvite",
    "Requirement",
    "ScaleLevel",
    "Status",
    "TokenScope",
    "UnitAssignment",
    "UnitKind",
    "UsedNonce",
    "VersionStatus",
]
