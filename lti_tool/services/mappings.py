"""Skills mappings: what they measure (a job role's basis competence or chosen competences),
which items they ask, and the rules of taking them.

A draft can be changed freely; publishing checks that every measured competence has items
to ask. A published mapping can still be adjusted (items, thresholds, rules): attempts keep
what they were asked, and their results stay as they were scored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain.texts import clean_text
from lti_tool.errors import MappingCodeTaken, MappingInvalid, NotFound
from lti_tool.models import (
    Attempt,
    Competence,
    FrameworkVersion,
    GradePolicy,
    Item,
    ItemCompetence,
    JobRole,
    Mapping,
    MappingCompetence,
    MappingItem,
    MappingStatus,
    Requirement,
    Selection,
)
from lti_tool.services.frameworks import clean_code, clean_title
from lti_tool.services.item_bank import usable_competences

#: The largest values a mapping's rules take (the forms refuse more).
MAX_ITEMS_PER_COMPETENCE = 50
MAX_TIME_LIMIT_MINUTES = 24 * 60
MAX_ATTEMPTS = 1000
MAX_DAYS_BETWEEN = 3650


@dataclasses.dataclass(frozen=True)
class MappingRules:
    """How a mapping is taken (all but the code and texts of its form)."""

    selection: Selection = Selection.FIXED
    items_per_competence: int | None = None
    shuffle: bool = False
    time_limit_minutes: int | None = None
    max_attempts: int | None = None
    min_days_between: int | None = None
    pass_percentage: float | None = None
    grade_policy: GradePolicy = GradePolicy.HIGHEST
    """Which attempt gives the grade in a course's gradebook: the highest or the latest."""


def _query() -> Select[Mapping]:
    return select(Mapping).options(
        selectinload(Mapping.competences)
        .selectinload(MappingCompetence.competence)
        .selectinload(Competence.version)
        .selectinload(FrameworkVersion.levels),
        selectinload(Mapping.items)
        .selectinload(MappingItem.item)
        .options(selectinload(Item.competences), selectinload(Item.options)),
        selectinload(Mapping.job_role),
    )


def list_mappings(
    session: Session, organisation_id: int, *, published_only: bool = False
) -> Sequence[Mapping]:
    query = _query().where(Mapping.organisation_id == organisation_id).order_by(Mapping.code)
    if published_only:
        query = query.where(Mapping.status == MappingStatus.PUBLISHED)
    return session.scalars(query).all()


def get_mapping(session: Session, organisation_id: int, mapping_id: int) -> Mapping:
    mapping = session.scalar(
        _query().where(Mapping.id == mapping_id, Mapping.organisation_id == organisation_id)
    )
    if mapping is None:
        raise NotFound(f"no mapping {mapping_id} in organisation {organisation_id}")
    return mapping


def mapping_of_code(
    session: Session, organisation_id: int, code: str, *, whole: bool = True
) -> Mapping | None:
    """The organisation's mapping of this code, in any case; ``whole``: with its
    competences and items (its pages), else its row alone (its grade)."""
    return session.scalar(
        (_query() if whole else select(Mapping)).where(
            Mapping.organisation_id == organisation_id,
            func.lower(Mapping.code) == code.strip().lower(),
        )
    )


def mapping_for_job_roles(
    session: Session, organisation_id: int, job_role_ids: Sequence[int], *, whole: bool = True
) -> Mapping | None:
    """The published mapping of one of these job roles ("my role's mapping"); ``whole`` as
    in ``mapping_of_code``."""
    if not job_role_ids:
        return None
    return session.scalar(
        (_query() if whole else select(Mapping))
        .where(*published_for_job_roles(organisation_id, job_role_ids))
        .order_by(Mapping.id)
        .limit(1)
    )


def published_for_job_roles(organisation_id: Any, job_role_ids: Any) -> tuple[Any, ...]:
    """The conditions of "my role's mapping": the organisation's published mappings of one
    of these job roles (ids, or a select of them); the first by id is the one."""
    return (
        Mapping.organisation_id == organisation_id,
        Mapping.status == MappingStatus.PUBLISHED,
        Mapping.job_role_id.in_(job_role_ids),
    )


def _check_code(session: Session, organisation_id: int, code: str, mapping_id: int | None) -> str:
    code = clean_code(code)
    taken = session.scalar(
        select(Mapping.id).where(
            Mapping.organisation_id == organisation_id, func.lower(Mapping.code) == code.lower()
        )
    )
    if taken is not None and taken != mapping_id:
        raise MappingCodeTaken(f"mapping code {code!r} taken", code=code)
    return code


def _check_rules(rules: MappingRules) -> None:
    if rules.selection == Selection.RANDOM and not rules.items_per_competence:
        raise MappingInvalid(
            "random without a number",
            reason=_l("Say how many items to draw per competence."),
        )


def create_mapping(
    session: Session,
    organisation_id: int,
    *,
    code: str,
    title: MappingType[str, str],
    description: MappingType[str, str] | None = None,
    job_role_id: int | None = None,
    competence_ids: Sequence[int] = (),
    rules: MappingRules = MappingRules(),
) -> Mapping:
    """A draft mapping for a job role (its profile's competences) or chosen competences."""
    _check_rules(rules)
    mapping = Mapping(
        organisation_id=organisation_id,
        code=_check_code(session, organisation_id, code, None),
        title=clean_title(title),
        description=clean_text(description),
    )
    _apply_rules(mapping, rules)
    if job_role_id is not None:
        role = session.get(JobRole, job_role_id)
        if role is None or role.organisation_id != organisation_id:
            raise NotFound(f"no job role {job_role_id}")
        mapping.job_role_id = role.id
        competence_ids = [r.competence_id for r in role.requirements]
    usable = {c.id for c in usable_competences(session, organisation_id)}
    if job_role_id is None:
        competence_ids = [i for i in competence_ids if i in usable]
    if not competence_ids:
        raise MappingInvalid(
            "no competences",
            reason=_l("Choose a job role with a basis-competence profile, or competences."),
        )
    mapping.competences = [
        MappingCompetence(competence_id=i) for i in dict.fromkeys(competence_ids)
    ]
    session.add(mapping)
    session.flush()
    return mapping


def _apply_rules(mapping: Mapping, rules: MappingRules) -> None:
    mapping.selection = rules.selection
    mapping.items_per_competence = rules.items_per_competence
    mapping.shuffle = rules.shuffle
    mapping.time_limit_minutes = rules.time_limit_minutes
    mapping.max_attempts = rules.max_attempts
    mapping.min_days_between = rules.min_days_between
    mapping.pass_percentage = rules.pass_percentage
    mapping.grade_policy = rules.grade_policy


def update_mapping(
    session: Session,
    organisation_id: int,
    mapping_id: int,
    *,
    code: str,
    title: MappingType[str, str],
    description: MappingType[str, str] | None,
    rules: MappingRules,
) -> Mapping:
    mapping = get_mapping(session, organisation_id, mapping_id)
    _check_rules(rules)
    code = _check_code(session, organisation_id, code, mapping.id)
    attempted = session.scalar(
        select(func.count(Attempt.id)).where(Attempt.mapping_id == mapping.id)
    )
    if code != mapping.code and (mapping.status != MappingStatus.DRAFT or attempted):
        raise MappingInvalid(
            "code of a published mapping",
            reason=_l(
                "The code cannot change once the mapping has been published: links placed "
                "in courses name the mapping by it."
            ),
        )
    mapping.code = code
    mapping.title = clean_title(title)
    mapping.description = clean_text(description)
    _apply_rules(mapping, rules)
    session.flush()
    return mapping


def refresh_from_job_role(session: Session, organisation_id: int, mapping_id: int) -> Mapping:
    """Measure what the job role requires now: add new competences, drop removed ones."""
    mapping = get_mapping(session, organisation_id, mapping_id)
    if mapping.job_role is None:
        raise MappingInvalid("no job role", reason=_l("This mapping is not for a job role."))
    wanted = list(
        session.scalars(
            select(Requirement.competence_id).where(Requirement.job_role_id == mapping.job_role_id)
        )
    )
    kept = [mc for mc in mapping.competences if mc.competence_id in wanted]
    have = {mc.competence_id for mc in kept}
    mapping.competences = kept + [
        MappingCompetence(competence_id=i) for i in wanted if i not in have
    ]
    session.flush()
    return mapping


def set_thresholds(
    session: Session,
    organisation_id: int,
    mapping_id: int,
    thresholds: MappingType[int, MappingType[int, float]],
) -> Mapping:
    """{competence id: {level: minimum %}}; an empty dict returns to the default cut."""
    mapping = get_mapping(session, organisation_id, mapping_id)
    checked: dict[int, dict[str, float]] = {}
    for mc in mapping.competences:  # every competence checked before anything changes
        if mc.competence_id not in thresholds:
            continue
        cut = thresholds[mc.competence_id]
        scale = {lvl.value for lvl in mc.competence.version.levels}
        if cut and set(cut) != scale:
            raise MappingInvalid(
                "thresholds for some levels",
                reason=_l(
                    "Give a minimum for every level of a competence, or leave them all empty."
                ),
            )
        if any(not 0 <= v <= 100 for v in cut.values()):
            raise MappingInvalid(
                "bad thresholds", reason=_l("Thresholds are between 0 and 100 % per level.")
            )
        ordered = [cut[level] for level in sorted(cut)]
        if ordered != sorted(ordered):
            raise MappingInvalid(
                "thresholds not rising",
                reason=_l("A higher level cannot need a lower percentage than the level below."),
            )
        checked[mc.competence_id] = {str(level): float(v) for level, v in cut.items()}
    for mc in mapping.competences:
        if mc.competence_id in checked:
            mc.thresholds = checked[mc.competence_id]
    session.flush()
    return mapping


def add_items(
    session: Session, organisation_id: int, mapping_id: int, item_ids: Sequence[int]
) -> Mapping:
    mapping = get_mapping(session, organisation_id, mapping_id)
    present = {mi.item_id for mi in mapping.items}
    items = session.scalars(
        select(Item).where(
            Item.id.in_(item_ids),
            Item.organisation_id == organisation_id,
            Item.archived.is_(False),
        )
    ).all()
    position = max((mi.position for mi in mapping.items), default=-1)
    for item in sorted(items, key=lambda i: item_ids.index(i.id)):
        if item.id in present:
            continue
        position += 1
        mapping.items.append(MappingItem(item_id=item.id, position=position))
    session.flush()
    return mapping


def remove_item(session: Session, organisation_id: int, mapping_id: int, item_id: int) -> Mapping:
    mapping = get_mapping(session, organisation_id, mapping_id)
    mapping.items = [mi for mi in mapping.items if mi.item_id != item_id]
    for position, mi in enumerate(mapping.items):
        mi.position = position
    session.flush()
    return mapping


def bank_counts(
    session: Session, organisation_id: int, competence_ids: Sequence[int]
) -> dict[int, int]:
    """How many usable items the bank has per competence (for random drawing)."""
    rows = session.execute(
        select(ItemCompetence.competence_id, func.count(ItemCompetence.item_id))
        .join(Item)
        .where(
            Item.organisation_id == organisation_id,
            Item.archived.is_(False),
            ItemCompetence.competence_id.in_(competence_ids),
        )
        .group_by(ItemCompetence.competence_id)
    ).all()
    return {competence_id: count for competence_id, count in rows}


def unmeasured(session: Session, mapping: Mapping) -> list[Competence]:
    """The mapping's competences no item it can ask measures (shown as a warning)."""
    competence_ids = [mc.competence_id for mc in mapping.competences]
    if mapping.selection == Selection.FIXED:
        measured = {
            ic.competence_id
            for mi in mapping.items
            if not mi.item.archived
            for ic in mi.item.competences
        }
    else:
        measured = set(bank_counts(session, mapping.organisation_id, competence_ids))
    return [mc.competence for mc in mapping.competences if mc.competence_id not in measured]


def publish_problems(session: Session, mapping: Mapping) -> list[object]:
    """Why the mapping cannot be taken yet (empty: it can)."""
    if not mapping.competences:
        return [_l("The mapping measures no competence.")]
    if mapping.selection == Selection.FIXED and not any(
        not mi.item.archived for mi in mapping.items
    ):
        return [_l("Add items to the mapping.")]
    if len(unmeasured(session, mapping)) == len(mapping.competences):
        return [_l("No item measures any of the mapping's competences.")]
    return []


def set_status(
    session: Session, organisation_id: int, mapping_id: int, status: MappingStatus
) -> Mapping:
    mapping = get_mapping(session, organisation_id, mapping_id)
    if status == MappingStatus.PUBLISHED:
        problems = publish_problems(session, mapping)
        if problems:
            raise MappingInvalid("cannot publish", reason=problems[0])
    mapping.status = status
    session.flush()
    return mapping
