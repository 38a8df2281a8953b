"""A tab in a browser that drops the tool's cookies, driven as ``static/launch_token.js``
drives it: the landing page answering the launch (its ``<meta>`` launch token), then links
and GET forms as POST navigations and POST forms with the launch token as a hidden field.
Never a launch token in a URL."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.lms import TestLms, parse_forms

META = re.compile(r'<meta name="launch-token" content="([^"]+)">')
ONWARD = re.compile(r'<form id="launch-token-continue" method="post" action="([^"]+)"')


def page_token(html: str) -> str | None:
    """The launch token a page carries on (its ``<meta>``), if any."""
    found = META.search(html)
    return found.group(1) if found else None


def launch_token_of(app: Any, launched: Any) -> str:
    """The launch token a cookie-less landing carries: the page answering a
    storage-proven launch."""
    page = launched
    assert page.status_code == 200, page.get_data(as_text=True)
    token = page_token(page.get_data(as_text=True))
    assert token, "the cookie-less landing carries no launch token"
    return token


class CookielessTab:
    """One tab: the landing page answering the launch, then carries the page's token on."""

    def __init__(self, app: Any, launched: Any) -> None:
        self.client = TestLms.cookieless_browser(app)
        self.visited: list[tuple[str, Any]] = []
        self.page = self._see(TestLms.landing_path(launched), launched)
        self.token = page_token(self.html)
        assert self.token, "the cookie-less landing carries no launch token"

    @property
    def html(self) -> str:
        text: str = self.page.get_data(as_text=True)
        return text

    def _see(self, url: str, response: Any) -> Any:
        self.visited.append((url, response))
        onward = (
            ONWARD.search(response.get_data(as_text=True)) if response.status_code == 200 else None
        )
        if onward:  # a redirect carried over: the script navigates on by POST
            return self.navigate(onward.group(1).replace("&amp;", "&"))
        return response

    def navigate(self, url: str) -> Any:
        """A link or GET form, as the script follows it."""
        response = self.client.post(url, data={"_navigate": "get", "lt": self.token})
        self.page = self._see(url, response)
        return self.page

    def submit(self, form: dict[str, Any], **changes: str) -> Any:
        """A POST form, with the hidden ``lt`` the script adds."""
        data = {**form["fields"], **changes, "lt": self.token}
        response = self.client.post(form["action"], data=data)
        self.page = self._see(form["action"], response)
        return self.page

    def post_forms(self) -> list[dict[str, Any]]:
        return [f for f in parse_forms(self.html) if f["method"] == "post"]


def launch_id_of(app: Any, launched: Any) -> str:
    """The id of the Launch row a launch made: read from the session cookie the landing
    page answering it sets."""
    assert TestLms.landed(launched), launched.get_data(as_text=True)
    name = app.config["SESSION_COOKIE_NAME"]
    (cookie,) = [
        h.split(";")[0].split("=", 1)[1]
        for h in launched.headers.getlist("Set-Cookie")
        if h.startswith(name + "=")
    ]
    session = app.session_interface.get_signing_serializer(app).loads(cookie)
    return str(session["launch_id"])
