"""Competence frameworks: versions, scales and competences (flush only, never commit).

Every function takes the organisation it acts for: a framework, version or competence of
another organisation is not found. Only a draft version changes; a published version is
frozen, and changing it means starting a new draft from it (``start_new_draft``), which
keeps the competences' ``identifier``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from lti_tool.db import utcnow
from lti_tool.domain.requirements import has_cycle
from lti_tool.domain.texts import clean_text, localized
from lti_tool.errors import (
    CannotPublish,
    CompetenceCodeTaken,
    CompetenceHasChildren,
    CompetenceInUse,
    DraftExists,
    FrameworkCodeTaken,
    HierarchyCycle,
    InvalidCode,
    InvalidScale,
    LevelInUse,
    MissingTitle,
    NotFound,
    NothingPublished,
    VersionNotDraft,
)
from lti_tool.interchange.model import competence_code_problem
from lti_tool.models import (
    Competence,
    Evidence,
    Framework,
    FrameworkVersion,
    ItemCompetence,
    MappingCompetence,
    Requirement,
    ScaleLevel,
    VersionStatus,
)

#: The longest code of a framework, competence or job role (the columns' length).
MAX_CODE_LENGTH = 100
#: The most levels a scale may have.
MAX_LEVELS = 10
#: The longest external reference (the column's length).
MAX_REF_LENGTH = 2048

_CODE = re.compile(r"^\S+$")


@dataclasses.dataclass(frozen=True)
class LevelInput:
    """One level of a scale, in order from the lowest (value 1)."""

    label: Mapping[str, str]
    description: Mapping[str, str] = dataclasses.field(default_factory=dict)


def clean_code(code: str) -> str:
    cleaned = (code or "").strip()
    if not cleaned or len(cleaned) > MAX_CODE_LENGTH or not _CODE.match(cleaned):
        raise InvalidCode(f"invalid code {code!r}", code=code, max=MAX_CODE_LENGTH)
    return cleaned


def clean_competence_code(code: str) -> str:
    """A competence's code: other tools' codes have inner spaces ("DIG 1.1"), so only the
    rule imports follow applies (interchange.model.competence_code_problem)."""
    cleaned = (code or "").strip()
    if competence_code_problem(cleaned) is not None:
        raise InvalidCode(f"invalid code {code!r}", code=code, max=MAX_CODE_LENGTH)
    return cleaned


def clean_title(title: Mapping[str, str] | None) -> dict[str, str]:
    cleaned = clean_text(title)
    if not cleaned:
        raise MissingTitle("a title needs at least one language")
    return cleaned


def new_identifier() -> str:
    return str(uuid.uuid4())


def _name(version: FrameworkVersion) -> str:
    return localized(version.title, "nb") or version.framework.code


# --- finding, always within the organisation --------------------------------------------


def list_frameworks(session: Session, organisation_id: int) -> Sequence[Framework]:
    return session.scalars(
        select(Framework)
        .where(Framework.organisation_id == organisation_id)
        .options(selectinload(Framework.versions))
        .order_by(Framework.code)
    ).all()


def get_framework(session: Session, organisation_id: int, framework_id: int) -> Framework:
    framework = session.scalar(
        select(Framework).where(
            Framework.id == framework_id, Framework.organisation_id == organisation_id
        )
    )
    if framework is None:
        raise NotFound(f"framework {framework_id} is not organisation {organisation_id}'s")
    return framework


def find_framework(session: Session, organisation_id: int, code: str) -> Framework:
    framework = session.scalar(
        select(Framework).where(
            Framework.code == code.strip(), Framework.organisation_id == organisation_id
        )
    )
    if framework is None:
        raise NotFound(f"organisation {organisation_id} has no framework {code!r}")
    return framework


def get_version(session: Session, organisation_id: int, version_id: int) -> FrameworkVersion:
    version = session.scalar(
        select(FrameworkVersion)
        .join(Framework)
        .where(FrameworkVersion.id == version_id, Framework.organisation_id == organisation_id)
    )
    if version is None:
        raise NotFound(f"framework version {version_id} is not organisation {organisation_id}'s")
    return version


def find_version(
    session: Session, organisation_id: int, code: str, number: int | None = None
) -> FrameworkVersion:
    """Version ``number`` of the framework ``code``; without a number the latest published
    one, else the latest."""
    framework = find_framework(session, organisation_id, code)
    versions = framework.versions
    if number is not None:
        for version in versions:
            if version.number == number:
                return version
        raise NotFound(f"framework {code!r} has no version {number}")
    published = [v for v in versions if v.status == VersionStatus.PUBLISHED]
    if published:
        return published[-1]
    if not versions:
        raise NotFound(f"framework {code!r} has no version")
    return versions[-1]


def get_competence(session: Session, organisation_id: int, competence_id: int) -> Competence:
    competence = session.scalar(
        select(Competence)
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .join(Framework)
        .where(Competence.id == competence_id, Framework.organisation_id == organisation_id)
    )
    if competence is None:
        raise NotFound(f"competence {competence_id} is not organisation {organisation_id}'s")
    return competence


def _draft(session: Session, organisation_id: int, version_id: int) -> FrameworkVersion:
    version = get_version(session, organisation_id, version_id)
    _require_draft(version)
    return version


def _require_draft(version: FrameworkVersion) -> None:
    if version.status != VersionStatus.DRAFT:
        raise VersionNotDraft(
            f"version {version.id} is {version.status.value}",
            number=version.number,
            framework=_name(version),
            status=version.status.value,
        )


# --- frameworks and versions ------------------------------------------------------------


def create_framework(
    session: Session,
    organisation_id: int,
    code: str,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
    *,
    identifier: str | None = None,
    source: str = "manual",
) -> FrameworkVersion:
    """A new framework with its first version, a draft."""
    code = clean_code(code)
    title = clean_title(title)
    taken = session.scalar(
        select(Framework.id).where(
            Framework.organisation_id == organisation_id, Framework.code == code
        )
    )
    if taken is not None:
        raise FrameworkCodeTaken(f"framework code {code!r} is taken", code=code)
    framework = Framework(organisation_id=organisation_id, code=code)
    version = FrameworkVersion(
        framework=framework,
        number=1,
        status=VersionStatus.DRAFT,
        title=title,
        description=clean_text(description),
        identifier=(identifier or new_identifier())[:MAX_CODE_LENGTH],
        source=source,
    )
    session.add_all([framework, version])
    session.flush()
    return version


def update_version_texts(
    session: Session,
    organisation_id: int,
    version_id: int,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
) -> FrameworkVersion:
    version = _draft(session, organisation_id, version_id)
    version.title = clean_title(title)
    version.description = clean_text(description)
    session.flush()
    return version


def _levels_in_use(session: Session, version: FrameworkVersion) -> set[int]:
    rows = session.scalars(
        select(Requirement.required_level)
        .join(Competence, Requirement.competence_id == Competence.id)
        .where(Competence.version_id == version.id)
    )
    return set(rows)


def set_scale(
    session: Session, organisation_id: int, version_id: int, levels: Sequence[LevelInput]
) -> FrameworkVersion:
    """Replace the draft's scale by ``levels`` (values 1..n in the order given)."""
    version = _draft(session, organisation_id, version_id)
    cleaned = [(clean_text(level.label), clean_text(level.description)) for level in levels]
    if not 2 <= len(cleaned) <= MAX_LEVELS or not all(label for label, _ in cleaned):
        raise InvalidScale(f"{len(cleaned)} level(s) given", max=MAX_LEVELS)
    for value in sorted(_levels_in_use(session, version)):
        if value > len(cleaned):
            raise LevelInUse(f"level {value} of version {version.id} is required", value=value)
    existing = {level.value: level for level in version.levels}
    for value, (label, description) in enumerate(cleaned, start=1):
        level = existing.pop(value, None)
        if level is None:
            version.levels.append(ScaleLevel(value=value, label=label, description=description))
        else:
            level.label, level.description = label, description
    for level in existing.values():
        version.levels.remove(level)
    session.flush()
    return version


def publish_version(session: Session, organisation_id: int, version_id: int) -> FrameworkVersion:
    """Freeze the draft; the version published before it is archived."""
    version = _draft(session, organisation_id, version_id)
    active = [c for c in version.competences if not c.archived]
    if not active or len(version.levels) < 2:
        raise CannotPublish(
            f"version {version.id}: {len(active)} competences, {len(version.levels)} levels",
            competences=len(active),
            levels=len(version.levels),
        )
    for other in version.framework.versions:
        if other is not version and other.status == VersionStatus.PUBLISHED:
            other.status = VersionStatus.ARCHIVED
    version.status = VersionStatus.PUBLISHED
    version.published_at = utcnow()
    session.flush()
    return version


def start_new_draft(session: Session, organisation_id: int, framework_id: int) -> FrameworkVersion:
    """A new draft copied from the latest published version: same levels, same competences
    with the same ``identifier``s and hierarchy."""
    framework = get_framework(session, organisation_id, framework_id)
    drafts = [v for v in framework.versions if v.status == VersionStatus.DRAFT]
    if drafts:
        raise DraftExists(
            f"framework {framework.code!r} has draft {drafts[0].number}",
            framework=_name(drafts[0]),
            number=drafts[0].number,
        )
    published = [v for v in framework.versions if v.status == VersionStatus.PUBLISHED]
    if not published:
        raise NothingPublished(
            f"framework {framework.code!r} has no published version", framework=framework.code
        )
    source = published[-1]
    number = max(v.number for v in framework.versions) + 1
    draft = FrameworkVersion(
        framework=framework,
        number=number,
        status=VersionStatus.DRAFT,
        title=dict(source.title),
        description=dict(source.description),
        identifier=source.identifier,
        source=source.source,
        kept=copy.deepcopy(source.kept or {}),
    )
    session.add(draft)  # before loading the source's rows: their autoflush must see it
    draft.levels = [
        ScaleLevel(value=level.value, label=dict(level.label), description=dict(level.description))
        for level in source.levels
    ]
    copies: dict[int, Competence] = {}
    for competence in source.competences:
        copies[competence.id] = Competence(
            identifier=competence.identifier,
            code=competence.code,
            title=dict(competence.title),
            description=dict(competence.description),
            external_ref=competence.external_ref,
            position=competence.position,
            archived=competence.archived,
            related=list(competence.related or []),
            kept=copy.deepcopy(competence.kept or {}),
        )
    for competence in source.competences:
        if competence.parent_id is not None:
            copies[competence.id].parent = copies[competence.parent_id]
    draft.competences = list(copies.values())
    session.add(draft)
    session.flush()
    return draft


# --- competences in a draft ---------------------------------------------------------------


def _check_code_free(version: FrameworkVersion, code: str, competence: Competence | None) -> None:
    for other in version.competences:
        if other.code == code and other is not competence:
            raise CompetenceCodeTaken(f"competence code {code!r} is taken", code=code)


def _clean_ref(external_ref: str | None) -> str | None:
    ref = (external_ref or "").strip()
    return ref[:MAX_REF_LENGTH] or None


def _siblings(version: FrameworkVersion, parent_id: int | None) -> list[Competence]:
    found = [c for c in version.competences if c.parent_id == parent_id]
    return sorted(found, key=lambda c: (c.position, c.id or 0))


def _parent_in(
    session: Session, organisation_id: int, version: FrameworkVersion, parent_id: int | None
) -> Competence | None:
    if parent_id is None:
        return None
    parent = get_competence(session, organisation_id, parent_id)
    if parent.version_id != version.id:
        raise NotFound(f"competence {parent_id} is not in version {version.id}")
    return parent


def _place(siblings: list[Competence], competence: Competence, position: int | None) -> None:
    """Put ``competence`` among ``siblings`` at ``position`` (the end when None) and
    number them 0..n-1."""
    ordered = [c for c in siblings if c is not competence]
    index = len(ordered) if position is None else max(0, min(position, len(ordered)))
    ordered.insert(index, competence)
    for number, sibling in enumerate(ordered):
        sibling.position = number


def add_competence(
    session: Session,
    organisation_id: int,
    version_id: int,
    code: str,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
    *,
    parent_id: int | None = None,
    external_ref: str | None = None,
    position: int | None = None,
    identifier: str | None = None,
) -> Competence:
    version = _draft(session, organisation_id, version_id)
    code = clean_competence_code(code)
    _check_code_free(version, code, None)
    parent = _parent_in(session, organisation_id, version, parent_id)
    siblings = _siblings(version, parent_id)
    competence = Competence(
        identifier=(identifier or new_identifier())[:MAX_CODE_LENGTH],
        code=code,
        title=clean_title(title),
        description=clean_text(description),
        external_ref=_clean_ref(external_ref),
        parent=parent,
    )
    version.competences.append(competence)
    _place(siblings, competence, position)
    session.flush()
    return competence


def _draft_competence(session: Session, organisation_id: int, competence_id: int) -> Competence:
    competence = get_competence(session, organisation_id, competence_id)
    _require_draft(competence.version)
    return competence


def update_competence(
    session: Session,
    organisation_id: int,
    competence_id: int,
    code: str,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
    external_ref: str | None = None,
) -> Competence:
    competence = _draft_competence(session, organisation_id, competence_id)
    code = clean_competence_code(code)
    _check_code_free(competence.version, code, competence)
    competence.code = code
    competence.title = clean_title(title)
    competence.description = clean_text(description)
    competence.external_ref = _clean_ref(external_ref)
    session.flush()
    return competence


def move_competence(
    session: Session,
    organisation_id: int,
    competence_id: int,
    parent_id: int | None,
    position: int | None = None,
) -> Competence:
    """Place the competence under ``parent_id`` (None: at the top) at ``position`` among
    its new siblings (None: last)."""
    competence = _draft_competence(session, organisation_id, competence_id)
    version = competence.version
    parent = _parent_in(session, organisation_id, version, parent_id)
    parent_of = {c.id: c.parent_id for c in version.competences}
    if has_cycle(parent_of, competence.id, parent_id):
        raise HierarchyCycle(
            f"competence {competence.id} under {parent_id} loops", code=competence.code
        )
    old_parent_id = competence.parent_id
    competence.parent = parent
    competence.parent_id = parent_id
    if old_parent_id != parent_id:
        for number, sibling in enumerate(
            c for c in _siblings(version, old_parent_id) if c is not competence
        ):
            sibling.position = number
    _place(_siblings(version, parent_id), competence, position)
    session.flush()
    return competence


def archive_competence(
    session: Session, organisation_id: int, competence_id: int, archived: bool = True
) -> Competence:
    """Archive (or restore) a competence of a draft: kept, but not offered for new use."""
    competence = _draft_competence(session, organisation_id, competence_id)
    competence.archived = archived
    session.flush()
    return competence


def competence_in_use(session: Session, competence_ids: Iterable[int]) -> bool:
    ids = list(competence_ids)
    if not ids:
        return False
    return any(
        session.scalar(select(func.count()).where(column.in_(ids)))
        for column in (
            Requirement.competence_id,
            ItemCompetence.competence_id,
            MappingCompetence.competence_id,
            Evidence.competence_id,
        )
    )


def delete_competence(session: Session, organisation_id: int, competence_id: int) -> None:
    """Delete an unused competence without sub-competences from a draft."""
    competence = _draft_competence(session, organisation_id, competence_id)
    if competence_in_use(session, [competence.id]):
        raise CompetenceInUse(f"competence {competence.id} is required", code=competence.code)
    version = competence.version
    if any(c.parent_id == competence.id for c in version.competences):
        raise CompetenceHasChildren(
            f"competence {competence.id} has children", code=competence.code
        )
    parent_id = competence.parent_id
    session.delete(competence)
    session.flush()
    session.expire(version, ["competences"])
    if competence.parent is not None:
        session.expire(competence.parent, ["children"])
    for number, sibling in enumerate(_siblings(version, parent_id)):
        sibling.position = number
    session.flush()


def ordered_competences(version: FrameworkVersion) -> list[Competence]:
    """The version's competences depth first, each before its children, siblings in order."""
    children: dict[int | None, list[Competence]] = {}
    for competence in version.competences:
        children.setdefault(competence.parent_id, []).append(competence)
    result: list[Competence] = []

    def walk(parent_id: int | None) -> None:
        for child in sorted(children.get(parent_id, []), key=lambda c: (c.position, c.id)):
            result.append(child)
            walk(child.id)

    walk(None)
    return result
