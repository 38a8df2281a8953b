"""A person's own data (GDPR): what the tool stores about them, and all of it as JSON.

Every column that refers to a person is declared here (``COVERED``), as the person's own
rows (``SUBJECT``: they are the one the row is about) or as something they did to others'
rows (``ACTOR``: they decided, granted, recorded). A test compares the declaration with the
schema, so a new table that refers to a person fails the suite until it is declared, and
so exported and erased (``services.erasure``).

Rows about a person are exported whole; rows they acted on belong to other people, so only
that they acted, where and when is exported (the table, the row id), never the other
person's data.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from lti_tool.db import Base
from lti_tool.models import (
    Attempt,
    AuditAction,
    AuditEvent,
    AuditEventPerson,
    CourseRoster,
    Person,
    Response,
    ScoreDelivery,
)
from lti_tool.services import audit
from lti_tool.services.audit import Actor

#: The categories of the "my data" page, in its order.
CATEGORIES = (
    "identity",
    "launches",
    "roles",
    "mappings",
    "evidence",
    "plan",
    "certificates",
    "audit",
    "actions",
)

#: Rows about the person: (table, column) -> category.
SUBJECT: dict[tuple[str, str], str] = {
    ("launch", "person_id"): "launches",
    ("result_read", "person_id"): "launches",
    ("job_role_assignment", "person_id"): "roles",
    ("unit_assignment", "person_id"): "roles",
    ("permission_grant", "person_id"): "roles",
    ("attempt", "person_id"): "mappings",
    ("evidence", "person_id"): "evidence",
    ("competence_holding", "person_id"): "evidence",
    ("coverage_cell", "person_id"): "evidence",
    ("plan_item", "person_id"): "plan",
    ("calendar_feed", "person_id"): "plan",
    ("session_booking", "person_id"): "plan",
    ("session_notice", "person_id"): "plan",
    ("attendance", "person_id"): "plan",
    ("certificate", "person_id"): "certificates",
}
#: Rows of others (or of the organisation) where the person is named as who acted.
ACTOR: frozenset[tuple[str, str]] = frozenset(
    {
        ("job_role_assignment", "decided_by_id"),
        ("unit_assignment", "decided_by_id"),
        ("permission_grant", "granted_by_id"),
        ("permission_grant", "withdrawn_by_id"),
        ("documentation_export", "exported_by_id"),
        ("plan_item", "added_by_id"),
        ("attendance", "recorded_by_id"),
        ("course_session", "instructor_id"),
        ("package_import", "imported_by_id"),
        ("library_package", "published_by_id"),
    }
)
COVERED: frozenset[tuple[str, str]] = frozenset(SUBJECT) | ACTOR

#: Columns never exported: secrets (a hash that opens a calendar feed).
SECRET_COLUMNS = frozenset({"token_hash"})


def person_references() -> set[tuple[str, str]]:
    """Every (table, column) of the schema with a foreign key to ``person.id``."""
    return {
        (table.name, fk.parent.name)
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "person"
    }


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _plain(value: Any) -> Any:
    """A value as JSON has it."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _row(mapping: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in mapping.items() if k not in SECRET_COLUMNS}


def get_person(session: Session, organisation_id: int, person_id: int) -> Person:
    """A person of the organisation; anyone else is not found."""
    from lti_tool.errors import NotFound

    found = session.get(Person, person_id)
    if found is None or found.organisation_id != organisation_id:
        raise NotFound(f"no person {person_id} in {organisation_id}")
    return found


def _subject_rows(session: Session, person_id: int) -> Iterator[tuple[str, str, dict]]:
    for (name, column), category in sorted(SUBJECT.items()):
        table = _table(name)
        order = list(table.primary_key.columns)
        for row in session.execute(
            select(table).where(table.c[column] == person_id).order_by(*order)
        ).mappings():
            yield category, name, _row(row)


def _responses(session: Session, person_id: int) -> list[dict[str, Any]]:
    """The answers given in the person's mapping attempts."""
    table = _table(Response.__tablename__)
    rows = session.execute(
        select(table)
        .join(Attempt, Attempt.id == table.c.attempt_id)
        .where(Attempt.person_id == person_id)
        .order_by(table.c.id)
    ).mappings()
    return [_row(r) for r in rows]


def _roster_rows(session: Session, person: Person) -> list[dict[str, Any]]:
    """The person as a participant of courses, read from the learning platform."""
    members = _table("course_roster_member")
    rows = session.execute(
        select(members)
        .join(CourseRoster, CourseRoster.id == members.c.roster_id)
        .where(CourseRoster.platform_id == person.platform_id, members.c.user_id == person.sub)
        .order_by(members.c.id)
    ).mappings()
    return [_row(r) for r in rows]


def roster_member_ids(session: Session, person: Person) -> list[int]:
    return [int(r["id"]) for r in _roster_rows(session, person)]


def score_deliveries(session: Session, person: Person) -> list[ScoreDelivery]:
    """The grades queued or sent to the learning platform for the person (by their user
    id there; a delivery names no person of the tool)."""
    rows = session.scalars(
        select(ScoreDelivery)
        .where(
            ScoreDelivery.organisation_id == person.organisation_id,
            ScoreDelivery.platform_id == person.platform_id,
        )
        .order_by(ScoreDelivery.id)
    )
    return [d for d in rows if str((d.score or {}).get("userId")) == person.sub]


def _acted_by(event: AuditEvent) -> str:
    """person, api-token:<id>, cli or system: the kind of actor, not who."""
    if event.actor_person_id is not None:
        return "person"
    words = (event.actor_label or "").split()
    return words[0] if words else audit.SYSTEM


def _audit_rows(session: Session, person_id: int) -> list[dict[str, Any]]:
    """Events of the audit log concerning the person: what was done, when, and whether by
    a person, a token, the command line or the system (not who: that is the actor's)."""
    rows = session.scalars(
        select(AuditEvent)
        .join(AuditEventPerson, AuditEventPerson.event_id == AuditEvent.id)
        .where(AuditEventPerson.person_id == person_id)
        .order_by(AuditEvent.id)
    )
    return [
        {
            "occurred_at": _plain(e.occurred_at),
            "action": _plain(e.action),
            "object_type": e.object_type,
            "object_id": e.object_id,
            "by": _acted_by(e),
        }
        for e in rows
    ]


def _actions(session: Session, person_id: int) -> dict[str, list[int]]:
    """Where the person is named as who acted: table.column -> row ids."""
    found: dict[str, list[int]] = {}
    for name, column in sorted(ACTOR):
        table = _table(name)
        ids = [
            _plain(v)
            for v in session.scalars(
                select(next(iter(table.primary_key.columns)))
                .where(table.c[column] == person_id)
                .order_by(next(iter(table.primary_key.columns)))
            )
        ]
        if ids:
            found[f"{name}.{column}"] = ids
    return found


def export_of(session: Session, person: Person) -> dict[str, Any]:
    """Everything the tool stores about the person, by category (see ``CATEGORIES``)."""
    person_table = _table("person")
    identity = session.execute(
        select(person_table).where(person_table.c.id == person.id)
    ).mappings()
    data: dict[str, Any] = {category: {} for category in CATEGORIES}
    data["identity"]["person"] = [_row(r) for r in identity]
    data["identity"]["course_participant"] = _roster_rows(session, person)
    for name, column in sorted(SUBJECT):
        data[SUBJECT[(name, column)]].setdefault(name, [])
    for category, name, row in _subject_rows(session, person.id):
        data[category][name].append(row)
    data["mappings"]["response"] = _responses(session, person.id)
    data["mappings"]["score_delivery"] = [
        {
            "id": d.id,
            "status": _plain(d.status),
            "score": d.score,
            "created_at": _plain(d.created_at),
            "delivered_at": _plain(d.delivered_at),
        }
        for d in score_deliveries(session, person)
    ]
    data["audit"]["audit_event"] = _audit_rows(session, person.id)
    data["actions"] = _actions(session, person.id)
    return data


def counts_of(data: dict[str, Any]) -> dict[str, int]:
    """How many rows of each category the export holds."""
    return {category: sum(len(rows) for rows in data[category].values()) for category in CATEGORIES}


def export_own(session: Session, actor: Actor, person: Person) -> dict[str, Any]:
    """The person's export of their own data, recorded in the audit log (a download of
    personal data, even one's own, is worth knowing of)."""
    data = export_of(session, person)
    audit.record(
        session,
        actor,
        AuditAction.EXPORT,
        "own_data",
        person.id,
        [person.id],
        {"format": "json"},
    )
    return data


#: The most people the console lists at once (a search narrows it).
PEOPLE_LISTED = 200


def people_of(session: Session, organisation_id: int, search: str = "") -> list[Person]:
    """The organisation's people, by name; those whose name or e-mail contains ``search``
    when given."""
    query = select(Person).where(Person.organisation_id == organisation_id)
    text = search.strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            Person.name.ilike(pattern, escape="\\")
            | Person.given_name.ilike(pattern, escape="\\")
            | Person.family_name.ilike(pattern, escape="\\")
            | Person.email.ilike(pattern, escape="\\")
        )
    return list(
        session.scalars(
            query.order_by(Person.family_name, Person.given_name, Person.name, Person.id).limit(
                PEOPLE_LISTED
            )
        )
    )
