"""Writing evidence, and keeping what each person holds (``competence_holding``) in step.

Every evidence record enters through ``record_evidence``: it adds the rows and, in the
same transaction, lets each one take over the person's holding of its competence when the
holding rule says it replaces it (``domain.coverage.replaces``). The update is an upsert
whose guard applies that rule in the database, so two transactions adding evidence for the
same person at once still leave the evidence that should be held, whichever commits last.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, literal_column, not_, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lti_tool.db import UTCDateTime
from lti_tool.domain.coverage import Ranked, evidence_weight, holding_rank, replaces
from lti_tool.domain.evidence_sources import COURSE_SOURCES, default_confidence
from lti_tool.models import (
    Competence,
    CompetenceHolding,
    Course,
    CoverageCell,
    Evidence,
    FrameworkVersion,
    Person,
    PlanItem,
    PlanItemState,
)
from lti_tool.services.coverage_cells import refresh_cells

Key = tuple[int, int, int, str]
"""(organisation, person, framework, competence identifier): one holding."""


def _identities(session: Session, competence_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """(framework, identifier) of each competence: what its versions have in common."""
    ids = set(competence_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Competence.id, FrameworkVersion.framework_id, Competence.identifier)
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .where(Competence.id.in_(ids))
    )
    return {
        competence_id: (framework_id, identifier)
        for competence_id, framework_id, identifier in rows
    }


def _ranked(row: Evidence) -> Ranked:
    return Ranked(row.source, row.level, row.recorded_at, row.id)


def hold(session: Session, evidence: Sequence[Evidence]) -> None:
    """Let flushed ``evidence`` take over the holdings it replaces (``domain.coverage.
    replaces``), and rewrite the figures' rows of its people (six statements)."""
    identity = _identities(session, (e.competence_id for e in evidence))
    best: dict[Key, Evidence] = {}
    for row in sorted(evidence, key=lambda e: holding_rank(e.source, e.recorded_at, e.id)):
        key = (row.organisation_id, row.person_id, *identity[row.competence_id])
        seen = best.get(key)
        if seen is None or replaces(_ranked(row), _ranked(seen), seen.valid_until):
            best[key] = row
    if not best:
        return
    course = [(key, row) for key, row in best.items() if row.source in COURSE_SOURCES]
    measured = [(key, row) for key, row in best.items() if row.source not in COURSE_SOURCES]
    for rows, at_least in ((measured, False), (course, True)):
        if rows:
            _upsert_holdings(session, rows, at_least=at_least)
    refresh_cells(session, person_ids={key[1] for key in best})


def _upsert_holdings(
    session: Session, rows: Sequence[tuple[Key, Evidence]], *, at_least: bool
) -> None:
    """Hold each row where it replaces what is held: ``replaces`` as one guard in the
    database, so two transactions adding evidence for one person at once leave the
    evidence that should be held, whichever commits last. ``at_least``: course evidence
    (``COURSE_SOURCES``), which does not replace a higher level of the same weight that
    still counts at its date: neither past the holding's ``valid_until`` nor past the
    expiry the person's requirement gives it (their ``coverage_cell`` rows, kept in step
    with the holding)."""
    values = [
        {
            "organisation_id": key[0],
            "person_id": key[1],
            "framework_id": key[2],
            "identifier": key[3],
            "evidence_id": row.id,
            "weight": evidence_weight(row.source),
            "level": row.level,
            "recorded_at": row.recorded_at,
            "valid_until": row.valid_until,
        }
        for key, row in rows
    ]
    session.execute(_holdings_upsert(session.get_bind().dialect.name, at_least), values)


@functools.cache
def _holdings_upsert(dialect: str, at_least: bool) -> Any:
    """The upsert of ``_upsert_holdings``, made once (making it costs more than running it),
    its rows bound per call."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(CompetenceHolding.__table__)
    held = CompetenceHolding.__table__.c
    new = insert.excluded
    guard = tuple_(new.weight, new.recorded_at, new.evidence_id) > tuple_(
        held.weight, held.recorded_at, held.evidence_id
    )
    if at_least:
        cell = CoverageCell.__table__.c
        run_out = (
            select(cell.person_id)
            .join(Competence, Competence.id == cell.competence_id)
            .join(FrameworkVersion, FrameworkVersion.id == Competence.version_id)
            .where(  # named as the upsert names them: an INSERT does not correlate
                cell.person_id == literal_column("competence_holding.person_id"),
                FrameworkVersion.framework_id == literal_column("competence_holding.framework_id"),
                Competence.identifier == literal_column("competence_holding.identifier"),
                cell.expires_at <= literal_column("excluded.recorded_at", UTCDateTime()),
            )
            .exists()
        )
        still_counts = and_(
            or_(held.valid_until.is_(None), held.valid_until > new.recorded_at), ~run_out
        )
        guard = and_(
            guard, not_(and_(new.weight == held.weight, new.level < held.level, still_counts))
        )
    return insert.on_conflict_do_update(
        index_elements=[
            held.organisation_id,
            held.person_id,
            held.framework_id,
            held.identifier,
        ],
        set_={
            held[name]: new[name]
            for name in ("evidence_id", "weight", "level", "recorded_at", "valid_until")
        },
        where=guard,
    )


def record_evidence(session: Session, evidence: Sequence[Evidence]) -> list[Evidence]:
    """Add new evidence records and update what their people hold: the one way evidence
    is written (mappings, courses, manual records). A record without a confidence gets its
    source's default."""
    rows = list(evidence)
    for row in rows:
        if row.confidence is None:
            row.confidence = default_confidence(row.source)
    session.add_all(rows)
    session.flush()
    hold(session, rows)
    return rows


def record_course_evidence(
    session: Session,
    course: Course,
    person_ids: Iterable[int],
    source: str,
    now: dt.datetime,
    *,
    session_id: int | None = None,
    confirmed_by: Person | None = None,
) -> list[Evidence]:
    """Evidence that these people took the course: each competence it develops at the
    level it develops it to (``CourseCompetence``). ``source`` is attendance, or an
    instructor's confirmation (``confirmed_by``); ``session_id`` the session they came to.
    Their plan items of the course are done (``complete_plan_items``)."""
    detail: dict[str, Any] = {"course_id": course.id, "course": course.code}
    if session_id is not None:
        detail["session_id"] = session_id
    if confirmed_by is not None:
        detail["confirmed_by_id"] = confirmed_by.id
        detail["confirmed_by"] = confirmed_by.display_name
    people = sorted(set(person_ids))
    rows = record_evidence(
        session,
        [
            Evidence(
                organisation_id=course.organisation_id,
                person_id=person_id,
                competence_id=developed.competence_id,
                source=source,
                level=developed.level,
                recorded_at=now,
                detail=dict(detail),
            )
            for person_id in people
            for developed in course.competences
        ],
    )
    complete_plan_items(session, course.organisation_id, people, course.id, now)
    return rows


def complete_plan_items(
    session: Session,
    organisation_id: int,
    person_ids: Collection[int],
    course_id: int,
    now: dt.datetime,
) -> None:
    """The people's plan items of the course are done, whatever completed it (their word,
    a confirmation, attendance, the LMS), and a due date they had is met: it is cleared,
    so it does not make the renewal overdue at once. After the evidence, whose holdings
    lock the people's rows: the same order as the plan's own writes."""
    if not person_ids:
        return
    session.execute(
        update(PlanItem)
        .where(
            PlanItem.organisation_id == organisation_id,
            PlanItem.person_id.in_(sorted(person_ids)),
            PlanItem.course_id == course_id,
        )
        .values(state=PlanItemState.DONE, due_on=None, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
