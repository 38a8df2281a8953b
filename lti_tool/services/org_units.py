"""The municipality's structure: sectors and departments, and the units under them.

The tree: the municipality (the organisation itself) > sector > department > unit, where
a unit sits under a sector or a department or at the top, a department under a sector or
at the top, and a sector at the top. Codes (what launches and HR files name units by) are
unique in the organisation. Units are archived, never deleted: assignments point at them.
Everything is scoped by the organisation; another organisation's unit is not found.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.domain.requirements import has_cycle
from lti_tool.errors import (
    InvalidCode,
    InvalidName,
    InvalidOrgUnitParent,
    NotFound,
    OrgUnitCodeTaken,
)
from lti_tool.models import OrgUnit, UnitKind

MAX_CODE_LENGTH = 100
MAX_NAME_LENGTH = 200
CODE = re.compile(r"\S{1,100}")  # MAX_CODE_LENGTH

#: The kinds each kind may sit under (None: at the top, under the municipality).
ALLOWED_PARENTS: dict[UnitKind, tuple[UnitKind | None, ...]] = {
    UnitKind.SECTOR: (None,),
    UnitKind.DEPARTMENT: (None, UnitKind.SECTOR),
    UnitKind.UNIT: (None, UnitKind.SECTOR, UnitKind.DEPARTMENT),
}


def get_unit(session: Session, organisation_id: int, unit_id: int) -> OrgUnit:
    found = session.get(OrgUnit, unit_id)
    if found is None or found.organisation_id != organisation_id:
        raise NotFound(f"org unit {unit_id} not in organisation {organisation_id}")
    return found


def find_unit(session: Session, organisation_id: int, code: str) -> OrgUnit:
    """The organisation's sector, department or unit with this code (case-insensitive)."""
    found = session.scalar(
        select(OrgUnit).where(
            OrgUnit.organisation_id == organisation_id,
            func.lower(OrgUnit.code) == code.strip().lower(),
        )
    )
    if found is None:
        raise NotFound(f"no org unit {code!r} in organisation {organisation_id}")
    return found


def _clean_code(code: str) -> str:
    code = code.strip()
    if not CODE.fullmatch(code):
        raise InvalidCode(f"org unit code {code!r}", code=code, max=MAX_CODE_LENGTH)
    return code


def _clean_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidName(f"org unit name of {len(name)} characters")
    return name


def _check_code_free(
    session: Session, organisation_id: int, code: str, unit_id: int | None = None
) -> None:
    taken = session.scalar(
        select(OrgUnit.id).where(
            OrgUnit.organisation_id == organisation_id,
            func.lower(OrgUnit.code) == code.lower(),
            OrgUnit.id != (unit_id or 0),
        )
    )
    if taken is not None:
        raise OrgUnitCodeTaken(f"org unit code {code!r}", code=code)


def _check_parent(
    session: Session, organisation_id: int, unit: OrgUnit, parent_id: int | None
) -> None:
    parent = get_unit(session, organisation_id, parent_id) if parent_id is not None else None
    allowed = ALLOWED_PARENTS[unit.kind]
    refused = (parent.kind if parent else None) not in allowed
    if not refused and parent is not None and unit.id is not None:
        parent_of = dict(
            session.execute(
                select(OrgUnit.id, OrgUnit.parent_id).where(
                    OrgUnit.organisation_id == organisation_id
                )
            ).all()
        )
        refused = has_cycle(parent_of, unit.id, parent.id)
    if refused:
        raise InvalidOrgUnitParent(
            f"org unit {unit.code} ({unit.kind}) under {parent_id}",
            code=unit.code,
            parent=parent.name if parent else "—",
        )


def create_unit(
    session: Session,
    organisation_id: int,
    *,
    kind: UnitKind,
    code: str,
    name: str,
    parent_id: int | None = None,
) -> OrgUnit:
    code = _clean_code(code)
    _check_code_free(session, organisation_id, code)
    unit = OrgUnit(organisation_id=organisation_id, kind=kind, code=code, name=_clean_name(name))
    _check_parent(session, organisation_id, unit, parent_id)
    unit.parent_id = parent_id
    session.add(unit)
    session.flush()
    return unit


def rename_unit(
    session: Session, organisation_id: int, unit_id: int, *, name: str, code: str | None = None
) -> OrgUnit:
    unit = get_unit(session, organisation_id, unit_id)
    unit.name = _clean_name(name)
    if code is not None and code.strip() != unit.code:
        new_code = _clean_code(code)
        _check_code_free(session, organisation_id, new_code, unit.id)
        unit.code = new_code
    session.flush()
    return unit


def move_unit(
    session: Session, organisation_id: int, unit_id: int, parent_id: int | None
) -> OrgUnit:
    unit = get_unit(session, organisation_id, unit_id)
    _check_parent(session, organisation_id, unit, parent_id)
    unit.parent_id = parent_id
    session.flush()
    return unit


def archive_unit(
    session: Session, organisation_id: int, unit_id: int, archived: bool = True
) -> OrgUnit:
    """Archived units are no longer offered nor matched by code; assignments keep them."""
    unit = get_unit(session, organisation_id, unit_id)
    unit.archived = archived
    session.flush()
    return unit


def with_sub_units(session: Session, organisation_id: int, roots: Iterable[int]) -> frozenset[int]:
    """The units ``roots`` and every unit under them (one statement)."""
    roots = set(roots)
    if not roots:
        return frozenset()
    parent_of = dict(
        session.execute(
            select(OrgUnit.id, OrgUnit.parent_id).where(OrgUnit.organisation_id == organisation_id)
        ).all()
    )
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in parent_of.items():
        children.setdefault(parent_id, []).append(unit_id)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        unit_id = stack.pop()
        if unit_id not in found:
            found.add(unit_id)
            stack.extend(children.get(unit_id, ()))
    return frozenset(found)


@dataclasses.dataclass
class TreeNode:
    unit: OrgUnit
    children: list[TreeNode] = dataclasses.field(default_factory=list)


def unit_tree(
    session: Session, organisation_id: int, *, include_archived: bool = False
) -> list[TreeNode]:
    """The organisation's sectors, departments and units as a tree, by name."""
    query = select(OrgUnit).where(OrgUnit.organisation_id == organisation_id)
    if not include_archived:
        query = query.where(OrgUnit.archived.is_(False))
    units = list(session.scalars(query.order_by(OrgUnit.name, OrgUnit.id)))
    nodes = {u.id: TreeNode(u) for u in units}
    roots: list[TreeNode] = []
    for unit in units:
        parent = nodes.get(unit.parent_id) if unit.parent_id is not None else None
        (parent.children if parent else roots).append(nodes[unit.id])
    return roots
