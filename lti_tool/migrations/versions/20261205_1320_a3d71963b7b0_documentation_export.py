"""documentation exports: competence documentation verification codes

Revision ID: a3d71963b7b0
Revises: 94649caf93c9
Create Date: 2026-12-05 13:20:23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = 'a3d71963b7b0'
down_revision: str | None = '94649caf93c9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('documentation_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('organisation_name', sa.String(length=255), nullable=False),
    sa.Column('unit_name', sa.String(length=255), nullable=True),
    sa.Column('scope_unit_ids', sa.JSON(), nullable=True),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('generated_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('exported_by_id', sa.Integer(), nullable=True),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('coverage', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['exported_by_id'], ['person.id'], name=op.f('fk_documentation_export_exported_by_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_documentation_export_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], name=op.f('fk_documentation_export_unit_id_org_unit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documentation_export')),
    sa.UniqueConstraint('code', name=op.f('uq_documentation_export_code'))
    )
    op.create_index(op.f('ix_documentation_export_organisation_id'), 'documentation_export', ['organisation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_documentation_export_organisation_id'), table_name='documentation_export')
    op.drop_table('documentation_export')
