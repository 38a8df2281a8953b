"""Run axe-core over the tool's pages in headless Chromium, reached as people reach them:
through signed launches from the demo LMS (/demo), in their main states (empty, with
data, with a form's errors).

    .venv/bin/python scripts/axe_pages.py                  # starts its own tool, all tours
    .venv/bin/python scripts/axe_pages.py --tour plan      # one tour (see TOURS)
    .venv/bin/python scripts/axe_pages.py --base-url http://localhost:5000   # a running demo
    .venv/bin/python scripts/axe_pages.py --json axe.json  # every violation, for a CI stage

What it needs (none of it is a dependency of the tool):
- the Python package ``playwright`` (``.venv/bin/pip install playwright``); its own browser
  download is not needed,
- Chromium (Debian: ``apt-get install chromium``; or ``--chromium PATH``),
- axe-core (``npm install axe-core`` here or in a folder named by ``--axe``/``AXE_CORE``).

Without ``--base-url`` it starts the tool on SQLite in a temporary folder with the demo
LMS (``flask db upgrade``, ``flask demo setup``, ``flask run``) and stops it at the end, so
a developer's own demo database is untouched. With ``--base-url`` the tool must be a fresh
demo (``./scripts/demo``): the tours book seats and choose job roles as the demo people.

A tour is a function that walks pages as one or more demo people and calls ``check`` on
each state worth checking; add one to ``TOURS`` to cover more pages. The exit status is 1
when a violation of ``--impact`` or worse is found (default: every impact), else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMPACTS = ("minor", "moderate", "serious", "critical")
#: axe-core's rule sets checked: WCAG 2.0, 2.1 and 2.2 A and AA, and axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]


@dataclass
class Report:
    """Each checked state and its violations."""

    checked: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    incomplete: list[dict[str, Any]] = field(default_factory=list)
    """What axe could not decide (e.g. contrast over an image): to review by eye."""


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

    def person(self, persona: str) -> Any:
        """The page of ``persona``, launched once (English, as the course's locale)."""
        if persona not in self.pages:
            context = self.browser.new_context(locale="en-GB")
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{self.base}/demo/launch/{persona}?locale=en")
            if "/demo/" in page.url or page.url.rstrip("/").endswith("/demo"):
                raise RuntimeError(f"the launch as {persona} did not reach the tool: {page.url}")
            self.pages[persona] = page
        return self.pages[persona]

    def open(self, persona: str, path: str) -> Any:
        page = self.person(persona)
        response = page.goto(self.base + path)
        if response is None or response.status >= 400:
            status = response.status if response else "no answer"
            raise RuntimeError(f"{path} as {persona}: {status}")
        return page

    def check(self, name: str, page: Any) -> None:
        """Run axe on the page as it is now; record its violations under ``name``."""
        page.add_script_tag(content=self.axe_js)
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
            page.screenshot(
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
        elif "E-learning" in activity.inner_text("main") and e_learning is None:
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
    classroom = page.locator("li", has_text="Classroom course").locator("a[href*='/activity']")
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


#: In this order: the catalogue tour makes the e-learning activity the sessions tour shows.
TOURS: dict[str, Callable[[Tool], None]] = {
    "plan": tour_plan,
    "catalogue": tour_catalogue,
    "sessions": tour_sessions,
}


# --- the tool, started here -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def started_tool() -> Iterator[str]:
    """The tool on SQLite in a temporary folder with the demo LMS; its base URL."""
    port = _free_port()
    base = f"http://localhost:{port}"
    flask = str(Path(sys.executable).parent / "flask")
    with tempfile.TemporaryDirectory(prefix="axe-pages-") as folder:
        env = {
            **os.environ,
            "APP_ENV": "development",
            "BASE_URL": base,
            "DATABASE_URL": "",
            "REDIS_URL": "",
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
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("`.venv/bin/pip install playwright` first") from None

    axe_js, chromium = _axe_source(args.axe), _chromium(args.chromium)
    report = Report()
    with contextlib.ExitStack() as stack:
        base = args.base_url.rstrip("/") if args.base_url else stack.enter_context(started_tool())
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
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
