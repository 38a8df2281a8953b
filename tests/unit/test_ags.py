"""The AGS client against a fake Moodle gradebook: tokens, scores, line items, failures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import responses

from lti_tool.lti import ags
from lti_tool.lti import claims as c
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.platform_keys import USER_AGENT
from lti_tool.lti.state import MemoryCache
from tests.fakes.gradebook import FakeGradebook

ISSUER = "https://moodle.example"
TOKEN_URL = ISSUER + "/mod/lti/token.php"
CLIENT_ID = "auffGzzy3jyjcuA"
AUTH = ags.PlatformAuth(platform_id=7, client_id=CLIENT_ID, token_url=TOKEN_URL)
SCORE = {
    "userId": "4",
    "scoreGiven": 85,
    "scoreMaximum": 100,
    "activityProgress": "Completed",
    "gradingProgress": "FullyGraded",
    "timestamp": "2026-11-22T10:35:46.041+00:00",
    "comment": "Bestått INFOSEC modul 1 (85/100)",
}


class RecordingCache(MemoryCache):
    """The in-process cache, noting how long each entry was kept for."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: dict[str, int] = {}

    def set(self, key: str, value: Any, ttl: int) -> None:
        self.ttls[key] = ttl
        super().set(key, value, ttl)


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    ring = KeyRing(Path(tmp_path_factory.mktemp("tool-keys")), 7)
    ring.rotate()
    return ring


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def gradebook(http: responses.RequestsMock, keyring: KeyRing) -> FakeGradebook:
    return FakeGradebook(ISSUER, http, TOKEN_URL, client_id=CLIENT_ID, tool_jwks=keyring.jwks())


@pytest.fixture
def cache() -> RecordingCache:
    return RecordingCache()


@pytest.fixture
def client(cache: RecordingCache, keyring: KeyRing) -> ags.AgsClient:
    return ags.AgsClient(cache, keyring, timeout=5)


def test_scores_url_keeps_the_query_string():
    lineitem = "http://localhost:8080/mod/lti/services.php/2/lineitems/2/lineitem?type_id=1"
    assert (
        ags.scores_url(lineitem)
        == "http://localhost:8080/mod/lti/services.php/2/lineitems/2/lineitem/scores?type_id=1"
    )
    assert ags.scores_url("https://canvas.example/api/lti/courses/1/line_items/5") == (
        "https://canvas.example/api/lti/courses/1/line_items/5/scores"
    )
    assert ags.scores_url("https://lms.example/li/5/?a=1&b=2") == (
        "https://lms.example/li/5/scores?a=1&b=2"
    )


def test_with_query_adds_a_parameter_and_keeps_the_others():
    url = "http://localhost:8080/mod/lti/services.php/2/lineitems?type_id=1"
    assert ags.with_query(url, resource_id="quiz 2") == url + "&resource_id=quiz+2"
    assert ags.with_query(url + "&resource_id=old", resource_id="new") == (url + "&resource_id=new")


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (None, False),
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (408, False),
        (422, True),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
        (302, True),
    ],
)
def test_which_failures_are_permanent(status, permanent):
    assert ags.is_permanent(status) is permanent
    assert ags.AgsError("x", status=status).permanent is permanent


def test_endpoint_claim_is_read_with_its_scopes():
    claim = {
        "scope": [ags.SCOPE_LINEITEM, ags.SCOPE_SCORE],
        "lineitems": "https://m.example/lineitems?type_id=1",
        "lineitem": "https://m.example/lineitems/2/lineitem?type_id=1",
        "unknown": "ignored",
    }
    endpoint = ags.endpoint_from_claims({c.AGS_ENDPOINT: claim})
    assert endpoint == ags.AgsEndpoint(
        scopes=frozenset({ags.SCOPE_LINEITEM, ags.SCOPE_SCORE}),
        lineitems=claim["lineitems"],
        lineitem=claim["lineitem"],
    )
    assert endpoint.grants(ags.SCOPE_SCORE)
    assert not endpoint.grants(ags.SCOPE_SCORE, ags.SCOPE_RESULT_READONLY)
    with pytest.raises(ags.ScopeMissing) as missing:
        endpoint.require(ags.SCOPE_RESULT_READONLY)
    assert missing.value.permanent
    assert ags.endpoint_from_claims({}) is None
    assert ags.endpoint_from_claims({c.AGS_ENDPOINT: {"scope": "not a list"}}) is None


def test_access_token_is_a_client_credentials_grant_with_a_signed_assertion(
    gradebook, client, keyring, http
):
    before = int(time.time())
    token = client.access_token(AUTH, [ags.SCOPE_SCORE, ags.SCOPE_LINEITEM])

    assert token in gradebook.valid_tokens
    request = http.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["User-Agent"] == USER_AGENT
    assert gradebook.token_scopes == [sorted([ags.SCOPE_SCORE, ags.SCOPE_LINEITEM])]
    (claims,) = gradebook.assertions  # verified against the tool's JWKS by the fake
    assertion = dict(x.split("=", 1) for x in request.body.split("&"))["client_assertion"]
    assert jwt.get_unverified_header(assertion)["kid"] == keyring.signing_key().kid
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert claims["iat"] < before  # back-dated: platforms' clocks drift
    assert claims["exp"] > before + 60
    assert claims["jti"]


def test_assertion_audience_may_differ_from_the_token_url(client, gradebook, keyring):
    auth = ags.PlatformAuth(7, CLIENT_ID, TOKEN_URL, audience="https://auth.example/aud")
    claims = jwt.decode(client.client_assertion(auth), options={"verify_signature": False})
    assert claims["aud"] == "https://auth.example/aud"


def test_token_is_cached_per_platform_and_scopes_until_shortly_before_expiry(
    gradebook, client, cache
):
    first = client.access_token(AUTH, [ags.SCOPE_SCORE])
    assert client.access_token(AUTH, [ags.SCOPE_SCORE]) == first
    assert gradebook.token_calls == 1
    (ttl,) = cache.ttls.values()
    assert ttl == 3600 - ags.TOKEN_MARGIN_SECONDS

    # Another scope set, or another platform, is another token.
    assert client.access_token(AUTH, [ags.SCOPE_LINEITEM, ags.SCOPE_SCORE]) != first
    other = ags.PlatformAuth(8, CLIENT_ID, TOKEN_URL)
    assert client.access_token(other, [ags.SCOPE_SCORE]) != first
    assert gradebook.token_calls == 3
    # The order scopes are given in does not matter.
    assert client.access_token(AUTH, [ags.SCOPE_SCORE, ags.SCOPE_LINEITEM]) != first
    assert gradebook.token_calls == 3


def test_another_worker_sharing_the_cache_uses_the_same_token(gradebook, client, cache, keyring):
    token = client.access_token(AUTH, [ags.SCOPE_SCORE])
    other_worker = ags.AgsClient(cache, keyring, timeout=5)
    assert other_worker.access_token(AUTH, [ags.SCOPE_SCORE]) == token
    assert gradebook.token_calls == 1


def test_expires_in_is_honoured_and_defaults_to_an_hour(gradebook, client, cache):
    gradebook.expires_in = 30  # shorter than the margin: used once, never cached
    client.access_token(AUTH, [ags.SCOPE_SCORE])
    client.access_token(AUTH, [ags.SCOPE_SCORE])
    assert gradebook.token_calls == 2
    assert cache.ttls == {}

    gradebook.expires_in = None  # left out by the platform
    client.access_token(AUTH, [ags.SCOPE_LINEITEM])
    assert list(cache.ttls.values()) == [3600 - ags.TOKEN_MARGIN_SECONDS]


def test_refused_token_request_is_permanent_with_the_platforms_answer(http, cache, tmp_path):
    stranger = KeyRing(tmp_path, 7)  # not the key the platform knows
    stranger.rotate()
    known = KeyRing(tmp_path / "known", 7)
    known.rotate()
    FakeGradebook(ISSUER, http, TOKEN_URL, client_id=CLIENT_ID, tool_jwks=known.jwks())
    with pytest.raises(ags.AgsError) as refused:
        ags.AgsClient(cache, stranger, timeout=5).access_token(AUTH, [ags.SCOPE_SCORE])
    assert refused.value.status == 401
    assert refused.value.permanent
    assert "invalid_client" in refused.value.body


def test_token_answer_that_is_not_a_token_is_temporary(http, client):
    http.add(responses.POST, TOKEN_URL, body="<html>maintenance</html>", status=200)
    with pytest.raises(ags.AgsError) as failed:
        client.access_token(AUTH, [ags.SCOPE_SCORE])
    assert failed.value.status == 200
    assert not failed.value.permanent
    assert "maintenance" in failed.value.body


def test_token_answer_without_access_token_is_refused(http, client):
    http.add(responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3600})
    with pytest.raises(ags.AgsError, match="not an OAuth2 token response"):
        client.access_token(AUTH, [ags.SCOPE_SCORE])


def test_post_score_keeps_the_query_and_sends_the_score_as_is(gradebook, client, http):
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    assert client.post_score(AUTH, lineitem, SCORE) == 200

    assert gradebook.scores[lineitem]["4"] == [SCORE]
    request = http.calls[-1].request
    assert request.url == lineitem.replace("/lineitem?", "/lineitem/scores?")
    assert request.url.endswith("/lineitems/2/lineitem/scores?type_id=1")
    assert request.headers["Content-Type"] == "application/vnd.ims.lis.v1.score+json"
    assert request.headers["Authorization"].startswith("Bearer token-")
    assert request.headers["User-Agent"] == USER_AGENT
    assert json.loads(request.body) == SCORE


def test_post_score_gets_a_new_token_once_after_a_401(gradebook, client):
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    client.post_score(AUTH, lineitem, SCORE)
    gradebook.expire_tokens()  # the platform forgot the token before it said it would

    client.post_score(AUTH, lineitem, {**SCORE, "timestamp": "2026-11-22T10:36:00.000+00:00"})

    assert gradebook.token_calls == 2
    assert [status for _, _, status in gradebook.calls("POST", "/scores")] == [200, 401, 200]
    assert len(gradebook.scores[lineitem]["4"]) == 2


def test_a_401_with_a_fresh_token_is_permanent(gradebook, client, http):
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    gradebook.valid_tokens = _NeverValid()  # every token refused, even a new one
    with pytest.raises(ags.AgsError) as refused:
        client.post_score(AUTH, lineitem, SCORE)
    assert refused.value.status == 401
    assert refused.value.permanent
    assert gradebook.token_calls == 2  # one retry, not more
    assert len(gradebook.calls("POST", "/scores")) == 2


class _NeverValid(set):
    def __contains__(self, item: object) -> bool:
        return False


@pytest.mark.parametrize(
    ("down", "status"),
    [
        (503, 503),
        (requests.ConnectionError("connection refused"), None),
        (requests.Timeout("read timed out"), None),
    ],
)
def test_outages_are_temporary(gradebook, client, down, status):
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    gradebook.down = down
    with pytest.raises(ags.AgsError) as failed:
        client.post_score(AUTH, lineitem, SCORE)
    assert failed.value.status == status
    assert not failed.value.permanent


def test_a_refused_score_is_permanent_and_keeps_the_platforms_answer(gradebook, client, caplog):
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    gradebook.refuse_with(400, '{"error": "Incorrect score received"}')
    with pytest.raises(ags.AgsError) as refused:
        client.post_score(AUTH, lineitem, SCORE)
    assert refused.value.status == 400
    assert refused.value.permanent
    assert refused.value.body == '{"error": "Incorrect score received"}'
    assert "Incorrect score received" in caplog.text  # logged at warning for the admin


def test_too_many_requests_is_temporary_and_says_when_to_come_back(gradebook, client):
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    gradebook.refuse_with(429, headers={"Retry-After": "120"})
    with pytest.raises(ags.AgsError) as limited:
        client.post_score(AUTH, lineitem, SCORE)
    assert limited.value.status == 429
    assert not limited.value.permanent
    assert limited.value.retry_after == 120


def test_find_line_item_by_resource_id_keeping_type_id(gradebook, client):
    gradebook.add_line_item("INFOSEC modul 1", 100)
    wanted = gradebook.add_line_item("Kartlegging", 10, resource_id="mapping-7", tag="mapping")

    found = client.find_or_create_line_item(
        AUTH, gradebook.lineitems_url, "mapping-7", "Kartlegging", 10, "mapping"
    )

    assert found == wanted
    assert gradebook.created == []
    ((_, url, _),) = gradebook.calls("GET")
    assert url == gradebook.lineitems_url + "&resource_id=mapping-7"


def test_find_line_item_follows_next_pages_when_the_platform_does_not_filter(gradebook, client):
    for n in range(4):
        gradebook.add_line_item(f"Item {n}", 10, resource_id=f"other-{n}")
    wanted = gradebook.add_line_item("Kartlegging", 10, resource_id="mapping-7")
    gradebook.filters_by_resource_id = False
    gradebook.page_size = 2

    found = client.find_line_item(AUTH, gradebook.lineitems_url, "mapping-7")

    assert found == wanted
    assert len(gradebook.calls("GET")) == 3
    assert all("type_id=1" in url for _, url, _ in gradebook.calls("GET"))


def test_missing_line_item_is_created(gradebook, client, http):
    gradebook.add_line_item("INFOSEC modul 1", 100)

    created = client.find_or_create_line_item(
        AUTH, gradebook.lineitems_url, "mapping-7", "Kartlegging", 10, "mapping"
    )

    assert gradebook.created == [
        {"scoreMaximum": 10, "label": "Kartlegging", "resourceId": "mapping-7", "tag": "mapping"}
    ]
    assert created == gradebook.base + "/lineitems/3/lineitem?type_id=1"
    post = http.calls[-1].request
    assert post.url == gradebook.lineitems_url
    assert post.headers["Content-Type"] == "application/vnd.ims.lis.v2.lineitem+json"
    # Found, not created again, the next time.
    again = client.find_or_create_line_item(
        AUTH, gradebook.lineitems_url, "mapping-7", "Kartlegging", 10, "mapping"
    )
    assert again == created
    assert len(gradebook.created) == 1


def test_a_container_that_is_not_a_list_is_not_trusted(http, client):
    http.add(responses.POST, TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    lineitems = ISSUER + "/lineitems"
    http.add(responses.GET, lineitems, json={"lineItems": []})
    with pytest.raises(ags.AgsError, match="not an AGS answer") as failed:
        client.find_line_item(AUTH, lineitems, "x")
    assert not failed.value.permanent


def test_a_created_line_item_without_id_is_not_trusted(http, client):
    http.add(responses.POST, TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    lineitems = ISSUER + "/lineitems"
    http.add(responses.POST, lineitems, json={"label": "x", "scoreMaximum": 1}, status=201)
    with pytest.raises(ags.AgsError, match="not an AGS answer"):
        client.create_line_item(AUTH, lineitems, resource_id="r", label="x", score_maximum=1)


def test_no_redirects_are_followed(http, client):
    http.add(responses.POST, TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    lineitem = ISSUER + "/lineitems/2/lineitem"
    http.add(
        responses.POST,
        lineitem + "/scores",
        status=301,
        headers={"Location": "https://elsewhere.example/scores"},
    )
    with pytest.raises(ags.AgsError) as failed:
        client.post_score(AUTH, lineitem, SCORE)
    assert failed.value.status == 301
    assert failed.value.permanent
    assert len(http.calls) == 2  # the token and the score, nothing at elsewhere.example


def test_in_production_the_client_refuses_private_addresses():
    from lti_tool.lti.keys import KeyRing
    from lti_tool.lti.state import MemoryCache

    client = ags.AgsClient(MemoryCache(), KeyRing("/nonexistent", 7), 5, allow_private=False)
    with pytest.raises(ags.AgsError) as refused:
        client._request("POST", "http://127.0.0.1:8080/mod/lti/services.php/2/lineitems?type_id=1")
    assert refused.value.permanent
    assert "private or local address" in str(refused.value)


def test_in_production_the_client_calls_the_allowed_internal_platform_only(http):
    from lti_tool.lti.allowed_hosts import parse_allowed_hosts
    from lti_tool.lti.keys import KeyRing
    from lti_tool.lti.state import MemoryCache

    client = ags.AgsClient(
        MemoryCache(),
        KeyRing("/nonexistent", 7),
        5,
        allow_private=False,
        allowed_hosts=parse_allowed_hosts(["127.0.0.0/8"]),
    )
    url = "http://127.0.0.1:8080/mod/lti/services.php/2/lineitems?type_id=1"
    http.add(responses.GET, url, json=[])
    assert client._request("GET", url).status_code == 200
    with pytest.raises(ags.AgsError) as refused:
        client._request("GET", "http://[::1]:8080/mod/lti/services.php/2/lineitems")
    assert refused.value.permanent
    assert "REGISTRATION_ALLOWED_HOSTS" in str(refused.value)


class ForgetfulCache(MemoryCache):
    """The shared cache while Redis fails a moment: it cannot forget a token."""

    def delete(self, key: str) -> None:
        pass


def test_after_a_401_the_new_token_is_fetched_even_when_the_cache_cannot_forget(gradebook, keyring):
    """A token the platform refused is not taken from the cache again (it would be
    refused again, and the score would wait for an administrator for good)."""
    client = ags.AgsClient(ForgetfulCache(), keyring, timeout=5)
    lineitem = gradebook.add_line_item("INFOSEC modul 1", 100)
    client.post_score(AUTH, lineitem, SCORE)
    gradebook.expire_tokens()

    client.post_score(AUTH, lineitem, {**SCORE, "timestamp": "2026-11-22T10:36:00.000+00:00"})

    assert gradebook.token_calls == 2
    assert [status for _, _, status in gradebook.calls("POST", "/scores")] == [200, 401, 200]
