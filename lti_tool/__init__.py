"""Læringsløp, an LTI 1.3 tool. The application factory is ``create_app``
(``lti_tool.app_factory``), with the extensions it wires (``csrf``, ``limiter``).

The package itself imports nothing: they are loaded when first asked for (PEP 562), so
gunicorn's master, which reads ``lti_tool.gunicorn_conf`` and logs through
``lti_tool.observability``, does not carry Flask, SQLAlchemy and the rest that only its
workers run (some 45 MB; issue 15's memory, master and workers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lti_tool.app_factory import IMPORT_ENDPOINTS, create_app, csrf, limiter

__all__ = ["IMPORT_ENDPOINTS", "create_app", "csrf", "limiter"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'lti_tool' has no attribute {name!r}")
    try:
        factory = importlib.import_module("lti_tool.app_factory")
    except AttributeError as exc:
        # A name missing while the app loads (a typo, a library that dropped it) would
        # read as "lti_tool has no create_app" to gunicorn, Flask and ``from … import``,
        # which then hide the cause: an ImportError keeps it, with its traceback.
        raise ImportError(f"lti_tool.app_factory cannot be loaded: {exc}") from exc
    return getattr(factory, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
