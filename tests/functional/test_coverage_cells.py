"""The figures' requirement rows (``coverage_cell``) stay right through what people do over
HTTP: job roles assigned and ended by a manager or HR's CSV file or a launch, a
requirement added, changed and removed and a role archived by a designer, evidence from
a submitted mapping. After each step the table must equal both a rebuild from scratch
(``lines_query`` over everyone) and an independent computation in Python (the union of
each person's active roles by ``domain.requirements``, their holding by
``competence_holding``). Writing the rows takes the same statements for 10 people as
for 60."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text

import lti_tool
from lti_tool.db import get_session
from lti_tool.domain.coverage import Holding, expires_at
from lti_tool.domain.requirements import RoleRequirement, union_requirements
from lti_tool.models import (
    AssignmentStatus,
    Competence,
    CompetenceHolding,
    CoverageCell,
    FrameworkVersion,
    JobRole,
    JobRoleAssignment,
    Person,
    Requirement,
)
from lti_tool.services import assignments
from lti_tool.services.assignments import Kind
from lti_tool.services.coverage_cells import COLUMNS, lines_query
from tests.fakes.lms import TestLms
from tests.functional.test_admin_console import follow, get_page, submit
from tests.functional.test_assignments import end_confirmed, person_id, post_form, upload
from tests.functional.test_designer_ui import designer
from tests.functional.test_learner_requirements import launch, page
from tests.functional.test_mapping_flow import NURSE_RIGHT, build_mapping, place, take
from tests.functional.test_unit_matrix import add_person
from tests.statements import statements_run


def stored(app: Any) -> dict[tuple[int, int], tuple[int, int | None, bool, int | None]]:
    """The rows that count a person's cell: (person, competence) → (level asked, renewal,
    mandatory, level held)."""
    with app.app_context():
        return {
            (c.person_id, c.competence_id): (
                c.required_level,
                c.renewal_months,
                c.mandatory,
                c.level,
            )
            for c in get_session().scalars(select(CoverageCell).where(CoverageCell.counts_cell))
        }


def independent(app: Any) -> dict[tuple[int, int], tuple[int, int | None, bool, int | None]]:
    """The same, worked out in Python from the assignments, requirements and holdings."""
    session_rows: dict[tuple[int, int], tuple[int, int | None, bool, int | None]] = {}
    with app.app_context():
        session = get_session()
        held = {
            (h.person_id, h.framework_id, h.identifier): h.level
            for h in session.scalars(select(CompetenceHolding))
        }
        identity = {
            c.id: (fid, c.identifier)
            for c, fid in session.execute(
                select(Competence, FrameworkVersion.framework_id).join(FrameworkVersion)
            )
        }
        for person in session.scalars(select(Person)):
            roles = session.scalars(
                select(JobRole)
                .join(JobRoleAssignment, JobRoleAssignment.job_role_id == JobRole.id)
                .where(
                    JobRoleAssignment.person_id == person.id,
                    JobRoleAssignment.status == AssignmentStatus.ACTIVE,
                    JobRole.organisation_id == person.organisation_id,
                    JobRole.archived.is_(False),
                )
            ).all()
            lines = [
                RoleRequirement(
                    r.competence_id, r.required_level, r.mandatory, r.renewal_months, role.id
                )
                for role in set(roles)
                for r in role.requirements
            ]
            for need in union_requirements(lines):
                key = (person.id, need.competence_id)
                session_rows[key] = (
                    need.required_level,
                    need.renewal_months,
                    need.mandatory,
                    held.get((person.id, *identity[need.competence_id])),
                )
    return session_rows


def assert_current(app: Any) -> dict[tuple[int, int], tuple[int, int | None, bool, int | None]]:
    """The table equals a rebuild and the independent computation; the cells."""
    with app.app_context():
        session = get_session()
        table = {
            tuple(r) for r in session.execute(select(*(getattr(CoverageCell, c) for c in COLUMNS)))
        }
        rebuilt = {tuple(r) for r in session.execute(lines_query(select(Person.id)))}
        assert table == rebuilt
        for row in session.scalars(select(CoverageCell).where(CoverageCell.level.is_not(None))):
            holding = session.scalar(
                select(CompetenceHolding)
                .join(Competence, Competence.identifier == CompetenceHolding.identifier)
                .where(
                    Competence.id == row.competence_id,
                    CompetenceHolding.person_id == row.person_id,
                )
            )
            assert holding is not None
            assert row.level == holding.level
            assert row.expires_at == expires_at(
                Holding(holding.level, holding.recorded_at, holding.valid_until),
                row.renewal_months,
            )
        # one row counts a person among a competence identifier's people: their first
        identifier_rows: dict[tuple[int, str], list[tuple[int, int, bool]]] = {}
        for row, identifier in session.execute(
            select(CoverageCell, Competence.identifier).join(
                Competence, Competence.id == CoverageCell.competence_id
            )
        ):
            identifier_rows.setdefault((row.person_id, identifier), []).append(
                (row.competence_id, row.job_role_id, row.counts_identifier_person)
            )
        for found in identifier_rows.values():
            assert [flag for *_, flag in sorted(found)] == [True] + [False] * (len(found) - 1)
    cells = stored(app)
    assert cells == independent(app)
    return cells


def test_a_manager_assigning_and_ending_a_role_rewrites_the_rows(app, lms, care):
    learner = TestLms.browser(app)
    launch(lms, learner)
    manager = TestLms.browser(app)
    launch(lms, manager, "admin")
    learner_id = person_id(app, "101")
    assert assert_current(app) == {}
    html = page(manager, f"/manager/people/{learner_id}")
    for role in ("sykepleier", "helsefagarbeider"):
        target = str(care["roles"][role])
        assert (
            post_form(manager, html, "/assign", {"target_id": target}, kind="role").status_code
            == 302
        )
    cells = assert_current(app)
    legemidler = care["competences"]["legemidler"]
    assert cells[(learner_id, legemidler)][:2] == (3, 12)  # the highest level, shortest renewal
    assert len(cells) == 3

    html = page(manager, f"/manager/people/{learner_id}")
    assert end_confirmed(manager, html, "role", 0).status_code == 302
    assert len(assert_current(app)) == 2
    assert end_confirmed(manager, html, "role", 1).status_code == 302
    assert assert_current(app) == {}


def test_hr_csv_and_launches_rewrite_the_rows(app, lms, care):
    manager = TestLms.browser(app)
    launch(lms, manager, "admin")
    for persona in ("learner", "designer"):
        launch(lms, TestLms.browser(app), persona)
    response = upload(
        manager,
        "person_sourcedid;email;job_role;unit\n"
        "EMP-learner;;sykepleier;hjemmetjenesten\n"
        ";KURSUTVIKLER@demokommune.example;helsefagarbeider;sykehjemmet\n",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert len(assert_current(app)) == 4
    launch(lms, TestLms.browser(app), "learner", job_role="helsefagarbeider")
    assert len(assert_current(app)) == 5  # the launch added a role: legemidler at 3, office


def test_a_designer_changing_a_profile_rewrites_its_holders_rows(app, lms, care):
    for persona, role in (("learner", "sykepleier"), ("manager", "helsefagarbeider")):
        launch(lms, TestLms.browser(app), persona, job_role=role)
    nurse = care["roles"]["sykepleier"]
    office = care["competences"]["office"]
    learner_id = person_id(app, "101")
    assert (learner_id, office) not in assert_current(app)

    browser = designer(app, lms)
    picked = get_page(browser, f"/designer/job-roles/{nurse}?competence_id={office}")
    role_page = follow(browser, submit(
        browser, picked, f"/designer/job-roles/{nurse}/requirements",
        required_level="2", mandatory="1", renewal_months="6",
    ))  # fmt: skip
    assert assert_current(app)[(learner_id, office)] == (2, 6, True, None)
    with app.app_context():
        req_id = get_session().scalar(
            select(Requirement.id).where(
                Requirement.job_role_id == nurse, Requirement.competence_id == office
            )
        )
    follow(browser, submit(
        browser, role_page, f"/designer/requirements/{req_id}",
        required_level="4", renewal_months="",
    ))  # fmt: skip
    assert assert_current(app)[(learner_id, office)] == (4, None, True, None)
    path = f"/designer/requirements/{req_id}/remove"
    follow(browser, submit(browser, get_page(browser, path), path))
    assert (learner_id, office) not in assert_current(app)
    path = f"/designer/job-roles/{nurse}/archive"
    follow(browser, submit(browser, get_page(browser, path), path))
    assert {p for p, _ in assert_current(app)} == {person_id(app, "103")}


def test_evidence_from_a_submitted_mapping_reaches_the_rows(app, lms, care, gradebook):
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    launch(lms, TestLms.browser(app), "learner", job_role="sykepleier")
    learner_id = person_id(app, "101")
    legemidler = care["competences"]["legemidler"]
    assert assert_current(app)[(learner_id, legemidler)][3] is None
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    assert assert_current(app)[(learner_id, legemidler)][3] == 4


@pytest.mark.parametrize("size", [10, 60])
def test_rewriting_a_roles_rows_takes_the_same_statements_for_any_number(app, lms, care, size):
    with app.app_context():
        for n in range(size):
            add_person(
                care["organisation_id"], f"Navn{n} Etternavn", None, [care["roles"]["sykepleier"]]
            )
        get_session().commit()
    assert len(assert_current(app)) == 2 * size
    browser = designer(app, lms)
    nurse, office = care["roles"]["sykepleier"], care["competences"]["office"]
    picked = get_page(browser, f"/designer/job-roles/{nurse}?competence_id={office}")
    with statements_run(app) as run:
        response = submit(
            browser, picked, f"/designer/job-roles/{nurse}/requirements", required_level="1"
        )
    assert response.status_code == 302
    assert len(assert_current(app)) == 3 * size
    assert len(run) == EXPECTED_ADD_REQUIREMENT, run


#: The launch token's checks (the launch read with its deployment, platform and
#: organisation at once) and the designer's service calls as before, and the rows of
#: the role's holders: the role locked, then their people, one DELETE and one INSERT …
#: SELECT, whatever their number; then the audit log's event for the changed role (its
#: organisation read, one INSERT).
EXPECTED_ADD_REQUIREMENT = 13


def test_two_transactions_rewriting_one_persons_rows_at_once_both_commit(app, lms, care):
    """Two managers giving one nurse a job role each at the same moment: each flush
    rewrites the nurse's rows. The second waits for the first to commit (on PostgreSQL
    it failed on the primary key before, a 500), then writes the union of all three."""
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    roles = care["roles"]
    with app.app_context():
        nurse = add_person(care["organisation_id"], "Navn Etternavn", None, [roles["sykepleier"]])
        get_session().commit()
    assert len(assert_current(app)) == 2
    flushed, release = threading.Event(), threading.Event()
    failed: dict[str, BaseException] = {}

    def give_role(role: str, hold: bool) -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                assignments.assign(
                    session, care["organisation_id"], nurse, Kind.ROLE, roles[role], by_id=None
                )
                if hold:
                    flushed.set()
                    release.wait(10)
                session.commit()
            except BaseException as exc:  # reported by the test below
                failed[role] = exc
            finally:
                session.close()

    first = threading.Thread(target=give_role, args=("helsefagarbeider", True))
    first.start()
    assert flushed.wait(10)
    second = threading.Thread(target=give_role, args=("tomrolle", False))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the first's rows
    release.set()
    first.join(10)
    second.join(10)
    assert failed == {}
    with app.app_context():
        held = get_session().scalars(
            select(JobRoleAssignment.job_role_id).where(JobRoleAssignment.person_id == nurse)
        )
        assert set(held) == {roles[r] for r in ("sykepleier", "helsefagarbeider", "tomrolle")}
    assert {c for p, c in assert_current(app) if p == nurse} == set(care["competences"].values())


def test_a_requirement_added_while_someone_is_given_the_role_reaches_their_rows(app, lms, care):
    """A manager gives a nurse a job role while a designer adds a requirement to it: the
    manager's rewrite cannot see the new requirement, and the designer's cannot see the
    nurse among the role's holders. The designer's waits for the manager's to commit (on
    PostgreSQL the nurse had no row for the new competence before), then writes it."""
    if app.extensions["db_engine"].dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    roles, office = care["roles"], care["competences"]["office"]
    with app.app_context():
        nurse = add_person(care["organisation_id"], "Navn Etternavn", None, [roles["sykepleier"]])
        get_session().commit()
    flushed, release = threading.Event(), threading.Event()
    failed: dict[str, BaseException] = {}

    def give_role() -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                assignments.assign(
                    session,
                    care["organisation_id"],
                    nurse,
                    Kind.ROLE,
                    roles["tomrolle"],
                    by_id=None,
                )
                session.flush()
                flushed.set()
                release.wait(10)
                session.commit()
            except BaseException as exc:  # reported by the test below
                failed["manager"] = exc
            finally:
                session.close()

    def add_requirement() -> None:
        with app.app_context():
            session = app.extensions["db_sessionmaker"]()
            try:
                session.add(
                    Requirement(
                        job_role_id=roles["tomrolle"],
                        competence_id=office,
                        required_level=1,
                        mandatory=True,
                    )
                )
                session.flush()
                session.commit()
            except BaseException as exc:  # reported by the test below
                failed["designer"] = exc
            finally:
                session.close()

    first = threading.Thread(target=give_role)
    first.start()
    assert flushed.wait(10)
    second = threading.Thread(target=add_requirement)
    second.start()
    second.join(0.5)
    waited = second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    assert failed == {}
    assert waited  # for the manager's transaction
    assert (nurse, office) in assert_current(app)


def migration(revision: str) -> Any:
    path = next(
        (Path(lti_tool.__file__).parent / "migrations" / "versions").glob(f"*_{revision}_*.py")
    )
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migrations_backfill_writes_the_same_rows(app, lms, care, gradebook):
    """The rows' backfill, then the one of the flag a later migration added to them."""
    rows_backfill, flag_backfill = migration("c5d1f0a9e3b7"), migration("482e33c31bd1")
    mapping_id = build_mapping(app, lms, care)
    link_id = place(lms, app, gradebook, mapping_id)
    launch(lms, TestLms.browser(app), "learner", job_role="sykepleier, helsefagarbeider")
    launch(lms, TestLms.browser(app), "manager", job_role="helsefagarbeider")
    take(app, lms, "learner", link_id, NURSE_RIGHT)
    kept = assert_current(app)
    with app.app_context():
        session = get_session()
        table = select(*(getattr(CoverageCell, c) for c in COLUMNS))
        rows = sorted(tuple(r) for r in session.execute(table))
        assert len(kept) == 5 and any(r[7] is not None for r in rows)  # some level held
        session.execute(delete(CoverageCell))
        session.execute(text(rows_backfill.backfill(session.get_bind().dialect.name)))
        session.execute(text(flag_backfill.BACKFILL))
        assert sorted(tuple(r) for r in session.execute(table)) == rows
        session.rollback()
