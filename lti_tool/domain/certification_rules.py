"""Certification rules: condition trees, whether a person's facts meet them, and when a
person may earn or renew a certification.

A rule is a tree. A leaf asks for one fact:

- ``{"type": "competence", "competence_id": 7, "level": 2}``: shown at that level or above
  (a knowledge test, a course or a manager's assessment; a self-assessment never certifies);
- ``{"type": "mapping", "mapping_id": 3}``: a skills mapping passed (its pass mark reached);
- ``{"type": "course", "course_id": 5}``: a course attended or completed.

A branch combines its children: ``{"all": [...]}`` (AND) or ``{"any": [...]}`` (OR), nested
as deep as needed. A certification has one or more *paths* to earn it and zero or more to
renew it; any one path will do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

COMPETENCE = "competence"
MAPPING = "mapping"
COURSE = "course"
CONDITION_TYPES = (COMPETENCE, MAPPING, COURSE)
ALL = "all"
ANY = "any"
OPERATORS = (ALL, ANY)
MAX_DEPTH = 5


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a person has shown, counting only evidence recorded since the rules' start."""

    levels: Mapping[int, int] = dataclasses.field(default_factory=dict)
    """competence id → the level shown."""
    passed_mappings: frozenset[int] = frozenset()
    courses: frozenset[int] = frozenset()


def leaves(tree: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every condition in the tree, in order."""
    for operator in OPERATORS:
        if operator in tree:
            return [leaf for child in tree[operator] for leaf in leaves(child)]
    return [dict(tree)]


def problems(tree: Any, depth: int = 0) -> list[str]:
    """What is wrong with a tree's shape, as short English phrases for logs and the API
    (the forms build valid trees)."""
    if not isinstance(tree, Mapping):
        return ["a rule must be an object"]
    if depth > MAX_DEPTH:
        return [f"rules nest deeper than {MAX_DEPTH} levels"]
    branches = [op for op in OPERATORS if op in tree]
    if branches:
        children = tree[branches[0]]
        if len(branches) > 1 or len(tree) > 1:
            return ["a branch has exactly one of 'all' or 'any'"]
        if not isinstance(children, list) or not children:
            return [f"'{branches[0]}' needs a non-empty list"]
        return [p for child in children for p in problems(child, depth + 1)]
    kind = tree.get("type")
    if kind not in CONDITION_TYPES:
        return [f"unknown condition type {kind!r}"]
    key = f"{kind}_id"
    if not isinstance(tree.get(key), int) or isinstance(tree.get(key), bool):
        return [f"a {kind} condition needs {key}"]
    if kind == COMPETENCE:
        level = tree.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or level < 1:
            return ["a competence condition needs a level of 1 or more"]
    return []


def condition_met(condition: Mapping[str, Any], facts: Facts) -> bool:
    kind = condition["type"]
    if kind == COMPETENCE:
        return facts.levels.get(condition["competence_id"], 0) >= condition["level"]
    if kind == MAPPING:
        return condition["mapping_id"] in facts.passed_mappings
    return condition["course_id"] in facts.courses


def is_met(tree: Mapping[str, Any], facts: Facts) -> bool:
    if ALL in tree:
        return all(is_met(child, facts) for child in tree[ALL])
    if ANY in tree:
        return any(is_met(child, facts) for child in tree[ANY])
    return condition_met(tree, facts)


def first_met(paths: Sequence[Mapping[str, Any]], facts: Facts) -> int | None:
    """The index of the first path the facts meet, or None."""
    return next((i for i, path in enumerate(paths) if is_met(path, facts)), None)


# --- when a person may earn or renew ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Held:
    """The person's latest certificate of the certification, as far as the rules care."""

    issued_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Policy:
    validity_months: int | None
    renewal_window_days: int | None
    minimum_active_days: int | None


@dataclasses.dataclass(frozen=True)
class Opportunity:
    """What the person may do now, and from when evidence counts for it."""

    renewal: bool
    """True inside the renewal window: the renewal paths count as well as the earn paths."""
    since: dt.datetime | None
    """Evidence recorded before this moment does not count (None: all evidence counts)."""
    valid_until: dt.datetime | None
    """The expiry a certificate issued now would get."""


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` later; the month's last day when that day does not exist."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def renewal_opens(policy: Policy, held: Held) -> dt.datetime | None:
    """When renewal of ``held`` may start; None when it never expires."""
    if held.expires_at is None:
        return None
    opens = held.expires_at - dt.timedelta(days=policy.renewal_window_days or 0)
    if policy.minimum_active_days:
        opens = max(opens, held.issued_at + dt.timedelta(days=policy.minimum_active_days))
    return min(opens, held.expires_at)


def opportunity(policy: Policy, held: Held | None, now: dt.datetime) -> Opportunity | None:
    """Whether a certificate could be issued now, and on what terms; None = not now.

    - Never held, or the last one revoked: earn it, counting evidence from after the
      revocation (so the evidence behind a revoked certificate cannot reissue it).
    - Held and not yet in the renewal window, or held without expiry: nothing to do.
    - In the window, before expiry: renew. The new certificate runs from the old expiry, so
      renewing early loses no time. Evidence counts from when the window opened.
    - Expired: earn it again by the earn paths, with evidence from when the window opened.
    """

    def expiry_from(start: dt.datetime) -> dt.datetime | None:
        return add_months(start, policy.validity_months) if policy.validity_months else None

    if held is None:
        return Opportunity(renewal=False, since=None, valid_until=expiry_from(now))
    if held.revoked_at is not None:
        return Opportunity(renewal=False, since=held.revoked_at, valid_until=expiry_from(now))
    opens = renewal_opens(policy, held)
    if opens is None or held.expires_at is None or now < opens:
        return None
    if now < held.expires_at:
        return Opportunity(renewal=True, since=opens, valid_until=expiry_from(held.expires_at))
    return Opportunity(renewal=False, since=opens, valid_until=expiry_from(now))
