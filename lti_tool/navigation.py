"""A POST navigation: how a page without the session cookie follows a link.

A browser that drops the tool's cookies in the LMS iframe can send the launch token only
in a body or a header, never in a URL (``lti_tool.auth``). ``static/launch_token.js``
turns a link click or a GET form into a POST whose body holds exactly two fields,
``_navigate=get`` and ``lt=<launch token>``; this middleware turns that request back into
the GET it stands for, with the token in the ``X-Launch-Token`` header, before Flask
routes it. A body with anything else is left as the POST it is (routed as a POST, CSRF
checked): a state-changing POST cannot be disguised as a navigation, and a navigation can
only ever reach what a GET reaches. Nor is a POST from another site (``Sec-Fetch-Site``) a
navigation.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

MARKER = "_navigate"
#: Bodies larger than this are never navigations (a launch token is about 100 bytes).
MAX_BODY = 4096


class NavigationPost:
    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and _urlencoded(environ) and _own(environ):
            length = _length(environ)
            if 0 < length <= MAX_BODY:
                body = environ["wsgi.input"].read(length)
                token = _navigation_token(body)
                if token is None:
                    environ["wsgi.input"] = io.BytesIO(body)  # read again by the app
                else:
                    environ.update(
                        {
                            "REQUEST_METHOD": "GET",
                            "CONTENT_LENGTH": "0",
                            "wsgi.input": io.BytesIO(b""),
                            "HTTP_X_LAUNCH_TOKEN": token,
                        }
                    )
                    environ.pop("CONTENT_TYPE", None)
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def _own(environ: dict[str, Any]) -> bool:
    """Sent from the tool's own pages, or by the person (a reload), as far as the browser
    tells (``Sec-Fetch-Site``; older browsers send none): another site's form cannot make a
    browser navigate by a token of its choosing (login CSRF)."""
    return environ.get("HTTP_SEC_FETCH_SITE", "same-origin") in ("same-origin", "none")


def _urlencoded(environ: dict[str, Any]) -> bool:
    kind = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
    return kind == "application/x-www-form-urlencoded"


def _length(environ: dict[str, Any]) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _navigation_token(body: bytes) -> str | None:
    """The launch token when the body is exactly a navigation's two fields."""
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    found = dict(fields)
    if len(fields) != 2 or found.keys() != {MARKER, "lt"} or found[MARKER] != "get":
        return None
    return found["lt"] or None
