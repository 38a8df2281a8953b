"""Job roles (stillinger) and their basis-competence profiles (flush only, never commit).

Every function takes the organisation it acts for; a job role, requirement or competence
of another organisation is not found. A requirement points at a competence of a
published framework version of the same organisation, at a level of that version's scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lti_tool.domain.requirements import (
    MAX_RENEWAL_MONTHS,
    PersonRequirement,
    RoleRequirement,
    union_requirements,
)
from lti_tool.domain.texts import clean_text, localized
from lti_tool.errors import (
    CompetenceNotPublished,
    InvalidRenewal,
    JobRoleCodeTaken,
    NotFound,
    RequirementExists,
    UnknownLevel,
)
from lti_tool.models import Competence, FrameworkVersion, JobRole, Requirement, VersionStatus
from lti_tool.services.frameworks import clean_code, clean_title, get_competence


def list_job_roles(
    session: Session, organisation_id: int, include_archived: bool = False
) -> Sequence[JobRole]:
    query = select(JobRole).where(JobRole.organisation_id == organisation_id)
    if not include_archived:
        query = query.where(JobRole.archived.is_(False))
    # The profile lines with their competence, version and framework in four queries,
    # not one per requirement (profiles have hundreds of lines).
    lines = selectinload(JobRole.requirements).selectinload(Requirement.competence)
    return session.scalars(
        query.options(
            lines.selectinload(Competence.version).selectinload(FrameworkVersion.framework)
        ).order_by(JobRole.code)
    ).all()


def get_job_role(session: Session, organisation_id: int, job_role_id: int) -> JobRole:
    role = session.scalar(
        select(JobRole).where(JobRole.id == job_role_id, JobRole.organisation_id == organisation_id)
    )
    if role is None:
        raise NotFound(f"job role {job_role_id} is not organisation {organisation_id}'s")
    return role


def find_job_role(session: Session, organisation_id: int, code: str) -> JobRole:
    role = session.scalar(
        select(JobRole).where(
            JobRole.code == code.strip(), JobRole.organisation_id == organisation_id
        )
    )
    if role is None:
        raise NotFound(f"organisation {organisation_id} has no job role {code!r}")
    return role


def _check_code_free(
    session: Session, organisation_id: int, code: str, role_id: int | None
) -> None:
    taken = session.scalar(
        select(JobRole.id).where(JobRole.organisation_id == organisation_id, JobRole.code == code)
    )
    if taken is not None and taken != role_id:
        raise JobRoleCodeTaken(f"job role code {code!r} is taken", code=code)


def create_job_role(
    session: Session,
    organisation_id: int,
    code: str,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
) -> JobRole:
    code = clean_code(code)
    _check_code_free(session, organisation_id, code, None)
    role = JobRole(
        organisation_id=organisation_id,
        code=code,
        title=clean_title(title),
        description=clean_text(description),
    )
    session.add(role)
    session.flush()
    return role


def update_job_role(
    session: Session,
    organisation_id: int,
    job_role_id: int,
    code: str,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
) -> JobRole:
    role = get_job_role(session, organisation_id, job_role_id)
    code = clean_code(code)
    _check_code_free(session, organisation_id, code, role.id)
    role.code = code
    role.title = clean_title(title)
    role.description = clean_text(description)
    session.flush()
    return role


def archive_job_role(
    session: Session, organisation_id: int, job_role_id: int, archived: bool = True
) -> JobRole:
    role = get_job_role(session, organisation_id, job_role_id)
    role.archived = archived
    session.flush()
    return role


def _check_level_and_renewal(
    requirement_level: int, renewal_months: int | None, levels: set[int], framework: str
) -> None:
    if requirement_level not in levels:
        raise UnknownLevel(
            f"level {requirement_level} not in {sorted(levels)}",
            value=requirement_level,
            framework=framework,
        )
    if renewal_months is not None and not 1 <= renewal_months <= MAX_RENEWAL_MONTHS:
        raise InvalidRenewal(f"renewal {renewal_months} months", max=MAX_RENEWAL_MONTHS)


def add_requirement(
    session: Session,
    organisation_id: int,
    job_role_id: int,
    competence_id: int,
    required_level: int,
    *,
    mandatory: bool = True,
    renewal_months: int | None = None,
) -> Requirement:
    role = get_job_role(session, organisation_id, job_role_id)
    competence = get_competence(session, organisation_id, competence_id)
    version = competence.version
    if version.status != VersionStatus.PUBLISHED or competence.archived:
        raise CompetenceNotPublished(
            f"competence {competence.id} is in a {version.status.value} version",
            code=competence.code,
        )
    _check_level_and_renewal(
        required_level,
        renewal_months,
        {level.value for level in version.levels},
        localized(version.title, "nb") or version.framework.code,
    )
    if any(r.competence_id == competence.id for r in role.requirements):
        raise RequirementExists(
            f"job role {role.id} already requires {competence.id}", code=competence.code
        )
    requirement = Requirement(
        competence=competence,
        competence_id=competence.id,
        required_level=required_level,
        mandatory=mandatory,
        renewal_months=renewal_months,
    )
    role.requirements.append(requirement)
    session.flush()
    return requirement


def _requirement(session: Session, organisation_id: int, requirement_id: int) -> Requirement:
    requirement = session.scalar(
        select(Requirement)
        .join(JobRole)
        .where(Requirement.id == requirement_id, JobRole.organisation_id == organisation_id)
    )
    if requirement is None:
        raise NotFound(f"requirement {requirement_id} is not organisation {organisation_id}'s")
    return requirement


def get_requirement(session: Session, organisation_id: int, requirement_id: int) -> Requirement:
    """One line of a job role's profile, when the role is the organisation's."""
    return _requirement(session, organisation_id, requirement_id)


def update_requirement(
    session: Session,
    organisation_id: int,
    requirement_id: int,
    required_level: int,
    *,
    mandatory: bool = True,
    renewal_months: int | None = None,
) -> Requirement:
    requirement = _requirement(session, organisation_id, requirement_id)
    version = requirement.competence.version
    _check_level_and_renewal(
        required_level,
        renewal_months,
        {level.value for level in version.levels},
        localized(version.title, "nb") or version.framework.code,
    )
    requirement.required_level = required_level
    requirement.mandatory = mandatory
    requirement.renewal_months = renewal_months
    session.flush()
    return requirement


def remove_requirement(session: Session, organisation_id: int, requirement_id: int) -> None:
    requirement = _requirement(session, organisation_id, requirement_id)
    requirement.job_role.requirements.remove(requirement)
    session.flush()


def requirements_for_roles(
    session: Session, organisation_id: int, job_role_ids: Sequence[int]
) -> list[PersonRequirement]:
    """What a person holding these job roles must have: the union of their profiles
    (archived roles and roles of other organisations count for nothing)."""
    if not job_role_ids:
        return []
    rows = session.scalars(
        select(Requirement)
        .join(JobRole)
        .where(
            JobRole.id.in_(list(job_role_ids)),
            JobRole.organisation_id == organisation_id,
            JobRole.archived.is_(False),
        )
    ).all()
    return union_requirements(
        RoleRequirement(
            competence_id=r.competence_id,
            required_level=r.required_level,
            mandatory=r.mandatory,
            renewal_months=r.renewal_months,
            job_role_id=r.job_role_id,
        )
        for r in rows
    )
