"""Scores for the LMS gradebook (AGS): queued with the attempt, sent by the worker after it.

``queue_score`` writes an outbox row (``ScoreDelivery``) in the caller's transaction, so
the score exists exactly when the submitted attempt does. Each row names the row of its
(platform, line item, user) it follows, unique with them: two transactions that saw the
same latest score cannot both queue after it (``services.gradebook`` relies on it to queue
a grade caught up on launch once). ``deliver_due`` (the ``worker``
command) sends the rows, each after the transaction that claimed it has committed:

- **in order**: per (platform, line item, user) only the oldest pending row is due, so a
  newer score never overtakes an older one;
- **once**: a worker claims a few due rows at a time with a lease (on PostgreSQL one
  UPDATE over rows selected ``FOR UPDATE SKIP LOCKED``, so workers claiming at once take
  different rows without waiting; elsewhere a conditional UPDATE a row, checked by its row
  count), so two workers never send the same row; a delivered row is never sent again. A
  worker told to stop finishes the score it is sending and releases the rest of its claim
  at once, for another worker to take;
- **not lost**: a temporary failure (5xx, 408, 429, timeout, network) is retried with
  exponential backoff and full jitter for ``SCORE_RETRY_FOR_HOURS``; a permanent one
  (4xx) fails at once and waits for an admin to retry it from ``/admin/deliveries``.

A worker that dies between the platform's answer and recording it leaves its lease to
expire, and the score is sent again: AGS scores replace each other, so that repeat is
harmless, and it is the only one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, joinedload

from lti_tool import observability
from lti_tool.db import utcnow
from lti_tool.errors import NotFound
from lti_tool.lti import ags
from lti_tool.lti import claims as c
from lti_tool.models import DeliveryStatus, Launch, Person, ScoreDelivery
from lti_tool.services import outbox

log = logging.getLogger(__name__)

CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"
#: How much of an error is kept on the row (and shown to the admin).
MAX_ERROR_CHARS = 2000
#: How many due rows a worker claims at once. A claimed row is sent only while its lease
#: still has time for a whole delivery (``DELIVERY_CALLS`` HTTP timeouts); the rest are
#: released and claimed again.
CLAIM_BATCH = 10
#: The most HTTP calls one delivery makes (token, line item lookup and creation, score,
#: with room to spare): settings require SCORE_LEASE_SECONDS to cover this many timeouts.
DELIVERY_CALLS = 6


# --- queueing (in the caller's transaction) ----------------------------------------------


def iso_timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as Moodle sends it: 2026-11-22T10:35:46.041+00:00."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place in a score")
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def is_canvas(launch: Launch) -> bool:
    tool_platform = launch.claims.get(c.TOOL_PLATFORM)
    if isinstance(tool_platform, Mapping):
        code = tool_platform.get("product_family_code")
        if isinstance(code, str) and code:
            return code.lower() == "canvas"
    return (launch.deployment.platform.product_family or "").lower() == "canvas"


def score_document(
    *,
    user_id: str,
    score_given: float,
    score_maximum: float,
    comment: str | None,
    timestamp: dt.datetime,
    submitted_at: dt.datetime | None = None,
    canvas: bool = False,
) -> dict[str, Any]:
    """The AGS 2.0 score, exactly as it is posted (application/vnd.ims.lis.v1.score+json)."""
    for name, value in (("score_given", score_given), ("score_maximum", score_maximum)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
    if score_maximum <= 0 or score_given < 0:
        raise ValueError(f"score {score_given}/{score_maximum}: need 0 ≤ given and 0 < maximum")
    document: dict[str, Any] = {
        "userId": user_id,
        "scoreGiven": score_given,
        "scoreMaximum": score_maximum,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": iso_timestamp(timestamp),
    }
    if comment:
        document["comment"] = comment
    if canvas:  # without it Canvas marks the submission late (it takes the time of receipt)
        document[CANVAS_SUBMISSION] = {"submittedAt": iso_timestamp(submitted_at or timestamp)}
    return document


def _line_item_spec(line_item: Mapping[str, Any] | None, score_maximum: float) -> dict[str, Any]:
    """What to find (resourceId) or create (label, tag, scoreMaximum) when the launch has
    no line item of its own."""
    if not line_item:
        return {}
    resource_id = str(line_item.get("resourceId") or "").strip()
    label = str(line_item.get("label") or "").strip()
    if not resource_id or not label:
        raise ValueError("line_item needs a resourceId and a label")
    spec: dict[str, Any] = {
        "resourceId": resource_id,
        "label": label,
        "scoreMaximum": line_item.get("scoreMaximum") or score_maximum,
    }
    if line_item.get("tag"):
        spec["tag"] = str(line_item["tag"])
    return spec


def ordering_key(platform_id: int, target: str, user_id: str) -> str:
    """Scores with the same key (platform, line item, user) are delivered oldest first."""
    return hashlib.sha256(f"{platform_id}\n{target}\n{user_id}".encode()).hexdigest()


def queue_score(
    session: Session,
    *,
    organisation_id: int,
    attempt_id: int | None,
    launch: Launch,
    score_given: float,
    score_maximum: float,
    comment: str | None,
    line_item: Mapping[str, Any] | None,
    submitted_at: dt.datetime | None,
    now: dt.datetime | None = None,
    if_changed: bool = False,
    yield_on_conflict: bool = False,
) -> ScoreDelivery | None:
    """Queue the score of a submitted attempt for the launch's gradebook (flush only).

    Call it in the transaction that submits the attempt; the caller commits both. The
    score goes to the launch's own line item (the AGS claim's ``lineitem``), else to the
    line item of ``line_item["resourceId"]`` in the claim's ``lineitems`` container,
    created with ``label``, ``tag`` and ``scoreMaximum`` (default: ``score_maximum``)
    when the LMS has none.

    Each score follows the latest one of its key (platform, line item, user): of two
    transactions that saw the same latest score, one queues after it and the other, as
    PostgreSQL makes it wait for the first, reads again and queues after that one.
    ``if_changed``: queue nothing when the latest score queued for this person and line
    item (whatever became of it) is this grade already. ``yield_on_conflict``: queue
    nothing when another transaction queued a score for them at the same moment (a
    launch catching up: two launches at once queue the grade once).

    Returns None, queueing nothing, when the LMS takes no grades from this launch: no AGS
    claim (Moodle: "accept grades" not ticked), no score scope, or no line item and no
    way to find one (no ``lineitems``, no ``line_item``, or no lineitem scope to create it).
    """
    endpoint = ags.endpoint_from_claims(launch.claims)
    if endpoint is None or not endpoint.grants(ags.SCOPE_SCORE):
        return None
    spec = _line_item_spec(line_item, score_maximum)
    platform = launch.deployment.platform
    user_id = str(launch.claims.get("sub") or launch.person.sub)
    if endpoint.lineitem:
        target = endpoint.lineitem
    elif endpoint.lineitems and spec and endpoint.grants(ags.SCOPE_LINEITEM):
        target = f"{endpoint.lineitems}\n{spec['resourceId']}"
    else:
        log.info(
            "launch %s: AGS without a line item to send to (lineitems=%s, line_item=%s, "
            "lineitem scope=%s); score not queued",
            launch.id,
            bool(endpoint.lineitems),
            bool(spec),
            endpoint.grants(ags.SCOPE_LINEITEM),
        )
        return None
    now = now or utcnow()
    key = ordering_key(platform.id, target, user_id)
    document = score_document(
        user_id=user_id,
        score_given=score_given,
        score_maximum=score_maximum,
        comment=comment,
        timestamp=now,
        submitted_at=submitted_at,
        canvas=is_canvas(launch),
    )
    for _ in range(MAX_CHAIN_TRIES):
        latest = latest_score(session, key)
        if if_changed and latest is not None and same_grade(latest[1], document):
            return None
        delivery = _insert_unless_taken(
            session,
            organisation_id=organisation_id,
            platform_id=platform.id,
            attempt_id=attempt_id,
            ordering_key=key,
            follows_id=latest[0] if latest else 0,
            lineitem_url=endpoint.lineitem,
            lineitems_url=endpoint.lineitems,
            line_item=spec,
            score=document,
            status=DeliveryStatus.PENDING,
            tries=0,
            next_attempt_at=now,
            created_at=now,
        )
        if delivery is not None:
            return delivery
        if yield_on_conflict:  # another transaction queued a score for them just now
            return None
    raise RuntimeError(  # pragma: no cover - five transactions queueing in the same instant
        f"could not queue a score for key {key}: too much contention"
    )


#: How often a score that must be queued reads the latest score again when another
#: transaction queued one for the same person and line item at the same moment.
MAX_CHAIN_TRIES = 5


def _insert_unless_taken(session: Session, **values: Any) -> ScoreDelivery | None:
    """INSERT … ON CONFLICT DO NOTHING: the new row (returned by the INSERT, not read
    again), or None when another row has its (ordering_key, follows_id). On PostgreSQL it
    waits for a concurrent insert of the same pair to commit or roll back; SQLite runs one
    writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(ScoreDelivery)
    else:
        statement = sqlite.insert(ScoreDelivery)
    statement = (
        statement.values(**values)
        .on_conflict_do_nothing(index_elements=["ordering_key", "follows_id"])
        .returning(ScoreDelivery)
    )
    inserted: ScoreDelivery | None = session.scalars(statement).first()
    return inserted


def latest_score(session: Session, key: str) -> tuple[int, dict[str, Any]] | None:
    """The id and document of the newest score of this key (platform, line item, user)."""
    found = session.execute(
        select(ScoreDelivery.id, ScoreDelivery.score)
        .where(ScoreDelivery.ordering_key == key)
        .order_by(ScoreDelivery.id.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found else None


def same_grade(sent: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Whether two score documents give the same grade (the comment and time aside)."""
    return all(
        isinstance(sent.get(name), int | float)
        and math.isclose(float(sent[name]), float(document[name]), abs_tol=1e-6)
        for name in ("scoreGiven", "scoreMaximum")
    )


# --- delivering (the worker) -------------------------------------------------------------


@dataclasses.dataclass
class DeliveryCounts:
    """What one ``deliver_due`` pass did."""

    delivered: int = 0
    retrying: int = 0
    """Failed for now; tried again later."""
    failed: int = 0
    """Refused for good, or out of retries: waiting for an admin."""

    @property
    def handled(self) -> int:
        return self.delivered + self.retrying + self.failed

    def __str__(self) -> str:
        return f"delivered={self.delivered} retrying={self.retrying} failed={self.failed}"


@dataclasses.dataclass(frozen=True)
class _Job:
    """A claimed row, as plain data: it is sent with no transaction open."""

    id: int
    auth: ags.PlatformAuth
    lineitem_url: str | None
    lineitems_url: str | None
    line_item: dict[str, Any]
    score: dict[str, Any]
    request_id: str | None = None
    """The request that queued it: the delivery is logged and sent under it."""


def retry_delay(tries: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``tries`` failures: exponential, full jitter."""
    ceiling = min(cap, base * 2 ** max(tries - 1, 0))
    return (rng or random).uniform(0, ceiling)


def next_try_at(tries: int, error: ags.AgsError, now: dt.datetime, settings: Any) -> dt.datetime:
    """When to call the LMS again after ``tries`` failures: backoff, or what it asked for
    (Retry-After), capped at ``SCORE_RETRY_MAX_SECONDS``."""
    delay = retry_delay(tries, settings.SCORE_RETRY_BASE_SECONDS, settings.SCORE_RETRY_MAX_SECONDS)
    if error.retry_after:
        delay = max(delay, min(error.retry_after, settings.SCORE_RETRY_MAX_SECONDS))
    return now + dt.timedelta(seconds=delay)


def _is_due(now: dt.datetime) -> ColumnElement[bool]:
    """Pending, its time come, nobody's lease on it, and no older pending score of its key."""
    older = aliased(ScoreDelivery)
    older_pending = exists().where(
        older.ordering_key == ScoreDelivery.ordering_key,
        older.status == DeliveryStatus.PENDING,
        older.id < ScoreDelivery.id,
    )
    return (
        (ScoreDelivery.status == DeliveryStatus.PENDING)
        & (ScoreDelivery.next_attempt_at <= now)
        & or_(ScoreDelivery.locked_until.is_(None), ScoreDelivery.locked_until < now)
        & ~older_pending
    )


#: The score outbox as workers take its rows (``outbox.claim_due``).
SCORES = outbox.Claimable(
    id=ScoreDelivery.id,
    lease=ScoreDelivery.locked_until,
    due=_is_due,
    order=(ScoreDelivery.next_attempt_at, ScoreDelivery.id),
    waiting=ScoreDelivery.status == DeliveryStatus.PENDING,
)


def due_ids(session: Session, now: dt.datetime, limit: int, skip: Sequence[int] = ()) -> list[int]:
    return outbox.due_ids(session, SCORES, now, limit, skip)


def claim(session: Session, delivery_id: int, now: dt.datetime, lease_end: dt.datetime) -> bool:
    """Take the row for this worker until ``lease_end``; False when another worker has it
    (or it is no longer due)."""
    return outbox.claim(session, SCORES, delivery_id, now, lease_end)


def claim_due(
    session: Session,
    now: dt.datetime,
    lease_end: dt.datetime,
    limit: int,
    skip: Sequence[int] = (),
) -> list[int]:
    """Take up to ``limit`` due rows (not in ``skip``) for this worker until ``lease_end``;
    their ids, oldest due first (``outbox.claim_due``: SKIP LOCKED on PostgreSQL)."""
    return outbox.claim_due(session, SCORES, now, lease_end, limit, skip)


def _claim_jobs(
    session_factory: Callable[[], Session],
    now: dt.datetime,
    lease_end: dt.datetime,
    limit: int,
    skip: Sequence[int],
) -> list[_Job]:
    with session_factory() as session, session.begin():
        ids = claim_due(session, now, lease_end, limit, skip)
        if not ids:
            return []
        rows = {
            row.id: row
            for row in session.scalars(
                select(ScoreDelivery)
                .where(ScoreDelivery.id.in_(ids))
                .options(joinedload(ScoreDelivery.platform))
            )
        }
        return [
            _Job(
                id=row.id,
                auth=ags.PlatformAuth.of(row.platform),
                lineitem_url=row.lineitem_url,
                lineitems_url=row.lineitems_url,
                line_item=dict(row.line_item or {}),
                score=dict(row.score),
                request_id=row.request_id,
            )
            for row in (rows[i] for i in ids)
        ]


def _line_item_key(job: _Job) -> tuple[int, str | None, Any]:
    return job.auth.platform_id, job.lineitems_url, job.line_item.get("resourceId")


def release(session_factory: Callable[[], Session], ids: Sequence[int]) -> None:
    """Give claimed rows back unsent: due again at once, for any worker."""
    outbox.release(session_factory, SCORES, ids)


@dataclasses.dataclass
class _Result:
    lineitem_url: str | None
    status: int | None = None
    error: ags.AgsError | None = None


def _send(client: ags.AgsClient, job: _Job) -> _Result:
    """The HTTP part: find or create the line item if needed, then post the score."""
    result = _Result(lineitem_url=job.lineitem_url)
    scopes = [ags.SCOPE_SCORE] if job.lineitem_url else [ags.SCOPE_LINEITEM, ags.SCOPE_SCORE]
    try:
        if result.lineitem_url is None:
            if not job.lineitems_url or not job.line_item.get("resourceId"):
                raise ags.AgsError("no line item to send the score to", permanent=True)
            result.lineitem_url = client.find_or_create_line_item(
                job.auth,
                job.lineitems_url,
                resource_id=job.line_item["resourceId"],
                label=job.line_item.get("label") or job.line_item["resourceId"],
                score_maximum=job.line_item.get("scoreMaximum") or job.score["scoreMaximum"],
                tag=job.line_item.get("tag") or "",
                scopes=scopes,
            )
        result.status = client.post_score(job.auth, result.lineitem_url, job.score, scopes)
    except ags.AgsError as exc:
        result.error = exc
    except Exception as exc:  # a bug or a missing key: keep the score, retry, show the admin
        log.exception("score delivery %s: unexpected error", job.id)
        result.error = ags.AgsError(f"{type(exc).__name__}: {exc}", permanent=False)
    return result


def _share_line_item(session: Session, row: ScoreDelivery, lineitem_url: str) -> None:
    """The line item found or created for this row is also the one of the rows waiting to
    find the same one: record it on them, so they need not search."""
    resource_id = (row.line_item or {}).get("resourceId")
    waiting = session.scalars(
        select(ScoreDelivery).where(
            ScoreDelivery.platform_id == row.platform_id,
            ScoreDelivery.lineitems_url == row.lineitems_url,
            ScoreDelivery.lineitem_url.is_(None),
            ScoreDelivery.status != DeliveryStatus.DELIVERED,
            ScoreDelivery.id != row.id,
        )
    )
    for other in waiting:
        if (other.line_item or {}).get("resourceId") == resource_id:
            other.lineitem_url = lineitem_url
    row.lineitem_url = lineitem_url


def _record(
    session_factory: Callable[[], Session],
    job: _Job,
    result: _Result,
    now: dt.datetime,
    settings: Any,
    counts: DeliveryCounts,
) -> None:
    with session_factory() as session, session.begin():
        row = session.get(ScoreDelivery, job.id)
        if row is None:  # deleted meanwhile (its platform or organisation went away)
            return
        row.tries += 1
        row.locked_until = None
        if result.lineitem_url and row.lineitem_url != result.lineitem_url:
            _share_line_item(session, row, result.lineitem_url)
        error = result.error
        if error is None:
            row.status = DeliveryStatus.DELIVERED
            row.delivered_at = now
            row.last_status = result.status
            row.last_error = None
            counts.delivered += 1
            log.info(
                "score delivery %s: delivered to %s (HTTP %s, try %s)",
                row.id,
                row.lineitem_url,
                result.status,
                row.tries,
            )
            return
        row.last_status = error.status
        row.last_error = str(error)[:MAX_ERROR_CHARS]
        give_up_at = row.created_at + dt.timedelta(hours=settings.SCORE_RETRY_FOR_HOURS)
        if error.permanent or now >= give_up_at:
            row.status = DeliveryStatus.FAILED
            counts.failed += 1
            why = "refused" if error.permanent else "out of retries"
            log.warning(
                "score delivery %s: failed (%s) after %s tries: %s", row.id, why, row.tries, error
            )
            return
        row.next_attempt_at = next_try_at(row.tries, error, now, settings)
        counts.retrying += 1
        # a warning: an LMS refusing or down shows where operations watch, long before a
        # score is given up
        log.warning(
            "score delivery %s: try %s failed (%s); next try at %s",
            row.id,
            row.tries,
            error,
            row.next_attempt_at.isoformat(timespec="seconds"),
        )


def deliver_due(
    session_factory: Callable[[], Session],
    services: Any,
    now: dt.datetime | None = None,
    limit: int = 100,
    *,
    client: ags.AgsClient | None = None,
    stop: Callable[[], bool] | None = None,
) -> DeliveryCounts:
    """Send up to ``limit`` due scores, claimed a few at a time (``CLAIM_BATCH``), each
    sent outside any transaction.

    ``session_factory`` makes sessions of its own (not the request's); ``services`` is the
    app's ``LtiServices`` (settings, the shared token cache, the tool's keys). ``now`` is
    the clock (tests move it forward); by default the real time. ``stop`` is asked between
    scores, so a worker told to stop finishes the score it is sending and no more.
    """
    settings = services.settings
    client = client or ags.AgsClient.from_services(services)
    counts = DeliveryCounts()

    def clock() -> dt.datetime:
        return now or utcnow()

    # A claimed row is sent only while its lease can cover a whole delivery.
    budget = dt.timedelta(seconds=DELIVERY_CALLS * settings.HTTP_TIMEOUT_SECONDS)
    tried: list[int] = []
    found: dict[tuple[int, str | None, Any], str] = {}
    while len(tried) < limit and not (stop and stop()):
        started = clock()
        lease_end = started + dt.timedelta(seconds=settings.SCORE_LEASE_SECONDS)
        batch = min(CLAIM_BATCH, limit - len(tried))
        unsent = _claim_jobs(session_factory, started, lease_end, batch, tried)
        if not unsent:
            break
        tried.extend(job.id for job in unsent)
        claimed = len(unsent)
        try:
            while unsent and not (stop and stop()):
                if len(unsent) < claimed and clock() + budget > lease_end:
                    break  # the first always fits: SCORE_LEASE_SECONDS covers one delivery
                job = unsent.pop(0)
                if job.lineitem_url is None and _line_item_key(job) in found:
                    # found or created for a row claimed with this one (_share_line_item)
                    job = dataclasses.replace(job, lineitem_url=found[_line_item_key(job)])
                with observability.bound_outbox_row("scores", job.id, job.request_id):
                    result = _send(client, job)
                    if job.lineitem_url is None and result.lineitem_url:
                        found[_line_item_key(job)] = result.lineitem_url
                    _record(session_factory, job, result, clock(), settings, counts)
        finally:
            if unsent:  # told to stop, out of lease time, or the database away
                release(session_factory, [job.id for job in unsent])
    return counts


# --- the admin console --------------------------------------------------------------------


class RetryOutcome(enum.StrEnum):
    QUEUED = "queued"
    NOT_FAILED = "not_failed"
    """Pending or delivered already: nothing to do (a delivered score is never resent)."""
    SUPERSEDED = "superseded"
    """A newer score of the same person and line item has reached the LMS since."""


def _own(organisation_id: int) -> ColumnElement[bool]:
    return ScoreDelivery.organisation_id == organisation_id


def _superseded() -> ColumnElement[bool]:
    newer = aliased(ScoreDelivery)
    return exists().where(
        newer.ordering_key == ScoreDelivery.ordering_key,
        newer.status == DeliveryStatus.DELIVERED,
        newer.id > ScoreDelivery.id,
    )


def delivery_counts(session: Session, organisation_id: int) -> dict[DeliveryStatus, int]:
    """How many of the organisation's scores are pending, delivered and failed."""
    rows = session.execute(
        select(ScoreDelivery.status, func.count())
        .where(_own(organisation_id))
        .group_by(ScoreDelivery.status)
    ).all()
    counts = dict.fromkeys(DeliveryStatus, 0)
    counts.update({DeliveryStatus(status): count for status, count in rows})
    return counts


def deliveries_of(
    session: Session, organisation_id: int, status: DeliveryStatus, limit: int = 200
) -> Sequence[ScoreDelivery]:
    """The organisation's scores in this state: pending by next try, others newest first."""
    query = select(ScoreDelivery).where(_own(organisation_id), ScoreDelivery.status == status)
    if status == DeliveryStatus.PENDING:
        query = query.order_by(ScoreDelivery.next_attempt_at, ScoreDelivery.id)
    else:
        query = query.order_by(ScoreDelivery.id.desc())
    return session.scalars(query.limit(limit)).all()


def superseded_ids(session: Session, organisation_id: int) -> set[int]:
    """Failed scores that a newer, delivered score of the same person and line item replaced."""
    return set(
        session.scalars(
            select(ScoreDelivery.id).where(
                _own(organisation_id),
                ScoreDelivery.status == DeliveryStatus.FAILED,
                _superseded(),
            )
        )
    )


def _requeue(row: ScoreDelivery, now: dt.datetime) -> None:
    row.status = DeliveryStatus.PENDING
    row.next_attempt_at = now
    row.locked_until = None


def retry_delivery(
    session: Session, organisation_id: int, delivery_id: int, now: dt.datetime | None = None
) -> RetryOutcome:
    """Send a failed score again (failed → pending, due now, its tries kept).

    A score the LMS refused will be refused again unless something changed there (the
    activity's grade settings, the platform's registration). One that ran out of retries
    gets one try: if that fails for now, it is failed again at once. Another
    organisation's score is not found.
    """
    row = session.scalar(
        select(ScoreDelivery).where(_own(organisation_id), ScoreDelivery.id == delivery_id)
    )
    if row is None:
        raise NotFound(f"score delivery {delivery_id} is not organisation {organisation_id}'s")
    if row.status != DeliveryStatus.FAILED:
        return RetryOutcome.NOT_FAILED
    if session.scalar(select(_superseded()).where(ScoreDelivery.id == row.id)):
        return RetryOutcome.SUPERSEDED
    _requeue(row, now or utcnow())
    session.flush()
    return RetryOutcome.QUEUED


def retry_failed(session: Session, organisation_id: int, now: dt.datetime | None = None) -> int:
    """Send every failed score of the organisation again (not those superseded); how many."""
    rows = session.scalars(
        select(ScoreDelivery).where(
            _own(organisation_id),
            ScoreDelivery.status == DeliveryStatus.FAILED,
            ~_superseded(),
        )
    ).all()
    for row in rows:
        _requeue(row, now or utcnow())
    session.flush()
    return len(rows)


def people_of_deliveries(
    session: Session, deliveries: Sequence[ScoreDelivery]
) -> dict[int, Person]:
    """Each delivery's person as the tool knows them (by platform and LMS user id)."""
    wanted = {(d.platform_id, str(d.score.get("userId"))) for d in deliveries}
    if not wanted:
        return {}
    people = session.scalars(
        select(Person).where(
            Person.platform_id.in_({platform_id for platform_id, _ in wanted}),
            Person.sub.in_({sub for _, sub in wanted}),
        )
    )
    by_key = {(p.platform_id, p.sub): p for p in people}
    found: dict[int, Person] = {}
    for d in deliveries:
        person = by_key.get((d.platform_id, str(d.score.get("userId"))))
        if person is not None:
            found[d.id] = person
    return found
