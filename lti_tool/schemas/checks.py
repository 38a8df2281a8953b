"""What every schema checks of text, numbers and addresses from outside, in one place.

PostgreSQL refuses a NUL character in text and integers beyond its ``integer``, and a
stored ``javascript:`` address would run as a link: each is refused here as a field's
error (422), before anything reaches the database or a page.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask_babel import lazy_gettext
from marshmallow import ValidationError, fields, validate
from werkzeug.exceptions import HTTPException

from lti_tool.db import MAX_INT
from lti_tool.domain.urls import MAX_URL_LENGTH, is_web_url

NUL_REFUSED = lazy_gettext("Remove the NUL character: text cannot hold it.")
NOT_A_WEB_URL = lazy_gettext("Enter a full address that starts with https:// (or http://).")
TOO_LONG = lazy_gettext("Use at most %(count)d characters.")
OUT_OF_RANGE = lazy_gettext("The value is out of range.")


def refuse_nul(text: str) -> None:
    if "\x00" in text:
        raise ValidationError(str(NUL_REFUSED))


def check_web_url(text: str) -> None:
    if not is_web_url(text):
        raise ValidationError(str(NOT_A_WEB_URL))


class Text(fields.String):
    """A JSON string of at most ``max_length`` characters (the column's), without NUL."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        kwargs["metadata"] = {"maxLength": max_length, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        refuse_nul(text)
        if len(text) > self.max_length:
            raise ValidationError(str(TOO_LONG) % {"count": self.max_length})
        return text


class WebUrl(Text):
    """An absolute http(s) address (``domain.urls``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"format": "uri", **kwargs.get("metadata", {})}
        super().__init__(MAX_URL_LENGTH, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        check_web_url(text)
        return text


class Int(fields.Integer):
    """A whole number an ``Integer`` column holds (by default the whole range)."""

    def __init__(self, *, min: int = -MAX_INT - 1, max: int = MAX_INT, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=min, max=max, error=OUT_OF_RANGE), **kwargs)


def Id(**kwargs: Any) -> Int:
    """A row's id: 1 up to the largest an id column holds."""
    return Int(min=1, **kwargs)


#: The bodies Werkzeug parses into ``request.form``; any other leaves it empty.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def refuse_nul_in_request() -> None:
    """Before any view: a NUL in the path, the query string or a form field is a 422
    naming the field (JSON bodies: the schemas' ``Text``). No view need think of it.

    Most requests hold none, and are seen to hold none without parsing their query
    string: a decoded NUL can only come from a ``%00`` (or a raw NUL) in it, and one in
    a path parameter from a NUL in the (already decoded) path. A form body is parsed
    here, as its view would."""
    from flask import request

    from lti_tool.errors import InvalidInput

    environ = request.environ
    query = environ.get("QUERY_STRING", "")
    form = request.mimetype in FORM_TYPES
    if (
        not form
        and "\x00" not in environ.get("PATH_INFO", "")
        and "%00" not in query
        and "\x00" not in query
    ):
        return
    named = [*(request.view_args or {}).items(), *request.args.items(multi=True)]
    if form:
        with contextlib.suppress(HTTPException):  # too large: the view answers that
            named += request.form.items(multi=True)
    for name, value in named:
        if "\x00" in str(name) or (isinstance(value, str) and "\x00" in value):
            raise InvalidInput({str(name).replace("\x00", "\\0"): [str(NUL_REFUSED)]})


def id_value(text: str) -> int:
    """A row's id from a query or form field (``request.args.get(…, type=id_value)``):
    ValueError for anything else, so Werkzeug gives the default."""
    if not text.isdecimal() or len(text) > len(str(MAX_INT)) or not 1 <= int(text) <= MAX_INT:
        raise ValueError(f"not an id: {text[:20]!r}")
    return int(text)
