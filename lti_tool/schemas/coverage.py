"""The competence matrix's filters in a query string (the matrix page and its exports):
``?job_role=3&job_role=5&competence=12&status=gap&status=expired&mandatory=1``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from marshmallow import ValidationError, fields, post_load
from werkzeug.datastructures import MultiDict

from lti_tool.domain.coverage import CellStatus
from lti_tool.schemas.admin import _Form
from lti_tool.services.coverage import MatrixFilters

#: The query string's repeatable keys.
LISTS = ("job_role", "competence", "status")


class _Id(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(gettext("Choose from the list.")) from None
        if number < 1:
            raise ValidationError(gettext("Choose from the list."))
        return number


class _Status(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> CellStatus:
        try:
            return CellStatus(value)
        except ValueError:
            raise ValidationError(gettext("Choose from the list.")) from None


class _Flag(fields.Field):
    """A checkbox: ticked when sent with any of 1/on/true/yes."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        return str(value).strip().lower() in ("1", "on", "true", "yes")


class MatrixQuery(_Form):
    job_role = fields.List(_Id(), load_default=list)
    competence = fields.List(_Id(), load_default=list)
    status = fields.List(_Status(), load_default=list)
    mandatory = _Flag(load_default=False)

    @post_load
    def _filters(self, data: dict[str, Any], **kwargs: Any) -> MatrixFilters:
        return MatrixFilters(
            job_role_ids=frozenset(data["job_role"]),
            competence_ids=frozenset(data["competence"]),
            statuses=frozenset(data["status"]),
            mandatory_only=data["mandatory"],
        )


def matrix_filters(args: Mapping[str, Any]) -> MatrixFilters:
    """The filters in a request's query string (``request.args``); ValidationError names
    the field that is wrong."""
    values: dict[str, Any] = dict(args)
    for key in LISTS:
        if isinstance(args, MultiDict):
            values[key] = args.getlist(key)
        elif isinstance(values.get(key), str):
            values[key] = [values[key]]
    try:
        found: MatrixFilters = MatrixQuery().load(values)
    except ValidationError as exc:  # a list's errors come by index: one message per field
        flat = {name: _flat(m) for name, m in exc.normalized_messages().items()}
        raise ValidationError(flat) from exc
    return found


def _flat(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return sorted({m for found in messages.values() for m in _flat(found)})
    if isinstance(messages, list):
        return [str(m) for m in messages]
    return [str(messages)]
