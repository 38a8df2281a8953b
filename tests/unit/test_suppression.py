"""Small groups withheld from coordinators, and the groups withheld with them
(domain.suppression)."""

from __future__ import annotations

import itertools

import pytest

from lti_tool.domain.suppression import MIN_PEOPLE, suppressed, too_small


def test_fewer_than_five_people_are_too_few():
    assert MIN_PEOPLE == 5
    assert [too_small(n) for n in (0, 1, 4, 5, 6)] == [False, True, True, False, False]


@pytest.mark.parametrize(
    ("people", "hidden"),
    [
        ([], []),
        ([5, 6, 7], [False, False, False]),
        # one suppressed: the smallest shown one goes with it
        ([4, 9, 6], [True, False, True]),
        ([12, 3, 7, 7], [False, True, True, False]),  # ties: the first given
        ([4, 5], [True, True]),
        # two or more suppressed: only their sum can be recovered
        ([4, 1, 20], [True, True, False]),
        ([2, 3, 4, 30], [True, True, True, False]),
        # an empty group shows nothing anyway and is never the complement
        ([0, 4, 8], [False, True, True]),
        ([4, 0], [True, False]),
        ([4], [True]),
    ],
)
def test_a_lone_suppressed_group_takes_the_smallest_other_with_it(people, hidden):
    assert suppressed(people) == hidden


def test_never_exactly_one_group_withheld():
    """Every breakdown of up to four groups of 0 to 9 people: a withheld group is never
    alone, so subtracting the shown groups from the total gives a sum of two or more
    withheld groups, not one group's count (unless it is the only group with people: then
    the total is that small group, withheld too); and every small group is withheld."""
    for people in itertools.product(range(10), repeat=4):
        hidden = suppressed(people)
        shown = [n for n, h in zip(people, hidden, strict=True) if not h and n]
        assert sum(hidden) != 1 or not shown, people
        assert all(h for n, h in zip(people, hidden, strict=True) if 0 < n < MIN_PEOPLE)
