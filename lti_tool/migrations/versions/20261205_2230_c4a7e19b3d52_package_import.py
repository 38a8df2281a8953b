"""package import: where imported content came from (package, version, publisher), and the regional library

Revision ID: c4a7e19b3d52
Revises: 6bb3de8722bd
Create Date: 2026-12-05 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = 'c4a7e19b3d52'
down_revision: str | None = '6bb3de8722bd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'package_import',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('version', sa.String(length=20), nullable=False),
        sa.Column('publisher', sa.String(length=200), nullable=False),
        sa.Column('licence', sa.String(length=100), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('imported_by_id', sa.Integer(), nullable=True),
        sa.Column('imported_at', lti_tool.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['imported_by_id'], ['person.id'], name=op.f('fk_package_import_imported_by_id_person'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_package_import_organisation_id_organisation'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_package_import')),
    )
    op.create_index(op.f('ix_package_import_imported_by_id'), 'package_import', ['imported_by_id'], unique=False)
    op.create_index(op.f('ix_package_import_organisation_id'), 'package_import', ['organisation_id'], unique=False)
    op.create_table(
        'package_object',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('package_import_id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=100), nullable=False),
        sa.Column('snapshot', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_package_object_organisation_id_organisation'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['package_import_id'], ['package_import.id'], name=op.f('fk_package_object_package_import_id_package_import'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_package_object')),
    )
    op.create_index('ix_package_object_kind_object', 'package_object', ['kind', 'object_id'], unique=False)
    op.create_table(
        'library_package',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region_id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('version', sa.String(length=20), nullable=False),
        sa.Column('title', sa.JSON(), nullable=False),
        sa.Column('licence', sa.String(length=100), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('search_text', sa.Text(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('published_by_id', sa.Integer(), nullable=True),
        sa.Column('published_at', lti_tool.db.UTCDateTime(), nullable=False),
        sa.Column('withdrawn_at', lti_tool.db.UTCDateTime(), nullable=True),
        sa.Column('hidden_at', lti_tool.db.UTCDateTime(), nullable=True),
        sa.Column('hidden_reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_library_package_organisation_id_organisation'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['published_by_id'], ['person.id'], name=op.f('fk_library_package_published_by_id_person'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_library_package_region_id_region'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_library_package')),
        sa.UniqueConstraint('region_id', 'name', 'version', name=op.f('uq_library_package_region_id_name_version')),
    )
    op.create_index(op.f('ix_library_package_organisation_id'), 'library_package', ['organisation_id'], unique=False)
    op.create_index(op.f('ix_library_package_published_by_id'), 'library_package', ['published_by_id'], unique=False)
    op.create_index(op.f('ix_library_package_region_id'), 'library_package', ['region_id'], unique=False)
    op.create_index(op.f('ix_package_object_organisation_id'), 'package_object', ['organisation_id'], unique=False)
    op.create_index(op.f('ix_package_object_package_import_id'), 'package_object', ['package_import_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_library_package_region_id'), table_name='library_package')
    op.drop_index(op.f('ix_library_package_published_by_id'), table_name='library_package')
    op.drop_index(op.f('ix_library_package_organisation_id'), table_name='library_package')
    op.drop_table('library_package')
    op.drop_index(op.f('ix_package_object_package_import_id'), table_name='package_object')
    op.drop_index(op.f('ix_package_object_organisation_id'), table_name='package_object')
    op.drop_index('ix_package_object_kind_object', table_name='package_object')
    op.drop_table('package_object')
    op.drop_index(op.f('ix_package_import_organisation_id'), table_name='package_import')
    op.drop_index(op.f('ix_package_import_imported_by_id'), table_name='package_import')
    op.drop_table('package_import')
