"""``navigation.NavigationPost`` at the WSGI level: which bodies become the GET they stand
for, and that every other body reaches the app whole."""

from __future__ import annotations

import io
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from lti_tool.navigation import MAX_BODY, NavigationPost


def _seen(body: bytes, content_type: str, method: str = "POST", **extra: Any) -> dict[str, Any]:
    """What the app behind the middleware sees: method, header, body, length."""
    environ = EnvironBuilder(
        path="/designer/?page=2", method=method, data=body, content_type=content_type
    ).get_environ()
    environ.update(extra)
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(env.get("CONTENT_LENGTH") or 0)
        seen.update(
            method=env["REQUEST_METHOD"],
            token=env.get("HTTP_X_LAUNCH_TOKEN"),
            body=env["wsgi.input"].read(length) if length else env["wsgi.input"].read(),
            query=env["QUERY_STRING"],
        )
        return []

    NavigationPost(app)(environ, lambda *a: None)
    return seen


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "content_type", [FORM, f"{FORM}; charset=UTF-8", "Application/X-WWW-Form-Urlencoded"]
)
def test_a_navigation_becomes_its_get(content_type):
    seen = _seen(b"_navigate=get&lt=tok", content_type)
    assert seen == {"method": "GET", "token": "tok", "body": b"", "query": "page=2"}


@pytest.mark.parametrize(
    "body",
    [
        b"_navigate=get&lt=tok&title=x",  # anything more: a POST
        b"_navigate=get&lt=tok&lt=other",
        b"_navigate=get&_navigate=get",
        b"_navigate=post&lt=tok",
        b"_navigate=get&lt=",
        b"lt=tok",
        b"_navigate=get&lt=tok&" + b"x" * MAX_BODY,  # over the limit: not even read
        "_navigate=get&lt=tøk".encode(),
    ],
)
def test_any_other_body_reaches_the_app_whole(body):
    assert _seen(body, FORM) == {"method": "POST", "token": None, "body": body, "query": "page=2"}


def test_only_a_urlencoded_post_is_a_navigation():
    body = b"_navigate=get&lt=tok"
    assert _seen(body, "text/plain")["method"] == "POST"
    assert _seen(body, "multipart/form-data; boundary=x")["method"] == "POST"
    put = _seen(body, FORM, method="PUT")
    assert (put["method"], put["body"]) == ("PUT", body)


def test_a_body_without_its_length_is_left_unread():
    """Chunked (no ``Content-Length``): never read here, the app reads it."""
    body = b"_navigate=get&lt=tok"
    seen = _seen(body, FORM, CONTENT_LENGTH="", **{"wsgi.input": io.BytesIO(body)})
    assert (seen["method"], seen["body"]) == ("POST", body)


@pytest.mark.parametrize(
    ("site", "navigates"),
    [("same-origin", True), ("none", True), ("cross-site", False), ("same-site", False)],
)
def test_a_navigation_comes_from_the_tools_own_pages(site, navigates):
    """Another site's form cannot sign a browser in with its own token (login CSRF): its
    POST stays a POST (CSRF-checked). ``none``: the person's own doing (a reload)."""
    body = b"_navigate=get&lt=tok"
    seen = _seen(body, FORM, HTTP_SEC_FETCH_SITE=site)
    assert (seen["method"] == "GET") is navigates
    if not navigates:
        assert (seen["token"], seen["body"]) == (None, body)
