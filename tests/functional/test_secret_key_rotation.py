"""A new SECRET_KEY without signing everyone out: the one it replaces in
SECRET_KEY_FALLBACKS is still accepted, never signed with.

The ``app`` fixture is the tool before the change (its key, ``OLD``); ``make_app`` makes the
same tool after it, on the same database and Redis, as a restarted host would be. The
browser is carried over (its session cookie, or a cookie-less tab's launch token).
"""

from __future__ import annotations

from typing import Any

import pytest

from lti_tool.settings import DEVELOPMENT_SECRET_KEY, SettingsError, load_settings
from tests.fakes.lms import TestLms, parse_forms
from tests.fakes.mappings import designer_browser
from tests.functional import test_packages as packages
from tests.functional.test_question_import import CONFIRM, XML, _count, _form, preview
from tests.functional.token_browsing import CookielessTab

NEW = "new-secret-key-new-secret-key-new-secret-key"


@pytest.fixture
def old_key(settings_overrides: dict[str, Any]) -> str:
    return str(settings_overrides["SECRET_KEY"])


def test_a_session_and_an_open_form_outlast_the_new_key(app, lms, make_app, old_key):
    """A designer signed in before the change stays signed in, and the form the page showed
    then is accepted after it (its CSRF token was signed with the old key). The answer is
    signed with the new key: the old one can then go."""
    before = designer_browser(app, lms)
    page = before.get("/designer/frameworks").get_data(as_text=True)
    (create,) = [f for f in parse_forms(page) if f["action"].endswith("/designer/frameworks")]

    signed_out = TestLms.same_browser_on(before, make_app(SECRET_KEY=NEW))  # no fallback: as before
    assert signed_out.get("/designer/").status_code == 401

    rotated = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=old_key)
    after = TestLms.same_browser_on(before, rotated)
    assert after.get("/designer/").status_code == 200
    created = after.post(
        create["action"], data={**create["fields"], "code": "ks", "title_nb": "Kurs"}
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    assert "Kurs" in after.get(created.headers["Location"]).get_data(as_text=True)

    only_new = TestLms.same_browser_on(
        after, make_app(SECRET_KEY=NEW)
    )  # the cookie the new key signed
    assert only_new.get("/designer/").status_code == 200


def test_a_cookieless_tabs_launch_token_outlasts_the_new_key(app, lms, make_app, old_key):
    """A browser that keeps no cookies carries its launch token (signed with the old key)
    on after the change, and works on; without the fallback it is signed out."""
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "designer"))

    tab.client = TestLms.cookieless_browser(make_app(SECRET_KEY=NEW))
    assert tab.navigate("/designer/frameworks").status_code == 401

    tab.client = TestLms.cookieless_browser(make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=old_key))
    assert tab.navigate("/designer/frameworks").status_code == 200
    (create,) = [f for f in tab.post_forms() if f["action"].endswith("/designer/frameworks")]
    done = tab.submit(create, code="brann", title_nb="Brannvern")
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Brannvern" in done.get_data(as_text=True)


def test_a_form_a_cookieless_tab_showed_before_the_new_key_is_accepted_after(
    app, lms, make_app, old_key
):
    """Without cookies, a form's CSRF secret is made again from the launch at each request:
    by the key that signed the tab's launch token, so a page shown before the change can
    send its form after it."""
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "designer"))
    tab.navigate("/designer/frameworks")
    (create,) = [f for f in tab.post_forms() if f["action"].endswith("/designer/frameworks")]

    tab.client = TestLms.cookieless_browser(make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=old_key))
    done = tab.submit(create, code="brann", title_nb="Brannvern")
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Brannvern" in done.get_data(as_text=True)


def test_an_import_previewed_before_the_new_key_is_confirmed_after(
    app, lms, care, make_app, old_key
):
    """The preview travels sealed with the key of its day: confirmed after the change, it
    is opened with the fallback and written."""
    before = designer_browser(app, lms)
    previewed = preview(
        before, XML, "moodle-5-export.xml", "moodle-xml", care["competences"]["office"]
    )
    page = previewed.get_data(as_text=True)
    form = _form(page, CONFIRM)
    assert form is not None, page

    after = TestLms.same_browser_on(before, make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=old_key))
    done = after.post(form["action"], data=form["fields"])
    assert done.status_code == 302, done.get_data(as_text=True)
    assert _count(app) == 5


def test_a_package_previewed_before_the_new_key_is_imported_after(
    app, lms, cli, make_app, old_key, organisation_on_the_same_lms
):
    packages.loaded(cli)
    here = designer_browser(app, lms)
    exported = packages.post_page_form(
        here, packages.PAGE + "/export", name="helse-basis", version="1.2"
    )
    there = packages.other_designer(app, lms, organisation_on_the_same_lms)
    page = packages.preview(there, exported.get_data()).get_data(as_text=True)

    after = TestLms.same_browser_on(there, make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=old_key))
    assert packages.confirm(after, page).status_code == 302
    assert packages.content(app, packages.OTHER) == packages.content(app, "Testkommune")


def test_what_is_signed_after_the_change_needs_only_the_new_key(app, lms, care, make_app, old_key):
    """The other keys are accepted, never signed with: a launch token, a form's CSRF
    token and an import preview made after the change hold once the other key is gone."""
    rotated = make_app(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=old_key)
    only_new = make_app(SECRET_KEY=NEW)

    launched = lms.storage_launch(TestLms.cookieless_browser(rotated), "designer")
    tab = CookielessTab(rotated, launched)
    tab.navigate("/designer/frameworks")
    (create,) = [f for f in tab.post_forms() if f["action"].endswith("/designer/frameworks")]
    tab.client = TestLms.cookieless_browser(only_new)
    done = tab.submit(create, code="brann", title_nb="Brannvern")
    assert done.status_code == 200 and "Brannvern" in done.get_data(as_text=True)

    browser = designer_browser(rotated, lms)
    office = care["competences"]["office"]
    page = preview(browser, XML, "moodle-5-export.xml", "moodle-xml", office).get_data(as_text=True)
    form = _form(page, CONFIRM)
    assert form is not None, page
    confirmed = TestLms.same_browser_on(browser, only_new).post(form["action"], data=form["fields"])
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)
    assert _count(app) == 5


def test_the_fallbacks_are_checked_as_the_key_is():
    production = {
        "APP_ENV": "production",
        "BASE_URL": "https://laeringslop.example",
        "SECRET_KEY": NEW,
    }
    with pytest.raises(SettingsError, match="SECRET_KEY_FALLBACKS must be a production"):
        load_settings(environ={**production, "SECRET_KEY_FALLBACKS": "short"})
    with pytest.raises(SettingsError, match="SECRET_KEY_FALLBACKS must be a production"):
        load_settings(environ={**production, "SECRET_KEY_FALLBACKS": DEVELOPMENT_SECRET_KEY})
    with pytest.raises(SettingsError, match="SECRET_KEY_FALLBACKS holds SECRET_KEY itself"):
        load_settings(environ={**production, "SECRET_KEY_FALLBACKS": f"{'o' * 40},{NEW}"})
    with pytest.raises(SettingsError) as refused:  # a list of other things: never echoed
        load_settings(overrides={"SECRET_KEY_FALLBACKS": ["o" * 40, 7]}, environ={})
    assert "o" * 40 not in str(refused.value)
    settings = load_settings(
        environ={**production, "SECRET_KEY_FALLBACKS": f" {'o' * 40} , {'p' * 40}"}
    )
    assert settings.SECRET_KEY_FALLBACKS == ("o" * 40, "p" * 40)
