"""Every page and API answer that shows another person's name records one view (or export)
in the audit log: the route sweep's world (``route_world``), every GET route a manager,
coordinator, designer or admin is let through to (public routes aside: a verification
page, a calendar feed opened by its secret link), and the names of the world's other
people looked for in what comes back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.lti.demo_platform import PERSONAS
from lti_tool.models import AuditAction, AuditEvent
from tests.functional.route_table import ROUTES
from tests.functional.route_world import World
from tests.functional.test_route_table import _filled, path_of, world

__all__ = ["world"]  # the fixture: one world for the module

#: The callers who may see others' data, and the persona each launched as.
WATCHERS = {
    "designer": "designer",
    "manager_b": "learner2",
    "coordinator": "learner3",
    "manager_a": "manager",
    "admin": "admin",
}
#: Answers read as text; PDFs and workbooks record their exports in the same views as the
#: CSV beside them (``unit_exports``).
TEXTUAL = ("text/html", "text/csv", "application/json", "text/calendar", "text/plain")

SWEEP = [
    pytest.param(key, caller, id=f"{key} as {caller}")
    for key in sorted(ROUTES)
    if key.startswith("GET ")
    for caller in WATCHERS
    if ROUTES[key].outcome(caller) == "allow" and ROUTES[key].outcome("anonymous") != "allow"
]
#: A person picker (a select's options) shows names to choose from, not anyone's data.
OPTIONS = re.compile(r"<option\b[^>]*>[^<]*</option>")


def _last_event(world: World) -> int:
    with world.app.app_context():
        return get_session().scalar(select(func.max(AuditEvent.id))) or 0


def _others(caller: str) -> set[str]:
    """The names of the world's other people (the caller's own name is on every page)."""
    me = PERSONAS[WATCHERS[caller]].name
    return {p.name for p in PERSONAS.values()} - {me}


@pytest.mark.parametrize(("key", "caller"), SWEEP)
def test_showing_another_persons_data_records_it(world: World, key: str, caller: str) -> None:
    rule = key.split(" ", 1)[1]
    row = ROUTES[key]
    path = path_of(rule, row, world.ids, caller)
    kwargs: dict[str, Any] = {}
    if row.query:
        kwargs["query_string"] = _filled(row.query, world.ids, caller)
    before = _last_event(world)
    response = world.browsers[caller].get(path, **kwargs)
    if response.status_code != 200 or not response.mimetype.startswith(TEXTUAL):
        return
    body = OPTIONS.sub("", response.get_data(as_text=True))
    shown = sorted(n for n in _others(caller) if n in body)
    if not shown:
        return
    with world.app.app_context():
        recorded = (
            get_session()
            .scalars(
                select(AuditEvent).where(
                    AuditEvent.id > before,
                    AuditEvent.action.in_([AuditAction.VIEW, AuditAction.EXPORT]),
                )
            )
            .all()
        )
    assert len(recorded) == 1, f"{path} as {caller} shows {shown}, recorded {len(recorded)}"
