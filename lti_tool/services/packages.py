"""Export and import content packages (issue 17); flush only, never commit.

``export_package`` writes the organisation's shareable content (the latest published
version of each framework, job-role profiles, the item bank, mappings, activities and
certification rules) into a package (``interchange.package``). It reads no person, attempt,
evidence, certificate, booking or session: nothing in it names anybody.

``preview_import`` reads a package and says, object by object, what would be created, what
the organisation already has (the same code, the same content) and what conflicts (the
same code, other content: the organisation's own is kept, never overwritten). Objects are
matched by their stable identifiers: a framework by its code, a competence by its CASE
identifier (then its code), everything else by its code. ``import_package`` writes what the
preview showed, all or nothing, and records where it came from (``PackageImport``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool import clock
from lti_tool.domain import certification_rules as rules
from lti_tool.domain.items import CompetenceRef, ItemData, OptionData, validate_item
from lti_tool.domain.texts import MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH
from lti_tool.domain.urls import is_web_url
from lti_tool.errors import ImportErrors
from lti_tool.interchange import case, job_roles_json
from lti_tool.interchange import package as fmt
from lti_tool.interchange.job_roles_json import JobRoleData
from lti_tool.interchange.model import (
    DESCRIPTION_TOO_LONG,
    NOT_A_WEB_ADDRESS,
    TITLE_TOO_LONG,
    FrameworkData,
    Problem,
    text_problems,
    validate_framework,
)
from lti_tool.interchange.questions import length_problems
from lti_tool.models import (
    AchievementType,
    Certification,
    CertificationStatus,
    Competence,
    Course,
    CourseCompetence,
    CourseKind,
    Framework,
    FrameworkVersion,
    GradePolicy,
    Item,
    ItemCompetence,
    ItemOption,
    JobRole,
    Mapping,
    MappingCompetence,
    MappingItem,
    MappingStatus,
    Organisation,
    PackageImport,
    PackageObject,
    Requirement,
    Selection,
    VersionStatus,
)
from lti_tool.services import framework_io

#: What an upload may be: one byte more is read to know it is too big.
MAX_UPLOAD = fmt.MAX_PACKAGE_BYTES

CREATE = "create"
EXISTS = "exists"
CONFLICT = "conflict"

_KINDS: dict[str, type[Any]] = {
    fmt.JOB_ROLES: JobRole,
    fmt.ITEMS: Item,
    fmt.MAPPINGS: Mapping,
    fmt.ACTIVITIES: Course,
    fmt.CERTIFICATIONS: Certification,
}

# --- objects as package data ----------------------------------------------------------------


def competence_ref(competence: Competence) -> dict[str, str]:
    return {
        "framework": competence.version.framework.code,
        "competence": competence.identifier,
        "code": competence.code,
    }


def _dump_item(item: Item) -> dict[str, Any]:
    return {
        "code": item.code,
        "kind": item.kind,
        "stem": dict(item.stem),
        "feedback": dict(item.feedback or {}),
        "outcome_feedback": item.outcome_feedback,
        "points": item.points,
        "settings": dict(item.settings or {}),
        "archived": item.archived,
        "options": [
            {
                "text": dict(o.text or {}),
                "fraction": o.fraction,
                "feedback": dict(o.feedback or {}),
                "value": o.value,
                "tolerance": o.tolerance,
            }
            for o in item.options
        ],
        "competences": [
            {**competence_ref(c.competence), "weight": c.weight} for c in item.competences
        ],
    }


def _dump_mapping(mapping: Mapping) -> dict[str, Any]:
    return {
        "code": mapping.code,
        "title": dict(mapping.title),
        "description": dict(mapping.description or {}),
        "job_role": mapping.job_role.code if mapping.job_role is not None else None,
        "status": str(mapping.status),
        "selection": str(mapping.selection),
        "items_per_competence": mapping.items_per_competence,
        "shuffle": mapping.shuffle,
        "time_limit_minutes": mapping.time_limit_minutes,
        "max_attempts": mapping.max_attempts,
        "min_days_between": mapping.min_days_between,
        "pass_percentage": mapping.pass_percentage,
        "grade_policy": str(mapping.grade_policy),
        "competences": [
            {**competence_ref(c.competence), "thresholds": dict(c.thresholds or {})}
            for c in mapping.competences
        ],
        "items": [link.item.code for link in mapping.items],
    }


def _dump_activity(course: Course) -> dict[str, Any]:
    return {
        "code": course.code,
        "title": dict(course.title),
        "description": dict(course.description or {}),
        "kind": str(course.kind),
        "lms_url": course.lms_url,
        "duration_minutes": course.duration_minutes,
        "language": course.language,
        "archived": course.archived,
        "competences": [
            {**competence_ref(c.competence), "level": c.level} for c in course.competences
        ],
    }


def _dump_certification(
    certification: Certification, rule: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> dict[str, Any] | None:
    earn = [rule(path) for path in certification.earn_paths or []]
    renew = [rule(path) for path in certification.renewal_paths or []]
    if any(path is None for path in earn + renew):
        return None
    return {
        "code": certification.code,
        "title": dict(certification.title),
        "description": dict(certification.description or {}),
        "criteria": dict(certification.criteria or {}),
        "achievement_type": str(certification.achievement_type),
        "status": str(certification.status),
        "earn_paths": earn,
        "renewal_paths": renew,
        "validity_months": certification.validity_months,
        "renewal_window_days": certification.renewal_window_days,
        "minimum_active_days": certification.minimum_active_days,
    }


def _map_rule(tree: dict[str, Any], leaf: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Any:
    """The tree with each leaf replaced by ``leaf(leaf)``; None when one cannot be."""
    for operator in rules.OPERATORS:
        if operator in tree:
            children = [_map_rule(child, leaf) for child in tree[operator]]
            return None if any(c is None for c in children) else {operator: children}
    return leaf(tree)


def _role_dict(role: JobRoleData) -> dict[str, Any]:
    """A job role as compared (the version number is the package's, so left out)."""
    return {
        "code": role.code,
        "title": role.title,
        "description": role.description,
        "archived": role.archived,
        "requirements": sorted(
            (r.framework, r.competence, r.required_level, r.mandatory, r.renewal_months or 0)
            for r in role.requirements
        ),
    }


# --- export ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    name: str
    version: str
    licence: str = "CC-BY-4.0"
    title: dict[str, str] = dataclasses.field(default_factory=dict)
    description: dict[str, str] = dataclasses.field(default_factory=dict)
    frameworks: Sequence[str] = ()
    """Framework codes; empty: every framework with a published version."""


def _of(session: Session, model: type[Any], organisation_id: int) -> list[Any]:
    return list(
        session.scalars(
            select(model).where(model.organisation_id == organisation_id).order_by(model.code)
        )
    )


def export_package(session: Session, organisation_id: int, request: ExportRequest) -> bytes:
    """The package of the organisation's content. An object is in it only with everything
    it names: its competences in the exported framework versions, its items, job role,
    mappings and activities."""
    organisation = session.get(Organisation, organisation_id)
    assert organisation is not None
    versions: dict[str, FrameworkVersion] = {}
    case_files: dict[str, bytes] = {}
    for framework in _of(session, Framework, organisation_id):
        if request.frameworks and framework.code not in request.frameworks:
            continue
        published = [v for v in framework.versions if v.status == VersionStatus.PUBLISHED]
        if not published:
            continue
        version = published[-1]
        versions[framework.code] = version
        case_files[framework.code] = case.dump(
            framework_io.version_data(version),
            creator=organisation.name,
            changed=version.published_at or version.created_at,
            adoption_status="Adopted",
            version=str(version.number),
        )
    exported = {(code, c.identifier) for code, v in versions.items() for c in v.competences}

    def within(competences: Iterable[Competence]) -> bool:
        return all((c.version.framework.code, c.identifier) in exported for c in competences)

    roles = [
        r
        for r in _of(session, JobRole, organisation_id)
        if within(q.competence for q in r.requirements)
    ]
    role_codes = {r.code for r in roles}
    items = [
        i
        for i in _of(session, Item, organisation_id)
        if within(c.competence for c in i.competences)
    ]
    item_codes = {i.code for i in items}
    mappings = [
        m
        for m in _of(session, Mapping, organisation_id)
        if within(c.competence for c in m.competences)
        and all(link.item.code in item_codes for link in m.items)
        and (m.job_role is None or m.job_role.code in role_codes)
    ]
    courses = [
        c
        for c in _of(session, Course, organisation_id)
        if within(link.competence for link in c.competences)
    ]
    names = {
        "mapping": {m.id: m.code for m in mappings},
        "course": {c.id: c.code for c in courses},
    }
    by_id = {c.id: c for v in versions.values() for c in v.competences}

    def leaf(condition: dict[str, Any]) -> dict[str, Any] | None:
        kind = condition.get("type")
        if kind == rules.COMPETENCE:
            competence = by_id.get(condition.get("competence_id", 0)) or session.get(
                Competence, condition.get("competence_id", 0)
            )
            if competence is None or not within([competence]):
                return None
            return {"type": kind, **competence_ref(competence), "level": condition["level"]}
        code = names.get(str(kind), {}).get(condition.get(f"{kind}_id", 0))
        return None if code is None else {"type": kind, str(kind): code}

    certifications = [
        dumped
        for dumped in (
            _dump_certification(c, lambda tree: _map_rule(tree, leaf))
            for c in _of(session, Certification, organisation_id)
        )
        if dumped is not None
    ]
    languages = sorted(
        {lang for v in versions.values() for lang in v.title} | set(request.title) or {"nb"}
    )
    manifest = fmt.Manifest(
        name=request.name,
        version=request.version,
        publisher=organisation.name,
        licence=request.licence,
        languages=languages,
        created=clock.now().astimezone(dt.UTC).isoformat(timespec="seconds"),
        title=dict(request.title),
        description=dict(request.description),
    )
    return fmt.write(
        manifest,
        case_files,
        {
            fmt.ITEMS: [_dump_item(i) for i in items],
            fmt.MAPPINGS: [_dump_mapping(m) for m in mappings],
            fmt.ACTIVITIES: [_dump_activity(c) for c in courses],
            fmt.CERTIFICATIONS: certifications,
        },
        job_roles_json.dump([framework_io.job_role_data(r) for r in roles]),
    )


# --- the preview ----------------------------------------------------------------------------


@dataclasses.dataclass
class Line:
    """One object of the package and what importing it would do."""

    kind: str
    code: str
    title: dict[str, str]
    status: str
    """``CREATE``, ``EXISTS`` (the same content is there) or ``CONFLICT`` (differs: kept as
    it is unless the designer takes a change)."""
    entry: Any = None
    existing: Any = None
    changes: list[Change] = dataclasses.field(default_factory=list)
    """A conflict's differences, field by field (a framework's: one, its content)."""

    @property
    def edited_here(self) -> bool:
        return any(change.edited_here for change in self.changes)


@dataclasses.dataclass(frozen=True)
class Change:
    """One field that differs between the object here and the package."""

    key: str
    """What the designer takes: ``kind:code:field`` (a framework: ``framework:code``)."""
    field: str
    here: Any
    there: Any
    edited_here: bool
    """Changed here since the package version it came from was imported (a local edit)."""
    changed_there: bool
    """Changed in the package since that version (or: the object did not come from it)."""


@dataclasses.dataclass
class Preview:
    manifest: fmt.Manifest
    sha256: str
    lines: list[Line]
    fingerprint: str
    previous: PackageImport | None = None
    """The organisation's latest import of a package of this name, if any."""

    def of(self, status: str) -> list[Line]:
        return [line for line in self.lines if line.status == status]

    @property
    def older(self) -> bool:
        """An older version of the package than the one imported here last."""
        return self.previous is not None and fmt.version_key(
            self.manifest.version
        ) < fmt.version_key(self.previous.version)

    def suggested(self) -> list[Change]:
        """The changes the package made that were not changed here: ticked by default."""
        return [
            change
            for line in self.lines
            for change in line.changes
            if change.changed_there and not change.edited_here
        ]


class _Resolver:
    """Competences by (framework code, identifier) and (framework code, code), and the
    codes of everything else, as they will be after the import."""

    def __init__(self) -> None:
        self.competences: dict[tuple[str, str], Any] = {}
        self.codes: dict[str, dict[str, Any]] = {kind: {} for kind in _KINDS}
        self.levels: dict[str, set[int]] = {}

    def add_version(self, code: str, version: FrameworkVersion | FrameworkData) -> None:
        if isinstance(version, FrameworkVersion):
            self.levels[code] = {lv.value for lv in version.levels}
            competences: Iterable[Any] = version.competences
        else:
            self.levels[code] = {lv.value for lv in version.levels}
            competences = version.competences
        for competence in competences:
            if competence.archived:
                continue
            self.competences[(code, f"id:{competence.identifier}")] = competence
            self.competences[(code, f"code:{competence.code}")] = competence

    def competence(self, ref: dict[str, Any]) -> Any:
        return self.competences.get(
            (ref["framework"], f"id:{ref['competence']}")
        ) or self.competences.get((ref["framework"], f"code:{ref['code']}"))


def _competence_problems(
    resolver: _Resolver, where: str, refs: Iterable[dict[str, Any]], levels: str | None = None
) -> list[Problem]:
    found = []
    for ref in refs:
        if resolver.competence(ref) is None:
            found.append(
                Problem(
                    where,
                    lazy_gettext(
                        "the competence %(code)s of %(framework)s is neither in the package "
                        "nor in the organisation",
                        code=ref["code"],
                        framework=ref["framework"],
                    ),
                )
            )
        elif levels and ref[levels] not in resolver.levels.get(ref["framework"], set()):
            found.append(
                Problem(
                    where,
                    lazy_gettext(
                        "level %(value)s is not on the scale of %(framework)s",
                        value=ref[levels],
                        framework=ref["framework"],
                    ),
                )
            )
    return found


def _snapshots(session: Session, organisation_id: int) -> dict[tuple[str, int], Any]:
    """(kind, object id) → the object as the latest package import that brought it had it."""
    rows = session.execute(
        select(PackageObject.kind, PackageObject.object_id, PackageObject.snapshot)
        .where(PackageObject.organisation_id == organisation_id)
        .order_by(PackageObject.id)
    )
    return {(kind, object_id): snapshot for kind, object_id, snapshot in rows}


def _framework_diff(here: FrameworkData, there: FrameworkData) -> dict[str, Any]:
    """What the package's version changes: competences added, removed, changed (by CASE
    identifier), and whether the scale or the title differs."""
    mine = {c.identifier or c.code: c for c in here.competences}
    theirs = {c.identifier or c.code: c for c in there.competences}

    def shown(c: Any) -> Any:
        return (
            c.code,
            sorted(c.title.items()),
            c.parent_key,
            c.archived,
            sorted(c.description.items()),
        )

    return {
        "added": sorted(theirs[k].code for k in set(theirs) - set(mine)),
        "removed": sorted(mine[k].code for k in set(mine) - set(theirs)),
        "changed": sorted(
            theirs[k].code for k in set(mine) & set(theirs) if shown(mine[k]) != shown(theirs[k])
        ),
        "scale": _framework_key(here)[0] != _framework_key(there)[0],
        "title": here.title != there.title,
    }


def _framework_lines(
    session: Session,
    organisation_id: int,
    package: fmt.Package,
    resolver: _Resolver,
    snapshots: dict[tuple[str, int], Any],
) -> tuple[list[Line], list[Problem]]:
    lines: list[Line] = []
    problems: list[Problem] = []
    for path, body in sorted(package.frameworks.items()):
        data, found = case.parse(body)
        if data is not None:
            found += validate_framework(data, publish=True)
        if data is None or found:
            problems += [
                Problem(f"{path}: {p.where}" if p.where else path, p.message) for p in found
            ]
            continue
        if any(line.code == data.code for line in lines):
            problems += _twice(path, [data.code, data.code])
            continue
        framework = session.scalar(
            select(Framework).where(
                Framework.organisation_id == organisation_id, Framework.code == data.code
            )
        )
        if framework is None:
            resolver.add_version(data.code, data)
            lines.append(Line(fmt.FRAMEWORK, data.code, data.title, CREATE, entry=data))
            continue
        published = [v for v in framework.versions if v.status == VersionStatus.PUBLISHED]
        current = published[-1] if published else framework.versions[-1]
        resolver.add_version(data.code, current)
        resolver.add_version(data.code, data)  # what an update would add, for the checks
        here = framework_io.version_data(current)
        line = Line(fmt.FRAMEWORK, data.code, data.title, EXISTS, entry=data, existing=current)
        if _framework_key(here) != _framework_key(data):
            before = snapshots.get((fmt.FRAMEWORK, framework.id))
            line.status = CONFLICT
            line.changes = [
                Change(
                    key=f"{fmt.FRAMEWORK}:{data.code}",
                    field="content",
                    here=current.number,
                    there=_framework_diff(here, data),
                    edited_here=before is not None
                    and not _same(before, _plain(_framework_key(here))),
                    changed_there=before is None or not _same(before, _plain(_framework_key(data))),
                )
            ]
        lines.append(line)
    return lines, problems


def _framework_key(data: FrameworkData) -> Any:
    """What a framework version holds, comparable between a package and the database (a
    parent named by its identifier: CASE files key competences by identifier, the tool by
    code)."""
    identifiers = {c.key: c.identifier or c.code for c in data.competences}
    return (
        sorted((lv.value, sorted(lv.label.items())) for lv in data.levels),
        sorted(
            (
                c.identifier or "",
                c.code,
                sorted(c.title.items()),
                identifiers.get(c.parent_key, "") if c.parent_key else "",
                c.archived,
            )
            for c in data.competences
        ),
    )


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _entries(package: fmt.Package, kind: str) -> list[dict[str, Any]]:
    if kind == fmt.JOB_ROLES:
        return []
    return list(fmt.entries(package, kind))


def _classify(
    kind: str,
    code: str,
    title: dict[str, str],
    entry: Any,
    existing: Any,
    dumped: Any,
    resolver: _Resolver,
    snapshot: Any = None,
) -> Line:
    if existing is None:
        resolver.codes[kind][code] = entry
        return Line(kind, code, title, CREATE, entry=entry)
    resolver.codes[kind][code] = existing
    there = _role_dict(entry) if kind == fmt.JOB_ROLES else entry
    if _same(dumped, there):
        return Line(kind, code, title, EXISTS, entry=entry, existing=existing)
    here, there = _plain(dumped), _plain(there)
    before = _plain(snapshot) if isinstance(snapshot, dict) else None
    changes = [
        Change(
            key=f"{kind}:{code}:{field}",
            field=field,
            here=here.get(field),
            there=there.get(field),
            edited_here=before is not None and not _same(here.get(field), before.get(field)),
            changed_there=before is None or not _same(there.get(field), before.get(field)),
        )
        for field in sorted(set(here) | set(there))
        if field != "code" and not _same(here.get(field), there.get(field))
    ]
    return Line(kind, code, title, CONFLICT, entry=entry, existing=existing, changes=changes)


def _plain(value: Any) -> Any:
    """As JSON has it (tuples become lists): what snapshots hold and compare with."""
    return json.loads(json.dumps(value, default=str))


def _plan(
    session: Session, organisation_id: int, package: fmt.Package
) -> tuple[list[Line], list[Problem]]:
    resolver = _Resolver()
    snapshots = _snapshots(session, organisation_id)
    lines, problems = _framework_lines(session, organisation_id, package, resolver, snapshots)
    if problems:
        return lines, problems
    have = {
        kind: {obj.code: obj for obj in _of(session, model, organisation_id)}
        for kind, model in _KINDS.items()
    }
    for kind, objects in have.items():
        resolver.codes[kind].update(objects)
    roles: list[JobRoleData] = []
    if package.job_roles is not None:
        roles, found = job_roles_json.parse(package.job_roles)
        problems += [Problem(f"{fmt.PATHS[fmt.JOB_ROLES]}: {p.where}", p.message) for p in found]
    problems += _twice(fmt.PATHS[fmt.JOB_ROLES], [role.code for role in roles])
    for kind in (fmt.ITEMS, fmt.MAPPINGS, fmt.ACTIVITIES, fmt.CERTIFICATIONS):
        problems += _twice(fmt.PATHS[kind], [e["code"] for e in _entries(package, kind)])
    for role in roles:
        where = f"{fmt.PATHS[fmt.JOB_ROLES]}: {role.code}"
        problems += _twice(where, [f"{r.framework}/{r.competence}" for r in role.requirements])
        refs = [
            {
                "framework": r.framework,
                "competence": "",
                "code": r.competence,
                "level": r.required_level,
            }
            for r in role.requirements
        ]
        problems += _competence_problems(resolver, where, refs, "level")
        existing = have[fmt.JOB_ROLES].get(role.code)
        dumped = _role_dict(framework_io.job_role_data(existing)) if existing is not None else None
        snapshot = snapshots.get((fmt.JOB_ROLES, existing.id)) if existing is not None else None
        lines.append(
            _classify(
                fmt.JOB_ROLES, role.code, role.title, role, existing, dumped, resolver, snapshot
            )
        )
    dumpers: dict[str, Callable[[Any], Any]] = {
        fmt.ITEMS: _dump_item,
        fmt.MAPPINGS: _dump_mapping,
        fmt.ACTIVITIES: _dump_activity,
        fmt.CERTIFICATIONS: lambda c: _dump_certification(
            c, lambda tree: _map_rule(tree, lambda leaf: _local_leaf(session, have, leaf))
        ),
    }
    for kind in (fmt.ITEMS, fmt.MAPPINGS, fmt.ACTIVITIES, fmt.CERTIFICATIONS):
        for entry in _entries(package, kind):
            where = f"{fmt.PATHS[kind]}: {entry['code']}"
            problems += _entry_problems(kind, where, entry, resolver)
            existing = have[kind].get(entry["code"])
            dumped = dumpers[kind](existing) if existing is not None else None
            title = entry.get("title") or entry.get("stem") or {}
            snapshot = snapshots.get((kind, existing.id)) if existing is not None else None
            lines.append(
                _classify(kind, entry["code"], title, entry, existing, dumped, resolver, snapshot)
            )
    return lines, problems


def _local_leaf(session: Session, have: dict[str, dict[str, Any]], leaf: dict[str, Any]) -> Any:
    kind = leaf.get("type")
    if kind == rules.COMPETENCE:
        competence = session.get(Competence, leaf.get("competence_id", 0))
        if competence is None:
            return None
        return {"type": kind, **competence_ref(competence), "level": leaf["level"]}
    ids = {
        obj.id: code
        for code, obj in have[fmt.MAPPINGS if kind == "mapping" else fmt.ACTIVITIES].items()
    }
    code = ids.get(leaf.get(f"{kind}_id", 0))
    return None if code is None else {"type": kind, str(kind): code}


def _named(
    resolver: _Resolver, kind: str, code: str | None, where: str, what: Any
) -> list[Problem]:
    if code is None or code in resolver.codes[kind]:
        return []
    return [
        Problem(
            where,
            lazy_gettext(
                "%(what)s %(code)s is neither in the package nor in the organisation",
                what=what,
                code=code,
            ),
        )
    ]


def _twice(where: str, refs: Iterable[Any]) -> list[Problem]:
    """A problem for each thing named twice in one list (a unique key in the database)."""
    seen: set[Any] = set()
    found = []
    for ref in refs:
        key = (ref["framework"], ref["competence"]) if isinstance(ref, dict) else ref
        if key in seen:
            code = ref["code"] if isinstance(ref, dict) else ref
            found.append(Problem(where, lazy_gettext("%(code)s is named twice", code=code)))
        seen.add(key)
    return found


def _item_data(entry: dict[str, Any]) -> ItemData:
    return ItemData(
        kind=entry["kind"],
        stem=entry["stem"],
        code=entry["code"],
        points=float(entry.get("points", 1.0)),
        feedback=entry.get("feedback") or {},
        settings=entry.get("settings") or {},
        outcome_feedback=entry.get("outcome_feedback") or {},
        options=tuple(
            OptionData(
                text=o.get("text") or {},
                fraction=float(o["fraction"]),
                feedback=o.get("feedback") or {},
                value=o.get("value"),
                tolerance=o.get("tolerance"),
            )
            for o in entry.get("options") or ()
        ),
        competences=tuple(
            CompetenceRef(ref["code"], float(ref["weight"])) for ref in entry["competences"]
        ),
    )


def _text_problems(where: str, entry: dict[str, Any]) -> list[Problem]:
    """Titles and descriptions longer than the tool's forms take (or holding NUL)."""
    found = text_problems(where, entry.get("title") or {}, MAX_TITLE_LENGTH, TITLE_TOO_LONG)
    for name in ("description", "criteria"):
        found += text_problems(
            where, entry.get(name) or {}, MAX_DESCRIPTION_LENGTH, DESCRIPTION_TOO_LONG
        )
    return found


def _entry_problems(
    kind: str, where: str, entry: dict[str, Any], resolver: _Resolver
) -> list[Problem]:
    if kind == fmt.ITEMS:
        item = _item_data(entry)
        found = _competence_problems(resolver, where, entry["competences"])
        found += _twice(where, entry["competences"]) + length_problems(item, where)
        found += [Problem(where, message) for message in validate_item(item)]
        return found
    found = _text_problems(where, entry)
    if kind == fmt.MAPPINGS:
        found += _competence_problems(resolver, where, entry["competences"])
        found += _twice(where, entry["competences"]) + _twice(where, entry["items"])
        found += _named(
            resolver, fmt.JOB_ROLES, entry.get("job_role"), where, lazy_gettext("the job role")
        )
        for code in entry["items"]:
            found += _named(resolver, fmt.ITEMS, code, where, lazy_gettext("the item"))
        return found
    if kind == fmt.ACTIVITIES:
        found += _competence_problems(resolver, where, entry["competences"], "level")
        if entry.get("lms_url") is not None and not is_web_url(entry["lms_url"]):
            found.append(Problem(where, NOT_A_WEB_ADDRESS))
        return found + _twice(where, entry["competences"])
    for tree in entry["earn_paths"] + entry.get("renewal_paths", []):
        for leaf in rules.leaves(tree):
            if leaf["type"] == rules.COMPETENCE:
                found += _competence_problems(resolver, where, [leaf], "level")
            elif leaf["type"] == rules.MAPPING:
                found += _named(
                    resolver, fmt.MAPPINGS, leaf["mapping"], where, lazy_gettext("the mapping")
                )
            else:
                found += _named(
                    resolver, fmt.ACTIVITIES, leaf["course"], where, lazy_gettext("the activity")
                )
    return found


def _fingerprint(sha256: str, lines: Sequence[Line]) -> str:
    plan = [(line.kind, line.code, line.status) for line in lines]
    return hashlib.sha256(json.dumps([sha256, plan]).encode()).hexdigest()


def _as_import_errors(exc: fmt.Refused) -> ImportErrors:
    return ImportErrors(exc.problems)


def preview_import(session: Session, organisation_id: int, data: bytes) -> Preview:
    """What importing the package would do; ``ImportErrors`` naming each entry when it
    cannot be imported. Writes nothing."""
    try:
        package = fmt.read(data)
    except fmt.Refused as exc:
        raise _as_import_errors(exc) from None
    lines, problems = _plan(session, organisation_id, package)
    if problems:
        raise ImportErrors(problems)
    sha256 = hashlib.sha256(data).hexdigest()
    previous = session.scalar(
        select(PackageImport)
        .where(
            PackageImport.organisation_id == organisation_id,
            PackageImport.name == package.manifest.name,
        )
        .order_by(PackageImport.id.desc())
        .limit(1)
    )
    return Preview(package.manifest, sha256, lines, _fingerprint(sha256, lines), previous)


# --- the import -----------------------------------------------------------------------------


class PreviewChanged(ImportErrors):
    pass


def import_package(
    session: Session,
    organisation_id: int,
    data: bytes,
    *,
    fingerprint: str | None = None,
    person_id: int | None = None,
    take: Iterable[str] = (),
) -> PackageImport:
    """Write what the preview shows, all or nothing: create what is new, and of what
    differs only the changes named in ``take`` (``Change.key``s; a framework's makes a new
    published version, never changing a published one). With ``fingerprint`` (the preview
    the person saw): refused when the organisation changed since."""
    preview = preview_import(session, organisation_id, data)
    if fingerprint is not None and fingerprint != preview.fingerprint:
        raise ImportErrors(
            [
                Problem(
                    "",
                    lazy_gettext(
                        "the organisation's content changed since the preview: preview again"
                    ),
                )
            ]
        )
    wanted = set(take)
    with session.begin_nested():  # a failure half-way leaves nothing
        return _write(session, organisation_id, preview, wanted, person_id)


def _write(
    session: Session,
    organisation_id: int,
    preview: Preview,
    take: set[str],
    person_id: int | None,
) -> PackageImport:
    record = PackageImport(
        organisation_id=organisation_id,
        name=preview.manifest.name,
        version=preview.manifest.version,
        publisher=preview.manifest.publisher,
        licence=preview.manifest.licence,
        sha256=preview.sha256,
        imported_by_id=person_id,
    )
    session.add(record)
    resolver = _Resolver()
    made: dict[str, dict[str, Any]] = {
        kind: {obj.code: obj for obj in _of(session, model, organisation_id)}
        for kind, model in _KINDS.items()
    }
    for line in preview.lines:
        if line.kind == fmt.FRAMEWORK:
            version = _write_framework_line(session, organisation_id, line, take)
            resolver.add_version(line.code, version)
            if line.status != CONFLICT or any(c.key in take for c in line.changes):
                _remember(
                    record, fmt.FRAMEWORK, version.framework_id, line, _framework_key(line.entry)
                )
            continue
        there = _role_dict(line.entry) if line.kind == fmt.JOB_ROLES else line.entry
        if line.status == CREATE:
            obj = _WRITERS[line.kind](session, organisation_id, line.entry, resolver, made)
            session.add(obj)
            session.flush()
            made[line.kind][line.code] = obj
            _remember(record, line.kind, obj.id, line, there)
            continue
        fields = {c.field for c in line.changes if c.key in take}
        if fields:
            _update(session, organisation_id, line, fields, resolver, made)
        if line.status == EXISTS or fields:
            _remember(record, line.kind, line.existing.id, line, there)
    session.flush()
    return record


def _write_framework_line(
    session: Session, organisation_id: int, line: Line, take: set[str]
) -> FrameworkVersion:
    if line.status == CREATE:
        return framework_io.write_framework(
            session, organisation_id, line.entry, source="package", publish=True
        )
    current: FrameworkVersion = line.existing
    if not any(c.key in take for c in line.changes):
        return current
    drafts = [v for v in current.framework.versions if v.status == VersionStatus.DRAFT]
    if drafts:
        raise ImportErrors(
            [
                Problem(
                    line.code,
                    lazy_gettext(
                        "%(framework)s has a draft (version %(number)s): publish or delete it "
                        "before taking the package's update",
                        framework=line.code,
                        number=drafts[0].number,
                    ),
                )
            ]
        )
    return framework_io.write_version(
        session, organisation_id, current.framework, line.entry, source="package"
    )


#: What an update copies from the object the package describes, by kind: its columns …
_COLUMNS = {
    fmt.JOB_ROLES: ("title", "description", "archived"),
    fmt.ITEMS: ("kind", "stem", "feedback", "outcome_feedback", "points", "settings", "archived"),
    fmt.MAPPINGS: (
        "title", "description", "job_role", "status", "selection", "items_per_competence",
        "shuffle", "time_limit_minutes", "max_attempts", "min_days_between",
        "pass_percentage", "grade_policy",
    ),
    fmt.ACTIVITIES: (
        "title", "description", "kind", "lms_url", "duration_minutes", "language", "archived",
    ),
    fmt.CERTIFICATIONS: (
        "title", "description", "criteria", "achievement_type", "status", "earn_paths",
        "renewal_paths", "validity_months", "renewal_window_days", "minimum_active_days",
    ),
}  # fmt: skip
#: … and its lists of rows (replaced whole).
_ROWS = {
    fmt.JOB_ROLES: ("requirements",),
    fmt.ITEMS: ("competences",),
    fmt.MAPPINGS: ("competences", "items"),
    fmt.ACTIVITIES: ("competences",),
    fmt.CERTIFICATIONS: (),
}


def _update(
    session: Session,
    organisation_id: int,
    line: Line,
    fields: set[str],
    resolver: _Resolver,
    made: dict[str, dict[str, Any]],
) -> None:
    """Take the package's value of each of ``fields`` into the object here; the rest stays.
    The package's object is built as if new (not added), and what was taken copied over."""
    obj = line.existing
    fresh = _WRITERS[line.kind](session, organisation_id, line.entry, resolver, made)
    for name in _COLUMNS[line.kind]:
        if name in fields:
            setattr(obj, name, getattr(fresh, name))
    for name in _ROWS[line.kind]:
        if name in fields:
            rows = list(getattr(fresh, name))
            setattr(fresh, name, [])
            setattr(obj, name, [])
            session.flush()  # the old rows go before the new ones (unique keys)
            setattr(obj, name, rows)
    if line.kind == fmt.ITEMS and "options" in fields:
        _update_options(session, obj, fresh)
    if fresh in session:
        session.expunge(fresh)
    session.flush()


def _update_options(session: Session, item: Item, fresh: Item) -> None:
    """Options change in place, by position: answers already given name them by id."""
    new = list(fresh.options)
    fresh.options = []
    for position, option in enumerate(new):
        if position < len(item.options):
            kept = item.options[position]
            for name in ("text", "fraction", "feedback", "value", "tolerance"):
                setattr(kept, name, getattr(option, name))
        else:
            item.options.append(
                ItemOption(
                    position=position,
                    text=option.text,
                    fraction=option.fraction,
                    feedback=option.feedback,
                    value=option.value,
                    tolerance=option.tolerance,
                )
            )
    del item.options[len(new) :]


def _remember(record: PackageImport, kind: str, object_id: int, line: Line, there: Any) -> None:
    record.objects.append(
        PackageObject(
            organisation_id=record.organisation_id,
            kind=kind,
            object_id=object_id,
            code=line.code,
            snapshot=_plain(there),
        )
    )


def _competence(resolver: _Resolver, ref: dict[str, Any]) -> Competence:
    found = resolver.competence(ref)
    if not isinstance(found, Competence):  # in the package's framework update, not taken
        raise ImportErrors(
            [
                Problem(
                    ref["framework"],
                    lazy_gettext(
                        "the competence %(code)s is only in the package's version of "
                        "%(framework)s: take that update too",
                        code=ref["code"],
                        framework=ref["framework"],
                    ),
                )
            ]
        )
    return found


def _write_job_role(
    session: Session, organisation_id: int, role: JobRoleData, resolver: _Resolver, made: Any
) -> JobRole:
    return JobRole(
        organisation_id=organisation_id,
        code=role.code,
        title=role.title,
        description=role.description,
        archived=role.archived,
        requirements=[
            Requirement(
                competence=_competence(
                    resolver, {"framework": r.framework, "competence": "", "code": r.competence}
                ),
                required_level=r.required_level,
                mandatory=r.mandatory,
                renewal_months=r.renewal_months,
            )
            for r in role.requirements
        ],
    )


def _write_item(
    session: Session, organisation_id: int, entry: dict[str, Any], resolver: _Resolver, made: Any
) -> Item:
    return Item(
        organisation_id=organisation_id,
        code=entry["code"],
        kind=entry["kind"],
        stem=entry["stem"],
        feedback=entry.get("feedback") or {},
        outcome_feedback=entry.get("outcome_feedback"),
        points=entry.get("points", 1.0),
        settings=entry.get("settings") or {},
        archived=entry.get("archived", False),
        source="package",
        options=[
            ItemOption(
                position=position,
                text=o["text"],
                fraction=o["fraction"],
                feedback=o.get("feedback") or {},
                value=o.get("value"),
                tolerance=o.get("tolerance"),
            )
            for position, o in enumerate(entry.get("options") or [])
        ],
        competences=[
            ItemCompetence(competence=_competence(resolver, ref), weight=ref["weight"])
            for ref in entry["competences"]
        ],
    )


def _write_mapping(
    session: Session, organisation_id: int, entry: dict[str, Any], resolver: _Resolver, made: Any
) -> Mapping:
    role = entry.get("job_role")
    return Mapping(
        organisation_id=organisation_id,
        code=entry["code"],
        title=entry["title"],
        description=entry.get("description") or {},
        job_role=made[fmt.JOB_ROLES][role] if role else None,
        status=MappingStatus(entry["status"]),
        selection=Selection(entry.get("selection", "fixed")),
        items_per_competence=entry.get("items_per_competence"),
        shuffle=entry.get("shuffle", False),
        time_limit_minutes=entry.get("time_limit_minutes"),
        max_attempts=entry.get("max_attempts"),
        min_days_between=entry.get("min_days_between"),
        pass_percentage=entry.get("pass_percentage"),
        grade_policy=GradePolicy(entry.get("grade_policy", "highest")),
        competences=[
            MappingCompetence(
                competence=_competence(resolver, ref), thresholds=ref.get("thresholds") or {}
            )
            for ref in entry["competences"]
        ],
        items=[
            MappingItem(item=made[fmt.ITEMS][code], position=position)
            for position, code in enumerate(entry["items"])
        ],
    )


def _write_activity(
    session: Session, organisation_id: int, entry: dict[str, Any], resolver: _Resolver, made: Any
) -> Course:
    return Course(
        organisation_id=organisation_id,
        code=entry["code"],
        title=entry["title"],
        description=entry.get("description") or {},
        kind=CourseKind(entry["kind"]),
        lms_url=entry.get("lms_url"),
        duration_minutes=entry.get("duration_minutes"),
        language=entry.get("language"),
        archived=entry.get("archived", False),
        competences=[
            CourseCompetence(
                organisation_id=organisation_id,
                competence=_competence(resolver, ref),
                level=ref["level"],
            )
            for ref in entry["competences"]
        ],
    )


def _write_certification(
    session: Session, organisation_id: int, entry: dict[str, Any], resolver: _Resolver, made: Any
) -> Certification:
    def leaf(condition: dict[str, Any]) -> dict[str, Any]:
        kind = condition["type"]
        if kind == rules.COMPETENCE:
            return {
                "type": kind,
                "competence_id": _competence(resolver, condition).id,
                "level": condition["level"],
            }
        target = made[fmt.MAPPINGS if kind == rules.MAPPING else fmt.ACTIVITIES][condition[kind]]
        return {"type": kind, f"{kind}_id": target.id}

    return Certification(
        organisation_id=organisation_id,
        code=entry["code"],
        uuid=str(uuid.uuid4()),
        title=entry["title"],
        description=entry.get("description") or {},
        criteria=entry.get("criteria") or {},
        achievement_type=AchievementType(entry.get("achievement_type", "Certificate")),
        status=CertificationStatus(entry["status"]),
        earn_paths=[_map_rule(tree, leaf) for tree in entry["earn_paths"]],
        renewal_paths=[_map_rule(tree, leaf) for tree in entry.get("renewal_paths", [])],
        validity_months=entry.get("validity_months"),
        renewal_window_days=entry.get("renewal_window_days"),
        minimum_active_days=entry.get("minimum_active_days"),
    )


_WRITERS: dict[str, Callable[..., Any]] = {
    fmt.JOB_ROLES: _write_job_role,
    fmt.ITEMS: _write_item,
    fmt.MAPPINGS: _write_mapping,
    fmt.ACTIVITIES: _write_activity,
    fmt.CERTIFICATIONS: _write_certification,
}


def list_imports(session: Session, organisation_id: int) -> Sequence[PackageImport]:
    return session.scalars(
        select(PackageImport)
        .where(PackageImport.organisation_id == organisation_id)
        .order_by(PackageImport.id.desc())
    ).all()


def origin(
    session: Session, organisation_id: int, kind: str, object_id: int
) -> PackageImport | None:
    """The package an object came from (its latest import), or None if made here."""
    return session.scalar(
        select(PackageImport)
        .join(PackageObject)
        .where(
            PackageObject.organisation_id == organisation_id,
            PackageObject.kind == kind,
            PackageObject.object_id == object_id,
        )
        .order_by(PackageImport.id.desc())
        .limit(1)
    )
