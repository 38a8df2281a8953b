"""frameworks keep what imported files held that the tool does not use

Revision ID: 3c9d1f7a2b64
Revises: 269014c7daeb
Create Date: 2026-12-05 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c9d1f7a2b64"
down_revision: str | None = "269014c7daeb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("framework_version") as batch_op:
        batch_op.add_column(
            sa.Column("kept", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
    with op.batch_alter_table("competence") as batch_op:
        batch_op.add_column(
            sa.Column("related", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("kept", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("competence") as batch_op:
        batch_op.drop_column("kept")
        batch_op.drop_column("related")
    with op.batch_alter_table("framework_version") as batch_op:
        batch_op.drop_column("kept")
