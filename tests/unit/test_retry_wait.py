"""The wait a 429 page says (``errors.wait_rounded_up``): never less than Retry-After."""

from __future__ import annotations

import datetime as dt

import pytest

from lti_tool.errors import wait_rounded_up


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (45, dt.timedelta(seconds=45)),
        (61, dt.timedelta(minutes=2)),
        (3_600, dt.timedelta(hours=1)),
        (5_399, dt.timedelta(hours=2)),  # Babel alone says "1 hour"
        (90_000, dt.timedelta(days=2)),
    ],
)
def test_the_wait_is_rounded_up_in_its_unit(seconds, said):
    assert wait_rounded_up(seconds) == said
