"""Import and export of frameworks and job roles (flush only, never commit).

Formats are a registry keyed by name (``FORMATS``): adding one is adding a module with
``parse(bytes, language)`` and ``dump(FrameworkData, …)``. Every import reads and checks
the whole file first and raises ``ImportErrors`` with every problem it found, each with
its line or item and field; only a file without problems is written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from collections.abc import Mapping as MappingType
from importlib import resources
from typing import Any, Protocol

from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.domain.items import CompetenceRef, ItemData, OptionData
from lti_tool.errors import ImportErrors, NotFound, UnknownFormat
from lti_tool.interchange import case, job_roles_json, moodle_csv
from lti_tool.interchange.job_roles_json import JobRoleData, RequirementData
from lti_tool.interchange.model import (
    CompetenceData,
    FrameworkData,
    LevelData,
    Problem,
    sibling_order,
    validate_framework,
)
from lti_tool.models import (
    Competence,
    Framework,
    FrameworkVersion,
    GradePolicy,
    Item,
    JobRole,
    Mapping,
    MappingStatus,
    Requirement,
    ScaleLevel,
    Selection,
    VersionStatus,
)
from lti_tool.services import frameworks, item_bank, job_roles, mappings

log = logging.getLogger(__name__)

# --- the formats ---------------------------------------------------------------------------


class Parse(Protocol):
    def __call__(
        self, data: bytes, language: str = "nb"
    ) -> tuple[FrameworkData | None, list[Problem]]: ...


@dataclasses.dataclass(frozen=True)
class FrameworkFormat:
    name: str
    parse: Parse
    dump: Callable[[FrameworkData, FrameworkVersion, str], bytes]
    extension: str
    media_type: str


def _dump_moodle(data: FrameworkData, version: FrameworkVersion, creator: str) -> bytes:
    return moodle_csv.dump(data)


_ADOPTION = {
    VersionStatus.DRAFT: "Draft",
    VersionStatus.PUBLISHED: "Adopted",
    VersionStatus.ARCHIVED: "Deprecated",
}


def _dump_case(data: FrameworkData, version: FrameworkVersion, creator: str) -> bytes:
    return case.dump(
        data,
        creator=creator,
        changed=version.published_at or version.created_at,
        adoption_status=_ADOPTION[version.status],
        version=str(version.number),
        as_imported=version.source == "case" and version.number == 1,
    )


FORMATS: dict[str, FrameworkFormat] = {
    "moodle-csv": FrameworkFormat(
        "moodle-csv", moodle_csv.parse, _dump_moodle, "csv", "text/csv; charset=utf-8"
    ),
    "case": FrameworkFormat("case", case.parse, _dump_case, "json", "application/json"),
}


def get_format(name: str) -> FrameworkFormat:
    found = FORMATS.get(name)
    if found is None:
        raise UnknownFormat(f"format {name!r}", format=name, known=", ".join(sorted(FORMATS)))
    return found


# --- frameworks -----------------------------------------------------------------------------


def version_data(version: FrameworkVersion) -> FrameworkData:
    """The version as plain data, competences depth first (parents before children)."""
    ordered = frameworks.ordered_competences(version)
    codes = {c.id: c.code for c in ordered}
    by_identifier = {c.identifier: c.code for c in ordered}
    return FrameworkData(
        code=version.framework.code,
        title=dict(version.title),
        description=dict(version.description or {}),
        identifier=version.identifier,
        levels=[
            LevelData(level.value, dict(level.label), dict(level.description or {}))
            for level in version.levels
        ],
        competences=[
            CompetenceData(
                key=c.code,
                parent_key=codes[c.parent_id] if c.parent_id is not None else None,
                code=c.code,
                title=dict(c.title),
                description=dict(c.description or {}),
                external_ref=c.external_ref,
                identifier=c.identifier,
                archived=c.archived,
                related=[by_identifier[i] for i in c.related or [] if i in by_identifier],
                kept=dict(c.kept or {}),
            )
            for c in ordered
        ],
        kept=dict(version.kept or {}),
    )


def kept_summary(version: FrameworkVersion) -> list[Any]:
    """What the version's import kept for export that the tool does not use (rules,
    cross-references, HTML descriptions, item types, notes, …), one sentence each."""
    competences = [c.kept or {} for c in version.competences]
    kept = version.kept or {}
    links = sum(len(c.related or []) for c in version.competences)
    return moodle_csv.summary(kept, competences, links) + case.summary(kept, competences)


def export_framework(
    session: Session,
    organisation_id: int,
    code: str,
    format_name: str,
    number: int | None = None,
    creator: str = "Læringsløp",
) -> bytes:
    """The framework ``code`` (version ``number``; else the latest published one, else the
    latest) in the format named."""
    chosen = get_format(format_name)
    version = frameworks.find_version(session, organisation_id, code, number)
    return chosen.dump(version_data(version), version, creator)


def parse_framework(
    session: Session,
    organisation_id: int,
    data: bytes,
    format_name: str,
    *,
    language: str = "nb",
    publish: bool = False,
) -> FrameworkData:
    """Read and check a file without writing: the data, or ``ImportErrors``."""
    chosen = get_format(format_name)
    parsed, problems = chosen.parse(data, language)
    if parsed is not None:
        problems += validate_framework(parsed, publish=publish)
        taken = session.scalar(
            select(Framework.id).where(
                Framework.organisation_id == organisation_id, Framework.code == parsed.code
            )
        )
        if taken is not None:
            problems.append(
                Problem(
                    parsed.where if parsed.where is not None else "",
                    lazy_gettext(
                        "another competence framework already has the code %(code)s",
                        code=parsed.code,
                    ),
                )
            )
    if problems or parsed is None:
        raise ImportErrors(problems)
    return parsed


def import_framework(
    session: Session,
    organisation_id: int,
    data: bytes,
    format_name: str,
    *,
    language: str = "nb",
    publish: bool = False,
) -> FrameworkVersion:
    """A new framework from a file: its first version, a draft (or published)."""
    parsed = parse_framework(
        session, organisation_id, data, format_name, language=language, publish=publish
    )
    return write_framework(session, organisation_id, parsed, source=format_name, publish=publish)


def write_framework(
    session: Session,
    organisation_id: int,
    data: FrameworkData,
    *,
    source: str,
    publish: bool = False,
) -> FrameworkVersion:
    """Write checked data (``validate_framework`` found nothing) as a new framework."""
    version = frameworks.create_framework(
        session,
        organisation_id,
        data.code,
        data.title,
        data.description,
        identifier=data.identifier,
        source=source,
    )
    _fill(version, data)
    session.flush()
    if publish:
        frameworks.publish_version(session, organisation_id, version.id)
    return version


def _fill(version: FrameworkVersion, data: FrameworkData) -> None:
    """Put checked data's scale and competences into a new version."""
    version.kept = data.kept
    version.levels = [
        ScaleLevel(value=level.value, label=level.label, description=level.description)
        for level in sorted(data.levels, key=lambda lv: lv.value)
    ]
    made: dict[str, Competence] = {}
    positions: dict[str | None, int] = {}
    for item in sibling_order(data.competences):
        position = positions.get(item.parent_key, 0)
        positions[item.parent_key] = position + 1
        made[item.key] = Competence(
            identifier=item.identifier or frameworks.new_identifier(),
            code=item.code,
            title=item.title,
            description=item.description,
            external_ref=item.external_ref,
            archived=item.archived,
            position=position,
            kept=item.kept,
        )
    for item in data.competences:
        if item.parent_key is not None:
            made[item.key].parent = made[item.parent_key]
        made[item.key].related = [made[key].identifier for key in item.related]
    version.competences = [made[item.key] for item in data.competences]


def write_version(
    session: Session,
    organisation_id: int,
    framework: Framework,
    data: FrameworkData,
    *,
    source: str,
) -> FrameworkVersion:
    """A new published version of ``framework`` from checked data (a package's update): the
    version published before is archived, never changed; competences keep their identifiers."""
    version = FrameworkVersion(
        framework=framework,
        number=max(v.number for v in framework.versions) + 1,
        status=VersionStatus.DRAFT,
        title=data.title,
        description=data.description,
        identifier=data.identifier or frameworks.new_identifier(),
        source=source,
    )
    session.add(version)
    _fill(version, data)
    session.flush()
    return frameworks.publish_version(session, organisation_id, version.id)


# --- job roles ------------------------------------------------------------------------------


def export_job_roles(session: Session, organisation_id: int) -> bytes:
    roles = job_roles.list_job_roles(session, organisation_id, include_archived=True)
    return job_roles_json.dump([job_role_data(role) for role in roles])


def job_role_data(role: JobRole) -> JobRoleData:
    """A job role as the interchange has it: requirements by framework, version and code
    (the job-role file and content packages)."""
    return JobRoleData(
        code=role.code,
        title=dict(role.title),
        description=dict(role.description or {}),
        archived=role.archived,
        requirements=[
            RequirementData(
                framework=r.competence.version.framework.code,
                framework_version=r.competence.version.number,
                competence=r.competence.code,
                required_level=r.required_level,
                mandatory=r.mandatory,
                renewal_months=r.renewal_months,
            )
            for r in role.requirements
        ],
    )


def import_job_roles(
    session: Session, organisation_id: int, data: bytes, *, skip_existing: bool = False
) -> list[JobRole]:
    """New job roles with their profiles from our JSON. A role whose code exists is a
    problem, or with ``skip_existing`` left as it is."""
    roles, problems = job_roles_json.parse(data)
    existing = set(
        session.scalars(select(JobRole.code).where(JobRole.organisation_id == organisation_id))
    )
    versions: dict[tuple[str, int], FrameworkVersion | None] = {}
    wanted: list[tuple[JobRoleData, list[tuple[RequirementData, Competence]]]] = []
    for role in roles:
        if role.code in existing:
            if not skip_existing:
                problems.append(
                    Problem(
                        role.where,
                        lazy_gettext(
                            "another job role already has the code %(code)s", code=role.code
                        ),
                    )
                )
            continue
        found: list[tuple[RequirementData, Competence]] = []
        seen: set[int] = set()
        for req in role.requirements:
            competence = _resolve(session, organisation_id, req, versions, problems)
            if competence is None:
                continue
            if competence.id in seen:
                problems.append(
                    Problem(
                        req.where,
                        lazy_gettext("%(code)s is required twice", code=competence.code),
                    )
                )
                continue
            seen.add(competence.id)
            found.append((req, competence))
        wanted.append((role, found))
    if problems:
        raise ImportErrors(problems)
    made = []
    for role, found in wanted:
        job_role = job_roles.create_job_role(
            session, organisation_id, role.code, role.title, role.description
        )
        job_role.archived = role.archived
        for req, competence in found:
            job_role.requirements.append(
                Requirement(
                    competence=competence,
                    required_level=req.required_level,
                    mandatory=req.mandatory,
                    renewal_months=req.renewal_months,
                )
            )
        made.append(job_role)
    session.flush()
    return made


def _resolve(
    session: Session,
    organisation_id: int,
    req: RequirementData,
    versions: dict[tuple[str, int], FrameworkVersion | None],
    problems: list[Problem],
) -> Competence | None:
    key = (req.framework, req.framework_version)
    if key not in versions:
        versions[key] = session.scalar(
            select(FrameworkVersion)
            .join(Framework)
            .where(
                Framework.organisation_id == organisation_id,
                Framework.code == req.framework,
                FrameworkVersion.number == req.framework_version,
            )
        )
    version = versions[key]
    if version is None:
        problems.append(
            Problem(
                req.where,
                lazy_gettext(
                    "there is no version %(number)s of the framework %(framework)s",
                    number=req.framework_version,
                    framework=req.framework,
                ),
            )
        )
        return None
    if version.status != VersionStatus.PUBLISHED:
        problems.append(
            Problem(
                req.where,
                lazy_gettext(
                    "version %(number)s of %(framework)s is not published",
                    number=req.framework_version,
                    framework=req.framework,
                ),
            )
        )
        return None
    competence = next((c for c in version.competences if c.code == req.competence), None)
    if competence is None or competence.archived:
        problems.append(
            Problem(
                req.where,
                lazy_gettext(
                    "%(framework)s version %(number)s has no competence %(code)s",
                    framework=req.framework,
                    number=req.framework_version,
                    code=req.competence,
                ),
            )
        )
        return None
    if req.required_level not in {level.value for level in version.levels}:
        problems.append(
            Problem(
                req.where,
                lazy_gettext(
                    "level %(value)s is not on the scale of %(framework)s",
                    value=req.required_level,
                    framework=req.framework,
                ),
            )
        )
        return None
    return competence


# --- example content ------------------------------------------------------------------------


@dataclasses.dataclass
class LoadedExamples:
    frameworks: list[str]
    job_roles: list[str]
    skipped: list[str]
    items: list[str] = dataclasses.field(default_factory=list)
    mappings: list[str] = dataclasses.field(default_factory=list)


def _content() -> dict[str, Any]:
    manifest = resources.files("lti_tool.content").joinpath("manifest.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(manifest)
    return loaded


def load_examples(session: Session, organisation_id: int) -> LoadedExamples:
    """The example frameworks (published) and job roles, through the same import code.
    What the organisation already has (by code) is left as it is: loading twice is safe."""
    manifest = _content()
    folder = resources.files("lti_tool.content")
    result = LoadedExamples([], [], [])
    have = set(
        session.scalars(select(Framework.code).where(Framework.organisation_id == organisation_id))
    )
    for entry in manifest["frameworks"]:
        if entry["code"] in have:
            result.skipped.append(entry["code"])
            continue
        data = folder.joinpath(entry["file"]).read_bytes()
        import_framework(session, organisation_id, data, entry["format"], publish=True)
        result.frameworks.append(entry["code"])
    for name in manifest["job_roles"]:
        made = import_job_roles(
            session, organisation_id, folder.joinpath(name).read_bytes(), skip_existing=True
        )
        result.job_roles += [role.code for role in made]
    return result


def load_example_mappings(session: Session, organisation_id: int) -> LoadedExamples:
    """The example item bank and skills mappings (``content/mappings.json``), through the
    item-bank and mapping services, on top of the example frameworks and job roles
    (``load_examples`` first). An item or mapping whose code the organisation has already
    is left as it is (listed in ``skipped``): loading twice is safe.

    The file is our own small shape::

        {"format": "laeringslop-mappings", "version": 1,
         "items": [{"code", "kind", "stem": {"nb", "nn", "en"}, "feedback"?, "points"?,
                    "settings"?, "competences": [{"framework", "competence", "weight"?}],
                    "options"?: [{"text", "fraction", "feedback"?, "value"?, "tolerance"?}]}],
         "mappings": [{"code", "title", "description"?, "job_role" | "competences",
                       "items"?: [item codes], "rules"?: {MappingRules' fields},
                       "status"?: "published" (default) | "draft"}]}

    Competences are named by framework code and competence code, in the newest published
    version; an item whose competences the organisation does not have is skipped, and so
    is a mapping whose job role it does not have.
    """
    manifest = _content()
    folder = resources.files("lti_tool.content")
    result = LoadedExamples([], [], [])
    for name in manifest.get("mappings", []):
        content = json.loads(folder.joinpath(name).read_text("utf-8"))
        if content.get("format") != "laeringslop-mappings" or content.get("version") != 1:
            raise ValueError(f"content/{name} is not a laeringslop-mappings file, version 1")
        _load_items(session, organisation_id, content.get("items", []), result)
        _load_mappings(session, organisation_id, content.get("mappings", []), result)
    return result


def _published_competences(session: Session, organisation_id: int) -> dict[tuple[str, str], int]:
    """(framework code, competence code) → competence id, the newest published version's."""
    rows = session.execute(
        select(Framework.code, Competence.code, Competence.id)
        .join(FrameworkVersion, Competence.version_id == FrameworkVersion.id)
        .join(Framework, FrameworkVersion.framework_id == Framework.id)
        .where(
            Framework.organisation_id == organisation_id,
            FrameworkVersion.status == VersionStatus.PUBLISHED,
            Competence.archived.is_(False),
        )
        .order_by(FrameworkVersion.number)
    )
    return {(framework, code): competence_id for framework, code, competence_id in rows}


def _item_ids(session: Session, organisation_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Item.code, Item.id).where(Item.organisation_id == organisation_id)
    )
    return {code.lower(): item_id for code, item_id in rows}


def _example_item(entry: MappingType[str, Any], refs: list[CompetenceRef]) -> ItemData:
    return ItemData(
        kind=entry["kind"],
        stem=entry["stem"],
        code=entry["code"],
        points=float(entry.get("points", 1.0)),
        feedback=entry.get("feedback") or {},
        settings=entry.get("settings") or {},
        options=tuple(
            OptionData(
                text=option.get("text") or {},
                fraction=float(option.get("fraction", 0.0)),
                feedback=option.get("feedback") or {},
                value=option.get("value"),
                tolerance=option.get("tolerance"),
            )
            for option in entry.get("options") or ()
        ),
        competences=tuple(refs),
    )


def _load_items(
    session: Session,
    organisation_id: int,
    entries: list[MappingType[str, Any]],
    result: LoadedExamples,
) -> None:
    competences = _published_competences(session, organisation_id)
    have = _item_ids(session, organisation_id)
    for entry in entries:
        code = entry["code"]
        if code.lower() in have:
            result.skipped.append(code)
            continue
        refs = []
        for ref in entry["competences"]:
            competence_id = competences.get((ref["framework"], ref["competence"]))
            if competence_id is None:
                break
            refs.append(
                CompetenceRef(ref["competence"], float(ref.get("weight", 1.0)), competence_id)
            )
        else:
            item = item_bank.create_item(
                session, organisation_id, _example_item(entry, refs), source="example"
            )
            have[item.code.lower()] = item.id
            result.items.append(item.code)
            continue
        log.warning("example item %s: its competences are not in the organisation", code)
        result.skipped.append(code)


def _rules(raw: MappingType[str, Any]) -> mappings.MappingRules:
    known = {f.name for f in dataclasses.fields(mappings.MappingRules)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown mapping rules {sorted(unknown)}")
    values = dict(raw)
    if "selection" in values:
        values["selection"] = Selection(values["selection"])
    if "grade_policy" in values:
        values["grade_policy"] = GradePolicy(values["grade_policy"])
    return mappings.MappingRules(**values)


def _load_mappings(
    session: Session,
    organisation_id: int,
    entries: list[MappingType[str, Any]],
    result: LoadedExamples,
) -> None:
    competences = _published_competences(session, organisation_id)
    items = _item_ids(session, organisation_id)
    have = {
        code.lower()
        for code in session.scalars(
            select(Mapping.code).where(Mapping.organisation_id == organisation_id)
        )
    }
    for entry in entries:
        code = entry["code"]
        if code.lower() in have:
            result.skipped.append(code)
            continue
        job_role_id = None
        if entry.get("job_role"):
            try:
                job_role_id = job_roles.find_job_role(
                    session, organisation_id, entry["job_role"]
                ).id
            except NotFound:
                log.warning("example mapping %s: no job role %s", code, entry["job_role"])
                result.skipped.append(code)
                continue
        mapping = mappings.create_mapping(
            session,
            organisation_id,
            code=code,
            title=entry["title"],
            description=entry.get("description"),
            job_role_id=job_role_id,
            competence_ids=[
                competences[key]
                for key in ((c["framework"], c["competence"]) for c in entry.get("competences", []))
                if key in competences
            ],
            rules=_rules(entry.get("rules") or {}),
        )
        item_ids = [items[c.lower()] for c in entry.get("items", []) if c.lower() in items]
        if item_ids:
            mappings.add_items(session, organisation_id, mapping.id, item_ids)
        if entry.get("status", "published") == "published":
            problems = mappings.publish_problems(session, mapping)
            if problems:
                log.warning("example mapping %s left a draft: %s", code, problems[0])
            else:
                mappings.set_status(session, organisation_id, mapping.id, MappingStatus.PUBLISHED)
        have.add(code.lower())
        result.mappings.append(mapping.code)
