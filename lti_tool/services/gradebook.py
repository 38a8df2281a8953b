"""Which grade a placed link's gradebook column gets, and getting it there once.

A mapping's column gets the person's highest attempt or their latest (the mapping's
``grade_policy``); a certification's column gets 100 while the person holds it. Scores are
queued in the outbox (``services.score_delivery``) when an attempt is submitted or a
certificate issued, and again by ``catch_up`` on a launch of the link: what a person
achieved before the link existed, or from another course's link, reaches this column on
their next launch of it.

"Already sent to that line item" is the latest score the outbox holds for the key
(platform, line item URL, LMS user id), whatever became of it; a grade differing from it is
queued, the same grade is not. Two launches at once queue it once: each new score names the
one it follows, unique with the key (``ScoreDelivery.follows_id``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable
from collections.abc import Mapping as MappingType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.domain.texts import localized
from lti_tool.lti import ags
from lti_tool.lti import claims as c
from lti_tool.models import (
    Attempt,
    AttemptStatus,
    Certification,
    GradePolicy,
    Launch,
    Mapping,
    ScoreDelivery,
)
from lti_tool.services import certificates, placement, score_delivery
from lti_tool.services.launches import CERTIFICATION_PARAM, MAPPING_PARAM

log = logging.getLogger(__name__)


def language_of(launch: Launch) -> str:
    """The person's language for gradebook texts: their latest launch's, else bokmål."""
    return c.normalise_locale(launch.person.locale) or "nb"


def mapping_title(mapping: Mapping, language: str) -> str:
    return localized(mapping.title, language) or mapping.code


Graded = tuple[int, float | None, dt.datetime | None]
"""A submitted attempt as its grade sees it: (id, percentage, submitted at)."""

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def chosen_grade(
    policy: GradePolicy, attempts: Iterable[Graded]
) -> tuple[float, dt.datetime | None] | None:
    """The percentage the gradebook gets for these submitted attempts, and when that
    attempt was submitted (None: no attempt with a percentage): the highest attempt (the
    first to reach it) or the latest, as the mapping's ``policy`` says. An attempt with no
    submission time would count as the earliest, on every database alike; submitting sets
    it with the status, so none has none."""
    scored = [a for a in attempts if a[1] is not None]
    if not scored:
        return None

    def submitted(attempt: Graded) -> dt.datetime:
        return attempt[2] or _EARLIEST  # never None: submitting sets it with the status

    if policy == GradePolicy.LATEST:
        best = max(scored, key=lambda a: (submitted(a), a[0]))
    else:
        best = min(scored, key=lambda a: (-(a[1] or 0.0), submitted(a), a[0]))
    return float(best[1] or 0.0), best[2]


def mapping_grade(
    session: Session, mapping: Mapping, person_id: int
) -> tuple[float, dt.datetime | None] | None:
    """The grade of the person's submitted attempts in the mapping (``chosen_grade``)."""
    rows = session.execute(
        select(Attempt.id, Attempt.percentage, Attempt.submitted_at).where(
            Attempt.mapping_id == mapping.id,
            Attempt.person_id == person_id,
            Attempt.status == AttemptStatus.SUBMITTED,
            Attempt.percentage.is_not(None),
        )
    )
    return chosen_grade(mapping.grade_policy, [(i, p, at) for i, p, at in rows])


def queue_mapping_grade(
    session: Session,
    launch: Launch,
    mapping: Mapping,
    placed_as: str,
    now: dt.datetime,
    *,
    attempt_id: int | None = None,
    catching_up: bool = False,
    graded: Iterable[Graded] | None = None,
) -> ScoreDelivery | None:
    """Queue the person's grade in the mapping for the column of the launch's link, unless
    that column has it already (flush only). ``graded``: the person's submitted attempts
    in the mapping, when the caller has them (else they are read)."""
    found = (
        mapping_grade(session, mapping, launch.person_id)
        if graded is None
        else chosen_grade(mapping.grade_policy, graded)
    )
    if found is None:
        return None
    grade, submitted_at = found
    language = language_of(launch)
    title = mapping_title(mapping, language)
    return score_delivery.queue_score(
        session,
        organisation_id=mapping.organisation_id,
        attempt_id=attempt_id,
        launch=launch,
        score_given=grade,
        score_maximum=placement.SCORE_MAXIMUM,
        comment=f"{title}: {grade:g} %",
        submitted_at=submitted_at or now,
        now=now,
        line_item=placement.line_item_for(placed_as, placement.label_of(mapping, language)),
        if_changed=True,
        yield_on_conflict=catching_up,
    )


@dataclasses.dataclass(frozen=True)
class Placed:
    """What a resource link launch's custom parameters place."""

    mapping: str = ""
    certification: str = ""


def placed_by(launch_claims: MappingType[str, Any]) -> Placed:
    custom = launch_claims.get(c.CUSTOM) or {}
    return Placed(
        mapping=str(custom.get(MAPPING_PARAM) or "").strip(),
        certification=str(custom.get(CERTIFICATION_PARAM) or "").strip(),
    )


def catch_up(
    session: Session, launch: Launch, now: dt.datetime | None = None
) -> ScoreDelivery | None:
    """On a launch of a link that places a mapping or a certification and carries a line
    item: queue the grade the person has achieved there, unless that line item has it
    already (flush only). Returns the queued score, or None.

    Grade bookkeeping never fails a launch: an error here is logged and its writes undone
    (a savepoint), and the person gets their page; the next launch tries again."""
    if launch.message_type != c.RESOURCE_LINK_REQUEST:
        return None
    endpoint = ags.endpoint_from_claims(launch.claims)
    if endpoint is None or not endpoint.lineitem or not endpoint.grants(ags.SCOPE_SCORE):
        return None
    placed = placed_by(launch.claims)
    if not placed.mapping and not placed.certification:
        return None
    try:
        with session.begin_nested():
            return _queue_placed_grade(session, launch, placed, now or utcnow())
    except Exception:
        log.exception("launch %s: the grade could not be caught up", launch.id)
        return None


def _queue_placed_grade(
    session: Session, launch: Launch, placed: Placed, now: dt.datetime
) -> ScoreDelivery | None:
    organisation_id = launch.deployment.organisation_id
    if placed.mapping:
        mapping = placement.placed_mapping(
            session, organisation_id, launch.person_id, placed.mapping, whole=False
        )
        if mapping is None:
            return None
        placed_as = placement.MY_ROLE if placed.mapping == placement.MY_ROLE else mapping.code
        return queue_mapping_grade(session, launch, mapping, placed_as, now, catching_up=True)
    certification = session.scalar(
        select(Certification).where(
            Certification.organisation_id == organisation_id,
            func.lower(Certification.code) == placed.certification.lower(),
        )
    )
    if certification is None:
        return None
    return certificates.queue_holder_score(session, certification, launch, now, catching_up=True)
