"""Fixtures the functional tests share: the example care content, the LMS gradebook, and
another organisation launching from the same LMS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import Deployment, Organisation, Platform, Status
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


@pytest.fixture
def organisation_on_the_same_lms(app: Any, lms: TestLms) -> Callable[..., int]:
    """Add an organisation that launches from the test LMS under a deployment of its own
    (a regional Moodle with a deployment per municipality); its id."""

    def add(name: str = "Annenkommune", deployment_id: str = "annen-1") -> int:
        return add_organisation_on_lms(app, lms.platform.issuer, name, deployment_id)

    return add


def add_organisation_on_lms(app: Any, issuer: str, name: str, deployment_id: str) -> int:
    """An organisation with an active deployment of its own on the LMS of ``issuer``; its id."""
    with app.app_context():
        session = get_session()
        other = Organisation(name=name)
        session.add(other)
        session.flush()
        platform = session.scalar(select(Platform).where(Platform.issuer == issuer))
        assert platform is not None
        session.add(
            Deployment(
                platform_id=platform.id,
                deployment_id=deployment_id,
                organisation_id=other.id,
                status=Status.ACTIVE,
            )
        )
        session.commit()
        return other.id
