"""LTI Names and Role Provisioning Services 2.0: a course's members, as the platform lists them.

The memberships URL comes from the launch's NRPS claim; the call uses the AGS client's
access tokens (the same shared cache, one token per platform and scope set) and its
guards: our User-Agent, the timeout, no redirects, a size cap, and no private hosts unless
allowed. Every failure is an ``ags.AgsError``, the one error of a call to the platform.

Platforms differ in shape, not in substance:

- Moodle answers in one page, with short role names (``Learner``), ``status``, names and
  e-mail (see shared/lms-samples/moodle-5.2/ags-nrps-exchange.json);
- Canvas pages with ``Link: <…>; rel="next"`` headers, sends full role URIs
  (``http://purl.imsglobal.org/vocab/lis/v2/membership#Learner``), and adds
  ``lti11_legacy_user_id`` and the like (left out here), names only when its privacy level
  allows.

Pages are followed through ``rel="next"`` only (``rel="differences"`` is ignored: the whole
roster is read each time), at most ``MAX_PAGES`` of them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

import requests
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates

from lti_tool.lti import claims as c
from lti_tool.lti.ags import AgsClient, AgsError, PlatformAuth, excerpt, with_query
from lti_tool.lti.roles import parse_role

log = logging.getLogger(__name__)

SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_CONTAINER_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
#: Members asked for per page (the spec's ``limit``); platforms may send fewer.
PAGE_SIZE = 100
#: A roster longer than this many pages is refused rather than shown incomplete.
MAX_PAGES = 100
#: The NRPS version the tool speaks; a claim that lists versions without it is not used.
VERSION = "2.0"


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE


#: The longest memberships URL the tool keeps (``CourseRoster.memberships_url``).
MAX_URL_LENGTH = 2048


class _ClaimSchema(_Strict):
    context_memberships_url = fields.String(required=True)
    service_versions = fields.List(fields.String(), load_default=list)

    @validates("context_memberships_url")
    def _storable(self, value: str, **kwargs: Any) -> None:
        if not c.storable_id(value, MAX_URL_LENGTH):
            raise ValidationError(f"empty, over {MAX_URL_LENGTH} characters, or holds NUL")


#: Made once (a launch reads the claim twice); a schema loads from any thread.
_CLAIM = _ClaimSchema()


def memberships_url_from_claims(launch_claims: Mapping[str, Any]) -> str | None:
    """The launch's context memberships URL; None when the platform offers no NRPS 2.0.

    A claim without ``service_versions`` is taken as 2.0 (the version LTI 1.3 requires).
    A URL the tool cannot keep (empty, over ``MAX_URL_LENGTH``, a NUL) is no offer
    either: the launch goes on, and the course's roster says the platform does
    not share its participants.
    """
    raw = launch_claims.get(c.NRPS)
    if raw is None:
        return None
    try:
        loaded = _CLAIM.load(raw if isinstance(raw, Mapping) else {})
    except ValidationError as exc:
        log.warning("ignoring a malformed NRPS claim: %s", exc.messages)
        return None
    if loaded["service_versions"] and VERSION not in loaded["service_versions"]:
        log.info("NRPS claim offers versions %s only", loaded["service_versions"])
        return None
    url: str = loaded["context_memberships_url"]
    return url


# --- the platform's answer ----------------------------------------------------------------


#: What the roster keeps of a member (``RosterMember``'s columns).
MAX_USER_ID, MAX_NAME, MAX_EMAIL, MAX_STATUS = 255, 300, 320, 20


class _MemberSchema(_Strict):
    """One member; text the tool cannot keep as sent is cleaned (``claims.PlatformText``),
    except the user id (``_page``)."""

    user_id = fields.String(required=True)
    status = c.PlatformText(load_default="Active", allow_none=True)
    roles = fields.List(c.PlatformText(), load_default=list)
    name = c.PlatformText(MAX_NAME, load_default=None, allow_none=True)
    given_name = c.PlatformText(MAX_NAME, load_default=None, allow_none=True)
    family_name = c.PlatformText(MAX_NAME, load_default=None, allow_none=True)
    email = c.PlatformText(MAX_EMAIL, load_default=None, allow_none=True)


class _ContextSchema(_Strict):
    id = c.PlatformText(load_default=None, allow_none=True)
    label = c.PlatformText(load_default=None, allow_none=True)
    title = c.PlatformText(300, load_default=None, allow_none=True)


class _ContainerSchema(_Strict):
    context = fields.Nested(_ContextSchema, load_default=None, allow_none=True)
    members = fields.List(fields.Raw(), required=True)


class TooManyPages(AgsError):
    """The roster runs past the page limit: refused rather than shown incomplete."""


@dataclasses.dataclass(frozen=True)
class Member:
    """One member as the roster keeps them: only what the page shows."""

    user_id: str
    """The platform's user id: the ``sub`` of the member's launches."""
    name: str
    email: str
    roles: tuple[str, ...]
    """Context role names, short form (``Learner``, ``Instructor``)."""
    status: str
    """active or inactive."""


@dataclasses.dataclass(frozen=True)
class Memberships:
    context_title: str | None
    members: list[Member]


def context_roles(roles: list[str]) -> tuple[str, ...]:
    """The context (membership) roles in their short names, in order, each once: Canvas's
    full URIs and Moodle's short names read alike; institution and system roles left out."""
    found: dict[str, None] = {}
    for role in map(parse_role, roles):
        if role.scope == "membership" and role.name:
            found[role.sub_role or role.name] = None
    return tuple(found)


def _status(raw: str | None) -> str:
    """``Active``, ``Inactive``, ``Deleted``, or the older ``…/status#Active`` URIs."""
    status = (raw or "Active").rpartition("#")[2].strip().lower() or "active"
    return status[:MAX_STATUS]  # what the roster keeps; any other status shows as such


def _member(loaded: Mapping[str, Any]) -> Member:
    full = " ".join(p for p in (loaded["given_name"], loaded["family_name"]) if p)
    return Member(
        user_id=loaded["user_id"],
        name=(loaded["name"] or full or "")[:MAX_NAME],
        email=loaded["email"] or "",
        roles=context_roles(loaded["roles"]),
        status=_status(loaded["status"]),
    )


def _page(url: str, response: requests.Response) -> tuple[str | None, list[Member]]:
    """The page's course title and members. A member whose user id the tool cannot keep
    as sent (a NUL, over ``MAX_USER_ID``) is left out, and logged: cut or cleaned, it
    could name another member, and no launch can carry it (``claims.storable_id``)."""
    try:
        body = json.loads(response.content or b"null")
        container = _ContainerSchema().load(body if isinstance(body, Mapping) else {})
        members = [
            _MemberSchema().load(m if isinstance(m, Mapping) else {}) for m in container["members"]
        ]
    except (ValueError, ValidationError) as exc:
        raise AgsError(
            f"GET {url}: not an NRPS membership container ({exc})",
            status=response.status_code,
            body=excerpt(response.text),
            permanent=False,
        ) from exc
    kept = [m for m in members if c.storable_id(m["user_id"], MAX_USER_ID)]
    if len(kept) < len(members):
        log.warning("GET %s: %d members left out: unusable user_id", url, len(members) - len(kept))
    title = (container["context"] or {}).get("title")
    return title, [_member(m) for m in kept]


def fetch_memberships(
    client: AgsClient, auth: PlatformAuth, memberships_url: str, *, max_pages: int | None = None
) -> Memberships:
    """Every current member of the course, following ``rel="next"`` pages.

    Members the platform lists as deleted are left out; a member listed twice (pages of a
    roster that changed while being read) counts once, the later listing winning. Raises
    ``AgsError`` on any failure, ``TooManyPages`` past ``max_pages`` pages.
    """
    max_pages = MAX_PAGES if max_pages is None else max_pages
    url: str | None = with_query(memberships_url, limit=str(PAGE_SIZE))
    seen: set[str] = set()
    title: str | None = None
    members: dict[str, Member] = {}
    while url:
        if url in seen:
            break  # a platform linking a page to itself: what was read is the roster
        if len(seen) >= max_pages:
            raise TooManyPages(
                f"GET {memberships_url}: more than {max_pages} pages", permanent=True
            )
        seen.add(url)
        response = client.get(auth, [SCOPE_MEMBERSHIPS], url, MEMBERSHIP_CONTAINER_TYPE)
        page_title, page = _page(url, response)
        title = title or page_title
        for member in page:
            members[member.user_id] = member
        url = response.links.get("next", {}).get("url")
    kept = [m for m in members.values() if m.status != "deleted"]
    log.info("read %d members in %d pages from %s", len(kept), len(seen), memberships_url)
    return Memberships(title, kept)
