"""Two first launches at once must not fail: the loser of a unique insert reads the row."""

from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.db import get_session, insert_or_find
from lti_tool.models import Deployment, Status


def test_insert_or_find_returns_the_row_a_concurrent_request_inserted(app, lms):
    with app.app_context():
        session = get_session()
        existing = session.scalar(select(Deployment))
        assert existing is not None

        def find() -> Deployment | None:
            return session.scalar(
                select(Deployment).where(
                    Deployment.platform_id == existing.platform_id,
                    Deployment.deployment_id == existing.deployment_id,
                )
            )

        duplicate = Deployment(
            platform_id=existing.platform_id,
            deployment_id=existing.deployment_id,
            organisation_id=existing.organisation_id,
            status=Status.PENDING,
        )
        found = insert_or_find(session, duplicate, find)
        session.commit()

        assert found.id == existing.id
        assert session.scalar(select(func.count()).select_from(Deployment)) == 1
        assert found.status == Status.ACTIVE  # the row that won, untouched
