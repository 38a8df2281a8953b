"""The designer's forms: frameworks, competences, scales, imports, job roles and their
requirements. Texts come in three languages as ``<field>_nb``, ``<field>_nn``, ``<field>_en``.

Messages are translated when a form is read; unknown fields (CSRF and launch tokens) are
left out.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from marshmallow import ValidationError, fields, post_load, validates, validates_schema

from lti_tool.domain.texts import LANGUAGES, MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH
from lti_tool.schemas.admin import CHOOSE, Choice, HttpUrl, Text, _Form
from lti_tool.services.framework_io import FORMATS
from lti_tool.services.frameworks import MAX_CODE_LENGTH, MAX_LEVELS


def _texts(data: dict[str, Any], name: str) -> dict[str, str]:
    """``{"nb": …, "nn": …, "en": …}`` from the ``<name>_<lang>`` fields, blanks left out."""
    found = {}
    for lang in LANGUAGES:
        value = data.pop(f"{name}_{lang}", "")
        if value:
            found[lang] = value
    return found


def _language_fields(name: str, max_length: int) -> dict[str, Text]:
    return {f"{name}_{lang}": Text(max_length, required=False) for lang in LANGUAGES}


class _TextsForm(_Form):
    """A form with a title and a description in each language, gathered as dicts."""

    @validates_schema
    def _a_title(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "title_nb" in self.fields and not any(data.get(f"title_{x}") for x in LANGUAGES):
            raise ValidationError(
                gettext("Give a title in at least one language."), field_name="title_nb"
            )

    @post_load
    def _gather(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name in ("title", "description"):
            if f"{name}_nb" in self.fields:
                data[name] = _texts(data, name)
        return data


def _with_texts(name: str, base: type, **more: Any) -> type:
    attrs = {
        **_language_fields("title", MAX_TITLE_LENGTH),
        **_language_fields("description", MAX_DESCRIPTION_LENGTH),
        **more,
    }
    return type(name, (base,), attrs)


FrameworkForm = _with_texts("FrameworkForm", _TextsForm, code=Text(MAX_CODE_LENGTH))
VersionTextsForm = _with_texts("VersionTextsForm", _TextsForm)
"""A draft version's title and description, in each language."""
CompetenceForm = _with_texts(
    "CompetenceForm",
    _TextsForm,
    code=Text(MAX_CODE_LENGTH),
    parent_id=Choice(allow_empty=True),
    external_ref=HttpUrl(required=False),
)
JobRoleForm = _with_texts("JobRoleForm", _TextsForm, code=Text(MAX_CODE_LENGTH))


class Position(fields.Field):
    """A place among siblings counted from 1, or empty for last; loaded as from 0."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        if value in ("", None):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(gettext("Enter a whole number of 1 or more.")) from None
        if number < 1:
            raise ValidationError(gettext("Enter a whole number of 1 or more."))
        return number - 1


class MoveForm(_Form):
    parent_id = Choice(allow_empty=True)
    position = Position(load_default=None)


class _ScaleBase(_Form):
    """Up to MAX_LEVELS levels, ``level_<n>_<lang>`` and ``description_<n>_<lang>``; empty
    rows at the end are left out, an empty row between filled ones is an error."""

    @validates_schema
    def _no_gaps(self, data: dict[str, Any], **kwargs: Any) -> None:
        filled = [n for n in range(1, MAX_LEVELS + 1) if self._row_filled(data, n)]
        labelled = [n for n in filled if any(data.get(f"level_{n}_{x}") for x in LANGUAGES)]
        errors: dict[str, list[str]] = {}
        for n in filled:
            if n not in labelled:
                errors[f"level_{n}_nb"] = [gettext("Give the level a label.")]
        last = filled[-1] if filled else 0
        for n in range(1, last):
            if n not in filled:
                errors[f"level_{n}_nb"] = [
                    gettext("Fill in this level, or move the ones below it up.")
                ]
        if len(filled) < 2 and not errors:
            errors["level_1_nb"] = [gettext("A scale needs at least two levels.")]
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _row_filled(data: dict[str, Any], n: int) -> bool:
        return any(
            data.get(f"{kind}_{n}_{x}") for kind in ("level", "description") for x in LANGUAGES
        )

    @post_load
    def _levels(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        levels = []
        for n in range(1, MAX_LEVELS + 1):
            if self._row_filled(data, n):
                levels.append(
                    (
                        {
                            x: data[f"level_{n}_{x}"]
                            for x in LANGUAGES
                            if data.get(f"level_{n}_{x}")
                        },
                        {
                            x: data[f"description_{n}_{x}"]
                            for x in LANGUAGES
                            if data.get(f"description_{n}_{x}")
                        },
                    )
                )
        return {"levels": levels}


ScaleForm = type(
    "ScaleForm",
    (_ScaleBase,),
    {
        f"{kind}_{n}_{lang}": Text(
            MAX_TITLE_LENGTH if kind == "level" else MAX_DESCRIPTION_LENGTH, required=False
        )
        for n in range(1, MAX_LEVELS + 1)
        for kind in ("level", "description")
        for lang in LANGUAGES
    },
)


class Word(fields.String):
    """One of the offered words (a select's value)."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(
            required=True, error_messages={"required": CHOOSE, "null": CHOOSE}, **kwargs
        )
        self.choices = choices

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in self.choices:
            raise ValidationError(str(CHOOSE))
        return text


class ImportForm(_Form):
    format = Word(tuple(FORMATS))
    language = Word(LANGUAGES)
    publish = fields.Boolean(
        load_default=False, truthy={"1", "on", "y"}, falsy={"", "0", "off", "n"}
    )


class ExportForm(_Form):
    format = Word(tuple(FORMATS))
    version = Choice(allow_empty=True)


class Renewal(fields.Field):
    """Months between renewals, or empty for none."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        if value in ("", None):
            return None
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValidationError(gettext("Enter a whole number of months, or nothing.")) from None


class _RequirementFields(_Form):
    required_level = Choice()
    mandatory = fields.Boolean(
        load_default=False, truthy={"1", "on", "y"}, falsy={"", "0", "off", "n"}
    )
    renewal_months = Renewal(load_default=None)


class RequirementForm(_RequirementFields):
    competence_id = Choice()


class RequirementUpdateForm(_RequirementFields):
    pass


class PickForm(_Form):
    competence_id = Choice(allow_empty=True)

    @validates("competence_id")
    def _positive(self, value: int | None, **kwargs: Any) -> None:
        if value is not None and value < 1:
            raise ValidationError(str(CHOOSE))
