"""Results of placed activities, read from the LMS gradebook (AGS) by the worker, not the launch.

A launch of a link that places an e-learning activity holds its person's and deployment's
rows locked until it commits: reading the LMS there would keep every other launch of the
deployment waiting on the LMS. So ``queue_result_read`` only writes a request in the
launch's transaction, one per (person, activity) (a later launch asks again through the
same row), and ``read_due_results`` (the ``worker`` command) reads each after the commit:

- claimed a few at a time with a lease (``services.outbox.claim_due``, as
  ``score_delivery``: SKIP LOCKED on PostgreSQL), so two workers never read the same
  request at once, and released unread when the worker is told to stop;
- read with no transaction open, then recorded by ``plans.record_activity_result``, which
  locks the person before looking for the evidence, so a result is recorded once;
- a platform that cannot be reached is tried again with backoff for
  ``SCORE_RETRY_FOR_HOURS``; one that refuses for good (4xx), or is not reached by then,
  fails the request: it stays, with its tries and last error, for the admin to see beside
  the scores sent to the LMS (``/admin/deliveries``) and read again from there
  (``retry_read``), or when a launch asks again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from lti_tool import observability
from lti_tool.db import utcnow
from lti_tool.errors import NotFound
from lti_tool.lti import ags
from lti_tool.models import Launch, ResultRead
from lti_tool.services import outbox, plans
from lti_tool.services.score_delivery import MAX_ERROR_CHARS, next_try_at

log = logging.getLogger(__name__)


def queue_result_read(session: Session, launch: Launch, now: dt.datetime) -> bool:
    """On a launch of a placed activity whose column the tool may read: ask the worker to
    read the person's result there (one INSERT … ON CONFLICT; no HTTP). False: nothing to
    read."""
    found = plans.activity_to_read(session, launch)
    if found is None:
        return False
    course, lineitem_url = found
    values = {
        "organisation_id": launch.deployment.organisation_id,
        "platform_id": launch.deployment.platform_id,
        "person_id": launch.person.id,
        "course_id": course.id,
        "lineitem_url": lineitem_url,
        "user_id": launch.person.sub,
        "requested_at": now,
        "tries": 0,
        "next_attempt_at": now,
        "failed_at": None,
        "created_at": now,
    }
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ResultRead).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["person_id", "course_id"],
            set_={
                name: statement.excluded[name]
                for name in (
                    "lineitem_url",
                    "user_id",
                    "requested_at",
                    "tries",
                    "next_attempt_at",
                    "failed_at",
                    "request_id",  # the latest launch asking: the read is logged under it
                )
            },
        )
    )
    return True


@dataclasses.dataclass
class ReadCounts:
    """What one ``read_due_results`` pass did."""

    read: int = 0
    recorded: int = 0
    """Of those read, how many gave new evidence."""
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.read + self.retrying + self.failed

    def __str__(self) -> str:
        return (
            f"results read={self.read} recorded={self.recorded} "
            f"retrying={self.retrying} failed={self.failed}"
        )


@dataclasses.dataclass(frozen=True)
class _Job:
    """A claimed request, as plain data: it is read with no transaction open."""

    id: int
    organisation_id: int
    person_id: int
    course_id: int
    auth: ags.PlatformAuth
    lineitem_url: str
    user_id: str
    requested_at: dt.datetime
    request_id: str | None = None
    """The launch that asked: the read is logged and sent under it."""


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return (ResultRead.failed_at.is_(None) & (ResultRead.next_attempt_at <= now)) & or_(
        ResultRead.locked_until.is_(None), ResultRead.locked_until < now
    )


#: The result-read outbox as workers take its rows (``outbox.claim_due``): every row waits
#: until read or failed.
READS = outbox.Claimable(
    id=ResultRead.id,
    lease=ResultRead.locked_until,
    due=_due,
    order=(ResultRead.next_attempt_at, ResultRead.id),
    waiting=ResultRead.failed_at.is_(None),
)
#: The most HTTP calls one read makes (token, results, with room to spare).
READ_CALLS = 3


def _jobs(session: Session, ids: list[int]) -> list[_Job]:
    """The claimed requests, in the order of ``ids``."""
    rows = {
        row.id: row
        for row in session.scalars(
            select(ResultRead)
            .where(ResultRead.id.in_(ids))
            .options(selectinload(ResultRead.platform))
        )
    }
    return [
        _Job(
            id=row.id,
            organisation_id=row.organisation_id,
            person_id=row.person_id,
            course_id=row.course_id,
            auth=ags.PlatformAuth.of(row.platform),
            lineitem_url=row.lineitem_url,
            user_id=row.user_id,
            requested_at=row.requested_at,
            request_id=row.request_id,
        )
        for row in (rows[i] for i in ids)
    ]


def _read(client: ags.AgsClient, job: _Job) -> ags.Result | ags.AgsError | None:
    """The HTTP part: the person's result in the column (None: none there yet)."""
    try:
        results = client.get_results(job.auth, job.lineitem_url, job.user_id)
    except ags.AgsError as exc:
        return exc
    except Exception as exc:  # a bug or a missing key: keep the request, try again
        log.exception("result read %s: unexpected error", job.id)
        return ags.AgsError(f"{type(exc).__name__}: {exc}", permanent=False)
    return next((r for r in results if r.user_id == job.user_id), None)


def _record(
    session_factory: Callable[[], Session],
    job: _Job,
    outcome: ags.Result | ags.AgsError | None,
    now: dt.datetime,
    settings: Any,
    counts: ReadCounts,
) -> None:
    with session_factory() as session, session.begin():
        if not isinstance(outcome, ags.AgsError):
            # recorded even when another worker took the request over meanwhile: the
            # person's row is locked before looking for the evidence, so it is recorded once
            written = plans.record_activity_result(
                session, job.organisation_id, job.person_id, job.course_id, outcome, now
            )
            counts.read += 1
            counts.recorded += bool(written)
            # a launch that asked again while it was read (the DELETE rechecks the row)
            # keeps the request: it is read once more
            done = session.execute(
                delete(ResultRead).where(
                    ResultRead.id == job.id, ResultRead.requested_at == job.requested_at
                )
            )
            if cast(CursorResult[Any], done).rowcount != 1:
                session.execute(
                    update(ResultRead).where(ResultRead.id == job.id).values(locked_until=None)
                )
            return
        row = session.get(ResultRead, job.id)
        if row is None:  # its person, activity or platform went away meanwhile
            return
        row.tries += 1
        row.locked_until = None
        row.last_error = str(outcome)[:MAX_ERROR_CHARS]
        row.last_status = outcome.status
        give_up_at = row.requested_at + dt.timedelta(hours=settings.SCORE_RETRY_FOR_HOURS)
        if outcome.permanent or now >= give_up_at:
            log.warning(
                "result read %s (person %s, activity %s): given up after %s tries: %s",
                row.id,
                row.person_id,
                row.course_id,
                row.tries,
                outcome,
            )
            row.failed_at = now
            counts.failed += 1
            return
        row.next_attempt_at = next_try_at(row.tries, outcome, now, settings)
        log.info(
            "result read %s (person %s, activity %s): try %s failed, again at %s: %s",
            row.id,
            row.person_id,
            row.course_id,
            row.tries,
            row.next_attempt_at.isoformat(),
            outcome,
        )
        counts.retrying += 1


def read_due_results(
    session_factory: Callable[[], Session],
    services: Any,
    now: dt.datetime | None = None,
    limit: int = 100,
    *,
    client: ags.AgsClient | None = None,
    stop: Callable[[], bool] | None = None,
) -> ReadCounts:
    """Read up to ``limit`` due results, claimed a few at a time, each read with no
    transaction open and recorded in a transaction of its own (``session_factory``: the
    worker's sessions; ``now``: the clock, by default the real time). ``stop`` is asked
    between reads: a worker told to stop finishes the read in hand and releases the rest."""
    settings = services.settings
    client = client or ags.AgsClient.from_services(services)
    counts = ReadCounts()

    def clock() -> dt.datetime:
        return now or utcnow()

    def handle(job: _Job) -> None:
        with observability.bound_outbox_row("result_reads", job.id, job.request_id):
            _record(session_factory, job, _read(client, job), clock(), settings, counts)

    outbox.work_off(
        session_factory,
        READS,
        _jobs,
        handle,
        clock=clock,
        lease_seconds=settings.SCORE_LEASE_SECONDS,
        budget=dt.timedelta(seconds=READ_CALLS * settings.HTTP_TIMEOUT_SECONDS),
        limit=limit,
        stop=stop,
    )
    return counts


# --- for the admin ------------------------------------------------------------------------------


def reads_of(
    session: Session, organisation_id: int, *, failed: bool, limit: int = 200
) -> Sequence[ResultRead]:
    """The organisation's reads that failed (newest first), or (``failed`` False) those
    that failed a try and wait for another (by next try); with their person and activity."""
    query = (
        select(ResultRead)
        .where(ResultRead.organisation_id == organisation_id)
        .options(
            selectinload(ResultRead.person),
            selectinload(ResultRead.course),
            selectinload(ResultRead.platform),
        )
    )
    if failed:
        query = query.where(ResultRead.failed_at.is_not(None)).order_by(
            ResultRead.failed_at.desc(), ResultRead.id.desc()
        )
    else:
        query = query.where(ResultRead.failed_at.is_(None), ResultRead.tries > 0).order_by(
            ResultRead.next_attempt_at, ResultRead.id
        )
    return session.scalars(query.limit(limit)).all()


def retry_read(
    session: Session, organisation_id: int, read_id: int, now: dt.datetime | None = None
) -> bool:
    """Read a failed result again, due now, its tries kept (False: it has not failed). One
    that fails again for now fails again at once (its request is older than the retry
    window), as a score sent again does. Another organisation's read is not found."""
    row = session.scalar(
        select(ResultRead).where(
            ResultRead.id == read_id, ResultRead.organisation_id == organisation_id
        )
    )
    if row is None:
        raise NotFound(f"result read {read_id} is not organisation {organisation_id}'s")
    if row.failed_at is None:
        return False
    row.failed_at = None
    row.next_attempt_at = now or utcnow()
    row.locked_until = None
    session.flush()
    return True
