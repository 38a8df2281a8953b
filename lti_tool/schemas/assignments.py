"""Forms about job roles and units: a learner's own choice, a manager's assign/end/decide."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from lti_tool.db import MAX_INT
from lti_tool.schemas.admin import Choice

CHOOSE_ROLE = lazy_gettext("Choose at least one job role.")


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE


class Choices(fields.Field):
    """Numbers ticked in checkboxes; at least one."""

    def __init__(self, message: Any, **kwargs: Any) -> None:
        super().__init__(
            required=True, error_messages={"required": message, "null": message}, **kwargs
        )
        self.message = message

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[int]:
        values = value if isinstance(value, list) else [value]
        try:
            chosen = list(dict.fromkeys(int(v) for v in values if v not in ("", None)))
        except (TypeError, ValueError):
            raise ValidationError(str(self.message)) from None
        if not chosen or any(abs(n) > MAX_INT for n in chosen):
            raise ValidationError(str(self.message))
        return chosen


class SelfChoiceForm(_Form):
    job_role_ids = Choices(CHOOSE_ROLE)
    unit_id = Choice(allow_empty=True)


class AssignForm(_Form):
    kind = fields.String(required=True, validate=validate.OneOf(["role", "unit"]))
    target_id = Choice()


def form_data(form: Any, *lists: str) -> dict[str, Any]:
    """A request's form as a dict, with the named fields as lists (checkboxes)."""
    data: dict[str, Any] = form.to_dict()
    for name in lists:
        data[name] = form.getlist(name)
    return data


class PeoplePageQuery(_Form):
    """A manager's start page: which page of the people."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_INT))
