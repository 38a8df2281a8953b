"""Launch claims: the LTI 1.3 claim names, and schemas that check what a launch must carry."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
RESOURCE_LINK = LTI + "resource_link"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DEEP_LINKING_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DEEP_LINKING_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
SUPPORTED_MESSAGE_TYPES = (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


class ResourceLinkSchema(_Base):
    id = fields.String(required=True)
    title = fields.String(allow_none=True)


class DeepLinkingSettingsSchema(_Base):
    deep_link_return_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    accept_types = fields.List(fields.String(), required=True)
    accept_presentation_document_targets = fields.List(fields.String(), required=True)
    accept_multiple = fields.Raw(allow_none=True)
    data = fields.Raw(allow_none=True)


class ContextSchema(_Base):
    id = fields.String(required=True)
    label = fields.String(allow_none=True)
    title = fields.String(allow_none=True)


class LaunchClaimsSchema(_Base):
    """The claims the tool relies on; everything else is kept but not required."""

    sub = fields.String(required=True)
    roles = fields.List(fields.String(), required=True, data_key=ROLES)
    message_type = fields.String(required=True, data_key=MESSAGE_TYPE)
    context = fields.Nested(ContextSchema, data_key=CONTEXT, allow_none=True)
    resource_link = fields.Nested(ResourceLinkSchema, data_key=RESOURCE_LINK, allow_none=True)
    deep_linking_settings = fields.Nested(
        DeepLinkingSettingsSchema, data_key=DEEP_LINKING_SETTINGS, allow_none=True
    )
    custom = fields.Dict(keys=fields.String(), data_key=CUSTOM, allow_none=True)

    @validates_schema
    def _per_message_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("message_type")
        if kind == RESOURCE_LINK_REQUEST and not data.get("resource_link"):
            raise ValidationError("required for a resource link launch", RESOURCE_LINK)
        if kind == DEEP_LINKING_REQUEST and not data.get("deep_linking_settings"):
            raise ValidationError("required for a deep-linking request", DEEP_LINKING_SETTINGS)


def normalise_locale(value: str | None) -> str | None:
    """Platforms send nb, nb-NO, nb_NO, nn, no, en-GB …: map to our catalogues."""
    if not value or not isinstance(value, str):
        return None
    lang = value.replace("_", "-").split("-")[0].lower()
    if lang in ("nb", "no"):
        return "nb"
    if lang in ("nn", "en"):
        return lang
    return None
