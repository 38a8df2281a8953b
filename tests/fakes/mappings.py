"""Skills mappings built the way a designer builds them: through the designer's pages.

Each helper posts the real form (with its CSRF token) and follows the redirect, so the
tests that use them also drive the item and mapping forms.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.lms import TestLms, parse_forms


def designer_browser(app: Any, lms: TestLms, persona: str = "designer") -> Any:
    browser = TestLms.browser(app)
    response = lms.launch(browser, persona, locale="en")
    assert lms.landed(response), response.get_data(as_text=True)
    return browser


def _form(page: str, path: str) -> dict[str, Any]:
    for form in parse_forms(page):
        if (form["action"] or "").split("?")[0] == path and form["method"] == "post":
            return form
    raise AssertionError(f"no form posting to {path}")


def post_form(browser: Any, page_url: str, path: str, **fields: Any) -> Any:
    page = browser.get(page_url)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = _form(page.get_data(as_text=True), path)
    data = {"csrf_token": form["fields"]["csrf_token"], **fields}
    return browser.post(form["action"], data=data)


def create_item(
    browser: Any,
    kind: str,
    stem: str,
    competences: dict[int, float],
    *,
    options: list[tuple[str, bool]] = (),  # type: ignore[assignment]
    numeric: list[tuple[float, float, float]] = (),  # type: ignore[assignment]
    code: str = "",
    **extra: Any,
) -> Any:
    """Post the item form; ``options`` are (text, right) rows, ``numeric`` (value,
    tolerance, credit %) rows, ``competences`` {competence id: weight}."""
    fields: dict[str, Any] = {"kind": kind, "code": code, "stem_nb": stem, "points": "1"}
    correct = []
    for n, (text, right) in enumerate(options, 1):
        fields[f"option_{n}_text_nb"] = text
        if right:
            correct.append(str(n))
    for n, (value, tolerance, credit) in enumerate(numeric, 1):
        fields[f"option_{n}_value"] = str(value).replace(".", ",")
        fields[f"option_{n}_tolerance"] = str(tolerance)
        fields[f"option_{n}_credit"] = str(credit)
    fields["correct"] = correct
    for n, (competence_id, weight) in enumerate(competences.items(), 1):
        fields[f"competence_{n}"] = str(competence_id)
        fields[f"weight_{n}"] = str(weight)
    fields.update(extra)
    return post_form(browser, f"/designer/items/new?kind={kind}", "/designer/items", **fields)


def create_mapping(browser: Any, code: str, title: str, **fields: Any) -> int:
    """Create a mapping through the form; returns its id."""
    response = post_form(
        browser,
        "/designer/mappings",
        "/designer/mappings",
        code=code,
        title_nb=title,
        **fields,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    found = re.search(r"/designer/mappings/(\d+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def add_all_items(browser: Any, mapping_id: int) -> None:
    page = browser.get(f"/designer/mappings/{mapping_id}").get_data(as_text=True)
    ids = re.findall(r'name="item_ids" type="checkbox" value="(\d+)"', page)
    response = post_form(
        browser,
        f"/designer/mappings/{mapping_id}",
        f"/designer/mappings/{mapping_id}/items",
        item_ids=ids,
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def publish(browser: Any, mapping_id: int) -> Any:
    return post_form(
        browser,
        f"/designer/mappings/{mapping_id}",
        f"/designer/mappings/{mapping_id}/publish",
    )


def start_attempt(
    app: Any, lms: TestLms, link_id: str, persona: str = "learner"
) -> tuple[Any, str]:
    """Launch the placed link as ``persona`` and press Start (or Continue). Returns the
    browser and the first item page's URL — or the start page's HTML when it offers no
    start (the rules refuse a new attempt)."""
    browser = TestLms.browser(app)
    response = lms.launch(browser, persona, link=link_id, locale="en")
    page = lms.landing_page(browser, response).get_data(as_text=True)
    forms = [f for f in parse_forms(page) if "/attempts" in (f["action"] or "")]
    if not forms:
        return browser, page
    response = browser.post(forms[0]["action"], data=forms[0]["fields"])
    return browser, response.headers["Location"]


def item_page_with(browser: Any, location: str, text: str) -> tuple[str, str]:
    """The URL and HTML of the attempt's item page that shows ``text`` (items may be in
    any order)."""
    base = location.split("/items/")[0]
    n = 1
    while True:
        url = f"{base}/items/{n}"
        response = browser.get(url)
        assert response.status_code == 200, f"no item page shows {text!r}"
        html = response.get_data(as_text=True)
        if text in html:
            return url, html
        n += 1
