"""Who is in an LMS course, and who of them has started: the course's roster from the
platform (LTI Names and Role Provisioning Services) beside what the tool knows.

A launch records its course (``note_launch``): its title, the NRPS memberships URL the
launch carried (or that it carried none), and the mappings and certifications its link
names. A manager's refresh reads the members from the platform and keeps them
(``refresh_roster``); the roster page compares them (``roster_of``) with

- launched: the member has launched Læringsløp from this course;
- mapped: has submitted an attempt at one of the course's mappings;
- passed: one of those attempts reached its mapping's pass mark;
- certified: holds a certificate of one of the course's certifications, valid now.

The course's mappings and certifications are those its launched links name (a link placed
as "the mapping of my job role" counts every mapping that measures a job role). A course
whose links name no mapping counts every mapping of the organisation; the same for
certifications.

Who sees whom: the organisation's admins see every member. A manager granted some units
sees the members who are people of those units (an active place in them, whichever course
they launched from): among them, who has not started this course. A member who never
launched is a person of no unit (HR's file and the managers place people the tool knows),
so only the admins see them: a unit's manager must not see every employee of the
municipality in a course. A manager by LMS role alone sees no one; another organisation's
courses are not found.

The audit log records each showing of the page (``view_roster``) and each refresh (the
platform's data read and kept), naming every member concerned: by person id, or by user
id on the platform for those who never launched (``services.audit.OUTSIDERS``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lti_tool.db import RecentWrites, insert_or_find
from lti_tool.errors import (
    NotFound,
    PlatformConfigurationInvalid,
    RosterHostRefused,
    RosterNotOffered,
    RosterRefreshFailed,
    RosterRefused,
    RosterTooLong,
    RosterUnreachable,
)
from lti_tool.lti import claims as c
from lti_tool.lti import nrps
from lti_tool.lti.ags import AgsClient, AgsError, PlatformAuth
from lti_tool.models import (
    Attempt,
    AttemptStatus,
    AuditAction,
    Certificate,
    Certification,
    CourseRoster,
    Deployment,
    Launch,
    Mapping,
    Person,
    RosterMember,
)
from lti_tool.services import audit
from lti_tool.services.assignments import in_units
from lti_tool.services.audit import Actor
from lti_tool.services.launches import CERTIFICATION_PARAM, MAPPING_PARAM
from lti_tool.services.placement import MY_ROLE

log = logging.getLogger(__name__)


# --- what launches tell -------------------------------------------------------------------


def _text(value: Any, limit: int) -> str | None:
    return value.strip()[:limit] if isinstance(value, str) and value.strip() else None


def _placed(codes: list[str], value: Any) -> list[str]:
    """The codes with this one added (a new list, so the JSON column sees the change)."""
    code = _text(value, 100)
    if code is None or code.lower() in (c.lower() for c in codes):
        return codes
    return [*codes, code]


#: The courses whose names and roster offer this process wrote lately: a launch that
#: brings the same again writes nothing (``db.RecentWrites``; five minutes, 4,096 courses).
RECENT_COURSE_WRITES = RecentWrites(max_age=300.0, max_rows=4096)


def note_launch(session: Session, launch: Launch) -> CourseRoster | None:
    """Record the launch's course: its names, its memberships URL (None when the launch
    offered no NRPS), what its link names. Nothing for a launch without a course."""
    if not launch.context_id:
        return None
    organisation_id = launch.deployment.organisation_id
    platform_id = launch.deployment.platform_id
    context = launch.claims.get(c.CONTEXT) or {}
    custom = launch.claims.get(c.CUSTOM) or {}
    if not custom.get(MAPPING_PARAM) and not custom.get(CERTIFICATION_PARAM):
        # The course's names and roster offer, new or known, in one statement: the link
        # places nothing to add to its lists. None when this process wrote the same lately.
        course = (organisation_id, platform_id, launch.context_id)
        written = (
            _text(context.get("label"), 100) or "",
            _text(context.get("title"), 300) or "",
            nrps.memberships_url_from_claims(launch.claims),
        )
        if RECENT_COURSE_WRITES.unchanged(session, course, written):
            return None
        session.execute(
            _roster_upsert(session.get_bind().dialect.name),
            {
                "organisation_id": organisation_id,
                "platform_id": platform_id,
                "context_id": launch.context_id,
                "label": written[0],
                "title": written[1],
                "memberships_url": written[2],
                "placed_mappings": [],
                "placed_certifications": [],
            },
        )
        RECENT_COURSE_WRITES.note(session, course, written)
        return None

    def find() -> CourseRoster | None:
        return session.scalar(
            select(CourseRoster).where(
                CourseRoster.organisation_id == organisation_id,
                CourseRoster.platform_id == platform_id,
                CourseRoster.context_id == launch.context_id,
            )
        )

    RECENT_COURSE_WRITES.forget(session, (organisation_id, platform_id, launch.context_id))
    roster = find()
    if roster is None:
        new = CourseRoster(
            organisation_id=organisation_id,
            platform_id=platform_id,
            context_id=launch.context_id,
            placed_mappings=[],
            placed_certifications=[],
        )
        roster = insert_or_find(session, new, find)
    roster.label = _text(context.get("label"), 100) or roster.label or ""
    roster.title = _text(context.get("title"), 300) or roster.title or ""
    roster.memberships_url = nrps.memberships_url_from_claims(launch.claims)
    roster.placed_mappings = _placed(roster.placed_mappings, custom.get(MAPPING_PARAM))
    roster.placed_certifications = _placed(
        roster.placed_certifications, custom.get(CERTIFICATION_PARAM)
    )
    return roster


@functools.cache
def _roster_upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` of a launch's course (PostgreSQL and SQLite): a
    name the launch leaves out (empty) keeps the one the course had; the roster offer is
    the launch's (none when it made none). Made once: building it costs more than running
    it."""
    table: Any = CourseRoster.__table__
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    new = insert.excluded

    def kept(column: str) -> Any:
        return case((new[column] == "", table.c[column]), else_=new[column])

    return insert.on_conflict_do_update(
        index_elements=[table.c.organisation_id, table.c.platform_id, table.c.context_id],
        set_={
            "label": kept("label"),
            "title": kept("title"),
            "memberships_url": new.memberships_url,
        },
    )


# --- reading --------------------------------------------------------------------------------


def list_rosters(session: Session, organisation_id: int) -> list[CourseRoster]:
    """The organisation's courses (launched from), by title."""
    return list(
        session.scalars(
            select(CourseRoster)
            .where(CourseRoster.organisation_id == organisation_id)
            .order_by(func.lower(CourseRoster.title), CourseRoster.id)
        )
    )


def get_roster(session: Session, organisation_id: int, roster_id: int) -> CourseRoster:
    roster = session.get(CourseRoster, roster_id)
    if roster is None or roster.organisation_id != organisation_id:
        raise NotFound(f"course roster {roster_id} not in organisation {organisation_id}")
    return roster


@dataclasses.dataclass(frozen=True)
class MemberStatus:
    member: RosterMember
    person_id: int | None
    """The Person with the member's user id on the same platform; None: never launched."""
    launched: bool
    mapped: bool
    passed: bool
    certified: bool

    @property
    def started(self) -> bool:
        return self.launched


@dataclasses.dataclass(frozen=True)
class Counts:
    members: int = 0
    launched: int = 0
    mapped: int = 0
    passed: int = 0
    certified: int = 0

    @property
    def not_started(self) -> int:
        return self.members - self.launched


@dataclasses.dataclass(frozen=True)
class RosterView:
    roster: CourseRoster
    rows: list[MemberStatus]
    """The members shown: all visible ones, or those not started."""
    counts: Counts
    """Over every visible member, whatever the filter."""
    mappings: list[Mapping]
    """The mappings counted: the course's, or every one of the organisation's."""
    certifications: list[Certification]
    """The certifications counted: the course's, or every one of the organisation's."""


def _course_mappings(session: Session, roster: CourseRoster) -> list[Mapping]:
    query = select(Mapping).where(Mapping.organisation_id == roster.organisation_id)
    placed = [code.lower() for code in roster.placed_mappings]
    if placed:
        named = func.lower(Mapping.code).in_(placed)
        query = query.where(
            or_(named, Mapping.job_role_id.is_not(None)) if MY_ROLE in placed else named
        )
    return list(session.scalars(query.order_by(Mapping.code)))


def _course_certifications(session: Session, roster: CourseRoster) -> list[Certification]:
    query = select(Certification).where(Certification.organisation_id == roster.organisation_id)
    if roster.placed_certifications:
        placed = [code.lower() for code in roster.placed_certifications]
        query = query.where(func.lower(Certification.code).in_(placed))
    return list(session.scalars(query.order_by(Certification.code)))


def _person_of_member(roster: CourseRoster) -> Any:
    """Joins a member to the Person with their user id, on the course's platform and in
    its organisation (none: never launched)."""
    return and_(
        Person.platform_id == roster.platform_id,
        Person.organisation_id == roster.organisation_id,
        Person.sub == RosterMember.user_id,
    )


def _record_members(
    session: Session,
    actor: Actor,
    roster: CourseRoster,
    members: list[tuple[str, int | None]],
    *,
    fetched: bool = False,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit event of a showing (nothing when no one else is shown) or a fetch (always)
    of these members, (user id, person id or None)."""
    known = {pid for _, pid in members if pid is not None} - {actor.person_id}
    outsiders = [uid for uid, pid in members if pid is None]
    detail = {**(detail or {}), **({"platform_id": roster.platform_id} if outsiders else {})}
    if fetched:
        audit.record(
            session,
            actor,
            AuditAction.FETCH,
            "course_roster",
            roster.id,
            known,
            {**detail, "members": len(members)},
            outsiders=outsiders,
        )
    else:
        audit.record_view(
            session,
            actor,
            "course_roster",
            known,
            object_id=roster.id,
            detail=detail or None,
            outsiders=outsiders,
        )


def roster_of(
    session: Session,
    organisation_id: int,
    roster_id: int,
    now: dt.datetime,
    *,
    unit_ids: frozenset[int] | None = None,
    not_started_only: bool = False,
) -> RosterView:
    """The course's members with how far each has come; ``unit_ids`` limits them to the
    people of those units (a manager by grant), None shows everyone."""
    roster = get_roster(session, organisation_id, roster_id)
    query = (
        select(RosterMember, Person.id)
        .outerjoin(Person, _person_of_member(roster))
        .where(RosterMember.roster_id == roster.id)
        .order_by(func.lower(RosterMember.name), RosterMember.user_id)
    )
    if unit_ids is not None:
        query = query.where(Person.id.in_(in_units(unit_ids)))
    found = session.execute(query).all()
    person_ids = [pid for _, pid in found if pid is not None]
    mappings = _course_mappings(session, roster)
    certifications = _course_certifications(session, roster)
    launched, mapped, passed, certified = set(), set(), set(), set()
    if person_ids:
        launched = set(
            session.scalars(
                select(Launch.person_id)
                .join(Deployment, Launch.deployment_pk == Deployment.id)
                .where(
                    Launch.person_id.in_(person_ids),
                    Launch.context_id == roster.context_id,
                    Deployment.platform_id == roster.platform_id,
                    Deployment.organisation_id == organisation_id,
                )
                .distinct()
            )
        )
        if mappings:
            pass_marks = {m.id: m.pass_percentage for m in mappings}
            for person_id, mapping_id, percentage in session.execute(
                select(Attempt.person_id, Attempt.mapping_id, Attempt.percentage).where(
                    Attempt.organisation_id == organisation_id,
                    Attempt.person_id.in_(person_ids),
                    Attempt.mapping_id.in_(pass_marks),
                    Attempt.status == AttemptStatus.SUBMITTED,
                )
            ):
                mapped.add(person_id)
                mark = pass_marks[mapping_id]
                if mark is not None and percentage is not None and percentage >= mark:
                    passed.add(person_id)
        if certifications:
            certified = set(
                session.scalars(
                    select(Certificate.person_id)
                    .where(
                        Certificate.organisation_id == organisation_id,
                        Certificate.person_id.in_(person_ids),
                        Certificate.certification_id.in_([x.id for x in certifications]),
                        Certificate.revoked_at.is_(None),
                        or_(Certificate.expires_at.is_(None), Certificate.expires_at > now),
                    )
                    .distinct()
                )
            )
    rows = [
        MemberStatus(
            member,
            pid,
            launched=pid in launched,
            mapped=pid in mapped,
            passed=pid in passed,
            certified=pid in certified,
        )
        for member, pid in found
    ]
    counts = Counts(
        members=len(rows),
        launched=sum(r.launched for r in rows),
        mapped=sum(r.mapped for r in rows),
        passed=sum(r.passed for r in rows),
        certified=sum(r.certified for r in rows),
    )
    if not_started_only:
        rows = [r for r in rows if not r.started]
    return RosterView(roster, rows, counts, mappings, certifications)


def view_roster(
    session: Session,
    actor: Actor,
    roster_id: int,
    now: dt.datetime,
    *,
    unit_ids: frozenset[int] | None = None,
    not_started_only: bool = False,
) -> RosterView:
    """``roster_of`` for ``actor``'s organisation, recorded in the audit log as a view of
    every member it shows (their names, e-mail and progress)."""
    view = roster_of(
        session,
        actor.organisation_id,
        roster_id,
        now,
        unit_ids=unit_ids,
        not_started_only=not_started_only,
    )
    shown = [(row.member.user_id, row.person_id) for row in view.rows]
    filters = {"not_started_only": True} if not_started_only else None
    _record_members(session, actor, view.roster, shown, detail=filters)
    return view


# --- refreshing -----------------------------------------------------------------------------


def _refusal(exc: AgsError) -> RosterRefreshFailed:
    """The manager's words for a failed call to the platform."""
    detail = str(exc)
    if isinstance(exc, nrps.TooManyPages):
        return RosterTooLong(detail)
    if isinstance(exc.__cause__, PlatformConfigurationInvalid):
        return RosterHostRefused(detail)
    if exc.status in (401, 403):
        return RosterRefused(detail)
    if not exc.permanent:
        return RosterUnreachable(detail)
    return RosterRefreshFailed(detail)


def refresh_roster(
    session: Session, actor: Actor, roster_id: int, client: AgsClient, now: dt.datetime
) -> int:
    """Read the course's members from the platform now and keep them in place of the
    roster before; returns how many there are. The platform is asked before anything is
    written: on any failure (``RosterRefreshFailed``, saying why) the roster fetched before
    stays as it was. The audit log names every member read (``AuditAction.FETCH``), also
    those the actor, a manager by grant, will not see."""
    roster = get_roster(session, actor.organisation_id, roster_id)
    if not roster.memberships_url:
        raise RosterNotOffered(f"course roster {roster.id}: the launch carried no NRPS claim")
    try:
        memberships = nrps.fetch_memberships(
            client, PlatformAuth.of(roster.platform), roster.memberships_url
        )
    except AgsError as exc:
        log.warning("course roster %s not refreshed: %s", roster.id, exc)
        raise _refusal(exc) from exc
    # One refresh at a time per course: the second waits, then replaces the first's rows.
    session.execute(select(CourseRoster.id).where(CourseRoster.id == roster.id).with_for_update())
    session.execute(delete(RosterMember).where(RosterMember.roster_id == roster.id))
    session.add_all(
        RosterMember(
            roster_id=roster.id,
            user_id=m.user_id,
            name=m.name,
            email=m.email,
            roles=list(m.roles),
            status=m.status,
        )
        for m in memberships.members
    )
    roster.fetched_at = now
    if memberships.context_title and not roster.title:
        roster.title = memberships.context_title
    session.flush()
    fetched = session.execute(
        select(RosterMember.user_id, Person.id)
        .outerjoin(Person, _person_of_member(roster))
        .where(RosterMember.roster_id == roster.id)
    ).all()
    _record_members(session, actor, roster, [(uid, pid) for uid, pid in fetched], fetched=True)
    return len(memberships.members)
