"""People as the LMS identifies them: one Person per (platform, sub)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    bindparam,
    false,
    func,
    select,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from lti_tool.db import Base, intpk, str255, timestamp, utcnow
from lti_tool.models.organisation import Organisation
from lti_tool.models.platform import Deployment, Platform
from lti_tool.settings import LAUNCH_COUNT_DAYS


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("platform_id", "sub"),)

    id: Mapped[intpk]
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    sub: Mapped[str255]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    """Set from the deployment of the person's first launch."""
    name: Mapped[str] = mapped_column(String(300), default="")
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    locale: Mapped[str] = mapped_column(String(10), default="")
    created_at: Mapped[timestamp]
    last_seen_at: Mapped[timestamp]
    ever_granted: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Set when the person is first granted a permission in the tool (``services.grants``),
    and kept after a withdrawal. Most people are never granted anything: their launches
    and pages skip reading grants they cannot have (``grants.active_grants``)."""

    platform: Mapped[Platform] = relationship()
    organisation: Mapped[Organisation] = relationship()

    @property
    def display_name(self) -> str:
        full = self.name or " ".join(p for p in (self.given_name, self.family_name) if p)
        return full or self.email or self.sub


class Launch(Base):
    """A validated launch; later requests and LMS service calls refer back to it."""

    __tablename__ = "launch"
    __table_args__ = (
        #: A deployment's launches by time: the console's counts and last launch (below).
        Index("ix_launch_deployment_pk_created_at", "deployment_pk", "created_at"),
        #: A link's launches by time: whether a record past its days has a newer one
        #: (``services.retention.purge_launches``), one index probe, not a scan of them all.
        Index("ix_launch_link_key_created_at", "link_key", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    deployment_pk: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    message_type: Mapped[str] = mapped_column(String(64))
    context_id: Mapped[str | None] = mapped_column(String(255))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    """What the person held at the launch (its LTI roles and their grants then): where
    the launch lands. Access is decided on every request (``auth.current_permissions``)."""
    claims: Mapped[dict] = mapped_column(JSON)
    link_key: Mapped[str | None] = mapped_column(String(32))
    """The person's link this launch came through (``services.launches.link_key``): the
    course in the deployment and what the link places. Retention keeps each link's newest.
    None only in a record an older version wrote while it overlapped an upgrade: the
    retention run keys it first."""
    created_at: Mapped[timestamp]

    person: Mapped[Person] = relationship()
    deployment: Mapped[Deployment] = relationship()


def _launch_count_start() -> dt.datetime:
    return utcnow() - dt.timedelta(days=LAUNCH_COUNT_DAYS)


# A deployment's launches are counted from their rows when asked (the admin console), not
# kept on the deployment: a counter there would have every launch update the same row,
# one launch after another. Both load together, on first access (``undefer_group``), each
# from the launches' index on (deployment, time).
Deployment.recent_launch_count = deferred(  # type: ignore[assignment]
    select(func.count())
    .where(
        Launch.deployment_pk == Deployment.id,
        Launch.created_at
        >= bindparam(
            "launch_count_start",
            callable_=_launch_count_start,  # when the statement runs
            type_=Launch.__table__.c.created_at.type,
        ),
    )
    .correlate_except(Launch)
    .scalar_subquery(),
    group="launches",
)
Deployment.last_launch_at = deferred(  # type: ignore[assignment]
    select(func.max(Launch.created_at))
    .where(Launch.deployment_pk == Deployment.id)
    .correlate_except(Launch)
    .scalar_subquery(),
    group="launches",
)
