"""Web addresses that came from outside (forms, the API, import files, LMS registrations).

Only ``http`` and ``https`` are ever stored or shown as a link: a ``javascript:`` or
``data:`` address in an ``href`` runs script in the tool's own origin, where the page's
address holds the launch token. Every URL field is checked here, and templates render a
stored address through the ``safe_url`` filter, which shows nothing that fails the check.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")
#: The longest address any URL column stores.
MAX_URL_LENGTH = 2048

#: Whitespace and control characters, which browsers strip or ignore in an address (so
#: "java\tscript:" runs) and which no address we store needs.
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def is_web_url(value: Any) -> bool:
    """An absolute http(s) address with a host, no whitespace and no control characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        return False
    if _BLANK_OR_CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)


def safe_url(value: Any) -> str | None:
    """The address when it may be a link, else None (templates: ``x|safe_url``)."""
    return value if is_web_url(value) else None
