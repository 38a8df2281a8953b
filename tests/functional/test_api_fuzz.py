"""API fuzzing: schemathesis generates requests for every operation of /api/v1/openapi.json
(valid and invalid paths, queries and bodies) and sends them to the app in-process (WSGI),
with an organisation's write token and anonymously. No answer may be a 5xx, and every answer
must match the document: a documented status code, its content type, its schema.

Also: every read of the world's real objects (the 200s random ids seldom reach), and ids
beyond the database's integers in every path (the bounds few examples reach), checked
against the document the same way.

Bounded: a few examples per operation (``EXAMPLES``), no shrinking, one world per module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core import NOT_SET

from lti_tool.db import MAX_INT, get_session
from lti_tool.models import TokenScope
from lti_tool.services import api_tokens
from tests.functional.route_world import World, made_world
from tests.functional.test_api import OPERATIONS, SPEC

EXAMPLES = 8
"""Per operation and caller: ~60 operations × 2 callers stays within a minute on SQLite."""


@pytest.fixture(scope="module")
def fuzz_world(request: pytest.FixtureRequest) -> Iterator[World]:
    with made_world(request, API_TOKEN_RATE_LIMIT="100000/minute") as world:
        with world.app.app_context():
            session = get_session()
            _, token = api_tokens.create_token(
                session, world.ids["organisation"], TokenScope.WRITE, "fuzz"
            )
            session.commit()
        world.ids["api_token"] = token
        yield world


@pytest.fixture(scope="module")
def api_schema(fuzz_world: World) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_world.app)


BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CALLERS = ("token", "anonymous")
NOT_REQUIRED = [positive_data_acceptance]
"""That every request the document allows is accepted: file contents (an import's CSV or
XML) and rules across fields (a grant's unit by its kind, a title in at least one
language) are checked by the services and answered 400/422 as documented."""


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_answer_matches_the_document(
    api_schema: Any, fuzz_world: World, path: str, method: str, mode: Any, caller: str
) -> None:
    operation = api_schema[path][method.upper()]
    headers = {}
    if caller == "token":
        headers["Authorization"] = f"Bearer {fuzz_world.ids['api_token']}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @BOUNDED
    def answers(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=NOT_REQUIRED)

    answers()


#: The path arguments of the operations, as ``World.ids`` names (the rest by their own name).
REAL_IDS = {
    "kind": "role",
    "assignment_id": "api_assignment_id",
    "grant_id": "api_grant_id",
    "person_id": "learner",
    "unit_id": "unit_a",
}
#: Every read but the signed-in person's own (a token has no person: 403, as documented).
READS = [(p, m) for p, m in OPERATIONS if m == "get" and not p.endswith("/me/requirements")]


@pytest.mark.parametrize(("path", "method"), READS)
def test_real_objects_are_answered_as_documented(
    api_schema: Any, fuzz_world: World, path: str, method: str
) -> None:
    """Each read, of the world's own objects: the 200 answers (which random ids seldom
    reach) match the document too."""
    operation = api_schema[path][method.upper()]
    names = re.findall(r"{(\w+)}", path)
    ids = fuzz_world.ids

    def real(name: str) -> Any:
        found = ids.get(REAL_IDS.get(name, name), REAL_IDS.get(name))
        return found.get("", found) if isinstance(found, dict) else found

    query = {"format": "case"} if path.endswith("/export") and "{" in path else None
    case = operation.Case(path_parameters={n: real(n) for n in names}, query=query)
    headers = {"Authorization": f"Bearer {fuzz_world.ids['api_token']}"}
    response = case.call(headers=headers)
    assert response.status_code == 200, (path, response.text[:500])
    case.validate_response(response, headers=headers, excluded_checks=NOT_REQUIRED)


# --- what the fuzzing found, each fixed ----------------------------------------------------


def test_an_id_in_a_path_is_documented_as_bounded_as_the_route_is(fuzz_world: World):
    """The document said ``maximum: null`` (invalid OpenAPI, refused by schemathesis);
    the routes take ids up to the database's integer, beyond which is not found."""
    client = fuzz_world.app.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    bounds = {
        parameter["schema"].get("maximum")
        for operations in spec["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "path" and parameter["schema"]["type"] == "integer"
    }
    assert bounds == {MAX_INT}
    headers = {"Authorization": f"Bearer {fuzz_world.ids['api_token']}"}
    beyond = client.get(f"/api/v1/job-roles/{MAX_INT + 1}", headers=headers)
    assert beyond.status_code == 404


def test_a_nested_fields_errors_are_documented_as_they_are(fuzz_world: World):
    """A title's unknown language (a dict's key) is answered ``{"title": {"xx": {"key":
    […]}}}``, where the document promised only ``{field: [message, …]}``."""
    headers = {"Authorization": f"Bearer {fuzz_world.ids['api_token']}"}
    client = fuzz_world.app.test_client()
    refused = client.post(
        "/api/v1/job-roles", json={"code": "ny", "title": {"xx": "X"}}, headers=headers
    )
    assert refused.status_code == 422
    assert isinstance(refused.get_json()["errors"]["title"]["xx"]["key"], list)
    spec = client.get("/api/v1/openapi.json").get_json()
    errors = spec["components"]["schemas"]["Error"]["properties"]["errors"]
    assert {"type": "object", "additionalProperties": True} in errors["additionalProperties"][
        "anyOf"
    ]


def test_a_file_answer_is_documented_with_the_content_types_it_has(fuzz_world: World):
    """A framework's export was documented as application/octet-stream, but answers CASE
    JSON or Moodle CSV; the job roles' JSON export as a binary string, not an object."""
    client = fuzz_world.app.test_client()
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    export = paths["/api/v1/frameworks/{framework_id}/export"]["get"]["responses"]["200"]
    assert set(export["content"]) == {"application/json", "text/csv"}
    roles = paths["/api/v1/job-roles/export"]["get"]["responses"]["200"]
    assert roles["content"] == {"application/json": {"schema": {"type": "object"}}}
    headers = {"Authorization": f"Bearer {fuzz_world.ids['api_token']}"}
    framework = fuzz_world.ids["framework_id"]
    for chosen in ("case", "moodle-csv"):
        answered = client.get(
            f"/api/v1/frameworks/{framework}/export?format={chosen}", headers=headers
        )
        assert answered.status_code == 200
        assert answered.mimetype in export["content"]


WITH_IDS = [(path, method) for path, method in OPERATIONS if "_id}" in path]


@pytest.mark.parametrize("beyond", [MAX_INT + 1, 2**70])
@pytest.mark.parametrize(("path", "method"), WITH_IDS)
def test_ids_beyond_the_database_are_answered_as_documented(
    api_schema: Any, fuzz_world: World, path: str, method: str, beyond: int
) -> None:
    """The bounds the generated examples seldom reach, in every operation's path (the
    fuzzing finds a 500 there only with ~60 examples per operation)."""
    operation = api_schema[path][method.upper()]
    names = re.findall(r"{(\w+)}", path)
    values = {n: "role" if n == "kind" else beyond for n in names}
    body = {} if "requestBody" in SPEC["paths"][path][method] else NOT_SET
    case = operation.Case(path_parameters=values, body=body)
    headers = {"Authorization": f"Bearer {fuzz_world.ids['api_token']}"}
    response = case.call_and_validate(headers=headers, excluded_checks=NOT_REQUIRED)
    assert response.status_code == 404
