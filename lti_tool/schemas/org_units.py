"""The manager's forms for sectors, departments and units."""

from __future__ import annotations

from lti_tool.models import UnitKind
from lti_tool.schemas.admin import Choice, Text, _Form
from lti_tool.schemas.designer import Word
from lti_tool.services.org_units import MAX_CODE_LENGTH, MAX_NAME_LENGTH


class UnitForm(_Form):
    kind = Word(tuple(k.value for k in UnitKind))
    code = Text(MAX_CODE_LENGTH)
    name = Text(MAX_NAME_LENGTH)
    parent_id = Choice(allow_empty=True)


class RenameUnitForm(_Form):
    code = Text(MAX_CODE_LENGTH)
    name = Text(MAX_NAME_LENGTH)


class MoveUnitForm(_Form):
    parent_id = Choice(allow_empty=True)
