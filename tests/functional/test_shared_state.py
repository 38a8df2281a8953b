"""Login on one app instance, launch on another: state and nonces are shared, not per process.

Two ``make_app()`` instances stand for two workers (or hosts) behind one load balancer,
sharing the database (and Redis when TEST_REDIS_URL is set) but nothing in memory. The
two test clients are the same browser: the state cookie set by the first instance is
carried to the second, as a browser would send it to whichever worker answers.
"""

from __future__ import annotations

from typing import Any

from lti_tool.lti.oidc import state_cookie_name
from tests.fakes.lms import TestLms


def _carry_state_cookie(login: Any, source: Any, target: Any, state: str) -> None:
    """Copy the login's state cookie from one test client to the other (same browser)."""
    name = state_cookie_name(state)
    host = login.response.request.host.partition(":")[0]  # where the test client sent it
    cookie = source.get_cookie(name, domain=host, path="/lti/")
    assert cookie is not None, "the login did not set the state cookie"
    target.set_cookie(name, cookie.decoded_value, domain=host, path="/lti/")


def _two_instances(make_app: Any) -> tuple[Any, Any]:
    first, second = make_app(), make_app()
    assert first is not second
    return TestLms.browser(first), TestLms.browser(second)


def test_login_on_one_instance_launch_on_another(lms, make_app):
    on_first, on_second = _two_instances(make_app)
    login = lms.login(on_first, "learner")
    assert login.response.status_code == 302
    form = lms.authorize(login)
    _carry_state_cookie(login, on_first, on_second, form["state"])

    response = lms.post_launch(on_second, form)

    assert response.status_code == 200, response.get_data(as_text=True)  # the start page
    assert TestLms.landing_path(response) == "/learner/"
    assert "Demo Ansatt" in response.get_data(as_text=True)
    assert "Demo Ansatt" in on_second.get("/learner/").get_data(as_text=True)


def test_launch_needs_the_state_cookie_even_across_instances(lms, make_app):
    """Without the cookie, the shared state alone does not prove this is the same browser."""
    on_first, on_second = _two_instances(make_app)
    login = lms.login(on_first, "learner")
    form = lms.authorize(login)

    response = lms.post_launch(on_second, form)  # the cookie is not carried over

    assert response.status_code == 403
    assert "state_cookie_lost" in response.get_data(as_text=True)


def test_nonce_used_on_one_instance_is_refused_on_another(lms, make_app):
    on_first, on_second = _two_instances(make_app)
    login = lms.login(on_first, "learner")
    form = lms.authorize(login)
    _carry_state_cookie(login, on_first, on_second, form["state"])  # before the launch deletes it

    first = lms.post_launch(on_first, form)
    assert lms.landing_path(first) == "/learner/", first.get_data(as_text=True)

    replay = lms.post_launch(on_second, form)

    assert replay.status_code == 401
    assert "replayed_launch" in replay.get_data(as_text=True)
    assert "Location" not in replay.headers
    assert on_second.get("/learner/").status_code == 401  # the replay signed nobody in
