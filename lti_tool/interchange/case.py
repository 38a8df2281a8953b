"""1EdTech CASE 1.0 packages (CFPackage JSON): read and write.

The framework is the ``CFDocument``; each competence a ``CFItem`` (``humanCodingScheme`` is
its code, or its identifier when it has none, a repeated one or one too long;
``abbreviatedStatement`` or else ``fullStatement`` its title; ``notes`` its description,
after the full statement when that is not the title); the hierarchy and order
are ``isChildOf`` ``CFAssociations`` (origin: the child, destination: its parent item or
the document; ``sequenceNumber``: the order among siblings; of several parents the one
with the lowest sequence number, else the first, is kept; a parent outside the package
leaves the item at the top); the scale is a ``CFRubric``
whose one criterion has a ``CFRubricCriterionLevel`` per level (``score``: the value,
``quality``: the label).

CASE texts have one language (``language``): we write bokmål, and keep every language,
the framework's code, references and archived flags in an ``extensions.laeringslop``
object, which our importer reads back. A package without it imports into its
``language`` (bokmål when it has none).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from flask_babel import lazy_gettext

from lti_tool.domain.texts import LANGUAGES, localized
from lti_tool.interchange.model import (
    EXTENSION,
    MAX_IMPORT_ITEMS,
    CompetenceData,
    FrameworkData,
    LevelData,
    Problem,
    at_item,
    code_problem,
    competence_code_problem,
    decode,
    text_of,
    too_many,
)

#: Makes the identifiers of what we write (associations, rubric) stable between exports.
_NAMESPACE = uuid.UUID("8f6d3c1e-7b7a-4d0e-9a57-2f0b8f3c6a41")


def _language(value: Any, fallback: str) -> str:
    if not isinstance(value, str) or not value.strip():
        return fallback
    primary = value.strip().lower().replace("_", "-").split("-")[0]
    if primary == "no":
        return "nb"
    return primary if primary in LANGUAGES else fallback


def _ext(obj: dict[str, Any]) -> dict[str, Any]:
    extensions = obj.get("extensions")
    if isinstance(extensions, dict) and isinstance(extensions.get(EXTENSION), dict):
        return dict(extensions[EXTENSION])
    return {}


def _string(obj: dict[str, Any], field: str) -> str:
    value = obj.get(field)
    return value.strip() if isinstance(value, str) else ""


def _node_identifier(node: Any, by_uri: dict[str, str]) -> str:
    if not isinstance(node, dict):
        return ""
    identifier = _string(node, "identifier")
    return identifier or by_uri.get(_string(node, "uri"), "")


def parse(data: bytes, language: str = "nb") -> tuple[FrameworkData | None, list[Problem]]:
    text, problems = decode(data)
    if text is None:
        return None, problems
    try:
        package = json.loads(text)
    except ValueError as exc:
        return None, [
            Problem("", lazy_gettext("the file is not valid JSON (%(error)s)", error=str(exc)))
        ]
    if (
        isinstance(package, dict)
        and "CFDocument" not in package
        and isinstance(package.get("CFPackage"), dict)
    ):
        package = package["CFPackage"]  # as some servers wrap it: {"CFPackage": {…}}
    document = package.get("CFDocument") if isinstance(package, dict) else None
    if not isinstance(document, dict):
        return None, [Problem("", lazy_gettext("the file is not a CASE package (no CFDocument)"))]
    items = package.get("CFItems") or []
    associations = package.get("CFAssociations") or []
    if not isinstance(items, list) or not isinstance(associations, list):
        return None, [Problem("", lazy_gettext("CFItems and CFAssociations must be lists"))]
    if len(items) > MAX_IMPORT_ITEMS:
        return None, [too_many(len(items))]

    doc_id = _string(document, "identifier")
    doc_where = at_item("CFDocument", doc_id or "?")
    if not doc_id:
        problems.append(Problem(at_item("CFDocument", "?", "identifier"), _missing()))
    language = _language(document.get("language"), language)
    doc_ext = _ext(document)
    title = text_of(doc_ext.get("title")) or _one(language, _string(document, "title"))
    if not title:
        problems.append(Problem(at_item("CFDocument", doc_id or "?", "title"), _missing()))
    code = _string(doc_ext, "code")
    if not code:
        # A document's coding scheme that cannot be a framework's code gives way to its
        # identifier, as when it has none.
        scheme = _string(document, "humanCodingScheme")
        code = scheme if scheme and code_problem(scheme) is None else doc_id
    framework = FrameworkData(
        code=code,
        title=title,
        description=text_of(doc_ext.get("description"))
        or _one(language, _string(document, "description")),
        identifier=doc_id or None,
        levels=_levels(package.get("CFRubrics"), language, problems),
        where=doc_where,
    )

    by_uri: dict[str, str] = {}
    if doc_id and _string(document, "uri"):
        by_uri[_string(document, "uri")] = doc_id
    parsed: list[CompetenceData] = []
    codes: set[str] = set()
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(
                Problem(at_item("CFItems", f"#{number}"), lazy_gettext("an item must be an object"))
            )
            continue
        identifier = _string(item, "identifier")
        label = identifier or f"#{number}"
        if not identifier:
            problems.append(Problem(at_item("CFItem", label, "identifier"), _missing()))
        statement = _string(item, "fullStatement")
        if not statement:
            problems.append(Problem(at_item("CFItem", label, "fullStatement"), _missing()))
        if _string(item, "uri"):
            by_uri[_string(item, "uri")] = identifier
        item_language = _language(item.get("language"), language)
        ext = _ext(item)
        notes = _string(item, "notes")
        if text_of(ext.get("title")):
            # Our own export: the extension holds the exact texts in every language.
            item_title = text_of(ext.get("title"))
            item_description = text_of(ext.get("description")) or _one(item_language, notes)
        else:
            # The short statement is the title when there is one; the full statement is
            # then kept first in the description, before the notes.
            title_text = _string(item, "abbreviatedStatement") or statement
            parts = [statement] if statement and statement != title_text else []
            if notes:
                parts.append(notes)
            item_title = _one(item_language, title_text)
            item_description = _one(item_language, "\n\n".join(parts))
        ref = ext.get("external_ref") if ext else _string(item, "uri")
        if isinstance(ref, str) and not ref.startswith(("http://", "https://")) and not ext:
            ref = None
        # CASE names items by identifier; humanCodingScheme is only a label, and may be
        # missing, repeated or too long to be a code: then the identifier is the code.
        code = _string(item, "humanCodingScheme")
        if not code or code in codes or competence_code_problem(code) is not None:
            code = identifier
        codes.add(code)
        parsed.append(
            CompetenceData(
                key=identifier or label,
                parent_key=None,
                code=code,
                title=item_title,
                description=item_description,
                external_ref=ref if isinstance(ref, str) and ref else None,
                identifier=identifier or None,
                archived=ext.get("archived") is True,
                where=at_item("CFItem", label),
            )
        )

    keys = {c.key: c for c in parsed}
    # Each item's isChildOf associations to a node in the package, as
    # (no sequence number, sequence number, order in the file, parent, sequence number).
    candidates: dict[str, list[tuple[bool, int, int, str, int | None]]] = {}
    for number, association in enumerate(associations, start=1):
        if not isinstance(association, dict):
            continue
        if _string(association, "associationType") != "isChildOf":
            continue
        label = _string(association, "identifier") or f"#{number}"
        child = _node_identifier(association.get("originNodeURI"), by_uri)
        parent = _node_identifier(association.get("destinationNodeURI"), by_uri)
        if child not in keys:
            problems.append(
                Problem(
                    at_item("CFAssociation", label, "originNodeURI"),
                    lazy_gettext("the item %(item)s does not exist", item=child or "?"),
                )
            )
            continue
        if parent != doc_id and parent not in keys:
            continue  # a parent in another document: the item stays at the top
        sequence = association.get("sequenceNumber")
        if isinstance(sequence, bool) or not isinstance(sequence, int):
            sequence = None
        candidates.setdefault(child, []).append(
            (sequence is None, sequence or 0, number, parent, sequence)
        )
    for child, found in candidates.items():
        # An item with more than one parent (CASE allows it) keeps one: the one with the
        # lowest sequence number, else the first in the file.
        *_, parent, sequence = min(found)
        competence = keys[child]
        competence.parent_key = None if parent == doc_id else parent
        competence.sequence = sequence
    framework.competences = parsed
    return framework, problems


def _missing() -> Any:
    return lazy_gettext("required, and missing or empty")


def _one(language: str, value: str) -> dict[str, str]:
    return {language: value} if value else {}


def _levels(rubrics: Any, language: str, problems: list[Problem]) -> list[LevelData]:
    if not isinstance(rubrics, list) or not rubrics:
        return []
    chosen = next(
        (r for r in rubrics if isinstance(r, dict) and _ext(r).get("scale") is True),
        rubrics[0],
    )
    criteria = chosen.get("CFRubricCriteria") if isinstance(chosen, dict) else None
    if not isinstance(criteria, list) or not criteria or not isinstance(criteria[0], dict):
        return []
    raw = criteria[0].get("CFRubricCriterionLevels") or []
    if not isinstance(raw, list):
        return []
    levels = [level for level in raw if isinstance(level, dict)]

    def order(level: dict[str, Any]) -> tuple[float, float]:
        position = level.get("position")
        score = level.get("score")
        return (
            position if isinstance(position, (int, float)) else 0,
            score if isinstance(score, (int, float)) else 0,
        )

    result = []
    for value, level in enumerate(sorted(levels, key=order), start=1):
        ext = _ext(level)
        result.append(
            LevelData(
                value=value,
                label=text_of(ext.get("label")) or _one(language, _string(level, "quality")),
                description=text_of(ext.get("description"))
                or _one(language, _string(level, "description")),
            )
        )
    return result


# --- writing --------------------------------------------------------------------------------


def case_uri(identifier: str) -> str:
    try:
        return f"urn:uuid:{uuid.UUID(identifier)}"
    except ValueError:
        return f"urn:laeringslop:{identifier}"


def _stable(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))


def _link(title: str, identifier: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": case_uri(identifier)}


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v not in (None, "", [], {})}


def dump(
    framework: FrameworkData,
    *,
    creator: str = "Læringsløp",
    changed: dt.datetime | None = None,
    adoption_status: str = "Draft",
    version: str = "1",
    language: str = "nb",
) -> bytes:
    when = (changed or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    doc_id = framework.identifier or _stable("document", framework.code)
    doc_title = localized(framework.title, language)
    doc_link = _link(doc_title, doc_id)
    identifiers = {
        c.key: c.identifier or _stable("item", doc_id, c.code) for c in framework.competences
    }
    document = _drop_empty(
        {
            "identifier": doc_id,
            "uri": case_uri(doc_id),
            "creator": creator,
            "title": doc_title,
            "lastChangeDateTime": when,
            "description": localized(framework.description, language),
            "language": language,
            "version": version,
            "adoptionStatus": adoption_status,
            "extensions": {
                EXTENSION: {
                    "code": framework.code,
                    "title": framework.title,
                    "description": framework.description,
                }
            },
        }
    )
    items = []
    associations = []
    sequence: dict[str | None, int] = {}
    for competence in framework.competences:
        identifier = identifiers[competence.key]
        title = localized(competence.title, language)
        items.append(
            _drop_empty(
                {
                    "identifier": identifier,
                    "uri": case_uri(identifier),
                    "fullStatement": title,
                    "humanCodingScheme": competence.code,
                    "notes": localized(competence.description, language),
                    "language": language,
                    "CFItemType": "Competence",
                    "lastChangeDateTime": when,
                    "CFDocumentURI": doc_link,
                    "extensions": {
                        EXTENSION: _drop_empty(
                            {
                                "title": competence.title,
                                "description": competence.description,
                                "external_ref": competence.external_ref,
                                "archived": competence.archived or None,
                            }
                        )
                    },
                }
            )
        )
        parent = competence.parent_key
        sequence[parent] = sequence.get(parent, 0) + 1
        if parent is None:
            destination = doc_link
        else:
            parent_identifier = identifiers[parent]
            parent_data = next(c for c in framework.competences if c.key == parent)
            destination = _link(localized(parent_data.title, language), parent_identifier)
        association_id = _stable("isChildOf", identifier)
        associations.append(
            {
                "identifier": association_id,
                "uri": case_uri(association_id),
                "associationType": "isChildOf",
                "sequenceNumber": sequence[parent],
                "originNodeURI": _link(title, identifier),
                "destinationNodeURI": destination,
                "lastChangeDateTime": when,
                "CFDocumentURI": doc_link,
            }
        )
    package: dict[str, Any] = {
        "CFDocument": document,
        "CFItems": items,
        "CFAssociations": associations,
    }
    if framework.levels:
        package["CFRubrics"] = [_rubric(framework, doc_id, when, language)]
    return (json.dumps(package, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _rubric(framework: FrameworkData, doc_id: str, when: str, language: str) -> dict[str, Any]:
    rubric_id = _stable("rubric", doc_id)
    criterion_id = _stable("criterion", doc_id)
    levels = []
    for level in sorted(framework.levels, key=lambda lv: lv.value):
        level_id = _stable("level", doc_id, str(level.value))
        levels.append(
            _drop_empty(
                {
                    "identifier": level_id,
                    "uri": case_uri(level_id),
                    "quality": localized(level.label, language),
                    "score": level.value,
                    "description": localized(level.description, language),
                    "position": level.value,
                    "rubricCriterionId": criterion_id,
                    "lastChangeDateTime": when,
                    "extensions": {
                        EXTENSION: {"label": level.label, "description": level.description}
                    },
                }
            )
        )
    title = localized(framework.title, language)
    return {
        "identifier": rubric_id,
        "uri": case_uri(rubric_id),
        "title": title,
        "lastChangeDateTime": when,
        "CFRubricCriteria": [
            {
                "identifier": criterion_id,
                "uri": case_uri(criterion_id),
                "category": "scale",
                "description": title,
                "position": 1,
                "rubricId": rubric_id,
                "lastChangeDateTime": when,
                "CFRubricCriterionLevels": levels,
            }
        ],
        "extensions": {EXTENSION: {"scale": True}},
    }
