"""Retention of personal data per organisation: people with no launch for
``Organisation.retention_months`` months are erased (``services.erasure``).

The rule is the organisation's own: its admin sets it (and the change is audited); the
worker, or ``flask retention run``, applies it. A person's last launch is
``Person.last_seen_at``, set at every launch. Each erasure is audited as the system's,
with the rule as its reason. No rule: people are kept until erased by hand.

The audit log's own retention is separate (``Organisation.audit_retention_months``, five
years unless the admin sets another): its events outlive the people they name (they name
them by id only), and the same run deletes the events older than it, and no others.

Launch records (``Launch``: a launch's course, roles, gradebook and roster addresses, the
person's LMS ids) are kept ``LAUNCH_RECORD_DAYS`` days (a setting), for every
organisation: a year of an LMS's launches is millions of rows, each a piece of personal
data the tool no longer needs once the launch's session is over. Kept longer: the newest
launch of each person's link (its course, and what the link places), which the tool still
sends scores and reads rosters through, and every launch an attempt in progress will
send its score through.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from lti_tool.domain.certification_rules import add_months
from lti_tool.errors import NotFound
from lti_tool.models import Attempt, AttemptStatus, AuditAction, Launch, Organisation, Person
from lti_tool.services import audit, erasure
from lti_tool.services.audit import Actor
from lti_tool.services.launches import link_key
from lti_tool.settings import MIN_LAUNCH_RECORD_DAYS

log = logging.getLogger(__name__)

#: The longest rule an admin may set: ten years.
MAX_RETENTION_MONTHS = 120
#: The audit log's retention: at least a year, at most twenty.
MIN_AUDIT_RETENTION_MONTHS, MAX_AUDIT_RETENTION_MONTHS = 12, 240
#: Launch records deleted in one run at most: the first run over years of launches spreads
#: over the hours (one run an hour), not one long transaction.
LAUNCH_PURGE_BATCH = 10_000


def set_retention(
    session: Session, actor: Actor, organisation_id: int, months: int | None
) -> Organisation:
    """Set (or, with None, take away) the organisation's retention rule; audited."""
    if months is not None and not 1 <= months <= MAX_RETENTION_MONTHS:
        raise ValueError(f"a retention of {months} months")
    return _change_rule(session, actor, organisation_id, "retention_months", "organisation", months)


def set_audit_retention(
    session: Session, actor: Actor, organisation_id: int, months: int
) -> Organisation:
    """Set how long the organisation's audit log keeps its events; audited."""
    if not MIN_AUDIT_RETENTION_MONTHS <= months <= MAX_AUDIT_RETENTION_MONTHS:
        raise ValueError(f"an audit retention of {months} months")
    return _change_rule(session, actor, organisation_id, "audit_retention_months", "audit", months)


def _change_rule(
    session: Session,
    actor: Actor,
    organisation_id: int,
    attribute: str,
    object_type: str,
    months: int | None,
) -> Organisation:
    """One of the organisation's retention rules set to ``months``: a change (only) is
    recorded in the audit log as ``object_type``, with the months before and after."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}")
    before = getattr(organisation, attribute)
    if before != months:
        setattr(organisation, attribute, months)
        audit.record(
            session,
            actor,
            AuditAction.RETENTION,
            object_type,
            organisation_id,
            detail={"before": before, "after": months},
        )
    session.flush()
    return organisation


def audit_retention_of(session: Session, organisation_id: int) -> int:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"no organisation {organisation_id}")
    return organisation.audit_retention_months


def cutoff(now: dt.datetime, months: int) -> dt.datetime:
    """Who last launched before this moment is due for erasure."""
    return add_months(now, -months)


def due_people(session: Session, organisation: Organisation, now: dt.datetime) -> list[Person]:
    """The organisation's people with no launch since its rule's cutoff, oldest first."""
    if organisation.retention_months is None:
        return []
    return list(
        session.scalars(
            select(Person)
            .where(
                Person.organisation_id == organisation.id,
                Person.last_seen_at < cutoff(now, organisation.retention_months),
            )
            .order_by(Person.last_seen_at, Person.id)
        )
    )


@dataclasses.dataclass(frozen=True)
class RetentionRun:
    organisations: int
    erased: int
    audit_events_deleted: int = 0
    launches_deleted: int = 0
    #: The parts that failed (logged with their error) and were rolled back alone.
    failed: tuple[str, ...] = ()

    def __str__(self) -> str:
        done = (
            f"{self.erased} erased in {self.organisations} organisation(s) with a rule; "
            f"{self.audit_events_deleted} audit event(s) past the audit log's retention "
            f"deleted; {self.launches_deleted} launch record(s) past their retention deleted"
        )
        if self.failed:
            done += f"; failed, rolled back and logged: {', '.join(self.failed)}"
        return done


def run_retention(
    sessions: Callable[[], Session], now: dt.datetime, launch_record_days: int
) -> RetentionRun:
    """Apply every organisation's rule, then the audit log's and the launch records'
    retention, each organisation's rule and each purge in a transaction of its own (each
    from ``sessions``, committed as it ends): a part that fails is logged, rolled back
    alone and named in the result, and the others are done all the same. An erasure the
    law asks for does not wait on a purge of launch records, nor one municipality on
    another's."""
    with sessions() as session:
        ruled = session.scalars(
            select(Organisation.id)
            .where(Organisation.retention_months.is_not(None))
            .order_by(Organisation.id)
        ).all()
    failed: list[str] = []
    erased = 0
    for organisation_id in ruled:
        erased += _own_transaction(
            sessions,
            f"the retention rule of organisation {organisation_id}",
            functools.partial(apply_rule, organisation_id=organisation_id, now=now),
            failed,
        )
    audit_deleted = _own_transaction(
        sessions, "the audit log's retention", lambda s: purge_audit(s, now), failed
    )
    launches = _own_transaction(
        sessions,
        "the launch records' retention",
        lambda s: purge_launches(s, now, launch_record_days),
        failed,
    )
    return RetentionRun(len(ruled), erased, audit_deleted, launches, tuple(failed))


def _own_transaction(
    sessions: Callable[[], Session],
    part: str,
    work: Callable[[Session], int],
    failed: list[str],
) -> int:
    """``work`` in a transaction of its own, committed; 0 and ``part`` in ``failed`` if it
    fails (whatever the error: one part must not stop the run's others)."""
    try:
        with sessions() as session, session.begin():
            return work(session)
    except Exception:  # logged with its traceback, named in the result
        log.exception("retention: %s failed and was rolled back", part)
        failed.append(part)
        return 0


def apply_rule(session: Session, organisation_id: int, now: dt.datetime) -> int:
    """Erase the organisation's people due under its rule (none if it has none now); how
    many. Each erasure is audited as the system's, with the rule as its reason."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or organisation.retention_months is None:
        return 0
    months = organisation.retention_months
    people = due_people(session, organisation, now)
    for person in people:
        erasure.erase_person(
            session,
            Actor.system(organisation.id),
            person,
            f"No launch for {months} months (the organisation's retention rule)",
            via="retention",
            now=now,
        )
    return len(people)


def purge_audit(session: Session, now: dt.datetime) -> int:
    """Delete each organisation's audit events older than its audit retention; how many."""
    deleted = 0
    organisations = session.execute(
        select(Organisation.id, Organisation.audit_retention_months).order_by(Organisation.id)
    )
    for organisation_id, months in organisations.all():
        deleted += audit.purge_before(session, organisation_id, cutoff(now, months))
    return deleted


def key_unkeyed_launches(session: Session) -> int:
    """Give records without a link key theirs (at most ``LAUNCH_PURGE_BATCH`` a run): those
    a process of the version before wrote while it overlapped the upgrade. Unkeyed, a
    record would never have a newer one of its link, and would be kept for ever."""
    rows = session.execute(
        select(Launch.id, Launch.person_id, Launch.deployment_pk, Launch.context_id, Launch.claims)
        .where(Launch.link_key.is_(None))
        .limit(LAUNCH_PURGE_BATCH)
    ).all()
    if rows:
        session.execute(
            update(Launch),
            [
                {
                    "id": row.id,
                    "link_key": link_key(
                        row.person_id, row.deployment_pk, row.context_id, row.claims
                    ),
                }
                for row in rows
            ],
        )
    return len(rows)


def purge_launches(session: Session, now: dt.datetime, days: int) -> int:
    """Delete launch records older than ``days`` (at most ``LAUNCH_PURGE_BATCH``, the
    oldest first), except the newest of each person's link and those an attempt in
    progress will send its score through (the worker submits it through that launch when
    its time runs out; a submitted attempt's score is sent, in the outbox with its
    addresses); how many. A link is the person's course in a deployment, with what the
    link places (a mapping, a certification, an activity; ``Launch.link_key``): two links
    of one course are scored apart."""
    if days < MIN_LAUNCH_RECORD_DAYS:
        raise ValueError(f"launch records kept {days} days")
    key_unkeyed_launches(session)
    # A record goes when its link has a newer one (later, or as late with a greater id:
    # two tabs' launches at one moment keep exactly one): a probe of the link's index per
    # record past its days, not a ranking of every record (bench/RESULTS.md).
    newer = aliased(Launch)
    has_newer = exists().where(
        newer.link_key == Launch.link_key,
        or_(
            newer.created_at > Launch.created_at,
            and_(newer.created_at == Launch.created_at, newer.id > Launch.id),
        ),
    )
    due = (
        select(Launch.id)
        .where(
            Launch.created_at < now - dt.timedelta(days=days),
            has_newer,
            ~exists().where(
                Attempt.launch_id == Launch.id, Attempt.status == AttemptStatus.IN_PROGRESS
            ),
        )
        .order_by(Launch.created_at, Launch.id)  # the oldest personal data first
        .limit(LAUNCH_PURGE_BATCH)
    )
    deleted = session.execute(
        delete(Launch).where(Launch.id.in_(due)),
        execution_options={"synchronize_session": False},
    )
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]
