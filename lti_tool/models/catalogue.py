"""The activity catalogue around a ``Course`` (tiltak): the competences it develops and to
which level, a classroom course's sessions, people's bookings of a session, and the
notices telling them of their bookings and of changes (``SessionNotice``, also the outbox
of the emails).

A course is one concept (``models.certification.Course``), whether certifications ask
for it or learning plans suggest it; these tables only hang off it.

**No session is ever overbooked.** Whoever books, cancels or moves a booking first locks
the session's row (``SELECT … FROM course_session WHERE id = … FOR UPDATE``:
``services.catalogue.lock_course_session``), then counts its ``booked`` rows and decides
seat or waitlist, in the same transaction (``services.bookings.book_session``, ``cancel_booking``,
``fill_from_waitlist``, a change of capacity). A second sign-up for the same session
waits for the first to commit and then counts its seat (tests/functional/
test_session_bookings.py shows it on PostgreSQL). SQLite has no row locks, but allows
one writer at a time; the waiting writer fails rather than overbooks.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, timestamp, utcnow
from lti_tool.models.certification import Course
from lti_tool.models.competence import Competence
from lti_tool.models.person import Person
from lti_tool.observability import REQUEST_ID_LENGTH, current_request_id


class CourseCompetence(Base):
    """A competence the course develops, and the level a participant reaches by it."""

    __tablename__ = "course_competence"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("competence.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    """One version's competence; plans match it to any version (framework + identifier)."""
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[int] = mapped_column(SmallInteger)
    """A value on the competence's scale."""

    course: Mapped[Course] = relationship(back_populates="competences")
    competence: Mapped[Competence] = relationship()


class CourseSession(Base):
    """One run of a classroom course: when (UTC), where, who teaches, how many may come.
    See the module docstring for how bookings are kept within ``capacity``."""

    __tablename__ = "course_session"
    __table_args__ = (Index("ix_course_session_course_starts", "course_id", "starts_at"),)

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="RESTRICT"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(String(500), default="")
    """Where it is held (an address, a room); empty when only online."""
    video_url: Mapped[str | None] = mapped_column(String(2048))
    """The video meeting's address (http(s) only)."""
    capacity: Mapped[int]
    """Seats; bookings beyond go on the waitlist (or are refused without one)."""
    waitlist: Mapped[bool] = mapped_column(default=True)
    """Whether people may queue for a seat once it is full."""
    instructor_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    signup_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """No new bookings after it; None: until the session starts."""
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    uid: Mapped[str] = mapped_column(String(100), unique=True)
    """The iCalendar UID: a UUID made with the session and never changed, so a calendar
    updates its event instead of adding another."""
    sequence: Mapped[int] = mapped_column(default=0)
    """The iCalendar SEQUENCE: one up at every change a calendar must show (time, place,
    cancellation)."""
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship(back_populates="sessions")
    instructor: Mapped[Person | None] = relationship()


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"
    """Holds a seat."""
    WAITLISTED = "waitlisted"
    """Queued for a seat, in the order of ``requested_at`` (then id)."""
    CANCELLED = "cancelled"


class SessionBooking(Base):
    """A person's booking of a session: a seat, a place on the waitlist, or cancelled.
    One row per person and session; booking again after cancelling reuses the row (with a
    new ``requested_at``, so a re-booking joins the back of the queue)."""

    __tablename__ = "session_booking"
    __table_args__ = (
        UniqueConstraint("session_id", "person_id"),
        Index("ix_session_booking_session_status", "session_id", "status", "requested_at"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int] = mapped_column(ForeignKey("course_session.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    status: Mapped[BookingStatus] = mapped_column(str_enum(BookingStatus, "booking_status"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    """When the person last asked for a seat: the waitlist's order."""
    booked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """When they got their seat (at once, or moved up from the waitlist)."""
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    """How often the booking changed since it was made (cancelled, booked again, moved up
    from the waitlist): added to the session's ``sequence`` in the person's calendar feed,
    so a calendar takes each change (iCalendar ignores an event whose SEQUENCE did not go
    up)."""
    created_at: Mapped[timestamp]

    session: Mapped[CourseSession] = relationship()
    person: Mapped[Person] = relationship()


class NoticeKind(enum.StrEnum):
    """What a notice tells its person about a session they booked."""

    BOOKED = "booked"
    WAITLISTED = "waitlisted"
    MOVED_UP = "moved_up"
    """A seat freed up and went to them from the waitlist."""
    CANCELLED_BOOKING = "cancelled_booking"
    """They cancelled their own booking."""
    SESSION_CHANGED = "session_changed"
    """The session's time or place changed."""
    SESSION_CANCELLED = "session_cancelled"


class MailStatus(enum.StrEnum):
    NONE = "none"
    """Not to be emailed: the person has no email address."""
    PENDING = "pending"
    """Waiting for the worker; sent only if mail is set up (``SMTP_URL``) and soon enough."""
    SENT = "sent"
    FAILED = "failed"
    """The mail server refused it, or retries ran out."""
    EXPIRED = "expired"
    """Too old to send when the worker came to it (mail not set up then, or the worker
    down): the notice stays on the person's page."""


class SessionNotice(Base):
    """A confirmation or change a person is told of (booked, waitlisted, moved up, the
    session changed or cancelled): listed on their bookings page, and the outbox of the
    email telling them (sent by the worker after the transaction that wrote it)."""

    __tablename__ = "session_notice"
    __table_args__ = (
        Index("ix_session_notice_person_created", "person_id", "created_at"),
        Index("ix_session_notice_mail_due", "mail_status", "mail_next_at"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(
        ForeignKey("course_session.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind, "notice_kind"))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    """The session as it was told: ``starts_at``, ``ends_at`` (ISO, UTC), ``place``, and
    ``reason`` for a cancellation."""
    created_at: Mapped[timestamp]
    mail_status: Mapped[MailStatus] = mapped_column(
        str_enum(MailStatus, "mail_status"), default=MailStatus.NONE
    )
    mail_tries: Mapped[int] = mapped_column(default=0, server_default="0")
    mail_next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """When the worker may try it (again)."""
    mail_locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    """A worker's claim on the row, so two workers never send the same mail."""
    mailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    mail_error: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(
        String(REQUEST_ID_LENGTH), default=current_request_id
    )
    """The request that wrote it (its X-Request-ID): the worker logs and sends it again."""

    session: Mapped[CourseSession] = relationship()
    person: Mapped[Person] = relationship()
