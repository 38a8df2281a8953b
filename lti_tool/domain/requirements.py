"""What a person must have: the union of their job roles' basis-competence profiles.

Plain data in, plain data out: no database, no Flask. The highest required level wins,
a requirement mandatory in any role is mandatory, and the shortest renewal period applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

#: The longest renewal period, in months (20 years).
MAX_RENEWAL_MONTHS = 240


@dataclasses.dataclass(frozen=True)
class RoleRequirement:
    competence_id: int
    required_level: int
    mandatory: bool
    renewal_months: int | None
    job_role_id: int


@dataclasses.dataclass(frozen=True)
class PersonRequirement:
    competence_id: int
    required_level: int
    mandatory: bool
    renewal_months: int | None
    job_role_ids: tuple[int, ...]
    """The roles that ask for it, so the page can say why."""


def _shortest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class AskedRequirement(Protocol):
    """What one job role asks for (a ``RoleRequirement``, or a row with its names)."""

    @property
    def competence_id(self) -> int: ...
    @property
    def required_level(self) -> int: ...
    @property
    def mandatory(self) -> bool: ...
    @property
    def renewal_months(self) -> int | None: ...
    @property
    def job_role_id(self) -> int: ...


def union_requirements(requirements: Iterable[AskedRequirement]) -> list[PersonRequirement]:
    # Each competence's asks are folded first and its requirement made once: three roles
    # asking for the same 300 competences made 900 objects on every page of their holder.
    merged: dict[int, list[Any]] = {}
    for r in requirements:
        seen = merged.get(r.competence_id)
        if seen is None:
            merged[r.competence_id] = [
                r.required_level,
                r.mandatory,
                r.renewal_months,
                {r.job_role_id},
            ]
            continue
        seen[0] = max(seen[0], r.required_level)
        seen[1] = seen[1] or r.mandatory
        seen[2] = _shortest(seen[2], r.renewal_months)
        seen[3].add(r.job_role_id)
    return [
        PersonRequirement(competence_id, level, mandatory, renewal, tuple(sorted(roles)))
        for competence_id, (level, mandatory, renewal, roles) in sorted(merged.items())
    ]


def has_cycle(parent_of: dict[int, int | None], node: int, new_parent: int | None) -> bool:
    """Would giving ``node`` the parent ``new_parent`` make the hierarchy loop?"""
    seen = {node}
    current = new_parent
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parent_of.get(current)
    return False
