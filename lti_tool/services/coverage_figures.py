"""Coverage figures for coordinators: counts and percentages per municipality, unit, job
role and competence, never a name or a person id, with small groups suppressed
(``domain.suppression``), and the trend: coverage at each month's end.

**Counted in the database.** The cells (a person × a competence their active job roles
require, with the union rule of ``domain.requirements``: the highest level, the shortest
renewal) are kept in ``coverage_cell`` with the person's holding of each
(``services.coverage_cells``); their statuses are computed in SQL when read
(``cell_status_sql``, the rule of ``domain.coverage.cell_status``; a test checks that both
agree on every case), and only the sums per group leave the database: the statements run
do not grow with people, units or evidence.

**Groups.** A person counts in each unit they are placed in (people in no unit form a
group of their own) and in each of their job roles (with the cells that role asks for);
a competence's group is every cell of it. Across a region, job roles are matched by
code and competences by identifier (the same in every version and in every municipality
that imported the same framework).

**Who sees what** (``figures_scope``): a coordinator of a region sees every municipality
of the region (while their own municipality belongs to it); a coordinator of a
municipality, an admin and an API token see their own municipality only.

**The trend** (``coverage_snapshot``): one row per organisation, month and group, counts
only, written after each month's end by the worker (``record_due_snapshots``) or by
``flask coverage snapshot --month YYYY-MM``. A month is computed from the evidence
recorded up to its end, with the people's job roles and units as they are when it is
computed (placements are not kept month by month): a month filled in later is an
approximation, which the page says. The current month is computed live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import QueryableAttribute, Session

from lti_tool.db import MonthsAfter, UTCDateTime
from lti_tool.domain.coverage import DEFAULT_EXPIRING_DAYS, CellStatus, coverage_of
from lti_tool.domain.evidence_sources import SELF_SOURCES
from lti_tool.domain.suppression import suppressed
from lti_tool.domain.texts import localized
from lti_tool.errors import MonthNotOver, NotFound
from lti_tool.models import (
    AssignmentStatus,
    Competence,
    CoverageCell,
    CoverageSnapshot,
    Evidence,
    Framework,
    FrameworkVersion,
    GrantKind,
    JobRole,
    Organisation,
    OrgUnit,
    PermissionGrant,
    UnitAssignment,
)

#: The statuses in the order the figures show them.
STATUSES = (
    CellStatus.MET,
    CellStatus.EXPIRING,
    CellStatus.EXPIRED,
    CellStatus.GAP,
    CellStatus.NEVER_ASSESSED,
)
#: The trend's length when none is asked for, and the longest.
DEFAULT_MONTHS = 12
MAX_MONTHS = 36
#: ``CoverageSnapshot.dimension`` values.
ORGANISATION, UNIT, JOB_ROLE, COMPETENCE = "organisation", "unit", "job_role", "competence"


# --- who sees what --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scope:
    organisations: tuple[tuple[int, str], ...]
    """(id, name) of each municipality the figures cover, by name."""
    region: str | None
    """The region's name, for a coordinator of a region."""

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(i for i, _ in self.organisations)

    def only(self, organisation_id: int | None) -> Scope:
        """The scope narrowed to one of its municipalities (None: all of them); another
        municipality is not found."""
        if organisation_id is None:
            return self
        chosen = tuple(o for o in self.organisations if o[0] == organisation_id)
        if not chosen:
            raise NotFound(f"organisation {organisation_id} is not in the scope {self.ids}")
        return Scope(chosen, self.region)


def figures_scope(
    session: Session,
    organisation_id: int,
    held_grants: Iterable[PermissionGrant] = (),
) -> Scope:
    """The municipalities whose figures the caller sees (the module's rule): two
    statements at most."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id}")
    regions = {
        g.region_id
        for g in held_grants
        if g.kind == GrantKind.COORDINATOR and g.region_id is not None and g.active
    }
    scope = Scope(((organisation.id, organisation.name),), None)
    if organisation.region_id is not None and organisation.region_id in regions:
        assert organisation.region is not None
        members = session.execute(
            select(Organisation.id, Organisation.name)
            .where(Organisation.region_id == organisation.region_id)
            .order_by(Organisation.name)
        ).all()
        scope = Scope(tuple((i, name) for i, name in members), organisation.region.name)
    return scope


# --- the cells and their status, in SQL ------------------------------------------------------

SqlValue = ColumnElement[Any] | QueryableAttribute[Any]
"""A column or expression the status rule is worked out on."""


def expires_sql(
    renewal_months: SqlValue,
    recorded_at: SqlValue,
    valid_until: SqlValue,
) -> ColumnElement[Any]:
    """``domain.coverage.expires_at`` in SQL: the earlier of ``valid_until`` and
    ``recorded_at`` + ``renewal_months`` (no renewal: none, 0 included); NULL = never."""
    renewed = MonthsAfter(recorded_at, renewal_months)
    return case(
        (or_(renewal_months.is_(None), renewal_months == 0), valid_until),
        (valid_until.is_(None), renewed),
        (valid_until < renewed, valid_until),
        else_=renewed,
    )


def cell_status_sql(
    required_level: SqlValue,
    renewal_months: SqlValue,
    level: SqlValue,
    recorded_at: SqlValue,
    valid_until: SqlValue,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> ColumnElement[str]:
    """``domain.coverage.cell_status`` in SQL, in the same order: no holding (``level``
    NULL) → never_assessed; below the required level → gap; expired at ``now``; expiring
    within ``expiring_days``; else met (``tests/unit/test_coverage_sql.py`` checks that the
    two agree)."""
    return status_by_expiry_sql(
        required_level,
        level,
        expires_sql(renewal_months, recorded_at, valid_until),
        now=now,
        expiring_days=expiring_days,
    )


def status_by_expiry_sql(
    required_level: SqlValue,
    level: SqlValue,
    expires_at: SqlValue,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> ColumnElement[str]:
    """``cell_status_sql`` once the holding's expiry is known (``expires_sql``, as
    ``coverage_cell`` keeps it)."""
    soon = now + dt.timedelta(days=expiring_days)
    return case(
        (level.is_(None), literal(CellStatus.NEVER_ASSESSED.value)),
        (level < required_level, literal(CellStatus.GAP.value)),
        (expires_at <= literal(now, UTCDateTime()), literal(CellStatus.EXPIRED.value)),
        (expires_at <= literal(soon, UTCDateTime()), literal(CellStatus.EXPIRING.value)),
        else_=literal(CellStatus.MET.value),
    )


def _holdings_as_of(organisation_ids: Sequence[int], moment: dt.datetime) -> Subquery:
    """What each person held each competence by at ``moment``: the evidence recorded before
    it, ranked as ``domain.coverage.holding_rank`` ranks it (``competence_holding`` keeps
    the same for now)."""
    e = Evidence
    weight = case((e.source.in_(sorted(SELF_SOURCES)), 0), else_=1)
    ranked = (
        select(
            e.organisation_id,
            e.person_id,
            FrameworkVersion.framework_id,
            Competence.identifier,
            e.level,
            e.recorded_at,
            e.valid_until,
            func.row_number()
            .over(
                partition_by=(
                    e.organisation_id,
                    e.person_id,
                    FrameworkVersion.framework_id,
                    Competence.identifier,
                ),
                order_by=(weight.desc(), e.recorded_at.desc(), e.id.desc()),
            )
            .label("rank"),
        )
        .join(Competence, Competence.id == e.competence_id)
        .join(FrameworkVersion, FrameworkVersion.id == Competence.version_id)
        .where(e.organisation_id.in_(organisation_ids), e.recorded_at < moment)
        .subquery("ranked")
    )
    return select(ranked).where(ranked.c.rank == 1).subquery("held")


def cells_query(
    organisation_ids: Sequence[int],
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    as_of: bool = False,
) -> Subquery:
    """The organisations' people's rows (``models.CoverageCell``) with their status:
    (organisation_id, person_id, job_role_id, competence_id, counts_cell, counts_person,
    counts_role_person, status). ``as_of``: held as at ``now`` by the evidence recorded
    before it (a month's end), else by today's holdings (kept on the rows)."""
    line = CoverageCell
    keys = (
        line.organisation_id,
        line.person_id,
        line.job_role_id,
        line.competence_id,
        line.counts_cell,
        line.counts_person,
        line.counts_role_person,
    )
    in_scope = line.organisation_id.in_(organisation_ids)
    if not as_of:
        status = status_by_expiry_sql(
            line.required_level, line.level, line.expires_at, now=now, expiring_days=expiring_days
        )
        return select(*keys, status.label("status")).where(in_scope).subquery("cells")
    held = _holdings_as_of(organisation_ids, now)
    status = cell_status_sql(
        line.required_level,
        line.renewal_months,
        held.c.level,
        held.c.recorded_at,
        held.c.valid_until,
        now=now,
        expiring_days=expiring_days,
    )
    return (
        select(*keys, status.label("status"))
        .join(Competence, Competence.id == line.competence_id)
        .join(FrameworkVersion, FrameworkVersion.id == Competence.version_id)
        .outerjoin(
            held,
            and_(
                held.c.organisation_id == line.organisation_id,
                held.c.person_id == line.person_id,
                held.c.framework_id == FrameworkVersion.framework_id,
                held.c.identifier == Competence.identifier,
            ),
        )
        .where(in_scope)
        .subquery("cells")
    )


# --- the sums per group ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Counts:
    """A group's people and cells per status (what the snapshots keep)."""

    people: int
    cells: dict[CellStatus, int]

    @property
    def coverage(self) -> float | None:
        return coverage_of(self.cells)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.people + other.people,
            {s: self.cells.get(s, 0) + other.cells.get(s, 0) for s in STATUSES},
        )


EMPTY = Counts(0, dict.fromkeys(STATUSES, 0))


@dataclasses.dataclass(frozen=True)
class Sums:
    """The counts of each group, by organisation first (people are of one organisation,
    so the sums of one key across organisations add up)."""

    organisations: dict[int, Counts]
    units: dict[tuple[int, int | None], Counts]
    """None: the people placed in no unit."""
    job_roles: dict[tuple[int, str], Counts]
    """By job role code."""
    competences: dict[tuple[int, str], Counts]
    """By competence identifier."""


def _tallies(session: Session, cells: Subquery) -> Any:
    """Rows counted per status and per flag in three groupings of ``cells`` joined to
    the people's units: by unit, by job role, by competence (the role and competence
    then labelled by code and identifier). One pass with GROUPING SETS on PostgreSQL; a
    UNION of the three on SQLite."""
    distinct_placed = (
        select(UnitAssignment.person_id, UnitAssignment.unit_id)
        .where(UnitAssignment.status == AssignmentStatus.ACTIVE)
        .distinct()
        .subquery("distinct_placed")
    )
    placed = select(
        distinct_placed.c.person_id,
        distinct_placed.c.unit_id,
        func.row_number()
        .over(partition_by=distinct_placed.c.person_id, order_by=distinct_placed.c.unit_id)
        .label("unit_rank"),
    ).subquery("placed")
    first_unit = func.coalesce(placed.c.unit_rank, 1) == 1  # counts the person once
    rows = (
        select(cells, placed.c.unit_id, first_unit.label("first_unit"))
        .select_from(cells.outerjoin(placed, placed.c.person_id == cells.c.person_id))
        .subquery("rows")
    )
    c = rows.c
    by = (c.organisation_id, c.first_unit, c.counts_cell)
    sets = {
        UNIT: (*by, c.unit_id),
        JOB_ROLE: (*by, c.job_role_id),
        COMPETENCE: (*by, c.competence_id),
    }
    columns = (*by, c.unit_id, c.job_role_id, c.competence_id)
    sums = (
        func.count().filter(c.counts_person).label("people"),
        func.count().filter(c.counts_role_person).label("role_people"),
        *(func.count().filter(c.status == s.value).label(s.value) for s in STATUSES),
    )
    if session.get_bind().dialect.name == "postgresql":
        grouped = (
            select(
                *columns,
                func.grouping(c.unit_id, c.job_role_id, c.competence_id).label("grouping"),
                *sums,
            )
            .group_by(func.grouping_sets(*(tuple_(*keys) for keys in sets.values())))
            .subquery("grouped")
        )
        # GROUPING() sets a bit for each of (unit, role, competence) not grouped by
        dimension: ColumnElement[Any] = case(
            (grouped.c.grouping == 0b011, literal(UNIT)),
            (grouped.c.grouping == 0b101, literal(JOB_ROLE)),
            else_=literal(COMPETENCE),
        )
    else:
        grouped = union_all(
            *(
                select(
                    *(
                        col if any(col is key for key in keys) else null().label(col.name)
                        for col in columns
                    ),
                    literal(name).label("grouping"),
                    *sums,
                ).group_by(*keys)
                for name, keys in sets.items()
            )
        ).subquery("grouped")
        dimension = grouped.c.grouping
    g = list(grouped.c)
    return session.execute(
        select(
            dimension,
            grouped.c.organisation_id,
            grouped.c.first_unit,
            grouped.c.counts_cell,
            grouped.c.unit_id,
            JobRole.code,
            Competence.identifier,
            *g[-len(sums) :],
        )
        .select_from(grouped)
        .outerjoin(JobRole, JobRole.id == grouped.c.job_role_id)
        .outerjoin(Competence, Competence.id == grouped.c.competence_id)
    )


def count_groups(
    session: Session,
    organisation_ids: Sequence[int],
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    as_of: bool = False,
) -> Sums:
    """The counts of every group of the organisations in one statement, whatever their
    size (``as_of`` as for ``cells_query``).

    Each row of ``coverage_cell`` carries flags that make every count a plain sum: the
    row that counts the person's cell (``counts_cell``), the person (``counts_person``),
    the person among a role's people (``counts_role_person``); joined to the units,
    ``first_unit`` marks the one unit that counts a person placed in several for the rest
    of the figures (a person's other units add nothing to their roles or competences).
    The database sums per unit, role and competence; the organisations' counts are their
    units' with ``first_unit``."""
    if not organisation_ids:
        return Sums({}, {}, {}, {})
    cells = cells_query(organisation_ids, now=now, expiring_days=expiring_days, as_of=as_of)
    found: dict[str, dict[Any, Counts]] = defaultdict(lambda: defaultdict(lambda: EMPTY))
    for row in _tallies(session, cells):
        dimension, org, first_unit, counts_cell, unit_id, code, identifier = row[:7]
        people, role_people = int(row[7] or 0), int(row[8] or 0)
        per_status = dict(zip(STATUSES, (int(n or 0) for n in row[9:]), strict=True))
        if dimension == JOB_ROLE:  # every row of a role is one of its cells
            if first_unit:
                found[JOB_ROLE][(org, code)] += Counts(role_people, per_status)
        elif not counts_cell:
            continue  # a cell counted on another row
        elif dimension == UNIT:
            found[UNIT][(org, unit_id)] += Counts(people, per_status)
            if first_unit:
                found[ORGANISATION][org] += Counts(people, per_status)
        elif first_unit:
            found[COMPETENCE][(org, identifier)] += Counts(sum(per_status.values()), per_status)
    return Sums(
        organisations=dict(found[ORGANISATION]),
        units=dict(found[UNIT]),
        job_roles=dict(found[JOB_ROLE]),
        competences=dict(found[COMPETENCE]),
    )


# --- what coordinators see ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Group:
    """One line of a breakdown. Suppressed: no counts at all (``domain.suppression``)."""

    key: str
    label: str
    people: int | None
    cells: dict[CellStatus, int] | None
    coverage: float | None
    suppressed: bool
    municipality: str | None = None
    """The unit's municipality (the unit breakdown only)."""


@dataclasses.dataclass(frozen=True)
class Month:
    month: dt.date
    live: bool
    """The current month, computed now."""
    recorded: bool
    """False: no snapshot of the month (nothing to show)."""
    total: Group
    municipalities: tuple[Group, ...]


@dataclasses.dataclass(frozen=True)
class Figures:
    scope: Scope
    now: dt.datetime
    expiring_days: int
    total: Group
    municipalities: tuple[Group, ...]
    units: tuple[Group, ...]
    """Municipality by municipality; each municipality's units are one breakdown."""
    job_roles: tuple[Group, ...]
    competences: tuple[Group, ...]
    trend: tuple[Month, ...]
    choices: tuple[tuple[int, str], ...] = ()
    """The municipalities the caller may narrow the figures to (id, name)."""


def _breakdown(
    lines: Sequence[tuple[str, str, Counts]], municipality: str | None = None
) -> list[Group]:
    """Groups of one breakdown, with the suppression rule applied to them together."""
    hidden = suppressed([counts.people for _, _, counts in lines])
    return [
        Group(key, label, None, None, None, True, municipality)
        if hide
        else Group(key, label, counts.people, counts.cells, counts.coverage, False, municipality)
        for (key, label, counts), hide in zip(lines, hidden, strict=True)
    ]


def _merge(found: dict[tuple[int, Any], Counts]) -> dict[Any, Counts]:
    """Sums of one key across organisations."""
    merged: dict[Any, Counts] = defaultdict(lambda: EMPTY)
    for (_, key), counts in found.items():
        merged[key] = merged[key] + counts
    return dict(merged)


def _month_start(moment: dt.datetime | dt.date) -> dt.date:
    return dt.date(moment.year, moment.month, 1)


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _previous_month(month: dt.date) -> dt.date:
    return dt.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_end(month: dt.date) -> dt.datetime:
    """The instant a month's figures are taken at: the first of the next month, 00:00 UTC."""
    following = _next_month(month)
    return dt.datetime(following.year, following.month, following.day, tzinfo=dt.UTC)


def _trend(
    session: Session, scope: Scope, live: dict[int, Counts], now: dt.datetime, months: int
) -> tuple[Month, ...]:
    current = _month_start(now)
    wanted = [current]
    while len(wanted) < months:
        wanted.append(_previous_month(wanted[-1]))
    s = CoverageSnapshot
    rows = session.execute(
        select(
            s.month, s.organisation_id, s.people, *(getattr(s, st.value) for st in STATUSES)
        ).where(
            s.dimension == ORGANISATION,
            s.organisation_id.in_(scope.ids),
            s.month >= wanted[-1],
            s.month < current,
        )
    ).all()
    recorded: dict[dt.date, dict[int, Counts]] = defaultdict(dict)
    for month, organisation_id, people, *per_status in rows:
        recorded[month][organisation_id] = Counts(
            people, dict(zip(STATUSES, per_status, strict=True))
        )
    recorded[current] = live
    trend = []
    for month in reversed(wanted):
        per_organisation = recorded.get(month, {})
        total = sum(per_organisation.values(), EMPTY)
        trend.append(
            Month(
                month=month,
                live=month == current,
                recorded=bool(per_organisation) or month == current,
                total=_breakdown([("", "", total)])[0],
                municipalities=tuple(
                    _breakdown(
                        [
                            (str(i), name, per_organisation.get(i, EMPTY))
                            for i, name in scope.organisations
                        ]
                    )
                ),
            )
        )
    return tuple(trend)


def _labels(
    session: Session, scope: Scope, sums: Sums, locale: str
) -> tuple[dict[int, str], dict[str, str], dict[str, str]]:
    """Names of the units, job roles (by code) and competences (by identifier) counted:
    three statements."""
    unit_ids = {u for _, u in sums.units if u is not None}
    units = dict(
        session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(unit_ids))).all()
        if unit_ids
        else []
    )
    roles: dict[str, str] = {}
    codes = {code for _, code in sums.job_roles}
    if codes:
        for code, title in session.execute(
            select(JobRole.code, JobRole.title)
            .where(JobRole.organisation_id.in_(scope.ids), JobRole.code.in_(codes))
            .order_by(JobRole.organisation_id)
        ):
            roles.setdefault(code, localized(title, locale) or code)
    competences: dict[str, str] = {}
    identifiers = {i for _, i in sums.competences}
    if identifiers:
        for identifier, code, title in session.execute(
            select(Competence.identifier, Competence.code, Competence.title)
            .join(FrameworkVersion, FrameworkVersion.id == Competence.version_id)
            .join(Framework, Framework.id == FrameworkVersion.framework_id)
            .where(Framework.organisation_id.in_(scope.ids), Competence.identifier.in_(identifiers))
            .order_by(FrameworkVersion.number.desc(), Competence.id)
        ):
            competences.setdefault(identifier, f"{code} {localized(title, locale) or ''}".strip())
    return units, roles, competences


def coverage_figures(
    session: Session,
    scope: Scope,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    months: int = DEFAULT_MONTHS,
    locale: str = "nb",
) -> Figures:
    """The scope's figures now, each breakdown suppressed by ``domain.suppression``, and
    the trend of the last ``months`` months (the current one live). A constant number of
    statements (five), whatever the size."""
    sums = count_groups(session, scope.ids, now=now, expiring_days=expiring_days)
    units, roles, competences = _labels(session, scope, sums, locale)
    total = sum(sums.organisations.values(), EMPTY)
    names = dict(scope.organisations)
    unit_groups: list[Group] = []
    for organisation_id, name in scope.organisations:
        lines = sorted(
            (
                (str(unit_id or ""), units.get(unit_id, "") if unit_id else "", counts)
                for (org, unit_id), counts in sums.units.items()
                if org == organisation_id
            ),
            key=lambda line: (line[1] == "", line[1].lower()),
        )
        unit_groups.extend(_breakdown(lines, name))
    return Figures(
        scope=scope,
        now=now,
        expiring_days=expiring_days,
        total=_breakdown([("", scope.region or names[scope.ids[0]], total)])[0],
        municipalities=tuple(
            _breakdown(
                [
                    (str(i), name, sums.organisations.get(i, EMPTY))
                    for i, name in scope.organisations
                ]
            )
        ),
        units=tuple(unit_groups),
        job_roles=tuple(
            _breakdown(
                sorted(
                    (
                        (code, roles.get(code, code), c)
                        for code, c in _merge(sums.job_roles).items()
                    ),
                    key=lambda line: line[1].lower(),
                )
            )
        ),
        competences=tuple(
            _breakdown(
                sorted(
                    (
                        (identifier, competences.get(identifier, identifier), c)
                        for identifier, c in _merge(sums.competences).items()
                    ),
                    key=lambda line: line[1].lower(),
                )
            )
        ),
        trend=_trend(session, scope, sums.organisations, now, months),
    )


# --- monthly snapshots ----------------------------------------------------------------------


def record_snapshot(
    session: Session,
    month: dt.date,
    organisation_ids: Iterable[int] | None = None,
    *,
    now: dt.datetime,
) -> int:
    """Write the organisations' (None: every organisation's) figures at the end of
    ``month``, replacing any written before; the number of rows written. The month must
    be over at ``now``. Four statements."""
    month = _month_start(month)
    if month_end(month) > now:
        raise MonthNotOver(f"{month:%Y-%m} ends after {now}")
    ids = (
        list(organisation_ids)
        if organisation_ids is not None
        else list(session.scalars(select(Organisation.id)))
    )
    if not ids:
        return 0
    sums = count_groups(session, ids, now=month_end(month), as_of=True)
    rows = []

    def add(organisation_id: int, dimension: str, key: str, counts: Counts) -> None:
        rows.append(
            {
                "month": month,
                "organisation_id": organisation_id,
                "dimension": dimension,
                "key": key,
                "people": counts.people,
                **{s.value: counts.cells.get(s, 0) for s in STATUSES},
            }
        )

    for organisation_id in ids:  # every organisation: a row even with nobody to count
        add(organisation_id, ORGANISATION, "", sums.organisations.get(organisation_id, EMPTY))
    for (organisation_id, unit_id), counts in sums.units.items():
        add(organisation_id, UNIT, str(unit_id or ""), counts)
    for (organisation_id, code), counts in sums.job_roles.items():
        add(organisation_id, JOB_ROLE, code, counts)
    for (organisation_id, identifier), counts in sums.competences.items():
        add(organisation_id, COMPETENCE, identifier, counts)
    session.execute(
        delete(CoverageSnapshot).where(
            CoverageSnapshot.month == month, CoverageSnapshot.organisation_id.in_(ids)
        )
    )
    session.execute(insert(CoverageSnapshot), rows)
    session.flush()
    return len(rows)


def last_month(now: dt.datetime) -> dt.date:
    """The last month that is over at ``now``."""
    return _previous_month(_month_start(now))


def record_due_snapshots(session: Session, now: dt.datetime) -> int:
    """Write the last month's figures of the organisations that lack them (what the worker
    runs on each pass: one statement when there is nothing to do)."""
    month = last_month(now)
    missing = list(
        session.scalars(
            select(Organisation.id).where(
                ~select(CoverageSnapshot.id)
                .where(
                    CoverageSnapshot.organisation_id == Organisation.id,
                    CoverageSnapshot.month == month,
                    CoverageSnapshot.dimension == ORGANISATION,
                )
                .exists()
            )
        )
    )
    return record_snapshot(session, month, missing, now=now) if missing else 0


def figures_for(
    session: Session,
    organisation_id: int,
    held_grants: Iterable[PermissionGrant],
    *,
    only: int | None,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    months: int = DEFAULT_MONTHS,
    locale: str = "nb",
) -> Figures:
    """What a caller of ``organisation_id`` with ``held_grants`` sees (``figures_scope``),
    narrowed to the municipality ``only`` (None: all of the scope)."""
    whole = figures_scope(session, organisation_id, held_grants)
    found = coverage_figures(
        session,
        whole.only(only),
        now=now,
        expiring_days=expiring_days,
        months=months,
        locale=locale,
    )
    return dataclasses.replace(found, choices=whole.organisations)
