"""Permissions an organisation's admin grants in the tool, on top of the LMS roles.

A grant row is its own audit record: who granted it, when and why, and, once withdrawn,
who withdrew it, when and why. Rows are never deleted.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp
from lti_tool.models.api_token import ApiToken
from lti_tool.models.org_structure import OrgUnit
from lti_tool.models.organisation import Region
from lti_tool.models.person import Person


class GrantKind(enum.StrEnum):
    MANAGER = "manager"
    """Of one unit (sector, department or unit) and everything under it."""
    DESIGNER = "designer"
    COORDINATOR = "coordinator"
    """Of a region (``region_id``) or of the organisation itself (no region)."""
    ADMIN = "admin"


class PermissionGrant(Base):
    __tablename__ = "permission_grant"
    __table_args__ = (Index("ix_permission_grant_person_active", "person_id", "withdrawn_at"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[GrantKind] = mapped_column(str_enum(GrantKind, "grant_kind"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"))
    """The managed unit (manager grants only)."""
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"))
    """The coordinated region (coordinator grants; none: the organisation)."""
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    """None: an API token (``granted_by_token_id``) or the command line."""
    granted_by_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_token.id", ondelete="SET NULL")
    )
    granted_via: Mapped[str] = mapped_column(String(20))
    """console, api or import."""
    granted_at: Mapped[timestamp]
    reason: Mapped[str] = mapped_column(String(500))
    withdrawn_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    withdrawn_by_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_token.id", ondelete="SET NULL")
    )
    withdrawn_via: Mapped[str | None] = mapped_column(String(20))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))
    active_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    """What the grant gives, while active (``key_of``); None once withdrawn. Unique: two
    concurrent grants of the same permission cannot both be active."""

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    granted_by: Mapped[Person | None] = relationship(foreign_keys=[granted_by_id])
    withdrawn_by: Mapped[Person | None] = relationship(foreign_keys=[withdrawn_by_id])
    granted_by_token: Mapped[ApiToken | None] = relationship(foreign_keys=[granted_by_token_id])
    withdrawn_by_token: Mapped[ApiToken | None] = relationship(foreign_keys=[withdrawn_by_token_id])
    unit: Mapped[OrgUnit | None] = relationship()
    region: Mapped[Region | None] = relationship()

    @staticmethod
    def key_of(
        organisation_id: int,
        person_id: int,
        kind: GrantKind,
        unit_id: int | None,
        region_id: int | None,
    ) -> str:
        return f"{organisation_id}:{person_id}:{kind.value}:{unit_id or ''}:{region_id or ''}"

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None
