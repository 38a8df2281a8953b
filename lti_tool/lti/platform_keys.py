"""The platforms' public keys: fetched from their JWKS URL, cached, refetched once on an
unknown ``kid`` (platforms rotate keys; D2L every hour)."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWKError, PyJWTError
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from lti_tool import metrics, observability
from lti_tool.errors import PlatformUnreachable, UnknownKey
from lti_tool.lti.state import Cache

log = logging.getLogger(__name__)

USER_AGENT = "Laeringslop-LTI-Tool/0.1 (+https://www.imsglobal.org/spec/lti/v1p3)"


class _JwksSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    keys = fields.List(fields.Dict(), required=True)


class PlatformKeys:
    REFETCH_COOLDOWN = 10
    #: How long this process keeps a key it has parsed (at most the cache's ``ttl``): a
    #: launch then neither reads the shared cache nor parses the key again.
    PARSED_SECONDS = 300

    def __init__(self, cache: Cache, ttl: int, timeout: int) -> None:
        self.cache = cache
        self.ttl = ttl
        self.timeout = timeout
        self._parsed: dict[tuple[str, str, str], tuple[float, PyJWK]] = {}

    def _cache_key(self, jwks_url: str) -> str:
        return "jwks:" + hashlib.sha256(jwks_url.encode()).hexdigest()

    def fetch(self, jwks_url: str) -> list[dict[str, Any]]:
        headers = {"User-Agent": USER_AGENT, **observability.outgoing_headers()}
        try:
            with metrics.lms_call("jwks") as outcome:
                response = requests.get(jwks_url, timeout=self.timeout, headers=headers)
                outcome["status"] = response.status_code
            response.raise_for_status()
            keys: list[dict[str, Any]] = _JwksSchema().load(response.json())["keys"]
        except (requests.RequestException, ValueError, ValidationError) as exc:
            raise PlatformUnreachable(f"JWKS {jwks_url}: {exc}") from exc
        self.cache.set(self._cache_key(jwks_url), keys, self.ttl)
        return keys

    def key_for(self, jwks_url: str, kid: str | None, alg: str) -> PyJWK:
        """The platform's key with this kid: from the cache, else one fresh fetch.

        A refetch for an unknown kid is allowed once per ``REFETCH_COOLDOWN`` seconds, so
        tokens with made-up kids cannot make the tool hammer the platform.
        """
        if not kid or not isinstance(kid, str):
            raise UnknownKey(f"id_token header has no kid, or not a string: {kid!r:.40}")
        parsed = self._parsed.get((jwks_url, kid, alg))
        if parsed is not None and parsed[0] > time.monotonic():
            return parsed[1]
        found = self._key_for(jwks_url, kid, alg)
        expires = time.monotonic() + min(self.ttl, self.PARSED_SECONDS)
        self._parsed[(jwks_url, kid, alg)] = (expires, found)
        return found

    def _key_for(self, jwks_url: str, kid: str, alg: str) -> PyJWK:
        cache_key = self._cache_key(jwks_url)
        cached = self.cache.get(cache_key)
        if cached is not None:
            found = _find(cached, kid, alg, jwks_url)
            if found is not None:
                return found
            if self.cache.get(cache_key + ":refetched"):
                raise UnknownKey(f"kid {kid!r} not in {jwks_url} (refetched recently)")
            self.cache.set(cache_key + ":refetched", True, self.REFETCH_COOLDOWN)
        keys = self.fetch(jwks_url)
        log.info("fetched platform JWKS %s (%d keys)", jwks_url, len(keys))
        found = _find(keys, kid, alg, jwks_url)
        if found is None:
            raise UnknownKey(f"kid {kid!r} not in {jwks_url}")
        return found


def _find(keys: list[dict[str, Any]], kid: str, alg: str, jwks_url: str) -> PyJWK | None:
    """The key with this kid; a key that names its algorithm is only used with that one."""
    for jwk in keys:
        if jwk.get("kid") == kid:
            declared = jwk.get("alg")
            if declared and declared != alg:
                raise UnknownKey(f"key {kid} in {jwks_url} is for {declared}, token uses {alg}")
            try:
                return PyJWK.from_dict(jwk, algorithm=alg)
            except (PyJWKError, PyJWTError) as exc:  # wrong kty, bad numbers, …
                raise UnknownKey(f"unusable key {kid} in {jwks_url}: {exc}") from exc
    return None
