"""result reads kept when failed: their last HTTP status and when the worker gave up, for
the admin (/admin/deliveries)

Revision ID: 518f23c82563
Revises: d4a8e61f2c90
Create Date: 2026-12-05 19:39:30.903021
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = '518f23c82563'
down_revision: str | None = 'd4a8e61f2c90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('result_read', sa.Column('last_status', sa.Integer(), nullable=True))
    op.add_column('result_read', sa.Column('failed_at', lti_tool.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # before, a failed read was deleted: without failed_at it would be read again
    op.execute("DELETE FROM result_read WHERE failed_at IS NOT NULL")
    op.drop_column('result_read', 'failed_at')
    op.drop_column('result_read', 'last_status')
