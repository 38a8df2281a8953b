"""Organisations (the municipalities that own everything else) and the regions they form."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, timestamp
from lti_tool.domain.coverage import DEFAULT_EXPIRING_DAYS

#: How long the audit log keeps an event unless the organisation says otherwise: five years.
DEFAULT_AUDIT_RETENTION_MONTHS = 60


class Region(Base):
    """A group of municipalities that share content and see aggregated figures."""

    __tablename__ = "region"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    steward_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL", use_alter=True), index=True
    )
    """The organisation whose admin created it in the console: only they manage it there
    (the command line manages every region)."""
    created_at: Mapped[timestamp]

    organisations: Mapped[list[Organisation]] = relationship(
        back_populates="region", order_by="Organisation.name", foreign_keys="Organisation.region_id"
    )


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    auto_activate_deployments: Mapped[bool] = mapped_column(default=False, server_default=false())
    """When true, a deployment first seen in a launch is active at once instead of pending."""
    expiring_days: Mapped[int] = mapped_column(
        default=DEFAULT_EXPIRING_DAYS, server_default=text(str(DEFAULT_EXPIRING_DAYS))
    )
    """The expiring window: a competence whose evidence runs out within this many days is
    "expiring" in gap analyses and learning plans (``domain.coverage.cell_status``)."""
    retention_months: Mapped[int | None]
    """Erase people with no launch for this many months (``services.retention``); None:
    keep them until erased by hand."""
    audit_retention_months: Mapped[int] = mapped_column(
        default=DEFAULT_AUDIT_RETENTION_MONTHS,
        server_default=text(str(DEFAULT_AUDIT_RETENTION_MONTHS)),
    )
    """Delete audit events older than this many months (``services.retention``): the audit
    log's own retention, apart from personal data's (``retention_months``)."""
    region_id: Mapped[int | None] = mapped_column(
        ForeignKey("region.id", ondelete="SET NULL"), index=True
    )
    steward_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    """The organisation whose admin created it in the console; that admin manages it until it
    has a platform of its own. Organisations made on the command line have none."""
    created_at: Mapped[timestamp]

    region: Mapped[Region | None] = relationship(
        back_populates="organisations", foreign_keys=[region_id]
    )

    def __repr__(self) -> str:
        return f"<Organisation {self.name!r}>"
