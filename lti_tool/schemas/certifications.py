"""Forms of certification: definitions, their paths, courses, attendance, manual issue and
revocation. Messages are translated when a form is read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext
from marshmallow import ValidationError, fields, post_load, validates_schema

from lti_tool.domain import certification_rules as rules
from lti_tool.domain.texts import LANGUAGES, MAX_DESCRIPTION_LENGTH
from lti_tool.models import AchievementType, CourseKind
from lti_tool.schemas.admin import FILL_IN, Choice, Text, _Form
from lti_tool.schemas.designer import _TextsForm, _with_texts
from lti_tool.schemas.items import Number
from lti_tool.services.certifications import (
    MAX_CONDITIONS_PER_PATH,
    MAX_VALIDITY_MONTHS,
    MAX_WINDOW_DAYS,
    CertificationTerms,
    ConditionInput,
)
from lti_tool.services.frameworks import MAX_CODE_LENGTH
from lti_tool.services.organisations import MAX_EXPIRING_DAYS

#: Condition rows a path form shows.
PATH_FORM_ROWS = 6
MAX_REASON_LENGTH = 2000


class _CertificationBase(_TextsForm):
    @validates_schema
    def _type(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("achievement_type") not in {t.value for t in AchievementType}:
            raise ValidationError(gettext("Choose one."), "achievement_type")

    @post_load
    def _terms(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["criteria"] = {
            x: data.pop(f"criteria_{x}") for x in LANGUAGES if data[f"criteria_{x}"]
        }
        data["terms"] = CertificationTerms(
            achievement_type=AchievementType(data.pop("achievement_type")),
            validity_months=data.pop("validity_months"),
            renewal_window_days=data.pop("renewal_window_days"),
            minimum_active_days=data.pop("minimum_active_days"),
        )
        return data


CertificationForm = _with_texts(
    "CertificationForm",
    _CertificationBase,
    code=Text(MAX_CODE_LENGTH),
    achievement_type=Text(20),
    validity_months=Number(whole=True, minimum=1, maximum=MAX_VALIDITY_MONTHS),
    renewal_window_days=Number(whole=True, minimum=0, maximum=MAX_WINDOW_DAYS),
    minimum_active_days=Number(whole=True, minimum=0, maximum=MAX_WINDOW_DAYS),
    **{f"criteria_{x}": Text(MAX_DESCRIPTION_LENGTH, required=False) for x in LANGUAGES},
)


class _PathBase(_Form):
    operator = Text(3)

    @validates_schema
    def _some(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("operator") not in rules.OPERATORS:
            raise ValidationError(gettext("Choose one."), "operator")
        if not any(data.get(f"target_{n}") for n in range(1, PATH_FORM_ROWS + 1)):
            raise ValidationError(gettext("Choose at least one condition."), "target_1")
        for n in range(1, PATH_FORM_ROWS + 1):
            target = data.get(f"target_{n}") or ""
            if target.startswith(rules.COMPETENCE) and not data.get(f"level_{n}"):
                raise ValidationError(gettext("Choose the level it must reach."), f"level_{n}")

    @post_load
    def _conditions(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["conditions"] = [
            ConditionInput(target=target, level=data.get(f"level_{n}"))
            for n in range(1, PATH_FORM_ROWS + 1)
            if (target := data.pop(f"target_{n}", ""))
        ]
        return data


PathForm = type(
    "PathForm",
    (_PathBase,),
    {
        **{f"target_{n}": Text(60, required=False) for n in range(1, PATH_FORM_ROWS + 1)},
        **{f"level_{n}": Number(whole=True, minimum=1) for n in range(1, PATH_FORM_ROWS + 1)},
    },
)
assert PATH_FORM_ROWS <= MAX_CONDITIONS_PER_PATH


class CourseForm(_Form):
    code = Text(MAX_CODE_LENGTH)
    kind = Text(20)
    title_nb = Text(500, required=False)
    title_nn = Text(500, required=False)
    title_en = Text(500, required=False)

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("kind") not in {k.value for k in CourseKind}:
            raise ValidationError(gettext("Choose one."), "kind")
        if not any(data.get(f"title_{x}") for x in LANGUAGES):
            raise ValidationError(gettext("Give a title in at least one language."), "title_nb")

    @post_load
    def _gather(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["title"] = {x: data.pop(f"title_{x}") for x in LANGUAGES if data[f"title_{x}"]}
        data["kind"] = CourseKind(data["kind"])
        return data


class FormDate(fields.Field):
    """A date from an ``<input type=date>`` (YYYY-MM-DD)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(gettext("Enter a date like 2026-03-31.")) from None


class AttendanceForm(_Form):
    attended_on = FormDate(required=True, error_messages={"required": FILL_IN})
    person_ids = fields.List(Choice(), required=True)

    @validates_schema
    def _someone(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("person_ids"):
            raise ValidationError(gettext("Choose at least one person."), "person_ids")


class ManualIssueForm(_Form):
    person_id = Choice()
    reason = Text(MAX_REASON_LENGTH)


class RevokeForm(_Form):
    reason = Text(MAX_REASON_LENGTH)


class ExpiringQuery(_Form):
    days = Number(whole=True, minimum=1, maximum=MAX_EXPIRING_DAYS)
