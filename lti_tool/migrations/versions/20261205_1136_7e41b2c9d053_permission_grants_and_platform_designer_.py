"""permission grants and platform designer roles

Revision ID: 7e41b2c9d053
Revises: 3c9d1f7a2b64
Create Date: 2026-12-05 11:36:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = "7e41b2c9d053"
down_revision: str | None = "3c9d1f7a2b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "permission_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "manager",
                "designer",
                "coordinator",
                "admin",
                name="grant_kind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("granted_via", sa.String(length=20), nullable=False),
        sa.Column("granted_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_via", sa.String(length=20), nullable=True),
        sa.Column("withdrawn_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=500), nullable=True),
        sa.Column("active_key", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["person.id"],
            name=op.f("fk_permission_grant_granted_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_permission_grant_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_permission_grant_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_permission_grant_region_id_region"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
            name=op.f("fk_permission_grant_unit_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"],
            ["person.id"],
            name=op.f("fk_permission_grant_withdrawn_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permission_grant")),
        sa.UniqueConstraint("active_key", name=op.f("uq_permission_grant_active_key")),
    )
    with op.batch_alter_table("permission_grant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_permission_grant_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            "ix_permission_grant_person_active", ["person_id", "withdrawn_at"], unique=False
        )

    with op.batch_alter_table("platform", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "designer_roles",
                sa.String(length=200),
                server_default="Administrator,ContentDeveloper,Instructor,TeachingAssistant",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("platform", schema=None) as batch_op:
        batch_op.drop_column("designer_roles")

    with op.batch_alter_table("permission_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_permission_grant_person_active")
        batch_op.drop_index(batch_op.f("ix_permission_grant_organisation_id"))

    op.drop_table("permission_grant")
