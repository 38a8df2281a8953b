"""Fixtures the functional tests share: the example care content and the LMS gradebook."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import content
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms


@pytest.fixture
def care(app: Any, lms: TestLms) -> dict[str, Any]:
    with app.app_context():
        return content.care_content()


@pytest.fixture
def gradebook(lms: TestLms) -> FakeGradebook:
    return FakeGradebook(
        lms.platform.issuer, lms.http, lms.platform.token_url, client_id=lms.platform.client_id
    )
