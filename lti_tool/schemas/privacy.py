"""The forms of privacy: erasing a person (with the reason kept in the audit log), and an
organisation's retention rule."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from lti_tool.schemas.admin import Text
from lti_tool.services.erasure import MAX_REASON
from lti_tool.services.retention import (
    MAX_AUDIT_RETENTION_MONTHS,
    MAX_RETENTION_MONTHS,
    MIN_AUDIT_RETENTION_MONTHS,
)


class EraseForm(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = Text(MAX_REASON)


class RetentionForm(Schema):
    """An organisation's retention rule: months without a launch; empty: no rule."""

    class Meta:
        unknown = EXCLUDE

    retention_months = fields.Method(deserialize="_months", load_default=None)

    def _months(self, value: Any) -> int | None:
        text = str(value or "").strip()
        if not text:
            return None
        if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_RETENTION_MONTHS:
            raise ValidationError(
                gettext(
                    "Enter a whole number of months from 1 to %(max)d, or leave it empty.",
                    max=MAX_RETENTION_MONTHS,
                )
            )
        return int(text)


class AuditRetentionForm(Schema):
    """How long the organisation's audit log keeps its events, in months."""

    class Meta:
        unknown = EXCLUDE

    audit_retention_months = fields.Method(deserialize="_months", required=True)

    def _months(self, value: Any) -> int:
        text = str(value or "").strip()
        low, high = MIN_AUDIT_RETENTION_MONTHS, MAX_AUDIT_RETENTION_MONTHS
        if not re.fullmatch(r"[0-9]{1,4}", text) or not low <= int(text) <= high:
            raise ValidationError(
                gettext(
                    "Enter a whole number of months from %(min)d to %(max)d.", min=low, max=high
                )
            )
        return int(text)
