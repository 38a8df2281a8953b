"""From scored answers to a level per competence, and item statistics for designers.

Rules (shown to designers on the mapping page):
- Knowledge items: per competence, the weighted share of the credit the person earned,
  weights = the item's points × its weight for that competence. The percentage becomes a
  level through the mapping's thresholds: the highest level whose minimum is reached.
  Without thresholds a scale of n levels is cut evenly: level k needs k / (n + 1) of 100 %.
- Self-assessment statements: per competence, the weighted mean of the levels the person
  chose, rounded down to a level on the scale.
- A competence measured by knowledge items takes its level from them (the self-assessed
  level is kept alongside); one measured only by statements takes the self-assessed level.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

KNOWLEDGE_TEST = "knowledge_test"
SELF_ASSESSMENT = "self_assessment"


@dataclasses.dataclass(frozen=True)
class ScoredItem:
    points: float
    fraction: float
    """The credit earned, 0 … 1 (0 for an item left unanswered)."""
    competences: Sequence[tuple[int, float]]
    """(competence id, weight) pairs."""
    self_level: int | None = None
    """Self-assessment statements: the level chosen (None when unanswered)."""


@dataclasses.dataclass(frozen=True)
class CompetenceResult:
    competence_id: int
    level: int
    """0 = measured, but no level reached."""
    source: str
    percentage: float | None
    """Knowledge items only: 0 … 100."""
    self_level: int | None


def default_thresholds(scale: Sequence[int]) -> dict[int, float]:
    values = sorted(scale)
    n = len(values)
    return {v: round(100.0 * (i + 1) / (n + 1), 1) for i, v in enumerate(values)}


def level_for(percentage: float, thresholds: Mapping[int, float], scale: Sequence[int]) -> int:
    """The highest level whose minimum the percentage reaches; 0 when none."""
    cut = thresholds or default_thresholds(scale)
    reached = [level for level, minimum in cut.items() if percentage + 1e-9 >= minimum]
    return max(reached, default=0)


def competence_results(
    knowledge: Iterable[ScoredItem],
    statements: Iterable[ScoredItem],
    thresholds: Mapping[int, Mapping[int, float]],
    scales: Mapping[int, Sequence[int]],
) -> dict[int, CompetenceResult]:
    """A result for every competence that ``thresholds`` names (the mapping's competences).

    ``thresholds`` maps a competence to its {level: minimum %} (empty = default);
    ``scales`` maps it to its scale's values.
    """
    earned: dict[int, float] = {}
    possible: dict[int, float] = {}
    for item in knowledge:
        for competence_id, weight in item.competences:
            share = item.points * weight
            possible[competence_id] = possible.get(competence_id, 0.0) + share
            earned[competence_id] = earned.get(competence_id, 0.0) + share * item.fraction
    chosen: dict[int, list[tuple[int, float]]] = {}
    for item in statements:
        if item.self_level is None:
            continue
        for competence_id, weight in item.competences:
            chosen.setdefault(competence_id, []).append((item.self_level, weight))
    results = {}
    for competence_id, cut in thresholds.items():
        scale = scales.get(competence_id, ())
        self_level = _mean_level(chosen.get(competence_id), scale)
        if possible.get(competence_id):
            percentage = round(100.0 * earned[competence_id] / possible[competence_id], 1)
            level = level_for(percentage, cut, scale)
            results[competence_id] = CompetenceResult(
                competence_id, level, KNOWLEDGE_TEST, percentage, self_level
            )
        elif self_level is not None:
            results[competence_id] = CompetenceResult(
                competence_id, self_level, SELF_ASSESSMENT, None, self_level
            )
    return results


def _mean_level(chosen: Sequence[tuple[int, float]] | None, scale: Sequence[int]) -> int | None:
    if not chosen:
        return None
    total = sum(w for _, w in chosen)
    mean = sum(level * w for level, w in chosen) / total
    below = [v for v in scale if v <= mean + 1e-9]
    return max(below) if below else math.floor(mean)


# --- item statistics ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ItemStatistics:
    item_id: int
    answers: int
    facility: float | None
    """The mean credit, 0 … 1: how easy the item was (None: nobody answered)."""
    discrimination: float | None
    """The correlation of the item's credit with the rest of the attempt's score, -1 … 1:
    how well it separates strong from weak (None: too few answers, or no spread)."""


def item_statistics(attempts: Iterable[Mapping[int, float]]) -> dict[int, ItemStatistics]:
    """Facility and corrected item-total correlation per item, over submitted attempts.

    Each attempt maps item id → credit (0 … 1) for the knowledge items it asked. One pass,
    keeping a few running sums per item (``_Running``), never the attempts: a mapping
    taken thousands of times costs a page no more memory than one taken ten times.
    """
    running: dict[int, _Running] = {}
    for attempt in attempts:
        total = sum(attempt.values())
        for item_id, credit in attempt.items():
            found = running.get(item_id)
            if found is None:
                found = running[item_id] = _Running()
            found.add(credit, total - credit)
    return {
        item_id: ItemStatistics(
            item_id,
            running[item_id].n,
            running[item_id].sum_x / running[item_id].n,
            running[item_id].correlation(),
        )
        for item_id in sorted(running)
    }


class _Running:
    """An item's credits x and rest scores y so far: their count, the credits' sum, and
    Welford's running means and (co-)moments (stable, unlike sums of squares: a credit
    every attempt got right gives a spread of exactly 0)."""

    __slots__ = ("c_xy", "m2_x", "m2_y", "mean_x", "mean_y", "n", "sum_x")

    def __init__(self) -> None:
        self.n = 0
        self.sum_x = self.mean_x = self.mean_y = self.m2_x = self.m2_y = self.c_xy = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        self.sum_x += x
        dx = x - self.mean_x
        dy = y - self.mean_y
        self.mean_x += dx / self.n
        self.mean_y += dy / self.n
        self.m2_x += dx * (x - self.mean_x)
        self.m2_y += dy * (y - self.mean_y)
        self.c_xy += dx * (y - self.mean_y)

    def correlation(self) -> float | None:
        if self.n < 3 or self.m2_x <= 1e-12 or self.m2_y <= 1e-12:
            return None
        return round(self.c_xy / math.sqrt(self.m2_x * self.m2_y), 3)
