"""Certification rules: condition trees, and when a person may earn or renew."""

from __future__ import annotations

import datetime as dt

import pytest

from lti_tool.domain import certification_rules as rules

T0 = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
COMP = {"type": "competence", "competence_id": 1, "level": 2}
MAP = {"type": "mapping", "mapping_id": 3}
COURSE = {"type": "course", "course_id": 5}


def test_and_or_nest():
    tree = {"all": [MAP, {"any": [COMP, COURSE]}]}
    assert not rules.is_met(tree, rules.Facts(passed_mappings=frozenset({3})))
    assert rules.is_met(tree, rules.Facts(passed_mappings=frozenset({3}), courses=frozenset({5})))
    assert rules.is_met(tree, rules.Facts(levels={1: 3}, passed_mappings=frozenset({3})))
    assert not rules.is_met(tree, rules.Facts(levels={1: 1}, passed_mappings=frozenset({3})))
    assert rules.leaves(tree) == [MAP, COMP, COURSE]
    assert (
        rules.first_met(
            [{"all": [COURSE]}, {"any": [MAP]}], rules.Facts(passed_mappings=frozenset({3}))
        )
        == 1
    )
    assert rules.first_met([{"all": [COURSE]}], rules.Facts()) is None


@pytest.mark.parametrize(
    ("tree", "problem"),
    [
        ([], "a rule must be an object"),
        ({"all": []}, "'all' needs a non-empty list"),
        ({"all": [MAP], "any": [MAP]}, "a branch has exactly one of 'all' or 'any'"),
        ({"type": "badge"}, "unknown condition type 'badge'"),
        ({"type": "mapping", "mapping_id": "3"}, "a mapping condition needs mapping_id"),
        (
            {"type": "competence", "competence_id": 1, "level": 0},
            "a competence condition needs a level of 1 or more",
        ),
    ],
)
def test_problems_name_what_is_wrong(tree, problem):
    assert rules.problems(tree) == [problem]


def test_deep_nesting_is_refused_and_good_trees_pass():
    tree: dict = MAP
    for _ in range(7):
        tree = {"all": [tree]}
    assert rules.problems(tree) == ["rules nest deeper than 5 levels"]
    assert rules.problems({"any": [MAP, {"all": [COMP, COURSE]}]}) == []


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert rules.add_months(T0, 1) == T0.replace(month=2, day=28)
    assert rules.add_months(T0, 48) == T0.replace(year=2030)
    assert rules.add_months(T0.replace(month=12, day=15), 1) == T0.replace(
        year=2027, month=1, day=15
    )
    leap = dt.datetime(2028, 2, 29, tzinfo=dt.UTC)
    assert rules.add_months(leap, 12) == dt.datetime(2029, 2, 28, tzinfo=dt.UTC)


POLICY = rules.Policy(validity_months=12, renewal_window_days=60, minimum_active_days=None)


def held(issued=T0, months=12, revoked=None):
    return rules.Held(
        issued_at=issued, expires_at=rules.add_months(issued, months), revoked_at=revoked
    )


def test_first_time_counts_all_evidence():
    chance = rules.opportunity(POLICY, None, T0)
    assert chance == rules.Opportunity(
        renewal=False, since=None, valid_until=rules.add_months(T0, 12)
    )


def test_a_certificate_without_expiry_is_held_for_ever():
    policy = rules.Policy(None, None, None)
    assert rules.opportunity(policy, None, T0).valid_until is None
    forever = rules.Held(issued_at=T0, expires_at=None, revoked_at=None)
    assert rules.opportunity(policy, forever, T0 + dt.timedelta(days=9000)) is None


def test_before_the_window_nothing_inside_it_renewal_from_the_old_expiry():
    current = held()
    assert rules.opportunity(POLICY, current, current.expires_at - dt.timedelta(days=61)) is None
    inside = current.expires_at - dt.timedelta(days=10)
    chance = rules.opportunity(POLICY, current, inside)
    assert chance.renewal and chance.since == current.expires_at - dt.timedelta(days=60)
    assert chance.valid_until == rules.add_months(current.expires_at, 12)


def test_after_expiry_earn_again_with_fresh_evidence():
    current = held()
    later = current.expires_at + dt.timedelta(days=3)
    chance = rules.opportunity(POLICY, current, later)
    assert not chance.renewal
    assert chance.since == current.expires_at - dt.timedelta(days=60)
    assert chance.valid_until == rules.add_months(later, 12)


def test_revoked_counts_only_evidence_after_the_revocation():
    revoked_at = T0 + dt.timedelta(days=5)
    chance = rules.opportunity(POLICY, held(revoked=revoked_at), T0 + dt.timedelta(days=6))
    assert chance.since == revoked_at and not chance.renewal


def test_minimum_active_period_delays_the_window():
    policy = rules.Policy(validity_months=3, renewal_window_days=80, minimum_active_days=45)
    current = held(months=3)
    assert rules.renewal_opens(policy, current) == T0 + dt.timedelta(days=45)
    assert rules.opportunity(policy, current, T0 + dt.timedelta(days=30)) is None
    assert rules.opportunity(policy, current, T0 + dt.timedelta(days=46)).renewal
