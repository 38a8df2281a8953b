"""What a validated launch changes: the person and the launch record (which the
deployment's launches are counted from)."""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from lti_tool.db import attach_row, utcnow
from lti_tool.errors import DeepLinkingForbidden
from lti_tool.lti import claims as c
from lti_tool.lti.claims import shown_text
from lti_tool.lti.launch import ValidatedLaunch
from lti_tool.lti.roles import Permission, highest, permissions_for
from lti_tool.models import Deployment, Launch, PermissionGrant, Person
from lti_tool.services import assignments, grants

M = TypeVar("M", Person, Launch)

#: Claims copied onto the person when the platform shares them (Canvas may not).
PROFILE_FIELDS = {"name": 300, "given_name": 200, "family_name": 200, "email": 320}


def upsert_person(session: Session, launch: ValidatedLaunch) -> Person:
    """The launch's person, new or known, with the profile the launch shares: one
    ``INSERT … ON CONFLICT DO UPDATE`` (PostgreSQL and SQLite), so two first launches of
    the same person at once both succeed, and a known person costs no read first.

    A profile claim the platform leaves out (Canvas may) keeps what the person had.
    """
    now = utcnow()
    profile: dict[str, str] = {}
    for field, limit in PROFILE_FIELDS.items():
        value = launch.claims.get(field)
        text = shown_text(value) if isinstance(value, str) else ""
        if text:
            profile[field] = text[:limit]
    if launch.locale:
        profile["locale"] = launch.locale
    values = {
        "platform_id": launch.registration.platform.id,
        "sub": launch.claims["sub"],
        "organisation_id": launch.deployment.organisation_id,
        "created_at": now,
        "last_seen_at": now,
        **profile,
    }
    upsert = _upsert(session.get_bind().dialect.name, tuple(profile))
    row = session.execute(upsert, values).one()
    return _persistent(session, Person, dict(row._mapping))


def _persistent(session: Session, model: type[M], values: dict[str, Any]) -> M:
    """The row a Core statement returned as the session's object: the one the session
    holds, brought up to date, else a new persistent one (no SQL either way; the ORM's
    ``RETURNING`` of an entity cost several times the statement)."""
    return attach_row(session, model, values, refresh=True)


@functools.cache
def _upsert(dialect: str, profile: tuple[str, ...]) -> Any:
    """The upsert of a person sharing these profile fields (made once: building it costs
    more than running it)."""
    table: Any = Person.__table__
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    changed = {field: insert.excluded[field] for field in (*profile, "last_seen_at")}
    return insert.on_conflict_do_update(
        index_elements=[table.c.platform_id, table.c.sub], set_=changed
    ).returning(*table.c)


#: The claims a launch record keeps (data minimisation): those the tool reads later, from
#: the launch (``Launch.claims``). The rest of the id_token (the person's name and e-mail,
#: which ``upsert_person`` copies onto the person, picture, other custom parameters and
#: extensions, the launch presentation) is used at the launch or not at all.
STORED_CLAIMS = (
    "sub",  # the LMS user id grades are sent for (services.score_delivery)
    c.DEPLOYMENT_ID,  # deep linking's answer
    c.ROLES,  # permissions on every request (services.grants)
    c.CONTEXT,  # the course: its roster, the page header
    c.DEEP_LINKING_SETTINGS,
    c.AGS_ENDPOINT,
    c.NRPS,
    c.TOOL_PLATFORM,  # Canvas or not (services.score_delivery)
)
#: Of the lis claim: the HR number an assignment import matches (services.assignment_import).
STORED_LIS = ("person_sourcedid",)


def stored_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """What a launch record keeps of the id_token's claims (``STORED_CLAIMS``), with only
    the custom parameters of placed links (``STORED_CUSTOM``) and the lis sourcedid."""
    kept = {name: claims[name] for name in STORED_CLAIMS if name in claims}
    custom = claims.get(c.CUSTOM)
    if isinstance(custom, Mapping):
        placed = {k: custom[k] for k in STORED_CUSTOM if k in custom}
        if placed:
            kept[c.CUSTOM] = placed
    lis = claims.get(c.LIS)
    if isinstance(lis, Mapping):
        sourcedid = {k: lis[k] for k in STORED_LIS if k in lis}
        if sourcedid:
            kept[c.LIS] = sourcedid
    return kept


#: The page each permission lands on after a launch (the highest permission wins).
LANDING = {
    Permission.LEARNER: "learner.home",
    Permission.COORDINATOR: "coordinator.home",
    Permission.DESIGNER: "designer.home",
    Permission.MANAGER: "manager.home",
    Permission.ADMIN: "admin.home",
}
CAN_PLACE_CONTENT = frozenset({Permission.DESIGNER, Permission.ADMIN})


def record_launch(
    session: Session,
    launch: ValidatedLaunch,
    *,
    job_role_param: str = "job_role",
    unit_param: str = "unit",
) -> tuple[Launch, list[PermissionGrant]]:
    """Record a validated launch; a deep-linking request needs someone who may add content.
    Returns it with the person's active grants read for it (the start page's too).

    The custom parameters named ``job_role_param`` and ``unit_param`` place the person in
    the organisation's job roles and units (``services.assignments``), in the same
    transaction. The permissions are the LMS roles' and the person's grants in the tool
    (``services.grants``). A launch of a link that places a mapping or certification and carries a
    line item queues the grade the person has there, if the line item lacks it
    (``services.gradebook.catch_up``). The launch's course is recorded with its NRPS
    memberships URL (``services.course_roster``).
    """
    person = upsert_person(session, launch)
    roles = launch.claims.get(c.ROLES) or []
    held = grants.active_grants(session, launch.deployment.organisation_id, person)
    permissions = grants.effective_permissions(
        permissions_for(roles, grants.designer_roles(launch.registration.platform)), held
    )
    if launch.message_type == c.DEEP_LINKING_REQUEST and not permissions & CAN_PLACE_CONTENT:
        raise DeepLinkingForbidden(f"deep linking by roles {roles}")
    context = launch.claims.get(c.CONTEXT) or {}
    record = insert_launch(
        session,
        person,
        launch.deployment,
        message_type=launch.message_type,
        context_id=context.get("id"),
        permissions=sorted(permissions),
        claims=stored_claims(launch.claims),
    )
    custom = launch.claims.get(c.CUSTOM)
    if isinstance(custom, dict) and (job_role_param in custom or unit_param in custom):
        assignments.sync_launch_assignments(
            session,
            person,
            launch.deployment.organisation_id,
            custom,
            job_role_param=job_role_param,
            unit_param=unit_param,
        )
    from lti_tool.services import course_roster, gradebook  # they build on placement

    course_roster.note_launch(session, record)
    session.flush()
    gradebook.catch_up(session, record)
    return record, held


def insert_launch(
    session: Session, person: Person, deployment: Deployment, **values: Any
) -> Launch:
    """The launch record, written at once by one Core ``INSERT`` and kept in ``session``
    as a persistent object with its person and deployment: the unit of work would spend
    more on one new row than the statement does, and nothing of it changes later."""
    values = {
        "id": secrets.token_urlsafe(24),
        "person_id": person.id,
        "deployment_pk": deployment.id,
        "created_at": utcnow(),
        **values,
    }
    values["link_key"] = link_key(
        person.id, deployment.id, values.get("context_id"), values["claims"]
    )
    session.execute(_LAUNCH_INSERT, values)
    record = _persistent(session, Launch, values)  # what it holds is what the row holds
    set_committed_value(record, "person", person)
    set_committed_value(record, "deployment", deployment)
    return record


_LAUNCH_INSERT = insert(Launch.__table__)  # type: ignore[arg-type]


#: A link key's hexadecimal digits: 128 bits, far from any two links' keys meeting by chance,
#: and half the index a whole SHA-256 would make.
LINK_KEY_LENGTH = 32


def link_key(
    person_id: int, deployment_pk: int, context_id: str | None, claims: Mapping[str, Any]
) -> str:
    """The person's link a launch came through, as one indexed value: the person, the
    deployment, the course (context) and what the link places (the custom parameters a
    record keeps, ``STORED_CUSTOM``: a record older than ``stored_claims``, with the whole
    custom object, is of the same link). Two links of one course are two links: their
    scores and rosters go through their own launches. Also the retention's, for
    records without one; the migration that added the key keeps a copy of this."""
    custom = claims.get(c.CUSTOM)
    placed = (
        {name: custom[name] for name in STORED_CUSTOM if name in custom}
        if isinstance(custom, Mapping)
        else {}
    )
    named = json.dumps(
        [person_id, deployment_pk, context_id, placed], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(named.encode()).hexdigest()[:LINK_KEY_LENGTH]


#: The custom parameter of a placed link that names a mapping (see services.placement).
MAPPING_PARAM = "mapping"
#: The custom parameter of a placed link that names a certification.
CERTIFICATION_PARAM = "certification"
#: The custom parameter of a placed link that names an e-learning activity (its code).
ACTIVITY_PARAM = "activity"
#: The custom parameters a launch record keeps: those of the tool's placed links.
STORED_CUSTOM = (MAPPING_PARAM, CERTIFICATION_PARAM, ACTIVITY_PARAM)


def landing(launch: Launch) -> tuple[str, dict[str, str]]:
    """Where a launch lands: the designer's picker for deep linking, the placed mapping for
    a link that names one, else the start page of the person's highest permission.

    So a person granted manager lands on ``/manager/`` (their units) from any other link of
    any course; a mapping or certification link still opens the mapping or certification,
    which a manager, an employee too, may have to take themselves."""
    if launch.message_type == c.DEEP_LINKING_REQUEST:
        return "designer.deep_link", {}
    mapping = str((launch.claims.get(c.CUSTOM) or {}).get(MAPPING_PARAM) or "").strip()
    if mapping:
        return "attempts.mapping_page", {"code": mapping}
    certification = str((launch.claims.get(c.CUSTOM) or {}).get(CERTIFICATION_PARAM) or "")
    if certification.strip():
        return "certificates.certification_page", {"code": certification.strip()}
    activity = str((launch.claims.get(c.CUSTOM) or {}).get(ACTIVITY_PARAM) or "").strip()
    if activity:
        return "learner.placed_activity", {"code": activity}
    return LANDING[highest(launch.permissions)], {}


def get_launch(session: Session, launch_id: str) -> Launch | None:
    """The launch with what every page reads of it (its person, deployment, platform and
    organisation), in one statement."""
    return session.scalar(_launch_by_id(), {"launch_id": launch_id})


@functools.cache
def _launch_by_id() -> Any:
    """``get_launch``'s statement, made once (every page runs it; making it anew each
    time cost more than running it)."""
    deployment = joinedload(Launch.deployment, innerjoin=True)
    return (
        select(Launch)
        .where(Launch.id == bindparam("launch_id"))
        .options(
            joinedload(Launch.person, innerjoin=True),
            deployment.joinedload(Deployment.platform, innerjoin=True),
            deployment.joinedload(Deployment.organisation, innerjoin=True),
        )
    )
