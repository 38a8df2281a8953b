"""Each person's requirement lines, kept so the coordinators' figures need not rebuild the
union of everyone's job roles on every request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, false, text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import Base, UTCDateTime


class CoverageCell(Base):
    """A competence one of a person's active job roles asks for: one row per person,
    competence and job role, each carrying what the union of the person's active roles
    asks (``domain.requirements``: the highest level, the shortest renewal, mandatory in
    any) and the person's holding of the competence (``competence_holding``): its level
    and when it expires. No status: it is worked out when read, from these and the time,
    so time passing changes nothing here. Rewritten for the people concerned in the same flush
    as any change to their job roles or a role's requirements, and with every holding
    they gain (``services.coverage_cells``)."""

    __tablename__ = "coverage_cell"
    __table_args__ = (
        Index("ix_coverage_cell_job_role_id", "job_role_id"),
        # what the figures read (services.coverage_figures._tallies), in the order each
        # of its two passes groups by: on PostgreSQL, read from the index alone
        Index(
            "ix_coverage_cell_figures",
            "organisation_id",
            "job_role_id",
            "competence_id",
            postgresql_include=[
                "required_level",
                "level",
                "expires_at",
                "counts_cell",
                "counts_person",
                "counts_role_person",
                "counts_identifier_person",
            ],
        ),
        Index(
            "ix_coverage_cell_by_person",
            "person_id",
            postgresql_include=[
                "organisation_id",
                "required_level",
                "level",
                "expires_at",
                "counts_person",
            ],
            postgresql_where=text("counts_cell"),
            sqlite_where=text("counts_cell"),
        ),
    )

    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("competence.id", ondelete="CASCADE"), primary_key=True
    )
    job_role_id: Mapped[int] = mapped_column(
        ForeignKey("job_role.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    required_level: Mapped[int]
    """The highest level the person's active roles ask for this competence."""
    renewal_months: Mapped[int | None]
    """The shortest renewal they ask for; None = once is enough."""
    mandatory: Mapped[bool]
    """Mandatory in at least one of them."""
    level: Mapped[int | None]
    """The level the person holds the competence at; None = no evidence (never assessed)."""
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """When that holding stops counting for this requirement
    (``domain.coverage.expires_at`` with the renewal above); None = never."""
    counts_cell: Mapped[bool]
    """True on one row of the person and competence (the lowest job role id): the one
    counted as the person's cell. A job role's figures count all of its own rows."""
    counts_person: Mapped[bool]
    """True on one row of the person: the one that counts them as a person."""
    counts_role_person: Mapped[bool]
    """True on one row of the person and job role: counts them among the role's people."""
    counts_identifier_person: Mapped[bool] = mapped_column(default=False, server_default=false())
    """True on one row of the person and competence identifier (the lowest competence id,
    then job role id): counts them among the people of a competence, which one
    identifier can name in two versions of its framework."""
