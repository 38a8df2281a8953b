"""Coverage figures for coordinators: counts and percentages per municipality, unit, job
role and competence, never a name or a person id, with small groups and those that would
give them away withheld (``domain.suppression``), and the trend: coverage at each month's end.

**Counted in the database.** The cells (a person × a competence their active job roles
require, with the union rule of ``domain.requirements``: the highest level, the shortest
renewal) are kept in ``coverage_cell`` with the person's holding of each
(``services.coverage_cells``); each status is counted in SQL when read by its condition
(``status_conditions``, the rule of ``domain.coverage.cell_status``; a test checks that
they agree on every case), and only the sums per group leave the database: the
statements run do not grow with people, units or evidence.

**Groups.** A person counts in each unit they are placed in (people in no unit form a
group of their own) and in each of their job roles (with the cells that role asks for);
a competence's group is every cell of it, and each person asked for it once. Across a
region, job roles are matched by code and competences by identifier (the same in every
version and in every municipality that imported the same framework).

**Who sees what** (``figures_scope``): a coordinator of a region sees every municipality
of the region (while their own municipality belongs to it), as a whole or one at a time;
a coordinator of a municipality, an admin and an API token see their own municipality
only.

**What is withheld** (``_table``) is decided once over everything any view of the scope
shows: the whole and each municipality alone, their units, job roles and competences,
each month of the trend asked for, tied by the sums a reader could subtract within
(``domain.suppression``). A view narrowed to one municipality shows part of that
decision, so it withholds what the whole withholds.

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
    CTE,
    ColumnElement,
    Integer,
    Select,
    String,
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
    text,
    union_all,
)
from sqlalchemy.orm import QueryableAttribute, Session

from lti_tool.db import MonthsAfter, UTCDateTime
from lti_tool.domain.coverage import DEFAULT_EXPIRING_DAYS, CellStatus, coverage_of
from lti_tool.domain.evidence_sources import SELF_SOURCES
from lti_tool.domain.suppression import Line, withheld
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


def status_conditions(
    required_level: SqlValue,
    level: SqlValue,
    expires_at: SqlValue,
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
) -> dict[CellStatus, ColumnElement[bool]]:
    """The rule of ``domain.coverage.cell_status`` as one condition per status but met,
    at most one of them true for a cell (met: none), once the holding's expiry is known
    (``expires_sql``, as ``coverage_cell`` keeps it): so the figures can count each
    status without working out the status of each cell."""
    soon = now + dt.timedelta(days=expiring_days)
    held = level >= required_level
    return {
        CellStatus.NEVER_ASSESSED: level.is_(None),
        CellStatus.GAP: level < required_level,
        CellStatus.EXPIRED: and_(held, expires_at <= literal(now, UTCDateTime())),
        CellStatus.EXPIRING: and_(
            held,
            expires_at > literal(now, UTCDateTime()),
            expires_at <= literal(soon, UTCDateTime()),
        ),
    }


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
    organisation_ids: Sequence[int], *, as_of: dt.datetime | None = None
) -> Select[*tuple[Any, ...]]:
    """The organisations' people's rows (``models.CoverageCell``) with what their status
    is worked out from: (organisation_id, person_id, job_role_id, competence_id,
    counts_cell, counts_person, counts_role_person, counts_identifier_person,
    required_level, level, expires_at). ``as_of``: held at that moment by the evidence
    recorded before it (a month's end), else by today's holdings (kept on the rows)."""
    line = CoverageCell
    keys = (
        line.organisation_id,
        line.person_id,
        line.job_role_id,
        line.competence_id,
        line.counts_cell,
        line.counts_person,
        line.counts_role_person,
        line.counts_identifier_person,
        line.required_level,
    )
    in_scope = line.organisation_id.in_(organisation_ids)
    if as_of is None:
        return select(*keys, line.level, line.expires_at).where(in_scope)
    held = _holdings_as_of(organisation_ids, as_of)
    return (
        select(
            *keys,
            held.c.level.label("level"),
            expires_sql(line.renewal_months, held.c.recorded_at, held.c.valid_until).label(
                "expires_at"
            ),
        )
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


#: The statuses counted by their own condition (``status_conditions``); met is the rest.
COUNTED = (CellStatus.NEVER_ASSESSED, CellStatus.GAP, CellStatus.EXPIRED, CellStatus.EXPIRING)


def _tallies(
    session: Session, cells: Subquery | CTE, *, now: dt.datetime, expiring_days: int
) -> Any:
    """Rows of (dimension, organisation, unit id, role code or competence identifier,
    people, cells, then cells never assessed, gap, expired, expiring): the rest are met.

    Two passes over ``cells``, each grouping by few columns, with each status counted by
    its condition (no status worked out per cell): per organisation, job role and
    competence, whose small result is summed again per job role code, competence
    identifier and organisation; and the cells that count a person's cell, joined to the
    units they are placed in (each of them), per unit. The indexes
    ``ix_coverage_cell_figures`` and ``ix_coverage_cell_by_person`` hold every column
    each pass reads, in the order it wants them (by role and competence; by person, to
    merge with the placements), so PostgreSQL reads the indexes alone."""
    c = cells.c
    conditions = status_conditions(
        c.required_level, c.level, c.expires_at, now=now, expiring_days=expiring_days
    )

    def counted(*only: Any) -> list[Any]:
        return [func.count().filter(and_(*only, conditions[s])) for s in COUNTED]

    every_row, every_cell = counted(), counted(c.counts_cell)
    tallies = (
        select(
            c.organisation_id,
            c.job_role_id,
            c.competence_id,
            func.count().label("rows"),
            func.count().filter(c.counts_cell).label("cells"),
            func.count().filter(c.counts_person).label("people"),
            func.count().filter(c.counts_role_person).label("role_people"),
            func.count().filter(c.counts_identifier_person).label("identifier_people"),
            *(n.label(f"row_{s.value}") for n, s in zip(every_row, COUNTED, strict=True)),
            *(n.label(f"cell_{s.value}") for n, s in zip(every_cell, COUNTED, strict=True)),
        )
        .group_by(c.organisation_id, c.job_role_id, c.competence_id)
        .cte("tallies")
    )
    t = tallies.c

    no_unit = null().cast(Integer)
    no_key = null().cast(String)

    def rolled_up(dimension: str, key: Any, people: Any, kind: str) -> Any:
        """The tallies summed again per organisation and ``key``: the people their flag
        ``people`` counts, and every row (``kind`` "row") or every cell ("cell")."""
        return select(
            literal(dimension),
            t.organisation_id,
            no_unit,
            key,
            func.sum(people),
            func.sum(t.rows if kind == "row" else t.cells),
            *(func.sum(t[f"{kind}_{s.value}"]) for s in COUNTED),
        ).group_by(t.organisation_id, key)

    placed = (
        select(UnitAssignment.person_id, UnitAssignment.unit_id)
        .where(UnitAssignment.status == AssignmentStatus.ACTIVE)
        .distinct()
        .subquery("placed")
    )
    return session.execute(
        union_all(
            # a role's cells: each of its own rows
            rolled_up(JOB_ROLE, JobRole.code, t.role_people, "row").join(
                JobRole, JobRole.id == t.job_role_id
            ),
            rolled_up(COMPETENCE, Competence.identifier, t.identifier_people, "cell").join(
                Competence, Competence.id == t.competence_id
            ),
            rolled_up(ORGANISATION, no_key, t.people, "cell"),
            select(
                literal(UNIT),
                c.organisation_id,
                placed.c.unit_id,
                no_key,
                func.count().filter(c.counts_person),
                func.count(),
                *counted(),
            )
            .select_from(cells.outerjoin(placed, placed.c.person_id == c.person_id))
            .where(c.counts_cell)
            .group_by(c.organisation_id, placed.c.unit_id),
        )
    )


#: How PostgreSQL runs the sums, for the transaction that asks (bench/RESULTS.md): above a
#: plan cost the statement reaches at some 400,000 rows it would first compile its
#: expressions (JIT), ~100 ms, more than that saves on a statement of ~200 ms; and once the
#: driver has prepared the statement, a generic plan (made for an organisation of average
#: size) reads a big one's rows twice as slowly as a plan for the organisations asked.
_SETTINGS = (
    "SELECT set_config('jit', 'off', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)


def count_groups(
    session: Session,
    organisation_ids: Sequence[int],
    *,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    as_of: bool = False,
) -> Sums:
    """The counts of every group of the organisations in one statement (and on
    PostgreSQL one for ``_SETTINGS``), whatever their size. ``as_of``: held at ``now`` by the
    evidence recorded before it (a month's end), else by today's holdings.

    Each row of ``coverage_cell`` carries flags that make every count a plain sum: the
    row that counts the person's cell (``counts_cell``), the person (``counts_person``),
    the person among a role's people (``counts_role_person``) and among a competence
    identifier's (``counts_identifier_person``, so a person asked for one identifier in
    two framework versions counts once). A person placed in several units counts in
    each of them; their organisation, roles and competences count them once."""
    if not organisation_ids:
        return Sums({}, {}, {}, {})
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(_SETTINGS))
    query = cells_query(organisation_ids, as_of=now if as_of else None)
    # the evidence as of a month's end is ranked once, not once per pass
    cells = query.cte("cells") if as_of else query.subquery("cells")
    found: dict[str, dict[Any, Counts]] = defaultdict(dict)
    for dimension, organisation_id, unit_id, key, people, n, *per_status in _tallies(
        session, cells, now=now, expiring_days=expiring_days
    ):
        counted = dict(zip(COUNTED, (int(k or 0) for k in per_status), strict=True))
        counted[CellStatus.MET] = int(n or 0) - sum(counted.values())
        group = (
            organisation_id
            if dimension == ORGANISATION
            else (organisation_id, unit_id if dimension == UNIT else key)
        )
        found[dimension][group] = Counts(int(people or 0), {s: counted[s] for s in STATUSES})
    return Sums(
        organisations=found[ORGANISATION],
        units=found[UNIT],
        job_roles=found[JOB_ROLE],
        competences=found[COMPETENCE],
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
    """Municipality by municipality."""
    job_roles: tuple[Group, ...]
    competences: tuple[Group, ...]
    trend: tuple[Month, ...]
    choices: tuple[tuple[int, str], ...] = ()
    """The municipalities the caller may narrow the figures to (id, name)."""


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


def _months(now: dt.datetime, months: int) -> list[dt.date]:
    """The trend's months, the current one first."""
    wanted = [_month_start(now)]
    while len(wanted) < months:
        wanted.append(_previous_month(wanted[-1]))
    return wanted


def _recorded(
    session: Session, scope: Scope, now: dt.datetime, months: int
) -> dict[dt.date, dict[int, Counts]]:
    """The snapshots of the trend's months before the current one: one statement."""
    wanted = _months(now, months)
    s = CoverageSnapshot
    rows = session.execute(
        select(
            s.month, s.organisation_id, s.people, *(getattr(s, st.value) for st in STATUSES)
        ).where(
            s.dimension == ORGANISATION,
            s.organisation_id.in_(scope.ids),
            s.month >= wanted[-1],
            s.month < wanted[0],
        )
    ).all()
    recorded: dict[dt.date, dict[int, Counts]] = defaultdict(dict)
    for month, organisation_id, people, *per_status in rows:
        recorded[month][organisation_id] = Counts(
            people, dict(zip(STATUSES, per_status, strict=True))
        )
    return dict(recorded)


Key = tuple[Any, ...]
"""A group of the figures: (dimension, organisation id or None for the whole scope, key).
A scope of one municipality has no groups of its own: the municipality's are its."""


@dataclasses.dataclass(frozen=True)
class _Table:
    """Every group any view of one scope shows (the whole scope or one municipality of
    it; every month of the trend asked for), the lines that tie them, and the groups
    withheld, decided once over all of them (``domain.suppression``)."""

    counts: dict[Key, Counts]
    lines: list[Line[Key]]
    hidden: set[Key]


def _table(
    scope: Scope, sums: Sums, recorded: dict[dt.date, dict[int, Counts]], current: dt.date
) -> _Table:
    ids = scope.ids
    whole = None if len(ids) > 1 else ids[0]
    counts: dict[Key, Counts] = {}
    lines: list[Line[Key]] = []

    def tie(total: Key, parts: list[Key]) -> None:
        if parts and parts != [total]:
            lines.append((total, parts))

    def level(dimension: Any, per_organisation: dict[int, Counts]) -> None:
        """One group per municipality and, above them, the scope's, tied by one line."""
        for organisation_id in ids:
            counts[(dimension, organisation_id, "")] = per_organisation.get(organisation_id, EMPTY)
        counts[(dimension, whole, "")] = sum(per_organisation.values(), EMPTY)
        tie((dimension, whole, ""), [(dimension, o, "") for o in ids])

    level(ORGANISATION, sums.organisations)
    for organisation_id in ids:
        units = sorted(
            (u for o, u in sums.units if o == organisation_id), key=lambda u: (u is None, u)
        )
        for unit_id in units:
            counts[(UNIT, organisation_id, unit_id)] = sums.units[(organisation_id, unit_id)]
        tie((ORGANISATION, organisation_id, ""), [(UNIT, organisation_id, u) for u in units])
    for dimension, found in ((JOB_ROLE, sums.job_roles), (COMPETENCE, sums.competences)):
        keys = sorted({key for _, key in found})
        for key in keys:
            per_organisation = {o: c for (o, k), c in found.items() if k == key}
            for organisation_id, c in per_organisation.items():
                counts[(dimension, organisation_id, key)] = c
            counts[(dimension, whole, key)] = sum(per_organisation.values(), EMPTY)
            tie(
                (dimension, whole, key), [(dimension, o, key) for o in ids if o in per_organisation]
            )
        for at in dict.fromkeys((*ids, whole)):
            tie(
                (ORGANISATION, at, ""),
                [(dimension, at, k) for k in keys if (dimension, at, k) in counts],
            )
    for month in sorted(recorded):
        if month != current:
            level(month, recorded[month])
    hidden = withheld({key: c.people for key, c in counts.items()}, lines)
    return _Table(counts, lines, hidden)


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


def _by_label(groups: Iterable[Group]) -> tuple[Group, ...]:
    """Named groups by name; the group without a name (no unit) last."""
    return tuple(sorted(groups, key=lambda g: (g.label == "", g.label.lower())))


def coverage_figures(
    session: Session,
    scope: Scope,
    *,
    only: int | None = None,
    now: dt.datetime,
    expiring_days: int = DEFAULT_EXPIRING_DAYS,
    months: int = DEFAULT_MONTHS,
    locale: str = "nb",
) -> Figures:
    """The figures of the scope, or of its municipality ``only``, now, and the trend of
    the last ``months`` months (the current one live). The groups withheld are decided
    over the whole scope (``_table``), so narrowing the view shows nothing that the
    whole withholds. A constant number of statements (five, six on PostgreSQL), whatever
    the size."""
    shown = scope.only(only)
    sums = count_groups(session, scope.ids, now=now, expiring_days=expiring_days)
    recorded = _recorded(session, scope, now, months)
    current = _month_start(now)
    table = _table(scope, sums, recorded, current)
    units, roles, competences = _labels(session, scope, sums, locale)
    names = dict(scope.organisations)
    at = shown.ids[0] if len(shown.ids) == 1 else None  # one municipality, or the whole

    def group(key: Key, shown_key: str, label: str, municipality: str | None = None) -> Group:
        if key in table.hidden:
            return Group(shown_key, label, None, None, None, True, municipality)
        c = table.counts.get(key, EMPTY)
        return Group(shown_key, label, c.people, c.cells, c.coverage, False, municipality)

    def named(dimension: str, labels: dict[str, str]) -> tuple[Group, ...]:
        return _by_label(
            group(key, key[2], labels.get(key[2]) or key[2])
            for key in table.counts
            if key[0] == dimension and key[1] == at
        )

    trend = []
    for month in reversed(_months(now, months)):
        live = month == current
        dimension = ORGANISATION if live else month
        trend.append(
            Month(
                month=month,
                live=live,
                recorded=live or any(o in recorded.get(month, {}) for o in shown.ids),
                total=group((dimension, at, ""), "", ""),
                municipalities=tuple(
                    group((dimension, o, ""), str(o), name) for o, name in shown.organisations
                ),
            )
        )
    total_label = names[only] if only is not None else scope.region or names[scope.ids[0]]
    return Figures(
        scope=shown,
        now=now,
        expiring_days=expiring_days,
        total=group((ORGANISATION, at, ""), "", total_label),
        municipalities=tuple(
            group((ORGANISATION, o, ""), str(o), name) for o, name in shown.organisations
        ),
        units=tuple(
            g
            for o, name in shown.organisations
            for g in _by_label(
                group(
                    (UNIT, o, unit_id),
                    str(unit_id or ""),
                    units.get(unit_id, "") if unit_id else "",
                    name,
                )
                for (dimension, organisation_id, unit_id) in table.counts
                if dimension == UNIT and organisation_id == o
            )
        ),
        job_roles=named(JOB_ROLE, roles),
        competences=named(COMPETENCE, competences),
        trend=tuple(trend),
        choices=scope.organisations,
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
    be over at ``now``. Four statements (five on PostgreSQL)."""
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
    return coverage_figures(
        session,
        figures_scope(session, organisation_id, held_grants),
        only=only,
        now=now,
        expiring_days=expiring_days,
        months=months,
        locale=locale,
    )
