"""coverage cells: the row that counts a person among a competence identifier's people,
and indexes holding what the figures read

Revision ID: 482e33c31bd1
Revises: 89b27d0724f5
Create Date: 2026-12-05 16:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "482e33c31bd1"
down_revision: str | None = "89b27d0724f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The flag on everyone's rows, by the rule of ``services.coverage_cells.lines_query``
#: (also what a bulk loader runs after the rows' own backfill).
BACKFILL = """
UPDATE coverage_cell SET counts_identifier_person = (
    (person_id, competence_id, job_role_id) IN (
        SELECT ranked.person_id, ranked.competence_id, ranked.job_role_id
        FROM (
            SELECT cc.person_id, cc.competence_id, cc.job_role_id,
                   row_number() OVER (PARTITION BY cc.person_id, c.identifier
                                      ORDER BY cc.competence_id, cc.job_role_id) AS rank
            FROM coverage_cell cc
            JOIN competence c ON c.id = cc.competence_id
        ) ranked
        WHERE ranked.rank = 1
    )
)
"""


#: What the figures read of each row (``models.CoverageCell``'s indexes).
FIGURES_INCLUDE = [
    "required_level",
    "level",
    "expires_at",
    "counts_cell",
    "counts_person",
    "counts_role_person",
    "counts_identifier_person",
]
BY_PERSON_INCLUDE = ["organisation_id", "required_level", "level", "expires_at", "counts_person"]


def upgrade() -> None:
    with op.batch_alter_table("coverage_cell") as batch_op:
        batch_op.add_column(
            sa.Column(
                "counts_identifier_person",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    op.execute(BACKFILL)
    op.drop_index("ix_coverage_cell_organisation_id", table_name="coverage_cell")
    op.create_index(
        "ix_coverage_cell_figures",
        "coverage_cell",
        ["organisation_id", "job_role_id", "competence_id"],
        postgresql_include=FIGURES_INCLUDE,
    )
    op.create_index(
        "ix_coverage_cell_by_person",
        "coverage_cell",
        ["person_id"],
        postgresql_include=BY_PERSON_INCLUDE,
        postgresql_where=sa.text("counts_cell"),
        sqlite_where=sa.text("counts_cell"),
    )


def downgrade() -> None:
    op.drop_index("ix_coverage_cell_by_person", table_name="coverage_cell")
    op.drop_index("ix_coverage_cell_figures", table_name="coverage_cell")
    op.create_index("ix_coverage_cell_organisation_id", "coverage_cell", ["organisation_id"])
    with op.batch_alter_table("coverage_cell") as batch_op:
        batch_op.drop_column("counts_identifier_person")
