"""The content package forms: what to export (designer page, API and command line alike)."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext
from marshmallow import ValidationError, fields, post_load, validates_schema

from lti_tool.schemas.admin import Text, _Form
from lti_tool.services.packages import ExportRequest

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$")


class PackageExportForm(_Form):
    name = Text(100)
    version = Text(20)
    licence = Text(100, required=False)
    title = Text(200, required=False)
    frameworks = fields.List(fields.String(), load_default=list)

    @validates_schema
    def _shape(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "name" in data and not NAME.match(data["name"]):
            raise ValidationError(
                gettext("Use small letters a-z, digits, dots, dashes and underscores."),
                field_name="name",
            )
        if "version" in data and not VERSION.match(data["version"]):
            raise ValidationError(
                gettext("Write the version as numbers with dots, e.g. 1.0.0."),
                field_name="version",
            )

    @post_load
    def _request(self, data: dict[str, Any], **kwargs: Any) -> ExportRequest:
        return ExportRequest(
            name=data["name"],
            version=data["version"],
            licence=data.get("licence") or "CC-BY-4.0",
            title={"nb": data["title"]} if data.get("title") else {},
            frameworks=[code for code in data["frameworks"] if code],
        )
