"""LMS courses the tool was launched from, and their rosters (LTI Names and Role Provisioning
Services) as last fetched: who is in the course, to compare with who has started."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str255, timestamp
from lti_tool.models.platform import Platform


class CourseRoster(Base):
    """One LMS course (an LTI context) of a platform, seen through an organisation's launches."""

    __tablename__ = "course_roster"
    __table_args__ = (UniqueConstraint("organisation_id", "platform_id", "context_id"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    """The organisation of the deployment the course's launches came through."""
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    context_id: Mapped[str255]
    """The platform's id of the course (the launch's context claim)."""
    label: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(300), default="")
    memberships_url: Mapped[str | None] = mapped_column(String(2048))
    """The course's NRPS memberships URL from the latest launch; None: that launch offered
    no NRPS 2.0 (the platform does not share the course's members)."""
    placed_mappings: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Mapping codes the course's launched links name (``@job-role`` included)."""
    placed_certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Certification codes the course's launched links name."""
    created_at: Mapped[timestamp]
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """When the members below were read from the platform; None: never."""

    platform: Mapped[Platform] = relationship()
    members: Mapped[list[RosterMember]] = relationship(
        back_populates="roster", cascade="all, delete-orphan", order_by="RosterMember.id"
    )


class RosterMember(Base):
    """A member of a course as the platform listed them: only what the roster page shows."""

    __tablename__ = "course_roster_member"
    __table_args__ = (UniqueConstraint("roster_id", "user_id"),)

    id: Mapped[intpk]
    roster_id: Mapped[int] = mapped_column(ForeignKey("course_roster.id", ondelete="CASCADE"))
    user_id: Mapped[str255]
    """The platform's user id: a Person of the same platform has it as ``sub``."""
    name: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Context roles, short names (``Learner``, ``Instructor``)."""
    status: Mapped[str] = mapped_column(String(20), default="active")
    """active or inactive, as the platform says."""

    roster: Mapped[CourseRoster] = relationship(back_populates="members")
