"""The audit log: who did or saw what, when, and whom it concerned (``models.audit``).

An event is written in the same transaction as what it records: a grant and its event
commit together or not at all. A page or API answer showing other people's data records
one view per request (``record_view``): one INSERT of the event and one bulk INSERT of
the people it shows. Nothing here updates or deletes an event.

People the tool shows without knowing them as a person (a course's participants from the
platform who never launched) have no id to name: an event keeps their user ids on the
platform in its detail (``OUTSIDERS``, with the ``platform_id``). The filter "concerning
a person" finds the events naming their person id only; those from before a person's
first launch are found by their user id in the exported detail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session, selectinload

from lti_tool.db import utcnow
from lti_tool.models import AuditAction, AuditEvent, AuditEventPerson, Organisation, Person

CLI = "cli"
SYSTEM = "system"
#: An administrator of another organisation changed what all share (the signing key).
TOOL_ADMIN = "tool-admin"
TOKEN_PREFIX = "api-token:"  # noqa: S105 - a label, not a secret
MAX_PATH = 500
#: The key of ``AuditEvent.detail`` listing the people concerned who are no person of the
#: tool, by their user id on the platform (the detail's ``platform_id``).
OUTSIDERS = "lms_user_ids"


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts, for which organisation, and through which request (if any)."""

    organisation_id: int
    person_id: int | None = None
    token_id: int | None = None
    label: str | None = None
    """Who acted when no person did: ``api-token:<id> <name>``, ``cli`` or ``system``."""
    method: str | None = None
    path: str | None = None
    """The request path without its query string (which may carry a launch token)."""

    @classmethod
    def of_token(
        cls,
        organisation_id: int,
        token_id: int,
        name: str = "",
        method: str | None = None,
        path: str | None = None,
    ) -> Actor:
        label = f"{TOKEN_PREFIX}{token_id} {name}".strip()[:200]
        return cls(organisation_id, token_id=token_id, label=label, method=method, path=path)

    @classmethod
    def cli(cls, organisation_id: int) -> Actor:
        return cls(organisation_id, label=CLI)

    @classmethod
    def system(cls, organisation_id: int) -> Actor:
        return cls(organisation_id, label=SYSTEM)


def record(
    session: Session,
    actor: Actor,
    action: AuditAction,
    object_type: str,
    object_id: Any = None,
    person_ids: Iterable[int] = (),
    detail: dict[str, Any] | None = None,
    *,
    outsiders: Iterable[str] = (),
    at: dt.datetime | None = None,
) -> int:
    """Append an event (and the people it concerns: ``person_ids``, and ``outsiders`` by
    their user id on the platform); its id. ``at``: when it happened (the caller's clock),
    else now."""
    named = sorted(set(outsiders))
    if named:
        detail = {**(detail or {}), OUTSIDERS: named}
    event_id: int = session.execute(
        insert(AuditEvent)
        .values(
            organisation_id=actor.organisation_id,
            occurred_at=at or utcnow(),
            actor_person_id=actor.person_id,
            actor_label=actor.label,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            detail=detail,
            request_method=actor.method,
            request_path=actor.path[:MAX_PATH] if actor.path else None,
        )
        .returning(AuditEvent.id)
    ).scalar_one()
    people = sorted(set(person_ids))
    if people:
        session.execute(
            insert(AuditEventPerson), [{"event_id": event_id, "person_id": p} for p in people]
        )
    return event_id


def record_everywhere(
    session: Session,
    actor_of: Callable[[int], Actor],
    action: AuditAction,
    object_type: str,
    object_id: Any = None,
) -> int:
    """Record a change to what every organisation shares (the tool's signing key) in each
    organisation's log; in how many."""
    organisation_ids = list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    for organisation_id in organisation_ids:
        record(session, actor_of(organisation_id), action, object_type, object_id)
    return len(organisation_ids)


def record_view(
    session: Session,
    actor: Actor,
    what: str,
    person_ids: Iterable[int],
    *,
    object_id: Any = None,
    export: bool = False,
    detail: dict[str, Any] | None = None,
    outsiders: Iterable[str] = (),
) -> int | None:
    """Record that ``actor`` saw (or, with ``export``, downloaded) these people's data
    (``what``: person, people, certificate, ...), and that of ``outsiders`` (see
    ``record``). Their own data is not another person's: nothing is recorded when no one
    else is shown."""
    others = {p for p in person_ids if p != actor.person_id}
    outsiders = set(outsiders)
    if not others and not outsiders:
        return None
    action = AuditAction.EXPORT if export else AuditAction.VIEW
    return record(session, actor, action, what, object_id, others, detail, outsiders=outsiders)


# --- reading the log ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Filters:
    action: AuditAction | None = None
    actor_id: int | None = None
    person_id: int | None = None
    """Only events concerning this person."""
    object_type: str | None = None
    since: dt.datetime | None = None
    before: dt.datetime | None = None


def _events(organisation_id: int, filters: Filters) -> Select[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.organisation_id == organisation_id)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_person_id == filters.actor_id)
    if filters.object_type is not None:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.person_id is not None:
        concerning = select(AuditEventPerson.event_id).where(
            AuditEventPerson.person_id == filters.person_id
        )
        query = query.where(AuditEvent.id.in_(concerning))
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.before is not None:
        query = query.where(AuditEvent.occurred_at < filters.before)
    return query


def events_of(
    session: Session, organisation_id: int, filters: Filters, offset: int, limit: int
) -> tuple[list[AuditEvent], int]:
    """One page of the organisation's events, newest first, and how many match in all."""
    query = _events(organisation_id, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.options(selectinload(AuditEvent.people))
        .order_by(AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(page), total


def all_events(
    session: Session, organisation_id: int, filters: Filters, batch: int = 500
) -> Iterator[Sequence[AuditEvent]]:
    """Every matching event, newest first, a batch at a time (for an export)."""
    query = _events(organisation_id, filters).options(selectinload(AuditEvent.people))
    last: int | None = None
    while True:
        step = query if last is None else query.where(AuditEvent.id < last)
        found = list(session.scalars(step.order_by(AuditEvent.id.desc()).limit(batch)))
        if not found:
            return
        yield found
        last = found[-1].id


def names_of(
    session: Session, organisation_id: int, events: Iterable[AuditEvent]
) -> dict[int, str]:
    """The display names of the actors and people of ``events`` (the organisation's)."""
    ids = set()
    for event in events:
        if event.actor_person_id is not None:
            ids.add(event.actor_person_id)
        ids.update(p.person_id for p in event.people)
    if not ids:
        return {}
    people = session.scalars(
        select(Person).where(Person.id.in_(ids), Person.organisation_id == organisation_id)
    )
    return {p.id: p.display_name for p in people}


def object_types(session: Session, organisation_id: int) -> list[str]:
    """The kinds of object the organisation's events name (for the filter)."""
    return list(
        session.scalars(
            select(AuditEvent.object_type)
            .where(AuditEvent.organisation_id == organisation_id)
            .distinct()
            .order_by(AuditEvent.object_type)
        )
    )


def history_of(
    session: Session,
    organisation_id: int,
    object_type: str,
    object_ids: Select[Any] | Iterable[Any],
    actions: Iterable[AuditAction] = (),
    limit: int | None = None,
) -> list[AuditEvent]:
    """The events of these objects (ids, or a query of them), newest first."""
    ids = object_ids if isinstance(object_ids, Select) else [str(i) for i in object_ids]
    query = select(AuditEvent).where(
        AuditEvent.organisation_id == organisation_id,
        AuditEvent.object_type == object_type,
        AuditEvent.object_id.in_(ids),
    )
    chosen = list(actions)
    if chosen:
        query = query.where(AuditEvent.action.in_(chosen))
    query = query.options(selectinload(AuditEvent.people)).order_by(
        AuditEvent.occurred_at.desc(), AuditEvent.id.desc()
    )
    return list(session.scalars(query.limit(limit) if limit else query))


# --- erasure and retention: the only changes the log allows ---------------------------------

#: The PostgreSQL settings the append-only trigger reads (see the model's docstring).
PURGE_FLAG = "laeringslop.audit_purge"
ERASE_FLAG = "laeringslop.audit_erase"


def allow(session: Session, flag: str) -> None:
    """Let this transaction (only) delete (``PURGE_FLAG``) or rewrite (``ERASE_FLAG``)
    audit events; no-op on a database without the trigger."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config(:flag, 'on', true)"), {"flag": flag})


def rewrite_reasons(
    session: Session, organisation_id: int, person_id: int, clean: Callable[[str], str]
) -> int:
    """Cut a person out of the free-text reasons of the events they did or that concern
    them (``clean`` rewrites one text); how many events changed. The ids stay: they name
    no one once the person is gone."""
    concerning = select(AuditEventPerson.event_id).where(AuditEventPerson.person_id == person_id)
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.organisation_id == organisation_id,
            or_(AuditEvent.actor_person_id == person_id, AuditEvent.id.in_(concerning)),
        )
    )
    changed = [e for e in events if isinstance((e.detail or {}).get("reason"), str)]
    changed = [e for e in changed if clean(e.detail["reason"]) != e.detail["reason"]]  # type: ignore[index]
    if changed:
        allow(session, ERASE_FLAG)
    for event in changed:
        assert event.detail is not None
        event.detail = {**event.detail, "reason": clean(event.detail["reason"])}
    session.flush()
    return len(changed)


def purge_before(session: Session, organisation_id: int, cutoff: dt.datetime) -> int:
    """Delete the organisation's events from before ``cutoff`` (its audit retention);
    how many."""
    old = select(AuditEvent.id).where(
        AuditEvent.organisation_id == organisation_id, AuditEvent.occurred_at < cutoff
    )
    ids = list(session.scalars(old))
    if not ids:
        return 0
    allow(session, PURGE_FLAG)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(AuditEventPerson).where(AuditEventPerson.event_id.in_(chunk)))
        session.execute(delete(AuditEvent).where(AuditEvent.id.in_(chunk)))
    return len(ids)
