"""session booking sequence: how often a booking changed, added to the session's SEQUENCE
in the personal calendar feed, so a cancelled booking is taken by calendars

Revision ID: 876152d7b456
Revises: 2644e93ddaf7
Create Date: 2026-12-05 20:24:30.046061
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = '876152d7b456'
down_revision: str | None = '2644e93ddaf7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('session_booking', sa.Column('sequence', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('session_booking', 'sequence')
