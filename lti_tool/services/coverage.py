"""A unit's competence matrix: its people × the competences their job roles require, each
cell with a status (``domain.coverage``), and coverage per competence, per person and in all.

Read from the people's holdings (``competence_holding``, kept as evidence arrives), so the
statements run do not grow with people or competences: ``unit_matrix`` runs five whatever
the unit's size. ``matrix_rows`` streams the same cells person by person in batches (for
exports of a unit or the whole organisation) with memory bounded by the batch.

A unit's matrix covers the unit and the units under it (``unit_scope``); a manager by
grant reaches only their units, and another organisation's unit is not found.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Select, Text, bindparam, cast, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.db import among, dialect_of
from lti_tool.domain.coverage import (
    COVERED,
    DEFAULT_EXPIRING_DAYS,
    CellStatus,
    Holding,
    cell_status_and_expiry,
    coverage,
    coverage_of,
)
from lti_tool.domain.requirements import PersonRequirement, RoleRequirement, union_requirements
from lti_tool.domain.texts import localized, localized_json
from lti_tool.errors import NotFound
from lti_tool.models import (
    AssignmentStatus,
    Certificate,
    Competence,
    CompetenceHolding,
    Evidence,
    Framework,
    FrameworkVersion,
    JobRole,
    JobRoleAssignment,
    Person,
    Requirement,
    UnitAssignment,
)
from lti_tool.services import assignments, certificates, org_units
from lti_tool.services.requirements import holdings_of

PER_PAGE = 50
#: People read per batch when streaming (``matrix_rows``).
BATCH = 500
#: How bad a status is, worst first: the order of a sort by one competence.
SEVERITY = (
    CellStatus.EXPIRED,
    CellStatus.GAP,
    CellStatus.NEVER_ASSESSED,
    CellStatus.EXPIRING,
    CellStatus.MET,
)
SORTS = ("name", "-name", "coverage", "-coverage")
"""Sort keys besides ``c<competence id>`` (by that competence's status, worst first);
a leading ``-`` reverses."""


@dataclasses.dataclass(frozen=True)
class MatrixFilters:
    job_role_ids: frozenset[int] = frozenset()
    """People holding any of these job roles; empty: everyone."""
    competence_ids: frozenset[int] = frozenset()
    """Only these competences' columns; empty: every required competence."""
    statuses: frozenset[CellStatus] = frozenset()
    """People with at least one cell in one of these statuses; empty: everyone."""
    mandatory_only: bool = False
    """Only the requirements that are mandatory (in any of the person's roles)."""


class Cell(NamedTuple):
    """One person's standing on one required competence. A named tuple: an organisation's
    export makes hundreds of thousands."""

    competence_id: int
    status: CellStatus
    required_level: int
    held_level: int | None
    """None: nothing shown (never assessed)."""
    expires_at: dt.datetime | None
    mandatory: bool
    own_word: bool = False
    """Held by the person's own word only (``domain.coverage.Holding.own_word``)."""

    @property
    def held_by_own_word(self) -> bool:
        """Held today (met or expiring) by the person's own word only: what the page, the
        exports and the API count."""
        return self.own_word and self.status in COVERED


@dataclasses.dataclass(frozen=True)
class Heading:
    """A required competence, in the reader's language."""

    competence_id: int
    code: str
    title: str
    framework: str
    framework_version: int
    order: tuple[str, int, int, str] = dataclasses.field(repr=False, compare=False)
    """Framework, version, place in it, code: the columns' order."""


@dataclasses.dataclass(frozen=True)
class Column(Heading):
    """A column of the matrix: the competence with its figures."""

    mandatory: bool = True
    """Mandatory for at least one person of the matrix."""
    counts: dict[CellStatus, int] = dataclasses.field(default_factory=dict)
    coverage: float | None = None


@dataclasses.dataclass(frozen=True)
class PersonRow:
    person_id: int
    name: str
    job_roles: tuple[str, ...]
    cells: tuple[Cell | None, ...]
    """One per column, in the columns' order; None: not required of this person."""
    counts: dict[CellStatus, int]
    coverage: float | None


@dataclasses.dataclass(frozen=True)
class RoleOption:
    id: int
    title: str


@dataclasses.dataclass(frozen=True)
class Matrix:
    columns: tuple[Column, ...]
    rows: tuple[PersonRow, ...]
    """The page's people."""
    people: int
    """People after the filters, on every page."""
    page: int
    pages: int
    per_page: int
    counts: dict[CellStatus, int]
    coverage: float | None
    """Of every cell of the filtered people (every page)."""
    own_word: int
    """Of those cells, the ones held today (met or expiring) by the person's own word only."""
    job_roles: tuple[RoleOption, ...]
    """The job roles the unit's people hold (the filter's choices)."""
    now: dt.datetime
    expiring_days: int


# --- the pieces: scope, requirements, people --------------------------------------------------


def unit_scope(
    session: Session, organisation_id: int, unit_id: int, managed: frozenset[int] | None
) -> frozenset[int]:
    """The unit and the units under it, when the caller manages it (``managed``: the
    manager's units with theirs, None: the whole organisation); else not found."""
    org_units.get_unit(session, organisation_id, unit_id)
    if managed is not None and unit_id not in managed:
        raise NotFound(f"unit {unit_id} is not one of {sorted(managed)}")
    return org_units.with_sub_units(session, organisation_id, {unit_id})


@dataclasses.dataclass(frozen=True)
class _Profiles:
    """The organisation's job roles, their requirements and the competences asked for."""

    titles: dict[int, str]
    requirements: dict[int, list[RoleRequirement]]
    headings: dict[int, Heading]
    merged: dict[tuple[int, ...], list[PersonRequirement]] = dataclasses.field(default_factory=dict)
    """``required_of``'s answers: people share a few combinations of job roles."""

    def required_of(self, role_ids: Sequence[int]) -> list[PersonRequirement]:
        """What the roles ask for together (``union_requirements``), made once per
        combination of roles."""
        key = tuple(role_ids)
        found = self.merged.get(key)
        if found is None:
            found = union_requirements(r for i in key for r in self.requirements.get(i, ()))
            self.merged[key] = found
        return found


@functools.cache
def _profiles_queries(dialect: str | None = None) -> tuple[Any, Any]:
    """``_profiles``' two statements, made once (every plan page runs them); with a
    ``dialect``, the requirements of the roles given (``role_ids``) only."""
    roles = select(JobRole.id, JobRole.code, JobRole.title).where(
        JobRole.organisation_id == bindparam("organisation_id"), JobRole.archived.is_(False)
    )
    requirements = (
        select(
            Requirement.job_role_id,
            Requirement.required_level,
            Requirement.mandatory,
            Requirement.renewal_months,
            Competence.id,
            Competence.code,
            cast(Competence.title, Text).label("competence_title"),
            Competence.position,
            Framework.code,
            cast(FrameworkVersion.title, Text).label("version_title"),
            FrameworkVersion.number,
        )
        .join(JobRole, Requirement.job_role_id == JobRole.id)
        .join(Competence, Requirement.competence_id == Competence.id)
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .join(Framework, FrameworkVersion.framework_id == Framework.id)
        .where(JobRole.organisation_id == bindparam("organisation_id"), JobRole.archived.is_(False))
    )
    if dialect is not None:
        requirements = requirements.where(among(dialect, JobRole.id, "role_ids"))
    return roles, requirements


def _profiles(
    session: Session, organisation_id: int, locale: str, role_ids: Sequence[int] | None = None
) -> _Profiles:
    """Every job role of the organisation in use, with its requirements, or with those of
    ``role_ids`` only (two statements)."""
    of: dict[str, Any] = {"organisation_id": organisation_id}
    if role_ids is None:
        roles_query, requirements_query = _profiles_queries()
    else:
        roles_query, requirements_query = _profiles_queries(dialect_of(session))
        of["role_ids"] = list(role_ids)
    roles = session.execute(roles_query, of).all()
    rows = session.execute(requirements_query, of).all()
    requirements: dict[int, list[RoleRequirement]] = {}
    headings: dict[int, Heading] = {}
    # titles read as text and decoded once each: a version's title is on every row
    frameworks: dict[tuple[str | None, str], str] = {}
    for role_id, level, mandatory, renewal, cid, code, title, position, fw, vtitle, vnum in rows:
        requirements.setdefault(role_id, []).append(
            RoleRequirement(cid, level, mandatory, renewal, role_id)
        )
        if cid in headings:  # asked for by another role
            continue
        framework = frameworks.get((vtitle, fw)) or frameworks.setdefault(
            (vtitle, fw), localized_json(vtitle, locale) or fw
        )
        headings[cid] = Heading(
            cid,
            code,
            localized_json(title, locale) or code,
            framework,
            vnum,
            order=(framework.lower(), vnum, position, code),
        )
    return _Profiles(
        titles={i: localized(title, locale) or code for i, code, title in roles},
        requirements=requirements,
        headings=headings,
    )


def _people_query(
    organisation_id: int | BindParameter[int], unit_ids: frozenset[int] | None
) -> Select[*tuple[Any, ...]]:
    """The people placed (active) in the units, or every person of the organisation, by
    name."""
    query = select(
        Person.id, Person.name, Person.given_name, Person.family_name, Person.email, Person.sub
    ).where(Person.organisation_id == organisation_id)
    if unit_ids is not None:
        query = query.where(
            Person.id.in_(
                select(UnitAssignment.person_id).where(
                    UnitAssignment.unit_id.in_(unit_ids),
                    UnitAssignment.status == AssignmentStatus.ACTIVE,
                )
            )
        )
    return query.order_by(Person.family_name, Person.given_name, Person.name, Person.id)


def _display_name(name: str, given: str, family: str, email: str, sub: str) -> str:
    """``Person.display_name`` from the columns (no entity loaded)."""
    full = name or " ".join(p for p in (given, family) if p)
    return full or email or sub


@functools.cache
def _roles_query(dialect: str) -> Any:
    """``_roles_of``' statement, made once for each database."""
    return (
        select(JobRoleAssignment.person_id, JobRoleAssignment.job_role_id)
        .where(
            among(dialect, JobRoleAssignment.person_id, "person_ids"),
            JobRoleAssignment.status == AssignmentStatus.ACTIVE,
        )
        .order_by(JobRoleAssignment.id)
    )


@functools.cache
def _person_query() -> Any:
    """``_one_person``'s statement, made once (every plan page runs it)."""
    return _people_query(bindparam("organisation_id"), None).where(
        Person.id == bindparam("person_id")
    )


def _roles_of(
    session: Session, profiles: _Profiles, person_ids: Sequence[int]
) -> dict[int, list[int]]:
    """Each person's active job roles in use (one statement)."""
    if not person_ids:
        return {}
    rows = session.execute(_roles_query(dialect_of(session)), {"person_ids": list(person_ids)})
    found: dict[int, list[int]] = {}
    for person_id, role_id in rows:
        if role_id in profiles.titles:  # the organisation's, not archived
            found.setdefault(person_id, []).append(role_id)
    return found


@dataclasses.dataclass(frozen=True)
class PersonCells:
    """One person's cells (only the competences required of them), by competence id: what
    ``matrix_rows`` streams to exports."""

    person_id: int
    name: str
    job_role_ids: tuple[int, ...]
    job_roles: tuple[str, ...]
    cells: dict[int, Cell]


def _cells_of_batch(
    session: Session,
    organisation_id: int,
    profiles: _Profiles,
    people: Sequence[Any],
    *,
    now: dt.datetime,
    expiring_days: int,
    filters: MatrixFilters,
    roles: dict[int, list[int]] | None = None,
) -> list[PersonCells]:
    """The cells of a batch of people (two statements: their roles, unless given, and
    their holdings)."""
    if roles is None:
        roles = _roles_of(session, profiles, [p.id for p in people])
    if filters.job_role_ids:
        people = [p for p in people if filters.job_role_ids.intersection(roles.get(p.id, ()))]
    narrowed = filters.mandatory_only or filters.competence_ids
    kept: dict[tuple[int, ...], list[PersonRequirement]] = {}  # per combination of roles
    required: dict[int, list[PersonRequirement]] = {}
    for person in people:
        key = tuple(roles.get(person.id, ()))
        lines = kept.get(key)
        if lines is None:
            lines = profiles.required_of(key)
            if narrowed:
                lines = [
                    m
                    for m in lines
                    if (not filters.mandatory_only or m.mandatory)
                    and (not filters.competence_ids or m.competence_id in filters.competence_ids)
                ]
            kept[key] = lines
        required[person.id] = lines
    wanted = {m.competence_id for lines in kept.values() for m in lines}
    held = holdings_of(session, organisation_id, list(required), wanted)
    found = []
    nothing: dict[int, Holding] = {}
    for person in people:
        mine = held.get(person.id, nothing)
        cells = {}
        for m in required[person.id]:
            cid = m.competence_id
            holding = mine.get(cid)
            status, ends = cell_status_and_expiry(
                m.required_level, m.renewal_months, holding, now=now, expiring_days=expiring_days
            )
            cells[cid] = Cell(
                cid,
                status,
                m.required_level,
                None if holding is None else holding.level,
                ends,
                m.mandatory,
                holding is not None and holding.own_word,
            )
        if filters.statuses and not any(c.status in filters.statuses for c in cells.values()):
            continue
        name = _display_name(
            person.name, person.given_name, person.family_name, person.email, person.sub
        )
        role_ids = tuple(roles.get(person.id, ()))
        titles = tuple(profiles.titles[i] for i in role_ids)
        found.append(PersonCells(person.id, name, role_ids, titles, cells))
    return found


def _one_person(
    session: Session,
    organisation_id: int,
    person_id: int,
    now: dt.datetime,
    expiring_days: int,
    filters: MatrixFilters,
    locale: str,
) -> tuple[_Profiles, PersonCells]:
    """One person's cells, whatever their units, with the profiles of their own job roles
    (five statements: the person, their roles, the organisation's roles, their roles'
    requirements, their holdings). The requirements of the organisation's other roles are
    not read: a person's page costs the same among 5 job roles or 500. Another
    organisation's person is not found."""
    row = session.execute(
        _person_query(), {"organisation_id": organisation_id, "person_id": person_id}
    ).one_or_none()
    if row is None:
        raise NotFound(f"person {person_id} not in organisation {organisation_id}")
    assigned = [
        role_id
        for _person, role_id in session.execute(
            _roles_query(dialect_of(session)), {"person_ids": [person_id]}
        )
    ]
    profiles = _profiles(session, organisation_id, locale, role_ids=assigned)
    in_use = [role_id for role_id in assigned if role_id in profiles.titles]  # not archived
    (mine,) = _cells_of_batch(
        session,
        organisation_id,
        profiles,
        [row],
        now=now,
        expiring_days=expiring_days,
        filters=filters,
        roles={person_id: in_use},
    )
    return profiles, mine


def _count(cells: Iterable[Cell | None]) -> dict[CellStatus, int]:
    counts = dict.fromkeys(CellStatus, 0)
    for cell in cells:
        if cell is not None:
            counts[cell.status] += 1
    return counts


def _fields_of(heading: Heading) -> dict[str, Any]:
    """A heading's fields, shallow (``dataclasses.asdict`` copies deep, slowly)."""
    return {f.name: getattr(heading, f.name) for f in dataclasses.fields(heading)}


def _columns(profiles: _Profiles, people: Sequence[PersonCells]) -> tuple[Column, ...]:
    by_competence: dict[int, list[Cell]] = {}
    for person in people:
        for cell in person.cells.values():
            by_competence.setdefault(cell.competence_id, []).append(cell)
    columns = [
        Column(
            **_fields_of(profiles.headings[cid]),
            mandatory=any(cell.mandatory for cell in cells),
            counts=_count(cells),
            coverage=coverage(cell.status for cell in cells),
        )
        for cid, cells in by_competence.items()
    ]
    return tuple(sorted(columns, key=lambda col: col.order))


def _row(person: PersonCells, columns: Sequence[Column]) -> PersonRow:
    mine = person.cells
    cells = tuple(mine.get(col.competence_id) for col in columns)
    counts = _count(mine.values())  # the columns hold every cell of the person
    return PersonRow(
        person_id=person.person_id,
        name=person.name,
        job_roles=person.job_roles,
        cells=cells,
        counts=counts,
        coverage=coverage_of(counts),
    )


def _sort(rows: list[PersonRow], sort: str, columns: Sequence[Column]) -> list[PersonRow]:
    """Sort ``rows`` (already by name) by ``sort`` (``SORTS`` or ``c<id>``); people
    without a figure come last either way."""
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    if key == "name":
        return list(reversed(rows)) if descending else rows
    if key == "coverage":
        figured = [r for r in rows if r.coverage is not None]
        figured.sort(key=lambda r: r.coverage or 0.0, reverse=descending)
        return figured + [r for r in rows if r.coverage is None]
    index = next((i for i, col in enumerate(columns) if f"c{col.competence_id}" == key), None)
    if index is None:
        return rows
    rank = {status: n for n, status in enumerate(SEVERITY)}
    figured = [r for r in rows if r.cells[index] is not None]
    figured.sort(key=lambda r: rank[r.cells[index].status], reverse=descending)  # type: ignore[union-attr]
    return figured + [r for r in rows if r.cells[index] is None]


# --- what the pages, the API and the exports read ------------------------------------------


def unit_matrix(
    session: Session,
    organisation_id: int,
    unit_ids: frozenset[int] | None,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    filters: MatrixFilters | None = None,
    sort: str = "name",
    page: int = 1,
    per_page: int = PER_PAGE,
    locale: str = "nb",
) -> Matrix:
    """The matrix of the people placed in ``unit_ids`` (None: the whole organisation), one
    page of people, with the figures of every page. Five statements, whatever the size."""
    filters = filters or MatrixFilters()
    profiles = _profiles(session, organisation_id, locale)
    people = session.execute(_people_query(organisation_id, unit_ids)).all()
    everyone = _cells_of_batch(
        session,
        organisation_id,
        profiles,
        people,
        now=now,
        expiring_days=expiring_days,
        filters=dataclasses.replace(filters, job_role_ids=frozenset(), statuses=frozenset()),
    )
    held_roles = {i for p in everyone for i in p.job_role_ids}
    chosen = [
        p
        for p in everyone
        if (not filters.job_role_ids or filters.job_role_ids.intersection(p.job_role_ids))
        and (not filters.statuses or any(c.status in filters.statuses for c in p.cells.values()))
    ]
    columns = _columns(profiles, chosen)
    rows = _sort([_row(p, columns) for p in chosen], sort, columns)
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(page, 1), pages)
    all_cells = [c for r in rows for c in r.cells]
    return Matrix(
        columns=columns,
        rows=tuple(rows[(page - 1) * per_page : page * per_page]),
        people=len(rows),
        page=page,
        pages=pages,
        per_page=per_page,
        counts=_count(all_cells),
        coverage=coverage(c.status for c in all_cells if c is not None),
        own_word=sum(1 for c in all_cells if c is not None and c.held_by_own_word),
        job_roles=tuple(
            sorted(
                (RoleOption(i, profiles.titles[i]) for i in held_roles),
                key=lambda r: r.title.lower(),
            )
        ),
        now=now,
        expiring_days=expiring_days,
    )


@dataclasses.dataclass(frozen=True)
class StandingLine:
    """One competence required of a person: its heading, the cell (status, levels,
    expiry) and the requirement it comes from (the union of the person's roles)."""

    heading: Heading
    cell: Cell
    renewal_months: int | None
    job_roles: tuple[str, ...]
    """Titles of the person's job roles that ask for it."""


@dataclasses.dataclass(frozen=True)
class PersonStanding:
    person_id: int
    name: str
    job_roles: tuple[str, ...]
    lines: tuple[StandingLine, ...]
    """In the matrix's column order."""


def person_standing(
    session: Session,
    organisation_id: int,
    person_id: int,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    locale: str = "nb",
) -> PersonStanding:
    """One person's row of the matrix, whatever their units: every competence their
    active job roles require, with the status by the matrix's own rule. What a learning
    plan's gap analysis stands on (five statements). Another organisation's person is
    not found."""
    profiles, mine = _one_person(
        session, organisation_id, person_id, now, expiring_days, MatrixFilters(), locale
    )
    lines = [
        StandingLine(
            heading=profiles.headings[m.competence_id],
            cell=mine.cells[m.competence_id],
            renewal_months=m.renewal_months,
            job_roles=tuple(profiles.titles[i] for i in m.job_role_ids if i in profiles.titles),
        )
        for m in profiles.required_of(mine.job_role_ids)
    ]
    lines.sort(key=lambda line: line.heading.order)
    return PersonStanding(mine.person_id, mine.name, mine.job_roles, tuple(lines))


def headings(
    session: Session,
    organisation_id: int,
    unit_ids: frozenset[int] | None,
    *,
    filters: MatrixFilters | None = None,
    locale: str = "nb",
) -> tuple[Heading, ...]:
    """The competences the job roles of the people in ``unit_ids`` (None: of everyone in
    the organisation) require, after the filters, in the matrix's order: an export's
    columns before its rows are streamed (three statements)."""
    filters = filters or MatrixFilters()
    profiles = _profiles(session, organisation_id, locale)
    people = _people_query(organisation_id, unit_ids).with_only_columns(Person.id).order_by(None)
    if filters.job_role_ids:
        people = people.where(
            Person.id.in_(
                select(JobRoleAssignment.person_id).where(
                    JobRoleAssignment.job_role_id.in_(filters.job_role_ids),
                    JobRoleAssignment.status == AssignmentStatus.ACTIVE,
                )
            )
        )
    held = session.scalars(
        select(JobRoleAssignment.job_role_id)
        .where(
            JobRoleAssignment.person_id.in_(people),
            JobRoleAssignment.status == AssignmentStatus.ACTIVE,
        )
        .distinct()
    )
    # A competence is in someone's row when a role of theirs asks for it, and under
    # mandatory_only when a role of theirs makes it mandatory: both decided role by role.
    wanted = {
        r.competence_id
        for role_id in set(held) & set(profiles.titles)
        for r in profiles.requirements.get(role_id, ())
        if (not filters.competence_ids or r.competence_id in filters.competence_ids)
        and (r.mandatory or not filters.mandatory_only)
    }
    return tuple(sorted((profiles.headings[c] for c in wanted), key=lambda h: h.order))


def matrix_rows(
    session: Session,
    organisation_id: int,
    unit_ids: frozenset[int] | None,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    filters: MatrixFilters | None = None,
    locale: str = "nb",
    batch: int = BATCH,
) -> Iterator[PersonCells]:
    """The matrix's cells person by person, by name, for the people placed in ``unit_ids``
    (None: every person of the organisation). People are read through a server-side
    cursor ``batch`` at a time, each batch costing two statements: memory stays bounded
    by the batch, not the organisation. ``headings`` gives the columns."""
    filters = filters or MatrixFilters()
    profiles = _profiles(session, organisation_id, locale)
    result = session.execute(
        _people_query(organisation_id, unit_ids).execution_options(yield_per=batch)
    )
    for people in result.partitions():
        yield from _cells_of_batch(
            session,
            organisation_id,
            profiles,
            people,
            now=now,
            expiring_days=expiring_days,
            filters=filters,
        )


# --- the drill-down: one person's evidence and certificates for one competence ---------------


@dataclasses.dataclass(frozen=True)
class EvidenceLine:
    id: int
    recorded_at: dt.datetime
    source: str
    level: int
    level_label: str
    percentage: float | None
    valid_until: dt.datetime | None
    mapping: str | None
    """The code of the skills mapping it came from."""
    confidence: str
    """How far it can be trusted (``domain.evidence_sources``)."""
    course: str | None
    """The code of the activity whose completion it records."""
    confirmed_by: str | None
    """Who confirmed it (an instructor or manager), by the name they had then."""
    framework_version: int
    held: bool
    """The evidence the cell's status is decided by."""


@dataclasses.dataclass(frozen=True)
class CertificateLine:
    certificate: Certificate
    title: str
    standing: str
    covers: bool
    """It certifies this competence (any version of it)."""


@dataclasses.dataclass(frozen=True)
class Trail:
    person: Person
    heading: Heading
    cell: Cell | None
    """None: not required of the person by their job roles now."""
    evidence: tuple[EvidenceLine, ...]
    certificates: tuple[CertificateLine, ...]


def competence_trail(
    session: Session,
    organisation_id: int,
    person_id: int,
    competence_id: int,
    unit_ids: frozenset[int] | None,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    locale: str = "nb",
) -> Trail:
    """What a cell stands on: the person's evidence for the competence in every version of
    it (newest first, the held one marked), and their certificates. A person outside the
    manager's units (``unit_ids``) or organisation, or a competence of another
    organisation, is not found."""
    person = assignments.get_person(session, organisation_id, person_id)
    assignments.check_in_units(session, person_id, unit_ids)
    competence = session.get(Competence, competence_id)
    if competence is None or competence.version.framework.organisation_id != organisation_id:
        raise NotFound(f"competence {competence_id} not in organisation {organisation_id}")
    version = competence.version
    framework = localized(version.title, locale) or version.framework.code
    heading = Heading(
        competence.id,
        competence.code,
        localized(competence.title, locale) or competence.code,
        framework,
        version.number,
        order=(framework.lower(), version.number, competence.position, competence.code),
    )
    _, mine = _one_person(
        session,
        organisation_id,
        person_id,
        now,
        expiring_days,
        MatrixFilters(competence_ids=frozenset({competence_id})),
        locale,
    )
    held_id = session.scalar(
        select(CompetenceHolding.evidence_id).where(
            CompetenceHolding.organisation_id == organisation_id,
            CompetenceHolding.person_id == person_id,
            CompetenceHolding.framework_id == version.framework_id,
            CompetenceHolding.identifier == competence.identifier,
        )
    )
    records = session.scalars(
        select(Evidence)
        .join(Competence, Evidence.competence_id == Competence.id)
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .where(
            Evidence.organisation_id == organisation_id,
            Evidence.person_id == person_id,
            FrameworkVersion.framework_id == version.framework_id,
            Competence.identifier == competence.identifier,
        )
        .options(selectinload(Evidence.competence).selectinload(Competence.version))
        .order_by(Evidence.recorded_at.desc(), Evidence.id.desc())
    ).all()
    labels = {lvl.value: localized(lvl.label, locale) for lvl in version.levels}
    evidence = tuple(
        EvidenceLine(
            id=e.id,
            recorded_at=e.recorded_at,
            source=e.source,
            level=e.level,
            level_label=labels.get(e.level, ""),
            percentage=e.percentage,
            valid_until=e.valid_until,
            mapping=(e.detail or {}).get("mapping"),
            confidence=str(e.confidence),
            course=(e.detail or {}).get("course"),
            confirmed_by=(e.detail or {}).get("confirmed_by"),
            framework_version=e.competence.version.number,
            held=e.id == held_id,
        )
        for e in records
    )
    held_certificates = certificates.certificates_of(session, organisation_id, person_id)
    latest = {c.certification_id: c for c in reversed(held_certificates)}  # newest wins
    return Trail(
        person=person,
        heading=heading,
        cell=mine.cells.get(competence_id),
        evidence=evidence,
        certificates=tuple(
            CertificateLine(
                certificate=c,
                title=localized((c.content or {}).get("title"), locale) or c.certification.code,
                standing=certificates.standing(
                    c, now, expiring_days, renewed=latest[c.certification_id].id != c.id
                ).value,
                covers=any(
                    x.get("identifier") == competence.identifier
                    for x in (c.content or {}).get("competences", [])
                ),
            )
            for c in held_certificates
        ),
    )
