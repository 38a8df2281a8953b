"""What the browser brings back to the login's cookie check: a held login's id, and how
it came (the frame, the frame after storage access, or a new window)."""

from __future__ import annotations

from marshmallow import fields, validate

from lti_tool.schemas.admin import _Form

#: How the browser reaches the check: first in the LMS frame, then perhaps again.
VIA_FRAME, VIA_ACCESS, VIA_WINDOW = "frame", "access", "window"


class HeldLoginQuery(_Form):
    #: ``secrets.token_urlsafe(32)``: 43 characters of the URL-safe alphabet.
    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{43}$"))
    via = fields.String(
        load_default=VIA_FRAME, validate=validate.OneOf((VIA_FRAME, VIA_ACCESS, VIA_WINDOW))
    )
