"""The manager's page for sectors, departments and units, driven over HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import OrgUnit
from tests.fakes.lms import TestLms
from tests.functional.test_admin_console import follow, get_page, submit


def manager(app: Any, lms: TestLms, persona: str = "admin") -> Any:
    """The organisation's structure is its admin's (a manager by LMS role manages no unit)."""
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, persona, locale="en"))
    return browser


def unit_named(app: Any, name: str) -> OrgUnit:
    with app.app_context():
        found = get_session().scalar(select(OrgUnit).where(OrgUnit.name == name))
        assert found is not None
        get_session().expunge(found)
        return found


def test_create_rename_move_and_archive_units(app, lms):
    browser = manager(app, lms)
    home = get_page(browser, "/manager/")
    assert "/manager/units" in home
    page = get_page(browser, "/manager/units")
    assert "No sectors, departments or units yet." in page

    follow(
        browser, submit(browser, page, "/manager/units", kind="sector", name="Helse", code="helse")
    )
    page = get_page(browser, "/manager/units")
    sector = unit_named(app, "Helse")
    follow(browser, submit(
        browser, page, "/manager/units", kind="unit", name="Hjemmetjenesten", code="hjem",
        parent_id=str(sector.id),
    ))  # fmt: skip
    # a taken code and a sector under a sector are shown by their fields
    response = submit(browser, page, "/manager/units", kind="unit", name="X", code="HJEM")
    assert response.status_code == 422
    assert "already has the code HJEM" in response.get_data(as_text=True)
    response = submit(
        browser, page, "/manager/units", kind="sector", name="Y", code="y", parent_id=str(sector.id)
    )
    assert response.status_code == 422
    assert 'id="unit-parent_id-error"' in response.get_data(as_text=True)

    page = get_page(browser, "/manager/units")
    assert re.search(r"Helse</a>.*<ul.*Hjemmetjenesten</a>", page, re.S)
    unit = unit_named(app, "Hjemmetjenesten")
    assert unit.parent_id == sector.id

    unit_page = get_page(browser, f"/manager/units/{unit.id}")
    follow(browser, submit(
        browser, unit_page, f"/manager/units/{unit.id}", name="Hjemmesykepleien", code="hjem"
    ))  # fmt: skip
    follow(browser, submit(browser, unit_page, f"/manager/units/{unit.id}/move", parent_id=""))
    moved = unit_named(app, "Hjemmesykepleien")
    assert moved.parent_id is None

    confirm = get_page(browser, f"/manager/units/{unit.id}/archive")
    assert "Archive Hjemmesykepleien?" in confirm
    follow(browser, submit(browser, confirm, f"/manager/units/{unit.id}/archive"))
    assert unit_named(app, "Hjemmesykepleien").archived
    page = get_page(browser, f"/manager/units/{unit.id}")
    follow(browser, submit(browser, page, f"/manager/units/{unit.id}/restore"))
    assert not unit_named(app, "Hjemmesykepleien").archived


@pytest.mark.parametrize("persona", ["learner", "designer"])
def test_learners_and_designers_are_refused(app, lms, persona):
    browser = manager(app, lms, persona)
    assert browser.get("/manager/units").status_code == 403
