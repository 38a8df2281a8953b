"""The OpenAPI 3 document of /api/v1, built from the routes and their marshmallow schemas.

Every route of the ``api`` blueprint is described: its parameters, request body, answer
and error answers. A route without its ``doc`` is a programming error (the tests check
that the document and the routes agree).
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app
from marshmallow import Schema, fields
from werkzeug.routing import IntegerConverter

from lti_tool.db import MAX_INT
from lti_tool.schemas import api as s

TITLE = "Læringsløp API"
VERSION = "1.0.0"
_PAGES: dict[type[Schema], type[Schema]] = {}
_ERRORS = {
    400: "The request cannot be used (see message).",
    401: "No valid API token and no launch.",
    403: "Not allowed: a read-only token changing data, or a person without the permission.",
    404: "Not found in the caller's organisation.",
    409: "Conflicts with what exists (a code taken, a version not a draft…).",
    422: "Fields missing or invalid (errors), or a file that cannot be imported (problems).",
}


_BINARY = {"type": "string", "format": "binary"}
_FILE_SCHEMAS: dict[str, dict[str, Any]] = {"application/json": {"type": "object"}}


def page_schema(item: type[Schema]) -> type[Schema]:
    """The envelope of a list endpoint's answer (made once per item schema)."""
    if item not in _PAGES:
        _PAGES[item] = type(
            f"{item.__name__}Page",
            (Schema,),
            {
                "items": fields.List(fields.Nested(item)),
                "page": fields.Integer(),
                "per_page": fields.Integer(),
                "total": fields.Integer(),
            },
        )
    return _PAGES[item]


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _parameters(rule: Any) -> list[dict[str, Any]]:
    found = []
    for name in sorted(rule.arguments):
        converter = rule._converters[name]
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(converter, IntegerConverter):
            top = MAX_INT if converter.max is None else converter.max  # IdConverter's
            schema = {"type": "integer", "minimum": 0, "maximum": top}
        elif type(converter).__name__ == "AnyConverter":
            schema = {"type": "string", "enum": ["role", "unit"]}
        found.append({"in": "path", "name": name, "required": True, "schema": schema})
    return found


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": "Error"}}}


def _operation(rule: Any, method: str, view: Any) -> dict[str, Any]:
    meta = view.api_doc
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.removeprefix("api."),
        "summary": meta.summary,
        "tags": [rule.rule.split("/")[3]],
        "parameters": _parameters(rule),
    }
    if meta.query is not None:
        operation["parameters"].append({"in": "query", "schema": meta.query})
    if meta.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta.body}},
        }
    if meta.multipart is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": meta.multipart}},
        }
    if meta.status == 204:
        answer: dict[str, Any] = {"description": "Done; no content."}
    elif meta.response is not None:
        schema = page_schema(meta.response) if meta.paged else meta.response
        answer = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    else:
        answer = {
            "description": "A file",
            "content": {
                media_type: {"schema": _FILE_SCHEMAS.get(media_type, _BINARY)}
                for media_type in meta.media_types
            },
        }
    responses: dict[Any, Any] = {str(meta.status): answer}
    if meta.paged:
        answer["headers"] = {
            "Link": {
                "description": "first, last, prev and next pages (RFC 8288)",
                "schema": {"type": "string"},
            }
        }
    codes = [401, 403, 404, 422] if method == "get" else [400, 401, 403, 404, 409, 422]
    for code in codes:
        responses[str(code)] = _error(_ERRORS[code])
    operation["responses"] = responses
    if not getattr(view, "api_tokens", True):
        operation["security"] = [{"ltiSession": []}]
    return operation


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "Competence frameworks, job roles, units, people and their assignments of "
                "one organisation (municipality). Authenticate with an API token of the "
                "organisation (`flask api-token create`; scope read: GET only, write: all) "
                "or from a launch (session cookie, with the page's X-CSRFToken header on "
                "changes). Lists are paged: ?page=&per_page= (at most 100)."
            )
        },
        servers=[{"url": "/"}],
        security=[{"bearerAuth": []}, {"ltiSession": []}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "ltiSession",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": current_app.config.get("SESSION_COOKIE_NAME", "session"),
        },
    )
    spec.components.schema("Error", schema=s.Error)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.openapi":
            continue
        view = current_app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(_path(rule.rule), {})[method.lower()] = _operation(
                rule, method.lower(), view
            )
    paths[_path("/api/v1/openapi.json")] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["openapi.json"],
            "security": [],
            "responses": {"200": {"description": "The OpenAPI 3 document"}},
        }
    }
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document: dict[str, Any] = spec.to_dict()
    return document
