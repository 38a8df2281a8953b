"""Successful launches from the test LMS, end to end through HTTP."""

from __future__ import annotations

import re

import pytest

from tests.fakes.lms import page_address


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found, html
    return found.group(1).strip()


@pytest.mark.parametrize(
    ("persona", "landing", "title"),
    [
        ("learner", "/learner/", "My competence"),
        ("designer", "/designer/", "Course design"),
        ("manager", "/manager/", "My unit"),
        ("admin", "/admin/", "Administration"),
    ],
)
def test_each_permission_lands_on_its_page(lms, client, persona, landing, title):
    """The launch POST answers with the person's start page itself (no redirect), which
    stands for its own address: that address, got again, is the same page."""
    response = lms.launch(client, persona, locale="en")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert lms.landing_path(response) == landing
    html = response.get_data(as_text=True)
    assert _title(html) == f"{title} – Læringsløp"
    assert "Demo" in html
    again = client.get(landing)
    assert again.status_code == 200
    assert _title(again.get_data(as_text=True)) == _title(html)
    assert page_address(again.get_data(as_text=True)) is None  # a GET is at its address
