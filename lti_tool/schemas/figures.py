"""The coordinators' figures: the filters they choose and the answer of the API (counts
only: no names, no person ids)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from lti_tool.domain.coverage import DEFAULT_EXPIRING_DAYS
from lti_tool.schemas.api import Input
from lti_tool.services.coverage_figures import DEFAULT_MONTHS, MAX_MONTHS, STATUSES


class FiguresQuery(Input):
    organisation = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Only this municipality of the caller's region (what is withheld "
            "is decided over the whole region)."
        },
    )
    months = fields.Integer(
        load_default=DEFAULT_MONTHS,
        validate=validate.Range(min=1, max=MAX_MONTHS),
        metadata={"description": "Months of the trend, the current one included."},
    )
    expiring_days = fields.Integer(
        load_default=DEFAULT_EXPIRING_DAYS,
        validate=validate.Range(min=0, max=365),
        metadata={"description": "A cell is expiring when it ends within this many days."},
    )


def _cells(group: Any) -> dict[str, int] | None:
    if group.cells is None:
        return None
    return {status.value: group.cells.get(status, 0) for status in STATUSES}


class GroupOut(Schema):
    key = fields.String(
        metadata={"description": "Municipality or unit id, job role code, competence identifier."}
    )
    label = fields.String()
    municipality = fields.String(allow_none=True)
    suppressed = fields.Boolean(
        metadata={
            "description": "Fewer than 5 people, or withheld with such a group so that it "
            "cannot be worked back from the totals: no counts."
        }
    )
    people = fields.Integer(allow_none=True)
    cells = fields.Function(
        _cells,
        metadata={"description": "Cells per status: met, expiring, expired, gap, never_assessed."},
    )
    coverage = fields.Float(allow_none=True, metadata={"description": "Per cent met or expiring."})


class MonthOut(Schema):
    month = fields.Function(lambda m: f"{m.month:%Y-%m}")
    live = fields.Boolean()
    recorded = fields.Boolean()
    total = fields.Nested(GroupOut)
    municipalities = fields.List(fields.Nested(GroupOut))


class FiguresOut(Schema):
    region = fields.String(attribute="scope.region", allow_none=True)
    computed_at = fields.DateTime(attribute="now")
    expiring_days = fields.Integer()
    total = fields.Nested(GroupOut)
    municipalities = fields.List(fields.Nested(GroupOut))
    units = fields.List(fields.Nested(GroupOut))
    job_roles = fields.List(fields.Nested(GroupOut))
    competences = fields.List(fields.Nested(GroupOut))
    trend = fields.List(fields.Nested(MonthOut))
