"""The designer's item and mapping forms.

An item form has up to ``MAX_FORM_OPTIONS`` option rows (``option_<n>_text_<lang>``,
``option_<n>_credit``, ``option_<n>_feedback_<lang>``, ``option_<n>_value``,
``option_<n>_tolerance``), which one is correct (``correct`` — a row number, several for
multiple choice) and up to ``MAX_FORM_COMPETENCES`` competence rows (``competence_<n>``,
``weight_<n>``). Empty rows are left out. What the item type itself checks (enough options,
one fully correct …) is checked by ``domain.items`` and shown above the form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from marshmallow import ValidationError, fields, post_load, validates_schema

from lti_tool.domain.items import (
    FEEDBACK_KEYS,
    ITEM_TYPES,
    MAX_STEM_LENGTH,
    MULTIPLE_CHOICE,
    NUMERIC,
    SELF_ASSESSMENT,
    CompetenceRef,
    ItemData,
    OptionData,
    default_fractions,
)
from lti_tool.domain.texts import LANGUAGES, MAX_DESCRIPTION_LENGTH
from lti_tool.models import GradePolicy, Selection
from lti_tool.schemas.admin import Choice, Text, _Form
from lti_tool.schemas.designer import _TextsForm, _with_texts
from lti_tool.services.frameworks import MAX_CODE_LENGTH
from lti_tool.services.mappings import (
    MAX_ATTEMPTS,
    MAX_DAYS_BETWEEN,
    MAX_ITEMS_PER_COMPETENCE,
    MAX_TIME_LIMIT_MINUTES,
)

MAX_FORM_OPTIONS = 8
MAX_FORM_COMPETENCES = 4


def _number(text: str, *, whole: bool = False) -> float | None:
    """A number typed the Norwegian or the English way (2,5 or 2.5); None when blank."""
    cleaned = text.strip().replace(" ", "").replace("\u2212", "-").replace(",", ".")
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        raise ValidationError(gettext("Enter a number, like 12 or 2,5.")) from None
    if not math.isfinite(value):
        raise ValidationError(gettext("Enter a number, like 12 or 2,5."))
    if whole and value != int(value):
        raise ValidationError(gettext("Enter a whole number."))
    return value


class Number(fields.Field):
    def __init__(
        self,
        *,
        whole: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        **kwargs: Any,
    ):
        super().__init__(load_default=None, **kwargs)
        self.whole = whole
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float | None:
        number = _number(str(value or ""), whole=self.whole)
        if number is not None and self.minimum is not None and number < self.minimum:
            raise ValidationError(gettext("Enter %(min)s or more.", min=f"{self.minimum:g}"))
        if number is not None and self.maximum is not None and number > self.maximum:
            raise ValidationError(gettext("Enter at most %(max)s.", max=f"{self.maximum:g}"))
        if number is not None and self.whole:
            return int(number)
        return number


def _texts(data: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {x: data[f"{prefix}_{x}"] for x in LANGUAGES if data.get(f"{prefix}_{x}")}


def _item_fields() -> dict[str, fields.Field]:
    found: dict[str, fields.Field] = {
        "kind": Text(40),
        "code": Text(MAX_CODE_LENGTH, required=False),
        "points": Number(minimum=0, maximum=1000),
        "correct": fields.List(fields.String(), load_default=list),
    }
    for lang in LANGUAGES:
        found[f"stem_{lang}"] = Text(MAX_STEM_LENGTH, required=False)
        found[f"feedback_{lang}"] = Text(MAX_DESCRIPTION_LENGTH, required=False)
        for key in FEEDBACK_KEYS:
            found[f"outcome_{key}_{lang}"] = Text(MAX_DESCRIPTION_LENGTH, required=False)
    for n in range(1, MAX_FORM_OPTIONS + 1):
        for lang in LANGUAGES:
            found[f"option_{n}_text_{lang}"] = Text(MAX_STEM_LENGTH, required=False)
            found[f"option_{n}_feedback_{lang}"] = Text(MAX_DESCRIPTION_LENGTH, required=False)
        found[f"option_{n}_credit"] = Number()
        found[f"option_{n}_value"] = Number()
        found[f"option_{n}_tolerance"] = Number(minimum=0)
    for n in range(1, MAX_FORM_COMPETENCES + 1):
        found[f"competence_{n}"] = Choice(allow_empty=True)
        found[f"weight_{n}"] = Number(minimum=0, maximum=100)
    return found


class _ItemBase(_Form):
    @validates_schema
    def _known_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("kind") not in ITEM_TYPES:
            raise ValidationError(gettext("Choose an item type."), field_name="kind")
        if not any(data.get(f"stem_{x}") for x in LANGUAGES):
            raise ValidationError(
                gettext("Write the question or statement in at least one language."),
                field_name="stem_nb",
            )
        for n in range(1, MAX_FORM_OPTIONS + 1):
            credit = data.get(f"option_{n}_credit")
            if credit is not None and not -100 <= credit <= 100:
                raise ValidationError(
                    gettext("Credit is between -100 and 100 %."), field_name=f"option_{n}_credit"
                )

    @post_load
    def _item(self, data: dict[str, Any], **kwargs: Any) -> ItemData:
        kind = data["kind"]
        correct = {str(c) for c in data.get("correct") or []}
        rows = [n for n in range(1, MAX_FORM_OPTIONS + 1) if _row_filled(data, n, kind)]
        options = []
        if kind == NUMERIC:
            for n in rows:
                credit = data.get(f"option_{n}_credit")
                options.append(
                    OptionData(
                        fraction=(100.0 if credit is None else credit) / 100,
                        feedback=_texts(data, f"option_{n}_feedback"),
                        value=data.get(f"option_{n}_value"),
                        tolerance=data.get(f"option_{n}_tolerance"),
                    )
                )
        elif kind != SELF_ASSESSMENT:
            defaults = (
                default_fractions([str(n) in correct for n in rows])
                if kind == MULTIPLE_CHOICE
                else [1.0 if str(n) in correct else 0.0 for n in rows]
            )
            for n, default in zip(rows, defaults, strict=True):
                credit = data.get(f"option_{n}_credit")
                options.append(
                    OptionData(
                        text=_texts(data, f"option_{n}_text"),
                        fraction=default if credit is None else credit / 100,
                        feedback=_texts(data, f"option_{n}_feedback"),
                    )
                )
        competences = []
        for n in range(1, MAX_FORM_COMPETENCES + 1):
            competence_id = data.get(f"competence_{n}")
            if competence_id is not None:
                weight = data.get(f"weight_{n}")
                competences.append(
                    CompetenceRef(weight=1.0 if weight is None else weight, id=competence_id)
                )
        return ItemData(
            kind=kind,
            code=data.get("code", ""),
            stem=_texts(data, "stem"),
            feedback=_texts(data, "feedback"),
            points=1.0 if data.get("points") is None else data["points"],
            options=tuple(options),
            competences=tuple(competences),
            outcome_feedback={
                key: texts for key in FEEDBACK_KEYS if (texts := _texts(data, f"outcome_{key}"))
            },
        )


def _row_filled(data: Mapping[str, Any], n: int, kind: str) -> bool:
    if kind == NUMERIC:
        return data.get(f"option_{n}_value") is not None
    return any(data.get(f"option_{n}_text_{x}") for x in LANGUAGES)


ItemForm = type("ItemForm", (_ItemBase,), _item_fields())


def number_text(value: float) -> str:
    """A number as a form shows it: all its digits (``%g`` would cut 1234567 to 1.23457e+06)."""
    return f"{value:.12g}"


def item_form_values(item: ItemData) -> dict[str, Any]:
    """A stored item as form values (for the edit form)."""
    values: dict[str, Any] = {
        "kind": item.kind,
        "code": item.code,
        "points": number_text(item.points),
    }
    for lang, text in item.stem.items():
        values[f"stem_{lang}"] = text
    for lang, text in item.feedback.items():
        values[f"feedback_{lang}"] = text
    for key, texts in item.outcome_feedback.items():
        for lang, text in texts.items():
            values[f"outcome_{key}_{lang}"] = text
    correct = []
    for n, option in enumerate(item.options, 1):
        for lang, text in option.text.items():
            values[f"option_{n}_text_{lang}"] = text
        for lang, text in option.feedback.items():
            values[f"option_{n}_feedback_{lang}"] = text
        values[f"option_{n}_credit"] = number_text(100 * option.fraction)
        if option.value is not None:
            values[f"option_{n}_value"] = number_text(option.value)
        if option.tolerance is not None:
            values[f"option_{n}_tolerance"] = number_text(option.tolerance)
        if option.fraction > 0:
            correct.append(str(n))
    values["correct"] = correct
    for n, ref in enumerate(item.competences, 1):
        values[f"competence_{n}"] = str(ref.id)
        values[f"weight_{n}"] = number_text(ref.weight)
    return values


class ImportItemsForm(_Form):
    format = Text(20)
    language = Text(2)
    competence_ids = fields.List(Choice(), load_default=list)

    @validates_schema
    def _known(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("format") not in ("moodle-xml", "gift"):
            raise ValidationError(gettext("Choose a format."), field_name="format")
        if data.get("language") not in LANGUAGES:
            raise ValidationError(gettext("Choose a language."), field_name="language")


def _mapping_rule_fields() -> dict[str, fields.Field]:
    return {
        "code": Text(MAX_CODE_LENGTH),
        "selection": Text(10, required=False),
        "items_per_competence": Number(whole=True, minimum=1, maximum=MAX_ITEMS_PER_COMPETENCE),
        "shuffle": fields.Boolean(load_default=False, truthy={"1", "on", "true"}),
        "time_limit_minutes": Number(whole=True, minimum=1, maximum=MAX_TIME_LIMIT_MINUTES),
        "max_attempts": Number(whole=True, minimum=1, maximum=MAX_ATTEMPTS),
        "min_days_between": Number(whole=True, minimum=1, maximum=MAX_DAYS_BETWEEN),
        "pass_percentage": Number(minimum=0, maximum=100),
        "grade_policy": Text(10, required=False),
    }


class _MappingBase(_TextsForm):
    @validates_schema
    def _rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        selection = data.get("selection") or Selection.FIXED.value
        if selection not in {s.value for s in Selection}:
            raise ValidationError(gettext("Choose how items are selected."), "selection")
        if selection == Selection.RANDOM and not data.get("items_per_competence"):
            raise ValidationError(
                gettext("Say how many items to draw per competence."), "items_per_competence"
            )
        if (data.get("grade_policy") or GradePolicy.HIGHEST) not in {p.value for p in GradePolicy}:
            raise ValidationError(
                gettext("Choose which attempt gives the grade: the highest or the latest."),
                "grade_policy",
            )

    @post_load
    def _selection(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["selection"] = Selection(data.get("selection") or Selection.FIXED.value)
        data["grade_policy"] = GradePolicy(data.get("grade_policy") or GradePolicy.HIGHEST.value)
        return data


MappingForm = _with_texts("MappingForm", _MappingBase, **_mapping_rule_fields())
NewMappingForm = _with_texts(
    "NewMappingForm",
    _MappingBase,
    **_mapping_rule_fields(),
    job_role_id=Choice(allow_empty=True),
    competence_ids=fields.List(Choice(), load_default=list),
)
