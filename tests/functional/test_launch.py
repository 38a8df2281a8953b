"""Successful launches from the test LMS, end to end through HTTP."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("persona", "landing"),
    [
        ("learner", "/learner/"),
        ("designer", "/designer/"),
        ("manager", "/manager/"),
        ("admin", "/admin/"),
    ],
)
def test_each_permission_lands_on_its_page(lms, client, persona, landing):
    response = lms.launch(client, persona)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].split("?")[0].endswith(landing)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Demo" in page.get_data(as_text=True)
