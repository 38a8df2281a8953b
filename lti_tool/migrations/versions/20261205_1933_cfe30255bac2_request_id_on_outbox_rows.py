"""request id on outbox rows: the X-Request-ID of the request that wrote each score,
notice and result read, which the worker logs and sends to the LMS again

Revision ID: cfe30255bac2
Revises: 518f23c82563
Create Date: 2026-12-05 19:33:06.331831
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'cfe30255bac2'
down_revision: str | None = '518f23c82563'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('result_read', sa.Column('request_id', sa.String(length=128), nullable=True))
    op.add_column('score_delivery', sa.Column('request_id', sa.String(length=128), nullable=True))
    op.add_column('session_notice', sa.Column('request_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column('session_notice', 'request_id')
    op.drop_column('score_delivery', 'request_id')
    op.drop_column('result_read', 'request_id')
