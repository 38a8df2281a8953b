"""The launch answers with its landing page itself: no redirect, no token in any URL; the
page names its own address for the script to put in the address bar."""

from __future__ import annotations

import re

import pytest

from lti_tool.lti import claims as c
from tests.fakes.lms import TestLms
from tests.functional.test_certification_flow import build_certification


def _address(response) -> str:
    found = re.search(r'<meta name="page-address" content="([^"]+)">', response.get_data(True))
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1)


def test_a_launch_is_answered_with_its_start_page(lms, client):
    response = lms.launch(client, "learner")

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert _address(response) == "/learner/"
    assert 'name="launch-token"' not in response.get_data(as_text=True)  # the cookie works
    assert client.get("/learner/").status_code == 200  # a reload: a GET of its address


def test_a_placed_link_is_answered_with_its_page(lms, client):
    response = lms.signed_launch(client, "learner", change={c.CUSTOM: {"mapping": "nope"}})

    # the mapping does not exist: its page says so, the launch stands
    assert response.status_code == 404
    assert _address(response) == "/mappings/nope"
    assert client.get("/learner/").status_code == 200


def test_the_language_links_of_a_launched_page_go_to_its_address(lms, client):
    page = lms.launch(client, "learner").get_data(as_text=True)

    assert 'href="/learner/?lang=nn"' in page
    assert "/lti/launch?lang" not in page


def _heading(response) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", response.get_data(as_text=True), re.S)
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1).strip()


@pytest.mark.parametrize(
    ("custom", "address"),
    [
        ({"mapping": "sykepleier-kartlegging"}, "/mappings/sykepleier-kartlegging"),
        ({"certification": "legemiddel"}, "/certificates/certification/legemiddel"),
    ],
)
def test_a_placed_link_lands_on_its_page_with_its_blueprints_helpers(
    app, lms, care, custom, address
):
    """The page is made as the GET of its address makes it: its blueprint's template
    helpers too (a launch that ran the view under the launch's own rule failed with a 500)."""
    build_certification(app, lms, care)
    browser = TestLms.browser(app)

    response = lms.signed_launch(browser, "learner", change={c.CUSTOM: custom}, locale="en")

    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert _address(response) == address
    assert browser.get(address).get_data(as_text=True).count(_heading(response)) >= 1


def test_a_deep_linking_launch_lands_on_the_picker(lms, client):
    response = lms.launch(client, "designer", message_type=c.DEEP_LINKING_REQUEST)

    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert _address(response) == "/designer/deep-link"
