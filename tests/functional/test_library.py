"""The regional library (issue 17): an organisation publishes a package version to its
region; the region's designers browse, search, preview and import it; the publisher
withdraws a version (copies stay); a regional coordinator hides one. Another region, or
none, sees nothing of it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from lti_tool import clock
from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.models import AuditEvent, GrantKind, Item, LibraryPackage, Organisation
from lti_tool.services import grants
from lti_tool.services.audit import Actor
from tests.fakes.lms import TestLms
from tests.fakes.mappings import designer_browser
from tests.functional.test_assignments import person_id
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


def published_in_region(
    app: Any, lms: Any, cli: Any, organisation_on_the_same_lms: Any
) -> tuple[Any, Any, int]:
    """Testkommune's designer publishes helse-basis 1.0.0 to the region it shares with
    Nabokommune: both designers' browsers and the package's id."""
    loaded(cli)
    here = designer_browser(app, lms)
    there = other_designer(app, lms, organisation_on_the_same_lms)
    regional(cli, "Testkommune", OTHER)
    assert publish(here, name="helse-basis", version="1.0.0").status_code == 302
    return here, there, package_id(app, "helse-basis", "1.0.0")


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
    here, there, pid = published_in_region(app, lms, cli, organisation_on_the_same_lms)
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
    assert lms.landed(lms.launch(admin, "admin", locale="en"))
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


def _coordinator(app: Any, lms: Any, organisation: str = "Testkommune") -> Any:
    """A learner of ``organisation`` made its region's coordinator, launched again."""
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "learner", locale="en"))
    with app.app_context():
        session = get_session()
        oid = org_id(app, organisation)
        grants.grant(
            session,
            oid,
            person_id=person_id(app, "101"),
            kind=GrantKind.COORDINATOR,
            region_id=session.get(Organisation, oid).region_id,
            reason="Moderates the library",
            by=Actor.system(oid),
            via="api",
        )
        session.commit()
    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "learner", locale="en"))
    return browser


def _hidden_rows(browser: Any) -> list[str]:
    page = browser.get(LIBRARY).get_data(as_text=True)
    section = page.split('id="hidden-title"', 1)
    return re.findall(r"<code>([^<]+)</code>", section[1]) if len(section) == 2 else []


def _audited(app: Any, action: str) -> list[dict[str, Any]]:
    with app.app_context():
        events = get_session().scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "library_package", AuditEvent.action == action
            )
        )
        return [dict(e.detail or {}) for e in events]


def test_a_coordinator_lists_hidden_packages_and_shows_one_again(
    app, lms, cli, organisation_on_the_same_lms
):
    here, there, pid = published_in_region(app, lms, cli, organisation_on_the_same_lms)
    moderator = _coordinator(app, lms)
    assert _hidden_rows(moderator) == []
    page = moderator.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    form = form_of(page, f"{LIBRARY}/{pid}/hide")
    hidden = moderator.post(
        form["action"], data={"csrf_token": form["fields"]["csrf_token"], "reason": "Feil lisens"}
    )
    assert hidden.status_code == 302
    assert _audited(app, "disable") == [
        {"name": "helse-basis", "version": "1.0.0", "reason": "Feil lisens"}
    ]
    # the coordinator sees it among the hidden, with its reason; designers see no such list
    assert _hidden_rows(moderator) == ["helse-basis"]
    assert "Feil lisens" in moderator.get(LIBRARY).get_data(as_text=True)
    assert _hidden_rows(here) == [] and _hidden_rows(there) == []
    assert listed(there) == []

    # designers, the publisher included, may not show it again
    page = moderator.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    show = form_of(page, f"{LIBRARY}/{pid}/show")
    for outsider in (here, there):
        token = form_of(outsider.get(LIBRARY).get_data(as_text=True), LIBRARY)
        refused = outsider.post(
            f"{LIBRARY}/{pid}/show", data={"csrf_token": token["fields"]["csrf_token"]}
        )
        assert refused.status_code == 403
    assert listed(there) == []

    shown = moderator.post(show["action"], data={"csrf_token": show["fields"]["csrf_token"]})
    assert shown.status_code == 302
    assert listed(there) == [("helse-basis", "1.0.0")]
    assert _hidden_rows(moderator) == []
    assert _audited(app, "enable") == [
        {"name": "helse-basis", "version": "1.0.0", "reason": "Feil lisens"}
    ]
    page = there.get(f"{LIBRARY}/{pid}").get_data(as_text=True)
    assert "Feil lisens" not in page and "To be created" in page


def test_a_coordinator_of_another_region_neither_sees_nor_shows_its_hidden_packages(
    app, lms, cli, organisation_on_the_same_lms
):
    loaded(cli)
    here = designer_browser(app, lms)
    regional(cli, "Testkommune")
    assert publish(here, name="helse-basis", version="1.0.0").status_code == 302
    pid = package_id(app, "helse-basis", "1.0.0")
    with app.app_context():
        session = get_session()
        found = session.get(LibraryPackage, pid)
        found.hidden_at, found.hidden_reason = clock.now(), "Feil lisens"
        session.commit()
    # an admin of Nabokommune, in another region
    organisation_on_the_same_lms(OTHER, "nabo-1")
    cli("region", "add", "Nord")
    cli("organisation", "set-region", OTHER, "--region", "Nord")
    admin = TestLms.browser(app)
    presentation = {"locale": "en", "document_target": "iframe"}
    launched = lms.signed_launch(
        admin, "admin", change={c.DEPLOYMENT_ID: "nabo-1", c.LAUNCH_PRESENTATION: presentation}
    )
    assert lms.landed(launched)
    assert _hidden_rows(admin) == []
    token = form_of(admin.get(LIBRARY).get_data(as_text=True), LIBRARY)
    csrf = token["fields"]["csrf_token"]
    refused = admin.post(f"{LIBRARY}/{pid}/show", data={"csrf_token": csrf})
    assert refused.status_code == 404
    with app.app_context():
        assert get_session().get(LibraryPackage, pid).hidden_at is not None
