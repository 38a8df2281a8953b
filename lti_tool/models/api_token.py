"""Per-organisation API tokens for integrations (HR systems): only a hash is kept."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, intpk, str_enum, timestamp
from lti_tool.models.organisation import Organisation


class TokenScope(enum.StrEnum):
    READ = "read"
    WRITE = "write"


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 of the token; the token itself is shown once, when created."""
    scope: Mapped[TokenScope] = mapped_column(str_enum(TokenScope, "token_scope", length=10))
    created_at: Mapped[timestamp]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    organisation: Mapped[Organisation] = relationship()
