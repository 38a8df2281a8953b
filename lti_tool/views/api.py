"""The REST API under /api/v1: frameworks, job roles, the activity catalogue, org units,
people and assignments, a person's learning plan, and the coordinators' coverage figures.

Callers are integrations with a per-organisation Bearer token (``read``: GET only;
``write``: everything), or a person signed in through a launch (designers and admins
change content and alone read the activity catalogue, managers people's job roles and
units, everyone reads their own requirements). Everything is scoped by the caller's
organisation: another organisation's object is not found. Each view: a schema reads the
input, one service call, a schema writes the answer. The OpenAPI document is built from
the same schemas.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request, url_for
from flask_babel import get_locale, lazy_gettext
from marshmallow import Schema, ValidationError

from lti_tool import clock
from lti_tool.app_factory import csrf, limiter
from lti_tool.auth import (
    api_access,
    current_actor,
    current_api_caller,
    current_grants,
    current_permissions,
    managed_units,
    public,
    require_whole_organisation,
)
from lti_tool.db import get_session
from lti_tool.errors import Forbidden, InvalidInput
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.models import (
    GrantKind,
    TokenScope,  # noqa: F401 - named in the OpenAPI descriptions
)
from lti_tool.schemas import api as s
from lti_tool.schemas.catalogue import CatalogueQuery, CourseOut
from lti_tool.schemas.coverage import CoverageOut, CoverageQuery, matrix_options, query_data
from lti_tool.schemas.figures import FiguresOut, FiguresQuery
from lti_tool.schemas.plans import PlanOut
from lti_tool.services import (
    assignments,
    audit,
    catalogue,
    coverage,
    coverage_figures,
    framework_io,
    frameworks,
    grants,
    item_bank,
    job_roles,
    org_units,
    organisations,
    packages,
    plans,
    requirements,
)
from lti_tool.services.assignments import Kind

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _token_limit() -> str:
    return lti_services().settings.API_TOKEN_RATE_LIMIT


def _token_key() -> str:
    """Count per Bearer token (its hash: the token itself is not written to Redis)."""
    header = request.headers.get("Authorization", "")
    return "api-token:" + hashlib.sha256(header.encode()).hexdigest()


def _without_token() -> bool:
    return not request.headers.get("Authorization", "").lower().startswith("bearer ")


limiter.limit(_token_limit, key=_token_key, exempt_when=_without_token)(bp)
# A token request carries no cookie, so nothing to forge; a launched person's changes are
# checked by api_access (the page's token in the X-CSRFToken header).
csrf.exempt(bp)

F = TypeVar("F", bound=Callable[..., Any])

DESIGN = (Permission.DESIGNER, Permission.ADMIN)
READ_CONTENT = (Permission.DESIGNER, Permission.MANAGER, Permission.ADMIN)
PEOPLE = (Permission.MANAGER, Permission.ADMIN)
FIGURES = (Permission.COORDINATOR, Permission.ADMIN)
KINDS = "any(role, unit)"
SEND_JSON = lazy_gettext("Send a JSON object.")
SEND_FILE = lazy_gettext("Send the file in the field file.")


@dataclasses.dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says of a view."""

    summary: str
    body: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    paged: bool = False
    query: type[Schema] | None = None
    multipart: type[Schema] | None = None
    media_types: tuple[str, ...] = ("application/json",)
    """A file answer's content types (a JSON file is documented as an object)."""


def doc(summary: str, **kwargs: Any) -> Callable[[F], F]:
    def attach(view: F) -> F:
        view.api_doc = Doc(summary, **kwargs)  # type: ignore[attr-defined]
        return view

    return attach


# --- reading input, writing answers ---------------------------------------------------------


def _org() -> int:
    return current_api_caller().organisation_id


def _all_people() -> None:
    """The people endpoints serve the whole organisation: a token, an admin, or a manager
    by LMS role; a person granted manager of some units uses the manager's pages."""
    if current_api_caller().person_id is not None:
        require_whole_organisation()


def _viewed(what: str, person_ids: Sequence[int], object_id: Any = None) -> None:
    """Record in the audit log that the caller got these people's data."""
    audit.record_view(get_session(), current_actor(), what, person_ids, object_id=object_id)


def _load(schema: type[Schema], data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as exc:
        raise InvalidInput(s.field_errors(exc)) from exc
    return loaded


def _body(schema: type[Schema]) -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput({"_schema": [str(SEND_JSON)]})
    return _load(schema, data)


def _query(schema: type[Schema]) -> dict[str, Any]:
    return _load(schema, request.args.to_dict())


def _file() -> bytes:
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput({"file": [str(SEND_FILE)]})
    data: bytes = upload.read()
    return data


def _form(schema: type[Schema]) -> dict[str, Any]:
    """A multipart form's fields (the CSRF token of a page left out)."""
    fields = request.form.to_dict()
    fields.pop("csrf_token", None)
    return _load(schema, fields)


def _dump(schema: type[Schema], obj: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify(schema().dump(obj)), status


def _page(
    schema: type[Schema], items: Sequence[Any], query: dict[str, Any], total: int | None = None
) -> Response:
    """One page of ``items`` with the totals, and Link headers to the neighbours.

    With ``total``, ``items`` is already that page (paged in the database)."""
    page, per_page = query["page"], query["per_page"]
    if total is None:
        total = len(items)
        chunk = items[(page - 1) * per_page : page * per_page]
    else:
        chunk = items
    response = jsonify(
        items=schema(many=True).dump(chunk), page=page, per_page=per_page, total=total
    )
    last = max(1, math.ceil(total / per_page))
    args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
    base = url_for(request.endpoint or "", **(request.view_args or {}))

    def link(number: int, rel: str) -> str:
        return f'<{base}?{urlencode({**args, "page": number, "per_page": per_page})}>; rel="{rel}"'

    links = [link(1, "first"), link(last, "last")]
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    response.headers["Link"] = ", ".join(links)
    return response


def _no_content() -> Response:
    """204, as documented: no body, so no content type either."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


# --- the document ---------------------------------------------------------------------------


@bp.get("/openapi.json")
@public
def openapi() -> Any:
    """The OpenAPI 3 document of this API (no sign-in needed)."""
    from lti_tool.views.api_spec import build_spec

    return jsonify(build_spec())


# --- frameworks -----------------------------------------------------------------------------


@bp.get("/frameworks")
@api_access(*READ_CONTENT)
@doc("List the competence frameworks", response=s.FrameworkOut, paged=True, query=s.PageQuery)
def list_frameworks() -> Any:
    query = _query(s.PageQuery)
    return _page(s.FrameworkOut, frameworks.list_frameworks(get_session(), _org()), query)


@bp.post("/frameworks")
@api_access(*DESIGN)
@doc(
    "Create a framework with a first, draft version",
    body=s.FrameworkIn,
    response=s.VersionOut,
    status=201,
)
def create_framework() -> Any:
    data = _body(s.FrameworkIn)
    version = frameworks.create_framework(
        get_session(), _org(), data["code"], data["title"], data["description"]
    )
    return _dump(s.VersionOut, version, 201)


@bp.get("/frameworks/<int:framework_id>")
@api_access(*READ_CONTENT)
@doc("A framework and its versions", response=s.FrameworkOut)
def get_framework(framework_id: int) -> Any:
    return _dump(s.FrameworkOut, frameworks.get_framework(get_session(), _org(), framework_id))


@bp.post("/frameworks/<int:framework_id>/drafts")
@api_access(*DESIGN)
@doc("Start a new draft from the latest published version", response=s.VersionOut, status=201)
def start_draft(framework_id: int) -> Any:
    version = frameworks.start_new_draft(get_session(), _org(), framework_id)
    return _dump(s.VersionOut, version, 201)


@bp.get("/frameworks/<int:framework_id>/export")
@api_access(*READ_CONTENT)
@doc(
    "Export a framework (CASE JSON or Moodle CSV)",
    query=s.FormatQuery,
    media_types=tuple(sorted({f.media_type.split(";")[0] for f in framework_io.FORMATS.values()})),
)
def export_framework(framework_id: int) -> Any:
    query = _query(s.FormatQuery)
    framework = frameworks.get_framework(get_session(), _org(), framework_id)
    chosen = framework_io.get_format(query["format"])
    data = framework_io.export_framework(
        get_session(), _org(), framework.code, chosen.name, query["version"]
    )
    name = f"{framework.code}.{chosen.extension}"
    return Response(
        data,
        mimetype=chosen.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/frameworks/import")
@api_access(*DESIGN)
@doc(
    "Import a framework file as a new framework (all or nothing)",
    multipart=s.ImportFormDoc,
    response=s.ImportedVersionOut,
    status=201,
)
def import_framework() -> Any:
    form = _form(s.ImportForm)
    version = framework_io.import_framework(
        get_session(),
        _org(),
        _file(),
        form["format"],
        language=form["language"],
        publish=form["publish"],
    )
    body = s.VersionOut().dump(version)
    body["kept_for_export"] = [str(line) for line in framework_io.kept_summary(version)]
    return jsonify(body), 201


# --- the item bank -------------------------------------------------------------------------


@bp.post("/items/import")
@api_access(*DESIGN)
@doc(
    "Import questions from a Moodle XML or GIFT file (all or nothing; unsupported types are "
    "skipped and listed). With dry_run: only the preview, nothing written (200).",
    multipart=s.ItemImportDoc,
    response=s.ItemImportOut,
    status=201,
)
def import_items() -> Any:
    fields: dict[str, Any] = request.form.to_dict()
    fields.pop("csrf_token", None)
    fields["competence"] = request.form.getlist("competence")  # the field may repeat
    form = _load(s.ItemImportForm, fields)
    upload = item_bank.QuestionUpload(
        _file(), form["format"], form["language"], competence_codes=form["competence"]
    )
    if form["dry_run"]:
        preview = item_bank.preview_import(get_session(), _org(), upload)
        found = {"dry_run": True, "imported": preview.rows, "skipped": preview.skipped}
        return _dump(s.ItemImportOut, found)
    result = item_bank.import_items(get_session(), _org(), upload)
    found = {"dry_run": False, "imported": result.rows, "skipped": result.skipped}
    return _dump(s.ItemImportOut, found, 201)


# --- content packages ------------------------------------------------------------------------


@bp.get("/packages")
@api_access(*DESIGN)
@doc(
    "List the content packages imported into the organisation (newest first)",
    response=s.PackageImportOut,
    paged=True,
    query=s.PageQuery,
)
def list_packages() -> Any:
    query = _query(s.PageQuery)
    return _page(s.PackageImportOut, packages.list_imports(get_session(), _org()), query)


@bp.post("/packages")
@api_access(*DESIGN)
@doc(
    "Export the organisation's content as a package (a zip, no personal data; the format: "
    "/schemas/package-v1.json)",
    body=s.PackageExportIn,
    media_types=("application/zip",),
)
def export_package() -> Any:
    data = _body(s.PackageExportIn)
    wanted = packages.ExportRequest(
        name=data["name"],
        version=data["version"],
        licence=data["licence"],
        title=data["title"],
        description=data["description"],
        frameworks=data["frameworks"],
    )
    zipped = packages.export_package(get_session(), _org(), wanted)
    return Response(
        zipped,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{wanted.name}-{wanted.version}.zip"'
        },
    )


@bp.post("/packages/import")
@api_access(*DESIGN)
@doc(
    "Import a package (all or nothing; what the organisation has is kept, never "
    "overwritten). With dry_run: only the preview, nothing written (200).",
    multipart=s.PackageImportDoc,
    response=s.PackageImportOut,
    status=201,
)
def import_package() -> Any:
    fields: dict[str, Any] = request.form.to_dict()
    fields.pop("csrf_token", None)
    fields["take"] = request.form.getlist("take")  # the field may repeat
    form = _load(s.PackageImportForm, fields)
    data = _file()
    if form["dry_run"]:
        preview = packages.preview_import(get_session(), _org(), data)
        return jsonify({"dry_run": True, **s.PackagePreviewOut().dump(preview)})
    caller = current_api_caller()
    record = packages.import_package(
        get_session(), _org(), data, person_id=caller.person_id, take=form["take"]
    )
    return _dump(s.PackageImportOut, record, 201)


# --- the activity catalogue ------------------------------------------------------------------


@bp.get("/courses")
@api_access(*DESIGN)
@doc(
    "List the activity catalogue: each course (tiltak) with the competences it develops and "
    "its sessions (UTC), seats taken and waitlist counted",
    response=CourseOut,
    paged=True,
    query=CatalogueQuery,
)
def list_courses() -> Any:
    query = _query(CatalogueQuery)
    courses = catalogue.list_catalogue(
        get_session(), _org(), include_archived=query["include_archived"], kind=query["kind"]
    )
    return _page(CourseOut, catalogue.activity_views(get_session(), courses), query)


@bp.get("/courses/<int:course_id>")
@api_access(*DESIGN)
@doc("One course of the catalogue (archived ones too)", response=CourseOut)
def get_course(course_id: int) -> Any:
    course = catalogue.get_activity(get_session(), _org(), course_id)
    (view,) = catalogue.activity_views(get_session(), [course])
    return _dump(CourseOut, view)


# --- versions, scales and competences -------------------------------------------------------


@bp.get("/versions/<int:version_id>")
@api_access(*READ_CONTENT)
@doc("A framework version with its scale and competence tree", response=s.VersionOut)
def get_version(version_id: int) -> Any:
    return _dump(s.VersionOut, frameworks.get_version(get_session(), _org(), version_id))


@bp.post("/versions/<int:version_id>/publish")
@api_access(*DESIGN)
@doc("Publish a draft (the version published before is archived)", response=s.VersionOut)
def publish_version(version_id: int) -> Any:
    return _dump(s.VersionOut, frameworks.publish_version(get_session(), _org(), version_id))


@bp.put("/versions/<int:version_id>/levels")
@api_access(*DESIGN)
@doc("Set a draft's scale (values 1..n in order)", body=s.LevelsIn, response=s.VersionOut)
def set_levels(version_id: int) -> Any:
    data = _body(s.LevelsIn)
    levels = [frameworks.LevelInput(lv["label"], lv["description"]) for lv in data["levels"]]
    return _dump(s.VersionOut, frameworks.set_scale(get_session(), _org(), version_id, levels))


@bp.post("/versions/<int:version_id>/competences")
@api_access(*DESIGN)
@doc("Add a competence to a draft", body=s.CompetenceIn, response=s.CompetenceOut, status=201)
def add_competence(version_id: int) -> Any:
    data = _body(s.CompetenceIn)
    competence = frameworks.add_competence(
        get_session(),
        _org(),
        version_id,
        data["code"],
        data["title"],
        data["description"],
        parent_id=data["parent_id"],
        external_ref=data["external_ref"],
        position=data["position"],
    )
    return _dump(s.CompetenceOut, competence, 201)


@bp.put("/competences/<int:competence_id>")
@api_access(*DESIGN)
@doc("Change a competence of a draft", body=s.CompetenceUpdate, response=s.CompetenceOut)
def update_competence(competence_id: int) -> Any:
    data = _body(s.CompetenceUpdate)
    competence = frameworks.update_competence(
        get_session(),
        _org(),
        competence_id,
        data["code"],
        data["title"],
        data["description"],
        data["external_ref"],
    )
    return _dump(s.CompetenceOut, competence)


@bp.post("/competences/<int:competence_id>/archive")
@api_access(*DESIGN)
@doc("Archive (or restore) a competence of a draft", body=s.ArchiveIn, response=s.CompetenceOut)
def archive_competence(competence_id: int) -> Any:
    data = _body(s.ArchiveIn)
    competence = frameworks.archive_competence(
        get_session(), _org(), competence_id, data["archived"]
    )
    return _dump(s.CompetenceOut, competence)


@bp.delete("/competences/<int:competence_id>")
@api_access(*DESIGN)
@doc("Delete an unused competence without sub-competences from a draft", status=204)
def delete_competence(competence_id: int) -> Any:
    frameworks.delete_competence(get_session(), _org(), competence_id)
    return _no_content()


# --- job roles and requirements -------------------------------------------------------------


@bp.get("/job-roles")
@api_access(*READ_CONTENT)
@doc("List the job roles", response=s.JobRoleOut, paged=True, query=s.PageQuery)
def list_job_roles() -> Any:
    query = _query(s.PageQuery)
    roles = job_roles.list_job_roles(get_session(), _org(), include_archived=True)
    return _page(s.JobRoleOut, roles, query)


@bp.post("/job-roles")
@api_access(*DESIGN)
@doc("Create a job role", body=s.JobRoleIn, response=s.JobRoleOut, status=201)
def create_job_role() -> Any:
    data = _body(s.JobRoleIn)
    role = job_roles.create_job_role(
        get_session(), _org(), data["code"], data["title"], data["description"]
    )
    return _dump(s.JobRoleOut, role, 201)


@bp.get("/job-roles/<int:job_role_id>")
@api_access(*READ_CONTENT)
@doc("A job role with its requirements", response=s.JobRoleOut)
def get_job_role(job_role_id: int) -> Any:
    return _dump(s.JobRoleOut, job_roles.get_job_role(get_session(), _org(), job_role_id))


@bp.put("/job-roles/<int:job_role_id>")
@api_access(*DESIGN)
@doc("Change a job role's code and texts", body=s.JobRoleIn, response=s.JobRoleOut)
def update_job_role(job_role_id: int) -> Any:
    data = _body(s.JobRoleIn)
    role = job_roles.update_job_role(
        get_session(), _org(), job_role_id, data["code"], data["title"], data["description"]
    )
    return _dump(s.JobRoleOut, role)


@bp.post("/job-roles/<int:job_role_id>/archive")
@api_access(*DESIGN)
@doc("Archive (or restore) a job role", body=s.ArchiveIn, response=s.JobRoleOut)
def archive_job_role(job_role_id: int) -> Any:
    data = _body(s.ArchiveIn)
    role = job_roles.archive_job_role(get_session(), _org(), job_role_id, data["archived"])
    return _dump(s.JobRoleOut, role)


@bp.get("/job-roles/<int:job_role_id>/requirements")
@api_access(*READ_CONTENT)
@doc("A job role's requirements", response=s.RequirementOut, paged=True, query=s.PageQuery)
def list_requirements(job_role_id: int) -> Any:
    query = _query(s.PageQuery)
    role = job_roles.get_job_role(get_session(), _org(), job_role_id)
    return _page(s.RequirementOut, role.requirements, query)


@bp.post("/job-roles/<int:job_role_id>/requirements")
@api_access(*DESIGN)
@doc(
    "Require a competence of a published version",
    body=s.RequirementIn,
    response=s.RequirementOut,
    status=201,
)
def add_requirement(job_role_id: int) -> Any:
    data = _body(s.RequirementIn)
    requirement = job_roles.add_requirement(
        get_session(),
        _org(),
        job_role_id,
        data["competence_id"],
        data["required_level"],
        mandatory=data["mandatory"],
        renewal_months=data["renewal_months"],
    )
    return _dump(s.RequirementOut, requirement, 201)


@bp.put("/requirements/<int:requirement_id>")
@api_access(*DESIGN)
@doc("Change a requirement", body=s.RequirementUpdate, response=s.RequirementOut)
def update_requirement(requirement_id: int) -> Any:
    data = _body(s.RequirementUpdate)
    requirement = job_roles.update_requirement(
        get_session(),
        _org(),
        requirement_id,
        data["required_level"],
        mandatory=data["mandatory"],
        renewal_months=data["renewal_months"],
    )
    return _dump(s.RequirementOut, requirement)


@bp.delete("/requirements/<int:requirement_id>")
@api_access(*DESIGN)
@doc("Remove a requirement", status=204)
def remove_requirement(requirement_id: int) -> Any:
    job_roles.remove_requirement(get_session(), _org(), requirement_id)
    return _no_content()


@bp.get("/job-roles/export")
@api_access(*READ_CONTENT)
@doc("Export every job role with its requirements (JSON file)")
def export_job_roles() -> Any:
    return Response(
        framework_io.export_job_roles(get_session(), _org()),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="job-roles.json"'},
    )


@bp.post("/job-roles/import")
@api_access(*DESIGN)
@doc(
    "Import job roles with their requirements from a JSON file (all or nothing)",
    multipart=s.JobRoleImportDoc,
    response=s.JobRoleImportOut,
    status=201,
)
def import_job_roles() -> Any:
    _form(s.JobRoleImportForm)
    made = framework_io.import_job_roles(get_session(), _org(), _file())
    return _dump(s.JobRoleImportOut, {"created": made}, 201)


# --- org units ------------------------------------------------------------------------------


@bp.get("/org-units")
@api_access(*READ_CONTENT)
@doc(
    "List the sectors, departments and units", response=s.OrgUnitOut, paged=True, query=s.UnitsQuery
)
def list_org_units() -> Any:
    query = _query(s.UnitsQuery)
    tree = org_units.unit_tree(get_session(), _org(), include_archived=query["include_archived"])
    flat: list[Any] = []

    def walk(nodes: Sequence[org_units.TreeNode]) -> None:
        for node in nodes:
            flat.append(node.unit)
            walk(node.children)

    walk(tree)
    return _page(s.OrgUnitOut, flat, query)


@bp.post("/org-units")
@api_access(*PEOPLE)
@doc("Create a sector, department or unit", body=s.OrgUnitIn, response=s.OrgUnitOut, status=201)
def create_org_unit() -> Any:
    _all_people()
    data = _body(s.OrgUnitIn)
    unit = org_units.create_unit(get_session(), _org(), **data)
    return _dump(s.OrgUnitOut, unit, 201)


@bp.put("/org-units/<int:unit_id>")
@api_access(*PEOPLE)
@doc(
    "Rename, recode or move a sector, department or unit",
    body=s.OrgUnitUpdate,
    response=s.OrgUnitOut,
)
def update_org_unit(unit_id: int) -> Any:
    _all_people()
    data = _body(s.OrgUnitUpdate)
    unit = org_units.rename_unit(
        get_session(), _org(), unit_id, name=data["name"], code=data["code"]
    )
    if "parent_id" in data:
        unit = org_units.move_unit(get_session(), _org(), unit_id, data["parent_id"])
    return _dump(s.OrgUnitOut, unit)


@bp.post("/org-units/<int:unit_id>/archive")
@api_access(*PEOPLE)
@doc("Archive (or restore) a sector, department or unit", body=s.ArchiveIn, response=s.OrgUnitOut)
def archive_org_unit(unit_id: int) -> Any:
    _all_people()
    data = _body(s.ArchiveIn)
    unit = org_units.archive_unit(get_session(), _org(), unit_id, data["archived"])
    return _dump(s.OrgUnitOut, unit)


@bp.get("/units/<int:unit_id>/coverage")
@api_access(*PEOPLE)
@doc(
    "A unit's competence matrix: its people (and its sub-units') × the competences their "
    "job roles require, each cell's status, and coverage per competence, per person and "
    "in all; one page of people",
    response=CoverageOut,
    query=CoverageQuery,
)
def unit_coverage(unit_id: int) -> Any:
    caller = current_api_caller()
    session = get_session()
    managed = managed_units() if caller.person_id is not None else None
    scope = coverage.unit_scope(session, _org(), unit_id, managed)
    query = _load(CoverageQuery, query_data(request.args))
    found = coverage.unit_matrix(
        session,
        _org(),
        scope,
        now=clock.now(),
        locale=str(get_locale()),
        **matrix_options(query, organisations.expiring_days_of(session, _org())),
    )
    _viewed("competence_matrix", [row.person_id for row in found.rows], unit_id)
    return _dump(CoverageOut, found)


# --- people and assignments -----------------------------------------------------------------


@bp.get("/people")
@api_access(*PEOPLE)
@doc(
    "The organisation's people with their job roles and units",
    response=s.PersonOut,
    paged=True,
    query=s.PageQuery,
)
def list_people() -> Any:
    _all_people()
    query = _query(s.PageQuery)
    session, page, per_page = get_session(), query["page"], query["per_page"]
    people = assignments.people_of(session, _org(), (page - 1) * per_page, per_page)
    _viewed("people", [p.person.id for p in people])
    return _page(s.PersonOut, people, query, assignments.count_people(session, _org()))


@bp.get("/people/<int:person_id>")
@api_access(*PEOPLE)
@doc("A person with their job roles and units", response=s.PersonOut)
def get_person(person_id: int) -> Any:
    _all_people()
    placement = assignments.placement_of(get_session(), _org(), person_id)
    _viewed("person", [person_id], person_id)
    return _dump(s.PersonOut, placement)


@bp.get("/people/<int:person_id>/assignments")
@api_access(*PEOPLE)
@doc(
    "A person's active and pending job roles and units",
    response=s.AssignmentOut,
    paged=True,
    query=s.PageQuery,
)
def list_assignments(person_id: int) -> Any:
    _all_people()
    query = _query(s.PageQuery)
    placement = assignments.placement_of(get_session(), _org(), person_id)
    _viewed("assignments", [person_id], person_id)
    rows = [*placement.roles, *placement.pending_roles, *placement.units, *placement.pending_units]
    return _page(s.AssignmentOut, rows, query)


@bp.post("/people/<int:person_id>/assignments")
@api_access(*PEOPLE)
@doc(
    "Give a person a job role or a unit (active at once)",
    body=s.AssignmentIn,
    response=s.AssignmentOut,
    status=201,
)
def create_assignment(person_id: int) -> Any:
    _all_people()
    data = _body(s.AssignmentIn)
    row = assignments.assign(
        get_session(),
        _org(),
        person_id,
        Kind(data["kind"]),
        data["target_id"],
        by_id=current_api_caller().person_id,
    )
    return _dump(s.AssignmentOut, row, 201)


@bp.post(f"/assignments/<{KINDS}:kind>/<int:assignment_id>/end")
@api_access(*PEOPLE)
@doc("End an assignment (kept as history)", response=s.AssignmentOut)
def end_assignment(kind: str, assignment_id: int) -> Any:
    _all_people()
    ending = assignments.end_assignment(
        get_session(), _org(), Kind(kind), assignment_id, by_id=current_api_caller().person_id
    )
    return _dump(s.AssignmentOut, ending.row)


@bp.get("/people/<int:person_id>/plan")
@api_access(*tuple(Permission))
@doc(
    "A person's learning plan: each required competence with its status, the required and "
    "current level and the evidence it is held by, the activities suggested or added for "
    "it with the person's answers (state, reason, postponement) and due dates, a classroom "
    "activity's coming sessions with the person's own booking (booked, waitlisted with "
    "their place, cancelled), and the progress. For a token of the organisation, the "
    "person themself, a manager of their unit and an admin; anyone else is refused (403), "
    "a person of another unit or organisation is not found (404)",
    response=PlanOut,
)
def get_plan(person_id: int) -> Any:
    caller = current_api_caller()
    if caller.person_id is None or caller.person_id == person_id:
        scope = None  # a token (the organisation's), or the person's own plan
    elif current_permissions() & set(PEOPLE):
        scope = managed_units()
    else:
        raise Forbidden(f"person {caller.person_id} asking for the plan of {person_id}")
    found = plans.managed_plan(
        get_session(), _org(), person_id, scope, now=clock.now(), locale=str(get_locale())
    )
    _viewed("learning_plan", [person_id], person_id)
    return _dump(PlanOut, found)


# --- who may do what: permissions granted in the tool -------------------------------------

GRANTS = (Permission.ADMIN,)


@bp.get("/grants")
@api_access(*GRANTS)
@doc(
    "The organisation's permission grants, newest first, withdrawn ones too (the audit)",
    response=s.GrantOut,
    paged=True,
    query=s.GrantQuery,
)
def list_grants() -> Any:
    query = _query(s.GrantQuery)
    found = grants.grants_of(get_session(), _org(), active_only=query["active"])
    _viewed("grants", [g.person_id for g in found])
    return _page(s.GrantOut, found, query)


@bp.post("/grants")
@api_access(*GRANTS)
@doc(
    "Grant a person a permission (200 with the grant already held)",
    body=s.GrantIn,
    response=s.GrantOut,
    status=201,
)
def create_grant() -> Any:
    data = _body(s.GrantIn)
    row, created = grants.grant(
        get_session(),
        _org(),
        person_id=data["person_id"],
        kind=GrantKind(data["kind"]),
        unit_id=data["unit_id"],
        region_id=data["region_id"],
        reason=data["reason"],
        by=current_actor(),
        via="api",
    )
    return _dump(s.GrantOut, row, 201 if created else 200)


@bp.get("/grants/<int:grant_id>")
@api_access(*GRANTS)
@doc("A grant, with who granted and withdrew it, when and why", response=s.GrantOut)
def get_grant(grant_id: int) -> Any:
    found = grants.get_grant(get_session(), _org(), grant_id)
    _viewed("grant", [found.person_id], grant_id)
    return _dump(s.GrantOut, found)


@bp.post("/grants/<int:grant_id>/withdraw")
@api_access(*GRANTS)
@doc(
    "Withdraw a grant (kept, with the reason, in the audit)", body=s.WithdrawIn, response=s.GrantOut
)
def withdraw_grant(grant_id: int) -> Any:
    data = _body(s.WithdrawIn)
    row = grants.withdraw(
        get_session(),
        _org(),
        grant_id,
        reason=data["reason"],
        by=current_actor(),
        via="api",
    )
    return _dump(s.GrantOut, row)


# --- the signed-in person -------------------------------------------------------------------


@bp.get("/me/requirements")
@api_access(*tuple(Permission), tokens=False)
@doc("What the signed-in person's job roles require (launch only)", response=s.MyRequirementsOut)
def my_requirements() -> Any:
    caller = current_api_caller()
    assert caller.person_id is not None  # tokens=False: always a launched person
    found = requirements.requirements_of(
        get_session(), caller.organisation_id, caller.person_id, str(get_locale())
    )
    return _dump(s.MyRequirementsOut, found)


# --- the coordinators' figures --------------------------------------------------------------


@bp.get("/coverage/figures")
@api_access(*FIGURES)
@doc(
    "Coverage per municipality, unit, job role and competence, and the monthly trend, of "
    "the caller's region (a coordinator of it) or organisation: counts only, groups of "
    "fewer than 5 people withheld, and others with them wherever one could be worked back "
    "from the figures shown, whichever municipality is chosen",
    response=FiguresOut,
    query=FiguresQuery,
)
def get_coverage_figures() -> Any:
    query = _query(FiguresQuery)
    caller = current_api_caller()
    found = coverage_figures.figures_for(
        get_session(),
        caller.organisation_id,
        current_grants() if caller.person_id is not None else [],
        only=query["organisation"],
        now=clock.now(),
        expiring_days=query["expiring_days"],
        months=query["months"],
        locale=str(get_locale()),
    )
    return _dump(FiguresOut, found)
