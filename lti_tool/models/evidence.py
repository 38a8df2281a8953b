"""Evidence: what shows that a person holds a competence at a level, and where it came from.

Written by mappings (one record per measured competence per submitted attempt), and by
courses: attendance, an instructor's confirmation, an LMS score or completion, or the
person's own report (``domain.evidence_sources`` lists the sources and their default
confidence). Records are never edited: a new attempt adds new evidence, so a manager can
show the whole history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp
from lti_tool.domain.evidence_sources import Confidence
from lti_tool.models.competence import Competence, Framework


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_person_competence", "person_id", "competence_id"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("competence.id", ondelete="RESTRICT"), index=True
    )
    source: Mapped[str] = mapped_column(String(30))
    """Where it came from: a key of ``domain.evidence_sources.SOURCES`` (knowledge_test,
    self_assessment, self_reported, instructor_confirmed, lms_score, lms_completion,
    attendance)."""
    confidence: Mapped[Confidence] = mapped_column(
        str_enum(Confidence, "evidence_confidence", length=10),
        server_default=Confidence.MEDIUM.value,
    )
    """How far it can be trusted; ``record_evidence`` fills in the source's default."""
    level: Mapped[int]
    """A value on the competence's scale; 0 = measured, but no level reached."""
    percentage: Mapped[float | None] = mapped_column(Float)
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("attempt.id", ondelete="SET NULL"), index=True
    )
    recorded_at: Mapped[timestamp]
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    """What it came from, as it was named then: ``mapping`` (a mapping's code); for a
    course, ``course_id`` and ``course`` (its code), and ``confirmed_by_id`` and
    ``confirmed_by`` (the instructor's or manager's name) when someone confirmed it."""

    competence: Mapped[Competence] = relationship()


class CompetenceHolding(Base):
    """The evidence a person holds a competence by, kept for every competence they have
    evidence for: one row per (organisation, person, framework, competence identifier),
    so all versions of a competence share it. Written with every new evidence record
    (``services.evidence.record_evidence``) by the rule of ``domain.coverage.holding_rank``;
    what the competence matrix and ``requirements.current_levels`` read."""

    __tablename__ = "competence_holding"
    __table_args__ = (
        Index("ix_competence_holding_competence", "organisation_id", "framework_id", "identifier"),
    )

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("framework.id", ondelete="CASCADE"), primary_key=True
    )
    identifier: Mapped[str] = mapped_column(String(100), primary_key=True)
    """The competence's ``identifier``, the same in every version of the framework."""
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), index=True
    )
    weight: Mapped[int] = mapped_column(SmallInteger)
    """``domain.coverage.evidence_weight`` of the evidence: 0 for a self-assessment."""
    level: Mapped[int]
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    framework: Mapped[Framework] = relationship()
    evidence: Mapped[Evidence] = relationship()
