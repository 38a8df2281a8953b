"""Certifications (sertifiseringer) and the certificates (kursbevis) people earn from them.

A certification is a rule set an organisation defines; a certificate is one issue of it to
one person. Certificates are never edited or deleted: a renewal is a new certificate that
points at the one it renews, and a revocation only stamps when and why (who, and every
issue and renewal, is in the audit log: ``services.certificates.trail_of``). Each is
numbered per person and certification (``cycle``), and that number is unique, so two
requests that see the rules met at the same moment cannot both issue.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp, utcnow
from lti_tool.models.organisation import Organisation
from lti_tool.models.person import Person

if TYPE_CHECKING:
    from lti_tool.models.catalogue import CourseCompetence, CourseSession


class CertificationStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    """Evaluated whenever evidence changes; only published certifications issue."""
    ARCHIVED = "archived"


class AchievementType(enum.StrEnum):
    """The Open Badges 3.0 achievementType a certificate carries."""

    CERTIFICATE = "Certificate"
    COMPETENCY = "Competency"


class IssueMethod(enum.StrEnum):
    AUTOMATIC = "automatic"
    """The rules were met."""
    RENEWAL = "renewal"
    """A renewal path (or the full rules) was met inside the renewal window."""
    MANUAL = "manual"
    """Issued by a designer or manager, with a reason."""


class Certification(Base):
    __tablename__ = "certification"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    """Unique in the organisation; placed LMS links name the certification by it."""
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    """The Open Badges achievement id (urn:uuid), stable for the certification's life."""
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    criteria: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """The designer's own words on how it is earned; the rules are added after them."""
    achievement_type: Mapped[AchievementType] = mapped_column(
        str_enum(AchievementType, "achievement_type"), default=AchievementType.CERTIFICATE
    )
    status: Mapped[CertificationStatus] = mapped_column(
        str_enum(CertificationStatus, "certification_status"), default=CertificationStatus.DRAFT
    )
    earn_paths: Mapped[list[dict]] = mapped_column(JSON, default=list)
    """Ways to earn it, any one of which will do: condition trees (``certification_rules``)."""
    renewal_paths: Mapped[list[dict]] = mapped_column(JSON, default=list)
    """Ways to renew it inside the renewal window; the earn paths renew too."""
    validity_months: Mapped[int | None]
    """None: a plain course certificate that never expires."""
    renewal_window_days: Mapped[int | None]
    """How long before expiry renewal may start; None = only from the expiry day."""
    minimum_active_days: Mapped[int | None]
    """How long a certificate must have been held before it can be renewed."""
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()


class StatusList(Base):
    """An organisation's revocation list (W3C Bitstring Status List): certificates hold an
    index in it, chosen at random so that indices reveal nothing."""

    __tablename__ = "status_list"

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    """Names the list in its public URL."""
    size: Mapped[int]
    created_at: Mapped[timestamp]


class Certificate(Base):
    __tablename__ = "certificate"
    __table_args__ = (
        UniqueConstraint("certification_id", "person_id", "cycle"),
        UniqueConstraint("status_list_id", "status_index"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    certification_id: Mapped[int] = mapped_column(
        ForeignKey("certification.id", ondelete="RESTRICT"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    """None once the holder is erased (``services.erasure``): the certificate stays,
    without their name, and verifies as withdrawn."""
    cycle: Mapped[int]
    """1 for the person's first certificate of this certification, 2 for the next …"""
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificate.id", ondelete="SET NULL"), index=True
    )
    """The certificate this one renews."""
    code: Mapped[str] = mapped_column(String(20), unique=True)
    """The verification code printed on the certificate (``/verify/<code>``)."""
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    """The credential id (urn:uuid)."""
    subject_uuid: Mapped[str] = mapped_column(String(36))
    """The credential subject id: pseudonymous, so the credential carries no email or sub."""
    method: Mapped[IssueMethod] = mapped_column(str_enum(IssueMethod, "issue_method"))
    holder_name: Mapped[str] = mapped_column(String(300))
    """The name as it was at issue: what the certificate says, whatever the LMS says later."""
    content: Mapped[dict] = mapped_column(JSON)
    """What was certified, frozen at issue: titles, organisation, competences and levels."""
    issued_at: Mapped[timestamp]
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_list.id", ondelete="RESTRICT"))
    status_index: Mapped[int]
    credential_jwt: Mapped[str | None] = mapped_column(Text)
    """The signed Open Badges credential (VC-JWT), made once, when first asked for."""
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """When the holder was erased: the certificate names no one and is no longer valid."""

    certification: Mapped[Certification] = relationship()
    person: Mapped[Person | None] = relationship()
    previous: Mapped[Certificate | None] = relationship(remote_side="Certificate.id")
    status_list: Mapped[StatusList] = relationship()


class CourseKind(enum.StrEnum):
    CLASSROOM = "classroom"
    ELEARNING = "elearning"
    PRACTICAL = "practical"
    """Supervised practice or a practical test at work."""


class Course(Base):
    """A course offer (tiltak): an activity of the organisation's catalogue, which learning
    plans suggest for the competences it develops (``CourseCompetence``) and whose
    completion a certification can ask for. E-learning carries where it is taken (a link
    to the LMS, or the link placed there by deep linking); a classroom course its sessions
    (``CourseSession``)."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    kind: Mapped[CourseKind] = mapped_column(
        str_enum(CourseKind, "course_kind"), default=CourseKind.CLASSROOM
    )
    lms_url: Mapped[str | None] = mapped_column(String(2048))
    """E-learning: the LMS course or activity (http(s) only, ``domain.urls.is_web_url``)."""
    placed_context_id: Mapped[str | None] = mapped_column(String(255))
    """E-learning placed in an LMS course by deep linking: that course's LTI context id …"""
    placed_context_title: Mapped[str | None] = mapped_column(String(500))
    """… and its title, as the deep-linking request named it."""
    placed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int | None]
    """How long it takes, roughly (e-learning) or in all (a classroom course)."""
    language: Mapped[str | None] = mapped_column(String(10))
    """The language it is given in (a code of ``domain.texts.ACTIVITY_LANGUAGES``)."""
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), onupdate=utcnow)

    competences: Mapped[list[CourseCompetence]] = relationship(
        back_populates="course",
        cascade="all, delete-orphan",
        order_by="CourseCompetence.competence_id",
    )
    sessions: Mapped[list[CourseSession]] = relationship(
        back_populates="course", order_by="(CourseSession.starts_at, CourseSession.id)"
    )


class Attendance(Base):
    """That a person attended or completed a course, as recorded by a designer or manager."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("course_id", "person_id", "attended_on"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="RESTRICT"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    attended_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    recorded_at: Mapped[timestamp]

    course: Mapped[Course] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
