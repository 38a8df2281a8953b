"""coverage snapshots: monthly counts for the coordinators' trend

Revision ID: 8e2708e3cdc2
Revises: 06945168a72b
Create Date: 2026-12-05 13:18:21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = "8e2708e3cdc2"
down_revision: str | None = "06945168a72b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coverage_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("met", sa.Integer(), nullable=False),
        sa.Column("expiring", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("gap", sa.Integer(), nullable=False),
        sa.Column("never_assessed", sa.Integer(), nullable=False),
        sa.Column("recorded_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_coverage_snapshot_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_snapshot")),
        sa.UniqueConstraint(
            "month",
            "organisation_id",
            "dimension",
            "key",
            name=op.f("uq_coverage_snapshot_month_organisation_id_dimension_key"),
        ),
    )
    op.create_index(
        op.f("ix_coverage_snapshot_month"), "coverage_snapshot", ["month"], unique=False
    )
    op.create_index(
        op.f("ix_coverage_snapshot_organisation_id"),
        "coverage_snapshot",
        ["organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_coverage_snapshot_organisation_id"), table_name="coverage_snapshot")
    op.drop_index(op.f("ix_coverage_snapshot_month"), table_name="coverage_snapshot")
    op.drop_table("coverage_snapshot")
