"""Skills mappings (kartlegginger): which items measure which competences, and the attempts
people make at them.

An attempt freezes what it asked (the drawn items and their option order) so that a later
edit of the mapping or the item bank never changes an answer already given.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp, utcnow
from lti_tool.models.competence import Competence
from lti_tool.models.item_bank import Item
from lti_tool.models.job_role import JobRole
from lti_tool.models.person import Person


class MappingStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Selection(enum.StrEnum):
    FIXED = "fixed"
    """The mapping's own list of items, in its order (or shuffled)."""
    RANDOM = "random"
    """N items drawn per competence from the bank, per attempt."""


class GradePolicy(enum.StrEnum):
    """Which of a person's attempts the LMS gradebook gets."""

    HIGHEST = "highest"
    """The best attempt: a worse retake never lowers the grade (nor undoes a certificate's)."""
    LATEST = "latest"
    """The last submitted attempt, better or worse."""


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"


class Mapping(Base):
    __tablename__ = "mapping"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    """Unique in the organisation; what placed LMS links name the mapping by."""
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    job_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_role.id", ondelete="SET NULL"), index=True
    )
    """Set when the mapping measures a job role's basis competence."""
    status: Mapped[MappingStatus] = mapped_column(
        str_enum(MappingStatus, "mapping_status"), default=MappingStatus.DRAFT
    )
    selection: Mapped[Selection] = mapped_column(
        str_enum(Selection, "mapping_selection"), default=Selection.FIXED
    )
    items_per_competence: Mapped[int | None]
    """RANDOM selection only: how many items to draw per competence."""
    shuffle: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Shuffle the items and the options of choice items, per attempt."""
    time_limit_minutes: Mapped[int | None]
    max_attempts: Mapped[int | None]
    min_days_between: Mapped[int | None]
    """Days a person must wait after submitting before the next attempt."""
    pass_percentage: Mapped[float | None] = mapped_column(Float)
    """The overall score that counts as passed (for certification rules); None = no pass mark."""
    grade_policy: Mapped[GradePolicy] = mapped_column(
        str_enum(GradePolicy, "grade_policy"),
        default=GradePolicy.HIGHEST,
        server_default=GradePolicy.HIGHEST.value,
    )
    """Which attempt's score the LMS gradebook gets: the highest (default) or the latest."""
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    job_role: Mapped[JobRole | None] = relationship()
    competences: Mapped[list[MappingCompetence]] = relationship(
        back_populates="mapping", cascade="all, delete-orphan", order_by="MappingCompetence.id"
    )
    items: Mapped[list[MappingItem]] = relationship(
        back_populates="mapping", cascade="all, delete-orphan", order_by="MappingItem.position"
    )


class MappingCompetence(Base):
    """A competence the mapping measures, with the thresholds that turn a score into a level."""

    __tablename__ = "mapping_competence"
    __table_args__ = (UniqueConstraint("mapping_id", "competence_id"),)

    id: Mapped[intpk]
    mapping_id: Mapped[int] = mapped_column(
        ForeignKey("mapping.id", ondelete="CASCADE"), index=True
    )
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("competence.id", ondelete="RESTRICT"), index=True
    )
    thresholds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    """{"<level value>": minimum percentage}; empty = spread evenly over the scale."""

    mapping: Mapped[Mapping] = relationship(back_populates="competences")
    competence: Mapped[Competence] = relationship()


class MappingItem(Base):
    __tablename__ = "mapping_item"
    __table_args__ = (UniqueConstraint("mapping_id", "item_id"),)

    id: Mapped[intpk]
    mapping_id: Mapped[int] = mapped_column(
        ForeignKey("mapping.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(default=0)

    mapping: Mapped[Mapping] = relationship(back_populates="items")
    item: Mapped[Item] = relationship()


class Attempt(Base):
    __tablename__ = "attempt"
    __table_args__ = (UniqueConstraint("mapping_id", "person_id", "number"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    mapping_id: Mapped[int] = mapped_column(
        ForeignKey("mapping.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    """1 for the person's first attempt at this mapping, 2 for the next …"""
    status: Mapped[AttemptStatus] = mapped_column(
        str_enum(AttemptStatus, "attempt_status"), default=AttemptStatus.IN_PROGRESS
    )
    launch_id: Mapped[str | None] = mapped_column(
        ForeignKey("launch.id", ondelete="SET NULL"), index=True
    )
    """The latest launch the attempt was worked on from: its AGS claim receives the score."""
    plan: Mapped[list[dict]] = mapped_column(JSON)
    """What this attempt asks, frozen at start: [{"item": id, "options": [ids in order]}]."""
    started_at: Mapped[timestamp]
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """Answers after this moment are refused; submission is forced at it."""
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    percentage: Mapped[float | None] = mapped_column(Float)

    person: Mapped[Person] = relationship()
    mapping: Mapped[Mapping] = relationship()
    responses: Mapped[list[Response]] = relationship(
        back_populates="attempt", cascade="all, delete-orphan", order_by="Response.id"
    )


class Response(Base):
    """One answer, saved as it is given (the last save wins until submission)."""

    __tablename__ = "response"
    __table_args__ = (UniqueConstraint("attempt_id", "item_id"),)

    id: Mapped[intpk]
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("attempt.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="RESTRICT"), index=True)
    answer: Mapped[dict] = mapped_column(JSON)
    """{"options": [ids]} for choices, {"value": n} for numeric, {"level": n} for self."""
    fraction: Mapped[float | None] = mapped_column(Float)
    """0 … 1, set at submission."""
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    attempt: Mapped[Attempt] = relationship(back_populates="responses")
    item: Mapped[Item] = relationship()
