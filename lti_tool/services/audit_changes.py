"""Changes to what the tool is set up with, recorded in the audit log as the transaction
commits: registrations, platforms and deployments, frameworks and their versions, job-role
profiles, mappings and their items, the item bank, certifications and their rules.

Every path that changes them (a designer's form, the API, an import, the command line,
dynamic registration) goes through the one database session, so the log is written here,
once, rather than at each change point. Flushes collect what changed (``collect``); when
the transaction commits, ``write`` records one event per object a person changed (a
framework, a version, a job role, a mapping, ...): a competence added to a version is an
update of the version, a framework imported with its first version and competences is
one creation of the framework. The events join the same transaction: they commit with the
change or not at all. A rollback forgets what was collected.

Who acted comes from the caller (``Listener.actor_of``): the launched person or API token of
the request, the command line, or the system; and whether what was made was imported
(``Listener.created``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from lti_tool.models import (
    AuditAction,
    Certification,
    Competence,
    Deployment,
    Framework,
    FrameworkVersion,
    Item,
    ItemCompetence,
    ItemOption,
    JobRole,
    Mapping,
    MappingCompetence,
    MappingItem,
    Platform,
    Requirement,
    ScaleLevel,
)
from lti_tool.services import audit
from lti_tool.services.audit import Actor

#: What a changed row is part of: (object type, the attribute holding that object's id).
WATCHED: dict[type, tuple[str, str]] = {
    Platform: ("platform", "id"),
    Deployment: ("deployment", "id"),
    Framework: ("framework", "id"),
    FrameworkVersion: ("framework_version", "id"),
    ScaleLevel: ("framework_version", "version_id"),
    Competence: ("framework_version", "version_id"),
    JobRole: ("job_role", "id"),
    Requirement: ("job_role", "job_role_id"),
    Mapping: ("mapping", "id"),
    MappingCompetence: ("mapping", "mapping_id"),
    MappingItem: ("mapping", "mapping_id"),
    Item: ("item", "id"),
    ItemOption: ("item", "item_id"),
    ItemCompetence: ("item", "item_id"),
    Certification: ("certification", "id"),
}
#: An object made together with the one it belongs to is part of that one's creation.
PARENT: dict[type, tuple[str, str]] = {
    FrameworkVersion: ("framework", "framework_id"),
    Deployment: ("platform", "platform_id"),
}
#: Columns whose change is no change of set-up, or has an event of its own.
IGNORED = frozenset({"updated_at", "designer_roles", "approved_at", "created_at"})
#: A platform's columns that say which keys it signs with.
KEY_COLUMNS = frozenset({"jwks_url", "auth_token_url", "auth_audience"})
#: A status changed to one of these is its own action.
STATUS_ACTIONS = {
    "published": AuditAction.PUBLISH,
    "active": AuditAction.ENABLE,
    "disabled": AuditAction.DISABLE,
}
INFO_KEY = "audit_changes"
#: The most ids and codes one event of many objects made together lists.
MANY = 500


@dataclasses.dataclass
class Change:
    """What one transaction did to one object (and the rows that are part of it)."""

    organisation_id: int | None = None
    created: bool = False
    deleted: bool = False
    status: str | None = None
    columns: set[str] = dataclasses.field(default_factory=set)
    rows: set[str] = dataclasses.field(default_factory=set)
    """The tables of the rows that are part of it and changed (competences, items, ...)."""
    parent: tuple[str, int] | None = None
    folded: bool = False
    code: str | None = None

    def action(self, object_type: str, created: AuditAction = AuditAction.CREATE) -> AuditAction:
        if self.created:
            return AuditAction.REGISTER if object_type == "platform" else created
        if self.deleted:
            return AuditAction.DELETE
        if self.status in STATUS_ACTIONS:
            return STATUS_ACTIONS[self.status]
        if object_type == "platform" and self.columns & KEY_COLUMNS:
            return AuditAction.ROTATE_KEY
        return AuditAction.UPDATE

    def detail(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.code:
            found["code"] = self.code
        if self.status:
            found["status"] = self.status
        if self.columns and not self.created:
            found["changed"] = sorted(self.columns)
        if self.rows:
            found["parts"] = sorted(self.rows)
        return found


def _changes(session: Session) -> dict[tuple[str, int], Change]:
    found: dict[tuple[str, int], Change] = session.info.setdefault(INFO_KEY, {})
    return found


def _changed_columns(row: Any) -> set[str]:
    state = inspect(row)
    return {
        attr.key
        for attr in state.mapper.column_attrs
        if attr.key not in IGNORED and state.attrs[attr.key].history.has_changes()
    }


def collect(session: Session, flush_context: Any = None) -> None:
    """After a flush (ids assigned, histories still there): note what changed."""
    for kind, rows in (("new", session.new), ("dirty", session.dirty), ("gone", session.deleted)):
        for row in rows:
            watched = WATCHED.get(type(row))
            if watched is None:
                continue
            columns = _changed_columns(row) if kind == "dirty" else set()
            if kind == "dirty" and not columns:
                continue
            object_type, key = watched
            object_id = getattr(row, key, None)
            if object_id is None:
                continue
            change = _changes(session).setdefault((object_type, object_id), Change())
            organisation_id = getattr(row, "organisation_id", None)
            if organisation_id is not None:
                change.organisation_id = organisation_id
            if key != "id":  # a row that is part of the object
                change.rows.add(row.__table__.name)
                continue
            change.code = getattr(row, "code", None) or change.code
            if kind == "new":
                change.created = True
                if type(row) in PARENT:
                    parent_type, parent_key = PARENT[type(row)]
                    change.parent = (parent_type, getattr(row, parent_key))
            elif kind == "gone":
                change.deleted = True
            else:
                change.columns |= columns
                if "status" in columns:
                    change.status = str(row.status)


def forget(session: Session, *args: Any) -> None:
    session.info.pop(INFO_KEY, None)


#: The model of each kind of object with an organisation of its own.
OWNED = {
    "platform": Platform,
    "deployment": Deployment,
    "framework": Framework,
    "job_role": JobRole,
    "mapping": Mapping,
    "item": Item,
    "certification": Certification,
}


def _organisation_ids(session: Session, object_type: str, ids: set[int]) -> dict[int, int]:
    """The organisations of objects whose changed rows did not name it."""
    if not ids:
        return {}
    if object_type == "framework_version":
        query = (
            select(FrameworkVersion.id, Framework.organisation_id)
            .join(Framework, Framework.id == FrameworkVersion.framework_id)
            .where(FrameworkVersion.id.in_(ids))
        )
    else:
        model: Any = OWNED[object_type]
        query = select(model.id, model.organisation_id).where(model.id.in_(ids))
    return {object_id: organisation_id for object_id, organisation_id in session.execute(query)}


def write(
    session: Session,
    actor_of: Callable[[int], Actor],
    created: Callable[[], AuditAction] = lambda: AuditAction.CREATE,
) -> int:
    """Record one event per changed object (as the transaction commits); how many.
    ``created``: what a creation is in this request (an import, or a creation)."""
    changes: dict[tuple[str, int], Change] = session.info.pop(INFO_KEY, {})
    if not changes:
        return 0
    unknown: dict[str, set[int]] = {}
    for (object_type, object_id), change in changes.items():
        if change.organisation_id is None:
            unknown.setdefault(object_type, set()).add(object_id)
    found = {
        object_type: _organisation_ids(session, object_type, ids)
        for object_type, ids in unknown.items()
    }
    for (object_type, _), change in list(changes.items()):
        parent = changes.get(change.parent) if change.parent else None
        if change.created and parent is not None and parent.created:
            parent.rows.add(object_type)
            change.folded = True  # part of its parent's creation: no event of its own
    events: dict[tuple[int, str, AuditAction], list[tuple[int, Change]]] = {}
    for (object_type, object_id), change in sorted(changes.items()):
        if change.folded:
            continue
        organisation_id = change.organisation_id or found[object_type].get(object_id)
        if organisation_id is None:
            continue  # deleted with what it was part of: that one's event says so
        action = change.action(object_type, created())
        events.setdefault((organisation_id, object_type, action), []).append((object_id, change))
    for (organisation_id, object_type, action), objects in events.items():
        actor = actor_of(organisation_id)
        if len(objects) > 1 and action in (AuditAction.CREATE, AuditAction.IMPORT):
            # many made at once (an import of questions or job roles): one event
            audit.record(session, actor, action, object_type, None, detail=_many(objects))
            continue
        for object_id, change in objects:
            audit.record(
                session, actor, action, object_type, object_id, detail=change.detail() or None
            )
    return len(events)


def _many(objects: list[tuple[int, Change]]) -> dict[str, Any]:
    """The detail of one event for many objects made together."""
    found: dict[str, Any] = {"count": len(objects), "ids": [i for i, _ in objects][:MANY]}
    codes = [c.code for _, c in objects if c.code]
    if codes:
        found["codes"] = codes[:MANY]
    return found


@dataclasses.dataclass(frozen=True)
class Listener:
    """Wires ``collect`` and ``write`` to the sessions a sessionmaker makes."""

    actor_of: Callable[[int], Actor]
    created: Callable[[], AuditAction] = lambda: AuditAction.CREATE

    def install(self, maker: sessionmaker[Session]) -> None:
        event.listen(maker, "after_flush", collect)
        event.listen(maker, "before_commit", self._before_commit)
        event.listen(maker, "after_rollback", forget)

    def _before_commit(self, session: Session) -> None:
        session.flush()  # what is pending is collected too
        if write(session, self.actor_of, self.created):
            session.flush()
