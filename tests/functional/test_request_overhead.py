"""What every request does around its view, done for less, must do the same (issue 15):
the session cookie signed again as Flask signs it, the NUL check, the response metrics."""

from __future__ import annotations

import datetime as dt

import itsdangerous.timed
import pytest
from flask.sessions import SecureCookieSessionInterface

from tests.fakes.lms import TestLms

COOKIE = "laeringslop_session"


def _session_cookie(response) -> str:
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)]
    return header.split(";")[0].split("=", 1)[1]


def test_the_session_cookie_is_signed_again_at_each_request_as_flask_signs_it(
    app, lms, monkeypatch
):
    """Each request signs the cookie again with its time (a session lasts SESSION_HOURS
    after the last request), and a worker running Flask's own session code reads it, and
    makes the same: a deployment may mix them."""
    browser = TestLms.browser(app)
    landed = lms.launch(browser, "learner")
    assert landed.status_code == 200
    flasks = SecureCookieSessionInterface().get_signing_serializer(app)
    at_launch = _session_cookie(landed)
    content, signed = flasks.loads(at_launch, return_timestamp=True)
    assert content["launch_id"] and content["_permanent"] is True

    later = int(signed.timestamp()) + 3600
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda _: later)
    for _ in range(2):  # the payload made, then as kept
        refreshed = _session_cookie(browser.get("/healthz"))
        assert flasks.loads(refreshed, return_timestamp=True) == (
            content,
            dt.datetime.fromtimestamp(later, dt.UTC),
        )
        with app.test_request_context():
            assert refreshed == flasks.dumps(content)  # byte for byte

    # a cookie Flask's own code made is read, and the session it holds is the launch's
    browser.set_cookie(COOKIE, at_launch)
    assert browser.get("/learner/").status_code == 200


def test_a_session_not_signed_by_the_key_is_no_session(app, lms):
    browser = TestLms.browser(app)
    lms.launch(browser, "learner")
    other = SecureCookieSessionInterface()
    forged = other.get_signing_serializer(app)
    with app.test_request_context():
        value = forged.dumps({"launch_id": 1, "_permanent": True})
    browser.set_cookie(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert browser.get("/learner/").status_code == 401


def test_nul_in_a_query_name_or_a_multipart_field_is_invalid(app, lms, client):
    assert client.get("/verify?co%00de=x").status_code == 422
    assert client.get("/verify?code=%2500").status_code != 422  # "%00" as text: no NUL
    refused = client.post("/verify", data={"code": "a\x00b"}, content_type="multipart/form-data")
    assert refused.status_code == 422


@pytest.mark.parametrize("status", [200, 404])
def test_responses_are_counted_by_endpoint_method_and_status(make_app, status):
    from lti_tool import metrics

    app = make_app()
    browser = app.test_client()
    path = "/healthz" if status == 200 else "/no-such-page"
    endpoint = "health.healthz" if status == 200 else "unmatched"
    series = metrics.RESPONSES.labels(endpoint, "GET", str(status))
    before = series._value.get()
    for _ in range(3):
        assert browser.get(path).status_code == status
    assert series._value.get() == before + 3


@pytest.mark.parametrize(
    ("location", "left"),
    [
        ("https://lms.test/auth?lt=abc&state=1", "https://lms.test/auth?state=1"),
        ("https://lms.test/auth?state=1&%6Ct=abc", "https://lms.test/auth?state=1"),
        ("https://lms.test/auth?l%74=abc", "https://lms.test/auth"),
        ("https://lms.test/auth?%6c%74&x=1", "https://lms.test/auth?x=1"),
        ("https://lms.test/auth?alt=1&lt2=2&x=%6C", "https://lms.test/auth?alt=1&lt2=2&x=%6C"),
        ("https://lms.test/auth?redirect_uri=https%3A%2F%2Ft%2F%3Flt%3D1", None),
    ],
)
def test_no_redirect_leaves_with_a_launch_token_however_its_name_is_written(app, location, left):
    """A Location whose query names ``lt`` in any way ``parse_qsl`` reads it loses it; any
    other is left exactly as the view made it (an authorization redirect's long query is
    not parsed)."""
    from flask import redirect

    from lti_tool.auth import carry_token_over_redirect

    with app.test_request_context("/lti/login"):
        answered = carry_token_over_redirect(redirect(location))
    assert answered.headers["Location"] == (left or location)
