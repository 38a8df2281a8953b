"""course rosters from NRPS: the courses launched from and their members

Revision ID: aaee83116521
Revises: 7e41b2c9d053
Create Date: 2026-12-05 13:05:54.103653
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = 'aaee83116521'
down_revision: str | None = '7e41b2c9d053'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('course_roster',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('context_id', sa.String(length=255), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('memberships_url', sa.String(length=2048), nullable=True),
    sa.Column('placed_mappings', sa.JSON(), nullable=False),
    sa.Column('placed_certifications', sa.JSON(), nullable=False),
    sa.Column('created_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', lti_tool.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_course_roster_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_course_roster_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_roster')),
    sa.UniqueConstraint('organisation_id', 'platform_id', 'context_id', name=op.f('uq_course_roster_organisation_id_platform_id_context_id'))
    )
    op.create_index(op.f('ix_course_roster_organisation_id'), 'course_roster', ['organisation_id'], unique=False)
    op.create_index(op.f('ix_course_roster_platform_id'), 'course_roster', ['platform_id'], unique=False)
    op.create_table('course_roster_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roster_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['roster_id'], ['course_roster.id'], name=op.f('fk_course_roster_member_roster_id_course_roster'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_roster_member')),
    sa.UniqueConstraint('roster_id', 'user_id', name=op.f('uq_course_roster_member_roster_id_user_id'))
    )


def downgrade() -> None:
    op.drop_table('course_roster_member')
    op.drop_index(op.f('ix_course_roster_platform_id'), table_name='course_roster')
    op.drop_index(op.f('ix_course_roster_organisation_id'), table_name='course_roster')
    op.drop_table('course_roster')
