"""Languages end to end: the LMS's locale picks the language of the pages, ``?lang=``
switches it, and error pages follow the browser (Accept-Language) or default to bokmål."""

from __future__ import annotations

import re

import jwt
import pytest

from lti_tool.lti import claims as c
from tests.fakes.lms import TestLms, page_launch_token

# The learner's landing page in each language (a sentence that differs in all three).
LEARNER_INTRO = {
    "nb": "Her vil du se hva rollen din krever av deg",
    "nn": "Her vil du sjå kva rolla di krev av deg",
    "en": "Here you will see what your job role requires of you",
}
LEARNER_EMPTY = {
    "nb": "Organisasjonen din har ikke satt opp roller og basiskompetanse i Læringsløp ennå.",
    "nn": "Organisasjonen din har ikkje sett opp roller og basiskompetanse i Læringsløp enno.",
    "en": "Your organisation has not yet set up job roles and basis competence in Læringsløp.",
}
SKIP_LINK = {"nb": "Gå til hovedinnholdet", "nn": "Gå til hovudinnhaldet", "en": "Skip to content"}
LAUNCH_REFUSED = {
    "nb": "Oppstarten fra læringsplattformen din ble avvist",
    "nn": "Oppstarten frå læringsplattforma di vart avvist",
    "en": "The launch from your learning platform was refused",
}
NOT_VERIFIED = {
    "nb": "Oppstartsmeldingen kunne ikke verifiseres (signatur eller format).",
    "nn": "Oppstartsmeldinga kunne ikkje verifiserast (signatur eller format).",
    "en": "The launch message could not be verified (signature or format).",
}
NO_NONCE = {
    "nb": "Oppstartsmeldingen mangler en brukbar nonce.",
    "nn": "Oppstartsmeldinga manglar ein brukbar nonce.",
    "en": "The launch message has no usable nonce.",
}
RETRY_HINT = {
    "nb": "Gå tilbake til kurset ditt og åpne aktiviteten på nytt.",
    "nn": "Gå tilbake til kurset ditt og opne aktiviteten på nytt.",
    "en": "Go back to your course and open the activity again.",
}
NOT_FOUND = {"nb": "Ikke funnet", "nn": "Ikkje funne", "en": "Not found"}


def html_lang(html: str) -> str:
    found = re.search(r"<html[^>]*\blang=\"([^\"]*)\"", html)
    assert found, "page has no <html lang>"
    return found.group(1)


def assert_language(html: str, lang: str, *texts: dict[str, str]) -> None:
    """The page is in ``lang``: its <html lang>, and each text in that language, not the others."""
    assert html_lang(html) == lang
    for text in texts:
        assert text[lang] in html, f"{text[lang]!r} missing from the {lang} page"
        for other, translated in text.items():
            if other != lang:
                assert translated not in html, f"{other} text {translated!r} on the {lang} page"


def environ(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def landing(lms: TestLms, client, locale: str, **headers: str):
    """Launch as the learner with this LMS locale; return the landing page's response and
    its address."""
    client.environ_base.update(environ(headers))  # this browser's headers from now on
    response = lms.launch(client, "learner", locale=locale)
    assert lms.landed(response), response.get_data(as_text=True)
    location = lms.landing_path(response)
    assert location == "/learner/"
    page = lms.landing_page(client, response)  # the start page answers the launch
    return page, location


# --- the LMS's locale decides --------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "lang"),
    [
        ("nn", "nn"),
        ("nn-NO", "nn"),
        ("en", "en"),
        ("en-GB", "en"),
        ("nb", "nb"),
        ("nb-NO", "nb"),
        ("nb_NO", "nb"),
        ("no", "nb"),
        ("de", "nb"),  # a language the tool does not have: bokmål
        ("", "nb"),  # no locale at all: bokmål
    ],
)
def test_the_launch_locale_chooses_the_language(lms, client, locale, lang):
    page, _ = landing(lms, client, locale)
    assert_language(page.get_data(as_text=True), lang, LEARNER_INTRO, LEARNER_EMPTY, SKIP_LINK)
    assert page.headers["Content-Type"].startswith("text/html")


def test_nynorsk_launch_landing_page(lms, client):
    page, _ = landing(lms, client, "nn")
    html = page.get_data(as_text=True)
    assert '<html lang="nn">' in html
    assert "Her vil du sjå kva rolla di krev av deg" in html
    assert "<title>Min kompetanse – Læringsløp</title>" in html
    assert "Logga inn som " in html  # "Signed in as %(name)s", name filled in
    # The language menu marks the current language.
    assert re.search(r'hreflang="nn"[^>]*aria-current="true"', html)


def test_the_launch_locale_beats_the_browser_language(lms, client):
    page, location = landing(lms, client, "nn", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert_language(page.get_data(as_text=True), "nn", LEARNER_INTRO)
    # … and it stays the language on the next page of the same launch.
    again = client.get(location)
    assert_language(again.get_data(as_text=True), "nn", LEARNER_INTRO)


def test_the_browser_language_applies_when_the_lms_sends_an_unknown_locale(lms, client):
    page, _ = landing(lms, client, "de", **{"Accept-Language": "en"})
    assert_language(page.get_data(as_text=True), "en", LEARNER_INTRO)


# --- ?lang= switches -----------------------------------------------------------------------


@pytest.mark.parametrize(("launched", "chosen"), [("nn", "en"), ("nb", "nn"), ("en", "nb")])
def test_lang_parameter_switches_the_language(lms, client, launched, chosen):
    page, location = landing(lms, client, launched)
    assert_language(page.get_data(as_text=True), launched, LEARNER_INTRO)
    switched = client.get(location + "?lang=" + chosen)
    assert switched.status_code == 200
    assert_language(switched.get_data(as_text=True), chosen, LEARNER_INTRO, SKIP_LINK)


def test_lang_parameter_accepts_regional_codes_and_ignores_unknown_ones(lms, client):
    _, location = landing(lms, client, "nn")
    assert html_lang(client.get(location + "?lang=en-US").get_data(as_text=True)) == "en"
    assert html_lang(client.get(location + "?lang=no").get_data(as_text=True)) == "nb"
    # An unknown ?lang= is ignored: the last choice stays.
    assert html_lang(client.get(location + "?lang=de").get_data(as_text=True)) == "nb"


def test_a_language_chosen_stays_on_the_next_pages_until_the_next_launch(lms, client):
    _, location = landing(lms, client, "nb")
    assert html_lang(client.get(location + "?lang=nn").get_data(as_text=True)) == "nn"
    for page in (location, "/learner/plan", "/certificates/"):
        answered = client.get(page)
        assert answered.status_code == 200 and html_lang(answered.get_data(as_text=True)) == "nn"
    _, location = landing(lms, client, "en")  # the LMS's language again
    assert html_lang(client.get(location).get_data(as_text=True)) == "en"


def test_the_language_menu_links_switch_on_the_same_page(lms, client):
    page, _ = landing(lms, client, "nb")
    html = page.get_data(as_text=True)
    links = dict(re.findall(r'<a href="([^"]+)" hreflang="(nb|nn|en)"', html))
    by_lang = {lang: href.replace("&amp;", "&") for href, lang in links.items()}
    assert set(by_lang) == {"nb", "nn", "en"}
    for lang, href in by_lang.items():
        assert href.startswith("/learner/?lang=" + lang)
        assert_language(client.get(href).get_data(as_text=True), lang, LEARNER_INTRO)


# --- error pages -----------------------------------------------------------------------------


def refused_launch(app, token: str, **headers: str):
    """A browser that never logged in posts a launch the tool must refuse."""
    fresh = TestLms.browser(app)
    fresh.environ_base.update(environ(headers))
    return fresh.post("/lti/launch", data={"id_token": token, "state": "no-such-state"})


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [
        (None, "nb"),
        ("nn-NO,nn;q=0.9,en;q=0.5", "nn"),
        ("nn", "nn"),
        ("en-US,en;q=0.9", "en"),
        ("nb-NO,nb;q=0.9,en;q=0.5", "nb"),
        ("no", "nb"),
        ("de-DE,de;q=0.9", "nb"),
    ],
)
def test_a_refused_launch_is_explained_in_the_browsers_language(app, accept_language, lang):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = refused_launch(app, "garbage", **headers)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert_language(html, lang, LAUNCH_REFUSED, NOT_VERIFIED, RETRY_HINT, SKIP_LINK)
    assert "invalid_token" in html  # the error code stays the same in every language


def test_a_refused_launch_speaks_the_locale_the_token_claims(app):
    """Before the token is trusted its locale still words the refusal (no nonce here)."""
    claims = {c.LAUNCH_PRESENTATION: {"locale": "nn-NO"}, "iss": "https://elsewhere.example"}
    token = jwt.encode(claims, "not-the-platforms-key-" * 2, algorithm="HS256")
    response = refused_launch(app, token, **{"Accept-Language": "en"})
    assert response.status_code == 401
    assert_language(response.get_data(as_text=True), "nn", LAUNCH_REFUSED, NO_NONCE)


@pytest.mark.parametrize(
    ("accept_language", "lang"), [(None, "nb"), ("nn", "nn"), ("en", "en"), ("de", "nb")]
)
def test_not_found_page_is_translated(app, accept_language, lang):
    browser = TestLms.browser(app)
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = browser.get("/no-such-page", headers=headers)
    assert response.status_code == 404
    assert_language(response.get_data(as_text=True), lang, NOT_FOUND, SKIP_LINK)


def test_lang_parameter_also_switches_error_pages(app):
    browser = TestLms.browser(app)
    response = browser.get("/learner/?lang=nn", headers={"Accept-Language": "en"})
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert html_lang(html) == "nn"
    assert "Du er ikkje logga inn" in html


def test_without_cookies_the_launch_token_keeps_the_launch_language(app, lms):
    """A browser that drops cookies has no session: the launch token names the launch."""
    browser = TestLms.cookieless_browser(app)
    response = lms.storage_launch(browser, "learner", locale="nn")
    assert lms.landing_path(response) == "/learner/", response.get_data(as_text=True)
    assert_language(response.get_data(as_text=True), "nn", LEARNER_INTRO)
    token = page_launch_token(response.get_data(as_text=True))
    assert token
    page = browser.get(
        "/learner/", headers={"Accept-Language": "en", "X-Launch-Token": token}
    )  # the next page, by the token alone
    assert page.status_code == 200
    assert_language(page.get_data(as_text=True), "nn", LEARNER_INTRO)


def test_other_http_errors_are_translated_too(app):
    """A 413 (upload too large) is worded in the page's language, not Werkzeug's English."""
    client = app.test_client()
    response = client.post("/lti/launch", data={"id_token": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert html_lang(html) == "nb"
    assert "For stort" in html
    assert "Request Entity Too Large" not in html
