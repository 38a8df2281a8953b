"""The audit log: one append-only record of who did or saw what, when, and whom it concerned.

One table for every kind of event (views and exports of another person's data, permission
grants and withdrawals, registrations and key rotations, changes to frameworks, profiles,
mappings and rules, certificates issued, renewed and revoked), so an admin reads and exports
them in one place and the log has one retention (``Organisation.audit_retention_months``).

Rows are only ever inserted (``services.audit``). On PostgreSQL a trigger refuses DELETE
unless the transaction has set ``laeringslop.audit_purge`` (the audit retention job), and
UPDATE unless it has set ``laeringslop.audit_erase`` (erasing a person cuts their name out
of free-text reasons: ``services.erasure``).
People are referred to by id without a foreign key: the log outlives the rows it names,
and a foreign key would either block deleting a person or rewrite history.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.db import Base, UTCDateTime, intpk, str_enum, utcnow


class AuditAction(enum.StrEnum):
    """What happened. Stored as text: a new action needs no migration."""

    VIEW = "view"
    """Another person's data shown on a page or returned by the API."""
    EXPORT = "export"
    """Another person's data downloaded as a file."""
    GRANT = "grant"
    WITHDRAW = "withdraw"
    DESIGNER_ROLES = "designer_roles"
    """The LMS roles that count as designer on a platform changed."""
    ERASE = "erase"
    """A person's data erased (by an admin, the command line or the retention rule)."""
    RETENTION = "retention"
    """An organisation's retention rule for personal data set or taken away."""
    FETCH = "fetch"
    """Other people's data read from the learning platform and kept (a course's
    participants)."""
    # --- changes to what the tool is set up with (object_type says what) -------------
    REGISTER = "register"
    """A platform registered (dynamic registration, or by hand in the console or CLI)."""
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    IMPORT = "import"
    PUBLISH = "publish"
    ENABLE = "enable"
    DISABLE = "disable"
    ROTATE_KEY = "rotate_key"
    """The tool's signing key rotated, or a platform's key (JWKS) changed."""
    # --- certificates (the certification trail) ----------------------------------------
    ISSUE = "issue"
    """A certificate issued: by the rules (the system) or by hand (with a reason)."""
    RENEW = "renew"
    REVOKE = "revoke"
    # --- evidence given by someone else than the person ----------------------------------
    CONFIRM = "confirm"
    """Completions of an activity confirmed (high-confidence evidence, which outweighs a
    test): who confirmed whose, for the inspection trail."""


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_organisation_occurred", "organisation_id", "occurred_at"),
        Index("ix_audit_event_object", "object_type", "object_id"),
    )

    id: Mapped[intpk]
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The person who acted (a launch); None for an API token, the command line or the
    system."""
    actor_label: Mapped[str | None] = mapped_column(String(200))
    """Who acted when no person did: ``api-token:<id> <name>``, ``cli`` or ``system``."""
    action: Mapped[AuditAction] = mapped_column(str_enum(AuditAction, "audit_action", 30))
    object_type: Mapped[str] = mapped_column(String(50))
    """What was seen or changed: person, people, certificate, grant, platform, ..."""
    object_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What else tells the event apart (a filter, the roles before and after); never a
    launch token or another secret. The people concerned who are no person of the tool
    (a course's participants who never launched) are here too, by their user id on the
    platform (``services.audit.OUTSIDERS``)."""
    request_method: Mapped[str | None] = mapped_column(String(10))
    request_path: Mapped[str | None] = mapped_column(String(500))
    """The path only: a query string may carry a launch token."""

    people: Mapped[list[AuditEventPerson]] = relationship(
        lazy="raise", order_by="AuditEventPerson.person_id"
    )


class AuditEventPerson(Base):
    """A person an event concerns: "who looked at person X" is one indexed query."""

    __tablename__ = "audit_event_person"
    __table_args__ = (Index("ix_audit_event_person_person", "person_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("audit_event.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
