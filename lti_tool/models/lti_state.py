"""OIDC login state and used nonces, kept in the database when Redis is not configured."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import Base


class LoginState(Base):
    __tablename__ = "lti_login_state"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class UsedNonce(Base):
    """A nonce is inserted once; the primary key makes a second use fail atomically."""

    __tablename__ = "lti_used_nonce"

    nonce: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
