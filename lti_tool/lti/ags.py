"""LTI Assignment and Grade Services 2.0: access tokens, line items and scores.

Our own small client rather than pylti1p3's connector, which caches tokens per instance
only, ignores ``expires_in`` and never retries on 401. Here:

- access tokens (OAuth2 client credentials with a signed JWT client assertion) are cached
  per (platform, scopes) in the shared cache — Redis when configured, so every worker uses
  the same token — until shortly before they expire, and dropped and fetched again once
  when the platform answers 401;
- a score is posted to ``<line item path>/scores`` with the line item's query string kept
  (Moodle's ``?type_id=1``);
- a line item is found by ``resourceId`` in the line-item container (following
  ``Link: rel="next"`` pages), or created;
- every failure is one ``AgsError`` that says whether trying again later can help.

Everything the platform answers goes through a schema (``unknown=EXCLUDE``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
import requests
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from lti_tool import metrics, observability
from lti_tool.errors import PlatformConfigurationInvalid, RegistrationPlatformUnreachable
from lti_tool.lti import claims as c
from lti_tool.lti.allowed_hosts import NO_HOSTS, AllowedHosts
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.platform_keys import USER_AGENT
from lti_tool.lti.registration import check_outbound_url
from lti_tool.lti.state import Cache

log = logging.getLogger(__name__)

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_LINEITEM = AGS + "lineitem"
SCOPE_LINEITEM_READONLY = AGS + "lineitem.readonly"
SCOPE_RESULT_READONLY = AGS + "result.readonly"
SCOPE_SCORE = AGS + "score"

SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEM_CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULT_CONTAINER_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: A cached token is dropped this long before the platform says it expires.
TOKEN_MARGIN_SECONDS = 60
#: The client assertion's ``iat`` is back-dated by this much: platforms' clocks drift.
ASSERTION_BACKDATE_SECONDS = 5
ASSERTION_LIFETIME_SECONDS = 300
#: Bigger answers are not what AGS sends: stop reading (and fail) beyond this.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
#: How much of the platform's answer an error keeps (for the log and the admin page).
BODY_EXCERPT_CHARS = 500
#: A line-item container longer than this many pages is not followed further.
MAX_PAGES = 100


class AgsError(Exception):
    """A call to the platform's token or AGS endpoint failed.

    ``status`` is the HTTP status, None when no answer came (timeout, network error).
    ``permanent`` means sending the same request again cannot help (a 4xx other than 408
    and 429, a 401 even with a fresh token, an answer that is not AGS); otherwise it is
    temporary (5xx, 408, 429, timeouts, connection errors) and worth retrying later.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        permanent: bool | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.permanent = is_permanent(status) if permanent is None else permanent
        #: Seconds the platform asked us to wait (``Retry-After`` on 429/503), if it did.
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.message} ({where})" + (f": {self.body}" if self.body else "")


def is_permanent(status: int | None) -> bool:
    """Whether a call that ended with this status should not be tried again as it is."""
    if status is None:
        return False
    if status in (408, 429) or status >= 500:
        return False
    return status >= 300  # 4xx, and redirects (we follow none: the URL must be fixed)


class ScopeMissing(AgsError):
    """The launch's AGS claim does not grant a scope the call needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the platform did not grant {scope}", permanent=True)
        self.scope = scope


# --- what the launch says ------------------------------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE


class _EndpointClaimSchema(_Strict):
    scope = fields.List(fields.String(), load_default=list)
    lineitems = fields.String(allow_none=True, load_default=None)
    lineitem = fields.String(allow_none=True, load_default=None)


@dataclasses.dataclass(frozen=True)
class AgsEndpoint:
    """The launch's AGS endpoint claim: what the tool may do with the gradebook, and where."""

    scopes: frozenset[str]
    lineitems: str | None
    """The context's line-item container URL."""
    lineitem: str | None
    """The line item of the launched resource link, when the platform made one for it."""

    def grants(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes

    def require(self, *scopes: str) -> None:
        """Raise ``ScopeMissing`` unless the claim lists every one of these scopes."""
        for scope in scopes:
            if scope not in self.scopes:
                raise ScopeMissing(scope)


#: Made once (every launch with grades reads the claim); a schema loads from any thread.
_ENDPOINT_CLAIM = _EndpointClaimSchema()


def endpoint_from_claims(launch_claims: Mapping[str, Any]) -> AgsEndpoint | None:
    """The AGS endpoint of a launch; None when it has none (the LMS takes no grades).

    Moodle sends the claim only when the teacher ticked "accept grades" on the activity.
    A claim that is not shaped like AGS's is treated as absent (and logged).
    """
    raw = launch_claims.get(c.AGS_ENDPOINT)
    if raw is None:
        return None
    try:
        loaded = _ENDPOINT_CLAIM.load(raw if isinstance(raw, Mapping) else {"scope": raw})
    except ValidationError as exc:
        log.warning("ignoring a malformed AGS endpoint claim: %s", exc.messages)
        return None
    return AgsEndpoint(
        scopes=frozenset(loaded["scope"]),
        lineitems=loaded["lineitems"] or None,
        lineitem=loaded["lineitem"] or None,
    )


# --- URLs ----------------------------------------------------------------------------------


def scores_url(lineitem_url: str) -> str:
    """``…/lineitem?type_id=1`` → ``…/lineitem/scores?type_id=1``: the query is kept."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores", fragment=""))


def results_url(lineitem_url: str) -> str:
    """``…/lineitem?type_id=1`` → ``…/lineitem/results?type_id=1``: the query is kept."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/results", fragment=""))


def with_query(url: str, **params: str) -> str:
    """The URL with these query parameters set, every other one kept as it was."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query = urlencode([*kept, *params.items()])
    return urlunsplit(parts._replace(query=query, fragment=""))


# --- the platform's answers ------------------------------------------------------------------


class _TokenResponseSchema(_Strict):
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    token_type = fields.String(load_default="Bearer")
    expires_in = fields.Integer(load_default=3600, validate=validate.Range(min=0))


class _LineItemSchema(_Strict):
    id = fields.String(required=True, validate=validate.Length(min=1))
    label = fields.String(allow_none=True, load_default=None)
    resourceId = fields.String(allow_none=True, load_default=None)
    tag = fields.String(allow_none=True, load_default=None)
    scoreMaximum = fields.Float(allow_none=True, load_default=None)


class _ResultSchema(_Strict):
    userId = fields.String(required=True, validate=validate.Length(min=1))
    resultScore = fields.Float(allow_none=True, load_default=None)
    resultMaximum = fields.Float(allow_none=True, load_default=None)
    timestamp = fields.AwareDateTime(allow_none=True, load_default=None)


@dataclasses.dataclass(frozen=True)
class Result:
    """What the platform holds for a user in a line item (AGS result service)."""

    user_id: str
    score: float | None
    maximum: float
    """AGS: 1 when the platform leaves it out."""
    timestamp: Any = None

    @property
    def percentage(self) -> float | None:
        if self.score is None or self.maximum <= 0:
            return None
        return round(100.0 * self.score / self.maximum, 1)


@dataclasses.dataclass(frozen=True)
class PlatformAuth:
    """What a token request needs to know of a platform registration (a plain snapshot,
    usable outside any database session)."""

    platform_id: int
    client_id: str
    token_url: str
    audience: str | None = None
    """The ``aud`` of our client assertions when it is not the token URL (rare)."""

    @classmethod
    def of(cls, platform: Any) -> PlatformAuth:
        """From a ``Platform`` row (or anything with its attributes)."""
        return cls(
            platform_id=platform.id,
            client_id=platform.client_id,
            token_url=platform.auth_token_url,
            audience=platform.auth_audience or None,
        )


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:BODY_EXCERPT_CHARS] + ("…" if len(flat) > BODY_EXCERPT_CHARS else "")


def _call_kind(headers: Mapping[str, str]) -> str:
    """What a call is, for the metrics: a token, NRPS's members, or else AGS."""
    if "Authorization" not in headers:
        return "token"
    if "membership" in headers.get("Accept", ""):
        return "nrps"
    return "ags"


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


class AgsClient:
    """Calls to one tool's platforms, sharing access tokens through ``cache``."""

    def __init__(
        self,
        cache: Cache,
        keyring: KeyRing,
        timeout: int,
        *,
        token_margin: int = TOKEN_MARGIN_SECONDS,
        allow_private: bool = True,
        allowed_hosts: AllowedHosts = NO_HOSTS,
    ) -> None:
        self.cache = cache
        self.keyring = keyring
        self.timeout = timeout
        self.token_margin = token_margin
        #: False (production): refuse URLs on private or local addresses, which a platform's
        #: launch claims could otherwise make the worker call (server-side request forgery).
        self.allow_private = allow_private
        #: The private hosts allowed all the same (REGISTRATION_ALLOWED_HOSTS).
        self.allowed_hosts = allowed_hosts

    @classmethod
    def from_services(cls, services: Any) -> AgsClient:
        """The client of an app's ``LtiServices`` (its cache, keys and HTTP timeout)."""
        settings = services.settings
        return cls(
            services.cache,
            services.keyring,
            settings.HTTP_TIMEOUT_SECONDS,
            allow_private=settings.registration_allows_private_hosts,
            allowed_hosts=settings.registration_allowed_hosts,
        )

    # --- HTTP --------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One call: our User-Agent and the request id, the timeout, no redirects, at most
        MAX_RESPONSE_BYTES; timed and counted in the metrics."""
        headers = {
            "User-Agent": USER_AGENT,
            **observability.outgoing_headers(),
            **kwargs.pop("headers", {}),
        }
        self._check_address(method, url)
        try:
            with metrics.lms_call(_call_kind(headers)) as outcome:
                response = requests.request(
                    method,
                    url,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                    **kwargs,
                )
                outcome["status"] = response.status_code
                content = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise AgsError(f"{method} {url}: {type(exc).__name__}: {exc}", status=None) from exc
        if len(content) > MAX_RESPONSE_BYTES:
            raise AgsError(f"{method} {url}: answer larger than {MAX_RESPONSE_BYTES} bytes")
        response._content = content  # the body read under the cap, for .json()/.text
        return response

    def _check_address(self, method: str, url: str) -> None:
        if self.allow_private:
            return
        try:
            check_outbound_url(url, allow_private=False, allowed=self.allowed_hosts)
        except RegistrationPlatformUnreachable as exc:  # DNS away for a moment: try again
            raise AgsError(f"{method} {url}: {exc.detail}", status=None) from exc
        except PlatformConfigurationInvalid as exc:
            raise AgsError(f"{method} {url}: {exc.detail}", status=None, permanent=True) from exc

    def _fail(self, method: str, url: str, response: requests.Response) -> AgsError:
        body = excerpt(response.text)
        error = AgsError(
            f"{method} {url}",
            status=response.status_code,
            body=body,
            retry_after=_retry_after(response),
        )
        if 400 <= response.status_code < 500:
            log.warning("platform refused %s %s: HTTP %s %s", method, url, error.status, body)
        return error

    # --- access tokens -----------------------------------------------------------------

    def _token_key(self, auth: PlatformAuth, scopes: Iterable[str]) -> str:
        scope = " ".join(sorted(set(scopes)))
        digest = hashlib.sha256(f"{auth.token_url}\n{auth.client_id}\n{scope}".encode())
        return f"ags_token:{auth.platform_id}:{digest.hexdigest()[:32]}"

    def client_assertion(self, auth: PlatformAuth) -> str:
        """The JWT that authenticates the tool at the platform's token endpoint."""
        key = self.keyring.signing_key()
        now = int(time.time())
        claims = {
            "iss": auth.client_id,
            "sub": auth.client_id,
            "aud": auth.audience or auth.token_url,
            "iat": now - ASSERTION_BACKDATE_SECONDS,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, key.private_pem(), algorithm="RS256", headers={"kid": key.kid})

    def access_token(
        self, auth: PlatformAuth, scopes: Iterable[str], *, fresh: bool = False
    ) -> str:
        """A bearer token for these scopes: from the shared cache, else (or ``fresh``) a
        new one."""
        wanted = sorted(set(scopes))
        key = self._token_key(auth, wanted)
        cached = None if fresh else self.cache.get(key)
        if isinstance(cached, str) and cached:
            return cached
        url = auth.token_url
        response = self._request(
            "POST",
            url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self.client_assertion(auth),
                "scope": " ".join(wanted),
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self._fail("POST", url, response)
        try:
            # Moodle answers with Content-Type text/html: read the body as JSON whatever it says.
            body = json.loads(response.content or b"null")
            loaded = _TokenResponseSchema().load(body if isinstance(body, Mapping) else {})
        except (ValueError, ValidationError) as exc:
            raise AgsError(
                f"POST {url}: not an OAuth2 token response",
                status=response.status_code,
                body=excerpt(response.text),
                permanent=False,
            ) from exc
        ttl = loaded["expires_in"] - self.token_margin
        if ttl > 0:
            self.cache.set(key, loaded["access_token"], ttl)
        log.info("got an AGS access token from %s (expires in %ss)", url, loaded["expires_in"])
        token: str = loaded["access_token"]
        return token

    def invalidate(self, auth: PlatformAuth, scopes: Iterable[str]) -> None:
        """Forget the cached token (the platform answered 401 to it)."""
        self.cache.delete(self._token_key(auth, scopes))

    def _authorized(
        self, auth: PlatformAuth, scopes: Iterable[str], method: str, url: str, **kwargs: Any
    ) -> requests.Response:
        """A call with a bearer token; on 401 once more with a fresh token, then give up."""
        scopes = sorted(set(scopes))
        headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            # the second with a new token, even if the cache could not forget the refused
            # one (Redis failing a moment): a cached token again would be refused for good
            token = self.access_token(auth, scopes, fresh=attempt == 2)
            response = self._request(
                method, url, headers={**headers, "Authorization": "Bearer " + token}, **kwargs
            )
            if response.status_code != 401:
                return response
            self.invalidate(auth, scopes)
            if attempt == 1:
                log.info("%s %s: 401 with a cached token; fetching a new one", method, url)
        error = self._fail(method, url, response)
        error.permanent = True  # refused even with a token fetched just now
        raise error

    def get(
        self, auth: PlatformAuth, scopes: Iterable[str], url: str, accept: str
    ) -> requests.Response:
        """An authorized GET that the platform answered with 200; else an ``AgsError``."""
        response = self._authorized(auth, scopes, "GET", url, headers={"Accept": accept})
        if response.status_code != 200:
            raise self._fail("GET", url, response)
        return response

    # --- scores, results and line items -----------------------------------------------------

    def get_results(
        self,
        auth: PlatformAuth,
        lineitem_url: str,
        user_id: str,
        scopes: Iterable[str] = (SCOPE_RESULT_READONLY,),
    ) -> list[Result]:
        """What the platform holds for ``user_id`` in the line item (``?user_id=``; each
        result is checked, as not every platform filters)."""
        url = with_query(results_url(lineitem_url), user_id=user_id)
        response = self.get(auth, scopes, url, RESULT_CONTAINER_TYPE)
        loaded = self._load(_ResultSchema(many=True), "GET", url, response, many=True)
        return [
            Result(
                user_id=r["userId"],
                score=r["resultScore"],
                maximum=r["resultMaximum"] if r["resultMaximum"] is not None else 1.0,
                timestamp=r["timestamp"],
            )
            for r in loaded
            if r["userId"] == user_id
        ]

    def post_score(
        self,
        auth: PlatformAuth,
        lineitem_url: str,
        score: Mapping[str, Any],
        scopes: Iterable[str] = (SCOPE_SCORE,),
    ) -> int:
        """POST the score document to the line item's scores; returns the HTTP status."""
        url = scores_url(lineitem_url)
        response = self._authorized(
            auth,
            scopes,
            "POST",
            url,
            data=json.dumps(score).encode(),
            headers={"Content-Type": SCORE_TYPE, "Accept": "application/json"},
        )
        if not 200 <= response.status_code < 300:
            raise self._fail("POST", url, response)
        return response.status_code

    def find_line_item(
        self,
        auth: PlatformAuth,
        lineitems_url: str,
        resource_id: str,
        scopes: Iterable[str] = (SCOPE_LINEITEM,),
    ) -> str | None:
        """The id (URL) of the container's line item with this resourceId, if any.

        Asks the platform to filter by ``resource_id`` but checks each item itself (not
        every platform filters), and follows ``Link: <…>; rel="next"`` pages as given.
        """
        url: str | None = with_query(lineitems_url, resource_id=resource_id)
        seen: set[str] = set()
        while url and url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            response = self.get(auth, scopes, url, LINEITEM_CONTAINER_TYPE)
            items = self._load(_LineItemSchema(many=True), "GET", url, response, many=True)
            for item in items:
                if item["resourceId"] == resource_id:
                    found: str = item["id"]
                    return found
            url = response.links.get("next", {}).get("url")
        return None

    def create_line_item(
        self,
        auth: PlatformAuth,
        lineitems_url: str,
        *,
        resource_id: str,
        label: str,
        score_maximum: float,
        tag: str = "",
        scopes: Iterable[str] = (SCOPE_LINEITEM,),
    ) -> str:
        """POST a new line item to the container; returns its id (URL)."""
        body: dict[str, Any] = {
            "scoreMaximum": score_maximum,
            "label": label,
            "resourceId": resource_id,
        }
        if tag:
            body["tag"] = tag
        response = self._authorized(
            auth,
            scopes,
            "POST",
            lineitems_url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": LINEITEM_TYPE, "Accept": LINEITEM_TYPE},
        )
        if response.status_code not in (200, 201):
            raise self._fail("POST", lineitems_url, response)
        item = self._load(_LineItemSchema(), "POST", lineitems_url, response)
        created: str = item["id"]
        log.info("created line item %s (resourceId %s) in %s", created, resource_id, lineitems_url)
        return created

    def find_or_create_line_item(
        self,
        auth: PlatformAuth,
        lineitems_url: str,
        resource_id: str,
        label: str,
        score_maximum: float,
        tag: str = "",
        scopes: Iterable[str] = (SCOPE_LINEITEM,),
    ) -> str:
        """The line item with this resourceId in the container, created when missing."""
        found = self.find_line_item(auth, lineitems_url, resource_id, scopes)
        if found is not None:
            return found
        return self.create_line_item(
            auth,
            lineitems_url,
            resource_id=resource_id,
            label=label,
            score_maximum=score_maximum,
            tag=tag,
            scopes=scopes,
        )

    def _load(
        self,
        schema: Schema,
        method: str,
        url: str,
        response: requests.Response,
        many: bool = False,
    ) -> Any:
        try:
            body = json.loads(response.content or b"null")
            if many and not isinstance(body, list):
                raise ValueError("a container is a JSON array")
            if not many and not isinstance(body, Mapping):
                raise ValueError("a line item is a JSON object")
            return schema.load(body)
        except (ValueError, ValidationError) as exc:
            raise AgsError(
                f"{method} {url}: not an AGS answer ({exc})",
                status=response.status_code,
                body=excerpt(response.text),
                permanent=False,
            ) from exc
