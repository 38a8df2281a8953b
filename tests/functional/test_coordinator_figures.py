"""Coverage figures for coordinators, through HTTP: generated people in three municipalities
of one region and one outside, compared with an independent computation from the
generated evidence; small groups withheld (and one more where one would be alone); no
names or person ids; the monthly trend; who may see what; statements that do not grow."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from typing import Any

import pytest
from sqlalchemy import select, update

from lti_tool import clock
from lti_tool.db import get_session
from lti_tool.domain.certification_rules import add_months
from lti_tool.models import (
    AssignmentStatus,
    Competence,
    CoverageSnapshot,
    GrantKind,
    JobRoleAssignment,
    Organisation,
    Person,
    Region,
)
from lti_tool.services import coverage_figures, grants
from lti_tool.services.audit import Actor
from tests.fakes import content
from tests.fakes.lms import TestLms
from tests.functional.test_admin_console import add_platform
from tests.functional.test_assignments import person_id
from tests.functional.test_deployments import other_lms
from tests.functional.test_learner_requirements import launch
from tests.functional.test_unit_matrix import add_evidence, add_person, new_version
from tests.statements import engine_events, statements_run
from tests.unit.test_suppression import exact

DAY = dt.timedelta(days=1)
STATUSES = ("met", "expiring", "expired", "gap", "never_assessed")
#: The care profiles (tests/fakes/content.py): code → (competence, level, renewal months).
PROFILES = {
    "sykepleier": [("legemidler", 3, 24), ("personvern", 2, 12)],
    "helsefagarbeider": [("legemidler", 2, 12), ("office", 1, None)],
    "tomrolle": [],
}
#: People per unit, municipality by municipality; Annenkommune is outside the region.
DESIGN = {
    "Testkommune": {"hjemmetjenesten": 12, "sykehjemmet": 4, "legevakten": 7},
    "Bkommune": {"hjemmetjenesten": 5, "sykehjemmet": 6},
    "Ckommune": {"hjemmetjenesten": 3, "sykehjemmet": 2},
    "Annenkommune": {"hjemmetjenesten": 6},
}
REGION = ("Testkommune", "Bkommune", "Ckommune")


@dataclasses.dataclass
class Generated:
    organisation: str
    name: str
    unit: str
    roles: list[str]
    evidence: dict[str, list[tuple[int, int, dt.datetime, dt.datetime | None, str]]]
    """By competence code: (order written, level, recorded_at, valid_until, source)."""


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    fixed = dt.datetime.now(dt.UTC).replace(microsecond=0)
    monkeypatch.setattr(clock, "now", lambda: fixed)
    return fixed


def _roles(rng: random.Random) -> list[str]:
    return rng.choice(
        [
            ["sykepleier"],
            ["helsefagarbeider"],
            ["sykepleier", "helsefagarbeider"],
            ["tomrolle", "sykepleier"],
        ]
    )


def _build(now: dt.datetime, design: dict[str, dict[str, int]], seed: int = 13) -> dict[str, Any]:
    """The municipalities of ``design`` (Testkommune, the LMS's, first), the first three in
    region Vestland, the rest in Nordland, with their care content (one framework shared:
    the same competence identifiers everywhere), units and generated people."""
    rng = random.Random(seed)
    session = get_session()
    vestland, nordland = Region(name="Vestland"), Region(name="Nordland")
    session.add_all([vestland, nordland])
    session.flush()
    orgs: dict[str, int] = {}
    for name in design:
        found = session.scalar(select(Organisation).where(Organisation.name == name))
        if found is None:
            found = Organisation(name=name)
            session.add(found)
        found.region_id = vestland.id if name in REGION else nordland.id
        session.flush()
        orgs[name] = found.id
    session.commit()
    care = {name: content.care_content(name) for name in design}
    first = care["Testkommune"]["competences"]
    shared = {
        code: session.scalar(select(Competence.identifier).where(Competence.id == cid))
        for code, cid in first.items()
    }
    people: list[Generated] = []
    written = 0
    for name, units in design.items():
        for code, competence_id in care[name]["competences"].items():
            session.execute(
                update(Competence)
                .where(Competence.id == competence_id)
                .values(identifier=shared[code])
            )
        unit_ids = dict(care[name]["units"])
        for unit_code in units:
            if unit_code not in unit_ids:
                unit_ids[unit_code] = content.unit(orgs[name], unit_code, unit_code.title())
        for unit_code, size in units.items():
            for _ in range(size):
                roles = _roles(rng)
                person = Generated(name, f"Navn{len(people)} Etternavnsen", unit_code, roles, {})
                pid = add_person(
                    orgs[name],
                    person.name,
                    unit_ids[unit_code],
                    [care[name]["roles"][r] for r in roles],
                )
                for code, competence_id in care[name]["competences"].items():
                    for _ in range(rng.choice([0, 1, 1, 2, 3])):
                        written += 1
                        level = rng.randint(0, 4)
                        recorded = now - rng.randint(0, 800) * DAY
                        until = (
                            recorded + rng.randint(30, 400) * DAY if rng.random() < 0.3 else None
                        )
                        source = rng.choice(["knowledge_test", "self_assessment"])
                        add_evidence(orgs[name], pid, competence_id, level, recorded, source, until)
                        person.evidence.setdefault(code, []).append(
                            (written, level, recorded, until, source)
                        )
                people.append(person)
    session.commit()
    return {"orgs": orgs, "people": people, "regions": (vestland.id, nordland.id)}


# --- the independent computation ------------------------------------------------------------


def _status(
    person: Generated, code: str, level: int, renewal: int | None, at: dt.datetime, days: int = 30
) -> str:
    """From the generated evidence recorded before ``at``: tests before self-assessments,
    then the latest, then the last written."""
    held = [e for e in person.evidence.get(code, []) if e[2] < at]
    if not held:
        return "never_assessed"
    _, got, recorded, until, _ = max(held, key=lambda e: (e[4] != "self_assessment", e[2], e[0]))
    if got < level:
        return "gap"
    ends = [until] if until else []
    if renewal:
        ends.append(add_months(recorded, renewal))
    if ends and min(ends) <= at:
        return "expired"
    if ends and min(ends) <= at + days * DAY:
        return "expiring"
    return "met"


def _cells(person: Generated, at: dt.datetime) -> dict[str, str]:
    required: dict[str, tuple[int, int | None]] = {}
    for role in person.roles:
        for code, level, renewal in PROFILES[role]:
            old = required.get(code)
            if old is None:
                required[code] = (level, renewal)
            else:
                renewals = [r for r in (old[1], renewal) if r]
                required[code] = (max(old[0], level), min(renewals) if renewals else None)
    return {code: _status(person, code, lvl, ren, at) for code, (lvl, ren) in required.items()}


def expected_groups(people: list[Generated], at: dt.datetime) -> dict[tuple[str, str], dict]:
    """(dimension, key) → {"people": n, status: cells}; keys: municipality name, (name,
    unit code), job role code, competence code."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def add(key: tuple[str, str], who: str, statuses: list[str]) -> None:
        group = found.setdefault(key, {"who": set(), **dict.fromkeys(STATUSES, 0)})
        group["who"].add(who)
        for s in statuses:
            group[s] += 1

    for person in people:
        cells = _cells(person, at)
        if not cells:
            continue
        add(("organisation", person.organisation), person.name, list(cells.values()))
        add(("unit", f"{person.organisation}/{person.unit}"), person.name, list(cells.values()))
        for role in person.roles:
            codes = {code for code, _, _ in PROFILES[role]}
            if codes:  # a role that asks for nothing has no cells to count
                add(("job_role", role), person.name, [s for c, s in cells.items() if c in codes])
        for code, status in cells.items():
            add(("competence", code), person.name, [status])
    return {k: {"people": len(v.pop("who")), **v} for k, v in found.items()}


def coverage_of(group: dict[str, int]) -> float | None:
    cells = sum(group[s] for s in STATUSES)
    return round(100 * (group["met"] + group["expiring"]) / cells, 1) if cells else None


# --- the region, launched ---------------------------------------------------------------------


@pytest.fixture
def region(app, lms, now, platform_pem, mocked_http) -> dict[str, Any]:
    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    launch(lms, TestLms.browser(app), "learner")  # the coordinator-to-be
    with app.app_context():
        built = _build(now, DESIGN)
        grants.grant(
            get_session(),
            built["orgs"]["Testkommune"],
            person_id=person_id(app, "101"),
            kind=GrantKind.COORDINATOR,
            region_id=built["regions"][0],
            reason="Region figures",
            by=Actor.system(built["orgs"]["Testkommune"]),
            via="api",
        )
        get_session().commit()
    return {**built, "annen": annen}


def coordinator(app, lms) -> Any:
    browser = TestLms.browser(app)
    response = launch(lms, browser, "learner")
    assert lms.landing_path(response) == "/coordinator/"
    return browser


def figures_json(browser: Any, **query: Any) -> dict[str, Any]:
    response = browser.get("/api/v1/coverage/figures", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    found: dict[str, Any] = response.get_json()
    return found


def test_the_region_figures_equal_an_independent_computation(app, lms, region, now):
    expected = expected_groups([p for p in region["people"] if p.organisation in REGION], now)
    names = {v: k for k, v in region["orgs"].items()}
    with app.app_context():  # the raw sums, before any suppression
        sums = coverage_figures.count_groups(
            get_session(), [region["orgs"][n] for n in REGION], now=now
        )
        units = {u.id: u.code for u in get_session().scalars(select(content.OrgUnit))}
        identifiers = {c.identifier: c.code for c in get_session().scalars(select(Competence))}

    def counted(counts: coverage_figures.Counts) -> dict[str, int]:
        return {"people": counts.people, **{s.value: n for s, n in counts.cells.items()}}

    got = {("organisation", names[o]): counted(c) for o, c in sums.organisations.items()}
    got |= {("unit", f"{names[o]}/{units[u]}"): counted(c) for (o, u), c in sums.units.items()}
    merged: dict[tuple[str, str], coverage_figures.Counts] = {}
    for (_, code), c in sums.job_roles.items():
        merged[("job_role", code)] = merged.get(("job_role", code), coverage_figures.EMPTY) + c
    for (_, identifier), c in sums.competences.items():
        key = ("competence", identifiers[identifier])
        merged[key] = merged.get(key, coverage_figures.EMPTY) + c
    got |= {k: counted(c) for k, c in merged.items()}
    assert got == expected
    assert {s for g in expected.values() for s in STATUSES if g[s]} == set(STATUSES)

    browser = coordinator(app, lms)
    data = figures_json(browser)
    assert data["region"] == "Vestland"
    assert [g["label"] for g in data["municipalities"]] == ["Bkommune", "Ckommune", "Testkommune"]
    for group in data["municipalities"]:
        want = expected[("organisation", group["label"])]
        assert not group["suppressed"]
        assert group["people"] == want["people"]
        assert group["cells"] == {s: want[s] for s in STATUSES}
        assert group["coverage"] == coverage_of(want)
    total = {s: sum(expected[("organisation", n)][s] for n in REGION) for s in STATUSES}
    assert data["total"]["cells"] == total
    assert data["total"]["coverage"] == coverage_of(total)
    # the page writes it as its language does: "13,7 %" in Norwegian, "13.7%" in English
    shown = f"{data['total']['coverage']:.1f}"
    for lang, written in (("nb", shown.replace(".", ",") + "\xa0%"), ("en", shown + "%")):
        page = browser.get("/coordinator/", query_string={"lang": lang}).get_data(as_text=True)
        assert written in page, (lang, written)
    for group in data["job_roles"]:
        want = expected[("job_role", group["key"])]
        assert group["people"] == want["people"] and group["coverage"] == coverage_of(want)
    assert {g["key"] for g in data["job_roles"]} == {"sykepleier", "helsefagarbeider"}
    assert len(data["competences"]) == 3  # one identifier across the municipalities
    for group in data["competences"]:
        want = expected[("competence", group["label"].split()[0])]
        assert group["cells"] == {s: want[s] for s in STATUSES}


def test_small_groups_are_withheld_with_their_complement(app, lms, region, now):
    expected = expected_groups(region["people"], now)
    data = figures_json(coordinator(app, lms))
    units = {(g["municipality"], g["label"]): g for g in data["units"]}
    # Testkommune: 12, 4 and 7 people: the 4 withheld, and the 7 with it
    size = {k: expected[("unit", f"Testkommune/{k}")]["people"] for k in DESIGN["Testkommune"]}
    assert size == DESIGN["Testkommune"]  # everyone generated there has a required competence
    assert units[("Testkommune", "Sykehjemmet")]["suppressed"]
    assert units[("Testkommune", "Legevakten")]["suppressed"]
    assert units[("Testkommune", "Hjemmetjenesten")]["people"] == 12
    # Bkommune: 5 and 6: both shown
    assert units[("Bkommune", "Hjemmetjenesten")]["people"] == 5
    assert units[("Bkommune", "Sykehjemmet")]["people"] == 6
    # Ckommune: 3 and 2: both withheld, the municipality's 5 shown
    assert units[("Ckommune", "Hjemmetjenesten")]["suppressed"]
    assert units[("Ckommune", "Sykehjemmet")]["suppressed"]
    assert next(g for g in data["municipalities"] if g["label"] == "Ckommune")["people"] == 5
    for group in data["units"]:
        if group["suppressed"]:
            assert group["people"] is group["cells"] is group["coverage"] is None
    html = coordinator(app, lms).get("/coordinator/", query_string={"lang": "en"})
    text = html.get_data(as_text=True)
    assert html.status_code == 200
    assert text.count("Withheld") >= 4
    # spanning organisations with their own windows, the figures keep one: it is said
    assert "expiring within 30 days). These figures span organisations" in text


def test_no_names_or_person_ids_are_shown(app, lms, region):
    browser = coordinator(app, lms)
    html = browser.get("/coordinator/", query_string={"lang": "en"}).get_data(as_text=True)
    data = figures_json(browser)
    body = json.dumps(data)
    with app.app_context():
        people = get_session().execute(select(Person.name, Person.sub, Person.email)).all()
    assert len(people) > 40
    for name, sub, email in people:
        for text in (html, body):
            assert name not in text
            assert len(sub) < 10 or sub not in text  # the demo personas' subs are numbers
            assert not email or email not in text
    for person in region["people"]:
        assert person.name.split()[0] not in html

    def keys(found: Any) -> set[str]:
        if isinstance(found, dict):
            return set(found) | {k for v in found.values() for k in keys(v)}
        if isinstance(found, list):
            return {k for v in found for k in keys(v)}
        return set()

    assert not {k for k in keys(data) if "person" in k or k in ("id", "name", "sub")}


def test_a_coordinator_of_a_municipality_and_an_admin_see_their_own_only(app, lms, region):
    annen = region["annen"]
    admin = TestLms.browser(app)
    assert annen.landed(annen.launch(admin, "admin"))  # Annenkommune's admin
    data = figures_json(admin)
    assert data["region"] is None
    assert [g["label"] for g in data["municipalities"]] == ["Annenkommune"]
    html = admin.get("/coordinator/", query_string={"lang": "en"}).get_data(as_text=True)
    for name in REGION:
        assert name not in html and name not in json.dumps(data)
    assert (
        admin.get(
            "/api/v1/coverage/figures", query_string={"organisation": region["orgs"]["Testkommune"]}
        ).status_code
        == 404
    )
    # a coordinator of Nordland, in Annenkommune: Annenkommune only
    learner = TestLms.browser(app)
    annen.launch(learner, "learner")
    with app.app_context():
        grants.grant(
            get_session(),
            region["orgs"]["Annenkommune"],
            person_id=person_id(app, "101", issuer="https://canvas.example"),
            kind=GrantKind.COORDINATOR,
            region_id=region["regions"][1],
            reason="Nordland",
            by=Actor.system(region["orgs"]["Annenkommune"]),
            via="api",
        )
        get_session().commit()
    data = figures_json(learner)
    assert data["region"] == "Nordland"
    assert [g["label"] for g in data["municipalities"]] == ["Annenkommune"]
    # Testkommune's admin: Testkommune only, not the region
    own = TestLms.browser(app)
    lms.launch(own, "admin")
    data = figures_json(own)
    assert [g["label"] for g in data["municipalities"]] == ["Testkommune"]
    # the region's coordinator narrows to one municipality, not to one outside
    browser = coordinator(app, lms)
    one = figures_json(browser, organisation=region["orgs"]["Bkommune"])
    assert [g["label"] for g in one["municipalities"]] == ["Bkommune"]
    outside = browser.get(
        "/coordinator/", query_string={"organisation": region["orgs"]["Annenkommune"]}
    )
    assert outside.status_code == 404


@pytest.mark.parametrize("persona", ["learner", "designer", "manager"])
def test_learners_designers_and_managers_are_refused(app, lms, persona):
    browser = TestLms.browser(app)
    lms.launch(browser, persona)
    assert browser.get("/coordinator/").status_code == 403
    assert browser.get("/api/v1/coverage/figures").status_code == 403


def test_a_token_sees_its_organisation(app, lms, region, cli):
    output = cli(
        "api-token", "create", "--organisation", "Bkommune", "--scope", "read", "--name", "stats"
    ).output
    token = output.strip().split()[-1]
    client = TestLms.browser(app)
    response = client.get("/api/v1/coverage/figures", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [g["label"] for g in response.get_json()["municipalities"]] == ["Bkommune"]
    bad = client.get(
        "/api/v1/coverage/figures",
        query_string={"months": 0},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 422 and "months" in bad.get_json()["errors"]


def test_the_openapi_document_describes_the_figures(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/coverage/figures"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]


# --- nothing withheld can be worked back --------------------------------------------------------

Identity = tuple[Any, ...]


def readable(
    views: list[tuple[int | None, dict[str, Any]]],
) -> tuple[dict[Identity, set[bool]], list[tuple[Identity, list[Identity]]]]:
    """What a reader of ``views`` (the whole region: None, or one municipality's id, with
    its answer) learns: every group by what it is, whichever view shows it, with whether
    each view withheld it; and the sums they can subtract within: a total and the groups
    that add up to it, taken as adding up exactly (people in two units or job roles only
    make that less exact) — the region and its municipalities, a municipality and its
    units, a scope and its job roles or competences, a region's job role or competence
    and the same in each municipality, each month of the trend and its municipalities
    (the current month is the figures of now)."""
    seen: dict[Identity, set[bool]] = {}
    lines: list[tuple[Identity, list[Identity]]] = []

    def see(identity: Identity, group: dict[str, Any]) -> Identity:
        seen.setdefault(identity, set()).add(group["suppressed"])
        return identity

    def tie(total: Identity, parts: list[Identity]) -> None:
        if parts and parts != [total]:
            lines.append((total, parts))

    for narrowed, data in views:
        ids = {g["label"]: int(g["key"]) for g in data["municipalities"]}
        total = see(("municipality", narrowed), data["total"])
        tie(total, [see(("municipality", int(g["key"])), g) for g in data["municipalities"]])
        units: dict[str, list[Identity]] = {}
        for g in data["units"]:
            units.setdefault(g["municipality"], []).append(
                see(("unit", g["municipality"], g["key"]), g)
            )
        for name, parts in units.items():
            tie(("municipality", ids[name]), parts)
        for dimension in ("job_roles", "competences"):
            tie(total, [see((dimension, narrowed, g["key"]), g) for g in data[dimension]])
        for month in data["trend"]:
            if not month["recorded"]:
                continue
            tag = ("municipality",) if month["live"] else ("month", month["month"])
            month_total = see((*tag, narrowed), month["total"])
            tie(month_total, [see((*tag, int(g["key"])), g) for g in month["municipalities"]])
    for dimension in ("job_roles", "competences"):
        for identity in [i for i in seen if i[0] == dimension and i[1] is None]:
            tie(identity, [i for i in seen if i[0] == dimension and i[2] == identity[2] and i[1]])
    return seen, lines


def assert_nothing_withheld_can_be_worked_back(
    views: list[tuple[int | None, dict[str, Any]]],
) -> set[Identity]:
    """Each group withheld everywhere it shows or nowhere, and no withheld one fixed by the
    sums (by exact linear algebra, apart from domain.suppression's own): the withheld."""
    seen, lines = readable(views)
    mixed = sorted((i for i, shown in seen.items() if len(shown) > 1), key=str)
    assert not mixed, f"withheld in one view, shown in another: {mixed}"
    hidden = {i for i, shown in seen.items() if shown == {True}}
    keyed = {str(i): i for i in seen}
    exactly = exact({str(i) for i in hidden}, [(str(t), [str(p) for p in ps]) for t, ps in lines])
    assert not exactly, f"worked back from the shown figures: {[keyed[k] for k in exactly]}"
    return hidden


def every_view(browser: Any, orgs: dict[str, int], **query: Any) -> list[tuple[int | None, Any]]:
    """The region as a whole and each municipality of it alone."""
    views: list[tuple[int | None, Any]] = [(None, figures_json(browser, **query))]
    for name in REGION:
        views.append((orgs[name], figures_json(browser, organisation=orgs[name], **query)))
    return views


def test_no_withheld_group_can_be_worked_back_from_any_view(app, lms, region, now):
    with app.app_context():
        # Ckommune down to 4 people with required competences: one's job roles end
        leaving = next(p.name for p in region["people"] if p.organisation == "Ckommune")
        session = get_session()
        who = session.scalars(select(Person.id).where(Person.name == leaving)).one()
        for assignment in session.scalars(
            select(JobRoleAssignment).where(JobRoleAssignment.person_id == who)
        ):
            assignment.status = AssignmentStatus.ENDED
        session.flush()
        last = coverage_figures.last_month(now)  # two months of the trend recorded
        for month in (coverage_figures._previous_month(last), last):
            coverage_figures.record_snapshot(session, month, now=now)
        session.commit()
    browser = coordinator(app, lms)
    views = every_view(browser, region["orgs"], months=3)
    hidden = assert_nothing_withheld_can_be_worked_back(views)
    kinds = {(i[0], i[1] is None) for i in hidden}
    # withheld groups of every kind, so the check above has work to do
    assert {("unit", False), ("job_roles", False), ("competences", False)} <= kinds, kinds
    # Ckommune (4) withheld, and Bkommune with it, in the region's view and in their own,
    # now and in each recorded month; Testkommune shown
    orgs = region["orgs"]
    shown = dict(views)
    for name, withheld in (("Ckommune", True), ("Bkommune", True), ("Testkommune", False)):
        mine = shown[orgs[name]]
        assert mine["total"]["suppressed"] is withheld, name
        in_region = next(g for g in shown[None]["municipalities"] if g["label"] == name)
        assert in_region["suppressed"] is withheld, name
        for month in mine["trend"]:
            assert month["total"]["suppressed"] is withheld, (name, month["month"])
    assert not shown[None]["total"]["suppressed"]
    # a region's job role minus the other municipalities' never leaves one group
    for role in shown[None]["job_roles"]:
        withheld_in = [
            name
            for name in REGION
            for g in shown[orgs[name]]["job_roles"]
            if g["key"] == role["key"] and g["suppressed"]
        ]
        assert len(withheld_in) != 1 or role["suppressed"], (role["key"], withheld_in)


def test_the_check_finds_a_group_worked_back(app, lms, region):
    """The check above fails on what the figures did before: a municipality's small job
    role withheld in its own view only, the others' shown beside the region's."""
    browser = coordinator(app, lms)
    views = every_view(browser, region["orgs"])
    views = json.loads(json.dumps(views))  # a copy to show more of
    hidden = assert_nothing_withheld_can_be_worked_back(views)
    role = next(i for i in hidden if i[0] == "job_roles" and i[1] is not None)
    for narrowed, data in views:  # shown everywhere but in the one small municipality's view
        for g in data["job_roles"]:
            if g["key"] == role[2] and narrowed not in (None, role[1]):
                g["suppressed"] = False
    with pytest.raises(AssertionError, match="worked back"):
        assert_nothing_withheld_can_be_worked_back(views)
    for g in views[0][1]["units"]:
        g["suppressed"] = False  # shown in the region's view, withheld in a municipality's
    with pytest.raises(AssertionError, match="shown in another"):
        assert_nothing_withheld_can_be_worked_back(views)


def test_small_groups_of_a_municipalitys_own_view_stay_withheld_in_the_tokens(
    app, lms, region, cli
):
    """A token sees its municipality alone: a scope of its own, decided the same way."""
    token = (
        cli("api-token", "create", "--organisation", "Ckommune", "--scope", "read", "--name", "c")
        .output.strip()
        .split()[-1]
    )
    response = TestLms.browser(app).get(
        "/api/v1/coverage/figures", headers={"Authorization": f"Bearer {token}"}
    )
    data = response.get_json()
    assert_nothing_withheld_can_be_worked_back([(region["orgs"]["Ckommune"], data)])
    assert all(g["suppressed"] for g in data["units"])


def test_a_competence_in_two_framework_versions_counts_each_person_once(app, lms, now):
    """People asked for one competence identifier in two versions of its framework (one
    role pinned to version 1, another to version 2): the competence counts each of them
    once, with both cells."""
    with app.app_context():
        care = content.care_content()
        org = care["organisation_id"]
        v2 = new_version([care["competences"]["legemidler"]])[care["competences"]["legemidler"]]
        newer = content.job_role(org, "nyere", "Nyere sykepleier", [(v2, 2, True, None)])
        for i in range(6):
            add_person(
                org,
                f"Navn{i} Versjonsen",
                care["units"]["hjemmetjenesten"],
                [care["roles"]["sykepleier"], newer],
            )
        identifier = get_session().get(Competence, v2).identifier
        get_session().commit()
    admin = TestLms.browser(app)
    lms.launch(admin, "admin")
    data = figures_json(admin)
    group = next(g for g in data["competences"] if g["key"] == identifier)
    assert group["people"] == 6  # 12 before: one per cell
    assert sum(group["cells"].values()) == 12  # legemidler v1 and v2, for each of them
    assert data["total"]["people"] == 6
    assert sum(data["total"]["cells"].values()) == 18  # and personvern
    assert {g["key"]: g["people"] for g in data["job_roles"]} == {"sykepleier": 6, "nyere": 6}


# --- the trend --------------------------------------------------------------------------------


def test_the_trend_shows_recorded_months_and_this_month_live(app, lms, region, now, cli):
    last = coverage_figures.last_month(now)
    before = coverage_figures._previous_month(last)
    result = cli("coverage", "snapshot", "--month", f"{before:%Y-%m}")
    assert f"Recorded {before:%Y-%m}" in result.output
    refused = cli("coverage", "snapshot", "--month", f"{now:%Y-%m}", ok=False)
    assert refused.exit_code != 0
    # the worker records the last month by itself, once
    cli("worker", "--once")
    with app.app_context():
        months = set(get_session().scalars(select(CoverageSnapshot.month).distinct()))
        assert months == {before, last}
        assert coverage_figures.record_due_snapshots(get_session(), now) == 0
    data = figures_json(coordinator(app, lms), months=4)
    trend = {m["month"]: m for m in data["trend"]}
    assert len(data["trend"]) == 4 and data["trend"][-1]["live"]
    assert not trend[f"{coverage_figures._previous_month(before):%Y-%m}"]["recorded"]
    regional = [p for p in region["people"] if p.organisation in REGION]
    for month in (before, last):
        at = coverage_figures.month_end(month)
        expected = expected_groups(regional, at)
        shown = trend[f"{month:%Y-%m}"]
        assert shown["recorded"] and not shown["live"]
        for group in shown["municipalities"]:
            want = expected[("organisation", group["label"])]
            assert group["people"] == want["people"]
            assert group["cells"] == {s: want[s] for s in STATUSES}
        total = {s: sum(expected[("organisation", n)][s] for n in REGION) for s in STATUSES}
        assert shown["total"]["coverage"] == coverage_of(total)
    live = trend[f"{now:%Y-%m}"]
    assert {**live["total"], "label": ""} == {**data["total"], "label": ""}
    html = coordinator(app, lms).get("/coordinator/", query_string={"lang": "en"})
    text = html.get_data(as_text=True)
    assert f"{last:%Y-%m}" in text and "<svg" in text and "Not recorded" in text


def test_small_groups_are_withheld_in_the_trend(app, lms, now):
    with app.app_context():
        built = _build(now, {"Testkommune": {"hjemmetjenesten": 4}})
        coverage_figures.record_snapshot(get_session(), coverage_figures.last_month(now), now=now)
        get_session().commit()
        teacher = TestLms.browser(app)
        lms.launch(teacher, "admin")
    data = figures_json(teacher, months=2)
    assert [m["total"]["suppressed"] for m in data["trend"]] == [True, True]
    assert data["total"]["suppressed"] and data["total"]["cells"] is None
    assert built["orgs"]


# --- statements -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 100])
def test_statements_do_not_grow_with_people(app, lms, now, size, request):
    with app.app_context():
        _build(now, {"Testkommune": {"hjemmetjenesten": size // 2, "sykehjemmet": size // 2}})
    browser = TestLms.browser(app)
    lms.launch(browser, "admin")
    browser.get("/coordinator/")  # warm: the launch's first reads
    on_postgresql = app.extensions["db_engine"].dialect.name == "postgresql"
    in_force: list[Any] = []

    def settings_in_force(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if on_postgresql and "tallies" in statement:  # the sums, as the database runs them
            shown = "SELECT current_setting('jit'), current_setting('plan_cache_mode')"
            in_force.append(tuple(cursor.connection.execute(shown).fetchone()))

    with statements_run(app) as run, engine_events(app, before_cursor_execute=settings_in_force):
        response = browser.get("/coordinator/")
    assert response.status_code == 200
    assert len(run) == EXPECTED_STATEMENTS + on_postgresql, run
    # on PostgreSQL, the sums without compiling (JIT) and with a plan for these organisations
    settings = [s for s in run if "set_config" in s]
    assert len(settings) == on_postgresql
    if on_postgresql:
        assert "jit" in str(settings) and "plan_cache_mode" in str(settings), settings
        # set for the transaction: the sums must run in the same one (not in autocommit)
        assert in_force == [("off", "force_custom_plan")], in_force


#: The launch (with its deployment, platform and organisation; the coordinator's LMS role
#: decides, no grant to read) (1), the sums (1), the labels (3), the trend (1); on
#: PostgreSQL the sums' settings (1).
EXPECTED_STATEMENTS = 6


def test_invalid_filters_are_answered_with_the_page_and_its_errors(app, lms, region):
    browser = coordinator(app, lms)
    response = browser.get("/coordinator/", query_string={"months": "99", "lang": "nb"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="filter-months-error"' in html and "Dekningstall" in html
    choices = browser.get("/coordinator/", query_string={"lang": "en"}).get_data(as_text=True)
    assert "All municipalities" in choices and "Annenkommune" not in choices
