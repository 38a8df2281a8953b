"""Item statistics of a mapping for its designers: how easy each knowledge item was and
how well it separates those who know from those who do not."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from lti_tool.domain.items import KNOWLEDGE_KINDS
from lti_tool.domain.mapping_results import ItemStatistics, item_statistics
from lti_tool.models import Attempt, AttemptStatus, Item, Mapping, Response
from lti_tool.services.mappings import get_mapping

#: Fewer attempts than this, and the figures are shown as too uncertain to act on.
MIN_ATTEMPTS_FOR_CONFIDENCE = 20


@dataclasses.dataclass(frozen=True)
class ItemRow:
    item: Item
    statistics: ItemStatistics


@dataclasses.dataclass(frozen=True)
class StatisticsReport:
    mapping: Mapping
    attempts: int
    mean_percentage: float | None
    rows: Sequence[ItemRow]

    @property
    def uncertain(self) -> bool:
        return self.attempts < MIN_ATTEMPTS_FOR_CONFIDENCE


def mapping_statistics(session: Session, organisation_id: int, mapping_id: int) -> StatisticsReport:
    """Each knowledge item's statistics over the mapping's submitted attempts (four
    statements). The attempts and their answers are read as plain rows (plan, percentage;
    item and credit), not as objects: a mapping taken hundreds of times is thousands of
    answers, and the page's memory stays small."""
    mapping = get_mapping(session, organisation_id, mapping_id)
    done = and_(Attempt.mapping_id == mapping.id, Attempt.status == AttemptStatus.SUBMITTED)
    submitted = session.execute(
        select(Attempt.id, Attempt.plan, Attempt.percentage).where(done).order_by(Attempt.id)
    ).all()
    given: dict[int, dict[int, float]] = {}
    for attempt_id, item_id, fraction in session.execute(
        select(Response.attempt_id, Response.item_id, Response.fraction)
        .join(Attempt, Attempt.id == Response.attempt_id)
        .where(done)
    ):
        given.setdefault(attempt_id, {})[item_id] = fraction or 0.0
    item_ids = {entry["item"] for _id, plan, _pct in submitted for entry in plan}
    items = {
        item.id: item
        for item in session.scalars(select(Item).where(Item.id.in_(item_ids)))
        if item.kind in KNOWLEDGE_KINDS
    }
    credits = []
    for attempt_id, plan, _percentage in submitted:
        answers = given.get(attempt_id, {})
        credits.append(
            {
                entry["item"]: answers.get(entry["item"], 0.0)
                for entry in plan
                if entry["item"] in items
            }
        )
    stats = item_statistics(credits)
    percentages = [pct for _id, _plan, pct in submitted if pct is not None]
    return StatisticsReport(
        mapping=mapping,
        attempts=len(submitted),
        mean_percentage=round(sum(percentages) / len(percentages), 1) if percentages else None,
        rows=[ItemRow(items[i], stats[i]) for i in sorted(stats, key=lambda i: items[i].code)],
    )
