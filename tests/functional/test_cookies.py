"""Cookies inside the LMS iframe: their attributes, the cookie check before the platform
sees a login, and launches when the browser drops cookies.

The test client does not enforce SameSite or Secure, so a browser that blocks the tool's
third-party cookies is played by a client that keeps none (``use_cookies=False``), and a
new top-level window (or the frame after storage access) by a fresh client that keeps them.
The test platform accepts each login's message hint once, as Moodle's auth.php does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from lti_tool.db import get_session
from lti_tool.lti.demo_platform import AuthRequestError
from lti_tool.lti.oidc import check_cookie_name, state_cookie_name
from tests.fakes.lms import TestLms, parse_forms
from tests.functional.token_browsing import page_token
from tests.statements import statements_run


def cookieless_browser(app: Any) -> Any:
    return TestLms.cookieless_browser(app)


def set_cookie_attributes(response: Any, name: str) -> dict[str, str | None]:
    """The attributes of the Set-Cookie header for ``name``, lower-cased keys."""
    for header in response.headers.getlist("Set-Cookie"):
        first, *params = (part.strip() for part in header.split(";"))
        if first.partition("=")[0] == name:
            attributes: dict[str, str | None] = {"value": first.partition("=")[2]}
            for param in params:
                key, sep, value = param.partition("=")
                attributes[key.lower()] = value if sep else None
            return attributes
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}")


def session_cookie_name(app: Any) -> str:
    return app.config["SESSION_COOKIE_NAME"]


def auth_query(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def storage_secret(login_page: str) -> str:
    """The secret the login page hands to the platform's storage (lti.put_data)."""
    found = re.search(r'value: "([^"]+)"', login_page)
    assert found, "the login page puts no value in platform storage"
    return found.group(1)


# --- attributes -----------------------------------------------------------------------


def test_state_cookie_is_cross_site_over_https(lms, client):
    login = lms.login(client, "learner")
    assert login.response.status_code == 302

    cookie = set_cookie_attributes(login.response, state_cookie_name(login.auth_query["state"]))

    assert cookie["samesite"] == "None"
    assert "secure" in cookie
    assert "partitioned" in cookie
    assert "httponly" in cookie
    assert cookie["path"] == "/lti/"
    assert cookie["value"]


def test_session_cookie_is_cross_site_over_https(app, lms, client):
    response = lms.launch(client, "learner")
    assert lms.landed(response), response.get_data(as_text=True)

    cookie = set_cookie_attributes(response, session_cookie_name(app))

    assert cookie["samesite"] == "None"
    assert "secure" in cookie
    assert "partitioned" in cookie
    assert "httponly" in cookie


def deleted_cookie_variants(response: Any, name: str) -> set[bool]:
    """Whether each deletion of ``name`` in the response is ``Partitioned``."""
    variants = set()
    for header in response.headers.getlist("Set-Cookie"):
        first, *params = (part.strip() for part in header.split(";"))
        if first == f"{name}=":
            attributes = {p.partition("=")[0].lower(): p.partition("=")[2] for p in params}
            assert attributes["max-age"] == "0" and attributes["path"] == "/lti/", header
            variants.add("partitioned" in attributes)
    return variants


def test_launch_deletes_the_state_cookie(lms, client):
    """Partitioned and not: the launch cannot tell whether the frame (partitioned) or a
    window of its own (not) set it."""
    login = lms.login(client, "learner")
    response = lms.post_launch(client, lms.authorize(login))
    assert lms.landing_path(response) == "/learner/"

    name = state_cookie_name(login.auth_query["state"])

    assert deleted_cookie_variants(response, name) == {True, False}


def test_cookies_are_lax_and_not_secure_over_plain_http(lms, make_app):
    """The local demo over http: browsers refuse SameSite=None without Secure, so Lax."""
    http_app = make_app(BASE_URL="http://localhost:5000")
    browser = http_app.test_client()

    login = lms.login(browser, "learner")
    assert login.response.status_code == 302
    state_cookie = set_cookie_attributes(
        login.response, state_cookie_name(login.auth_query["state"])
    )
    # The platform sends the id_token to the tool's http launch URL.
    assert login.auth_query["redirect_uri"] == "http://localhost:5000/lti/launch"
    claims = lms.platform.launch_claims("learner", nonce=login.auth_query["nonce"])
    response = lms.post_launch(
        browser, {"id_token": lms.platform.sign(claims), "state": login.auth_query["state"]}
    )
    assert lms.landing_path(response) == "/learner/", response.get_data(as_text=True)
    session_cookie = set_cookie_attributes(response, session_cookie_name(http_app))

    for cookie in (state_cookie, session_cookie):
        assert cookie["samesite"] == "Lax"
        assert "secure" not in cookie
        assert "partitioned" not in cookie
        assert "httponly" in cookie


# --- the cookie check before the platform sees the login ------------------------------


def held_login_id(location: str) -> str:
    assert TestLms.is_check(location), location
    return auth_query(location)["id"]


def blocked_page(app: Any, lms: Any, persona: str = "learner", **kwargs: Any) -> str:
    """A frame that keeps no cookies: the login stops at the check, on the fallback page."""
    login = lms.login(cookieless_browser(app), persona, **kwargs)
    assert login.response.status_code == 200, login.response.get_data(as_text=True)
    assert not login.auth_query
    return login.response.get_data(as_text=True)


def page_link(page: str, element_id: str, attribute: str = "href") -> str:
    found = re.search(rf'<[^>]*id="{element_id}"[^>]*>', page)
    assert found, f"no element #{element_id}"
    value = re.search(rf'{attribute}="([^"]+)"', found.group(0))
    assert value, f"#{element_id} has no {attribute}"
    return value.group(1).replace("&amp;", "&")


def test_login_holds_the_login_until_the_cookie_check(lms, client):
    params = lms.platform.login_params("learner")
    response = client.get("/lti/login", query_string=params)

    assert response.status_code == 302
    login_id = held_login_id(response.headers["Location"])
    assert not response.headers["Location"].startswith(lms.platform.auth_url)
    cookie = set_cookie_attributes(response, check_cookie_name(login_id))
    assert cookie["samesite"] == "None"
    assert "secure" in cookie and "partitioned" in cookie and "httponly" in cookie
    assert cookie["path"] == "/lti/"
    assert lms.platform.used_hints == set()  # the platform has seen nothing yet


def test_with_cookies_the_check_adds_one_redirect(lms, client):
    login = lms.login(client, "learner")

    assert login.initiation.status_code == 302  # /lti/login → /lti/login/check
    assert login.response.status_code == 302  # /lti/login/check → the platform
    assert login.response.headers["Location"].startswith(lms.platform.auth_url + "?")
    login_id = held_login_id(login.initiation.headers["Location"])
    cleared = set_cookie_attributes(login.response, check_cookie_name(login_id))
    assert cleared["value"] == "" and cleared["max-age"] == "0"
    response = lms.post_launch(client, lms.authorize(login))
    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert lms.landing_path(response) == "/learner/"


def _dest(browser: Any, destination: str) -> Any:
    """``browser`` sending the Fetch metadata of a page loaded into ``destination``
    (``document``: a window of its own; ``iframe``: the LMS's frame)."""
    browser.environ_base["HTTP_SEC_FETCH_DEST"] = destination
    return browser


def test_a_window_of_its_own_goes_to_the_platform_without_the_check(app, lms):
    """The LMS opens the tool in a new window: its cookies are first party there, which
    every browser keeps, so the login goes to the platform at once (one round trip
    fewer) and the launch lands."""
    window = _dest(TestLms.browser(app), "document")

    login = lms.login(window, "learner")

    assert login.initiation is None  # no cookie check
    assert login.response.status_code == 302
    assert login.response.headers["Location"].startswith(lms.platform.auth_url + "?")
    state_cookie = state_cookie_name(login.auth_query["state"])
    assert "partitioned" not in set_cookie_attributes(login.response, state_cookie)  # 1st party
    response = lms.post_launch(window, lms.authorize(login))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert lms.landing_path(response) == "/learner/"
    assert False in deleted_cookie_variants(response, state_cookie)  # the one it set


def test_a_frame_is_checked_whatever_it_sends(app, lms):
    for destination in ("iframe", None):
        browser = TestLms.browser(app)
        if destination:
            _dest(browser, destination)
        login = lms.login(browser, "learner")
        assert login.initiation is not None, destination  # /lti/login → the cookie check


def test_a_window_of_its_own_that_drops_the_cookie_is_refused(app, lms):
    window = _dest(cookieless_browser(app), "document")
    login = lms.login(window, "learner")
    assert login.initiation is None  # no cookie check: the login went to the platform

    response = lms.post_launch(window, lms.authorize(login))

    assert response.status_code == 403
    assert "<code>state_cookie_lost</code>" in response.get_data(as_text=True)


def test_a_window_of_its_own_still_uses_platform_storage_when_offered(app, lms):
    window = _dest(TestLms.browser(app), "document")

    login = lms.login(window, "learner", storage_target="_parent")

    assert login.response.status_code == 200  # the storage page, not a redirect
    assert "lti.put_data" in login.response.get_data(as_text=True)


def test_frame_without_cookies_gets_a_choice_and_the_platform_sees_nothing(app, lms):
    page = blocked_page(app, lms)

    assert re.search(r"<h1>[^<]+</h1>", page)
    window = page_link(page, "new-window")
    assert window.startswith("/lti/login/retry?")
    assert auth_query(window)["via"] == "window"
    assert re.search(r'id="new-window"[^>]*target="_blank"[^>]*rel="noopener"', page)
    access = page_link(page, "request-access", "data-url")
    assert auth_query(access)["via"] == "access"
    assert auth_query(access)["id"] == auth_query(window)["id"]
    assert "requestStorageAccess" in page
    assert 'id="storage-access" hidden' in page  # shown by the script where the API exists
    assert lms.platform.used_hints == set()


def test_new_window_launches_with_the_unused_login(app, lms):
    """The frame keeps no cookies; a top-level window does. The platform's authorization
    endpoint sees the login's message hint for the first time from the new window."""
    page = blocked_page(app, lms, "designer")

    window = TestLms.browser(app)  # a fresh browser context: first-party, keeps cookies
    retry = window.get(page_link(page, "new-window"))
    assert retry.status_code == 302
    assert TestLms.is_check(retry.headers["Location"])
    checked = window.get(retry.headers["Location"])
    form = lms.authorize_redirect(checked)  # the first use of the hint: accepted
    response = lms.post_launch(window, form)

    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert lms.landing_path(response) == "/designer/"
    assert window.get("/designer/").status_code == 200  # signed in, in the window
    assert len(lms.platform.used_hints) == 1


def test_sending_the_same_login_again_is_refused_by_the_platform(app, lms):
    """The old fallback: the frame's authorization ran, then a new window sent the same
    login initiation again. A platform that accepts a message hint once (Moodle) refuses."""
    frame = TestLms.browser(app)
    params = lms.platform.login_params("learner")
    first = lms.login_with(frame, params)
    lms.authorize(first)  # the frame's authorization: the hint is used

    window = TestLms.browser(app)
    again = lms.login_with(window, params)
    assert again.response.status_code == 302  # the tool sends it on ...

    with pytest.raises(AuthRequestError, match="used before"):
        lms.authorize(again)  # ... and the platform refuses it, as Moodle's auth.php does


def test_storage_access_continues_the_login_in_the_frame(app, lms):
    page = blocked_page(app, lms)

    # Storage access granted: the same frame now keeps the tool's cookies.
    frame = TestLms.browser(app)
    retry = frame.get(page_link(page, "request-access", "data-url"))
    assert retry.status_code == 302
    checked = frame.get(retry.headers["Location"])
    response = lms.post_launch(frame, lms.authorize_redirect(checked))

    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert lms.landing_path(response) == "/learner/"


@pytest.mark.parametrize("link", [("request-access", "data-url"), ("new-window", "href")])
def test_past_the_frame_the_login_cookies_are_not_partitioned(app, lms, link):
    """Storage access grants the frame its unpartitioned cookies (a Partitioned cookie
    stays in the jar the frame was refused), and a window of its own is first party:
    after either, the check and state cookies are set without Partitioned."""
    page = blocked_page(app, lms)
    browser = TestLms.browser(app)

    retry = browser.get(page_link(page, *link))
    checked = browser.get(retry.headers["Location"])

    login_id = auth_query(retry.headers["Location"])["id"]
    state = auth_query(checked.headers["Location"])["state"]
    cookies = [
        set_cookie_attributes(retry, check_cookie_name(login_id)),
        set_cookie_attributes(checked, check_cookie_name(login_id)),  # cleared
        set_cookie_attributes(checked, state_cookie_name(state)),
    ]
    for cookie in cookies:
        assert "partitioned" not in cookie
        assert cookie["samesite"] == "None" and "secure" in cookie and "httponly" in cookie
    response = lms.post_launch(browser, lms.authorize_redirect(checked))
    assert lms.landing_path(response) == "/learner/", response.get_data(as_text=True)


def test_storage_access_that_keeps_no_cookies_leaves_the_new_window(app, lms):
    page = blocked_page(app, lms)
    frame = cookieless_browser(app)

    retry = frame.get(page_link(page, "request-access", "data-url"))
    again = frame.get(retry.headers["Location"])

    assert again.status_code == 200
    html = again.get_data(as_text=True)
    assert 'role="alert"' in html
    assert 'id="request-access"' not in html
    assert page_link(html, "new-window") == page_link(page, "new-window")
    assert lms.platform.used_hints == set()


def test_new_window_that_keeps_no_cookies_says_so(app, lms):
    page = blocked_page(app, lms)
    window = cookieless_browser(app)

    retry = window.get(page_link(page, "new-window"))
    response = window.get(retry.headers["Location"])

    assert response.status_code == 403
    assert "<code>cookies_off</code>" in response.get_data(as_text=True)
    assert "new-window" not in response.get_data(as_text=True)


def test_a_held_login_reaches_the_platform_once(app, lms):
    page = blocked_page(app, lms)
    window = TestLms.browser(app)
    retry = window.get(page_link(page, "new-window"))
    lms.authorize_redirect(window.get(retry.headers["Location"]))

    # The frame, after storage access, comes too late: the login went to the platform.
    frame = TestLms.browser(app)
    late = frame.get(page_link(page, "request-access", "data-url"))
    assert late.status_code == 400
    assert "<code>login_used</code>" in late.get_data(as_text=True)
    check = cookieless_browser(app).get(retry.headers["Location"])
    assert check.status_code == 400
    assert len(lms.platform.used_hints) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/lti/login/check",
        "/lti/login/check?id=short",
        "/lti/login/check?id=" + "A" * 43,  # well formed, never held
        "/lti/login/retry?id=" + "A" * 43 + "&via=window",
        "/lti/login/check?id=" + "A" * 43 + "&via=elsewhere",
        "/lti/login/retry?id=" + "A" * 43 + "&via=frame",
        "/lti/login/retry?id=../../evil.example",
    ],
)
def test_unknown_or_malformed_held_logins_are_refused(app, lms, path):
    response = TestLms.browser(app).get(path)

    assert response.status_code == 400
    assert "<code>login_used</code>" in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_a_held_login_the_tool_cannot_read_is_refused(app, lms):
    """Held by another version of the tool, during a deploy: refused, not a server error."""
    login_id = "B" * 43
    with app.app_context():
        store = app.extensions["lti"].state_store
        store.save_state("held-login:" + login_id, {"login": {"issuer": "x"}}, 60)
        get_session().commit()

    response = TestLms.browser(app).get("/lti/login/check", query_string={"id": login_id})

    assert response.status_code == 400
    assert "<code>login_used</code>" in response.get_data(as_text=True)


def test_retry_of_a_real_login_in_the_frame_is_refused(app, lms):
    page = blocked_page(app, lms)
    login_id = auth_query(page_link(page, "new-window"))["id"]

    response = TestLms.browser(app).get("/lti/login/retry", query_string={"id": login_id})

    assert response.status_code == 400  # only after storage access, or in a new window


def test_a_held_login_is_never_a_launch_state(app, lms):
    """The check step keeps its logins apart from states: neither passes for the other."""
    browser = TestLms.browser(app)
    initiation = browser.get("/lti/login", query_string=lms.platform.login_params())
    login_id = held_login_id(initiation.headers["Location"])
    login = lms.login(TestLms.browser(app), "learner")
    form = lms.authorize(login)

    for state in (login_id, "held-login:" + login_id):
        response = lms.post_launch(browser, {**form, "state": state})
        assert response.status_code == 401
        assert "<code>state_mismatch</code>" in response.get_data(as_text=True)
    # A launch state is no held login either.
    check = browser.get("/lti/login/check", query_string={"id": form["state"]})
    assert check.status_code == 400


def test_check_cookie_does_not_stand_in_for_the_state_cookie(app, lms):
    """Past the check, the launch still needs the state cookie of this browser."""
    login = lms.login(TestLms.browser(app), "learner")
    form = lms.authorize(login)
    other = TestLms.browser(app)
    other.get("/lti/login", query_string=lms.platform.login_params())  # a check cookie only

    response = lms.post_launch(other, form)

    assert response.status_code == 403
    assert "<code>state_cookie_lost</code>" in response.get_data(as_text=True)


def test_the_fallback_page_keeps_the_login_across_languages(app, lms):
    page = blocked_page(app, lms)
    login_id = auth_query(page_link(page, "new-window"))["id"]

    english = cookieless_browser(app).get(
        "/lti/login/check", query_string={"id": login_id, "lang": "en"}
    )

    html = english.get_data(as_text=True)
    assert english.status_code == 200
    assert "Open Læringsløp in a new window" in html
    assert "lang=en" in page_link(html, "new-window")
    # The language links keep the held login.
    assert f'href="/lti/login/check?lang=nn&amp;id={login_id}&amp;via=frame"' in html


def test_held_login_is_shared_between_instances(lms, make_app):
    """Held in Redis or the database, never in a process: the check may reach another worker."""
    first, second = TestLms.browser(make_app()), TestLms.browser(make_app())
    page = lms.login(cookieless_browser(first.application), "learner").response
    window = page_link(page.get_data(as_text=True), "new-window")

    retry = second.get(window)
    checked = second.get(retry.headers["Location"])

    assert lms.landing_path(lms.post_launch(second, lms.authorize_redirect(checked))) == "/learner/"


# --- the launch without its state cookie, and no platform storage ---------------------


def test_launch_without_the_state_cookie_does_not_resend_the_login(app, lms):
    login = lms.login(TestLms.browser(app), "learner")
    response = lms.post_launch(cookieless_browser(app), lms.authorize(login))

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "<code>state_cookie_lost</code>" in page
    assert "Location" not in response.headers
    assert not parse_forms(page)  # the login was used: sending it again would be refused
    assert not any(
        h.startswith(session_cookie_name(app)) for h in response.headers.getlist("Set-Cookie")
    )


def test_replaying_the_blocked_launch_elsewhere_is_still_refused(app, lms):
    """The id_token of a launch without its cookie is no good in another browser either."""
    login = lms.login(TestLms.browser(app), "learner")
    launch_form = lms.authorize(login)
    lms.post_launch(cookieless_browser(app), launch_form)

    response = TestLms.browser(app).post("/lti/launch", data=launch_form)

    assert response.status_code == 403
    assert "state_cookie_lost" in response.get_data(as_text=True)


# --- cookies dropped, LTI platform storage --------------------------------------------


def test_login_with_storage_target_puts_the_secret_in_platform_storage(lms, client):
    login = lms.login(client, "learner", storage_target="_parent")

    assert login.response.status_code == 200
    page = login.response.get_data(as_text=True)
    assert "lti.put_data" in page
    assert login.auth_query["state"]
    assert lms.platform.auth_url in page
    secret = storage_secret(page)
    # The same secret goes in the cookie, for browsers that keep it.
    cookie = set_cookie_attributes(login.response, state_cookie_name(login.auth_query["state"]))
    assert cookie["value"] == secret


def test_launch_without_cookie_asks_platform_storage(app, lms):
    browser = cookieless_browser(app)
    login = lms.login(browser, "learner", storage_target="_parent")
    form = lms.authorize(login)

    response = lms.post_launch(browser, form)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "lti.get_data" in page
    assert "lti_state_" in page
    relaunch = next(f for f in parse_forms(page) if f["action"] == "/lti/launch")
    assert relaunch["fields"]["id_token"] == form["id_token"]
    assert relaunch["fields"]["state"] == form["state"]
    assert relaunch["fields"]["lti_storage_secret"] == ""  # the page's script fills it in


def storage_page_check_url(login_page: str) -> str:
    """Where the platform-storage page goes when the platform does not keep the proof."""
    found = re.search(r'var checkUrl = "([^"]+)"', login_page)
    assert found, "the login page has no cookie check to fall back on"
    return found.group(1).encode().decode("unicode_escape")


def test_platform_storage_that_does_not_answer_falls_back_to_the_cookie_check(app, lms):
    """Canvas's mobile apps offer storage and never answer: the page goes to the cookie
    check, and the platform sees the login once, from there."""
    browser = TestLms.browser(app)
    login = lms.login(browser, "learner", storage_target="_parent")
    page = login.response.get_data(as_text=True)
    check = storage_page_check_url(page)
    assert TestLms.is_check(check)
    assert page_link(page, "continue") == check  # without a script, too

    checked = browser.get(check)  # the page's timeout: no lti.put_data.response came
    form = lms.authorize_redirect(checked)  # a redirect now, not the storage page again
    response = lms.post_launch(browser, form)

    assert lms.landing_path(response) == "/learner/", response.get_data(as_text=True)
    assert len(lms.platform.used_hints) == 1


def test_no_platform_storage_and_no_cookies_keeps_the_login_unused(app, lms):
    browser = cookieless_browser(app)
    login = lms.login(browser, "learner", storage_target="_parent")

    fallback = browser.get(storage_page_check_url(login.response.get_data(as_text=True)))

    assert fallback.status_code == 200
    assert 'id="new-window"' in fallback.get_data(as_text=True)
    assert lms.platform.used_hints == set()


def test_launch_without_cookie_or_storage_does_not_send_the_login_again(app, lms):
    browser = cookieless_browser(app)
    login = lms.login(browser, "learner", storage_target="_parent")

    page = lms.post_launch(browser, lms.authorize(login)).get_data(as_text=True)

    assert "lti.get_data" in page
    assert [f["action"] for f in parse_forms(page)] == ["/lti/launch"]  # the re-post only


def _launch_through_platform_storage(app: Any, lms: Any, persona: str = "learner") -> Any:
    return lms.storage_launch(cookieless_browser(app), persona)


def test_launch_with_the_secret_from_platform_storage_succeeds(app, lms):
    response = _launch_through_platform_storage(app, lms)

    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert lms.landing_path(response) == "/learner/"
    assert page_token(response.get_data(as_text=True))  # proven by storage: the token on it


def test_launch_with_a_wrong_storage_secret_is_refused(app, lms):
    browser = cookieless_browser(app)
    login = lms.login(browser, "learner", storage_target="_parent")
    form = lms.authorize(login)
    page = lms.post_launch(browser, form).get_data(as_text=True)
    relaunch = next(f for f in parse_forms(page) if f["action"] == "/lti/launch")
    relaunch["fields"]["lti_storage_secret"] = "not-the-secret-the-login-put"

    response = lms.repost_launch(browser, relaunch["fields"])

    assert response.status_code == 401
    assert "state_mismatch" in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_storage_secret_of_another_login_is_refused(app, lms):
    browser = cookieless_browser(app)
    other = lms.login(browser, "learner", storage_target="_parent")
    other_secret = storage_secret(other.response.get_data(as_text=True))
    login = lms.login(browser, "learner", storage_target="_parent")
    form = {**lms.authorize(login), "lti_storage_secret": other_secret}

    response = lms.repost_launch(browser, form)

    assert response.status_code == 401
    assert "state_mismatch" in response.get_data(as_text=True)


# --- cookie-less navigation with the launch token --------------------------------------


def test_navigation_without_cookies_uses_the_launch_token(app, lms):
    response = _launch_through_platform_storage(app, lms)
    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert lms.landing_path(response) == "/learner/"
    html = response.get_data(as_text=True)
    assert "Demo Ansatt" in html
    carried = page_token(html)  # the page carries the launch token on, not in its links
    assert carried and "lt=" not in html

    browser = cookieless_browser(app)
    navigated = browser.post("/learner/", data={"_navigate": "get", "lt": carried})
    assert navigated.status_code == 200
    assert page_token(navigated.get_data(as_text=True)) == carried
    assert browser.get("/learner/").status_code == 401  # no token, no cookie: not signed in


def test_a_held_login_released_by_two_at_once_reaches_the_platform_once(app, lms, monkeypatch):
    """Two checks of one held login at the same moment (the frame and the new window) both
    read it and save a state; only the one that then uses it up goes on to the platform,
    and the other's state is removed with it, unused. (In the database the request's
    rollback removes it: the two checks are two transactions.)"""
    if app.extensions["lti"].redis is None:
        pytest.skip("the database store: the refused check's transaction is rolled back")
    store = app.extensions["lti"].state_store
    browser = TestLms.browser(app)
    initiation = browser.get("/lti/login", query_string=lms.platform.login_params("learner"))
    check = initiation.headers["Location"]
    [held_key] = _held_keys(app)  # the one held login
    taken_first: list[Any] = []
    take = store.take_state

    def the_other_check_first(key: str) -> Any:
        if key == held_key and not taken_first:
            taken_first.append(take(key))  # the other check used it up just now
        return take(key)

    states_before = _state_keys(app)
    monkeypatch.setattr(store, "take_state", the_other_check_first)
    late = browser.get(check)

    assert late.status_code == 400
    assert "<code>login_used</code>" in late.get_data(as_text=True)
    assert taken_first and taken_first[0] is not None
    # the held login used up by the other, the state this one made removed, unused
    assert _state_keys(app) == states_before - {held_key}


def _held_keys(app: Any) -> list[str]:
    return [k for k in _state_keys(app) if "held-login:" in k]


def _state_keys(app: Any) -> set[str]:
    """Every login and state Redis keeps."""
    lti = app.extensions["lti"]
    prefix = lti.state_store.prefix + "state:"
    return {k.decode()[len(prefix) :] for k in lti.redis.scan_iter(prefix + "*")}


def test_the_check_step_costs_one_request_and_three_store_commands(app, lms, client, monkeypatch):
    """A launch with cookies: one more request (the check) than before. /lti/login still
    saves one record (the held login instead of the state); the check reads the held
    login, saves the state, then uses the held login up (a Redis too full for the state
    leaves it held) — three Redis commands (GET, SET, GETDEL) and no SQL with Redis; three
    statements (SELECT, INSERT, DELETE … RETURNING) without."""
    monkeypatch.setattr("lti_tool.lti.state.random.randrange", lambda n: 1)  # no sweep now
    on_redis = app.extensions["lti"].redis is not None
    params = lms.platform.login_params("learner")

    with statements_run(app) as at_login:
        initiation = client.get("/lti/login", query_string=params)
    with statements_run(app) as at_check:
        checked = client.get(initiation.headers["Location"])
    form = lms.authorize_redirect(checked)
    with statements_run(app) as at_launch:
        launched = lms.post_launch(client, form)

    assert lms.landing_path(launched) == "/learner/", launched.get_data(as_text=True)
    saved_at_login = [q for q in at_login if "lti_login_state" in q]
    assert len(saved_at_login) == (0 if on_redis else 1), saved_at_login
    assert all(q.startswith("SELECT") for q in at_login if q not in saved_at_login)
    assert len(at_check) == (0 if on_redis else 3), at_check
    print(f"SQL statements: login {len(at_login)}, check {len(at_check)}, launch {len(at_launch)}")
