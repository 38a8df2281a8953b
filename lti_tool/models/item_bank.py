"""The organisation's item bank: self-assessment statements and knowledge questions, each
tied to one or more competences with a weight, reusable across mappings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, timestamp, utcnow
from lti_tool.models.competence import Competence


class Item(Base):
    __tablename__ = "item"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    """Short and unique in the organisation (Moodle's idnumber, or generated)."""
    kind: Mapped[str] = mapped_column(String(30))
    """A key of ``lti_tool.domain.items.ITEM_TYPES`` (self_assessment, single_choice …)."""
    stem: Mapped[dict[str, str]] = mapped_column(JSON)
    """The statement or question, {"nb": …, "nn": …, "en": …}."""
    feedback: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """General feedback shown after submission, whatever the answer."""
    outcome_feedback: Mapped[dict[str, dict[str, str]] | None] = mapped_column(JSON, default=dict)
    """Feedback by outcome, {"correct" | "partially_correct" | "incorrect": {"nb": …}}
    (Moodle's combined feedback), and for numeric items {"other_answer": …}: when the answer
    matches no accepted answer (Moodle's "*" answer). See ``domain.items.FEEDBACK_KEYS``.
    None for items written before it existed: no such feedback."""
    points: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    """Type-specific settings, e.g. {"unit": "ml"} for a numeric answer."""
    source: Mapped[str] = mapped_column(String(30), default="manual", server_default="manual")
    """manual, moodle-xml or gift."""
    archived: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    options: Mapped[list[ItemOption]] = relationship(
        back_populates="item", order_by="ItemOption.position", cascade="all, delete-orphan"
    )
    competences: Mapped[list[ItemCompetence]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="ItemCompetence.id"
    )


class ItemOption(Base):
    """A choice (single/multiple choice, true/false) or an accepted numeric answer."""

    __tablename__ = "item_option"

    id: Mapped[intpk]
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    """Credit for choosing it, -1 … 1 (Moodle's grade fractions); 1 = fully correct."""
    value: Mapped[float | None] = mapped_column(Float)
    """Numeric answers only: the accepted value …"""
    tolerance: Mapped[float | None] = mapped_column(Float)
    """… plus or minus this much."""
    feedback: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    item: Mapped[Item] = relationship(back_populates="options")


class ItemCompetence(Base):
    __tablename__ = "item_competence"
    __table_args__ = (UniqueConstraint("item_id", "competence_id"),)

    id: Mapped[intpk]
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("competence.id", ondelete="RESTRICT"), index=True
    )
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    """How much the item counts towards this competence relative to its other items."""

    item: Mapped[Item] = relationship(back_populates="competences")
    competence: Mapped[Competence] = relationship()
