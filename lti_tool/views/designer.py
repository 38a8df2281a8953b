"""The course designer's pages: competence frameworks (versions, scales, competences,
import and export), job roles with their basis-competence profiles, and content selection
for Deep Linking.

A designer acts for the organisation of their launch's deployment; the services find
nothing of another organisation (404). Forms are read by the schemas in
``schemas/designer.py``; each view calls one service function. A refusal the designer can
fix in the form is shown by its field; any other is rendered by the error handlers.
Deleting and publishing, archiving a job role and removing a requirement go through a
confirmation page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, ngettext
from marshmallow import Schema, ValidationError

from lti_tool import clock
from lti_tool.auth import current_launch, current_organisation_id, requires
from lti_tool.db import get_session, reads_only
from lti_tool.domain.texts import LANGUAGES, localized
from lti_tool.errors import (
    CompetenceCodeTaken,
    CompetenceNotPublished,
    FrameworkCodeTaken,
    HierarchyCycle,
    ImportErrors,
    InvalidCode,
    InvalidRenewal,
    InvalidScale,
    JobRoleCodeTaken,
    LevelInUse,
    MissingTitle,
    NotFound,
    PlacementInvalid,
    RequirementExists,
    ToolError,
    UnknownLevel,
)
from lti_tool.interchange.model import MAX_IMPORT_BYTES
from lti_tool.lti import claims as c
from lti_tool.lti.deep_linking import DeepLinkingSettings, build_response
from lti_tool.lti.roles import Permission
from lti_tool.lti.services import lti_services
from lti_tool.lti.tool_config import ToolRegistration
from lti_tool.models import FrameworkVersion, VersionStatus
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.designer import (
    CompetenceForm,
    ExportForm,
    FrameworkForm,
    ImportForm,
    JobRoleForm,
    MoveForm,
    PickForm,
    RequirementForm,
    RequirementUpdateForm,
    ScaleForm,
    VersionTextsForm,
)
from lti_tool.services import (
    certifications,
    framework_io,
    frameworks,
    job_roles,
    mappings,
    placement,
)
from lti_tool.services.frameworks import MAX_LEVELS, LevelInput
from lti_tool.web_security import allow_form_action

bp = Blueprint("designer", __name__, url_prefix="/designer")

#: Status of a page that shows a form again with what was wrong in it.
INVALID_FORM = 422
DESIGNERS = (Permission.DESIGNER, Permission.ADMIN)

#: The field a service's refusal belongs to, to show it there.
FIELD_OF: dict[type[ToolError], str] = {
    InvalidCode: "code",
    FrameworkCodeTaken: "code",
    CompetenceCodeTaken: "code",
    JobRoleCodeTaken: "code",
    MissingTitle: "title_nb",
    InvalidScale: "level_1_nb",
    LevelInUse: "level_1_nb",
    HierarchyCycle: "parent_id",
    CompetenceNotPublished: "competence_id",
    RequirementExists: "competence_id",
    UnknownLevel: "required_level",
    InvalidRenewal: "renewal_months",
}
FIXABLE = tuple(FIELD_OF)
Errors = Mapping[str, list[str]]


class NotADeepLinkingLaunch(ToolError):
    code = "not_deep_linking"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "localized": lambda text: localized(text, str(get_locale())),
        "LANGUAGES": LANGUAGES,
    }


def _to(endpoint: str, **values: Any) -> Any:
    """Redirect within the designer's pages, keeping the tab's launch token."""
    return redirect(url_for(endpoint, **values))


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


def _load(schema: Schema) -> dict[str, Any]:
    loaded: dict[str, Any] = schema.load(request.form)
    return loaded


def _refusal(exc: ToolError) -> dict[str, list[str]]:
    field = next(name for kind, name in FIELD_OF.items() if isinstance(exc, kind))
    return {field: [str(exc.message)]}


def _texts_of(item: Any, *names: str) -> dict[str, str]:
    """A form's values from an item's texts and plain attributes."""
    values: dict[str, str] = {}
    for name in ("title", "description"):
        for lang, text in (getattr(item, name, None) or {}).items():
            values[f"{name}_{lang}"] = text
    for name in names:
        value = getattr(item, name, None)
        values[name] = "" if value is None else str(value)
    return values


# --- home and deep linking ---------------------------------------------------------------


@bp.route("/")
@reads_only
@requires(*DESIGNERS)
def home() -> Any:
    return render_template("designer/home.html", launch=current_launch())


def _deep_linking_launch() -> Any:
    launch = current_launch()
    assert launch is not None
    if launch.message_type != c.DEEP_LINKING_REQUEST:
        raise NotADeepLinkingLaunch("deep-link page outside a deep-linking launch")
    return launch


@bp.route("/deep-link")
@reads_only
@requires(*DESIGNERS)
def deep_link() -> Any:
    """Choose what to place in the course (the LMS's "add activity / external tool")."""
    return _deep_link_page()


def _deep_link_page(errors: Errors | None = None, status: int = 200) -> Any:
    launch = _deep_linking_launch()
    return _render(
        "designer/deep_link.html",
        status,
        settings=DeepLinkingSettings.from_claims(launch.claims),
        mappings=mappings.list_mappings(
            get_session(), current_organisation_id(), published_only=True
        ),
        certifications=certifications.list_certifications(
            get_session(), current_organisation_id(), published_only=True
        ),
        activities=placement.elearning_activities(get_session(), current_organisation_id()),
        errors=errors or {},
    )


@bp.route("/deep-link", methods=["POST"])
@requires(*DESIGNERS)
def deep_link_submit() -> Any:
    """Answer the LMS with the chosen links (or none, when the designer cancels)."""
    launch = _deep_linking_launch()
    settings = DeepLinkingSettings.from_claims(launch.claims)
    cancel = bool(request.form.get("cancel"))
    chosen = [] if cancel else request.form.getlist("item")
    if not cancel and not chosen:
        return _deep_link_page({"item": [gettext("Choose what to add, or cancel.")]}, INVALID_FORM)
    try:
        items = placement.content_items(
            get_session(),
            current_organisation_id(),
            chosen,
            settings,
            lti_services().launch_url,
            str(get_locale()),
            context=launch.claims.get(c.CONTEXT),
            now=clock.now(),
        )
    except PlacementInvalid as exc:
        return _deep_link_page({"item": [str(exc.message)]}, INVALID_FORM)
    registration = ToolRegistration(launch.deployment.platform, lti_services().keyring)
    return_url, token = build_response(registration, launch.claims, items)
    allow_form_action(return_url)
    return render_template("lti/autopost.html", action=return_url, fields={"JWT": token})


# --- frameworks ---------------------------------------------------------------------------


def _frameworks_page(status: int = 200, **context: Any) -> Any:
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context.setdefault("import_values", {"format": "moodle-csv", "language": str(get_locale())})
    context.setdefault("import_errors", {})
    return _render(
        "designer/frameworks.html",
        status,
        frameworks=frameworks.list_frameworks(get_session(), current_organisation_id()),
        formats=sorted(framework_io.FORMATS),
        max_kb=MAX_IMPORT_BYTES // 1024,
        **context,
    )


@bp.route("/frameworks")
@requires(*DESIGNERS)
def frameworks_page() -> Any:
    return _frameworks_page()


@bp.route("/frameworks", methods=["POST"])
@requires(*DESIGNERS)
def create_framework() -> Any:
    try:
        form = _load(FrameworkForm())
        version = frameworks.create_framework(
            get_session(),
            current_organisation_id(),
            form["code"],
            form["title"],
            form["description"],
        )
    except ValidationError as exc:
        return _frameworks_page(INVALID_FORM, errors=field_errors(exc), values=request.form)
    except FIXABLE as exc:
        return _frameworks_page(INVALID_FORM, errors=_refusal(exc), values=request.form)
    flash(
        gettext("The framework %(code)s is created as a draft.", code=version.framework.code),
        "success",
    )
    return _to("designer.version_page", version_id=version.id)


@bp.route("/frameworks/import", methods=["POST"])
@requires(*DESIGNERS)
def import_framework() -> Any:
    """A new framework from a Moodle CSV or CASE file; every problem is listed, and a
    file with any problem writes nothing."""
    upload = request.files.get("file")
    try:
        form = _load(ImportForm())
        if upload is None or not upload.filename:
            raise ValidationError({"file": [gettext("Choose a file.")]})
    except ValidationError as exc:
        return _frameworks_page(
            INVALID_FORM, import_errors=field_errors(exc), import_values=request.form
        )
    data = upload.read(MAX_IMPORT_BYTES + 1)
    try:
        version = framework_io.import_framework(
            get_session(),
            current_organisation_id(),
            data,
            form["format"],
            language=form["language"],
            publish=form["publish"],
        )
    except ImportErrors as exc:
        return _frameworks_page(
            INVALID_FORM,
            problems=exc.problems,
            filename=upload.filename,
            import_values=request.form,
        )
    flash(
        ngettext(
            "The framework %(code)s is imported with %(num)d competence.",
            "The framework %(code)s is imported with %(num)d competences.",
            len(version.competences),
            code=version.framework.code,
        ),
        "success",
    )
    for line in framework_io.kept_summary(version):
        flash(str(line), "info")
    return _to("designer.version_page", version_id=version.id)


@bp.route("/frameworks/<int:framework_id>")
@requires(*DESIGNERS)
def framework_page(framework_id: int) -> Any:
    """The framework's draft if it has one, else its latest version."""
    found = frameworks.get_framework(get_session(), current_organisation_id(), framework_id)
    drafts = [v for v in found.versions if v.status == VersionStatus.DRAFT]
    chosen = drafts[-1] if drafts else found.versions[-1]
    return _to("designer.version_page", version_id=chosen.id)


@bp.route("/frameworks/<int:framework_id>/export")
@requires(*DESIGNERS)
def export_framework(framework_id: int) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    found = frameworks.get_framework(session, organisation_id, framework_id)
    try:
        form = ExportForm().load(request.args)
    except ValidationError:
        flash(gettext("Choose a format to export."), "error")
        return _to("designer.framework_page", framework_id=framework_id)
    chosen = framework_io.get_format(form["format"])
    version = frameworks.find_version(session, organisation_id, found.code, form["version"])
    data = framework_io.export_framework(
        session, organisation_id, found.code, chosen.name, version.number
    )
    filename = f"{found.code}-v{version.number}.{chosen.extension}"
    return Response(
        data,
        mimetype=chosen.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/frameworks/<int:framework_id>/drafts", methods=["POST"])
@requires(*DESIGNERS)
def start_draft(framework_id: int) -> Any:
    draft = frameworks.start_new_draft(get_session(), current_organisation_id(), framework_id)
    flash(gettext("Version %(number)s is a new draft.", number=draft.number), "success")
    return _to("designer.version_page", version_id=draft.id)


# --- a version: its scale and competences -------------------------------------------------


def _version(version_id: int) -> FrameworkVersion:
    return frameworks.get_version(get_session(), current_organisation_id(), version_id)


def _tree(version: FrameworkVersion) -> list[tuple[Any, list[Any]]]:
    """The competences as nested (competence, children) pairs, siblings in order."""
    children: dict[int | None, list[Any]] = {}
    for competence in frameworks.ordered_competences(version):
        children.setdefault(competence.parent_id, []).append(competence)

    def branch(parent_id: int | None) -> list[tuple[Any, list[Any]]]:
        return [(item, branch(item.id)) for item in children.get(parent_id, [])]

    return branch(None)


def _version_page(
    version_id: int,
    errors: Errors | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> Any:
    version = _version(version_id)
    return _render(
        "designer/version.html",
        status,
        version=version,
        framework=version.framework,
        tree=_tree(version),
        is_draft=version.status == VersionStatus.DRAFT,
        has_draft=any(v.status == VersionStatus.DRAFT for v in version.framework.versions),
        has_published=any(v.status == VersionStatus.PUBLISHED for v in version.framework.versions),
        formats=sorted(framework_io.FORMATS),
        errors=errors or {},
        values=values if values is not None else _texts_of(version),
    )


@bp.route("/versions/<int:version_id>")
@requires(*DESIGNERS)
def version_page(version_id: int) -> Any:
    return _version_page(version_id)


@bp.route("/versions/<int:version_id>/texts", methods=["POST"])
@requires(*DESIGNERS)
def update_version_texts(version_id: int) -> Any:
    """A draft's title and description, in each language."""
    try:
        form = _load(VersionTextsForm())
        frameworks.update_version_texts(
            get_session(), current_organisation_id(), version_id, form["title"], form["description"]
        )
    except ValidationError as exc:
        return _version_page(version_id, field_errors(exc), request.form, INVALID_FORM)
    except FIXABLE as exc:
        return _version_page(version_id, _refusal(exc), request.form, INVALID_FORM)
    flash(gettext("The title and description are saved."), "success")
    return _to("designer.version_page", version_id=version_id)


def _scale_page(
    version_id: int, errors: Errors | None = None, values: Any = None, status: int = 200
) -> Any:
    version = _version(version_id)
    if values is None:
        values = {}
        for level in version.levels:
            for lang, text in level.label.items():
                values[f"level_{level.value}_{lang}"] = text
            for lang, text in (level.description or {}).items():
                values[f"description_{level.value}_{lang}"] = text
    rows = min(MAX_LEVELS, max(len(version.levels) + 2, 4))
    return _render(
        "designer/scale.html",
        status,
        version=version,
        rows=rows,
        errors=errors or {},
        values=values,
    )


@bp.route("/versions/<int:version_id>/scale")
@requires(*DESIGNERS)
def scale_page(version_id: int) -> Any:
    return _scale_page(version_id)


@bp.route("/versions/<int:version_id>/scale", methods=["POST"])
@requires(*DESIGNERS)
def set_scale(version_id: int) -> Any:
    try:
        form = _load(ScaleForm())
        frameworks.set_scale(
            get_session(),
            current_organisation_id(),
            version_id,
            [LevelInput(label, description) for label, description in form["levels"]],
        )
    except ValidationError as exc:
        return _scale_page(version_id, field_errors(exc), request.form, INVALID_FORM)
    except (InvalidScale, LevelInUse) as exc:
        return _scale_page(version_id, _refusal(exc), request.form, INVALID_FORM)
    flash(gettext("The scale is saved."), "success")
    return _to("designer.version_page", version_id=version_id)


@bp.route("/versions/<int:version_id>/publish")
@requires(*DESIGNERS)
def confirm_publish(version_id: int) -> Any:
    version = _version(version_id)
    return _render(
        "designer/confirm_publish.html",
        version=version,
        competences=len([x for x in version.competences if not x.archived]),
    )


@bp.route("/versions/<int:version_id>/publish", methods=["POST"])
@requires(*DESIGNERS)
def publish(version_id: int) -> Any:
    version = frameworks.publish_version(get_session(), current_organisation_id(), version_id)
    flash(gettext("Version %(number)s is published.", number=version.number), "success")
    return _to("designer.version_page", version_id=version.id)


def _parent_options(version: FrameworkVersion, leave_out: Any = None) -> list[tuple[Any, str]]:
    options: list[tuple[Any, str]] = [("", gettext("None (at the top)"))]
    depth: dict[int, int] = {}
    for item in frameworks.ordered_competences(version):
        depth[item.id] = depth[item.parent_id] + 1 if item.parent_id in depth else 0
        if item is not leave_out:
            title = localized(item.title, str(get_locale()))
            options.append((item.id, "\u2013 " * depth[item.id] + f"{item.code} {title}"))
    return options


def _competence_page(
    version: FrameworkVersion,
    competence: Any = None,
    errors: Errors | None = None,
    values: Any = None,
    status: int = 200,
    move_errors: Errors | None = None,
) -> Any:
    if values is None:
        values = _texts_of(competence, "code", "external_ref", "parent_id") if competence else {}
        if competence is None and request.args.get("parent_id"):
            values["parent_id"] = request.args["parent_id"]
    return _render(
        "designer/competence.html",
        status,
        version=version,
        competence=competence,
        parent_options=_parent_options(version, leave_out=competence),
        errors=errors or {},
        values=values,
        move_errors=move_errors or {},
    )


@bp.route("/versions/<int:version_id>/competences/new")
@requires(*DESIGNERS)
def new_competence(version_id: int) -> Any:
    return _competence_page(_version(version_id))


@bp.route("/versions/<int:version_id>/competences", methods=["POST"])
@requires(*DESIGNERS)
def add_competence(version_id: int) -> Any:
    try:
        form = _load(CompetenceForm())
        added = frameworks.add_competence(
            get_session(),
            current_organisation_id(),
            version_id,
            form["code"],
            form["title"],
            form["description"],
            parent_id=form["parent_id"],
            external_ref=form["external_ref"],
        )
    except ValidationError as exc:
        return _competence_page(
            _version(version_id), None, field_errors(exc), request.form, INVALID_FORM
        )
    except FIXABLE as exc:
        return _competence_page(
            _version(version_id), None, _refusal(exc), request.form, INVALID_FORM
        )
    flash(gettext("The competence %(code)s is added.", code=added.code), "success")
    return _to("designer.version_page", version_id=version_id)


def _competence(competence_id: int) -> Any:
    return frameworks.get_competence(get_session(), current_organisation_id(), competence_id)


@bp.route("/competences/<int:competence_id>")
@requires(*DESIGNERS)
def competence_page(competence_id: int) -> Any:
    found = _competence(competence_id)
    return _competence_page(found.version, found)


def _competence_form_again(competence_id: int, errors: Errors) -> Any:
    found = _competence(competence_id)
    values = {**request.form, "parent_id": found.parent_id or ""}
    return _competence_page(found.version, found, errors, values, INVALID_FORM)


@bp.route("/competences/<int:competence_id>", methods=["POST"])
@requires(*DESIGNERS)
def update_competence(competence_id: int) -> Any:
    try:
        form = _load(CompetenceForm(exclude=("parent_id",)))
        updated = frameworks.update_competence(
            get_session(),
            current_organisation_id(),
            competence_id,
            form["code"],
            form["title"],
            form["description"],
            form["external_ref"],
        )
    except ValidationError as exc:
        return _competence_form_again(competence_id, field_errors(exc))
    except FIXABLE as exc:
        return _competence_form_again(competence_id, _refusal(exc))
    flash(gettext("The competence %(code)s is saved.", code=updated.code), "success")
    return _to("designer.version_page", version_id=updated.version_id)


@bp.route("/competences/<int:competence_id>/move", methods=["POST"])
@requires(*DESIGNERS)
def move_competence(competence_id: int) -> Any:
    try:
        form = _load(MoveForm())
        moved = frameworks.move_competence(
            get_session(),
            current_organisation_id(),
            competence_id,
            form["parent_id"],
            form["position"],
        )
    except (ValidationError, HierarchyCycle) as exc:
        found = _competence(competence_id)
        errors = field_errors(exc) if isinstance(exc, ValidationError) else _refusal(exc)
        return _competence_page(found.version, found, status=INVALID_FORM, move_errors=errors)
    flash(gettext("The competence %(code)s is moved.", code=moved.code), "success")
    return _to("designer.version_page", version_id=moved.version_id)


@bp.route("/competences/<int:competence_id>/<any(archive, restore):action>", methods=["POST"])
@requires(*DESIGNERS)
def archive_competence(competence_id: int, action: str) -> Any:
    found = frameworks.archive_competence(
        get_session(), current_organisation_id(), competence_id, archived=action == "archive"
    )
    if found.archived:
        flash(gettext("The competence %(code)s is archived.", code=found.code), "success")
    else:
        flash(gettext("The competence %(code)s is restored.", code=found.code), "success")
    return _to("designer.version_page", version_id=found.version_id)


@bp.route("/competences/<int:competence_id>/delete")
@requires(*DESIGNERS)
def confirm_delete_competence(competence_id: int) -> Any:
    found = _competence(competence_id)
    return _render("designer/confirm_competence_delete.html", competence=found)


@bp.route("/competences/<int:competence_id>/delete", methods=["POST"])
@requires(*DESIGNERS)
def delete_competence(competence_id: int) -> Any:
    found = _competence(competence_id)
    version_id, code = found.version_id, found.code
    frameworks.delete_competence(get_session(), current_organisation_id(), competence_id)
    flash(gettext("The competence %(code)s is deleted.", code=code), "success")
    return _to("designer.version_page", version_id=version_id)


# --- job roles and their basis competence -------------------------------------------------


def _job_roles_page(status: int = 200, **context: Any) -> Any:
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return _render(
        "designer/job_roles.html",
        status,
        job_roles=job_roles.list_job_roles(
            get_session(), current_organisation_id(), include_archived=True
        ),
        max_kb=MAX_IMPORT_BYTES // 1024,
        **context,
    )


@bp.route("/job-roles")
@requires(*DESIGNERS)
def job_roles_page() -> Any:
    return _job_roles_page()


@bp.route("/job-roles", methods=["POST"])
@requires(*DESIGNERS)
def create_job_role() -> Any:
    try:
        form = _load(JobRoleForm())
        role = job_roles.create_job_role(
            get_session(),
            current_organisation_id(),
            form["code"],
            form["title"],
            form["description"],
        )
    except ValidationError as exc:
        return _job_roles_page(INVALID_FORM, errors=field_errors(exc), values=request.form)
    except FIXABLE as exc:
        return _job_roles_page(INVALID_FORM, errors=_refusal(exc), values=request.form)
    flash(gettext("The job role %(code)s is created.", code=role.code), "success")
    return _to("designer.job_role_page", job_role_id=role.id)


@bp.route("/job-roles/import", methods=["POST"])
@requires(*DESIGNERS)
def import_job_roles() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _job_roles_page(INVALID_FORM, import_errors={"file": [gettext("Choose a file.")]})
    try:
        made = framework_io.import_job_roles(
            get_session(), current_organisation_id(), upload.read(MAX_IMPORT_BYTES + 1)
        )
    except ImportErrors as exc:
        return _job_roles_page(INVALID_FORM, problems=exc.problems, filename=upload.filename)
    flash(
        ngettext("%(num)d job role is imported.", "%(num)d job roles are imported.", len(made)),
        "success",
    )
    return _to("designer.job_roles_page")


@bp.route("/job-roles/export")
@requires(*DESIGNERS)
def export_job_roles() -> Any:
    data = framework_io.export_job_roles(get_session(), current_organisation_id())
    return Response(
        data,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="job-roles.json"'},
    )


def _level_options(version: FrameworkVersion) -> list[tuple[int, str]]:
    return [
        (level.value, f"{level.value} – {localized(level.label, str(get_locale()))}")
        for level in version.levels
    ]


def _published_versions() -> list[FrameworkVersion]:
    found = frameworks.list_frameworks(get_session(), current_organisation_id())
    return [v for f in found for v in f.versions if v.status == VersionStatus.PUBLISHED]


def _job_role_page(
    job_role_id: int,
    status: int = 200,
    errors: Errors | None = None,
    values: Any = None,
    add_errors: Errors | None = None,
    add_values: Any = None,
    row_errors: Mapping[int, Errors] | None = None,
) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    role = job_roles.get_job_role(session, organisation_id, job_role_id)
    add_values = dict(add_values or {})
    picked = None
    try:
        chosen = PickForm().load(
            {
                "competence_id": add_values.get("competence_id")
                or request.args.get("competence_id", "")
            }
        )
        if chosen["competence_id"] is not None:
            picked = frameworks.get_competence(session, organisation_id, chosen["competence_id"])
    except (ValidationError, NotFound):
        add_errors = {"competence_id": [gettext("Choose one.")], **(add_errors or {})}
    if picked is not None:
        add_values.setdefault("competence_id", picked.id)
        add_values.setdefault("mandatory", "1")
    return _render(
        "designer/job_role.html",
        status,
        role=role,
        errors=errors or {},
        values=values if values is not None else _texts_of(role, "code"),
        add_errors=add_errors or {},
        add_values=add_values,
        row_errors=row_errors or {},
        versions=_published_versions(),
        picked=picked,
        picked_levels=_level_options(picked.version) if picked else [],
        level_options=_level_options,
    )


@bp.route("/job-roles/<int:job_role_id>")
@requires(*DESIGNERS)
def job_role_page(job_role_id: int) -> Any:
    return _job_role_page(job_role_id)


@bp.route("/job-roles/<int:job_role_id>", methods=["POST"])
@requires(*DESIGNERS)
def update_job_role(job_role_id: int) -> Any:
    try:
        form = _load(JobRoleForm())
        role = job_roles.update_job_role(
            get_session(),
            current_organisation_id(),
            job_role_id,
            form["code"],
            form["title"],
            form["description"],
        )
    except ValidationError as exc:
        return _job_role_page(job_role_id, INVALID_FORM, field_errors(exc), request.form)
    except FIXABLE as exc:
        return _job_role_page(job_role_id, INVALID_FORM, _refusal(exc), request.form)
    flash(gettext("The job role %(code)s is saved.", code=role.code), "success")
    return _to("designer.job_role_page", job_role_id=role.id)


@bp.route("/job-roles/<int:job_role_id>/archive")
@requires(*DESIGNERS)
def confirm_archive_job_role(job_role_id: int) -> Any:
    role = job_roles.get_job_role(get_session(), current_organisation_id(), job_role_id)
    return _render("designer/confirm_job_role_archive.html", role=role)


@bp.route("/job-roles/<int:job_role_id>/<any(archive, restore):action>", methods=["POST"])
@requires(*DESIGNERS)
def archive_job_role(job_role_id: int, action: str) -> Any:
    role = job_roles.archive_job_role(
        get_session(), current_organisation_id(), job_role_id, archived=action == "archive"
    )
    if role.archived:
        flash(gettext("The job role %(code)s is archived.", code=role.code), "success")
    else:
        flash(gettext("The job role %(code)s is restored.", code=role.code), "success")
    return _to("designer.job_role_page", job_role_id=role.id)


@bp.route("/job-roles/<int:job_role_id>/requirements", methods=["POST"])
@requires(*DESIGNERS)
def add_requirement(job_role_id: int) -> Any:
    try:
        form = _load(RequirementForm())
        added = job_roles.add_requirement(
            get_session(),
            current_organisation_id(),
            job_role_id,
            form["competence_id"],
            form["required_level"],
            mandatory=form["mandatory"],
            renewal_months=form["renewal_months"],
        )
    except ValidationError as exc:
        return _job_role_page(
            job_role_id, INVALID_FORM, add_errors=field_errors(exc), add_values=request.form
        )
    except FIXABLE as exc:
        return _job_role_page(
            job_role_id, INVALID_FORM, add_errors=_refusal(exc), add_values=request.form
        )
    flash(gettext("%(code)s is added to the profile.", code=added.competence.code), "success")
    return _to("designer.job_role_page", job_role_id=job_role_id)


@bp.route("/requirements/<int:requirement_id>", methods=["POST"])
@requires(*DESIGNERS)
def update_requirement(requirement_id: int) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    try:
        form = _load(RequirementUpdateForm())
        updated = job_roles.update_requirement(
            session,
            organisation_id,
            requirement_id,
            form["required_level"],
            mandatory=form["mandatory"],
            renewal_months=form["renewal_months"],
        )
    except (ValidationError, UnknownLevel, InvalidRenewal) as exc:
        errors = field_errors(exc) if isinstance(exc, ValidationError) else _refusal(exc)
        found = job_roles.get_requirement(session, organisation_id, requirement_id)
        return _job_role_page(found.job_role_id, INVALID_FORM, row_errors={found.id: errors})
    flash(
        gettext("The requirement for %(code)s is saved.", code=updated.competence.code), "success"
    )
    return _to("designer.job_role_page", job_role_id=updated.job_role_id)


@bp.route("/requirements/<int:requirement_id>/remove")
@requires(*DESIGNERS)
def confirm_remove_requirement(requirement_id: int) -> Any:
    found = job_roles.get_requirement(get_session(), current_organisation_id(), requirement_id)
    return _render("designer/confirm_requirement_remove.html", requirement=found)


@bp.route("/requirements/<int:requirement_id>/remove", methods=["POST"])
@requires(*DESIGNERS)
def remove_requirement(requirement_id: int) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    found = job_roles.get_requirement(session, organisation_id, requirement_id)
    job_role_id, code = found.job_role_id, found.competence.code
    job_roles.remove_requirement(session, organisation_id, requirement_id)
    flash(gettext("%(code)s is removed from the profile.", code=code), "success")
    return _to("designer.job_role_page", job_role_id=job_role_id)
