"""Which groups of a breakdown may show their figures to someone who must not see people.

Coordinators see counts, never people. A figure about fewer than ``MIN_PEOPLE`` people
could point at someone ("the one nurse in this unit has an expired medicines course"), so
its counts are withheld. Plain data in, plain data out: no database, no Flask.

**The rule** (``suppressed``), for one breakdown — the groups that divide one total shown
beside them (the municipalities of a region, the units of a municipality, the job roles
or competences of a scope, one month of a trend):

1. *Primary:* a group of fewer than ``MIN_PEOPLE`` people (but more than none) shows no
   counts.
2. *Complementary:* if exactly one group of the breakdown is suppressed, the smallest of
   the others (fewest people; ties: the first given) is suppressed too, so the suppressed
   one cannot be worked back by subtracting the shown groups from the total. With two or
   more suppressed, only their sum can be recovered, which names no group.

A breakdown whose groups overlap (a person with two job roles, a person placed in two
units) is treated the same way: overlap only makes subtraction less exact.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Groups of fewer people than this show no counts.
MIN_PEOPLE = 5


def too_small(people: int) -> bool:
    """A group too small to show (primary suppression); an empty group shows nothing
    anyway."""
    return 0 < people < MIN_PEOPLE


def suppressed(people: Sequence[int]) -> list[bool]:
    """For each group of one breakdown (its number of people), whether its counts are
    withheld (the module's rule)."""
    hidden = [too_small(n) for n in people]
    if sum(hidden) == 1:
        shown = [(n, i) for i, n in enumerate(people) if not hidden[i] and n > 0]
        if shown:
            hidden[min(shown)[1]] = True
    return hidden
