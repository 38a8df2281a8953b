"""one audit log: the certification trail (certificate_event) moves into audit_event; an
index on an event's object; the audit log's own retention per organisation; the
append-only trigger lets an erasure rewrite reasons

Revision ID: 6bb3de8722bd
Revises: 876152d7b456
Create Date: 2026-12-05 22:15:51.158176
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db
from lti_tool.migrate import rows_to_copy

revision: str = "6bb3de8722bd"
down_revision: str | None = "876152d7b456"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The trail's actions, then and now.
ACTIONS = {"issued": "issue", "renewed": "renew", "revoked": "revoke"}

#: Append-only: DELETE only for the audit retention purge, UPDATE only for an erasure
#: cutting a person's name out of reasons (each declared with SET LOCAL by the transaction).
FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('laeringslop.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
{erase}    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$
"""
ERASE = """    IF TG_OP = 'UPDATE' AND current_setting('laeringslop.audit_erase', true) = 'on' THEN
        RETURN NEW;
    END IF;
"""
APPEND_ONLY = FUNCTION.format(erase=ERASE)
APPEND_ONLY_BEFORE = FUNCTION.format(erase="")

audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Integer),
    sa.column("organisation_id", sa.Integer),
    sa.column("occurred_at", lti_tool.db.UTCDateTime()),
    sa.column("actor_person_id", sa.Integer),
    sa.column("actor_label", sa.String),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.String),
    sa.column("detail", sa.JSON),
)
audit_event_person = sa.table(
    "audit_event_person", sa.column("event_id", sa.Integer), sa.column("person_id", sa.Integer)
)
certificate = sa.table(
    "certificate",
    sa.column("id", sa.Integer),
    sa.column("certification_id", sa.Integer),
    sa.column("person_id", sa.Integer),
)


def _certificate_event() -> sa.TableClause:
    return sa.table(
        "certificate_event",
        sa.column("id", sa.Integer),
        sa.column("organisation_id", sa.Integer),
        sa.column("certificate_id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("actor_id", sa.Integer),
        sa.column("actor_label", sa.String),
        sa.column("reason", sa.Text),
        sa.column("detail", sa.JSON),
        sa.column("at", lti_tool.db.UTCDateTime()),
    )


def _copy_into_audit() -> None:
    bind = op.get_bind()
    trail = _certificate_event()
    rows = bind.execute(
        sa.select(trail, certificate.c.certification_id, certificate.c.person_id)
        .join(certificate, certificate.c.id == trail.c.certificate_id)
        .order_by(trail.c.id)
    ).mappings()
    for row in rows:
        detail = {"certification_id": row["certification_id"], **(row["detail"] or {})}
        if row["reason"]:
            detail["reason"] = row["reason"]
        event_id = bind.execute(
            sa.insert(audit_event)
            .values(
                organisation_id=row["organisation_id"],
                occurred_at=row["at"],
                actor_person_id=row["actor_id"],
                actor_label=None if row["actor_id"] else (row["actor_label"] or "system")[:200],
                action=ACTIONS[row["action"]],
                object_type="certificate",
                object_id=str(row["certificate_id"]),
                detail=detail,
            )
            .returning(audit_event.c.id)
        ).scalar_one()
        if row["person_id"] is not None:
            bind.execute(
                sa.insert(audit_event_person).values(event_id=event_id, person_id=row["person_id"])
            )


def _copy_back() -> None:
    bind = op.get_bind()
    trail = _certificate_event()
    kept = (
        sa.select(audit_event)
        .where(
            audit_event.c.object_type == "certificate",
            audit_event.c.action.in_(list(ACTIONS.values())),
        )
        .order_by(audit_event.c.id)
    )
    back = {now: then for then, now in ACTIONS.items()}
    ids = []
    for row in bind.execute(kept).mappings():
        detail = dict(row["detail"] or {})
        reason = detail.pop("reason", "")
        detail.pop("certification_id", None)
        bind.execute(
            sa.insert(trail).values(
                organisation_id=row["organisation_id"],
                certificate_id=int(row["object_id"]),
                action=back[row["action"]],
                actor_id=row["actor_person_id"],
                actor_label="" if row["actor_label"] in (None, "system") else row["actor_label"],
                reason=reason,
                detail=detail,
                at=row["occurred_at"],
            )
        )
        ids.append(row["id"])
    if bind.dialect.name == "postgresql":
        op.execute("SELECT set_config('laeringslop.audit_purge', 'on', true)")
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        bind.execute(sa.delete(audit_event_person).where(audit_event_person.c.event_id.in_(chunk)))
        bind.execute(sa.delete(audit_event).where(audit_event.c.id.in_(chunk)))


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_object", ["object_type", "object_id"], unique=False)
    op.add_column(
        "organisation",
        sa.Column(
            "audit_retention_months", sa.Integer(), server_default=sa.text("60"), nullable=False
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)

    if rows_to_copy(revision, "certification trail"):
        _copy_into_audit()

    with op.batch_alter_table("certificate_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_event_certificate_id"))
        batch_op.drop_index(batch_op.f("ix_certificate_event_organisation_id"))
    op.drop_table("certificate_event")


def downgrade() -> None:
    op.create_table(
        "certificate_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["person.id"],
            name=op.f("fk_certificate_event_actor_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_certificate_event_certificate_id_certificate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_certificate_event_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_event")),
    )
    with op.batch_alter_table("certificate_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_event_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificate_event_certificate_id"), ["certificate_id"], unique=False
        )

    if rows_to_copy(revision, "certification trail"):
        _copy_back()

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_BEFORE)
    op.drop_column("organisation", "audit_retention_months")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_object")
