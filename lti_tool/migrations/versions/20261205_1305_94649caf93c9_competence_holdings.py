"""competence holdings: what each person holds each competence by, for the matrix

Revision ID: 94649caf93c9
Revises: aaee83116521
Create Date: 2026-12-05 13:05:44
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = "94649caf93c9"
down_revision: str | None = "aaee83116521"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The evidence each person holds each competence by (``domain.coverage.holding_rank``):
#: not a self-assessment before a self-assessment, then the most recent, then the last id.
BACKFILL = """
INSERT INTO competence_holding (organisation_id, person_id, framework_id, identifier,
                                evidence_id, weight, level, recorded_at, valid_until)
SELECT organisation_id, person_id, framework_id, identifier,
       id, weight, level, recorded_at, valid_until
FROM (
    SELECT e.organisation_id, e.person_id, v.framework_id, c.identifier,
           e.id, e.level, e.recorded_at, e.valid_until,
           CASE WHEN e.source = 'self_assessment' THEN 0 ELSE 1 END AS weight,
           ROW_NUMBER() OVER (
               PARTITION BY e.organisation_id, e.person_id, v.framework_id, c.identifier
               ORDER BY CASE WHEN e.source = 'self_assessment' THEN 0 ELSE 1 END DESC,
                        e.recorded_at DESC, e.id DESC
           ) AS rank
    FROM evidence e
    JOIN competence c ON c.id = e.competence_id
    JOIN framework_version v ON v.id = c.version_id
) ranked
WHERE rank = 1
"""


def upgrade() -> None:
    op.create_table(
        "competence_holding",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("framework_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("recorded_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name=op.f("fk_competence_holding_evidence_id_evidence"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["framework.id"],
            name=op.f("fk_competence_holding_framework_id_framework"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_competence_holding_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_competence_holding_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id",
            "person_id",
            "framework_id",
            "identifier",
            name=op.f("pk_competence_holding"),
        ),
    )
    op.create_index(
        "ix_competence_holding_competence",
        "competence_holding",
        ["organisation_id", "framework_id", "identifier"],
        unique=False,
    )
    op.create_index(
        op.f("ix_competence_holding_evidence_id"),
        "competence_holding",
        ["evidence_id"],
        unique=False,
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index(op.f("ix_competence_holding_evidence_id"), table_name="competence_holding")
    op.drop_index("ix_competence_holding_competence", table_name="competence_holding")
    op.drop_table("competence_holding")
