"""Invitations to register a platform by LTI Dynamic Registration."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, timestamp
from lti_tool.models.organisation import Organisation


class RegistrationInvite(Base):
    """A one-time secret in a registration URL: registration is not open to the world.

    Only a hash of the secret is stored; the URL is shown once, to the admin who made it.
    """

    __tablename__ = "registration_invite"

    id: Mapped[intpk]
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[timestamp]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id", ondelete="SET NULL"))
    """The platform registered with this invite, once used."""

    organisation: Mapped[Organisation] = relationship()
