"""Deep Linking 2.0 responses, signed with the tool's newest key (through pylti1p3)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource

from lti_tool.lti import claims as c
from lti_tool.lti.tool_config import ToolRegistration

IAT_BACKDATE_SECONDS = 5


class _DeepLink(DeepLink):
    def get_message_jwt(self, resources: Sequence[DeepLinkResource]) -> dict[str, object]:
        message = super().get_message_jwt(resources)
        # Back-date iat a little: platforms' clocks drift and refuse "not yet valid" tokens.
        message["iat"] = int(time.time()) - IAT_BACKDATE_SECONDS
        # pylti1p3 sends "data": null when the request had none; the spec says omit it.
        if message.get("https://purl.imsglobal.org/spec/lti-dl/claim/data") is None:
            message.pop("https://purl.imsglobal.org/spec/lti-dl/claim/data", None)
        return message


def build_response(
    registration: ToolRegistration,
    claims: dict[str, Any],
    items: Sequence[dict[str, Any]],
) -> tuple[str, str]:
    """Return (deep_link_return_url, signed JWT) for these resource-link items."""
    settings = claims[c.DEEP_LINKING_SETTINGS]
    resources = []
    for item in items:
        resource = DeepLinkResource().set_url(item["url"]).set_title(item["title"])
        if item.get("custom"):
            resource.set_custom_params(item["custom"])
        resources.append(resource)
    deep_link = _DeepLink(registration, claims[c.DEPLOYMENT_ID], settings)
    return settings["deep_link_return_url"], deep_link.get_response_jwt(resources)
