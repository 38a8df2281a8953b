"""Run axe-core over the tool's pages in headless Chromium, reached as people reach them:
through signed launches from the demo LMS (/demo), in their main states (empty, with
data, with a form's errors), and take a skills mapping with the keyboard alone.

    .venv/bin/python scripts/axe_pages.py                  # starts its own tool, all tours
    .venv/bin/python scripts/axe_pages.py --tour plan      # one tour (see TOURS)
    .venv/bin/python scripts/axe_pages.py --base-url http://localhost:5000   # a running demo
    .venv/bin/python scripts/axe_pages.py --json axe.json  # every violation, for a CI stage
    .venv/bin/python scripts/axe_pages.py --impact serious # as CI runs it (.ci/run),
        [--redis-url redis://127.0.0.1:6379/6]             # with Redis when it can

What it needs (none of it is a dependency of the tool):
- the Python package ``playwright`` (``.venv/bin/pip install playwright``); its own browser
  download is not needed,
- Chromium (Debian: ``apt-get install chromium``; or ``--chromium PATH``),
- axe-core (``npm install axe-core`` here or in a folder named by ``--axe``/``AXE_CORE``).

Versions are pinned for CI in ``.ci/a11y-requirements.txt`` and ``.ci/run``.

Without ``--base-url`` it starts the tool on SQLite in a temporary folder with the demo
LMS (``flask db upgrade``, ``flask demo setup``, ``flask run``) and stops it at the end, so
a developer's own demo database is untouched. With ``--base-url`` the tool must be a fresh
demo (``./scripts/demo``): the tours book seats and choose job roles as the demo people.

A tour is a function that walks pages as one or more demo people and calls ``check`` on
each state worth checking; add one to ``TOURS`` to cover more pages. The role tours crawl:
from a few start pages they follow every link and GET form (a confirmation, a filter) and
check each page template once per role and set of query parameters; ``keyboard`` fails
when Tab, Enter and Space cannot take a mapping from the start page to its result. The
default locale is bokmål; ``languages`` checks a few pages in nynorsk and English. The
exit status is 1 when a violation of ``--impact`` or worse is found (default: every
impact), else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMPACTS = ("minor", "moderate", "serious", "critical")
#: axe-core's rule sets checked: WCAG 2.0, 2.1 and 2.2 A and AA, and axe's best practices.
#: Debian's Chromium as CI runs it: no sandbox (root in a container), nothing fetched.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]


@dataclass
class Report:
    """Each checked state and its violations."""

    checked: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    incomplete: list[dict[str, Any]] = field(default_factory=list)
    """What axe could not decide (e.g. contrast over an image): to review by eye."""
    templates: dict[str, list[str]] = field(default_factory=dict)
    """The page templates each crawl checked, per person."""


# --- the browser ----------------------------------------------------------------------------


class Tool:
    """The tool at ``base`` as the demo people see it: one browser context per person
    (their own cookies), each launched from the demo LMS."""

    def __init__(
        self, browser: Any, base: str, axe_js: str, report: Report, shots: Path | None = None
    ) -> None:
        self.browser, self.base, self.axe_js, self.report = browser, base, axe_js, report
        self.shots = shots
        self.pages: dict[str, Any] = {}

    def person(self, persona: str, locale: str = "nb") -> Any:
        """The page of ``persona``, launched once per course locale (bokmål by default);
        ``anonymous`` is a browser with no launch, for the public pages."""
        key = f"{persona}/{locale}"
        if key not in self.pages:
            context = self.browser.new_context(locale={"en": "en-GB"}.get(locale, "nb-NO"))
            # axe comes with every document, as the browser's own script: the tool's
            # Content-Security-Policy (nonces only) stays in force for the page's scripts.
            context.add_init_script(script=self.axe_js)
            page = context.new_page()
            page.set_default_timeout(30_000)
            if persona != "anonymous":
                page.goto(f"{self.base}/demo/launch/{persona}?locale={locale}")
                if "/demo/" in page.url or page.url.rstrip("/").endswith("/demo"):
                    raise RuntimeError(
                        f"the launch as {persona} did not reach the tool: {page.url}"
                    )
            self.pages[key] = page
        return self.pages[key]

    def open(self, persona: str, path: str, locale: str = "nb", expect: int = 200) -> Any:
        """``path`` as ``persona``; its status must be ``expect`` (a form's errors: 422)."""
        page = self.person(persona, locale)
        response = page.goto(self.base + path)
        status = response.status if response else "no answer"
        if status != expect:
            raise RuntimeError(f"{path} as {persona}: {status}, not {expect}")
        return page

    def check(self, name: str, page: Any) -> None:
        """Run axe on the page as it is now; record its violations under ``name``."""
        found = page.evaluate(
            """async (tags) => {
                const result = await axe.run(document, {
                    runOnly: {type: 'tag', values: tags},
                    resultTypes: ['violations', 'incomplete']});
                const shape = v => ({
                    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                              html: n.html.slice(0, 300),
                                              summary: n.failureSummary}))});
                return {violations: result.violations.map(shape),
                        incomplete: result.incomplete.map(shape)};
            }""",
            TAGS,
        )
        self.report.checked.append(name)
        if self.shots is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            shown = getattr(page, "page", page)  # a frame (the cookie-less tour): its page
            shown.screenshot(
                path=str(self.shots / f"{len(self.report.checked):02d}-{slug}.png"), full_page=True
            )
        for violation in found["violations"]:
            self.report.violations.append({"page": name, "url": page.url, **violation})
        for undecided in found["incomplete"]:
            self.report.incomplete.append({"page": name, "url": page.url, **undecided})
        unsure = sorted({v["id"] for v in found["incomplete"]})
        print(
            f"  {name}: {len(found['violations'])} violation(s)"
            + (f"; to review by eye: {', '.join(unsure)}" if unsure else ""),
            flush=True,
        )


def _submit(page: Any, form_selector: str) -> None:
    """Submit a form as its button does (``novalidate`` forms reach the server)."""
    with page.expect_navigation():
        page.locator(f"{form_selector} [type=submit]").first.click()


def _ids(page: Any, pattern: str) -> list[int]:
    """The numbers in the page's links matching ``pattern`` (one group), in page order."""
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    found: list[int] = []
    for href in hrefs:
        match = re.search(pattern, href or "")
        if match and int(match.group(1)) not in found:
            found.append(int(match.group(1)))
    return found


# --- the tours ------------------------------------------------------------------------------


def tour_plan(tool: Tool) -> None:
    """The learning plan: empty (the demo designer has no job role), with items (the demo
    learner), a decline sent without a reason; the manager's view of a person's plan."""
    tool.check("learner plan, empty", tool.open("designer", "/learner/plan"))
    page = tool.open("learner", "/learner/plan")
    tool.check("learner plan, with items", page)
    declines = page.locator("details", has=page.locator("input[value=declined]"))
    if not declines.count():
        raise RuntimeError("the demo learner's plan has nothing to decline")
    declines.first.locator("summary").click()
    with page.expect_navigation():
        declines.first.locator("[type=submit]").click()
    tool.check("learner plan, decline without a reason (422)", page)
    manager = tool.open("manager", "/manager/")
    people = _ids(manager, r"/manager/people/(\d+)(?:\?|$)")
    for person_id in people:
        plan = tool.open("manager", f"/manager/people/{person_id}/plan")
        if "Demo Ansatt" in plan.content():
            tool.check("manager: a person's plan", plan)
            _submit(plan, f"form[action*='/manager/people/{person_id}/plan/items']")
            tool.check("manager: add to a plan, nothing chosen (422)", plan)
            break


def tour_sessions(tool: Tool) -> None:
    """Activities and sessions: the catalogue, an e-learning and a classroom activity, a
    full session with a waitlist, one's bookings, and the instructor's attendance list."""
    page = tool.open("learner", "/learner/activities")
    tool.check("activities", page)
    activities = _ids(page, r"/learner/activities/(\d+)(?:\?|$)")
    classroom = e_learning = None
    sessions: list[int] = []
    for course_id in activities:
        activity = tool.open("learner", f"/learner/activities/{course_id}")
        has_sessions = activity.locator("a[href*='/sessions/']").count() > 0
        if has_sessions and classroom is None:
            classroom = course_id
            sessions = _ids(activity, r"^/sessions/(\d+)(?:\?|$)")
            tool.check("activity, classroom with sessions", activity)
        elif "E-læring" in activity.inner_text("main") and e_learning is None:
            e_learning = course_id
            tool.check("activity, e-learning", activity)
    if sessions:
        full = sessions[-1]  # the demo's second session has two seats
        for persona in ("learner2", "learner3", "learner"):
            page = tool.open(persona, f"/sessions/{full}")
            book = page.locator(f"form[action*='/sessions/{full}/book'] [type=submit]")
            if book.count():
                with page.expect_navigation():
                    book.first.click()
        tool.check("session, full, on its waitlist", tool.open("learner", f"/sessions/{full}"))
        tool.check("session, full, holding a seat", tool.open("learner2", f"/sessions/{full}"))
        tool.check("my bookings", tool.open("learner", "/learner/bookings"))
        tool.check("attendance list", tool.open("designer", f"/sessions/{full}/attendance"))
    if classroom is not None:
        tool.check(
            "activity, classroom, on a waitlist",
            tool.open("learner", f"/learner/activities/{classroom}"),
        )


def tour_catalogue(tool: Tool) -> None:
    """The designer's catalogue forms: a new activity (sent empty, to see its errors, then
    an e-learning activity for the other tours), editing it; a classroom activity, a session
    of it, and a new session (sent empty too)."""
    page = tool.open("designer", "/designer/courses")
    tool.check("designer: activities and the new activity form", page)
    form = "form[action*='/designer/courses']:has(input[name=code])"
    _submit(page, form)
    tool.check("designer: new activity, errors", page)
    page.fill(f"{form} input[name=code]", "axe-e-learning")
    page.fill(f"{form} input[name=title_nb]", "E-læring om taushetsplikt")
    page.fill(f"{form} input[name=title_en]", "E-learning on confidentiality")
    page.select_option(f"{form} select[name=kind]", "elearning")
    _submit(page, form)
    made = page.locator("li", has_text="axe-e-learning").locator("a[href*='/activity']")
    if not made.count():
        raise RuntimeError(f"the new activity was not made: {page.url}")
    course_id = int(re.findall(r"/designer/courses/(\d+)", made.first.get_attribute("href"))[0])
    page = tool.open("designer", f"/designer/courses/{course_id}/activity")
    tool.check("designer: edit activity", page)
    form = f"form[action*='/designer/courses/{course_id}/activity']"
    page.fill(f"{form} input[name=title_nb]", "")
    page.fill(f"{form} input[name=lms_url]", "not a link")
    _submit(page, form)
    tool.check("designer: edit activity, errors", page)
    page = tool.open("designer", "/designer/courses")
    classroom = page.locator("li", has_text="Klasseromskurs").locator("a[href*='/activity']")
    course_id = int(
        re.findall(r"/designer/courses/(\d+)", classroom.first.get_attribute("href"))[0]
    )
    page = tool.open("designer", f"/designer/courses/{course_id}/activity")
    tool.check("designer: edit classroom activity, its sessions", page)
    sessions = _ids(page, rf"/designer/courses/{course_id}/sessions/(\d+)(?:\?|$)")
    if sessions:
        page = tool.open("designer", f"/designer/courses/{course_id}/sessions/{sessions[0]}")
        tool.check("designer: edit session", page)
    page = tool.open("designer", f"/designer/courses/{course_id}/sessions/new")
    tool.check("designer: new session", page)
    _submit(page, f"form[action*='/designer/courses/{course_id}/sessions/new']")
    tool.check("designer: new session, errors", page)


def tour_packages(tool: Tool) -> None:
    """Content packages as a designer: the export form sent empty (its errors), a package
    exported, a file that is no package (the import's errors), the exported package's
    preview; the region's library with the publish form sent empty."""
    page = tool.open("designer", "/designer/packages")
    export = "form[action*='/designer/packages/export']"
    _submit(page, export)
    tool.check("designer: package export, errors", page)
    page = tool.open("designer", "/designer/packages")
    page.fill(f"{export} input[name=name]", "axe-pakke")
    page.fill(f"{export} input[name=version]", "1.0.0")
    with page.expect_download() as download:
        page.locator(f"{export} [type=submit]").first.click()
    package = download.value.path()
    page = tool.open("designer", "/designer/packages")
    upload = "form[action*='/designer/packages/import']"
    page.set_input_files(
        f"{upload} input[type=file]",
        files=[{"name": "ikke-en-pakke.zip", "mimeType": "application/zip", "buffer": b"no"}],
    )
    _submit(page, upload)
    tool.check("designer: package import, errors", page)
    page = tool.open("designer", "/designer/packages")
    page.set_input_files(f"{upload} input[type=file]", str(package))
    _submit(page, upload)
    if "/designer/packages" not in page.url or not page.locator("form[action*='confirm']").count():
        raise RuntimeError(f"the exported package gave no preview: {page.url}")
    tool.check("designer: package import, preview", page)
    page = tool.open("designer", "/designer/library")
    tool.check("designer: the region's library", page)
    publish = "form[action*='/designer/library']:has(input[name=version])"
    if page.locator(publish).count():
        _submit(page, publish)
        tool.check("designer: publish to the library, errors", page)


#: Links a crawl does not follow: other parts (the demo LMS, the API, LTI's machinery),
#: downloads, and the launch itself.
NOT_PAGES = re.compile(
    r"^/(demo|api|ob|static|lti/(login|launch|jwks|register))(/|$)"
    r"|\.(json|csv|xlsx|pdf|png|svg|js|css|txt|ics)$|/(export|ics)(/|$)"
)
#: Query parameters that do not make another state of a page.
NOT_STATE = ("lt", "lang")
#: Query parameters whose every value is another state (an item form per item type).
STATE_VALUES = ("kind",)
ITEM_KINDS = ("self_assessment", "single_choice", "multiple_choice", "true_false", "numeric")


#: The URLs a page's links and GET forms (as they would be sent now, without a file) lead to.
GET_TARGETS = """() => [
    ...[...document.querySelectorAll('a[href]')].map(a => a.href),
    ...[...document.querySelectorAll('form')]
        .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'get'
                     && !f.querySelector('input[type=file]'))
        .map(f => {
            const url = new URL(f.getAttribute('action') || location.href, location.href);
            url.search = new URLSearchParams(new FormData(f)).toString();
            return url.href;
        }),
]"""


def _template(url: str) -> str:
    """A page's template and state as a key: ids made ``N``, query values dropped."""
    parts = urllib.parse.urlsplit(url)
    names = sorted(
        {
            f"{k}={v}" if k in STATE_VALUES else k
            for k, v in urllib.parse.parse_qsl(parts.query)
            if k not in NOT_STATE
        }
    )
    return re.sub(r"/\d+(?=/|$)", "/N", parts.path) + (f"?{'&'.join(names)}" if names else "")


def _crawl(tool: Tool, persona: str, start: list[str], limit: int = 60) -> None:
    """Every page template ``persona`` reaches by links from ``start``, each checked once
    (one state per template and set of query parameters). A 5xx fails; a link that is
    refused (4xx) is reported as it would be to the person."""
    page = tool.person(persona)
    queue, seen = list(start), set(tool.report.templates.get(persona, ()))
    while queue and len(seen) < limit:
        path = queue.pop(0)
        key = _template(path)
        if key in seen:
            continue
        seen.add(key)
        try:
            response = page.goto(tool.base + path)
        except Exception as exc:  # playwright's Error: a file, not a page
            if "Download is starting" in str(exc):
                continue
            raise
        status = response.status if response else 0
        if status >= 500 or status == 0:
            raise RuntimeError(f"{path} as {persona}: {status or 'no answer'}")
        if "text/html" not in (response.headers.get("content-type", "") if response else ""):
            continue
        if status >= 400:
            print(f"  {persona}: {key} answered {status}", flush=True)
            continue
        tool.check(f"{persona}: {key}", page)
        # Links, and forms that only ask for a page (a confirmation, a filter), as sent.
        for href in page.evaluate(GET_TARGETS):
            parts = urllib.parse.urlsplit(href)
            if parts.netloc != urllib.parse.urlsplit(tool.base).netloc:
                continue
            if NOT_PAGES.search(parts.path):
                continue
            query = urllib.parse.urlencode(
                [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in NOT_STATE]
            )
            queue.append(parts.path + (f"?{query}" if query else ""))
    tool.report.templates[persona] = sorted(seen)


def tour_learner(tool: Tool) -> None:
    """Every page the demo learner reaches: start page, a mapping, certificates, plan,
    activities, bookings, my data."""
    _crawl(tool, "learner", ["/learner/", "/learner/my-data", "/certificates/"])


def tour_designer(tool: Tool) -> None:
    """Every page the demo designer reaches: frameworks, versions, competences, scales,
    job roles, items, mappings, certifications, the catalogue."""
    # A draft of a published framework version: its competence forms, scale and publishing.
    page = tool.open("designer", "/designer/frameworks")
    frameworks = _ids(page, r"/designer/frameworks/(\d+)(?:\?|$)")
    drafts = []
    for framework_id in frameworks:
        page = tool.open("designer", f"/designer/frameworks/{framework_id}")
        form = f"form[action*='/designer/frameworks/{framework_id}/drafts']"
        if page.locator(form).count():
            _submit(page, form)
            drafts.append(urllib.parse.urlsplit(page.url).path)
            break
    new_items = [f"/designer/items/new?kind={kind}" for kind in ITEM_KINDS]
    start = ["/designer/", *drafts, *new_items, "/designer/certifications"]
    _crawl(tool, "designer", start, limit=90)


def tour_manager(tool: Tool) -> None:
    """Every page the demo manager reaches: units, a unit's matrix, a person, plans,
    certificates, courses and attendance."""
    _crawl(tool, "manager", ["/manager/", "/manager/units", "/manager/courses/"])


def tour_admin(tool: Tool) -> None:
    """The admin console (keys, registration, organisations, regions, grants, deliveries,
    certificates, audit, people and an erasure's confirmation) and the coordinators' page,
    which an admin sees for their own organisation."""
    _crawl(tool, "admin", ["/admin/", "/admin/people", "/manager/units", "/coordinator/"], limit=70)


def tour_public(tool: Tool) -> None:
    """The pages anyone reaches: the front page, the accessibility statement (in all three
    languages), verification (empty, an unknown code), the LTI configuration."""
    for path in ("/", "/accessibility", "/accessibility?lang=nn", "/accessibility?lang=en"):
        tool.check(f"public: {path}", tool.open("anonymous", path))
    tool.check("public: /verify", tool.open("anonymous", "/verify"))
    tool.check(
        "public: /verify, an unknown code",
        tool.open("anonymous", "/verify/AXE-UNKNOWN-CODE", expect=404),
    )
    tool.check("public: /lti/config", tool.open("anonymous", "/lti/config"))


#: Forms sent empty to see their errors: (persona, page, the form's action path).
EMPTY_FORMS = [
    ("designer", "/designer/frameworks", "/designer/frameworks"),
    ("designer", "/designer/job-roles", "/designer/job-roles"),
    ("designer", "/designer/items/new?kind=single_choice", "/designer/items"),
    ("designer", "/designer/mappings", "/designer/mappings"),
    ("designer", "/designer/certifications", "/designer/certifications"),
    ("admin", "/manager/units", "/manager/units"),
    ("admin", "/admin/regions", "/admin/regions"),
    ("admin", "/admin/grants", "/admin/grants"),
    ("admin", "/admin/registration", "/admin/registration/url"),
    ("admin", "/admin/registration", "/admin/registration"),
    ("admin", "/admin/organisations", "/admin/organisations"),
]


def tour_errors(tool: Tool) -> None:
    """Forms sent with nothing filled in (their fields emptied first): the page with its
    errors, as the person sees it."""
    for persona, path, action in EMPTY_FORMS:
        page = tool.open(persona, path)
        marked = page.evaluate(
            """(action) => {
                const form = [...document.querySelectorAll('form[method=post]')].find(
                    f => new URL(f.action).pathname === action);
                if (!form) return false;
                form.setAttribute('data-axe', 'empty');
                form.querySelectorAll('input[type=text], input[type=url], input[type=number],'
                    + ' input:not([type]), textarea').forEach(i => { i.value = ''; });
                return true;
            }""",
            action,
        )
        if not marked:
            raise RuntimeError(f"no form to {action} on {path} as {persona}")
        with page.expect_navigation():
            page.locator("form[data-axe=empty] [type=submit]").first.click()
        tool.check(f"{persona}: {path}, {action} sent empty", page)
    page = tool.open("designer", "/designer/items/new?kind=", expect=422)
    tool.check("designer: a new item of no type (422)", page)
    page = tool.open("admin", "/coordinator/?months=many", expect=422)
    tool.check("admin: /coordinator/, a wrong filter", page)


#: A few pages in nynorsk and English (everything else is checked in bokmål).
OTHER_LANGUAGES = [
    ("learner", "/learner/"),
    ("learner", "/learner/plan"),
    ("learner", "/learner/my-data"),
    ("designer", "/designer/frameworks"),
    ("manager", "/manager/"),
    ("admin", "/admin/"),
]


def tour_languages(tool: Tool) -> None:
    """A few pages launched in nynorsk and in English: ``lang`` and the words change."""
    for locale in ("nn", "en"):
        for persona, path in OTHER_LANGUAGES:
            page = tool.open(persona, path, locale=locale)
            lang = page.evaluate("document.documentElement.lang")
            if not lang.startswith(locale):
                raise RuntimeError(f"{path} as {persona} launched in {locale}: lang={lang!r}")
            tool.check(f"{persona}: {path} ({locale})", page)


def _tab_to(page: Any, selector: str, presses: int = 120) -> None:
    """Press Tab until the focused element matches ``selector``."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement?.matches(s)", selector):
            return
    raise RuntimeError(f"Tab never reached {selector} on {page.url}")


def _press_and_wait(page: Any, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def tour_keyboard(tool: Tool) -> None:
    """Taking a mapping with the keyboard alone (Tab, Enter, Space, and typing a number):
    from the learner's start page to the mapping, start, answer every item, review,
    submit, and the result. A fresh demo learner takes it, so it starts from nothing."""
    page = tool.open("learner3", "/learner/")
    _tab_to(page, "a[href*='/mappings/']")
    _press_and_wait(page, "Enter")
    _tab_to(page, "form[action*='/attempts'] [type=submit]")
    _press_and_wait(page, "Enter")
    answered = 0
    while "/items/" in page.url:
        _tab_to(page, "input[name=answer]")
        kind = page.evaluate("document.activeElement.type")
        if kind in ("radio", "checkbox"):
            page.keyboard.press("Space")
        else:
            page.keyboard.type("1")
        answered += 1
        if answered == 1:
            tool.check("keyboard: the first item, answered", page)
        has_next = page.locator("button[name=go][value=next]").count() > 0
        _tab_to(page, f"button[name=go][value={'next' if has_next else 'review'}]")
        _press_and_wait(page, "Enter")
        if answered > 200:
            raise RuntimeError("the mapping never reached its review")
    if "/review" not in page.url:
        raise RuntimeError(f"after {answered} item(s) the mapping is at {page.url}")
    tool.check("keyboard: review after answering every item", page)
    _tab_to(page, "form[action*='/submit'] [type=submit]")
    _press_and_wait(page, "Enter")
    if "/result" not in page.url:
        raise RuntimeError(f"submitting by keyboard did not reach the result: {page.url}")
    tool.check("keyboard: the result", page)
    print(f"  keyboard: {answered} item(s) answered, submitted, result shown", flush=True)


def tour_certificates(tool: Tool) -> None:
    """A certificate: the manager's form to issue one by hand (sent empty, then for the
    demo learner), the learner's certificates with it, the certificate, and its public
    verification result."""
    tool.person("learner")  # a person exists from their first launch
    page = tool.open("manager", "/manager/certificates")
    form = "form[action*='/manager/certificates/issue']"
    page.eval_on_selector(form, "f => { f.noValidate = true; }")
    _submit(page, form)
    tool.check("manager: issue a certificate, nothing chosen", page)
    page = tool.open("manager", "/manager/certificates")
    person = page.evaluate(
        """(form) => [...document.querySelectorAll(form + ' select[name=person_id] option')]
            .find(o => o.textContent.includes('Demo Ansatt'))?.value""",
        form,
    )
    if not person:
        options = page.inner_text(f"{form} select[name=person_id]")
        raise RuntimeError(f"the demo learner cannot be given a certificate by hand: {options}")
    page.select_option(f"{form} select[name=person_id]", person)
    page.fill(f"{form} textarea[name=reason]", "Kurs hos en annen arbeidsgiver")
    _submit(page, form)
    page = tool.open("learner", "/certificates/")
    tool.check("learner: certificates, one held", page)
    certificates = _ids(page, r"/certificates/(\d+)(?:\?|$)")
    if not certificates:
        raise RuntimeError("the certificate issued by hand is not among the learner's")
    page = tool.open("learner", f"/certificates/{certificates[0]}")
    tool.check("learner: a certificate", page)
    verify = page.locator("a[href*='/verify/']").first.get_attribute("href") or ""
    path = urllib.parse.urlsplit(verify).path
    tool.check("public: /verify, a valid certificate", tool.open("anonymous", path))


#: In this order: the catalogue tour makes the e-learning activity the sessions tour shows.
#: The LMS page of the cookie-less tour: the tool in a frame, and LTI platform storage
#: (``lti.put_data`` / ``lti.get_data``) kept for it, as Moodle's and Canvas's pages do.
LMS_FRAME = """<!doctype html><html lang="nb"><head><title>LMS</title></head><body>
<iframe name="tool" title="Læringsløp" src="{login}" width="1000" height="700"></iframe>
<script>
var kept = {};
window.addEventListener("message", function (event) {
  var data = event.data || {};
  var answer = {message_id: data.message_id, key: data.key};
  if (data.subject === "lti.put_data") {
    kept[data.key] = data.value;
    answer.subject = "lti.put_data.response";
    answer.value = data.value;
  } else if (data.subject === "lti.get_data") {
    answer.subject = "lti.get_data.response";
    answer.value = kept[data.key];
  } else {
    return;
  }
  event.source.postMessage(answer, event.origin);
});
</script></body></html>"""


def tour_cookieless(tool: Tool) -> None:
    """A browser that drops every cookie of the tool in the LMS frame (as Safari does):
    the login keeps its proof in LTI platform storage instead, and the launch's answer
    loses its cookie. The start page answers the launch with the launch token in its
    ``<meta>`` and takes its own address (``/learner/``); links, the language links and
    the plan's forms (one refused with 422, one accepted and redirected) work through
    ``static/launch_token.js``, and so does a download (my data); no request after the
    launch has the token in its URL."""
    context = tool.browser.new_context(locale="nb-NO")
    context.add_init_script(script=tool.axe_js)
    page = context.new_page()
    page.set_default_timeout(30_000)
    base = urllib.parse.urlsplit(tool.base).netloc
    lms_frame = f"{tool.base}/lms-course-frame"  # the LMS page, answered here

    def tool_page(url: str) -> bool:  # the demo LMS's own pages keep their cookies
        parts = urllib.parse.urlsplit(url)
        return parts.netloc == base and not parts.path.startswith("/demo") and url != lms_frame

    def cookies_off(headers: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k.lower() != "cookie"}

    def without_cookies(route: Any) -> None:
        route.continue_(headers=cookies_off(route.request.all_headers()))

    def launch_loses_its_cookie(route: Any) -> None:
        context.clear_cookies()  # the fetch would send the context's: the state cookie too
        answer = route.fetch(headers=cookies_off(route.request.all_headers()), max_redirects=0)
        context.clear_cookies()
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "set-cookie"}
        route.fulfill(response=answer, headers=headers)

    page.route(tool_page, without_cookies)
    page.route(re.compile(r"^[^?]*/lti/launch$"), launch_loses_its_cookie)
    # The demo LMS's login for the learner, asking the tool to keep its proof in platform
    # storage; the frame opens it at once (a route sees no request a redirect makes).
    started = context.request.get(f"{tool.base}/demo/launch/learner", max_redirects=0)
    login = started.headers["location"] + "&lti_storage_target=_parent"
    framed = LMS_FRAME.replace("{login}", html.escape(login))
    page.route(lms_frame, lambda route: route.fulfill(body=framed, content_type="text/html"))
    page.goto(lms_frame)
    frame = page.frame(name="tool")
    if frame is None:
        raise RuntimeError("the LMS page has no frame for the tool")
    frame.wait_for_url("**/learner/")  # the start page answering the launch, its address
    if "lt=" in frame.url or not frame.locator('meta[name="launch-token"]').count():
        raise RuntimeError(f"cookie-less start page: a token in its address or none: {frame.url}")
    if frame.locator('meta[name="page-address"]').get_attribute("content") != "/learner/":
        raise RuntimeError("the start page answering the launch names no address of its own")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    tool.check("cookie-less learner: start page", frame)
    page = frame  # the tour goes on in the tool's frame

    with page.expect_navigation():
        page.locator("a[href='/learner/plan']").first.click()
    if not page.url.endswith("/learner/plan") or "Demo Ansatt" not in page.content():
        raise RuntimeError(f"a link without cookies did not reach the plan: {page.url}")
    tool.check("cookie-less learner: plan", page)

    declines = page.locator("details", has=page.locator("input[value=declined]"))
    declines.first.locator("summary").click()
    with page.expect_navigation() as refused:
        declines.first.locator("[type=submit]").click()
    if refused.value.status != 422:
        raise RuntimeError(f"a decline without a reason, cookie-less: {refused.value.status}")
    tool.check("cookie-less learner: decline without a reason (422)", page)

    accept = page.locator("form", has=page.locator("input[value=accepted]")).first
    accept.locator("[type=submit]").click()  # redirected: a page that navigates on by POST
    page.wait_for_url("**/learner/plan")
    page.wait_for_load_state()
    if "launch-token-continue" in page.content() or "Demo Ansatt" not in page.content():
        raise RuntimeError("an accepted plan entry did not navigate on to the plan")

    with page.expect_navigation():
        page.locator("a[href='/learner/my-data']").first.click()
    with page.page.expect_download() as download:
        page.locator("a[download]").first.click()
    if '"person"' not in Path(download.value.path()).read_text(encoding="utf-8"):
        raise RuntimeError("the download of my data without cookies holds no person")
    tool.check("cookie-less learner: my data", page)

    with page.expect_navigation():
        page.locator("a[hreflang=nn]").first.click()
    if page.locator("html").get_attribute("lang") != "nn":
        raise RuntimeError("the language link did not work without cookies")
    tool.check("cookie-less learner: plan in nynorsk", page)
    leaked = [url for url in sent if "lt=" in urllib.parse.urlsplit(url).query]
    if leaked:
        raise RuntimeError(f"a launch token in a URL: {leaked}")
    print(f"  cookie-less: {len(sent)} requests, none with a token in its URL", flush=True)
    context.close()


TOURS: dict[str, Callable[[Tool], None]] = {
    "packages": tour_packages,
    "plan": tour_plan,
    "catalogue": tour_catalogue,
    "sessions": tour_sessions,
    "errors": tour_errors,
    "certificates": tour_certificates,
    "keyboard": tour_keyboard,
    "learner": tour_learner,
    "designer": tour_designer,
    "manager": tour_manager,
    "admin": tour_admin,
    "public": tour_public,
    "languages": tour_languages,
    "cookieless": tour_cookieless,
}


# --- the tool, started here -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def started_tool(redis_url: str = "") -> Iterator[str]:
    """The tool on SQLite in a temporary folder with the demo LMS; its base URL. With
    ``redis_url`` (emptied first) its state, limits and the workers' status live there,
    as in production: the deliveries page then shows whether the worker runs."""
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    port = _free_port()
    base = f"http://localhost:{port}"
    flask = str(Path(sys.executable).parent / "flask")
    with tempfile.TemporaryDirectory(prefix="axe-pages-") as folder:
        env = {
            **os.environ,
            "APP_ENV": "development",
            "BASE_URL": base,
            "DATABASE_URL": "",
            "REDIS_URL": redis_url,
            "INSTANCE_PATH": str(Path(folder) / "instance"),
            "KEYS_DIR": str(Path(folder) / "keys"),
        }
        run = [flask, "--app", "lti_tool"]
        for command in (["db", "upgrade"], ["demo", "setup"]):
            # our own flask, with fixed arguments
            subprocess.run([*run, *command], env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
        log = open(Path(folder) / "server.log", "w")  # noqa: SIM115 (closed below)
        server = subprocess.Popen(  # noqa: S603 (our own flask, fixed arguments)
            [*run, "run", "--host", "localhost", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=2)  # noqa: S310 (http)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(
                            "the tool did not start: " + (Path(folder) / "server.log").read_text()
                        ) from None
                    time.sleep(0.3)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)
            log.close()


# --- the command ----------------------------------------------------------------------------


def _axe_source(given: str | None) -> str:
    candidates = [given, os.environ.get("AXE_CORE"), str(ROOT), os.getcwd()]
    for folder in filter(None, candidates):
        path = Path(folder)
        for candidate in (path, path / "axe.min.js", path / "node_modules/axe-core/axe.min.js"):
            if candidate.is_file():
                return candidate.read_text()
    raise SystemExit("axe-core not found: `npm install axe-core`, or give --axe PATH")


def _chromium(given: str | None) -> str:
    found = given or os.environ.get("CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        raise SystemExit("Chromium not found: `apt-get install chromium`, or --chromium PATH")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running demo tool (default: start one)")
    parser.add_argument("--tour", action="append", choices=sorted(TOURS), help="repeatable")
    parser.add_argument("--axe", help="axe.min.js, or a folder holding node_modules/axe-core")
    parser.add_argument("--chromium", help="the Chromium executable")
    parser.add_argument("--impact", choices=IMPACTS, default="minor", help="fail from here")
    parser.add_argument("--json", help="write every violation to this file")
    parser.add_argument("--screenshots", help="a folder for a screenshot of each state checked")
    parser.add_argument(
        "--redis-url", default="", help="the started tool's Redis (a database it may empty)"
    )
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("`.venv/bin/pip install playwright` first") from None

    axe_js, chromium = _axe_source(args.axe), _chromium(args.chromium)
    report = Report()
    with contextlib.ExitStack() as stack:
        base = (
            args.base_url.rstrip("/")
            if args.base_url
            else stack.enter_context(started_tool(args.redis_url))
        )
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        stack.callback(browser.close)
        shots = Path(args.screenshots) if args.screenshots else None
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
        tool = Tool(browser, base, axe_js, report, shots)
        for name in args.tour or list(TOURS):
            print(f"{name}:", flush=True)
            TOURS[name](tool)

    failing = [
        v
        for v in report.violations
        if IMPACTS.index(v["impact"] or "minor") >= IMPACTS.index(args.impact)
    ]
    for v in report.violations:
        print(f"\n[{v['impact']}] {v['id']} on {v['page']} ({v['url']}): {v['help']}")
        for node in v["nodes"][:5]:
            print(f"    {node['target']}: {node['html']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.__dict__, indent=2, ensure_ascii=False))
    print(
        f"\n{len(report.checked)} states checked, {len(report.violations)} violations, "
        f"{len(failing)} of impact {args.impact} or worse"
    )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
