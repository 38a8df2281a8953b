"""The REST API's schemas: what each endpoint accepts and answers (and the OpenAPI document).

Input is strict: an unknown field is an error of that field, not silently dropped, so a
client's typo does not pass for a change that was made. Messages are translated when
the input is read (in the caller's Accept-Language, else bokmål).
"""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale, gettext, lazy_gettext
from marshmallow import RAISE, Schema, ValidationError, fields, pre_dump, validate

from lti_tool.domain.texts import MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH, localized
from lti_tool.models import (
    AssignmentSource,
    AssignmentStatus,
    GrantKind,
    UnitKind,
    VersionStatus,
)
from lti_tool.schemas.checks import Id, Int, Text, WebUrl
from lti_tool.services.framework_io import FORMATS
from lti_tool.services.frameworks import MAX_CODE_LENGTH
from lti_tool.services.grants import MAX_REASON_LENGTH
from lti_tool.services.org_units import MAX_NAME_LENGTH
from lti_tool.settings import LOCALES

#: marshmallow's own messages, as our translated ones.
_MESSAGES = {
    "Unknown field.": lazy_gettext("Unknown field."),
    "Missing data for required field.": lazy_gettext("Missing data for required field."),
    "Field may not be null.": lazy_gettext("Field may not be null."),
    "Not a valid integer.": lazy_gettext("Not a valid integer."),
    "Not a valid string.": lazy_gettext("Not a valid string."),
    "Not a valid boolean.": lazy_gettext("Not a valid boolean."),
    "Not a valid mapping type.": lazy_gettext("Not a valid mapping type."),
    "Not a valid list.": lazy_gettext("Not a valid list."),
    "Invalid input type.": lazy_gettext("Invalid input type."),
    "Number too large.": lazy_gettext("The value is out of range."),
}


def _translate(messages: Any) -> Any:
    if isinstance(messages, dict):
        return {str(k): _translate(v) for k, v in messages.items()}
    if isinstance(messages, list):
        return [_translate(m) for m in messages]
    text = str(messages)
    if text in _MESSAGES:
        return str(_MESSAGES[text])
    if text.startswith("Must be one of:"):
        return gettext("Must be one of: %(choices)s.", choices=text.split(":", 1)[1].strip(" ."))
    if text.startswith("Must be greater than or equal to"):
        return gettext("The value is out of range.")
    return text


def field_errors(exc: ValidationError) -> dict[str, Any]:
    """A schema's errors as ``{field: [message, …]}``, translated."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    translated: dict[str, Any] = _translate(messages)
    return translated


class Input(Schema):
    """Input: an unknown field is refused."""

    class Meta:
        unknown = RAISE


def Texts(max_length: int = MAX_TITLE_LENGTH, **kwargs: Any) -> fields.Dict:
    """Text per language: ``{"nb": …, "nn": …, "en": …}``, each at most ``max_length``."""
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(LOCALES)), values=Text(max_length), **kwargs
    )


def Description(**kwargs: Any) -> fields.Dict:
    return Texts(MAX_DESCRIPTION_LENGTH, load_default=dict, **kwargs)


def Code(**kwargs: Any) -> Text:
    return Text(MAX_CODE_LENGTH, **kwargs)


# --- pagination and errors ------------------------------------------------------------------


class PageQuery(Input):
    page = Int(load_default=1, min=1)
    per_page = Int(load_default=25, min=1, max=100)


class Error(Schema):
    error = fields.String(required=True, metadata={"description": "A stable code."})
    message = fields.String(required=True, metadata={"description": "For people; translated."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(
            metadata={
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object", "additionalProperties": True},
                ]
            }
        ),
        metadata={
            "description": "Field-level errors (422): a field's messages, or for a field "
            "with parts (a list's items, a text's languages) the same by part: "
            '{"title": {"nb": {"value": ["…"]}}}.'
        },
    )
    problems = fields.List(fields.String(), metadata={"description": "An import's problems."})


# --- frameworks -----------------------------------------------------------------------------


class VersionSummary(Schema):
    id = fields.Integer()
    number = fields.Integer()
    status = fields.Enum(VersionStatus, by_value=True)
    title = Texts()
    published_at = fields.DateTime(allow_none=True)


class FrameworkOut(Schema):
    id = fields.Integer()
    code = fields.String()
    created_at = fields.DateTime()
    versions = fields.List(fields.Nested(VersionSummary))


class FrameworkIn(Input):
    code = Code(required=True)
    title = Texts(required=True)
    description = Description()


class LevelOut(Schema):
    value = fields.Integer()
    label = Texts()
    description = Texts()


class CompetenceOut(Schema):
    id = fields.Integer()
    identifier = fields.String()
    code = fields.String()
    parent_id = fields.Integer(allow_none=True)
    title = Texts()
    description = Texts()
    external_ref = fields.String(allow_none=True)
    position = fields.Integer()
    archived = fields.Boolean()


class CompetenceNode(CompetenceOut):
    children = fields.List(fields.Nested(lambda: CompetenceNode()))


class VersionOut(Schema):
    id = fields.Integer()
    framework_id = fields.Integer()
    code = fields.String(attribute="framework.code")
    number = fields.Integer()
    status = fields.Enum(VersionStatus, by_value=True)
    title = Texts()
    description = Texts()
    identifier = fields.String()
    source = fields.String()
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    levels = fields.List(fields.Nested(LevelOut))
    competences = fields.List(
        fields.Nested(CompetenceNode),
        metadata={"description": "The top competences, each with its children."},
    )

    @pre_dump
    def _tree(self, version: Any, **kwargs: Any) -> dict[str, Any]:
        return {
            **{
                name: getattr(version, name)
                for name in self.fields
                if name not in ("competences", "code")
            },
            "framework": version.framework,
            "competences": [c for c in version.competences if c.parent_id is None],
        }


class ImportedVersionOut(VersionOut):
    kept_for_export = fields.List(
        fields.String(),
        metadata={
            "description": "What the file held that the tool keeps for export but does not "
            "use (competency rules, cross-references, HTML descriptions, item types, notes, "
            "…), one sentence each."
        },
    )


class LevelIn(Input):
    label = Texts(required=True)
    description = Description()


class LevelsIn(Input):
    levels = fields.List(fields.Nested(LevelIn), required=True)


class CompetenceIn(Input):
    code = Code(required=True)
    title = Texts(required=True)
    description = Description()
    parent_id = Id(load_default=None, allow_none=True)
    external_ref = WebUrl(load_default=None, allow_none=True)
    position = Int(load_default=None, allow_none=True)


class CompetenceUpdate(Input):
    code = Code(required=True)
    title = Texts(required=True)
    description = Description()
    external_ref = WebUrl(load_default=None, allow_none=True)


class ArchiveIn(Input):
    archived = fields.Boolean(load_default=True)


class FormatQuery(Input):
    format = fields.String(required=True, validate=validate.OneOf(sorted(FORMATS)))
    version = Int(load_default=None, min=1)


class ImportForm(Input):
    format = fields.String(required=True, validate=validate.OneOf(sorted(FORMATS)))
    language = fields.String(load_default="nb", validate=validate.OneOf(LOCALES))
    publish = fields.Boolean(load_default=False)


class ImportFormDoc(ImportForm):
    """The multipart form as documented (the file travels beside the fields)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


# --- question import ------------------------------------------------------------------------


class ItemImportForm(Input):
    format = fields.String(required=True, validate=validate.OneOf(["moodle-xml", "gift"]))
    language = fields.String(load_default="nb", validate=validate.OneOf(LOCALES))
    competence = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        load_default=list,
        metadata={
            "description": "Competence codes measured by questions without a competence tag "
            "(repeat the field for several)."
        },
    )
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Only the preview: what would be imported and skipped."},
    )


class ItemImportDoc(ItemImportForm):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportedQuestionOut(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "None in a dry run."})
    line = fields.Integer()
    name = fields.String()
    kind = fields.String(attribute="item.kind")
    code = fields.String(attribute="item.code")
    competences = fields.Function(lambda row: [ref.code for ref in row.item.competences])


class SkippedQuestionOut(Schema):
    line = fields.Integer()
    name = fields.String()
    type = fields.Function(lambda skipped: str(skipped.question_type))
    reason = fields.Function(lambda skipped: str(skipped.reason))


class ItemImportOut(Schema):
    dry_run = fields.Boolean()
    imported = fields.List(fields.Nested(ImportedQuestionOut))
    skipped = fields.List(fields.Nested(SkippedQuestionOut))


# --- content packages -----------------------------------------------------------------------


class PackageExportIn(Input):
    name = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,99}$"),
        metadata={"description": "The package's name, the same for all its versions."},
    )
    version = fields.String(
        load_default="1.0.0", validate=validate.Regexp(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$")
    )
    licence = fields.String(load_default="CC-BY-4.0", validate=validate.Length(min=1, max=100))
    title = Texts(load_default=dict)
    description = Description()
    frameworks = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        load_default=list,
        metadata={"description": "Framework codes; none: all with a published version."},
    )


class PackageImportForm(Input):
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Only the preview: what would be created, exists, conflicts."},
    )
    take = fields.List(
        fields.String(validate=validate.Length(min=1, max=300)),
        load_default=list,
        metadata={
            "description": "Changes to take from the package (a change's key, as the dry run "
            "lists them; repeat the field). Without: what differs is kept as it is."
        },
    )


class PackageImportDoc(PackageImportForm):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class PackageChangeOut(Schema):
    key = fields.String()
    field = fields.String()
    here = fields.Raw()
    there = fields.Raw()
    edited_here = fields.Boolean()
    changed_there = fields.Boolean()


class PackageLineOut(Schema):
    kind = fields.String()
    code = fields.String()
    status = fields.String(metadata={"description": "create, exists or conflict (kept as it is)."})
    changes = fields.List(fields.Nested(PackageChangeOut))


class PackagePreviewOut(Schema):
    dry_run = fields.Boolean()
    name = fields.String(attribute="manifest.name")
    version = fields.String(attribute="manifest.version")
    publisher = fields.String(attribute="manifest.publisher")
    licence = fields.String(attribute="manifest.licence")
    objects = fields.List(fields.Nested(PackageLineOut), attribute="lines")


class PackageImportOut(Schema):
    id = fields.Integer()
    name = fields.String()
    version = fields.String()
    publisher = fields.String()
    licence = fields.String()
    sha256 = fields.String()
    imported_at = fields.DateTime()
    created = fields.Function(lambda record: len(record.objects))


# --- job roles ------------------------------------------------------------------------------


class RequirementOut(Schema):
    id = fields.Integer()
    job_role_id = fields.Integer()
    competence_id = fields.Integer()
    competence_code = fields.String(attribute="competence.code")
    framework = fields.String(attribute="competence.version.framework.code")
    framework_version = fields.Integer(attribute="competence.version.number")
    required_level = fields.Integer()
    mandatory = fields.Boolean()
    renewal_months = fields.Integer(allow_none=True)


class JobRoleOut(Schema):
    id = fields.Integer()
    code = fields.String()
    title = Texts()
    description = Texts()
    archived = fields.Boolean()
    created_at = fields.DateTime()
    requirements = fields.List(fields.Nested(RequirementOut))


class JobRoleIn(Input):
    code = Code(required=True)
    title = Texts(required=True)
    description = Description()


class RequirementIn(Input):
    competence_id = Id(required=True)
    required_level = Int(required=True)
    mandatory = fields.Boolean(load_default=True)
    renewal_months = Int(load_default=None, allow_none=True)


class RequirementUpdate(Input):
    required_level = Int(required=True)
    mandatory = fields.Boolean(load_default=True)
    renewal_months = Int(load_default=None, allow_none=True)


class JobRoleImportOut(Schema):
    created = fields.List(fields.Nested(JobRoleOut))


# --- org units ------------------------------------------------------------------------------


class OrgUnitOut(Schema):
    id = fields.Integer()
    kind = fields.Enum(UnitKind, by_value=True)
    code = fields.String()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    archived = fields.Boolean()
    created_at = fields.DateTime()


class OrgUnitIn(Input):
    kind = fields.Enum(UnitKind, by_value=True, required=True)
    code = Code(required=True)
    name = Text(MAX_NAME_LENGTH, required=True)
    parent_id = Id(load_default=None, allow_none=True)


class OrgUnitUpdate(Input):
    name = Text(MAX_NAME_LENGTH, required=True)
    code = Code(load_default=None)
    parent_id = Id(
        allow_none=True, metadata={"description": "Move under this unit (null: to the top)."}
    )


class UnitsQuery(PageQuery):
    include_archived = fields.Boolean(load_default=False)


# --- people and assignments -----------------------------------------------------------------


class AssignmentOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["role", "unit"]})
    target_id = fields.Integer()
    code = fields.String()
    name = fields.String()
    source = fields.Enum(AssignmentSource, by_value=True)
    status = fields.Enum(AssignmentStatus, by_value=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)

    @pre_dump
    def _flatten(self, row: Any, **kwargs: Any) -> dict[str, Any]:
        role = getattr(row, "job_role_id", None) is not None
        target = row.job_role if role else row.unit
        return {
            **{n: getattr(row, n) for n in ("id", "source", "status", "created_at")},
            **{n: getattr(row, n) for n in ("decided_at", "ended_at")},
            "kind": "role" if role else "unit",
            "target_id": target.id,
            "code": target.code,
            "name": (localized(target.title, str(get_locale())) or target.code)
            if role
            else target.name,
        }


class PersonOut(Schema):
    id = fields.Integer(attribute="person.id")
    name = fields.String(attribute="person.display_name")
    given_name = fields.String(attribute="person.given_name")
    family_name = fields.String(attribute="person.family_name")
    email = fields.String(attribute="person.email")
    job_roles = fields.List(fields.Nested(AssignmentOut), attribute="roles")
    units = fields.List(fields.Nested(AssignmentOut))
    pending_job_roles = fields.List(fields.Nested(AssignmentOut), attribute="pending_roles")
    pending_units = fields.List(fields.Nested(AssignmentOut))


class AssignmentIn(Input):
    kind = fields.String(required=True, validate=validate.OneOf(["role", "unit"]))
    target_id = Id(required=True, metadata={"description": "The job role's or unit's id."})


# --- who may do what: permissions granted in the tool -------------------------------------


class GrantOut(Schema):
    id = fields.Integer()
    person_id = fields.Integer()
    person_name = fields.String(attribute="person.display_name")
    kind = fields.Enum(GrantKind, by_value=True)
    unit_id = fields.Integer(allow_none=True, metadata={"description": "Manager: the unit."})
    region_id = fields.Integer(
        allow_none=True,
        metadata={"description": "Coordinator: the region (none: the organisation)."},
    )
    active = fields.Boolean()
    granted_at = fields.DateTime()
    granted_by_id = fields.Integer(
        allow_none=True, metadata={"description": "The person; none: a token or the command line."}
    )
    granted_by_token_id = fields.Integer(
        allow_none=True, metadata={"description": "The API token that granted it, if one did."}
    )
    granted_via = fields.String(metadata={"enum": ["console", "api", "import", "system"]})
    reason = fields.String()
    withdrawn_at = fields.DateTime(allow_none=True)
    withdrawn_by_id = fields.Integer(allow_none=True)
    withdrawn_by_token_id = fields.Integer(allow_none=True)
    withdrawn_via = fields.String(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)


class GrantQuery(PageQuery):
    active = fields.Boolean(
        load_default=False, metadata={"description": "Only grants not withdrawn."}
    )


class GrantIn(Input):
    person_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in GrantKind]))
    unit_id = Id(load_default=None, allow_none=True)
    region_id = Id(load_default=None, allow_none=True)
    reason = Text(MAX_REASON_LENGTH, required=True, metadata={"description": "Kept in the audit."})


class WithdrawIn(Input):
    reason = Text(MAX_REASON_LENGTH, required=True, metadata={"description": "Kept in the audit."})


# --- the signed-in person's requirements ----------------------------------------------------


class LevelLine(Schema):
    value = fields.Integer()
    label = fields.String()


class RoleLine(Schema):
    id = fields.Integer()
    code = fields.String()
    title = fields.String()


class RequirementLineOut(Schema):
    competence_id = fields.Integer()
    code = fields.String()
    title = fields.String()
    framework = fields.String()
    framework_version = fields.Integer()
    required = fields.Nested(LevelLine)
    current = fields.Nested(LevelLine, allow_none=True)
    scale = fields.List(fields.Nested(LevelLine))
    mandatory = fields.Boolean()
    renewal_months = fields.Integer(allow_none=True)
    job_roles = fields.List(fields.String())
    met = fields.Boolean()


class MyRequirementsOut(Schema):
    job_roles = fields.List(fields.Nested(RoleLine), attribute="roles")
    pending_job_roles = fields.List(fields.Nested(RoleLine), attribute="pending_roles")
    units = fields.List(fields.String())
    pending_units = fields.List(fields.String())
    requirements = fields.List(fields.Nested(RequirementLineOut), attribute="lines")
    job_roles_without_requirements = fields.List(
        fields.String(), attribute="roles_without_requirements"
    )


class JobRoleImportForm(Input):
    """The multipart form of a job-role import: only the file."""


class JobRoleImportDoc(JobRoleImportForm):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
