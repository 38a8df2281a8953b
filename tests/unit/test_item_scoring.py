"""Item types and scoring rules, and how scores become levels and item statistics."""

from __future__ import annotations

import pytest

from lti_tool.domain.items import (
    CompetenceRef,
    ItemData,
    OptionData,
    Scale,
    default_fractions,
    score_answer,
    validate_item,
)
from lti_tool.domain.mapping_results import (
    ScoredItem,
    competence_results,
    default_thresholds,
    item_statistics,
    level_for,
)

COMPETENCE = (CompetenceRef("K1", 1.0, 1),)


def choice(kind: str, fractions: list[float]) -> ItemData:
    return ItemData(
        kind=kind,
        stem={"nb": "Spørsmål"},
        options=tuple(OptionData({"nb": f"Valg {n}"}, f, id=n) for n, f in enumerate(fractions, 1)),
        competences=COMPETENCE,
    )


def test_multiple_choice_partial_credit_and_penalty():
    item = choice("multiple_choice", default_fractions([True, True, False, False]))
    assert item.options[0].fraction == 0.5 and item.options[2].fraction == -0.5
    assert score_answer(item, {"options": [1, 2]}) == 1.0
    assert score_answer(item, {"options": [1]}) == 0.5
    assert score_answer(item, {"options": [1, 3]}) == 0.0
    assert score_answer(item, {"options": [1, 2, 3, 4]}) == 0.0  # ticking all gives nothing
    assert score_answer(item, {"options": [3]}) == 0.0  # never below 0
    assert score_answer(item, {"options": [99]}) == 0.0


def test_single_choice_takes_one_option_with_its_credit():
    item = choice("single_choice", [1.0, 0.5, 0.0])
    assert score_answer(item, {"options": [1]}) == 1.0
    assert score_answer(item, {"options": [2]}) == 0.5
    assert score_answer(item, {"options": [1, 2]}) == 0.0
    assert score_answer(item, {}) == 0.0


def test_numeric_answers_within_tolerance_take_the_best_credit():
    item = ItemData(
        kind="numeric",
        stem={"nb": "Hvor mange ml?"},
        options=(
            OptionData(fraction=1.0, value=5, tolerance=0.1),
            OptionData(fraction=0.5, value=5, tolerance=1),
        ),
        competences=COMPETENCE,
    )
    assert validate_item(item) == []
    assert score_answer(item, {"value": 5.05}) == 1.0
    assert score_answer(item, {"value": 5.9}) == 0.5
    assert score_answer(item, {"value": 7}) == 0.0
    assert score_answer(item, {"value": float("nan")}) == 0.0


def test_self_assessment_places_the_level_on_the_scale():
    item = ItemData(kind="self_assessment", stem={"nb": "Jeg kan …"}, competences=COMPETENCE)
    scale = Scale([1, 2, 3, 4])
    assert score_answer(item, {"level": 1}, scale) == 0.0
    assert score_answer(item, {"level": 3}, scale) == pytest.approx(2 / 3)
    assert score_answer(item, {"level": 9}, scale) == 0.0


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (choice("single_choice", [0.5, 0.0]), "Mark one option as fully correct."),
        (choice("multiple_choice", [0.5, 0.2]), "credits must add up to 100"),
        (choice("true_false", [1.0, 0.0, 0.0]), "exactly two options"),
        (choice("single_choice", [1.0]), "at least two options"),
        (ItemData(kind="numeric", stem={"nb": "x"}, competences=COMPETENCE), "numeric answer"),
        (ItemData(kind="single_choice", stem={}, competences=()), "needs a text"),
        (ItemData(kind="nonsense", stem={"nb": "x"}), "Unknown item type"),
    ],
)
def test_validation_names_the_problem(app, item, problem):
    with app.test_request_context("/?lang=en"):
        assert any(problem in str(p) for p in validate_item(item)), validate_item(item)


def test_levels_from_percentages():
    assert default_thresholds([1, 2, 3, 4]) == {1: 20.0, 2: 40.0, 3: 60.0, 4: 80.0}
    assert level_for(79.9, {}, [1, 2, 3, 4]) == 3
    assert level_for(10, {}, [1, 2, 3, 4]) == 0
    assert level_for(50, {1: 0, 2: 50, 3: 90}, [1, 2, 3]) == 2


def test_competence_results_knowledge_outweighs_statements():
    knowledge = [
        ScoredItem(1, 1.0, [(1, 1.0)]),
        ScoredItem(1, 0.0, [(1, 1.0), (2, 1.0)]),
        ScoredItem(2, 0.5, [(2, 2.0)]),
    ]
    statements = [ScoredItem(1, 1.0, [(1, 1.0)], self_level=4), ScoredItem(1, 0.5, [(3, 1.0)], 2)]
    results = competence_results(
        knowledge,
        statements,
        {1: {}, 2: {}, 3: {}, 4: {}},
        {1: [1, 2, 3, 4], 2: [1, 2, 3, 4], 3: [1, 2, 3], 4: [1, 2]},
    )
    assert results[1].percentage == 50.0 and results[1].level == 2
    assert results[1].source == "knowledge_test" and results[1].self_level == 4
    # competence 2: 0 of 1 plus 0.5 × (2 points × weight 2 = 4) → 2 of 5
    assert results[2].percentage == 40.0 and results[2].level == 2
    assert results[3].source == "self_assessment" and results[3].level == 2
    assert 4 not in results  # not measured by anything


def test_item_statistics_facility_and_discrimination():
    attempts = [
        {1: 1.0, 2: 1.0, 3: 1.0},
        {1: 1.0, 2: 0.0, 3: 1.0},
        {1: 0.0, 2: 0.0, 3: 1.0},
        {1: 0.0, 2: 1.0, 3: 1.0},
    ]
    stats = item_statistics(attempts)
    assert stats[1].facility == 0.5 and stats[3].facility == 1.0
    assert stats[3].discrimination is None  # no spread
    assert stats[1].discrimination is not None and -1 <= stats[1].discrimination <= 1
    assert item_statistics(attempts[:2])[1].discrimination is None  # too few


def test_item_statistics_fold_a_stream_of_attempts_without_keeping_them():
    """The statistics page streams a mapping's attempts: one pass, and memory that does not
    grow with them (it read every attempt and answer at once, and a web worker's resident
    memory grew with every attempt submitted: bench/RESULTS.md, the soak)."""
    import tracemalloc

    def attempts(n: int):
        for k in range(n):
            yield {i: float((k + i) % 3 == 0) for i in range(1, 31)}

    few = item_statistics(attempts(300))
    assert few[1].answers == 300 and few[1].facility == pytest.approx(1 / 3, abs=0.01)
    tracemalloc.start()
    try:
        many = item_statistics(attempts(3000))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert many[1].answers == 3000 and many.keys() == few.keys()
    assert peak < 100_000, peak  # 30 items' sums and one attempt; all at once: megabytes
