"""What a signed-in page trusts: the launch it was opened with, still-active platforms and
deployments, and the organisation of the launch's deployment."""

from __future__ import annotations

from typing import Any

from tests.fakes.lms import TestLms
from tests.functional.token_browsing import launch_token_of, page_token


def cli(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_tab_with_its_launch_token_keeps_its_launch(app, lms):
    """A tab carrying its token (header or POST navigation) keeps the launch it was opened
    with after a later launch in the same browser changed the shared session; its pages
    carry the token on, since the cookie now holds another launch."""
    browser = TestLms.browser(app)
    assert lms.landing_path(lms.launch(browser, "learner")) == "/learner/"
    # the learner's tab, a frame that proved itself by platform storage: its token
    learner_token = launch_token_of(
        app, lms.storage_launch(TestLms.cookieless_browser(app), "learner")
    )
    admin_tab = lms.launch(browser, "admin")  # a later launch, same browser, shared session
    assert lms.landing_path(admin_tab) == "/admin/"

    page = browser.post("/learner/", data={"_navigate": "get", "lt": learner_token})
    assert page.status_code == 200
    assert page_token(page.get_data(as_text=True)) == learner_token  # carried on, not in links
    assert "lt=" not in page.get_data(as_text=True)
    assert browser.get("/admin/", headers={"X-Launch-Token": learner_token}).status_code == 403
    assert browser.get("/admin/").status_code == 200  # the cookie: the later launch
    assert page_token(browser.get("/admin/").get_data(as_text=True)) is None


def test_disabling_the_platform_ends_existing_sessions_and_tokens(app, lms):
    browser = TestLms.browser(app)
    assert lms.landing_path(lms.launch(browser, "learner")) == "/learner/"
    token = launch_token_of(app, lms.storage_launch(TestLms.cookieless_browser(app), "learner"))
    assert browser.get("/learner/").status_code == 200
    p = lms.platform
    cli(app, "platform", "disable", "--issuer", p.issuer, "--client-id", p.client_id)

    assert browser.get("/learner/").status_code == 403
    cookieless = TestLms.cookieless_browser(app)
    refused = cookieless.get("/learner/", headers={"X-Launch-Token": token})
    assert refused.status_code == 403
    assert "<code>platform_disabled</code>" in refused.get_data(as_text=True)


def test_admin_acts_for_the_organisation_of_the_launch_deployment(app, lms):
    """The same person, launched through another municipality's deployment, acts for it."""
    p = lms.platform
    cli(
        app, "platform", "add", "--issuer", p.issuer, "--client-id", p.client_id,
        "--auth-url", p.auth_url, "--token-url", p.token_url, "--jwks-url", p.jwks_url,
        "--deployment", "kommune-b", "--organisation", "Kommune B",
    )  # fmt: skip
    first = TestLms.browser(app)
    page = lms.landing_html(first, lms.launch(first, "admin"))
    assert "Testkommune" in page

    previous, p.deployment_id = p.deployment_id, "kommune-b"
    try:
        second = TestLms.browser(app)
        response = lms.launch(second, "admin")
    finally:
        p.deployment_id = previous
    page = lms.landing_page(second, response).get_data(as_text=True)
    assert "Kommune B" in page.split("<h2", 1)[0]  # the "signed in as … · organisation" line


def test_platform_add_again_keeps_the_owner_and_the_status(app, lms):
    p = lms.platform
    cli(app, "platform", "disable", "--issuer", p.issuer, "--client-id", p.client_id)
    cli(
        app, "platform", "add", "--issuer", p.issuer, "--client-id", p.client_id,
        "--auth-url", p.auth_url, "--token-url", p.token_url, "--jwks-url", p.jwks_url,
        "--deployment", "kommune-b", "--organisation", "Kommune B",
    )  # fmt: skip
    listing = cli(app, "platform", "list")
    platform_line = next(
        line for line in listing.splitlines() if not line.startswith("\t") and p.issuer in line
    )
    assert "\tdisabled\t" in platform_line and platform_line.endswith("Testkommune")
    deployment_line = next(line for line in listing.splitlines() if "kommune-b" in line)
    assert "Kommune B" in deployment_line
