"""result reads: the outbox of LMS results the worker reads for launches of placed activities

Revision ID: d4a8e61f2c90
Revises: 482e33c31bd1
Create Date: 2026-12-05 18:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = 'd4a8e61f2c90'
down_revision: str | None = '482e33c31bd1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('result_read',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('lineitem_url', sa.String(length=2048), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('requested_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', lti_tool.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_result_read_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_result_read_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_result_read_person_id_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], name=op.f('fk_result_read_platform_id_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_read')),
    sa.UniqueConstraint('person_id', 'course_id', name=op.f('uq_result_read_person_id_course_id'))
    )
    op.create_index(op.f('ix_result_read_course_id'), 'result_read', ['course_id'], unique=False)
    op.create_index('ix_result_read_due', 'result_read', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_result_read_organisation_id'), 'result_read', ['organisation_id'], unique=False)
    op.create_index(op.f('ix_result_read_platform_id'), 'result_read', ['platform_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_result_read_platform_id'), table_name='result_read')
    op.drop_index(op.f('ix_result_read_organisation_id'), table_name='result_read')
    op.drop_index('ix_result_read_due', table_name='result_read')
    op.drop_index(op.f('ix_result_read_course_id'), table_name='result_read')
    op.drop_table('result_read')
