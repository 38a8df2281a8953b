"""Which groups of the figures shown to someone who must not see people are withheld, so
that no group of fewer than ``MIN_PEOPLE`` people can be read or worked back.

Coordinators see counts, never people. A figure about fewer than five people could point
at someone ("the one nurse in this unit has an expired medicines course"). Plain data in,
plain data out: no database, no Flask.

**The figures as a table.** Groups (a region, its municipalities, their units, the job
roles and competences of each, the months of a trend), each with its number of people,
tied by *lines*: a total and the groups that add up to it (a municipality and its units;
a region's job role and that role in each municipality; a month and its municipalities).
Someone who sees every shown figure can subtract within a line and chain lines; so the
decision is taken once over every group any view of the scope shows, and a narrowed view
shows part of it.

**The rule** (``withheld``) is the one statistics agencies use for tables of counts:
primary and secondary (complementary) cell suppression with a protection level, checked
by an audit (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, ch. 5;
the threshold rule and secondary suppression of Statistics Norway and Eurostat):

1. *Primary:* a group of 1 to ``MIN_PEOPLE`` − 1 people is withheld.
2. *Secondary, per line:* a line has no withheld member or at least two; and while its
   total is shown, its withheld groups hold at least ``MIN_PEOPLE`` people together, so
   that what subtraction gives (their sum) is itself about five people or more. A line
   that breaks this has its smallest shown group withheld too (fewest people; on a tie,
   the first given; never an empty group), or its total when no group is left. Repeated
   until every line keeps the rule, since each withholding can break another line.
3. *Audit:* two withheld members per line are not enough once lines are chained (a
   withheld group joining two otherwise separate patterns, like a bridge in a
   two-way table, is still determined). Each withheld group is checked against all the
   lines together (``determined``: exact linear algebra); one that is still determined has
   the smallest shown group of its lines withheld too (an empty one only when no other is
   left), and 2–3 repeat.

A line whose groups overlap (a person placed in two units or holding two job roles) is
taken as if it added up exactly: overlap only makes subtraction less exact, and the rule
must hold for the people who are in one group only.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

#: Groups of fewer people than this show no counts.
MIN_PEOPLE = 5

K = TypeVar("K", bound=Hashable)
Line = tuple[K, Sequence[K]]
"""A total and the groups that add up to it."""


def too_small(people: int) -> bool:
    """A group too small to show (primary suppression); an empty group shows nothing
    anyway."""
    return 0 < people < MIN_PEOPLE


def primary(people: Mapping[K, int]) -> set[K]:
    """The groups too small to show."""
    return {key for key, n in people.items() if too_small(n)}


def line_breaks_rule(line: Line[K], hidden: Collection[K], people: Mapping[K, int]) -> bool:
    """Whether a line breaks rule 2: one withheld member alone, or a shown total beside
    withheld groups of fewer than ``MIN_PEOPLE`` people together."""
    total, parts = line
    withheld = [p for p in parts if p in hidden]
    if total in hidden:
        return not withheld and any(people[p] > 0 for p in parts)
    return bool(withheld) and (len(withheld) < 2 or sum(people[p] for p in withheld) < MIN_PEOPLE)


def _smallest_shown(
    keys: Collection[K],
    hidden: Collection[K],
    people: Mapping[K, int],
    order: Mapping[K, int],
    *,
    empty_too: bool = False,
) -> K | None:
    shown = [k for k in keys if k not in hidden and (people[k] > 0 or empty_too)]
    return min(shown, key=lambda k: (people[k] == 0, people[k], order[k])) if shown else None


def complement(
    line: Line[K], hidden: Collection[K], people: Mapping[K, int], order: Mapping[K, int]
) -> K | None:
    """The member a line that breaks rule 2 withholds next: its smallest shown group, else
    its total; None when nothing is left to withhold."""
    total, parts = line
    found = _smallest_shown(parts, hidden, people, order)
    if found is None and total not in hidden and people[total] > 0:
        found = total
    return found


def determined(hidden: Collection[K], lines: Sequence[Line[K]]) -> set[K]:
    """The withheld groups that the lines work out exactly from the shown ones: the
    unknowns whose row of the reduced row echelon form of the lines (total − groups = 0,
    shown groups known) is theirs alone. Exact fractions."""
    pivots: dict[K, dict[K, Fraction]] = {}
    for total, parts in lines:
        row: dict[K, Fraction] = {}
        for key, sign in ((total, 1), *((p, -1) for p in parts)):
            if key in hidden:
                row[key] = row.get(key, Fraction(0)) + sign
        for key in [k for k in row if k in pivots]:
            factor = row.pop(key, Fraction(0))
            if factor:
                for other, value in pivots[key].items():
                    if other != key:
                        row[other] = row.get(other, Fraction(0)) - factor * value
        row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        pivot = next(iter(row))
        scale = row[pivot]
        row = {k: v / scale for k, v in row.items()}
        for reduced in pivots.values():
            factor = reduced.pop(pivot, Fraction(0))
            if factor:
                for other, value in row.items():
                    if other != pivot:
                        updated = reduced.get(other, Fraction(0)) - factor * value
                        if updated:
                            reduced[other] = updated
                        else:
                            reduced.pop(other, None)
        pivots[pivot] = row
    return {key for key, row in pivots.items() if len(row) == 1}


def withheld(people: Mapping[K, int], lines: Sequence[Line[K]]) -> set[K]:
    """The groups withheld (the module's rule), given each group's people and the lines
    that tie them; every member of a line must be in ``people``."""
    order = {key: i for i, key in enumerate(people)}
    hidden = primary(people)
    lines_of: dict[K, list[Line[K]]] = {}
    for line in lines:
        for key in (line[0], *line[1]):
            lines_of.setdefault(key, []).append(line)
    while True:
        changed = True
        while changed:  # rule 2 until every line keeps it
            changed = False
            for line in lines:
                if line_breaks_rule(line, hidden, people):
                    more = complement(line, hidden, people, order)
                    if more is not None:
                        hidden.add(more)
                        changed = True
        more_found = False
        for key in sorted(determined(hidden, lines), key=order.__getitem__):  # rule 3
            members = {m for line in lines_of.get(key, ()) for m in (line[0], *line[1])}
            extra = _smallest_shown(members, hidden, people, order, empty_too=True)
            if extra is not None:
                hidden.add(extra)
                more_found = True
                break  # one at a time: it may free others
        if not more_found:
            return hidden
