"""Deployments: new ones wait for approval by their own organisation's admin, unless the
organisation activates them at once; disabled platforms are refused; launches are counted."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import undefer_group

from lti_tool.db import get_session
from lti_tool.lti.demo_platform import DemoPlatform
from lti_tool.models import Deployment, Launch, Platform, Status
from lti_tool.services import platforms
from tests.conftest import TOOL_BASE_URL
from tests.fakes.lms import TestLms, csrf_token, parse_forms
from tests.functional.token_browsing import CookielessTab

NEW_DEPLOYMENT = "cloned-course-77"


# --- helpers --------------------------------------------------------------------------


@contextlib.contextmanager
def deployment(lms: TestLms, deployment_id: str) -> Iterator[None]:
    """Have the platform log in and launch with another deployment id (a cloned course)."""
    previous = lms.platform.deployment_id
    lms.platform.deployment_id = deployment_id
    try:
        yield
    finally:
        lms.platform.deployment_id = previous


def launch_into(lms: TestLms, client: Any, deployment_id: str, persona: str = "learner") -> Any:
    with deployment(lms, deployment_id):
        return lms.launch(client, persona)


def other_lms(
    platform_pem: bytes, mocked_http: Any, issuer: str, client_id: str, deployment_id: str
) -> TestLms:
    """Another LMS (another issuer, its own JWKS URL), not yet registered with the tool."""
    platform = DemoPlatform(
        issuer=issuer,
        client_id=client_id,
        deployment_id=deployment_id,
        private_pem=platform_pem,
        kid="other-platform-key",
        tool_launch_url=TOOL_BASE_URL + "/lti/launch",
        tool_login_url=TOOL_BASE_URL + "/lti/login",
    )
    return TestLms(platform, mocked_http)


def find_deployment(app: Any, issuer: str, deployment_id: str) -> Deployment | None:
    with app.app_context():
        return get_session().scalar(
            select(Deployment)
            .join(Platform)
            .where(Platform.issuer == issuer, Deployment.deployment_id == deployment_id)
            .options(undefer_group("launches"))  # counted from the launches, read now
        )


class _Rows(HTMLParser):
    """Each table row of a page as its cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def deployment_row(page: str, deployment_id: str) -> dict[str, str] | None:
    """The admin page's row for a deployment, by column heading."""
    parser = _Rows()
    parser.feed(page)
    heading, *rows = parser.rows
    for row in rows:
        if len(row) > 1 and row[1] == deployment_id:
            return dict(zip(heading, row, strict=True))
    return None


def approve_form(app: Any, page: str, issuer: str, deployment_id: str) -> dict[str, Any]:
    """The page's approve form for that deployment (found by its primary key)."""
    pk = find_deployment(app, issuer, deployment_id).id
    for form in parse_forms(page):
        if (form["action"] or "").split("?")[0] == f"/admin/deployments/{pk}/approve":
            return form
    raise AssertionError(f"no approve form for {deployment_id}")


def admin_session(lms: TestLms, app: Any) -> Any:
    browser = TestLms.browser(app)
    response = lms.launch(browser, "admin", locale="en")  # the page's words, in English
    assert lms.landed(response), response.get_data(as_text=True)
    assert lms.landing_path(response).endswith("/admin/")
    return browser


def cli(app: Any, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def cli_add_platform(app: Any, lms: TestLms, organisation: str) -> None:
    """`flask platform add` for that LMS, with no deployment named."""
    p = lms.platform
    cli(
        app, "platform", "add",
        "--issuer", p.issuer,
        "--client-id", p.client_id,
        "--auth-url", p.auth_url,
        "--token-url", p.token_url,
        "--jwks-url", p.jwks_url,
        "--organisation", organisation,
    )  # fmt: skip


# --- pending deployments ----------------------------------------------------------------


def test_unknown_deployment_is_recorded_pending_and_refused(app, lms, client):
    response = launch_into(lms, client, NEW_DEPLOYMENT)

    assert response.status_code == 403
    assert "deployment_pending" in response.get_data(as_text=True)
    assert client.get("/learner/").status_code == 401  # nobody signed in
    recorded = find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT)
    assert recorded is not None
    assert recorded.status == Status.PENDING
    assert recorded.approved_at is None
    assert recorded.recent_launch_count == 0


def test_pending_deployment_stays_pending_on_the_next_launch(app, lms, client):
    launch_into(lms, client, NEW_DEPLOYMENT)

    again = launch_into(lms, client, NEW_DEPLOYMENT)

    assert again.status_code == 403
    assert "deployment_pending" in again.get_data(as_text=True)
    with app.app_context():
        count = len(
            get_session()
            .scalars(select(Deployment).where(Deployment.deployment_id == NEW_DEPLOYMENT))
            .all()
        )
    assert count == 1


def test_admin_approves_a_pending_deployment(app, lms, client):
    assert launch_into(lms, client, NEW_DEPLOYMENT).status_code == 403
    admin = admin_session(lms, app)

    page = admin.get("/admin/").get_data(as_text=True)
    row = deployment_row(page, NEW_DEPLOYMENT)
    assert row is not None, page
    assert row["Status"] == "Awaiting approval"
    form = approve_form(app, page, lms.platform.issuer, NEW_DEPLOYMENT)
    assert form["fields"]["csrf_token"] == csrf_token(page)

    approved = admin.post(form["action"], data=form["fields"])

    assert approved.status_code == 302, approved.get_data(as_text=True)
    after = admin.get(approved.headers["Location"]).get_data(as_text=True)
    assert f"Deployment {NEW_DEPLOYMENT} is approved." in after
    assert deployment_row(after, NEW_DEPLOYMENT)["Status"] == "Active"
    recorded = find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT)
    assert recorded.status == Status.ACTIVE
    assert recorded.approved_at is not None

    learner = TestLms.browser(app)
    response = launch_into(lms, learner, NEW_DEPLOYMENT)
    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert lms.landing_path(response) == "/learner/"
    assert learner.get("/learner/").status_code == 200


def test_approval_needs_the_csrf_token(app, lms, client):
    launch_into(lms, client, NEW_DEPLOYMENT)
    admin = admin_session(lms, app)
    page = admin.get("/admin/").get_data(as_text=True)
    form = approve_form(app, page, lms.platform.issuer, NEW_DEPLOYMENT)

    refused = admin.post(form["action"], data={})

    assert refused.status_code == 400
    assert find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT).status == Status.PENDING


def test_non_admin_cannot_approve(app, lms, client):
    launch_into(lms, client, NEW_DEPLOYMENT)
    admin_page = admin_session(lms, app).get("/admin/").get_data(as_text=True)
    form = approve_form(app, admin_page, lms.platform.issuer, NEW_DEPLOYMENT)
    designer = TestLms.browser(app)
    launched = lms.launch(designer, "designer", message_type="LtiDeepLinkingRequest")
    assert lms.landing_path(launched) == "/designer/deep-link"  # the picker
    # A valid CSRF token of the designer's own session, so only the permission refuses.
    token = csrf_token(lms.landing_page(designer, launched).get_data(as_text=True))

    assert designer.get("/admin/").status_code == 403
    refused = designer.post(form["action"], data={"csrf_token": token})

    assert refused.status_code == 403
    assert find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT).status == Status.PENDING


def test_admin_approves_without_cookies(app, lms, client):
    """Inside an iframe that drops cookies the admin's form posts back with the launch token."""
    assert launch_into(lms, client, NEW_DEPLOYMENT).status_code == 403
    admin = TestLms.cookieless_browser(app)
    launched = lms.storage_launch(admin, "admin")
    assert lms.landed(launched), launched.get_data(as_text=True)
    tab = CookielessTab(app, launched)
    form = approve_form(app, tab.html, lms.platform.issuer, NEW_DEPLOYMENT)
    assert "lt=" not in form["action"]

    approved = tab.submit(form)  # the token in the body, as the page's script adds it

    assert approved.status_code == 200, approved.get_data(as_text=True)  # back to the page
    assert tab.visited[-2][1].status_code == 200  # the redirect, carried over by POST
    assert find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT).status == Status.ACTIVE


@pytest.fixture
def other_organisation(app, platform_pem, mocked_http) -> TestLms:
    """A second platform, registered for another organisation, with an active deployment."""
    other = other_lms(
        platform_pem, mocked_http, "https://canvas.example", "client-456", "other-dep-1"
    )
    with app.app_context():
        platforms.register_platform(
            get_session(),
            issuer=other.platform.issuer,
            client_id=other.platform.client_id,
            auth_login_url=other.platform.auth_url,
            auth_token_url=other.platform.token_url,
            jwks_url=other.platform.jwks_url,
            organisation_name="Annenkommune",
            deployment_ids=[other.platform.deployment_id],
        )
        get_session().commit()
    return other


def test_admin_of_another_organisation_cannot_see_or_approve(app, lms, client, other_organisation):
    launch_into(lms, client, NEW_DEPLOYMENT)
    pending = find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT)
    # The other organisation has a pending deployment of its own (so its page has a form).
    assert launch_into(other_organisation, TestLms.browser(app), "other-new").status_code == 403
    stranger = admin_session(other_organisation, app)

    page = stranger.get("/admin/").get_data(as_text=True)
    assert "Annenkommune" in page
    assert deployment_row(page, "other-dep-1") is not None  # sees its own
    assert deployment_row(page, "other-new")["Status"] == "Awaiting approval"
    assert NEW_DEPLOYMENT not in page
    assert "moodle.example" not in page
    refused = stranger.post(
        f"/admin/deployments/{pending.id}/approve", data={"csrf_token": csrf_token(page)}
    )

    assert refused.status_code == 404
    assert find_deployment(app, lms.platform.issuer, NEW_DEPLOYMENT).status == Status.PENDING
    assert launch_into(lms, TestLms.browser(app), NEW_DEPLOYMENT).status_code == 403


def test_approving_an_unknown_deployment_is_not_found(app, lms, client):
    launch_into(lms, client, NEW_DEPLOYMENT)  # so the page has an approve form and a token
    admin = admin_session(lms, app)
    page = admin.get("/admin/").get_data(as_text=True)

    refused = admin.post("/admin/deployments/999999/approve", data={"csrf_token": csrf_token(page)})

    assert refused.status_code == 404


# --- organisation policy and platform status (CLI) ---------------------------------------


def test_auto_activate_organisation_accepts_new_deployments_at_once(
    app, lms, platform_pem, mocked_http
):
    other = other_lms(platform_pem, mocked_http, "https://lms.auto.example", "auto-1", "d-new")
    cli(app, "organisation", "add", "Raskkommune", "--auto-activate")
    cli_add_platform(app, other, "Raskkommune")
    assert find_deployment(app, other.platform.issuer, "d-new") is None

    browser = TestLms.browser(app)
    response = other.launch(browser, "learner")

    assert other.landed(response), response.get_data(as_text=True)
    assert other.landing_page(browser, response).status_code == 200
    recorded = find_deployment(app, other.platform.issuer, "d-new")
    assert recorded.status == Status.ACTIVE
    assert recorded.approved_at is not None
    assert recorded.recent_launch_count == 1


def test_organisation_without_auto_activate_keeps_new_deployments_pending(
    app, lms, platform_pem, mocked_http
):
    other = other_lms(platform_pem, mocked_http, "https://lms.slow.example", "slow-1", "d-new")
    cli(app, "organisation", "add", "Tregkommune")
    cli_add_platform(app, other, "Tregkommune")

    response = other.launch(TestLms.browser(app), "learner")

    assert response.status_code == 403
    assert "deployment_pending" in response.get_data(as_text=True)


def test_disabled_platform_refuses_login(app, lms, client):
    assert lms.landed(lms.launch(TestLms.browser(app), "learner"))
    cli(
        app, "platform", "disable",
        "--issuer", lms.platform.issuer, "--client-id", lms.platform.client_id,
    )  # fmt: skip

    login = lms.login(client, "learner")

    assert login.response.status_code == 403
    assert "platform_disabled" in login.response.get_data(as_text=True)
    assert "Location" not in login.response.headers
    assert not login.response.headers.getlist("Set-Cookie")


def test_platform_disabled_between_login_and_launch_refuses_the_launch(app, lms, client):
    login = lms.login(client, "learner")
    form = lms.authorize(login)
    cli(
        app, "platform", "disable",
        "--issuer", lms.platform.issuer, "--client-id", lms.platform.client_id,
    )  # fmt: skip

    response = lms.post_launch(client, form)

    assert response.status_code == 403
    assert "platform_disabled" in response.get_data(as_text=True)


def test_enabled_again_platform_accepts_launches(app, lms, client):
    args = ("--issuer", lms.platform.issuer, "--client-id", lms.platform.client_id)
    cli(app, "platform", "disable", *args)
    cli(app, "platform", "enable", *args)

    assert lms.landed(lms.launch(client, "learner"))


# --- launch counters --------------------------------------------------------------------


def _set_last_launch(app: Any, deployment_pk: int, when: dt.datetime) -> None:
    """Move the deployment's launches back to ``when`` (the last launch is read from them)."""
    with app.app_context():
        get_session().execute(
            update(Launch).where(Launch.deployment_pk == deployment_pk).values(created_at=when)
        )
        get_session().commit()


def test_launches_are_counted_on_the_deployment(app, lms):
    admin = admin_session(lms, app)  # launch 1
    page = admin.get("/admin/").get_data(as_text=True)
    assert deployment_row(page, lms.platform.deployment_id)["Launches, last 30 days"] == "1"
    first = find_deployment(app, lms.platform.issuer, lms.platform.deployment_id)
    assert first.recent_launch_count == 1
    assert first.last_launch_at is not None
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    _set_last_launch(app, first.id, an_hour_ago)

    for persona in ("learner", "designer"):
        assert lms.landed(lms.launch(TestLms.browser(app), persona))

    page = admin.get("/admin/").get_data(as_text=True)
    assert deployment_row(page, lms.platform.deployment_id)["Launches, last 30 days"] == "3"
    later = find_deployment(app, lms.platform.issuer, lms.platform.deployment_id)
    assert later.recent_launch_count == 3
    assert later.last_launch_at > an_hour_ago + dt.timedelta(minutes=59)


def test_the_console_counts_the_last_30_days_and_shows_an_older_last_launch(app, lms):
    """Counting every launch ever would grow without end; the last launch is any age."""
    admin = admin_session(lms, app)
    first = find_deployment(app, lms.platform.issuer, lms.platform.deployment_id)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    _set_last_launch(app, first.id, long_ago)  # the admin's launch, 31 days ago

    page = admin.get("/admin/?lang=en").get_data(as_text=True)
    row = deployment_row(page, lms.platform.deployment_id)
    assert row["Launches, last 30 days"] == "0"
    assert row["Last launch"] != "never"
    older = find_deployment(app, lms.platform.issuer, lms.platform.deployment_id)
    assert older.recent_launch_count == 0
    assert older.last_launch_at < dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    almost = dt.datetime.now(dt.UTC) - dt.timedelta(days=29, hours=23)
    _set_last_launch(app, first.id, almost)
    page = admin.get("/admin/?lang=en").get_data(as_text=True)
    assert deployment_row(page, lms.platform.deployment_id)["Launches, last 30 days"] == "1"


def test_refused_launches_are_not_counted(app, lms, client):
    login = lms.login(client, "learner")
    form = lms.authorize(login)
    assert lms.landing_path(lms.post_launch(client, form)) == "/learner/"
    assert lms.post_launch(client, form).status_code == 401  # the same id_token again

    recorded = find_deployment(app, lms.platform.issuer, lms.platform.deployment_id)
    assert recorded.recent_launch_count == 1
