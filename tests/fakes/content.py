"""Competence content for tests, built straight from the models (not the designer services):
a framework version with a scale, competences, job roles with requirements, and units."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import (
    Competence,
    Framework,
    FrameworkVersion,
    JobRole,
    Organisation,
    OrgUnit,
    Requirement,
    ScaleLevel,
    UnitKind,
    VersionStatus,
)

SCALE = {
    1: {"nb": "Kjenner til", "nn": "Kjenner til", "en": "Aware"},
    2: {"nb": "Kan bruke", "nn": "Kan bruke", "en": "Can apply"},
    3: {"nb": "Kan veilede andre", "nn": "Kan rettleie andre", "en": "Can guide others"},
    4: {"nb": "Ekspert", "nn": "Ekspert", "en": "Expert"},
}


def organisation_id(name: str) -> int:
    found = get_session().scalar(select(Organisation.id).where(Organisation.name == name))
    assert found is not None, f"no organisation {name}"
    return found


def framework(org_id: int, code: str, title: str, competences: dict[str, str]) -> dict[str, int]:
    """A published version 1 with the 4-step scale; returns competence ids by code."""
    session = get_session()
    fw = Framework(organisation_id=org_id, code=code)
    version = FrameworkVersion(
        framework=fw,
        number=1,
        status=VersionStatus.PUBLISHED,
        title={"nb": title, "en": title + " (en)"},
        identifier=str(uuid.uuid4()),
    )
    version.levels = [ScaleLevel(value=v, label=label) for v, label in SCALE.items()]
    version.competences = [
        Competence(
            identifier=str(uuid.uuid4()),
            code=c,
            title={"nb": t, "en": t + " (en)"},
            position=i,
        )
        for i, (c, t) in enumerate(competences.items())
    ]
    session.add(fw)
    session.flush()
    return {c.code: c.id for c in version.competences}


def job_role(
    org_id: int, code: str, title: str, requirements: list[tuple[int, int, bool, int | None]]
) -> int:
    """A job role with (competence_id, required_level, mandatory, renewal_months) lines."""
    session = get_session()
    role = JobRole(organisation_id=org_id, code=code, title={"nb": title, "en": title + " (en)"})
    role.requirements = [
        Requirement(competence_id=c, required_level=lvl, mandatory=m, renewal_months=r)
        for c, lvl, m, r in requirements
    ]
    session.add(role)
    session.flush()
    return role.id


def unit(org_id: int, code: str, name: str, parent: int | None = None, kind: Any = None) -> int:
    session = get_session()
    found = OrgUnit(
        organisation_id=org_id,
        code=code,
        name=name,
        parent_id=parent,
        kind=kind or UnitKind.UNIT,
    )
    session.add(found)
    session.flush()
    return found.id


def care_content(org_name: str = "Testkommune") -> dict[str, Any]:
    """Nurses and health workers in home care: an overlapping pair of profiles.

    sykepleier: legemidler 3 (mandatory, renew 24), personvern 2 (mandatory, renew 12)
    helsefagarbeider: legemidler 2 (mandatory, renew 12), office 1 (recommended)
    tomrolle: no requirements.
    """
    org = organisation_id(org_name)
    ids = framework(
        org,
        "helse",
        "Helse og omsorg",
        {"legemidler": "Legemiddelhåndtering", "personvern": "Personvern", "office": "MS Office"},
    )
    roles = {
        "sykepleier": job_role(
            org,
            "sykepleier",
            "Sykepleier",
            [(ids["legemidler"], 3, True, 24), (ids["personvern"], 2, True, 12)],
        ),
        "helsefagarbeider": job_role(
            org,
            "helsefagarbeider",
            "Helsefagarbeider",
            [(ids["legemidler"], 2, True, 12), (ids["office"], 1, False, None)],
        ),
        "tomrolle": job_role(org, "tomrolle", "Tom rolle", []),
    }
    sector = unit(org, "helse", "Helse og omsorg", kind=UnitKind.SECTOR)
    units = {
        "hjemmetjenesten": unit(org, "hjemmetjenesten", "Hjemmetjenesten", sector),
        "sykehjemmet": unit(org, "sykehjemmet", "Sykehjemmet", sector),
    }
    get_session().commit()
    return {"organisation_id": org, "competences": ids, "roles": roles, "units": units}
