"""The tool's one clock: rows are stamped, and certificates' validity, renewal windows and
verification are judged, by ``now``, so tests can move it (monkeypatch
``lti_tool.clock.now``) instead of waiting four years."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
