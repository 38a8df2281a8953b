"""Job roles (stillinger: sykepleier, lærer, saksbehandler …) and their basis competence.

Not LTI roles: those decide what a person may do in the tool; job roles decide which
competence a person must have.
"""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, timestamp
from lti_tool.models.competence import Competence


class JobRole(Base):
    __tablename__ = "job_role"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    """What LTI custom parameters and HR files name the role by (e.g. ``sykepleier``)."""
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    archived: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[timestamp]

    requirements: Mapped[list[Requirement]] = relationship(
        back_populates="job_role", cascade="all, delete-orphan", order_by="Requirement.id"
    )


class Requirement(Base):
    """One line of a job role's basis-competence profile."""

    __tablename__ = "requirement"
    __table_args__ = (UniqueConstraint("job_role_id", "competence_id"),)

    id: Mapped[intpk]
    job_role_id: Mapped[int] = mapped_column(
        ForeignKey("job_role.id", ondelete="CASCADE"), index=True
    )
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("competence.id", ondelete="RESTRICT"), index=True
    )
    """A competence of one framework version: the profile says exactly what it means."""
    required_level: Mapped[int]
    """A value on the competence's version's scale."""
    mandatory: Mapped[bool] = mapped_column(default=True)
    renewal_months: Mapped[int | None]
    """How often it must be shown again; None = once is enough."""

    job_role: Mapped[JobRole] = relationship(back_populates="requirements")
    competence: Mapped[Competence] = relationship()
