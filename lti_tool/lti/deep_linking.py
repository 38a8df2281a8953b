"""Deep Linking 2.0: read what the platform accepts, and answer with a signed
LtiDeepLinkingResponse (through pylti1p3's signing, with our content items as they are).

pylti1p3's DeepLinkResource cannot say everything a gradebook column needs and sends
``"data": null``; we build the content items ourselves and only let it sign.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pylti1p3.deep_link import DeepLink

from lti_tool.lti import claims as c
from lti_tool.lti.tool_config import ToolRegistration

IAT_BACKDATE_SECONDS = 5
RESOURCE_LINK = "ltiResourceLink"


@dataclasses.dataclass(frozen=True)
class DeepLinkingSettings:
    """What the platform said it accepts in this deep-linking request."""

    return_url: str
    accept_types: tuple[str, ...]
    accept_multiple: bool
    accept_lineitem: bool
    data: str | None

    @property
    def accepts_links(self) -> bool:
        return RESOURCE_LINK in self.accept_types

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> DeepLinkingSettings:
        raw = claims.get(c.DEEP_LINKING_SETTINGS) or {}
        # Both are optional: several items only when the platform says so (the safe
        # reading); a line item unless the platform says it takes none.
        return cls(
            return_url=str(raw.get("deep_link_return_url") or ""),
            accept_types=tuple(str(t) for t in raw.get("accept_types") or ()),
            accept_multiple=raw.get("accept_multiple") is True,
            accept_lineitem=raw.get("accept_lineitem") is not False,
            data=raw.get("data") if isinstance(raw.get("data"), str) else None,
        )


class _DeepLink(DeepLink):
    def __init__(self, *args: Any, content_items: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(*args)
        self._content_items = [dict(item) for item in content_items]

    def get_message_jwt(self, resources: Any) -> dict[str, object]:
        message = super().get_message_jwt([])
        message[c.DEEP_LINKING_CONTENT_ITEMS] = self._content_items
        # Back-date iat a little: platforms' clocks drift and refuse "not yet valid" tokens.
        message["iat"] = int(time.time()) - IAT_BACKDATE_SECONDS
        # Echo data only when the request had it (pylti1p3 would send null).
        if message.get(c.DEEP_LINKING_DATA) is None:
            message.pop(c.DEEP_LINKING_DATA, None)
        return message


def resource_link(
    url: str,
    title: str,
    *,
    custom: Mapping[str, str] | None = None,
    line_item: Mapping[str, Any] | None = None,
    text: str = "",
) -> dict[str, Any]:
    """An ltiResourceLink content item; ``line_item`` makes the LMS create a grade column."""
    item: dict[str, Any] = {"type": RESOURCE_LINK, "title": title, "url": url}
    if text:
        item["text"] = text
    if custom:
        item["custom"] = dict(custom)
    if line_item:
        item["lineItem"] = dict(line_item)
    return item


def build_response(
    registration: ToolRegistration,
    claims: dict[str, Any],
    content_items: Sequence[Mapping[str, Any]],
) -> tuple[str, str]:
    """Return (deep_link_return_url, signed JWT) carrying these content items."""
    settings = claims[c.DEEP_LINKING_SETTINGS]
    deep_link = _DeepLink(
        registration, claims[c.DEPLOYMENT_ID], settings, content_items=content_items
    )
    return settings["deep_link_return_url"], deep_link.get_response_jwt([])
