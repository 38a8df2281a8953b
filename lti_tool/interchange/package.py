"""Content packages: a versioned zip an organisation shares with others (issue 17).

A package holds ``manifest.json`` (what the package is, who published it under which
licence, and a sha256 per entry) and one JSON document per object type:

- ``frameworks/<code>.case.json``: each framework's version as CASE 1.0 JSON
  (``interchange.case``);
- ``job-roles.json``: job-role profiles (``interchange.job_roles_json``);
- ``items.json``, ``mappings.json``, ``certifications.json``, ``activities.json``: the
  item bank, skills mappings, certification rules and catalogue activities (without
  sessions or people) in the tool's own JSON, described by ``SCHEMA``.

A competence is named across organisations by its framework's code, its CASE identifier
(kept across versions and installations) and its code: ``{"framework", "competence",
"code"}``. Nothing in a package names a person.

``read`` opens a package from outside: every limit (size, entry count, compression
ratio), every entry name (no traversal, no absolute path, no symlink, no duplicate), the
manifest's format version and checksums and each document's schema are checked before
anything is used, and every problem names its entry. The JSON Schema (draft 2020-12) is
published at ``/schemas/package-v1.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import re
import stat
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext

from lti_tool.interchange.model import MAX_IMPORT_BYTES, Problem

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

FORMAT = "laeringslop-package"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCHEMA_ID = "/schemas/package-v1.json"

#: A package file: at most this big as uploaded (what the import routes take) …
MAX_PACKAGE_BYTES = MAX_IMPORT_BYTES
#: … holding at most this many entries …
MAX_ENTRIES = 200
#: … each at most this big unpacked …
MAX_ENTRY_BYTES = 5 * 1024 * 1024
#: … and all together at most this big unpacked …
MAX_TOTAL_BYTES = 20 * 1024 * 1024
#: … none compressed more than this (unpacked size over packed size): a zip bomb's is
#: in the thousands, JSON's seldom above 20.
MAX_RATIO = 100

FRAMEWORK = "framework"
FRAMEWORKS_DIRECTORY = "frameworks/"
JOB_ROLES = "job_roles"
ITEMS = "items"
MAPPINGS = "mappings"
CERTIFICATIONS = "certifications"
ACTIVITIES = "activities"
#: Entry types in the order they are written on import (what refers after what it names).
TYPES = (FRAMEWORK, JOB_ROLES, ITEMS, MAPPINGS, ACTIVITIES, CERTIFICATIONS)
PATHS = {
    JOB_ROLES: "job-roles.json",
    ITEMS: "items.json",
    MAPPINGS: "mappings.json",
    CERTIFICATIONS: "certifications.json",
    ACTIVITIES: "activities.json",
}
DOCUMENT_FORMATS = {
    JOB_ROLES: "laeringslop-job-roles",
    ITEMS: "laeringslop-items",
    MAPPINGS: "laeringslop-package-mappings",
    CERTIFICATIONS: "laeringslop-certifications",
    ACTIVITIES: "laeringslop-activities",
}
#: The document's key holding its list.
LIST_KEYS = {
    JOB_ROLES: "job_roles",
    ITEMS: "items",
    MAPPINGS: "mappings",
    CERTIFICATIONS: "certifications",
    ACTIVITIES: "activities",
}

_CODE = {"type": "string", "minLength": 1, "maxLength": 100}
_TEXT = {
    "type": "object",
    "propertyNames": {"pattern": "^[a-z]{2,3}(-[A-Za-z0-9]+)?$"},
    "additionalProperties": {"type": "string", "maxLength": 20000},
}
#: Whole numbers stay far inside a database integer.
MAX_COUNT = 1_000_000
_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": -1e12, "maximum": 1e12}
_COUNT_OR_NULL = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_COUNT}
_LEVEL = {"type": "integer", "minimum": 1, "maximum": 100}
#: How deep a document's JSON may nest (a certification's rules nest five deep at most).
MAX_DEPTH = 32


def _document(key: str, fmt: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["format", "version", key],
        "properties": {
            "format": {"const": fmt},
            "version": {"const": 1},
            key: {"type": "array", "maxItems": 5000, "items": item},
        },
    }


def _strict(required: Sequence[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "additionalProperties": False,
        "properties": properties,
    }


_COMPETENCE_REF = _strict(
    ["framework", "competence", "code"],
    framework=_CODE,
    competence=_CODE,
    code=_CODE,
)
_OPTION = _strict(
    ["text", "fraction"],
    text=_TEXT,
    fraction={"type": "number", "minimum": -1, "maximum": 1},
    feedback=_TEXT,
    value=_NUMBER_OR_NULL,
    tolerance=_NUMBER_OR_NULL,
)
_ITEM = _strict(
    ["code", "kind", "stem", "competences"],
    code=_CODE,
    kind={"type": "string", "maxLength": 30},
    stem=_TEXT,
    feedback=_TEXT,
    outcome_feedback={"type": ["object", "null"], "additionalProperties": _TEXT},
    points={"type": "number", "minimum": 0, "maximum": 1e6},
    settings={"type": "object"},
    archived={"type": "boolean"},
    options={"type": "array", "maxItems": 100, "items": _OPTION},
    competences={
        "type": "array",
        "maxItems": 50,
        "items": {
            **_COMPETENCE_REF,
            "required": ["framework", "competence", "code", "weight"],
            "properties": {
                **_COMPETENCE_REF["properties"],
                "weight": {"type": "number", "minimum": 0, "maximum": 1e6},
            },
        },
    },
)
_MAPPING = _strict(
    ["code", "title", "status", "competences", "items"],
    code=_CODE,
    title=_TEXT,
    description=_TEXT,
    job_role={"type": ["string", "null"], "maxLength": 100},
    status={"enum": ["draft", "published", "archived"]},
    selection={"enum": ["fixed", "random"]},
    items_per_competence=_COUNT_OR_NULL,
    shuffle={"type": "boolean"},
    time_limit_minutes=_COUNT_OR_NULL,
    max_attempts=_COUNT_OR_NULL,
    min_days_between=_COUNT_OR_NULL,
    pass_percentage=_NUMBER_OR_NULL,
    grade_policy={"enum": ["highest", "latest"]},
    competences={
        "type": "array",
        "maxItems": 500,
        "items": {
            **_COMPETENCE_REF,
            "properties": {
                **_COMPETENCE_REF["properties"],
                "thresholds": {
                    "type": "object",
                    "maxProperties": 100,
                    "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
                },
            },
        },
    },
    items={"type": "array", "maxItems": 2000, "items": _CODE},
)
_CONDITION: dict[str, Any] = {
    "oneOf": [
        _strict(["all"], all={"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}}),
        _strict(["any"], any={"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}}),
        _strict(
            ["type", "framework", "competence", "code", "level"],
            type={"const": "competence"},
            framework=_CODE,
            competence=_CODE,
            code=_CODE,
            level=_LEVEL,
        ),
        _strict(["type", "mapping"], type={"const": "mapping"}, mapping=_CODE),
        _strict(["type", "course"], type={"const": "course"}, course=_CODE),
    ]
}
_CERTIFICATION = _strict(
    ["code", "title", "status", "earn_paths"],
    code=_CODE,
    title=_TEXT,
    description=_TEXT,
    criteria=_TEXT,
    achievement_type={"enum": ["Certificate", "Competency"]},
    status={"enum": ["draft", "published", "archived"]},
    earn_paths={"type": "array", "maxItems": 20, "items": {"$ref": "#/$defs/rule"}},
    renewal_paths={"type": "array", "maxItems": 20, "items": {"$ref": "#/$defs/rule"}},
    validity_months=_COUNT_OR_NULL,
    renewal_window_days=_COUNT_OR_NULL,
    minimum_active_days=_COUNT_OR_NULL,
)
_ACTIVITY = _strict(
    ["code", "title", "kind", "competences"],
    code=_CODE,
    title=_TEXT,
    description=_TEXT,
    kind={"enum": ["classroom", "elearning", "practical"]},
    lms_url={"type": ["string", "null"], "maxLength": 2048, "pattern": "^https?://"},
    duration_minutes=_COUNT_OR_NULL,
    language={"type": ["string", "null"], "maxLength": 10},
    archived={"type": "boolean"},
    competences={
        "type": "array",
        "maxItems": 200,
        "items": {
            **_COMPETENCE_REF,
            "required": ["framework", "competence", "code", "level"],
            "properties": {
                **_COMPETENCE_REF["properties"],
                "level": _LEVEL,
            },
        },
    },
)
_ENTRY_PATH = {
    "type": "string",
    "maxLength": 200,
    "pattern": r"^(frameworks/[A-Za-z0-9._-]+\.case\.json|[a-z-]+\.json)$",
}
_MANIFEST = _strict(
    [
        "format",
        "format_version",
        "name",
        "version",
        "publisher",
        "licence",
        "languages",
        "created",
        "entries",
    ],
    format={"const": FORMAT},
    format_version={"type": "integer"},
    name={"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"},
    version={"type": "string", "pattern": r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$"},
    title=_TEXT,
    description=_TEXT,
    publisher=_strict(["organisation"], organisation={"type": "string", "maxLength": 200}),
    licence={"type": "string", "minLength": 1, "maxLength": 100},
    languages={
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": "^[a-z]{2,3}$"},
    },
    created={"type": "string", "format": "date-time", "maxLength": 40},
    entries={
        "type": "array",
        "maxItems": MAX_ENTRIES,
        "items": _strict(
            ["path", "type", "sha256", "size"],
            path=_ENTRY_PATH,
            type={"enum": list(TYPES)},
            sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"},
            size={"type": "integer", "minimum": 0},
        ),
    },
)
_CASE = {
    "type": "object",
    "required": ["CFDocument", "CFItems"],
    "properties": {
        "CFDocument": {"type": "object", "required": ["identifier"]},
        "CFItems": {"type": "array"},
    },
}

#: The JSON Schema (draft 2020-12) of the manifest and every document, by name in $defs.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Læringsløp content package, format version 1",
    "description": (
        "A zip holding manifest.json (#/$defs/manifest) and the documents it lists, each with "
        "its sha256: frameworks as CASE 1.0 JSON (#/$defs/framework), job-role profiles "
        "(#/$defs/job_roles), items, mappings, certifications and activities."
    ),
    "$ref": "#/$defs/manifest",
    "$defs": {
        "manifest": _MANIFEST,
        "rule": _CONDITION,
        FRAMEWORK: _CASE,
        JOB_ROLES: {"type": "object", "required": ["format", "version", "job_roles"]},
        ITEMS: _document("items", DOCUMENT_FORMATS[ITEMS], _ITEM),
        MAPPINGS: _document("mappings", DOCUMENT_FORMATS[MAPPINGS], _MAPPING),
        CERTIFICATIONS: _document(
            "certifications", DOCUMENT_FORMATS[CERTIFICATIONS], _CERTIFICATION
        ),
        ACTIVITIES: _document("activities", DOCUMENT_FORMATS[ACTIVITIES], _ACTIVITY),
    },
}


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    """The JSON Schema validator of one document type, made when a package is first read:
    jsonschema and its dependencies cost every web worker about 2.6 MB of resident memory
    that only reading packages needs."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{name}"})


# --- the package as data --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    publisher: str
    licence: str
    languages: list[str]
    created: str
    title: dict[str, str] = dataclasses.field(default_factory=dict)
    description: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Package:
    manifest: Manifest
    frameworks: dict[str, bytes] = dataclasses.field(default_factory=dict)
    """path → the CASE document's bytes (parsed by ``interchange.case``)."""
    documents: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    """type → the document's list (job roles: the raw bytes are in ``job_roles``)."""
    job_roles: bytes | None = None


def version_key(version: str) -> tuple[int, ...]:
    """``"1.2"`` → (1, 2, 0): versions compare as numbers."""
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def write(
    manifest: Manifest,
    frameworks: Mapping[str, bytes],
    documents: Mapping[str, list[dict[str, Any]]],
    job_roles: bytes,
) -> bytes:
    """The zip: ``frameworks`` by code (CASE bytes), ``documents`` by type (their lists)."""
    entries: list[tuple[str, str, bytes]] = [
        (f"{FRAMEWORKS_DIRECTORY}{code}.case.json", FRAMEWORK, data)
        for code, data in frameworks.items()
    ]
    entries.append((PATHS[JOB_ROLES], JOB_ROLES, job_roles))
    for kind in (ITEMS, MAPPINGS, ACTIVITIES, CERTIFICATIONS):
        body = {"format": DOCUMENT_FORMATS[kind], "version": 1, LIST_KEYS[kind]: documents[kind]}
        entries.append((PATHS[kind], kind, _json(body)))
    head = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": manifest.name,
        "version": manifest.version,
        "title": manifest.title,
        "description": manifest.description,
        "publisher": {"organisation": manifest.publisher},
        "licence": manifest.licence,
        "languages": manifest.languages,
        "created": manifest.created,
        "entries": [
            {
                "path": path,
                "type": kind,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
            for path, kind, data in entries
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _json(head))
        for path, _kind, data in entries:
            zf.writestr(path, data)
    return out.getvalue()


# --- reading a package from outside ---------------------------------------------------------


class Refused(Exception):
    """The package is refused; ``problems`` name each entry and what is wrong."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")  # lazy texts: translated when shown
        self.problems = problems


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or "\\" in name
        or bool(_DRIVE.match(name))
        or any(part in ("..", ".") for part in parts)
        or "\x00" in name
    )


def _problem(entry: str, message: Any) -> Problem:
    return Problem(entry, message)


def _check_entries(infos: list[zipfile.ZipInfo]) -> list[Problem]:
    """Every entry's problems, directories included: they hold nothing the import reads,
    but count towards ``MAX_ENTRIES`` and must not name a way out either."""
    problems: list[Problem] = []
    if len(infos) > MAX_ENTRIES:
        problems.append(
            _problem(
                "",
                lazy_gettext(
                    "the package has %(count)s entries; at most %(max)s are allowed",
                    count=len(infos),
                    max=MAX_ENTRIES,
                ),
            )
        )
        return problems
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        mode = info.external_attr >> 16
        if _unsafe_name(name):
            problems.append(
                _problem(name, lazy_gettext("the entry's name leaves the package (../ or /)"))
            )
            continue
        if info.is_dir():
            if info.file_size:
                problems.append(_problem(name, lazy_gettext("the directory entry holds data")))
            continue
        if stat.S_ISLNK(mode):
            problems.append(_problem(name, lazy_gettext("the entry is a symbolic link")))
            continue
        if name.lower() in seen:
            problems.append(_problem(name, lazy_gettext("the entry is in the package twice")))
            continue
        seen.add(name.lower())
        if info.flag_bits & 0x1:
            problems.append(_problem(name, lazy_gettext("the entry is encrypted")))
            continue
        if info.file_size > MAX_ENTRY_BYTES:
            problems.append(
                _problem(
                    name,
                    lazy_gettext(
                        "the entry is %(size)s bytes unpacked; at most %(max)s are allowed",
                        size=info.file_size,
                        max=MAX_ENTRY_BYTES,
                    ),
                )
            )
            continue
        if info.file_size > 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            problems.append(
                _problem(
                    name,
                    lazy_gettext(
                        "the entry is compressed more than %(ratio)s to 1 (a zip bomb?)",
                        ratio=MAX_RATIO,
                    ),
                )
            )
            continue
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        problems.append(
            _problem(
                "",
                lazy_gettext(
                    "the package is %(size)s bytes unpacked; at most %(max)s are allowed",
                    size=total,
                    max=MAX_TOTAL_BYTES,
                ),
            )
        )
    return problems


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes, never more than its declared size (a lying header is refused)."""
    with zf.open(info) as stream:
        data = stream.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ValueError("size")
    return data


def _schema_problems(entry: str, name: str, document: Any) -> list[Problem]:
    found = []
    for error in sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))[:10]:
        where = "/".join(str(p) for p in error.absolute_path)
        found.append(
            _problem(
                f"{entry}: {where}" if where else entry,
                lazy_gettext("does not match the package schema: %(error)s", error=error.message),
            )
        )
    return found


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON


#: The largest number (either sign) a document may hold anywhere: every number the tool
#: stores is far smaller, and a larger one (or 1e999, read as infinity) no database takes.
MAX_NUMBER = 1e15


class _NumberTooLarge(ValueError):
    pass


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise _NumberTooLarge(text[:40])
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 16:  # checked before converting: no giant int is ever made
        raise _NumberTooLarge(text[:40])
    value = int(text)
    if abs(value) > MAX_NUMBER:
        raise _NumberTooLarge(text[:40])
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def _load_json(entry: str, data: bytes, problems: list[Problem]) -> Any:
    try:
        loaded = json.loads(
            data.decode("utf-8"), parse_constant=_no_constant, parse_float=_float, parse_int=_int
        )
    except _NumberTooLarge:
        problems.append(
            _problem(
                entry,
                lazy_gettext(
                    "the entry holds a number larger than %(max)s or not finite",
                    max=f"{MAX_NUMBER:.0e}",
                ),
            )
        )
        return None
    except (UnicodeDecodeError, ValueError, RecursionError):
        problems.append(_problem(entry, lazy_gettext("the entry is not JSON in UTF-8")))
        return None
    if _depth(loaded) > MAX_DEPTH:
        problems.append(
            _problem(
                entry, lazy_gettext("the entry nests deeper than %(max)s levels", max=MAX_DEPTH)
            )
        )
        return None
    if _has_nul(loaded):
        problems.append(_problem(entry, lazy_gettext("the entry holds a NUL character")))
        return None
    return loaded


def read(data: bytes) -> Package:
    """Open and check a package from outside; ``Refused`` with every problem found."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise Refused(
            [
                _problem(
                    "",
                    lazy_gettext("the file is larger than %(max)s bytes", max=MAX_PACKAGE_BYTES),
                )
            ]
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise Refused([_problem("", lazy_gettext("the file is not a zip package"))]) from None
    with zf:
        return _read_open(zf, infos)


def _read_open(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> Package:
    problems = _check_entries(infos)
    if problems:
        raise Refused(problems)
    by_name = {info.filename: info for info in infos if not info.is_dir()}
    if MANIFEST not in by_name:
        raise Refused([_problem(MANIFEST, lazy_gettext("the package has no manifest.json"))])
    contents: dict[str, bytes] = {}
    for name, info in by_name.items():
        try:
            contents[name] = _read_entry(zf, info)
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, OSError):
            problems.append(_problem(name, lazy_gettext("the entry cannot be unpacked")))
    if problems:
        raise Refused(problems)
    head = _load_json(MANIFEST, contents[MANIFEST], problems)
    if head is None:
        raise Refused(problems)
    if isinstance(head, dict) and head.get("format_version") != FORMAT_VERSION:
        raise Refused(
            [
                _problem(
                    MANIFEST,
                    lazy_gettext(
                        "format version %(found)s is unknown; this tool reads version %(known)s",
                        found=str(head.get("format_version")),
                        known=FORMAT_VERSION,
                    ),
                )
            ]
        )
    problems += _schema_problems(MANIFEST, "manifest", head)
    if problems:
        raise Refused(problems)
    package = Package(
        Manifest(
            name=head["name"],
            version=head["version"],
            publisher=head["publisher"]["organisation"],
            licence=head["licence"],
            languages=list(head["languages"]),
            created=head["created"],
            title=dict(head.get("title") or {}),
            description=dict(head.get("description") or {}),
        )
    )
    listed: set[str] = set()
    for entry in head["entries"]:
        path, kind = entry["path"], entry["type"]
        if path in listed:
            problems.append(_problem(path, lazy_gettext("the manifest lists the entry twice")))
            continue
        listed.add(path)
        body = contents.get(path)
        if body is None:
            problems.append(
                _problem(path, lazy_gettext("the manifest lists the entry, the zip lacks it"))
            )
            continue
        if hashlib.sha256(body).hexdigest() != entry["sha256"]:
            problems.append(
                _problem(path, lazy_gettext("the entry's checksum does not match the manifest"))
            )
            continue
        if len(body) != entry["size"]:
            problems.append(
                _problem(
                    path,
                    lazy_gettext(
                        "the entry is %(size)s bytes; the manifest says %(listed)s",
                        size=len(body),
                        listed=entry["size"],
                    ),
                )
            )
            continue
        problems += _document_into(package, path, kind, body)
    for name in sorted(set(contents) - listed - {MANIFEST}):
        problems.append(_problem(name, lazy_gettext("the manifest does not list the entry")))
    if problems:
        raise Refused(problems)
    return package


def _document_into(package: Package, path: str, kind: str, body: bytes) -> list[Problem]:
    problems: list[Problem] = []
    if kind == FRAMEWORK and not path.startswith(FRAMEWORKS_DIRECTORY):
        return [
            _problem(
                path,
                lazy_gettext(
                    "a framework document must be in %(directory)s",
                    directory=FRAMEWORKS_DIRECTORY,
                ),
            )
        ]
    if kind != FRAMEWORK and path != PATHS[kind]:
        return [
            _problem(
                path,
                lazy_gettext(
                    "a %(type)s document must be named %(name)s", type=kind, name=PATHS[kind]
                ),
            )
        ]
    loaded = _load_json(path, body, problems)
    if loaded is None:
        return problems
    problems += _schema_problems(path, kind, loaded)
    if problems:
        return problems
    if kind == FRAMEWORK:
        package.frameworks[path] = body
    elif kind == JOB_ROLES:
        package.job_roles = body
    else:
        package.documents[kind] = list(loaded[LIST_KEYS[kind]])
    return problems


def entries(package: Package, kind: str) -> Iterator[dict[str, Any]]:
    yield from package.documents.get(kind, [])
