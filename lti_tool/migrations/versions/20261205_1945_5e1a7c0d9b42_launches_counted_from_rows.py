"""launches counted from their rows: the deployment's launch counter and last launch go

Every launch updated its deployment's row (launch_count + 1, last_launch_at), so the
launches of a deployment waited for one another. Both are now read from the launch rows,
which every counted launch has.

Revision ID: 5e1a7c0d9b42
Revises: cfe30255bac2
Create Date: 2026-12-05 19:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = '5e1a7c0d9b42'
down_revision: str | None = 'cfe30255bac2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deployment', schema=None) as batch_op:
        batch_op.drop_column('launch_count')
        batch_op.drop_column('last_launch_at')


def downgrade() -> None:
    with op.batch_alter_table('deployment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('launch_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_launch_at', lti_tool.db.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE deployment SET "
        "launch_count = (SELECT count(*) FROM launch WHERE launch.deployment_pk = deployment.id), "
        "last_launch_at = (SELECT max(launch.created_at) FROM launch "
        "WHERE launch.deployment_pk = deployment.id)"
    )
