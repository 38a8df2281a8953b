"""The forms of privacy: erasing a person (with the reason kept in the audit log)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema

from lti_tool.schemas.admin import Text
from lti_tool.services.erasure import MAX_REASON


class EraseForm(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = Text(MAX_REASON)
