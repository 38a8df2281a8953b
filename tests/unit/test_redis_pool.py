"""The tool's Redis pool refuses at once after a failure, and tries again one at a time."""

from __future__ import annotations

import logging

import pytest
from redis import Redis
from redis.exceptions import ConnectionError

from lti_tool import redis_pool
from lti_tool.redis_pool import FailFastPool, RedisUnavailable
from tests.fakes.redis_server import FakeRedis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(redis_pool.time, "monotonic", clock)
    return clock


def refused_client() -> Redis:
    """A client of the pool on a port where nothing listens (refused at once)."""
    pool = FailFastPool.from_url("redis://127.0.0.1:1/0", retry_seconds=5, socket_timeout=1)
    return Redis(connection_pool=pool)


def test_after_a_failure_commands_are_refused_without_asking_until_the_retry(clock, caplog):
    client = refused_client()
    breaker = client.connection_pool.breaker
    with pytest.raises(ConnectionError) as first:
        client.get("k")
    assert not isinstance(first.value, RedisUnavailable)  # it asked Redis
    assert breaker.failing

    clock.now += 4.9
    with pytest.raises(RedisUnavailable):
        client.get("k")

    clock.now += 0.2  # the retry is due: this command asks Redis (a PING), which fails again
    with pytest.raises(RedisUnavailable) as again:
        client.get("k")
    assert isinstance(again.value.__cause__, ConnectionError)  # the PING's
    assert "does not answer yet" in str(again.value)
    with pytest.raises(RedisUnavailable) as refused:  # refused for another 5 s, not asked
        client.get("k")
    assert refused.value.__cause__ is None
    told = [r.getMessage() for r in caplog.records if r.name == "lti_tool.redis_pool"]
    assert len(told) == 1 and "commands are refused for 5 s" in told[0]  # once, not per try


def test_once_redis_answers_the_ping_the_command_goes(clock, redis_url):
    """The retry due, a PING (a second at most) says Redis answers: the command goes."""
    if not redis_url:
        pytest.skip("a Redis server")
    client = Redis(connection_pool=FailFastPool.from_url(redis_url, retry_seconds=5))
    client.set("k", "v")
    client.connection_pool.breaker.failed(ConnectionError("gone a moment"))
    with pytest.raises(RedisUnavailable):
        client.get("k")
    clock.now += 5
    assert client.get("k") == b"v"
    assert not client.connection_pool.breaker.failing
    client.close()


def test_redis_answering_again_says_how_long_it_failed_and_what_was_refused(clock, caplog):
    """What operations want to know after an outage, in the line that ends it."""
    answers: list[Exception | None] = [ConnectionError("still gone"), None]

    def probe() -> None:
        answer = answers.pop(0)
        if answer:
            raise answer

    caplog.set_level(logging.INFO, logger="lti_tool.redis_pool")
    breaker = redis_pool.Breaker(retry_seconds=3, probe=probe)
    breaker.failed(ConnectionError("gone"))
    for _ in range(4):
        with pytest.raises(RedisUnavailable):
            breaker.before_command()
    clock.now += 3
    with pytest.raises(RedisUnavailable):
        breaker.before_command()  # the PING fails: refused again for 3 s
    clock.now += 3.5
    breaker.before_command()  # the PING answers
    told = [r.getMessage() for r in caplog.records if r.name == "lti_tool.redis_pool"]
    assert told[-1] == (
        "Redis answers again, after 6.5 s; 5 commands refused without asking meanwhile"
    )


def test_one_command_tries_again_while_the_others_are_still_refused(clock):
    breaker = redis_pool.Breaker(retry_seconds=5)
    breaker.failed(ConnectionError("down"))
    clock.now += 5
    breaker.before_command()  # this one asks Redis (its answer may take the timeout)…
    with pytest.raises(RedisUnavailable):
        breaker.before_command()  # …while a second is refused at once
    breaker.answered()
    assert not breaker.failing
    breaker.before_command()
    breaker.before_command()


def test_a_request_redis_refused_stays_refused_when_redis_then_fails():
    """Redis counted the request over its limit, then failed before saying when the
    window ends: 429 for the whole window, never counted again in the process (where
    the window is empty) and let through."""
    from limits import parse
    from werkzeug.exceptions import TooManyRequests

    from lti_tool.rate_limits import _Counter

    counter = _Counter("redis://127.0.0.1:1/0", "test", refused_client().connection_pool)

    def fails(*_args: object) -> None:
        raise ConnectionError("Redis went away")

    counter.strategy.hit = lambda *_args: False  # type: ignore[method-assign]
    counter.strategy.get_window_stats = fails  # type: ignore[method-assign]
    with pytest.raises(TooManyRequests) as refused:
        counter.hit((parse("1 per minute"),), "scope", "10.0.0.1")
    assert refused.value.retry_after == 60


def test_a_redis_loading_its_data_is_failing(clock):
    """Redis restarted and loading its data answers LOADING to each command: failing, as
    one that does not answer (refused at once, and said once), not an answer."""
    server = FakeRedis(b"-LOADING Redis is loading the dataset in memory\r\n")
    try:
        client = Redis(connection_pool=FailFastPool.from_url(server.url, retry_seconds=5))
        with pytest.raises(ConnectionError) as loading:
            client.get("k")
        assert "loading" in str(loading.value).lower()
        with pytest.raises(RedisUnavailable):
            client.get("k")
    finally:
        server.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        b"-READONLY You can't write against a read only replica.\r\n",
    ],
)
def test_the_cache_misses_and_keeps_nothing_when_redis_cannot_serve(reply):
    """Redis full, or a replica after a failover: the cache (the LMS's tokens) misses
    and keeps nothing, and what asked for it goes on (asks the LMS anew)."""
    from lti_tool.lti.state import RedisCache

    server = FakeRedis(reply)
    try:
        cache = RedisCache(
            Redis(connection_pool=FailFastPool.from_url(server.url, retry_seconds=5))
        )
        cache.set("token", "abc", 60)
        assert cache.get("token") is None
        cache.delete("token")
    finally:
        server.close()


def test_max_clients_reached_is_redis_serving_not_failing(clock):
    """Redis at ``maxclients`` turns new connections away but serves those it has (the
    pool's): no refusal for the next seconds, and a PING that meets it lets commands go."""
    from redis.exceptions import MaxClientsReachedError

    server = FakeRedis(b"+OK\r\n", greeting=b"-ERR max number of clients reached\r\n")
    try:
        client = Redis(connection_pool=FailFastPool.from_url(server.url, retry_seconds=5))
        breaker = client.connection_pool.breaker
        with pytest.raises(MaxClientsReachedError):
            client.get("k")
        assert not breaker.failing
        breaker.failed(TimeoutError("a moment ago"))
        clock.now += 5
        with pytest.raises(MaxClientsReachedError):  # the PING said "serving": it went
            client.get("k")
        assert not breaker.failing
    finally:
        server.close()


def test_a_probe_that_breaks_refuses_again_from_when_it_ended(clock):
    """Whatever the PING raised, Redis did not say it serves: refused again, for the
    whole wait from then, and the PING not sent again meanwhile."""
    asked = []

    def probe() -> None:
        asked.append(clock.now)
        clock.now += 4  # it took longer than the wait itself
        raise ValueError("a reply it could not read")

    breaker = redis_pool.Breaker(retry_seconds=3, probe=probe)
    breaker.failed(TimeoutError("a moment ago"))
    clock.now += 3
    with pytest.raises(RedisUnavailable):
        breaker.before_command()
    clock.now += 2.9
    with pytest.raises(RedisUnavailable):
        breaker.before_command()
    assert len(asked) == 1


def test_a_replica_answer_drops_the_connection(clock):
    """READONLY (a failover made this Redis a replica): the connection is closed, so the
    next command connects where the name now points, not to the same replica."""
    from redis.exceptions import ReadOnlyError

    server = FakeRedis(b"-READONLY You can't write against a read only replica.\r\n")
    try:
        client = Redis(connection_pool=FailFastPool.from_url(server.url, retry_seconds=5))
        for _ in range(2):
            with pytest.raises(ReadOnlyError):
                client.set("k", "v")
        assert server.accepted == 2
    finally:
        server.close()


def test_the_ping_waits_a_second_not_the_commands_timeout(clock, redis_url):
    """The retry due and Redis not answering: the command that asks waits the PING's
    second or so (connecting, the handshake), not the pool's 5 s."""
    import time
    from urllib.parse import urlsplit

    from tests.fakes.freezing_proxy import FreezingProxy

    if not redis_url:
        pytest.skip("a Redis server behind a network connection")
    url = urlsplit(redis_url)
    proxy = FreezingProxy(url.hostname or "127.0.0.1", url.port or 6379)
    try:
        through = url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        pool = FailFastPool.from_url(through, retry_seconds=5, socket_timeout=5)
        client = Redis(connection_pool=pool)
        client.ping()
        pool.breaker.failed(TimeoutError("a moment ago"))
        clock.now += 5
        proxy.frozen.set()
        proxy.freeze_open()
        started = time.perf_counter()  # (the clock fixture replaced time.monotonic)
        with pytest.raises(RedisUnavailable):
            client.get("k")
        assert time.perf_counter() - started < 4  # 5 s and more with the pool's timeout
    finally:
        proxy.close()
