"""Item statistics of a mapping for its designers: how easy each knowledge item was and
how well it separates those who know from those who do not."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

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
    statements, and one more for items first seen after the first attempt). The attempts
    and their answers are streamed side by side in the attempts' order (server-side
    cursors on PostgreSQL) and folded into a few sums per item: the page's memory does not
    grow with the attempts (it grew with every attempt when they were all read at once, and
    a worker's resident memory followed it: bench/RESULTS.md, the soak)."""
    mapping = get_mapping(session, organisation_id, mapping_id)
    done = and_(Attempt.mapping_id == mapping.id, Attempt.status == AttemptStatus.SUBMITTED)
    submitted = session.execute(
        select(Attempt.id, Attempt.plan, Attempt.percentage)
        .where(done)
        .order_by(Attempt.id)
        .execution_options(yield_per=_BATCH)
    )
    answers = session.execute(
        select(Response.attempt_id, Response.item_id, Response.fraction)
        .join(Attempt, Attempt.id == Response.attempt_id)
        .where(done)
        .order_by(Response.attempt_id)
        .execution_options(yield_per=_BATCH * 30)
    )
    items: dict[int, Item | None] = {}  # None: asked, but not a knowledge item
    percentages = _Mean()

    def credits() -> Iterator[dict[int, float]]:
        for percentage, plan, given in _with_answers(submitted, answers):
            percentages.add(percentage)
            asked = [entry["item"] for entry in plan]
            _load_new(session, items, asked)
            yield {i: given.get(i, 0.0) for i in asked if items[i] is not None}

    try:
        stats = item_statistics(credits())
    finally:
        submitted.close()
        answers.close()
    known = {i: item for i, item in items.items() if item is not None}
    return StatisticsReport(
        mapping=mapping,
        attempts=percentages.attempts,
        mean_percentage=percentages.mean(),
        rows=[ItemRow(known[i], stats[i]) for i in sorted(stats, key=lambda i: known[i].code)],
    )


#: Attempts fetched at a time (their answers: 30 times as many rows).
_BATCH = 200


def _with_answers(submitted: Any, answers: Any) -> Iterator[tuple[Any, Any, dict[int, float]]]:
    """Each submitted attempt's percentage and plan with its answers (item → credit),
    merging the two streams, both in the attempts' order."""
    pending = next(answers, None)
    for attempt_id, plan, percentage in submitted:
        while pending is not None and pending[0] < attempt_id:
            pending = next(answers, None)
        given: dict[int, float] = {}
        while pending is not None and pending[0] == attempt_id:
            given[pending[1]] = pending[2] or 0.0
            pending = next(answers, None)
        yield percentage, plan, given


def _load_new(session: Session, items: dict[int, Item | None], ids: list[int]) -> None:
    """The items among ``ids`` not read yet (a mapping's attempts mostly ask the same)."""
    missing = [i for i in ids if i not in items]
    if not missing:
        return
    for item in session.scalars(select(Item).where(Item.id.in_(missing))):
        items[item.id] = item if item.kind in KNOWLEDGE_KINDS else None
    for i in missing:
        items.setdefault(i, None)


class _Mean:
    """The attempts counted and their mean percentage (of those that have one)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.count = 0
        self.total = 0.0

    def add(self, percentage: float | None) -> None:
        self.attempts += 1
        if percentage is not None:
            self.count += 1
            self.total += percentage

    def mean(self) -> float | None:
        return round(self.total / self.count, 1) if self.count else None
