"""What a person must have: the union of their job roles' basis-competence profiles.

Plain data in, plain data out: no database, no Flask. The highest required level wins,
a requirement mandatory in any role is mandatory, and the shortest renewal period applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

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


def union_requirements(requirements: Iterable[RoleRequirement]) -> list[PersonRequirement]:
    merged: dict[int, PersonRequirement] = {}
    for r in requirements:
        seen = merged.get(r.competence_id)
        if seen is None:
            merged[r.competence_id] = PersonRequirement(
                r.competence_id, r.required_level, r.mandatory, r.renewal_months, (r.job_role_id,)
            )
            continue
        merged[r.competence_id] = PersonRequirement(
            competence_id=r.competence_id,
            required_level=max(seen.required_level, r.required_level),
            mandatory=seen.mandatory or r.mandatory,
            renewal_months=_shortest(seen.renewal_months, r.renewal_months),
            job_role_ids=tuple(sorted({*seen.job_role_ids, r.job_role_id})),
        )
    return sorted(merged.values(), key=lambda p: p.competence_id)


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
