"""The regional library (issue 17): an organisation publishes a package version to its
region; the region's designers browse, search, preview and import it; the publisher
withdraws a version (copies stay); a regional coordinator hides one. Another region, or
none, sees nothing of it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.models import Item, LibraryPackage
from tests.fakes.lms import TestLms
from tests.fakes.mappings import designer_browser
from tests.functional.test_packages import (
    OTHER,
    confirm,
    content,
    form_of,
    loaded,
    org_id,
    other_designer,
)

LIBRARY = "/designer/library"


def publish(browser: Any, **fields: Any) -> Any:
    form = form_of(browser.get(LIBRARY).get_data(as_text=True), LIBRARY)
    return browser.post(form["action"], data={"csrf_token": form["fields"]["csrf_token"], **fields})


def package_id(app: Any, name: str, version: str) -> int:
    with app.app_context():
        found = get_session().scalar(
            select(LibraryPackage.id).where(
                LibraryPackage.name == name, LibraryPackage.version == version
            )
        )
        assert found is not None
        return int(found)


def listed(browser: Any, query: str = "") -> list[str]:
    page = browser.get(LIBRARY, query_string={"q": query} if query else {})
    assert page.status_code == 200
    return re.findall(r"<code>([^<]+)</code></a></th><td>([^<]+)</td>", page.get_data(as_text=True))


def regional(cli: Any, *organisations: str) -> None:
    cli("region", "add", "Vest")
    for name in organisations:
        cli("organisation", "set-region", name, "--region", "Vest")


def test_a_package_published_to_the_region_is_found_previewed_and_imported(
    app, lms, cli, organisation_on_the_same_lms
):
    loaded(cli)
    here = designer_browser(app, lms)
    there = other_designer(app, lms, organisation_on_the_same_lms)
    regional(cli, "Testkommune", OTHER)
    done = publish(here, name="helse-basis", version="1.0.0", title="Helse: grunnpakke")
    assert done.status_code == 302, done.get_data(as_text=True)
    again = publish(here, name="helse-basis", version="1.0.0")
    assert again.status_code == 409
    assert "already has version 1.0.0" in again.get_data(as_text=True)

    assert listed(there) == [("helse-basis", "1.0.0")]
    # search by title, by a competence's title, by a job role; and what is not in it
    assert listed(there, "grunnpakke") == [("helse-basis", "1.0.0")]
    assert listed(there, "phishing") == [("helse-basis", "1.0.0")]
    assert listed(there, "alle ansatte") == [("helse-basis", "1.0.0")]
    assert listed(there, "astrofysikk") == []

    pid = package_id(app, "helse-basis", "1.0.0")
    page = there.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    assert "Testkommune" in page and "To be created" in page
    assert "Withdraw" not in page  # not theirs
    imported = confirm(there, page)
    assert imported.status_code == 302
    assert content(app, OTHER) == content(app, "Testkommune")
    download = there.get(f"{LIBRARY}/{pid}/download")
    assert download.mimetype == "application/zip"


def test_the_publisher_withdraws_a_version_and_imported_copies_stay(
    app, lms, cli, organisation_on_the_same_lms
):
    loaded(cli)
    here = designer_browser(app, lms)
    there = other_designer(app, lms, organisation_on_the_same_lms)
    regional(cli, "Testkommune", OTHER)
    assert publish(here, name="helse-basis", version="1.0.0").status_code == 302
    pid = package_id(app, "helse-basis", "1.0.0")
    assert confirm(there, there.get(f"{LIBRARY}/{pid}").get_data(as_text=True)).status_code == 302

    # only the publisher withdraws
    form = form_of(there.get(LIBRARY).get_data(as_text=True), LIBRARY)
    refused = there.post(
        f"{LIBRARY}/{pid}/withdraw", data={"csrf_token": form["fields"]["csrf_token"]}
    )
    assert refused.status_code == 404
    page = here.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    withdrawn = here.post(
        form_of(page, f"{LIBRARY}/{pid}/withdraw")["action"],
        data={"csrf_token": form_of(page, f"{LIBRARY}/{pid}/withdraw")["fields"]["csrf_token"]},
    )
    assert withdrawn.status_code == 302
    assert listed(there) == []
    gone = there.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    assert "Withdrawn by its publisher" in gone and "To be created" not in gone
    with app.app_context():
        kept = get_session().scalars(select(Item).where(Item.organisation_id == org_id(app, OTHER)))
        assert len(kept.all()) > 0


def test_a_coordinator_hides_a_package(app, lms, cli, organisation_on_the_same_lms):
    loaded(cli)
    here = designer_browser(app, lms)
    regional(cli, "Testkommune")
    assert publish(here, name="helse-basis", version="1.0.0").status_code == 302
    pid = package_id(app, "helse-basis", "1.0.0")
    admin = TestLms.browser(app)
    assert lms.launch(admin, "admin", locale="en").status_code == 302
    page = admin.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    form = form_of(page, f"{LIBRARY}/{pid}/hide")
    empty = admin.post(form["action"], data={"csrf_token": form["fields"]["csrf_token"]})
    assert empty.status_code == 302 and listed(here) == [("helse-basis", "1.0.0")]
    hidden = admin.post(
        form["action"],
        data={"csrf_token": form["fields"]["csrf_token"], "reason": "Feil lisens"},
    )
    assert hidden.status_code == 302
    assert listed(here) == []
    assert "Feil lisens" in here.get(f"{LIBRARY}/{pid}").get_data(as_text=True)


def test_outside_the_region_nothing_is_seen_and_nothing_published(
    app, lms, cli, organisation_on_the_same_lms
):
    loaded(cli)
    here = designer_browser(app, lms)
    there = other_designer(app, lms, organisation_on_the_same_lms)
    # Nabokommune is in no region: no library, and a clear word on sharing by hand
    page = there.get(LIBRARY).get_data(as_text=True)
    assert "share the package file by hand" in page
    regional(cli, "Testkommune")
    assert publish(here, name="helse-basis", version="1.0.0").status_code == 302
    pid = package_id(app, "helse-basis", "1.0.0")
    assert there.get(f"{LIBRARY}/{pid}").status_code == 404
    assert there.get(f"{LIBRARY}/{pid}/download").status_code == 404
    # in another region, still nothing
    cli("region", "add", "Nord")
    cli("organisation", "set-region", OTHER, "--region", "Nord")
    assert listed(there) == []
    assert there.get(f"{LIBRARY}/{pid}").status_code == 404
