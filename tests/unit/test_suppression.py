"""Small groups withheld from coordinators, and the groups withheld with them so that none
can be worked back from the totals (domain.suppression): primary and secondary
suppression by lines, then the audit. The audit is checked against an independent rank
computation; the whole rule against every small breakdown and random linked tables."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from lti_tool.domain.suppression import (
    MIN_PEOPLE,
    Line,
    determined,
    line_breaks_rule,
    primary,
    too_small,
    withheld,
)


def test_fewer_than_five_people_are_too_few():
    assert MIN_PEOPLE == 5
    assert [too_small(n) for n in (0, 1, 4, 5, 6)] == [False, True, True, False, False]
    assert primary({"a": 0, "b": 3, "c": 5}) == {"b"}


def breakdown(total: int | None, parts: list[int]) -> tuple[dict[str, int], list[Line[str]]]:
    """A total ("T", the sum of the parts unless given) and its parts "0", "1", …."""
    people = {"T": sum(parts) if total is None else total}
    people |= {str(i): n for i, n in enumerate(parts)}
    return people, [("T", [str(i) for i in range(len(parts))])]


@pytest.mark.parametrize(
    ("parts", "hidden"),
    [
        ([], set()),
        ([5, 6, 7], set()),
        # one suppressed: the smallest shown one goes with it
        ([4, 9, 6], {"0", "2"}),
        ([12, 3, 7, 7], {"1", "2"}),  # ties: the first given
        ([4, 5], {"0", "1"}),
        # two or more suppressed, together five people or more: only their sum shows
        ([4, 1, 20], {"0", "1"}),
        ([2, 3, 4, 30], {"0", "1", "2"}),
        # two suppressed but fewer than five together: one more
        ([2, 1, 30, 40], {"0", "1", "2"}),
        # an empty group shows nothing anyway and is never the complement
        ([0, 4, 8], {"1", "2"}),
        # nothing else left to withhold: the total goes
        ([4, 0], {"T", "0"}),
        ([2, 1], {"T", "0", "1"}),
    ],
)
def test_one_breakdown(parts, hidden):
    people, lines = breakdown(None, parts)
    assert withheld(people, lines) == hidden


def test_a_withheld_total_takes_a_group_with_it():
    """A total withheld as another line's complement, whose groups are all shown, would
    be their sum."""
    people = {"R": 34, "A": 3, "B": 11, "C": 20, "B1": 5, "B2": 6}
    lines: list[Line[str]] = [("R", ["A", "B", "C"]), ("B", ["B1", "B2"])]
    # A alone in its line: B, the smaller of the others, with it; B's groups (5 and 6)
    # would then give B back: the smaller goes too
    assert withheld(people, lines) == {"A", "B", "B1"}
    # B's line already has a small group withheld: nothing more
    people |= {"B": 7, "B2": 2, "R": 30}
    assert withheld(people, lines) == {"A", "B", "B2"}


def test_every_small_breakdown_keeps_the_rule():
    """Every breakdown of up to four groups of 0 to 9 people: small groups withheld, no
    withheld group worked out exactly, and where the total shows, the withheld groups hold
    five people or more together."""
    for parts in itertools.product(range(10), repeat=4):
        people, lines = breakdown(None, list(parts))
        hidden = withheld(people, lines)
        assert primary(people) <= hidden, parts
        assert not determined(hidden, lines), parts
        assert not line_breaks_rule(lines[0], hidden, people), parts
        if "T" not in hidden:
            withheld_parts = [people[k] for k in hidden]
            assert not withheld_parts or sum(withheld_parts) >= MIN_PEOPLE, parts


def table(cells: list[list[int]]) -> tuple[dict[str, int], list[Line[str]]]:
    """A two-way table: cells "r,c", row totals "r,*", column totals "*,c", the grand
    total "*,*", and the lines a reader can subtract within."""
    rows, cols = len(cells), len(cells[0])
    people = {f"{r},{c}": cells[r][c] for r in range(rows) for c in range(cols)}
    people |= {f"{r},*": sum(cells[r]) for r in range(rows)}
    people |= {f"*,{c}": sum(cells[r][c] for r in range(rows)) for c in range(cols)}
    people["*,*"] = sum(map(sum, cells))
    lines: list[Line[str]] = [(f"{r},*", [f"{r},{c}" for c in range(cols)]) for r in range(rows)]
    lines += [(f"*,{c}", [f"{r},{c}" for r in range(rows)]) for c in range(cols)]
    lines += [("*,*", [f"{r},*" for r in range(rows)]), ("*,*", [f"*,{c}" for c in range(cols)])]
    return people, lines


BRIDGE = [  # two blocks of small cells joined by one small cell (1,2)
    [3, 3, 10, 10],
    [3, 3, 3, 10],
    [10, 10, 3, 3],
    [10, 10, 3, 3],
]


def test_the_audit_finds_what_two_per_line_leaves_exact():
    people, lines = table(BRIDGE)
    small = primary(people)
    assert small == {"0,0", "0,1", "1,0", "1,1", "1,2", "2,2", "2,3", "3,2", "3,3"}
    # every line has none or at least two withheld, five people or more together …
    assert not any(line_breaks_rule(line, small, people) for line in lines)
    # … yet rows 0 and 1 less columns 0 and 1 give the bridge
    assert determined(small, lines) == {"1,2"}
    hidden = withheld(people, lines)
    assert small < hidden
    assert not determined(hidden, lines)


def rank(rows: list[list[Fraction]]) -> int:
    """Gaussian elimination, written apart from the module's."""
    matrix = [row[:] for row in rows if any(row)]
    found = 0
    columns = len(matrix[0]) if matrix else 0
    for col in range(columns):
        pivot = next((i for i in range(found, len(matrix)) if matrix[i][col]), None)
        if pivot is None:
            continue
        matrix[found], matrix[pivot] = matrix[pivot], matrix[found]
        for i in range(len(matrix)):
            if i != found and matrix[i][col]:
                factor = matrix[i][col] / matrix[found][col]
                matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[found], strict=True)]
        found += 1
    return found


def exact(hidden: set[str], lines: list[Line[str]]) -> set[str]:
    """The withheld groups the lines fix: those whose column is not in the span of the
    others (removing it lowers the rank)."""
    unknowns = sorted(hidden)
    rows = [
        [
            Fraction((key == total) - (key in parts)) if key in {total, *parts} else Fraction(0)
            for key in unknowns
        ]
        for total, parts in lines
    ]
    full = rank(rows)
    return {
        key
        for i, key in enumerate(unknowns)
        if rank([row[:i] + row[i + 1 :] for row in rows]) < full
    }


def test_the_audit_agrees_with_an_independent_rank():
    rng = random.Random(5)
    people, lines = table(BRIDGE)
    keys = list(people)
    for _ in range(150):
        hidden = set(rng.sample(keys, rng.randint(1, 12)))
        assert determined(hidden, lines) == exact(hidden, lines), hidden


def test_random_linked_tables_leave_nothing_exact():
    """Two-way tables of 2–5 by 2–5 groups of 0 to 14 people (like job roles by
    municipality), each column also split into 1–3 units: small groups withheld, no
    withheld group exact (by the independent rank), every line keeping the rule."""
    rng = random.Random(13)
    for _ in range(150):
        rows, cols = rng.randint(2, 5), rng.randint(2, 5)
        cells = [[rng.choice([0, 1, 2, 3, 4, 6, 9, 14]) for _ in range(cols)] for _ in range(rows)]
        people, lines = table(cells)
        for c in range(cols):  # each column (a municipality) also split into units
            left, units = people[f"*,{c}"], []
            for _ in range(rng.randint(0, 2)):
                units.append(rng.randint(0, left))
                left -= units[-1]
            units.append(left)
            people |= {f"u{c}.{i}": n for i, n in enumerate(units)}
            lines.append((f"*,{c}", [f"u{c}.{i}" for i in range(len(units))]))
        hidden = withheld(people, lines)
        assert primary(people) <= hidden
        assert not exact(hidden, lines), (cells, hidden)
        assert not any(line_breaks_rule(line, hidden, people) for line in lines), cells
