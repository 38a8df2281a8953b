"""The platform registry: LMS registrations (issuer + client_id) and their deployments."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, str255, str_enum, timestamp, url
from lti_tool.lti.roles import DEFAULT_DESIGNER_ROLES
from lti_tool.models.organisation import Organisation


class Status(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


status_type = str_enum(Status, "registry_status")
DESIGNER_ROLES_DEFAULT = ",".join(DEFAULT_DESIGNER_ROLES)


class Platform(Base):
    """One registration of the tool in one LMS: Canvas shares an issuer across customers."""

    __tablename__ = "platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[intpk]
    issuer: Mapped[url]
    client_id: Mapped[str255]
    name: Mapped[str] = mapped_column(String(200), default="")
    auth_login_url: Mapped[url]
    auth_token_url: Mapped[url]
    jwks_url: Mapped[url]
    auth_audience: Mapped[str | None] = mapped_column(String(2048))
    """Audience for client-credential assertions when the token URL is not it (rare)."""
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    """Organisation that deployments first seen in a launch are recorded under."""
    status: Mapped[Status] = mapped_column(status_type, default=Status.ACTIVE)
    product_family: Mapped[str | None] = mapped_column(String(50))
    """moodle, canvas, … as the platform names itself (Dynamic Registration or launches)."""
    registered_via: Mapped[str] = mapped_column(
        String(20), default="manual", server_default="manual"
    )
    """manual (CLI or admin form) or dynamic (LTI Dynamic Registration)."""
    designer_roles: Mapped[str] = mapped_column(
        String(200), default=DESIGNER_ROLES_DEFAULT, server_default=DESIGNER_ROLES_DEFAULT
    )
    """The LTI context roles (comma separated) that count as designer in this platform's
    launches; the organisation's admin chooses them on the console."""
    created_at: Mapped[timestamp]

    organisation: Mapped[Organisation] = relationship()
    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", order_by="Deployment.id", cascade="all, delete-orphan"
    )


class Deployment(Base):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[intpk]
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str255]
    """The platform's own id for this deployment (the LTI deployment_id claim)."""
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[Status] = mapped_column(status_type, default=Status.PENDING)
    created_at: Mapped[timestamp]
    approved_at: Mapped[dt.datetime | None]

    platform: Mapped[Platform] = relationship(back_populates="deployments")
    organisation: Mapped[Organisation] = relationship()

    if TYPE_CHECKING:  # counted from the launches (``models.person``), read when asked
        recent_launch_count: int
        """Launches in the last ``LAUNCH_COUNT_DAYS`` days."""
        last_launch_at: dt.datetime | None
