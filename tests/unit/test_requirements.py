"""The union of job roles' profiles (a nurse who is also a team leader…)."""

from __future__ import annotations

from lti_tool.domain.requirements import RoleRequirement, has_cycle, union_requirements


def test_highest_level_wins_mandatory_if_any_and_shortest_renewal():
    merged = union_requirements(
        [
            RoleRequirement(1, 2, False, None, job_role_id=10),
            RoleRequirement(1, 3, True, 48, job_role_id=11),
            RoleRequirement(1, 1, False, 24, job_role_id=12),
            RoleRequirement(2, 2, False, None, job_role_id=10),
        ]
    )
    first, second = merged
    assert (first.competence_id, first.required_level, first.mandatory) == (1, 3, True)
    assert first.renewal_months == 24
    assert first.job_role_ids == (10, 11, 12)
    assert (second.competence_id, second.required_level, second.mandatory) == (2, 2, False)
    assert second.renewal_months is None


def test_no_roles_no_requirements():
    assert union_requirements([]) == []


def test_cycles_are_detected():
    parent_of = {1: None, 2: 1, 3: 2}
    assert has_cycle(parent_of, 1, 3)  # 1 under its own grandchild
    assert has_cycle(parent_of, 2, 2)  # under itself
    assert not has_cycle(parent_of, 3, 1)
    assert not has_cycle(parent_of, 3, None)
