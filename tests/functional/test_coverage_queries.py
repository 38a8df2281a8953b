"""The statements the competence matrix runs do not grow with its rows: a unit's matrix
costs the same for 10 people as for 200, and streaming a whole organisation's matrix costs
two statements per batch of people on top of a fixed three (what the benchmark in
``bench/coverage_bench.py`` relies on at 20,000 people)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import (
    AssignmentSource,
    AssignmentStatus,
    Evidence,
    JobRoleAssignment,
    Organisation,
    Person,
    Platform,
    UnitAssignment,
)
from lti_tool.services import coverage
from lti_tool.services.evidence import record_evidence
from tests.fakes import content
from tests.statements import statements_run

NOW = dt.datetime(2027, 3, 15, 12, 0, tzinfo=dt.UTC)
#: The profiles (job roles, requirements), the people: then two per batch (roles, holdings).
FIXED = 3
PER_BATCH = 2


def organisation(name: str, people: int, competences: int) -> dict[str, Any]:
    """An organisation whose ``people`` are all in one unit, with a job role asking for
    ``competences`` competences besides the care roles, and evidence for most cells."""
    get_session().add(Organisation(name=name))
    care = content.care_content(name)
    org = care["organisation_id"]
    extra = content.framework(
        org, "it", "IT", {f"k{i}": f"Kompetanse {i}" for i in range(competences)}
    )
    it_role = content.job_role(org, "it", "IT", [(c, 1 + c % 3, True, 12) for c in extra.values()])
    roles = [care["roles"]["sykepleier"], care["roles"]["helsefagarbeider"], it_role]
    asked = [*care["competences"].values(), *extra.values()]
    session = get_session()
    platform_id = session.scalar(select(Platform.id).limit(1))
    made = [
        Person(
            platform_id=platform_id,
            sub=f"sub-{uuid.uuid4()}",
            organisation_id=org,
            name=f"Person {n:03d}",
            given_name="Person",
            family_name=f"{n:03d}",
        )
        for n in range(people)
    ]
    session.add_all(made)
    session.flush()
    active = {"source": AssignmentSource.IMPORT, "status": AssignmentStatus.ACTIVE}
    unit_id = care["units"]["hjemmetjenesten"]
    for n, person in enumerate(made):
        session.add(UnitAssignment(person_id=person.id, unit_id=unit_id, **active))
        for role_id in roles[: 1 + n % 3]:
            session.add(JobRoleAssignment(person_id=person.id, job_role_id=role_id, **active))
    record_evidence(
        session,
        [
            Evidence(
                organisation_id=org,
                person_id=person.id,
                competence_id=competence_id,
                source="self_assessment" if (n + i) % 4 == 0 else "knowledge_test",
                level=(n + i) % 5,
                recorded_at=NOW - dt.timedelta(days=(n * 7 + i * 13) % 900),
                detail={},
            )
            for n, person in enumerate(made)
            for i, competence_id in enumerate(asked)
            if (n + i) % 5
        ],
    )
    session.commit()
    return {"organisation_id": org, "unit_id": unit_id, "people": people}


@pytest.fixture
def small_and_big(app: Any, lms: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with app.app_context():
        return organisation("Litenkommune", 10, 3), organisation("Storkommune", 200, 20)


def test_a_units_matrix_runs_five_statements_for_10_people_and_for_200(app, small_and_big):
    counts = []
    with app.app_context():
        for made in small_and_big:
            with statements_run(app) as run:
                matrix = coverage.unit_matrix(
                    get_session(),
                    made["organisation_id"],
                    frozenset({made["unit_id"]}),
                    now=NOW,
                    per_page=500,
                )
            assert matrix.people == made["people"]
            assert sum(matrix.counts.values()) > made["people"]  # cells were read
            counts.append(len(run))
    assert counts == [5, 5]


def test_streaming_an_organisation_costs_two_statements_per_batch(app, small_and_big):
    with app.app_context():
        for made in small_and_big:
            org = made["organisation_id"]
            with statements_run(app) as run:
                columns = coverage.headings(get_session(), org, None)
            assert len(run) == 3
            assert len(columns) > 0
            for batch in (coverage.BATCH, 64, 7):
                with statements_run(app) as run:
                    rows = list(
                        coverage.matrix_rows(get_session(), org, None, now=NOW, batch=batch)
                    )
                assert len(rows) == made["people"]
                assert sum(len(r.cells) for r in rows) > made["people"]
                expected = FIXED + PER_BATCH * math.ceil(made["people"] / batch)
                assert len(run) == expected, (made["people"], batch)
