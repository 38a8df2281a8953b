"""Certificates: issuing them when a person's evidence meets a certification's rules, by
hand with a reason, renewing and revoking them, and what verification shows.

Evaluation runs in the transaction that changed the evidence (a submitted attempt, a
recorded attendance, a publication), so a certificate is there when the learner's next
page loads. "Exactly once" rests on the database: a certificate's (certification, person,
cycle) is unique, so of two transactions that see the rules met at once, one inserts and
the other finds the row and issues nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import secrets
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, bindparam, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain import certification_rules as rules
from lti_tool.domain.texts import localized
from lti_tool.errors import CannotIssue, CannotRevoke, NotFound
from lti_tool.lti import claims as c
from lti_tool.models import (
    Attempt,
    AttemptStatus,
    Attendance,
    AuditAction,
    AuditEvent,
    Certificate,
    Certification,
    CertificationStatus,
    Competence,
    Deployment,
    FrameworkVersion,
    IssueMethod,
    Launch,
    Mapping,
    Organisation,
    Person,
    ScoreDelivery,
    StatusList,
)
from lti_tool.services import assignments, audit, requirements, score_delivery
from lti_tool.services.launches import CERTIFICATION_PARAM

#: Entries per status list: the W3C minimum (16 KiB), so an index tells nothing.
STATUS_LIST_SIZE = 131072
#: Verification codes: no 0/O, 1/I/L or U, so they can be read aloud and typed.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS, CODE_GROUP_LENGTH = 3, 4
MIN_REASON_LENGTH = 5
SCORE_TAG = "laeringslop-certification"
#: A certificate's events in the audit log: ``object_type`` and the actions of its trail.
AUDIT_OBJECT = "certificate"
#: ``WITHDRAW``: the holder's data was erased (``services.erasure``).
TRAIL = (AuditAction.ISSUE, AuditAction.RENEW, AuditAction.REVOKE, AuditAction.WITHDRAW)

#: How long an expired, unrenewed certificate stays on the manager's list.
EXPIRED_LISTED_DAYS = 365


def new_code() -> str:
    """A verification code such as K7QM-2XD9-PH4T (about 59 bits: not guessable)."""
    groups = (
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LENGTH))
        for _ in range(CODE_GROUPS)
    )
    return "-".join(groups)


def normalise_code(raw: str) -> str:
    """What a person typed, as stored: upper case and grouped, whatever spacing they used."""
    cleaned = "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())[:20]
    size = CODE_GROUP_LENGTH
    return "-".join(cleaned[i : i + size] for i in range(0, len(cleaned), size))


# --- what a person has shown --------------------------------------------------------------


def facts_for(
    session: Session,
    organisation_id: int,
    person_id: int,
    paths: Sequence[dict[str, Any]],
    since: dt.datetime | None,
) -> rules.Facts:
    conditions = [leaf for path in paths for leaf in rules.leaves(path)]
    competence_ids = {x["competence_id"] for x in conditions if x["type"] == rules.COMPETENCE}
    mapping_ids = {x["mapping_id"] for x in conditions if x["type"] == rules.MAPPING}
    course_ids = {x["course_id"] for x in conditions if x["type"] == rules.COURSE}
    levels = requirements.current_levels(
        session, organisation_id, person_id, competence_ids, since=since, certifying_only=True
    )
    passed: set[int] = set()
    if mapping_ids:
        query = (
            select(Attempt.mapping_id)
            .join(Mapping, Mapping.id == Attempt.mapping_id)
            .where(
                Attempt.person_id == person_id,
                Attempt.organisation_id == organisation_id,
                Attempt.mapping_id.in_(mapping_ids),
                Attempt.status == AttemptStatus.SUBMITTED,
                Mapping.pass_percentage.is_not(None),
                Attempt.percentage >= Mapping.pass_percentage,
            )
        )
        if since is not None:
            query = query.where(Attempt.submitted_at >= since)
        passed = set(session.scalars(query))
    attended: set[int] = set()
    if course_ids:
        query = select(Attendance.course_id).where(
            Attendance.person_id == person_id,
            Attendance.organisation_id == organisation_id,
            Attendance.course_id.in_(course_ids),
        )
        if since is not None:  # attended in the period, and recorded after it began
            query = query.where(
                Attendance.attended_on >= since.date(), Attendance.recorded_at >= since
            )
        attended = set(session.scalars(query))
    return rules.Facts(
        levels=levels, passed_mappings=frozenset(passed), courses=frozenset(attended)
    )


def policy_of(certification: Certification) -> rules.Policy:
    return rules.Policy(
        validity_months=certification.validity_months,
        renewal_window_days=certification.renewal_window_days,
        minimum_active_days=certification.minimum_active_days,
    )


def latest_certificate(
    session: Session, certification_id: int, person_id: int
) -> Certificate | None:
    return session.scalar(
        select(Certificate)
        .where(Certificate.certification_id == certification_id, Certificate.person_id == person_id)
        .order_by(Certificate.cycle.desc())
        .limit(1)
    )


def held_of(certificate: Certificate | None) -> rules.Held | None:
    if certificate is None:
        return None
    return rules.Held(
        issued_at=certificate.valid_from,
        expires_at=certificate.expires_at,
        revoked_at=certificate.revoked_at,
    )


# --- evaluating ---------------------------------------------------------------------------


def evaluate_person(
    session: Session, organisation_id: int, person_id: int, now: dt.datetime
) -> list[Certificate]:
    """Issue every published certification the person now meets; returns what was issued."""
    certifications = session.scalars(
        select(Certification).where(
            Certification.organisation_id == organisation_id,
            Certification.status == CertificationStatus.PUBLISHED,
        )
    ).all()
    issued = [_evaluate(session, cert, person_id, now) for cert in certifications]
    return [cert for cert in issued if cert is not None]


def evaluate_certification(
    session: Session, certification: Certification, now: dt.datetime
) -> list[Certificate]:
    """Issue the certification to everyone in the organisation who meets it now."""
    person_ids = session.scalars(
        select(Person.id).where(Person.organisation_id == certification.organisation_id)
    ).all()
    issued = [_evaluate(session, certification, pid, now) for pid in person_ids]
    return [cert for cert in issued if cert is not None]


def _evaluate(
    session: Session, certification: Certification, person_id: int, now: dt.datetime
) -> Certificate | None:
    previous = latest_certificate(session, certification.id, person_id)
    chance = rules.opportunity(policy_of(certification), held_of(previous), now)
    if chance is None:
        return None
    paths = list(certification.earn_paths)
    if chance.renewal:
        paths += certification.renewal_paths
    facts = facts_for(session, certification.organisation_id, person_id, paths, chance.since)
    met = rules.first_met(paths, facts)
    if met is None:
        return None
    kind = "earn" if met < len(certification.earn_paths) else "renew"
    number = met if kind == "earn" else met - len(certification.earn_paths)
    return _issue(
        session,
        certification,
        person_id,
        previous,
        chance,
        IssueMethod.RENEWAL if chance.renewal else IssueMethod.AUTOMATIC,
        now,
        detail={"path": kind, "index": number},
        met_path=paths[met],
    )


# --- issuing ------------------------------------------------------------------------------


def status_list_of(session: Session, organisation_id: int) -> StatusList:
    """The organisation's newest revocation list with room, made when none has: a list is
    filled to three quarters at most, so a random free index is found in a few draws."""
    found = session.scalar(
        select(StatusList)
        .where(StatusList.organisation_id == organisation_id)
        .order_by(StatusList.id.desc())
        .limit(1)
    )
    used = (
        session.scalar(
            select(func.count(Certificate.id)).where(Certificate.status_list_id == found.id)
        )
        if found is not None
        else 0
    ) or 0
    if found is not None and used < found.size * 3 // 4:
        return found
    made = StatusList(
        organisation_id=organisation_id, uuid=str(uuid.uuid4()), size=STATUS_LIST_SIZE
    )
    session.add(made)
    session.flush()
    return made


def certified_competences(
    session: Session, paths: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The competences these paths ask for, each at the highest level asked: what the
    certificate and its credential list, frozen at issue."""
    wanted: dict[int, int] = {}
    for path in paths:
        for leaf in rules.leaves(path):
            if leaf["type"] == rules.COMPETENCE:
                cid = leaf["competence_id"]
                wanted[cid] = max(wanted.get(cid, 0), leaf["level"])
    if not wanted:
        return []
    competences = session.scalars(
        select(Competence)
        .where(Competence.id.in_(wanted))
        .options(selectinload(Competence.version).selectinload(FrameworkVersion.levels))
    ).all()
    listed = []
    for competence in sorted(competences, key=lambda x: (x.version.framework_id, x.position)):
        level = wanted[competence.id]
        label = next((lvl.label for lvl in competence.version.levels if lvl.value == level), {})
        listed.append(
            {
                "identifier": competence.identifier,
                "code": competence.code,
                "title": competence.title,
                "level": level,
                "level_label": label,
                "external_ref": competence.external_ref,
                "framework": competence.version.title,
                "framework_source": competence.version.source,
            }
        )
    return listed


def _issue(
    session: Session,
    certification: Certification,
    person_id: int,
    previous: Certificate | None,
    chance: rules.Opportunity,
    method: IssueMethod,
    now: dt.datetime,
    *,
    actor: Person | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    met_path: dict[str, Any] | None = None,
) -> Certificate | None:
    """Insert the next certificate; None when a concurrent transaction issued it first.

    It lists the competences of the path that was met (a renewal by a path without any
    keeps those of the certificate it renews); one issued by hand, those of every earn
    path: the issuer vouches for the certification as defined."""
    person = session.get(Person, person_id)
    organisation = session.get(Organisation, certification.organisation_id)
    assert person is not None and organisation is not None
    status_list = status_list_of(session, certification.organisation_id)
    cycle = previous.cycle + 1 if previous else 1
    content = {
        "title": certification.title,
        "description": certification.description,
        "criteria": certification.criteria,
        "achievement_type": str(certification.achievement_type),
        "organisation": organisation.name,
        "competences": _competences_for(session, certification, previous, met_path),
        "language": _language_of(person),
    }
    for _ in range(40):  # a code or list index drawn twice: draw again
        certificate = Certificate(
            organisation_id=certification.organisation_id,
            certification_id=certification.id,
            person_id=person_id,
            cycle=cycle,
            previous_id=previous.id if previous else None,
            code=new_code(),
            uuid=str(uuid.uuid4()),
            subject_uuid=str(uuid.uuid4()),
            method=method,
            holder_name=person.display_name,
            content=content,
            issued_at=now,
            valid_from=now,
            expires_at=chance.valid_until,
            status_list_id=status_list.id,
            status_index=secrets.randbelow(status_list.size),
        )
        try:
            with session.begin_nested():
                session.add(certificate)
        except IntegrityError:
            if latest_certificate(session, certification.id, person_id) not in (None, previous):
                return None  # issued by someone else at the same moment
            continue
        break
    else:  # pragma: no cover - 40 draws in a list at most three quarters full
        raise RuntimeError("could not draw a free certificate code and status index")
    audit.record(
        session,
        _audit_actor(certification.organisation_id, actor),
        AuditAction.RENEW if method == IssueMethod.RENEWAL else AuditAction.ISSUE,
        AUDIT_OBJECT,
        certificate.id,
        [person_id],
        {
            "certification_id": certification.id,
            "method": str(method),
            **({"reason": reason} if reason else {}),
            **(detail or {}),
        },
        at=now,
    )
    _queue_gradebook_score(session, certification, person, now)
    session.flush()
    return certificate


def _competences_for(
    session: Session,
    certification: Certification,
    previous: Certificate | None,
    met_path: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    if met_path is None:
        return certified_competences(session, certification.earn_paths)
    listed = certified_competences(session, [met_path])
    if not listed and previous is not None and previous.revoked_at is None:
        return list(previous.content.get("competences", []))
    return listed


def _language_of(person: Person) -> str:
    """The language the credential is written in: the holder's at issue, else bokmål."""
    locale = (person.locale or "")[:2]
    return locale if locale in ("nb", "nn", "en") else "nb"


def _queue_gradebook_score(
    session: Session, certification: Certification, person: Person, now: dt.datetime
) -> None:
    """Tell the LMS the certification is achieved when the person launched a link that
    placed it (a score of 100 in its gradebook column) through a deployment of the
    certification's organisation: another organisation's link naming the same code is
    not this certification."""
    launches = session.scalars(
        select(Launch)
        .join(Deployment, Deployment.id == Launch.deployment_pk)
        .where(
            Launch.person_id == person.id,
            Deployment.organisation_id == certification.organisation_id,
        )
        .order_by(Launch.created_at.desc())
        .limit(50)
    )
    for launch in launches:
        placed = str((launch.claims.get(c.CUSTOM) or {}).get(CERTIFICATION_PARAM) or "")
        if placed.strip().lower() != certification.code.lower():
            continue
        queue_holder_score(session, certification, launch, now)
        return


def holds(certificate: Certificate, now: dt.datetime) -> bool:
    """Whether the certificate is one its holder holds now: not revoked, not expired."""
    return certificate.revoked_at is None and (
        certificate.expires_at is None or certificate.expires_at > now
    )


def queue_holder_score(
    session: Session,
    certification: Certification,
    launch: Launch,
    now: dt.datetime,
    *,
    catching_up: bool = False,
) -> ScoreDelivery | None:
    """100 for the column of the launch's link when its person holds the certification,
    unless that column has it already (flush only). The comment names the certification
    by its title in the person's language."""
    certificate = latest_certificate(session, certification.id, launch.person_id)
    if certificate is None or not holds(certificate, now):
        return None
    title = localized(certification.title, _language_of(launch.person)) or certification.code
    return score_delivery.queue_score(
        session,
        organisation_id=certification.organisation_id,
        attempt_id=None,
        launch=launch,
        score_given=100.0,
        score_maximum=100.0,
        comment=title,
        submitted_at=certificate.issued_at,
        now=now,
        line_item=line_item_for(certification.code, title),
        if_changed=True,
        yield_on_conflict=catching_up,
    )


def line_item_for(code: str, label: str) -> dict[str, Any]:
    """The gradebook column of a placed certification (deep linking and find-or-create
    agree on its resourceId)."""
    return {
        "scoreMaximum": 100,
        "label": label,
        "resourceId": f"certification:{code}",
        "tag": SCORE_TAG,
    }


def _reason(raw: str) -> str:
    reason = " ".join(raw.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise CannotIssue("no reason", reason=_l("Give a reason (at least five characters)."))
    return reason


def issue_manually(
    session: Session,
    organisation_id: int,
    certification_id: int,
    person_id: int,
    actor: Person,
    reason: str,
    now: dt.datetime,
) -> Certificate:
    """Issue by hand (e.g. competence shown outside the tool), with the reason on record."""
    reason = _reason(reason)
    certification = session.scalar(
        select(Certification)
        .where(Certification.id == certification_id)
        .where(Certification.organisation_id == organisation_id)
        .with_for_update()
    )
    person = session.get(Person, person_id)
    if certification is None or person is None or person.organisation_id != organisation_id:
        raise NotFound(f"certification {certification_id} / person {person_id}")
    if certification.status != CertificationStatus.PUBLISHED:
        raise CannotIssue(
            "not published", reason=_l("Only a published certification can be issued.")
        )
    previous = latest_certificate(session, certification.id, person_id)
    chance = rules.opportunity(policy_of(certification), held_of(previous), now)
    if chance is None:
        raise CannotIssue(
            f"person {person_id} holds certificate {previous.id if previous else None}",
            reason=_l("The person already holds a valid certificate, and renewal is not open."),
        )
    certificate = _issue(
        session,
        certification,
        person_id,
        previous,
        chance,
        IssueMethod.MANUAL,
        now,
        actor=actor,
        reason=reason,
        detail={"manual": True, "renewal": chance.renewal},
    )
    if certificate is None:
        raise CannotIssue(
            "issued concurrently", reason=_l("A certificate was issued at the same moment.")
        )
    return certificate


def revoke(
    session: Session,
    organisation_id: int,
    certificate_id: int,
    actor: Person | None,
    reason: str,
    now: dt.datetime,
    actor_label: str = "",
) -> Certificate:
    """Revoke with a reason: verification shows it revoked and the status list says so."""
    certificate = session.scalar(
        select(Certificate)
        .where(Certificate.id == certificate_id, Certificate.organisation_id == organisation_id)
        .with_for_update()
    )
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id} in organisation {organisation_id}")
    text = " ".join(reason.split())
    if len(text) < MIN_REASON_LENGTH:
        raise CannotRevoke("no reason", reason=_l("Give a reason (at least five characters)."))
    if certificate.revoked_at is not None:
        raise CannotRevoke("revoked already", reason=_l("The certificate is revoked already."))
    certificate.revoked_at = now
    certificate.revocation_reason = text
    audit.record(
        session,
        _audit_actor(organisation_id, actor, actor_label),
        AuditAction.REVOKE,
        AUDIT_OBJECT,
        certificate.id,
        [certificate.person_id] if certificate.person_id else [],
        {"certification_id": certificate.certification_id, "reason": text},
        at=now,
    )
    session.flush()
    return certificate


# --- reading ------------------------------------------------------------------------------


class Standing(enum.StrEnum):
    """How a certificate stands, for the traffic lights and for verification."""

    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"
    RENEWED = "renewed"
    """Replaced by a newer certificate of the same certification."""


class Dated(Protocol):
    """What ``current_only`` and ``standing`` read of a certificate: a ``Certificate``, or
    a ``HeldCertificate`` row."""

    @property
    def certification_id(self) -> int: ...
    @property
    def person_id(self) -> int | None: ...
    @property
    def cycle(self) -> int: ...
    @property
    def issued_at(self) -> dt.datetime: ...
    @property
    def expires_at(self) -> dt.datetime | None: ...
    @property
    def revoked_at(self) -> dt.datetime | None: ...


D = TypeVar("D", bound=Dated)


def standing(
    certificate: Dated, now: dt.datetime, warn_days: int, renewed: bool = False
) -> Standing:
    if certificate.revoked_at is not None:
        return Standing.REVOKED
    if certificate.expires_at is not None and certificate.expires_at <= now:
        return Standing.EXPIRED
    if renewed:
        return Standing.RENEWED
    if certificate.expires_at is not None and certificate.expires_at - now <= dt.timedelta(
        days=warn_days
    ):
        return Standing.EXPIRING
    return Standing.VALID


#: A certificate someone holds: not one withdrawn when its holder was erased. Only the
#: public verification and the status list see withdrawn ones.
HELD = Certificate.person_id.is_not(None)


def _with_all() -> Any:
    return (
        selectinload(Certificate.certification),
        selectinload(Certificate.person),
        selectinload(Certificate.status_list),
    )


def certificates_of(session: Session, organisation_id: int, person_id: int) -> list[Certificate]:
    """Every certificate the person has held, newest first (the history)."""
    of = {"organisation_id": organisation_id, "person_id": person_id}
    return list(session.scalars(_certificates_of_person(), of))


@functools.cache
def _certificates_of_person() -> Any:
    """``certificates_of``' statement, made once."""
    return _of_person(select(Certificate).options(*_with_all()))


def _of_person(query: Any) -> Any:
    """``query`` of the certificates of ``:person_id`` in ``:organisation_id``, newest
    first."""
    return query.where(
        Certificate.organisation_id == bindparam("organisation_id"),
        Certificate.person_id == bindparam("person_id"),
    ).order_by(Certificate.issued_at.desc(), Certificate.id.desc())


class HeldCertificate(NamedTuple):
    """A certificate as a list of them shows it, a plain row."""

    id: int
    certification_id: int
    person_id: int | None
    cycle: int
    issued_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    title: dict[str, str] | None
    """The certification's title when issued, by language."""


def current_of(session: Session, organisation_id: int, person_id: int) -> list[HeldCertificate]:
    """The person's current certificates (``current_only``), newest first, as plain rows:
    what their start page lists, in one statement (no certificate's credential, content,
    certification or status list)."""
    of = {"organisation_id": organisation_id, "person_id": person_id}
    return current_only(HeldCertificate(*row) for row in session.execute(_current_of_person(), of))


@functools.cache
def _current_of_person() -> Any:
    """``current_of``'s statement, made once (the start page runs it)."""
    held = Certificate
    return _of_person(
        select(
            held.id,
            held.certification_id,
            held.person_id,
            held.cycle,
            held.issued_at,
            held.expires_at,
            held.revoked_at,
            held.content["title"],
        )
    )


def current_only(certificates: Iterable[D]) -> list[D]:
    """The latest certificate per person and certification (the others were renewed or
    replaced)."""
    latest: dict[tuple[int, int | None], D] = {}
    for cert in certificates:
        key = (cert.certification_id, cert.person_id)
        if key not in latest or cert.cycle > latest[key].cycle:
            latest[key] = cert
    return sorted(latest.values(), key=lambda x: x.issued_at, reverse=True)


def get_certificate(
    session: Session, organisation_id: int, certificate_id: int, person_id: int | None = None
) -> Certificate:
    """A certificate of the organisation; of this person only, when ``person_id`` is given."""
    query = select(Certificate).where(
        Certificate.id == certificate_id, Certificate.organisation_id == organisation_id, HELD
    )
    if person_id is not None:
        query = query.where(Certificate.person_id == person_id)
    found = session.scalar(query.options(*_with_all()))
    if found is None:
        raise NotFound(f"no certificate {certificate_id} for {organisation_id}/{person_id}")
    return found


def recent(session: Session, organisation_id: int, limit: int = 50) -> list[Certificate]:
    """The latest certificates issued in the organisation (the admin's register)."""
    return list(
        session.scalars(
            select(Certificate)
            .where(Certificate.organisation_id == organisation_id, HELD)
            .options(*_with_all())
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
            .limit(limit)
        )
    )


def find_by_code(
    session: Session, code: str, organisation_id: int | None = None
) -> Certificate | None:
    """The certificate with this code (of this organisation only, and held by someone,
    when given; the public verification finds a withdrawn one too)."""
    query = select(Certificate).where(Certificate.code == normalise_code(code))
    if organisation_id is not None:
        query = query.where(Certificate.organisation_id == organisation_id, HELD)
    return session.scalar(query.options(*_with_all()))


def find_by_credential_id(session: Session, credential_id: str) -> Certificate | None:
    raw = credential_id.removeprefix("urn:uuid:")
    return session.scalar(select(Certificate).where(Certificate.uuid == raw).options(*_with_all()))


def is_renewed(session: Session, certificate: Certificate) -> bool:
    return (
        session.scalar(
            select(func.count(Certificate.id)).where(
                Certificate.certification_id == certificate.certification_id,
                Certificate.person_id == certificate.person_id,
                Certificate.cycle > certificate.cycle,
                Certificate.revoked_at.is_(None),
            )
        )
        or 0
    ) > 0


@dataclasses.dataclass(frozen=True)
class Expiring:
    certificate: Certificate
    standing: Standing


def expiring(
    session: Session,
    organisation_id: int,
    within_days: int,
    now: dt.datetime,
    unit_ids: frozenset[int] | None = None,
) -> list[Expiring]:
    """Current certificates that expire within the days or have expired unrenewed: the
    manager's list of who must renew, soonest first; only the people of ``unit_ids`` (a
    manager's units) when given."""
    query = select(Certificate).where(
        Certificate.organisation_id == organisation_id,
        HELD,
        Certificate.revoked_at.is_(None),
        Certificate.expires_at.is_not(None),
        Certificate.expires_at <= now + dt.timedelta(days=within_days),
        Certificate.expires_at > now - dt.timedelta(days=EXPIRED_LISTED_DAYS),
    )
    if unit_ids is not None:
        query = query.where(Certificate.person_id.in_(assignments.in_units(unit_ids)))
    rows = session.scalars(query.options(*_with_all()).order_by(Certificate.expires_at)).all()
    newest = {
        (certification_id, person_id): cycle
        for certification_id, person_id, cycle in session.execute(
            select(Certificate.certification_id, Certificate.person_id, func.max(Certificate.cycle))
            .where(Certificate.organisation_id == organisation_id)
            .group_by(Certificate.certification_id, Certificate.person_id)
        )
    }
    return [
        Expiring(cert, standing(cert, now, within_days))
        for cert in rows
        if newest.get((cert.certification_id, cert.person_id)) == cert.cycle
    ]


def revoked_indices(session: Session, status_list_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Certificate.status_index).where(
                Certificate.status_list_id == status_list_id,
                or_(Certificate.revoked_at.is_not(None), Certificate.withdrawn_at.is_not(None)),
            )
        )
    )


def get_status_list(session: Session, list_uuid: str) -> StatusList:
    found = session.scalar(select(StatusList).where(StatusList.uuid == list_uuid))
    if found is None:
        raise NotFound(f"no status list {list_uuid}")
    return found


def holders(session: Session, organisation_id: int, certification_id: int) -> list[Certificate]:
    """Everyone's latest certificate of the certification, soonest expiry first."""
    rows = session.scalars(
        select(Certificate)
        .where(
            Certificate.organisation_id == organisation_id,
            Certificate.certification_id == certification_id,
            HELD,
        )
        .options(*_with_all())
        .order_by(Certificate.person_id, Certificate.cycle.desc())
    ).all()
    return current_only(rows)


def trail_of(session: Session, organisation_id: int, certificate_id: int) -> list[AuditEvent]:
    """The certificate's trail in the audit log (issued, renewed, revoked), oldest first."""
    found = audit.history_of(session, organisation_id, AUDIT_OBJECT, [certificate_id], TRAIL)
    return found[::-1]


def events_of(
    session: Session, organisation_id: int, certification_id: int, limit: int = 200
) -> list[tuple[AuditEvent, Certificate]]:
    """The audit trail of a certification's certificates, newest first, each with its
    certificate."""
    ids = select(cast(Certificate.id, String)).where(
        Certificate.organisation_id == organisation_id,
        Certificate.certification_id == certification_id,
    )
    events = audit.history_of(session, organisation_id, AUDIT_OBJECT, ids, TRAIL, limit)
    wanted = {int(e.object_id) for e in events if e.object_id}
    found = {
        c.id: c
        for c in session.scalars(
            select(Certificate)
            .where(Certificate.id.in_(wanted))
            .options(selectinload(Certificate.person))
        )
    }
    return [(e, found[int(e.object_id)]) for e in events if e.object_id]


def _audit_actor(organisation_id: int, actor: Person | None, label: str = "") -> audit.Actor:
    """Who issued or revoked, for the audit log: a person, or else what acted (the rules:
    the system)."""
    if actor is not None:
        return audit.Actor(organisation_id, person_id=actor.id)
    return audit.Actor(organisation_id, label=label or audit.SYSTEM)
