"""The test LMS: drives real signed launches against the tool through HTTP.

It wraps the demo platform (the same code /demo runs) and fakes the platform's HTTP
endpoints with ``responses``: the tool fetches the JWKS as it would from Moodle.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

from lti_tool.lti.demo_platform import DemoPlatform

TOOL_HOST = "tool.example"


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


def parse_forms(html: str) -> list[dict[str, Any]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


#: The start pages (``services.launches.LANDING``): a launch to one answers with the page.
PAGE_ADDRESS = re.compile(r'<meta name="page-address" content="([^"]*)">')
LAUNCH_TOKEN = re.compile(r'<meta name="launch-token" content="([^"]*)">')


def page_address(html: str) -> str | None:
    """The address a start page answering a launch POST stands for (its ``<meta>``)."""
    found = PAGE_ADDRESS.search(html)
    return found.group(1) if found else None


def page_launch_token(html: str) -> str | None:
    """The launch token a page carries for a browser without the session cookie."""
    found = LAUNCH_TOKEN.search(html)
    return found.group(1) if found else None


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


@dataclasses.dataclass
class Login:
    response: Any
    """The page or redirect that sends the browser to the platform (or says it cannot)."""
    auth_query: dict[str, str]
    initiation: Any = None
    """The answer to ``/lti/login`` itself, when the cookie check came after it."""


class TestLms:
    __test__ = False

    def __init__(self, platform: DemoPlatform, http: responses.RequestsMock) -> None:
        self.platform = platform
        self.http = http
        self.jwks_calls = 0
        self.jwks_body: dict[str, Any] = platform.jwks()
        http.add_callback(responses.GET, platform.jwks_url, callback=self._serve_jwks)

    def _serve_jwks(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        self.jwks_calls += 1
        return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks_body)

    @staticmethod
    def browser(app: Any) -> Any:
        """A test client that behaves like a browser on the tool's https host."""
        client = app.test_client()
        client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": TOOL_HOST})
        return client

    @staticmethod
    def same_browser_on(browser: Any, app: Any) -> Any:
        """``browser``, now answered by another ``app`` (restarted, restored, another host):
        its session cookie carried over."""
        target = TestLms.browser(app)
        name = app.config["SESSION_COOKIE_NAME"]
        cookie = browser.get_cookie(name)  # the test client keeps it as localhost's
        assert cookie is not None, "no session cookie to carry"
        target.set_cookie(name, cookie.decoded_value)
        return target

    @staticmethod
    def cookieless_browser(app: Any) -> Any:
        """A browser that drops every cookie the tool sets (third-party cookies blocked)."""
        return app.test_client(use_cookies=False)

    # --- what a launch answers -------------------------------------------------------------

    @staticmethod
    def landed(response: Any) -> bool:
        """A launch accepted: its landing page (a start page, the picker, a placed
        mapping, certification or activity) answering the POST itself, 200 with the page's
        address in a ``<meta>``; never a redirect (no token in any URL)."""
        if response.status_code != 200:
            return False
        address = page_address(response.get_data(as_text=True))
        return address is not None and address.startswith("/")

    @classmethod
    def landing_path(cls, response: Any) -> str:
        """The address of the page a launch answered with. Fails (with the page) for a
        launch not accepted."""
        assert cls.landed(response), (response.status_code, response.get_data(as_text=True))
        address = page_address(response.get_data(as_text=True))
        assert address is not None
        return address

    @classmethod
    def landing_page(cls, client: Any, response: Any, **kwargs: Any) -> Any:
        """The page a launch landed on: the launch's answer itself, or, with ``kwargs``
        (a language, headers), a GET of its address with them, as a reload would."""
        assert cls.landed(response), (response.status_code, response.get_data(as_text=True))
        if kwargs:
            return client.get(cls.landing_path(response), **kwargs)
        return response

    @classmethod
    def landing_html(cls, client: Any, response: Any, **kwargs: Any) -> str:
        """The HTML of ``landing_page``."""
        return str(cls.landing_page(client, response, **kwargs).get_data(as_text=True))

    # --- the three legs of a launch ----------------------------------------------------

    def login(
        self, client: Any, persona: str = "learner", method: str = "GET", **kwargs: Any
    ) -> Login:
        return self.login_with(client, self.platform.login_params(persona, **kwargs), method)

    def login_with(self, client: Any, params: dict[str, str], method: str = "GET") -> Login:
        """The login leg with parameters a test has edited (unknown issuer, no client_id…)."""
        if method == "GET":
            response = client.get("/lti/login", query_string=params)
        else:
            response = client.post("/lti/login", data=params)
        initiation = None
        if response.status_code == 302 and self.is_check(response.headers["Location"]):
            initiation, response = response, client.get(response.headers["Location"])
        query: dict[str, str] = {}
        if response.status_code == 302:
            location = response.headers["Location"]
            query = dict(parse_qsl(urlsplit(location).query))
        elif response.status_code == 200:  # the client-side storage page
            found = re.search(r'var authUrl = "([^"]+)"', response.get_data(as_text=True))
            if found:
                url = found.group(1).encode().decode("unicode_escape")
                query = dict(parse_qsl(urlsplit(url).query))
        return Login(response, query, initiation)

    @staticmethod
    def is_check(location: str) -> bool:
        """Whether a redirect goes to the tool's cookie check (the login's second step)."""
        return urlsplit(location).path == "/lti/login/check"

    def authorize(self, login: Login) -> dict[str, str]:
        action, fields = self.platform.authorize(login.auth_query)
        assert action == self.platform.tool_launch_url
        return fields

    def authorize_redirect(self, response: Any) -> dict[str, str]:
        """The platform answering the tool's redirect to its authorization endpoint."""
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(self.platform.auth_url + "?"), location
        return self.authorize(Login(response, dict(parse_qsl(urlsplit(location).query))))

    def post_launch(self, client: Any, form: dict[str, str]) -> Any:
        return client.post("/lti/launch", data=form)

    def repost_launch(self, client: Any, form: dict[str, str]) -> Any:
        """The tool's own storage page posting the launch again (a same-origin POST)."""
        return client.post("/lti/launch", data=form, headers={"Sec-Fetch-Site": "same-origin"})

    def launch(self, client: Any, persona: str = "learner", **kwargs: Any) -> Any:
        """A whole login → authorization → launch, as the platform and browser do it."""
        login = self.login(client, persona, **kwargs)
        assert login.response.status_code in (200, 302), login.response.get_data(as_text=True)
        return self.post_launch(client, self.authorize(login))

    def signed_launch(
        self,
        client: Any,
        persona: str = "learner",
        *,
        change: dict[str, Any] | None = None,
        remove: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        key: Any = None,
        algorithm: str = "RS256",
        token: str | None = None,
        **login_kwargs: Any,
    ) -> Any:
        """Log in for real, then answer with an id_token built to a test's needs."""
        login = self.login(client, persona, **login_kwargs)
        nonce = login.auth_query["nonce"]
        claims = self.platform.launch_claims(persona, nonce=nonce, link=login_kwargs.get("link"))
        claims.update(change or {})
        for name in remove:
            claims.pop(name, None)
        if token is None:
            token = self.platform.sign(claims, headers=headers, key=key, algorithm=algorithm)
        return self.post_launch(client, {"id_token": token, "state": login.auth_query["state"]})

    def storage_launch(self, client: Any, persona: str = "learner", **kwargs: Any) -> Any:
        """A launch that proves the browser through LTI platform storage, not the cookie.

        The login page's ``lti.put_data`` secret is what ``lti.get_data`` answers on the
        launch page, whose form is then posted with it as ``lti_storage_secret``.
        """
        login = self.login(client, persona, storage_target="_parent", **kwargs)
        assert login.response.status_code == 200, login.response.get_data(as_text=True)
        found = re.search(r'value: "([^"]+)"', login.response.get_data(as_text=True))
        assert found, "the login page puts no secret in platform storage"
        response = self.post_launch(client, self.authorize(login))
        if response.status_code != 200 or self.landed(response):
            return response  # the browser kept the cookie after all
        forms = parse_forms(response.get_data(as_text=True))
        relaunch = next(f for f in forms if f["action"] == "/lti/launch")
        fields = {**relaunch["fields"], "lti_storage_secret": found.group(1)}
        return self.repost_launch(client, fields)

    # --- deep linking: the designer places content in the course ------------------------

    def deep_link(
        self,
        client: Any,
        choose: list[str],
        *,
        persona: str = "designer",
        lineitem_for: Any = None,
        cancel: bool = False,
    ) -> tuple[list[str], dict[str, Any]]:
        """Open the tool's picker from a deep-linking launch, choose ``choose`` (the form's
        values: ``mapping:<id>``, ``role``, ``home``), and receive the signed response as the
        LMS does: verified with the tool's JWKS, its links placed in the course (columns
        made by ``lineitem_for``). Returns the new links' ids and the response's claims."""
        import jwt

        from lti_tool.lti import claims as c

        response = self.launch(client, persona, message_type=c.DEEP_LINKING_REQUEST, locale="en")
        assert self.landed(response), response.get_data(as_text=True)  # the picker
        assert self.landing_path(response) == "/designer/deep-link"
        page = self.landing_page(client, response)
        form = next(f for f in parse_forms(page.get_data(as_text=True)) if f["method"] == "post")
        data: dict[str, Any] = {"csrf_token": form["fields"]["csrf_token"]}
        if cancel:
            data["cancel"] = "1"
        else:
            data["item"] = choose
        answer = client.post(form["action"], data=data)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        autopost = parse_forms(answer.get_data(as_text=True))[0]
        assert autopost["action"] == self.platform.issuer + "/deep-link-return"
        token = autopost["fields"]["JWT"]
        jwks = client.get("/lti/jwks.json").get_json()
        kid = jwt.get_unverified_header(token)["kid"]
        key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
        message = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self.platform.issuer,
            issuer=self.platform.client_id,
        )
        items = message[c.DEEP_LINKING_CONTENT_ITEMS]
        return self.platform.place(items, lineitem_for), message
