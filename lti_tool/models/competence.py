"""Competence frameworks: versions, their proficiency scale and hierarchical competences.

A framework is an organisation's named, lasting thing; what it contains lives in versions.
A published version is never changed: editing starts a new draft version (competences
keep their ``identifier`` across versions), so evidence and certificates keep pointing at
exactly what they were earned against.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, str_enum, timestamp


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


version_status_type = str_enum(VersionStatus, "version_status")


class Framework(Base):
    __tablename__ = "framework"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(100))
    """Short and unique in the organisation; Moodle's idnumber of the framework."""
    created_at: Mapped[timestamp]

    versions: Mapped[list[FrameworkVersion]] = relationship(
        back_populates="framework", order_by="FrameworkVersion.number"
    )


class FrameworkVersion(Base):
    __tablename__ = "framework_version"
    __table_args__ = (UniqueConstraint("framework_id", "number"),)

    id: Mapped[intpk]
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("framework.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    status: Mapped[VersionStatus] = mapped_column(version_status_type, default=VersionStatus.DRAFT)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    """{"nb": …, "nn": …, "en": …}; at least one language."""
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    identifier: Mapped[str] = mapped_column(String(100))
    """Stable across versions: the CASE CFDocument identifier."""
    source: Mapped[str] = mapped_column(String(30), default="manual", server_default="manual")
    """manual, case or moodle-csv: where the content came from."""
    kept: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    """What the imported file held that the tool does not use, by format ({"moodle-csv": {
    scale configuration, taxonomies, the HTML description, …}} or {"case": {…}}): written
    back on export (``interchange``), so the file comes back as it was."""
    created_at: Mapped[timestamp]
    published_at: Mapped[dt.datetime | None]

    framework: Mapped[Framework] = relationship(back_populates="versions")
    levels: Mapped[list[ScaleLevel]] = relationship(
        back_populates="version", order_by="ScaleLevel.value", cascade="all, delete-orphan"
    )
    competences: Mapped[list[Competence]] = relationship(
        back_populates="version",
        order_by="Competence.position",
        cascade="all, delete-orphan",
        foreign_keys="Competence.version_id",
    )


class ScaleLevel(Base):
    """One step of the version's ordered proficiency scale (1 = lowest)."""

    __tablename__ = "scale_level"
    __table_args__ = (UniqueConstraint("version_id", "value"),)

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("framework_version.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[int]
    label: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    version: Mapped[FrameworkVersion] = relationship(back_populates="levels")


class Competence(Base):
    __tablename__ = "competence"
    __table_args__ = (
        UniqueConstraint("version_id", "code"),
        UniqueConstraint("version_id", "identifier"),
    )

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("framework_version.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("competence.id", ondelete="CASCADE"), index=True
    )
    identifier: Mapped[str] = mapped_column(String(100))
    """Stable across versions: the CASE CFItem identifier (a UUID when we made it)."""
    code: Mapped[str] = mapped_column(String(100))
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    external_ref: Mapped[str | None] = mapped_column(String(2048))
    """A link to where the competence is defined (law, regulation, national framework)."""
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    """Order among its siblings."""
    archived: Mapped[bool] = mapped_column(default=False, server_default=false())
    related: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    """The ``identifier``s of cross-referenced competences of the same version (Moodle's
    related competencies): kept for export, not used by the tool."""
    kept: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    """What the imported file held that the tool does not use, by format (Moodle: the rule,
    the HTML description, its own scale; CASE: CFItemType, notes, …):
    written back on export, so the file comes back as it was."""

    version: Mapped[FrameworkVersion] = relationship(
        back_populates="competences", foreign_keys=[version_id]
    )
    parent: Mapped[Competence | None] = relationship(
        remote_side="Competence.id", back_populates="children"
    )
    children: Mapped[list[Competence]] = relationship(
        back_populates="parent", order_by="Competence.position"
    )
