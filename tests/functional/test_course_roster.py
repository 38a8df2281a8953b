"""Who has not started: the course's participants from the platform (LTI NRPS) beside who
has launched, mapped, passed and is certified — through HTTP, with real signed launches.

The memberships endpoint answers in Moodle's shape (shared/lms-samples) or Canvas's (full
role URIs, two pages linked by ``Link: rel="next"``); the token endpoint is the fake
gradebook's, as in the AGS tests.
"""

from __future__ import annotations

import re
import socket
from html import unescape
from typing import Any

import pytest
import requests
from sqlalchemy import select

from lti_tool.db import get_session
from lti_tool.lti import claims as c
from lti_tool.lti import nrps
from lti_tool.models import (
    CourseRoster,
    GrantKind,
    RosterMember,
)
from tests.fakes.gradebook import FakeGradebook
from tests.fakes.lms import TestLms, csrf_token
from tests.fakes.memberships import (
    LIS,
    FakeMemberships,
    canvas_member,
    moodle_member,
    moodle_sample,
)
from tests.functional.test_admin_console import forged_csrf_token
from tests.functional.test_assignments import upload
from tests.functional.test_certification_flow import earn, person_id
from tests.functional.test_grants import give
from tests.statements import statements_run

CANVAS_URL = "https://canvas.example/api/lti/courses/7/names_and_roles"
EVERYONE = ("learner", "learner2", "learner3")
#: Who sees every participant: the admin (a manager by LMS role sees only the people of
#: the units an admin grants them, none without a grant).
WHOLE = "admin"


@pytest.fixture
def memberships(lms: TestLms, gradebook: FakeGradebook) -> FakeMemberships:
    return FakeMemberships(lms.http, lms.platform.memberships_url, gradebook)


def browser_of(app: Any, lms: TestLms, persona: str, **change: Any) -> Any:
    browser = TestLms.browser(app)
    response = lms.signed_launch(browser, persona, change=change, locale="en")
    assert lms.landed(response), response.get_data(as_text=True)
    return browser


def page(browser: Any, path: str, status: int = 200) -> str:
    response = browser.get(path + ("&" if "?" in path else "?") + "lang=en")
    assert response.status_code == status, response.get_data(as_text=True)
    return unescape(response.get_data(as_text=True))


def roster_id(app: Any) -> int:
    with app.app_context():
        found = get_session().scalar(select(CourseRoster.id).where(CourseRoster.context_id == "2"))
        assert found is not None
        return found


def refresh(browser: Any, rid: int) -> str:
    """Press the refresh button; the page it returns to (with its notice)."""
    html = page(browser, f"/manager/courses/{rid}/roster")
    response = browser.post(
        f"/manager/courses/{rid}/roster/refresh?lang=en", data={"csrf_token": csrf_token(html)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return page(browser, response.headers["Location"].replace("https://tool.example", ""))


def rows(html: str) -> dict[str, str]:
    """Each participant row's text, by the participant's shown name."""
    found = {}
    for row in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S):
        name = re.match(r"\s*(?:<a [^>]*>)?([^<]+)", row)
        assert name is not None
        found[name.group(1).strip()] = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    return found


def row_of(html: str, name: str) -> str:
    return next(text for key, text in rows(html).items() if key.startswith(name))


def members_in_db(app: Any) -> list[tuple[str, str, str, list[str], str]]:
    with app.app_context():
        return [
            (m.user_id, m.name, m.email, m.roles, m.status)
            for m in get_session().scalars(select(RosterMember).order_by(RosterMember.user_id))
        ]


# --- Moodle ----------------------------------------------------------------------------------


def test_a_moodle_roster_shows_who_has_not_started(app, lms, care, gradebook, memberships):
    earn(app, lms, care)  # Demo Ansatt: launched the mapping's link, passed, certified
    # (and the designer built the mapping and certification from the course)
    browser_of(app, lms, "learner2")  # Kari Nilsen: launched only
    memberships.serve(
        [
            *(moodle_member(p) for p in EVERYONE),
            moodle_member("designer", "Instructor"),
        ]
    )
    manager = browser_of(app, lms, WHOLE)
    courses = page(manager, "/manager/")
    assert "/manager/courses/" in courses
    listing = page(manager, "/manager/courses/")
    rid = roster_id(app)
    assert f"/manager/courses/{rid}/roster" in listing
    assert "Informasjonssikkerhet for ansatte" in listing and "this course" in listing
    before = page(manager, f"/manager/courses/{rid}/roster")
    assert "have not been fetched from the learning platform yet" in before

    html = refresh(manager, rid)

    assert "4 participants fetched from the learning platform." in html
    assert "Participants fetched from the learning platform" in html
    assert [nrps.SCOPE_MEMBERSHIPS] in gradebook.token_scopes  # its own token, one scope
    (call,) = memberships.calls
    assert call.headers["Accept"] == nrps.MEMBERSHIP_CONTAINER_TYPE
    assert "limit=100" in call.url
    assert row_of(html, "Demo Ansatt").endswith("Learner ✓ Yes ✓ Yes ✓ Yes ✓ Yes")
    assert row_of(html, "Kari Nilsen").endswith("Learner ✓ Yes – No – No – No")
    assert row_of(html, "Ola Hansen").endswith("Learner – No – No – No – No")
    assert row_of(html, "Demo Kursutvikler").endswith("Teacher ✓ Yes – No – No – No")
    assert f'href="/manager/people/{person_id(app, "101")}' in html  # a person of the tool
    flat = " ".join(html.split())
    assert "Mappings named by the course's links: Kartlegging for sykepleiere" in flat
    assert "every certification of your organisation counts: Medication handling" in flat
    counts = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split('<dl class="summary">')[1]))
    assert counts.startswith(
        " Participants 4 Launched 3 Not started 1 Mapped 1 Passed 1 Certified 1 "
    ), counts
    assert members_in_db(app)[0] == (
        "101",
        "Demo Ansatt",
        "ansatt@demokommune.example",
        ["Learner"],
        "active",
    )

    not_started = page(manager, f"/manager/courses/{rid}/roster?show=not-started")
    assert set(rows(not_started)) == {"Ola Hansen"}
    assert page(manager, f"/manager/courses/{rid}/roster?show=nobody", 422)


def test_moodles_own_answer_is_read_as_it_came(app, lms, gradebook, memberships):
    """The sample's body, verbatim: three members with short roles, names and e-mail."""
    memberships.pages = [moodle_sample()]
    manager = browser_of(app, lms, "manager")
    html = refresh(manager, roster_id(app))
    assert "3 participants fetched" in html
    assert members_in_db(app) == [
        ("3", "Tora Lærer", "teacher1@example.com", ["Instructor"], "active"),
        ("4", "Lars Elev", "learner1@example.com", ["Learner"], "active"),
        ("5", "Lise Elevsen", "learner2@example.com", ["Learner"], "active"),
    ]


# --- Canvas ----------------------------------------------------------------------------------


def test_a_canvas_roster_is_read_over_its_pages(app, lms, gradebook):
    canvas = FakeMemberships(lms.http, CANVAS_URL, gradebook)
    canvas.serve(
        [canvas_member("learner"), canvas_member("learner2", name=None, email=None)],
        [
            canvas_member("learner3", status="Inactive"),
            canvas_member("designer", roles=[LIS + "membership/Instructor#TeachingAssistant"]),
            canvas_member("admin", "Instructor", status="Deleted"),
        ],
        context={"id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3", "title": "Canvas course"},
    )
    claim = {c.NRPS: {"context_memberships_url": CANVAS_URL, "service_versions": ["2.0"]}}
    manager = browser_of(app, lms, WHOLE, **claim)

    html = refresh(manager, roster_id(app))

    assert "4 participants fetched" in html
    assert [r.url for r in canvas.calls] == [CANVAS_URL + "?limit=100", CANVAS_URL + "?page=2"]
    assert members_in_db(app) == [
        ("101", "Demo Ansatt", "ansatt@demokommune.example", ["Learner"], "active"),
        (
            "102",
            "Demo Kursutvikler",
            "kursutvikler@demokommune.example",
            ["TeachingAssistant"],
            "active",
        ),
        ("104", "Kari Nilsen", "", ["Learner"], "active"),  # its privacy level: no name
        ("105", "Ola Hansen", "ola.hansen@demokommune.example", ["Learner"], "inactive"),
    ]
    assert "Inactive in the course" in row_of(html, "Ola Hansen")
    assert "Teaching assistant" in row_of(html, "Demo Kursutvikler")
    assert "Kari Nilsen" in rows(html)  # no name claim: its given and family names


# --- when the platform says no ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "message"),
    [
        (401, "refused to list the course's participants"),
        (403, "refused to list the course's participants"),
        (503, "did not answer, or answered with an error"),
        (requests.ConnectTimeout("slow"), "did not answer, or answered with an error"),
        (404, "answer could not be used"),
    ],
)
def test_a_failed_refresh_says_why_and_keeps_the_roster(
    app, lms, gradebook, memberships, down, message
):
    memberships.serve([moodle_member("learner"), moodle_member("learner2")])
    manager = browser_of(app, lms, WHOLE)
    rid = roster_id(app)
    refresh(manager, rid)
    kept = members_in_db(app)
    memberships.down = down
    gradebook.expire_tokens()  # a 401 is retried once with a fresh token

    html = refresh(manager, rid)

    assert message in html
    assert 'class="notice notice-error"' in html
    assert members_in_db(app) == kept
    assert set(rows(html)) == {"Demo Ansatt", "Kari Nilsen"}


def test_a_roster_longer_than_the_page_limit_is_refused(
    app, lms, gradebook, memberships, monkeypatch
):
    monkeypatch.setattr(nrps, "MAX_PAGES", 1)
    memberships.serve([moodle_member("learner")], [moodle_member("learner2")])
    manager = browser_of(app, lms, "manager")
    html = refresh(manager, roster_id(app))
    assert "more participants than the tool reads at once" in html
    assert members_in_db(app) == []


def test_a_memberships_url_on_a_private_host_is_not_called(make_app, lms, gradebook, monkeypatch):
    """As the AGS calls: in production no call to a private address (the token endpoint
    resolves, in this test's DNS, to a public one)."""
    public = {"moodle.example": "93.184.216.34", "10.1.2.3": "10.1.2.3"}
    resolve = socket.getaddrinfo

    def fake_dns(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in public:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (public[host], 0))]
        return resolve(host, port, *args, **kwargs)  # Redis, PostgreSQL

    monkeypatch.setattr("lti_tool.lti.registration.socket.getaddrinfo", fake_dns)
    app = make_app(REGISTRATION_ALLOW_PRIVATE_HOSTS=False)
    private = FakeMemberships(lms.http, "http://10.1.2.3/memberships", gradebook)
    claim = {c.NRPS: {"context_memberships_url": private.url, "service_versions": ["2.0"]}}
    manager = browser_of(app, lms, "manager", **claim)
    html = refresh(manager, roster_id(app))
    assert "on a private network the tool may not call" in html
    assert private.calls == []


def test_a_course_without_nrps_says_so(app, lms, gradebook, memberships):
    lms.platform.offers_nrps = False
    manager = browser_of(app, lms, "manager")
    rid = roster_id(app)
    html = page(manager, f"/manager/courses/{rid}/roster")
    assert "did not offer this course's list of participants" in html
    assert "/roster/refresh" not in html
    assert "Not offered by the platform" in page(manager, "/manager/courses/")
    response = manager.post(
        f"/manager/courses/{rid}/roster/refresh?lang=en",
        data={"csrf_token": forged_csrf_token(app, manager)},
    )
    assert "offers no list of this course's participants" in page(
        manager, response.headers["Location"].replace("https://tool.example", "")
    )
    assert memberships.calls == []
    # a launch with NRPS 1.0 only is no offer either
    claim = {c.NRPS: {"context_memberships_url": CANVAS_URL, "service_versions": ["1.0"]}}
    browser_of(app, lms, "manager", **claim)
    assert "did not offer" in page(manager, f"/manager/courses/{rid}/roster")


# --- what the platform sends that the tool cannot keep as it came ----------------------------


@pytest.mark.parametrize(
    "url",
    [CANVAS_URL + "?x=" + "y" * 2048, CANVAS_URL + "\x00"],
    ids=["over-2048-characters", "nul"],
)
def test_a_memberships_url_the_tool_cannot_keep_is_no_offer(app, lms, gradebook, url):
    """The launch lands (it failed before on PostgreSQL, a 500); the course's roster
    says the platform does not share its participants."""
    canvas = FakeMemberships(lms.http, CANVAS_URL, gradebook)
    claim = {c.NRPS: {"context_memberships_url": url, "service_versions": ["2.0"]}}
    manager = browser_of(app, lms, WHOLE, **claim)
    html = page(manager, f"/manager/courses/{roster_id(app)}/roster")
    assert "did not offer this course's list of participants" in html
    assert "/roster/refresh" not in html
    assert canvas.calls == []
    with app.app_context():
        assert get_session().scalars(select(CourseRoster.memberships_url)).one() is None


def test_members_with_nul_or_over_long_text_are_kept_cleaned(app, lms, gradebook, memberships):
    """NUL characters dropped and text cut to what the roster keeps (a 500 at the flush
    on PostgreSQL before); a member whose user id cannot be kept as sent is left out:
    cleaned or cut, it could be another member's."""
    memberships.serve(
        [
            {
                **moodle_member("learner"),
                "name": "Demo\x00 Ansatt",
                "email": "ansatt@demokommune.example\x00",
                "status": "Inactive\x00",
                "roles": ["Learner\x00"],
            },
            {
                **moodle_member("learner2"),
                "name": None,
                "given_name": "Kari\x00",
                "family_name": "N" * 400,
                "email": "k" * 400 + "@demokommune.example",
            },
            {**moodle_member("learner3"), "user_id": "10\x005"},
            {**moodle_member("designer"), "user_id": "1" * 256},
        ],
        context={"id": "2", "title": "Informasjons\x00sikkerhet " + "x" * 400},
    )
    manager = browser_of(app, lms, WHOLE, **{c.CONTEXT: {"id": "2"}})  # no title: NRPS's

    html = refresh(manager, roster_id(app))

    assert "2 participants fetched" in html
    assert members_in_db(app) == [
        ("101", "Demo Ansatt", "ansatt@demokommune.example", ["Learner"], "inactive"),
        ("104", ("Kari " + "N" * 400)[:300], "k" * 320, ["Learner"], "active"),
    ]
    with app.app_context():
        title = get_session().scalars(select(CourseRoster.title)).one()
    assert title == ("Informasjonssikkerhet " + "x" * 400)[:300]


# --- who may see it ----------------------------------------------------------------------------


def test_learners_and_designers_are_refused(app, lms, gradebook, memberships):
    browser_of(app, lms, "manager")
    rid = roster_id(app)
    for persona in ("learner", "designer"):
        browser = browser_of(app, lms, persona)
        for path in ("/manager/courses/", f"/manager/courses/{rid}/roster"):
            assert browser.get(path).status_code == 403, (persona, path)
        refused = browser.post(
            f"/manager/courses/{rid}/roster/refresh",
            data={"csrf_token": forged_csrf_token(app, browser)},
        )
        assert refused.status_code == 403
    assert memberships.calls == []


def test_another_organisation_sees_nothing(
    app, lms, gradebook, memberships, organisation_on_the_same_lms
):
    memberships.serve([moodle_member("learner")])
    refresh(browser_of(app, lms, "manager"), roster_id(app))
    organisation_on_the_same_lms()
    rid = roster_id(app)
    there = TestLms.browser(app)
    response = lms.signed_launch(
        there,
        "manager",
        change={c.DEPLOYMENT_ID: "annen-1", c.CONTEXT: {"id": "9", "title": "Annet"}},
    )
    assert lms.landed(response)
    assert "Informasjonssikkerhet" not in page(there, "/manager/courses/")
    assert there.get(f"/manager/courses/{rid}/roster").status_code == 404
    refused = there.post(
        f"/manager/courses/{rid}/roster/refresh",
        data={"csrf_token": forged_csrf_token(app, there)},
    )
    assert refused.status_code == 404
    assert len(memberships.calls) == 1


def test_a_manager_by_grant_sees_the_people_of_their_units_only(
    app, lms, care, gradebook, memberships
):
    browser_of(app, lms, "learner", **{c.CUSTOM: {"unit": "hjemmetjenesten"}})
    browser_of(app, lms, "learner2")  # in no unit
    memberships.serve([moodle_member(p) for p in EVERYONE])
    ungranted = refresh(browser_of(app, lms, "manager"), roster_id(app))
    assert "3 participants fetched" in ungranted
    assert rows(ungranted) == {}  # a manager by LMS role without a grant: no one
    teacher = browser_of(app, lms, "designer")
    give(app, care, "102", GrantKind.MANAGER, unit_id=care["units"]["hjemmetjenesten"])

    html = page(teacher, f"/manager/courses/{roster_id(app)}/roster")

    assert set(rows(html)) == {"Demo Ansatt"}
    assert "You see the participants who are employees of the units you manage" in html
    assert "Participants 1 Launched 1" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


#: Moodle's introduction course, where every employee first opens Læringsløp.
START = {
    c.CONTEXT: {
        "id": "3",
        "label": "START",
        "title": "Oppstart for nye ansatte",
        "type": ["CourseSection"],
    },
    c.NRPS: {
        "context_memberships_url": (
            "https://moodle.example/mod/lti/services.php/CourseSection/3/bindings/1/memberships"
        ),
        "service_versions": ["1.0", "2.0"],
    },
}
#: Moodle sends Learner, Instructor and (site admins) Administrator only: never Manager.
MOODLE_LEARNER = {c.ROLES: [LIS + "membership#Learner"]}


def test_a_unit_manager_from_moodle_sees_who_of_their_people_has_not_started(
    app, lms, care, gradebook, memberships
):
    """Tried as a new unit manager would, through Moodle's launches: HR's file places the
    employees who have opened Læringsløp and grants the manager their unit. The manager
    sees which of their people in the course have not started it (wherever else they
    launched from); a participant who never opened Læringsløp is of no unit yet, so only
    the admin sees them; the manager of another unit sees nothing of the course."""
    for persona in ("learner", "manager", "learner2"):
        browser_of(app, lms, persona, **START, **MOODLE_LEARNER)
    browser_of(app, lms, "designer", **MOODLE_LEARNER)  # from the course itself: started
    console = browser_of(app, lms, WHOLE, **START)  # Moodle's site administrator
    hr_file = (
        "person_sourcedid,unit,manages_unit\n"
        "EMP-learner,hjemmetjenesten,\n"
        "EMP-designer,hjemmetjenesten,\n"
        "EMP-manager,,hjemmetjenesten\n"
        "EMP-learner2,,sykehjemmet\n"
    )
    assert upload(console, hr_file).status_code == 302
    memberships.serve([moodle_member(p) for p in ("learner", "designer", "learner3")])
    manager = TestLms.browser(app)
    landed = lms.signed_launch(manager, "manager", change={**START, **MOODLE_LEARNER})
    assert lms.landing_path(landed).endswith("/manager/")
    rid = roster_id(app)
    assert f"/manager/courses/{rid}/roster" in page(manager, "/manager/courses/")

    html = refresh(manager, rid)

    assert "3 participants fetched" in html
    assert set(rows(html)) == {"Demo Ansatt", "Demo Kursutvikler"}
    assert "Participants 2 Launched 1 Not started 1" in re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", html)
    )
    not_started = page(manager, f"/manager/courses/{rid}/roster?show=not-started")
    assert set(rows(not_started)) == {"Demo Ansatt"}
    assert "Ola Hansen" not in html + not_started
    admin_view = page(console, f"/manager/courses/{rid}/roster?show=not-started")
    assert set(rows(admin_view)) == {"Demo Ansatt", "Ola Hansen"}

    elsewhere = browser_of(app, lms, "learner2", **START, **MOODLE_LEARNER)
    for path in (f"/manager/courses/{rid}/roster", f"/manager/courses/{rid}/roster?show=all"):
        other = page(elsewhere, path)
        assert rows(other) == {}
        assert "Participants 0 Launched 0 Not started 0" in re.sub(
            r"\s+", " ", re.sub(r"<[^>]+>", " ", other)
        )
    assert rows(page(elsewhere, f"/manager/courses/{rid}/roster?show=not-started")) == {}


def test_the_roster_page_costs_a_fixed_number_of_statements(app, lms, care, gradebook, memberships):
    for persona in EVERYONE:
        browser_of(app, lms, persona)
    memberships.serve([moodle_member(p) for p in EVERYONE])
    manager = browser_of(app, lms, WHOLE)
    rid = roster_id(app)
    refresh(manager, rid)
    with statements_run(app) as statements:
        response = manager.get(f"/manager/courses/{rid}/roster")
    assert response.status_code == 200
    # the launch (with its person, deployment, platform and organisation; the manager's
    # LMS role decides, no grants to read); the course, its members with
    # their people, the mappings and certifications counted, and who launched, attempted
    # and holds a certificate: however many members; and the audit log's two (the event
    # and the people it shows, at once)
    audited = [s for s in statements if s.startswith("INSERT INTO audit_event")]
    assert len(audited) == 2, audited
    assert len(statements) == 6 + 2, "\n".join(statements)
