"""The competence matrix's query string: filters, sorting, paging and the expiring window,
for the manager's page and for ``GET /api/v1/units/<id>/coverage``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from lti_tool.domain.coverage import CellStatus
from lti_tool.schemas.checks import MAX_INT
from lti_tool.services.coverage import PER_PAGE, SORTS, MatrixFilters
from lti_tool.services.organisations import MAX_EXPIRING_DAYS

SORT = re.compile(r"-?(name|coverage|c\d+)")
#: The fields that may repeat in the query string (``?status=gap&status=expired``).
REPEATED = ("job_role", "competence", "status")


class _Choice(fields.Field):
    """An id picked from the page's list (a job role, a competence)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(gettext("Choose from the list.")) from None
        if not 1 <= number <= MAX_INT:
            raise ValidationError(gettext("Choose from the list."))
        return number


class _Sort(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not SORT.fullmatch(text):
            raise ValidationError(gettext("Sort by name, coverage or a competence's column."))
        return text


class MatrixQuery(Schema):
    """The page's query string; what it does not know (the launch token, the language) is
    left out."""

    class Meta:
        unknown = EXCLUDE

    job_role = fields.List(_Choice(), load_default=list)
    competence = fields.List(_Choice(), load_default=list)
    status = fields.List(fields.Enum(CellStatus, by_value=True), load_default=list)
    mandatory = fields.Boolean(load_default=False)
    sort = _Sort(
        load_default="name",
        metadata={"description": f"One of {', '.join(SORTS)} or c<competence id>; - reverses."},
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_INT))
    days = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_EXPIRING_DAYS),
        metadata={"description": "The expiring window in days; default: the organisation's."},
    )


class TrailQuery(Schema):
    """A cell's drill-down: the matrix's expiring window, and the unit to go back to."""

    class Meta:
        unknown = EXCLUDE

    days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_EXPIRING_DAYS))
    unit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_INT))


class CoverageQuery(MatrixQuery):
    """The API's query string: an unknown parameter is refused."""

    class Meta:
        unknown = RAISE

    per_page = fields.Integer(load_default=PER_PAGE, validate=validate.Range(min=1, max=200))


def query_data(args: MultiDict[str, str]) -> dict[str, Any]:
    """The query string as the schemas read it: the repeatable fields as lists."""
    data: dict[str, Any] = {k: v for k, v in args.items() if k not in REPEATED}
    for name in REPEATED:
        if name in args:
            data[name] = [v for v in args.getlist(name) if v != ""]
    return data


def _filters(query: dict[str, Any]) -> MatrixFilters:
    return MatrixFilters(
        job_role_ids=frozenset(query["job_role"]),
        competence_ids=frozenset(query["competence"]),
        statuses=frozenset(query["status"]),
        mandatory_only=query["mandatory"],
    )


def matrix_options(query: dict[str, Any], organisation_days: int) -> dict[str, Any]:
    """A loaded query as ``services.coverage.unit_matrix``'s keyword arguments; without
    ``days``, the organisation's expiring window."""
    options = {
        "expiring_days": query["days"] or organisation_days,
        "filters": _filters(query),
        "sort": query["sort"],
        "page": query["page"],
    }
    if "per_page" in query:
        options["per_page"] = query["per_page"]
    return options


def export_filters(args: Mapping[str, Any]) -> tuple[MatrixFilters, int | None]:
    """The matrix's filters and expiring window in a request's query string (the
    exports; a window of None is the organisation's), so that an export shows the
    statuses of the matrix it was asked from;
    ValidationError names the field that is wrong, one message list per field."""
    data = query_data(args) if isinstance(args, MultiDict) else dict(args)
    try:
        query = MatrixQuery().load(data)
    except ValidationError as exc:  # a list's errors come by index: one message per field
        flat = {name: _flat(m) for name, m in exc.normalized_messages().items()}
        raise ValidationError(flat) from exc
    return _filters(query), query["days"]


def export_query(query: dict[str, Any]) -> dict[str, Any]:
    """A loaded query's filters and window as the exports' query string (the matrix
    page's links to them): what ``export_filters`` reads back."""
    chosen: dict[str, Any] = {
        "job_role": sorted(query["job_role"]),
        "competence": sorted(query["competence"]),
        "status": [s.value for s in query["status"]],
        "days": query["days"],
    }
    if query["mandatory"]:
        chosen["mandatory"] = "1"
    return {name: value for name, value in chosen.items() if value not in ([], None)}


def _flat(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return sorted({m for found in messages.values() for m in _flat(found)})
    if isinstance(messages, list):
        return [str(m) for m in messages]
    return [str(messages)]


# --- the API's answer -------------------------------------------------------------------------


def _counts() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Cells by status: met, gap, expiring, expired, never_assessed."},
    )


def _coverage() -> fields.Float:
    return fields.Float(
        allow_none=True,
        metadata={"description": "Per cent of the cells met or expiring; null: no cells."},
    )


class CellOut(Schema):
    competence_id = fields.Integer()
    status = fields.Enum(CellStatus, by_value=True)
    required_level = fields.Integer()
    held_level = fields.Integer(allow_none=True, metadata={"description": "null: no evidence."})
    expires_at = fields.DateTime(allow_none=True)
    mandatory = fields.Boolean()
    own_word = fields.Boolean(
        metadata={
            "description": "Held by the person's own word only (a self-assessment or a "
            "self-reported course), confirmed by no test, instructor or LMS."
        }
    )


class CompetenceColumnOut(Schema):
    id = fields.Integer(attribute="competence_id")
    code = fields.String()
    title = fields.String()
    framework = fields.String()
    framework_version = fields.Integer()
    mandatory = fields.Boolean(metadata={"description": "Mandatory for at least one person."})
    coverage = _coverage()
    counts = _counts()


class PersonRowOut(Schema):
    id = fields.Integer(attribute="person_id")
    name = fields.String()
    job_roles = fields.List(fields.String())
    coverage = _coverage()
    counts = _counts()
    cells = fields.Method(
        "_cells",
        metadata={"description": "The cells of the competences required of the person."},
    )

    def _cells(self, row: Any) -> list[dict[str, Any]]:
        return CellOut(many=True).dump([c for c in row.cells if c is not None])


class CoverageOut(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()
    total = fields.Integer(attribute="people", metadata={"description": "People, every page."})
    expiring_days = fields.Integer()
    now = fields.DateTime()
    coverage = _coverage()
    counts = _counts()
    own_word = fields.Integer(
        metadata={
            "description": "Of the cells met or expiring, those held by the person's own word only."
        }
    )
    competences = fields.List(fields.Nested(CompetenceColumnOut), attribute="columns")
    people = fields.List(fields.Nested(PersonRowOut), attribute="rows")
