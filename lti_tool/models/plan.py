"""Learning plans: what a person is to do next (``PlanItem``), and the secret address of
their personal calendar feed (``CalendarFeed``).

A plan item names a course, a competence, or both: the tool suggests courses for the
person's gaps (``source = suggested``), a manager adds what they decide (``source =
manager``). The person accepts, postpones or declines (with a reason); it is done when
the course is completed or the competence is held.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp, utcnow
from lti_tool.models.certification import Course
from lti_tool.models.competence import Competence
from lti_tool.models.person import Person


class PlanItemState(enum.StrEnum):
    SUGGESTED = "suggested"
    """Proposed, not yet answered by the person."""
    ACCEPTED = "accepted"
    POSTPONED = "postponed"
    """Until ``postponed_until``."""
    DECLINED = "declined"
    """With a ``decline_reason``."""
    DONE = "done"


class PlanItemSource(enum.StrEnum):
    SUGGESTED = "suggested"
    """The tool suggested it from the gap analysis."""
    MANAGER = "manager"
    """A manager added it (``added_by_id``)."""


class PlanItem(Base):
    __tablename__ = "plan_item"
    __table_args__ = (
        CheckConstraint("course_id IS NOT NULL OR competence_id IS NOT NULL", name="target"),
        Index("ix_plan_item_person_state", "person_id", "state"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("course.id", ondelete="RESTRICT"), index=True
    )
    competence_id: Mapped[int | None] = mapped_column(
        ForeignKey("competence.id", ondelete="RESTRICT"), index=True
    )
    """The competence the item is to close the gap in (any version of it counts)."""
    state: Mapped[PlanItemState] = mapped_column(
        str_enum(PlanItemState, "plan_item_state"), default=PlanItemState.SUGGESTED
    )
    source: Mapped[PlanItemSource] = mapped_column(
        str_enum(PlanItemSource, "plan_item_source"), default=PlanItemSource.SUGGESTED
    )
    decline_reason: Mapped[str | None] = mapped_column(Text)
    postponed_until: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    """Set by a manager: when it should be done."""
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    """The manager who added it; None for the tool's suggestions."""
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    course: Mapped[Course | None] = relationship()
    competence: Mapped[Competence | None] = relationship()
    added_by: Mapped[Person | None] = relationship(foreign_keys=[added_by_id])


class CalendarFeed(Base):
    """A person's personal calendar feed (``/calendar/<token>.ics``): only the sha256 of
    its secret token is kept (the token is shown once); renewing replaces the hash, so the
    old address stops working at once."""

    __tablename__ = "calendar_feed"

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 (hex) of the token in the feed's address."""
    created_at: Mapped[timestamp]
    renewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship()
