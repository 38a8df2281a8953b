"""A person's gap analysis: every competence their active job roles require (the union of
the roles' profiles), where they stand on it, and the activities that would close it.

Read, not kept: the status of each line is the competence matrix's (``services.coverage``
``person_standing``, which applies ``domain.coverage.cell_status`` to the person's
holdings), so the plan, the matrix and the API can never disagree. The expiring window is
the organisation's setting unless the caller asks for another. Plain data out, for the
plan page, the manager's view of a person and ``/api/v1/people/<id>/plan``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from lti_tool.db import among, dialect_of
from lti_tool.domain import plan
from lti_tool.domain.coverage import CellStatus, coverage
from lti_tool.domain.texts import localized_json
from lti_tool.models import Competence, ScaleLevel
from lti_tool.services import catalogue, organisations
from lti_tool.services import coverage as matrix
from lti_tool.services.catalogue import ActivityOption


@dataclasses.dataclass(frozen=True)
class GapLine:
    """One required competence, in the reader's language."""

    competence_id: int
    code: str
    title: str
    framework: str
    framework_version: int
    status: CellStatus
    required_level: int
    required_label: str
    held_level: int | None
    """None: nothing shown (never assessed); 0: assessed, no level reached."""
    held_label: str | None
    expires_at: dt.datetime | None
    """When the holding stops counting (evidence's end or the renewal period); None: never."""
    mandatory: bool
    renewal_months: int | None
    job_roles: tuple[str, ...]
    """The person's job roles that ask for it."""
    activities: tuple[ActivityOption, ...]
    """Activities offered for it (``domain.plan.offers``); empty when met."""

    @property
    def needs_action(self) -> bool:
        return self.status in plan.NEEDS_ACTION


@dataclasses.dataclass(frozen=True)
class GapAnalysis:
    person_id: int
    name: str
    job_roles: tuple[str, ...]
    now: dt.datetime
    expiring_days: int
    lines: tuple[GapLine, ...]
    """Most urgent first (``domain.plan.urgency``), then in the matrix's column order."""
    counts: dict[CellStatus, int]
    coverage: float | None
    """Per cent of the lines met or expiring; None without lines."""

    @property
    def gaps(self) -> tuple[GapLine, ...]:
        """The lines that call for action."""
        return tuple(line for line in self.lines if line.needs_action)


def _labels(session: Session, competence_ids: list[int], locale: str) -> dict[int, dict[int, str]]:
    """Each competence's scale: level value → label (one statement). The competences of a
    framework version share its few labels: each distinct label is decoded and localised
    once, not once per competence (300 competences × 4 levels were 1,200 decodings)."""
    if not competence_ids:
        return {}
    rows = session.execute(_labels_query(dialect_of(session)), {"ids": competence_ids})
    texts: dict[tuple[int, str | None], str] = {}
    found: dict[int, dict[int, str]] = {}
    for competence_id, value, raw in rows:
        text = texts.get((value, raw))
        if text is None:
            text = texts[(value, raw)] = localized_json(raw, locale) or str(value)
        found.setdefault(competence_id, {})[value] = text
    return found


@functools.cache
def _labels_query(dialect: str) -> Any:
    """``_labels``' statement, made once for each database."""
    return (
        select(Competence.id, ScaleLevel.value, cast(ScaleLevel.label, Text))
        .join(ScaleLevel, ScaleLevel.version_id == Competence.version_id)
        .where(among(dialect, Competence.id, "ids"))
    )


def gap_analysis(
    session: Session,
    organisation_id: int,
    person_id: int,
    *,
    now: dt.datetime,
    expiring_days: int | None = None,
    locale: str = "nb",
    detail: Callable[[Sequence[GapLine]], Collection[int]] | None = None,
) -> GapAnalysis:
    """The person's gap analysis (eight statements, whatever the number of roles and
    competences). ``expiring_days`` None: the organisation's window. Another
    organisation's person is not found.

    ``detail`` picks, from every line in order (status, level and expiry known), the
    competences whose lines get their scale's labels and the activities offered: a page
    that shows 20 of 300 lines makes only those. The others keep their figures, with
    empty labels and no activities. None: every line."""
    days = (
        organisations.expiring_days_of(session, organisation_id)
        if expiring_days is None
        else expiring_days
    )
    standing = matrix.person_standing(
        session, organisation_id, person_id, now=now, expiring_days=days, locale=locale
    )
    lines = [
        GapLine(
            competence_id=line.heading.competence_id,
            code=line.heading.code,
            title=line.heading.title,
            framework=line.heading.framework,
            framework_version=line.heading.framework_version,
            status=line.cell.status,
            required_level=line.cell.required_level,
            required_label=str(line.cell.required_level),
            held_level=line.cell.held_level,
            held_label=None,
            expires_at=line.cell.expires_at,
            mandatory=line.cell.mandatory,
            renewal_months=line.renewal_months,
            job_roles=line.job_roles,
            activities=(),
        )
        for line in standing.lines
    ]
    lines.sort(key=lambda line: plan.urgency(line.status, line.mandatory, line.expires_at))
    wanted = set(detail(lines)) if detail else {line.competence_id for line in lines}
    ids = [line.competence_id for line in lines if line.competence_id in wanted]
    labels = _labels(session, ids, locale)
    acting = [
        line.competence_id for line in lines if line.competence_id in wanted and line.needs_action
    ]
    offered = catalogue.activities_developing(session, organisation_id, acting, locale=locale)
    lines = [
        _detailed(line, labels.get(line.competence_id, {}), offered.get(line.competence_id, ()))
        if line.competence_id in wanted
        else line
        for line in lines
    ]
    statuses = [line.status for line in lines]
    return GapAnalysis(
        person_id=standing.person_id,
        name=standing.name,
        job_roles=standing.job_roles,
        now=now,
        expiring_days=days,
        lines=tuple(lines),
        counts=dict(Counter(statuses)),
        coverage=coverage(statuses),
    )


def _detailed(line: GapLine, scale: dict[int, str], offered: Sequence[ActivityOption]) -> GapLine:
    """The line with its scale's labels and the activities offered for it."""
    return dataclasses.replace(
        line,
        required_label=scale.get(line.required_level, str(line.required_level)),
        held_label=None if line.held_level is None else scale.get(line.held_level),
        activities=tuple(
            a for a in offered if plan.offers(line.status, line.required_level, a.level)
        ),
    )
