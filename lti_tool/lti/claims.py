"""Launch claims: the LTI 1.3 claim names, and schemas that check what a launch must carry."""

from __future__ import annotations

import re
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
LIS = LTI + "lis"
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


#: The character PostgreSQL cannot keep in text; platforms have sent it.
NUL = "\x00"
#: Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): in a
#: name they turn the text after it around ("Kari \u202eexe.txt" reads as "Kari txt.exe")
#: on every page that shows it. Right-to-left names need none of them.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


class PlatformText(fields.String):
    """Text from a platform as the tool keeps it (``shown_text``): NUL and bidirectional
    controls dropped, surrounding space stripped, cut to ``limit`` characters (the
    column's). Names and titles are shown as the platform spells them; one the tool
    cannot store must not fail the launch or the call that brought it."""

    def __init__(self, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        text = shown_text(text)
        return text[: self.limit] if self.limit is not None else text


def shown_text(text: str) -> str:
    """A name or title from a platform as pages and exports show it: without NUL and
    bidirectional controls, surrounding space stripped."""
    return BIDI_CONTROLS.sub("", text.replace(NUL, "")).strip()


def storable_id(value: str, limit: int = 255) -> bool:
    """An identifier (a user or course id, a URL) the tool can store and match as it
    came: not empty, no NUL, at most ``limit`` characters. Cutting or cleaning one would
    make it someone else's."""
    return 0 < len(value) <= limit and NUL not in value


def json_may_hold_nul(text: bytes) -> bool:
    """Whether JSON ``text`` may decode to a string or key holding NUL: JSON writes NUL only
    as the escape ``\\u0000`` (a raw one is refused), so text without it holds none. A
    literal backslash before ``u0000`` counts too: it only costs the walk of
    ``without_nul``."""
    return b"\\u0000" in text


def without_nul(value: Any) -> Any:
    """``value`` (claims as JSON decoded them) with NUL dropped from every string and key."""
    if isinstance(value, str):
        return value.replace(NUL, "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def _storable(value: str) -> None:
    if not storable_id(value):
        raise ValidationError("empty, over 255 characters, or holds NUL")


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
    id = fields.String(required=True, validate=_storable)
    label = fields.String(allow_none=True)
    title = fields.String(allow_none=True)


class LaunchClaimsSchema(_Base):
    """The claims the tool relies on; everything else is kept but not required. The
    identifiers must be kept as they came (``storable_id``); other text is cleaned of NUL
    once the launch is valid (``without_nul``)."""

    sub = fields.String(required=True, validate=_storable)
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
