"""Every model, imported here so that Alembic and the app see the whole schema."""

from lti_tool.domain.evidence_sources import Confidence
from lti_tool.models.api_token import ApiToken, TokenScope
from lti_tool.models.audit import AuditAction, AuditEvent, AuditEventPerson
from lti_tool.models.catalogue import (
    BookingStatus,
    CourseCompetence,
    CourseSession,
    MailStatus,
    NoticeKind,
    SessionBooking,
    SessionNotice,
)
from lti_tool.models.certification import (
    AchievementType,
    Attendance,
    Certificate,
    Certification,
    CertificationStatus,
    Course,
    CourseKind,
    IssueMethod,
    StatusList,
)
from lti_tool.models.competence import (
    Competence,
    Framework,
    FrameworkVersion,
    ScaleLevel,
    VersionStatus,
)
from lti_tool.models.course_roster import CourseRoster, RosterMember
from lti_tool.models.coverage_cell import CoverageCell
from lti_tool.models.coverage_snapshot import CoverageSnapshot
from lti_tool.models.documentation import DocumentationExport
from lti_tool.models.evidence import CompetenceHolding, Evidence
from lti_tool.models.grant import GrantKind, PermissionGrant
from lti_tool.models.item_bank import Item, ItemCompetence, ItemOption
from lti_tool.models.job_role import JobRole, Requirement
from lti_tool.models.lti_state import LoginState, UsedNonce
from lti_tool.models.mapping import (
    Attempt,
    AttemptStatus,
    GradePolicy,
    Mapping,
    MappingCompetence,
    MappingItem,
    MappingStatus,
    Response,
    Selection,
)
from lti_tool.models.org_structure import (
    AssignmentSource,
    AssignmentStatus,
    JobRoleAssignment,
    OrgUnit,
    UnitAssignment,
    UnitKind,
)
from lti_tool.models.organisation import Organisation, Region
from lti_tool.models.package import LibraryPackage, PackageImport, PackageObject
from lti_tool.models.person import Launch, Person
from lti_tool.models.plan import CalendarFeed, PlanItem, PlanItemSource, PlanItemState
from lti_tool.models.platform import Deployment, Platform, Status
from lti_tool.models.registration import RegistrationInvite
from lti_tool.models.result_read import ResultRead
from lti_tool.models.score_delivery import DeliveryStatus, ScoreDelivery

__all__ = [
    "AchievementType",
    "ApiToken",
    "AssignmentSource",
    "AssignmentStatus",
    "Attempt",
    "AttemptStatus",
    "Attendance",
    "AuditAction",
    "AuditEvent",
    "AuditEventPerson",
    "BookingStatus",
    "CalendarFeed",
    "Certificate",
    "Certification",
    "CertificationStatus",
    "Competence",
    "CompetenceHolding",
    "Confidence",
    "Course",
    "CourseCompetence",
    "CourseKind",
    "CourseRoster",
    "CourseSession",
    "CoverageCell",
    "CoverageSnapshot",
    "DeliveryStatus",
    "Deployment",
    "DocumentationExport",
    "Evidence",
    "Framework",
    "FrameworkVersion",
    "GradePolicy",
    "GrantKind",
    "IssueMethod",
    "Item",
    "ItemCompetence",
    "ItemOption",
    "JobRole",
    "JobRoleAssignment",
    "Launch",
    "LibraryPackage",
    "LoginState",
    "MailStatus",
    "Mapping",
    "MappingCompetence",
    "MappingItem",
    "MappingStatus",
    "NoticeKind",
    "OrgUnit",
    "Organisation",
    "PackageImport",
    "PackageObject",
    "PermissionGrant",
    "Person",
    "PlanItem",
    "PlanItemSource",
    "PlanItemState",
    "Platform",
    "Region",
    "RegistrationInvite",
    "Requirement",
    "Response",
    "ResultRead",
    "RosterMember",
    "ScaleLevel",
    "ScoreDelivery",
    "Selection",
    "SessionBooking",
    "SessionNotice",
    "Status",
    "StatusList",
    "TokenScope",
    "UnitAssignment",
    "UnitKind",
    "UsedNonce",
    "VersionStatus",
]
