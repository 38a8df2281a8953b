"""The forms of booking a session and of the instructor's attendance list."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from lti_tool.schemas.admin import Choice, _Form

#: Where a booking form may send the person back to: the tool's own learner pages.
RETURN_PREFIXES = ("/learner/", "/sessions/")


class ReturnPath(fields.Field):
    """A page of the tool to return to after the form; anything else (another site, a
    path of another area) is dropped, so the form cannot redirect elsewhere."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=None, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        path = str(value or "").strip()
        if (
            len(path) > 300
            or not path.startswith(RETURN_PREFIXES)
            or any(c in path for c in "\\\r\n\t ")
            or "//" in path
        ):
            return None
        return path


class BookingForm(_Form):
    """Book a seat, or cancel a booking."""

    next = ReturnPath()


class SessionAttendanceForm(_Form):
    """Who came (``attended``), and whose level the instructor confirms (``confirmed``)."""

    attended = fields.List(Choice(), load_default=list)
    confirmed = fields.List(Choice(), load_default=list)
