"""The outboxes (scores to send, notices to email, results to read): how workers take
their rows, and how far behind the worker is.

Taking rows: a worker claims a few due rows at a time with a lease (``claim_due``; on
PostgreSQL one UPDATE over rows selected ``FOR UPDATE SKIP LOCKED``, so workers claiming at
once take different rows and never wait for each other; on SQLite, one writer at a time,
each candidate by a conditional UPDATE), and gives back those it did not get to
(``release``: due again at once, for any worker) when told to stop or out of lease time.
``work_off`` is that loop for an outbox whose rows are handled one by one.

How far behind: read by /readyz and /metrics. A growing depth or age means the worker is
down, or a platform or the mail server has been refusing for a while (the admin console's
deliveries page says which). The workers' own passes: ``services.worker_status``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import QueryableAttribute, Session

from lti_tool.models import DeliveryStatus, ResultRead, ScoreDelivery
from lti_tool.models.catalogue import MailStatus, SessionNotice


@dataclasses.dataclass(frozen=True)
class OutboxState:
    depth: int
    oldest_age_seconds: float | None
    """None when the outbox is empty."""
    failed: int
    """Rows the worker gave up on (refused for good, or retried too long), kept until an
    admin retries them (``/admin/deliveries``): not waiting, but not done either."""


#: Each outbox: its table's creation time, what counts as waiting, and as given up on.
_OUTBOXES = {
    "scores": (
        ScoreDelivery.created_at,
        ScoreDelivery.status == DeliveryStatus.PENDING,
        ScoreDelivery.status == DeliveryStatus.FAILED,
    ),
    "notices": (
        SessionNotice.created_at,
        SessionNotice.mail_status == MailStatus.PENDING,
        SessionNotice.mail_status == MailStatus.FAILED,
    ),
    # a request goes once read: every row waits but those given up on
    "result_reads": (
        ResultRead.created_at,
        ResultRead.failed_at.is_(None),
        ResultRead.failed_at.is_not(None),
    ),
}


def outbox_states(session: Session, now: dt.datetime) -> dict[str, OutboxState]:
    """Scores to send, notices to email and results to read: how many, how old the oldest,
    and how many the worker gave up on. Two counts an outbox, each on its index (the
    status; result reads are few), not one scan of the table for both."""
    states = {}
    for name, (created_at, waiting, given_up) in _OUTBOXES.items():
        depth, oldest = session.execute(
            select(func.count(), func.min(created_at)).where(waiting)
        ).one()
        failed = session.scalar(select(func.count()).where(given_up)) or 0
        age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else None
        states[name] = OutboxState(depth, age, failed)
    return states


# --- taking rows --------------------------------------------------------------------------

#: How many due rows a worker claims at once. A claimed row is handled only while its
#: lease still has time for a whole one (``work_off``'s ``budget``); the rest are released
#: and claimed again.
CLAIM_BATCH = 10

J = TypeVar("J")


@dataclasses.dataclass(frozen=True)
class Claimable:
    """One outbox as workers take its rows."""

    id: QueryableAttribute[int]
    lease: QueryableAttribute[Any]
    """The column holding the claimer's lease end (None: nobody's)."""
    due: Callable[[dt.datetime], ColumnElement[bool]]
    """Rows to take now: waiting, their time come, nobody's lease on them."""
    order: tuple[QueryableAttribute[Any], ...]
    """Which due rows first (ending in the id, so that the order is total)."""
    waiting: ColumnElement[bool] | None = None
    """Rows still to handle: only those are released (None: every row waits)."""

    @property
    def model(self) -> Any:
        return self.id.class_


def claim(
    session: Session, box: Claimable, row_id: int, now: dt.datetime, lease_end: dt.datetime
) -> bool:
    """Take the row for this worker until ``lease_end``; False when another worker has it
    (or it is no longer due). One UPDATE, checked by its row count: atomic on SQLite and
    PostgreSQL alike."""
    result = session.execute(
        update(box.model)
        .where(box.id == row_id, box.due(now))
        .values({box.lease: lease_end})
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def due_ids(
    session: Session, box: Claimable, now: dt.datetime, limit: int, skip: Sequence[int] = ()
) -> list[int]:
    query = select(box.id).where(box.due(now))
    if skip:
        query = query.where(box.id.not_in(skip))
    return list(session.scalars(query.order_by(*box.order).limit(limit)))


def claim_due(
    session: Session,
    box: Claimable,
    now: dt.datetime,
    lease_end: dt.datetime,
    limit: int,
    skip: Sequence[int] = (),
) -> list[int]:
    """Take up to ``limit`` due rows (not in ``skip``) for this worker until ``lease_end``;
    their ids, in the outbox's order. On PostgreSQL one UPDATE of rows picked ``FOR UPDATE
    SKIP LOCKED``: a row another worker is claiming is passed over, not waited for.
    Elsewhere (SQLite has one writer at a time) each candidate by ``claim``."""
    if session.get_bind().dialect.name != "postgresql":
        return [
            i
            for i in due_ids(session, box, now, limit, skip)
            if claim(session, box, i, now, lease_end)
        ]
    picked = select(box.id).where(box.due(now))
    if skip:
        picked = picked.where(box.id.not_in(skip))
    picked = (
        picked.order_by(*box.order)
        .limit(limit)
        .with_for_update(skip_locked=True, of=box.model)
        .correlate(None)
    )
    claimed = session.execute(
        update(box.model)
        .where(box.id.in_(picked.scalar_subquery()))
        .values({box.lease: lease_end})
        .returning(box.id, *box.order)
        .execution_options(synchronize_session=False)
    ).all()
    return [row[0] for row in sorted(claimed, key=lambda row: tuple(row)[1:])]


def release(session_factory: Callable[[], Session], box: Claimable, ids: Sequence[int]) -> None:
    """Give claimed rows back unhandled: due again at once, for any worker."""
    query = update(box.model).where(box.id.in_(ids))
    if box.waiting is not None:
        query = query.where(box.waiting)
    with session_factory() as session, session.begin():
        session.execute(
            query.values({box.lease: None}).execution_options(synchronize_session=False)
        )


def work_off(
    session_factory: Callable[[], Session],
    box: Claimable,
    load: Callable[[Session, list[int]], list[J]],
    handle: Callable[[J], None],
    *,
    clock: Callable[[], dt.datetime],
    lease_seconds: int,
    budget: dt.timedelta,
    limit: int,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Handle up to ``limit`` due rows, claimed ``CLAIM_BATCH`` at a time: ``load`` reads
    the claimed rows (ids in order; one job each, in the same order) in the claim's
    transaction, ``handle`` does one with none open. ``stop`` is asked between rows: a
    worker told to stop finishes the row in hand and releases the rest of its claim, as it
    does those its lease has no more time for (``budget``: the most one row can take)."""
    tried: list[int] = []
    while len(tried) < limit and not (stop and stop()):
        started = clock()
        lease_end = started + dt.timedelta(seconds=lease_seconds)
        batch = min(CLAIM_BATCH, limit - len(tried))
        with session_factory() as session, session.begin():
            ids = claim_due(session, box, started, lease_end, batch, tried)
            jobs = load(session, ids) if ids else []
        if not ids:
            return
        tried.extend(ids)
        unhandled = list(zip(ids, jobs, strict=True))
        try:
            while unhandled and not (stop and stop()):
                if len(unhandled) < len(ids) and clock() + budget > lease_end:
                    break  # the first always fits: the lease covers one row
                handle(unhandled.pop(0)[1])
        finally:
            if unhandled:  # told to stop, out of lease time, or the database away
                release(session_factory, box, [row_id for row_id, _ in unhandled])
