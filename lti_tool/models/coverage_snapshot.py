"""Monthly snapshots of coverage: counts only, never people, for the coordinators' trend."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import Base, intpk, timestamp


class CoverageSnapshot(Base):
    """One organisation's figures at one month's end, for one group: the whole organisation,
    a unit, a job role or a competence (``services.coverage_figures.record_snapshot``).
    Written once per month and group; a later run for the same month replaces them."""

    __tablename__ = "coverage_snapshot"
    __table_args__ = (UniqueConstraint("month", "organisation_id", "dimension", "key"),)

    id: Mapped[intpk]
    month: Mapped[dt.date] = mapped_column(Date, index=True)
    """The month's first day; the figures are as at its end."""
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    dimension: Mapped[str] = mapped_column(String(20))
    """organisation, unit, job_role or competence."""
    key: Mapped[str] = mapped_column(String(100))
    """Empty for the organisation; the unit's id ('' with dimension unit: not placed), the
    job role's code, the competence's identifier."""
    people: Mapped[int]
    met: Mapped[int]
    expiring: Mapped[int]
    expired: Mapped[int]
    gap: Mapped[int]
    never_assessed: Mapped[int]
    recorded_at: Mapped[timestamp]
