"""Rate limits on what anyone may call without signing in: LTI login and launch, certificate
verification, calendar feeds, the API's Bearer tokens.

Counted by ``limits`` (the library Flask-Limiter is built on) in fixed windows: in Redis
when ``REDIS_URL`` is set, shared by every process and host, else in this process. A
request within its limit costs one Redis command and gets no headers (reading the window
for ``X-RateLimit-*`` would cost another); one over it is refused with 429 and
``Retry-After``. A limit is checked by its view only: Flask-Limiter, which hooked every
request, took 7.6 % of a learner's in-process launch flow; this took 4 % when measured
(bench/RESULTS.md). A limit that counts only refusals (the launch's: ``counted_only``)
costs a request that is not refused nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis import ConnectionPool, RedisError
from werkzeug.exceptions import TooManyRequests

from lti_tool.redis_pool import cannot_serve

T = TypeVar("T")  # a view or a Blueprint
LimitValue = Callable[[], str]
"""A limit as the settings write it (``"600 per minute"``; several: ``"10/second;600/minute"``),
read at each request: tests and deployments set it per app."""

EXTENSION = "rate_limits"
log = logging.getLogger(__name__)


def remote_address() -> str:
    """The client's address (as ProxyFix made it, behind trusted proxies)."""
    return request.remote_addr or "127.0.0.1"


def counted_address() -> str:
    """Count per client address; an IPv6 one per /64, the block one host is given (it may
    take any address in it, one per request). As proxies write it: with a port
    (``203.0.113.5:41234``, ``[2001:db8::1]:443``), an IPv4 client through a dual-stack
    socket (``::ffff:…``) or a NAT64 gateway (``64:ff9b::…``) counts as its IPv4 address."""
    address = remote_address().strip()
    host = address
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip in _NAT64:
        return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


#: The well-known NAT64 prefix (RFC 6052): an IPv4 client's address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@functools.lru_cache(maxsize=64)
def _parsed(value: str) -> tuple[RateLimitItem, ...]:
    """The limits of ``value``, the shortest window first: a request it refuses is not
    counted against the longer ones (as Flask-Limiter checked them)."""
    return tuple(sorted(parse_many(value), key=lambda limit: limit.get_expiry()))


class _Counter:
    """One app's windows: its storage and the prefix its keys share."""

    def __init__(
        self, storage_uri: str, key_prefix: str, connection_pool: ConnectionPool | None
    ) -> None:
        storage = (
            storage_from_string(storage_uri)
            if connection_pool is None
            else RedisStorage(storage_uri, connection_pool=connection_pool)
        )
        self.strategy = FixedWindowRateLimiter(storage)
        #: While Redis fails, the limits count in this process (as Flask-Limiter's
        #: in-memory fallback): what needs no Redis otherwise (``/verify``, the calendar
        #: feeds, the API) keeps answering, still limited.
        self.fallback = (
            FixedWindowRateLimiter(MemoryStorage()) if connection_pool is not None else None
        )
        self.key_prefix = key_prefix

    def hit(self, limits: tuple[RateLimitItem, ...], scope: str, key: str) -> None:
        """Count one request against each limit; refuse it when one is used up."""
        strategy = self.strategy
        for limit in limits:
            try:
                allowed = strategy.hit(limit, self.key_prefix, scope, key)
            except RedisError as exc:
                if self.fallback is None or not cannot_serve(exc):
                    raise
                strategy = self.fallback  # this limit and the next count in this process
                allowed = strategy.hit(limit, self.key_prefix, scope, key)
            if not allowed:
                log.info("rate limit %s reached on %s", limit, scope)
                raise TooManyRequests(retry_after=self._wait(strategy, limit, scope, key))

    def _wait(
        self, strategy: FixedWindowRateLimiter, limit: RateLimitItem, scope: str, key: str
    ) -> int:
        """Seconds until ``limit``'s window ends; the whole window when Redis, which
        refused the request a moment ago, does not say."""
        try:
            reset_at = strategy.get_window_stats(limit, self.key_prefix, scope, key).reset_time
        except RedisError as exc:
            if not cannot_serve(exc):
                raise
            return int(limit.get_expiry())
        return max(1, math.ceil(reset_at - time.time()))


def _count_refusal(count: Callable[[], None], refusal: Exception) -> None:
    """Count a refused request. Within the limit the refusal is answered as it was; past
    it, 429 (``TooManyRequests``, caused by the refusal, which the error handlers still
    log by its reason). Redis answering the count with an error is logged, and the
    refusal answered as it was."""
    try:
        count()
    except TooManyRequests as used_up:
        raise used_up from refusal
    except RedisError as exc:
        log.warning("a refusal not counted: %s: %s", type(exc).__name__, exc)


class RateLimits:
    """``limit(…)`` on a view or a blueprint; ``init_app`` gives each app its windows."""

    def init_app(
        self,
        app: Flask,
        storage_uri: str,
        key_prefix: str,
        connection_pool: ConnectionPool | None = None,
    ) -> None:
        """Count in ``storage_uri``; through ``connection_pool`` when given (the tool's own
        Redis pool, with its timeouts: a Redis that stops answering fails a login in
        seconds, not never, and the process keeps one pool, not two)."""
        app.extensions[EXTENSION] = _Counter(storage_uri, key_prefix, connection_pool)

    def limit(
        self,
        value: LimitValue,
        *,
        key: Callable[[], str] = counted_address,
        exempt_when: Callable[[], bool] | None = None,
        scope: str | None = None,
        counted_only: Callable[[Exception], bool] | None = None,
        refused_as: Callable[[], Exception] | None = None,
    ) -> Callable[[T], T]:
        """Limit a view (each view counts on its own unless given the same ``scope``) or
        every view of a blueprint together (one budget for all of them), per ``key`` (the
        client's address); ``exempt_when`` says which requests the limit leaves alone.

        ``counted_only`` (a view): only the requests whose view raises an exception it
        accepts are counted, and once they used the limit up those are answered 429 until
        the window ends; every other request goes on to its view, whatever the count.
        For what only a trusted party can make valid (an LTI launch, which the platform
        signs): those are never held back, however many come from one address, even
        while forged or replayed ones from it (someone else behind the same NAT) are.
        Refusing every request past the limit would have let anyone lock a whole
        municipality's address out for the window. The price: a refusal past the limit
        still does its view's work first. For a launch that is little when its state is
        unknown (one Redis round trip, as much as testing the window before the view
        would cost); with a state of its own (a login started at the tool, itself
        limited by ``LOGIN_RATE_LIMIT``) it goes on to the key and the signature, and an
        unknown key fetches the platform's JWKS at most once per cooldown
        (``platform_keys``).

        ``refused_as``: what a request refused by the limit is, as the 429's cause (the
        login's: ``TooManyLogins``, logged and counted as a refusal by its reason)."""

        def check(counted_as: str) -> None:
            if exempt_when is not None and exempt_when():
                return
            counter: _Counter = current_app.extensions[EXTENSION]
            try:
                counter.hit(_parsed(value()), counted_as, key())
            except TooManyRequests as used_up:
                if refused_as is None:
                    raise
                raise used_up from refused_as()

        def apply(target: T) -> T:
            if isinstance(target, Blueprint):
                if counted_only is not None:
                    raise TypeError("counted_only limits a view: a blueprint's are not seen")
                counted_as = scope or target.name
                target.before_request(lambda: check(counted_as))
                return target
            view: Callable[..., Any] = target  # type: ignore[assignment]
            view_scope = scope or f"{view.__module__}.{view.__qualname__}"

            @functools.wraps(view)
            def limited(*args: Any, **kwargs: Any) -> Any:
                if counted_only is None:
                    check(view_scope)
                    return view(*args, **kwargs)
                try:
                    return view(*args, **kwargs)
                except Exception as exc:
                    if counted_only(exc):
                        _count_refusal(lambda: check(view_scope), exc)
                    raise

            return limited  # type: ignore[return-value]

        return apply
