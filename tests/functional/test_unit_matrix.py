"""A unit's competence matrix: statuses compared with an independent computation from the
raw evidence, coverage, filters, sorting, paging, the holdings kept as evidence arrives
(through HTTP and across framework versions), and statements that do not grow with size."""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text

import lti_tool
from lti_tool.db import get_session
from lti_tool.domain.certification_rules import add_months
from lti_tool.errors import NotFound
from lti_tool.models import (
    AssignmentSource,
    AssignmentStatus,
    Competence,
    CompetenceHolding,
    Evidence,
    FrameworkVersion,
    JobRoleAssignment,
    Person,
    Platform,
    ScaleLevel,
    UnitAssignment,
    VersionStatus,
)
from lti_tool.services import coverage, requirements
from lti_tool.services.coverage import MatrixFilters
from lti_tool.services.evidence import record_evidence
from tests.fakes import content
from tests.fakes.lms import TestLms
from tests.functional.test_learner_requirements import launch
from tests.functional.test_mapping_flow import NURSE_RIGHT, build_mapping, place, take
from tests.statements import statements_run

NOW = dt.datetime(2027, 3, 15, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


# --- building a unit straight from the models ------------------------------------------------


def add_person(org: int, name: str, unit_id: int | None, role_ids: list[int]) -> int:
    (person_id,) = add_people(org, [name], unit_id, role_ids)
    return person_id


def add_people(org: int, names: list[str], unit_id: int | None, role_ids: list[int]) -> list[int]:
    """People in the unit holding the roles, in two flushes however many."""
    session = get_session()
    platform_id = session.scalar(select(Platform.id).limit(1))
    people = []
    for name in names:
        given, _, family = name.partition(" ")
        people.append(
            Person(
                platform_id=platform_id,
                sub=f"sub-{uuid.uuid4()}",
                organisation_id=org,
                name=name,
                given_name=given,
                family_name=family,
            )
        )
    session.add_all(people)
    session.flush()
    active = {"source": AssignmentSource.IMPORT, "status": AssignmentStatus.ACTIVE}
    for person in people:
        if unit_id is not None:
            session.add(UnitAssignment(person_id=person.id, unit_id=unit_id, **active))
        for role_id in role_ids:
            session.add(JobRoleAssignment(person_id=person.id, job_role_id=role_id, **active))
    session.flush()
    return [person.id for person in people]


def add_evidence(*args: Any, **kwargs: Any) -> None:
    """Record one evidence record: ``evidence``'s arguments."""
    record_evidence(get_session(), [evidence(*args, **kwargs)])


def evidence(
    org: int,
    person_id: int,
    competence_id: int,
    level: int,
    recorded_at: dt.datetime,
    source: str = "knowledge_test",
    valid_until: dt.datetime | None = None,
) -> Evidence:
    """An evidence record, not yet recorded (``record_evidence`` takes many at once)."""
    return Evidence(
        organisation_id=org,
        person_id=person_id,
        competence_id=competence_id,
        source=source,
        level=level,
        recorded_at=recorded_at,
        valid_until=valid_until,
        detail={},
    )


def new_version(competence_ids: list[int]) -> dict[int, int]:
    """A published version 2 of the competences' framework; v1 competence id → v2 id."""
    session = get_session()
    first = session.get(Competence, competence_ids[0])
    assert first is not None
    old = first.version
    version = FrameworkVersion(
        framework_id=old.framework_id,
        number=old.number + 1,
        status=VersionStatus.PUBLISHED,
        title=old.title,
        identifier=old.identifier,
    )
    version.levels = [ScaleLevel(value=lvl.value, label=lvl.label) for lvl in old.levels]
    copies = {}
    for c in old.competences:
        copies[c.id] = Competence(identifier=c.identifier, code=c.code, title=c.title)
    version.competences = list(copies.values())
    session.add(version)
    session.flush()
    return {old_id: copy.id for old_id, copy in copies.items()}


# --- the independent computation the matrix is compared with ---------------------------------


def expected_status(org: int, person_id: int, competence_id: int, level: int, renewal: Any) -> str:
    """From the raw evidence, written apart from the service: the competence's evidence in
    any version of its framework; tests before self-assessments, then the latest; then
    never_assessed / gap / expired / expiring (30 days) / met."""
    session = get_session()
    asked = session.get(Competence, competence_id)
    assert asked is not None
    evidence = [
        e
        for e in session.scalars(
            select(Evidence).where(Evidence.person_id == person_id, Evidence.organisation_id == org)
        )
        if e.competence.identifier == asked.identifier
        and e.competence.version.framework_id == asked.version.framework_id
    ]
    if not evidence:
        return "never_assessed"
    best = max(evidence, key=lambda e: (e.source != "self_assessment", e.recorded_at, e.id))
    if best.level < level:
        return "gap"
    ends = [d for d in (best.valid_until,) if d is not None]
    if renewal:
        ends.append(add_months(best.recorded_at, renewal))
    if ends and min(ends) <= NOW:
        return "expired"
    if ends and min(ends) <= NOW + 30 * DAY:
        return "expiring"
    return "met"


@pytest.fixture
def unit(app: Any, lms: TestLms) -> dict[str, Any]:
    """Hjemmetjenesten with five people in the five states of the nurse's medicines
    requirement (level 3, renewed every 24 months), and one in the nursing home."""
    with app.app_context():
        care = content.care_content()
        org, units, roles = care["organisation_id"], care["units"], care["roles"]
        med, privacy = care["competences"]["legemidler"], care["competences"]["personvern"]
        home = units["hjemmetjenesten"]
        nurse, worker = roles["sykepleier"], roles["helsefagarbeider"]
        people = {
            "met": add_person(org, "Anne Aas", home, [nurse]),
            "gap": add_person(org, "Bjørn Berg", home, [nurse]),
            "expiring": add_person(org, "Cecilie Dahl", home, [nurse, worker]),
            "expired": add_person(org, "David Eik", home, [nurse]),
            "never": add_person(org, "Eva Fjell", home, [worker]),
            "elsewhere": add_person(org, "Frida Gran", units["sykehjemmet"], [nurse]),
            "no_role": add_person(org, "Geir Holm", home, []),
        }
        add_evidence(org, people["met"], med, 3, NOW - 100 * DAY)
        add_evidence(org, people["met"], privacy, 2, NOW - 10 * DAY)
        add_evidence(org, people["gap"], med, 4, NOW - 300 * DAY)
        add_evidence(org, people["gap"], med, 2, NOW - 5 * DAY)  # a worse retake counts
        add_evidence(org, people["gap"], med, 4, NOW - DAY, source="self_assessment")
        # the worker's 12 months are the shortest renewal of medicines: ends in 20 days
        add_evidence(org, people["expiring"], med, 3, add_months(NOW + 20 * DAY, -12))
        add_evidence(org, people["expired"], med, 3, NOW - 800 * DAY)
        add_evidence(org, people["expired"], privacy, 2, NOW - 30 * DAY, valid_until=NOW - DAY)
        add_evidence(org, people["elsewhere"], med, 3, NOW - DAY)
        get_session().commit()
        return {**care, "people": people}


def statuses(matrix: coverage.Matrix) -> dict[tuple[str, str], str]:
    return {
        (row.name, col.code): cell.status.value
        for row in matrix.rows
        for col, cell in zip(matrix.columns, row.cells, strict=True)
        if cell is not None
    }


def home_matrix(unit: dict[str, Any], **kwargs: Any) -> coverage.Matrix:
    scope = coverage.unit_scope(
        get_session(), unit["organisation_id"], unit["units"]["hjemmetjenesten"], None
    )
    return coverage.unit_matrix(
        get_session(), unit["organisation_id"], scope, now=NOW, locale="en", **kwargs
    )


def test_each_cell_matches_the_independent_computation(app, unit):
    with app.app_context():
        matrix = home_matrix(unit)
        assert [r.name for r in matrix.rows] == [
            "Anne Aas",
            "Bjørn Berg",
            "Cecilie Dahl",
            "David Eik",
            "Eva Fjell",
            "Geir Holm",
        ]
        assert [c.code for c in matrix.columns] == ["legemidler", "personvern", "office"]
        found = statuses(matrix)
        assert found[("Anne Aas", "legemidler")] == "met"
        assert found[("Bjørn Berg", "legemidler")] == "gap"
        assert found[("Cecilie Dahl", "legemidler")] == "expiring"
        assert found[("David Eik", "legemidler")] == "expired"
        assert found[("David Eik", "personvern")] == "expired"  # the evidence's own end
        assert found[("Eva Fjell", "legemidler")] == "never_assessed"
        assert ("Eva Fjell", "personvern") not in found  # not a worker's requirement
        checked = 0
        for row in matrix.rows:
            for cell in row.cells:
                if cell is None:
                    continue
                mine = requirements.requirements_of(
                    get_session(), unit["organisation_id"], row.person_id, "en"
                )
                line = next(x for x in mine.lines if x.competence_id == cell.competence_id)
                assert cell.required_level == line.required.value
                assert cell.status.value == expected_status(
                    unit["organisation_id"],
                    row.person_id,
                    cell.competence_id,
                    line.required.value,
                    line.renewal_months,
                )
                checked += 1
        assert checked == 11


def test_coverage_per_competence_per_person_and_in_all(app, unit):
    with app.app_context():
        matrix = home_matrix(unit)
        by_code = {c.code: c for c in matrix.columns}
        # medicines: met, gap, expiring, expired, never → 2 of 5 held today
        assert by_code["legemidler"].coverage == 40.0
        assert by_code["legemidler"].counts["gap"] == 1
        assert by_code["legemidler"].mandatory and not by_code["office"].mandatory
        rows = {r.name: r for r in matrix.rows}
        assert rows["Anne Aas"].coverage == 100.0
        assert rows["David Eik"].coverage == 0.0
        assert rows["Geir Holm"].coverage is None and rows["Geir Holm"].cells == (None,) * 3
        cells = [c for r in matrix.rows for c in r.cells if c is not None]
        held = sum(c.status in ("met", "expiring") for c in cells)
        assert matrix.coverage == round(100 * held / len(cells), 1)
        assert matrix.people == 6 and "Frida Gran" not in rows


def test_filters_sorting_and_paging(app, unit):
    with app.app_context():
        roles, competences = unit["roles"], unit["competences"]
        workers = home_matrix(
            unit, filters=MatrixFilters(job_role_ids=frozenset({roles["helsefagarbeider"]}))
        )
        assert [r.name for r in workers.rows] == ["Cecilie Dahl", "Eva Fjell"]
        mandatory = home_matrix(unit, filters=MatrixFilters(mandatory_only=True))
        assert [c.code for c in mandatory.columns] == ["legemidler", "personvern"]
        one = home_matrix(
            unit, filters=MatrixFilters(competence_ids=frozenset({competences["personvern"]}))
        )
        assert [c.code for c in one.columns] == ["personvern"]
        gaps = home_matrix(
            unit,
            filters=MatrixFilters(statuses=frozenset({coverage.CellStatus.EXPIRED})),
        )
        assert [r.name for r in gaps.rows] == ["David Eik"]

        by_coverage = [r.name for r in home_matrix(unit, sort="coverage").rows]
        # 0 % for three, by name among equals; no figure last either way
        assert by_coverage[:3] == ["Bjørn Berg", "David Eik", "Eva Fjell"]
        assert by_coverage[-1] == "Geir Holm"
        best_first = [r.name for r in home_matrix(unit, sort="-coverage").rows]
        assert best_first[0] == "Anne Aas" and best_first[-1] == "Geir Holm"
        assert home_matrix(unit, sort="-name").rows[0].name == "Geir Holm"
        worst = home_matrix(unit, sort=f"c{competences['legemidler']}")
        assert [r.name for r in worst.rows][:3] == ["David Eik", "Bjørn Berg", "Eva Fjell"]

        first = home_matrix(unit, per_page=4)
        second = home_matrix(unit, per_page=4, page=2)
        assert (first.pages, len(first.rows), len(second.rows)) == (2, 4, 2)
        assert second.rows[0].name == "Eva Fjell"
        assert first.coverage == second.coverage  # the figures are of every page
        assert home_matrix(unit, per_page=4, page=9).page == 2


def test_the_unit_includes_its_sub_units_and_a_manager_only_reaches_theirs(app, unit):
    with app.app_context():
        org, units = unit["organisation_id"], unit["units"]
        sector = get_session().get(content.OrgUnit, units["hjemmetjenesten"]).parent_id
        scope = coverage.unit_scope(get_session(), org, sector, None)
        matrix = coverage.unit_matrix(get_session(), org, scope, now=NOW)
        assert matrix.people == 7  # both units under the sector
        mine = frozenset({units["sykehjemmet"]})
        with pytest.raises(NotFound):
            coverage.unit_scope(get_session(), org, units["hjemmetjenesten"], mine)
        with pytest.raises(NotFound):
            coverage.unit_scope(get_session(), org + 999, units["hjemmetjenesten"], None)


def test_statements_do_not_grow_with_people_or_competences(app, lms):
    with app.app_context():
        care = content.care_content()
        org = care["organisation_id"]
        few = content.unit(org, "liten", "Liten")
        many = content.unit(org, "stor", "Stor")
        extra = content.framework(org, "it", "IT", {f"k{i}": f"K {i}" for i in range(20)})
        big_role = content.job_role(org, "it", "IT", [(cid, 1, True, 12) for cid in extra.values()])
        for unit_id, size, role in ((few, 5, care["roles"]["sykepleier"]), (many, 50, big_role)):
            for n in range(size):
                person = add_person(org, f"P{n} X{unit_id}", unit_id, [role])
                add_evidence(org, person, next(iter(extra.values())), 1, NOW - n * DAY)
        get_session().commit()
        counts = []
        for unit_id in (few, many):
            with statements_run(app) as run:
                matrix = coverage.unit_matrix(get_session(), org, frozenset({unit_id}), now=NOW)
            counts.append(len(run))
            assert matrix.people in (5, 50)
        assert counts == [5, 5]
        streamed = []
        with statements_run(app) as run:
            for row in coverage.matrix_rows(get_session(), org, None, now=NOW, batch=20):
                streamed.append(row)
        assert len(streamed) == 55
        assert len(run) == 2 + 1 + 3 * 2  # the profiles, the people, 2 per batch of 20


def test_streamed_rows_carry_the_same_cells_as_the_page(app, unit):
    with app.app_context():
        org = unit["organisation_id"]
        scope = frozenset({unit["units"]["hjemmetjenesten"]})
        page = coverage.unit_matrix(get_session(), org, scope, now=NOW, locale="en")
        streamed = list(coverage.matrix_rows(get_session(), org, scope, now=NOW, batch=2))
        assert [r.person_id for r in streamed] == [r.person_id for r in page.rows]
        for row, flat in zip(page.rows, streamed, strict=True):
            assert {c.competence_id: c for c in row.cells if c} == flat.cells
        heads = coverage.headings(get_session(), org, scope, locale="en")
        assert [h.code for h in heads] == [c.code for c in page.columns]
        nurses = coverage.headings(
            get_session(),
            org,
            scope,
            filters=MatrixFilters(job_role_ids=frozenset({unit["roles"]["sykepleier"]})),
        )
        # Cecilie is a nurse and a health worker: her office line comes along
        assert [h.code for h in nurses] == ["legemidler", "personvern", "office"]
        mandatory = coverage.headings(
            get_session(), org, scope, filters=MatrixFilters(mandatory_only=True)
        )
        assert [h.code for h in mandatory] == ["legemidler", "personvern"]


# --- the holdings, kept as evidence arrives ------------------------------------------------


def test_evidence_in_another_version_counts_and_holdings_agree_with_the_evidence(app, unit):
    with app.app_context():
        org, care = unit["organisation_id"], unit["competences"]
        v2 = new_version([care["legemidler"]])
        role = content.job_role(org, "ny", "Ny", [(v2[care["legemidler"]], 3, True, 24)])
        person = add_person(org, "Hanne Vik", unit["units"]["hjemmetjenesten"], [role])
        add_evidence(org, person, care["legemidler"], 3, NOW - 2 * DAY)  # against version 1
        get_session().commit()
        found = statuses(home_matrix(unit))
        assert found[("Hanne Vik", "legemidler")] == "met"
        add_evidence(org, person, v2[care["legemidler"]], 1, NOW - DAY)  # v2, a worse retake
        add_evidence(org, person, care["legemidler"], 4, NOW, source="self_assessment")
        get_session().commit()
        assert statuses(home_matrix(unit))[("Hanne Vik", "legemidler")] == "gap"
        # one rule: the holdings read and the evidence ranked afresh agree, for everyone
        everyone = [*unit["people"].values(), person]
        asked = [*care.values(), *v2.values()]
        for person_id in everyone:
            held = requirements.current_levels(get_session(), org, person_id, asked)
            ranked = requirements.current_levels(
                get_session(), org, person_id, asked, since=NOW - 10000 * DAY
            )
            assert held == ranked, person_id


def test_a_mapping_submitted_through_http_updates_the_matrix(
    app, lms, unit, gradebook, monkeypatch
):

    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW)
    launch(lms, TestLms.browser(app), "learner", job_role="sykepleier", unit="hjemmetjenesten")
    link_id = place(lms, app, gradebook, build_mapping(app, lms, unit))
    with app.app_context():
        before = statuses(home_matrix(unit))
    assert before[("Demo Ansatt", "legemidler")] == "never_assessed"

    take(app, lms, "learner", link_id, NURSE_RIGHT)
    with app.app_context():
        after = statuses(home_matrix(unit))
    assert after[("Demo Ansatt", "legemidler")] == "met"
    assert after[("Demo Ansatt", "personvern")] == "met"

    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW + DAY)
    all_wrong = {
        "dobbeltkontrollere": "1",
        "dobbeltkontroll?": "Bare den ene",
        "personopplysninger": ["Været"],
        "50 mg": "7",
    }
    take(app, lms, "learner", link_id, all_wrong)  # a worse retake: where they stand now
    with app.app_context():
        again = statuses(home_matrix(unit))
    assert again[("Demo Ansatt", "legemidler")] == "gap"


def test_the_migrations_backfill_holds_what_the_evidence_writes_held(app, unit):

    path = next(
        Path(lti_tool.__file__)
        .parent.joinpath("migrations", "versions")
        .glob("*_94649caf93c9_competence_holdings.py")
    )
    spec = importlib.util.spec_from_file_location("backfill", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    def held() -> list[tuple[Any, ...]]:
        table = CompetenceHolding.__table__
        return sorted(tuple(row) for row in get_session().execute(select(table)))

    with app.app_context():
        org, care = unit["organisation_id"], unit["competences"]
        v2 = new_version([care["legemidler"]])
        add_evidence(org, unit["people"]["met"], v2[care["legemidler"]], 1, NOW - 50 * DAY)
        kept = held()
        assert len(kept) == 7  # the version-2 evidence took over Anne's medicines
        assert statuses(home_matrix(unit))[("Anne Aas", "legemidler")] == "gap"
        get_session().execute(delete(CompetenceHolding))
        get_session().execute(text(migration.BACKFILL))
        assert held() == kept
        get_session().rollback()


# --- the manager's page, the drill-down and the API, through HTTP ------------------------------


def browser_of(app: Any, lms: TestLms, persona: str) -> Any:
    browser = TestLms.browser(app)
    launch(lms, browser, persona)
    return browser


def get(browser: Any, path: str, expect: int = 200, **args: Any) -> str:
    response = browser.get(path, query_string={"lang": "en", **args})
    assert response.status_code == expect, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def cell_html(html: str, person: str, competence: str) -> str:
    """The matrix cell of ``person`` and ``competence`` (by their visually hidden text)."""
    marker = f'<span class="visually-hidden">{person}, {competence}: '
    start = html.index(marker)
    return html[html.rindex("<td", 0, start) : html.index("</td>", start)]


#: The manager persona (an LMS Manager: manages the units an admin grants, no other).
MANAGER = "103"


def grant_manager(app: Any, org: int, sub: str, unit_id: int) -> None:
    from lti_tool.models import GrantKind
    from lti_tool.services import grants
    from lti_tool.services.audit import Actor

    with app.app_context():
        person = get_session().scalar(select(Person.id).where(Person.sub == sub))
        grants.grant(
            get_session(),
            org,
            person_id=person,
            kind=GrantKind.MANAGER,
            unit_id=unit_id,
            reason="Heads the unit",
            by=Actor.cli(org),
            via="api",
        )
        get_session().commit()


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lti_tool.clock.now", lambda: NOW)


def test_the_page_says_each_status_in_words_and_links_to_the_trail(app, lms, unit, frozen):
    manager = browser_of(app, lms, "manager")
    grant_manager(app, unit["organisation_id"], MANAGER, unit["units"]["hjemmetjenesten"])
    home = get(manager, "/manager/")
    matrix_url = f"/manager/units/{unit['units']['hjemmetjenesten']}/matrix"
    assert matrix_url in home
    html = get(manager, matrix_url)
    assert "Competence matrix: Hjemmetjenesten" in html
    assert "7 employees." not in html and "6 employees." in html
    expected = {
        ("Anne Aas", "Met"),
        ("Bjørn Berg", "Gap"),
        ("Cecilie Dahl", "Expires soon"),
        ("David Eik", "Expired"),
        ("Eva Fjell", "Not assessed"),
    }
    for person, words in expected:
        cell = cell_html(html, person, "Legemiddelhåndtering (en)")
        assert f"Legemiddelhåndtering (en): {words}, level" in cell
        assert 'aria-hidden="true">' in cell  # an icon and the levels besides the words
    assert "/3</span>" in cell_html(html, "Bjørn Berg", "Legemiddelhåndtering (en)")
    assert "✗ 2/3" in cell_html(html, "Bjørn Berg", "Legemiddelhåndtering (en)")
    assert "○ –/2" in cell_html(html, "Eva Fjell", "Legemiddelhåndtering (en)")
    assert 'class="legend"' in html and "Not assessed" in html
    css = Path(lti_tool.__file__).parent.joinpath("static", "style.css").read_text()
    assert 'class="matrix-scroll"' in html and "position: sticky" in css and "@media print" in css
    assert "40 %" in html  # medicines' coverage

    anne = unit["people"]["met"]
    medicines = unit["competences"]["legemidler"]
    trail_url = f"/manager/people/{anne}/competences/{medicines}"
    assert trail_url in cell_html(html, "Anne Aas", "Legemiddelhåndtering (en)")
    trail = get(manager, trail_url, unit=unit["units"]["hjemmetjenesten"])
    assert "Legemiddelhåndtering (en) – Anne Aas" in trail
    assert "Level 3 held, level 3 required." in trail
    assert "Yes: this decides the status" in trail
    assert "Knowledge test" in trail and "No certificates." in trail
    assert "Back to the competence matrix" in trail


def test_a_cell_and_the_trail_say_levels_and_confidence_in_words_users_read(app, lms, unit, frozen):
    """A cell's levels read 'level 2, level 3 required' (it said '2 of 3', read as a
    score); in bokmål confidence is 'pålitelighet' (it said 'sikkerhet': security)."""
    admin = browser_of(app, lms, "admin")
    home, bjorn = unit["units"]["hjemmetjenesten"], unit["people"]["gap"]
    matrix_url = f"/manager/units/{home}/matrix"
    cell = cell_html(get(admin, matrix_url), "Bjørn Berg", "Legemiddelhåndtering (en)")
    # and a gap names no end date: the level held does not count for the requirement
    assert "Legemiddelhåndtering (en): Gap, level 2, level 3 required</span>" in cell
    assert "Bjørn Berg, Legemiddelhåndtering: Mangler, nivå 2, nivå 3 påkrevd</span>" in get(
        admin, matrix_url, lang="nb"
    )

    # his medicines: knowledge tests (medium confidence) and a self-assessment (low)
    trail_url = f"/manager/people/{bjorn}/competences/{unit['competences']['legemidler']}"
    trail = get(admin, trail_url, lang="nb", unit=home)
    assert '<span class="tag confidence-medium">middels pålitelighet</span>' in trail
    assert '<span class="tag confidence-low">lav pålitelighet</span>' in trail
    assert "sikkerhet</span>" not in trail


def test_a_manager_of_another_unit_an_admin_elsewhere_and_a_learner_see_nothing(
    app, lms, unit, platform_pem, mocked_http
):
    from tests.functional.test_admin_console import add_platform
    from tests.functional.test_deployments import other_lms

    home, nursing = unit["units"]["hjemmetjenesten"], unit["units"]["sykehjemmet"]
    org = unit["organisation_id"]
    anne, medicines = unit["people"]["met"], unit["competences"]["legemidler"]
    frida = unit["people"]["elsewhere"]
    teacher = browser_of(app, lms, "designer")
    grant_manager(app, org, "102", nursing)
    assert f"/manager/units/{nursing}/matrix" in get(teacher, "/manager/")
    assert f"/manager/units/{home}/matrix" not in get(teacher, "/manager/")
    mine = get(teacher, f"/manager/units/{nursing}/matrix")
    assert "Frida Gran" in mine and "Anne Aas" not in mine
    assert get(teacher, f"/manager/people/{frida}/competences/{medicines}")
    for path in (
        f"/manager/units/{home}/matrix",
        f"/manager/people/{anne}/competences/{medicines}",
        f"/api/v1/units/{home}/coverage",
    ):
        get(teacher, path, 404)

    annen = other_lms(platform_pem, mocked_http, "https://canvas.example", "client-456", "dep-9")
    add_platform(app, annen, "Annenkommune")
    stranger = TestLms.browser(app)
    assert annen.landed(annen.launch(stranger, "admin"))
    for path in (
        f"/manager/units/{home}/matrix",
        f"/manager/people/{anne}/competences/{medicines}",
        f"/api/v1/units/{home}/coverage",
    ):
        get(stranger, path, 404)

    learner = browser_of(app, lms, "learner")
    for path in (
        f"/manager/units/{home}/matrix",
        f"/manager/people/{anne}/competences/{medicines}",
        f"/api/v1/units/{home}/coverage",
    ):
        get(learner, path, 403)


def test_filters_come_from_the_query_string_and_bad_ones_are_named(app, lms, unit, frozen):
    admin = browser_of(app, lms, "admin")
    url = f"/manager/units/{unit['units']['hjemmetjenesten']}/matrix"
    html = get(admin, url, status=["expired", "gap"])
    assert "David Eik" in html and "Bjørn Berg" in html and "Anne Aas" not in html
    html = get(admin, url, job_role=str(unit["roles"]["helsefagarbeider"]), mandatory="1")
    assert "Eva Fjell" in html and "Anne Aas" not in html and "MS Office (en)</a>" not in html
    html = get(admin, url, sort="-coverage")
    assert html.index("Anne Aas") < html.index("David Eik")
    bad = get(admin, url, 422, status="lost", page="0", sort="age")
    assert "The filter could not be read" in bad and "Anne Aas" in bad
    assert "Sort by name, coverage or a competence" in bad


def test_the_page_runs_the_same_statements_for_5_and_50_people_and_pages_by_50(app, lms, frozen):
    with app.app_context():
        care = content.care_content()
        org = care["organisation_id"]
        small, large = content.unit(org, "liten", "Liten"), content.unit(org, "stor", "Stor")
        extra = content.framework(org, "it", "IT", {f"k{i}": f"K {i}" for i in range(20)})
        role = content.job_role(org, "it", "IT", [(c, 1, True, 12) for c in extra.values()])
        for unit_id, size in ((small, 5), (large, 51)):
            for n in range(size):
                person = add_person(org, f"P{n:02d} X{unit_id}", unit_id, [role])
                add_evidence(org, person, next(iter(extra.values())), 1, NOW - n * DAY)
        get_session().commit()
    manager = browser_of(app, lms, "manager")
    for unit_id in (small, large):
        grant_manager(app, org, MANAGER, unit_id)
    counts = []
    for unit_id in (small, large):
        get(manager, f"/manager/units/{unit_id}/matrix")  # warm: the launch's first request
        with statements_run(app) as run:
            html = get(manager, f"/manager/units/{unit_id}/matrix")
        counts.append(len(run))
        # the audit log's two: the event, and the people shown (all at once)
        assert len([s for s in run if s.startswith("INSERT INTO audit_event")]) == 2
    assert counts[0] == counts[1], counts
    assert html.count('<th scope="row"') == 50 and 'rel="next"' in html
    second = get(manager, f"/manager/units/{large}/matrix", page="2")
    assert second.count('<th scope="row"') == 1 and "P50" in second


def test_the_api_gives_the_same_figures_paged(app, lms, unit, frozen, cli):
    token = cli("api-token", "create", "--organisation", "Testkommune", "--scope", "read")
    token = token.stdout.strip().splitlines()[-1]
    home = unit["units"]["hjemmetjenesten"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get(
        f"/api/v1/units/{home}/coverage?per_page=4&status=gap&status=expired&status=met&status=expiring&status=never_assessed",
        headers=headers,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["total"], body["page"], body["pages"], len(body["people"])) == (5, 1, 2, 4)
    medicines = next(c for c in body["competences"] if c["code"] == "legemidler")
    assert medicines["coverage"] == 40.0 and medicines["counts"]["expired"] == 1
    anne = body["people"][0]
    assert anne["name"] == "Anne Aas" and anne["coverage"] == 100.0
    assert {c["status"] for c in anne["cells"]} == {"met"}
    everyone = client.get(f"/api/v1/units/{home}/coverage", headers=headers).get_json()
    assert everyone["total"] == 6 and len(everyone["people"]) == 6  # Geir: no job role
    refused = client.get(f"/api/v1/units/{home}/coverage?colour=red", headers=headers)
    assert refused.status_code == 422
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/units/{unit_id}/coverage" in spec["paths"]

    cli("organisation", "add", "Annenkommune")
    other = cli("api-token", "create", "--organisation", "Annenkommune", "--scope", "read")
    other_token = other.stdout.strip().splitlines()[-1]
    elsewhere = client.get(
        f"/api/v1/units/{home}/coverage", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert elsewhere.status_code == 404


def test_the_expiring_window_is_the_organisations_and_the_address_overrides_it(
    app, lms, unit, frozen
):
    matrix = f"/manager/units/{unit['units']['hjemmetjenesten']}/matrix"
    medicines = "Legemiddelhåndtering (en)"
    # by default 30 days, on the matrix and on the list of certificates that expire alike
    admin = browser_of(app, lms, "admin")
    assert "when it ends within 30 days" in get(admin, matrix)
    assert "Expired or expiring within 30 days" in get(admin, "/manager/certificates")

    # the organisation's window 10 days (set in the admin console): Cecilie's medicines
    # (20 days left) are met, on the page and in what its links export (with no days:
    # the export reads the same window); the certificates' list looks 10 days ahead
    from tests.fakes.mappings import post_form

    console = f"/admin/organisations/{unit['organisation_id']}"
    name = get(admin, console).split('name="name"')[1].split('value="')[1].split('"')[0]
    saved = post_form(admin, console, console, name=name, region_id="", expiring_days="10")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    manager = admin
    html = get(manager, matrix)
    assert "when it ends within 10 days" in html
    assert f"{medicines}: Met," in cell_html(html, "Cecilie Dahl", medicines)
    assert "export.csv?days=" not in html
    assert "Expired or expiring within 10 days" in get(manager, "/manager/certificates")
    # a page's days overrides the setting
    html = get(manager, matrix, days="30")
    assert f"{medicines}: Expires soon," in cell_html(html, "Cecilie Dahl", medicines)
    assert "export.csv?days=30" in html
    assert "Expired or expiring within 60 days" in get(manager, "/manager/certificates", days="60")
