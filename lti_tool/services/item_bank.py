"""The organisation's item bank: write, change, archive and import items.

Items are checked by their type (``domain.items``) before anything is written. Once an
item has been answered, only its texts may change: its options, credits and competences
are what past answers were scored against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain.items import (
    ITEM_TYPES,
    CompetenceRef,
    ItemData,
    OptionData,
    validate_item,
)
from lti_tool.domain.texts import clean_text
from lti_tool.errors import ImportErrors, ItemCodeTaken, ItemInUse, ItemInvalid, NotFound
from lti_tool.interchange.model import Problem, at_item
from lti_tool.interchange.questions_gift import parse_gift
from lti_tool.interchange.questions_moodle_xml import parse_moodle_xml
from lti_tool.models import (
    Competence,
    Framework,
    FrameworkVersion,
    Item,
    ItemCompetence,
    ItemOption,
    Response,
    VersionStatus,
)
from lti_tool.services.frameworks import MAX_CODE_LENGTH, clean_code

#: The question-bank formats an import reads, by the name the import form sends.
PARSERS = {"moodle-xml": parse_moodle_xml, "gift": parse_gift}

UNKNOWN_COMPETENCE = _l("Choose competences from a published framework of your organisation.")
MIXED_SCALES = _l(
    "A self-assessment statement uses one scale: choose competences of one framework version."
)
EMPTY_FILE = _l("The file holds no questions.")


def list_items(
    session: Session,
    organisation_id: int,
    *,
    competence_id: int | None = None,
    include_archived: bool = False,
) -> Sequence[Item]:
    query = (
        select(Item)
        .where(Item.organisation_id == organisation_id)
        .options(
            selectinload(Item.competences).selectinload(ItemCompetence.competence),
            selectinload(Item.options),
        )
        .order_by(Item.code)
    )
    if not include_archived:
        query = query.where(Item.archived.is_(False))
    if competence_id is not None:
        query = query.where(
            Item.id.in_(
                select(ItemCompetence.item_id).where(ItemCompetence.competence_id == competence_id)
            )
        )
    return session.scalars(query).all()


def get_item(session: Session, organisation_id: int, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None or item.organisation_id != organisation_id:
        raise NotFound(f"no item {item_id} in organisation {organisation_id}")
    return item


def item_data(item: Item) -> ItemData:
    """The stored item as plain data (what scoring and forms work with)."""
    return ItemData(
        kind=item.kind,
        stem=item.stem,
        code=item.code,
        points=item.points,
        feedback=item.feedback,
        settings=item.settings,
        options=tuple(
            OptionData(o.text, o.fraction, o.feedback, o.value, o.tolerance, id=o.id)
            for o in item.options
        ),
        competences=tuple(
            CompetenceRef(ic.competence.code, ic.weight, ic.competence_id)
            for ic in item.competences
        ),
    )


def usable_competences(session: Session, organisation_id: int) -> Sequence[Competence]:
    """Competences items may measure: those of the organisation's published versions."""
    return session.scalars(
        select(Competence)
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .join(Framework)
        .where(
            Framework.organisation_id == organisation_id,
            FrameworkVersion.status == VersionStatus.PUBLISHED,
            Competence.archived.is_(False),
        )
        .options(selectinload(Competence.version).selectinload(FrameworkVersion.levels))
        .order_by(Framework.code, Competence.position, Competence.code)
    ).all()


def _competences_by_id(
    session: Session, organisation_id: int, refs: Sequence[CompetenceRef]
) -> dict[int, Competence]:
    usable = {c.id: c for c in usable_competences(session, organisation_id)}
    return {ref.id: usable[ref.id] for ref in refs if ref.id in usable}


def _check(session: Session, organisation_id: int, data: ItemData) -> list[object]:
    problems: list[object] = list(validate_item(data))
    found = _competences_by_id(session, organisation_id, data.competences)
    if any(ref.id not in found for ref in data.competences):
        problems.append(UNKNOWN_COMPETENCE)
    if data.kind == "self_assessment" and found:
        scales = {c.version_id for c in found.values()}
        if len(scales) > 1:
            problems.append(MIXED_SCALES)
    return problems


def _code_for(session: Session, organisation_id: int, data: ItemData, item_id: int | None) -> str:
    code = clean_code(data.code) if data.code.strip() else _free_code(session, organisation_id)
    taken = session.scalar(
        select(Item.id).where(
            Item.organisation_id == organisation_id, func.lower(Item.code) == code.lower()
        )
    )
    if taken is not None and taken != item_id:
        raise ItemCodeTaken(f"item code {code!r} taken", code=code)
    return code


def _free_code(session: Session, organisation_id: int) -> str:
    count = session.scalar(
        select(func.count(Item.id)).where(Item.organisation_id == organisation_id)
    )
    number = (count or 0) + 1
    existing = set(
        session.scalars(select(Item.code).where(Item.organisation_id == organisation_id))
    )
    while f"item-{number}" in existing:
        number += 1
    return f"item-{number}"


def _fill(item: Item, data: ItemData) -> None:
    item.kind = data.kind
    item.stem = clean_text(data.stem)
    item.feedback = clean_text(data.feedback)
    item.points = data.points
    item.settings = dict(data.settings)
    # Options are changed in place, row by row: attempts in progress name them by id.
    kept = list(item.options[: len(data.options)])
    kept += [ItemOption() for _ in range(len(data.options) - len(kept))]
    for n, (option, new) in enumerate(zip(kept, data.options, strict=True)):
        option.position = n
        option.text = clean_text(new.text)
        option.fraction = new.fraction
        option.value = new.value
        option.tolerance = new.tolerance
        option.feedback = clean_text(new.feedback)
    item.options = kept
    # Kept rows are updated (a delete and an insert of the same pair would collide).
    have = {ic.competence_id: ic for ic in item.competences}
    wanted = {ref.id: ref.weight for ref in data.competences if ref.id is not None}
    item.competences = [
        have.get(competence_id) or ItemCompetence(competence_id=competence_id)
        for competence_id in wanted
    ]
    for ic in item.competences:
        ic.weight = wanted[ic.competence_id]


def create_item(
    session: Session, organisation_id: int, data: ItemData, *, source: str = "manual"
) -> Item:
    problems = _check(session, organisation_id, data)
    if problems:
        raise ItemInvalid(problems)
    item = Item(
        organisation_id=organisation_id,
        code=_code_for(session, organisation_id, data, None),
        source=source,
    )
    _fill(item, data)
    session.add(item)
    session.flush()
    return item


def item_answered(session: Session, item_id: int) -> bool:
    return bool(session.scalar(select(func.count(Response.id)).where(Response.item_id == item_id)))


def _structure(data: ItemData) -> tuple[object, ...]:
    """What scoring depends on: it may not change once the item has been answered."""

    def same(value: float | None) -> float | None:  # forms round-trip 1/3 as 0.333…
        return None if value is None else round(value, 6)

    return (
        data.kind,
        same(data.points),
        tuple((same(o.fraction), same(o.value), same(o.tolerance)) for o in data.options),
        tuple(sorted((ref.id, same(ref.weight)) for ref in data.competences)),
    )


def update_item(session: Session, organisation_id: int, item_id: int, data: ItemData) -> Item:
    item = get_item(session, organisation_id, item_id)
    problems = _check(session, organisation_id, data)
    if problems:
        raise ItemInvalid(problems)
    code = _code_for(session, organisation_id, data, item.id)
    if item_answered(session, item.id):
        if _structure(data) != _structure(item_data(item)):
            raise ItemInUse(f"item {item.id} answered", code=item.code)
        item.code = code
        item.stem = clean_text(data.stem)
        item.feedback = clean_text(data.feedback)
        for option, new in zip(item.options, data.options, strict=True):
            option.text = clean_text(new.text)
            option.feedback = clean_text(new.feedback)
    else:
        item.code = code
        _fill(item, data)
    session.flush()
    return item


def set_archived(session: Session, organisation_id: int, item_id: int, archived: bool) -> Item:
    item = get_item(session, organisation_id, item_id)
    item.archived = archived
    session.flush()
    return item


# --- import of Moodle question banks ------------------------------------------------------


def _competences_by_code(competences: Iterable[Competence]) -> dict[str, list[Competence]]:
    by_code: dict[str, list[Competence]] = {}
    for competence in competences:
        by_code.setdefault(competence.code.lower(), []).append(competence)
    return by_code


_SPACES = re.compile(r"\s+")


def import_items(
    session: Session,
    organisation_id: int,
    data: bytes,
    fmt: str,
    language: str,
    default_competence_ids: Sequence[int],
) -> list[Item]:
    """Import every item of a file, or none: any problem refuses the whole file.

    An item measures the competences its tags name (by code, in a published framework);
    an item without such a tag measures the competences chosen on the import form.
    """
    parsed, problems = PARSERS[fmt](data, language)
    usable = usable_competences(session, organisation_id)
    by_id = {c.id: c for c in usable}
    defaults = [by_id[i] for i in default_competence_ids if i in by_id]
    by_code = _competences_by_code(usable)
    existing = {
        code.lower()
        for code in session.scalars(
            select(Item.code).where(Item.organisation_id == organisation_id)
        )
    }
    ready: list[ItemData] = []
    for draft in parsed:
        refs = _resolve(draft, by_code, defaults)
        item = ItemData(
            kind=draft.kind,
            stem=draft.stem,
            options=draft.options,
            code=draft.code[:MAX_CODE_LENGTH],
            points=draft.points,
            feedback=draft.feedback,
            settings=draft.settings,
            competences=refs,
        )
        where = at_item(ITEM_TYPES[item.kind].key, item.code)
        problems.extend(Problem(where, p) for p in validate_item(item))
        if item.code.lower() in existing:
            problems.append(
                Problem(
                    where,
                    _l("The bank already has an item with the code %(code)s.", code=item.code),
                )
            )
        ready.append(item)
    if not parsed and not problems:
        problems.append(Problem(None, EMPTY_FILE))
    if problems:
        raise ImportErrors(problems)
    return [create_item(session, organisation_id, item, source=fmt) for item in ready]


def _resolve(
    draft: ItemData, by_code: Mapping[str, list[Competence]], defaults: Sequence[Competence]
) -> tuple[CompetenceRef, ...]:
    tagged = []
    for ref in draft.competences:
        matches = by_code.get(_SPACES.sub(" ", ref.code.strip()).lower(), [])
        if matches:
            newest = max(matches, key=lambda c: (c.version.number, c.id))
            tagged.append(CompetenceRef(newest.code, ref.weight, newest.id))
    chosen = tagged or [CompetenceRef(c.code, 1.0, c.id) for c in defaults]
    unique = {ref.id: ref for ref in chosen}
    return tuple(unique.values())
