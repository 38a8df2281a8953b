"""item outcome feedback: Moodle's combined feedback and numerical "*" answer feedback

Revision ID: 269014c7daeb
Revises: 0fe726138bb4
Create Date: 2026-12-05 10:21:37.835330
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '269014c7daeb'
down_revision: str | None = '0fe726138bb4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_feedback', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('outcome_feedback')
