"""A platform's gradebook (LTI AGS 2.0), faked with ``responses`` and shaped like Moodle's.

The token endpoint checks the client-credentials request and the tool's signed client
assertion (against the tool's JWKS when given) and hands out bearer tokens. The AGS
endpoints answer at Moodle's URLs — ``{issuer}/mod/lti/services.php/2/lineitems?type_id=1``
for the container, ``…/lineitems/<n>/lineitem?type_id=1`` for a line item, and
``…/lineitem/scores?type_id=1`` for its scores — and refuse what Moodle refuses: a
missing ``type_id``, an unknown or expired token, a score older than the last one.

Every score received is recorded per line item and user, in arrival order. Switches
simulate trouble: ``down`` (a status such as 503, or an exception such as
``requests.ConnectionError``), ``expire_tokens()`` and ``refuse_with(400)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
import responses

from lti_tool.lti import ags

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALL_SCOPES = [
    ags.SCOPE_LINEITEM,
    ags.SCOPE_LINEITEM_READONLY,
    ags.SCOPE_RESULT_READONLY,
    ags.SCOPE_SCORE,
]

Reply = tuple[int, dict[str, str], str] | Exception


def _json(status: int, body: Any, content_type: str = "application/json") -> Reply:
    return status, {"Content-Type": content_type}, json.dumps(body)


class FakeGradebook:
    __test__ = False

    def __init__(
        self,
        platform_issuer: str,
        http: responses.RequestsMock,
        token_url: str,
        *,
        client_id: str | None = None,
        tool_jwks: dict[str, Any] | None = None,
        context_id: str = "2",
        type_id: str = "1",
        expires_in: int | None = 3600,
    ) -> None:
        self.issuer = platform_issuer.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        #: The tool's published keys: client assertions are verified against them if given.
        self.tool_jwks = tool_jwks
        self.type_id = type_id
        #: What the token endpoint says (None: it leaves expires_in out).
        self.expires_in = expires_in
        self.base = f"{self.issuer}/mod/lti/services.php/{context_id}"
        self.lineitems_url = f"{self.base}/lineitems?type_id={type_id}"

        # What the platform holds and received.
        self.line_items: dict[int, dict[str, Any]] = {}
        self.scores: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        """Line item id (URL) → userId → every score received, oldest first."""
        self.received: list[tuple[str, dict[str, Any]]] = []
        """(scores URL, score) in arrival order, over every line item."""
        self.created: list[dict[str, Any]] = []
        self.graded: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        """Line item id (URL) → userId → a grade given in the LMS (``grade``)."""
        self.requests: list[tuple[str, str, int]] = []
        """(method, URL, status answered) of every call to the AGS endpoints."""
        self.token_calls = 0
        self.token_scopes: list[list[str]] = []
        self.assertions: list[dict[str, Any]] = []
        self.valid_tokens: set[str] = set()
        self._ids = itertools.count(2)  # Moodle's first line item in the sample is 2
        self._tokens = itertools.count(1)

        # Switches.
        self.down: int | Exception | None = None
        """Every endpoint answers this status, or raises this exception (no answer)."""
        self.refusal: tuple[int, dict[str, str], str] | None = None
        """Score posts are answered with this (status, body)."""
        self.filters_by_resource_id = True
        """False: the container ignores ``resource_id=`` (some platforms do)."""
        self.page_size: int | None = None
        """Page the container, linking the next page with ``Link: <…>; rel="next"``."""

        item = re.escape(self.base) + r"/lineitems/(\d+)/lineitem"
        query = r"(\?[^#]*)?$"
        http.add_callback(responses.POST, token_url, callback=self._token)
        http.add_callback(
            responses.GET, re.compile(re.escape(self.base) + "/lineitems" + query), self._container
        )
        http.add_callback(
            responses.POST, re.compile(re.escape(self.base) + "/lineitems" + query), self._create
        )
        http.add_callback(responses.GET, re.compile(item + query), self._line_item)
        http.add_callback(responses.POST, re.compile(item + "/scores" + query), self._score)
        http.add_callback(responses.GET, re.compile(item + "/results" + query), self._results)

    # --- what tests set up and look at ------------------------------------------------

    def add_line_item(
        self,
        label: str,
        score_maximum: float = 100,
        *,
        resource_id: str = "",
        tag: str = "",
        resource_link_id: str | None = None,
    ) -> str:
        """A line item the platform already has (Moodle makes one per graded activity)."""
        n = next(self._ids)
        url = f"{self.base}/lineitems/{n}/lineitem?type_id={self.type_id}"
        self.line_items[n] = {
            "id": url,
            "label": label,
            "scoreMaximum": score_maximum,
            "resourceId": resource_id,
            "tag": tag,
            **({"resourceLinkId": resource_link_id} if resource_link_id else {}),
        }
        return url

    def endpoint_claim(
        self, lineitem: str | None = None, scopes: list[str] | None = None
    ) -> dict[str, Any]:
        """The launch's AGS endpoint claim for this gradebook, as Moodle sends it."""
        claim: dict[str, Any] = {
            "scope": list(ALL_SCOPES if scopes is None else scopes),
            "lineitems": self.lineitems_url,
        }
        if lineitem:
            claim["lineitem"] = lineitem
        return claim

    def given(self, user_id: str, lineitem_url: str) -> list[float]:
        """The scoreGiven of every score received for the user on the line item, in order."""
        return [s["scoreGiven"] for s in self.scores[lineitem_url][user_id]]

    def grade(
        self, lineitem_url: str, user_id: str, score: float, maximum: float = 100, **extra: Any
    ) -> None:
        """A grade given in the LMS's gradebook (a teacher's, say), which its results
        service then answers for the user, as Moodle does."""
        self.graded[lineitem_url][user_id] = {
            "id": self._with(
                lineitem_url.replace("/lineitem?", "/lineitem/results?"), user_id=user_id
            ),
            "scoreOf": lineitem_url,
            "userId": user_id,
            "resultScore": score,
            "resultMaximum": maximum,
            "timestamp": "2027-03-14T10:35:46+01:00",
            **extra,
        }

    def expire_tokens(self) -> None:
        """Every token handed out so far is refused from now on (401)."""
        self.valid_tokens.clear()

    def refuse_with(
        self, status: int | None, body: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """Answer score posts with this status (None: accept them again)."""
        if status is None:
            self.refusal = None
        else:
            body = body or json.dumps({"error": f"refused with {status}"})
            self.refusal = (status, {"Content-Type": "application/json", **(headers or {})}, body)

    def calls(self, method: str, fragment: str = "") -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[0] == method and fragment in r[1]]

    # --- the token endpoint ------------------------------------------------------------

    def _token(self, request: Any) -> Reply:
        self.token_calls += 1
        if self.down is not None:
            return self._down()
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        form = dict(parse_qsl(body))
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return _json(400, {"error": "invalid_request"})
        try:
            claims = self._verify(form.get("client_assertion", ""))
        except (jwt.PyJWTError, LookupError, ValueError) as exc:
            return _json(401, {"error": "invalid_client", "error_description": str(exc)})
        self.assertions.append(claims)
        scopes = form.get("scope", "").split()
        self.token_scopes.append(scopes)
        token = f"token-{next(self._tokens)}"
        self.valid_tokens.add(token)
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return _json(200, answer, "text/html; charset=utf-8")  # sic: Moodle's content type

    def _verify(self, assertion: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(assertion)
        if header.get("alg") != "RS256":
            raise ValueError("client assertion must be RS256")
        if self.tool_jwks is None:
            claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
        else:
            found = [k for k in self.tool_jwks["keys"] if k["kid"] == header.get("kid")]
            if not found:
                raise LookupError(f"unknown kid {header.get('kid')!r}")
            jwk = found[0]
            key = jwt.PyJWK.from_dict(jwk, algorithm="RS256")
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=self.token_url,
                options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"]},
            )
        if self.client_id is not None and not claims["iss"] == claims["sub"] == self.client_id:
            raise ValueError("iss and sub must be the client_id")
        return claims

    # --- the AGS endpoints --------------------------------------------------------------

    def _down(self) -> Reply:
        if isinstance(self.down, Exception):
            return self.down
        return _json(int(self.down or 503), {"error": "service unavailable"})

    def _refuse_unauthorised(self, request: Any) -> Reply | None:
        """Moodle's checks before any AGS call: the platform is up, token, type_id."""
        if self.down is not None:
            return self._down()
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.valid_tokens:
            return _json(401, {"error": "invalid or expired access token"})
        if dict(parse_qsl(urlsplit(request.url).query)).get("type_id") != self.type_id:
            return _json(404, {"error": "no tool type given (type_id)"})
        return None

    def _answer(self, request: Any, reply: Reply) -> Reply:
        status = reply[0] if isinstance(reply, tuple) else 0
        self.requests.append((request.method, request.url, status))
        return reply

    def _container(self, request: Any) -> Reply:
        refused = self._refuse_unauthorised(request)
        if refused is not None:
            return self._answer(request, refused)
        if ags.LINEITEM_CONTAINER_TYPE not in request.headers.get("Accept", ""):
            return self._answer(request, _json(406, {"error": "Accept a line-item container"}))
        query = dict(parse_qsl(urlsplit(request.url).query))
        items = [self.line_items[n] for n in sorted(self.line_items)]
        if self.filters_by_resource_id and "resource_id" in query:
            items = [i for i in items if i["resourceId"] == query["resource_id"]]
        headers = {"Content-Type": ags.LINEITEM_CONTAINER_TYPE}
        if self.page_size:
            page = int(query.get("page", "1"))
            start = (page - 1) * self.page_size
            if start + self.page_size < len(items):
                headers["Link"] = f'<{self._with(request.url, page=str(page + 1))}>; rel="next"'
            items = items[start : start + self.page_size]
        return self._answer(request, (200, headers, json.dumps(items)))

    def _create(self, request: Any) -> Reply:
        refused = self._refuse_unauthorised(request)
        if refused is not None:
            return self._answer(request, refused)
        if request.headers.get("Content-Type") != ags.LINEITEM_TYPE:
            return self._answer(request, _json(415, {"error": "not a line item"}))
        body = json.loads(request.body)
        if not body.get("label") or not (body.get("scoreMaximum") or 0) > 0:
            return self._answer(request, _json(400, {"error": "label and scoreMaximum > 0"}))
        url = self.add_line_item(
            body["label"],
            body["scoreMaximum"],
            resource_id=body.get("resourceId", ""),
            tag=body.get("tag", ""),
        )
        self.created.append(body)
        item = self.line_items[int(re.findall(r"/lineitems/(\d+)/", url)[0])]
        return self._answer(request, _json(201, item, ags.LINEITEM_TYPE))

    def _line_item(self, request: Any) -> Reply:
        refused = self._refuse_unauthorised(request)
        if refused is not None:
            return self._answer(request, refused)
        item = self._item_of(request.url)
        if item is None:
            return self._answer(request, _json(404, {"error": "no such line item"}))
        return self._answer(request, _json(200, item, ags.LINEITEM_TYPE))

    def _item_of(self, url: str) -> dict[str, Any] | None:
        found = re.search(r"/lineitems/(\d+)/lineitem", url)
        return self.line_items.get(int(found.group(1))) if found else None

    def _score(self, request: Any) -> Reply:
        refused = self._refuse_unauthorised(request)
        if refused is not None:
            return self._answer(request, refused)
        item = self._item_of(request.url)
        if item is None:
            return self._answer(request, _json(404, {"error": "no such line item"}))
        if self.refusal is not None:
            return self._answer(request, self.refusal)
        if request.headers.get("Content-Type") != ags.SCORE_TYPE:
            return self._answer(request, _json(415, {"error": "not a score"}))
        score = json.loads(request.body)
        missing = {"userId", "activityProgress", "gradingProgress", "timestamp"} - set(score)
        if missing:
            return self._answer(request, _json(400, {"error": f"missing {sorted(missing)}"}))
        earlier = self.scores[item["id"]][score["userId"]]
        stamp = dt.datetime.fromisoformat(score["timestamp"])
        if earlier and stamp < dt.datetime.fromisoformat(earlier[-1]["timestamp"]):
            return self._answer(request, _json(400, {"error": "score with an earlier timestamp"}))
        earlier.append(score)
        self.received.append((request.url, score))
        return self._answer(request, (200, {"Content-Type": ags.SCORE_TYPE}, ""))

    def _results(self, request: Any) -> Reply:
        """The results of a line item (Moodle: a teacher's grade, else the latest score
        received), for one user with ``user_id=``."""
        refused = self._refuse_unauthorised(request)
        if refused is not None:
            return self._answer(request, refused)
        item = self._item_of(request.url)
        if item is None:
            return self._answer(request, _json(404, {"error": "no such line item"}))
        if ags.RESULT_CONTAINER_TYPE not in request.headers.get("Accept", ""):
            return self._answer(request, _json(406, {"error": "Accept a result container"}))
        wanted = dict(parse_qsl(urlsplit(request.url).query)).get("user_id")
        found = dict(self.graded.get(item["id"], {}))
        for user, scores in self.scores.get(item["id"], {}).items():
            if scores and user not in found:
                found[user] = {
                    "userId": user,
                    "resultScore": scores[-1]["scoreGiven"],
                    "resultMaximum": scores[-1]["scoreMaximum"],
                    "timestamp": scores[-1]["timestamp"],
                }
        results = [r for user, r in found.items() if wanted in (None, user)]
        headers = {"Content-Type": ags.RESULT_CONTAINER_TYPE}
        return self._answer(request, (200, headers, json.dumps(results)))

    @staticmethod
    def _with(url: str, **params: str) -> str:
        parts = urlsplit(url)
        query = {**dict(parse_qsl(parts.query)), **params}
        return urlunsplit(parts._replace(query=urlencode(query)))
