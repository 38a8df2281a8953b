"""Who holds which job role and sits in which unit, and where that came from.

Four sources (``AssignmentSource``), each kept on the row with its times:

- **launch**: the LMS names the person's job role(s) and unit(s) in custom parameters
  (names set by ``LTI_JOB_ROLE_PARAM`` and ``LTI_UNIT_PARAM``). A parameter that is sent
  is the truth for launch-sourced assignments: codes no longer sent are ended. A parameter
  that is absent, or only holds Moodle's unfilled placeholders (``$User.department``),
  changes nothing: a course without the parameters says nothing about the person.
- **self**: a learner without a job role chooses; the choice waits (pending) for a manager.
- **manager**: a manager assigns and ends.
- **import**: a CSV file from HR (``services/assignment_import.py``).

Every query is scoped by the organisation: a role, unit, person or assignment of another
organisation is not found.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
import math
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingType
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Integer,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session, contains_eager, load_only

from lti_tool.db import UTCDateTime, among_values, utcnow
from lti_tool.errors import NotFound
from lti_tool.models import (
    AssignmentSource,
    AssignmentStatus,
    JobRole,
    JobRoleAssignment,
    Mapping,
    OrgUnit,
    Person,
    UnitAssignment,
    UnitKind,
)
from lti_tool.services.mappings import published_for_job_roles

log = logging.getLogger(__name__)

#: Moodle sends a substitution parameter it could not fill as the literal ``$User.x``.
UNFILLED = "$"

Assignment = JobRoleAssignment | UnitAssignment


class Kind(enum.StrEnum):
    """What an assignment places the person in: a job role or a unit."""

    ROLE = "role"
    UNIT = "unit"


@dataclasses.dataclass(frozen=True)
class _Spec:
    model: Any
    target: Any
    fk: str

    @property
    def fk_column(self) -> Any:
        return getattr(self.model, self.fk)


SPECS = {
    Kind.ROLE: _Spec(JobRoleAssignment, JobRole, "job_role_id"),
    Kind.UNIT: _Spec(UnitAssignment, OrgUnit, "unit_id"),
}


def parse_codes(value: Any) -> list[str] | None:
    """The codes in one custom parameter value, or None when it tells nothing.

    ``"a, b"`` → ``["a", "b"]``; ``""`` → ``[]`` (sent, and empty); absent, not a string,
    or only unfilled placeholders (``"$User.department"``) → None.
    """
    if not isinstance(value, str):
        return None
    parts = [p.strip() for p in value.split(",")]
    codes = [p for p in parts if p and not p.startswith(UNFILLED)]
    if not codes and any(p.startswith(UNFILLED) for p in parts):
        return None
    return list(dict.fromkeys(codes))


# --- lookups --------------------------------------------------------------------------------


def _roles_in_use(organisation_id: Any) -> tuple[Any, ...]:
    return (JobRole.organisation_id == organisation_id, JobRole.archived.is_(False))


def _placeable_units(organisation_id: Any) -> tuple[Any, ...]:
    return (
        OrgUnit.organisation_id == organisation_id,
        OrgUnit.kind == UnitKind.UNIT,
        OrgUnit.archived.is_(False),
    )


def job_roles_of(session: Session, organisation_id: int) -> list[JobRole]:
    """The organisation's job roles in use (not archived), by code."""
    return list(
        session.scalars(
            select(JobRole).where(*_roles_in_use(organisation_id)).order_by(JobRole.code)
        )
    )


def units_of(
    session: Session, organisation_id: int, unit_ids: frozenset[int] | None = None
) -> list[OrgUnit]:
    """The organisation's units a person can be placed in (kind unit, not archived); only
    those of ``unit_ids`` (a manager's units) when given."""
    query = select(OrgUnit).where(*_placeable_units(organisation_id))
    if unit_ids is not None:
        query = query.where(OrgUnit.id.in_(unit_ids))
    return list(session.scalars(query.order_by(OrgUnit.name)))


def by_codes(session: Session, kind: Kind, organisation_id: int, codes: Iterable[str]) -> dict:
    """The organisation's roles or units with these codes (case-insensitive), by lower code."""
    target = SPECS[kind].target
    lowered = {c.lower() for c in codes}
    if not lowered:
        return {}
    found = session.scalars(
        select(target).where(
            target.organisation_id == organisation_id,
            target.archived.is_(False),
            func.lower(target.code).in_(lowered),
        )
    )
    return {t.code.lower(): t for t in found if kind == Kind.ROLE or t.kind == UnitKind.UNIT}


def _target_of(session: Session, kind: Kind, organisation_id: int, target_id: int) -> Any:
    target = session.get(SPECS[kind].target, target_id)
    if target is None or target.organisation_id != organisation_id or target.archived:
        raise NotFound(f"{kind} {target_id} not in organisation {organisation_id}")
    if kind == Kind.UNIT and target.kind != UnitKind.UNIT:
        raise NotFound(f"org unit {target_id} is a {target.kind}, not a unit")
    return target


def get_person(session: Session, organisation_id: int, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or person.organisation_id != organisation_id:
        raise NotFound(f"person {person_id} not in organisation {organisation_id}")
    return person


def in_units(unit_ids: frozenset[int], *, pending: bool = False) -> Any:
    """People with an active place in one of the units (a manager's people); with
    ``pending``, also those who chose one of them and wait for the manager's decision
    (whom the manager sees, to decide the choice, and nothing more)."""
    statuses = [AssignmentStatus.ACTIVE]
    if pending:
        statuses.append(AssignmentStatus.PENDING)
    return select(UnitAssignment.person_id).where(
        UnitAssignment.unit_id.in_(unit_ids), UnitAssignment.status.in_(statuses)
    )


def check_in_units(
    session: Session, person_id: int, unit_ids: frozenset[int] | None, *, pending: bool = False
) -> bool:
    """Refuse, as not found, a person outside the manager's units (None: every unit); with
    ``pending``, one who chose one of them passes too. Whether the person has a place
    in them, not only a choice (one statement)."""
    if unit_ids is None:
        return True
    statuses = set(
        session.scalars(
            in_units(unit_ids, pending=pending)
            .with_only_columns(UnitAssignment.status)
            .where(UnitAssignment.person_id == person_id)
        )
    )
    if not statuses:
        raise NotFound(f"person {person_id} is in none of the units {sorted(unit_ids)}")
    return AssignmentStatus.ACTIVE in statuses


def _check_for_manager(
    session: Session, kind: Kind, row: Any, unit_ids: frozenset[int] | None, *, pending: bool
) -> None:
    """A manager of some units decides or ends a place in one of their units only, and a
    job role of a person placed there (or, to decide it, who chose to be)."""
    if unit_ids is None:
        return
    if kind == Kind.UNIT:
        if row.unit_id not in unit_ids:
            raise NotFound(f"unit assignment {row.id} is not in the units {sorted(unit_ids)}")
        return
    check_in_units(session, row.person_id, unit_ids, pending=pending)


def _assignments(
    session: Session,
    kind: Kind,
    organisation_id: int,
    *,
    person_ids: Sequence[int] | None = None,
    statuses: Iterable[AssignmentStatus] = (AssignmentStatus.ACTIVE,),
) -> list[Any]:
    values: dict[str, Any] = {"organisation_id": organisation_id, "statuses": list(statuses)}
    if person_ids is not None:
        values["person_ids"] = list(person_ids)
    return list(session.scalars(_assignments_query(kind, person_ids is not None), values))


def _of_organisation(kind: Kind, query: Any, statuses: Any) -> Any:
    """``query`` of one kind of assignment in ``statuses`` (a list fixed with the query, or
    an expanding parameter), joined to its role or unit, of the organisation
    ``:organisation_id`` only."""
    spec = SPECS[kind]
    in_statuses = (
        among_values(spec.model.status, statuses)
        if isinstance(statuses, list | tuple)
        else spec.model.status.in_(statuses)
    )
    return query.join(spec.target, spec.fk_column == spec.target.id).where(
        spec.target.organisation_id == bindparam("organisation_id"), in_statuses
    )


@functools.cache
def _assignments_query(kind: Kind, of_people: bool) -> Any:
    """``_assignments``' statement, made once for each kind (pages run it for every
    person they show; making it anew cost more than running it)."""
    spec = SPECS[kind]
    query = (
        _of_organisation(kind, select(spec.model), bindparam("statuses", expanding=True))
        .order_by(spec.model.created_at, spec.model.id)
        # the joined role or unit fills the relationship: no statement for each of them
        .options(contains_eager(getattr(spec.model, spec.fk.removesuffix("_id"))))
    )
    if of_people:
        query = query.where(spec.model.person_id.in_(bindparam("person_ids", expanding=True)))
    return query


def get_assignment(session: Session, organisation_id: int, kind: Kind, assignment_id: int) -> Any:
    spec = SPECS[kind]
    found = session.get(spec.model, assignment_id)
    if found is None:
        raise NotFound(f"{kind} assignment {assignment_id}")
    target = session.get(spec.target, getattr(found, spec.fk))
    if target is None or target.organisation_id != organisation_id:
        raise NotFound(f"{kind} assignment {assignment_id} not in organisation {organisation_id}")
    return found


# --- changes --------------------------------------------------------------------------------


def _end(row: Any, by_id: int | None = None) -> None:
    now = utcnow()
    if row.status == AssignmentStatus.PENDING:  # a rejected choice is decided, then ended
        row.decided_at = now
        row.decided_by_id = by_id
    row.status = AssignmentStatus.ENDED
    row.ended_at = now


def _add(
    session: Session,
    kind: Kind,
    person_id: int,
    target_id: int,
    source: AssignmentSource,
    status: AssignmentStatus = AssignmentStatus.ACTIVE,
    by_id: int | None = None,
) -> Any:
    spec = SPECS[kind]
    row = spec.model(person_id=person_id, source=source, status=status, **{spec.fk: target_id})
    if status == AssignmentStatus.ACTIVE and by_id is not None:
        row.decided_at = utcnow()
        row.decided_by_id = by_id
    session.add(row)
    return row


def _sync_launch(
    session: Session, kind: Kind, person: Person, organisation_id: int, codes: list[str]
) -> None:
    known = by_codes(session, kind, organisation_id, codes)
    unknown = [c for c in codes if c.lower() not in known]
    if unknown:
        log.warning(
            "launch of person %s names unknown %s code(s) %s in organisation %s; ignored",
            person.id,
            kind,
            unknown,
            organisation_id,
        )
    wanted = {t.id for t in known.values()}
    active = _assignments(session, kind, organisation_id, person_ids=[person.id])
    fk = SPECS[kind].fk
    held = {getattr(a, fk) for a in active}
    for row in active:
        if row.source == AssignmentSource.LAUNCH and getattr(row, fk) not in wanted:
            _end(row)
    for target_id in sorted(wanted - held):
        _add(session, kind, person.id, target_id, AssignmentSource.LAUNCH)


def sync_launch_assignments(
    session: Session,
    person: Person,
    organisation_id: int,
    custom: MappingType[str, Any] | None,
    *,
    job_role_param: str,
    unit_param: str,
) -> None:
    """Bring the person's launch-sourced roles and units in line with the launch's custom
    parameters. Unknown codes are logged and ignored; a role or unit already held from
    another source is not added twice."""
    custom = custom if isinstance(custom, MappingType) else {}
    for kind, param in ((Kind.ROLE, job_role_param), (Kind.UNIT, unit_param)):
        codes = parse_codes(custom.get(param))
        if codes is not None:
            _sync_launch(session, kind, person, organisation_id, codes)
    session.flush()


def choose_self(
    session: Session,
    organisation_id: int,
    person_id: int,
    job_role_ids: Sequence[int],
    unit_id: int | None,
) -> None:
    """The learner's own choice of job role(s) and unit: pending until a manager decides.

    A new choice replaces the learner's earlier pending choices.
    """
    person = get_person(session, organisation_id, person_id)
    roles = [
        _target_of(session, Kind.ROLE, organisation_id, i) for i in dict.fromkeys(job_role_ids)
    ]
    unit = _target_of(session, Kind.UNIT, organisation_id, unit_id) if unit_id else None
    for kind, targets in ((Kind.ROLE, roles), (Kind.UNIT, [unit] if unit else [])):
        fk = SPECS[kind].fk
        current = _assignments(
            session,
            kind,
            organisation_id,
            person_ids=[person.id],
            statuses=(AssignmentStatus.ACTIVE, AssignmentStatus.PENDING),
        )
        for row in current:
            if row.status == AssignmentStatus.PENDING and row.source == AssignmentSource.SELF:
                _end(row, by_id=person.id)
        held = {getattr(r, fk) for r in current if r.status == AssignmentStatus.ACTIVE}
        for target in targets:
            if target.id not in held:
                _add(
                    session,
                    kind,
                    person.id,
                    target.id,
                    AssignmentSource.SELF,
                    AssignmentStatus.PENDING,
                )
    session.flush()


def decide(
    session: Session,
    organisation_id: int,
    kind: Kind,
    assignment_id: int,
    *,
    approve: bool,
    decided_by_id: int,
    unit_ids: frozenset[int] | None = None,
) -> Any:
    """A manager approves (pending → active) or rejects (pending → ended) a self-choice of
    a person in their units (``unit_ids``; None: any unit of the organisation)."""
    row = get_assignment(session, organisation_id, kind, assignment_id)
    _check_for_manager(session, kind, row, unit_ids, pending=True)
    if row.status != AssignmentStatus.PENDING:
        raise NotFound(f"{kind} assignment {assignment_id} is {row.status}, not pending")
    if approve:
        row.status = AssignmentStatus.ACTIVE
        row.decided_at = utcnow()
        row.decided_by_id = decided_by_id
    else:
        _end(row, by_id=decided_by_id)
    session.flush()
    return row


def assign(
    session: Session,
    organisation_id: int,
    person_id: int,
    kind: Kind,
    target_id: int,
    *,
    by_id: int | None,
    source: AssignmentSource = AssignmentSource.MANAGER,
    unit_ids: frozenset[int] | None = None,
) -> Any:
    """Give the person the role or unit (active at once); the active row if already held.

    A manager of some units (``unit_ids``) acts for people in them, and places them in
    those units only."""
    check_in_units(session, person_id, unit_ids)
    if kind == Kind.UNIT and unit_ids is not None and target_id not in unit_ids:
        raise NotFound(f"unit {target_id} is not one of {sorted(unit_ids)}")
    row, _created = assign_once(
        session, organisation_id, person_id, kind, target_id, by_id=by_id, source=source
    )
    return row


def assign_once(
    session: Session,
    organisation_id: int,
    person_id: int,
    kind: Kind,
    target_id: int,
    *,
    by_id: int | None,
    source: AssignmentSource,
) -> tuple[Any, bool]:
    """``assign``, also saying whether a new assignment was written."""
    person = get_person(session, organisation_id, person_id)
    target = _target_of(session, kind, organisation_id, target_id)
    fk = SPECS[kind].fk
    for row in _assignments(session, kind, organisation_id, person_ids=[person.id]):
        if getattr(row, fk) == target.id:
            return row, False
    row = _add(session, kind, person.id, target.id, source, by_id=by_id)
    session.flush()
    return row, True


@dataclasses.dataclass(frozen=True)
class Ending:
    """An assignment a manager may end, and whether ending it takes its person out of
    the manager's units (they would no longer see them)."""

    row: Any
    leaves_scope: bool


def assignment_to_end(
    session: Session,
    organisation_id: int,
    kind: Kind,
    assignment_id: int,
    unit_ids: frozenset[int] | None = None,
) -> Ending:
    """The active (or pending) assignment ``end_assignment`` would end, for its
    confirmation; not found when already ended or out of the manager's reach. A role
    awaiting a decision may be ended (withdrawn) by whoever may decide it: a manager of a
    unit the person chose too; an active role only by a manager of a unit they are in."""
    row = get_assignment(session, organisation_id, kind, assignment_id)
    pending = row.status == AssignmentStatus.PENDING
    _check_for_manager(session, kind, row, unit_ids, pending=pending)
    if row.status == AssignmentStatus.ENDED:
        raise NotFound(f"{kind} assignment {assignment_id} already ended")
    return Ending(row, _leaves_scope(session, kind, row, unit_ids))


def _leaves_scope(session: Session, kind: Kind, row: Any, unit_ids: frozenset[int] | None) -> bool:
    if unit_ids is None or kind != Kind.UNIT:
        return False
    others = in_units(unit_ids, pending=True).where(
        UnitAssignment.person_id == row.person_id, UnitAssignment.id != row.id
    )
    return session.scalar(others.limit(1)) is None


def end_assignment(
    session: Session,
    organisation_id: int,
    kind: Kind,
    assignment_id: int,
    *,
    by_id: int | None,
    unit_ids: frozenset[int] | None = None,
) -> Ending:
    """End an active (or pending) assignment; the row stays as history."""
    ending = assignment_to_end(session, organisation_id, kind, assignment_id, unit_ids)
    row = ending.row
    _end(row, by_id=by_id)
    if row.decided_by_id is None:
        row.decided_by_id = by_id
    session.flush()
    return ending


# --- overviews ------------------------------------------------------------------------------


@dataclasses.dataclass
class Placement:
    """A person's roles and units: active and pending rows, each with its source and times."""

    person: Person
    roles: list[JobRoleAssignment] = dataclasses.field(default_factory=list)
    units: list[UnitAssignment] = dataclasses.field(default_factory=list)
    pending_roles: list[JobRoleAssignment] = dataclasses.field(default_factory=list)
    pending_units: list[UnitAssignment] = dataclasses.field(default_factory=list)
    placed: bool = True
    """In the reader's units (not only asking to be): their active job roles are the
    reader's to end (``assignment_to_end``)."""

    @property
    def has_pending(self) -> bool:
        return bool(self.pending_roles or self.pending_units)


def _placements(
    session: Session, organisation_id: int, people: Sequence[Person]
) -> list[Placement]:
    by_id = {p.id: Placement(p) for p in people}
    ids = list(by_id)
    statuses = (AssignmentStatus.ACTIVE, AssignmentStatus.PENDING)
    for kind in Kind:
        for row in _assignments(session, kind, organisation_id, person_ids=ids, statuses=statuses):
            placement = by_id[row.person_id]
            pending = row.status == AssignmentStatus.PENDING
            if kind == Kind.ROLE:
                (placement.pending_roles if pending else placement.roles).append(row)
            else:
                (placement.pending_units if pending else placement.units).append(row)
    return list(by_id.values())


def placement_of(
    session: Session, organisation_id: int, person_id: int, unit_ids: frozenset[int] | None = None
) -> Placement:
    person = get_person(session, organisation_id, person_id)
    placed = check_in_units(session, person.id, unit_ids, pending=True)
    placement = _placements(session, organisation_id, [person])[0]
    placement.placed = placed
    return placement


class Titled(NamedTuple):
    """A job role or a mapping as a page names it."""

    id: int
    code: str
    title: dict[str, str]
    """By language."""


@dataclasses.dataclass
class OwnPlacement:
    """A person's roles and units as their start page shows them, as plain rows: job roles
    held and awaiting a decision, units by name, in the order of ``placement_of``; when
    they hold no active job role, what they may choose themselves: the job roles of
    ``job_roles_of`` and the units of ``units_of`` (id, name); and when they do, their
    roles' published mappings, by id (the first is ``mappings.mapping_for_job_roles``, the
    one a placed "my role's mapping" link opens; a person of several roles is offered
    each)."""

    roles: list[Titled] = dataclasses.field(default_factory=list)
    pending_roles: list[Titled] = dataclasses.field(default_factory=list)
    units: list[str] = dataclasses.field(default_factory=list)
    pending_units: list[str] = dataclasses.field(default_factory=list)
    choosable_roles: list[Titled] = dataclasses.field(default_factory=list)
    choosable_units: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    role_mappings: list[Titled] = dataclasses.field(default_factory=list)


# The tags of ``_own_placement_query``'s rows: what each row is, in the order they come.
_ROLE, _UNIT, _CHOOSABLE_ROLE, _CHOOSABLE_UNIT, _ROLE_MAPPING = range(5)


def own_placement(session: Session, organisation_id: int, person_id: int) -> OwnPlacement:
    """The person's ``OwnPlacement``, in one statement (the start page's, which every
    learner's launch answers with): no ORM objects; the organisation's roles and units to
    choose from only for a person who holds no active job role, and of a mapping only its
    code and title. A person of another organisation is not found, as in ``placement_of``
    (the person is the request's: read with its launch, no statement)."""
    get_person(session, organisation_id, person_id)
    found = OwnPlacement()
    rows = session.execute(
        _own_placement_query(), {"organisation_id": organisation_id, "person_id": person_id}
    )
    for tag, status, target_id, name, title, _at, _n in rows:
        pending = status == AssignmentStatus.PENDING
        if tag == _ROLE:
            (found.pending_roles if pending else found.roles).append(Titled(target_id, name, title))
        elif tag == _UNIT:
            (found.pending_units if pending else found.units).append(name)
        elif tag == _CHOOSABLE_ROLE:
            found.choosable_roles.append(Titled(target_id, name, title))
        elif tag == _CHOOSABLE_UNIT:
            found.choosable_units.append((target_id, name))
        else:  # by id
            found.role_mappings.append(Titled(target_id, name, title))
    return found


@functools.cache
def _own_placement_query() -> Any:
    """``own_placement``'s statement, made once: the person's active and pending role and
    unit assignments (``_of_organisation``); if none of the roles is active, the choices
    (``_roles_in_use``, ``_placeable_units``), else the active roles' published mappings
    (``mappings.published_for_job_roles``); tagged, in page order."""
    organisation_id: Any = bindparam("organisation_id")
    person_id: Any = bindparam("person_id")
    placed = [AssignmentStatus.ACTIVE, AssignmentStatus.PENDING]
    no_title, no_status = cast(null(), JSON), cast(null(), String)
    no_time, no_number = cast(null(), UTCDateTime()), cast(null(), Integer)

    def row(tag: int, status: Any, target: Any, name: Any, title: Any, at: Any, n: Any) -> Any:
        return (
            literal(tag, Integer).label("tag"),
            status.label("status"),
            target.label("target_id"),
            name.label("name"),  # a role's or a mapping's code, a unit's name
            title.label("title"),
            at.label("at"),
            n.label("n"),
        )

    def held(kind: Kind, name: Any, title: Any) -> Any:
        spec = SPECS[kind]
        tag = _ROLE if kind == Kind.ROLE else _UNIT
        at, n = spec.model.created_at, spec.model.id
        query = select(*row(tag, spec.model.status, spec.target.id, name, title, at, n))
        return _of_organisation(kind, query.select_from(spec.model), placed).where(
            spec.model.person_id == person_id
        )

    active_roles = _of_organisation(
        Kind.ROLE, select(JobRoleAssignment.job_role_id), [AssignmentStatus.ACTIVE]
    ).where(JobRoleAssignment.person_id == person_id)
    no_active_role = ~active_roles.exists()

    def named(tag: int, target: Any, name: Any, title: Any, n: Any = no_number) -> Any:
        return select(*row(tag, no_status, target, name, title, no_time, n))

    reads = union_all(
        held(Kind.ROLE, JobRole.code, JobRole.title),
        held(Kind.UNIT, OrgUnit.name, no_title),
        named(_CHOOSABLE_ROLE, JobRole.id, JobRole.code, JobRole.title).where(
            *_roles_in_use(organisation_id), no_active_role
        ),
        named(_CHOOSABLE_UNIT, OrgUnit.id, OrgUnit.name, no_title).where(
            *_placeable_units(organisation_id), no_active_role
        ),
        named(_ROLE_MAPPING, Mapping.id, Mapping.code, Mapping.title, Mapping.id).where(
            *published_for_job_roles(organisation_id, active_roles)
        ),
    )
    # held: oldest first (``_assignments_query``); choices: roles by code, units by name;
    # mappings by id
    columns = reads.selected_columns
    return reads.order_by(columns.tag, columns.at, columns.n, columns.name, columns.target_id)


def people_of(
    session: Session,
    organisation_id: int,
    offset: int | None = None,
    limit: int | None = None,
    unit_ids: frozenset[int] | None = None,
) -> list[Placement]:
    """Everyone of the organisation the tool knows (has launched), with roles and units;
    one page of them with ``offset``/``limit``; only the people of ``unit_ids`` if given."""
    if unit_ids is None and offset is None and limit is None:  # everyone, often asked
        people = session.scalars(_everyone_query(), {"organisation_id": organisation_id})
        return _placements(session, organisation_id, list(people))
    query = _people_query(select(Person), organisation_id, unit_ids)
    people = session.scalars(query.offset(offset).limit(limit))
    return _placements(session, organisation_id, list(people))


def _people_query(query: Any, organisation_id: int, unit_ids: frozenset[int] | None) -> Any:
    """``query`` of the organisation's people (of ``unit_ids``' if given), in list order."""
    query = query.where(Person.organisation_id == organisation_id)
    if unit_ids is not None:
        query = query.where(Person.id.in_(in_units(unit_ids, pending=True)))
    return query.order_by(*_PEOPLE_ORDER)


_PEOPLE_ORDER = (Person.family_name, Person.given_name, Person.name, Person.id)


@functools.cache
def _everyone_query() -> Any:
    """``people_of`` the whole organisation, made once (its pages ask for everyone)."""
    return (
        select(Person)
        .where(Person.organisation_id == bindparam("organisation_id"))
        .order_by(*_PEOPLE_ORDER)
    )


def person_names(session: Session, organisation_id: int) -> list[tuple[int, str]]:
    """Everyone of the organisation as (id, display name), in the order of ``people_of``:
    for a select of people, which needs no roles or units (one statement)."""
    people = session.scalars(
        select(Person)
        .where(Person.organisation_id == organisation_id)
        .options(
            load_only(Person.name, Person.given_name, Person.family_name, Person.email, Person.sub)
        )
        .order_by(Person.family_name, Person.given_name, Person.name, Person.id)
    )
    return [(person.id, person.display_name) for person in people]


def count_people(session: Session, organisation_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Person)
            .where(Person.organisation_id == organisation_id)
        )
        or 0
    )


def pending_placements(
    session: Session, organisation_id: int, unit_ids: frozenset[int] | None = None
) -> list[Placement]:
    """The people with self-choices awaiting a decision (of ``unit_ids``' people if given),
    with those choices only (``decidable`` keeps those a manager of the units may
    decide): two statements, however many people there are."""
    by_id: dict[int, Placement] = {}
    for kind in Kind:
        spec = SPECS[kind]
        query = (
            _assignments_query(kind, False)
            .join(Person, Person.id == spec.model.person_id)
            .where(Person.organisation_id == bindparam("organisation_id"))
            .options(contains_eager(spec.model.person))
        )
        if unit_ids is not None:
            query = query.where(spec.model.person_id.in_(in_units(unit_ids, pending=True)))
        values = {"organisation_id": organisation_id, "statuses": [AssignmentStatus.PENDING]}
        for row in session.scalars(query, values):
            placement = by_id.setdefault(row.person_id, Placement(row.person))
            (placement.pending_roles if kind == Kind.ROLE else placement.pending_units).append(row)
    return list(by_id.values())


def decidable(placements: Iterable[Placement], unit_ids: frozenset[int] | None) -> list[Placement]:
    """The choices a manager of ``unit_ids`` (None: every unit) may decide, person by person
    in ``people_order``: a chosen unit only among those units (``_check_for_manager``); a
    chosen job role of anyone shown. No button is offered that would answer "not found"."""
    found = []
    for placement in placements:
        units = [a for a in placement.pending_units if unit_ids is None or a.unit_id in unit_ids]
        if placement.pending_roles or units:
            found.append(dataclasses.replace(placement, pending_units=units))
    return sorted(found, key=people_order)


def people_order(placement: Placement) -> tuple[Any, ...]:
    """The order people are listed in (family name, given name, name, id; a missing name
    first), the same on every database: the choices awaiting a decision keep their order
    whether everyone is on one page or not."""
    person = placement.person
    names = (person.family_name, person.given_name, person.name)
    return (*((value is not None, (value or "").casefold()) for value in names), person.id)


#: The people a manager's start page shows at a time.
PEOPLE_PER_PAGE = 50


@dataclasses.dataclass
class PeoplePage:
    """One page of a manager's people, where it stands among all of them, and every
    choice awaiting the manager's decision (whichever page its person is on)."""

    people: list[Placement]
    page: int
    pages: int
    total: int
    pending: list[Placement]


def people_page(
    session: Session,
    organisation_id: int,
    unit_ids: frozenset[int] | None,
    page: int,
    per_page: int = PEOPLE_PER_PAGE,
) -> PeoplePage:
    """Page ``page`` of ``people_of`` (the last page when there are fewer), with the count
    of them all from the same statement (a window count): an organisation of thousands
    costs what a unit of ten does. The choices the manager may decide (``decidable``)
    come from the page when everyone is on it, else from two statements of their own."""
    query = _people_query(select(Person, func.count().over()), organisation_id, unit_ids)
    page = max(page, 1)
    rows = session.execute(query.offset((page - 1) * per_page).limit(per_page)).all()
    if not rows and page > 1:  # past the last page: the last one
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = max(1, math.ceil(total / per_page))
        rows = session.execute(query.offset((page - 1) * per_page).limit(per_page)).all()
    total = rows[0][1] if rows else 0
    placements = _placements(session, organisation_id, [row[0] for row in rows])
    pages = max(1, math.ceil(total / per_page))
    waiting = placements if pages == 1 else pending_placements(session, organisation_id, unit_ids)
    return PeoplePage(placements, page, pages, total, decidable(waiting, unit_ids))
