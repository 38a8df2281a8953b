"""Where imported content came from (issue 17): each package import, and the objects it
made, so a framework, job role, item, mapping, activity or certification remembers its
package, the package's version and the organisation that published it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, timestamp


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
