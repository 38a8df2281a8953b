"""Cookies inside the LMS iframe: their attributes, and launches when the browser drops them.

The test client does not enforce SameSite or Secure, so a browser that blocks the tool's
third-party cookies is played by a client that keeps none (``use_cookies=False``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer

from lti_tool.lti.oidc import state_cookie_name
from tests.fakes.lms import TestLms, parse_forms

LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "client_id",
    "lti_deployment_id",
)


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
    assert response.status_code == 302, response.get_data(as_text=True)

    cookie = set_cookie_attributes(response, session_cookie_name(app))

    assert cookie["samesite"] == "None"
    assert "secure" in cookie
    assert "partitioned" in cookie
    assert "httponly" in cookie


def test_launch_deletes_the_state_cookie(lms, client):
    login = lms.login(client, "learner")
    response = lms.post_launch(client, lms.authorize(login))
    assert response.status_code == 302

    cookie = set_cookie_attributes(response, state_cookie_name(login.auth_query["state"]))

    assert cookie["value"] == ""
    assert cookie["max-age"] == "0"
    assert cookie["path"] == "/lti/"


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
    assert response.status_code == 302, response.get_data(as_text=True)
    session_cookie = set_cookie_attributes(response, session_cookie_name(http_app))

    for cookie in (state_cookie, session_cookie):
        assert cookie["samesite"] == "Lax"
        assert "secure" not in cookie
        assert "partitioned" not in cookie
        assert "httponly" in cookie


# --- cookies dropped, no platform storage: open a new window --------------------------


def test_launch_without_cookie_offers_a_new_window(app, lms):
    browser = cookieless_browser(app)
    login = lms.login(browser, "learner")
    response = lms.post_launch(browser, lms.authorize(login))

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "cookies_blocked" in page
    assert "Location" not in response.headers
    assert not any(
        h.startswith(session_cookie_name(app)) for h in response.headers.getlist("Set-Cookie")
    )
    forms = [f for f in parse_forms(page) if f["action"] == "/lti/login"]
    assert len(forms) == 1
    assert forms[0]["method"] == "post"
    assert re.search(r'<form[^>]*action="/lti/login"[^>]*target="_blank"', page)
    expected = lms.platform.login_params("learner")
    for name in LOGIN_PARAMS:
        assert forms[0]["fields"][name] == expected[name], name


def test_new_window_login_leads_to_a_launch(app, lms):
    blocked = cookieless_browser(app)
    login = lms.login(blocked, "designer")
    page = lms.post_launch(blocked, lms.authorize(login)).get_data(as_text=True)
    form = next(f for f in parse_forms(page) if f["action"] == "/lti/login")

    # The new window is a first-party context: the browser keeps the tool's cookies there.
    window = app.test_client()
    started = window.post(form["action"], data=form["fields"])
    assert started.status_code == 302, started.get_data(as_text=True)
    query = auth_query(started.headers["Location"])
    assert query["state"] != login.auth_query["state"]  # a new login, not the old one
    action, launch_form = lms.platform.authorize(query)
    response = window.post(urlsplit(action).path, data=launch_form)

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].split("?")[0].endswith("/designer/")
    assert window.get(response.headers["Location"]).status_code == 200


def test_new_window_form_alone_does_not_complete_the_old_launch(app, lms):
    """Replaying the blocked launch's id_token in the new window is still refused."""
    blocked = cookieless_browser(app)
    login = lms.login(blocked, "learner")
    launch_form = lms.authorize(login)
    lms.post_launch(blocked, launch_form)

    window = app.test_client()
    response = window.post("/lti/launch", data=launch_form)

    assert response.status_code == 403
    assert "cookies_blocked" in response.get_data(as_text=True)


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


def _launch_through_platform_storage(app: Any, lms: Any, persona: str = "learner") -> Any:
    return lms.storage_launch(cookieless_browser(app), persona)


def test_launch_with_the_secret_from_platform_storage_succeeds(app, lms):
    response = _launch_through_platform_storage(app, lms)

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].split("?")[0].endswith("/learner/")


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
    location = response.headers["Location"]
    token = auth_query(location).get("lt")
    assert token

    browser = cookieless_browser(app)
    page = browser.get(location)

    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert "Demo Ansatt" in html
    assert f"lt={token}" in html  # links on the page keep carrying the token
    assert browser.get("/learner/").status_code == 401  # no token, no cookie: not signed in


def test_launch_token_by_header(app, lms):
    token = auth_query(_launch_through_platform_storage(app, lms).headers["Location"])["lt"]

    page = cookieless_browser(app).get("/learner/", headers={"X-Launch-Token": token})

    assert page.status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        lambda token: "not-a-token",
        lambda token: token.split(".")[0] + ".AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
    ids=["tampered-signature", "garbage", "forged-timestamp-and-signature"],
)
def test_forged_launch_token_is_refused(app, lms, forge):
    token = auth_query(_launch_through_platform_storage(app, lms).headers["Location"])["lt"]

    page = cookieless_browser(app).get("/learner/", query_string={"lt": forge(token)})

    assert page.status_code == 401
    assert "not_signed_in" in page.get_data(as_text=True)


def test_launch_token_signed_with_another_secret_is_refused(app, lms, make_app):
    """A token made by an instance with another SECRET_KEY (or by anyone else) is refused."""
    token = auth_query(_launch_through_platform_storage(app, lms).headers["Location"])["lt"]
    other = make_app(SECRET_KEY="another-secret-key-another-secret-key-xx")
    with other.test_request_context():
        launch_id = URLSafeTimedSerializer(app.secret_key, salt="launch-token").loads(token)
        forged = URLSafeTimedSerializer(other.secret_key, salt="launch-token").dumps(launch_id)

    page = cookieless_browser(app).get("/learner/", query_string={"lt": forged})

    assert page.status_code == 401


def test_storage_secret_posted_from_another_site_is_refused(app, lms):
    """Login CSRF: an attacker's own secret, posted by the victim's browser from elsewhere."""
    attacker = cookieless_browser(app)
    login = lms.login(attacker, "admin", storage_target="_parent")
    secret = storage_secret(login.response.get_data(as_text=True))
    form = {**lms.authorize(login), "lti_storage_secret": secret}
    victim = cookieless_browser(app)

    response = victim.post(
        "/lti/launch",
        data=form,
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 401
    assert "state_mismatch" in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_storage_secret_for_a_login_without_platform_storage_is_refused(app, lms):
    browser = TestLms.browser(app)
    login = lms.login(browser, "learner")
    secret = browser.get_cookie(state_cookie_name(login.auth_query["state"]), path="/lti/")
    assert secret is not None
    form = {**lms.authorize(login), "lti_storage_secret": secret.value}

    response = lms.repost_launch(cookieless_browser(app), form)

    assert response.status_code == 401
    assert "state_mismatch" in response.get_data(as_text=True)
