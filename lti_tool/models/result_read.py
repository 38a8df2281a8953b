"""The outbox of results to read from an LMS gradebook (AGS), written in the launch's
transaction: the worker reads them after the commit, so a launch never waits for the LMS.
Those it gives up on stay, failed, for the admin to see and retry."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, timestamp
from lti_tool.models.certification import Course
from lti_tool.models.person import Person
from lti_tool.models.platform import Platform
from lti_tool.observability import REQUEST_ID_LENGTH, current_request_id


class ResultRead(Base):
    """Read this person's result in this activity's gradebook column. One per (person,
    activity): a later launch asks again through the same row; the row goes once read."""

    __tablename__ = "result_read"
    __table_args__ = (
        Index("ix_result_read_due", "next_attempt_at"),
        UniqueConstraint("person_id", "course_id"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    lineitem_url: Mapped[str] = mapped_column(String(2048))
    user_id: Mapped[str] = mapped_column(String(255))
    """The person's id in the LMS (``sub``)."""
    requested_at: Mapped[timestamp]
    """The latest launch asking: a read that started before it does not end the request."""
    tries: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[timestamp]
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """A worker's claim on the row, so two workers never read the same result at once."""
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None]
    """The LMS's HTTP status of the last failed try (None: no answer came)."""
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """When the worker gave up (refused for good, or unreachable for too long): kept for
    the admin (``/admin/deliveries``) and read no more until retried there or asked again
    by a launch."""
    created_at: Mapped[timestamp]
    request_id: Mapped[str | None] = mapped_column(
        String(REQUEST_ID_LENGTH), default=current_request_id
    )
    """The request that wrote it (its X-Request-ID): the worker logs and sends it again."""

    platform: Mapped[Platform] = relationship()
    person: Mapped[Person] = relationship()
    course: Mapped[Course] = relationship()
