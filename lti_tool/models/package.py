"""Where imported content came from (issue 17): each package import, and the objects it
made, so a framework, job role, item, mapping, activity or certification remembers its
package, the package's version and the organisation that published it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, timestamp


class PackageImport(Base):
    """One content package imported into the organisation."""

    __tablename__ = "package_import"

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    """The package's name (its manifest's ``name``): stable across its versions."""
    version: Mapped[str] = mapped_column(String(20))
    publisher: Mapped[str] = mapped_column(String(200))
    """The organisation that published the package, as its manifest says."""
    licence: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    """Of the package file imported."""
    imported_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    """Who imported it; None from the command line or with an API token."""
    imported_at: Mapped[timestamp]

    objects: Mapped[list[PackageObject]] = relationship(
        back_populates="package_import", cascade="all, delete-orphan", order_by="PackageObject.id"
    )


class PackageObject(Base):
    """An object a package import made: its kind (``interchange.package.TYPES``), id and
    code. The object's origin is its latest row here."""

    __tablename__ = "package_object"
    __table_args__ = (Index("ix_package_object_kind_object", "kind", "object_id"),)

    id: Mapped[intpk]
    package_import_id: Mapped[int] = mapped_column(
        ForeignKey("package_import.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int]
    """The id of the framework, job role, item, mapping, course or certification."""
    code: Mapped[str] = mapped_column(String(100))
    snapshot: Mapped[Any] = mapped_column(JSON, nullable=True)
    """The object as this package version brought it (its package document's entry): an
    update compares it with the object now (local edits) and with the newer package."""

    package_import: Mapped[PackageImport] = relationship(back_populates="objects")


class LibraryPackage(Base):
    """A package version an organisation published to its region's library: the region's
    designers browse, search, preview and import it. Withdrawn by its publisher or hidden by
    a regional coordinator, it is no longer offered; copies already imported stay."""

    __tablename__ = "library_package"
    __table_args__ = (UniqueConstraint("region_id", "name", "version"),)

    id: Mapped[intpk]
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    """The publisher."""
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(20))
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    licence: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    search_text: Mapped[str] = mapped_column(Text, default="")
    """Lower-case titles and codes of what the package holds (frameworks, competences, job
    roles, mappings, activities, certifications): what the library's search looks in."""
    data: Mapped[bytes] = mapped_column(LargeBinary)
    """The package file (``interchange.package``), as exported."""
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    published_at: Mapped[timestamp]
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """Hidden by a regional coordinator (moderation), with ``hidden_reason``."""
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
