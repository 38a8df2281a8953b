"""Who may open what: every route declares its access, and the guards enforce it."""

from __future__ import annotations

import secrets

import pytest
from itsdangerous import URLSafeTimedSerializer

from lti_tool.auth import PUBLIC
from lti_tool.db import get_session
from lti_tool.lti.roles import Permission
from lti_tool.models import Status
from lti_tool.services.platforms import find_platform, get_deployment, record_deployment
from tests.fakes.lms import TestLms, csrf_token
from tests.functional.token_browsing import launch_token_of

PERMISSION_VALUES = {str(p) for p in Permission}

HOME_PAGES = ["/learner/", "/designer/", "/manager/", "/admin/"]
#: Coordinators' figures: coordinators (by grant only) and admins.
COORDINATOR_PAGES = ["/coordinator/"]
#: The admin console's pages without arguments (those with arguments: test_admin_console).
ADMIN_PAGES = [
    "/admin/keys",
    "/admin/keys/rotate",
    "/admin/registration",
    "/admin/organisations",
    "/admin/regions",
    "/admin/grants",
    "/admin/deliveries",
    "/admin/certificates",
    "/admin/audit",
    "/admin/audit.csv",
    "/admin/people",
]
#: The designer's and the manager's pages without arguments (the others: test_designer_ui,
#: test_manager_units).
DESIGNER_PAGES = [
    "/designer/frameworks",
    "/designer/job-roles",
    "/designer/job-roles/export",
    "/designer/items",
    "/designer/mappings",
    "/designer/certifications",
]
#: Courses: designers define them; managers too record attendance.
ATTENDANCE_PAGES = ["/designer/courses"]
MANAGER_PAGES = [
    "/manager/units",
    "/manager/certificates",
    "/manager/courses/",
    "/manager/export.xlsx",
]
#: Everyone launched sees their own certificates, learning plan, the activities, their
#: bookings, and what the tool stores about them (test_privacy).
EVERYONE_PAGES = [
    "/certificates/",
    "/learner/plan",
    "/learner/activities",
    "/learner/bookings",
    "/learner/my-data",
    "/learner/my-data.json",
]
PAGES = [
    *HOME_PAGES,
    *COORDINATOR_PAGES,
    *ADMIN_PAGES,
    *DESIGNER_PAGES,
    *ATTENDANCE_PAGES,
    *MANAGER_PAGES,
    *EVERYONE_PAGES,
]
#: Pages that need a query, a launch of a kind or a region (tested in their own modules;
#: every caller of every route: test_route_table).
GUARDED_GET_PAGES = [
    *PAGES,
    "/designer/deep-link",
    "/designer/items/new",
    "/designer/packages",
    "/designer/library",
]

ALLOWED = {
    "learner": {"/learner/", *EVERYONE_PAGES},
    "designer": {"/learner/", "/designer/", *DESIGNER_PAGES, *ATTENDANCE_PAGES, *EVERYONE_PAGES},
    # a manager by LMS role manages no unit until granted: the organisation's structure is
    # an admin's (test_audit: they see no one's data either). The courses are listed, but
    # a roster shows them none of its participants (test_course_roster).
    "manager": {
        "/learner/",
        "/manager/",
        "/manager/certificates",
        "/manager/courses/",
        *ATTENDANCE_PAGES,
        *EVERYONE_PAGES,
    },
    "admin": set(PAGES),  # the demo admin holds Instructor too
}


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def test_every_route_declares_its_access(app):
    undeclared = []
    for rule in _rules(app):
        view = app.view_functions[rule.endpoint]
        access = getattr(view, "access", None)
        if not access:
            undeclared.append(f"{rule.rule} ({rule.endpoint})")
            continue
        assert isinstance(access, tuple), rule.rule
        if PUBLIC in access:
            assert access == (PUBLIC,), f"{rule.rule} is public and guarded at once"
        else:
            unknown = set(access) - PERMISSION_VALUES
            assert not unknown, f"{rule.rule} names unknown permissions {unknown}"
    assert not undeclared, "routes without @requires(...) or @public: " + ", ".join(
        sorted(undeclared)
    )


def test_the_guarded_pages_are_the_ones_this_matrix_checks(app):
    """A new guarded page without arguments must be added to this file's matrix."""
    guarded = {
        rule.rule
        for rule in _rules(app)
        if "GET" in (rule.methods or set())
        and not rule.arguments
        and PUBLIC not in app.view_functions[rule.endpoint].access
        and not rule.rule.startswith("/api/")  # the API's matrix: API_ACCESS below
    }
    assert guarded == set(GUARDED_GET_PAGES)


def test_guards_match_the_declared_access(app):
    expected = {
        "learner.home": {"learner"},
        "designer.home": {"designer", "admin"},
        "designer.deep_link": {"designer", "admin"},
        "designer.deep_link_submit": {"designer", "admin"},
        "manager.home": {"manager", "admin"},
        "manager.person": {"manager", "admin"},
        "manager.assign": {"manager", "admin"},
        "manager.confirm_end": {"manager", "admin"},
        "manager.end": {"manager", "admin"},
        "manager.decide": {"manager", "admin"},
        "manager.import_file": {"manager", "admin"},
        "courses.index": {"manager", "admin"},
        "courses.roster": {"manager", "admin"},
        "courses.refresh": {"manager", "admin"},
        "learner.choose_job_roles": {"learner"},
        "learner.plan": {"learner"},
        "learner.answer": {"learner"},
        "learner.report_done": {"learner"},
        "learner.activity": {"learner"},
        "manager.plan": {"manager", "admin"},
        "manager.add_plan_item": {"manager", "admin"},
        "manager.set_due_date": {"manager", "admin"},
        "manager.confirm_completion": {"manager", "admin"},
        "certification_design.confirm_completion": {"designer", "manager", "admin"},
        "designer.frameworks_page": {"designer", "admin"},
        "designer.import_framework": {"designer", "admin"},
        "designer.export_framework": {"designer", "admin"},
        "designer.publish": {"designer", "admin"},
        "designer.delete_competence": {"designer", "admin"},
        "designer.job_roles_page": {"designer", "admin"},
        "designer.add_requirement": {"designer", "admin"},
        "manager.units": {"manager", "admin"},
        "manager.create_unit": {"manager", "admin"},
        "manager.archive_unit": {"manager", "admin"},
        "admin.home": {"admin"},
        "admin.approve_deployment": {"admin"},
        "coordinator.home": {"coordinator", "admin"},
        "bookings.book": {"learner"},
        "bookings.cancel": {"learner"},
        "bookings.session_ics": {"learner"},
        "bookings.my_bookings": {"learner"},
        "bookings.renew_calendar": {"learner"},
        # the session's instructor (any launched person, checked on the session)
        "bookings.attendance_page": {"learner", "designer", "admin"},
        "bookings.record_attendance": {"learner", "designer", "admin"},
        "bookings.calendar_feed": {"public"},
        "privacy.my_data": {"learner", "coordinator", "designer", "manager", "admin"},
        "privacy.my_data_json": {"learner", "coordinator", "designer", "manager", "admin"},
        "privacy.people": {"admin"},
        "privacy.confirm_erase": {"admin"},
        "privacy.erase": {"admin"},
        "privacy.set_retention": {"admin"},
    }
    for endpoint, permissions in expected.items():
        assert set(app.view_functions[endpoint].access) == permissions, endpoint
    admin_endpoints = [r.endpoint for r in _rules(app) if r.endpoint.startswith("admin.")]
    assert len(admin_endpoints) > 20
    for endpoint in admin_endpoints:  # the whole console is for admins only
        assert app.view_functions[endpoint].access == ("admin",), endpoint
    for rule in _rules(app):  # every designer page is for designers and admins
        if rule.endpoint.startswith("designer."):
            assert set(app.view_functions[rule.endpoint].access) == {"designer", "admin"}


@pytest.mark.parametrize("path", GUARDED_GET_PAGES)
def test_anonymous_is_not_signed_in(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert "<code>not_signed_in</code>" in response.get_data(as_text=True)


def test_a_forged_launch_token_signs_nobody_in(client):
    assert client.get("/learner/", query_string={"lt": "forged.token.value"}).status_code == 401


@pytest.mark.parametrize("persona", list(ALLOWED))
def test_each_persona_sees_only_its_pages(app, lms, persona):
    client = TestLms.browser(app)  # a fresh browser per persona
    launched = lms.launch(client, persona)
    assert lms.landed(launched), launched.get_data(as_text=True)
    for path in PAGES:
        status = client.get(path).status_code
        expected = 200 if path in ALLOWED[persona] else 403
        assert status == expected, f"{persona} on {path}: {status}, expected {expected}"
        if status == 403:
            assert "<code>forbidden</code>" in client.get(path).get_data(as_text=True)


@pytest.mark.parametrize("persona", list(ALLOWED))
def test_launch_token_without_cookie_grants_the_same(app, lms, persona):
    """In an iframe without cookies the launch token is the sign-in (in the header, or the
    body of a POST navigation); same permissions."""
    token = launch_token_of(app, lms.storage_launch(TestLms.cookieless_browser(app), persona))
    cookieless = TestLms.cookieless_browser(app)
    for path in PAGES:
        expected = 200 if path in ALLOWED[persona] else 403
        status = cookieless.get(path, headers={"X-Launch-Token": token}).status_code
        assert status == expected, f"{persona} on {path} with the header: {status}"
        navigated = cookieless.post(path, data={"_navigate": "get", "lt": token}).status_code
        assert navigated == expected, f"{persona} on {path} by POST navigation: {navigated}"


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("learner", 403), ("manager", 403), ("designer", 400), ("admin", 400)],
)
def test_deep_link_page_needs_a_designer_in_a_deep_linking_launch(app, lms, persona, expected):
    client = TestLms.browser(app)
    lms.launch(client, persona)  # a resource-link launch, not deep linking
    assert client.get("/designer/deep-link").status_code == expected


def _csrf_token(app, client) -> str:
    """What flask-wtf's csrf_token() would put in a form of this browser's session."""
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture
def pending_deployment(app, lms):
    with app.app_context():
        session = get_session()
        platform = find_platform(session, lms.platform.issuer, lms.platform.client_id)
        deployment = record_deployment(session, platform, "cloned-course-7")
        session.commit()
        assert deployment.status == Status.PENDING
        return deployment.id


def _status(app, deployment_pk):
    with app.app_context():
        return get_deployment(get_session(), deployment_pk).status


@pytest.mark.parametrize("persona", ["learner", "designer", "manager"])
def test_only_admins_approve_deployments(app, lms, pending_deployment, persona):
    client = TestLms.browser(app)
    lms.launch(client, persona)
    response = client.post(
        f"/admin/deployments/{pending_deployment}/approve",
        data={"csrf_token": _csrf_token(app, client)},
    )
    assert response.status_code == 403
    assert _status(app, pending_deployment) == Status.PENDING


def test_anonymous_cannot_approve(app, lms, pending_deployment):
    client = TestLms.browser(app)
    response = client.post(
        f"/admin/deployments/{pending_deployment}/approve",
        data={"csrf_token": _csrf_token(app, client)},
    )
    assert response.status_code == 401
    assert _status(app, pending_deployment) == Status.PENDING


def test_admin_approves_with_a_csrf_token_only(app, lms, pending_deployment):
    client = TestLms.browser(app)
    lms.launch(client, "admin")
    url = f"/admin/deployments/{pending_deployment}/approve"
    assert client.post(url).status_code == 400  # no CSRF token
    assert _status(app, pending_deployment) == Status.PENDING
    page = client.get("/admin/").get_data(as_text=True)
    assert "cloned-course-7" in page
    response = client.post(url, data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert _status(app, pending_deployment) == Status.ACTIVE


#: Who may call the API through a launch (a token's scope decides for tokens).
API_DESIGN = {"designer", "admin"}
API_READ = {"designer", "manager", "admin"}
API_PEOPLE = {"manager", "admin"}


def test_api_guards_match_the_declared_access(app):
    """Content: designers change it, managers read it; the activity catalogue: designers;
    people (and units' coverage): managers; grants: admins; me: everyone; a learning plan:
    everyone launched, who then reaches their own only (or, a manager, their unit's)."""
    for rule in _rules(app):
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        access = set(view.access)
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if rule.endpoint == "api.openapi":
            assert access == {PUBLIC}
        elif rule.rule == "/api/v1/me/requirements":
            assert access == PERMISSION_VALUES and view.api_tokens is False
        elif rule.rule == "/api/v1/people/<int:person_id>/plan":  # the person's own too
            assert access == PERMISSION_VALUES and view.api_tokens is True
        elif rule.rule.startswith(("/api/v1/people", "/api/v1/assignments", "/api/v1/units")):
            assert access == API_PEOPLE, rule.rule
        elif rule.rule.startswith("/api/v1/grants"):
            assert access == {"admin"}, rule.rule
        elif rule.rule.startswith(("/api/v1/courses", "/api/v1/packages")):
            # the activity catalogue and content packages: designers'
            assert access == API_DESIGN, rule.rule
        elif rule.rule.startswith("/api/v1/coverage"):
            assert access == {"coordinator", "admin"}, rule.rule
        elif rule.rule.startswith("/api/v1/org-units"):
            assert access == (API_READ if methods == {"GET"} else API_PEOPLE), rule.rule
        else:
            assert access == (API_READ if methods == {"GET"} else API_DESIGN), rule.rule


@pytest.mark.parametrize(
    "path", ["/api/v1/frameworks", "/api/v1/people", "/api/v1/me/requirements"]
)
def test_api_without_token_or_launch_is_not_signed_in(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_signed_in"
