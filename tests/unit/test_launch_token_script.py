"""``static/launch_token.js`` in a real Chromium: what a cookie-less page's forms and links
send, and where. Pages are served by request interception (no tool running): the script is
the tool's own file. Skipped without playwright or Chromium (``scripts/axe_pages.py``'s
requirements)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

SCRIPT = Path(__file__).parents[2] / "lti_tool" / "static" / "launch_token.js"
TOOL = "https://tool.test"
TOKEN = "the-launch-token"


def _page(body: str, token: str | None = TOKEN, address: str | None = None) -> str:
    meta = f'<meta name="launch-token" content="{token}">' if token else ""
    if address is not None:  # a start page answering the launch POST (views.lti)
        meta += f'<meta name="page-address" content="{address}">'
    return (
        f'<!doctype html><html><head>{meta}<script src="/static/launch_token.js" defer>'
        f"</script></head><body>{body}</body></html>"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium through playwright. Both come with the accessibility run, not the tool:
    without them these tests skip, except where ``BROWSER_TESTS_REQUIRED`` is set (CI runs
    them again in its accessibility stage, where a skip would hide a broken script)."""
    if os.environ.get("BROWSER_TESTS_REQUIRED"):
        from playwright import sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        if os.environ.get("BROWSER_TESTS_REQUIRED"):
            pytest.fail("BROWSER_TESTS_REQUIRED, but no Chromium")
        pytest.skip("no Chromium")
    with sync_api.sync_playwright() as playwright:
        found = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield found
        found.close()


class Site:
    """A tab on ``TOOL`` (and ``https://lms.test``): every request recorded, answered by
    ``pages`` (path → HTML) or an empty page."""

    def __init__(self, browser: Any, pages: dict[str, str]) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.pages = pages
        self.context = browser.new_context()
        self.context.route("**/*", self._answer)
        self.tab = self.context.new_page()
        self.errors: list[str] = []
        self.tab.on("pageerror", lambda error: self.errors.append(str(error)))

    def _answer(self, route: Any) -> None:
        request = route.request
        self.requests.append((request.method, request.url, request.post_data or ""))
        if request.url.endswith("/static/launch_token.js"):
            route.fulfill(body=SCRIPT.read_text(), content_type="text/javascript")
            return
        path = "/" + request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        page = self.pages.get(f"{request.method} {path}") or self.pages.get(path)
        route.fulfill(body=page or _page("<p>done</p>"), content_type="text/html")

    def open(self, path: str) -> None:
        self.requests.clear()
        self.tab.goto(TOOL + path)
        self.tab.wait_for_load_state("load")

    def sent(self, method: str, url: str) -> dict[str, list[str]]:
        """The fields of the last request of ``method`` to ``url`` (waits for it)."""
        self.tab.wait_for_load_state("load")
        for _ in range(50):
            found = [body for m, u, body in self.requests if m == method and u == url]
            if found:
                return parse_qs(found[-1], keep_blank_values=True)
            self.tab.wait_for_timeout(50)
        raise AssertionError((method, url, self.requests))

    def close(self) -> None:
        """Done: the script threw nothing."""
        self.context.close()
        assert self.errors == []


def test_a_form_posting_to_another_site_gets_no_launch_token(browser):
    """The deep-linking response posts to the LMS (``lti/autopost.html``): never the token."""
    site = Site(
        browser,
        {
            "/designer/deep-link": _page(
                '<form method="post" action="https://lms.test/return">'
                '<input type="hidden" name="JWT" value="signed">'
                '<button type="submit">Continue</button></form>'
            )
        },
    )
    site.open("/designer/deep-link")
    site.tab.click("button")
    assert site.sent("POST", "https://lms.test/return") == {"JWT": ["signed"]}
    site.close()


def test_a_form_posting_to_the_tool_gets_the_launch_token(browser):
    site = Site(
        browser,
        {"/a": _page('<form method="post" action="/b"><button type="submit">Go</button></form>')},
    )
    site.open("/a")
    site.tab.click("button")
    assert site.sent("POST", f"{TOOL}/b") == {"lt": [TOKEN]}
    site.close()


def test_a_buttons_formaction_and_formmethod_decide_where_and_how(browser):
    site = Site(
        browser,
        {
            "/a": _page(
                '<form method="get" action="/search"><input name="q" value="brann">'
                '<button type="submit" id="find">Find</button>'
                '<button type="submit" id="out" formmethod="post" '
                'formaction="https://lms.test/out">Out</button>'
                '<button type="submit" id="keep" formmethod="post" formaction="/keep" '
                'name="go" value="keep">Keep</button></form>'
            )
        },
    )
    site.open("/a")
    site.tab.click("#keep")  # a POST to the tool: the token as a field, not a navigation
    assert site.sent("POST", f"{TOOL}/keep") == {"q": ["brann"], "go": ["keep"], "lt": [TOKEN]}
    site.open("/a")
    site.tab.click("#out")  # a POST elsewhere: no token
    assert site.sent("POST", "https://lms.test/out") == {"q": ["brann"]}
    site.open("/a")
    site.tab.click("#find")  # the GET form: a navigation
    assert site.sent("POST", f"{TOOL}/search?q=brann") == {"_navigate": ["get"], "lt": [TOKEN]}
    site.close()


def test_a_button_sending_a_tool_form_elsewhere_sends_no_token(browser):
    site = Site(
        browser,
        {
            "/a": _page(
                '<form method="post" action="/b"><input name="n" value="1">'
                '<button type="submit" id="out" formaction="https://lms.test/out">Out</button>'
                '<button type="submit" id="in">In</button></form>'
            )
        },
    )
    site.open("/a")
    site.tab.click("#out")
    assert site.sent("POST", "https://lms.test/out") == {"n": ["1"]}
    site.open("/a")
    site.tab.click("#in")
    assert site.sent("POST", f"{TOOL}/b") == {"n": ["1"], "lt": [TOKEN]}
    site.close()


def test_a_cancelled_submit_does_not_navigate(browser):
    site = Site(
        browser,
        {
            "/a": _page(
                '<form method="get" action="/search" id="f"><button type="submit">Find</button>'
                "</form><script>document.getElementById('f').addEventListener('submit', "
                "function (e) { e.preventDefault(); });</script>"
            )
        },
    )
    site.open("/a")
    site.tab.click("button")
    site.tab.wait_for_timeout(300)
    assert [r for r in site.requests if "/search" in r[1]] == []
    site.close()


def test_links_navigate_by_post_only_within_the_tool(browser):
    site = Site(
        browser,
        {
            "/a": _page(
                '<a id="in" href="/b?x=1">in</a> <a id="out" href="https://lms.test/c">out</a>'
                ' <a id="slashes" href="//lms.test/d">slashes</a>'
            )
        },
    )
    site.open("/a")
    site.tab.click("#in")
    assert site.sent("POST", f"{TOOL}/b?x=1") == {"_navigate": ["get"], "lt": [TOKEN]}
    site.open("/a")
    site.tab.click("#in", button="middle")  # a new tab, by POST too
    assert site.sent("POST", f"{TOOL}/b?x=1") == {"_navigate": ["get"], "lt": [TOKEN]}
    site.tab.wait_for_timeout(300)
    assert len(site.context.pages) == 2, site.requests
    site.open("/a")
    site.tab.click("#out")
    assert site.sent("GET", "https://lms.test/c") == {}
    site.open("/a")
    site.tab.click("#slashes")
    assert site.sent("GET", "https://lms.test/d") == {}
    assert not any(TOKEN in url or TOKEN in body for _m, url, body in site.requests[-1:])
    site.close()


def test_without_a_token_the_page_is_left_alone(browser):
    site = Site(browser, {"/a": _page('<a id="in" href="/b">in</a>', token=None)})
    site.tab.goto(f"{TOOL}/a?x=1")
    site.tab.wait_for_load_state("load")
    assert site.tab.url == f"{TOOL}/a?x=1"
    site.tab.click("#in")
    assert site.sent("GET", f"{TOOL}/b") == {}
    site.close()


def _launched(browser: Any, page: str) -> Site:
    """A tab the LMS launched: its form posted to the tool's launch URL, which answered
    with ``page`` (a start page). Every GET of the tool answers a page saying so."""
    site = Site(
        browser,
        {
            "/launch-from-lms": (
                '<!doctype html><html><body><form method="post" id="f" '
                f'action="{TOOL}/lti/launch"><input type="hidden" name="id_token" value="x">'
                "</form><script>document.getElementById('f').submit();</script></body></html>"
            ),
            "POST /lti/launch": page,
            "GET /learner/": _page("<p>got again</p>", token=None),
        },
    )
    site.tab.goto("https://lms.test/launch-from-lms")
    site.tab.wait_for_url(f"{TOOL}/**")
    site.tab.wait_for_load_state("load")
    return site


@pytest.mark.parametrize("token", [None, TOKEN], ids=["by-cookie", "by-storage"])
def test_a_start_page_answering_the_launch_takes_its_address_and_a_reload_gets_it(browser, token):
    """The launch POST's answer is the start page: its address, not the launch URL, is in
    the address bar, so a reload is a GET of the page, not the launch posted again (which
    the tool refuses as a replay)."""
    site = _launched(browser, _page('<p id="start">start</p>', token=token, address="/learner/"))
    assert site.tab.locator("#start").count() == 1  # the launch's own answer, shown
    assert site.tab.url == f"{TOOL}/learner/"
    assert [m for m, u, _b in site.requests if u == f"{TOOL}/lti/launch"] == ["POST"]

    site.requests.clear()
    site.tab.reload()
    site.tab.wait_for_load_state("load")

    assert [(m, u) for m, u, _b in site.requests if not u.endswith(".js")] == [
        ("GET", f"{TOOL}/learner/")
    ]
    assert site.tab.locator("text=got again").count() == 1
    site.close()


@pytest.mark.parametrize(
    "address", ["https://lms.test/x", "//lms.test/x", "/\\lms.test/x", "learner/", ""]
)
def test_a_page_address_elsewhere_leaves_the_address_and_the_token_at_work(browser, address):
    """Only a path of the tool becomes the address; anything else is ignored, and the
    launch token still goes with the page's forms."""
    site = _launched(
        browser,
        _page(
            '<form method="post" action="/b"><button type="submit">Go</button></form>',
            address=address,
        ),
    )
    assert site.tab.url == f"{TOOL}/lti/launch"
    site.tab.click("button")
    assert site.sent("POST", f"{TOOL}/b") == {"lt": [TOKEN]}
    site.close()
