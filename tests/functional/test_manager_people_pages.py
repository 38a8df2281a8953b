"""The manager's start page lists the employees 50 a page: an organisation of thousands
answers as fast as a unit of ten, the choices awaiting a decision are shown whichever
page their people are on, and the audit log names the people shown, not everyone."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select, update

from lti_tool.db import get_session
from lti_tool.models import (
    AssignmentSource,
    AssignmentStatus,
    JobRoleAssignment,
    Person,
    UnitAssignment,
)
from lti_tool.services.assignments import PEOPLE_PER_PAGE
from tests.fakes import content
from tests.functional.test_assignments import person_id
from tests.functional.test_audit import events
from tests.functional.test_grants import ADMIN
from tests.functional.test_unit_matrix import add_people, browser_of, get, grant_manager
from tests.statements import statements_run

ROW = re.compile(r'<td><a href="/manager/people/(\d+)"')


def people_in(app: Any, count: int) -> dict[str, Any]:
    """The care organisation with ``count`` employees (Ansatt 000 … in name order) in the
    home-care unit, each a nurse."""
    with app.app_context():
        care = content.care_content()
        org = care["organisation_id"]
        unit = content.unit(org, "hjem", "Hjemmetjenesten")
        names = [f"Ansatt{n:03d} Etternavn{n:03d}" for n in range(count)]
        ids = add_people(org, names, unit, [care["roles"]["sykepleier"]])
        get_session().commit()
    return {"organisation_id": org, "unit": unit, "ids": ids, "care": care}


#: A choice the employee made, awaiting a manager's decision.
WAITING = {"source": AssignmentSource.SELF, "status": AssignmentStatus.PENDING}


def choose_role(world: dict[str, Any], person_id: int) -> None:
    """``person_id`` chose the health-worker role (inside an app context; not committed)."""
    role = world["care"]["roles"]["helsefagarbeider"]
    get_session().add(JobRoleAssignment(person_id=person_id, job_role_id=role, **WAITING))


def total_people(app: Any, org: int) -> int:
    with app.app_context():
        return get_session().scalar(
            select(func.count()).select_from(Person).where(Person.organisation_id == org)
        )


def shown(html: str) -> list[int]:
    return [int(found) for found in ROW.findall(html)]


def test_the_employees_come_50_a_page_with_links_to_every_page(app, lms):
    world = people_in(app, 120)
    manager = browser_of(app, lms, "admin")  # an admin: the whole organisation
    total = total_people(app, world["organisation_id"])  # the admin's own person too
    pages = -(-total // PEOPLE_PER_PAGE)

    first = get(manager, "/manager/")
    assert len(shown(first)) == PEOPLE_PER_PAGE
    assert f"{total} employees." in first and f"Page 1 of {pages}" in first
    assert 'href="/manager/?page=2#people-title" rel="next"' in first
    assert 'aria-label="Pages of employees"' in first
    assert 'aria-current="page"><span class="visually-hidden">Page </span>1<' in first
    assert 'rel="prev"' not in first

    last = get(manager, "/manager/", page=str(pages))
    assert len(shown(last)) == total - (pages - 1) * PEOPLE_PER_PAGE
    assert f'href="/manager/?page={pages - 1}#people-title" rel="prev"' in last
    every = set(shown(first))
    for number in range(2, pages + 1):
        every |= set(shown(get(manager, "/manager/", page=str(number))))
    assert set(world["ids"]) <= every and len(every) == total  # each once, none left out

    beyond = get(manager, "/manager/", page="999")  # a page past the end: the last one
    assert shown(beyond) == shown(last)


def test_a_page_that_is_no_number_is_refused_with_a_translated_error(app, lms):
    people_in(app, 3)
    manager = browser_of(app, lms, "admin")
    for wrong in ("0", "abc", "-1", "99999999999999999999"):
        answer = manager.get("/manager/", query_string={"page": wrong, "lang": "nb"})
        assert answer.status_code == 422, (wrong, answer.status_code)
        assert "Forespørselen har feil" in answer.get_data(as_text=True)


def test_a_choice_awaiting_a_decision_shows_on_every_page(app, lms):
    world = people_in(app, 70)
    last_person = world["ids"][-1]  # last in name order: on the second page
    with app.app_context():
        choose_role(world, last_person)
        get_session().commit()
    manager = browser_of(app, lms, "admin")

    first = get(manager, "/manager/")
    assert last_person not in shown(first)
    pending = first[first.index('id="pending-title"') : first.index('id="people-title"')]
    assert "Ansatt069 Etternavn069" in pending and "Approve" in pending
    (event, people) = events(app)[-1]
    assert event.object_type == "people"
    own = person_id(app, ADMIN)  # one's own data is not another person's
    assert sorted(people) == sorted({*shown(first), last_person} - {own})  # those shown only


def test_a_unit_manager_pages_through_their_units_people_only(app, lms):
    world = people_in(app, 60)
    with app.app_context():
        other = content.unit(world["organisation_id"], "annen", "Annen enhet")
        outsiders = add_people(world["organisation_id"], ["Utenfor Person"], other, [])
        get_session().commit()
    manager = browser_of(app, lms, "manager")  # granted manager of the home-care unit
    grant_manager(app, world["organisation_id"], "103", world["unit"])

    first = get(manager, "/manager/")
    second = get(manager, "/manager/", page="2")
    assert "60 employees." in first and "Page 1 of 2" in first
    assert set(shown(first)) | set(shown(second)) == set(world["ids"])
    assert outsiders[0] not in shown(first) + shown(second)


def test_the_page_costs_the_same_statements_for_60_and_600_employees(app, lms):
    world = people_in(app, 60)
    manager = browser_of(app, lms, "admin")
    get(manager, "/manager/")  # warm
    with statements_run(app) as small:
        get(manager, "/manager/")
    with app.app_context():
        add_people(world["organisation_id"], [f"Flere{n:03d} Folk" for n in range(540)], None, [])
        get_session().commit()
    with statements_run(app) as large:
        html = get(manager, "/manager/")

    assert len(shown(html)) == PEOPLE_PER_PAGE
    links = re.findall(r'\?page=(\d+)#people-title"><span class="visually-hidden">Page', html)
    assert links == ["2", "3", "13"], links  # the first, near the current one, the last
    assert '<li aria-hidden="true">…</li>' in html
    # the page with its count (one statement), their roles and units, the choices awaiting
    # a decision (roles and units), the audit log's event and the people it names
    assert len(small) == len(large), (small, large)


#: The day every assignment below was made: not today, so no other date on a page is it.
MADE_AT = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("lang", "day"), [("nb", "4. mars 2026"), ("en", "Mar 4, 2026")])
def test_the_managers_pages_write_dates_as_the_language_does(app, lms, lang, day):
    """The start page's choices and an employee's roles and units: the day in the
    language's medium form, never ISO's 2026-03-04."""
    world = people_in(app, 1)
    (person,) = world["ids"]
    with app.app_context():
        choose_role(world, person)
        session = get_session()
        for model in (JobRoleAssignment, UnitAssignment):
            session.execute(
                update(model).where(model.person_id == person).values(created_at=MADE_AT)
            )
        session.commit()
    manager = browser_of(app, lms, "admin")

    home = get(manager, "/manager/", lang=lang)
    pending = home[home.index('id="pending-title"') : home.index('id="people-title"')]
    assert f"<td>{day}</td>" in pending
    page = get(manager, f"/manager/people/{person}", lang=lang)
    assert page.count(f", {day})") == 2  # the nurse's role and the unit, both imported
    assert page.count(f", {day}, ") == 1  # the role awaiting approval
    assert "2026-03-04" not in home + page


def test_the_choices_keep_their_order_when_the_employees_fill_a_second_page(app, lms):
    world = people_in(app, 10)
    with app.app_context():
        (early_family,) = add_people(world["organisation_id"], ["Zz Aaa"], world["unit"], [])
        for person in (early_family, world["ids"][2]):  # Aaa before Etternavn002
            choose_role(world, person)
        get_session().commit()
    manager = browser_of(app, lms, "admin")

    def pending_names() -> list[str]:
        html = get(manager, "/manager/")
        section = html[html.index('id="pending-title"') : html.index('id="people-title"')]
        return re.findall(r"<td>(Zz Aaa|Ansatt002 Etternavn002)</td>", section)

    one_page = pending_names()
    with app.app_context():
        add_people(world["organisation_id"], [f"Flere{n:03d} Folk" for n in range(60)], None, [])
        get_session().commit()
    assert one_page == ["Zz Aaa", "Ansatt002 Etternavn002"]
    assert pending_names() == one_page


@pytest.mark.parametrize("employees", [5, 60], ids=["one page", "two pages"])
def test_a_unit_manager_is_offered_only_the_choices_they_may_decide(app, lms, employees):
    """An employee of the manager's unit who chose another unit too: the manager decides
    the job role they chose and a choice of the manager's own unit, not the other unit
    (deciding it would answer "not found")."""
    world = people_in(app, employees)
    org, mine = world["organisation_id"], world["unit"]
    with app.app_context():
        other = content.unit(org, "annen", "Annen enhet")
        (newcomer,) = add_people(org, ["Ny Ansatt"], None, [])
        chooser = world["ids"][0]
        session = get_session()
        session.add(UnitAssignment(person_id=chooser, unit_id=other, **WAITING))
        choose_role(world, chooser)
        session.add(UnitAssignment(person_id=newcomer, unit_id=mine, **WAITING))
        session.commit()
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, "103", mine)

    html = get(manager, "/manager/")
    pending = html[html.index('id="pending-title"') : html.index('id="people-title"')]
    assert "Job role: Helsefagarbeider" in pending and "Unit: Hjemmetjenesten</td>" in pending
    assert "Annen enhet" not in pending
    approve = re.search(r'action="(/manager/assignments/unit/\d+/approve)"', pending)
    assert approve is not None
    with app.app_context():
        assert (
            get_session().get(UnitAssignment, int(approve.group(1).split("/")[4])).unit_id == mine
        )


def test_a_role_of_someone_only_asking_to_join_the_unit_is_not_offered_to_end(app, lms):
    """A person who chose the manager's unit (awaiting the decision) and holds a job role:
    the manager sees them to decide, not to change their roles. Their active role has no
    End button (it answered "not found"); the role they chose themselves may be ended
    (withdrawn), as it may be rejected; once the place is approved, the active role too."""
    world = people_in(app, 1)
    org, mine = world["organisation_id"], world["unit"]
    with app.app_context():
        elsewhere = content.unit(org, "annen", "Annen enhet")
        nurse = world["care"]["roles"]["sykepleier"]
        (joining,) = add_people(org, ["Ny Ansatt"], elsewhere, [nurse])  # placed elsewhere
        session = get_session()
        session.add(UnitAssignment(person_id=joining, unit_id=mine, **WAITING))
        choose_role(world, joining)
        session.commit()
        active, chosen = (
            session.scalars(
                select(JobRoleAssignment.id)
                .where(JobRoleAssignment.person_id == joining)
                .order_by(JobRoleAssignment.status)  # active before pending
            )
        ).all()
    manager = browser_of(app, lms, "manager")
    grant_manager(app, org, "103", mine)
    html = get(manager, f"/manager/people/{joining}")
    assert f"/manager/assignments/role/{active}/end" not in html
    assert "Approve their place in your unit to change it." in html
    assert f"/manager/assignments/role/{chosen}/end" in html
    get(manager, f"/manager/assignments/role/{chosen}/end")  # its confirmation, not 404
    get(manager, f"/manager/assignments/role/{active}/end", expect=404)
    # nor the place in another unit, nor assigning anything (both answered "not found")
    with app.app_context():
        other_place = get_session().scalar(
            select(UnitAssignment.id).where(UnitAssignment.unit_id == elsewhere)
        )
    assert f"/manager/assignments/unit/{other_place}/end" not in html
    get(manager, f"/manager/assignments/unit/{other_place}/end", expect=404)
    assert f'action="/manager/people/{joining}/assign"' not in html

    with app.app_context():
        get_session().execute(
            update(UnitAssignment)
            .where(UnitAssignment.person_id == joining)
            .values(status=AssignmentStatus.ACTIVE)
        )
        get_session().commit()
    html = get(manager, f"/manager/people/{joining}")
    assert f"/manager/assignments/role/{active}/end" in html
    assert "Approve their place in your unit" not in html
    assert f'action="/manager/people/{joining}/assign"' in html
    assert f"/manager/assignments/unit/{other_place}/end" not in html  # still not theirs
    get(manager, f"/manager/assignments/role/{active}/end")
