"""Certification definitions: texts, validity and renewal, the paths that earn or renew
them; and the courses whose attendance those paths may ask for.

Publishing makes a certification live: from then on every change of a person's evidence
is checked against it (``services.certificates.evaluate_person``), and everyone who
already meets it gets it at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from lti_tool import clock
from lti_tool.db import insert_or_find
from lti_tool.domain import certification_rules as rules
from lti_tool.domain.evidence_sources import ATTENDANCE
from lti_tool.errors import CertificationCodeTaken, CertificationInvalid, CourseCodeTaken, NotFound
from lti_tool.models import (
    AchievementType,
    Attendance,
    Certification,
    CertificationStatus,
    Competence,
    Course,
    CourseKind,
    FrameworkVersion,
    Mapping,
    Person,
)
from lti_tool.services import assignments, certificates, evidence
from lti_tool.services.frameworks import clean_code, clean_title

EARN = "earn"
RENEW = "renew"
PATH_KINDS = (EARN, RENEW)
#: The longest validity and windows the forms accept (20 years).
MAX_VALIDITY_MONTHS = 240
MAX_WINDOW_DAYS = 3650
MAX_CONDITIONS_PER_PATH = 12
MAX_PATHS = 10


@dataclasses.dataclass(frozen=True)
class CertificationTerms:
    """Everything on a certification's form but its code and texts."""

    achievement_type: AchievementType = AchievementType.CERTIFICATE
    validity_months: int | None = None
    renewal_window_days: int | None = None
    minimum_active_days: int | None = None


def list_certifications(
    session: Session, organisation_id: int, *, published_only: bool = False
) -> Sequence[Certification]:
    query = (
        select(Certification)
        .where(Certification.organisation_id == organisation_id)
        .order_by(Certification.code)
    )
    if published_only:
        query = query.where(Certification.status == CertificationStatus.PUBLISHED)
    return session.scalars(query).all()


def get_certification(
    session: Session, organisation_id: int, certification_id: int, *, lock: bool = False
) -> Certification:
    query = select(Certification).where(
        Certification.id == certification_id, Certification.organisation_id == organisation_id
    )
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"no certification {certification_id} in organisation {organisation_id}")
    return found


def find_certification(session: Session, organisation_id: int, code: str) -> Certification:
    """A certification learners may see (published or archived, never a draft)."""
    found = session.scalar(
        select(Certification).where(
            Certification.organisation_id == organisation_id,
            func.lower(Certification.code) == code.strip().lower(),
            Certification.status != CertificationStatus.DRAFT,
        )
    )
    if found is None:
        raise NotFound(f"no certification {code!r} in organisation {organisation_id}")
    return found


def _check_code(
    session: Session, organisation_id: int, code: str, certification_id: int | None
) -> str:
    code = clean_code(code)
    taken = session.scalar(
        select(Certification.id).where(
            Certification.organisation_id == organisation_id,
            func.lower(Certification.code) == code.lower(),
        )
    )
    if taken is not None and taken != certification_id:
        raise CertificationCodeTaken(f"certification code {code!r} taken", code=code)
    return code


def _check_terms(terms: CertificationTerms) -> None:
    if terms.validity_months is not None and not 1 <= terms.validity_months <= MAX_VALIDITY_MONTHS:
        raise CertificationInvalid(
            "validity out of range",
            reason=_l("Validity must be between 1 and 240 months, or empty for no expiry."),
        )
    for days in (terms.renewal_window_days, terms.minimum_active_days):
        if days is not None and not 0 <= days <= MAX_WINDOW_DAYS:
            raise CertificationInvalid(
                "days out of range",
                reason=_l("The renewal window and minimum active period take 0 to 3650 days."),
            )
    if terms.validity_months is None and (terms.renewal_window_days or terms.minimum_active_days):
        raise CertificationInvalid(
            "renewal without validity",
            reason=_l("A certificate that never expires has no renewal: give a validity first."),
        )


def _apply(
    certification: Certification,
    title: dict[str, str],
    description: dict[str, str],
    criteria: dict[str, str],
    terms: CertificationTerms,
) -> None:
    _check_terms(terms)
    certification.title = clean_title(title)
    certification.description = {k: v.strip() for k, v in description.items() if v.strip()}
    certification.criteria = {k: v.strip() for k, v in criteria.items() if v.strip()}
    certification.achievement_type = terms.achievement_type
    certification.validity_months = terms.validity_months
    certification.renewal_window_days = terms.renewal_window_days
    certification.minimum_active_days = terms.minimum_active_days


def create_certification(
    session: Session,
    organisation_id: int,
    code: str,
    title: dict[str, str],
    description: dict[str, str],
    criteria: dict[str, str],
    terms: CertificationTerms,
) -> Certification:
    certification = Certification(
        organisation_id=organisation_id,
        code=_check_code(session, organisation_id, code, None),
        uuid=str(uuid.uuid4()),
        earn_paths=[],
        renewal_paths=[],
    )
    _apply(certification, title, description, criteria, terms)
    session.add(certification)
    session.flush()
    return certification


def update_certification(
    session: Session,
    organisation_id: int,
    certification_id: int,
    code: str,
    title: dict[str, str],
    description: dict[str, str],
    criteria: dict[str, str],
    terms: CertificationTerms,
) -> Certification:
    """Change the definition. The code is fixed once published: LMS links name it."""
    certification = get_certification(session, organisation_id, certification_id)
    if certification.status == CertificationStatus.DRAFT:
        certification.code = _check_code(session, organisation_id, code, certification.id)
    _apply(certification, title, description, criteria, terms)
    session.flush()
    return certification


# --- paths --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConditionInput:
    """One condition as a form sends it: ``target`` is "competence:7", "mapping:3" …"""

    target: str
    level: int | None = None


def _condition(
    session: Session, organisation_id: int, given: ConditionInput
) -> dict[str, Any] | None:
    kind, _, raw_id = given.target.partition(":")
    if not given.target:
        return None
    if kind not in rules.CONDITION_TYPES or not raw_id.isdigit():
        raise CertificationInvalid(f"bad target {given.target!r}", reason=_l("Choose a condition."))
    target_id = int(raw_id)
    if kind == rules.COMPETENCE:
        competence = session.get(Competence, target_id)
        version = session.get(FrameworkVersion, competence.version_id) if competence else None
        if (
            competence is None
            or version is None
            or version.framework.organisation_id != (organisation_id)
        ):
            raise NotFound(f"no competence {target_id} in organisation {organisation_id}")
        levels = {lvl.value for lvl in version.levels}
        if given.level not in levels:
            raise CertificationInvalid(
                f"level {given.level} not on the scale",
                reason=_l("Choose a level on the competence's scale."),
            )
        return {"type": kind, "competence_id": target_id, "level": given.level}
    found: Mapping | Course | None = (
        session.get(Mapping, target_id) if kind == rules.MAPPING else session.get(Course, target_id)
    )
    if found is None or found.organisation_id != organisation_id:
        raise NotFound(f"no {kind} {target_id} in organisation {organisation_id}")
    if isinstance(found, Mapping) and found.pass_percentage is None:
        raise CertificationInvalid(
            "mapping without pass mark",
            reason=_l("Only a mapping with a pass mark can be passed; give it one first."),
        )
    return {"type": kind, f"{kind}_id": target_id}


def save_path(
    session: Session,
    organisation_id: int,
    certification_id: int,
    kind: str,
    index: int | None,
    operator: str,
    conditions: Sequence[ConditionInput],
) -> Certification:
    """Add (``index`` None) or replace one path to earn or renew the certification."""
    certification = get_certification(session, organisation_id, certification_id, lock=True)
    if kind not in PATH_KINDS or operator not in rules.OPERATORS:
        raise NotFound(f"no path kind {kind!r} / operator {operator!r}")
    if kind == RENEW and certification.validity_months is None:
        raise CertificationInvalid(
            "renewal path without validity",
            reason=_l("A certificate that never expires has no renewal: give a validity first."),
        )
    leaves = [c for c in (_condition(session, organisation_id, g) for g in conditions) if c]
    if not leaves:
        raise CertificationInvalid("empty path", reason=_l("A path needs at least one condition."))
    if len(leaves) > MAX_CONDITIONS_PER_PATH:
        raise CertificationInvalid(
            "too many conditions", reason=_l("A path takes at most 12 conditions.")
        )
    paths = list(certification.earn_paths if kind == EARN else certification.renewal_paths)
    tree = {operator: leaves}
    if index is None:
        if len(paths) >= MAX_PATHS:
            raise CertificationInvalid("too many paths", reason=_l("Ten paths is the most."))
        paths.append(tree)
    elif 0 <= index < len(paths):
        paths[index] = tree
    else:
        raise NotFound(f"no {kind} path {index} in certification {certification_id}")
    _set_paths(certification, kind, paths)
    session.flush()
    return certification


def _set_paths(certification: Certification, kind: str, paths: list[dict]) -> None:
    if kind == EARN:
        certification.earn_paths = paths
    else:
        certification.renewal_paths = paths


def remove_path(
    session: Session, organisation_id: int, certification_id: int, kind: str, index: int
) -> Certification:
    certification = get_certification(session, organisation_id, certification_id, lock=True)
    paths = list(certification.earn_paths if kind == EARN else certification.renewal_paths)
    if kind not in PATH_KINDS or not 0 <= index < len(paths):
        raise NotFound(f"no {kind} path {index} in certification {certification_id}")
    del paths[index]
    if kind == EARN and not paths and certification.status == CertificationStatus.PUBLISHED:
        raise CertificationInvalid(
            "last earn path of a published certification",
            reason=_l("A published certification needs at least one path to earn it."),
        )
    _set_paths(certification, kind, paths)
    session.flush()
    return certification


def set_status(
    session: Session, organisation_id: int, certification_id: int, status: CertificationStatus
) -> Certification:
    """Publish, archive or return to draft. Publishing issues at once to everyone who
    already meets the rules (see ``certificates.evaluate_certification``)."""
    certification = get_certification(session, organisation_id, certification_id, lock=True)
    if status == CertificationStatus.PUBLISHED and not certification.earn_paths:
        raise CertificationInvalid(
            "no earn path", reason=_l("Add at least one path to earn the certification.")
        )
    certification.status = status
    session.flush()
    if status == CertificationStatus.PUBLISHED:
        certificates.evaluate_certification(session, certification, clock.now())
    return certification


# --- courses and attendance ---------------------------------------------------------------


def list_courses(
    session: Session, organisation_id: int, *, include_archived: bool = False
) -> Sequence[Course]:
    query = select(Course).where(Course.organisation_id == organisation_id)
    if not include_archived:
        query = query.where(Course.archived.is_(False))
    return session.scalars(query.order_by(Course.code)).all()


def get_course(session: Session, organisation_id: int, course_id: int) -> Course:
    course = session.get(Course, course_id)
    if course is None or course.organisation_id != organisation_id:
        raise NotFound(f"no course {course_id} in organisation {organisation_id}")
    return course


def save_course(
    session: Session,
    organisation_id: int,
    course_id: int | None,
    code: str,
    title: dict[str, str],
    kind: CourseKind,
    archived: bool = False,
) -> Course:
    code = clean_code(code)
    taken = session.scalar(
        select(Course.id).where(
            Course.organisation_id == organisation_id, func.lower(Course.code) == code.lower()
        )
    )
    if taken is not None and taken != course_id:
        raise CourseCodeTaken(f"course code {code!r} taken", code=code)
    course = (
        get_course(session, organisation_id, course_id)
        if course_id
        else Course(organisation_id=organisation_id)
    )
    course.code, course.title, course.kind = code, clean_title(title), kind
    course.archived = archived
    session.add(course)
    session.flush()
    return course


def record_attendance(
    session: Session,
    organisation_id: int,
    course_id: int,
    person_ids: Sequence[int],
    attended_on: dt.date,
    recorded_by_id: int | None,
    now: dt.datetime,
) -> int:
    """Record that these people attended; returns how many were new. Each new attendance
    is evidence of what the course develops (``evidence.record_course_evidence``), and
    their certifications are evaluated at once, in the same transaction."""
    course = get_course(session, organisation_id, course_id)
    people = session.scalars(
        select(Person).where(Person.id.in_(person_ids), Person.organisation_id == organisation_id)
    ).all()
    if len(people) != len(set(person_ids)) or not people:
        raise NotFound(f"people {person_ids} not all in organisation {organisation_id}")
    added = add_attendance(
        session, course, [p.id for p in people], attended_on, recorded_by_id, now
    )
    evidence.record_course_evidence(session, course, added, ATTENDANCE, now)
    for person in people:
        certificates.evaluate_person(session, organisation_id, person.id, now)
    return len(added)


def add_attendance(
    session: Session,
    course: Course,
    person_ids: Sequence[int],
    attended_on: dt.date,
    recorded_by_id: int | None,
    now: dt.datetime,
) -> list[int]:
    """Attendance rows for these people of the course's organisation (flush only); returns
    those who were not recorded that day before. Neither evidence nor certifications:
    the caller adds what the attendance shows, then evaluates."""
    if attended_on > now.date() + dt.timedelta(days=1):
        raise CertificationInvalid(
            f"attendance on {attended_on}", reason=_l("Attendance cannot be recorded ahead.")
        )
    added = []
    for person_id in dict.fromkeys(person_ids):

        def existing(person_id: int = person_id) -> Attendance | None:
            return session.scalar(
                select(Attendance).where(
                    Attendance.course_id == course.id,
                    Attendance.person_id == person_id,
                    Attendance.attended_on == attended_on,
                )
            )

        if existing() is not None:
            continue
        row = Attendance(
            organisation_id=course.organisation_id,
            course_id=course.id,
            person_id=person_id,
            attended_on=attended_on,
            recorded_by_id=recorded_by_id,
            recorded_at=now,
        )
        if insert_or_find(session, row, existing) is row:
            added.append(person_id)
    session.flush()
    return added


# --- how a person stands on a certification -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConditionView:
    kind: str
    target_id: int
    title: dict[str, str]
    level: int | None = None
    level_label: dict[str, str] = dataclasses.field(default_factory=dict)
    met: bool | None = None
    """None when not evaluated for a person (the designer's view)."""


@dataclasses.dataclass(frozen=True)
class PathView:
    kind: str
    index: int
    operator: str
    conditions: list[ConditionView]
    met: bool | None = None


def _titles(session: Session, leaves: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    """What each condition names, loaded in three queries."""
    wanted: dict[str, set[int]] = {kind: set() for kind in rules.CONDITION_TYPES}
    for leaf in leaves:
        wanted[leaf["type"]].add(leaf[f"{leaf['type']}_id"])
    found: dict[tuple[str, int], Any] = {}
    if wanted[rules.COMPETENCE]:
        for competence in session.scalars(
            select(Competence).where(Competence.id.in_(wanted[rules.COMPETENCE]))
        ):
            found[(rules.COMPETENCE, competence.id)] = competence
    if wanted[rules.MAPPING]:
        for mapping in session.scalars(
            select(Mapping).where(Mapping.id.in_(wanted[rules.MAPPING]))
        ):
            found[(rules.MAPPING, mapping.id)] = mapping
    if wanted[rules.COURSE]:
        for course in session.scalars(select(Course).where(Course.id.in_(wanted[rules.COURSE]))):
            found[(rules.COURSE, course.id)] = course
    return found


def path_views(
    session: Session, certification: Certification, facts: rules.Facts | None = None
) -> list[PathView]:
    """The certification's paths with what each condition names (and, given a person's
    facts, whether it is met), for pages."""
    kinds = [(EARN, certification.earn_paths), (RENEW, certification.renewal_paths)]
    all_leaves = [leaf for _, paths in kinds for path in paths for leaf in rules.leaves(path)]
    names = _titles(session, all_leaves)
    views = []
    for kind, paths in kinds:
        for index, path in enumerate(paths):
            operator = rules.ALL if rules.ALL in path else rules.ANY
            conditions = []
            for leaf in rules.leaves(path):
                target = names.get((leaf["type"], leaf[f"{leaf['type']}_id"]))
                level_label: dict[str, str] = {}
                if isinstance(target, Competence):
                    level_label = next(
                        (x.label for x in target.version.levels if x.value == leaf["level"]), {}
                    )
                conditions.append(
                    ConditionView(
                        kind=leaf["type"],
                        target_id=leaf[f"{leaf['type']}_id"],
                        title=getattr(target, "title", None) or {"nb": "?"},
                        level=leaf.get("level"),
                        level_label=level_label,
                        met=rules.condition_met(leaf, facts) if facts is not None else None,
                    )
                )
            views.append(
                PathView(
                    kind=kind,
                    index=index,
                    operator=operator,
                    conditions=conditions,
                    met=rules.is_met(path, facts) if facts is not None else None,
                )
            )
    return views


@dataclasses.dataclass(frozen=True)
class Progress:
    certification: Certification
    latest: Any
    """The person's latest certificate of it, or None."""
    opportunity: rules.Opportunity | None
    """None: nothing to earn now (held, renewal not open yet)."""
    renewal_opens: dt.datetime | None
    paths: list[PathView]


def progress_for(
    session: Session, certification: Certification, person_id: int, now: dt.datetime
) -> Progress:
    latest = certificates.latest_certificate(session, certification.id, person_id)
    policy = certificates.policy_of(certification)
    held = certificates.held_of(latest)
    chance = rules.opportunity(policy, held, now)
    paths = list(certification.earn_paths)
    if chance is None or chance.renewal:
        paths += certification.renewal_paths
    since = chance.since if chance else (rules.renewal_opens(policy, held) if held else None)
    facts = certificates.facts_for(session, certification.organisation_id, person_id, paths, since)
    views = path_views(session, certification, facts)
    if chance is not None and not chance.renewal:
        views = [v for v in views if v.kind == EARN]
    return Progress(
        certification=certification,
        latest=latest,
        opportunity=chance,
        renewal_opens=rules.renewal_opens(policy, held) if held else None,
        paths=views,
    )


def progress_of(
    session: Session, organisation_id: int, person_id: int, now: dt.datetime
) -> list[Progress]:
    """Every published certification and where the person stands on it."""
    return [
        progress_for(session, certification, person_id, now)
        for certification in list_certifications(session, organisation_id, published_only=True)
    ]


def attendance_of(
    session: Session, organisation_id: int, course_id: int, unit_ids: frozenset[int] | None = None
) -> list[Attendance]:
    """The course's attendance, newest first; of the people of ``unit_ids`` only if given."""
    query = (
        select(Attendance)
        .where(Attendance.organisation_id == organisation_id, Attendance.course_id == course_id)
        .options(selectinload(Attendance.person))
        .order_by(Attendance.attended_on.desc(), Attendance.id.desc())
    )
    if unit_ids is not None:
        query = query.where(Attendance.person_id.in_(assignments.in_units(unit_ids)))
    return list(session.scalars(query))


# --- example content ----------------------------------------------------------------------

EXAMPLE_COURSES = (
    (
        "praksis-legemiddel",
        CourseKind.PRACTICAL,
        {
            "nb": "Praktisk prøve i legemiddelhåndtering (under veiledning)",
            "nn": "Praktisk prøve i legemiddelhandtering (under rettleiing)",
            "en": "Supervised practical test in medication handling",
        },
    ),
    (
        "oppfrisking-legemiddel",
        CourseKind.CLASSROOM,
        {
            "nb": "Oppfriskingskurs i legemiddelhåndtering",
            "nn": "Oppfriskingskurs i legemiddelhandtering",
            "en": "Refresher course in medication handling",
        },
    ),
)


def load_examples(session: Session, organisation_id: int) -> list[str]:
    """The example courses and certifications, on top of the example mappings: a course
    certificate in information security (pass the mapping; no expiry) and medication
    handling (the mapping and a supervised practical test; four years; renew by retaking
    the mapping or attending a refresher). What exists is left as it is; returns the codes
    of the certifications made."""
    courses = {}
    for code, kind, title in EXAMPLE_COURSES:
        found = session.scalar(
            select(Course).where(Course.organisation_id == organisation_id, Course.code == code)
        )
        courses[code] = found or save_course(session, organisation_id, None, code, title, kind)
    found_mappings = {
        m.code: m
        for m in session.scalars(select(Mapping).where(Mapping.organisation_id == organisation_id))
    }
    Paths = list[tuple[str, list[str], list[str]]]
    examples: list[tuple[str, dict[str, str], CertificationTerms, Paths, Paths]] = [
        (
            "kursbevis-informasjonssikkerhet",
            {
                "nb": "Kursbevis: informasjonssikkerhet og personvern",
                "nn": "Kursbevis: informasjonstryggleik og personvern",
                "en": "Course certificate: information security and privacy",
            },
            CertificationTerms(),
            [("all", ["informasjonssikkerhet-alle"], [])],
            [],
        ),
        (
            "legemiddelhandtering",
            {
                "nb": "Sertifisering i legemiddelhåndtering",
                "nn": "Sertifisering i legemiddelhandtering",
                "en": "Certification in medication handling",
            },
            CertificationTerms(validity_months=48, renewal_window_days=90),
            [("all", ["legemiddelhandtering-sykepleier"], ["praksis-legemiddel"])],
            [
                ("any", ["legemiddelhandtering-sykepleier"], []),
                ("any", [], ["oppfrisking-legemiddel"]),
            ],
        ),
    ]
    made = []
    for code, title, terms, earn, renew in examples:
        needed = [m for _, ms, _ in earn + renew for m in ms]
        if any(
            m not in found_mappings or found_mappings[m].pass_percentage is None for m in needed
        ):
            continue
        if session.scalar(
            select(Certification.id).where(
                Certification.organisation_id == organisation_id, Certification.code == code
            )
        ):
            continue
        certification = create_certification(session, organisation_id, code, title, {}, {}, terms)
        for path_kind, paths in ((EARN, earn), (RENEW, renew)):
            for operator, mapping_codes, course_codes in paths:
                conditions = [
                    ConditionInput(f"{rules.MAPPING}:{found_mappings[m].id}") for m in mapping_codes
                ] + [ConditionInput(f"{rules.COURSE}:{courses[c].id}") for c in course_codes]
                save_path(
                    session,
                    organisation_id,
                    certification.id,
                    path_kind,
                    None,
                    operator,
                    conditions,
                )
        set_status(session, organisation_id, certification.id, CertificationStatus.PUBLISHED)
        made.append(code)
    return made
