"""The organisation's item bank: write, change, archive and import items.

Items are checked by their type (``domain.items``) before anything is written. Once an
item has been answered, only its texts may change: its options, credits and competences
are what past answers were scored against.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain.items import (
    CompetenceRef,
    ItemData,
    OptionData,
    validate_item,
)
from lti_tool.domain.texts import clean_text
from lti_tool.errors import ImportErrors, ItemCodeTaken, ItemInUse, ItemInvalid, NotFound
from lti_tool.interchange.model import Problem, at_line
from lti_tool.interchange.questions import Skipped, at_question
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
        outcome_feedback=item.outcome_feedback or {},
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


def _outcome_texts(data: ItemData) -> dict[str, dict[str, str]]:
    texts = {key: clean_text(text) for key, text in data.outcome_feedback.items()}
    return {key: text for key, text in texts.items() if text}


def _fill(item: Item, data: ItemData) -> None:
    item.kind = data.kind
    item.stem = clean_text(data.stem)
    item.feedback = clean_text(data.feedback)
    item.outcome_feedback = _outcome_texts(data)
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
        item.outcome_feedback = _outcome_texts(data)
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
#
# An import reads the file into a preview: the questions to import (each resolved to its
# competences) and those skipped (types the tool does not have), or the problems that refuse
# the whole file (it cannot be read, a question breaks the item rules, a code is taken, a
# question measures no competence). The designer (or the script) looks at the preview and
# confirms; the confirmed set is then written all or nothing. A question measures the
# competences its tags name (Moodle's tags, GIFT's ``// [tag:CODE]``): a tag that is the
# code of a competence in one of the organisation's published frameworks ties it to that
# competence; other tags are ignored. A question with no such tag measures the competences
# chosen for the import (by id on the form, by code in the API and the command line).


@dataclasses.dataclass(frozen=True)
class ImportRow:
    """A question of the file as it will be (or was) imported."""

    line: int
    name: str
    item: ItemData
    """With its code and competences resolved (each ``CompetenceRef`` has an id)."""
    id: int | None = None
    """The item written, once it is."""


@dataclasses.dataclass(frozen=True)
class ImportPreview:
    rows: Sequence[ImportRow]
    skipped: Sequence[Skipped]

    @property
    def fingerprint(self) -> str:
        """What the preview promises (codes, types, competences): a confirmation whose
        preview no longer matches (the bank or the frameworks changed) is refused."""
        promised = [
            [
                row.line,
                row.item.code,
                row.item.kind,
                sorted(c.id or 0 for c in row.item.competences),
            ]
            for row in self.rows
        ]
        digest = hashlib.sha256(json.dumps(promised).encode())
        return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class ImportResult:
    items: Sequence[Item]
    rows: Sequence[ImportRow]
    """The preview's rows, with the ids of the items written."""
    skipped: Sequence[Skipped]


NO_COMPETENCE = _l(
    "It measures no competence: tag it with the code of a competence of a published "
    "framework, or choose competences for questions without such a tag."
)
NOTHING_TO_IMPORT = _l("No question in the file can be imported.")
PREVIEW_CHANGED = _l(
    "The item bank or the frameworks changed since the preview: look at the preview again "
    "before you import."
)


def _competences_by_code(competences: Iterable[Competence]) -> dict[str, list[Competence]]:
    by_code: dict[str, list[Competence]] = {}
    for competence in competences:
        by_code.setdefault(_SPACES.sub(" ", competence.code.strip()).lower(), []).append(competence)
    return by_code


def _newest(matches: Sequence[Competence]) -> Competence:
    return max(matches, key=lambda c: (c.version.number, c.id))


_SPACES = re.compile(r"\s+")


def _chosen_competences(
    usable: Sequence[Competence],
    by_code: Mapping[str, list[Competence]],
    ids: Sequence[int],
    codes: Sequence[str],
    problems: list[Problem],
) -> list[Competence]:
    """The competences chosen for questions without a competence tag; one that is not the
    organisation's (or not published) is a problem, never silently dropped."""
    by_id = {c.id: c for c in usable}
    chosen = []
    for competence_id in ids:
        if competence_id in by_id:
            chosen.append(by_id[competence_id])
        else:
            problems.append(Problem(None, UNKNOWN_COMPETENCE))
    for code in codes:
        matches = by_code.get(_SPACES.sub(" ", code.strip()).lower())
        if matches:
            chosen.append(_newest(matches))
        else:
            problems.append(
                Problem(
                    None,
                    _l(
                        "No published framework of your organisation has a competence with "
                        "the code %(code)s.",
                        code=code,
                    ),
                )
            )
    return list({c.id: c for c in chosen}.values())


@dataclasses.dataclass(frozen=True)
class QuestionUpload:
    """A question file to import, and the competences of its questions without a
    competence tag (by id from the form, by code from the API and the command line)."""

    data: bytes
    fmt: str
    """A key of ``PARSERS``."""
    language: str
    competence_ids: Sequence[int] = ()
    competence_codes: Sequence[str] = ()


def preview_import(session: Session, organisation_id: int, upload: QuestionUpload) -> ImportPreview:
    """What importing the file would write, and what it would skip; nothing is written.
    Raises ``ImportErrors`` with every problem when the file cannot be imported."""
    parsed = PARSERS[upload.fmt](upload.data, upload.language)
    problems = list(parsed.problems)
    usable = usable_competences(session, organisation_id)
    by_code = _competences_by_code(usable)
    defaults = _chosen_competences(
        usable, by_code, upload.competence_ids, upload.competence_codes, problems
    )
    existing = {
        code.lower()
        for code in session.scalars(
            select(Item.code).where(Item.organisation_id == organisation_id)
        )
    }
    rows = []
    for question in parsed.questions:
        draft = question.item
        item = dataclasses.replace(
            draft,
            code=draft.code[:MAX_CODE_LENGTH],
            competences=_resolve(draft, by_code, defaults),
        )
        where = at_question(question.line, question.name)
        if not item.competences:
            problems.append(Problem(where, NO_COMPETENCE))
        if item.code.lower() in existing:
            problems.append(
                Problem(
                    where,
                    _l("The bank already has an item with the code %(code)s.", code=item.code),
                )
            )
        rows.append(ImportRow(question.line, question.name, item))
    if not rows and parsed.skipped and not problems:
        problems.append(Problem(None, NOTHING_TO_IMPORT))
        problems.extend(Problem(at_line(s.line), s.reason) for s in parsed.skipped)
    if problems:
        raise ImportErrors(problems)
    return ImportPreview(rows, parsed.skipped)


def import_items(
    session: Session,
    organisation_id: int,
    upload: QuestionUpload,
    *,
    fingerprint: str | None = None,
) -> ImportResult:
    """Write every question of the preview, or none; the skipped ones are reported.

    With ``fingerprint`` (of the preview the designer confirmed), a preview that has
    changed since is refused rather than written."""
    preview = preview_import(session, organisation_id, upload)
    if fingerprint is not None and not hmac.compare_digest(fingerprint, preview.fingerprint):
        raise ImportErrors([Problem(None, PREVIEW_CHANGED)])
    items = []
    for row in preview.rows:
        item = Item(organisation_id=organisation_id, code=row.item.code, source=upload.fmt)
        _fill(item, row.item)
        items.append(item)
    try:
        with session.begin_nested():
            session.add_all(items)
    except IntegrityError as exc:  # the same codes, written by another request meanwhile
        raise ImportErrors([Problem(None, PREVIEW_CHANGED)]) from exc
    rows = [
        dataclasses.replace(row, id=item.id) for row, item in zip(preview.rows, items, strict=True)
    ]
    return ImportResult(items, rows, preview.skipped)


def _resolve(
    draft: ItemData, by_code: Mapping[str, list[Competence]], defaults: Sequence[Competence]
) -> tuple[CompetenceRef, ...]:
    tagged = []
    for ref in draft.competences:
        matches = by_code.get(_SPACES.sub(" ", ref.code.strip()).lower(), [])
        if matches:
            newest = _newest(matches)
            tagged.append(CompetenceRef(newest.code, ref.weight, newest.id))
    chosen = tagged or [CompetenceRef(c.code, 1.0, c.id) for c in defaults]
    unique = {ref.id: ref for ref in chosen}
    return tuple(unique.values())
