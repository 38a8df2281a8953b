"""JSON from outside (request bodies, import files), parsed so that nesting cannot crash
a request: Python's parser recurses, and 50,000 ``[`` raise ``RecursionError``.

Nothing the tool reads nests deeper than a few levels, so anything deeper than
``MAX_DEPTH`` is refused as invalid JSON (a ``ValueError``, which every parser's caller
already handles), and the request body of any view gets a 400 (``JsonProvider``).
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

#: The deepest nesting of objects and arrays accepted.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """The JSON nests objects and arrays deeper than MAX_DEPTH."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def loads(text: str | bytes, **kwargs: Any) -> Any:
    """``json.loads``, refusing nesting deeper than MAX_DEPTH with ``TooDeep``."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise TooDeep from None
    if _deeper_than(value, MAX_DEPTH):
        raise TooDeep
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Does ``value`` nest containers more than ``limit`` deep? (No recursion.)"""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def nul_at(value: Any) -> str | None:
    """Where the first string (or key) holding a NUL character is, as a path such as
    ``CFItems[1].notes``; None when there is none. PostgreSQL stores no NUL in text, and
    a JSON file spells it ``\\u0000``, which only the parsed value shows. (No recursion.)"""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
            continue
        if isinstance(node, dict):
            children = [
                (child, f"{path}.{key}" if path else str(key)) for key, child in node.items()
            ]
            for key in node:
                if "\x00" in key:
                    key = key.replace("\x00", "\\0")
                    return f"{path}.{key}" if path else key
        elif isinstance(node, list):
            children = [(child, f"{path}[{index}]") for index, child in enumerate(node)]
        else:
            continue
        pending.extend(reversed(children))  # depth first, in the file's order
    return None


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies parsed by ``loads``: too deep is a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        from lti_tool.errors import JsonTooDeep

        try:
            return loads(s, **kwargs)
        except TooDeep as exc:
            raise JsonTooDeep(str(exc)) from None
