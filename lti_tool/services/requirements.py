"""A person's requirements: the union of their active job roles' basis competence, with
where they stand on each (``current_levels``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, Text, and_, bindparam, cast, select
from sqlalchemy.orm import Session, aliased

from lti_tool.db import among, dialect_of
from lti_tool.domain.coverage import Holding, Ranked, holding_rank, replaces
from lti_tool.domain.evidence_sources import SELF_SOURCES
from lti_tool.domain.requirements import union_requirements
from lti_tool.domain.texts import localized, localized_json
from lti_tool.models import (
    Competence,
    CompetenceHolding,
    Evidence,
    Framework,
    FrameworkVersion,
    JobRole,
    Requirement,
    ScaleLevel,
)
from lti_tool.services import assignments

#: The competence asked for and the one evidence was recorded against (maybe another version
#: of it), made once: building new aliases for every query cost milliseconds per call.
_ALIASES = (
    aliased(Competence),
    aliased(Competence),
    aliased(FrameworkVersion),
    aliased(FrameworkVersion),
)


#: A competence asked for, and the same competence in any version (``every_version``).
ASKED, SHOWN = _ALIASES[0], _ALIASES[1]


def every_version(*columns: Any) -> Select[Any]:
    """``select(*columns)`` from ``ASKED``, a competence asked for, joined to ``SHOWN``:
    the same competence in every version of its framework (same framework, same
    identifier). Join what was recorded against ``SHOWN``; filter on ``ASKED.id``."""
    asked, shown, asked_version, shown_version = _ALIASES
    return (
        select(*columns)
        .join(asked_version, asked.version_id == asked_version.id)
        .join(shown, shown.identifier == asked.identifier)
        .join(
            shown_version,
            and_(
                shown.version_id == shown_version.id,
                shown_version.framework_id == asked_version.framework_id,
            ),
        )
    )


def current_levels(
    session: Session,
    organisation_id: int,
    person_id: int,
    competence_ids: Iterable[int],
    *,
    since: dt.datetime | None = None,
    certifying_only: bool = False,
) -> dict[int, int]:
    """The level the person has shown in each competence; 0 = nothing shown.

    Which evidence counts is ``domain.coverage``'s rule (``replaces``): evidence of any
    version of the competence; evidence outweighs the person's own word; the most recent
    among equals, but a course does not lower a higher level that still counts (here: by
    the evidence's own end; the requirement's renewal is the holdings'). Without conditions
    it is read from the person's holdings, kept by that rule as evidence arrives
    (``services.evidence``).

    Certification rules count only evidence recorded ``since`` the rules' start, and never
    the person's own word (``certifying_only``: ``evidence_sources.SELF_SOURCES``): those
    are ranked from the evidence itself.
    """
    wanted = list(competence_ids)
    levels = dict.fromkeys(wanted, 0)
    if not wanted:
        return levels
    if since is None and not certifying_only:
        held = holdings_of(session, organisation_id, [person_id], wanted).get(person_id, {})
        levels.update({competence_id: h.level for competence_id, h in held.items()})
        return levels
    asked, shown = ASKED, SHOWN
    rows = session.execute(
        every_version(
            asked.id,
            Evidence.source,
            Evidence.level,
            Evidence.recorded_at,
            Evidence.id,
            Evidence.valid_until,
        )
        .join(Evidence, Evidence.competence_id == shown.id)
        .where(
            asked.id.in_(wanted),
            Evidence.person_id == person_id,
            Evidence.organisation_id == organisation_id,
            *([Evidence.recorded_at >= since] if since is not None else []),
            *([Evidence.source.not_in(sorted(SELF_SOURCES))] if certifying_only else []),
        )
    ).all()
    best: dict[int, tuple[Ranked, dt.datetime | None]] = {}
    for competence_id, source, level, recorded_at, evidence_id, valid_until in sorted(
        rows, key=lambda r: holding_rank(r[1], r[3], r[4])
    ):
        new = Ranked(source, level, recorded_at, evidence_id)
        seen = best.get(competence_id)
        if seen is None or replaces(new, *seen):
            best[competence_id] = (new, valid_until)
    for competence_id, (deciding, _until) in best.items():
        levels[competence_id] = deciding.level
    return levels


def holdings_of(
    session: Session,
    organisation_id: int,
    person_ids: Iterable[int],
    competence_ids: Iterable[int],
) -> dict[int, dict[int, Holding]]:
    """Each person's holding of each asked competence (by any version of it), by person and
    competence id; a competence without evidence is missing. One statement."""
    people, wanted = list(person_ids), list(competence_ids)
    if not people or not wanted:
        return {}
    rows = session.execute(
        _holdings_query(dialect_of(session)),
        {"competence_ids": wanted, "organisation_id": organisation_id, "person_ids": people},
    )
    found: dict[int, dict[int, Holding]] = {}
    for competence_id, person_id, level, recorded_at, valid_until, weight in rows:
        found.setdefault(person_id, {})[competence_id] = Holding(
            level, recorded_at, valid_until, weight == 0
        )
    return found


@functools.cache
def _holdings_query(dialect: str) -> Any:
    """``holdings_of``' statement, made once for each database."""
    asked, _shown, asked_version, _ = _ALIASES
    held = CompetenceHolding
    return (
        select(
            asked.id, held.person_id, held.level, held.recorded_at, held.valid_until, held.weight
        )
        .join(asked_version, asked.version_id == asked_version.id)
        .join(
            held,
            and_(
                held.framework_id == asked_version.framework_id,
                held.identifier == asked.identifier,
            ),
        )
        .where(
            among(dialect, asked.id, "competence_ids"),
            held.organisation_id == bindparam("organisation_id"),
            among(dialect, held.person_id, "person_ids"),
        )
    )


@dataclasses.dataclass(frozen=True)
class Level:
    value: int
    label: str

    @functools.cached_property
    def text(self) -> str:
        """The level as a table shows it, "2 – label": made once for each level of a scale,
        which hundreds of lines share."""
        return f"{self.value} – {self.label}"


@dataclasses.dataclass(frozen=True)
class RequirementLine:
    """One required competence, in the reader's language."""

    competence_id: int
    code: str
    title: str
    framework: str
    framework_version: int
    required: Level
    current: Level | None
    """None: nothing shown yet (level 0)."""
    scale: tuple[Level, ...]
    mandatory: bool
    renewal_months: int | None
    job_roles: tuple[str, ...]
    """Titles of the roles that ask for it."""

    @functools.cached_property
    def top(self) -> int:
        """The scale's highest value (the bars' full width)."""
        return max([lvl.value for lvl in self.scale] + [self.required.value, 1])

    @property
    def current_value(self) -> int:
        return self.current.value if self.current else 0

    @property
    def required_percent(self) -> int:
        """How much of its bar the required level fills, 0–100."""
        return _percent(self.required.value, self.top)

    @property
    def current_percent(self) -> int:
        """How much of its bar the level shown fills, 0–100."""
        return _percent(self.current_value, self.top)

    @property
    def required_by(self) -> str:
        """The titles of the roles that ask for it, as read."""
        return ", ".join(self.job_roles)

    @property
    def met(self) -> bool:
        return self.current_value >= self.required.value


@dataclasses.dataclass(frozen=True)
class RoleLine:
    id: int
    code: str
    title: str


@dataclasses.dataclass(frozen=True)
class MyRequirements:
    roles: tuple[RoleLine, ...]
    pending_roles: tuple[RoleLine, ...]
    units: tuple[str, ...]
    pending_units: tuple[str, ...]
    lines: tuple[RequirementLine, ...]
    roles_without_requirements: tuple[str, ...]
    choosable_roles: tuple[RoleLine, ...] = ()
    """Offered for a self-choice when the person has no active job role."""
    choosable_units: tuple[tuple[int, str], ...] = ()
    role_mappings: tuple[assignments.Titled, ...] = ()
    """The active roles' published mappings (code and title), by id."""


def _percent(value: int, top: int) -> int:
    """``value`` in per cent of ``top``, rounded as Jinja's ``round`` filter does."""
    return min(max(int(round(100 * value / top, 0)), 0), 100)


def _level(levels: dict[int, Level], value: int) -> Level:
    return levels.get(value) or Level(value, str(value))


@functools.cache
def _requirements_query(dialect: str) -> Any:
    """``requirements_of``' statement, made once for each database."""
    return (
        select(
            Requirement.job_role_id,
            Requirement.competence_id,
            Requirement.required_level,
            Requirement.mandatory,
            Requirement.renewal_months,
            Competence.code,
            cast(Competence.title, Text).label("title"),
            Competence.version_id,
            cast(FrameworkVersion.title, Text).label("version_title"),
            FrameworkVersion.number,
            Framework.code.label("framework_code"),
        )
        .join(JobRole, JobRole.id == Requirement.job_role_id)
        .join(Competence, Competence.id == Requirement.competence_id)
        .join(FrameworkVersion, FrameworkVersion.id == Competence.version_id)
        .join(Framework, Framework.id == FrameworkVersion.framework_id)
        .where(
            among(dialect, JobRole.id, "role_ids"),
            JobRole.organisation_id == bindparam("organisation_id"),
        )
        .order_by(Requirement.id)
    )


def requirements_of(
    session: Session, organisation_id: int, person_id: int, locale: str
) -> MyRequirements:
    """What the person's active job roles require, their pending self-choices, and (no role
    active) the roles and units they may choose or (else) their roles' mapping."""
    placed = assignments.own_placement(session, organisation_id, person_id)

    def role_line(role: assignments.Titled) -> RoleLine:
        return RoleLine(role.id, role.code, localized(role.title, locale) or role.code)

    roles = [role_line(r) for r in placed.roles]

    # Plain rows, not ORM objects: 300 requirements of 3 roles were 360 objects and their
    # competences, versions and scales loaded in five statements; these are two. Titles
    # come as text, decoded once each (a version's title is on every row).
    requirements = (
        []
        if not roles
        else session.execute(
            _requirements_query(dialect_of(session)),
            {"role_ids": [r.id for r in roles], "organisation_id": organisation_id},
        ).all()
    )
    competences = {r.competence_id: r for r in requirements}
    scales: dict[int, dict[int, Level]] = {}  # a framework version's scale, localised once
    versions = {r.version_id for r in requirements}
    for version_id, value, label in (
        session.execute(
            select(ScaleLevel.version_id, ScaleLevel.value, ScaleLevel.label)
            .where(ScaleLevel.version_id.in_(versions))
            .order_by(ScaleLevel.version_id, ScaleLevel.value)
        )
        if versions
        else ()
    ):
        scales.setdefault(version_id, {})[value] = Level(
            value, localized(label, locale) or str(value)
        )
    titles = {r.id: r.title for r in roles}
    merged = union_requirements(requirements)  # the rows carry a role requirement's names
    shown = current_levels(session, organisation_id, person_id, [m.competence_id for m in merged])
    lines = []
    framework_titles: dict[int, str] = {}
    # what many lines share, made once: a version's scale, a combination of roles' titles
    scale_levels = {version_id: tuple(scale.values()) for version_id, scale in scales.items()}
    askers: dict[tuple[int, ...], tuple[str, ...]] = {}
    for m in merged:
        row = competences[m.competence_id]
        scale = scales.get(row.version_id, {})
        asking_roles = askers.get(m.job_role_ids)
        if asking_roles is None:
            asking_roles = askers[m.job_role_ids] = tuple(
                titles[i] for i in m.job_role_ids if i in titles
            )
        framework = framework_titles.get(row.version_id)
        if framework is None:
            framework = framework_titles[row.version_id] = (
                localized_json(row.version_title, locale) or row.framework_code
            )
        now = shown.get(m.competence_id, 0)
        lines.append(
            RequirementLine(
                competence_id=m.competence_id,
                code=row.code,
                title=localized_json(row.title, locale) or row.code,
                framework=framework,
                framework_version=row.number,
                required=_level(scale, m.required_level),
                current=_level(scale, now) if now > 0 else None,
                scale=scale_levels.get(row.version_id, ()),
                mandatory=m.mandatory,
                renewal_months=m.renewal_months,
                job_roles=asking_roles,
            )
        )
    lines.sort(key=lambda line: (not line.mandatory, line.framework, line.title))
    asking = {r.job_role_id for r in requirements}
    return MyRequirements(
        choosable_roles=tuple(role_line(r) for r in placed.choosable_roles),
        choosable_units=tuple(placed.choosable_units),
        roles=tuple(roles),
        pending_roles=tuple(role_line(r) for r in placed.pending_roles),
        units=tuple(placed.units),
        pending_units=tuple(placed.pending_units),
        lines=tuple(lines),
        roles_without_requirements=tuple(titles[r.id] for r in roles if r.id not in asking),
        role_mappings=tuple(placed.role_mappings),
    )
