"""Organisations: the municipalities (kommuner) that own everything else."""

from __future__ import annotations

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.db import Base, intpk, timestamp


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    auto_activate_deployments: Mapped[bool] = mapped_column(default=False, server_default=false())
    """When true, a deployment first seen in a launch is active at once instead of pending."""
    created_at: Mapped[timestamp]

    def __repr__(self) -> str:
        return f"<Organisation {self.name!r}>"
