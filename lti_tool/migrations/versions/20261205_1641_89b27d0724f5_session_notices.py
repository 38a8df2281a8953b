"""session notices: what a person is told of the sessions they booked (booked, waitlisted,
moved up, the session changed or cancelled), and the outbox of the emails telling them

Revision ID: 89b27d0724f5
Revises: b7e2c4a19d05
Create Date: 2026-12-05 16:41:46.271484
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = '89b27d0724f5'
down_revision: str | None = 'b7e2c4a19d05'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('session_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('booked', 'waitlisted', 'moved_up', 'cancelled_booking', 'session_changed', 'session_cancelled', name='notice_kind', native_enum=False, length=20), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', lti_tool.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mail_status', sa.Enum('none', 'pending', 'sent', 'failed', 'expired', name='mail_status', native_enum=False, length=20), nullable=False),
    sa.Column('mail_tries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('mail_next_at', lti_tool.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('mail_locked_until', lti_tool.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('mailed_at', lti_tool.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('mail_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_session_notice_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_session_notice_person_id_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['course_session.id'], name=op.f('fk_session_notice_session_id_course_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_notice'))
    )
    op.create_index('ix_session_notice_mail_due', 'session_notice', ['mail_status', 'mail_next_at'], unique=False)
    op.create_index(op.f('ix_session_notice_organisation_id'), 'session_notice', ['organisation_id'], unique=False)
    op.create_index('ix_session_notice_person_created', 'session_notice', ['person_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_session_notice_session_id'), 'session_notice', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_session_notice_session_id'), table_name='session_notice')
    op.drop_index('ix_session_notice_person_created', table_name='session_notice')
    op.drop_index(op.f('ix_session_notice_organisation_id'), table_name='session_notice')
    op.drop_index('ix_session_notice_mail_due', table_name='session_notice')
    op.drop_table('session_notice')
