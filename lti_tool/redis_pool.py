"""The tool's Redis connections, which fail at once for a few seconds after Redis failed.

Without this, a Redis that stops answering (paused, a host gone, a network that drops
packets) holds every request that asks it for the whole timeout, one after the other:
a web process's threads all wait, and pages that need Redis only for a moment (the
registry's generation, a rate limit) wait too. Once Redis has failed (a connection it
did not take, a command it did not answer in time), the pool refuses the next commands at
once, with the same ``ConnectionError`` (a 503 "try again in a moment" on a login), for
``retry_seconds``; then the next command first asks with a PING that waits about a
second, while the others keep being refused, and goes on if Redis answers. What can do
without Redis for a while (the pages' framing policy, the rate limits, the cache of the
LMS's tokens) does so meanwhile.

Every client on the pool shares this: the tool's own, and the rate limits' (``limits``
builds its client on the pool). ``/readyz``, ``/metrics`` and the workers' heartbeat
use connections of their own (``LtiServices.status_redis``), which ask Redis every time:
they say whether it answers now.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import ConnectionPool
from redis.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import (
    BusyLoadingError,
    ConnectionError,
    MaxClientsReachedError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
)

log = logging.getLogger(__name__)

#: A connection Redis did not take, or not in time (a refused login to Redis is a
#: ConnectionError too). An error *in* an answer (a wrong command) is an answer, and so
#: is "max clients reached": Redis serves the connections it has (the pool's too).
FAILURES = (ConnectionError, TimeoutError)
#: What Redis says when it cannot write now, whatever command or script asked: full,
#: snapshots failing, a replica (after a failover: the connection is dropped, so the next
#: one reaches the new primary where the name now points), a replica whose primary is
#: down. Redis 6.2 wraps them in "Error running script" when a script wrote.
_CANNOT_WRITE = ("OOM ", "MISCONF ", "READONLY ", "MASTERDOWN ")


def cannot_serve(exc: BaseException) -> bool:
    """Redis cannot serve now: it fails, or it answers that it cannot write. A request
    is told to try again in a moment (503); a rate limit counts in the process."""
    if isinstance(exc, (*FAILURES, OutOfMemoryError, ReadOnlyError)):
        return True
    return isinstance(exc, ResponseError) and any(word in str(exc) for word in _CANNOT_WRITE)


class RedisUnavailable(ConnectionError):
    """Refused without asking: Redis failed a moment ago."""


class Breaker:
    """Whether Redis failed a moment ago, for one pool (every thread of the process)."""

    def __init__(self, retry_seconds: float, probe: Callable[[], None] | None = None) -> None:
        self.retry_seconds = retry_seconds
        #: Asks Redis whether it answers again, quickly (``FailFastPool._ping``); without
        #: it, the command that tries does, with its own timeout.
        self.probe = probe
        self._lock = threading.Lock()
        #: ``time.monotonic()`` until which commands are refused; 0 while Redis answers.
        self._refused_until = 0.0
        #: Since when Redis fails, and the commands refused since (the log's summary).
        self._failed_at = 0.0
        self._refused = 0

    @property
    def failing(self) -> bool:
        """Redis failed and has not answered since, and no command may try it yet (what
        can wait, asks it later; once the retry is due, any command may be the one)."""
        refused_until = self._refused_until
        return refused_until != 0.0 and time.monotonic() < refused_until

    def before_command(self) -> None:
        """Refuse at once while Redis failed a moment ago. After ``retry_seconds``, this
        command asks whether it answers again (``probe``), and goes on if it does; the
        others are refused meanwhile."""
        if not self._refused_until:
            return
        with self._lock:
            now = time.monotonic()
            if now < self._refused_until:
                self._refused += 1
                raise RedisUnavailable(
                    f"Redis failed less than {self.retry_seconds:g} s ago; not asked again yet"
                )
            self._refused_until = now + self.retry_seconds
        if self.probe is None:
            return
        try:
            self.probe()
        except Exception as exc:  # whatever it was, Redis did not say it serves
            self.failed(exc)  # refused again from now, not from when the probe began
            with self._lock:
                self._refused += 1
            raise RedisUnavailable(f"Redis does not answer yet ({exc})") from exc
        self.answered()

    def failed(self, exc: Exception) -> None:
        with self._lock:
            first = not self._refused_until
            now = time.monotonic()
            self._refused_until = now + self.retry_seconds
            if first:
                self._failed_at, self._refused = now, 0
        if first:
            log.warning(
                "Redis failed (%s): commands are refused for %g s, then tried again",
                exc,
                self.retry_seconds,
            )

    def answered(self) -> None:
        if not self._refused_until:
            return
        with self._lock:
            was_failing, self._refused_until = bool(self._refused_until), 0.0
            seconds, refused = time.monotonic() - self._failed_at, self._refused
        if was_failing:
            log.info(
                "Redis answers again, after %.1f s; %d commands refused without asking meanwhile",
                seconds,
                refused,
            )


class _NotedConnection:
    """A connection that tells its pool's breaker when Redis fails or answers (mixed into
    the class the URL chose: TCP, TLS or a Unix socket). Redis fails when a connection
    cannot be made (refused, no answer in time, the handshake refused), or a command gets
    no answer in time or "loading". A connection that breaks under a command (Redis
    restarted, a connection reset) is not Redis failing: that command fails (it is not
    sent again: a second ``SET NX`` of a nonce would say "used"), the next gets a new
    connection, and if that cannot be made, Redis fails. A connection closed while it sat
    in the pool is replaced when taken (redis-py sees it); one a firewall dropped without
    a word would time out, but TCP keepalives (``KEEPALIVE``) keep idle ones open."""

    breaker: Breaker

    def connect_check_health(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        except MaxClientsReachedError:  # Redis serves; this connection is one too many
            raise
        except FAILURES as exc:
            self.breaker.failed(exc)
            raise

    def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().send_packed_command(*args, **kwargs)  # type: ignore[misc]
        except TimeoutError as exc:
            self.breaker.failed(exc)
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (TimeoutError, BusyLoadingError) as exc:  # no answer; loading its data
            self.breaker.failed(exc)
            raise
        except ResponseError as exc:  # an error in the answer (WRONGTYPE, NOSCRIPT): an answer
            self.breaker.answered()
            if isinstance(exc, ReadOnlyError):  # a replica now: reconnect where the name points
                self.disconnect()  # type: ignore[attr-defined]
            raise
        self.breaker.answered()
        return response


#: TCP keepalives on the tool's Redis connections, as on its database's: a probe after 30 s
#: idle, every 10 s, 3 tries. A firewall or NAT that drops idle connections silently
#: keeps them, and a peer gone is found in about a minute, not at the next command's
#: timeout (which would count as Redis failing).
KEEPALIVE: dict[int, int] = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


#: How long the PING that asks whether Redis answers again may wait at each step (to
#: connect, for the handshake, for the answer): the request that asks waits a second or
#: a few, not the commands' timeout.
PROBE_SECONDS = 1.0


class FailFastPool(ConnectionPool):
    """A ``ConnectionPool`` (``FailFastPool.from_url(url, retry_seconds=…, …)``) whose
    commands are refused at once for ``retry_seconds`` after Redis failed one; then a PING
    (``PROBE_SECONDS``) says whether they may go again."""

    def __init__(
        self,
        *,
        retry_seconds: float,
        connection_class: type[Connection] = Connection,
        **kwargs: Any,
    ) -> None:
        self.breaker = Breaker(retry_seconds, probe=self._ping)
        self._probe_class = connection_class
        noted = type(
            f"Noted{connection_class.__name__}",
            (_NotedConnection, connection_class),
            {"breaker": self.breaker},
        )
        if not issubclass(connection_class, UnixDomainSocketConnection):
            kwargs.setdefault("socket_keepalive", True)
            kwargs.setdefault("socket_keepalive_options", KEEPALIVE)
        super().__init__(connection_class=noted, **kwargs)

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.breaker.before_command()
        return super().get_connection(*args, **kwargs)

    def _ping(self) -> None:
        """PING on a connection of its own (the pool's settings, ``PROBE_SECONDS``)."""
        connection = self._probe_class(
            **{
                **self.connection_kwargs,
                "socket_timeout": PROBE_SECONDS,
                "socket_connect_timeout": PROBE_SECONDS,
            }
        )
        try:
            connection.send_command("PING")
            with contextlib.suppress(ResponseError):  # an error in the answer is an answer
                connection.read_response()
        except MaxClientsReachedError:
            pass  # Redis serves the connections it has; the pool's may go on
        finally:
            connection.disconnect()
