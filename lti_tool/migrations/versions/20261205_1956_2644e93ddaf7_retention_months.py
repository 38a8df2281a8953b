"""retention months: erase people of an organisation with no launch for so many months

Revision ID: 2644e93ddaf7
Revises: 3641e08cd9eb
Create Date: 2026-12-05 19:56:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2644e93ddaf7'
down_revision: str | None = '3641e08cd9eb'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("retention_months")
