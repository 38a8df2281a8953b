"""certificate withdrawn on erasure: a certificate outlives its erased holder, nameless

Revision ID: 3641e08cd9eb
Revises: 5e1a7c0d9b42
Create Date: 2026-12-05 19:40:02.961286
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = '3641e08cd9eb'
down_revision: str | None = '5e1a7c0d9b42'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_certificate_person_id_person"


def upgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("withdrawn_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("person_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.create_foreign_key(FK, "person", ["person_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    # The withdrawn certificates have no holder to go back to: they go.
    op.execute("DELETE FROM certificate_event WHERE certificate_id IN "
               "(SELECT id FROM certificate WHERE person_id IS NULL)")
    op.execute("UPDATE certificate SET previous_id = NULL WHERE previous_id IN "
               "(SELECT id FROM certificate WHERE person_id IS NULL)")
    op.execute("DELETE FROM certificate WHERE person_id IS NULL")
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.create_foreign_key(FK, "person", ["person_id"], ["id"], ondelete="CASCADE")
        batch_op.alter_column("person_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("withdrawn_at")
