"""Item types: what each kind of question checks when it is written and how it scores an
answer. A registry keyed by the type string, so adding a type is adding one class.

Scoring rules (shown to designers on the item form):
- single choice and true/false: the chosen option's fraction (negative counts as 0).
- multiple choice: the sum of the chosen options' fractions, clamped to 0 … 1. Correct
  options share +1 between them and wrong ones carry a penalty (by default -1 divided by the
  number of correct options), so ticking everything never scores.
- numeric: the best fraction among the accepted answers the value lies within
  (value ± tolerance).
- self-assessment: the chosen level's place on the scale, (level - lowest) / (highest - lowest);
  its evidence is the level itself, not the fraction.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l

from lti_tool.domain.texts import clean_text

SELF_ASSESSMENT = "self_assessment"
SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
TRUE_FALSE = "true_false"
NUMERIC = "numeric"

MAX_OPTIONS = 20
#: The longest question text and option text, in any language (feedback: a description's).
MAX_STEM_LENGTH = 2000

#: Feedback by outcome (Moodle's combined feedback: correct, partially correct, incorrect),
#: shown after the answer's own feedback; and, for numeric items, the feedback for an answer
#: that matches no accepted answer (Moodle's "*" answer).
CORRECT = "correct"
PARTIALLY_CORRECT = "partially_correct"
INCORRECT = "incorrect"
OTHER_ANSWER = "other_answer"
OUTCOMES = (CORRECT, PARTIALLY_CORRECT, INCORRECT)
FEEDBACK_KEYS = (*OUTCOMES, OTHER_ANSWER)


@dataclasses.dataclass(frozen=True)
class OptionData:
    text: Mapping[str, str] = dataclasses.field(default_factory=dict)
    fraction: float = 0.0
    """-1 … 1; 1 = fully correct."""
    feedback: Mapping[str, str] = dataclasses.field(default_factory=dict)
    value: float | None = None
    """Numeric items: the accepted value (± tolerance)."""
    tolerance: float | None = None
    id: int | None = None


@dataclasses.dataclass(frozen=True)
class CompetenceRef:
    """A competence an item measures, by code (imports) or id (the bank)."""

    code: str = ""
    weight: float = 1.0
    id: int | None = None


@dataclasses.dataclass(frozen=True)
class ItemData:
    """One item as plain data: what forms and import files produce, before the database."""

    kind: str
    stem: Mapping[str, str]
    options: Sequence[OptionData] = ()
    code: str = ""
    points: float = 1.0
    feedback: Mapping[str, str] = dataclasses.field(default_factory=dict)
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    competences: Sequence[CompetenceRef] = ()
    outcome_feedback: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    """Texts by ``FEEDBACK_KEYS`` key ({"correct": {"nb": …}}); a missing key has none."""


def outcome(credit: float) -> str:
    """Which outcome feedback an answer's credit (0 … 1) earns."""
    if credit >= 0.999:
        return CORRECT
    return PARTIALLY_CORRECT if credit > 0 else INCORRECT


@dataclasses.dataclass(frozen=True)
class Scale:
    """The values of a self-assessment item's scale (its competence's levels)."""

    values: Sequence[int]


class ItemType(abc.ABC):
    key: ClassVar[str]
    label: ClassVar[Any]
    has_options: ClassVar[bool] = True
    outcome_feedback: ClassVar[bool] = True
    """Whether feedback by outcome (correct, partially correct, incorrect) applies."""

    @property
    def feedback_keys(self) -> tuple[str, ...]:
        return OUTCOMES if self.outcome_feedback else ()

    def validate(self, item: ItemData) -> list[Any]:
        """Problems with the item (translatable strings); empty when it can be used."""
        problems: list[Any] = []
        if not clean_text(item.stem):
            problems.append(_l("The question or statement needs a text."))
        if not math.isfinite(item.points) or item.points <= 0:
            problems.append(_l("Points must be more than 0."))
        if not item.competences:
            problems.append(_l("Tie the item to at least one competence."))
        for ref in item.competences:
            if not math.isfinite(ref.weight) or ref.weight <= 0:
                problems.append(_l("A competence weight must be more than 0."))
                break
        if len(item.options) > MAX_OPTIONS:
            problems.append(_l("At most %(n)d options.", n=MAX_OPTIONS))
        if any(
            clean_text(text) and key not in self.feedback_keys
            for key, text in item.outcome_feedback.items()
        ):
            problems.append(_l("This item type has no such feedback."))
        problems.extend(self.validate_options(item))
        return problems

    def validate_options(self, item: ItemData) -> list[Any]:
        return []

    @abc.abstractmethod
    def score(self, item: ItemData, answer: Mapping[str, Any], scale: Scale | None) -> float:
        """The answer's credit, 0 … 1."""

    @staticmethod
    def chosen(answer: Mapping[str, Any]) -> list[int]:
        raw = answer.get("options") or []
        return [int(x) for x in raw if isinstance(x, int) or str(x).isdigit()]


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


class _Choice(ItemType):
    def validate_options(self, item: ItemData) -> list[Any]:
        problems: list[Any] = []
        if len(item.options) < 2:
            problems.append(_l("Give at least two options."))
        if any(not clean_text(o.text) for o in item.options):
            problems.append(_l("Every option needs a text."))
        if any(not -1.0 <= o.fraction <= 1.0 for o in item.options):
            problems.append(_l("An option's credit must be between -100 % and 100 %."))
        return problems

    @staticmethod
    def _by_id(item: ItemData) -> dict[int, OptionData]:
        return {o.id: o for o in item.options if o.id is not None}


class SingleChoice(_Choice):
    key = SINGLE_CHOICE
    label = _l("Single choice")

    def validate_options(self, item: ItemData) -> list[Any]:
        problems = super().validate_options(item)
        if item.options and max(o.fraction for o in item.options) < 1.0:
            problems.append(_l("Mark one option as fully correct."))
        return problems

    def score(self, item: ItemData, answer: Mapping[str, Any], scale: Scale | None) -> float:
        options = self._by_id(item)
        chosen = [options[i] for i in self.chosen(answer) if i in options]
        return _clamp(chosen[0].fraction) if len(chosen) == 1 else 0.0


class TrueFalse(SingleChoice):
    key = TRUE_FALSE
    label = _l("True/false")

    def validate_options(self, item: ItemData) -> list[Any]:
        problems = super().validate_options(item)
        if len(item.options) != 2:
            problems.append(_l("A true/false item has exactly two options."))
        return problems


class MultipleChoice(_Choice):
    key = MULTIPLE_CHOICE
    label = _l("Multiple choice")

    def validate_options(self, item: ItemData) -> list[Any]:
        problems = super().validate_options(item)
        positive = sum(o.fraction for o in item.options if o.fraction > 0)
        if item.options and not math.isclose(positive, 1.0, abs_tol=0.01):
            problems.append(_l("The correct options' credits must add up to 100 %."))
        return problems

    def score(self, item: ItemData, answer: Mapping[str, Any], scale: Scale | None) -> float:
        options = self._by_id(item)
        chosen = {i for i in self.chosen(answer) if i in options}
        return _clamp(sum(options[i].fraction for i in chosen))


def default_fractions(correct: Sequence[bool]) -> list[float]:
    """Multiple choice credits when a designer only ticks which options are correct."""
    right = sum(1 for c in correct if c) or 1
    return [1.0 / right if c else -1.0 / right for c in correct]


class Numeric(ItemType):
    key = NUMERIC
    label = _l("Numeric answer")

    @property
    def feedback_keys(self) -> tuple[str, ...]:
        return FEEDBACK_KEYS

    def validate_options(self, item: ItemData) -> list[Any]:
        problems: list[Any] = []
        if not item.options:
            problems.append(_l("Give the correct numeric answer."))
        for o in item.options:
            if o.value is None or not math.isfinite(o.value):
                problems.append(_l("Every accepted answer needs a number."))
                break
            if o.tolerance is not None and (not math.isfinite(o.tolerance) or o.tolerance < 0):
                problems.append(_l("A tolerance cannot be negative."))
                break
        if item.options and max(o.fraction for o in item.options) < 1.0:
            problems.append(_l("One accepted answer must give full credit."))
        return problems

    def score(self, item: ItemData, answer: Mapping[str, Any], scale: Scale | None) -> float:
        value = answer.get("value")
        if not isinstance(value, int | float) or not math.isfinite(value):
            return 0.0
        best = 0.0
        for o in item.options:
            if o.value is None:
                continue
            if abs(value - o.value) <= (o.tolerance or 0.0) + 1e-9:
                best = max(best, o.fraction)
        return _clamp(best)


class SelfAssessment(ItemType):
    key = SELF_ASSESSMENT
    label = _l("Self-assessment statement")
    has_options = False
    outcome_feedback = False

    def validate_options(self, item: ItemData) -> list[Any]:
        if item.options:
            return [_l("A self-assessment statement has no options: it uses the scale.")]
        return []

    def score(self, item: ItemData, answer: Mapping[str, Any], scale: Scale | None) -> float:
        level = answer.get("level")
        if scale is None or not scale.values or not isinstance(level, int):
            return 0.0
        if level not in scale.values:
            return 0.0
        low, high = min(scale.values), max(scale.values)
        return 1.0 if high == low else (level - low) / (high - low)


ITEM_TYPES: dict[str, ItemType] = {
    t.key: t for t in (SelfAssessment(), SingleChoice(), MultipleChoice(), TrueFalse(), Numeric())
}
KNOWLEDGE_KINDS = frozenset(k for k in ITEM_TYPES if k != SELF_ASSESSMENT)


def validate_item(item: ItemData) -> list[Any]:
    kind = ITEM_TYPES.get(item.kind)
    if kind is None:
        return [_l("Unknown item type %(kind)s.", kind=item.kind)]
    return kind.validate(item)


def score_answer(item: ItemData, answer: Mapping[str, Any], scale: Scale | None = None) -> float:
    return ITEM_TYPES[item.kind].score(item, answer, scale)
