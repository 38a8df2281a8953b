"""The launch token never goes in a URL the tool makes (issue 16, item 5).

With cookies, pages carry no token at all. Without them, the landing page answering the
launch carries the token in a ``<meta>`` (no launch answers with a redirect, so no URL
ever holds one), and the token then travels only in POST bodies and the
``X-Launch-Token`` header (``token_browsing.CookielessTab`` drives it
as ``static/launch_token.js`` does). Log lines of a whole session hold no token.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pytest

from lti_tool.lti import claims as c
from tests.fakes.lms import TestLms, page_address, parse_forms
from tests.functional.token_browsing import CookielessTab, launch_token_of, page_token

#: A launch token in a URL: ``?lt=``, ``&lt=`` or ``&amp;lt=`` (not ``default=``).
TOKEN_IN_URL = re.compile(r"(?:[?&]|&amp;)lt=")
LINK = re.compile(r'(?:href|action|src)="([^"]*)"')
#: Where a crawl does not go: the LTI endpoints and static files.
NOT_CRAWLED = ("/lti/", "/static/", "/demo", "/.well-known")


def _links(html: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in LINK.findall(html)]


def _assert_no_token(url: str, response: Any) -> None:
    location = response.headers.get("Location", "")
    assert "lt=" not in urlsplit(location).query, (url, location)
    body = response.get_data(as_text=True)
    assert not TOKEN_IN_URL.search(body), (url, TOKEN_IN_URL.search(body))
    for link in _links(body):
        assert "lt=" not in urlsplit(link).query, (url, link)


def _crawl(get: Any, start: str, limit: int = 40) -> list[str]:
    """The same-origin GET links reachable from ``start``: each page checked for tokens."""
    seen, queue, reached = {start}, deque([start]), []
    while queue and len(reached) < limit:
        url = queue.popleft()
        response = get(url)
        _assert_no_token(url, response)
        reached.append(url)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        for link in _links(response.get_data(as_text=True)):
            parts = urlsplit(link)
            if parts.netloc or not parts.path.startswith("/") or parts.path.startswith(NOT_CRAWLED):
                continue
            target = parts.path + ("?" + parts.query if parts.query else "")
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return reached


# --- (a) with cookies: no token anywhere --------------------------------------------------


@pytest.mark.parametrize("persona", ["learner", "designer", "manager", "admin"])
def test_with_cookies_no_page_link_or_redirect_carries_a_token(app, lms, persona):
    browser = TestLms.browser(app)
    launched = lms.launch(browser, persona)
    assert launched.status_code == 200, launched.get_data(as_text=True)  # the start page
    assert "Location" not in launched.headers  # no redirect, so no token in an address
    _assert_no_token("/lti/launch", launched)
    assert launched.headers["Referrer-Policy"] == "same-origin"
    assert page_token(launched.get_data(as_text=True)) is None  # the cookie carries the launch

    reached = _crawl(browser.get, lms.landing_path(launched))
    assert len(reached) >= 3, reached


def test_with_cookies_a_form_redirects_without_a_token(app, lms):
    browser = TestLms.browser(app)
    assert lms.landing_path(lms.launch(browser, "designer")) == "/designer/"
    page = browser.get("/designer/frameworks").get_data(as_text=True)
    (create,) = [f for f in parse_forms(page) if f["action"].endswith("/designer/frameworks")]
    created = browser.post(
        create["action"], data={**create["fields"], "code": "ks", "title_nb": "Kurs"}
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    _assert_no_token(create["action"], created)


# --- (b) without cookies: POST navigation and forms ---------------------------------------


def test_without_cookies_a_designer_navigates_and_submits_a_form(app, lms):
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "designer"))
    assert tab.page.status_code == 200
    assert '<meta name="launch-token"' in tab.html

    reached = _crawl(tab.navigate, "/designer/", limit=15)
    assert len(reached) >= 3, reached
    for url, response in tab.visited:
        assert response.status_code == 200, (url, response.status_code)
        assert page_token(response.get_data(as_text=True)) == tab.token, url

    tab.navigate("/designer/frameworks")
    (create,) = [f for f in tab.post_forms() if f["action"].endswith("/designer/frameworks")]
    done = tab.submit(create, code="brann", title_nb="Brannvern")
    # the redirect was carried over as a POST navigation to the new version's page
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Brannvern" in done.get_data(as_text=True)
    assert tab.visited[-2][1].status_code == 200  # the page that navigated on, not a 302
    for url, response in tab.visited:
        _assert_no_token(url, response)


def test_without_cookies_the_token_works_in_the_header_for_json(app, lms):
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "designer"))
    answer = tab.client.get("/api/v1/frameworks", headers={"X-Launch-Token": tab.token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert not TOKEN_IN_URL.search(answer.get_data(as_text=True))
    assert tab.client.get("/api/v1/frameworks").status_code == 401


def test_a_navigation_post_is_only_ever_a_get(app, lms):
    """A body with anything besides the marker and the token stays a POST: CSRF-checked."""
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "designer"))
    disguised = tab.client.post(
        "/designer/frameworks",
        data={"_navigate": "get", "lt": tab.token, "code": "x", "title_nb": "X"},
    )
    assert disguised.status_code == 400  # a POST without its CSRF token
    multipart = tab.client.post(
        "/designer/frameworks",
        data={"_navigate": "get", "lt": tab.token},
        content_type="multipart/form-data",
    )
    assert multipart.status_code == 400  # only a urlencoded body of the two fields navigates
    elsewhere = TestLms.cookieless_browser(app).post(  # another site's form, its token
        "/designer/frameworks",
        data={"_navigate": "get", "lt": tab.token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert elsewhere.status_code == 400  # a POST (login CSRF), not a navigation
    navigated = tab.client.post(
        "/designer/frameworks",
        data={"_navigate": "get", "lt": tab.token},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert navigated.status_code == 200  # the frameworks page, read
    assert "Brannvern" not in navigated.get_data(as_text=True)
    with app.app_context():
        from sqlalchemy import func, select

        from lti_tool.db import get_session
        from lti_tool.models import Framework

        assert get_session().scalar(select(func.count()).select_from(Framework)) == 0


# --- (c) the launch token is never read from a URL ---------------------------------------


def test_the_launch_token_in_a_query_string_is_refused(app, lms):
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "learner"))
    client = TestLms.cookieless_browser(app)
    assert client.get("/learner/", query_string={"lt": tab.token}).status_code == 401
    assert client.get("/learner/", headers={"X-Launch-Token": tab.token}).status_code == 200


# --- (d) the log lines of a whole session hold no token ----------------------------------


def test_the_log_lines_of_a_session_hold_no_token(app, lms, caplog):
    caplog.set_level(logging.DEBUG)
    with_cookies = TestLms.browser(app)
    launched = lms.launch(with_cookies, "designer")
    _crawl(with_cookies.get, lms.landing_path(launched), limit=10)
    cookieless = lms.storage_launch(TestLms.cookieless_browser(app), "designer")
    tab = CookielessTab(app, cookieless)
    _crawl(tab.navigate, "/designer/", limit=10)
    handed = lms.storage_launch(
        TestLms.cookieless_browser(app), "designer", message_type=c.DEEP_LINKING_REQUEST
    )  # the picker, answering the launch
    picker = CookielessTab(app, handed)
    _crawl(picker.navigate, "/designer/deep-link", limit=3)
    secrets = {tab.token, picker.token}

    lines = [caplog.handler.format(r) for r in caplog.records]
    assert any('"lti_tool.access"' in line or "lti_tool.access" in line for line in lines)
    for line in lines:
        assert not any(s in line for s in secrets), line
        assert not TOKEN_IN_URL.search(line), line


def test_gunicorns_access_lines_hold_no_token(app, lms):
    """Turned on (``--access-logfile``), gunicorn's access line redacts a launch token put
    in a URL by hand (the tool never puts one there), a Referer holding it and the
    X-Launch-Token header."""
    import datetime as dt
    import io

    from gunicorn.config import Config

    from lti_tool.gunicorn_conf import RedactingLogger

    launched = lms.storage_launch(TestLms.cookieless_browser(app), "designer")
    token = launch_token_of(app, launched)
    target = urlsplit(f"/designer/?lt={token}")
    config = Config()
    # the header as sent, and as NavigationPost puts it in the environ
    extra = ' "%({x-launch-token}i)s" "%({http_x_launch_token}e)s"'
    config.set("access_log_format", config.access_log_format + extra)
    config.set("accesslog", "-")  # on
    logger = RedactingLogger(config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.access_log.addHandler(handler)
    logger.access_log.setLevel(logging.INFO)

    class Response:
        status, sent, headers = "200 OK", 100, [("Content-Type", "text/html")]

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"{target.path}?{target.query}",
        "PATH_INFO": target.path,
        "QUERY_STRING": target.query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://tool.example{target.path}?{target.query}",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_LAUNCH_TOKEN": "the-navigation-token",
    }
    headers = [("X-LAUNCH-TOKEN", "the-launch-token"), ("REFERER", environ["HTTP_REFERER"])]
    logger.access(Response(), headers, environ, dt.timedelta(milliseconds=5))

    line = stream.getvalue()
    assert target.path in line and "lt=[redacted]" in line, line
    assert token not in line and "the-launch-token" not in line, line
    assert "the-navigation-token" not in line, line


# --- (e) a page holding the token is never stored by a cache -----------------------------


def test_a_page_holding_the_token_is_never_stored(app, lms):
    """Its ``<meta>`` holds a long-lived token: no cache (shared or the browser's disk)
    keeps it, also where the view allows caching."""
    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "learner"))
    pages = [tab.page, tab.navigate("/learner/"), tab.navigate("/accessibility")]
    header = tab.client.get("/learner/", headers={"X-Launch-Token": tab.token})
    for page in [*pages, header]:
        assert page.status_code == 200
        assert page_token(page.get_data(as_text=True)) == tab.token
        assert "no-store" in page.headers.get("Cache-Control", ""), page.headers
        assert "public" not in page.headers.get("Cache-Control", ""), page.headers
    missing = tab.navigate("/learner/no-such-page")
    assert missing.status_code == 404
    assert "no-store" in missing.headers.get("Cache-Control", ""), missing.headers


@pytest.mark.parametrize(
    ("location", "carried"),
    [
        ("/learner/plan?page=2", True),
        ("https://tool.test/learner/", True),
        ("//evil.test/x", False),
        ("/\\evil.test/x", False),  # a browser reads ``\\`` as ``/``: //evil.test
        ("\t//evil.test/x", False),  # and drops tabs and newlines
        ("http://tool.test/learner/", False),  # another scheme: another origin
        ("http:evil.test/x", False),  # to a browser on https: http://evil.test/x
        ("https://tool.test:8443/learner/", False),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
    ],
)
def test_a_redirect_is_carried_over_only_within_the_tool(app, lms, location, carried):
    """The page that navigates on posts the token: only ever to the tool's own origin;
    elsewhere the redirect stays a bare redirect (no token)."""
    from flask import redirect

    from lti_tool.auth import carry_token_over_redirect

    tab = CookielessTab(app, lms.storage_launch(TestLms.cookieless_browser(app), "learner"))
    with app.test_request_context(
        "/learner/", base_url="https://tool.test", headers={"X-Launch-Token": tab.token}
    ):
        answered = carry_token_over_redirect(redirect(location))
    assert (answered.status_code == 200) is carried, (location, answered.status_code)
    if not carried:
        assert answered.headers["Location"] == location


# --- (f) the start page answering the launch -----------------------------------------------

START_PAGES = {
    "learner": "/learner/",
    "designer": "/designer/",
    "manager": "/manager/",
    "admin": "/admin/",
}


def _session_cookie_set(app: Any, response: Any) -> bool:
    name = app.config["SESSION_COOKIE_NAME"] + "="
    return any(h.startswith(name) for h in response.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("persona", sorted(START_PAGES))
def test_a_start_page_answering_the_launch_carries_its_address_and_the_token_only_if_needed(
    app, lms, persona
):
    """The launch POST answers with the start page, whose ``<meta name="page-address">``
    names the address it stands for (``launch_token.js`` puts it in the address bar). A
    browser that proved itself by platform storage (no state cookie) will drop the
    session cookie too: its page carries the launch token; a cookie-proven one's does not."""
    landing = START_PAGES[persona]
    by_cookie = lms.launch(TestLms.browser(app), persona)
    by_storage = lms.storage_launch(TestLms.cookieless_browser(app), persona)

    for launched in (by_cookie, by_storage):
        assert launched.status_code == 200, launched.get_data(as_text=True)
        assert page_address(launched.get_data(as_text=True)) == landing
        assert "Location" not in launched.headers
        assert _session_cookie_set(app, launched)  # as before, for a browser that keeps it
        _assert_no_token("/lti/launch", launched)
    assert page_token(by_cookie.get_data(as_text=True)) is None
    token = page_token(by_storage.get_data(as_text=True))
    assert token
    assert "no-store" in by_storage.headers["Cache-Control"]  # a page holding the token
    # the token is the launch's: it opens the page's address without a cookie
    again = TestLms.cookieless_browser(app).get(landing, headers={"X-Launch-Token": token})
    assert again.status_code == 200
    assert page_address(again.get_data(as_text=True)) is None  # at its own address now


def _choice_form(html: str) -> tuple[dict[str, Any], str, str]:
    """The learner's job-role choice on the page: the form, a role's id and a unit's id."""
    (form,) = [f for f in parse_forms(html) if f["action"] == "/learner/job-roles"]
    role = re.search(r'name="job_role_ids" value="(\d+)"', html)
    unit = re.search(r'<option value="(\d+)">', html)
    assert role and unit, html
    return form, role.group(1), unit.group(1)


def _chosen(app: Any) -> list[tuple[str, str, str, bool]]:
    from tests.functional.test_learner_requirements import rows

    return rows(app)


def test_a_form_on_the_start_page_posts_back_with_cookies(app, lms, care):
    browser = TestLms.browser(app)
    launched = lms.launch(browser, "learner", locale="en")
    assert launched.status_code == 200, launched.get_data(as_text=True)
    form, role, unit = _choice_form(launched.get_data(as_text=True))
    data = {"csrf_token": form["fields"]["csrf_token"], "job_role_ids": role, "unit_id": unit}

    chosen = browser.post(form["action"], data=data)

    assert chosen.status_code == 302, chosen.get_data(as_text=True)  # CSRF passed
    assert urlsplit(chosen.headers["Location"]).path == "/learner/"
    assert "Your choice is saved" in browser.get("/learner/").get_data(as_text=True)
    assert len(_chosen(app)) == 1


def test_a_form_on_the_start_page_posts_back_without_cookies_by_the_token(app, lms, care):
    launched = lms.storage_launch(TestLms.cookieless_browser(app), "learner", locale="en")
    tab = CookielessTab(app, launched)
    assert page_address(tab.html) == "/learner/"
    (form,) = [f for f in tab.post_forms() if f["action"] == "/learner/job-roles"]
    _form, role, unit = _choice_form(tab.html)
    forged = TestLms.cookieless_browser(app).post(  # the same form, without the token
        form["action"], data={**form["fields"], "job_role_ids": role, "unit_id": unit}
    )
    assert forged.status_code == 400, forged.status_code  # its CSRF token fits no session
    assert _chosen(app) == []

    done = tab.submit(form, job_role_ids=role, unit_id=unit)

    # the redirect was carried over as a POST navigation back to the start page
    assert done.status_code == 200, done.get_data(as_text=True)
    assert tab.visited[-2][1].status_code == 200  # CSRF passed: not a 400
    assert urlsplit(tab.visited[-1][0]).path == "/learner/"
    assert len(_chosen(app)) == 1
