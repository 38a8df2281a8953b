"""The status of one cell of the competence matrix, and coverage (domain.coverage)."""

from __future__ import annotations

import datetime as dt

import pytest

from lti_tool.domain.coverage import (
    CellStatus,
    Holding,
    Ranked,
    cell_status,
    cell_status_and_expiry,
    coverage,
    expires_at,
    holding_rank,
    replaces,
)

NOW = dt.datetime(2027, 3, 15, 12, 0, tzinfo=dt.UTC)


def held(level: int, days_ago: int, valid_for_days: int | None = None) -> Holding:
    recorded = NOW - dt.timedelta(days=days_ago)
    until = recorded + dt.timedelta(days=valid_for_days) if valid_for_days is not None else None
    return Holding(level, recorded, until)


@pytest.mark.parametrize(
    ("required", "renewal", "holding", "expected"),
    [
        (2, None, None, CellStatus.NEVER_ASSESSED),
        (2, 12, held(0, 1), CellStatus.GAP),  # assessed, no level reached
        (3, 12, held(2, 1), CellStatus.GAP),
        (3, 12, held(2, 800), CellStatus.GAP),  # below the level: a gap, expired or not
        (2, None, held(2, 4000), CellStatus.MET),  # once is enough
        (2, 12, held(3, 30), CellStatus.MET),
        (2, 12, held(2, 340), CellStatus.EXPIRING),  # 12 months after: within 30 days
        (2, 12, held(2, 400), CellStatus.EXPIRED),
        (2, None, held(2, 10, valid_for_days=20), CellStatus.EXPIRING),  # the evidence's end
        (2, None, held(2, 10, valid_for_days=10), CellStatus.EXPIRED),  # ends now: expired
        (2, 24, held(2, 10, valid_for_days=5), CellStatus.EXPIRED),  # the earlier end counts
    ],
)
def test_the_five_statuses(required, renewal, holding, expected):
    assert cell_status(required, renewal, holding, now=NOW, expiring_days=30) == expected
    both = cell_status_and_expiry(required, renewal, holding, now=NOW, expiring_days=30)
    # a gap shows no end: the level held does not count for the requirement
    ends = expires_at(holding, renewal) if holding and expected != CellStatus.GAP else None
    assert both == (expected, ends)


def test_the_expiring_window_is_n_days():
    holding = held(2, 355)  # 12 months end in about 10 days
    assert cell_status(2, 12, holding, now=NOW, expiring_days=30) == CellStatus.EXPIRING
    assert cell_status(2, 12, holding, now=NOW, expiring_days=5) == CellStatus.MET


def test_renewal_counts_calendar_months_from_the_evidence():
    holding = Holding(2, dt.datetime(2025, 1, 31, 9, tzinfo=dt.UTC))
    assert expires_at(holding, 1) == dt.datetime(2025, 2, 28, 9, tzinfo=dt.UTC)
    assert expires_at(holding, 24) == dt.datetime(2027, 1, 31, 9, tzinfo=dt.UTC)
    assert expires_at(holding, None) is None


def test_a_knowledge_test_outranks_a_later_self_assessment_and_the_latest_wins_among_equals():
    old, new = NOW - dt.timedelta(days=100), NOW
    assert holding_rank("knowledge_test", old, 1) > holding_rank("self_assessment", new, 2)
    assert holding_rank("knowledge_test", new, 1) > holding_rank("knowledge_test", old, 2)
    assert holding_rank("knowledge_test", new, 3) > holding_rank("knowledge_test", new, 2)


def test_a_course_does_not_replace_a_higher_level_that_still_counts():
    old, new = NOW - dt.timedelta(days=100), NOW
    measured = Ranked("knowledge_test", 4, old, 1)
    for course in ("attendance", "instructor_confirmed", "lms_score", "lms_completion"):
        assert not replaces(Ranked(course, 2, new, 2), measured, None)
        assert not replaces(Ranked(course, 2, new, 2), measured, new + dt.timedelta(days=1))
        # once the higher level has run out, the course's level is what counts
        assert replaces(Ranked(course, 2, new, 2), measured, new)
        # at the same level or higher, the latest counts
        assert replaces(Ranked(course, 4, new, 2), measured, None)
    # a measured result still counts as it is: a worse retake, or after a course
    assert replaces(Ranked("knowledge_test", 1, new, 2), measured, None)
    assert replaces(Ranked("knowledge_test", 1, new, 2), Ranked("attendance", 3, old, 1), None)
    # the person's own word replaces their own word only, as before
    own = Ranked("self_assessment", 4, old, 1)
    assert not replaces(Ranked("self_reported", 2, new, 2), own, None)
    assert replaces(Ranked("attendance", 2, new, 2), own, None)
    assert not replaces(Ranked("self_reported", 5, new, 2), measured, None)


def test_coverage_is_the_share_met_or_expiring():
    statuses = [
        CellStatus.MET,
        CellStatus.EXPIRING,
        CellStatus.GAP,
        CellStatus.EXPIRED,
        CellStatus.NEVER_ASSESSED,
        CellStatus.MET,
    ]
    assert coverage(statuses) == 50.0
    assert coverage([CellStatus.MET, CellStatus.GAP, CellStatus.GAP]) == 33.3
    assert coverage([]) is None
