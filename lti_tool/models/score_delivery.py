"""The outbox of scores for LMS gradebooks (AGS), written in the attempt's transaction.

A worker sends them after the commit, in order per (platform, line item, user), retrying
what the LMS could not take now and keeping what it refused for an admin to see.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp
from lti_tool.models.platform import Platform
from lti_tool.observability import REQUEST_ID_LENGTH, current_request_id


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    """Waiting for its turn, or for a retry after a temporary failure."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """The LMS refused it for good (4xx), or retries ran out; an admin may retry."""


class ScoreDelivery(Base):
    __tablename__ = "score_delivery"
    __table_args__ = (
        Index("ix_score_delivery_due", "status", "next_attempt_at"),
        UniqueConstraint("ordering_key", "follows_id"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("attempt.id", ondelete="SET NULL"), index=True
    )
    ordering_key: Mapped[str] = mapped_column(String(64), index=True)
    """Scores with the same key (platform, line item, user) are sent oldest first."""
    follows_id: Mapped[int | None]
    """The id of the score of the same key queued just before this one (0: the first).
    Unique with the key: of two transactions that saw the same latest score, only one
    queues after it (rows queued before this column existed have None)."""
    lineitem_url: Mapped[str | None] = mapped_column(String(2048))
    """The launch's line item; None = find or create it in ``lineitems_url`` by resourceId."""
    lineitems_url: Mapped[str | None] = mapped_column(String(2048))
    line_item: Mapped[dict] = mapped_column(JSON, default=dict)
    """What to create when the line item must be found: label, resourceId, tag, scoreMaximum."""
    score: Mapped[dict] = mapped_column(JSON)
    """The AGS score document, exactly as it will be posted."""
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    tries: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[timestamp]
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """A worker's claim on the row, so two workers never send the same score."""
    last_status: Mapped[int | None]
    """The LMS's last HTTP status (None: no answer — timeout or network error)."""
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]
    request_id: Mapped[str | None] = mapped_column(
        String(REQUEST_ID_LENGTH), default=current_request_id
    )
    """The request that wrote it (its X-Request-ID): the worker logs and sends it again."""
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    platform: Mapped[Platform] = relationship()
