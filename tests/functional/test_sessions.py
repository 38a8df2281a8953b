"""What a signed-in page trusts: the launch it was opened with, still-active platforms and
deployments, and the organisation of the launch's deployment."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.lms import TestLms


def cli(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def token_of(response: Any) -> str:
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))["lt"]


def test_each_tab_keeps_the_launch_it_was_opened_with(app, lms):
    browser = TestLms.browser(app)
    learner_tab = lms.launch(browser, "learner")
    learner_token = token_of(learner_tab)
    admin_tab = lms.launch(browser, "admin")  # a later launch, same browser, shared session
    assert browser.get(admin_tab.headers["Location"]).status_code == 200

    page = browser.get("/learner/", query_string={"lt": learner_token})
    assert page.status_code == 200
    assert f"lt={learner_token}" in page.get_data(as_text=True)  # links keep the tab's launch
    assert browser.get("/admin/", query_string={"lt": learner_token}).status_code == 403


def test_disabling_the_platform_ends_existing_sessions_and_tokens(app, lms):
    browser = TestLms.browser(app)
    response = lms.launch(browser, "learner")
    token = token_of(response)
    assert browser.get("/learner/").status_code == 200
    p = lms.platform
    cli(app, "platform", "disable", "--issuer", p.issuer, "--client-id", p.client_id)

    assert browser.get("/learner/").status_code == 403
    cookieless = TestLms.cookieless_browser(app)
    refused = cookieless.get("/learner/", query_string={"lt": token})
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
    page = first.get(lms.launch(first, "admin").headers["Location"]).get_data(as_text=True)
    assert "Testkommune" in page

    previous, p.deployment_id = p.deployment_id, "kommune-b"
    try:
        second = TestLms.browser(app)
        response = lms.launch(second, "admin")
    finally:
        p.deployment_id = previous
    page = second.get(response.headers["Location"]).get_data(as_text=True)
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
