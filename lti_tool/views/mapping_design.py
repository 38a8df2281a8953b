"""The course designer's item bank and skills mappings: write and import items, build a
mapping for a job role or chosen competences, set its rules and thresholds, publish it,
and read its item statistics.

Designers (and admins) of the launch's organisation only; anything of another
organisation is not found. Forms are read by ``schemas/items.py``; each view calls one
service function.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, ngettext
from marshmallow import ValidationError

from lti_tool.auth import current_launch, current_organisation_id, requires
from lti_tool.db import get_session
from lti_tool.domain.items import ITEM_TYPES
from lti_tool.domain.mapping_results import default_thresholds
from lti_tool.domain.texts import LANGUAGES, localized
from lti_tool.errors import (
    ImportErrors,
    InvalidCode,
    ItemCodeTaken,
    ItemInUse,
    ItemInvalid,
    MappingCodeTaken,
    MappingInvalid,
)
from lti_tool.interchange.model import MAX_IMPORT_BYTES
from lti_tool.lti.roles import Permission
from lti_tool.models import MappingStatus
from lti_tool.schemas.admin import field_errors
from lti_tool.schemas.assignments import form_data
from lti_tool.schemas.checks import id_value
from lti_tool.schemas.items import (
    MAX_FORM_COMPETENCES,
    MAX_FORM_OPTIONS,
    ImportItemsForm,
    ItemForm,
    MappingForm,
    NewMappingForm,
    item_form_values,
)
from lti_tool.services import (
    assignments,
    item_bank,
    mapping_statistics,
    mappings,
    pending_import,
)
from lti_tool.services.mappings import MappingRules
from lti_tool.signing import secret_keys

bp = Blueprint("mapping_design", __name__, url_prefix="/designer")

INVALID_FORM = 422
DESIGNERS = (Permission.DESIGNER, Permission.ADMIN)
RULES = (
    "selection",
    "items_per_competence",
    "shuffle",
    "time_limit_minutes",
    "max_attempts",
    "min_days_between",
    "pass_percentage",
    "grade_policy",
)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "localized": lambda text: localized(text, str(get_locale())),
        "LANGUAGES": LANGUAGES,
        "ITEM_TYPES": ITEM_TYPES,
    }


def _to(endpoint: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, **values))


def _render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, launch=current_launch(), **context), status


# --- the item bank ------------------------------------------------------------------------


def _bank_page(status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    competence_id = request.args.get("competence_id", type=id_value)
    context.setdefault("import_values", {"format": "moodle-xml", "language": str(get_locale())})
    context.setdefault("import_errors", {})
    return _render(
        "mapping_design/items.html",
        status,
        items=item_bank.list_items(
            session,
            organisation_id,
            competence_id=competence_id,
            include_archived=request.args.get("archived") == "1",
        ),
        competences=item_bank.usable_competences(session, organisation_id),
        competence_id=competence_id,
        max_kb=MAX_IMPORT_BYTES // 1024,
        **context,
    )


@bp.route("/items")
@requires(*DESIGNERS)
def items_page() -> Any:
    return _bank_page()


def _item_form(
    kind: str,
    values: Any,
    errors: Any = None,
    problems: Any = (),
    item: Any = None,
    status: int = 200,
) -> Any:
    return _render(
        "mapping_design/item.html",
        status,
        kind=kind,
        values=values,
        errors=errors or {},
        problems=problems,
        item=item,
        answered=item is not None and item_bank.item_answered(get_session(), item.id),
        competences=item_bank.usable_competences(get_session(), current_organisation_id()),
        option_rows=range(1, MAX_FORM_OPTIONS + 1),
        competence_rows=range(1, MAX_FORM_COMPETENCES + 1),
    )


@bp.route("/items/new")
@requires(*DESIGNERS)
def new_item() -> Any:
    kind = request.args.get("kind", "")
    if kind not in ITEM_TYPES:
        return _bank_page(INVALID_FORM, new_errors={"kind": [gettext("Choose an item type.")]})
    values: dict[str, Any] = {"kind": kind, "points": "1", "weight_1": "1"}
    competence_id = request.args.get("competence_id")
    if competence_id:
        values["competence_1"] = competence_id
    return _item_form(kind, values)


def _save_item(item_id: int | None) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    item = item_bank.get_item(session, organisation_id, item_id) if item_id else None
    kind = item.kind if item else request.form.get("kind", "")
    try:
        data = ItemForm().load(form_data(request.form, "correct"))
        if item is None:
            saved = item_bank.create_item(session, organisation_id, data)
        else:
            saved = item_bank.update_item(session, organisation_id, item.id, data)
    except ValidationError as exc:
        return _item_form(kind, request.form, field_errors(exc), item=item, status=INVALID_FORM)
    except ItemInvalid as exc:
        return _item_form(kind, request.form, problems=exc.problems, item=item, status=INVALID_FORM)
    except (ItemCodeTaken, InvalidCode, ItemInUse) as exc:
        field = "kind" if isinstance(exc, ItemInUse) else "code"
        errors = {field: [str(exc.message)]}
        return _item_form(kind, request.form, errors, item=item, status=INVALID_FORM)
    flash(gettext("The item %(code)s is saved.", code=saved.code), "success")
    return _to("mapping_design.items_page")


@bp.route("/items", methods=["POST"])
@requires(*DESIGNERS)
def create_item() -> Any:
    return _save_item(None)


@bp.route("/items/<int:item_id>")
@requires(*DESIGNERS)
def item_page(item_id: int) -> Any:
    item = item_bank.get_item(get_session(), current_organisation_id(), item_id)
    return _item_form(item.kind, item_form_values(item_bank.item_data(item)), item=item)


@bp.route("/items/<int:item_id>", methods=["POST"])
@requires(*DESIGNERS)
def update_item(item_id: int) -> Any:
    return _save_item(item_id)


@bp.route("/items/<int:item_id>/<any(archive, restore):action>", methods=["POST"])
@requires(*DESIGNERS)
def archive_item(item_id: int, action: str) -> Any:
    item = item_bank.set_archived(
        get_session(), current_organisation_id(), item_id, action == "archive"
    )
    if item.archived:
        flash(gettext("%(code)s is archived: no new attempt asks it.", code=item.code), "success")
    else:
        flash(gettext("%(code)s is back in the bank.", code=item.code), "success")
    return _to("mapping_design.items_page")


@bp.route("/items/import", methods=["POST"])
@requires(*DESIGNERS)
def import_items() -> Any:
    """Questions from a Moodle XML or GIFT file: a preview of what would be imported and
    what skipped, with a button to confirm; or every problem, and nothing to confirm."""
    upload = request.files.get("file")
    try:
        form = ImportItemsForm().load(form_data(request.form, "competence_ids"))
        if upload is None or not upload.filename:
            raise ValidationError({"file": [gettext("Choose a file.")]})
    except ValidationError as exc:
        return _bank_page(INVALID_FORM, import_errors=field_errors(exc), import_values=request.form)
    questions = item_bank.QuestionUpload(
        upload.read(MAX_IMPORT_BYTES + 1),
        form["format"],
        form["language"],
        competence_ids=form["competence_ids"],
    )
    try:
        preview = item_bank.preview_import(get_session(), current_organisation_id(), questions)
    except ImportErrors as exc:
        return _bank_page(
            INVALID_FORM,
            problems=exc.problems,
            filename=upload.filename,
            import_values=request.form,
        )
    launch = current_launch()
    assert launch is not None  # requires() let a launched person through
    sealed = pending_import.seal(
        secret_keys(current_app),
        pending_import.PendingImport(
            organisation_id=current_organisation_id(),
            person_id=launch.person_id,
            upload=questions,
            fingerprint=preview.fingerprint,
            filename=upload.filename,
        ),
    )
    return _bank_page(
        preview=preview, pending=sealed, filename=upload.filename, import_values=request.form
    )


@bp.route("/items/import/confirm", methods=["POST"])
@requires(*DESIGNERS)
def confirm_import() -> Any:
    """Write the previewed questions, all or none (the file travels sealed in the form)."""
    launch = current_launch()
    assert launch is not None
    pending = pending_import.unseal(
        secret_keys(current_app),
        request.form.get("pending", ""),
        current_organisation_id(),
        launch.person_id,
    )
    if pending is None:
        flash(gettext("The preview has expired or is not yours: choose the file again."), "error")
        return _bank_page(INVALID_FORM)
    try:
        result = item_bank.import_items(
            get_session(), pending.organisation_id, pending.upload, fingerprint=pending.fingerprint
        )
    except ImportErrors as exc:
        return _bank_page(INVALID_FORM, problems=exc.problems, filename=pending.filename)
    done = [ngettext("%(num)d item is imported.", "%(num)d items are imported.", len(result.items))]
    if result.skipped:
        done.append(
            ngettext(
                "%(num)d question is skipped.",
                "%(num)d questions are skipped.",
                len(result.skipped),
            )
        )
    flash(" ".join(done), "success")
    return _to("mapping_design.items_page")


# --- mappings -----------------------------------------------------------------------------


def _mappings_page(status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    context.setdefault("values", {"selection": "fixed"})
    context.setdefault("errors", {})
    return _render(
        "mapping_design/mappings.html",
        status,
        mappings=mappings.list_mappings(session, organisation_id),
        job_roles=assignments.job_roles_of(session, organisation_id),
        competences=item_bank.usable_competences(session, organisation_id),
        **context,
    )


@bp.route("/mappings")
@requires(*DESIGNERS)
def mappings_page() -> Any:
    return _mappings_page()


def _rules(form: dict[str, Any]) -> MappingRules:
    values: dict[str, Any] = {name: form.get(name) for name in RULES if name in form}
    return MappingRules(**values)


@bp.route("/mappings", methods=["POST"])
@requires(*DESIGNERS)
def create_mapping() -> Any:
    try:
        form = NewMappingForm().load(form_data(request.form, "competence_ids"))
        mapping = mappings.create_mapping(
            get_session(),
            current_organisation_id(),
            code=form["code"],
            title=form["title"],
            description=form["description"],
            job_role_id=form.get("job_role_id"),
            competence_ids=form["competence_ids"],
            rules=_rules(form),
        )
    except ValidationError as exc:
        return _mappings_page(INVALID_FORM, errors=field_errors(exc), values=request.form)
    except (MappingCodeTaken, InvalidCode) as exc:
        return _mappings_page(
            INVALID_FORM, errors={"code": [str(exc.message)]}, values=request.form
        )
    except MappingInvalid as exc:
        return _mappings_page(
            INVALID_FORM, errors={"job_role_id": [str(exc.message)]}, values=request.form
        )
    flash(gettext("The mapping %(code)s is created as a draft.", code=mapping.code), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping.id)


def _mapping_page(mapping_id: int, status: int = 200, **context: Any) -> Any:
    session = get_session()
    organisation_id = current_organisation_id()
    mapping = mappings.get_mapping(session, organisation_id, mapping_id)
    if "values" not in context:
        values: dict[str, Any] = {"code": mapping.code}
        for name in ("title", "description"):
            for lang, text in (getattr(mapping, name) or {}).items():
                values[f"{name}_{lang}"] = text
        for name in RULES:
            value = getattr(mapping, name)
            values[name] = (
                "" if value is None else (f"{value:g}" if isinstance(value, float) else value)
            )
        context["values"] = values
    context.setdefault("errors", {})
    in_mapping = {mi.item_id for mi in mapping.items}
    measured = [mc.competence_id for mc in mapping.competences]
    candidates = [
        item
        for item in item_bank.list_items(session, organisation_id)
        if item.id not in in_mapping
        and any(ic.competence_id in measured for ic in item.competences)
    ]
    return _render(
        "mapping_design/mapping.html",
        status,
        mapping=mapping,
        candidates=candidates,
        unmeasured=mappings.unmeasured(session, mapping),
        problems=mappings.publish_problems(session, mapping),
        bank_counts=mappings.bank_counts(session, organisation_id, measured),
        default_thresholds=default_thresholds,
        **context,
    )


@bp.route("/mappings/<int:mapping_id>")
@requires(*DESIGNERS)
def mapping_page(mapping_id: int) -> Any:
    return _mapping_page(mapping_id)


@bp.route("/mappings/<int:mapping_id>", methods=["POST"])
@requires(*DESIGNERS)
def update_mapping(mapping_id: int) -> Any:
    try:
        form = MappingForm().load(request.form)
        mappings.update_mapping(
            get_session(),
            current_organisation_id(),
            mapping_id,
            code=form["code"],
            title=form["title"],
            description=form["description"],
            rules=_rules(form),
        )
    except ValidationError as exc:
        return _mapping_page(
            mapping_id, INVALID_FORM, errors=field_errors(exc), values=request.form
        )
    except (MappingCodeTaken, InvalidCode, MappingInvalid) as exc:
        return _mapping_page(
            mapping_id, INVALID_FORM, errors={"code": [str(exc.message)]}, values=request.form
        )
    flash(gettext("The mapping is saved."), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping_id)


@bp.route("/mappings/<int:mapping_id>/thresholds", methods=["POST"])
@requires(*DESIGNERS)
def set_thresholds(mapping_id: int) -> Any:
    """``threshold_<competence id>_<level>`` fields; all blank for a competence = default."""
    session = get_session()
    mapping = mappings.get_mapping(session, current_organisation_id(), mapping_id)
    cuts: dict[int, dict[int, float]] = {}
    try:
        for mc in mapping.competences:
            cut = {}
            for level in mc.competence.version.levels:
                raw = request.form.get(f"threshold_{mc.competence_id}_{level.value}", "").strip()
                if raw:
                    cut[level.value] = float(raw.replace(",", "."))
            cuts[mc.competence_id] = cut
        mappings.set_thresholds(session, current_organisation_id(), mapping_id, cuts)
    except ValueError:
        flash(gettext("Thresholds are numbers between 0 and 100."), "error")
        return _mapping_page(mapping_id, INVALID_FORM)
    except MappingInvalid as exc:
        flash(str(exc.message), "error")
        return _mapping_page(mapping_id, INVALID_FORM)
    flash(gettext("The thresholds are saved."), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping_id)


@bp.route("/mappings/<int:mapping_id>/items", methods=["POST"])
@requires(*DESIGNERS)
def add_items(mapping_id: int) -> Any:
    ids = request.form.getlist("item_ids", type=id_value)
    mappings.add_items(get_session(), current_organisation_id(), mapping_id, ids)
    flash(ngettext("%(num)d item is added.", "%(num)d items are added.", len(ids)), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping_id)


@bp.route("/mappings/<int:mapping_id>/items/<int:item_id>/remove", methods=["POST"])
@requires(*DESIGNERS)
def remove_item(mapping_id: int, item_id: int) -> Any:
    mappings.remove_item(get_session(), current_organisation_id(), mapping_id, item_id)
    flash(gettext("The item is removed from the mapping."), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping_id)


@bp.route("/mappings/<int:mapping_id>/refresh", methods=["POST"])
@requires(*DESIGNERS)
def refresh_from_job_role(mapping_id: int) -> Any:
    mappings.refresh_from_job_role(get_session(), current_organisation_id(), mapping_id)
    flash(gettext("The mapping now measures what the job role requires."), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping_id)


@bp.route("/mappings/<int:mapping_id>/<any(publish, archive, draft):action>", methods=["POST"])
@requires(*DESIGNERS)
def set_status(mapping_id: int, action: str) -> Any:
    status = {
        "publish": MappingStatus.PUBLISHED,
        "archive": MappingStatus.ARCHIVED,
        "draft": MappingStatus.DRAFT,
    }[action]
    try:
        mappings.set_status(get_session(), current_organisation_id(), mapping_id, status)
    except MappingInvalid as exc:
        flash(str(exc.message), "error")
        return _mapping_page(mapping_id, INVALID_FORM)
    flash(gettext("The mapping's status is changed."), "success")
    return _to("mapping_design.mapping_page", mapping_id=mapping_id)


@bp.route("/mappings/<int:mapping_id>/statistics")
@requires(*DESIGNERS)
def statistics_page(mapping_id: int) -> Any:
    """Facility and discrimination of each knowledge item, over submitted attempts."""
    report = mapping_statistics.mapping_statistics(
        get_session(), current_organisation_id(), mapping_id
    )
    return _render("mapping_design/statistics.html", report=report)
