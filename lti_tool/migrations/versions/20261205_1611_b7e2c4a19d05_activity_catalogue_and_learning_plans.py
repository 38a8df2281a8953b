"""activity catalogue and learning plans: the competences courses develop, classroom
sessions and their bookings, plan items, calendar feeds; evidence's confidence; the
organisation's expiring window

Revision ID: b7e2c4a19d05
Revises: c5d1f0a9e3b7
Create Date: 2026-12-05 16:11:03.090919
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lti_tool.db

revision: str = "b7e2c4a19d05"
down_revision: str | None = "c5d1f0a9e3b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: Existing evidence takes its source's confidence (``domain.evidence_sources.SOURCES``):
#: a self-assessment is the person's own word; a knowledge test keeps the default, medium.
SELF_ASSESSMENTS_LOW = "UPDATE evidence SET confidence = 'low' WHERE source = 'self_assessment'"


def upgrade() -> None:
    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_calendar_feed_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_calendar_feed_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("person_id", name=op.f("uq_calendar_feed_person_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calendar_feed_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "course_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=500), nullable=False),
        sa.Column("video_url", sa.String(length=2048), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("waitlist", sa.Boolean(), nullable=False),
        sa.Column("instructor_id", sa.Integer(), nullable=True),
        sa.Column("signup_deadline", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.Column("uid", sa.String(length=100), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_course_session_course_id_course"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["instructor_id"],
            ["person.id"],
            name=op.f("fk_course_session_instructor_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_course_session_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_session")),
        sa.UniqueConstraint("uid", name=op.f("uq_course_session_uid")),
    )
    with op.batch_alter_table("course_session", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_session_course_starts", ["course_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_course_session_instructor_id"), ["instructor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_course_session_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "course_competence",
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("competence_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["competence_id"],
            ["competence.id"],
            name=op.f("fk_course_competence_competence_id_competence"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_course_competence_course_id_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_course_competence_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course_id", "competence_id", name=op.f("pk_course_competence")),
    )
    with op.batch_alter_table("course_competence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_course_competence_competence_id"), ["competence_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_course_competence_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "plan_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("competence_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "suggested",
                "accepted",
                "postponed",
                "declined",
                "done",
                name="plan_item_state",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum("suggested", "manager", name="plan_item_source", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("postponed_until", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "course_id IS NOT NULL OR competence_id IS NOT NULL", name=op.f("ck_plan_item_target")
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["person.id"],
            name=op.f("fk_plan_item_added_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["competence_id"],
            ["competence.id"],
            name=op.f("fk_plan_item_competence_id_competence"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_plan_item_course_id_course"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_plan_item_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_plan_item_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_item")),
    )
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_item_competence_id"), ["competence_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_plan_item_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_plan_item_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index("ix_plan_item_person_state", ["person_id", "state"], unique=False)

    op.create_table(
        "session_booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "booked",
                "waitlisted",
                "cancelled",
                name="booking_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("booked_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", lti_tool.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_session_booking_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_session_booking_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["course_session.id"],
            name=op.f("fk_session_booking_session_id_course_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_booking")),
        sa.UniqueConstraint(
            "session_id", "person_id", name=op.f("uq_session_booking_session_id_person_id")
        ),
    )
    with op.batch_alter_table("session_booking", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_booking_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_session_booking_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            "ix_session_booking_session_status",
            ["session_id", "status", "requested_at"],
            unique=False,
        )

    with op.batch_alter_table("course", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("description", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.add_column(sa.Column("lms_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("placed_context_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("placed_context_title", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("placed_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("duration_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", lti_tool.db.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "confidence",
                sa.Enum(
                    "low",
                    "medium",
                    "high",
                    name="evidence_confidence",
                    native_enum=False,
                    length=10,
                ),
                server_default="medium",
                nullable=False,
            )
        )
    op.execute(SELF_ASSESSMENTS_LOW)

    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expiring_days", sa.Integer(), server_default=sa.text("30"), nullable=False)
        )


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), not batch mode: recreating a table
    # drops the old one, which cascades to (or is refused by) the rows referring to it.
    op.drop_column("organisation", "expiring_days")
    op.drop_column("evidence", "confidence")
    for column in (
        "updated_at",
        "language",
        "duration_minutes",
        "placed_at",
        "placed_context_title",
        "placed_context_id",
        "lms_url",
        "description",
    ):
        op.drop_column("course", column)

    with op.batch_alter_table("session_booking", schema=None) as batch_op:
        batch_op.drop_index("ix_session_booking_session_status")
        batch_op.drop_index(batch_op.f("ix_session_booking_person_id"))
        batch_op.drop_index(batch_op.f("ix_session_booking_organisation_id"))

    op.drop_table("session_booking")
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_item_person_state")
        batch_op.drop_index(batch_op.f("ix_plan_item_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_plan_item_course_id"))
        batch_op.drop_index(batch_op.f("ix_plan_item_competence_id"))

    op.drop_table("plan_item")
    with op.batch_alter_table("course_competence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_competence_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_course_competence_competence_id"))

    op.drop_table("course_competence")
    with op.batch_alter_table("course_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_session_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_course_session_instructor_id"))
        batch_op.drop_index("ix_course_session_course_starts")

    op.drop_table("course_session")
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_feed_organisation_id"))

    op.drop_table("calendar_feed")
