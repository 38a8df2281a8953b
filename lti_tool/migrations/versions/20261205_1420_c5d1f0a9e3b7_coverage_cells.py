"""coverage cells: each person's requirement lines, for the coordinators' figures

Revision ID: c5d1f0a9e3b7
Revises: 8e2708e3cdc2
Create Date: 2026-12-05 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = "c5d1f0a9e3b7"
down_revision: str | None = "8e2708e3cdc2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Everyone's rows, by the rule of ``services.coverage_cells.lines_query``; ``{renewed}``:
#: the holding's date plus the renewal (``lti_tool.db.MonthsAfter``).
BACKFILL = """
INSERT INTO coverage_cell (person_id, competence_id, job_role_id, organisation_id,
                           required_level, renewal_months, mandatory, level, expires_at,
                           counts_cell, counts_person, counts_role_person)
SELECT lines.person_id, lines.competence_id, lines.job_role_id, lines.organisation_id,
       lines.required_level, lines.renewal_months, lines.mandatory = 1,
       h.level,
       CASE WHEN lines.renewal_months IS NULL OR lines.renewal_months = 0 THEN h.valid_until
            WHEN h.valid_until IS NULL THEN {renewed}
            WHEN h.valid_until < {renewed} THEN h.valid_until
            ELSE {renewed} END,
       lines.cell_rank = 1, lines.person_rank = 1, lines.role_rank = 1
FROM (
    SELECT held.person_id, r.competence_id, held.job_role_id, held.organisation_id,
           max(r.required_level) OVER cell AS required_level,
           min(r.renewal_months) OVER cell AS renewal_months,
           max(CASE WHEN r.mandatory THEN 1 ELSE 0 END) OVER cell AS mandatory,
           row_number() OVER (PARTITION BY held.person_id, r.competence_id
                              ORDER BY held.job_role_id) AS cell_rank,
           row_number() OVER (PARTITION BY held.person_id
                              ORDER BY r.competence_id, held.job_role_id) AS person_rank,
           row_number() OVER (PARTITION BY held.person_id, held.job_role_id
                              ORDER BY r.competence_id, held.job_role_id) AS role_rank
    FROM (
        SELECT DISTINCT p.organisation_id, ja.person_id, ja.job_role_id
        FROM job_role_assignment ja
        JOIN person p ON p.id = ja.person_id
        JOIN job_role jr ON jr.id = ja.job_role_id
        WHERE ja.status = 'active' AND jr.archived = false
          AND jr.organisation_id = p.organisation_id
    ) held
    JOIN requirement r ON r.job_role_id = held.job_role_id
    WINDOW cell AS (PARTITION BY held.person_id, r.competence_id)
) lines
JOIN competence c ON c.id = lines.competence_id
JOIN framework_version fv ON fv.id = c.version_id
LEFT JOIN competence_holding h
    ON h.organisation_id = lines.organisation_id AND h.person_id = lines.person_id
   AND h.framework_id = fv.framework_id AND h.identifier = c.identifier
"""


def backfill(dialect: str) -> str:
    """``BACKFILL`` for the dialect (also what a bulk loader runs after COPY)."""
    if dialect == "postgresql":
        renewed = (
            "((h.recorded_at AT TIME ZONE 'UTC') "
            "+ make_interval(months => lines.renewal_months)) AT TIME ZONE 'UTC'"
        )
    else:  # the function lti_tool.db.make_engine gives SQLite
        renewed = "add_months(h.recorded_at, lines.renewal_months)"
    return BACKFILL.format(renewed=renewed)


def upgrade() -> None:
    op.create_table(
        "coverage_cell",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("competence_id", sa.Integer(), nullable=False),
        sa.Column("job_role_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("required_level", sa.Integer(), nullable=False),
        sa.Column("renewal_months", sa.Integer(), nullable=True),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("expires_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("counts_cell", sa.Boolean(), nullable=False),
        sa.Column("counts_person", sa.Boolean(), nullable=False),
        sa.Column("counts_role_person", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["competence_id"],
            ["competence.id"],
            name=op.f("fk_coverage_cell_competence_id_competence"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_role_id"],
            ["job_role.id"],
            name=op.f("fk_coverage_cell_job_role_id_job_role"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_coverage_cell_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_coverage_cell_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "person_id", "competence_id", "job_role_id", name=op.f("pk_coverage_cell")
        ),
    )
    op.create_index(
        op.f("ix_coverage_cell_organisation_id"), "coverage_cell", ["organisation_id"]
    )
    op.create_index(op.f("ix_coverage_cell_job_role_id"), "coverage_cell", ["job_role_id"])
    op.execute(backfill(op.get_bind().dialect.name))


def downgrade() -> None:
    op.drop_index(op.f("ix_coverage_cell_job_role_id"), table_name="coverage_cell")
    op.drop_index(op.f("ix_coverage_cell_organisation_id"), table_name="coverage_cell")
    op.drop_table("coverage_cell")
