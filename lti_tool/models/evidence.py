"""Evidence: what shows that a person holds a competence at a level, and where it came from.

Written by mappings now (one record per measured competence per submitted attempt); the
certification and classroom issues add their own sources. Records are never edited: a new
attempt adds new evidence, so a manager can show the whole history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, timestamp
from lti_tool.models.competence import Competence


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
    """Where it came from: knowledge_test or self_assessment (mappings); later classroom …"""
    level: Mapped[int]
    """A value on the competence's scale; 0 = measured, but no level reached."""
    percentage: Mapped[float | None] = mapped_column(Float)
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("attempt.id", ondelete="SET NULL"), index=True
    )
    recorded_at: Mapped[timestamp]
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    competence: Mapped[Competence] = relationship()
