"""person.ever_granted: launches and pages of people never granted anything read no grants

Revision ID: 9d2f4b1a7e63
Revises: c4a7e19b3d52
Create Date: 2026-12-06 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9d2f4b1a7e63'
down_revision: str | None = 'c4a7e19b3d52'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ever_granted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # everyone granted before (withdrawn grants too: the flag is kept after a withdrawal)
    op.execute(
        "UPDATE person SET ever_granted = true WHERE EXISTS "
        "(SELECT 1 FROM permission_grant WHERE permission_grant.person_id = person.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("ever_granted")
