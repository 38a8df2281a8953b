"""Authorisation proven route by route: every rule of the URL map, asked by every caller,
answers as ``route_table.ROUTES`` declares (allowed, refused, or not found)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from lti_tool.lti import claims
from tests.fakes.lms import TestLms
from tests.functional.route_table import ROUTES, Ref, Row
from tests.functional.route_world import CALLERS, OTHER_DEPLOYMENT, World, made_world
from tests.functional.test_web_security import assert_page_policy

#: Where a rule's argument takes its value when its row names none: a ``World.ids`` key
#: (its value is used), else the literal.
ARGUMENTS: dict[str, Any] = {
    "organisation_pk": "organisation",
    "organisation_id": "organisation",
    "unit_id": "unit_a",
    "person_id": "learner",
    "token": "calendar_token",
    "index": 0,
    "position": 1,
    "number": 1,
    "persona": "learner",
    "secret": "no-such-invite",
}
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def url_map_keys(app: Any) -> dict[str, str]:
    """``"METHOD /rule"`` of every rule but static files, with its endpoint."""
    return {
        f"{method} {rule.rule}": rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted(rule.methods or ())
        if method in METHODS
    }


def path_of(rule: str, row: Row, ids: dict[str, Any], caller: str) -> str:
    """The rule with its arguments filled in; a ``World.ids`` entry that is a dict holds
    a value per caller (``""``: everyone else's)."""

    def value(match: re.Match[str]) -> str:
        converter, options, name = match.groups()
        given = row.args.get(name, ARGUMENTS.get(name, name))
        if converter == "any" and name not in row.args:
            given = options.split(",")[0].strip()
        found = ids.get(given, given) if isinstance(given, str) else given
        if isinstance(found, dict):
            found = found.get(caller, found[""])
        return str(found)

    return _ARGUMENT.sub(value, rule)


def _filled(given: Mapping[str, Any], ids: dict[str, Any], caller: str) -> dict[str, Any]:
    def value(v: Any) -> Any:
        if isinstance(v, Ref):
            found = ids[v.name]
            return found.get(caller, found[""]) if isinstance(found, dict) else found
        return v

    return {k: value(v) for k, v in given.items()}


# --- the table names every route, and only routes that exist ------------------------------


#: The callers each declared permission lets through (``auth.requires``), as table names.
PERMISSION_CALLERS = {
    "public": "EVERYONE",
    "learner": "LAUNCHED",
    "coordinator": "COORDINATORS",
    "designer": "DESIGNERS",
    "manager": "MANAGERS",
    "admin": "ADMINS",
}


def suggested_row(app: Any, key: str, endpoint: str) -> str:
    """The row its declared access suggests: those its permissions let through, and
    another organisation's admin told 404 where the path carries an id of organisation 1."""
    access = getattr(app.view_functions[endpoint], "access", ())
    names = sorted({PERMISSION_CALLERS.get(p, repr(p)) for p in access})
    allow = " | ".join(names) or "NOBODY"
    if "<int:" in key and access != ("public",):
        return f'"{key}": Row(({allow}) - OTHER, hide=OTHER),  # {endpoint}'
    return f'"{key}": Row({allow}),  # {endpoint}'


def test_every_route_has_a_row_and_every_row_a_route(app):
    keys = url_map_keys(app)
    missing = sorted(set(keys) - set(ROUTES))
    gone = sorted(set(ROUTES) - set(keys))
    assert not missing, (
        "routes without a row in tests/functional/route_table.py ROUTES. Add these rows "
        "(what each route's declared access suggests: check them against what the route "
        "does: a manager's unit scope, a holder-only page, args for a path argument the\n"
        "sweep has no value of, a body to send):\n"
        + "\n".join("    " + suggested_row(app, key, keys[key]) for key in missing)
    )
    assert not gone, "rows in route_table.ROUTES for routes that no longer exist: " + ", ".join(
        gone
    )


# --- every route as every caller ---------------------------------------------------------


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """One app, one data set and one browser per caller for the whole sweep."""
    with made_world(request) as made:
        yield made


def _order(key: str) -> tuple[int, str]:
    """Reads first, then changes, deletions last: what a change does to its own thing
    (an archived unit, a withdrawn grant) then cannot turn a later read into a 404."""
    method, rule = key.split(" ", 1)
    return (("GET", "PUT", "POST", "DELETE").index(method), rule)


SWEEP = [
    pytest.param(key, caller, id=f"{key} as {caller}")
    for key in sorted(ROUTES, key=_order)
    for caller in CALLERS
]


@pytest.mark.parametrize(("key", "caller"), SWEEP)
def test_route_answers_each_caller_as_declared(world: World, key: str, caller: str) -> None:
    method, rule = key.split(" ", 1)
    row = ROUTES[key]
    path = path_of(rule, row, world.ids, caller)
    browser = world.browsers[caller]
    kwargs: dict[str, Any] = {}
    if method != "GET":
        token = world.csrf(caller)  # so that a refusal is the guard's, not the CSRF check's
        kwargs = {"headers": {"X-CSRFToken": token}}
        body = _filled(row.body or {}, world.ids, caller)
        if rule.startswith("/api/"):
            kwargs["json"] = body
        else:
            kwargs["data"] = {**body, "csrf_token": token}
    if row.query:
        kwargs["query_string"] = _filled(row.query, world.ids, caller)
    response = browser.open(path, method=method, **kwargs)
    status = response.status_code
    expected = row.outcome(caller)
    said = f"{method} {path} ({rule}) as {caller}: {status}, declared {expected}"
    assert status < 500, said + "\n" + response.get_data(as_text=True)[:2000]
    assert_page_policy(response)  # every page, as every caller: the CSP holds
    if expected == "allow" and row.status is not None:
        assert status == row.status, said
    elif expected == "allow":
        assert status not in (401, 403, 404), said
    elif expected == "hide":
        assert status == 404, said
    else:
        assert status == (401 if caller == "anonymous" else 403), said


def test_an_lms_account_acting_for_another_organisation_gets_no_calendar_there(world: World):
    """A regional LMS serves two organisations: the first's admin, launched in the other's
    deployment, is no person of that organisation; renewing a calendar there is not found
    (it was a 500: the feed of the person's own organisation already existed)."""
    here = world.browsers["admin"]
    assert (
        here.post("/learner/calendar", data={"csrf_token": world.csrf("admin")}).status_code == 200
    )
    visitor = TestLms.browser(world.app)
    launched = world.lms.signed_launch(
        visitor, "admin", change={claims.DEPLOYMENT_ID: OTHER_DEPLOYMENT}
    )
    assert world.lms.landing_path(launched) == "/admin/", launched.get_data(as_text=True)
    world.browsers["visitor"] = visitor
    renewed = visitor.post("/learner/calendar", data={"csrf_token": world.csrf("visitor")})
    assert renewed.status_code == 404
    assert (
        here.post("/learner/calendar", data={"csrf_token": world.csrf("admin")}).status_code == 200
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [("/manager/units", None), ("/api/v1/org-units", {"name": "Ny", "kind": "unit"})],
)
def test_the_sweeps_csrf_token_is_what_lets_a_change_through(world: World, path, body):
    """An allowed caller's change without the token is refused by the CSRF check (400),
    so the sweep's 'let through' for changes is the guard's, not a CSRF refusal."""
    admin = world.browsers["admin"]
    kwargs: dict[str, Any] = {"json": body} if body is not None else {"data": {}}
    assert admin.post(path, **kwargs).status_code == 400
    token = world.csrf("admin")
    if body is None:
        kwargs = {"data": {"csrf_token": token}}
    answered = admin.post(path, headers={"X-CSRFToken": token}, **kwargs)
    assert answered.status_code not in (400, 401, 403, 404), answered.get_data(as_text=True)
