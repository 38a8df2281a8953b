"""Item statistics of a mapping for its designers: how easy each knowledge item was and
how well it separates those who know from those who do not."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain.items import KNOWLEDGE_KINDS
from lti_tool.domain.mapping_results import ItemStatistics, item_statistics
from lti_tool.models import Attempt, AttemptStatus, Item, Mapping
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
    mapping = get_mapping(session, organisation_id, mapping_id)
    submitted = session.scalars(
        select(Attempt)
        .where(Attempt.mapping_id == mapping.id, Attempt.status == AttemptStatus.SUBMITTED)
        .options(selectinload(Attempt.responses))
    ).all()
    item_ids = {entry["item"] for attempt in submitted for entry in attempt.plan}
    items = {
        item.id: item
        for item in session.scalars(select(Item).where(Item.id.in_(item_ids)))
        if item.kind in KNOWLEDGE_KINDS
    }
    credits = []
    for attempt in submitted:
        given = {r.item_id: r.fraction or 0.0 for r in attempt.responses}
        credits.append(
            {
                entry["item"]: given.get(entry["item"], 0.0)
                for entry in attempt.plan
                if entry["item"] in items
            }
        )
    stats = item_statistics(credits)
    percentages = [a.percentage for a in submitted if a.percentage is not None]
    return StatisticsReport(
        mapping=mapping,
        attempts=len(submitted),
        mean_percentage=round(sum(percentages) / len(percentages), 1) if percentages else None,
        rows=[ItemRow(items[i], stats[i]) for i in sorted(stats, key=lambda i: items[i].code)],
    )
