"""The municipality's structure (sector/department > unit) and who is placed where.

Every assignment keeps its source (launch, self, manager, import) and time: a manager must
be able to show where "this person is a nurse in unit X" came from.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, str_enum, timestamp
from lti_tool.models.job_role import JobRole
from lti_tool.models.person import Person


class UnitKind(enum.StrEnum):
    SECTOR = "sector"
    DEPARTMENT = "department"
    UNIT = "unit"


class AssignmentSource(enum.StrEnum):
    LAUNCH = "launch"
    """LTI custom parameters (job_role, unit) sent by the LMS."""
    SELF = "self"
    """Chosen by the employee on first launch; needs a manager's approval."""
    MANAGER = "manager"
    IMPORT = "import"
    """CSV from HR."""


class AssignmentStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ENDED = "ended"


source_type = str_enum(AssignmentSource, "assignment_source")
assignment_status_type = str_enum(AssignmentStatus, "assignment_status")


class OrgUnit(Base):
    __tablename__ = "org_unit"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind, "unit_kind"))
    code: Mapped[str] = mapped_column(String(100))
    """What LTI custom parameters and HR files name the unit by."""
    name: Mapped[str] = mapped_column(String(200))
    archived: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[timestamp]

    parent: Mapped[OrgUnit | None] = relationship(
        remote_side="OrgUnit.id", back_populates="children"
    )
    children: Mapped[list[OrgUnit]] = relationship(back_populates="parent", order_by="OrgUnit.name")


class _AssignmentRecord:
    """Where an assignment came from, and when it started, was decided and ended."""

    source: Mapped[AssignmentSource] = mapped_column(source_type)
    status: Mapped[AssignmentStatus] = mapped_column(assignment_status_type)
    created_at: Mapped[timestamp]
    decided_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    ended_at: Mapped[dt.datetime | None]


class JobRoleAssignment(_AssignmentRecord, Base):
    __tablename__ = "job_role_assignment"

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    job_role_id: Mapped[int] = mapped_column(
        ForeignKey("job_role.id", ondelete="CASCADE"), index=True
    )

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    job_role: Mapped[JobRole] = relationship()


class UnitAssignment(_AssignmentRecord, Base):
    __tablename__ = "unit_assignment"

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    unit: Mapped[OrgUnit] = relationship()
