"""Erasing a person (GDPR): their personal data removed in one transaction, figures kept.

What goes: the person row and, with it (the foreign keys cascade), their launches, job
roles and units, grants, attempts and answers, evidence, holdings and coverage cells,
learning plan, bookings and notices, attendance and result reads; their rows in the
course participant lists read from the LMS, and the grades queued or sent for them (which
carry their LMS user id). Where they acted for others (decided, granted, recorded), the
other person's row stays, naming no one (the foreign keys set null).

What stays: their certificates, without the holder's name or the signed credential (which
carries it), verifying as withdrawn and listed as revoked in the status list; the stored
aggregates (monthly coverage snapshots, the counts of exported documentation). Live
figures are computed from the people there are, so from now on they count the erased
person no more: a unit's coverage today changes, last month's snapshot does not.

The audit log keeps its events: they name people by id only, and their name, e-mail and
LMS user id are cut out of the reasons of the events they did or that concern them (a
certificate's issue or revocation; the one UPDATE the log allows). The erasure is recorded
there too (who, when, why, how many certificates were withdrawn), by the erased person's
id, with their name, e-mail and LMS user id cut out of the reason.

Someone erased who launches again from the LMS is a new person to the tool: the row that
knew their LMS user id is gone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lti_tool.db import utcnow
from lti_tool.models import (
    AuditAction,
    Certificate,
    Person,
    RosterMember,
    ScoreDelivery,
)
from lti_tool.services import audit, certificates, privacy
from lti_tool.services.audit import Actor

#: What stands in a kept text where the erased person's name was.
ERASED = "[erased]"
MAX_REASON = 500


@dataclasses.dataclass(frozen=True)
class Erased:
    person_id: int
    certificates_withdrawn: int


def _identifiers(person: Person) -> list[str]:
    """What names the person in free text: the longest first, so a full name goes whole."""
    found = {
        value.strip()
        for value in (person.name, person.given_name, person.family_name, person.email, person.sub)
        if value and len(value.strip()) >= 3
    }
    return sorted(found, key=len, reverse=True)


def without_person(text: str, person: Person) -> str:
    """``text`` with the person's name, e-mail and LMS user id cut out."""
    for value in _identifiers(person):
        text = re.sub(re.escape(value), ERASED, text, flags=re.IGNORECASE)
    return text


def erase_person(
    session: Session,
    actor: Actor,
    person: Person,
    reason: str,
    *,
    via: str = "console",
    now: dt.datetime | None = None,
) -> Erased:
    """Erase ``person`` (of ``actor``'s organisation; the caller checked) and record it.
    Flush only: the caller's transaction commits all of it or nothing."""
    now = now or utcnow()
    person_id = person.id
    clean_reason = without_person(reason.strip(), person)[:MAX_REASON]

    held = list(session.scalars(select(Certificate).where(Certificate.person_id == person_id)))
    withdrawn_ids = [certificate.id for certificate in held]
    for certificate in held:
        certificate.holder_name = ""
        certificate.credential_jwt = None
        certificate.withdrawn_at = now
        certificate.person_id = None
        certificate.person = None
    audit.rewrite_reasons(
        session, person.organisation_id, person_id, lambda text: without_person(text, person)
    )
    member_ids = privacy.roster_member_ids(session, person)
    if member_ids:
        session.execute(delete(RosterMember).where(RosterMember.id.in_(member_ids)))
    deliveries = [d.id for d in privacy.score_deliveries(session, person)]
    if deliveries:
        session.execute(delete(ScoreDelivery).where(ScoreDelivery.id.in_(deliveries)))
    session.flush()
    session.expunge(person)
    session.execute(delete(Person).where(Person.id == person_id))
    session.expire_all()
    audit.record(
        session,
        actor,
        AuditAction.ERASE,
        "person",
        person_id,
        [person_id],
        {
            "reason": clean_reason,
            "via": via,
            "certificates_withdrawn": len(held),
        },
    )
    for certificate_id in withdrawn_ids:  # each certificate's own trail says so too
        audit.record(
            session,
            actor,
            AuditAction.WITHDRAW,
            certificates.AUDIT_OBJECT,
            certificate_id,
            at=now,
        )
    session.flush()
    return Erased(person_id, len(held))
