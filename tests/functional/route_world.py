"""The data set the route-by-route authorisation sweep (``test_route_table``) asks about:
two organisations on one LMS, units A and its sibling B, and one signed-in browser per
caller. Made once per module, through launches and the app's services."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from lti_tool import clock, create_app
from lti_tool.db import close_connections, get_session
from lti_tool.lti import claims
from lti_tool.models import (
    Attempt,
    Certification,
    Competence,
    CourseCompetence,
    CourseRoster,
    CourseSession,
    Deployment,
    FrameworkVersion,
    GrantKind,
    Item,
    JobRole,
    JobRoleAssignment,
    Launch,
    Mapping,
    MappingStatus,
    Person,
    Platform,
    ResultRead,
    UnitAssignment,
    UnitKind,
)
from lti_tool.services import (
    assignments,
    bookings,
    calendar_feeds,
    catalogue,
    certificates,
    certifications,
    framework_io,
    grants,
    job_roles,
    library,
    org_units,
    organisations,
    packages,
    score_delivery,
)
from lti_tool.services.assignments import Kind
from lti_tool.services.audit import Actor
from lti_tool.services.demo import _demo_sessions
from tests.conftest import _clean, register_test_lms
from tests.fakes.lms import TestLms
from tests.functional.conftest import add_organisation_on_lms

#: Every caller the sweep asks as, in the order it asks (those refused first: a caller
#: let through may change what it was let through to).
CALLERS = (
    "anonymous",
    "learner",
    "designer",
    "manager_b",
    "coordinator",
    "other_admin",
    "manager_a",
    "admin",
)
OTHER_DEPLOYMENT = "annen-1"
ADMIN_AND_MANAGER_A = ((1, "manager_a"), (2, "admin"))
SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM = "https://moodle.example/mod/lti/services.php/2/lineitems/1/lineitem?type_id=1"


@dataclasses.dataclass
class World:
    app: Any
    ids: dict[str, Any]
    """The values for the rules' arguments, by name (``certificate_id``…)."""
    browsers: dict[str, Any]
    lms: TestLms

    def csrf(self, caller: str) -> str:
        """What flask-wtf's csrf_token() puts in a form of the caller's browser session."""
        with self.browsers[caller].session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        return str(URLSafeTimedSerializer(self.app.secret_key, salt="wtf-csrf-token").dumps(raw))


def _one(model: Any, *where: Any) -> Any:
    found = get_session().scalars(select(model).where(*where)).first()
    assert found is not None, f"no {model.__name__} for the sweep"
    return found


def _person(platform_id: int, sub: str, organisation_id: int) -> Person:
    return _one(
        Person,
        Person.platform_id == platform_id,
        Person.sub == sub,
        Person.organisation_id == organisation_id,
    )


def build(app: Any, lms: TestLms) -> World:
    """Content, units, people and what they did; one signed-in browser per caller."""
    now = clock.now()
    with app.app_context():
        session = get_session()
        platform = _one(Platform, Platform.issuer == lms.platform.issuer)
        org = platform.organisation_id
        framework_io.load_examples(session, org)
        framework_io.load_example_mappings(session, org)
        certifications.load_examples(session, org)
        _demo_sessions(session, org, now)
        sector = org_units.create_unit(session, org, kind=UnitKind.SECTOR, code="s", name="S")
        unit_a = org_units.create_unit(
            session, org, kind=UnitKind.UNIT, code="a", name="A", parent_id=sector.id
        )
        unit_b = org_units.create_unit(
            session, org, kind=UnitKind.UNIT, code="b", name="B", parent_id=sector.id
        )
        spare = org_units.create_unit(  # archived and moved by the sweep
            session, org, kind=UnitKind.UNIT, code="c", name="C", parent_id=sector.id
        )
        spare_role = job_roles.create_job_role(session, org, "spare", {"nb": "Reserve"})
        ids: dict[str, Any] = {
            "organisation": org,
            "unit_a": unit_a.id,
            "unit_b": unit_b.id,
            "spare_unit": spare.id,
            "spare_job_role": spare_role.id,
            "platform_pk": platform.id,
        }
        # the region's library holds a package of organisation 1 (Annenkommune: no region)
        region = organisations.create_region(session, "Region for the sweep")
        platform.organisation.region_id = region.id
        request = packages.ExportRequest(name="sweep", version="1.0.0")
        ids["library_package"] = library.publish_package(session, org, request).id
        session.commit()
    ids["other_organisation"] = add_organisation_on_lms(
        app, lms.platform.issuer, "Annenkommune", OTHER_DEPLOYMENT
    )

    lms.platform.custom_by_persona = {
        "learner": {"job_role": "sykepleier", "unit": "a"},
        "learner2": {"job_role": "sykepleier", "unit": "b"},
    }
    browsers: dict[str, Any] = {"anonymous": TestLms.browser(app)}
    for caller, persona in (
        ("learner", "learner"),
        ("designer", "designer"),
        ("manager_a", "manager"),
        ("manager_b", "learner2"),
        ("coordinator", "learner3"),
        ("admin", "admin"),
    ):
        browsers[caller] = TestLms.browser(app)
        if caller == "learner":  # the LMS takes grades from this launch: a score to queue
            launched = lms.signed_launch(
                browsers[caller],
                persona,
                change={claims.AGS_ENDPOINT: {"scope": [SCORE], "lineitem": LINEITEM}},
            )
        else:
            launched = lms.launch(browsers[caller], persona)
        assert lms.landed(launched), launched.get_data(as_text=True)
    browsers["other_admin"] = TestLms.browser(app)
    launched = lms.signed_launch(  # another person: the same LMS account acts for one
        browsers["other_admin"],
        "admin",
        change={claims.DEPLOYMENT_ID: OTHER_DEPLOYMENT, "sub": "other-admin"},
    )
    assert lms.landed(launched), launched.get_data(as_text=True)

    with app.app_context():
        session = get_session()
        pid = ids["platform_pk"]
        learner = _person(pid, "101", org)
        manager_a = _person(pid, "103", org)
        manager_b = _person(pid, "104", org)
        coordinator = _person(pid, "105", org)
        admin = _person(pid, "2", org)
        system = Actor.system(org)

        def grant(person: Person, kind: GrantKind, unit_id: int | None = None) -> int:
            made, _ = grants.grant(
                session,
                org,
                person_id=person.id,
                kind=kind,
                unit_id=unit_id,
                reason="route sweep",
                by=system,
                via="system",
            )
            return made.id

        grant(manager_a, GrantKind.MANAGER, unit_a.id)
        grant(manager_b, GrantKind.MANAGER, unit_b.id)
        grant(coordinator, GrantKind.COORDINATOR)
        nobody = Person(platform_id=pid, sub="spare", organisation_id=org, name="Reserve")
        session.add(nobody)
        session.flush()
        spare_grants = {  # withdrawn by the sweep, once on each route
            route: grant(nobody, kind)
            for route, kind in (("page", GrantKind.DESIGNER), ("api", GrantKind.COORDINATOR))
        }
        roles = {r.code: r.id for r in session.scalars(select(JobRole))}

        def assign(kind: Kind, target: int) -> int:
            row = assignments.assign(session, org, learner.id, kind, target, by_id=admin.id)
            return int(row.id)

        # one of its own for each caller let through to end one, on each of two routes
        for code in ("end-1", "end-2", "end-3", "end-4"):
            roles[code] = job_roles.create_job_role(session, org, code, {"nb": code}).id
        ends = {
            "page": {c: assign(Kind.ROLE, roles[f"end-{n}"]) for n, c in ADMIN_AND_MANAGER_A},
            "api": {c: assign(Kind.ROLE, roles[f"end-{n + 2}"]) for n, c in ADMIN_AND_MANAGER_A},
        }
        assignments.choose_self(session, org, learner.id, [roles["saksbehandler"]], spare.id)
        pending = {
            kind: _one(model, model.person_id == learner.id, model.status == "pending").id
            for kind, model in (("role", JobRoleAssignment), ("unit", UnitAssignment))
        }

        certification = _one(Certification, Certification.organisation_id == org)
        certificate = certificates.issue_manually(
            session, org, certification.id, learner.id, admin, "route sweep", now
        )
        course_session = _one(CourseSession, CourseSession.organisation_id == org)
        bookings.book_session(session, org, learner.id, course_session.id, now)
        feed_token = calendar_feeds.renew_calendar_feed(session, org, learner.id, now)
        learner_launch = _one(Launch, Launch.person_id == learner.id)
        delivery = score_delivery.queue_score(
            session,
            organisation_id=org,
            attempt_id=None,
            launch=learner_launch,
            score_given=1,
            score_maximum=1,
            comment=None,
            line_item=None,
            submitted_at=None,
        )
        assert delivery is not None
        # a result read the worker gave up on, for the admin to retry
        failed_read = ResultRead(
            organisation_id=org,
            platform_id=learner.platform_id,
            person_id=learner.id,
            course_id=course_session.course_id,
            lineitem_url="https://lms.example/lineitems/1",
            user_id=learner.sub,
            tries=3,
            last_error="refused",
            failed_at=now,
        )
        session.add(failed_read)
        session.commit()
        version = _one(FrameworkVersion, FrameworkVersion.framework.has(organisation_id=org))
        mapping = _one(
            Mapping, Mapping.organisation_id == org, Mapping.status == MappingStatus.PUBLISHED
        )
        roles_by_code = {r.code: r for r in session.scalars(select(JobRole))}
        job_role = roles_by_code["sykepleier"]
        spares = roles_by_code["helsefagarbeider"].requirements
        course_id = course_session.course_id
        developed = [
            c.competence_id
            for c in session.scalars(
                select(CourseCompetence).where(CourseCompetence.course_id == course_id)
            )
        ]
        developed.append(next(r.competence_id for r in spares if r.competence_id not in developed))
        catalogue.set_course_competence(session, org, course_id, developed[-1], 1)
        session.commit()
        ids.update(
            {
                "learner": learner.id,
                "person_b": manager_b.id,
                "certificate_id": certificate.id,
                "certificate_code": certificate.code,
                "certification_id": certification.id,
                "certification_code": certification.code,
                "session_id": course_session.id,
                "course_id": course_session.course_id,
                "calendar_token": feed_token,
                "grant_id": spare_grants["page"],
                "api_grant_id": spare_grants["api"],
                "free_job_role": roles["alle-ansatte"],
                "spare_person": nobody.id,
                # a job role of organisation 1 chosen as one's own (not by the learner, whose
                # pending choice the sweep decides on)
                "chosen_job_role": {"learner": "", "": roles["alle-ansatte"]},
                "version_id": version.id,
                "framework_id": version.framework_id,
                "competence_id": _one(Competence, Competence.version_id == version.id).id,
                "job_role_id": job_role.id,
                "requirement_id": job_role.requirements[0].id,
                # removed: one for each caller let through, on each of two routes
                "spare_requirement": {
                    "designer": spares[0].id,
                    "admin": spares[1].id,
                    "": spares[0].id,
                },
                "spare_requirement2": {
                    "designer": spares[2].id,
                    "admin": spares[3].id,
                    "": spares[2].id,
                },
                "course_code": course_session.course.code,
                "developed_competence": {
                    "designer": developed[0],
                    "admin": developed[1],
                    "": developed[0],
                },
                "item_id": _one(Item, Item.organisation_id == org).id,
                "mapping_id": mapping.id,
                "mapping_code": mapping.code,
                "roster_id": _one(CourseRoster, CourseRoster.organisation_id == org).id,
                "deployment_pk": _one(
                    Deployment, Deployment.platform_id == pid, Deployment.organisation_id == org
                ).id,
                "assignment_id": {**ends["page"], "": ends["page"]["manager_a"]},
                "api_assignment_id": {**ends["api"], "": ends["api"]["manager_a"]},
                "pending_kind": {"admin": "unit", "": "role"},
                "pending_id": {"admin": pending["unit"], "": pending["role"]},
                "delivery_id": delivery.id,
                "read_id": failed_read.id,
                "achievement_uuid": certification.uuid,
                "list_uuid": certificate.status_list.uuid,
            }
        )
    started = browsers["learner"].post(
        f"/mappings/{ids['mapping_code']}/attempts",
        data={"csrf_token": World(app, ids, browsers, lms).csrf("learner")},
    )
    assert started.status_code == 302, started.get_data(as_text=True)
    signed = browsers["learner"].get(f"/certificates/{ids['certificate_id']}/credential.jwt")
    assert signed.status_code == 200  # which makes the credential key its kid names
    with app.app_context():
        ids["attempt_id"] = _one(Attempt, Attempt.person_id == ids["learner"]).id
    ids["kid"] = app.extensions["lti"].credential_keys.all_keys()[0].kid
    return World(app, ids, browsers, lms)


@contextlib.contextmanager
def made_world(request: pytest.FixtureRequest, **overrides: Any) -> Iterator[World]:
    """One app and the world built in it, for a module's tests (``request`` a module-wide
    fixture's: the session's database, Redis and keys); emptied afterwards. Its own copy
    of the keys: the sweep rotates them, as an admin may."""
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    keys_dir: Path = request.getfixturevalue("keys_dir")
    keys = tmp_path_factory.mktemp("sweep-keys")
    shutil.copytree(keys_dir, keys, dirs_exist_ok=True)
    app = create_app(
        {
            "APP_ENV": "test",
            "SECRET_KEY": "test-secret-key-test-secret-key-test-secret",
            "BASE_URL": "https://tool.example",
            "DATABASE_URL": request.getfixturevalue("database_url"),
            "REDIS_URL": request.getfixturevalue("redis_url"),
            "KEYS_DIR": str(keys),
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
            "LTI_LEEWAY_SECONDS": 5,
            **overrides,
        }
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        lms = register_test_lms(app, request.getfixturevalue("platform_pem"), http)
        try:
            yield build(app, lms)
        finally:
            _clean(app)
            close_connections(app)
