"""What people are told of the sessions they booked: a notice per confirmation or change
(booked, waitlisted, moved up, booking cancelled, session changed or cancelled), written
in the transaction that made the change, and emailed by the worker after it commits.

A notice is always listed on the person's bookings page; it is also an outbox row
(``SessionNotice.mail_status``) when the person has an email address. The worker sends
those only when mail is set up (``SMTP_URL``, ``MAIL_FROM``), and only while they are
fresh (``MAIL_MAX_AGE_HOURS``): mail set up later, or a worker that was down, does not
flood people with old news. Sending follows the score outbox (``services.score_delivery``):
rows are claimed a few at a time with a lease (``services.outbox.claim_due``: SKIP LOCKED
on PostgreSQL), sent outside any transaction, released unsent when the worker is told to
stop, retried with backoff after a temporary failure, failed for good after a permanent one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol, cast
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask_babel import force_locale, gettext
from sqlalchemy import ColumnElement, CursorResult, or_, select, update
from sqlalchemy.orm import Session, selectinload

from lti_tool import observability
from lti_tool.domain.texts import localized
from lti_tool.models import (
    BookingStatus,
    CourseSession,
    MailStatus,
    NoticeKind,
    Person,
    SessionBooking,
    SessionNotice,
)
from lti_tool.services import outbox
from lti_tool.services.score_delivery import retry_delay

log = logging.getLogger(__name__)

#: How much of a mail server's error is kept on the row.
MAX_ERROR_CHARS = 2000
#: How a notice's time is written (in the tool's time zone).
WHEN_FORMAT = "EEE d MMM y HH:mm"
#: Temporary failures are retried for this many tries, then failed.
MAX_MAIL_TRIES = 8
#: The most socket waits one mail takes (connect, greeting, STARTTLS, login, send, quit),
#: each up to HTTP_TIMEOUT_SECONDS: settings require SCORE_LEASE_SECONDS to cover six.
MAIL_CALLS = 6


# --- writing notices (in the caller's transaction) ------------------------------------------


def session_detail(course_session: CourseSession) -> dict[str, Any]:
    """The session as a notice tells it, frozen: a later change is a notice of its own."""
    return {
        "starts_at": course_session.starts_at.isoformat(),
        "ends_at": course_session.ends_at.isoformat(),
        "place": course_session.place,
        "reason": course_session.cancel_reason,
    }


def add_notices(
    session: Session,
    course_session: CourseSession,
    person_ids: Iterable[int],
    kind: NoticeKind,
    now: dt.datetime,
) -> list[SessionNotice]:
    """Tell these people of ``kind`` (flush only): a notice each, to be emailed to those
    with an email address."""
    ids = sorted(set(person_ids))
    if not ids:
        return []
    emails = {
        person_id: email
        for person_id, email in session.execute(
            select(Person.id, Person.email).where(Person.id.in_(ids))
        )
    }
    detail = session_detail(course_session)
    rows = [
        SessionNotice(
            organisation_id=course_session.organisation_id,
            person_id=person_id,
            session_id=course_session.id,
            kind=kind,
            detail=detail,
            created_at=now,
            mail_status=MailStatus.PENDING if emails.get(person_id) else MailStatus.NONE,
            mail_next_at=now if emails.get(person_id) else None,
        )
        for person_id in ids
    ]
    session.add_all(rows)
    session.flush()
    return rows


def notify_participants(
    session: Session, course_session: CourseSession, kind: NoticeKind, now: dt.datetime
) -> list[SessionNotice]:
    """Tell everyone holding a seat or a place on the waitlist that the session changed
    or was cancelled."""
    people = session.scalars(
        select(SessionBooking.person_id).where(
            SessionBooking.session_id == course_session.id,
            SessionBooking.status.in_([BookingStatus.BOOKED, BookingStatus.WAITLISTED]),
        )
    ).all()
    return add_notices(session, course_session, people, kind, now)


def notices_of(
    session: Session, organisation_id: int, person_id: int, limit: int = 30
) -> list[SessionNotice]:
    """The person's latest notices, newest first, with their sessions and courses (two
    statements)."""
    return list(
        session.scalars(
            select(SessionNotice)
            .where(
                SessionNotice.organisation_id == organisation_id,
                SessionNotice.person_id == person_id,
            )
            .options(selectinload(SessionNotice.session).joinedload(CourseSession.course))
            .order_by(SessionNotice.created_at.desc(), SessionNotice.id.desc())
            .limit(limit)
        )
    )


# --- what a notice says ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoticeText:
    subject: str
    body: str


def describe(notice: SessionNotice, locale: str, zone: str) -> NoticeText:
    """What the notice says, in ``locale`` (the page's, or the person's for an email)."""
    title = localized(notice.session.course.title, locale) or notice.session.course.code
    detail = notice.detail or {}

    def when(key: str) -> str:
        moment = dt.datetime.fromisoformat(detail[key])
        return format_datetime(moment, WHEN_FORMAT, tzinfo=ZoneInfo(zone), locale=locale)

    values = {
        "course": title,
        "starts": when("starts_at"),
        "ends": when("ends_at"),
        "place": detail.get("place") or "–",
    }
    with force_locale(locale):
        subject, body = _texts(notice.kind, values)
        if notice.kind == NoticeKind.SESSION_CANCELLED and detail.get("reason"):
            body += " " + gettext("Reason: %(reason)s", reason=detail["reason"])
    return NoticeText(subject, body)


def _texts(kind: NoticeKind, v: dict[str, str]) -> tuple[str, str]:
    if kind == NoticeKind.BOOKED:
        return gettext("Booked: %(course)s", **v), gettext(
            "You have a seat at %(course)s, %(starts)s, %(place)s.", **v
        )
    if kind == NoticeKind.WAITLISTED:
        return gettext("On the waitlist: %(course)s", **v), gettext(
            "The session of %(course)s, %(starts)s, is full: you are on its waitlist and "
            "get a seat if one frees up.",
            **v,
        )
    if kind == NoticeKind.MOVED_UP:
        return gettext("You have a seat: %(course)s", **v), gettext(
            "A seat freed up: you have moved up from the waitlist to a seat at %(course)s, "
            "%(starts)s, %(place)s.",
            **v,
        )
    if kind == NoticeKind.CANCELLED_BOOKING:
        return gettext("Booking cancelled: %(course)s", **v), gettext(
            "Your booking of %(course)s, %(starts)s, is cancelled.", **v
        )
    if kind == NoticeKind.SESSION_CHANGED:
        return gettext("Changed: %(course)s", **v), gettext(
            "The session of %(course)s you booked has changed: now %(starts)s to %(ends)s, "
            "%(place)s.",
            **v,
        )
    return gettext("Cancelled: %(course)s", **v), gettext(
        "The session of %(course)s on %(starts)s is cancelled.", **v
    )


# --- sending (the worker) -------------------------------------------------------------------


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class MailError(Exception):
    """A mail not sent; ``permanent`` when sending it again would fail the same way."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclasses.dataclass(frozen=True)
class SmtpMailer:
    """Sends through the server of ``SMTP_URL``: ``smtp://[user:password@]host[:port]``
    (port 25 by default; STARTTLS whenever the server offers it) or
    ``smtps://…`` (TLS from the start, port 465 by default)."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float) -> SmtpMailer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (465 if tls else 25),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        try:
            server: smtplib.SMTP
            if self.tls:
                server = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                server.ehlo()
                if not self.tls and server.has_extn("starttls"):
                    server.starttls(context=context)
                    server.ehlo()
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(message)
        except smtplib.SMTPResponseException as exc:  # a reply: 4xx for now, 5xx for good
            permanent = exc.smtp_code >= 500
            raise MailError(f"{exc.smtp_code} {exc.smtp_error!r}", permanent=permanent) from exc
        except smtplib.SMTPNotSupportedError as exc:  # e.g. a non-ASCII address, no SMTPUTF8
            raise MailError(f"{type(exc).__name__}: {exc}", permanent=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"recipient refused: {exc.recipients}", permanent=True) from exc
        except (OSError, smtplib.SMTPException) as exc:  # no answer, a broken connection
            raise MailError(f"{type(exc).__name__}: {exc}", permanent=False) from exc


def mailer_from_settings(settings: Any) -> SmtpMailer | None:
    """The mailer ``SMTP_URL`` sets up; None without it (notices stay on the page only)."""
    if not settings.SMTP_URL:
        return None
    return SmtpMailer.from_url(settings.SMTP_URL, settings.HTTP_TIMEOUT_SECONDS)


@dataclasses.dataclass
class MailCounts:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0

    def __str__(self) -> str:
        return (
            f"mail sent={self.sent} retrying={self.retrying} failed={self.failed} "
            f"expired={self.expired}"
        )


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return (
        (SessionNotice.mail_status == MailStatus.PENDING)
        & (SessionNotice.mail_next_at <= now)
        & or_(SessionNotice.mail_locked_until.is_(None), SessionNotice.mail_locked_until < now)
    )


#: The notice outbox as workers take its rows (``outbox.claim_due``).
NOTICES = outbox.Claimable(
    id=SessionNotice.id,
    lease=SessionNotice.mail_locked_until,
    due=_due,
    order=(SessionNotice.mail_next_at, SessionNotice.id),
    waiting=SessionNotice.mail_status == MailStatus.PENDING,
)


def expire_old_mail(session: Session, now: dt.datetime, max_age: dt.timedelta) -> int:
    """Give up mailing notices older than ``max_age``: they stay on the person's page."""
    result = session.execute(
        update(SessionNotice)
        .where(
            SessionNotice.mail_status == MailStatus.PENDING,
            SessionNotice.created_at < now - max_age,
        )
        .values(mail_status=MailStatus.EXPIRED, mail_locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


def _one_line(value: str) -> str:
    """A header value on one line: a title or name from the LMS may hold CR/LF."""
    return " ".join(value.split())


def _recipient(name: str, email: str) -> Address:
    """The person's address; an internationalised domain goes as IDNA so that servers
    without SMTPUTF8 take it (a non-ASCII local part still needs SMTPUTF8)."""
    local, _, domain = email.strip().rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an email address: {email!r}")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return Address(display_name=_one_line(name), username=local, domain=domain)


def _message(notice: SessionNotice, sender: str, zone: str, default_locale: str) -> EmailMessage:
    person = notice.person
    locale = person.locale if person.locale in ("nb", "nn", "en") else default_locale
    text = describe(notice, locale, zone)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = _recipient(person.display_name or "", person.email or "")
    message["Subject"] = _one_line(text.subject)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(text.body + "\n")
    return message


def deliver_notices(
    session_factory: Callable[[], Session],
    mailer: Mailer,
    settings: Any,
    *,
    now: Callable[[], dt.datetime],
    zone: str,
    limit: int = 100,
    stop: Callable[[], bool] | None = None,
) -> MailCounts:
    """Email up to ``limit`` due notices, claimed a few at a time, each sent with no
    transaction open and its outcome recorded in a transaction of its own
    (``session_factory`` makes sessions of the worker's own). ``stop`` is asked between
    notices: a worker told to stop finishes the one it is sending and releases the rest."""
    counts = MailCounts()
    max_age = dt.timedelta(hours=settings.MAIL_MAX_AGE_HOURS)
    with session_factory() as session, session.begin():
        counts.expired = expire_old_mail(session, now(), max_age)

    def load(session: Session, ids: list[int]) -> list[_Mail]:
        return [_write(session, notice_id, settings, zone) for notice_id in ids]

    def handle(mail: _Mail) -> None:
        with observability.bound_outbox_row("notices", mail.id, mail.request_id):
            if mail.message is None:
                log.warning("notice %s: cannot write its mail: %s", mail.id, mail.error)
            error = _send(mailer, mail.message, mail.id) if mail.message is not None else mail.error
            _record(session_factory, mail.id, error, now(), settings, counts)

    outbox.work_off(
        session_factory,
        NOTICES,
        load,
        handle,
        clock=now,
        lease_seconds=settings.SCORE_LEASE_SECONDS,
        budget=dt.timedelta(seconds=MAIL_CALLS * settings.HTTP_TIMEOUT_SECONDS),
        limit=limit,
        stop=stop,
    )
    return counts


@dataclasses.dataclass(frozen=True)
class _Mail:
    id: int
    request_id: str | None
    """The request that wrote the notice: its mail is logged under it."""
    message: EmailMessage | None
    error: MailError | None = None
    """Why it cannot be written (``message`` None)."""


def _write(session: Session, notice_id: int, settings: Any, zone: str) -> _Mail:
    """A claimed notice's mail; one that cannot be written fails alone and keeps no others
    back."""
    notice = session.get_one(SessionNotice, notice_id)
    try:
        message = _message(notice, settings.MAIL_FROM, zone, settings.DEFAULT_LOCALE)
    except (ValueError, UnicodeError) as exc:
        error = MailError(f"{type(exc).__name__}: {exc}", permanent=True)
        return _Mail(notice_id, notice.request_id, None, error)
    return _Mail(notice_id, notice.request_id, message)


def _send(mailer: Mailer, message: EmailMessage, notice_id: int) -> MailError | None:
    try:
        mailer.send(message)
    except MailError as exc:
        return exc
    except Exception as exc:  # a bug: keep the notice, try again later
        log.exception("notice %s: unexpected error mailing it", notice_id)
        return MailError(f"{type(exc).__name__}: {exc}", permanent=False)
    return None


def _record(
    session_factory: Callable[[], Session],
    notice_id: int,
    error: MailError | None,
    now: dt.datetime,
    settings: Any,
    counts: MailCounts,
) -> None:
    with session_factory() as session, session.begin():
        row = session.get(SessionNotice, notice_id)
        if row is None:  # deleted meanwhile (its session or person went away)
            return
        row.mail_tries += 1
        row.mail_locked_until = None
        if error is None:
            row.mail_status, row.mailed_at, row.mail_error = MailStatus.SENT, now, None
            counts.sent += 1
            return
        row.mail_error = str(error)[:MAX_ERROR_CHARS]
        if error.permanent or row.mail_tries >= MAX_MAIL_TRIES:
            row.mail_status = MailStatus.FAILED
            counts.failed += 1
            log.warning("notice %s: mail failed after %s tries: %s", row.id, row.mail_tries, error)
            return
        delay = retry_delay(
            row.mail_tries, settings.SCORE_RETRY_BASE_SECONDS, settings.SCORE_RETRY_MAX_SECONDS
        )
        row.mail_next_at = now + dt.timedelta(seconds=delay)
        counts.retrying += 1
