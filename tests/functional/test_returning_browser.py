"""A browser that kept the session cookie of an earlier launch skips the cookie check:
it goes from the login straight to the platform (one round trip fewer in every launch
after the first); a first launch, a browser that dropped the cookie, and a login with
platform storage keep theirs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from lti_tool.lti.oidc import state_cookie_name
from tests.fakes.lms import Login, TestLms


def _login(client, lms: TestLms, **kwargs):
    return client.get("/lti/login", query_string=lms.platform.login_params("learner", **kwargs))


def _session_cookie(app, client) -> bool:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is not None


def test_a_first_launch_is_checked(app, lms, client):
    assert not _session_cookie(app, client)
    response = _login(client, lms)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/lti/login/check"
    assert lms.platform.used_hints == set()


def test_a_browser_with_the_session_cookie_goes_straight_to_the_platform(app, lms, client):
    first = lms.launch(client, "learner")
    assert first.status_code in (200, 302), first.get_data(as_text=True)
    assert _session_cookie(app, client)

    response = _login(client, lms)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(lms.platform.auth_url + "?"), location
    query = dict(parse_qsl(urlsplit(location).query))
    # the state cookie that binds the launch to this browser, as after the check
    assert client.get_cookie(state_cookie_name(query["state"]), path="/lti/") is not None
    launched = lms.post_launch(client, lms.authorize(Login(response, query)))
    assert launched.status_code in (200, 302), launched.get_data(as_text=True)


def test_the_state_cookie_still_binds_the_skipped_check_to_the_browser(app, lms, client):
    """Another browser holding the platform's answer is refused: the check was skipped,
    not the proof."""
    lms.launch(client, "learner")
    response = _login(client, lms)
    query = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    form = lms.authorize(Login(response, query))

    other = app.test_client()
    refused = lms.post_launch(other, form)

    assert refused.status_code in (400, 401, 403), refused.status_code


def test_a_browser_that_dropped_the_cookie_is_checked_again(app, lms, client):
    lms.launch(client, "learner")
    client.delete_cookie(app.config["SESSION_COOKIE_NAME"])

    response = _login(client, lms)

    assert urlsplit(response.headers["Location"]).path == "/lti/login/check"


def test_platform_storage_keeps_its_page_for_a_returning_browser(app, lms, client):
    lms.launch(client, "learner")

    response = _login(client, lms, storage_target="_parent")

    assert response.status_code == 200  # the storage page, as for a first launch
    assert "put_data" in response.get_data(as_text=True)
