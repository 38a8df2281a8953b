"""1EdTech CASE 1.0 packages (CFPackage JSON): read and write.

The framework is the ``CFDocument``; each competence a ``CFItem`` (``humanCodingScheme`` is
its code, or its identifier when it has none, a repeated one or one too long;
``abbreviatedStatement`` or else ``fullStatement`` its title, and ``fullStatement`` its
description when there is an abbreviated statement); the hierarchy and order are
``isChildOf`` ``CFAssociations`` (origin: the child, destination: its parent item or the
document; ``sequenceNumber``: the order among siblings; of several parents the one with the
lowest sequence number, else the first, is kept); the scale is a ``CFRubric`` whose one
criterion has a ``CFRubricCriterionLevel`` per level (``score``: the value, ``quality``:
the label). An association from or to an identifier that is neither a ``CFItem`` nor the
``CFDocument`` is refused, as is an ``isChildOf`` whose parent is not in the package.

What the tool does not use is kept (``kept["case"]``) and written back: each item's
``CFItemType``, ``notes``, ``uri`` and every other field, its statements and coding scheme
as they were while what the tool made of them is unchanged, the document's other fields,
the other associations, the rubric while the scale is unchanged, and ``CFDefinitions``.

CASE texts have one language (``language``): we write the package's (bokmål for ours).
What CASE's fields cannot hold (other languages, the framework's code, references,
archived flags) goes in an ``extensions.laeringslop`` object, which our importer reads
back, written only when there is such data (so an imported package comes back with
nothing added). A package without it imports into its ``language`` (bokmål when it has
none).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext, lazy_ngettext

from lti_tool.domain.texts import LANGUAGES, localized
from lti_tool.domain.urls import is_web_url
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
    read_json,
    sibling_order,
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


#: The name under which a framework's and a competence's ``kept`` data are stored.
KEPT = "case"
#: Item fields the tool reads into its own (the rest are kept as they are).
_ITEM_MAPPED = frozenset(
    {"identifier", "fullStatement", "abbreviatedStatement", "humanCodingScheme", "extensions"}
)
#: Document fields that tell the state of the version: kept for the imported version only
#: (a document without a language gets none back, and one with a regional language, such as
#: ``en-US``, gets it back as written).
_DOCUMENT_STATE = ("lastChangeDateTime", "version", "adoptionStatus", "language")
#: Document fields the tool writes itself (the rest are kept as they are).
_DOCUMENT_MAPPED = frozenset(
    {"identifier", "title", "description", "extensions", "lastChangeDateTime", "version"}
    | {"adoptionStatus", "language"}
)


def parse(data: bytes, language: str = "nb") -> tuple[FrameworkData | None, list[Problem]]:
    package, problems = read_json(data)
    if problems:
        return None, problems
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
    levels = _levels(package.get("CFRubrics"), language, problems)
    kept: dict[str, Any] = {
        "language": language,
        "document": {k: v for k, v in document.items() if k not in _DOCUMENT_MAPPED}
        | _other_extensions(document),
        "state": {k: document.get(k) for k in _DOCUMENT_STATE},
        "levels": [localized(level.label, language) for level in levels],
    }
    if isinstance(package.get("CFRubrics"), list):
        kept["rubrics"] = package["CFRubrics"]
    if package.get("CFDefinitions") is not None:
        kept["definitions"] = package["CFDefinitions"]
    framework = FrameworkData(
        code=code,
        title=title,
        description=text_of(doc_ext.get("description"))
        or _one(language, _string(document, "description")),
        identifier=doc_id or None,
        levels=levels,
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
        if _string(item, "uri"):
            by_uri[_string(item, "uri")] = identifier
        parsed.append(_item(item, identifier, label, language, codes, problems))
        parsed[-1].kept[KEPT]["row"] = len(parsed) - 1

    keys = {c.key: c for c in parsed}
    # Each item's isChildOf associations to a node in the package, as
    # (no sequence number, sequence number, order in the file, parent, sequence number).
    candidates: dict[str, list[tuple[bool, int, int, str, int | None]]] = {}
    raw_child_of: dict[tuple[str, int], dict[str, Any]] = {}
    others: list[dict[str, Any]] = []
    for number, association in enumerate(associations, start=1):
        if not isinstance(association, dict):
            continue
        label = _string(association, "identifier") or f"#{number}"
        child = _node_identifier(association.get("originNodeURI"), by_uri)
        parent = _node_identifier(association.get("destinationNodeURI"), by_uri)
        child_of = _string(association, "associationType") == "isChildOf"
        inside = [child in keys or child == doc_id, parent in keys or parent == doc_id]
        if child_of and child not in keys:
            problems.append(_dangling(label, "originNodeURI", child))
            continue
        if child_of and not inside[1]:
            problems.append(_dangling(label, "destinationNodeURI", parent))
            continue
        if not child_of:
            if not inside[0] and not inside[1]:
                problems.append(_dangling(label, "originNodeURI", child))
            others.append({"association": association, "inside": inside, "row": number})
            continue
        sequence = association.get("sequenceNumber")
        if isinstance(sequence, bool) or not isinstance(sequence, int):
            sequence = None
        candidates.setdefault(child, []).append(
            (sequence is None, sequence or 0, number, parent, sequence)
        )
        raw_child_of[(child, number)] = association
    for child, found in candidates.items():
        # An item with more than one parent (CASE allows it) keeps one: the one with the
        # lowest sequence number, else the first in the file; the others are kept as they are.
        chosen = min(found)
        *_, parent, sequence = chosen
        competence = keys[child]
        competence.parent_key = None if parent == doc_id else parent
        competence.sequence = sequence
        competence.kept[KEPT]["isChildOf"] = raw_child_of[(child, chosen[2])]
        competence.kept[KEPT]["isChildOfRow"] = chosen[2]
        for other in found:
            if other is not chosen:
                others.append(
                    {
                        "association": raw_child_of[(child, other[2])],
                        "inside": [True, True],
                        "row": other[2],
                    }
                )
    for competence in parsed:
        if competence.key not in candidates:
            # No isChildOf at all (OpenSALT calls it an orphan): top-level in the tool,
            # and exported without one while it stays there.
            competence.kept[KEPT]["orphan"] = True
    kept["associations"] = others
    framework.kept = {KEPT: kept}
    framework.competences = parsed
    return framework, problems


def _other_extensions(obj: dict[str, Any]) -> dict[str, Any]:
    """Other tools' extensions of an object, to keep as they are."""
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return {}
    others = {k: v for k, v in extensions.items() if k != EXTENSION}
    return {"extensions": others} if others else {}


def _dangling(label: str, field: str, identifier: str) -> Problem:
    return Problem(
        at_item("CFAssociation", label, field),
        lazy_gettext("the item %(item)s does not exist", item=identifier or "?"),
    )


def _item(
    item: dict[str, Any],
    identifier: str,
    label: str,
    language: str,
    codes: set[str],
    problems: list[Problem],
) -> CompetenceData:
    statement = _string(item, "fullStatement")
    if not statement:
        problems.append(Problem(at_item("CFItem", label, "fullStatement"), _missing()))
    abbreviated = _string(item, "abbreviatedStatement")
    item_language = _language(item.get("language"), language)
    ext = _ext(item)
    fields = {k: v for k, v in item.items() if k not in _ITEM_MAPPED} | _other_extensions(item)
    if text_of(ext.get("title")):
        # Our own export: the extension holds the exact texts in every language.
        item_title = text_of(ext.get("title"))
        item_description = text_of(ext.get("description")) or (
            _one(item_language, statement) if abbreviated else {}
        )
        if fields.get("notes") == localized(item_description, item_language):
            del fields["notes"]  # our exports before 2026-12 wrote the description there
    else:
        # The short statement is the title when there is one; the full statement is then
        # the description. Notes are not part of either: they are kept as they are.
        item_title = _one(item_language, abbreviated or statement)
        item_description = (
            _one(item_language, statement) if abbreviated and statement != abbreviated else {}
        )
    ref = ext.get("external_ref") if ext else _string(item, "uri")
    if not ext and not is_web_url(ref):  # a URN names the item, it is no link
        ref = None
    # CASE names items by identifier; humanCodingScheme is only a label, and may be
    # missing, repeated or too long to be a code: then the identifier is the code.
    scheme = _string(item, "humanCodingScheme")
    code = scheme
    if not code or code in codes or competence_code_problem(code) is not None:
        code = identifier
    codes.add(code)
    return CompetenceData(
        key=identifier or label,
        parent_key=None,
        code=code,
        title=item_title,
        description=item_description,
        external_ref=ref if isinstance(ref, str) and ref else None,
        identifier=identifier or None,
        archived=ext.get("archived") is True,
        kept={
            KEPT: {
                "fields": fields,
                "fullStatement": item.get("fullStatement"),
                "abbreviatedStatement": item.get("abbreviatedStatement"),
                "humanCodingScheme": item.get("humanCodingScheme"),
                "title": localized(item_title, item_language),
                "description": localized(item_description, item_language),
                "code": code,
            }
        },
        where=at_item("CFItem", label),
    )


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


def _kept(data: FrameworkData | CompetenceData) -> dict[str, Any]:
    kept = data.kept.get(KEPT)
    return kept if isinstance(kept, dict) else {}


def _statements(competence: CompetenceData, language: str) -> dict[str, Any]:
    """fullStatement, abbreviatedStatement and humanCodingScheme: as imported while what
    the tool made of them is unchanged; else the statement (the description, or the title
    when there is none) and the short title."""
    kept = _kept(competence)
    title = localized(competence.title, language)
    description = localized(competence.description, language)
    if kept and kept.get("title") == title and kept.get("description") == description:
        statements = {
            "fullStatement": kept.get("fullStatement"),
            "abbreviatedStatement": kept.get("abbreviatedStatement"),
        }
    elif description:
        statements = {"fullStatement": description, "abbreviatedStatement": title}
    else:
        statements = {"fullStatement": title}
    if kept and kept.get("code") == competence.code:
        statements["humanCodingScheme"] = kept.get("humanCodingScheme")
    else:
        statements["humanCodingScheme"] = competence.code
    return statements


def _other_languages(language: str, *texts: dict[str, str]) -> bool:
    return any(set(text) - {language} for text in texts)


def _item_needs_extension(competence: CompetenceData, item: dict[str, Any], language: str) -> bool:
    """Does the item hold what CASE's fields cannot (so that our importer gets it back from
    the extension)? An item that came from a CASE package, unchanged, does not."""
    item_language = _language(item.get("language"), language)
    if competence.archived or _other_languages(
        item_language, competence.title, competence.description
    ):
        return True
    uri = item.get("uri")
    derived_ref = uri if is_web_url(uri) else None
    if competence.external_ref != derived_ref:
        return True
    full, short = item.get("fullStatement") or "", item.get("abbreviatedStatement") or ""
    title = short or full
    description = full if short and full != short else ""
    return (title, description) != (
        localized(competence.title, item_language),
        localized(competence.description, item_language),
    )


def _unchanged(competence: CompetenceData, language: str) -> bool:
    kept = _kept(competence)
    return bool(kept) and (
        kept.get("title"),
        kept.get("description"),
        kept.get("code"),
    ) == (
        localized(competence.title, language),
        localized(competence.description, language),
        competence.code,
    )


def dump(
    framework: FrameworkData,
    *,
    creator: str = "Læringsløp",
    changed: dt.datetime | None = None,
    adoption_status: str = "Draft",
    version: str = "1",
    language: str | None = None,
    as_imported: bool = False,
) -> bytes:
    """The package; with ``as_imported`` (the version that was imported) the document's
    date, version and adoption status are the file's."""
    kept = _kept(framework)
    language = language or str(kept.get("language") or "nb")
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
        }
    )
    document |= kept.get("document") or {}
    if as_imported and isinstance(kept.get("state"), dict):
        for key, value in kept["state"].items():
            document.pop(key, None)
            if value is not None:
                document[key] = value
    extensions = dict(document.pop("extensions", None) or {})
    scheme = document.get("humanCodingScheme")
    derived_code = scheme if isinstance(scheme, str) and not code_problem(scheme) else doc_id
    if derived_code != framework.code or _other_languages(
        language, framework.title, framework.description
    ):
        extensions[EXTENSION] = {
            "code": framework.code,
            "title": framework.title,
            "description": framework.description,
        }
    if extensions:
        document["extensions"] = extensions
    ordered = sorted(
        enumerate(framework.competences),
        key=lambda pair: (
            not isinstance(_kept(pair[1]).get("row"), int),
            _kept(pair[1]).get("row", 0),
            pair[0],
        ),
    )
    items = []
    for _, competence in ordered:
        identifier = identifiers[competence.key]
        fields = dict(_kept(competence).get("fields") or {})
        if not _unchanged(competence, language):
            fields.pop("lastChangeDateTime", None)
        statements = _statements(competence, language)
        item = _drop_empty(
            {
                "identifier": identifier,
                "uri": case_uri(identifier),
                **statements,
                "language": None if _kept(competence) else language,
                "CFItemType": None if _kept(competence) else "Competence",
                "lastChangeDateTime": when,
                "CFDocumentURI": None if _kept(competence) else doc_link,
            }
        )
        # What the package held is written as it was, an empty statement or notes too
        # (OpenSALT writes "abbreviatedStatement": "" and "notes": "").
        item |= {key: value for key, value in statements.items() if value == ""} | fields
        had_extensions = "extensions" in item
        extensions = dict(item.pop("extensions", None) or {})
        if _item_needs_extension(competence, item, language):
            extensions[EXTENSION] = _drop_empty(
                {
                    "title": competence.title,
                    "description": competence.description,
                    "external_ref": competence.external_ref,
                    "archived": competence.archived or None,
                }
            )
        if extensions or had_extensions:
            item["extensions"] = extensions
        items.append(item)
    package: dict[str, Any] = {
        "CFDocument": document,
        "CFItems": items,
        "CFAssociations": _associations(framework, identifiers, doc_link, when, language),
    }
    levels = [localized(level.label, language) for level in framework.levels]
    if kept.get("rubrics") and kept.get("levels") == levels:
        package["CFRubrics"] = kept["rubrics"]
    elif framework.levels:
        package["CFRubrics"] = [_rubric(framework, doc_id, when, language)]
    if "definitions" in kept:
        package["CFDefinitions"] = kept["definitions"]
    return (json.dumps(package, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _associations(
    framework: FrameworkData,
    identifiers: dict[str, str],
    doc_link: dict[str, str],
    when: str,
    language: str,
) -> list[dict[str, Any]]:
    """isChildOf for each competence (as imported while its parent is unchanged, and with
    the imported sequence numbers while the siblings' order is), then the other
    associations imported, those whose ends are still in the framework."""
    by_key = {c.key: c for c in framework.competences}
    siblings: dict[str | None, list[CompetenceData]] = {}
    for competence in sibling_order(framework.competences):
        siblings.setdefault(competence.parent_key, []).append(competence)

    def parent_identifier(competence: CompetenceData) -> str:
        key = competence.parent_key
        return identifiers[key] if key is not None else doc_link["identifier"]

    def imported(competence: CompetenceData) -> dict[str, Any] | None:
        raw = _kept(competence).get("isChildOf")
        if not isinstance(raw, dict):
            return None
        destination = raw.get("destinationNodeURI")
        same = isinstance(destination, dict) and destination.get("identifier") == (
            parent_identifier(competence)
        )
        return raw if same else None

    associations: list[tuple[float, dict[str, Any]]] = []
    for parent, group in siblings.items():
        raws = [imported(c) for c in group]
        numbers = [raw.get("sequenceNumber") if raw else None for raw in raws]
        whole = [n for n in numbers if isinstance(n, int)]
        keep_numbers = (len(whole) == len(numbers) and whole == sorted(whole)) or (
            all(raw is not None for raw in raws) and all(n is None for n in numbers)
        )
        for position, (competence, raw) in enumerate(zip(group, raws, strict=True), start=1):
            identifier = identifiers[competence.key]
            if raw is not None:
                association = dict(raw)
                if not keep_numbers:
                    association["sequenceNumber"] = position
                row = _kept(competence).get("isChildOfRow")
                associations.append((row if isinstance(row, int) else math.inf, association))
                continue
            if parent is None and _kept(competence).get("orphan") is True:
                continue
            if parent is None:
                destination = doc_link
            else:
                destination = _link(localized(by_key[parent].title, language), identifiers[parent])
            association_id = _stable("isChildOf", identifier)
            associations.append(
                (
                    math.inf,
                    {
                        "identifier": association_id,
                        "uri": case_uri(association_id),
                        "associationType": "isChildOf",
                        "sequenceNumber": position,
                        "originNodeURI": _link(localized(competence.title, language), identifier),
                        "destinationNodeURI": destination,
                        "lastChangeDateTime": when,
                        "CFDocumentURI": doc_link,
                    },
                )
            )
    present = set(identifiers.values()) | {doc_link["identifier"]}
    for other in _kept(framework).get("associations") or []:
        if not isinstance(other, dict) or not isinstance(other.get("association"), dict):
            continue
        kept_association: dict[str, Any] = other["association"]
        ends = [kept_association.get("originNodeURI"), kept_association.get("destinationNodeURI")]
        inside = other.get("inside") or [False, False]
        if all(
            not was_inside or (isinstance(end, dict) and end.get("identifier") in present)
            for end, was_inside in zip(ends, inside, strict=False)
        ):
            row = other.get("row")
            associations.append((row if isinstance(row, int) else math.inf, kept_association))
    return [association for _, association in sorted(associations, key=lambda pair: pair[0])]


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


# --- what was kept --------------------------------------------------------------------------


def summary(framework: dict[str, Any], competences: Sequence[dict[str, Any]]) -> list[Any]:
    """What the import kept for export that the tool does not use, one sentence each."""
    found = framework.get(KEPT)
    kept: dict[str, Any] = found if isinstance(found, dict) else {}
    fields = [c[KEPT].get("fields") or {} for c in competences if isinstance(c.get(KEPT), dict)]
    lines: list[Any] = []
    types = sum(1 for f in fields if f.get("CFItemType"))
    if types:
        lines.append(
            lazy_ngettext(
                "%(num)d item type (CFItemType) kept for export.",
                "%(num)d item types (CFItemType) kept for export.",
                types,
            )
        )
    notes = sum(1 for f in fields if f.get("notes"))
    if notes:
        lines.append(
            lazy_ngettext(
                "%(num)d note kept for export, apart from the description.",
                "%(num)d notes kept for export, apart from the description.",
                notes,
            )
        )
    others = len(kept.get("associations") or [])
    if others:
        lines.append(
            lazy_ngettext(
                "%(num)d association that the tool does not use kept for export.",
                "%(num)d associations that the tool does not use kept for export.",
                others,
            )
        )
    return lines
