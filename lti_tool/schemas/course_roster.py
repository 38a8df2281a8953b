"""The roster page's query: which members to show."""

from __future__ import annotations

from marshmallow import fields, validate

from lti_tool.schemas.admin import CHOOSE, _Form

ALL = "all"
NOT_STARTED = "not-started"


class RosterQuery(_Form):
    show = fields.String(
        load_default=ALL, validate=validate.OneOf([ALL, NOT_STARTED], error=CHOOSE)
    )
