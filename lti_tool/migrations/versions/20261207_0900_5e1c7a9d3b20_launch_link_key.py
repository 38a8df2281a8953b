"""launch.link_key: retention probes a link's newest launch by index, not by ranking all

Revision ID: 5e1c7a9d3b20
Revises: 3b8e5c2d1f47
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from lti_tool.migrate import rows_to_copy

revision: str = '5e1c7a9d3b20'
down_revision: str | None = '3b8e5c2d1f47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Records keyed per round trip: their claims are read into this process to be keyed as
#: a launch keys its own (the JSON's text is not the same on PostgreSQL and SQLite).
BATCH = 5000

_launch = sa.table(
    "launch",
    sa.column("id", sa.String),
    sa.column("person_id", sa.Integer),
    sa.column("deployment_pk", sa.Integer),
    sa.column("context_id", sa.String),
    sa.column("claims", sa.JSON),
    sa.column("link_key", sa.String),
)


#: The custom-parameters claim, and the parameters of it a link key names.
CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"
KEYED_CUSTOM = ("mapping", "certification", "activity")


def link_key(
    person_id: int, deployment_pk: int, context_id: str | None, claims: Mapping[str, Any]
) -> str:
    """``services.launches.link_key`` as it stood when this revision was written: a
    migration keeps its own copy, so it runs the same whatever the application later
    becomes (a test checks the two agree on launches the application records)."""
    custom = claims.get(CUSTOM_CLAIM)
    placed = (
        {name: custom[name] for name in KEYED_CUSTOM if name in custom}
        if isinstance(custom, Mapping)
        else {}
    )
    named = json.dumps(
        [person_id, deployment_pk, context_id, placed], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(named.encode()).hexdigest()[:32]


def upgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=32), nullable=True))
    if rows_to_copy(revision, "launch records' link keys"):
        _key_launches()
    # Nullable: a process of the version before, still running while this one starts
    # (README, Upgrades), writes its launches without a key; the retention run keys them.
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_launch_link_key_created_at", ["link_key", "created_at"], unique=False
        )


def _key_launches() -> None:
    connection = op.get_bind()
    records = sa.select(
        _launch.c.id,
        _launch.c.person_id,
        _launch.c.deployment_pk,
        _launch.c.context_id,
        _launch.c.claims,
    )
    keyed = (
        sa.update(_launch)
        .where(_launch.c.id == sa.bindparam("launch_id"))
        .values(link_key=sa.bindparam("key"))
    )
    after = ""  # by the primary key's order, a batch after the last: each read is short
    while rows := connection.execute(
        records.where(_launch.c.id > after).order_by(_launch.c.id).limit(BATCH)
    ).all():
        connection.execute(
            keyed,
            [
                {
                    "launch_id": row.id,
                    "key": link_key(row.person_id, row.deployment_pk, row.context_id, row.claims),
                }
                for row in rows
            ],
        )
        after = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.drop_index("ix_launch_link_key_created_at")
        batch_op.drop_column("link_key")
