"""launches indexed by deployment and time: the console counts a window, not every launch

Revision ID: 3b8e5c2d1f47
Revises: 9d2f4b1a7e63
Create Date: 2026-12-06 08:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '3b8e5c2d1f47'
down_revision: str | None = '9d2f4b1a7e63'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_launch_deployment_pk_created_at", ["deployment_pk", "created_at"], unique=False
        )
        batch_op.drop_index("ix_launch_deployment_pk")


def downgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.create_index("ix_launch_deployment_pk", ["deployment_pk"], unique=False)
        batch_op.drop_index("ix_launch_deployment_pk_created_at")
