"""The people's requirement rows (``models.CoverageCell``), kept current.

**Why a table.** The coordinators' figures count every cell of every person of a region;
rebuilding each person's union of job-role requirements and matching it to their
holdings on every request took seconds at 20,000 people. Those inputs change far more
rarely than the figures are read, so the rows are written when they change and read as
they are; the status is still worked out when read, from the stored dates and the time.

**When they are written.** ``refresh_cells`` rewrites the rows of the people concerned:
- at the end of each flush that inserted, changed or deleted a job-role assignment, a
  requirement, a job role's archiving or a person's organisation (``keep_cells_current``,
  wired by the app factory), so every path that changes them (manager pages, launches,
  HR files, the designer, imports, the API) keeps the rows right in its own transaction
  and no service has to remember to;
- by ``services.evidence.hold``, the one place holdings change.
Statements that bypass the ORM (bulk ``insert()``/``update()`` of those tables) must
call ``refresh_cells`` themselves.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Session, object_session

from lti_tool.models import (
    AssignmentStatus,
    Competence,
    CompetenceHolding,
    CoverageCell,
    FrameworkVersion,
    JobRole,
    JobRoleAssignment,
    Person,
    Requirement,
)
from lti_tool.services.coverage_figures import expires_sql

#: Where a flush notes what it changed until it is over (``Session.info``).
_PENDING = "coverage_cells_pending"


def lines_query(people: Any) -> Select[*tuple[Any, ...]]:
    """The rows of the people whose id is in ``people`` (a subquery): each requirement of
    each of their active job roles (of their own organisation, not archived), with the
    union of their roles' requirements (``domain.requirements``) and their holding of
    the competence, in the order of ``COLUMNS``."""
    held = (
        select(Person.organisation_id, JobRoleAssignment.person_id, JobRoleAssignment.job_role_id)
        .join(Person, Person.id == JobRoleAssignment.person_id)
        .join(JobRole, JobRole.id == JobRoleAssignment.job_role_id)
        .where(
            JobRoleAssignment.status == AssignmentStatus.ACTIVE,
            JobRoleAssignment.person_id.in_(people),
            JobRole.archived.is_(False),
            JobRole.organisation_id == Person.organisation_id,
        )
        .distinct()
        .subquery("held")
    )
    r = Requirement
    cell = (held.c.person_id, r.competence_id)

    def first_of(*partition: Any) -> Any:
        return func.row_number().over(
            partition_by=partition, order_by=(r.competence_id, held.c.job_role_id)
        )

    lines = (
        select(
            held.c.person_id,
            r.competence_id,
            held.c.job_role_id,
            held.c.organisation_id,
            func.max(r.required_level).over(partition_by=cell).label("required_level"),
            func.min(r.renewal_months).over(partition_by=cell).label("renewal_months"),
            func.max(case((r.mandatory, 1), else_=0)).over(partition_by=cell).label("mandatory"),
            func.row_number()
            .over(partition_by=cell, order_by=held.c.job_role_id)
            .label("cell_rank"),
            first_of(held.c.person_id).label("person_rank"),
            first_of(held.c.person_id, held.c.job_role_id).label("role_rank"),
            first_of(held.c.person_id, Competence.identifier).label("identifier_rank"),
        )
        .join(r, r.job_role_id == held.c.job_role_id)
        .join(Competence, Competence.id == r.competence_id)
        .subquery("lines")
    )
    h = CompetenceHolding
    return (
        select(
            lines.c.person_id,
            lines.c.competence_id,
            lines.c.job_role_id,
            lines.c.organisation_id,
            lines.c.required_level,
            lines.c.renewal_months,
            lines.c.mandatory == 1,
            h.level,
            expires_sql(lines.c.renewal_months, h.recorded_at, h.valid_until),
            lines.c.cell_rank == 1,
            lines.c.person_rank == 1,
            lines.c.role_rank == 1,
            lines.c.identifier_rank == 1,
        )
        .join(Competence, Competence.id == lines.c.competence_id)
        .join(FrameworkVersion, FrameworkVersion.id == Competence.version_id)
        .outerjoin(
            h,
            and_(
                h.organisation_id == lines.c.organisation_id,
                h.person_id == lines.c.person_id,
                h.framework_id == FrameworkVersion.framework_id,
                h.identifier == Competence.identifier,
            ),
        )
    )


COLUMNS = (
    "person_id",
    "competence_id",
    "job_role_id",
    "organisation_id",
    "required_level",
    "renewal_months",
    "mandatory",
    "level",
    "expires_at",
    "counts_cell",
    "counts_person",
    "counts_role_person",
    "counts_identifier_person",
)


def _roles_of(person_ids: Collection[int]) -> Select[int]:
    """The job roles of the people's assignments, pending ones too (they may turn active)."""
    return select(JobRoleAssignment.job_role_id).where(
        JobRoleAssignment.person_id.in_(sorted(person_ids))
    )


def lock_roles_of(session: Session, person_ids: Collection[int]) -> None:
    """Lock the job roles of these people ``FOR SHARE``, in id order: what a rewrite of
    their rows takes before their own rows (``refresh_cells``). A writer that locks the
    people itself takes this first, so it waits for a change of a role's requirements
    instead of deadlocking with it."""
    if person_ids:
        session.execute(
            select(JobRole.id)
            .where(JobRole.id.in_(_roles_of(person_ids)))
            .order_by(JobRole.id)
            .with_for_update(read=True)
        )


def refresh_cells(
    session: Session, *, person_ids: Collection[int] = (), job_role_ids: Collection[int] = ()
) -> None:
    """Rewrite the lines of these people and of everyone actively holding these job roles:
    four statements, whatever their number.

    Two transactions rewriting one person's lines at once (two managers, a launch and
    HR's file, a new holding) would each delete the rows they see and insert the same
    keys: the second fails on the primary key, or keeps lines missing the first's
    change. So the rows' inputs are locked first (PostgreSQL; SQLite has one writer at a
    time), job roles before people, each in id order, so that two rewrites wait for one
    another instead of deadlocking; the second waits for the first to commit, then its
    DELETE and INSERT see what the first wrote.

    - The job roles: a person's rewrite cannot see a requirement another transaction
      is adding to a role the person is being given, and that transaction cannot see the
      person among the role's holders. So a rewrite by role takes its roles
      ``FOR NO KEY UPDATE`` before reading their holders, and a rewrite by person takes
      the roles of the person's assignments (pending ones too: they may turn active)
      ``FOR SHARE``; the two exclude each other, people's rewrites do not. Inserting a
      row that refers to a role (a requirement, an assignment) does not wait.
    - The people, ``FOR NO KEY UPDATE``: inserts that refer to the person (a launch's
      membership, evidence) do not wait, but updating the person's row does, such as the
      launch's ``last_seen_at`` (``services.launches.upsert_person``): that launch waits
      until the rewriting transaction commits, which is the length of one request (a
      manager's form, an HR file's import)."""
    if not person_ids and not job_role_ids:
        return
    if not job_role_ids:  # the usual case (new evidence): statements made once, ids bound
        for statement in _rewrite_of_people():
            session.execute(statement, {"person_ids": sorted(person_ids)})
        return
    roles = []
    if job_role_ids:
        roles.append(JobRole.id.in_(sorted(job_role_ids)))
    if person_ids:
        roles.append(JobRole.id.in_(_roles_of(person_ids)))
    locked = select(JobRole.id).where(or_(*roles)).order_by(JobRole.id)
    if job_role_ids:
        session.execute(locked.with_for_update(key_share=True))
    else:
        session.execute(locked.with_for_update(read=True))
    concerned = []
    if person_ids:
        concerned.append(Person.id.in_(sorted(person_ids)))
    if job_role_ids:
        holders = select(JobRoleAssignment.person_id).where(
            JobRoleAssignment.job_role_id.in_(sorted(job_role_ids)),
            JobRoleAssignment.status == AssignmentStatus.ACTIVE,
        )
        concerned.append(Person.id.in_(holders))
    people = select(Person.id).where(or_(*concerned))
    session.execute(people.order_by(Person.id).with_for_update(key_share=True))
    session.execute(
        delete(CoverageCell)
        .where(CoverageCell.person_id.in_(people))
        .execution_options(synchronize_session=False)
    )
    session.execute(insert(CoverageCell).from_select(COLUMNS, lines_query(people)))


@functools.cache
def _rewrite_of_people() -> tuple[Any, ...]:
    """``refresh_cells`` of people only, its four statements made once (making them costs
    more than running them), the ids bound as ``person_ids``: the same SQL."""
    ids: Any = bindparam("person_ids", expanding=True)
    roles = select(JobRoleAssignment.job_role_id).where(JobRoleAssignment.person_id.in_(ids))
    people = select(Person.id).where(Person.id.in_(ids))
    cells = typing.cast(Table, CoverageCell.__table__)  # Core: the ids bound as for a select
    return (
        select(JobRole.id)
        .where(JobRole.id.in_(roles))
        .order_by(JobRole.id)
        .with_for_update(read=True),
        people.order_by(Person.id).with_for_update(key_share=True),
        delete(cells).where(cells.c.person_id.in_(people)),
        insert(cells).from_select(COLUMNS, lines_query(people)),
    )


# --- noticing the changes -------------------------------------------------------------------


def _note(target: Any, kind: str, value: int | None) -> None:
    session = object_session(target)
    if session is not None and value is not None:
        pending = session.info.setdefault(_PENDING, {"people": set(), "roles": set()})
        pending[kind].add(value)


def _assignment_changed(_mapper: Any, _connection: Any, row: JobRoleAssignment) -> None:
    _note(row, "people", row.person_id)


def _requirement_changed(_mapper: Any, _connection: Any, row: Requirement) -> None:
    _note(row, "roles", row.job_role_id)
    for old in inspect(row).attrs.job_role_id.history.deleted or ():
        _note(row, "roles", old)


def _job_role_changed(_mapper: Any, _connection: Any, role: JobRole) -> None:
    changed = inspect(role).attrs
    if changed.archived.history.has_changes() or changed.organisation_id.history.has_changes():
        _note(role, "roles", role.id)


def _job_role_deleted(_mapper: Any, connection: Any, role: JobRole) -> None:
    """The role's own lines go with it (ON DELETE CASCADE); its holders' other lines may
    carry its level: they are rewritten."""
    for person_id in connection.scalars(
        select(CoverageCell.person_id).where(CoverageCell.job_role_id == role.id).distinct()
    ):
        _note(role, "people", person_id)


def _person_changed(_mapper: Any, _connection: Any, person: Person) -> None:
    if inspect(person).attrs.organisation_id.history.has_changes():
        _note(person, "people", person.id)


def _after_flush(session: Session, _context: Any) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        refresh_cells(session, person_ids=pending["people"], job_role_ids=pending["roles"])


_LISTENERS: tuple[tuple[Any, str, Any], ...] = (
    (JobRoleAssignment, "after_insert", _assignment_changed),
    (JobRoleAssignment, "after_update", _assignment_changed),
    (JobRoleAssignment, "after_delete", _assignment_changed),
    (Requirement, "after_insert", _requirement_changed),
    (Requirement, "after_update", _requirement_changed),
    (Requirement, "after_delete", _requirement_changed),
    (JobRole, "after_update", _job_role_changed),
    (JobRole, "before_delete", _job_role_deleted),
    (Person, "after_update", _person_changed),
    (Session, "after_flush", _after_flush),
)


def keep_cells_current() -> None:
    """Have every flush that changes the lines' inputs rewrite them (idempotent)."""
    for target, name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
