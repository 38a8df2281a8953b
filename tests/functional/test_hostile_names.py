"""Names and custom parameters as a hostile or careless LMS sends them (markup, 10,000
characters, bidirectional overrides, zero-width and combining characters, NUL, spreadsheet
formulas): the launch lands, and every page and export that shows them shows them as text.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from lti_tool.lti import claims as c
from lti_tool.models import GrantKind
from tests.fakes.lms import TestLms
from tests.functional.test_assignments import person_id
from tests.functional.test_grants import LEARNER, TEACHER, admin, give, org
from tests.functional.test_learner_requirements import launch

__all__ = ["org"]  # the fixture, used by the tests below

UNIT = "hjemmetjenesten"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
RTL = "Kari \u202eexe.txt\u202c Nilsen \u2067x\u2069"
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: (given name, family name): what each must look like when shown.
HOSTILE = {
    "markup": ("Ola", SCRIPT),
    "very long": ("Å" * 10_000, "Lang"),
    "bidi override": (RTL, "Hansen"),
    "zero width": ("Ka\u200bri\u200d", "N\ufeffilsen"),
    "combining marks": ("Z\u0351\u0352\u0353\u0354a\u0300\u0301\u0302lgo", "Ob\u0336\u0336"),
    "NUL": ("Ola\x00", "Nord\x00mann"),
    "formula =": ('=HYPERLINK("https://evil.example","x")', "A"),
    "formula +": ("+47 99 99 99 99", "B"),
    "formula -": ("-2+3", "C"),
    "formula @": ("@SUM(A1:A9)", "D"),
}


def harmless(html: str) -> None:
    """No markup from a name runs, and nothing a browser would misread is sent."""
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "\x00" not in html
    assert not BIDI_CONTROLS.search(html), "a bidirectional override reached the page"


def shown(given: str, family: str) -> str:
    """The name as the tool keeps it (NUL and bidi controls dropped), as escaped HTML's
    first characters."""
    text = BIDI_CONTROLS.sub("", given.replace("\x00", ""))
    return (
        text[:40]
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
    )


def hostile_learner(app: Any, lms: TestLms, given: str, family: str) -> Any:
    """The learner launches with this name and hostile custom parameters besides."""
    browser = TestLms.browser(app)
    response = lms.signed_launch(
        browser,
        "learner",
        change={
            "given_name": given,
            "family_name": family,
            "name": f"{given} {family}",
            c.CUSTOM: {
                "unit": UNIT,
                "job_role": "sykepleier",
                "course_label": SCRIPT + RTL + "\x00" + "x" * 10_000,
            },
        },
    )
    assert lms.landed(response), response.get_data(as_text=True)[:2000]
    return browser


def get(browser: Any, path: str) -> Any:
    response = browser.get(path, query_string={"lang": "en"})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response


@pytest.mark.parametrize(("given", "family"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_name_is_shown_as_text_on_every_page_that_lists_people(
    app, lms, org, given, family
):
    learner = hostile_learner(app, lms, given, family)
    teacher = TestLms.browser(app)
    launch(lms, teacher, "designer")
    give(app, org, TEACHER, GrantKind.MANAGER, unit_id=org["units"][UNIT])
    console = admin(app, lms)
    unit_id = org["units"][UNIT]
    pages = [
        (learner, "/learner/"),
        (teacher, "/manager/"),
        (teacher, f"/manager/units/{unit_id}/matrix"),
        (teacher, f"/manager/people/{person_id(app, LEARNER)}"),
        (console, "/admin/people"),
    ]
    for browser, path in pages:
        html = get(browser, path).get_data(as_text=True)
        harmless(html)
        if path != "/learner/":  # the lists name the learner, escaped
            assert shown(given, family) in html, path


@pytest.mark.parametrize(("given", "family"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_name_is_text_in_the_csv_and_the_workbook(app, lms, org, given, family):
    hostile_learner(app, lms, given, family)
    console = admin(app, lms)
    unit_id = org["units"][UNIT]

    body = get(console, f"/manager/units/{unit_id}/export.csv").get_data().decode("utf-8")
    cells = [
        cell
        for row in csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";")
        for cell in row
    ]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))], cells[:20]
    assert not [cell for cell in cells if "\x00" in cell or BIDI_CONTROLS.search(cell)]
    expected = BIDI_CONTROLS.sub("", given.replace("\x00", ""))[:40]
    names = [cell for cell in cells if cell.lstrip("'").startswith(expected)]
    assert names, cells[:20]
    if expected.startswith(("=", "+", "-", "@")):
        assert all(cell.startswith("'") for cell in names)  # shown as text, not run

    book = load_workbook(
        io.BytesIO(get(console, f"/manager/units/{unit_id}/export.xlsx").get_data())
    )
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate}: {cell.value}"
